/* ppo_dist.h - how a PPO iteration is spread over the ranks of mpirun / srun (issue 18): which
 * rollouts a rank samples (whole sampling chunks, so every rollout is drawn as one process draws it),
 * and the exchange of bytes every rank needs (gathered in rank order, then sent to all). ppo_run.c
 * does the rest: whitening and statistics over the whole batch, gradients summed over ranks.
 * Ownership: buffers are the caller's; the communicator is borrowed. */
#ifndef SPINDLE_TRAIN_PPO_DIST_H
#define SPINDLE_TRAIN_PPO_DIST_H

#include <stddef.h>
#include "dist.h"
#include "spindle/buf.h"
#include "spindle/err.h"

/* Items [*lo, *hi) of n for rank of world when the items are cut into chunks of chunk items (the
 * last may be shorter) and each rank takes a contiguous run of whole chunks, the runs as even as the
 * chunk count allows (rank k: chunks [k C / W, (k + 1) C / W)). A rank may get none when there are
 * fewer chunks than ranks. */
void ppo_dist_block(long n, long chunk, int rank, int world, long *lo, long *hi);
/* Every rank's n bytes at p, in rank order, appended to all on every rank (c NULL: p's bytes alone).
 * Collective. */
int ppo_dist_allgather(dist_comm *c, const void *p, size_t n, sp_buf *all, sp_err *err);

#endif
