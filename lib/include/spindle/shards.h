/* shards.h - reading a packed dataset (the output of `spindle pack`, layout in schemas/shards.md):
 * sequences of seq_len tokens with document boundaries and provenance, in a deterministic order.
 *
 * This is the trainer's data source. The order of sequences is a pure function of
 * (dataset, seed, epoch, rank, world_size): every rank of a data-parallel job sees a disjoint share and
 * together they cover each sequence exactly once per epoch. A cursor (a few integers) says where a
 * reader is; saving and restoring it makes a resumed run see exactly the sequences an uninterrupted run
 * would have. Shards are memory-mapped on first use; a background thread prefetches the next sequences.
 *
 * Ownership: sp_shards_open returns an object the caller frees with sp_shards_close. A sequence filled
 * by sp_shards_next is caller storage (SP_SEQ_INIT) released with sp_seq_release; its arrays are owned
 * by it and reused by the next call. Not thread-safe: one reader per thread. */
#ifndef SPINDLE_SHARDS_H
#define SPINDLE_SHARDS_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"

typedef struct sp_shards sp_shards;

typedef struct sp_shards_info {
	uint64_t n_sequences, n_tokens, n_documents;
	uint32_t seq_len, vocab_size, n_shards;
	int32_t bos_id, eos_id, pad_id;       /* -1 when absent */
	uint64_t tokenizer_id;                /* schemas/tokens.md, "Tokenizer identity" */
} sp_shards_info;

typedef struct sp_seq_doc {
	uint32_t start, len;    /* tokens [start, start+len) of the sequence belong to one document */
	uint64_t doc_index;     /* index of the document in the packed stream */
	const char *doc_id;     /* its id (borrowed until the next sp_shards_next), "" if none */
	uint32_t doc_offset;    /* how many of the document's tokens came before this piece */
} sp_seq_doc;

typedef struct sp_seq {
	uint64_t index;         /* global sequence number in the dataset (manifest order) */
	uint32_t len;           /* seq_len */
	uint32_t *tokens;       /* len ids */
	uint8_t *loss_mask;     /* len entries: 0 for padding, 1 otherwise */
	sp_seq_doc *docs; size_t n_docs;
	uint32_t shard;         /* which shard file it came from */
	size_t cap_tokens, cap_docs;
	uint32_t n_valid;       /* tokens before the tail padding (== len unless this is the padded last one) */
	char *text; size_t cap_text; /* storage of the docs' doc_id strings */
} sp_seq;

#define SP_SEQ_INIT { 0, 0, NULL, NULL, NULL, 0, 0, 0, 0, 0, NULL, 0 }

typedef struct sp_shards_cursor {
	uint64_t seed, epoch, position;   /* position: sequences already returned in this epoch */
	uint32_t rank, world_size;
} sp_shards_cursor;

/* Opens the dataset in dir (reads and checks its manifest). prefetch: sequences to read ahead in a
 * background thread (0 = none). Returns 0, SP_EIO, SP_EDATA (bad manifest, named in err). */
int sp_shards_open(sp_shards **out, const char *dir, unsigned prefetch, sp_err *err);
void sp_shards_info_get(const sp_shards *s, sp_shards_info *info);
/* Sets where reading starts: cursor->position sequences into epoch cursor->epoch of the order for
 * (seed, rank, world_size). */
int sp_shards_seek(sp_shards *s, const sp_shards_cursor *cursor, sp_err *err);
/* Fills seq with the next sequence of this rank's order; at the end of an epoch it moves to the next
 * epoch (a new permutation). Returns 0 or an error (SP_EDATA names the shard on a bad checksum). */
int sp_shards_next(sp_shards *s, sp_seq *seq, sp_err *err);
/* The cursor after the sequences returned so far. */
void sp_shards_tell(const sp_shards *s, sp_shards_cursor *cursor);
/* Sequences rank sees per epoch: the n_sequences slots are dealt round-robin over ranks, so ranks
 * below n_sequences % world_size get one more (every sequence exactly once per epoch). */
uint64_t sp_shards_epoch_len(const sp_shards *s, uint32_t rank, uint32_t world_size);
/* Shards are memory-mapped on first use, at most max_mapped at a time (default 1024; at least 4):
 * raise it for datasets whose shards all fit, lower it to bound mappings. */
void sp_shards_set_map_limit(sp_shards *s, size_t max_mapped);
/* Reads sequence number index (manifest order) directly. */
int sp_shards_get(sp_shards *s, uint64_t index, sp_seq *seq, sp_err *err);
/* Reads the sequence at position pos of file order (shard after shard, record after record), the
 * order documents were packed in; seq->index is then pos. For exports that rebuild documents. */
int sp_shards_get_stored(sp_shards *s, uint64_t pos, sp_seq *seq, sp_err *err);
void sp_seq_release(sp_seq *seq);
void sp_shards_close(sp_shards *s);

#endif
