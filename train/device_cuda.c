/* device_cuda.c - the CUDA device behind train_device and device_decoder (see device.h): thin
 * glue from the trainer's operations to the gpu_model of train/cuda/gpu.h. Compiled to nothing
 * unless the build defines SPINDLE_CUDA (make cuda). */
#ifdef SPINDLE_CUDA
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adamw.h"
#include "cuda/gpu.h"
#include "cuda/gpu_dist.h"
#include "device.h"
#include "dist.h"
#include "spindle/io.h"
#include "trainer.h"
#include "spindle/mem.h"

int device_gpu_count(char *name, size_t name_len, char *why, size_t why_len)
{
	return gpu_device_count(name, name_len, why, why_len);
}

/* the device context: the model, and the NCCL group when data-parallel */
typedef struct cuda_ctx {
	gpu_model *g;
	gpu_dist *dist;
} cuda_ctx;

#define G(ctx) (((cuda_ctx *)(ctx))->g)

static void op_zero_grad(void *ctx) { gpu_model_zero_grad(G(ctx)); }

static void op_forward(void *ctx, const model_batch *b, float *mean_loss, size_t *n, float *rewards)
{
	gpu_model_forward(G(ctx), b, mean_loss, n, NULL, rewards);
}

static void op_backward(void *ctx, const model_batch *b, float dloss, const float *d_rewards)
{
	gpu_model_backward(G(ctx), b, dloss, d_rewards);
}

static float op_grad_norm(void *ctx) { return gpu_model_grad_norm(G(ctx)); }

static void op_update(void *ctx, float lr, const struct adamw_hparams *hp, uint64_t t, float gscale)
{
	gpu_model_adamw(G(ctx), lr, hp->beta1, hp->beta2, hp->eps, hp->weight_decay, t, gscale);
}

static void op_pull(void *ctx, model *m, struct adamw_state *opt)
{
	gpu_model_download_params(G(ctx), m->params);
	if (opt && opt->m)
		gpu_model_download_opt(G(ctx), opt->m, opt->v);
}

static void op_push(void *ctx, const model *m, const struct adamw_state *opt)
{
	gpu_model_upload_params(G(ctx), m->params);
	if (opt && opt->m)
		gpu_model_upload_opt(G(ctx), opt->m, opt->v);
}

/* the next backward exchanges its gradient buckets as they become final (gpu_dist.h); nothing when
 * the run is not data-parallel or has no buckets (--bucket-mb 0) */
static void op_overlap_next(void *ctx)
{
	cuda_ctx *c = ctx;
	if (c->dist)
		gpu_dist_overlap_arm(c->dist);
}

static void op_release(void *ctx)
{
	cuda_ctx *c = ctx;
	gpu_model_destroy(c->g);
	gpu_dist_destroy(c->dist);
	sp_free(c);
}

static const train_device_ops cuda_ops = {
	op_zero_grad, op_forward, op_backward, op_grad_norm, op_update, op_pull, op_push, op_release, op_overlap_next,
};

static int choose(const char *want, char *name, size_t name_len, int *kind, sp_err *err)
{
	char why[256];
	int n = gpu_device_count(name, name_len, why, sizeof why);
	return device_choose(want, 1, n, why, kind, err);
}

