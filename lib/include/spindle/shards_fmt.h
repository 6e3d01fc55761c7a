/* shards_fmt.h - the on-disk layout of a packed dataset (schemas/shards.md): shard files, their
 * sequence records, the manifest, and the seeded permutation both the manifest order and the reader
 * use. Shared by the writer (`spindle pack`, pack/), the reader (lib/shards.c) and `spindle shards`.
 *
 * Ownership: sp_manifest is caller storage (SP_MANIFEST_INIT) released with sp_manifest_release;
 * it owns its shard array and strings. sp_seq (spindle/shards.h) filled by sp_shard_rec_decode owns
 * its arrays as described there. Nothing here prints or exits. */
#ifndef SPINDLE_SHARDS_FMT_H
#define SPINDLE_SHARDS_FMT_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/buf.h"
#include "spindle/shards.h"

#define SP_SHARD_MAGIC "SPSHRD01"
#define SP_SHARD_END_MAGIC "SPSHEND1"
#define SP_SHARD_VERSION 1u
#define SP_SHARD_HEADER_LEN 64u
#define SP_SHARD_FOOTER_LEN 32u
#define SP_SHARD_INDEX_ENTRY 24u
#define SP_SHARD_DOC_ENTRY 24u
#define SP_SHARD_FLAG_ZSTD 1u
#define SP_MANIFEST_NAME "manifest.json"
#define SP_HIST_BUCKETS 40   /* doc-length histogram: bucket k holds lengths in [2^k, 2^(k+1)) */

/* The fixed header of a shard file (first 64 bytes). */
typedef struct sp_shard_header {
	uint32_t version, seq_len, token_bytes, flags;
	uint64_t tokenizer_id;
} sp_shard_header;

/* The footer (last 32 bytes). */
typedef struct sp_shard_footer {
	uint64_t n_seqs, index_offset, index_xxh64;
} sp_shard_footer;

/* One index entry: where a sequence record is and its checksum. */
typedef struct sp_shard_ix {
	uint64_t offset;      /* from the start of the file */
	uint32_t stored_len;  /* bytes on disk (a zstd frame when compressed) */
	uint32_t raw_len;     /* bytes of the decoded record */
	uint64_t xxh64;       /* XXH64 (seed 0) of the stored bytes */
} sp_shard_ix;

void sp_shard_header_encode(const sp_shard_header *h, unsigned char out[SP_SHARD_HEADER_LEN]);
/* Checks magic, version and the header checksum. Returns 0 or SP_EDATA. */
int sp_shard_header_decode(const unsigned char *p, size_t n, sp_shard_header *h, sp_err *err);
void sp_shard_footer_encode(const sp_shard_footer *f, unsigned char out[SP_SHARD_FOOTER_LEN]);
int sp_shard_footer_decode(const unsigned char *p, size_t n, sp_shard_footer *f, sp_err *err);
void sp_shard_ix_encode(const sp_shard_ix *ix, unsigned char out[SP_SHARD_INDEX_ENTRY]);
void sp_shard_ix_decode(const unsigned char *p, sp_shard_ix *ix);

/* One document piece while encoding a record. */
typedef struct sp_rec_doc {
	uint64_t doc_index;
	uint32_t start, len, doc_offset;
	const char *prov; size_t prov_len;
} sp_rec_doc;

/* Appends the raw record of one sequence to out: tokens (seq_len of them, narrowed to token_bytes),
 * n_valid (tokens before the padding), and its document pieces. Returns 0 or SP_ENOMEM. */
int sp_shard_rec_encode(sp_buf *out, const uint32_t *tokens, uint32_t seq_len, uint32_t token_bytes,
                        uint32_t n_valid, const sp_rec_doc *docs, size_t n_docs);
/* Decodes a raw record into seq (tokens, loss mask, docs with doc_index + doc_base, doc ids copied
 * into seq's own storage). Checks every structural invariant (pieces tile [0, n_valid), lengths fit);
 * vocab_size > 0 also checks every id. Returns 0, SP_EDATA (message says what), SP_ENOMEM. */
int sp_shard_rec_decode(const unsigned char *p, size_t n, uint32_t seq_len, uint32_t token_bytes,
                        uint32_t vocab_size, uint64_t doc_base, sp_seq *seq, sp_err *err);
/* Tokens-only fast path for the reader: what sp_shard_rec_decode does, minus the id check. */

/* ------------------------------------------------------------------ manifest */

typedef struct sp_manifest_shard {
	char *file;                 /* name relative to the dataset folder */
	uint64_t n_sequences, n_tokens, n_padding, n_documents, doc_base, bytes, xxh64;
	int zstd;
} sp_manifest_shard;

typedef struct sp_manifest {
	uint32_t version, seq_len, token_bytes, vocab_size;
	int32_t bos_id, eos_id, pad_id;
	uint32_t pad_fill;          /* the id written in padding positions */
	uint64_t tokenizer_id;
	char *tokenizer_model;      /* model path given to pack (may be NULL) */
	int add_bos, add_eos;
	char *tail;                 /* "pad" or "drop" */
	int doc_shuffle; uint64_t doc_shuffle_seed, doc_shuffle_buffer, doc_shuffle_buckets;
	int has_order_seed; uint64_t order_seed; /* manifest order = seeded permutation of file order */
	uint64_t n_sequences, n_tokens, n_padding, n_documents, n_dropped_tokens;
	uint64_t hist[SP_HIST_BUCKETS];
	char *options;              /* the pack options fingerprint (resume refuses a different one) */
	sp_manifest_shard *shards; size_t n_shards, cap_shards;
} sp_manifest;

#define SP_MANIFEST_INIT { 0 }

void sp_manifest_release(sp_manifest *m);
/* Appends a shard entry (file is copied). Returns 0 or SP_ENOMEM. */
int sp_manifest_add_shard(sp_manifest *m, const sp_manifest_shard *s);
/* Serialises m as pretty JSON (schemas/shards.manifest.schema.json) into out. */
int sp_manifest_json(const sp_manifest *m, sp_buf *out);
/* Parses JSON text (name for messages) into m and checks it (counts add up). SP_EDATA on error. */
int sp_manifest_parse(const char *text, size_t n, const char *name, sp_manifest *m, sp_err *err);
/* Reads DIR/manifest.json. SP_ENOTFOUND when absent (an incomplete or foreign folder). */
int sp_manifest_load(const char *dir, sp_manifest *m, sp_err *err);
/* Histogram bucket of a document length (>= 1). */
unsigned sp_hist_bucket(uint64_t len);

/* ------------------------------------------------------------------ permutation */

/* A seeded bijection of [0, n) computed in O(1) memory (a Feistel network with cycle walking), so
 * datasets of billions of sequences are shuffled without a table. sp_perm_apply(p, i) for i < n. */
typedef struct sp_perm { uint64_t n, key[4]; unsigned half_bits; uint64_t half_mask; } sp_perm;
void sp_perm_init(sp_perm *p, uint64_t n, uint64_t seed);
uint64_t sp_perm_apply(const sp_perm *p, uint64_t i);
/* splitmix64: the mixing step used for seeds (also a good small RNG: state += golden; mix). */
uint64_t sp_mix64(uint64_t x);

#endif
