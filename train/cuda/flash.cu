/* flash.cu - fused attention in the flash-attention manner (issue 10, first version): causal, GQA,
 * document masking, bf16 in and out, head size 64 or 128. The forward pass streams the keys with an
 * online softmax (running max and sum, output rescaled as the max grows) and keeps only the row's
 * log-sum-exp; the backward pass recomputes the probabilities from q, k and that log-sum-exp, so no
 * T x T matrix exists in either direction (memory O(T) per head instead of the naive kernel's O(T^2)).
 *
 * Work split: one warp per query row (forward, dQ) or per key row (dK, dV); lanes own head dimensions
 * d = lane + 32 r for the accumulators and key (or query) lane of a 32-wide chunk for the scores.
 * Sums run in a fixed order (no atomics): deterministic. This version uses CUDA cores in fp32; the
 * tensor-core (wgmma) tiling that issue 10's speed targets need is not written yet.
 * NOT YET RUN ON A GPU: written and compiled without one; check-gpu compares it with the naive
 * kernel and the CPU. */
#include <math.h>
#include "common.cuh"
#include "gpu.h"

#define WARPS 4

__device__ __forceinline__ int fvisible(const int32_t *sg, int i, int j)
{
	return j <= i && (!sg || sg[i] == sg[j]);
}

/* forward: warp per (b, h, i) */
template <int HD>
__global__ void flash_forward_kernel(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v,
                                     const int32_t *seg, int B, int T, int H, int KVH, float scale)
{
	constexpr int R = HD / 32;
	__shared__ float qs[WARPS][HD];
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	size_t row = (size_t)blockIdx.x * WARPS + warp;
	if (row >= (size_t)B * H * T)
		return;
	int i = (int)(row % T), h = (int)((row / T) % H), b = (int)(row / ((size_t)T * H));
	int D = H * HD, KVD = KVH * HD, kh = h / (H / KVH);
	const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
	const bf16 *qi = q + ((size_t)b * T + i) * D + (size_t)h * HD;
	const bf16 *kb = k + (size_t)b * T * KVD + (size_t)kh * HD, *vb = v + (size_t)b * T * KVD + (size_t)kh * HD;
	for (int d = lane; d < HD; d += 32)
		qs[warp][d] = __bfloat162float(qi[d]) * scale;
	__syncwarp();
	float m = -INFINITY, l = 0, o[R];
	for (int r = 0; r < R; r++)
		o[r] = 0;
	for (int j0 = 0; j0 <= i; j0 += 32) {
		int j = j0 + lane;
		float s = -INFINITY;
		if (j <= i && fvisible(sg, i, j)) {
			const bf16 *kj = kb + (size_t)j * KVD;
			s = 0;
			for (int d = 0; d < HD; d++)
				s += qs[warp][d] * __bfloat162float(kj[d]);
		}
		float cmax = warp_max(s);
		if (cmax == -INFINITY)
			continue;             /* nothing visible in this chunk */
		float mn = fmaxf(m, cmax), alpha = expf(m - mn), p = s == -INFINITY ? 0.0f : expf(s - mn);
		l = l * alpha + warp_sum(p);
		for (int r = 0; r < R; r++)
			o[r] *= alpha;
		int n = i - j0 + 1 < 32 ? i - j0 + 1 : 32;
		for (int jj = 0; jj < n; jj++) {
			float pj = __shfl_sync(0xffffffffu, p, jj);
			if (pj == 0.0f)
				continue;
			const bf16 *vj = vb + (size_t)(j0 + jj) * KVD;
			for (int r = 0; r < R; r++)
				o[r] += pj * __bfloat162float(vj[lane + 32 * r]);
		}
		m = mn;
	}
	bf16 *oi = out + ((size_t)b * T + i) * D + (size_t)h * HD;
	for (int r = 0; r < R; r++)
		oi[lane + 32 * r] = __float2bfloat16_rn(o[r] / l);
	if (lane == 0)
		lse[row] = m + logf(l);
}

/* Di = dO_i . O_i, warp per row */
template <int HD>
__global__ void flash_dot_kernel(float *Dd, const bf16 *d_out, const bf16 *out, int B, int T, int H)
{
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	size_t row = (size_t)blockIdx.x * WARPS + warp;
	if (row >= (size_t)B * H * T)
		return;
	int i = (int)(row % T), h = (int)((row / T) % H), b = (int)(row / ((size_t)T * H));
	size_t o = ((size_t)b * T + i) * H * HD + (size_t)h * HD;
	float s = 0;
	for (int d = lane; d < HD; d += 32)
		s += __bfloat162float(d_out[o + d]) * __bfloat162float(out[o + d]);
	s = warp_sum(s);
	if (lane == 0)
		Dd[row] = s;
}

