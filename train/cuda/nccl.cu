/* nccl.cu - multi-GPU data parallelism (issues 10 and 18): one process per GPU, an NCCL communicator
 * built from the launcher's rank and world size (train/dist.h) and rank 0's unique id, and the
 * gradient all-reduce (average over ranks, in place) that gpu_model calls before the gradient norm,
 * so every rank clips and updates identical weights.
 *
 * Two ways to exchange the gradient. Whole: after the backward, one all-reduce of the arena on the
 * default stream. Overlapped (gpu_dist_buckets_init, then gpu_dist_overlap_arm before a step's last
 * backward): the buckets of grad_plan.h, in the order the backward completes them. At each stage
 * (gpu_dist_stage, called by gpu_model_backward once a stage's kernels are queued) every bucket it
 * completes gets an event recorded on the default (compute) stream; the bucket stream waits for that
 * event and then runs one ncclAllReduce per segment in an ncclGroupStart/End, so the reduction runs
 * while the default stream computes earlier layers' gradients. The grad hook records an event on the
 * bucket stream and makes the default stream wait for it: the norm, AdamW and the next step's
 * zero_grad come after every reduction. The bucket stream is cudaStreamNonBlocking: the legacy
 * default stream, which every kernel, cuBLAS call and copy of train/cuda uses, would otherwise
 * serialise with it. The same calls in the same order on every rank (plan, arming, bucket order),
 * and every collective of the communicator after the first bucket goes on the bucket stream.
 *
 * NOT YET RUN ON A GPU: compiled and linked against NCCL; both ways have run under the CUDA
 * emulator (train/cuda/emu: streams there are synchronous, so tests/cuda/t_emu_overlap.sh checks
 * the order of the calls in the emulator's trace and the weights, not any timing). */
#include <nccl.h>
#include <stdlib.h>
#include <string.h>
#include "common.cuh"
extern "C" {
#include "../grad_plan.h"
}
#include "gpu_dist.h"

#define ncclCheck(expr) do { ncclResult_t r_ = (expr); \
	if (r_ != ncclSuccess) gpu_fatal(#expr, ncclGetErrorString(r_), __FILE__, __LINE__); } while (0)

struct gpu_dist {
	ncclComm_t comm;
	int rank, world;
	/* the overlapped exchange (gpu_dist_buckets_init): the plan, the bucket stream, one event per
	 * bucket (its gradients are final on the default stream) and one for "every bucket reduced" */
	grad_plan plan;
	int have_plan;
	cudaStream_t stream;
	cudaEvent_t *ready, done;
	int armed;      /* the current backward reduces its buckets */
	int issued;     /* buckets of this step queued so far */
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
	if (d->have_plan) {
		cudaCheck(cudaStreamSynchronize(d->stream));
		for (int b = 0; b < d->plan.n_buckets; b++)
			cudaCheck(cudaEventDestroy(d->ready[b]));
		cudaCheck(cudaEventDestroy(d->done));
		cudaCheck(cudaStreamDestroy(d->stream));
		free(d->ready);
		grad_plan_release(&d->plan);
	}
	ncclCheck(ncclCommDestroy(d->comm));
	free(d);
}

extern "C" int gpu_dist_buckets_init(gpu_dist *d, const model_tensor_info ti[P_COUNT], int n_layers,
                                     size_t cap_floats, sp_err *err)
{
	if (d->have_plan)
		SP_RAISE(err, SP_EUSAGE, "the gradient buckets are already planned");
	int rc = grad_plan_init(&d->plan, ti, n_layers, cap_floats, err);
	if (rc < 0)
		return rc;
	d->ready = (cudaEvent_t *)calloc((size_t)d->plan.n_buckets, sizeof *d->ready);
	if (!d->ready) {
		grad_plan_release(&d->plan);
		SP_RAISE(err, SP_ENOMEM, "out of memory for %d bucket events", d->plan.n_buckets);
	}
	cudaCheck(cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking));
	for (int b = 0; b < d->plan.n_buckets; b++)
		cudaCheck(cudaEventCreateWithFlags(&d->ready[b], cudaEventDisableTiming));
	cudaCheck(cudaEventCreateWithFlags(&d->done, cudaEventDisableTiming));
	d->have_plan = 1;
	return 0;
}

extern "C" void gpu_dist_overlap_arm(gpu_dist *d)
{
	if (d->have_plan && d->world > 1) {
		d->armed = 1;
		d->issued = 0;
	}
}

/* queues bucket b's reduction on the bucket stream, after the default stream's work so far */
static void issue_bucket(gpu_dist *d, int b, float *grads)
{
	const grad_bucket *k = &d->plan.buckets[b];
	cudaCheck(cudaEventRecord(d->ready[b], 0));
	cudaCheck(cudaStreamWaitEvent(d->stream, d->ready[b], 0));
	ncclCheck(ncclGroupStart());
	for (int i = 0; i < k->n_segs; i++) {
		const grad_seg *s = &d->plan.segs[k->seg_lo + i];
		ncclCheck(ncclAllReduce(grads + s->off, grads + s->off, s->n, ncclFloat32, ncclAvg, d->comm, d->stream));
	}
	ncclCheck(ncclGroupEnd());
}

extern "C" void gpu_dist_stage(void *ctx, int stage, float *grads)
{
	gpu_dist *d = (gpu_dist *)ctx;
	if (!d->armed)
		return;
	int lo, n = grad_plan_ready(&d->plan, stage, &lo);
	for (int b = lo; b < lo + n; b++) {
		if (b != d->issued) /* the plan's buckets complete in order, one backward per arming */
			gpu_fatal("gpu_dist_stage", "gradient buckets out of order (a second backward after arming?)",
			          __FILE__, __LINE__);
		issue_bucket(d, b, grads);
		d->issued++;
	}
}

extern "C" void gpu_dist_allreduce_mean(void *ctx, float *grads, size_t n)
{
	gpu_dist *d = (gpu_dist *)ctx;
	if (d->world <= 1)
		return;
	if (d->armed) {
		/* buckets the backward did not reach (it was skipped: a micro-batch with no counted target)
		 * go now, in order, so every rank makes the same collective calls */
		while (d->issued < d->plan.n_buckets)
			issue_bucket(d, d->issued++, grads);
		d->armed = 0;
		cudaCheck(cudaEventRecord(d->done, d->stream));
		cudaCheck(cudaStreamWaitEvent(0, d->done, 0));
		return;
	}
	ncclCheck(ncclAllReduce(grads, grads, n, ncclFloat32, ncclAvg, d->comm, 0));
	cudaCheck(cudaStreamSynchronize(0));
}

extern "C" float gpu_dist_mean_scalar(gpu_dist *d, float x)
{
	if (d->world <= 1)
		return x;
	/* stream-ordered copies: a plain cudaMemcpy would go on the default stream, which the
	 * non-blocking bucket stream does not wait for */
	cudaStream_t s = d->have_plan ? d->stream : 0;
	float *p;
	cudaCheck(cudaMalloc(&p, sizeof *p));
	cudaCheck(cudaMemcpyAsync(p, &x, sizeof x, cudaMemcpyHostToDevice, s));
	ncclCheck(ncclAllReduce(p, p, 1, ncclFloat32, ncclAvg, d->comm, s));
	cudaCheck(cudaMemcpyAsync(&x, p, sizeof x, cudaMemcpyDeviceToHost, s));
	cudaCheck(cudaStreamSynchronize(s));
	cudaCheck(cudaFree(p));
	return x;
}
