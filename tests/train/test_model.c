/* test_model.c - the CPU trainer's model against an independent PyTorch implementation
 * (tests/train/ref_llama.py, float64) on a tiny GQA config: logits, loss and every parameter's
 * gradient within 1e-4 relative error (max |c - ref| / max |ref| per tensor), for the LM loss with
 * ignored targets (the SFT mask) and document masking, and for the reward model's margin loss.
 * Also a finite-difference check and overfitting one batch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../train/ckpt.h"
#include "../../train/model.h"
#include "../../train/safetensors.h"
#include "../../train/rng.h"
#include "../../train/adamw.h"

#define PY "/usr/bin/python3"
enum { B = 4, T = 9 };

static model_config tiny_cfg(int reward)
{
	model_config c = { .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .hidden_dim = 40,
	                   .vocab_size = 53, .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
	                   .reward_head = reward };
	return c;
}

typedef struct tbatch { int32_t in[B * T], tg[B * T], pos[B * T], seg[B * T], last[B]; float margin[B / 2]; } tbatch;

/* Random tokens; row 1 holds two documents (positions restart), a few targets are ignored. */
static void make_batch(tbatch *tb, int V, uint64_t seed)
{
	train_rng r;
	rng_seed(&r, seed);
	for (int b = 0; b < B; b++) {
		for (int t = 0; t < T; t++) {
			int i = b * T + t;
			tb->in[i] = (int32_t)(rng_u64(&r) % (uint64_t)V);
			tb->tg[i] = (int32_t)(rng_u64(&r) % (uint64_t)V);
			int split = b == 1 && t >= 4;
			tb->seg[i] = split;
			tb->pos[i] = split ? t - 4 : t;
		}
		tb->last[b] = T - 1 - b;
	}
	tb->tg[2] = tb->tg[3] = tb->tg[T + 5] = -1;  /* prompt tokens / padding */
	tb->margin[0] = 1.0f;
	tb->margin[1] = 1.0f / 3;
}

static model_batch as_batch(const tbatch *tb)
{
	model_batch b = { B, T, tb->in, tb->tg, tb->pos, tb->seg, tb->last };
	return b;
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

/* Runs the reference on m's parameters and the batch; returns its output file opened in out. */
static int run_reference(const model *m, const tbatch *tb, const char *dir, st_file *out)
{
	if (access(PY, X_OK) != 0 || system(PY " -c 'import torch' 2>/dev/null") != 0)
		return -1;
	st_writer w = ST_WRITER_INIT;
	cr_assert(model_add_tensors(&w, m, m->params, "", NULL) == 0);
	const model_config *c = &m->cfg;
	float cfgv[11] = { c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->hidden_dim, c->vocab_size,
	                   c->norm_eps, c->rope_theta, c->reward_head, B, T };
	uint64_t s11[1] = { 11 }, s2[1] = { B / 2 };
	static float st[5][B * T];
	cr_assert(st_writer_add(&w, "config", cfgv, 1, s11, NULL) == 0);
	add_ints(&w, "batch.inputs", tb->in, B * T, st[0]);
	add_ints(&w, "batch.targets", tb->tg, B * T, st[1]);
	add_ints(&w, "batch.pos", tb->pos, B * T, st[2]);
	add_ints(&w, "batch.seg", tb->seg, B * T, st[3]);
	add_ints(&w, "batch.last", tb->last, B, st[4]);
	cr_assert(st_writer_add(&w, "batch.margin", tb->margin, 1, s2, NULL) == 0);
	char in[512], outp[512], cmd[2048];
	snprintf(in, sizeof in, "%s/ref_in.safetensors", dir);
	snprintf(outp, sizeof outp, "%s/ref_out.safetensors", dir);
	cr_assert(st_write(&w, in, NULL) == 0);
	st_writer_release(&w);
	snprintf(cmd, sizeof cmd, PY " tests/train/ref_llama.py %s %s", in, outp);
	cr_assert(system(cmd) == 0, "reference failed: %s", cmd);
	sp_err err = SP_ERR_INIT;
	cr_assert(st_open(out, outp, &err) == 0, "%s", err.msg);
	return 0;
}

static void check_grads(const model *m, const st_file *ref, double tol)
{
	char name[160], full[200];
	const float *g = m->grads;
	size_t checked = 0;
	for (int i = 0; i < P_COUNT; i++) {
		int layers = m->ti[i].per_layer ? m->cfg.n_layers : 1;
		for (int l = 0; l < layers && m->ti[i].layer_size; l++) {
			size_t n = m->ti[i].layer_size;
			model_tensor_name(m, i, l, name, sizeof name);
			snprintf(full, sizeof full, "grad.%s", name);
			float *r = malloc(n * sizeof(float));
			cr_assert(st_read_f32(ref, full, r, n, "ref", NULL) == 0, "reference lacks %s", full);
			double e = rel_err(g + (size_t)l * n, r, n);
			cr_expect(e < tol, "gradient of %s: relative error %g", name, e);
			free(r);
			checked++;
		}
		g += m->ti[i].size;
	}
	cr_assert(checked > 10);
}

static char tmpdir[64];
static void mk_tmp(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/spindle-train-XXXXXX");
	cr_assert(mkdtemp(tmpdir));
}
static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	(void)!system(cmd);
}

