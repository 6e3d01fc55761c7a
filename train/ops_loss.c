/* ops_loss.c - next-token cross-entropy (with ignored targets, for padding and SFT prompt tokens)
 * and Llama 2's reward-model ranking loss with a margin. */
#include <math.h>
#include "model.h"
#include "vexp.h"

/* log sum exp of a row: max-shifted float exponentials summed in double, in eight running sums (a
 * fixed order, so the same bits for any thread count; one sum would be a chain that cannot vectorize) */
static float row_lse(const float *z, int V)
{
	float mx = train_maxf(z, V);
	double s8[8] = { 0 };
	int j = 0;
	for (; j + 8 <= V; j += 8)
		for (int k = 0; k < 8; k++)
			s8[k] += train_expf(z[j + k] - mx);
	for (int k = 0; j < V; j++, k++)
		s8[k] += train_expf(z[j] - mx);
	double s = train_sum8(s8);
	return mx + (float)log(s);
}

void crossentropy_forward(float *losses, float *lse, const float *logits, const int32_t *targets, int N, int V)
{
#pragma omp parallel for schedule(static) if((size_t)N * V > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		const float *z = logits + (size_t)i * V;
		lse[i] = targets[i] < 0 ? 0.0f : row_lse(z, V);
		losses[i] = targets[i] < 0 ? 0.0f : lse[i] - z[targets[i]];
	}
}

void crossentropy_backward(float *logits, const float *lse, const int32_t *targets, float dloss, int N, int V)
{
#pragma omp parallel for schedule(static) if((size_t)N * V > PAR_MIN_WORK)
	for (int i = 0; i < N; i++) {
		float *z = logits + (size_t)i * V;
		if (targets[i] < 0) {
			for (int j = 0; j < V; j++)
				z[j] = 0;
			continue;
		}
		float l = lse[i];
		for (int j = 0; j < V; j++)
			z[j] = dloss * train_expf(z[j] - l);
		z[targets[i]] -= dloss;
	}
}

void crossentropy_backward_weighted(float *logits, const float *lse, const int32_t *targets, const float *w, int N, int V)
{
#pragma omp parallel for schedule(static) if((size_t)N * V > PAR_MIN_WORK)
	for (int i = 0; i < N; i++)
		crossentropy_backward(logits + (size_t)i * V, lse + i, targets + i, targets[i] < 0 ? 0.0f : w[i], 1, V);
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
