/* kernels.cu - the trainer's own CUDA kernels (GPU twins of train/ops_*.c and adamw.c): embedding,
 * RMSNorm, RoPE, SwiGLU, residual add, cross-entropy, reward head, gradient norm and AdamW, plus the
 * device and memory helpers of gpu.h. Reductions run in a fixed order (no atomics), so a step gives
 * the same bits every time on the same GPU. */
#include <math.h>
#include <string.h>
#include "common.cuh"
#include "gpu.h"

void gpu_fatal(const char *what, const char *detail, const char *file, int line)
{
	fprintf(stderr, "spindle: CUDA error at %s:%d: %s: %s\n", file, line, what, detail);
	exit(2);
}

void gpu_launch_check(const char *file, int line)
{
	static int sync = -1;
	if (sync < 0) {
		const char *e = getenv("SPINDLE_CUDA_SYNC");
		sync = e && *e == '1';
	}
	cudaError_t e = cudaGetLastError();
	if (e == cudaSuccess && sync)
		e = cudaDeviceSynchronize();
	if (e != cudaSuccess)
		gpu_fatal("kernel launch", cudaGetErrorString(e), file, line);
}

/* ---------------------------------------------------------------- device and memory */

extern "C" int gpu_device_count(char *name, size_t name_len, char *why, size_t why_len)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (name && name_len)
		name[0] = 0;
	if (e != cudaSuccess || n <= 0) {
		if (why && why_len)
			snprintf(why, why_len, "%s", e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device");
		(void)cudaGetLastError();
		return 0;
	}
	cudaDeviceProp p;
	if (name && name_len && cudaGetDeviceProperties(&p, 0) == cudaSuccess)
		snprintf(name, name_len, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
		         (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
	return n;
}

extern "C" void *gpu_malloc(size_t bytes)
{
	void *p = NULL;
	cudaCheck(cudaMalloc(&p, bytes ? bytes : 16));
	return p;
}

extern "C" void gpu_free(void *p) { if (p) cudaCheck(cudaFree(p)); }
extern "C" void gpu_upload(void *dst, const void *src, size_t n) { if (n) cudaCheck(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice)); }
extern "C" void gpu_download(void *dst, const void *src, size_t n) { if (n) cudaCheck(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost)); }
extern "C" void gpu_memset0(void *p, size_t n) { if (n) cudaCheck(cudaMemset(p, 0, n)); }
extern "C" void gpu_poison(void *p, size_t n) { if (n) cudaCheck(cudaMemset(p, 0xFF, n)); }
extern "C" void gpu_sync(void) { cudaCheck(cudaDeviceSynchronize()); }

__global__ void f32_to_bf16_kernel(bf16 *out, const float *in, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void bf16_to_f32_kernel(float *out, const bf16 *in, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		out[i] = __bfloat162float(in[i]);
}

extern "C" void gpu_f32_to_bf16(gpu_bf16 *out, const float *in, size_t n)
{
	if (!n)
		return;
	f32_to_bf16_kernel<<<cdiv(n, 256), 256>>>((bf16 *)out, in, n);
	launchCheck();
}

extern "C" void gpu_bf16_to_f32(float *out, const gpu_bf16 *in, size_t n)
{
	if (!n)
		return;
	bf16_to_f32_kernel<<<cdiv(n, 256), 256>>>(out, (const bf16 *)in, n);
	launchCheck();
}

/* ---------------------------------------------------------------- embedding */

__global__ void encoder_forward_kernel(float *out, const int32_t *tokens, const float *wte, int N, int D)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= (size_t)N * D)
		return;
	size_t row = i / D, col = i % D;
	out[i] = wte[(size_t)tokens[row] * D + col];
}

extern "C" void gpu_encoder_forward(float *out, const int32_t *tokens, const float *wte, int N, int D)
{
	size_t n = (size_t)N * D;
	encoder_forward_kernel<<<cdiv(n, 256), 256>>>(out, tokens, wte, N, D);
	launchCheck();
}

