/* ops_attn.c - causal self-attention with grouped-query heads (head h reads kv head h / (H/KVH), as
 * HuggingFace's repeat_kv) and optional document masking (a token sees only earlier tokens of its own
 * document). Scores and weighted sums are sgemm calls per (row, head); the probabilities are kept
 * for the backward pass. CPU twin of the CUDA attention kernels. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include "model.h"
#include "vexp.h"

/* The products skip what causality zeroes: rows are taken in blocks of BLK, and a block of query
 * rows [r0, r0 + m) meets only keys [0, r0 + m) (and a block of key rows [c0, c0 + m) only queries
 * [c0, T)). At T = 4096 that is nearly half of attention's arithmetic. */
#define BLK 64
static int blk_rows(int r0, int T) { return T - r0 < BLK ? T - r0 : BLK; }

static int visible(const int32_t *seg, int i, int j)
{
	return j <= i && (!seg || seg[i] == seg[j]);
}

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       const int32_t *seg, int B, int T, int H, int KVH, int hd)
{
	int D = H * hd, KVD = KVH * hd, rep = H / KVH;
	float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(static) if((size_t)B * H * T * T * hd > PAR_MIN_WORK)
	for (int bh = 0; bh < B * H; bh++) {
		int b = bh / H, h = bh % H;
		const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
		const float *qp = q + (size_t)b * T * D + (size_t)h * hd;
		const float *kp = k + (size_t)b * T * KVD + (size_t)(h / rep) * hd;
		const float *vp = v + (size_t)b * T * KVD + (size_t)(h / rep) * hd;
		float *P = att + ((size_t)b * H + h) * T * T;
		for (int r0 = 0; r0 < T; r0 += BLK) {
			int m = blk_rows(r0, T);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, r0 + m, hd, scale, qp + (size_t)r0 * D, D, kp, KVD,
			            0.0f, P + (size_t)r0 * T, T);
		}
		/* (row i's columns past the diagonal are set to 0 below, computed or not) */
		for (int i = 0; i < T; i++) {
			float *row = P + (size_t)i * T;
			float mx = -INFINITY;
			if (!sg)
				mx = train_maxf(row, i + 1);
			else
				for (int j = 0; j <= i; j++)
					if (visible(sg, i, j) && row[j] > mx)
						mx = row[j];
			/* the causal part in eight running sums (fixed order; vectorizes), the future is 0 */
			double s8[8] = { 0 };
			int c = 0;
			for (; c + 8 <= i + 1; c += 8)
				for (int l8 = 0; l8 < 8; l8++) {
					float e = !sg || sg[i] == sg[c + l8] ? train_expf(row[c + l8] - mx) : 0.0f;
					row[c + l8] = e;
					s8[l8] += e;
				}
			for (int l8 = 0; c <= i; c++, l8++) {
				float e = !sg || sg[i] == sg[c] ? train_expf(row[c] - mx) : 0.0f;
				row[c] = e;
				s8[l8] += e;
			}
			for (; c < T; c++)
				row[c] = 0.0f;
			double s = train_sum8(s8);
			float inv = (float)(1.0 / s);
			for (int j = 0; j <= i; j++)
				row[j] *= inv;
		}
		float *op = out + (size_t)b * T * D + (size_t)h * hd;
		for (int r0 = 0; r0 < T; r0 += BLK) {
			int m = blk_rows(r0, T);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd, r0 + m, 1.0f, P + (size_t)r0 * T, T, vp, KVD,
			            0.0f, op + (size_t)r0 * D, D);
		}
	}
}

void attention_backward(float *d_q, float *d_k, float *d_v, float *d_att, const float *d_out,
                        const float *q, const float *k, const float *v, const float *att,
                        int B, int T, int H, int KVH, int hd)
{
	int D = H * hd, KVD = KVH * hd, rep = H / KVH;
	float scale = 1.0f / sqrtf((float)hd);
	/* parallel over (row, kv head): the query heads sharing a kv head add into the same dK/dV, so
	 * they run in order on one thread; d_att holds one T x T scratch per thread */
#pragma omp parallel for schedule(static) if((size_t)B * H * T * T * hd > PAR_MIN_WORK)
	for (int bk = 0; bk < B * KVH; bk++) {
		int b = bk / KVH, kvh = bk % KVH;
		float *dP = d_att + (size_t)omp_get_thread_num() * T * T;
		for (int h = kvh * rep; h < (kvh + 1) * rep; h++) {
			size_t qo = (size_t)b * T * D + (size_t)h * hd;
			size_t ko = (size_t)b * T * KVD + (size_t)kvh * hd;
			const float *P = att + ((size_t)b * H + h) * T * T;
			/* dP = dO V^T (on and below the diagonal blocks); dV += P^T dO */
			for (int r0 = 0; r0 < T; r0 += BLK) {
				int m = blk_rows(r0, T);
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, r0 + m, hd, 1.0f, d_out + qo + (size_t)r0 * D, D,
				            v + ko, KVD, 0.0f, dP + (size_t)r0 * T, T);
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, hd, T - r0, 1.0f, P + (size_t)r0 * T + r0, T,
				            d_out + qo + (size_t)r0 * D, D, 1.0f, d_v + ko + (size_t)r0 * KVD, KVD);
			}
			/* softmax backward: dS = P (dP - sum_j P dP) */
			for (int i = 0; i < T; i++) {
				const float *p = P + (size_t)i * T;
				float *dp = dP + (size_t)i * T;
				double d8[8] = { 0 };
				int c = 0;
				for (; c + 8 <= i + 1; c += 8)
					for (int l8 = 0; l8 < 8; l8++)
						d8[l8] += (double)p[c + l8] * dp[c + l8];
				for (int l8 = 0; c <= i; c++, l8++)
					d8[l8] += (double)p[c] * dp[c];
				float fd = (float)train_sum8(d8);
				for (int j = 0; j < T; j++)
					dp[j] = j <= i ? p[j] * (dp[j] - fd) : 0.0f;
			}
			/* dQ += scale dS K; dK += scale dS^T Q */
			for (int r0 = 0; r0 < T; r0 += BLK) {
				int m = blk_rows(r0, T);
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd, r0 + m, scale, dP + (size_t)r0 * T, T, k + ko,
				            KVD, 1.0f, d_q + qo + (size_t)r0 * D, D);
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, hd, T - r0, scale, dP + (size_t)r0 * T + r0, T,
				            q + qo + (size_t)r0 * D, D, 1.0f, d_k + ko + (size_t)r0 * KVD, KVD);
			}
		}
	}
}
