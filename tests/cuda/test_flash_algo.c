/* test_flash_algo.c - the fused attention's algorithm (train/cuda/flash.cu), replayed on the CPU
 * step for step: keys in chunks of 32 with the online softmax (running max, sum rescaled by
 * exp(m_old - m_new), output rescaled the same way), the row's log-sum-exp kept instead of the
 * probabilities, and the backward pass that recomputes p = exp(s - lse) and uses D_i = dO_i . O_i.
 * It must agree with the CPU twin ops_attn.c (the straightforward softmax) on GQA with documents.
 * This checks the mathematics of the kernel without a GPU; check-gpu checks the kernel itself. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "../../train/model.h"
#include "../../train/rng.h"

static int vis(const int32_t *sg, int i, int j) { return j <= i && (!sg || sg[i] == sg[j]); }

static void flash_fwd(float *out, float *lse, const float *q, const float *k, const float *v, const int32_t *seg,
                      int B, int T, int H, int KVH, int hd)
{
	int D = H * hd, KVD = KVH * hd;
	float scale = 1.0f / sqrtf((float)hd), s[32], o[128];
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++)
			for (int i = 0; i < T; i++) {
				const float *qi = q + ((size_t)b * T + i) * D + (size_t)h * hd;
				const float *kb = k + (size_t)b * T * KVD + (size_t)(h / (H / KVH)) * hd;
				const float *vb = v + (size_t)b * T * KVD + (size_t)(h / (H / KVH)) * hd;
				const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
				float m = -INFINITY, l = 0;
				memset(o, 0, sizeof o);
				for (int j0 = 0; j0 <= i; j0 += 32) {
					float cmax = -INFINITY;
					for (int lane = 0; lane < 32; lane++) {
						int j = j0 + lane;
						s[lane] = -INFINITY;
						if (j <= i && vis(sg, i, j)) {
							float acc = 0;
							for (int d = 0; d < hd; d++)
								acc += qi[d] * scale * kb[(size_t)j * KVD + d];
							s[lane] = acc;
						}
						cmax = fmaxf(cmax, s[lane]);
					}
					if (cmax == -INFINITY)
						continue;
					float mn = fmaxf(m, cmax), alpha = expf(m - mn), psum = 0;
					for (int lane = 0; lane < 32; lane++) {
						s[lane] = s[lane] == -INFINITY ? 0.0f : expf(s[lane] - mn);
						psum += s[lane];
					}
					l = l * alpha + psum;
					for (int d = 0; d < hd; d++)
						o[d] *= alpha;
					for (int jj = 0; jj < 32 && j0 + jj <= i; jj++)
						for (int d = 0; d < hd; d++)
							o[d] += s[jj] * vb[(size_t)(j0 + jj) * KVD + d];
					m = mn;
				}
				for (int d = 0; d < hd; d++)
					out[((size_t)b * T + i) * D + (size_t)h * hd + d] = o[d] / l;
				lse[((size_t)b * H + h) * T + i] = m + logf(l);
			}
}

static void flash_bwd(float *dq, float *dk, float *dv, const float *dout, const float *out, const float *q,
                      const float *k, const float *v, const float *lse, const int32_t *seg, int B, int T, int H,
                      int KVH, int hd)
{
	int D = H * hd, KVD = KVH * hd, rep = H / KVH;
	float scale = 1.0f / sqrtf((float)hd);
	float *Dd = calloc((size_t)B * H * T, sizeof(float));
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++)
			for (int i = 0; i < T; i++) {
				size_t o = ((size_t)b * T + i) * D + (size_t)h * hd;
				float acc = 0;
				for (int d = 0; d < hd; d++)
					acc += dout[o + d] * out[o + d];
				Dd[((size_t)b * H + h) * T + i] = acc;
			}
	/* dQ: per query row; dK, dV: per key row over the group's heads and the rows i >= j */
	for (int b = 0; b < B; b++) {
		const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
		for (int h = 0; h < H; h++)
			for (int i = 0; i < T; i++) {
				size_t qo = ((size_t)b * T + i) * D + (size_t)h * hd, r = ((size_t)b * H + h) * T + i;
				for (int j = 0; j <= i; j++) {
					if (!vis(sg, i, j))
						continue;
					size_t ko = ((size_t)b * T + j) * KVD + (size_t)(h / rep) * hd;
					float s = 0, dp = 0;
					for (int d = 0; d < hd; d++) {
						s += q[qo + d] * scale * k[ko + d];
						dp += dout[qo + d] * v[ko + d];
					}
					float ds = expf(s - lse[r]) * (dp - Dd[r]);
					for (int d = 0; d < hd; d++)
						dq[qo + d] += ds * k[ko + d] * scale;
				}
			}
		for (int kh = 0; kh < KVH; kh++)
			for (int j = 0; j < T; j++) {
				size_t ko = ((size_t)b * T + j) * KVD + (size_t)kh * hd;
				for (int h = kh * rep; h < (kh + 1) * rep; h++)
					for (int i = j; i < T; i++) {
						if (!vis(sg, i, j))
							continue;
						size_t qo = ((size_t)b * T + i) * D + (size_t)h * hd, r = ((size_t)b * H + h) * T + i;
						float s = 0, dp = 0;
						for (int d = 0; d < hd; d++) {
							s += q[qo + d] * k[ko + d];
							dp += dout[qo + d] * v[ko + d];
						}
						float p = expf(s * scale - lse[r]), ds = p * (dp - Dd[r]);
						for (int d = 0; d < hd; d++) {
							dv[ko + d] += p * dout[qo + d];
							dk[ko + d] += ds * q[qo + d] * scale;
						}
					}
			}
	}
	free(Dd);
}