/* one block per distinct token: its positions are summed in order, then added to the row */
__global__ void encoder_backward_kernel(float *d_wte, const float *d_out, const int32_t *uniq, const int32_t *starts,
                                        const int32_t *idx, int D)
{
	int u = blockIdx.x;
	float *dst = d_wte + (size_t)uniq[u] * D;
	for (int j = threadIdx.x; j < D; j += blockDim.x) {
		float s = 0;
		for (int p = starts[u]; p < starts[u + 1]; p++)
			s += d_out[(size_t)idx[p] * D + j];
		dst[j] += s;
	}
}

extern "C" void gpu_encoder_backward(float *d_wte, const float *d_out, const int32_t *uniq, const int32_t *starts,
                                     const int32_t *idx, int n_uniq, int D)
{
	if (n_uniq <= 0)
		return;
	encoder_backward_kernel<<<n_uniq, 256>>>(d_wte, d_out, uniq, starts, idx, D);
	launchCheck();
}

/* ---------------------------------------------------------------- RMSNorm */

__global__ void rmsnorm_forward_kernel(bf16 *out, float *rstd, const float *inp, const float *w, int D, float eps)
{
	__shared__ float sh[32];
	size_t row = blockIdx.x;
	const float *x = inp + row * D;
	float ss = 0;
	for (int j = threadIdx.x; j < D; j += blockDim.x)
		ss += x[j] * x[j];
	ss = block_sum(ss, sh);
	float r = rsqrtf(ss / D + eps);
	for (int j = threadIdx.x; j < D; j += blockDim.x)
		out[row * D + j] = __float2bfloat16_rn(x[j] * r * w[j]);
	if (threadIdx.x == 0)
		rstd[row] = r;
}

extern "C" void gpu_rmsnorm_forward(gpu_bf16 *out, float *rstd, const float *inp, const float *weight, int N, int D, float eps)
{
	rmsnorm_forward_kernel<<<N, 256>>>((bf16 *)out, rstd, inp, weight, D, eps);
	launchCheck();
}

__global__ void rmsnorm_backward_inp_kernel(float *d_inp, const float *d_out, const float *inp, const float *w,
                                            const float *rstd, int D)
{
	__shared__ float sh[32];
	size_t row = blockIdx.x;
	const float *x = inp + row * D, *dy = d_out + row * D;
	float *dx = d_inp + row * D;
	float r = rstd[row], dot = 0;
	for (int j = threadIdx.x; j < D; j += blockDim.x)
		dot += w[j] * dy[j] * x[j];
	dot = block_sum(dot, sh);
	float c = dot * r * r * r / D;
	for (int j = threadIdx.x; j < D; j += blockDim.x)
		dx[j] += r * w[j] * dy[j] - x[j] * c;
}

/* The weight gradient is a column sum over all rows: each block sums one chunk of rows for 128
 * columns into part[chunk][col], then a second pass adds the chunks in order (deterministic, and
 * enough blocks to use the whole GPU when N is in the tens of thousands). */
enum { RMS_CHUNK_ROWS = 128, RMS_MAX_CHUNKS = 256 };

__global__ void rmsnorm_backward_w_partial(float *part, const float *d_out, const float *inp, const float *rstd, int N,
                                           int D, int rows_per_chunk)
{
	int j = blockIdx.x * blockDim.x + threadIdx.x, c = blockIdx.y;
	if (j >= D)
		return;
	int r0 = c * rows_per_chunk, r1 = r0 + rows_per_chunk < N ? r0 + rows_per_chunk : N;
	float acc = 0;
	for (int i = r0; i < r1; i++)
		acc += d_out[(size_t)i * D + j] * inp[(size_t)i * D + j] * rstd[i];
	part[(size_t)c * D + j] = acc;
}