/* the device object around a model made by make (called once the GPU is selected) */
static int open_with(const char *want, train_device **out, gpu_model *(*make)(void *), void *arg, gpu_dist *dist,
                     sp_err *err)
{
	int kind;
	char name[200];
	*out = NULL;
	SP_FORWARD(choose(want, name, sizeof name, &kind, err));
	if (kind == DEVICE_CPU)
		return 0;
	train_device *d = sp_calloc(1, sizeof *d);
	cuda_ctx *c = sp_calloc(1, sizeof *c);
	if (!d || !c) {
		sp_free(d);
		sp_free(c);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	d->ops = &cuda_ops;
	d->kind = DEVICE_CUDA;
	snprintf(d->name, sizeof d->name, "%s", name);
	c->g = make(arg);
	c->dist = dist;
	if (dist)
		gpu_model_set_grad_hook(c->g, gpu_dist_allreduce_mean, dist);
	d->ctx = c;
	*out = d;
	return 0;
}

typedef struct make_args { const model *m; int B, T, flash; const adamw_state *opt; } make_args;

static gpu_model *make_model(void *arg)
{
	make_args *a = arg;
	gpu_model *g = gpu_model_create(a->m, a->B, a->T, a->flash);
	if (a->opt)
		gpu_model_upload_opt(g, a->opt->m, a->opt->v);
	return g;
}

int train_device_open(const char *want, struct trainer *t, int flash, train_device **out, sp_err *err)
{
	make_args a = { &t->m, t->batch.B, t->batch.T, flash, &t->opt };
	return open_with(want, out, make_model, &a, NULL, err);
}

int train_device_open_model(const char *want, const model *m, int B, int T, int flash, train_device **out, sp_err *err)
{
	make_args a = { m, B, T, flash, NULL };
	return open_with(want, out, make_model, &a, NULL, err);
}

int train_device_open_dist(const char *want, struct trainer *t, int flash, const dist_env *e, const char *id_dir,
                           train_device **out, sp_err *err)
{
	if (!e || e->world <= 1)
		return train_device_open(want, t, flash, out, err);
	int kind;
	char name[200], path[4096];
	SP_FORWARD(choose(want, name, sizeof name, &kind, err));
	if (kind != DEVICE_CUDA)
		SP_RAISE(err, SP_EUSAGE, "a data-parallel run (world %d) needs --device cuda", e->world);
	gpu_dist_select_device(e->local_rank);
	unsigned char id[DIST_ID_BYTES];
	if (e->comm) { /* mpirun/srun (issue 18): rank 0's id over MPI, as llm.c does */
		if (e->rank == 0)
			gpu_dist_unique_id(id);
		SP_FORWARD(dist_comm_bcast(e->comm, id, sizeof id, err));
	} else { /* a launcher without MPI (torchrun-style variables): through a file all ranks see */
		SP_FORWARD(sp_mkdir_p(id_dir, err));
		dist_id_path(path, sizeof path, id_dir, e);
		if (e->rank == 0) {
			gpu_dist_unique_id(id);
			SP_FORWARD(dist_id_publish(path, id, err));
		} else {
			SP_FORWARD(dist_id_wait(path, id, 300.0, err));
		}
	}
	gpu_dist *dist = gpu_dist_create(id, e->rank, e->world);
	/* every rank has joined (creating the communicator waits for all): the id file has served, and a
	 * later run of the same job name (a resume under the plain launcher, job "local") must not read
	 * this stale id (rank 1 did, and waited for a group that never formed; found by the emulator) */
	if (e->rank == 0 && !e->comm)
		remove(path);
	/* gradient buckets (issue 18): the stage hook starts each bucket's all-reduce during the backward
	 * of a step the trainer arms (overlap_next); --bucket-mb 0 keeps the whole-arena exchange */
	if (t->o.bucket_mb > 0) {
		double cap = (double)t->o.bucket_mb * (1 << 20) / sizeof(float);
		int rc = gpu_dist_buckets_init(dist, t->m.ti, t->m.cfg.n_layers, cap < 1 ? 1 : (size_t)cap, err);
		if (rc < 0) {
			gpu_dist_destroy(dist);
			return rc;
		}
	}
	make_args a = { &t->m, t->batch.B, t->batch.T, flash, &t->opt };
	int rc = open_with("cuda", out, make_model, &a, dist, err);
	if (rc < 0) {
		gpu_dist_destroy(dist);
		return rc;
	}
	if (*out && t->o.bucket_mb > 0)
		gpu_model_set_stage_hook(((cuda_ctx *)(*out)->ctx)->g, gpu_dist_stage, dist);
	return rc;
}

float train_device_mean(train_device *d, float x)
{
	cuda_ctx *c = d && d->ops == &cuda_ops ? d->ctx : NULL;
	return c && c->dist ? gpu_dist_mean_scalar(c->dist, x) : x;
}

void train_device_close(train_device *d)
{
	if (!d)
		return;
	d->ops->release(d->ctx);
	sp_free(d);
}

struct device_decoder {
	gpu_model *g;
	gpu_decoder *dec;
	float *logits;
};

int device_decoder_open(const char *want, const model *m, int n_ctx, device_decoder **out, sp_err *err)
{
	int kind;
	char name[200];
	*out = NULL;
	SP_FORWARD(choose(want, name, sizeof name, &kind, err));
	if (kind == DEVICE_CPU)
		return 0;
	if (m->cfg.reward_head)
		SP_RAISE(err, SP_EUSAGE, "sampling needs a model with an LM head, not a reward model");
	device_decoder *d = sp_calloc(1, sizeof *d);
	if (!d || !(d->logits = sp_malloc((size_t)m->cfg.vocab_size * sizeof(float)))) {
		sp_free(d);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	/* the decoder needs the parameters and rotary tables only: a 1 x 1 batch keeps the rest small */
	d->g = gpu_model_create(m, 1, 1, 0);
	d->dec = gpu_decoder_create(d->g, n_ctx);
	*out = d;
	return 0;
}

const float *device_decoder_step(device_decoder *d, int32_t token)
{
	gpu_decoder_step(d->dec, token, d->logits);
	return d->logits;
}

void device_decoder_reset(device_decoder *d)
{
	gpu_decoder_reset(d->dec);
}

void device_decoder_close(device_decoder *d)
{
	if (!d)
		return;
	gpu_decoder_destroy(d->dec);
	gpu_model_destroy(d->g);
	sp_free(d->logits);
	sp_free(d);
}
#else
typedef int device_cuda_empty; /* ISO C wants a translation unit to declare something */
#endif
