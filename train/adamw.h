/* adamw.h - AdamW with Llama 2's settings, global-norm gradient clipping and the learning-rate
 * schedule (linear warm-up, cosine decay to a floor of 10% of the peak).
 * Ownership: adamw_init allocates the two moment arenas (same layout as the model's parameters);
 * adamw_release frees them. */
#ifndef SPINDLE_TRAIN_ADAMW_H
#define SPINDLE_TRAIN_ADAMW_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"

typedef struct adamw_hparams { float beta1, beta2, eps, weight_decay; } adamw_hparams;
#define ADAMW_LLAMA2 { 0.9f, 0.95f, 1e-5f, 0.1f }

typedef struct adamw_state {
	float *m, *v;   /* first and second moments, n floats each */
	size_t n;
	uint64_t t;     /* updates done */
} adamw_state;

int adamw_init(adamw_state *s, size_t n_params, sp_err *err);
void adamw_release(adamw_state *s);
/* One update of m's parameters from m's gradients. Weight decay (decoupled) only on tensors whose
 * info says decay (matrices and embeddings, not norms). CPU twin of the CUDA adamw kernel. */
void adamw_update(adamw_state *s, model *m, float lr, const adamw_hparams *hp);
/* The global L2 norm of g[0..n) (summed in a fixed order, so runs are reproducible); when it exceeds
 * max_norm > 0, g is scaled down to max_norm. Returns the norm before clipping. */
float adamw_clip(float *g, size_t n, float max_norm);
/* Learning rate at step (0-based): linear warm-up over warmup steps to peak, then cosine decay to
 * min_ratio * peak at total steps (and flat after). */
float lr_schedule(long step, long warmup, long total, float peak, float min_ratio);

#endif
