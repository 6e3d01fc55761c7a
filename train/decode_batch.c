/* decode_batch.c - batched KV-cache decoding (decode_batch.h): the layer ops of the batch forward with
 * N = the number of sequences stepped, attention over each sequence's own cache. */
#include <math.h>
#include <string.h>
#include "decode_batch.h"
#include "sample.h"
#include "spindle/mem.h"

int decode_batch_init(decode_batch *d, const model *m, int B, int n_ctx, sp_err *err)
{
	memset(d, 0, sizeof *d);
	const model_config *c = &m->cfg;
	if (c->reward_head)
		SP_RAISE(err, SP_EUSAGE, "a reward model has no LM head to sample from");
	if (n_ctx > c->max_seq_len)
		n_ctx = c->max_seq_len;
	int D = c->dim, KVD = c->n_kv_heads * (D / c->n_heads), F = c->hidden_dim;
	size_t kv = (size_t)B * c->n_layers * n_ctx * KVD, b = (size_t)B;
	d->B = B;
	d->n_ctx = n_ctx;
	d->k = sp_malloc(kv * sizeof(float));
	d->v = sp_malloc(kv * sizeof(float));
	d->n = sp_calloc(b, sizeof *d->n);
	d->pos = sp_calloc(b, sizeof *d->pos);
	float **bufs[] = { &d->x, &d->xn, &d->q, &d->kk, &d->vv, &d->ao, &d->h, &d->hg, &d->hu, &d->att, &d->logits, &d->rstd };
	size_t sizes[] = { b * D, b * D, b * D, b * KVD, b * KVD, b * D, b * F, b * F, b * F, b * n_ctx, b * c->vocab_size, b };
	int bad = !d->k || !d->v || !d->n || !d->pos;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		bad |= !(*bufs[i] = sp_malloc(sizes[i] * sizeof(float)));
	if (bad) {
		decode_batch_release(d);
		SP_RAISE(err, SP_ENOMEM, "out of memory for %d KV caches of %d positions", B, n_ctx);
	}
	return 0;
}

void decode_batch_release(decode_batch *d)
{
	float *p[] = { d->k, d->v, d->x, d->xn, d->q, d->kk, d->vv, d->ao, d->h, d->hg, d->hu, d->att, d->logits, d->rstd };
	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
		sp_free(p[i]);
	sp_free(d->n), sp_free(d->pos);
	memset(d, 0, sizeof *d);
}

const float *decode_batch_step(decode_batch *d, const model *m, const int *rows, const int32_t *tokens, int n)
{
	const model_config *c = &m->cfg;
	int D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = D / H, KVD = KVH * hd, F = c->hidden_dim, L = c->n_layers;
	int rep = H / KVH;
	float scale = 1.0f / sqrtf((float)hd);
	for (int i = 0; i < n; i++)
		d->pos[i] = d->n[rows[i]];
	encoder_forward(d->x, tokens, m->p[P_EMBED], n, D);
	for (int l = 0; l < L; l++) {
		float *r = d->rstd;
		rmsnorm_forward(d->xn, r, d->x, m->p[P_ATTN_NORM] + (size_t)l * D, n, D, c->norm_eps);
		matmul_forward(d->q, d->xn, m->p[P_WQ] + (size_t)l * m->ti[P_WQ].layer_size, n, D, D);
		matmul_forward(d->kk, d->xn, m->p[P_WK] + (size_t)l * m->ti[P_WK].layer_size, n, D, KVD);
		matmul_forward(d->vv, d->xn, m->p[P_WV] + (size_t)l * m->ti[P_WV].layer_size, n, D, KVD);
		rope_forward(d->q, d->pos, m->rope_cos, m->rope_sin, n, H, hd);
		rope_forward(d->kk, d->pos, m->rope_cos, m->rope_sin, n, KVH, hd);
#pragma omp parallel for schedule(static) if ((size_t)n * H * (d->pos[0] + 1) * hd > PAR_MIN_WORK)
		for (int i = 0; i < n; i++) {
			int pos = d->pos[i], t_len = pos + 1;
			float *kc = d->k + (((size_t)rows[i] * L + l) * d->n_ctx) * KVD;
			float *vc = d->v + (((size_t)rows[i] * L + l) * d->n_ctx) * KVD;
			memcpy(kc + (size_t)pos * KVD, d->kk + (size_t)i * KVD, (size_t)KVD * sizeof(float));
			memcpy(vc + (size_t)pos * KVD, d->vv + (size_t)i * KVD, (size_t)KVD * sizeof(float));
			float *att = d->att + (size_t)i * d->n_ctx;
			for (int h = 0; h < H; h++) {
				const float *q = d->q + (size_t)i * D + (size_t)h * hd;
				int kvh = h / rep;
				float mx = -INFINITY;
				for (int j = 0; j < t_len; j++) {
					const float *k = kc + (size_t)j * KVD + (size_t)kvh * hd;
					float s = 0;
					for (int e = 0; e < hd; e++)
						s += q[e] * k[e];
					att[j] = s * scale;
					mx = att[j] > mx ? att[j] : mx;
				}
				double sum = 0;
				for (int j = 0; j < t_len; j++) {
					att[j] = expf(att[j] - mx);
					sum += att[j];
				}
				float *o = d->ao + (size_t)i * D + (size_t)h * hd;
				memset(o, 0, (size_t)hd * sizeof(float));
				for (int j = 0; j < t_len; j++) {
					float w = (float)(att[j] / sum);
					const float *v = vc + (size_t)j * KVD + (size_t)kvh * hd;
					for (int e = 0; e < hd; e++)
						o[e] += w * v[e];
				}
			}
		}
		matmul_forward(d->xn, d->ao, m->p[P_WO] + (size_t)l * m->ti[P_WO].layer_size, n, D, D);
		residual_forward(d->x, d->x, d->xn, (size_t)n * D);
		rmsnorm_forward(d->xn, r, d->x, m->p[P_FFN_NORM] + (size_t)l * D, n, D, c->norm_eps);
		matmul_forward(d->hg, d->xn, m->p[P_WGATE] + (size_t)l * m->ti[P_WGATE].layer_size, n, D, F);
		matmul_forward(d->hu, d->xn, m->p[P_WUP] + (size_t)l * m->ti[P_WUP].layer_size, n, D, F);
		swiglu_forward(d->h, d->hg, d->hu, (size_t)n * F);
		matmul_forward(d->xn, d->h, m->p[P_WDOWN] + (size_t)l * m->ti[P_WDOWN].layer_size, n, F, D);
		residual_forward(d->x, d->x, d->xn, (size_t)n * D);
	}
	rmsnorm_forward(d->xn, d->rstd, d->x, m->p[P_FINAL_NORM], n, D, c->norm_eps);
	matmul_forward(d->logits, d->xn, m->p[P_LM_HEAD], n, D, c->vocab_size);
	for (int i = 0; i < n; i++)
		d->n[rows[i]]++;
	return d->logits;
}

