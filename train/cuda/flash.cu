/* flash.cu - fused attention in the flash-attention manner (issue 10, first version): causal, GQA,
 * document masking, bf16 in and out, head size 32, 64 or 128. The forward pass streams the keys with an
 * online softmax (running max and sum, output rescaled as the max grows) and keeps only the row's
 * log-sum-exp; the backward pass recomputes the probabilities from q, k and that log-sum-exp, so no
 * T x T matrix exists in either direction (memory O(T) per head instead of the naive kernel's O(T^2)).
 *
 * Work split: one warp per query row (forward, dQ) or per key row (dK, dV), FW rows of one head per
 * block sharing 32-row chunks of the other side in shared memory; lanes own head dimensions
 * d = lane + 32 r for the accumulators and one key (or query) of the chunk for the scores.
 * Sums run in a fixed order (no atomics): deterministic. This version uses CUDA cores in fp32; the
 * tensor-core (wgmma) tiling that issue 10's speed targets need is not written yet.
 * NOT YET RUN ON A GPU: written and compiled without one; check-gpu compares it with the naive
 * kernel and the CPU. */
#include <math.h>
#include "common.cuh"
#include "gpu.h"

/* FW warps per block handle FW consecutive rows of one (batch, head); the 32-row chunks of the other
 * operand (keys and values forward and for dQ; queries and output gradients for dK, dV) are loaded
 * into shared memory once per block and shared by its warps. Rows of chunks that lanes index by
 * their own lane are padded to HD + 1 floats so those reads do not collide in one bank. */
#define FW 8

__device__ __forceinline__ int fvisible(const int32_t *sg, int i, int j)
{
	return j <= i && (!sg || sg[i] == sg[j]);
}

/* forward: block per (b, h, FW query rows), warp per row */
template <int HD>
__global__ void __launch_bounds__(32 * FW) flash_forward_kernel(bf16 *out, float *lse, const bf16 *q, const bf16 *k,
                                                                const bf16 *v, const int32_t *seg, int B, int T, int H,
                                                                int KVH, float scale)
{
	constexpr int R = HD / 32;
	__shared__ float qs[FW][HD], ks[32][HD + 1], vs[32][HD];
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nblk = (T + FW - 1) / FW;
	int blk = blockIdx.x % nblk, h = (blockIdx.x / nblk) % H, b = blockIdx.x / (nblk * H);
	int i = blk * FW + warp, i_last = min(T - 1, blk * FW + FW - 1), valid = i < T;
	int D = H * HD, KVD = KVH * HD, kh = h / (H / KVH);
	const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
	const bf16 *kb = k + (size_t)b * T * KVD + (size_t)kh * HD, *vb = v + (size_t)b * T * KVD + (size_t)kh * HD;
	if (valid)
		for (int d = lane; d < HD; d += 32)
			qs[warp][d] = __bfloat162float(q[((size_t)b * T + i) * D + (size_t)h * HD + d]) * scale;
	float m = -INFINITY, l = 0, o[R];
	for (int r = 0; r < R; r++)
		o[r] = 0;
	for (int j0 = 0; j0 <= i_last; j0 += 32) {
		__syncthreads(); /* the previous chunk is consumed */
		for (int e = threadIdx.x; e < 32 * HD; e += blockDim.x) {
			int jj = e / HD, d = e % HD, j = j0 + jj;
			ks[jj][d] = j < T ? __bfloat162float(kb[(size_t)j * KVD + d]) : 0.0f;
			vs[jj][d] = j < T ? __bfloat162float(vb[(size_t)j * KVD + d]) : 0.0f;
		}
		__syncthreads();
		if (!valid || j0 > i)
			continue; /* warp-uniform; the loop's barriers are all at its top */
		int j = j0 + lane;
		float s = -INFINITY;
		if (j <= i && fvisible(sg, i, j)) {
			s = 0;
			for (int d = 0; d < HD; d++)
				s += qs[warp][d] * ks[lane][d];
		}
		float cmax = warp_max(s);
		if (cmax == -INFINITY)
			continue; /* nothing visible in this chunk (warp-uniform) */
		float mn = fmaxf(m, cmax), alpha = expf(m - mn), p = s == -INFINITY ? 0.0f : expf(s - mn);
		l = l * alpha + warp_sum(p);
		for (int r = 0; r < R; r++)
			o[r] *= alpha;
		int n = min(32, i - j0 + 1);
		for (int jj = 0; jj < n; jj++) {
			float pj = __shfl_sync(0xffffffffu, p, jj);
			for (int r = 0; r < R; r++)
				o[r] += pj * vs[jj][lane + 32 * r];
		}
		m = mn;
	}
	if (!valid)
		return;
	bf16 *oi = out + ((size_t)b * T + i) * D + (size_t)h * HD;
	for (int r = 0; r < R; r++)
		oi[lane + 32 * r] = __float2bfloat16_rn(o[r] / l);
	if (lane == 0)
		lse[((size_t)b * H + h) * T + i] = m + logf(l);
}

