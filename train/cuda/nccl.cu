/* nccl.cu - multi-GPU data parallelism (issue 10): one process per GPU, an NCCL communicator built
 * from the launcher's rank and world size (train/dist.h) and rank 0's unique id, and the gradient
 * all-reduce (average over ranks, in place) that gpu_model calls before the gradient norm, so every
 * rank clips and updates identical weights. This first version reduces after the whole backward
 * pass; overlapping it with backward (per-layer buckets on a second stream) is not written.
 * NOT YET RUN: compiled and linked against NCCL without a GPU. */
#include <nccl.h>
#include <string.h>
#include "common.cuh"
#include "gpu_dist.h"

#define ncclCheck(expr) do { ncclResult_t r_ = (expr); \
	if (r_ != ncclSuccess) gpu_fatal(#expr, ncclGetErrorString(r_), __FILE__, __LINE__); } while (0)

struct gpu_dist {
	ncclComm_t comm;
	int rank, world;
};

extern "C" void gpu_dist_unique_id(unsigned char id[128])
{
	ncclUniqueId u;
	static_assert(sizeof u.internal == 128, "NCCL ids are 128 bytes");
	ncclCheck(ncclGetUniqueId(&u));
	memcpy(id, u.internal, sizeof u.internal);
}

extern "C" int gpu_dist_select_device(int local_rank)
{
	int n = 0;
	cudaCheck(cudaGetDeviceCount(&n));
	int dev = n > 0 ? local_rank % n : 0;
	cudaCheck(cudaSetDevice(dev));
	return dev;
}

extern "C" gpu_dist *gpu_dist_create(const unsigned char id[128], int rank, int world)
{
	gpu_dist *d = (gpu_dist *)calloc(1, sizeof *d);
	if (!d) {
		fprintf(stderr, "spindle: out of memory\n");
		exit(2);
	}
	ncclUniqueId u;
	memcpy(u.internal, id, sizeof u.internal);
	ncclCheck(ncclCommInitRank(&d->comm, world, u, rank));
	d->rank = rank;
	d->world = world;
	return d;
}

extern "C" void gpu_dist_destroy(gpu_dist *d)
{
	if (!d)
		return;
	ncclCheck(ncclCommDestroy(d->comm));
	free(d);
}

extern "C" void gpu_dist_allreduce_mean(void *ctx, float *grads, size_t n)
{
	gpu_dist *d = (gpu_dist *)ctx;
	if (d->world <= 1)
		return;
	ncclCheck(ncclAllReduce(grads, grads, n, ncclFloat32, ncclAvg, d->comm, 0));
	cudaCheck(cudaStreamSynchronize(0));
}

extern "C" float gpu_dist_mean_scalar(gpu_dist *d, float x)
{
	if (d->world <= 1)
		return x;
	float *p;
	cudaCheck(cudaMalloc(&p, sizeof *p));
	cudaCheck(cudaMemcpy(p, &x, sizeof x, cudaMemcpyHostToDevice));
	ncclCheck(ncclAllReduce(p, p, 1, ncclFloat32, ncclAvg, d->comm, 0));
	cudaCheck(cudaMemcpy(&x, p, sizeof x, cudaMemcpyDeviceToHost));
	cudaCheck(cudaFree(p));
	return x;
}