int decode_batch_generate(decode_batch *d, const model *m, const tok_ids *const *prompts, int n, long max_new, float temp,
                          int top_k, float top_p, int32_t eos, train_rng *rngs, tok_ids *outs, int *stopped, sp_err *err)
{
	int V = m->cfg.vocab_size;
	int *fed = sp_calloc((size_t)(n ? n : 1), sizeof *fed), *start = sp_calloc((size_t)(n ? n : 1), sizeof *start);
	int *rows = sp_calloc((size_t)(n ? n : 1), sizeof *rows), *run = sp_calloc((size_t)(n ? n : 1), sizeof *run);
	int32_t *toks = sp_calloc((size_t)(n ? n : 1), sizeof *toks);
	if (!fed || !start || !rows || !run || !toks) {
		sp_free(fed), sp_free(start), sp_free(rows), sp_free(run), sp_free(toks);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	size_t room = (size_t)(max_new < d->n_ctx / 2 ? max_new : d->n_ctx / 2), keep = (size_t)d->n_ctx - (room ? room : 1);
	for (int i = 0; i < n; i++) {
		start[i] = prompts[i]->n > keep ? (int)(prompts[i]->n - keep) : 0;
		fed[i] = start[i];
		d->n[i] = 0;
		outs[i].n = 0;
		stopped[i] = 0;
		run[i] = prompts[i]->n > 0 && max_new > 0;
	}
	for (;;) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (run[i]) {
				rows[k] = i;
				toks[k++] = fed[i] < (int)prompts[i]->n ? (int32_t)prompts[i]->v[fed[i]] : (int32_t)outs[i].v[outs[i].n - 1];
			}
		if (!k)
			break;
		const float *lg = decode_batch_step(d, m, rows, toks, k);
		for (int j = 0; j < k; j++) {
			int i = rows[j];
			if (fed[i] < (int)prompts[i]->n && ++fed[i] < (int)prompts[i]->n)
				continue; /* still reading the prompt */
			int32_t t = sample_token(lg + (size_t)j * V, V, temp, top_k, top_p, &rngs[i]);
			if (t == eos) {
				stopped[i] = 1;
				run[i] = 0;
			} else if (tok_ids_push(&outs[i], (uint32_t)t) < 0) {
				sp_free(fed), sp_free(start), sp_free(rows), sp_free(run), sp_free(toks);
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			} else if ((long)outs[i].n >= max_new || d->n[i] + 1 >= d->n_ctx) {
				run[i] = 0;
			}
		}
	}
	sp_free(fed), sp_free(start), sp_free(rows), sp_free(run), sp_free(toks);
	return 0;
}
