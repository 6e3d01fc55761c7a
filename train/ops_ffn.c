/* ops_ffn.c - SwiGLU: out = silu(gate) * up, silu(x) = x * sigmoid(x). */
#include <math.h>
#include "model.h"

void swiglu_forward(float *out, const float *gate, const float *up, size_t n)
{
#pragma omp parallel for schedule(static) if(n > PAR_MIN_WORK)
	for (size_t i = 0; i < n; i++) {
		float g = gate[i];
		out[i] = g / (1.0f + expf(-g)) * up[i];
	}
}

void swiglu_backward(float *d_gate, float *d_up, const float *d_out, const float *gate, const float *up, size_t n)
{
#pragma omp parallel for schedule(static) if(n > PAR_MIN_WORK)
	for (size_t i = 0; i < n; i++) {
		float g = gate[i], s = 1.0f / (1.0f + expf(-g));
		float silu = g * s;
		d_up[i] = d_out[i] * silu;
		d_gate[i] = d_out[i] * up[i] * s * (1.0f + g * (1.0f - s));
	}
}