Test(model, lm_logits_loss_and_every_gradient_match_pytorch, .init = mk_tmp, .fini = rm_tmp, .timeout = 120)
{
	model m;
	model_config c = tiny_cfg(0);
	cr_assert(model_init(&m, &c, B, T, NULL) == 0);
	model_init_weights(&m, 7);
	for (size_t i = 0; i < m.ti[P_ATTN_NORM].size; i++)  /* non-trivial norm weights */
		m.p[P_ATTN_NORM][i] = 1.0f + 0.1f * sinf((float)i);
	tbatch tb;
	make_batch(&tb, c.vocab_size, 1);
	model_batch b = as_batch(&tb);
	st_file ref = ST_FILE_INIT;
	if (run_reference(&m, &tb, tmpdir, &ref) < 0) {
		model_release(&m);
		cr_skip_test("no /usr/bin/python3 with torch");
	}
	float loss;
	size_t n;
	model_zero_grad(&m);
	model_forward(&m, &b, &loss, &n);
	cr_assert_eq(n, (size_t)(B * T - 3));
	size_t nl = (size_t)B * T * c.vocab_size;
	float *r = malloc(nl * sizeof(float)), rl;
	cr_assert(st_read_f32(&ref, "logits", r, nl, "ref", NULL) == 0);
	cr_expect(rel_err(m.logits, r, nl) < 1e-4, "logits: relative error %g", rel_err(m.logits, r, nl));
	cr_assert(st_read_f32(&ref, "loss", &rl, 1, "ref", NULL) == 0);
	cr_expect(fabs(loss - rl) / fabs(rl) < 1e-4, "loss %g vs %g", loss, rl);
	model_backward(&m, &b, 1.0f / (float)n, NULL);
	check_grads(&m, &ref, 1e-4);
	free(r);
	st_release(&ref);
	model_release(&m);
}

Test(model, reward_margin_loss_and_every_gradient_match_pytorch, .init = mk_tmp, .fini = rm_tmp, .timeout = 120)
{
	model m;
	model_config c = tiny_cfg(1);
	cr_assert(model_init(&m, &c, B, T, NULL) == 0);
	model_init_weights(&m, 9);
	for (int j = 0; j < c.dim; j++)
		m.p[P_SCORE][j] = 0.3f * cosf((float)j);
	tbatch tb;
	make_batch(&tb, c.vocab_size, 2);
	model_batch b = as_batch(&tb);
	st_file ref = ST_FILE_INIT;
	if (run_reference(&m, &tb, tmpdir, &ref) < 0) {
		model_release(&m);
		cr_skip_test("no /usr/bin/python3 with torch");
	}
	model_zero_grad(&m);
	model_forward(&m, &b, NULL, NULL);
	float rc[B / 2], rr[B / 2], dc[B / 2], dr[B / 2], dre[B], rref[B], lref;
	for (int i = 0; i < B / 2; i++) {
		rc[i] = m.rewards[2 * i];
		rr[i] = m.rewards[2 * i + 1];
	}
	float loss = rm_loss(rc, rr, tb.margin, B / 2, dc, dr);
	for (int i = 0; i < B / 2; i++) {
		dre[2 * i] = dc[i];
		dre[2 * i + 1] = dr[i];
	}
	cr_assert(st_read_f32(&ref, "rewards", rref, B, "ref", NULL) == 0);
	cr_expect(rel_err(m.rewards, rref, B) < 1e-4, "rewards: relative error %g", rel_err(m.rewards, rref, B));
	cr_assert(st_read_f32(&ref, "loss", &lref, 1, "ref", NULL) == 0);
	cr_expect(fabs(loss - lref) / fabs(lref) < 1e-4, "rm loss %g vs %g", loss, lref);
	model_backward(&m, &b, 0, dre);
	check_grads(&m, &ref, 1e-4);
	st_release(&ref);
	model_release(&m);
}

/* Central differences in double-checked float: perturb a few entries of one small tensor (a layer's
 * k_proj) and compare the loss change with the analytic gradient. */
Test(model, gradient_matches_finite_differences)
{
	model m;
	model_config c = tiny_cfg(0);
	cr_assert(model_init(&m, &c, B, T, NULL) == 0);
	model_init_weights(&m, 3);
	tbatch tb;
	make_batch(&tb, c.vocab_size, 5);
	model_batch b = as_batch(&tb);
	float loss;
	size_t n;
	model_zero_grad(&m);
	model_forward(&m, &b, &loss, &n);
	model_backward(&m, &b, 1.0f / (float)n, NULL);
	float *w = m.p[P_WK] + m.ti[P_WK].layer_size, *g = m.g[P_WK] + m.ti[P_WK].layer_size;
	for (int k = 0; k < 12; k++) {
		size_t j = (size_t)k * 37 % m.ti[P_WK].layer_size;
		float orig = w[j], h = 1e-2f, lp, lm;
		w[j] = orig + h;
		model_forward(&m, &b, &lp, NULL);
		w[j] = orig - h;
		model_forward(&m, &b, &lm, NULL);
		w[j] = orig;
		double fd = ((double)lp - lm) / (2 * h);
		cr_expect(fabs(fd - g[j]) < 2e-3 * fmax(1e-2, fabs(g[j])) + 2e-5, "entry %zu: fd %g analytic %g", j, fd, g[j]);
	}
	model_release(&m);
}

