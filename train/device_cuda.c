/* device_cuda.c - the CUDA device behind train_device and device_decoder (see device.h): thin
 * glue from the trainer's operations to the gpu_model of train/cuda/gpu.h. Compiled to nothing
 * unless the build defines SPINDLE_CUDA (make cuda). */
#ifdef SPINDLE_CUDA
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adamw.h"
#include "cuda/gpu.h"
#include "device.h"
#include "trainer.h"
#include "spindle/mem.h"

int device_gpu_count(char *name, size_t name_len, char *why, size_t why_len)
{
	return gpu_device_count(name, name_len, why, why_len);
}

static void op_zero_grad(void *ctx) { gpu_model_zero_grad(ctx); }

static void op_forward(void *ctx, const model_batch *b, float *mean_loss, size_t *n, float *rewards)
{
	gpu_model_forward(ctx, b, mean_loss, n, NULL, rewards);
}

static void op_backward(void *ctx, const model_batch *b, float dloss, const float *d_rewards)
{
	gpu_model_backward(ctx, b, dloss, d_rewards);
}

static float op_grad_norm(void *ctx) { return gpu_model_grad_norm(ctx); }

static void op_update(void *ctx, float lr, const struct adamw_hparams *hp, uint64_t t, float gscale)
{
	gpu_model_adamw(ctx, lr, hp->beta1, hp->beta2, hp->eps, hp->weight_decay, t, gscale);
}

static void op_pull(void *ctx, model *m, struct adamw_state *opt)
{
	gpu_model_download_params(ctx, m->params);
	if (opt)
		gpu_model_download_opt(ctx, opt->m, opt->v);
}

static void op_push(void *ctx, const model *m, const struct adamw_state *opt)
{
	gpu_model_upload_params(ctx, m->params);
	if (opt)
		gpu_model_upload_opt(ctx, opt->m, opt->v);
}

static void op_release(void *ctx) { gpu_model_destroy(ctx); }

static const train_device_ops cuda_ops = {
	op_zero_grad, op_forward, op_backward, op_grad_norm, op_update, op_pull, op_push, op_release,
};

static int choose(const char *want, char *name, size_t name_len, int *kind, sp_err *err)
{
	char why[256];
	int n = gpu_device_count(name, name_len, why, sizeof why);
	return device_choose(want, 1, n, why, kind, err);
}

int train_device_open(const char *want, struct trainer *t, int flash, train_device **out, sp_err *err)
{
	int kind;
	char name[200];
	*out = NULL;
	SP_FORWARD(choose(want, name, sizeof name, &kind, err));
	if (kind == DEVICE_CPU)
		return 0;
	train_device *d = sp_calloc(1, sizeof *d);
	if (!d)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	d->ops = &cuda_ops;
	d->kind = DEVICE_CUDA;
	snprintf(d->name, sizeof d->name, "%s", name);
	d->ctx = gpu_model_create(&t->m, t->batch.B, t->batch.T, flash);
	gpu_model_upload_opt(d->ctx, t->opt.m, t->opt.v);
	*out = d;
	return 0;
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
