/* test_ppo.c - PPO's maths (train/ppo.c) against an independent PyTorch float64 implementation
 * (tests/train/ref_ppo.py) on a tiny GQA policy and critic: log-probs of the sampled tokens at a
 * temperature, entropy, k1 KL rewards, GAE, whitening, the clipped policy and value losses and every
 * parameter's gradient after one mini-batch (in micro-batches); and the invariants: on the first
 * mini-batch ratio = 1, approx KL = 0 and clip fraction = 0; KL = 0 when policy = reference; with
 * gamma = lambda = 1 and zero values the advantages are the rewards-to-go; batched KV-cache decoding
 * (the rollouts) equals one-sequence decoding; data-parallel PPO's pieces add up to the whole. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../train/ckpt.h"
#include "../../train/decode_batch.h"
#include "../../train/model.h"
#include "../../train/ppo.h"
#include "../../train/ppo_dist.h"
#include "../../train/rng.h"
#include "../../train/safetensors.h"
#include "../../train/sample.h"

#define PY "/usr/bin/python3"
enum { NR = 5, TM = 14, MICRO = 2 };
static const int Ps[NR] = { 3, 5, 2, 6, 4 }, Ls[NR] = { 6, 3, 9, 8, 1 };

static model_config cfg(int reward)
{
	model_config c = { .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .hidden_dim = 40,
	                   .vocab_size = 53, .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
	                   .reward_head = reward };
	return c;
}

static void perturb(model *m, uint64_t seed, float scale)
{
	train_rng r;
	rng_seed(&r, seed);
	for (size_t i = 0; i < m->n_params; i++)
		m->params[i] += scale * rng_normal(&r);
}

static void mk(model *m, int reward, uint64_t seed)
{
	model_config c = cfg(reward);
	cr_assert(model_init(m, &c, MICRO, TM, NULL) == 0);
	model_init_weights(m, seed);
	perturb(m, seed + 100, 0.02f); /* non-trivial norms and score head */
}

