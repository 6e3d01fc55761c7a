/* pack.h - `spindle pack` and `spindle shards`: token streams to packed, sharded, checksummed
 * fixed-length sequences (layout in schemas/shards.md), and the tools that check, merge, describe and
 * decode them. The logic lives here so tests can call it; pack/cli.c only parses options and prints.
 *
 * Ownership: pack_in (input documents) is allocated by pack_in_open and freed by pack_in_free; the
 * document it returns is borrowed until the next pack_in_next. pack_opts borrows its strings. */
#ifndef SPINDLE_PACK_H
#define SPINDLE_PACK_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/buf.h"
#include "spindle/stats.h"
#include "spindle/shards_fmt.h"

#define PACK_NO_ID 0xFFFFFFFFu

/* ---------------------------------------------------------------- input */

/* What the input says about its tokenizer (the token stream header, or -m / options for JSONL). */
typedef struct pack_meta {
	uint32_t vocab_size;      /* 0 = unknown */
	uint32_t bos_id, eos_id, pad_id, unk_id;  /* PACK_NO_ID when absent */
	uint32_t flags;           /* token stream flags: bit 0 BOS already added, bit 1 EOS already added */
	uint64_t tokenizer_id;    /* 0 = unknown */
} pack_meta;

typedef struct pack_doc {
	const uint32_t *ids; size_t n;
	const char *id; size_t id_len;  /* the record's id ("" if none) */
	const char *input;              /* input name */
	uint64_t record;                /* 1-based record (token stream) or line (JSONL) number */
} pack_doc;

typedef struct pack_in pack_in;

/* Opens the inputs in order (none = stdin); each is a token stream (`spindle tok encode --format bin`,
 * schemas/tokens.md, detected by its magic) or JSONL whose lines are arrays of ids or objects with
 * "ids" (and optionally "id"). All token-stream inputs must share one tokenizer. max_doc_tokens
 * bounds one document's memory. Returns 0, SP_EIO, SP_EDATA. */
int pack_in_open(pack_in **out, const char *const *inputs, size_t n_inputs, uint64_t max_doc_tokens, sp_err *err);
/* The same reader over one token stream the caller has opened and read the magic of (in is borrowed
 * until pack_in_free): concatenated streams, end records and trailing bytes are checked as for
 * pack's inputs (used by `spindle tok decode`). */
struct sp_in;
int pack_in_stream(pack_in **out, struct sp_in *in, uint64_t max_doc_tokens, sp_err *err);
/* The tokenizer facts of the first input (zeros / PACK_NO_ID for JSONL). */
const pack_meta *pack_in_meta(const pack_in *in);
/* Next document: 1 and *doc, 0 at the end, or an error (SP_EDATA names input and record: truncated
 * stream, malformed JSONL, header mismatch between inputs, a document over max_doc_tokens). */
int pack_in_next(pack_in *in, pack_doc *doc, sp_err *err);
uint64_t pack_in_bytes(const pack_in *in);
void pack_in_free(pack_in *in);

/* ---------------------------------------------------------------- pack */

typedef struct pack_opts {
	const char *out_dir;
	const char *const *inputs; size_t n_inputs;
	const char *model;            /* tokenizer file (-m), NULL if none */
	uint32_t seq_len;
	uint64_t shard_seqs;          /* sequences per shard file */
	int zstd_level;               /* 0 = uncompressed */
	int bos, eos;                 /* -1 auto (add when the tokenizer has one and the stream lacks it), 0 no, 1 yes */
	int tail_drop;                /* 1: drop the last partial sequence; 0: pad and mask it */
	int shuffle; uint64_t seed; uint64_t shuffle_buffer; /* document shuffle in a bounded buffer (tokens) */
	unsigned shuffle_buckets;     /* > 0: global two-pass shuffle through this many temporary bucket files */
	int order_shuffle;            /* also record a seeded sequence order in the manifest */
	int on_error_skip;            /* bad documents: skip and count instead of failing */
	int force;                    /* discard an existing dataset or interrupted run in out_dir */
	int no_sync;                  /* skip fsync (tests) */
	int threads;                  /* compress and checksum in this many threads (output is identical) */
	uint32_t vocab_size, bos_id, eos_id, pad_id; /* overrides / JSONL facts; 0 / PACK_NO_ID = none */
	uint64_t max_doc_tokens;
	const char *fingerprint_extra; /* e.g. "--shard 1/4": part of the resume identity */
	/* progress hook (optional): documents read and input bytes so far */
	void (*progress)(void *ctx, uint64_t docs, uint64_t bytes);
	void *progress_ctx;
	/* test hook: stop (as if killed) right after this many shards were committed; 0 = never */
	uint64_t test_stop_after_shards;
} pack_opts;

void pack_opts_init(pack_opts *o);

typedef struct pack_result {
	int already_complete;         /* out_dir held a finished dataset made with the same options */
	uint64_t resumed_shards;      /* shards kept from an interrupted run */
	int stopped;                  /* the test hook stopped it (no manifest written) */
	uint64_t docs_in, docs_skipped, tokens_in;
} pack_result;

/* Packs the inputs into out_dir (schemas/shards.md). Resumes an interrupted run of the same options.
 * stats (optional) gets counters and skip reasons. Returns 0 or an error naming the input/record or
 * the output file. */
int pack_run(const pack_opts *o, sp_stats *stats, pack_result *res, sp_err *err);

/* ---------------------------------------------------------------- shards tools */

/* Checks a dataset: manifest, every shard's size and xxh64, header, footer, index, every record's
 * checksum and structure, token ids, and all counts. On the first problem returns SP_EDATA with
 * err->name the bad file and the message naming the sequence. *n_checked = sequences checked. */
int pack_verify(const char *dir, uint64_t *n_checked, sp_err *err);
/* Joins datasets (same seq_len, token width and tokenizer) into out_dir: shard files are hard-linked
 * (or copied) under new names, document indexes rebased, one manifest written last. */
int pack_merge(const char *out_dir, const char *const *dirs, size_t n_dirs, int order_shuffle, uint64_t seed,
               int no_sync, sp_err *err);
typedef struct pack_export_result {
	uint64_t n_documents, n_tokens, n_sequences;
	int token_bytes;
} pack_export_result;
/* Writes the dataset in dir as Megatron-LM's indexed dataset prefix.bin + prefix.idx (one Megatron
 * sequence per document, padding dropped; uint16 tokens below 65500 vocabulary, else int32). The
 * .bin is committed first and the .idx last, each atomically. */
int pack_export_megatron(const char *dir, const char *prefix, int no_sync, pack_export_result *res, sp_err *err);
/* Appends the text report of `spindle shards stats` to out. */
int pack_stats_text(const sp_manifest *m, sp_buf *out);

/* ---------------------------------------------------------------- tokenizer (pack/pack_tok.c) */

typedef struct pack_tok pack_tok;
int pack_tok_load(pack_tok **out, const char *path, sp_err *err);
void pack_tok_meta(const pack_tok *t, pack_meta *m);
int pack_tok_decode(const pack_tok *t, const uint32_t *ids, size_t n, sp_buf *out, sp_err *err);
void pack_tok_free(pack_tok *t);

#endif