__global__ void rmsnorm_backward_w_final(float *d_w, const float *part, int chunks, int D)
{
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= D)
		return;
	float acc = 0;
	for (int c = 0; c < chunks; c++)
		acc += part[(size_t)c * D + j];
	d_w[j] += acc;
}

/* scratch for the partial sums, grown on demand (the trainer is single-threaded) */
static float *rms_part;
static size_t rms_part_n;

extern "C" void gpu_rmsnorm_backward(float *d_inp, float *d_weight, const float *d_out, const float *inp,
                                     const float *weight, const float *rstd, int N, int D)
{
	rmsnorm_backward_inp_kernel<<<N, 256>>>(d_inp, d_out, inp, weight, rstd, D);
	launchCheck();
	int rows = RMS_CHUNK_ROWS, chunks = (int)cdiv((size_t)N, (size_t)rows);
	if (chunks > RMS_MAX_CHUNKS) {
		rows = (int)cdiv((size_t)N, RMS_MAX_CHUNKS);
		chunks = (int)cdiv((size_t)N, (size_t)rows);
	}
	size_t need = (size_t)chunks * D;
	if (need > rms_part_n) {
		if (rms_part)
			cudaCheck(cudaFree(rms_part));
		cudaCheck(cudaMalloc(&rms_part, need * sizeof(float)));
		rms_part_n = need;
	}
	dim3 grid(cdiv((size_t)D, 128), (unsigned)chunks);
	rmsnorm_backward_w_partial<<<grid, 128>>>(rms_part, d_out, inp, rstd, N, D, rows);
	launchCheck();
	rmsnorm_backward_w_final<<<cdiv((size_t)D, 128), 128>>>(d_weight, rms_part, chunks, D);
	launchCheck();
}

/* ---------------------------------------------------------------- RoPE, SwiGLU, residual */

__global__ void rope_kernel(bf16 *x, const int32_t *pos, const float *cos_t, const float *sin_t, int N, int nh,
                            int hd, float sign)
{
	int half = hd / 2;
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= (size_t)N * nh * half)
		return;
	int j = (int)(i % half);
	size_t hrow = i / half, tok = hrow / nh;
	bf16 *v = x + hrow * hd;
	size_t t = (size_t)pos[tok] * half + j;
	float c = cos_t[t], s = sign * sin_t[t];
	float a = __bfloat162float(v[j]), b = __bfloat162float(v[j + half]);
	v[j] = __float2bfloat16_rn(a * c - b * s);
	v[j + half] = __float2bfloat16_rn(b * c + a * s);
}

extern "C" void gpu_rope_forward(gpu_bf16 *x, const int32_t *pos, const float *cos_t, const float *sin_t, int N,
                                 int n_heads, int head_dim)
{
	size_t n = (size_t)N * n_heads * (head_dim / 2);
	rope_kernel<<<cdiv(n, 256), 256>>>((bf16 *)x, pos, cos_t, sin_t, N, n_heads, head_dim, 1.0f);
	launchCheck();
}

extern "C" void gpu_rope_backward(gpu_bf16 *d_x, const int32_t *pos, const float *cos_t, const float *sin_t, int N,
                                  int n_heads, int head_dim)
{
	size_t n = (size_t)N * n_heads * (head_dim / 2);
	rope_kernel<<<cdiv(n, 256), 256>>>((bf16 *)d_x, pos, cos_t, sin_t, N, n_heads, head_dim, -1.0f);
	launchCheck();
}

__global__ void swiglu_forward_kernel(bf16 *out, const bf16 *gate, const bf16 *up, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float g = __bfloat162float(gate[i]);
	out[i] = __float2bfloat16_rn(g / (1.0f + expf(-g)) * __bfloat162float(up[i]));
}