static void rollouts(ppo_rollout *rs, ppo_rollout **rp, uint64_t seed)
{
	train_rng r;
	rng_seed(&r, seed);
	int32_t tok[TM];
	for (int i = 0; i < NR; i++) {
		for (int t = 0; t < TM; t++)
			tok[t] = (int32_t)(rng_u64(&r) % 53);
		cr_assert(ppo_rollout_init(&rs[i], tok, Ps[i], Ls[i], NULL) == 0);
		rs[i].score = 2.0f * rng_uniform(&r) - 1.0f;
		rp[i] = &rs[i];
	}
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
static void mk_tmp(void) { snprintf(dir, sizeof dir, "/tmp/spindle-ppo-XXXXXX"); cr_assert(mkdtemp(dir)); }
static void rm_tmp(void) { char c[128]; snprintf(c, sizeof c, "rm -rf %s", dir); (void)!system(c); }

/* gathers one per-action array of every rollout (rollout-major) */
static void gather(ppo_rollout *rs, size_t off, float *out)
{
	size_t k = 0;
	for (int i = 0; i < NR; i++) {
		const float *a = *(float *const *)((const char *)&rs[i] + off);
		for (int j = 0; j < rs[i].L; j++)
			out[k++] = a[j];
	}
}

static void check_grads(const model *m, const st_file *ref, const char *prefix, double tol)
{
	char name[160], full[200];
	const float *g = m->grads;
	int checked = 0;
	for (int i = 0; i < P_COUNT; i++) {
		int layers = m->ti[i].per_layer ? m->cfg.n_layers : 1;
		for (int l = 0; l < layers && m->ti[i].layer_size; l++) {
			size_t n = m->ti[i].layer_size;
			model_tensor_name(m, i, l, name, sizeof name);
			snprintf(full, sizeof full, "%s%s", prefix, name);
			float *r = malloc(n * sizeof(float));
			cr_assert(st_read_f32(ref, full, r, n, "ref", NULL) == 0, "reference lacks %s", full);
			double e = rel_err(g + (size_t)l * n, r, n);
			cr_expect(e < tol, "%s: relative error %g", full, e);
			free(r);
			checked++;
		}
		g += m->ti[i].size;
	}
	cr_assert(checked > 10);
}

Test(ppo, every_quantity_and_gradient_matches_pytorch, .init = mk_tmp, .fini = rm_tmp, .timeout = 120)
{
	if (access(PY, X_OK) != 0 || system(PY " -c 'import torch' 2>/dev/null") != 0)
		cr_skip_test("no /usr/bin/python3 with torch");
	model old, nw, ref, cold, cnew;
	mk(&old, 0, 7);
	mk(&nw, 0, 7);
	perturb(&nw, 55, 0.03f); /* the policy after some updates: ratios away from 1, some clipped */
	mk(&ref, 0, 8);
	mk(&cold, 1, 9);
	mk(&cnew, 1, 9);
	perturb(&cnew, 56, 0.03f);
	ppo_hparams h;
	ppo_hparams_default(&h);
	h.temperature = 0.7f;
	h.beta = 0.05f;
	h.lambda = 0.9f;
	h.gamma = 0.98f;
	h.clip = 0.1f;
	h.vclip = 0.05f;
	ppo_rollout rs[NR], *rp[NR];
	rollouts(rs, rp, 3);
	ppo_scratch s;
	cr_assert(ppo_scratch_init(&s, MICRO, TM, NULL) == 0);
	ppo_eval_policy(&old, rp, NR, h.temperature, 0, &s);
	ppo_eval_policy(&ref, rp, NR, h.temperature, 1, &s);
	ppo_eval_critic(&cold, rp, NR, &s);
	ppo_prepare(rp, NR, &h);
	ppo_stats st;
	ppo_minibatch(&nw, &cnew, rp, NR, &h, &s, &st);
	cr_expect(st.clip_frac > 0 && st.clip_frac < 1, "the test covers both branches (clip fraction %g)", st.clip_frac);

	/* the reference */
	st_writer w = ST_WRITER_INIT;
	cr_assert(model_add_tensors(&w, &old, old.params, "old.", NULL) == 0);
	cr_assert(model_add_tensors(&w, &nw, nw.params, "new.", NULL) == 0);
	cr_assert(model_add_tensors(&w, &ref, ref.params, "ref.", NULL) == 0);
	cr_assert(model_add_tensors(&w, &cold, cold.params, "cold.", NULL) == 0);
	cr_assert(model_add_tensors(&w, &cnew, cnew.params, "cnew.", NULL) == 0);
	model_config c = cfg(0);
	float cv[17] = { c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.vocab_size, c.norm_eps, c.rope_theta,
	                 NR, TM, h.temperature, h.beta, h.gamma, h.lambda, h.clip, h.vclip, h.whiten_eps };
	static float tokf[NR * TM], pf[NR], lf[NR], sf[NR];
	for (int i = 0; i < NR; i++) {
		for (int t = 0; t < TM; t++)
			tokf[i * TM + t] = t < Ps[i] + Ls[i] ? (float)rs[i].tok[t] : 0;
		pf[i] = (float)Ps[i], lf[i] = (float)Ls[i], sf[i] = rs[i].score;
	}
	uint64_t s17[1] = { 17 }, sn[1] = { NR }, stok[2] = { NR, TM };
	cr_assert(st_writer_add(&w, "config", cv, 1, s17, NULL) == 0);
	cr_assert(st_writer_add(&w, "tok", tokf, 2, stok, NULL) == 0);
	cr_assert(st_writer_add(&w, "P", pf, 1, sn, NULL) == 0);
	cr_assert(st_writer_add(&w, "L", lf, 1, sn, NULL) == 0);
	cr_assert(st_writer_add(&w, "score", sf, 1, sn, NULL) == 0);
	char in[256], out[256], cmd[1024];
	snprintf(in, sizeof in, "%s/in.safetensors", dir);
	snprintf(out, sizeof out, "%s/out.safetensors", dir);
	cr_assert(st_write(&w, in, NULL) == 0);
	st_writer_release(&w);
	snprintf(cmd, sizeof cmd, PY " tests/train/ref_ppo.py %s %s", in, out);
	cr_assert(system(cmd) == 0, "reference failed: %s", cmd);
	st_file f = ST_FILE_INIT;
	cr_assert(st_open(&f, out, NULL) == 0);

	int na = 0;
	for (int i = 0; i < NR; i++)
		na += Ls[i];
	float a[64], r[64];
	static const struct { const char *name; size_t off; double tol; } q[] = {
		{ "logp_old", offsetof(ppo_rollout, logp_old), 1e-5 }, { "logp_ref", offsetof(ppo_rollout, logp_ref), 1e-5 },
		{ "entropy", offsetof(ppo_rollout, entropy), 1e-5 }, { "values", offsetof(ppo_rollout, values), 1e-5 },
		{ "ret", offsetof(ppo_rollout, ret), 1e-5 }, { "adv", offsetof(ppo_rollout, adv), 1e-5 },
	};
	for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
		gather(rs, q[k].off, a);
		cr_assert(st_read_f32(&f, q[k].name, r, (size_t)na, "ref", NULL) == 0);
		cr_expect(rel_err(a, r, (size_t)na) < q[k].tol, "%s: relative error %g", q[k].name, rel_err(a, r, (size_t)na));
	}
	float pg, vl;
	cr_assert(st_read_f32(&f, "pg_loss", &pg, 1, "ref", NULL) == 0);
	cr_assert(st_read_f32(&f, "v_loss", &vl, 1, "ref", NULL) == 0);
	cr_expect(fabs(st.pg_loss - pg) <= 1e-5 * fabs(pg), "policy loss %g vs %g", st.pg_loss, pg);
	cr_expect(fabs(st.v_loss - vl) <= 1e-5 * fabs(vl), "value loss %g vs %g", st.v_loss, vl);
	check_grads(&nw, &f, "grad.", 1e-5);
	check_grads(&cnew, &f, "cgrad.", 1e-5);
	st_release(&f);
	for (int i = 0; i < NR; i++)
		ppo_rollout_release(&rs[i]);
	ppo_scratch_release(&s);
	model_release(&old), model_release(&nw), model_release(&ref), model_release(&cold), model_release(&cnew);
}

