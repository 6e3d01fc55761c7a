/* corpus.h - turns a machine's own documentation (or any tree of text files) into JSONL documents.
 * Walks folders in sorted order, decompresses .gz/.zst files, keeps files that are valid UTF-8
 * text (no NUL bytes), and describes each as {"id","text","meta":{"source","bytes"}}. */
#ifndef SPINDLE_CORPUS_H
#define SPINDLE_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/buf.h"

typedef struct corpus_opts {
	size_t min_bytes;   /* skip smaller texts */
	size_t max_bytes;   /* skip larger texts (0 = no limit) */
} corpus_opts;

typedef enum corpus_verdict { CORPUS_KEEP, CORPUS_BINARY, CORPUS_NOT_UTF8, CORPUS_TOO_SMALL, CORPUS_TOO_LARGE } corpus_verdict;

/* Decides whether text (already decompressed) is a document. */
corpus_verdict corpus_judge(const corpus_opts *o, const char *text, size_t n);
const char *corpus_verdict_name(corpus_verdict v);

/* Calls fn for each regular file under path (a file or folder), in sorted order, following no
 * symlinked folders. fn returns 0 to go on or negative to stop (that code is returned). */
typedef int (*corpus_file_fn)(void *ctx, const char *path);
int corpus_walk(const char *path, corpus_file_fn fn, void *ctx, sp_err *err);

#endif
