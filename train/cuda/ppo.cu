/* ppo.cu - GPU twins of PPO's ops (train/ppo.h, issue 13): log-probs and entropy of the sampled
 * tokens at a temperature, the clipped surrogate's gradient w.r.t. the logits (in place, with the
 * per-row loss, clip flag, k3 KL and ratio), and GAE over rollouts stored back to back. fp32
 * throughout (the logits are fp32 in the trainer); one block per row, block reductions in a fixed
 * order. Checked against the CPU twins by tests/gpu/check_gpu.c. */
#include "common.cuh"
#include "gpu.h"

/* max and sum of exp(z/temp - max) and sum of exp(.) * (z/temp - max) over a row */
__device__ static void row_stats(const float *z, int V, float inv_t, float *sh, float *mx_out, float *sum_out, float *ez_out)
{
	float mx = -INFINITY;
	for (int k = threadIdx.x; k < V; k += blockDim.x)
		mx = fmaxf(mx, z[k] * inv_t);
	mx = block_max(mx, sh);
	float s = 0, ez = 0;
	for (int k = threadIdx.x; k < V; k += blockDim.x) {
		float a = z[k] * inv_t - mx, e = expf(a);
		s += e;
		ez += e * a;
	}
	s = block_sum(s, sh);
	ez = block_sum(ez, sh);
	*mx_out = mx;
	*sum_out = s;
	*ez_out = ez;
}

__global__ void ppo_logprobs_kernel(float *logp, float *entropy, const float *logits, const int32_t *act, int V, float inv_t)
{
	__shared__ float sh[32];
	int i = blockIdx.x;
	int32_t a = act[i];
	if (a < 0)
		return;
	const float *z = logits + (size_t)i * V;
	float mx, s, ez;
	row_stats(z, V, inv_t, sh, &mx, &s, &ez);
	if (threadIdx.x == 0) {
		float lse = logf(s);
		logp[i] = z[a] * inv_t - mx - lse;
		if (entropy)
			entropy[i] = lse - ez / s;
	}
}

__global__ void ppo_policy_grad_kernel(float *logits, float *loss, float *clipped, float *kl, float *ratio, const int32_t *act,
                                       const float *logp_old, const float *adv, int V, float inv_t, float clip, float scale)
{
	__shared__ float sh[32];
	__shared__ float g_sh;
	int i = blockIdx.x;
	float *z = logits + (size_t)i * V;
	int32_t a = act[i];
	if (a < 0) {
		for (int k = threadIdx.x; k < V; k += blockDim.x)
			z[k] = 0;
		if (threadIdx.x == 0)
			loss[i] = clipped[i] = kl[i] = ratio[i] = 0;
		return;
	}
	float mx, s, ez;
	row_stats(z, V, inv_t, sh, &mx, &s, &ez);
	float lse = logf(s) + mx;
	if (threadIdx.x == 0) {
		float logp = z[a] * inv_t - mx - logf(s);
		float r = expf(logp - logp_old[i]), A = adv[i];
		float rc = fminf(fmaxf(r, 1 - clip), 1 + clip);
		float l1 = -A * r, l2 = -A * rc;
		int use_clip = l2 > l1;
		loss[i] = use_clip ? l2 : l1;
		clipped[i] = (float)use_clip;
		kl[i] = r - 1 - (logp - logp_old[i]);
		ratio[i] = r;
		g_sh = use_clip ? 0.0f : -A * r * scale;
	}
	__syncthreads(); /* thread 0 has read z[a] before any thread overwrites the row */
	float g = g_sh * inv_t;
	for (int k = threadIdx.x; k < V; k += blockDim.x)
		z[k] = -g * expf(z[k] * inv_t - lse) + (k == a ? g : 0.0f);
}

__global__ void ppo_gae_kernel(float *adv, float *ret, const float *r, const float *v, const int *off, int n, float gamma, float lambda)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float next_v = 0, next_a = 0;
	for (int t = off[i + 1] - 1; t >= off[i]; t--) {
		float delta = r[t] + gamma * next_v - v[t];
		next_a = delta + gamma * lambda * next_a;
		adv[t] = next_a;
		ret[t] = next_a + v[t];
		next_v = v[t];
	}
}

extern "C" void gpu_ppo_logprobs(float *logp, float *entropy, const float *logits, const int32_t *act, int N, int V, float temp)
{
	if (N <= 0)
		return;
	ppo_logprobs_kernel<<<N, 256>>>(logp, entropy, logits, act, V, 1.0f / temp);
	launchCheck();
}

extern "C" void gpu_ppo_policy_grad(float *logits, float *loss, float *clipped, float *kl, float *ratio, const int32_t *act,
                                    const float *logp_old, const float *adv, int N, int V, float temp, float clip, float scale)
{
	if (N <= 0)
		return;
	ppo_policy_grad_kernel<<<N, 256>>>(logits, loss, clipped, kl, ratio, act, logp_old, adv, V, 1.0f / temp, clip, scale);
	launchCheck();
}

extern "C" void gpu_ppo_gae_batch(float *adv, float *ret, const float *r, const float *v, const int *off, int n, float gamma, float lambda)
{
	if (n <= 0)
		return;
	ppo_gae_kernel<<<cdiv((size_t)n, 128), 128>>>(adv, ret, r, v, off, n, gamma, lambda);
	launchCheck();
}