Test(ppo, first_minibatch_has_ratio_one_and_policy_equal_reference_has_zero_kl)
{
	model pol, cr;
	mk(&pol, 0, 7);
	mk(&cr, 1, 9);
	ppo_hparams h;
	ppo_hparams_default(&h);
	ppo_rollout rs[NR], *rp[NR];
	rollouts(rs, rp, 4);
	ppo_scratch s;
	cr_assert(ppo_scratch_init(&s, MICRO, TM, NULL) == 0);
	ppo_eval_policy(&pol, rp, NR, h.temperature, 0, &s);
	ppo_eval_policy(&pol, rp, NR, h.temperature, 1, &s);
	ppo_eval_critic(&cr, rp, NR, &s);
	for (int i = 0; i < NR; i++)
		for (int j = 0; j < rs[i].L; j++)
			cr_expect_eq(rs[i].logp_old[j], rs[i].logp_ref[j], "k1 KL = 0 when the policy is the reference");
	ppo_prepare(rp, NR, &h);
	for (int i = 0; i < NR; i++)
		for (int j = 0; j < rs[i].L - 1; j++)
			cr_expect_eq(rs[i].rewards[j], 0.0f, "no KL penalty");
	ppo_stats st;
	ppo_minibatch(&pol, &cr, rp, NR, &h, &s, &st);
	cr_expect_eq(st.ratio_mean, 1.0, "ratio %.17g", st.ratio_mean);
	cr_expect_eq(st.approx_kl, 0.0);
	cr_expect_eq(st.clip_frac, 0.0);
	/* a different grouping into micro-batches (other padding): equal to float rounding */
	ppo_rollout *rev[NR];
	for (int i = 0; i < NR; i++)
		rev[i] = rp[NR - 1 - i];
	ppo_minibatch(&pol, &cr, rev, NR, &h, &s, &st);
	cr_expect(fabs(st.ratio_mean - 1) < 1e-6 && st.approx_kl < 1e-10 && st.clip_frac == 0, "ratio %g", st.ratio_mean);
	for (int i = 0; i < NR; i++)
		ppo_rollout_release(&rs[i]);
	ppo_scratch_release(&s);
	model_release(&pol), model_release(&cr);
}

Test(ppo, gae_with_gamma_lambda_one_and_zero_values_is_reward_to_go)
{
	float r[6] = { 0.5f, -1, 0.25f, 0, 2, -0.75f }, v[6] = { 0 }, adv[6], ret[6];
	ppo_gae(r, v, 6, 1, 1, adv, ret);
	for (int t = 0; t < 6; t++) {
		double togo = 0;
		for (int k = t; k < 6; k++)
			togo += r[k];
		cr_expect(fabs(adv[t] - togo) < 1e-6 && adv[t] == ret[t], "t=%d: %g vs %g", t, adv[t], togo);
	}
	/* gamma = 1, lambda = 0: one-step TD errors */
	float v2[6] = { 1, 2, 3, 4, 5, 6 };
	ppo_gae(r, v2, 6, 1, 0, adv, ret);
	for (int t = 0; t < 6; t++)
		cr_expect(fabs(adv[t] - (r[t] + (t < 5 ? v2[t + 1] : 0) - v2[t])) < 1e-6);
}

