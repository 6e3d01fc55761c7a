/* sample.c - KV-cache decoding and sampling (see sample.h). The per-token path reuses the layer ops
 * of the batch forward pass with N = 1; only attention over the cache is its own loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sample.h"
#include "spindle/mem.h"

int decode_init(decode_state *d, const model *m, int n_ctx, sp_err *err)
{
	memset(d, 0, sizeof *d);
	const model_config *c = &m->cfg;
	if (c->reward_head)
		SP_RAISE(err, SP_EUSAGE, "a reward model has no LM head to sample from");
	if (n_ctx > c->max_seq_len)
		n_ctx = c->max_seq_len;
	int D = c->dim, KVD = c->n_kv_heads * (D / c->n_heads), F = c->hidden_dim;
	size_t kv = (size_t)c->n_layers * n_ctx * KVD;
	d->n_ctx = n_ctx;
	d->k = sp_malloc(kv * sizeof(float));
	d->v = sp_malloc(kv * sizeof(float));
	float **bufs[] = { &d->x, &d->xn, &d->q, &d->kk, &d->vv, &d->ao, &d->h, &d->hg, &d->hu, &d->att, &d->logits };
	size_t sizes[] = { D, D, D, KVD, KVD, D, F, F, F, (size_t)n_ctx, (size_t)c->vocab_size };
	int bad = !d->k || !d->v;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		bad |= !(*bufs[i] = sp_malloc(sizes[i] * sizeof(float)));
	if (bad) {
		decode_release(d);
		SP_RAISE(err, SP_ENOMEM, "out of memory for a %d-position KV cache", n_ctx);
	}
	return 0;
}

void decode_release(decode_state *d)
{
	float *p[] = { d->k, d->v, d->x, d->xn, d->q, d->kk, d->vv, d->ao, d->h, d->hg, d->hu, d->att, d->logits };
	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
		sp_free(p[i]);
	memset(d, 0, sizeof *d);
}

void decode_reset(decode_state *d)
{
	d->n = 0;
}

const float *decode_step(decode_state *d, const model *m, int32_t token)
{
	const model_config *c = &m->cfg;
	int D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = D / H, KVD = KVH * hd, F = c->hidden_dim;
	int rep = H / KVH, pos = d->n, t_len = pos + 1;
	int32_t p32 = pos;
	float scale = 1.0f / sqrtf((float)hd);
	encoder_forward(d->x, &token, m->p[P_EMBED], 1, D);
	for (int l = 0; l < c->n_layers; l++) {
		float rstd;
		float *kc = d->k + ((size_t)l * d->n_ctx) * KVD, *vc = d->v + ((size_t)l * d->n_ctx) * KVD;
		rmsnorm_forward(d->xn, &rstd, d->x, m->p[P_ATTN_NORM] + (size_t)l * D, 1, D, c->norm_eps);
		matmul_forward(d->q, d->xn, m->p[P_WQ] + (size_t)l * m->ti[P_WQ].layer_size, 1, D, D);
		matmul_forward(kc + (size_t)pos * KVD, d->xn, m->p[P_WK] + (size_t)l * m->ti[P_WK].layer_size, 1, D, KVD);
		matmul_forward(vc + (size_t)pos * KVD, d->xn, m->p[P_WV] + (size_t)l * m->ti[P_WV].layer_size, 1, D, KVD);
		rope_forward(d->q, &p32, m->rope_cos, m->rope_sin, 1, H, hd);
		rope_forward(kc + (size_t)pos * KVD, &p32, m->rope_cos, m->rope_sin, 1, KVH, hd);
		for (int h = 0; h < H; h++) {
			const float *q = d->q + (size_t)h * hd;
			int kvh = h / rep;
			float mx = -INFINITY;
			for (int j = 0; j < t_len; j++) {
				const float *k = kc + (size_t)j * KVD + (size_t)kvh * hd;
				float s = 0;
				for (int i = 0; i < hd; i++)
					s += q[i] * k[i];
				d->att[j] = s * scale;
				mx = d->att[j] > mx ? d->att[j] : mx;
			}
			double sum = 0;
			for (int j = 0; j < t_len; j++) {
				d->att[j] = expf(d->att[j] - mx);
				sum += d->att[j];
			}
			float *o = d->ao + (size_t)h * hd;
			memset(o, 0, (size_t)hd * sizeof(float));
			for (int j = 0; j < t_len; j++) {
				float w = (float)(d->att[j] / sum);
				const float *v = vc + (size_t)j * KVD + (size_t)kvh * hd;
				for (int i = 0; i < hd; i++)
					o[i] += w * v[i];
			}
		}
		matmul_forward(d->xn, d->ao, m->p[P_WO] + (size_t)l * m->ti[P_WO].layer_size, 1, D, D);
		residual_forward(d->x, d->x, d->xn, (size_t)D);
		rmsnorm_forward(d->xn, &rstd, d->x, m->p[P_FFN_NORM] + (size_t)l * D, 1, D, c->norm_eps);
		matmul_forward(d->hg, d->xn, m->p[P_WGATE] + (size_t)l * m->ti[P_WGATE].layer_size, 1, D, F);
		matmul_forward(d->hu, d->xn, m->p[P_WUP] + (size_t)l * m->ti[P_WUP].layer_size, 1, D, F);
		swiglu_forward(d->h, d->hg, d->hu, (size_t)F);
		matmul_forward(d->xn, d->h, m->p[P_WDOWN] + (size_t)l * m->ti[P_WDOWN].layer_size, 1, F, D);
		residual_forward(d->x, d->x, d->xn, (size_t)D);
	}
	float rstd;
	rmsnorm_forward(d->xn, &rstd, d->x, m->p[P_FINAL_NORM], 1, D, c->norm_eps);
	matmul_forward(d->logits, d->xn, m->p[P_LM_HEAD], 1, D, c->vocab_size);
	d->n++;
	return d->logits;
}

typedef struct prob_idx { float p; int32_t i; } prob_idx;

static int by_prob_desc(const void *a, const void *b)
{
	const prob_idx *x = a, *y = b;
	if (x->p != y->p)
		return x->p < y->p ? 1 : -1;
	return x->i < y->i ? -1 : x->i > y->i;
}

int32_t sample_token(const float *logits, int V, float temperature, int top_k, float top_p, train_rng *r)
{
	int32_t best = 0;
	for (int i = 1; i < V; i++)
		if (logits[i] > logits[best])
			best = i;
	if (temperature <= 0)
		return best;
	prob_idx *pi = malloc((size_t)V * sizeof *pi);
	if (!pi)
		return best;
	double sum = 0;
	for (int i = 0; i < V; i++) {
		pi[i].p = expf((logits[i] - logits[best]) / temperature);
		pi[i].i = i;
		sum += pi[i].p;
	}
	int n = V;
	if ((top_p > 0 && top_p < 1) || (top_k > 0 && top_k < V)) {
		qsort(pi, (size_t)V, sizeof *pi, by_prob_desc);
		if (top_k > 0 && top_k < V) {
			n = top_k;
			sum = 0;
			for (int i = 0; i < n; i++)
				sum += pi[i].p;
		}
	}
	if (top_p > 0 && top_p < 1) {
		int lim = n;
		double cum = 0;
		for (n = 0; n < lim; n++) {
			cum += pi[n].p / sum;
			if (cum >= top_p) {
				n++;
				break;
			}
		}
		if (n > lim)
			n = lim;
		sum = 0;
		for (int i = 0; i < n; i++)
			sum += pi[i].p;
	}
	double u = rng_uniform(r) * sum, acc = 0;
	int32_t tok = pi[n - 1].i;
	for (int i = 0; i < n; i++) {
		acc += pi[i].p;
		if (u < acc) {
			tok = pi[i].i;
			break;
		}
	}
	free(pi);
	return tok;
}
