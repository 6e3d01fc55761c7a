/* test_device.c - the host side of the CUDA trainer, tested without a GPU: --device choice, bf16
 * rounding (against a brute-force nearest-value search), the embedding gradient's token grouping,
 * the launcher environment and NCCL id exchange for data parallelism (issue 10), and the trainer's
 * device hook, driven by a stand-in device that runs the CPU model: a run through the hook (host
 * model without activations, clipping folded into the update, checkpoints pulled from the device
 * and resumes pushed back) must equal the plain CPU run bit for bit. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../train/device.h"
#include "../../train/dist.h"
#include "../../train/rng.h"
#include "../../train/trainer.h"

/* ---------------------------------------------------------------- device choice */

Test(device, choice)
{
	int k = -1;
	sp_err e = SP_ERR_INIT;
	cr_assert(device_choose(NULL, 1, 2, NULL, &k, NULL) == 0 && k == DEVICE_CUDA);
	cr_assert(device_choose("auto", 1, 0, "no device", &k, NULL) == 0 && k == DEVICE_CPU);
	cr_assert(device_choose("auto", 0, 3, NULL, &k, NULL) == 0 && k == DEVICE_CPU);
	cr_assert(device_choose("cpu", 1, 1, NULL, &k, NULL) == 0 && k == DEVICE_CPU);
	cr_assert(device_choose("cuda", 1, 1, NULL, &k, NULL) == 0 && k == DEVICE_CUDA);
	cr_assert(device_choose("cuda", 0, 1, NULL, &k, &e) == SP_EUSAGE);
	cr_assert(strstr(e.msg, "built without CUDA") && strstr(e.msg, "make cuda"), "%s", e.msg);
	cr_assert(device_choose("cuda", 1, 0, "CUDA driver version is insufficient", &k, &e) == SP_EUSAGE);
	cr_assert(strstr(e.msg, "no usable GPU (CUDA driver version is insufficient)"), "%s", e.msg);
	cr_assert(device_choose("tpu", 1, 1, NULL, &k, &e) == SP_EUSAGE);
	cr_assert(strstr(e.msg, "'tpu'"), "%s", e.msg);
}

Test(device, this_build)
{
	/* make check builds without CUDA: asking for it is a clear error, auto is the CPU */
	char why[128];
	cr_assert_eq(device_built_with_cuda(), 0);
	cr_assert_eq(device_gpu_count(NULL, 0, why, sizeof why), 0);
	train_device *d = (train_device *)1;
	sp_err e = SP_ERR_INIT;
	cr_assert(train_device_open("auto", NULL, 0, &d, NULL) == 0 && d == NULL);
	cr_assert(train_device_open("cuda", NULL, 0, &d, &e) == SP_EUSAGE && d == NULL);
	device_decoder *dd = (device_decoder *)1;
	cr_assert(device_decoder_open("cpu", NULL, 8, &dd, NULL) == 0 && dd == NULL);
}

/* ---------------------------------------------------------------- bf16 */

static float bits(uint32_t u)
{
	float x;
	memcpy(&x, &u, 4);
	return x;
}

/* the nearest of the two bf16 neighbours of x by exact (double) distance, ties to the even one */
static float nearest_bf16(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	float lo = bits(u & 0xFFFF0000u), hi = bits((u & 0xFFFF0000u) + 0x10000u);
	double dl = fabs((double)x - lo), dh = fabs((double)hi - x);
	if (dl < dh)
		return lo;
	if (dh < dl)
		return hi;
	return ((u >> 16) & 1) ? hi : lo;
}

