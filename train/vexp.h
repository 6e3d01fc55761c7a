/* vexp.h - a float e^x, a row maximum and a fixed-order sum that the compiler can vectorize, for
 * the trainer's reductions, softmax and cross-entropy loops (libm's expf is a call per element:
 * ~6% of a CPU training step went there).
 *
 * e^x = 2^n * e^r with n = round(x / ln 2) and |r| <= ln(2)/2 (ln 2 split in two parts so r is exact
 * to float precision); e^r by its Taylor series to r^7 (truncation below 1.2e-8 relative), 2^n put
 * straight into the exponent bits. x is clamped to [-87.3, 88.3]: below, the result is the smallest
 * normal float's order (callers that need a hard 0 for masked entries write it themselves); above,
 * no overflow. Relative error within a few float ulps (tests/train checks it against libm). */
#ifndef SPINDLE_TRAIN_VEXP_H
#define SPINDLE_TRAIN_VEXP_H

#include <stdint.h>
#include <string.h>

static inline float train_expf(float x)
{
	x = x < -87.3f ? -87.3f : x;
	x = x > 88.3f ? 88.3f : x;
	/* round to nearest by the 1.5 * 2^23 trick (|x / ln 2| < 2^22) */
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-06f;
	float p = 1.0f / 5040;
	p = p * r + 1.0f / 720;
	p = p * r + 1.0f / 120;
	p = p * r + 1.0f / 24;
	p = p * r + 1.0f / 6;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	uint32_t bits = (uint32_t)((int32_t)n + 127) << 23; /* unsigned: a NaN x (n garbage) stays defined, and NaN */
	float scale;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

/* The eight running sums of a reduction, added in a fixed order (the same bits for any thread count). */
static inline double train_sum8(const double s[8])
{
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* The largest of v[0..n) (n >= 1), in eight lanes so the loop vectorizes. */
static inline float train_maxf(const float *v, int n)
{
	float m8[8];
	for (int k = 0; k < 8; k++)
		m8[k] = v[0];
	int j = 0;
	for (; j + 8 <= n; j += 8)
		for (int k = 0; k < 8; k++)
			m8[k] = v[j + k] > m8[k] ? v[j + k] : m8[k];
	float mx = m8[0];
	for (int k = 1; k < 8; k++)
		mx = m8[k] > mx ? m8[k] : mx;
	for (; j < n; j++)
		mx = v[j] > mx ? v[j] : mx;
	return mx;
}

#endif
