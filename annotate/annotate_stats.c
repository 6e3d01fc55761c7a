/* annotate_stats.c - the statistics of evaluation studies: Gwet's AC1/AC2 agreement coefficients
 * (Gwet 2008, "Computing inter-rater reliability and its variance in the presence of high
 * agreement"), and the seeded percentile bootstrap used for every confidence interval of
 * `annotate report --eval` and `train winrate`. Pure functions: no database, no I/O. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "annotate.h"
#include "spindle/mem.h"

void ann_weights_identity(int q, double *w)
{
	for (int k = 0; k < q; k++)
		for (int l = 0; l < q; l++)
			w[k * q + l] = k == l;
}

/* Gwet's ordinal weights: w_kl = 1 - M_kl / M_max with M_kl = C(|k-l|+1, 2) = (|k-l|+1)|k-l|/2,
 * so adjacent categories keep most of the credit and the two ends none. */
void ann_weights_ordinal(int q, double *w)
{
	double mmax = (double)q * (double)(q - 1) / 2.0;
	for (int k = 0; k < q; k++)
		for (int l = 0; l < q; l++) {
			double d = fabs((double)(k - l));
			w[k * q + l] = mmax > 0 ? 1.0 - (d + 1.0) * d / 2.0 / mmax : 1.0;
		}
}

double ann_gwet_ac(const int *counts, size_t n_items, int q, const double *w)
{
	if (q < 2 || !w)
		return NAN;
	double *pi = calloc((size_t)q, sizeof *pi);
	if (!pi)
		return NAN;
	double pa = 0, tw = 0;
	size_t n_pa = 0, n_pi = 0;
	for (size_t i = 0; i < n_items; i++) {
		const int *r = counts + i * (size_t)q;
		double ri = 0;
		for (int k = 0; k < q; k++)
			ri += r[k];
		if (ri < 1)
			continue;
		n_pi++;
		for (int k = 0; k < q; k++)
			pi[k] += r[k] / ri;
		if (ri < 2)
			continue;
		double s = 0;
		for (int k = 0; k < q; k++) {
			double rstar = 0;
			for (int l = 0; l < q; l++)
				rstar += w[k * q + l] * r[l];
			s += r[k] * (rstar - 1.0);
		}
		pa += s / (ri * (ri - 1.0));
		n_pa++;
	}
	for (int k = 0; k < q; k++)
		for (int l = 0; l < q; l++)
			tw += w[k * q + l];
	double pe = 0;
	for (int k = 0; k < q && n_pi; k++) {
		double p = pi[k] / (double)n_pi;
		pe += p * (1.0 - p);
	}
	free(pi);
	if (n_pa == 0)
		return NAN;
	pe *= tw / ((double)q * (double)(q - 1));
	pa /= (double)n_pa;
	if (pe >= 1.0)
		return NAN;
	return (pa - pe) / (1.0 - pe);
}

uint64_t ann_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double ann_percentile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return NAN;
	double h = (double)(n - 1) * p;
	size_t lo = (size_t)floor(h);
	if (lo + 1 >= n)
		return sorted[n - 1];
	return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

int ann_bootstrap_ci(const double *x, size_t n, int resamples, uint64_t seed, double *lo, double *hi)
{
	*lo = *hi = NAN;
	if (n == 0 || resamples < 1)
		return 0;
	double *m = sp_malloc((size_t)resamples * sizeof *m);
	if (!m)
		return SP_ENOMEM;
	uint64_t st = seed;
	for (int b = 0; b < resamples; b++) {
		double s = 0;
		for (size_t i = 0; i < n; i++)
			s += x[ann_splitmix64(&st) % n];
		m[b] = s / (double)n;
	}
	qsort(m, (size_t)resamples, sizeof *m, cmp_d);
	*lo = ann_percentile(m, (size_t)resamples, 0.025);
	*hi = ann_percentile(m, (size_t)resamples, 0.975);
	sp_free(m);
	return 0;
}