/* dQ: warp per (b, h, i): dq = scale sum_j p_ij (dO_i . v_j - D_i) k_j */
template <int HD>
__global__ void flash_dq_kernel(bf16 *d_q, const bf16 *d_out, const bf16 *q, const bf16 *k, const bf16 *v,
                                const float *lse, const float *Dd, const int32_t *seg, int B, int T, int H, int KVH,
                                float scale)
{
	constexpr int R = HD / 32;
	__shared__ float qs[WARPS][HD], dos[WARPS][HD];
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	size_t row = (size_t)blockIdx.x * WARPS + warp;
	if (row >= (size_t)B * H * T)
		return;
	int i = (int)(row % T), h = (int)((row / T) % H), b = (int)(row / ((size_t)T * H));
	int D = H * HD, KVD = KVH * HD, kh = h / (H / KVH);
	const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
	size_t qo = ((size_t)b * T + i) * D + (size_t)h * HD;
	const bf16 *kb = k + (size_t)b * T * KVD + (size_t)kh * HD, *vb = v + (size_t)b * T * KVD + (size_t)kh * HD;
	for (int d = lane; d < HD; d += 32) {
		qs[warp][d] = __bfloat162float(q[qo + d]) * scale;
		dos[warp][d] = __bfloat162float(d_out[qo + d]);
	}
	__syncwarp();
	float L = lse[row], Di = Dd[row], acc[R];
	for (int r = 0; r < R; r++)
		acc[r] = 0;
	for (int j0 = 0; j0 <= i; j0 += 32) {
		int j = j0 + lane;
		float ds = 0;
		if (j <= i && fvisible(sg, i, j)) {
			const bf16 *kj = kb + (size_t)j * KVD, *vj = vb + (size_t)j * KVD;
			float s = 0, dp = 0;
			for (int d = 0; d < HD; d++) {
				s += qs[warp][d] * __bfloat162float(kj[d]);
				dp += dos[warp][d] * __bfloat162float(vj[d]);
			}
			ds = expf(s - L) * (dp - Di);
		}
		int n = i - j0 + 1 < 32 ? i - j0 + 1 : 32;
		for (int jj = 0; jj < n; jj++) {
			float dsj = __shfl_sync(0xffffffffu, ds, jj);
			if (dsj == 0.0f)
				continue;
			const bf16 *kj = kb + (size_t)(j0 + jj) * KVD;
			for (int r = 0; r < R; r++)
				acc[r] += dsj * __bfloat162float(kj[lane + 32 * r]);
		}
	}
	for (int r = 0; r < R; r++)
		d_q[qo + lane + 32 * r] = __float2bfloat16_rn(acc[r] * scale);
}

/* dK, dV: warp per (b, kv head, j), over the group's query heads and rows i >= j */
template <int HD>
__global__ void flash_dkv_kernel(bf16 *d_k, bf16 *d_v, const bf16 *d_out, const bf16 *q, const bf16 *k, const bf16 *v,
                                 const float *lse, const float *Dd, const int32_t *seg, int B, int T, int H, int KVH,
                                 float scale)
{
	constexpr int R = HD / 32;
	__shared__ float ks[WARPS][HD], vs[WARPS][HD];
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	size_t row = (size_t)blockIdx.x * WARPS + warp;
	if (row >= (size_t)B * KVH * T)
		return;
	int j = (int)(row % T), kh = (int)((row / T) % KVH), b = (int)(row / ((size_t)T * KVH));
	int D = H * HD, KVD = KVH * HD, rep = H / KVH;
	const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
	size_t ko = ((size_t)b * T + j) * KVD + (size_t)kh * HD;
	for (int d = lane; d < HD; d += 32) {
		ks[warp][d] = __bfloat162float(k[ko + d]);
		vs[warp][d] = __bfloat162float(v[ko + d]);
	}
	__syncwarp();
	float ak[R], av[R];
	for (int r = 0; r < R; r++)
		ak[r] = av[r] = 0;
	for (int h = kh * rep; h < (kh + 1) * rep; h++) {
		size_t lrow = ((size_t)b * H + h) * T;
		for (int i0 = j; i0 < T; i0 += 32) {
			int i = i0 + lane;
			float p = 0, ds = 0;
			if (i < T && fvisible(sg, i, j)) {
				size_t qo = ((size_t)b * T + i) * D + (size_t)h * HD;
				float s = 0, dp = 0;
				for (int d = 0; d < HD; d++) {
					s += __bfloat162float(q[qo + d]) * ks[warp][d];
					dp += __bfloat162float(d_out[qo + d]) * vs[warp][d];
				}
				p = expf(s * scale - lse[lrow + i]);
				ds = p * (dp - Dd[lrow + i]);
			}
			int n = T - i0 < 32 ? T - i0 : 32;
			for (int ii = 0; ii < n; ii++) {
				float pi = __shfl_sync(0xffffffffu, p, ii), dsi = __shfl_sync(0xffffffffu, ds, ii);
				if (pi == 0.0f && dsi == 0.0f)
					continue;
				size_t qo = ((size_t)b * T + i0 + ii) * D + (size_t)h * HD;
				for (int r = 0; r < R; r++) {
					av[r] += pi * __bfloat162float(d_out[qo + lane + 32 * r]);
					ak[r] += dsi * __bfloat162float(q[qo + lane + 32 * r]);
				}
			}
		}
	}
	for (int r = 0; r < R; r++) {
		d_k[ko + lane + 32 * r] = __float2bfloat16_rn(ak[r] * scale);
		d_v[ko + lane + 32 * r] = __float2bfloat16_rn(av[r]);
	}
}

