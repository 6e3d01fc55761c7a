/* cuda_bf16.h - stand-in for __nv_bfloat16 in the emulation build (issue 16): 16 bits, the upper half
 * of an IEEE float; float -> bf16 rounds to nearest, ties to even, as __float2bfloat16_rn does (NaN
 * becomes the canonical 0x7FFF like CUDA's); bf16 -> float is exact. Arithmetic goes through float,
 * as the kernels only convert. */
#ifndef SPINDLE_EMU_CUDA_BF16_H
#define SPINDLE_EMU_CUDA_BF16_H

#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
	uint16_t x;
};
typedef __nv_bfloat16 nv_bfloat16;

static inline __nv_bfloat16 __float2bfloat16_rn(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	__nv_bfloat16 h;
	if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
		h.x = 0x7FFF;
		return h;
	}
	u += 0x7FFFu + ((u >> 16) & 1u);
	h.x = (uint16_t)(u >> 16);
	return h;
}

static inline float __bfloat162float(__nv_bfloat16 h)
{
	uint32_t u = (uint32_t)h.x << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
static inline float __low2float(__nv_bfloat16 h) { return __bfloat162float(h); }

#endif