__global__ void swiglu_backward_kernel(bf16 *d_gate, bf16 *d_up, const bf16 *d_out, const bf16 *gate, const bf16 *up, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float g = __bfloat162float(gate[i]), u = __bfloat162float(up[i]), dy = __bfloat162float(d_out[i]);
	float s = 1.0f / (1.0f + expf(-g));
	d_up[i] = __float2bfloat16_rn(dy * g * s);
	d_gate[i] = __float2bfloat16_rn(dy * u * s * (1.0f + g * (1.0f - s)));
}

extern "C" void gpu_swiglu_forward(gpu_bf16 *out, const gpu_bf16 *gate, const gpu_bf16 *up, size_t n)
{
	if (!n)
		return;
	swiglu_forward_kernel<<<cdiv(n, 256), 256>>>((bf16 *)out, (const bf16 *)gate, (const bf16 *)up, n);
	launchCheck();
}

extern "C" void gpu_swiglu_backward(gpu_bf16 *d_gate, gpu_bf16 *d_up, const gpu_bf16 *d_out, const gpu_bf16 *gate,
                                    const gpu_bf16 *up, size_t n)
{
	if (!n)
		return;
	swiglu_backward_kernel<<<cdiv(n, 256), 256>>>((bf16 *)d_gate, (bf16 *)d_up, (const bf16 *)d_out,
	                                              (const bf16 *)gate, (const bf16 *)up, n);
	launchCheck();
}

__global__ void residual_kernel(float *out, const float *a, const float *b, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		out[i] = a[i] + b[i];
}

extern "C" void gpu_residual_forward(float *out, const float *a, const float *b, size_t n)
{
	if (!n)
		return;
	residual_kernel<<<cdiv(n, 256), 256>>>(out, a, b, n);
	launchCheck();
}

/* ---------------------------------------------------------------- cross-entropy */

/* one block per row: max, then sum of exp (the probabilities are never stored) */
__global__ void crossentropy_forward_kernel(float *losses, float *lse, const bf16 *logits, const int32_t *targets, int V)
{
	__shared__ float sh[32];
	size_t row = blockIdx.x;
	int t = targets[row];
	if (t < 0) {
		if (threadIdx.x == 0)
			losses[row] = lse[row] = 0.0f;
		return;
	}
	const bf16 *z = logits + row * V;
	float mx = -INFINITY;
	for (int j = threadIdx.x; j < V; j += blockDim.x)
		mx = fmaxf(mx, __bfloat162float(z[j]));
	mx = block_max(mx, sh);
	float s = 0;
	for (int j = threadIdx.x; j < V; j += blockDim.x)
		s += expf(__bfloat162float(z[j]) - mx);
	s = block_sum(s, sh);
	if (threadIdx.x == 0) {
		float l = mx + logf(s);
		lse[row] = l;
		losses[row] = l - __bfloat162float(z[t]);
	}
}

__global__ void crossentropy_backward_kernel(bf16 *logits, const float *lse, const int32_t *targets, float dloss, int V)
{
	size_t row = blockIdx.x;
	int t = targets[row];
	bf16 *z = logits + row * V;
	float l = lse[row];
	for (int j = threadIdx.x; j < V; j += blockDim.x) {
		float g = t < 0 ? 0.0f : dloss * (expf(__bfloat162float(z[j]) - l) - (j == t ? 1.0f : 0.0f));
		z[j] = __float2bfloat16_rn(g);
	}
}

extern "C" void gpu_crossentropy_forward(float *losses, float *lse, const gpu_bf16 *logits, const int32_t *targets, int N, int V)
{
	crossentropy_forward_kernel<<<N, 256>>>(losses, lse, (const bf16 *)logits, targets, V);
	launchCheck();
}

extern "C" void gpu_crossentropy_backward(gpu_bf16 *logits, const float *lse, const int32_t *targets, float dloss, int N, int V)
{
	crossentropy_backward_kernel<<<N, 256>>>((bf16 *)logits, lse, targets, dloss, V);
	launchCheck();
}

/* ---------------------------------------------------------------- reward head */

