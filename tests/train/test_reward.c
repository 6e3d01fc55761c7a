/* test_reward.c - Llama 2's reward gate as a table (is_safety, R_s below/at/above 0.15, one model or
 * both), sigmoid/logit round trips, and batch whitening's statistics (population variance, eps). */
#include <criterion/criterion.h>
#include <math.h>
#include "../../train/reward.h"

Test(reward, gate_table_follows_llama2)
{
	static const struct { int has_h; double rh; int has_s; double rs; int safety; double want; } rows[] = {
		{ 1, 0.9, 1, 0.5, 0, 0.9 },   /* helpful prompt, safe answer: R_h */
		{ 1, 0.9, 1, 0.5, 1, 0.5 },   /* safety prompt: R_s whatever R_h */
		{ 1, 0.9, 1, 0.1, 0, 0.1 },   /* unsafe answer (R_s < 0.15) to a helpful prompt: R_s */
		{ 1, 0.9, 1, 0.15, 0, 0.9 },  /* at the threshold: not below, R_h */
		{ 1, 0.2, 1, 0.149, 0, 0.149 },
		{ 1, 0.1, 1, 0.99, 1, 0.99 },
		{ 1, 0.7, 0, NAN, 1, 0.7 },   /* one model: its score, even for a safety prompt */
		{ 0, NAN, 1, 0.05, 0, 0.05 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		cr_expect_eq(reward_gate(rows[i].has_h, rows[i].rh, rows[i].has_s, rows[i].rs, rows[i].safety, 0.15), rows[i].want,
		             "row %zu", i);
	cr_expect(isnan(reward_gate(0, 0.5, 0, 0.5, 0, 0.15)));
	cr_expect_eq(reward_gate(1, 0.9, 1, 0.3, 0, 0.5), 0.3, "the threshold is a parameter");
}

Test(reward, logit_inverts_sigmoid)
{
	for (double s = -20; s <= 20; s += 0.5)
		cr_expect(fabs(reward_logit(reward_sigmoid(s)) - s) < 1e-6 * (1 + fabs(s)), "s=%g", s);
	cr_expect_eq(reward_sigmoid(0), 0.5);
	cr_expect(reward_sigmoid(-800) >= 0 && reward_sigmoid(800) == 1.0, "no overflow");
	cr_expect(isfinite(reward_logit(0)) && isfinite(reward_logit(1)), "clamped ends");
}

Test(reward, whitening_uses_population_variance_and_eps)
{
	float x[4] = { 1, 2, 3, 6 };
	double mean = 3, var = (4 + 1 + 0 + 9) / 4.0; /* divided by n */
	reward_whiten(x, 4, 1e-8);
	double want[4] = { (1 - mean) / sqrt(var + 1e-8), (2 - mean) / sqrt(var + 1e-8), 0, (6 - mean) / sqrt(var + 1e-8) };
	for (int i = 0; i < 4; i++)
		cr_expect(fabs(x[i] - want[i]) < 1e-6, "x[%d] = %g, want %g", i, x[i], want[i]);
	float c[3] = { 5, 5, 5 };
	reward_whiten(c, 3, 1e-8);
	cr_expect(c[0] == 0 && c[1] == 0 && c[2] == 0, "a constant batch whitens to zeros, not NaN");
	float one[1] = { 7 };
	reward_whiten(one, 1, 1e-8);
	cr_expect_eq(one[0], 0);
}

Test(reward, best_of_k_is_mean_of_max_and_median_of_first_k)
{
	/* two prompts, K = 4 */
	double r[8] = { 0.1, 0.9, 0.3, 0.5, 0.4, 0.2, 0.8, 0.6 };
	double mx, md;
	reward_best_of_k(r, 2, 4, 1, &mx, &md);
	cr_expect(fabs(mx - 0.25) < 1e-12 && fabs(md - 0.25) < 1e-12);
	reward_best_of_k(r, 2, 4, 2, &mx, &md);
	cr_expect(fabs(mx - (0.9 + 0.4) / 2) < 1e-12 && fabs(md - (0.5 + 0.3) / 2) < 1e-12, "%g %g", mx, md);
	reward_best_of_k(r, 2, 4, 4, &mx, &md);
	cr_expect(fabs(mx - (0.9 + 0.8) / 2) < 1e-12 && fabs(md - (0.4 + 0.5) / 2) < 1e-12, "%g %g", mx, md);
}
