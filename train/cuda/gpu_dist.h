/* gpu_dist.h - NCCL data parallelism for the CUDA trainer (issues 10 and 18; see nccl.cu and
 * train/dist.h). Usage per process: dist_env_read; gpu_dist_select_device(local_rank); rank 0 makes
 * an id with gpu_dist_unique_id and dist_id_publish-es it, the others dist_id_wait; gpu_dist_create;
 * then gpu_model_set_grad_hook(model, gpu_dist_allreduce_mean, dist). Every rank must run the same
 * number of steps with the same batch shape, and make the same gpu_dist calls in the same order.
 *
 * Overlap (issue 18): after gpu_dist_buckets_init and gpu_model_set_stage_hook(model, gpu_dist_stage,
 * dist), a step whose last backward follows gpu_dist_overlap_arm reduces the gradient bucket by
 * bucket (grad_plan.h) on a second stream while the backward goes on; the grad hook then only makes
 * the default stream wait for those reductions. Without arming, the grad hook reduces the whole
 * arena on the default stream as before. Verified under the CUDA emulator only (train/cuda/emu):
 * no GPU has run it. The gpu_dist owns its plan, stream and events; gpu_dist_destroy frees them. */
#ifndef SPINDLE_TRAIN_CUDA_GPU_DIST_H
#define SPINDLE_TRAIN_CUDA_GPU_DIST_H

#include <stddef.h>
#include "../model.h"
#include "spindle/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpu_dist gpu_dist;
void gpu_dist_unique_id(unsigned char id[128]);
/* cudaSetDevice(local_rank mod the visible devices); returns the device index */
int gpu_dist_select_device(int local_rank);
gpu_dist *gpu_dist_create(const unsigned char id[128], int rank, int world);
void gpu_dist_destroy(gpu_dist *d);
/* a gpu_grad_hook: grads <- mean over ranks (in place). When armed (gpu_dist_overlap_arm), it
 * reduces the buckets the backward has not (none, normally), then makes the default stream wait for
 * every bucket's reduction, so the norm, AdamW and the next zero_grad come after them. */
void gpu_dist_allreduce_mean(void *ctx, float *grads, size_t n);
/* the mean of a host scalar over ranks (losses for the log); on the bucket stream when there is one,
 * after the reductions already queued there (one communicator, one order of calls) */
float gpu_dist_mean_scalar(gpu_dist *d, float x);

/* The bucket plan of a model with tensors ti and n_layers layers, buckets of about cap_floats
 * floats, with the stream and events the overlapped exchange needs. Once per gpu_dist.
 * SP_ENOMEM; SP_EUSAGE when called twice. */
int gpu_dist_buckets_init(gpu_dist *d, const model_tensor_info ti[P_COUNT], int n_layers, size_t cap_floats,
                          sp_err *err);
/* The next backward (the step's last micro-batch) exchanges its buckets as they become final.
 * Does nothing without gpu_dist_buckets_init. */
void gpu_dist_overlap_arm(gpu_dist *d);
/* a gpu_stage_hook: when armed, starts the exchange of the buckets that `stage` completes */
void gpu_dist_stage(void *ctx, int stage, float *grads);

#ifdef __cplusplus
}
#endif
#endif
