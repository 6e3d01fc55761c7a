/* ppo.c - PPO's maths on the CPU reference model (ppo.h): log-probs at a temperature, GAE, whitening,
 * the clipped policy and value losses and their gradients into the models. The oracle for the PyTorch
 * float64 reference (tests/train/ref_ppo.py) and for any device twin. */
#include <math.h>
#include <omp.h>
#include <string.h>
#include "ppo.h"
#include "reward.h"
#include "spindle/mem.h"

void ppo_hparams_default(ppo_hparams *h)
{
	h->temperature = 1.0f;
	h->beta = 0.01f;
	h->gamma = 1.0f;
	h->lambda = 0.95f;
	h->clip = 0.2f;
	h->vclip = 0.2f;
	h->whiten_eps = 1e-8f;
}

int ppo_rollout_init(ppo_rollout *r, const int32_t *tok, int P, int L, sp_err *err)
{
	memset(r, 0, sizeof *r);
	r->P = P;
	r->L = L;
	r->tok = sp_malloc((size_t)(P + L) * sizeof *r->tok);
	float **arr[] = { &r->logp_old, &r->logp_ref, &r->entropy, &r->values, &r->rewards, &r->adv, &r->ret };
	int ok = r->tok != NULL;
	for (size_t i = 0; ok && i < sizeof arr / sizeof arr[0]; i++)
		ok = (*arr[i] = sp_calloc((size_t)(L ? L : 1), sizeof(float))) != NULL;
	if (!ok) {
		ppo_rollout_release(r);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	memcpy(r->tok, tok, (size_t)(P + L) * sizeof *tok);
	return 0;
}

void ppo_rollout_release(ppo_rollout *r)
{
	sp_free(r->tok);
	sp_free(r->logp_old), sp_free(r->logp_ref), sp_free(r->entropy), sp_free(r->values);
	sp_free(r->rewards), sp_free(r->adv), sp_free(r->ret);
	memset(r, 0, sizeof *r);
}

int ppo_scratch_init(ppo_scratch *s, int B, int T, sp_err *err)
{
	size_t N = (size_t)B * T;
	s->B = B;
	s->T = T;
	s->inputs = sp_calloc(N, sizeof(int32_t));
	s->targets = sp_calloc(N, sizeof(int32_t));
	s->pos = sp_calloc(N, sizeof(int32_t));
	s->last = sp_calloc((size_t)B, sizeof(int32_t));
	s->act = sp_calloc(N, sizeof(int32_t));
	float **f[] = { &s->lp_old, &s->adv, &s->loss, &s->clipped, &s->kl, &s->ratio };
	int bad = !s->inputs || !s->targets || !s->pos || !s->last || !s->act;
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		bad |= !(*f[i] = sp_calloc(N, sizeof(float)));
	if (bad) {
		ppo_scratch_release(s);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	return 0;
}

void ppo_scratch_release(ppo_scratch *s)
{
	sp_free(s->inputs), sp_free(s->targets), sp_free(s->pos), sp_free(s->last), sp_free(s->act);
	sp_free(s->lp_old), sp_free(s->adv), sp_free(s->loss), sp_free(s->clipped), sp_free(s->kl), sp_free(s->ratio);
	memset(s, 0, sizeof *s);
}

float ppo_token_logprob(const float *z, int V, float temp, int32_t target, float *entropy)
{
	double mx = -INFINITY, inv = 1.0 / temp;
	for (int k = 0; k < V; k++)
		if (z[k] * inv > mx)
			mx = z[k] * inv;
	double sum = 0, ez = 0;
	for (int k = 0; k < V; k++) {
		double a = z[k] * inv - mx, e = exp(a);
		sum += e;
		ez += e * a;
	}
	double lse = log(sum);
	if (entropy) /* H = -sum p log p = lse - E[a] (a = z/temp - max) */
		*entropy = (float)(lse - ez / sum);
	return (float)(z[target] * inv - mx - lse);
}

void ppo_gae(const float *r, const float *v, int L, float gamma, float lambda, float *adv, float *ret)
{
	double next_v = 0, next_a = 0;
	for (int t = L - 1; t >= 0; t--) {
		double delta = (double)r[t] + gamma * next_v - v[t];
		next_a = delta + (double)gamma * lambda * next_a;
		adv[t] = (float)next_a;
		ret[t] = (float)(next_a + v[t]);
		next_v = v[t];
	}
}

void ppo_logprobs(float *logp, float *entropy, const float *logits, const int32_t *act, int N, int V, float temp)
{
#pragma omp parallel for schedule(static) if ((size_t)N * V > PAR_MIN_WORK)
	for (int i = 0; i < N; i++)
		if (act[i] >= 0)
			logp[i] = ppo_token_logprob(logits + (size_t)i * V, V, temp, act[i], entropy ? &entropy[i] : NULL);
}

void ppo_policy_grad(float *logits, float *loss, float *clipped, float *kl, float *ratio, const int32_t *act,
                     const float *logp_old, const float *adv, int N, int V, float temp, float clip, float scale)
{
	const double inv_t = 1.0 / temp;
#pragma omp parallel for schedule(static) if ((size_t)N * V > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		float *z = logits + (size_t)i * V;
		int32_t a = act[i];
		if (a < 0) {
			memset(z, 0, (size_t)V * sizeof *z);
			loss[i] = clipped[i] = kl[i] = ratio[i] = 0;
			continue;
		}
		double mx = -INFINITY;
		for (int k = 0; k < V; k++)
			if (z[k] * inv_t > mx)
				mx = z[k] * inv_t;
		double sum = 0;
		for (int k = 0; k < V; k++)
			sum += exp(z[k] * inv_t - mx);
		/* rounded as ppo_token_logprob rounds logp_old: an unchanged policy gives ratio 1 exactly */
		double lse = log(sum) + mx, logp = (float)(z[a] * inv_t - mx - log(sum));
		double r = exp(logp - logp_old[i]), A = adv[i];
		double rc = r < 1 - clip ? 1 - clip : r > 1 + clip ? 1 + clip : r;
		double l1 = -A * r, l2 = -A * rc;
		int use_clip = l2 > l1;
		loss[i] = (float)(use_clip ? l2 : l1);
		clipped[i] = (float)use_clip;
		kl[i] = (float)(r - 1 - (logp - logp_old[i]));
		ratio[i] = (float)r;
		/* d loss / d logp = -A r on the unclipped branch, 0 on the clipped one;
		 * d logp / d z_k = (onehot_k - p_k) / temp */
		double g = use_clip ? 0 : -A * r * scale;
		for (int k = 0; k < V; k++)
			z[k] = (float)(-g * inv_t * exp(z[k] * inv_t - lse));
		z[a] += (float)(g * inv_t);
	}
}

void ppo_gae_batch(float *adv, float *ret, const float *r, const float *v, const int *off, int n, float gamma, float lambda)
{
	for (int i = 0; i < n; i++)
		ppo_gae(r + off[i], v + off[i], off[i + 1] - off[i], gamma, lambda, adv + off[i], ret + off[i]);
}

/* rows rs[0..B) into s: returns T (the longest sequence) */
static int fill(ppo_scratch *s, ppo_rollout *const *rs, int B)
{
	int T = 1;
	for (int r = 0; r < B; r++)
		if (rs[r]->P + rs[r]->L > T)
			T = rs[r]->P + rs[r]->L;
	for (int r = 0; r < B; r++) {
		int n = rs[r]->P + rs[r]->L;
		for (int t = 0; t < T; t++) {
			s->inputs[(size_t)r * T + t] = t < n ? rs[r]->tok[t] : 0;
			s->targets[(size_t)r * T + t] = -1;
			s->pos[(size_t)r * T + t] = t;
		}
		s->last[r] = n - 1;
	}
	return T;
}

void ppo_eval_policy(model *m, ppo_rollout *const *rs, int n, float temp, int which, ppo_scratch *s)
{
	int V = m->cfg.vocab_size;
	for (int i0 = 0; i0 < n; i0 += s->B) {
		int B = n - i0 < s->B ? n - i0 : s->B;
		int T = fill(s, rs + i0, B);
		model_batch b = { B, T, s->inputs, s->targets, s->pos, NULL, s->last };
		model_forward(m, &b, NULL, NULL);
#pragma omp parallel for schedule(dynamic, 1)
		for (int r = 0; r < B; r++) {
			ppo_rollout *x = rs[i0 + r];
			for (int j = 0; j < x->L; j++) {
				const float *z = m->logits + ((size_t)r * T + (size_t)(x->P + j - 1)) * V;
				if (which == 0)
					x->logp_old[j] = ppo_token_logprob(z, V, temp, x->tok[x->P + j], &x->entropy[j]);
				else
					x->logp_ref[j] = ppo_token_logprob(z, V, temp, x->tok[x->P + j], NULL);
			}
		}
	}
}

static float value_at(const model *c, int T, int r, int pos)
{
	int D = c->cfg.dim;
	const float *h = c->xnf + ((size_t)r * T + (size_t)pos) * D;
	double v = 0;
	for (int k = 0; k < D; k++)
		v += (double)h[k] * c->p[P_SCORE][k];
	return (float)v;
}

void ppo_eval_critic(model *critic, ppo_rollout *const *rs, int n, ppo_scratch *s)
{
	for (int i0 = 0; i0 < n; i0 += s->B) {
		int B = n - i0 < s->B ? n - i0 : s->B;
		int T = fill(s, rs + i0, B);
		model_batch b = { B, T, s->inputs, s->targets, s->pos, NULL, s->last };
		model_forward(critic, &b, NULL, NULL);
		for (int r = 0; r < B; r++) {
			ppo_rollout *x = rs[i0 + r];
			for (int j = 0; j < x->L; j++)
				x->values[j] = value_at(critic, T, r, x->P + j - 1);
		}
	}
}

void ppo_rewards_gae(ppo_rollout *const *rs, int n, const ppo_hparams *h)
{
	for (int i = 0; i < n; i++) {
		ppo_rollout *x = rs[i];
		for (int j = 0; j < x->L; j++)
			x->rewards[j] = -h->beta * (x->logp_old[j] - x->logp_ref[j]);
		if (x->L)
			x->rewards[x->L - 1] += x->score;
		ppo_gae(x->rewards, x->values, x->L, h->gamma, h->lambda, x->adv, x->ret);
	}
}

int ppo_whiten_moments(const float *adv, size_t n, float eps, double *mean, double *inv)
{
	double sum = 0, sq = 0;
	if (!n)
		return 0;
	for (size_t k = 0; k < n; k++)
		sum += adv[k];
	*mean = sum / (double)n;
	for (size_t k = 0; k < n; k++)
		sq += ((double)adv[k] - *mean) * ((double)adv[k] - *mean);
	*inv = 1.0 / sqrt(sq / (double)n + eps);
	return 1;
}

void ppo_whiten_apply(ppo_rollout *const *rs, int n, double mean, double inv)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < rs[i]->L; j++)
			rs[i]->adv[j] = (float)(((double)rs[i]->adv[j] - mean) * inv);
}

