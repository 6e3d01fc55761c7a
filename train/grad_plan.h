/* grad_plan.h - the gradient buckets of data-parallel training (issue 18): which parts of the
 * gradient arena become final at each point of the backward pass, grouped into buckets of about a
 * chosen size, so the exchange of a bucket can start while the backward computes earlier layers
 * (as PyTorch DDP's buckets). The CPU trainer (trainer.c, MPI) and the CUDA trainer (cuda/model.cu
 * and cuda/nccl.cu, NCCL on a second stream) use the same plan.
 *
 * Stages, in the order the backward reaches them (model.c, cuda/model.cu):
 *   stage 0            the head (LM head or reward score) and the final norm are final;
 *   stage 1 + j        layer L-1-j is final (stage 1: the top layer, stage L: layer 0);
 *   stage L + 1        the token embeddings are final (the end of the backward).
 * A bucket is a run of consecutive stages; it is ready when its last stage is. Its segments are
 * (offset, length) runs of the arena in increasing offset: a run of layers of one tensor kind is
 * contiguous (model.h's layout), so a bucket of k layers is 9 segments. Every float of the arena is
 * in exactly one segment of one bucket. Buckets close once they hold at least cap floats. */
#ifndef SPINDLE_TRAIN_GRAD_PLAN_H
#define SPINDLE_TRAIN_GRAD_PLAN_H

#include <stddef.h>
#include "model.h"
#include "spindle/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct grad_seg {
	size_t off, n;          /* floats from the arena's start */
} grad_seg;

typedef struct grad_bucket {
	int first_stage, last_stage;  /* ready once the backward has finished last_stage */
	int seg_lo, n_segs;           /* its segments: plan->segs[seg_lo .. seg_lo + n_segs) */
	size_t floats;
} grad_bucket;

typedef struct grad_plan {
	int n_stages;           /* n_layers + 2 */
	int n_buckets, n_segs;
	grad_bucket *buckets;   /* in the order they become ready */
	grad_seg *segs;
	size_t n_params;
} grad_plan;

/* Number of stages of a model with n_layers layers. */
static inline int grad_plan_stages(int n_layers) { return n_layers + 2; }

/* Builds the plan for tensors ti of a model with n_layers layers; cap_floats: a bucket closes when
 * it holds at least this many floats (0 or 1: one bucket per stage; SIZE_MAX: one bucket).
 * Caller releases with grad_plan_release. SP_ENOMEM. */
int grad_plan_init(grad_plan *p, const model_tensor_info ti[P_COUNT], int n_layers, size_t cap_floats, sp_err *err);
void grad_plan_release(grad_plan *p);

/* The buckets whose last stage is `stage`: [*lo, *lo + returned count). */
int grad_plan_ready(const grad_plan *p, int stage, int *lo);

#ifdef __cplusplus
}
#endif
#endif