Test(ppo, logprob_at_temperature_and_entropy)
{
	float z[4] = { 1, 2, 0.5f, -1 };
	float H, lp = ppo_token_logprob(z, 4, 0.5f, 1, &H);
	double s = 0, e = 0;
	for (int k = 0; k < 4; k++)
		s += exp(z[k] / 0.5);
	for (int k = 0; k < 4; k++) {
		double p = exp(z[k] / 0.5) / s;
		e -= p * log(p);
	}
	cr_expect(fabs(lp - (z[1] / 0.5 - log(s))) < 1e-6 && fabs(H - e) < 1e-6, "%g %g", lp, H);
}

/* Batched KV-cache decoding (the PPO rollouts) gives decode_step's logits for every sequence, each at
 * its own position, whatever the other rows do. */
Test(ppo, batched_decoding_matches_one_sequence_decoding)
{
	model m;
	mk(&m, 0, 21);
	decode_state ds;
	decode_batch db;
	cr_assert(decode_init(&ds, &m, 16, NULL) == 0);
	cr_assert(decode_batch_init(&db, &m, 3, 16, NULL) == 0);
	const int len[3] = { 7, 3, 11 };
	int32_t tok[3][16];
	train_rng r;
	rng_seed(&r, 5);
	for (int b = 0; b < 3; b++)
		for (int t = 0; t < 16; t++)
			tok[b][t] = (int32_t)(rng_u64(&r) % 53);
	static float ref[3][16][53];
	for (int b = 0; b < 3; b++) {
		decode_reset(&ds);
		for (int t = 0; t < len[b]; t++)
			memcpy(ref[b][t], decode_step(&ds, &m, tok[b][t]), sizeof ref[b][t]);
	}
	int fed[3] = { 0 }, rows[3];
	int32_t in[3];
	double worst = 0;
	for (int step = 0;; step++) {
		int n = 0;
		for (int b = 0; b < 3; b++)
			if (fed[b] < len[b] && !(b == 1 && step % 2)) /* row 1 skips every other step */
				rows[n] = b, in[n++] = tok[b][fed[b]];
		if (!n)
			break;
		const float *lg = decode_batch_step(&db, &m, rows, in, n);
		for (int k = 0; k < n; k++) {
			int b = rows[k];
			for (int v = 0; v < 53; v++) {
				double d = fabs(lg[k * 53 + v] - ref[b][fed[b]][v]) / (1 + fabs(ref[b][fed[b]][v]));
				worst = d > worst ? d : worst;
			}
			fed[b]++;
		}
	}
	cr_expect(worst < 1e-5, "worst relative difference %g", worst);
	decode_release(&ds);
	decode_batch_release(&db);
	model_release(&m);
}

/* Data-parallel PPO's pieces (ppo_run.c across ranks): ppo_prepare equals rewards + GAE, the
 * whitening moments of the advantages laid end to end, and their application, bit for bit; a
 * mini-batch cut in two parts, each scaled by the whole's token count, adds up to the whole's
 * gradients and statistics (to float rounding); the ranks' blocks of whole chunks tile the rollouts. */