Test(model, overfits_one_batch)
{
	model m;
	model_config c = tiny_cfg(0);
	cr_assert(model_init(&m, &c, B, T, NULL) == 0);
	model_init_weights(&m, 11);
	adamw_state opt;
	cr_assert(adamw_init(&opt, m.n_params, NULL) == 0);
	adamw_hparams hp = ADAMW_LLAMA2;
	hp.weight_decay = 0;
	tbatch tb;
	make_batch(&tb, c.vocab_size, 8);
	model_batch b = as_batch(&tb);
	float first = 0, loss = 0;
	size_t n;
	for (int step = 0; step < 150; step++) {
		model_zero_grad(&m);
		model_forward(&m, &b, &loss, &n);
		if (step == 0)
			first = loss;
		model_backward(&m, &b, 1.0f / (float)n, NULL);
		adamw_clip(m.grads, m.n_params, 1.0f);
		adamw_update(&opt, &m, 3e-3f, &hp);
	}
	cr_expect(first > 3.5f, "initial loss %g should be near ln(53)", first);
	cr_expect(loss < 0.05f, "loss after 150 steps on one batch: %g", loss);
	adamw_release(&opt);
	model_release(&m);
}

#include "../../train/sample.h"

/* The KV-cache decoder must give the same next-token logits as the batch forward pass. */
Test(sample, kv_cache_decoding_matches_the_full_forward_pass)
{
	model m;
	model_config c = tiny_cfg(0);
	cr_assert(model_init(&m, &c, 1, T, NULL) == 0);
	model_init_weights(&m, 21);
	tbatch tb;
	make_batch(&tb, c.vocab_size, 4);
	int32_t pos[T];
	for (int t = 0; t < T; t++)
		pos[t] = t;
	model_batch b = { 1, T, tb.in, tb.tg, pos, NULL, tb.last };
	model_forward(&m, &b, NULL, NULL);
	decode_state d;
	cr_assert(decode_init(&d, &m, T, NULL) == 0);
	for (int t = 0; t < T; t++) {
		const float *lg = decode_step(&d, &m, tb.in[t]);
		double e = rel_err(lg, m.logits + (size_t)t * c.vocab_size, (size_t)c.vocab_size);
		cr_expect(e < 1e-5, "position %d: relative error %g", t, e);
	}
	decode_release(&d);
	model_release(&m);
}

Test(sample, temperature_zero_is_argmax_and_top_p_keeps_the_nucleus)
{
	float lg[5] = { 0.1f, 3.0f, 2.9f, -1.0f, 0.0f };
	train_rng r;
	rng_seed(&r, 1);
	cr_expect_eq(sample_token(lg, 5, 0, 0, 1, &r), 1);
	int seen[5] = { 0 };
	for (int i = 0; i < 2000; i++)
		seen[sample_token(lg, 5, 1.0f, 0, 0.9f, &r)]++;
	cr_expect(seen[1] > 0 && seen[2] > 0, "the two likely tokens are drawn");
	cr_expect(seen[0] == 0 && seen[3] == 0 && seen[4] == 0, "tokens outside the 0.9 nucleus are never drawn");
	for (int i = 0; i < 2000; i++)
		seen[sample_token(lg, 5, 1.0f, 0, 1.0f, &r)]++;
	cr_expect(seen[0] > 0 && seen[4] > 0, "top_p 1 samples the whole vocabulary");
}

Test(sample, top_k_keeps_the_k_most_likely_tokens)
{
	float lg[5] = { 0.1f, 3.0f, 2.9f, -1.0f, 2.0f };
	train_rng r;
	rng_seed(&r, 2);
	int seen[5] = { 0 };
	for (int i = 0; i < 3000; i++)
		cr_assert_eq(sample_token(lg, 5, 1.0f, 1, 1.0f, &r), 1, "top_k 1 is the argmax at any temperature");
	for (int i = 0; i < 3000; i++)
		seen[sample_token(lg, 5, 5.0f, 3, 1.0f, &r)]++;
	cr_expect(seen[1] > 0 && seen[2] > 0 && seen[4] > 0, "the three most likely tokens are drawn");
	cr_expect(seen[0] == 0 && seen[3] == 0, "the others never are, even at a high temperature");
	/* top_k and top_p together: the nucleus is taken inside the k tokens */
	int seen2[5] = { 0 };
	for (int i = 0; i < 3000; i++)
		seen2[sample_token(lg, 5, 1.0f, 3, 0.5f, &r)]++;
	cr_expect(seen2[1] > 0 && seen2[4] == 0 && seen2[0] == 0 && seen2[3] == 0, "top_p 0.5 inside top_k 3");
}