/* Di = dO_i . O_i, warp per row (rows in [B, H, T] order) */
template <int HD>
__global__ void flash_dot_kernel(float *Dd, const bf16 *d_out, const bf16 *out, int B, int T, int H)
{
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	size_t row = (size_t)blockIdx.x * FW + warp;
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

/* dQ: block per (b, h, FW query rows): dq_i = scale sum_j p_ij (dO_i . v_j - D_i) k_j */
template <int HD>
__global__ void __launch_bounds__(32 * FW) flash_dq_kernel(bf16 *d_q, const bf16 *d_out, const bf16 *q, const bf16 *k,
                                                           const bf16 *v, const float *lse, const float *Dd,
                                                           const int32_t *seg, int B, int T, int H, int KVH, float scale)
{
	constexpr int R = HD / 32;
	__shared__ float qs[FW][HD], dos[FW][HD], ks[32][HD + 1], vs[32][HD + 1];
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nblk = (T + FW - 1) / FW;
	int blk = blockIdx.x % nblk, h = (blockIdx.x / nblk) % H, b = blockIdx.x / (nblk * H);
	int i = blk * FW + warp, i_last = min(T - 1, blk * FW + FW - 1), valid = i < T;
	int D = H * HD, KVD = KVH * HD, kh = h / (H / KVH);
	const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
	size_t qo = ((size_t)b * T + (valid ? i : 0)) * D + (size_t)h * HD, r_ = ((size_t)b * H + h) * T + (valid ? i : 0);
	const bf16 *kb = k + (size_t)b * T * KVD + (size_t)kh * HD, *vb = v + (size_t)b * T * KVD + (size_t)kh * HD;
	if (valid)
		for (int d = lane; d < HD; d += 32) {
			qs[warp][d] = __bfloat162float(q[qo + d]) * scale;
			dos[warp][d] = __bfloat162float(d_out[qo + d]);
		}
	float L = valid ? lse[r_] : 0.0f, Di = valid ? Dd[r_] : 0.0f, acc[R];
	for (int r = 0; r < R; r++)
		acc[r] = 0;
	for (int j0 = 0; j0 <= i_last; j0 += 32) {
		__syncthreads();
		for (int e = threadIdx.x; e < 32 * HD; e += blockDim.x) {
			int jj = e / HD, d = e % HD, j = j0 + jj;
			ks[jj][d] = j < T ? __bfloat162float(kb[(size_t)j * KVD + d]) : 0.0f;
			vs[jj][d] = j < T ? __bfloat162float(vb[(size_t)j * KVD + d]) : 0.0f;
		}
		__syncthreads();
		if (!valid || j0 > i)
			continue;
		int j = j0 + lane;
		float ds = 0;
		if (j <= i && fvisible(sg, i, j)) {
			float s = 0, dp = 0;
			for (int d = 0; d < HD; d++) {
				s += qs[warp][d] * ks[lane][d];
				dp += dos[warp][d] * vs[lane][d];
			}
			ds = expf(s - L) * (dp - Di);
		}
		int n = min(32, i - j0 + 1);
		for (int jj = 0; jj < n; jj++) {
			float dsj = __shfl_sync(0xffffffffu, ds, jj);
			for (int r = 0; r < R; r++)
				acc[r] += dsj * ks[jj][lane + 32 * r];
		}
	}
	if (!valid)
		return;
	for (int r = 0; r < R; r++)
		d_q[qo + lane + 32 * r] = __float2bfloat16_rn(acc[r] * scale);
}

/* dK, dV: block per (b, kv head, FW key rows), warp per key; over the group's query heads and the
 * 32-row chunks of queries from the block's first key on */
template <int HD>
__global__ void __launch_bounds__(32 * FW) flash_dkv_kernel(bf16 *d_k, bf16 *d_v, const bf16 *d_out, const bf16 *q,
                                                            const bf16 *k, const bf16 *v, const float *lse,
                                                            const float *Dd, const int32_t *seg, int B, int T, int H,
                                                            int KVH, float scale)
{
	constexpr int R = HD / 32;
	__shared__ float ksw[FW][HD], vsw[FW][HD], qs[32][HD + 1], dos[32][HD + 1], ls[32], dd[32];
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nblk = (T + FW - 1) / FW;
	int blk = blockIdx.x % nblk, kh = (blockIdx.x / nblk) % KVH, b = blockIdx.x / (nblk * KVH);
	int j = blk * FW + warp, j_first = blk * FW, valid = j < T;
	int D = H * HD, KVD = KVH * HD, rep = H / KVH;
	const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
	size_t ko = ((size_t)b * T + (valid ? j : 0)) * KVD + (size_t)kh * HD;
	if (valid)
		for (int d = lane; d < HD; d += 32) {
			ksw[warp][d] = __bfloat162float(k[ko + d]);
			vsw[warp][d] = __bfloat162float(v[ko + d]);
		}
	float ak[R], av[R];
	for (int r = 0; r < R; r++)
		ak[r] = av[r] = 0;
	for (int h = kh * rep; h < (kh + 1) * rep; h++) {
		size_t lrow = ((size_t)b * H + h) * T;
		for (int i0 = j_first; i0 < T; i0 += 32) {
			__syncthreads();
			for (int e = threadIdx.x; e < 32 * HD; e += blockDim.x) {
				int ii = e / HD, d = e % HD, i = i0 + ii;
				size_t qo = ((size_t)b * T + i) * D + (size_t)h * HD + d;
				qs[ii][d] = i < T ? __bfloat162float(q[qo]) : 0.0f;
				dos[ii][d] = i < T ? __bfloat162float(d_out[qo]) : 0.0f;
			}
			if (threadIdx.x < 32) {
				int i = i0 + threadIdx.x;
				ls[threadIdx.x] = i < T ? lse[lrow + i] : 0.0f;
				dd[threadIdx.x] = i < T ? Dd[lrow + i] : 0.0f;
			}
			__syncthreads();
			if (!valid || i0 + 31 < j)
				continue; /* every row of this chunk is before the key */
			int i = i0 + lane;
			float p = 0, ds = 0;
			if (i < T && fvisible(sg, i, j)) {
				float s = 0, dp = 0;
				for (int d = 0; d < HD; d++) {
					s += qs[lane][d] * ksw[warp][d];
					dp += dos[lane][d] * vsw[warp][d];
				}
				p = expf(s * scale - ls[lane]);
				ds = p * (dp - dd[lane]);
			}
			int n = min(32, T - i0);
			for (int ii = 0; ii < n; ii++) {
				float pi = __shfl_sync(0xffffffffu, p, ii), dsi = __shfl_sync(0xffffffffu, ds, ii);
				for (int r = 0; r < R; r++) {
					av[r] += pi * dos[ii][lane + 32 * r];
					ak[r] += dsi * qs[ii][lane + 32 * r];
				}
			}
		}
	}
	if (!valid)
		return;
	for (int r = 0; r < R; r++) {
		d_k[ko + lane + 32 * r] = __float2bfloat16_rn(ak[r] * scale);
		d_v[ko + lane + 32 * r] = __float2bfloat16_rn(av[r]);
	}
}

extern "C" int gpu_flash_supported(int hd) { return hd == 32 || hd == 64 || hd == 128; }

extern "C" size_t gpu_flash_scratch(int B, int T, int H, int KVH, int hd)
{
	(void)KVH;
	(void)hd;
	return (size_t)B * H * T;
}

static void unsupported(int hd)
{
	fprintf(stderr, "spindle: fused attention supports head sizes 32, 64 and 128, not %d\n", hd);
	exit(2);
}

extern "C" void gpu_flash_forward(gpu_bf16 *out, float *lse, const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v,
                                  const int32_t *seg, int B, int T, int H, int KVH, int hd)
{
	unsigned grid = (unsigned)B * H * cdiv((size_t)T, FW);
	float scale = 1.0f / sqrtf((float)hd);
	if (hd == 32)
		flash_forward_kernel<32><<<grid, 32 * FW>>>((bf16 *)out, lse, (const bf16 *)q, (const bf16 *)k,
		                                            (const bf16 *)v, seg, B, T, H, KVH, scale);
	else if (hd == 64)
		flash_forward_kernel<64><<<grid, 32 * FW>>>((bf16 *)out, lse, (const bf16 *)q, (const bf16 *)k,
		                                               (const bf16 *)v, seg, B, T, H, KVH, scale);
	else if (hd == 128)
		flash_forward_kernel<128><<<grid, 32 * FW>>>((bf16 *)out, lse, (const bf16 *)q, (const bf16 *)k,
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
	unsigned gd = cdiv((size_t)B * H * T, FW), nb = cdiv((size_t)T, FW);
	unsigned gq = (unsigned)B * H * nb, gk = (unsigned)B * KVH * nb;
	flash_dot_kernel<HD><<<gd, 32 * FW>>>(Dd, d_out, out, B, T, H);
	launchCheck();
	flash_dq_kernel<HD><<<gq, 32 * FW>>>(d_q, d_out, q, k, v, lse, Dd, seg, B, T, H, KVH, scale);
	launchCheck();
	flash_dkv_kernel<HD><<<gk, 32 * FW>>>(d_k, d_v, d_out, q, k, v, lse, Dd, seg, B, T, H, KVH, scale);
	launchCheck();
}

extern "C" void gpu_flash_backward(gpu_bf16 *d_q, gpu_bf16 *d_k, gpu_bf16 *d_v, float *scratch, const gpu_bf16 *d_out,
                                   const gpu_bf16 *out, const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v,
                                   const float *lse, const int32_t *seg, int B, int T, int H, int KVH, int hd)
{
	if (hd == 32)
		flash_backward<32>((bf16 *)d_q, (bf16 *)d_k, (bf16 *)d_v, scratch, (const bf16 *)d_out, (const bf16 *)out,
		                   (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, lse, seg, B, T, H, KVH);
	else if (hd == 64)
		flash_backward<64>((bf16 *)d_q, (bf16 *)d_k, (bf16 *)d_v, scratch, (const bf16 *)d_out, (const bf16 *)out,
		                   (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, lse, seg, B, T, H, KVH);
	else if (hd == 128)
		flash_backward<128>((bf16 *)d_q, (bf16 *)d_k, (bf16 *)d_v, scratch, (const bf16 *)d_out, (const bf16 *)out,
		                    (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, lse, seg, B, T, H, KVH);
	else
		unsupported(hd);
}
