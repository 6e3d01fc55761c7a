/* io.h - byte streams in and out: stdin/files, transparent zstd/gzip input, zstd output, atomic files.
 *
 * Input: sp_in_open reads a file or stdin ("-" or NULL). The first bytes are sniffed: a zstd frame
 * (magic 28 B5 2F FD) or gzip member (1F 8B) is decompressed on the fly, including concatenated
 * frames/members; a truncated or corrupt stream is an SP_EZSTD error naming the input.
 * Output: sp_out_open writes stdout ("-" or NULL) or a file. A file is written to a temporary name
 * in the same folder and only sp_out_commit (flush, fsync, rename, fsync dir) gives it its final
 * name, so a killed job never leaves a partial file under the final name. A name ending in ".zst"
 * is zstd-compressed. A symlink is followed (its target is replaced atomically); a target that is
 * not a regular file (a device such as /dev/null, a FIFO) is written in place as a stream and never
 * renamed over. Opening a file also removes the temporary files of the same name left by killed
 * runs. Both objects are owned by the caller: sp_in_free / sp_out_free (free of an uncommitted
 * sp_out removes its temporary file). */
#ifndef SPINDLE_IO_H
#define SPINDLE_IO_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/buf.h"

typedef struct sp_in sp_in;
typedef struct sp_out sp_out;

enum sp_codec { SP_CODEC_NONE = 0, SP_CODEC_ZSTD = 1, SP_CODEC_GZIP = 2 };

/* Opens path ("-" or NULL = stdin). Returns 0 or SP_EIO/SP_ENOMEM. */
int sp_in_open(sp_in **out, const char *path, sp_err *err);
/* Wraps an already-open fd (not closed by sp_in_free). name is used in messages. */
int sp_in_open_fd(sp_in **out, int fd, const char *name, sp_err *err);
/* Reads up to n decoded bytes. *got = 0 means end of input. */
int sp_in_read(sp_in *in, void *dst, size_t n, size_t *got, sp_err *err);
/* Reads one line (without its '\n'; a final line without '\n' counts) into line, replacing its
 * contents. Returns 1 if a line was read, 0 at end of input, or a negative error. Lines of any
 * length work. The line counter is advanced (sp_in_lineno). */
int sp_in_getline(sp_in *in, sp_buf *line, sp_err *err);
/* Reads exactly n bytes; SP_EDATA "truncated" if the input ends first (n_got says how many). */
int sp_in_read_full(sp_in *in, void *dst, size_t n, sp_err *err);
uint64_t sp_in_lineno(const sp_in *in);     /* lines returned so far */
const char *sp_in_name(const sp_in *in);    /* "-" for stdin */
int sp_in_codec(const sp_in *in);            /* SP_CODEC_* detected */
uint64_t sp_in_raw_bytes(const sp_in *in);   /* bytes read from the underlying file so far */
uint64_t sp_in_raw_size(const sp_in *in);    /* file size if known (regular file), else 0 */
void sp_in_free(sp_in *in);

enum {
	SP_OUT_ZSTD = 1,      /* compress with zstd regardless of the name */
	SP_OUT_NO_ZSTD = 2,   /* never compress, even for a ".zst" name */
	SP_OUT_NO_SYNC = 4    /* skip fsync (tests and scratch files) */
};

/* Opens path for writing ("-" or NULL = stdout, never atomic). Returns 0 or SP_EIO/SP_ENOMEM. */
int sp_out_open(sp_out **out, const char *path, int flags, sp_err *err);
int sp_out_write(sp_out *out, const void *p, size_t n, sp_err *err);
/* Finishes the stream: flushes (and ends the zstd frame), fsyncs, and renames into place. */
int sp_out_commit(sp_out *out, sp_err *err);
/* Bytes handed to sp_out_write so far (before compression). */
uint64_t sp_out_bytes(const sp_out *out);
const char *sp_out_name(const sp_out *out);
/* Frees; if not committed, removes the temporary file. */
void sp_out_free(sp_out *out);

/* Removes every temporary file of the sp_outs now open (their final names are untouched).
 * Async-signal-safe: the front command calls it from its SIGINT/SIGTERM/SIGHUP handler. */
void sp_io_remove_temps(void);

/* Writes data to path atomically (temp file, fsync, rename). */
int sp_write_file_atomic(const char *path, const void *data, size_t n, sp_err *err);
/* Reads a whole (possibly compressed) file into buf, NUL-terminated (also when empty). */
int sp_read_file(const char *path, sp_buf *buf, sp_err *err);
/* mkdir -p. */
int sp_mkdir_p(const char *path, sp_err *err);

#endif