Test(device, bf16_rounding_is_nearest_even)
{
	train_rng r;
	rng_seed(&r, 99);
	for (int i = 0; i < 200000; i++) {
		uint32_t u = (uint32_t)rng_u64(&r);
		float x = bits(u);
		if (!isfinite(x) || fabsf(x) > 1e38f)
			continue;
		float got = device_bf16_to_f32(device_bf16_from_f32(x)), want = nearest_bf16(x);
		cr_assert(memcmp(&got, &want, 4) == 0, "x=%a got %a want %a", (double)x, (double)got, (double)want);
	}
	/* ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 (even: 1); 1 + 3*2^-8 goes up to 1 + 2^-6 */
	cr_assert_eq(device_bf16_to_f32(device_bf16_from_f32(1.0f + 0x1p-8f)), 1.0f);
	cr_assert_eq(device_bf16_to_f32(device_bf16_from_f32(1.0f + 0x3p-8f)), 1.0f + 0x1p-6f);
	cr_assert_eq(device_bf16_from_f32(1.0f), 0x3F80);
	cr_assert_eq(device_bf16_from_f32(-2.0f), 0xC000);
	cr_assert(isnan(device_bf16_to_f32(device_bf16_from_f32(NAN))));
	cr_assert(isinf(device_bf16_to_f32(device_bf16_from_f32(INFINITY))));
	cr_assert(isinf(device_bf16_to_f32(device_bf16_from_f32(3.4e38f))));   /* rounds past the largest bf16 */
	/* 0xFFFF, the poison check-gpu fills buffers with, is a NaN */
	cr_assert(isnan(device_bf16_to_f32(0xFFFF)));
	float v[3] = { 1.0f + 0x1p-9f, 3.0f, -0.1f };
	device_round_bf16(v, 3);
	cr_assert(v[0] == 1.0f && v[1] == 3.0f && fabsf(v[2] + 0.1f) < 0.1f / 256);
}

/* ---------------------------------------------------------------- token groups */

