/* docs.h - the document stream every JSONL tool reads: inputs in order (stdin when none), this
 * job's --shard share of them, one parsed record at a time, bad records failed or skipped and counted.
 *
 * Ownership: sp_docs is allocated by sp_docs_open and freed by sp_docs_free; the record it returns
 * is borrowed until the next sp_docs_next. Input names are borrowed from the caller (argv). */
#ifndef SPINDLE_DOCS_H
#define SPINDLE_DOCS_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/jsonl.h"
#include "spindle/shard.h"
#include "spindle/stats.h"

enum sp_on_error { SP_ON_ERROR_FAIL = 0, SP_ON_ERROR_SKIP = 1 };

typedef struct sp_docs_opts {
	const char *const *inputs; size_t n_inputs; /* none = stdin */
	sp_shard shard;        /* SP_SHARD_ALL by default */
	int on_error;          /* SP_ON_ERROR_* */
	const char *field;     /* text field; NULL = "text". A record without it is an error */
	int field_optional;    /* 1: records without the field are returned (text NULL) */
	sp_stats *stats;       /* optional: records_in, bytes_in and skip reasons are counted here */
	int raw;               /* 1: lines are not parsed (the tool parses them in its workers): a document
	                        * is a non-blank line, doc->text the whole line, rec->obj NULL; nothing is
	                        * counted in stats */
} sp_docs_opts;

typedef struct sp_doc {
	sp_record *rec;        /* the record (line, obj, lineno, source) */
	const char *text;      /* the text field (borrowed), NULL if absent and optional */
	size_t text_len;
	uint64_t index;        /* 0-based index of this record among those returned */
} sp_doc;

typedef struct sp_docs sp_docs;

int sp_docs_open(sp_docs **out, const sp_docs_opts *opts, sp_err *err);
/* Returns 1 with *doc filled, 0 at the end of all inputs, or a negative error (with
 * SP_ON_ERROR_SKIP only I/O and decompression errors end the stream; bad records are counted as
 * skip reasons "bad_json", "bad_utf8", "missing_field"). */
int sp_docs_next(sp_docs *d, sp_doc *doc, sp_err *err);
/* Compressed/raw bytes read so far and total raw size of the inputs if known (for progress). */
uint64_t sp_docs_raw_bytes(const sp_docs *d);
uint64_t sp_docs_raw_size(const sp_docs *d);
void sp_docs_free(sp_docs *d);

/* Batches for the ordered thread pool (spindle/pmap.h): every JSONL tool's producer. sp_docs_fill
 * passes documents to add(ctx, batch, doc) until max_docs of them or max_bytes of their text are in
 * the batch. An input error met after some documents were taken is held in the filler and returned by
 * the next call, so the documents before it are still processed, in order. Returns 1 (a batch), 0
 * (the end), or the error. add returns 0 or a negative code (its batch is out of memory: SP_ENOMEM). */
typedef struct sp_docs_filler { int pend_rc; sp_err pend_err; } sp_docs_filler;
#define SP_DOCS_FILLER_INIT { 0, SP_ERR_INIT }
int sp_docs_fill(sp_docs *d, sp_docs_filler *f, void *batch, size_t max_docs, size_t max_bytes,
                 int (*add)(void *ctx, void *batch, const sp_doc *doc), void *ctx, sp_err *err);

#endif
