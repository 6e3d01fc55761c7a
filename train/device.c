/* device.c - device choice and the GPU path's host-side helpers (see device.h). The CUDA device
 * itself is in device_cuda.c, compiled to something only in a SPINDLE_CUDA build. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "device.h"
#include "dist.h"

int device_built_with_cuda(void)
{
#ifdef SPINDLE_CUDA
	return 1;
#else
	return 0;
#endif
}

int device_choose(const char *want, int built_cuda, int n_gpus, const char *why_none, int *out, sp_err *err)
{
	if (!want || !strcmp(want, "auto")) {
		*out = built_cuda && n_gpus > 0 ? DEVICE_CUDA : DEVICE_CPU;
		return 0;
	}
	if (!strcmp(want, "cpu")) {
		*out = DEVICE_CPU;
		return 0;
	}
	if (strcmp(want, "cuda"))
		SP_RAISE(err, SP_EUSAGE, "--device must be cpu, cuda or auto, not '%s'", want);
	if (!built_cuda)
		SP_RAISE(err, SP_EUSAGE, "--device cuda: this spindle was built without CUDA (build bin/spindle-cuda with "
		         "'make cuda' on a machine with nvcc)");
	if (n_gpus <= 0)
		SP_RAISE(err, SP_EUSAGE, "--device cuda: no usable GPU (%s)", why_none && *why_none ? why_none : "none found");
	*out = DEVICE_CUDA;
	return 0;
}

int device_token_groups(const int32_t *tokens, int N, int V, int32_t *uniq, int32_t *starts, int32_t *idx,
                        int32_t *count)
{
	memset(count, 0, ((size_t)V + 1) * sizeof *count);
	for (int i = 0; i < N; i++) {
		if (tokens[i] < 0 || tokens[i] >= V)
			return -1;
		count[tokens[i] + 1]++;
	}
	/* count[v] becomes the first slot of token v (a counting sort, stable: positions stay in order) */
	int n_uniq = 0;
	for (int v = 0; v < V; v++) {
		if (count[v + 1]) {
			uniq[n_uniq] = v;
			starts[n_uniq] = count[v];
			n_uniq++;
		}
		count[v + 1] += count[v];
	}
	starts[n_uniq] = N;
	for (int i = 0; i < N; i++)
		idx[count[tokens[i]]++] = i;
	return n_uniq;
}

uint16_t device_bf16_from_f32(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	if (isnan(x))
		return (uint16_t)((u >> 16) | 0x40);   /* keep it a NaN (quiet) */
	u += 0x7FFFu + ((u >> 16) & 1u);           /* round to nearest, ties to even */
	return (uint16_t)(u >> 16);
}

float device_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float x;
	memcpy(&x, &u, sizeof x);
	return x;
}

void device_round_bf16(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = device_bf16_to_f32(device_bf16_from_f32(x[i]));
}

#ifndef SPINDLE_CUDA
int device_gpu_count(char *name, size_t name_len, char *why, size_t why_len)
{
	if (name && name_len)
		name[0] = 0;
	if (why && why_len)
		snprintf(why, why_len, "built without CUDA");
	return 0;
}

int train_device_open(const char *want, struct trainer *t, int flash, train_device **out, sp_err *err)
{
	int kind;
	(void)t;
	(void)flash;
	*out = NULL;
	return device_choose(want, 0, 0, NULL, &kind, err);
}

int train_device_open_model(const char *want, const model *m, int B, int T, int flash, train_device **out, sp_err *err)
{
	int kind;
	(void)m;
	(void)B;
	(void)T;
	(void)flash;
	*out = NULL;
	return device_choose(want, 0, 0, NULL, &kind, err);
}

int train_device_open_dist(const char *want, struct trainer *t, int flash, const struct dist_env *e,
                           const char *id_dir, train_device **out, sp_err *err)
{
	(void)id_dir;
	if (e && e->world > 1)
		SP_RAISE(err, SP_EUSAGE, "data parallelism over NCCL needs a CUDA build (make cuda) and --device cuda");
	return train_device_open(want, t, flash, out, err);
}

float train_device_mean(train_device *d, float x)
{
	(void)d;
	return x;
}

void train_device_close(train_device *d)
{
	(void)d;
}

int device_decoder_open(const char *want, const model *m, int n_ctx, device_decoder **out, sp_err *err)
{
	int kind;
	(void)m;
	(void)n_ctx;
	*out = NULL;
	return device_choose(want, 0, 0, NULL, &kind, err);
}

const float *device_decoder_step(device_decoder *d, int32_t token)
{
	(void)d;
	(void)token;
	return NULL;
}

void device_decoder_reset(device_decoder *d)
{
	(void)d;
}

void device_decoder_close(device_decoder *d)
{
	(void)d;
}
#endif
