/* ops_dense.c - the dense ops of the trainer: token embedding lookup and linear maps (OpenBLAS sgemm).
 * CPU twins of the CUDA kernels (same argument order); backward adds into its gradients. */
#include <cblas.h>
#include <omp.h>
#include <string.h>
#include "model.h"

void encoder_forward(float *out, const int32_t *tokens, const float *wte, int N, int D)
{
#pragma omp parallel for schedule(static) if((size_t)N * D > PAR_MIN_WORK)
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

/* Threads: OpenBLAS runs single-threaded (model_init sets it) and the work is split here with
 * OpenMP, so only one thread pool exists. Two pools (OpenBLAS's spinning pthreads and OpenMP's)
 * fight over the cores, which on a busy 2-core machine made a step ten times slower. Each thread
 * takes a fixed slice, so results do not depend on scheduling. */
static void split(int n, int *a, int *b)
{
	int nt = omp_get_num_threads(), t = omp_get_thread_num();
	*a = (int)((long)n * t / nt);
	*b = (int)((long)n * (t + 1) / nt);
}

void matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC)
{
	if (N >= 4 * omp_get_max_threads()) {
#pragma omp parallel if((size_t)N * C * OC > 16 * PAR_MIN_WORK)
		{
			int a, b;
			split(N, &a, &b);
			if (b > a)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b - a, OC, C, 1.0f, inp + (size_t)a * C, C,
				            weight, C, 0.0f, out + (size_t)a * OC, OC);
		}
	} else {
#pragma omp parallel if((size_t)N * C * OC > 16 * PAR_MIN_WORK)
		{
			int a, b;
			split(OC, &a, &b);
			if (b > a)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, b - a, C, 1.0f, inp, C,
				            weight + (size_t)a * C, C, 0.0f, out + a, OC);
		}
	}
}

void matmul_backward(float *d_inp, int acc_inp, float *d_weight, const float *d_out, const float *inp,
                     const float *weight, int N, int C, int OC)
{
#pragma omp parallel if((size_t)N * C * OC > 16 * PAR_MIN_WORK)
	{
		int a, b;
		/* d_inp[N,C] (+)= d_out[N,OC] W[OC,C], rows of N per thread */
		split(N, &a, &b);
		if (d_inp && b > a)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b - a, C, OC, 1.0f, d_out + (size_t)a * OC, OC,
			            weight, C, acc_inp ? 1.0f : 0.0f, d_inp + (size_t)a * C, C);
		/* d_W[OC,C] += d_out^T[OC,N] inp[N,C], rows of OC per thread */
		split(OC, &a, &b);
		if (d_weight && b > a)
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b - a, C, N, 1.0f, d_out + a, OC, inp, C, 1.0f,
			            d_weight + (size_t)a * C, C);
	}
}