Test(ppo, prepare_in_pieces_and_a_minibatch_in_parts_add_up)
{
	model pol, ref, cr;
	mk(&pol, 0, 7), mk(&ref, 0, 8), mk(&cr, 1, 9);
	ppo_hparams h;
	ppo_hparams_default(&h);
	ppo_rollout rs[NR], ra[NR], *rp[NR], *rq[NR];
	rollouts(rs, rp, 4);
	rollouts(ra, rq, 4);
	ppo_scratch s;
	cr_assert(ppo_scratch_init(&s, MICRO, TM, NULL) == 0);
	for (int k = 0; k < 2; k++) {
		ppo_rollout **x = k ? rq : rp;
		ppo_eval_policy(&pol, x, NR, h.temperature, 0, &s);
		ppo_eval_policy(&ref, x, NR, h.temperature, 1, &s);
		ppo_eval_critic(&cr, x, NR, &s);
		for (int i = 0; i < NR; i++)
			x[i]->score = 0.5f * (float)i - 1;
	}
	ppo_prepare(rp, NR, &h);
	ppo_rewards_gae(rq, NR, &h);
	float adv[64];
	size_t n = 0;
	for (int i = 0; i < NR; i++)
		for (int j = 0; j < ra[i].L; j++)
			adv[n++] = ra[i].adv[j];
	double mean = 0, inv = 0;
	cr_assert(ppo_whiten_moments(adv, n, h.whiten_eps, &mean, &inv) == 1);
	cr_expect(ppo_whiten_moments(adv, 0, h.whiten_eps, &mean, &inv) == 0, "nothing to whiten");
	ppo_whiten_apply(rq, NR, mean, inv);
	for (int i = 0; i < NR; i++)
		cr_expect(memcmp(rs[i].adv, ra[i].adv, (size_t)rs[i].L * sizeof(float)) == 0, "rollout %d: the pieces' advantages differ", i);

	ppo_stats whole, a, b;
	long ntok = 0;
	for (int i = 0; i < NR; i++)
		ntok += rs[i].L;
	ppo_minibatch(&pol, &cr, rp, NR, &h, &s, &whole);
	float *gp = malloc(pol.n_params * sizeof *gp), *gc = malloc(cr.n_params * sizeof *gc);
	cr_assert(gp && gc);
	ppo_rollout *p1[] = { rp[0], rp[3] }, *p2[] = { rp[1], rp[2], rp[4] };
	ppo_minibatch_part(&pol, &cr, p1, 2, ntok, &h, &s, &a);
	memcpy(gp, pol.grads, pol.n_params * sizeof *gp), memcpy(gc, cr.grads, cr.n_params * sizeof *gc);
	ppo_minibatch_part(&pol, &cr, p2, 3, ntok, &h, &s, &b);
	for (size_t k = 0; k < pol.n_params; k++)
		gp[k] += pol.grads[k];
	for (size_t k = 0; k < cr.n_params; k++)
		gc[k] += cr.grads[k];
	ppo_minibatch(&pol, &cr, rp, NR, &h, &s, &whole);
	cr_expect(rel_err(gp, pol.grads, pol.n_params) < 1e-5, "policy gradient: relative error %g", rel_err(gp, pol.grads, pol.n_params));
	cr_expect(rel_err(gc, cr.grads, cr.n_params) < 1e-5, "critic gradient: relative error %g", rel_err(gc, cr.grads, cr.n_params));
	cr_expect(fabs(a.pg_loss + b.pg_loss - whole.pg_loss) <= 1e-6 * fabs(whole.pg_loss) + 1e-6, "pg %g + %g vs %g", a.pg_loss, b.pg_loss, whole.pg_loss);
	cr_expect(fabs(a.v_loss + b.v_loss - whole.v_loss) <= 1e-6 * fabs(whole.v_loss), "v %g + %g vs %g", a.v_loss, b.v_loss, whole.v_loss);
	cr_expect(fabs(a.ratio_mean + b.ratio_mean - whole.ratio_mean) <= 1e-6, "ratio %g + %g vs %g", a.ratio_mean, b.ratio_mean, whole.ratio_mean);
	cr_expect(a.n_tokens + b.n_tokens == ntok);
	/* an empty part: zero gradients */
	ppo_minibatch_part(&pol, &cr, p1, 0, ntok, &h, &s, &a);
	size_t nz = 0;
	for (size_t k = 0; k < pol.n_params; k++)
		nz += pol.grads[k] != 0;
	cr_expect(nz == 0 && a.pg_loss == 0 && a.n_tokens == 0, "an empty part adds nothing (%zu gradients not 0)", nz);
	free(gp), free(gc);
	for (int i = 0; i < NR; i++)
		ppo_rollout_release(&rs[i]), ppo_rollout_release(&ra[i]);
	ppo_scratch_release(&s);
	model_release(&pol), model_release(&ref), model_release(&cr);
}

Test(ppo, rank_blocks_are_whole_chunks_tiling_the_rollouts)
{
	static const long cases[][3] = { { 8, 2, 2 }, { 10, 2, 3 }, { 7, 3, 2 }, { 5, 4, 2 }, { 512, 32, 5 }, { 3, 1, 3 } };
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		long n = cases[c][0], g = cases[c][1], w = cases[c][2], at = 0, mn = n, mx = 0;
		for (int r = 0; r < w; r++) {
			long lo, hi;
			ppo_dist_block(n, g, r, (int)w, &lo, &hi);
			cr_expect(lo == at && hi >= lo && lo % g == 0, "n %ld chunk %ld rank %d: [%ld, %ld) after %ld", n, g, r, lo, hi, at);
			at = hi;
			mn = hi - lo < mn ? hi - lo : mn, mx = hi - lo > mx ? hi - lo : mx;
		}
		cr_expect(at == n, "n %ld chunk %ld world %ld: the blocks end at %ld", n, g, w, at);
		cr_expect(mx - mn <= g, "n %ld chunk %ld world %ld: shares %ld..%ld differ by more than a chunk", n, g, w, mn, mx);
	}
}