static double rel(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		den += (double)b[i] * b[i];
	}
	return sqrt(num / den);
}

Test(flash_algorithm, agrees_with_the_plain_softmax_on_gqa_with_documents)
{
	enum { B = 2, T = 77, H = 4, KVH = 2, HD = 64, D = H * HD, KVD = KVH * HD };
	train_rng r;
	rng_seed(&r, 3);
	size_t nq = (size_t)B * T * D, nk = (size_t)B * T * KVD;
	float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *dout = malloc(nq * 4);
	for (size_t i = 0; i < nq; i++) {
		q[i] = 2 * rng_normal(&r);   /* large scores: the running max moves, rescaling is exercised */
		dout[i] = rng_normal(&r);
	}
	for (size_t i = 0; i < nk; i++) {
		k[i] = rng_normal(&r);
		v[i] = rng_normal(&r);
	}
	int32_t seg[B * T];
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
			seg[b * T + t] = t < 40 + b ? 0 : t < 70 ? 1 : 2;   /* documents crossing 32-key chunks */
	for (int with_seg = 0; with_seg < 2; with_seg++) {
		const int32_t *sg = with_seg ? seg : NULL;
		float *o1 = malloc(nq * 4), *att = malloc((size_t)B * H * T * T * 4), *o2 = malloc(nq * 4);
		float *lse = malloc((size_t)B * H * T * 4), *datt = malloc((size_t)omp_get_max_threads() * T * T * 4);
		float *dq1 = calloc(nq, 4), *dk1 = calloc(nk, 4), *dv1 = calloc(nk, 4);
		float *dq2 = calloc(nq, 4), *dk2 = calloc(nk, 4), *dv2 = calloc(nk, 4);
		attention_forward(o1, att, q, k, v, sg, B, T, H, KVH, HD);
		flash_fwd(o2, lse, q, k, v, sg, B, T, H, KVH, HD);
		cr_assert(rel(o2, o1, nq) < 1e-5, "out %g", rel(o2, o1, nq));
		attention_backward(dq1, dk1, dv1, datt, dout, q, k, v, att, B, T, H, KVH, HD);
		flash_bwd(dq2, dk2, dv2, dout, o2, q, k, v, lse, sg, B, T, H, KVH, HD);
		cr_assert(rel(dq2, dq1, nq) < 1e-4, "dq %g", rel(dq2, dq1, nq));
		cr_assert(rel(dk2, dk1, nk) < 1e-4, "dk %g", rel(dk2, dk1, nk));
		cr_assert(rel(dv2, dv1, nk) < 1e-4, "dv %g", rel(dv2, dv1, nk));
		free(o1), free(att), free(o2), free(lse), free(datt);
		free(dq1), free(dk1), free(dv1), free(dq2), free(dk2), free(dv2);
	}
	free(q), free(k), free(v), free(dout);
}
