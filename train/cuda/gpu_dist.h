/* gpu_dist.h - NCCL data parallelism for the CUDA trainer (issue 10; see nccl.cu and train/dist.h).
 * Usage per process: dist_env_read; gpu_dist_select_device(local_rank); rank 0 makes an id with
 * gpu_dist_unique_id and dist_id_publish-es it, the others dist_id_wait; gpu_dist_create; then
 * gpu_model_set_grad_hook(model, gpu_dist_allreduce_mean, dist). Every rank must run the same
 * number of steps with the same batch shape. */
#ifndef SPINDLE_TRAIN_CUDA_GPU_DIST_H
#define SPINDLE_TRAIN_CUDA_GPU_DIST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpu_dist gpu_dist;
void gpu_dist_unique_id(unsigned char id[128]);
/* cudaSetDevice(local_rank mod the visible devices); returns the device index */
int gpu_dist_select_device(int local_rank);
gpu_dist *gpu_dist_create(const unsigned char id[128], int rank, int world);
void gpu_dist_destroy(gpu_dist *d);
/* a gpu_grad_hook: grads <- mean over ranks (in place) */
void gpu_dist_allreduce_mean(void *ctx, float *grads, size_t n);
/* the mean of a host scalar over ranks (losses for the log) */
float gpu_dist_mean_scalar(gpu_dist *d, float x);

#ifdef __cplusplus
}
#endif
#endif
