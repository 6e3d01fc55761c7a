/* ops_norm.c - RMSNorm (Llama's pre-norm, no mean subtraction, no bias) and the residual add.
 * CPU twins of the CUDA kernels; sums are in double per row so results do not depend on threads. */
#include <math.h>
#include "model.h"

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int D, float eps)
{
#pragma omp parallel for schedule(static) if((size_t)N * D > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * D;
		float *o = out + (size_t)i * D;
		double ss = 0;
		for (int j = 0; j < D; j++)
			ss += (double)x[j] * x[j];
		float r = (float)(1.0 / sqrt(ss / D + eps));
		for (int j = 0; j < D; j++)
			o[j] = x[j] * r * weight[j];
		rstd[i] = r;
	}
}

/* y = w * x * r, r = (mean(x^2)+eps)^-1/2:
 * dx = r * (w*dy) - x * r^3 / D * sum(w*dy*x);  dw = sum over rows of dy * x * r. */
void rmsnorm_backward(float *d_inp, float *d_weight, const float *d_out, const float *inp,
                      const float *weight, const float *rstd, int N, int D)
{
#pragma omp parallel for schedule(static) if((size_t)N * D > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * D, *dy = d_out + (size_t)i * D;
		float *dx = d_inp + (size_t)i * D;
		float r = rstd[i];
		double dot = 0;
		for (int j = 0; j < D; j++)
			dot += (double)weight[j] * dy[j] * x[j];
		float c = (float)(dot * r * r * r / D);
		for (int j = 0; j < D; j++)
			dx[j] += r * weight[j] * dy[j] - x[j] * c;
	}
	/* the weight gradient sums over rows: parallel over columns, rows in order */
#pragma omp parallel for schedule(static) if((size_t)N * D > PAR_MIN_WORK)
	for (int j = 0; j < D; j++) {
		double acc = 0;
		for (int i = 0; i < N; i++)
			acc += (double)d_out[(size_t)i * D + j] * inp[(size_t)i * D + j] * rstd[i];
		d_weight[j] += (float)acc;
	}
}

void residual_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static) if(n > PAR_MIN_WORK)
	for (size_t i = 0; i < n; i++)
		out[i] = a[i] + b[i];
}
