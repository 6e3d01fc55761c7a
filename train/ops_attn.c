/* ops_attn.c - causal self-attention with grouped-query heads (head h reads kv head h / (H/KVH), as
 * HuggingFace's repeat_kv) and optional document masking (a token sees only earlier tokens of its own
 * document). Scores and weighted sums are sgemm calls per (row, head); the probabilities are kept
 * for the backward pass. CPU twin of the CUDA attention kernels. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include "model.h"

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
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, qp, D, kp, KVD, 0.0f, P, T);
		for (int i = 0; i < T; i++) {
			float *row = P + (size_t)i * T;
			float mx = -INFINITY;
			for (int j = 0; j <= i; j++)
				if (visible(sg, i, j) && row[j] > mx)
					mx = row[j];
			double s = 0;
			for (int j = 0; j < T; j++) {
				float e = visible(sg, i, j) ? expf(row[j] - mx) : 0.0f;
				row[j] = e;
				s += e;
			}
			float inv = (float)(1.0 / s);
			for (int j = 0; j <= i; j++)
				row[j] *= inv;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, vp, KVD, 0.0f,
		            out + (size_t)b * T * D + (size_t)h * hd, D);
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
			/* dP = dO V^T; dV += P^T dO */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, d_out + qo, D, v + ko, KVD, 0.0f, dP, T);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, d_out + qo, D, 1.0f, d_v + ko, KVD);
			/* softmax backward: dS = P (dP - sum_j P dP) */
			for (int i = 0; i < T; i++) {
				const float *p = P + (size_t)i * T;
				float *dp = dP + (size_t)i * T;
				double dot = 0;
				for (int j = 0; j <= i; j++)
					dot += (double)p[j] * dp[j];
				float fd = (float)dot;
				for (int j = 0; j < T; j++)
					dp[j] = j <= i ? p[j] * (dp[j] - fd) : 0.0f;
			}
			/* dQ += scale dS K; dK += scale dS^T Q */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, dP, T, k + ko, KVD, 1.0f, d_q + qo, D);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, dP, T, q + qo, D, 1.0f, d_k + ko, KVD);
		}
	}
}
