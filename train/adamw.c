/* adamw.c - the optimizer (see adamw.h). Bias-corrected Adam moments, decoupled weight decay
 * (Loshchilov and Hutter) as in Llama 2: lr * wd * w is subtracted for decayed tensors. */
#include <math.h>
#include "adamw.h"
#include "vexp.h"
#include "spindle/mem.h"

int adamw_init(adamw_state *s, size_t n, sp_err *err)
{
	s->n = n;
	s->t = 0;
	s->m = sp_calloc(n, sizeof(float));
	s->v = sp_calloc(n, sizeof(float));
	if (!s->m || !s->v) {
		adamw_release(s);
		SP_RAISE(err, SP_ENOMEM, "out of memory for the optimizer state (%zu parameters)", n);
	}
	return 0;
}

void adamw_release(adamw_state *s)
{
	sp_free(s->m);
	sp_free(s->v);
	s->m = s->v = NULL;
	s->n = 0;
}

static void adamw_kernel(float *p, const float *g, float *mm, float *vv, size_t n, float lr, float b1, float b2,
                         float eps, float wd, float c1, float c2)
{
#pragma omp parallel for schedule(static) if(n > PAR_MIN_WORK)
	for (size_t i = 0; i < n; i++) {
		float m = b1 * mm[i] + (1 - b1) * g[i];
		float v = b2 * vv[i] + (1 - b2) * g[i] * g[i];
		mm[i] = m;
		vv[i] = v;
		float mh = m / c1, vh = v / c2;
		p[i] -= lr * (mh / (sqrtf(vh) + eps) + wd * p[i]);
	}
}

void adamw_update(adamw_state *s, model *m, float lr, const adamw_hparams *hp)
{
	s->t++;
	float c1 = 1.0f - powf(hp->beta1, (float)s->t), c2 = 1.0f - powf(hp->beta2, (float)s->t);
	size_t off = 0;
	for (int i = 0; i < P_COUNT; i++) {
		size_t n = m->ti[i].size;
		adamw_kernel(m->params + off, m->grads + off, s->m + off, s->v + off, n, lr, hp->beta1, hp->beta2,
		             hp->eps, m->ti[i].decay ? hp->weight_decay : 0.0f, c1, c2);
		off += n;
	}
}

float adamw_clip(float *g, size_t n, float max_norm)
{
	enum { CHUNK = 1 << 16 };
	size_t n_chunks = (n + CHUNK - 1) / CHUNK;
	double total = 0;
	/* partial sums per fixed chunk, added in chunk order: the same bits for any thread count */
	double *part = sp_malloc((n_chunks ? n_chunks : 1) * sizeof(double));
	if (part) {
#pragma omp parallel for schedule(static) if(n > PAR_MIN_WORK)
		for (size_t c = 0; c < n_chunks; c++) {
			/* eight running sums (a fixed order, so still the same bits for any thread count): one
			 * sum would be a chain of dependent adds, eight let the loop vectorize */
			double s8[8] = { 0 };
			size_t i = c * CHUNK, end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
			for (; i + 8 <= end; i += 8)
				for (int k = 0; k < 8; k++)
					s8[k] += (double)g[i + k] * g[i + k];
			for (int k = 0; i < end; i++, k++)
				s8[k] += (double)g[i] * g[i];
			part[c] = train_sum8(s8);
		}
		for (size_t c = 0; c < n_chunks; c++)
			total += part[c];
		sp_free(part);
	} else {
		for (size_t i = 0; i < n; i++)
			total += (double)g[i] * g[i];
	}
	float norm = (float)sqrt(total);
	if (max_norm > 0 && norm > max_norm) {
		float sc = max_norm / (norm + 1e-6f);
#pragma omp parallel for schedule(static) if(n > PAR_MIN_WORK)
		for (size_t i = 0; i < n; i++)
			g[i] *= sc;
	}
	return norm;
}

float lr_schedule(long step, long warmup, long total, float peak, float min_ratio)
{
	if (warmup > 0 && step < warmup)
		return peak * (float)(step + 1) / (float)warmup;
	if (step >= total || total <= warmup)
		return peak * min_ratio;
	double prog = (double)(step - warmup) / (double)(total - warmup);
	double cosv = 0.5 * (1.0 + cos(M_PI * prog));
	return (float)(peak * (min_ratio + (1.0 - min_ratio) * cosv));
}
