/* ops_loss.c - next-token cross-entropy (with ignored targets, for padding and SFT prompt tokens)
 * and Llama 2's reward-model ranking loss with a margin. */
#include <math.h>
#include "model.h"

void crossentropy_forward(float *losses, const float *logits, const int32_t *targets, int N, int V)
{
#pragma omp parallel for schedule(static) if((size_t)N * V > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		if (targets[i] < 0) {
			losses[i] = 0;
			continue;
		}
		const float *z = logits + (size_t)i * V;
		float mx = z[0];
		for (int j = 1; j < V; j++)
			mx = z[j] > mx ? z[j] : mx;
		double s = 0;
		for (int j = 0; j < V; j++)
			s += exp((double)z[j] - mx);
		losses[i] = (float)(log(s) + mx - z[targets[i]]);
	}
}

void crossentropy_backward(float *logits, const int32_t *targets, float dloss, int N, int V)
{
#pragma omp parallel for schedule(static) if((size_t)N * V > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		float *z = logits + (size_t)i * V;
		if (targets[i] < 0) {
			for (int j = 0; j < V; j++)
				z[j] = 0;
			continue;
		}
		float mx = z[0];
		for (int j = 1; j < V; j++)
			mx = z[j] > mx ? z[j] : mx;
		double s = 0;
		for (int j = 0; j < V; j++)
			s += exp((double)z[j] - mx);
		float inv = (float)(1.0 / s);
		for (int j = 0; j < V; j++)
			z[j] = dloss * expf(z[j] - mx) * inv;
		z[targets[i]] -= dloss;
	}
}

/* -log sigmoid(x) = log(1 + e^-x), computed without overflow; its derivative is -sigmoid(-x). */
float rm_loss(const float *r_chosen, const float *r_rejected, const float *margin, int n,
              float *d_chosen, float *d_rejected)
{
	double total = 0;
	for (int i = 0; i < n; i++) {
		double x = (double)r_chosen[i] - r_rejected[i] - (margin ? margin[i] : 0);
		total += x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
		double g = -1.0 / (1.0 + exp(x)) / n;
		if (d_chosen)
			d_chosen[i] = (float)g;
		if (d_rejected)
			d_rejected[i] = (float)-g;
	}
	return n ? (float)(total / n) : 0.0f;
}
