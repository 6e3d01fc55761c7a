/* test_annotate_stats.c - units of the evaluation statistics: Gwet's AC1/AC2 against the
 * definitions (Gwet 2008) recomputed here in their pairwise form on hand-made tables, including
 * the degenerate ones; the bootstrap's CIs against the normal approximation and exact cases; the
 * side-by-side key mapping from left/right to A/B both ways. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include "../../annotate/annotate.h"

/* Reference: agreement as the mean over items (with >= 2 raters) of the mean weight over ordered
 * pairs of different raters; chance agreement from the category shares averaged per item; weights
 * written out from their definition. Labels lab[i][j] in 0..q-1, -1 for "did not rate". */
static double weight_ref(int kind, int q, int k, int l)
{
	if (kind == 0)
		return k == l;
	int d = abs(k - l);
	return 1.0 - (double)((d + 1) * d / 2) / (double)(q * (q - 1) / 2);
}

static double ac_ref(int kind, int q, int n, int m, const int lab[][8])
{
	double pa = 0, pi[8] = { 0 };
	int n_pa = 0, n_pi = 0;
	for (int i = 0; i < n; i++) {
		int r = 0;
		for (int j = 0; j < m; j++)
			r += lab[i][j] >= 0;
		if (r == 0)
			continue;
		n_pi++;
		for (int j = 0; j < m; j++)
			if (lab[i][j] >= 0)
				pi[lab[i][j]] += 1.0 / r;
		if (r < 2)
			continue;
		double s = 0;
		int pairs = 0;
		for (int x = 0; x < m; x++)
			for (int y = 0; y < m; y++)
				if (x != y && lab[i][x] >= 0 && lab[i][y] >= 0) {
					s += weight_ref(kind, q, lab[i][x], lab[i][y]);
					pairs++;
				}
		pa += s / pairs;
		n_pa++;
	}
	pa /= n_pa;
	double tw = 0, pe = 0;
	for (int k = 0; k < q; k++) {
		for (int l = 0; l < q; l++)
			tw += weight_ref(kind, q, k, l);
		double p = pi[k] / n_pi;
		pe += p * (1 - p);
	}
	pe *= tw / (q * (q - 1.0));
	return (pa - pe) / (1 - pe);
}

static void to_counts(int q, int n, int m, const int lab[][8], int *counts)
{
	for (int i = 0; i < n * q; i++)
		counts[i] = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < m; j++)
			if (lab[i][j] >= 0)
				counts[i * q + lab[i][j]]++;
}

static double ac(int kind, int q, int n, int m, const int lab[][8])
{
	int counts[64 * 7];
	double w[49];
	to_counts(q, n, m, lab, counts);
	if (kind == 0)
		ann_weights_identity(q, w);
	else
		ann_weights_ordinal(q, w);
	return ann_gwet_ac(counts, (size_t)n, q, w);
}

Test(annotate_gwet, ac1_and_ac2_match_the_definitions_on_a_seven_point_table)
{
	/* 8 prompts, 3 raters, Llama 2's 7-point scale (0 = A much better .. 6 = B much better). */
	static const int lab[8][8] = { { 0, 1, 1 }, { 3, 3, 4 }, { 6, 5, 6 }, { 2, 2, 2 },
	                               { 1, 4, 3 }, { 3, 3, 3 }, { 5, 6, 4 }, { 0, 0, 2 } };
	cr_assert_float_eq(ac(0, 7, 8, 3, lab), ac_ref(0, 7, 8, 3, lab), 1e-12);
	cr_assert_float_eq(ac(1, 7, 8, 3, lab), ac_ref(1, 7, 8, 3, lab), 1e-12);
	/* Ordinal weights credit near misses: AC2 above AC1 here. */
	cr_assert(ac(1, 7, 8, 3, lab) > ac(0, 7, 8, 3, lab));
}

Test(annotate_gwet, ac1_by_hand_on_a_two_category_table)
{
	/* 4 items, 2 raters, 2 categories: agree, agree, agree, disagree. pa = 3/4.
	 * pi = ((1+1+0+0.5)/4, (0+0+1+0.5)/4) = (0.625, 0.375); pe = 2/(2*1) * 2*0.625*0.375 = 0.46875.
	 * AC1 = (0.75 - 0.46875) / (1 - 0.46875) = 0.52941176... */
	static const int lab[4][8] = { { 0, 0 }, { 0, 0 }, { 1, 1 }, { 0, 1 } };
	cr_assert_float_eq(ac(0, 2, 4, 2, lab), 0.28125 / 0.53125, 1e-12);
}

Test(annotate_gwet, all_raters_agreeing_on_one_category_is_perfect_agreement)
{
	/* Kappa's paradox: Fleiss is undefined (chance agreement 1), AC1 and AC2 are 1. */
	static const int lab[5][8] = { { 4, 4, 4 }, { 4, 4, 4 }, { 4, 4, 4 }, { 4, 4, 4 }, { 4, 4, 4 } };
	int counts[5 * 5];
	to_counts(5, 5, 3, lab, counts);
	cr_assert_float_eq(ac(0, 5, 5, 3, lab), 1.0, 1e-12);
	cr_assert_float_eq(ac(1, 5, 5, 3, lab), 1.0, 1e-12);
	cr_assert(isnan(ann_fleiss_kappa(counts, 5, 5)));
}