Test(device, token_groups_cover_every_position_in_order)
{
	enum { N = 500, V = 37 };
	int32_t tok[N], uniq[N], starts[N + 1], idx[N], count[V + 1];
	train_rng r;
	rng_seed(&r, 4);
	for (int i = 0; i < N; i++)
		tok[i] = (int32_t)(rng_u64(&r) % (V - 5)) + (i % 50 == 0 ? 5 : 0);
	int nu = device_token_groups(tok, N, V, uniq, starts, idx, count);
	cr_assert(nu > 0 && nu <= V);
	int seen[N] = { 0 }, present[V] = { 0 };
	for (int i = 0; i < N; i++)
		present[tok[i]] = 1;
	int np = 0;
	for (int v = 0; v < V; v++)
		np += present[v];
	cr_assert_eq(nu, np);
	cr_assert_eq(starts[0], 0);
	cr_assert_eq(starts[nu], N);
	for (int u = 0; u < nu; u++) {
		cr_assert(u == 0 || uniq[u] > uniq[u - 1]);
		cr_assert(starts[u + 1] > starts[u]);
		for (int p = starts[u]; p < starts[u + 1]; p++) {
			cr_assert_eq(tok[idx[p]], uniq[u]);
			cr_assert(p == starts[u] || idx[p] > idx[p - 1]);
			seen[idx[p]]++;
		}
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(seen[i], 1);
	tok[7] = V;
	cr_assert_eq(device_token_groups(tok, N, V, uniq, starts, idx, count), -1);
}

/* ---------------------------------------------------------------- launcher environment */

static const char *const *fake_env;

static const char *fake_get(void *ctx, const char *name)
{
	(void)ctx;
	for (const char *const *e = fake_env; *e; e += 2)
		if (!strcmp(e[0], name))
			return e[1];
	return NULL;
}

static int env_of(const char *const *env, dist_env *d, sp_err *e)
{
	fake_env = env;
	return dist_env_read(d, fake_get, NULL, e);
}

Test(dist, launchers)
{
	dist_env d;
	sp_err e = SP_ERR_INIT;
	const char *none[] = { "HOME", "/root", NULL };
	cr_assert(env_of(none, &d, NULL) == 0 && d.rank == 0 && d.world == 1 && !strcmp(d.launcher, "none"));
	const char *ompi[] = { "OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_SIZE", "8", "OMPI_COMM_WORLD_LOCAL_RANK", "1",
		"PMIX_NAMESPACE", "prterun-host-123@1", NULL };
	cr_assert(env_of(ompi, &d, NULL) == 0);
	cr_assert(d.rank == 3 && d.world == 8 && d.local_rank == 1 && !strcmp(d.launcher, "openmpi"));
	cr_assert_str_eq(d.job, "prterun-host-123_1");
	const char *slurm[] = { "SLURM_PROCID", "5", "SLURM_NTASKS", "16", "SLURM_LOCALID", "5", "SLURM_JOB_ID", "4242", NULL };
	cr_assert(env_of(slurm, &d, NULL) == 0);
	cr_assert(d.rank == 5 && d.world == 16 && d.local_rank == 5 && !strcmp(d.launcher, "slurm") && !strcmp(d.job, "4242"));
	const char *mpich[] = { "PMI_RANK", "1", "PMI_SIZE", "2", NULL };
	cr_assert(env_of(mpich, &d, NULL) == 0 && d.rank == 1 && d.world == 2 && d.local_rank == 1);
	/* spindle's own variables override a launcher's */
	const char *both[] = { "SPINDLE_RANK", "0", "SPINDLE_WORLD_SIZE", "1", "SLURM_PROCID", "2", "SLURM_NTASKS", "4", NULL };
	cr_assert(env_of(both, &d, NULL) == 0 && d.world == 1 && !strcmp(d.launcher, "spindle"));
	const char *bad1[] = { "SLURM_PROCID", "4", "SLURM_NTASKS", "4", NULL };
	cr_assert(env_of(bad1, &d, &e) == SP_EUSAGE && strstr(e.msg, "outside"), "%s", e.msg);
	const char *bad2[] = { "OMPI_COMM_WORLD_RANK", "x1", "OMPI_COMM_WORLD_SIZE", "4", NULL };
	cr_assert(env_of(bad2, &d, &e) == SP_EUSAGE && strstr(e.msg, "OMPI_COMM_WORLD_RANK"), "%s", e.msg);
	const char *bad3[] = { "RANK", "1", NULL };
	cr_assert(env_of(bad3, &d, &e) == SP_EUSAGE && strstr(e.msg, "WORLD_SIZE"), "%s", e.msg);
	const char *bad4[] = { "SLURM_PROCID", "0", "SLURM_NTASKS", "0", NULL };
	cr_assert(env_of(bad4, &d, &e) == SP_EUSAGE);
}

Test(dist, nccl_id_round_trip_through_a_file)
{
	unsigned char id[DIST_ID_BYTES], back[DIST_ID_BYTES];
	for (int i = 0; i < DIST_ID_BYTES; i++)
		id[i] = (unsigned char)(i * 37 + 11);
	char hex[2 * DIST_ID_BYTES + 1];
	dist_id_format(hex, id);
	cr_assert_eq(strlen(hex), 2 * DIST_ID_BYTES);
	cr_assert(dist_id_parse(back, hex, NULL) == 0 && !memcmp(id, back, sizeof id));
	sp_err e = SP_ERR_INIT;
	cr_assert(dist_id_parse(back, "abc", &e) == SP_EDATA);
	hex[17] = 'g';
	cr_assert(dist_id_parse(back, hex, &e) == SP_EDATA && strstr(e.msg, "17"), "%s", e.msg);

	char dir[] = "/tmp/spindle-dist-XXXXXX", path[256];
	cr_assert(mkdtemp(dir));
	dist_env d = { 0, 2, 0, "slurm", "77" };
	dist_id_path(path, sizeof path, dir, &d);
	cr_assert(strstr(path, "/nccl-id-77"));
	/* a rank that waits for an id nobody writes gives up with a clear error */
	cr_assert(dist_id_wait(path, back, 0.2, &e) == SP_EIO && strstr(e.msg, "no NCCL id"), "%s", e.msg);
	cr_assert(dist_id_publish(path, id, NULL) == 0);
	memset(back, 0, sizeof back);
	cr_assert(dist_id_wait(path, back, 5, NULL) == 0 && !memcmp(id, back, sizeof id));
	char c[300];
	snprintf(c, sizeof c, "rm -rf %s", dir);
	(void)!system(c);
}

/* ---------------------------------------------------------------- the trainer's device hook */

/* A stand-in device: the CPU model and optimizer on their own copies, behind train_device_ops. */
typedef struct twin { model m; adamw_state opt; int calls; } twin;

static void tw_zero(void *c) { model_zero_grad(&((twin *)c)->m); }

static void tw_forward(void *c, const model_batch *b, float *loss, size_t *n, float *rewards)
{
	twin *t = c;
	model_forward(&t->m, b, loss, n);
	if (rewards)
		memcpy(rewards, t->m.rewards, (size_t)b->B * sizeof(float));
	t->calls++;
}

/* The CPU trainer sums micro-batches' gradients, each computed on its own, in order (issue 18: so
 * that N ranks equal one process with --accum N); the twin adds the same way. */
static void tw_backward(void *c, const model_batch *b, float dloss, const float *dr)
{
	twin *t = c;
	size_t n = t->m.n_params;
	float *sum = malloc(n * sizeof *sum);
	cr_assert(sum);
	memcpy(sum, t->m.grads, n * sizeof *sum);
	model_zero_grad(&t->m);
	model_backward(&t->m, b, dloss, dr);
	for (size_t i = 0; i < n; i++)
		t->m.grads[i] = sum[i] + t->m.grads[i];
	free(sum);
}
static float tw_norm(void *c) { twin *t = c; return adamw_clip(t->m.grads, t->m.n_params, 0); }

static void tw_update(void *c, float lr, const struct adamw_hparams *hp, uint64_t step, float gscale)
{
	twin *t = c;
	for (size_t i = 0; i < t->m.n_params; i++)
		t->m.grads[i] *= gscale;
	t->opt.t = step - 1;
	adamw_update(&t->opt, &t->m, lr, hp);
}

static void tw_pull(void *c, model *m, struct adamw_state *o)
{
	twin *t = c;
	memcpy(m->params, t->m.params, m->n_params * 4);
	memcpy(o->m, t->opt.m, m->n_params * 4);
	memcpy(o->v, t->opt.v, m->n_params * 4);
}

static void tw_push(void *c, const model *m, const struct adamw_state *o)
{
	twin *t = c;
	memcpy(t->m.params, m->params, m->n_params * 4);
	memcpy(t->opt.m, o->m, m->n_params * 4);
	memcpy(t->opt.v, o->v, m->n_params * 4);
}

static void tw_release(void *c) { twin *t = c; model_release(&t->m); adamw_release(&t->opt); }

static const train_device_ops twin_ops = { tw_zero, tw_forward, tw_backward, tw_norm, tw_update, tw_pull, tw_push, tw_release };

static model_config cfg(int reward)
{
	model_config c = { .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .hidden_dim = 40, .vocab_size = 61,
	                   .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .reward_head = reward };
	return c;
}

static void run_pair(int mode)
{
	enum { STEPS = 6 };
	train_opts o;
	train_opts_default(&o);
	o.mode = mode;
	o.steps = STEPS;
	o.batch = 2;
	o.accum = 2;
	o.lr = 1e-2f;
	o.clip = 0.05f;     /* small: clipping happens, so the folded scale is exercised */
	o.spike_k = 0;
	model_config c = cfg(mode == TRAIN_RM);
	train_data dc, dd;
	trainer tc, td;
	cr_assert(data_synth_open(&dc, 61, 12, 5, NULL) == 0 && data_synth_open(&dd, 61, 12, 5, NULL) == 0);
	cr_assert(trainer_init(&tc, &o, &c, &dc, NULL, NULL) == 0);
	train_opts od = o;
	od.device_acts = 1;
	cr_assert(trainer_init(&td, &od, &c, &dd, NULL, NULL) == 0);
	cr_assert_eq(td.m.B_max, 1);   /* the host twin of a device model keeps no batch activations */
	twin tw;
	cr_assert(model_init(&tw.m, &c, td.batch.B, td.batch.T, NULL) == 0 && adamw_init(&tw.opt, tw.m.n_params, NULL) == 0);
	tw.calls = 0;
	memcpy(tw.m.params, td.m.params, td.m.n_params * 4);
	train_device dev = { &twin_ops, &tw, DEVICE_CUDA, "twin" };
	td.dev = &dev;
	char dir[] = "/tmp/spindle-devhook-XXXXXX";
	cr_assert(mkdtemp(dir));
	for (int s = 0; s < STEPS; s++) {
		cr_assert(trainer_step(&tc, NULL) == 0 && trainer_step(&td, NULL) == 0);
		cr_assert(tc.last_loss == td.last_loss, "step %d: cpu %.9g device %.9g", s, tc.last_loss, td.last_loss);
		if (s == 2) { /* a checkpoint from the device, resumed into a fresh host model and pushed back */
			cr_assert(trainer_save(&td, dir, NULL) == 0);
			memset(tw.m.params, 0, tw.m.n_params * 4);
			cr_assert(trainer_resume(&td, dir, NULL) == 0);
		}
	}
	cr_assert(tw.calls == STEPS * 2);
	cr_assert_eq(tc.opt.t, td.opt.t);
	cr_assert(memcmp(tc.m.params, tw.m.params, tc.m.n_params * 4) == 0, "weights differ after %d steps", STEPS);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)!system(cmd);
	tw_release(&tw);
	td.dev = NULL;
	trainer_release(&tc);
	trainer_release(&td);
	dc.free(dc.ctx);
	dd.free(dd.ctx);
}

Test(device_hook, lm_run_through_the_hook_equals_the_cpu_run) { run_pair(TRAIN_LM); }
Test(device_hook, rm_run_through_the_hook_equals_the_cpu_run) { run_pair(TRAIN_RM); }
