/* attention.cu - causal grouped-query attention with document masking, the straightforward way:
 * the probabilities [B,H,T,T] are stored (fp32) for the backward pass. It is the GPU twin of
 * ops_attn.c and the oracle the fused kernel (flash.cu) is checked against; it needs O(T^2) memory
 * per head, so long sequences use the fused kernel. Query head h reads kv head h / (H / KVH). */
#include <math.h>
#include "common.cuh"
#include "gpu.h"

__device__ __forceinline__ int visible(const int32_t *seg, int i, int j)
{
	return j <= i && (!seg || seg[i] == seg[j]);
}

/* one block per (b, h, i) */
__global__ void attention_forward_kernel(bf16 *out, float *att, const bf16 *q, const bf16 *k, const bf16 *v,
                                         const int32_t *seg, int T, int H, int KVH, int hd, float scale)
{
	__shared__ float sh[32];
	int i = blockIdx.x % T, h = (blockIdx.x / T) % H, b = blockIdx.x / (T * H);
	int D = H * hd, KVD = KVH * hd, kh = h / (H / KVH);
	const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
	const bf16 *qi = q + ((size_t)b * T + i) * D + (size_t)h * hd;
	const bf16 *kb = k + (size_t)b * T * KVD + (size_t)kh * hd, *vb = v + (size_t)b * T * KVD + (size_t)kh * hd;
	float *P = att + (((size_t)b * H + h) * T + i) * T;
	float mx = -INFINITY;
	for (int j = threadIdx.x; j < T; j += blockDim.x) {
		float s = -INFINITY;
		if (visible(sg, i, j)) {
			s = 0;
			for (int d = 0; d < hd; d++)
				s += __bfloat162float(qi[d]) * __bfloat162float(kb[(size_t)j * KVD + d]);
			s *= scale;
		}
		P[j] = s;
		mx = fmaxf(mx, s);
	}
	mx = block_max(mx, sh);
	float sum = 0;
	for (int j = threadIdx.x; j < T; j += blockDim.x) {
		float e = P[j] == -INFINITY ? 0.0f : expf(P[j] - mx);
		P[j] = e;
		sum += e;
	}
	sum = block_sum(sum, sh);
	float inv = 1.0f / sum;
	for (int j = threadIdx.x; j < T; j += blockDim.x)
		P[j] *= inv;
	__syncthreads();
	bf16 *o = out + ((size_t)b * T + i) * D + (size_t)h * hd;
	for (int d = threadIdx.x; d < hd; d += blockDim.x) {
		float acc = 0;
		for (int j = 0; j <= i; j++)
			acc += P[j] * __bfloat162float(vb[(size_t)j * KVD + d]);
		o[d] = __float2bfloat16_rn(acc);
	}
}

extern "C" void gpu_attention_forward(gpu_bf16 *out, float *att, const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v,
                                      const int32_t *seg, int B, int T, int H, int KVH, int hd)
{
	attention_forward_kernel<<<(unsigned)B * H * T, 128>>>((bf16 *)out, att, (const bf16 *)q, (const bf16 *)k,
	                                                      (const bf16 *)v, seg, T, H, KVH, hd, 1.0f / sqrtf((float)hd));
	launchCheck();
}

/* one block per (b, h, i): dP = dO V^T, dS = P (dP - rowsum(P dP)) into d_att, dQ = scale dS K */
__global__ void attention_backward_q_kernel(bf16 *d_q, float *d_att, const bf16 *d_out, const bf16 *k, const bf16 *v,
                                            const float *att, int T, int H, int KVH, int hd, float scale)
{
	__shared__ float sh[32];
	int i = blockIdx.x % T, h = (blockIdx.x / T) % H, b = blockIdx.x / (T * H);
	int D = H * hd, KVD = KVH * hd, kh = h / (H / KVH);
	const bf16 *doi = d_out + ((size_t)b * T + i) * D + (size_t)h * hd;
	const bf16 *kb = k + (size_t)b * T * KVD + (size_t)kh * hd, *vb = v + (size_t)b * T * KVD + (size_t)kh * hd;
	size_t ro = (((size_t)b * H + h) * T + i) * T;
	const float *P = att + ro;
	float *dS = d_att + ro;
	float dot = 0;
	for (int j = threadIdx.x; j < T; j += blockDim.x) {
		float dp = 0;
		if (j <= i && P[j] != 0.0f)
			for (int d = 0; d < hd; d++)
				dp += __bfloat162float(doi[d]) * __bfloat162float(vb[(size_t)j * KVD + d]);
		dS[j] = dp;
		dot += P[j] * dp;
	}
	dot = block_sum(dot, sh);
	for (int j = threadIdx.x; j < T; j += blockDim.x)
		dS[j] = P[j] * (dS[j] - dot);
	__syncthreads();
	bf16 *dq = d_q + ((size_t)b * T + i) * D + (size_t)h * hd;
	for (int d = threadIdx.x; d < hd; d += blockDim.x) {
		float acc = 0;
		for (int j = 0; j <= i; j++)
			acc += dS[j] * __bfloat162float(kb[(size_t)j * KVD + d]);
		dq[d] = __float2bfloat16_rn(acc * scale);
	}
}

/* one block per (b, kv head, j): sums over the group's query heads and the rows i >= j, in order */
__global__ void attention_backward_kv_kernel(bf16 *d_k, bf16 *d_v, const float *d_att, const bf16 *d_out, const bf16 *q,
                                             const float *att, int T, int H, int KVH, int hd, float scale)
{
	int j = blockIdx.x % T, kh = (blockIdx.x / T) % KVH, b = blockIdx.x / (T * KVH);
	int D = H * hd, KVD = KVH * hd, rep = H / KVH;
	for (int d = threadIdx.x; d < hd; d += blockDim.x) {
		float ak = 0, av = 0;
		for (int h = kh * rep; h < (kh + 1) * rep; h++) {
			size_t base = ((size_t)b * H + h) * T;
			for (int i = j; i < T; i++) {
				size_t e = (base + i) * T + j, row = ((size_t)b * T + i) * D + (size_t)h * hd + d;
				ak += d_att[e] * __bfloat162float(q[row]);
				av += att[e] * __bfloat162float(d_out[row]);
			}
		}
		size_t o = ((size_t)b * T + j) * KVD + (size_t)kh * hd + d;
		d_k[o] = __float2bfloat16_rn(ak * scale);
		d_v[o] = __float2bfloat16_rn(av);
	}
}

extern "C" void gpu_attention_backward(gpu_bf16 *d_q, gpu_bf16 *d_k, gpu_bf16 *d_v, float *d_att, const gpu_bf16 *d_out,
                                       const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v, const float *att,
                                       int B, int T, int H, int KVH, int hd)
{
	float scale = 1.0f / sqrtf((float)hd);
	attention_backward_q_kernel<<<(unsigned)B * H * T, 128>>>((bf16 *)d_q, d_att, (const bf16 *)d_out, (const bf16 *)k,
	                                                         (const bf16 *)v, att, T, H, KVH, hd, scale);
	launchCheck();
	attention_backward_kv_kernel<<<(unsigned)B * KVH * T, hd < 128 ? hd : 128>>>(
		(bf16 *)d_k, (bf16 *)d_v, d_att, (const bf16 *)d_out, (const bf16 *)q, att, T, H, KVH, hd, scale);
	launchCheck();
}