Test(annotate_gwet, items_with_fewer_than_two_raters_count_only_in_chance_agreement)
{
	static const int lab[5][8] = { { 0, 0, -1 }, { 1, 2, 2 }, { 3, -1, -1 }, { 4, 4, 3 }, { -1, -1, -1 } };
	cr_assert_float_eq(ac(0, 5, 5, 3, lab), ac_ref(0, 5, 5, 3, lab), 1e-12);
	cr_assert_float_eq(ac(1, 5, 5, 3, lab), ac_ref(1, 5, 5, 3, lab), 1e-12);
	/* Dropping the single-rated item changes pi, hence the value. */
	static const int lab2[3][8] = { { 0, 0, -1 }, { 1, 2, 2 }, { 4, 4, 3 } };
	cr_assert(fabs(ac(0, 5, 3, 3, lab2) - ac(0, 5, 5, 3, lab)) > 1e-6);
}

Test(annotate_gwet, undefined_without_two_raters_or_two_categories)
{
	static const int lab[3][8] = { { 0, -1 }, { 1, -1 }, { 2, -1 } };
	cr_assert(isnan(ac(0, 5, 3, 2, lab)));
	int one[2] = { 2, 3 };
	double w[1] = { 1 };
	cr_assert(isnan(ann_gwet_ac(one, 2, 1, w)));
}

Test(annotate_gwet, ordinal_weights_follow_gwet)
{
	double w[49];
	ann_weights_ordinal(7, w);
	/* C(7,2) = 21: neighbours 1 - 1/21, two apart 1 - 3/21, the ends 0. */
	cr_assert_float_eq(w[0 * 7 + 1], 20.0 / 21.0, 1e-12);
	cr_assert_float_eq(w[2 * 7 + 4], 18.0 / 21.0, 1e-12);
	cr_assert_float_eq(w[0 * 7 + 6], 0.0, 1e-12);
	cr_assert_float_eq(w[3 * 7 + 3], 1.0, 1e-12);
	cr_assert_float_eq(w[5 * 7 + 2], w[2 * 7 + 5], 1e-15);
}

/* ------------------------------------------------------------------ bootstrap */

Test(annotate_bootstrap, a_constant_sample_has_a_zero_width_interval)
{
	double x[10], lo, hi;
	for (int i = 0; i < 10; i++)
		x[i] = 0.25;
	cr_assert_eq(ann_bootstrap_ci(x, 10, 500, 7, &lo, &hi), 0);
	cr_assert_float_eq(lo, 0.25, 1e-15);
	cr_assert_float_eq(hi, 0.25, 1e-15);
	cr_assert_eq(ann_bootstrap_ci(x, 0, 500, 7, &lo, &hi), 0);
	cr_assert(isnan(lo) && isnan(hi));
}

Test(annotate_bootstrap, agrees_with_the_normal_approximation_on_a_large_sample)
{
	/* 400 prompts, 120 wins: p = 0.3, standard error sqrt(p(1-p)/n) = 0.02291; 95% half-width 0.0449. */
	double x[400], lo, hi;
	for (int i = 0; i < 400; i++)
		x[i] = (i * 7) % 10 < 3;
	cr_assert_eq(ann_bootstrap_ci(x, 400, 4000, 1, &lo, &hi), 0);
	double half = 1.959964 * sqrt(0.3 * 0.7 / 400);
	cr_assert_float_eq(lo, 0.3 - half, 0.006, "lo %f", lo);
	cr_assert_float_eq(hi, 0.3 + half, 0.006, "hi %f", hi);
}

Test(annotate_bootstrap, the_seed_decides_and_is_reproducible)
{
	double x[50], a, b, c, d, e, f;
	for (int i = 0; i < 50; i++)
		x[i] = (i * 13) % 7;
	ann_bootstrap_ci(x, 50, 300, 42, &a, &b);
	ann_bootstrap_ci(x, 50, 300, 42, &c, &d);
	ann_bootstrap_ci(x, 50, 300, 43, &e, &f);
	cr_assert(a == c && b == d);
	cr_assert(a != e || b != f);
}

Test(annotate_bootstrap, percentiles_interpolate_linearly)
{
	static const double s[5] = { 1, 2, 4, 8, 16 };
	cr_assert_float_eq(ann_percentile(s, 5, 0.0), 1, 1e-15);
	cr_assert_float_eq(ann_percentile(s, 5, 0.5), 4, 1e-15);
	cr_assert_float_eq(ann_percentile(s, 5, 0.625), 6, 1e-15); /* h = 2.5 */
	cr_assert_float_eq(ann_percentile(s, 5, 1.0), 16, 1e-15);
}

/* ------------------------------------------------------------------ side-by-side keys */

Test(annotate_sbs, keys_map_from_left_right_to_a_b_both_ways)
{
	for (int k = 1; k <= 7; k++) {
		cr_assert_eq(ann_sbs_score_from_key(k, 0), k);     /* A on the left: LEFT = A */
		cr_assert_eq(ann_sbs_score_from_key(k, 1), 8 - k); /* B on the left: LEFT much better = B much better */
	}
	cr_assert_eq(ann_sbs_score_from_key(0, 0), 0);
	cr_assert_eq(ann_sbs_score_from_key(8, 1), 0);
	cr_assert_str_eq(ann_sbs_key_label(4), "about the same");
	cr_assert_null(ann_rating_label(6));
}
