/* sample.h - generation from a trained model: one token at a time with a KV cache (each layer's
 * rotated keys and values for the positions so far), then temperature and nucleus (top-p) sampling
 * from a seeded generator. Ownership: decode_init allocates the cache, decode_release frees it.
 * The model must have an LM head. */
#ifndef SPINDLE_TRAIN_SAMPLE_H
#define SPINDLE_TRAIN_SAMPLE_H

#include "model.h"
#include "rng.h"

typedef struct decode_state {
	int n_ctx, n;           /* capacity and positions filled */
	float *k, *v;           /* [n_layers, n_ctx, kv_dim] */
	float *x, *xn, *q, *kk, *vv, *ao, *h, *hg, *hu, *att, *logits;
} decode_state;

int decode_init(decode_state *d, const model *m, int n_ctx, sp_err *err);
void decode_release(decode_state *d);
void decode_reset(decode_state *d);
/* Feeds token at the next position; returns the logits for the position after it (borrowed until
 * the next call). The caller keeps d->n < d->n_ctx. */
const float *decode_step(decode_state *d, const model *m, int32_t token);
/* Draws a token: argmax when temperature <= 0, else from softmax(logits / temperature) restricted to
 * the top_k most likely tokens (top_k <= 0: no limit) and, among those, to the smallest set whose
 * probability reaches top_p. */
int32_t sample_token(const float *logits, int V, float temperature, int top_k, float top_p, train_rng *r);

#endif