extern "C" int gpu_flash_supported(int hd) { return hd == 64 || hd == 128; }

extern "C" size_t gpu_flash_scratch(int B, int T, int H, int KVH, int hd)
{
	(void)KVH;
	(void)hd;
	return (size_t)B * H * T;
}

static void unsupported(int hd)
{
	fprintf(stderr, "spindle: fused attention supports head size 64 and 128, not %d\n", hd);
	exit(2);
}

extern "C" void gpu_flash_forward(gpu_bf16 *out, float *lse, const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v,
                                  const int32_t *seg, int B, int T, int H, int KVH, int hd)
{
	unsigned grid = cdiv((size_t)B * H * T, WARPS);
	float scale = 1.0f / sqrtf((float)hd);
	if (hd == 64)
		flash_forward_kernel<64><<<grid, 32 * WARPS>>>((bf16 *)out, lse, (const bf16 *)q, (const bf16 *)k,
		                                               (const bf16 *)v, seg, B, T, H, KVH, scale);
	else if (hd == 128)
		flash_forward_kernel<128><<<grid, 32 * WARPS>>>((bf16 *)out, lse, (const bf16 *)q, (const bf16 *)k,
		                                                (const bf16 *)v, seg, B, T, H, KVH, scale);
	else
		unsupported(hd);
	launchCheck();
}

template <int HD>
static void flash_backward(bf16 *d_q, bf16 *d_k, bf16 *d_v, float *Dd, const bf16 *d_out, const bf16 *out,
                           const bf16 *q, const bf16 *k, const bf16 *v, const float *lse, const int32_t *seg, int B,
                           int T, int H, int KVH)
{
	float scale = 1.0f / sqrtf((float)HD);
	unsigned gq = cdiv((size_t)B * H * T, WARPS), gk = cdiv((size_t)B * KVH * T, WARPS);
	flash_dot_kernel<HD><<<gq, 32 * WARPS>>>(Dd, d_out, out, B, T, H);
	launchCheck();
	flash_dq_kernel<HD><<<gq, 32 * WARPS>>>(d_q, d_out, q, k, v, lse, Dd, seg, B, T, H, KVH, scale);
	launchCheck();
	flash_dkv_kernel<HD><<<gk, 32 * WARPS>>>(d_k, d_v, d_out, q, k, v, lse, Dd, seg, B, T, H, KVH, scale);
	launchCheck();
}

extern "C" void gpu_flash_backward(gpu_bf16 *d_q, gpu_bf16 *d_k, gpu_bf16 *d_v, float *scratch, const gpu_bf16 *d_out,
                                   const gpu_bf16 *out, const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v,
                                   const float *lse, const int32_t *seg, int B, int T, int H, int KVH, int hd)
{
	if (hd == 64)
		flash_backward<64>((bf16 *)d_q, (bf16 *)d_k, (bf16 *)d_v, scratch, (const bf16 *)d_out, (const bf16 *)out,
		                   (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, lse, seg, B, T, H, KVH);
	else if (hd == 128)
		flash_backward<128>((bf16 *)d_q, (bf16 *)d_k, (bf16 *)d_v, scratch, (const bf16 *)d_out, (const bf16 *)out,
		                    (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, lse, seg, B, T, H, KVH);
	else
		unsupported(hd);
}
