/* bench_step.c - times spindle's CUDA training step (forward, backward, clipping, AdamW) on the
 * issue 10 configurations with synthetic tokens, and prints one JSON line:
 *   {"impl":"spindle","config":"124m","tokens_per_s":...,"mfu":...,"step_ms":...,"loss":...}
 * FLOPs per token: 6 N (N = parameters without the input embedding) + 12 layers * dim * seq, against
 * 989 TFLOP/s (H100 SXM dense bf16). Built by `make cuda` as build-cuda/bench/gpu_bench; used by
 * bench/gpu/run.sh. Usage: gpu_bench CONFIG [steps [micro_batch [seq [naive|flash]]]]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../train/device.h"
#include "../../train/trainer.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: gpu_bench tiny|124m|350m|1b [steps [micro_batch [seq [naive|flash]]]]\n");
		return 2;
	}
	const char *name = argv[1];
	int steps = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 10, B = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 4;
	int T = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 4096, flash = !(argc > 5 && !strcmp(argv[5], "naive"));
	model_config c = { 0 };
	c.vocab_size = 32000;
	c.norm_eps = 1e-5f;
	c.rope_theta = 10000.0f;
	if (!strcmp(name, "124m"))
		c.dim = 768, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 4, c.hidden_dim = 2048;
	else if (!strcmp(name, "350m"))
		c.dim = 1024, c.n_layers = 24, c.n_heads = 16, c.n_kv_heads = 4, c.hidden_dim = 2816;
	else if (!strcmp(name, "1b"))
		c.dim = 2048, c.n_layers = 16, c.n_heads = 16, c.n_kv_heads = 4, c.hidden_dim = 5632;
	else if (!strcmp(name, "tiny"))
		c.dim = 256, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.hidden_dim = 688, c.vocab_size = 512;
	else {
		fprintf(stderr, "gpu_bench: unknown config %s\n", name);
		return 2;
	}
	c.max_seq_len = T;
	sp_err err = SP_ERR_INIT;
	train_data d;
	train_opts o;
	trainer t;
	train_device *dev = NULL;
	train_opts_default(&o);
	o.steps = steps + 2;
	o.batch = B;
	o.spike_k = 0;
	o.device_acts = 1;
	if (data_synth_open(&d, (uint32_t)c.vocab_size, T, 1, &err) < 0 || trainer_init(&t, &o, &c, &d, NULL, &err) < 0 ||
	    train_device_open("cuda", &t, flash, &dev, &err) < 0) {
		fprintf(stderr, "gpu_bench: %s\n", err.msg);
		return 1;
	}
	if (!dev) {
		fprintf(stderr, "gpu_bench: no CUDA device\n");
		return 1;
	}
	t.dev = dev;
	for (int s = 0; s < 2; s++) /* warm-up: cuBLAS heuristics, allocations */
		if (trainer_step(&t, &err) < 0) {
			fprintf(stderr, "gpu_bench: %s\n", err.msg);
			return 1;
		}
	double t0 = now_s();
	for (int s = 0; s < steps; s++)
		if (trainer_step(&t, &err) < 0) {
			fprintf(stderr, "gpu_bench: %s\n", err.msg);
			return 1;
		}
	double dt = (now_s() - t0) / steps;
	double n = (double)t.m.n_params - (double)t.m.ti[P_EMBED].size;
	double flops_tok = 6.0 * n + 12.0 * c.n_layers * c.dim * (double)T, tps = (double)B * T / dt;
	printf("{\"impl\":\"spindle\",\"config\":\"%s\",\"attention\":\"%s\",\"device\":\"%s\",\"micro_batch\":%d,\"seq\":%d,"
	       "\"params\":%zu,\"step_ms\":%.2f,\"tokens_per_s\":%.0f,\"mfu\":%.4f,\"loss\":%.4f}\n",
	       name, flash ? "fused" : "naive", dev->name, B, T, t.m.n_params, dt * 1e3, tps, tps * flops_tok / 989e12,
	       (double)t.last_loss);
	train_device_close(dev);
	t.dev = NULL;
	trainer_release(&t);
	d.free(d.ctx);
	return 0;
}
