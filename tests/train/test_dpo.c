/* test_dpo.c - DPO's loss and every parameter's gradient against an independent PyTorch float64
 * computation (tests/train/ref_dpo.py) on a tiny GQA model, policy and reference with different
 * weights, rows with response-only targets and a rating margin: relative error 1e-5. And the
 * invariant with policy = reference: every delta is exactly 0, the loss log 2. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../train/ckpt.h"
#include "../../train/dpo.h"
#include "../../train/model.h"
#include "../../train/rng.h"
#include "../../train/safetensors.h"

#define PY "/usr/bin/python3"
enum { B = 4, T = 10, P = B / 2 };
static const double BETA = 0.7;

static model_config cfg(void)
{
	model_config c = { .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .hidden_dim = 40,
	                   .vocab_size = 47, .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f };
	return c;
}

typedef struct pb { int32_t in[B * T], tg[B * T], pos[B * T], seg[B * T], last[B]; float margin[P]; } pb;

/* each pair: a shared prompt, then two different responses (targets on them only) */
static void make_pairs(pb *x, int V)
{
	train_rng r;
	rng_seed(&r, 11);
	for (int k = 0; k < P; k++) {
		int plen = 3 + k;
		int32_t prompt[T];
		for (int t = 0; t < plen; t++)
			prompt[t] = (int32_t)(rng_u64(&r) % (uint64_t)V);
		for (int s = 0; s < 2; s++) {
			int row = 2 * k + s, len = T + 1 - s;  /* the rejected row is one token shorter */
			int32_t seq[T + 1];
			for (int t = 0; t < len; t++)
				seq[t] = t < plen ? prompt[t] : (int32_t)(rng_u64(&r) % (uint64_t)V);
			for (int t = 0; t < T; t++) {
				int i = row * T + t;
				x->in[i] = t < len ? seq[t] : 0;
				x->tg[i] = t + 1 < len && t + 1 >= plen ? seq[t + 1] : -1;
				x->pos[i] = t;
				x->seg[i] = 0;
			}
			x->last[row] = len - 2;
		}
	}
	x->margin[0] = 0.5f;
	x->margin[1] = 0.0f;
}

static void add_ints(st_writer *w, const char *name, const int32_t *v, int n, float *store)
{
	for (int i = 0; i < n; i++)
		store[i] = (float)v[i];
	uint64_t shape[1] = { (uint64_t)n };
	cr_assert(st_writer_add(w, name, store, 1, shape, NULL) == 0);
}

static double rel_err(const float *a, const float *ref, size_t n)
{
	double md = 0, mr = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - ref[i]);
		md = d > md ? d : md;
		mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
	}
	return mr > 0 ? md / mr : md;
}

static char dir[64];
static void mk(void)
{
	snprintf(dir, sizeof dir, "/tmp/spindle-dpo-XXXXXX");
	cr_assert(mkdtemp(dir));
}
static void rm(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)!system(cmd);
}

/* policy forward + DPO loss + weighted backward, as dpo.c's trainer hook does it (accum 1) */
static double dpo_step(model *pol, model *ref, const pb *x, double *lp)
{
	model_batch b = { B, T, x->in, x->tg, x->pos, x->seg, x->last };
	double rl[B], pc[P], pr[P], rc[P], rr[P], gc[P], gr[P];
	model_forward(ref, &b, NULL, NULL);
	dpo_row_logps(ref, &b, rl);
	model_zero_grad(pol);
	model_forward(pol, &b, NULL, NULL);
	dpo_row_logps(pol, &b, lp);
	for (int k = 0; k < P; k++) {
		pc[k] = lp[2 * k], pr[k] = lp[2 * k + 1], rc[k] = rl[2 * k], rr[k] = rl[2 * k + 1];
	}
	double loss = dpo_loss(pc, pr, rc, rr, x->margin, BETA, P, gc, gr);
	float dtok[B * T];
	for (int k = 0; k < P; k++)
		for (int t = 0; t < T; t++) {
			dtok[(2 * k) * T + t] = (float)-gc[k];
			dtok[(2 * k + 1) * T + t] = (float)-gr[k];
		}
	model_backward_tokens(pol, &b, dtok);
	return loss;
}

