/* device.h - where `spindle train` runs: the CPU (model.c, adamw.c) or, in a build made by
 * `make cuda` (bin/spindle-cuda, compiled with -DSPINDLE_CUDA), one NVIDIA GPU (train/cuda/, issue 9).
 * The trainer runs on a device through train_device's operations (trainer.c calls them where it
 * would call the CPU model); a checkpoint is always written from and read into the host model, so a
 * run moves between CPU and GPU by resuming. Also here: the host-side pieces of the GPU path that
 * need no GPU and are tested by `make check` (device choice, the embedding gradient's token
 * grouping, bf16 rounding). Ownership: train_device_open allocates what train_device_close frees;
 * the trainer is borrowed and must outlive the device. */
#ifndef SPINDLE_TRAIN_DEVICE_H
#define SPINDLE_TRAIN_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "spindle/err.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DEVICE_CPU = 0, DEVICE_CUDA = 1 };

/* 1 in a build made by `make cuda`. */
int device_built_with_cuda(void);
/* Number of CUDA devices (0 in a CPU-only build, or when there is none: why says why). */
int device_gpu_count(char *name, size_t name_len, char *why, size_t why_len);
/* The device for --device WANT ("cpu", "cuda", "auto" or NULL = auto): auto is cuda when the build
 * has CUDA and a GPU is present, else cpu. Asking for cuda without CUDA in the build or without a
 * GPU is an SP_EUSAGE error that says which (why_none: the driver's reason). */
int device_choose(const char *want, int built_cuda, int n_gpus, const char *why_none, int *out, sp_err *err);

struct trainer;
struct adamw_hparams;
struct adamw_state;

typedef struct train_device_ops {
	void (*zero_grad)(void *ctx);
	/* as model_forward; fills rewards_host[B] for a reward model */
	void (*forward)(void *ctx, const model_batch *b, float *mean_loss, size_t *n_counted, float *rewards_host);
	void (*backward)(void *ctx, const model_batch *b, float dloss, const float *d_rewards_host);
	/* global gradient norm (after the data-parallel all-reduce, when there is one) */
	float (*grad_norm)(void *ctx);
	/* AdamW step t (1-based) with gradients scaled by gscale */
	void (*update)(void *ctx, float lr, const struct adamw_hparams *hp, uint64_t t, float gscale);
	/* device -> host model and moments (before a checkpoint); host -> device (after a resume) */
	void (*pull)(void *ctx, model *m, struct adamw_state *opt);
	void (*push)(void *ctx, const model *m, const struct adamw_state *opt);
	void (*release)(void *ctx);
	/* optional (data parallelism, issue 18): the next backward is the step's last micro-batch; its
	 * gradients are exchanged bucket by bucket (grad_plan.h) as they become final, overlapped with
	 * the rest of that backward, and grad_norm waits for that exchange instead of running it whole.
	 * NULL, or not called in a step: grad_norm exchanges the whole gradient after the backward. */
	void (*overlap_next)(void *ctx);
} train_device_ops;

typedef struct train_device {
	const train_device_ops *ops;
	void *ctx;
	int kind;               /* DEVICE_CUDA */
	char name[200];         /* "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" */
} train_device;

struct dist_env;

/* Opens the device --device WANT chooses for trainer t (after trainer_init, before trainer_resume):
 * *out is NULL for the CPU, else a device holding a copy of t's model for batches of t's size.
 * flash: fused attention where the head size allows (issue 10). */
int train_device_open(const char *want, struct trainer *t, int flash, train_device **out, sp_err *err);
/* The same for model m alone (eval): batches up to B x T, forward only needs no optimizer. */
int train_device_open_model(const char *want, const model *m, int B, int T, int flash, train_device **out, sp_err *err);
/* Data parallelism over NCCL (issue 10): as train_device_open, for rank e->rank of e->world; the
 * device is the local rank's GPU, rank 0 publishes the NCCL id in id_dir (a folder all ranks
 * see) and gradients are averaged over the ranks before clipping. e->world == 1: a plain open.
 * A CPU build or --device cpu with world > 1 is an SP_EUSAGE error. */
int train_device_open_dist(const char *want, struct trainer *t, int flash, const struct dist_env *e,
                           const char *id_dir, train_device **out, sp_err *err);
/* The mean of x over the ranks of d's data-parallel group (x itself without one). */
float train_device_mean(train_device *d, float x);
void train_device_close(train_device *d);

/* Sampling on the device: a KV-cache decoder over a copy of m (LM head only). *out is NULL when
 * WANT resolves to the CPU (use decode_state from sample.h). */
typedef struct device_decoder device_decoder;
int device_decoder_open(const char *want, const model *m, int n_ctx, device_decoder **out, sp_err *err);
/* Feeds token at the next position; returns logits for the one after (borrowed until the next call). */
const float *device_decoder_step(device_decoder *d, int32_t token);
void device_decoder_reset(device_decoder *d);
void device_decoder_close(device_decoder *d);

/* Groups the N positions of tokens (each in [0, V)) by token, for a deterministic embedding
 * gradient: uniq[u] is the u-th distinct token in increasing order, its positions are
 * idx[starts[u] .. starts[u+1]) in increasing order. count: V+1 ints of scratch.
 * Returns the number of distinct tokens, or -1 when a token is out of range. */
int device_token_groups(const int32_t *tokens, int N, int V, int32_t *uniq, int32_t *starts, int32_t *idx,
                        int32_t *count);

/* bfloat16 as the GPU stores it: the top 16 bits of the float, rounded to nearest even (NaN stays
 * NaN, infinities stay infinite). */
uint16_t device_bf16_from_f32(float x);
float device_bf16_to_f32(uint16_t h);
/* x[i] = bf16(x[i]) */
void device_round_bf16(float *x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
