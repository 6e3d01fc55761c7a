/* data.h - where the trainer's batches come from. A data source fills a train_batch (B rows of T
 * positions: inputs, targets with -1 for ignored positions, rotary positions, document segments,
 * the scored position and margin for reward-model pairs) and says where it is as a JSON cursor that
 * a checkpoint stores and a resumed run seeks back to. Sources: packed shards (data_shards.c), SFT
 * dialogs (data_sft.c), preference pairs (data_rm.c), and a synthetic stream for tests and benchmarks
 * (data_synth.c). Ownership: the source owns its state; train_batch is caller storage freed with
 * train_batch_release. */
#ifndef SPINDLE_TRAIN_DATA_H
#define SPINDLE_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "spindle/buf.h"
#include "spindle/err.h"

typedef struct train_batch {
	int B, T;
	int32_t *inputs, *targets, *pos, *seg, *last;
	float *margin;          /* per pair (reward model: rows 2i chosen, 2i+1 rejected) */
	int32_t *rating;        /* per pair: rating level (0 = best margin) or -1 */
	uint32_t *item;         /* per pair: the source's number for what it holds (DPO: the pair's index in
	                         * its file, which the reference cache is keyed by); 0 where a source has none.
	                         * Carried in the batch, not the source, as the data-parallel wrapper reads
	                         * other ranks' batches after this one */
	int use_seg;
	sp_buf provenance;      /* JSON array describing where each row came from */
} train_batch;

#define TRAIN_BATCH_INIT { 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, SP_BUF_INIT }

int train_batch_alloc(train_batch *b, int B, int T, sp_err *err);
void train_batch_release(train_batch *b);
model_batch train_batch_view(const train_batch *b);

typedef struct train_data {
	void *ctx;
	/* fills the next batch; 0 or an error */
	int (*next)(void *ctx, train_batch *b, sp_err *err);
	/* appends the cursor (a JSON object) to out */
	int (*tell)(void *ctx, sp_buf *out);
	/* seeks to a cursor produced by tell (a JSON text) */
	int (*seek)(void *ctx, const char *cursor_json, sp_err *err);
	void (*free)(void *ctx);
	uint32_t vocab_size;
	uint64_t tokenizer_id;
	int seq_len;            /* T of every batch */
	uint64_t rows_per_epoch; /* rows one pass over the data gives (0 if unknown) */
} train_data;

/* Data parallelism (issue 18): turns d (a single process's stream) into rank's part of it for world
 * ranks of accum micro-batches per step: of each step's world x accum micro-batches, in the stream's
 * order, rank r trains on numbers r*accum .. r*accum+accum-1 and skips the rest. Rows are disjoint
 * between ranks, a step's rows are one process's rows for the same global batch, and between steps
 * every rank's cursor is that process's cursor. d keeps its fields; free releases the inner source. */
int data_dist_wrap(train_data *d, int rank, int world, int accum, sp_err *err);

/* Synthetic token rows: row r of the stream is a function of (seed, r) only; tokens follow a
 * learnable rule (each row repeats a short random phrase) so the loss falls. */
int data_synth_open(train_data *d, uint32_t vocab, int T, uint64_t seed, sp_err *err);

/* Packed shards (dir from `spindle pack`): each sequence cut into the fewest rows of T+1 tokens with
 * T <= max_T (T = (seq_len - 1) / rows), in the reader's order for (seed, rank, world). doc_mask: positions and attention restart at documents. */
int data_shards_open(train_data *d, const char *dir, int max_T, int doc_mask, uint64_t seed, uint32_t rank,
                     uint32_t world, sp_err *err);

typedef struct tok_model tok_model;
/* SFT export (annotate-sft.schema.json) tokenized with tok: rows of T positions, loss on responses. */
int data_sft_open(train_data *d, const char *path, const tok_model *tok, int T, uint64_t seed, size_t *n_records,
                  sp_err *err);
/* Preference export (annotate-preference.schema.json): B/2 pairs per batch; category NULL = all. */
int data_rm_open(train_data *d, const char *path, const tok_model *tok, int T, uint64_t seed, const char *category,
                 const float margins[4], size_t *n_pairs, size_t *n_skipped, sp_err *err);
/* The same over several files (paths "A,B,...") whose pairs may carry a "source" (imported by
 * `spindle annotate convert`; spindle's own are "own") and their own margin; mix "SRC=W,..." takes each
 * source's pairs W times (0..100; unnamed sources 1). *n_pairs counts the mixed set. */
int data_rm_open_mix(train_data *d, const char *paths, const char *mix, const tok_model *tok, int T, uint64_t seed,
                     const char *category, const float margins[4], size_t *n_pairs, size_t *n_skipped, sp_err *err);
/* "own 120 pairs, 120 taken, hh 1000 pairs, 98 taken" into out. */
int data_rm_sources(const train_data *d, sp_buf *out);
/* Pairs in file order without wrapping (for eval): *n_filled pairs (0 at the end). */
int data_rm_next_sequential(train_data *d, train_batch *b, int *n_filled);
/* "small", "large", "none" or "a,b,c,d" (significantly, better, slightly, negligibly) into margins[level]. */
int rm_margins_parse(const char *spec, float margins[4], sp_err *err);
/* The rating level of a preference record: its "level" (0-3) or its "rating" name; -1 when neither. */
typedef struct sp_record sp_record;
int rm_rating_level(const sp_record *rec);
/* The {"epoch", "index"} cursor of the pair sources (data_rm.c, data_dpo.c): write it, and read it
 * back with index <= max_index (SP_EDATA "bad WHAT cursor ..." otherwise). */
int data_cursor_tell(sp_buf *out, uint64_t epoch, uint64_t index);
int data_cursor_seek(const char *cursor, uint64_t max_index, const char *what, uint64_t *epoch, uint64_t *index,
                     sp_err *err);
/* Name of a rating level (3 = significantly_better). */
const char *rm_rating_name(int level);

#endif
