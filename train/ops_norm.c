/* ops_norm.c - RMSNorm (Llama's pre-norm, no mean subtraction, no bias) and the residual add.
 * CPU twins of the CUDA kernels; sums are in double per row so results do not depend on threads. */
#include <math.h>
#include "model.h"
#include "vexp.h"

/* sum of a[j] * b[j] (* c[j] when c) in double, in eight running sums: a fixed order (the same bits
 * for any thread count) that lets the loop vectorize, where one sum is a chain of dependent adds */
static double dot8(const float *a, const float *b, const float *c, int n)
{
	double s8[8] = { 0 };
	int j = 0;
	for (; j + 8 <= n; j += 8)
		for (int k = 0; k < 8; k++)
			s8[k] += (double)a[j + k] * b[j + k] * (c ? c[j + k] : 1.0f);
	for (int k = 0; j < n; j++, k++)
		s8[k] += (double)a[j] * b[j] * (c ? c[j] : 1.0f);
	return train_sum8(s8);
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int D, float eps)
{
#pragma omp parallel for schedule(static) if((size_t)N * D > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * D;
		float *o = out + (size_t)i * D;
		double ss = dot8(x, x, NULL, D);
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
		double dot = dot8(weight, dy, x, D);
		float c = (float)(dot * r * r * r / D);
		for (int j = 0; j < D; j++)
			dx[j] += r * weight[j] * dy[j] - x[j] * c;
	}
	/* the weight gradient sums over rows: parallel over blocks of 16 columns, each column's rows in
	 * order (so the bits do not depend on threads), the 16 columns side by side (vectorizes) */
	enum { CB = 16 };
#pragma omp parallel for schedule(static) if((size_t)N * D > PAR_MIN_WORK)
	for (int j0 = 0; j0 < D; j0 += CB) {
		int w = D - j0 < CB ? D - j0 : CB;
		double acc[CB] = { 0 };
		for (int i = 0; i < N; i++) {
			const float *dyr = d_out + (size_t)i * D + j0, *xr = inp + (size_t)i * D + j0;
			double r = rstd[i];
			for (int k = 0; k < w; k++)
				acc[k] += (double)dyr[k] * xr[k] * r;
		}
		for (int k = 0; k < w; k++)
			d_weight[j0 + k] += (float)acc[k];
	}
}

void residual_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static) if(n > PAR_MIN_WORK)
	for (size_t i = 0; i < n; i++)
		out[i] = a[i] + b[i];
}