__global__ void reward_forward_kernel(float *rewards, const bf16 *xn, const float *w, const int32_t *last, int T, int D)
{
	__shared__ float sh[32];
	int b = blockIdx.x;
	const bf16 *h = xn + ((size_t)b * T + last[b]) * D;
	float s = 0;
	for (int j = threadIdx.x; j < D; j += blockDim.x)
		s += __bfloat162float(h[j]) * w[j];
	s = block_sum(s, sh);
	if (threadIdx.x == 0)
		rewards[b] = s;
}

__global__ void reward_backward_kernel(float *d_xn, float *d_w, const float *d_r, const bf16 *xn, const float *w,
                                       const int32_t *last, int B, int T, int D)
{
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= D)
		return;
	float acc = 0;
	for (int b = 0; b < B; b++) {
		size_t row = (size_t)b * T + last[b];
		d_xn[row * D + j] += d_r[b] * w[j];
		acc += d_r[b] * __bfloat162float(xn[row * D + j]);
	}
	d_w[j] += acc;
}

extern "C" void gpu_reward_forward(float *rewards, const gpu_bf16 *xn, const float *w, const int32_t *last, int B, int T, int D)
{
	reward_forward_kernel<<<B, 256>>>(rewards, (const bf16 *)xn, w, last, T, D);
	launchCheck();
}

extern "C" void gpu_reward_backward(float *d_xn, float *d_w, const float *d_rewards, const gpu_bf16 *xn, const float *w,
                                    const int32_t *last, int B, int T, int D)
{
	reward_backward_kernel<<<cdiv(D, 128), 128>>>(d_xn, d_w, d_rewards, (const bf16 *)xn, w, last, B, T, D);
	launchCheck();
}

/* ---------------------------------------------------------------- gradient norm and AdamW */

enum { SUMSQ_BLOCKS = 512, SUMSQ_THREADS = 256 };

__global__ void sumsq_partial_kernel(double *part, const float *g, size_t n)
{
	__shared__ double sh[SUMSQ_THREADS];
	double s = 0;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		s += (double)g[i] * g[i];
	sh[threadIdx.x] = s;
	__syncthreads();
	for (int o = SUMSQ_THREADS / 2; o > 0; o >>= 1) {
		if ((int)threadIdx.x < o)
			sh[threadIdx.x] += sh[threadIdx.x + o];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		part[blockIdx.x] = sh[0];
}

__global__ void sumsq_final_kernel(double *out, const double *part, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += part[i];
	*out = s;
}

extern "C" void gpu_sumsq(double *out, const float *g, size_t n, double *scratch)
{
	sumsq_partial_kernel<<<SUMSQ_BLOCKS, SUMSQ_THREADS>>>(scratch, g, n);
	launchCheck();
	sumsq_final_kernel<<<1, 1>>>(out, scratch, SUMSQ_BLOCKS);
	launchCheck();
}

__global__ void adamw_kernel(float *p, bf16 *p16, const float *g, float *mm, float *vv, size_t n, float lr, float b1,
                             float b2, float eps, float wd, float c1, float c2, float gscale)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float gi = g[i] * gscale;
	float m = b1 * mm[i] + (1 - b1) * gi;
	float v = b2 * vv[i] + (1 - b2) * gi * gi;
	mm[i] = m;
	vv[i] = v;
	float w = p[i];
	w -= lr * ((m / c1) / (sqrtf(v / c2) + eps) + wd * w);
	p[i] = w;
	if (p16)
		p16[i] = __float2bfloat16_rn(w);
}

extern "C" void gpu_adamw(float *p, gpu_bf16 *p16, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                          float beta2, float eps, float wd, float c1, float c2, float gscale)
{
	if (!n)
		return;
	adamw_kernel<<<cdiv(n, 256), 256>>>(p, (bf16 *)p16, g, m, v, n, lr, beta1, beta2, eps, wd, c1, c2, gscale);
	launchCheck();
}