Test(dpo, loss_and_every_gradient_match_pytorch, .init = mk, .fini = rm, .timeout = 120)
{
	if (access(PY, X_OK) != 0 || system(PY " -c 'import torch' 2>/dev/null") != 0)
		cr_skip_test("no /usr/bin/python3 with torch");
	model_config c = cfg();
	model pol, ref;
	cr_assert(model_init(&pol, &c, B, T, NULL) == 0);
	cr_assert(model_init(&ref, &c, B, T, NULL) == 0);
	model_init_weights(&pol, 7);
	model_init_weights(&ref, 8);
	for (size_t i = 0; i < pol.ti[P_FFN_NORM].size; i++)
		pol.p[P_FFN_NORM][i] = 1.0f + 0.1f * sinf((float)i);
	for (size_t i = 0; i < pol.n_params; i++)  /* the reference: a nearby model, as after some steps */
		ref.params[i] = pol.params[i] + 0.3f * ref.params[i];
	pb x;
	make_pairs(&x, c.vocab_size);
	double lp[B];
	double loss = dpo_step(&pol, &ref, &x, lp);

	st_writer w = ST_WRITER_INIT;
	cr_assert(model_add_tensors(&w, &pol, pol.params, "", NULL) == 0);
	cr_assert(model_add_tensors(&w, &ref, ref.params, "ref.", NULL) == 0);
	float cv[11] = { c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.vocab_size, c.norm_eps, c.rope_theta, B, T, (float)BETA };
	uint64_t s11[1] = { 11 }, sp[1] = { P };
	static float st[3][B * T];
	cr_assert(st_writer_add(&w, "config", cv, 1, s11, NULL) == 0);
	add_ints(&w, "batch.inputs", x.in, B * T, st[0]);
	add_ints(&w, "batch.targets", x.tg, B * T, st[1]);
	add_ints(&w, "batch.pos", x.pos, B * T, st[2]);
	cr_assert(st_writer_add(&w, "batch.margin", x.margin, 1, sp, NULL) == 0);
	char in[128], out[128], cmd[512];
	snprintf(in, sizeof in, "%s/in.safetensors", dir);
	snprintf(out, sizeof out, "%s/out.safetensors", dir);
	cr_assert(st_write(&w, in, NULL) == 0);
	st_writer_release(&w);
	snprintf(cmd, sizeof cmd, PY " tests/train/ref_dpo.py %s %s", in, out);
	cr_assert(system(cmd) == 0, "reference failed: %s", cmd);
	st_file f = ST_FILE_INIT;
	sp_err err = SP_ERR_INIT;
	cr_assert(st_open(&f, out, &err) == 0, "%s", err.msg);
	float rl, rlp[B];
	cr_assert(st_read_f32(&f, "loss", &rl, 1, "ref", NULL) == 0);
	cr_assert(st_read_f32(&f, "logps", rlp, B, "ref", NULL) == 0);
	cr_expect(fabs(loss - rl) / fabs(rl) < 1e-5, "loss %.9g vs PyTorch %.9g", loss, rl);
	cr_expect(fabs(loss - log(2.0)) > 1e-3, "the test must not sit at delta = 0 (loss %g)", loss);
	for (int i = 0; i < B; i++)
		cr_expect(fabs(lp[i] - rlp[i]) / fabs(rlp[i]) < 1e-5, "row %d log-prob %.9g vs %.9g", i, lp[i], rlp[i]);
	char name[160], full[200];
	const float *g = pol.grads;
	int checked = 0;
	for (int i = 0; i < P_COUNT; i++) {
		int layers = pol.ti[i].per_layer ? c.n_layers : 1;
		for (int l = 0; l < layers && pol.ti[i].layer_size; l++) {
			size_t n = pol.ti[i].layer_size;
			model_tensor_name(&pol, i, l, name, sizeof name);
			snprintf(full, sizeof full, "grad.%s", name);
			float *r = malloc(n * sizeof *r);
			cr_assert(st_read_f32(&f, full, r, n, "ref", NULL) == 0, "reference lacks %s", full);
			double e = rel_err(g + (size_t)l * n, r, n);
			cr_expect(e < 1e-5, "gradient of %s: relative error %g", name, e);
			free(r);
			checked++;
		}
		g += pol.ti[i].size;
	}
	cr_assert(checked > 10);
	st_release(&f);
	model_release(&pol);
	model_release(&ref);
}

Test(dpo, policy_equal_to_reference_gives_zero_delta_and_log2)
{
	model_config c = cfg();
	model pol, ref;
	cr_assert(model_init(&pol, &c, B, T, NULL) == 0);
	cr_assert(model_init(&ref, &c, B, T, NULL) == 0);
	model_init_weights(&pol, 3);
	model_init_weights(&ref, 3);
	pb x;
	make_pairs(&x, c.vocab_size);
	x.margin[0] = x.margin[1] = 0;
	double lp[B];
	double loss = dpo_step(&pol, &ref, &x, lp);
	cr_expect(loss == log(2.0), "loss %.17g, log 2 = %.17g", loss, log(2.0));
	/* the gradient is beta/2 * (grad log pi(y_l) - grad log pi(y_w)) per pair: not zero */
	double norm = 0;
	for (size_t i = 0; i < pol.n_params; i++)
		norm += (double)pol.grads[i] * pol.grads[i];
	cr_expect(norm > 0);
	model_release(&pol);
	model_release(&ref);
}

Test(dpo, loss_formula_and_margin)
{
	double pc[2] = { -3, -5 }, pr[2] = { -4, -2 }, rc[2] = { -3.5, -5 }, rr[2] = { -3.5, -2 }, gc[2], gr[2];
	float m[2] = { 0.25f, 0 };
	double l = dpo_loss(pc, pr, rc, rr, m, 0.5, 2, gc, gr);
	/* pair 0: delta = 0.5 - (-0.5) = 1, x = 0.5 - 0.25; pair 1: delta 0, x 0 */
	double want = (log1p(exp(-0.25)) + log(2.0)) / 2;
	cr_expect(fabs(l - want) < 1e-15, "%.17g vs %.17g", l, want);
	cr_expect(fabs(gc[0] - (-0.5 / (1 + exp(0.25)) / 2)) < 1e-15);
	cr_expect(gr[0] == -gc[0] && gr[1] == -gc[1]);
}
