/* ops_rope.c - rotary position embeddings in HuggingFace's layout: dimension i pairs with i + hd/2
 * (rotate_half), frequency theta^(-2i/hd). The backward pass is the inverse rotation. */
#include "model.h"

static void rotate(float *x, const int32_t *pos, const float *cos_t, const float *sin_t,
                   int N, int n_heads, int hd, float sign)
{
	int half = hd / 2;
#pragma omp parallel for schedule(static) if((size_t)N * n_heads * hd > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		const float *c = cos_t + (size_t)pos[i] * half, *s = sin_t + (size_t)pos[i] * half;
		for (int h = 0; h < n_heads; h++) {
			float *v = x + ((size_t)i * n_heads + h) * hd;
			for (int j = 0; j < half; j++) {
				float a = v[j], b = v[j + half], sn = sign * s[j];
				v[j] = a * c[j] - b * sn;
				v[j + half] = b * c[j] + a * sn;
			}
		}
	}
}

void rope_forward(float *x, const int32_t *pos, const float *cos_t, const float *sin_t, int N, int n_heads, int head_dim)
{
	rotate(x, pos, cos_t, sin_t, N, n_heads, head_dim, 1.0f);
}

void rope_backward(float *d_x, const int32_t *pos, const float *cos_t, const float *sin_t, int N, int n_heads, int head_dim)
{
	rotate(d_x, pos, cos_t, sin_t, N, n_heads, head_dim, -1.0f);
}