void ppo_prepare(ppo_rollout *const *rs, int n, const ppo_hparams *h)
{
	double sum = 0, sq = 0;
	size_t cnt = 0;
	ppo_rewards_gae(rs, n, h);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < rs[i]->L; j++)
			sum += rs[i]->adv[j], cnt++;
	if (!cnt)
		return;
	/* the sums of ppo_whiten_moments, in the same order, without a copy of the advantages */
	double mean = sum / (double)cnt;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < rs[i]->L; j++)
			sq += ((double)rs[i]->adv[j] - mean) * ((double)rs[i]->adv[j] - mean);
	ppo_whiten_apply(rs, n, mean, 1.0 / sqrt(sq / (double)cnt + h->whiten_eps));
}

/* ---------------------------------------------------------------- one mini-batch */

void ppo_minibatch(model *policy, model *critic, ppo_rollout *const *rs, int n, const ppo_hparams *h, ppo_scratch *s,
                   ppo_stats *st)
{
	ppo_minibatch_part(policy, critic, rs, n, 0, h, s, st);
}

void ppo_minibatch_part(model *policy, model *critic, ppo_rollout *const *rs, int n, long ntok_all, const ppo_hparams *h,
                        ppo_scratch *s, ppo_stats *st)
{
	memset(st, 0, sizeof *st);
	long ntok = 0;
	for (int i = 0; i < n; i++)
		ntok += rs[i]->L;
	st->n_tokens = ntok;
	model_zero_grad(policy);
	if (critic)
		model_zero_grad(critic);
	if (!ntok)
		return;
	const double scale = 1.0 / (double)(ntok_all > 0 ? ntok_all : ntok);
	const int V = policy->cfg.vocab_size, D = policy->cfg.dim;
	double pg = 0, vl = 0, clipped = 0, akl = 0, rsum = 0;
	for (int i0 = 0; i0 < n; i0 += s->B) {
		int B = n - i0 < s->B ? n - i0 : s->B;
		int T = fill(s, rs + i0, B);
		model_batch b = { B, T, s->inputs, s->targets, s->pos, NULL, s->last };
		/* policy: the surrogate's gradient w.r.t. the logits, then the usual backward */
		model_forward(policy, &b, NULL, NULL);
		for (int row = 0; row < B * T; row++) {
			const ppo_rollout *x = rs[i0 + row / T];
			int j = row % T - x->P + 1;    /* the action this position predicts */
			int in = j >= 0 && j < x->L;
			s->act[row] = in ? x->tok[x->P + j] : -1;
			s->lp_old[row] = in ? x->logp_old[j] : 0;
			s->adv[row] = in ? x->adv[j] : 0;
		}
		ppo_policy_grad(policy->logits, s->loss, s->clipped, s->kl, s->ratio, s->act, s->lp_old, s->adv, B * T, V,
		                h->temperature, h->clip, (float)scale);
		for (int row = 0; row < B * T; row++) /* in order: the same sums for any thread count */
			pg += s->loss[row], clipped += s->clipped[row], akl += s->kl[row], rsum += s->ratio[row];
		size_t N = (size_t)B * T;
		matmul_backward(policy->d_xn, 0, policy->g[P_LM_HEAD], policy->logits, policy->xnf, policy->p[P_LM_HEAD], (int)N, D, V);
		model_backward_hidden(policy, &b);
		if (!critic)
			continue;
		/* critic: the clipped value loss at the same positions */
		model_forward(critic, &b, NULL, NULL);
		int DC = critic->cfg.dim;
		memset(critic->d_xn, 0, N * DC * sizeof(float));
		for (int r = 0; r < B; r++) {
			const ppo_rollout *x = rs[i0 + r];
			for (int j = 0; j < x->L; j++) {
				int pos = x->P + j - 1;
				double v = value_at(critic, T, r, pos), vo = x->values[j], R = x->ret[j];
				double d = v - vo, vc = vo + (d < -h->vclip ? -h->vclip : d > h->vclip ? h->vclip : d);
				double e1 = (v - R) * (v - R), e2 = (vc - R) * (vc - R);
				vl += 0.5 * (e1 >= e2 ? e1 : e2);
				double dv = e1 >= e2 ? (v - R) * scale : 0;
				float *dx = critic->d_xn + ((size_t)r * T + pos) * DC;
				const float *hx = critic->xnf + ((size_t)r * T + pos) * DC;
				for (int k = 0; k < DC; k++) {
					dx[k] = (float)(dv * critic->p[P_SCORE][k]);
					critic->g[P_SCORE][k] += (float)(dv * hx[k]);
				}
			}
		}
		model_backward_hidden(critic, &b);
	}
	st->pg_loss = pg * scale;
	st->v_loss = vl * scale;
	st->clip_frac = clipped * scale;
	st->approx_kl = akl * scale;
	st->ratio_mean = rsum * scale;
}
