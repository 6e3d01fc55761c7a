/* decode_batch.h - KV-cache decoding of B sequences at once (each at its own position), so the
 * per-token matrix products run as B-row products instead of B matrix-vector ones: the rollouts of
 * `train ppo` are sampled this way. Same maths as decode_step (sample.h) row by row; the logits may
 * differ from it in the last bits (another product shape). Ownership: decode_batch_init allocates
 * the caches and buffers, decode_batch_release frees them; the model is borrowed. */
#ifndef SPINDLE_TRAIN_DECODE_BATCH_H
#define SPINDLE_TRAIN_DECODE_BATCH_H

#include "../tokenizer/tok.h"
#include "model.h"
#include "rng.h"

typedef struct decode_batch {
	int B, n_ctx;
	int *n;                 /* positions filled, per sequence */
	float *k, *v;           /* [B, n_layers, n_ctx, kv_dim] */
	float *x, *xn, *q, *kk, *vv, *ao, *h, *hg, *hu, *att, *logits, *rstd;
	int32_t *pos;
} decode_batch;

int decode_batch_init(decode_batch *d, const model *m, int B, int n_ctx, sp_err *err);
void decode_batch_release(decode_batch *d);
/* Feeds tokens[i] to sequence rows[i] (i < n, distinct rows, each with room left) at its next
 * position; returns the logits [n, V] for the positions after them (borrowed until the next call). */
const float *decode_batch_step(decode_batch *d, const model *m, const int *rows, const int32_t *tokens, int n);

/* Samples up to max_new tokens after each of the n <= d->B prompts, row i drawing from rngs[i]
 * (sample_token: temperature, top-k, top-p), as generate() does for one (cli_int.h): a prompt longer
 * than the context keeps its end, leaving room for the answer (up to half the context); a row stops
 * at EOS (stopped[i] = 1, EOS not in outs[i]) or at max_new tokens or the context's end. */
int decode_batch_generate(decode_batch *d, const model *m, const tok_ids *const *prompts, int n, long max_new, float temp,
                          int top_k, float top_p, int32_t eos, train_rng *rngs, tok_ids *outs, int *stopped, sp_err *err);

#endif
