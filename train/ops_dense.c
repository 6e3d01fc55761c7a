/* ops_dense.c - the dense ops of the trainer: token embedding lookup and linear maps (OpenBLAS sgemm).
 * CPU twins of the CUDA kernels (same argument order); backward adds into its gradients. */
#include <cblas.h>
#include <string.h>
#include "model.h"

void encoder_forward(float *out, const int32_t *tokens, const float *wte, int N, int D)
{
#pragma omp parallel for schedule(static)
	for (int i = 0; i < N; i++)
		memcpy(out + (size_t)i * D, wte + (size_t)tokens[i] * D, (size_t)D * sizeof(float));
}

/* Serial on purpose: two positions with the same token add into one row, and a fixed order keeps
 * the sums bit-identical from run to run. */
void encoder_backward(float *d_wte, const float *d_out, const int32_t *tokens, int N, int D)
{
	for (int i = 0; i < N; i++) {
		float *dst = d_wte + (size_t)tokens[i] * D;
		const float *src = d_out + (size_t)i * D;
		for (int j = 0; j < D; j++)
			dst[j] += src[j];
	}
}

void matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
}

void matmul_backward(float *d_inp, float *d_weight, const float *d_out, const float *inp,
                     const float *weight, int N, int C, int OC)
{
	/* d_inp[N,C] += d_out[N,OC] W[OC,C] */
	if (d_inp)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, d_out, OC, weight, C, 1.0f, d_inp, C);
	/* d_W[OC,C] += d_out^T[OC,N] inp[N,C] */
	if (d_weight)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, d_out, OC, inp, C, 1.0f, d_weight, C);
}
