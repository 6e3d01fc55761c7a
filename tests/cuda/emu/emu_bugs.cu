/* emu_bugs.cu - deliberately wrong (and a few right) kernels for the emulator's own tests (issue 16):
 * the emulator must report a shared-memory race with kernel, block, threads and address, an
 * out-of-bounds device access with the allocation it missed, a shuffle naming an exited lane, a
 * divergent barrier, a copy past an allocation, and must fill unwritten shared memory with NaN; the
 * right kernels (warp shuffles, barriers, atomics, bf16 rounding, launch limits) must give CUDA's
 * answers. Run as `emu_selftest CASE`; tests/cuda/t_emu_detect.sh checks each report.
 * Plain CUDA: the emulation build rewrites the launches like train/cuda's. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

extern "C" uint16_t device_bf16_from_f32(float x);

__global__ void race_kernel(float *out, int sync)
{
	__shared__ float sh[64];
	sh[threadIdx.x] = (float)threadIdx.x;
	if (sync)
		__syncthreads();
	out[threadIdx.x] = sh[(threadIdx.x + 1) % blockDim.x];
}

__global__ void oob_kernel(float *out, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i <= n) /* off by one */
		out[i] = 1.0f;
}

__global__ void uninit_kernel(float *out)
{
	__shared__ float sh[32];
	if (threadIdx.x < 16)
		sh[threadIdx.x] = 1.0f;
	__syncthreads();
	out[threadIdx.x] = sh[threadIdx.x];
}

__global__ void exited_lane_kernel(float *out)
{
	if (threadIdx.x >= 16)
		return;
	out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void divergent_kernel(float *out)
{
	if (threadIdx.x < 32) {
		out[threadIdx.x] = 1;
		__syncthreads();
	} else {
		__syncthreads();
		out[threadIdx.x] = 2;
	}
}

__global__ void shuffle_kernel(float *out)
{
	int lane = threadIdx.x % 32;
	float v = (float)lane, s = v;
	for (int o = 16; o > 0; o >>= 1)
		s += __shfl_xor_sync(0xffffffffu, s, o);
	float d = __shfl_down_sync(0xffffffffu, v, 3), u = __shfl_up_sync(0xffffffffu, v, 2);
	float b = __shfl_sync(0xffffffffu, v, 7), h = __shfl_xor_sync(0xffffffffu, v, 1, 8);
	unsigned bal = __ballot_sync(0xffffffffu, lane % 3 == 0);
	float *o_ = out + threadIdx.x * 6;
	o_[0] = s;
	o_[1] = d;
	o_[2] = u;
	o_[3] = b;
	o_[4] = h;
	o_[5] = (float)__popc(bal);
}

__global__ void atomic_kernel(int *counter, float *sum)
{
	__shared__ int local;
	if (threadIdx.x == 0)
		local = 0;
	__syncthreads();
	atomicAdd(&local, 1);
	__syncthreads();
	if (threadIdx.x == 0) {
		atomicAdd(counter, local);
		atomicAdd(sum, 0.5f);
	}
}

/* dynamic shared memory: reverse a block's values through it */
__global__ void reverse_kernel(float *out, const float *in)
{
	extern __shared__ float dyn[];
	dyn[threadIdx.x] = in[threadIdx.x];
	__syncthreads();
	out[threadIdx.x] = dyn[blockDim.x - 1 - threadIdx.x];
}

__global__ void bf16_kernel(uint16_t *out, const float *in, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		__nv_bfloat16 h = __float2bfloat16_rn(in[i]);
		memcpy(&out[i], &h, 2);
	}
}

static int fails;
static void expect(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	fails += !ok;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	float *d = NULL, h[256 * 6];
	cudaMalloc(&d, sizeof h);
	if (!strcmp(c, "race") || !strcmp(c, "race_synced")) {
		race_kernel<<<2, 64>>>(d, !strcmp(c, "race_synced"));
		cudaMemcpy(h, d, 64 * 4, cudaMemcpyDeviceToHost);
		expect(h[0] == 1.0f && h[63] == 0.0f, "the values cross threads");
	} else if (!strcmp(c, "oob")) {
		float *o;
		cudaMalloc(&o, 100 * sizeof(float));
		oob_kernel<<<1, 128>>>(o, 100);
		cudaDeviceSynchronize();
	} else if (!strcmp(c, "uninit")) {
		uninit_kernel<<<1, 32>>>(d);
		cudaMemcpy(h, d, 32 * 4, cudaMemcpyDeviceToHost);
		expect(h[0] == 1.0f && h[15] == 1.0f && isnan(h[16]) && isnan(h[31]), "unwritten shared memory reads as NaN");
	} else if (!strcmp(c, "exited_lane")) {
		exited_lane_kernel<<<1, 32>>>(d);
	} else if (!strcmp(c, "divergent")) {
		divergent_kernel<<<1, 64>>>(d);
	} else if (!strcmp(c, "memcpy")) {
		cudaError_t e = cudaMemcpy(h, d + 10, sizeof h, cudaMemcpyDeviceToHost);
		expect(e == cudaErrorInvalidValue, "a copy past the allocation is refused");
	} else if (!strcmp(c, "right")) {
		shuffle_kernel<<<1, 64>>>(d);
		cudaMemcpy(h, d, 64 * 6 * 4, cudaMemcpyDeviceToHost);
		int ok = 1;
		for (int t = 0; t < 64; t++) {
			int l = t % 32;
			float *o = h + t * 6;
			ok &= o[0] == 496.0f && o[1] == (l + 3 < 32 ? l + 3 : l) && o[2] == (l >= 2 ? l - 2 : l) && o[3] == 7.0f &&
			      o[4] == (float)(l ^ 1) && o[5] == 11.0f;
		}
		expect(ok, "shuffles (xor butterfly, down, up, broadcast, width 8) and ballot give CUDA's values");
		int *cnt;
		float *sum;
		cudaMalloc(&cnt, 4);
		cudaMalloc(&sum, 4);
		cudaMemset(cnt, 0, 4);
		cudaMemset(sum, 0, 4);
		atomic_kernel<<<3, 96>>>(cnt, sum);
		int hc = 0;
		float hs = 0;
		cudaMemcpy(&hc, cnt, 4, cudaMemcpyDeviceToHost);
		cudaMemcpy(&hs, sum, 4, cudaMemcpyDeviceToHost);
		expect(hc == 288 && hs == 1.5f, "atomics on shared and global memory count every thread");
		float *rin, *rout, hin[100], hout[100];
		for (int i = 0; i < 100; i++)
			hin[i] = (float)i;
		cudaMalloc(&rin, sizeof hin);
		cudaMalloc(&rout, sizeof hout);
		cudaMemcpy(rin, hin, sizeof hin, cudaMemcpyHostToDevice);
		reverse_kernel<<<1, 100, 100 * sizeof(float)>>>(rout, rin);
		cudaMemcpy(hout, rout, sizeof hout, cudaMemcpyDeviceToHost);
		expect(hout[0] == 99.0f && hout[99] == 0.0f && hout[42] == 57.0f, "dynamic shared memory (extern __shared__)");
		enum { NB = 1 << 16 };
		float *in = (float *)malloc(NB * 4), *din;
		uint16_t *out = (uint16_t *)malloc(NB * 2), *dout;
		uint32_t x = 12345;
		for (int i = 0; i < NB; i++) {
			x = x * 1664525u + 1013904223u;
			uint32_t u = x;
			static const uint32_t special[16] = { 0x3F808000u, 0x3F818000u, 0xBF808000u, 0x7F7FFFFFu, 0x7F800000u,
				0xFF800000u, 0x7FC00000u, 0xFFFFFFFFu, 0x00000001u, 0x80008000u, 0x3F80FFFFu, 0x3F807FFFu,
				0x00018000u, 0x7F808000u, 0x0u, 0x80000000u };
			if (i < 16) /* ties to both parities, the largest finite, infinities, NaNs, subnormals, zeros */
				u = special[i];
			memcpy(&in[i], &u, 4);
		}
		cudaMalloc(&din, NB * 4);
		cudaMalloc(&dout, NB * 2);
		cudaMemcpy(din, in, NB * 4, cudaMemcpyHostToDevice);
		bf16_kernel<<<NB / 256, 256>>>(dout, din, NB);
		cudaMemcpy(out, dout, NB * 2, cudaMemcpyDeviceToHost);
		int same = 1;
		for (int i = 0; i < NB; i++) {
			uint16_t want = device_bf16_from_f32(in[i]);
			if (isnan(in[i]))
				same &= (out[i] & 0x7F80) == 0x7F80 && (out[i] & 0x7F); /* any NaN */
			else
				same &= out[i] == want;
		}
		expect(same, "__float2bfloat16_rn equals the host's tested nearest-even rounding on 65536 floats");
		oob_kernel<<<1, 2048>>>(d, 1);
		expect(cudaGetLastError() == cudaErrorInvalidConfiguration, "a 2048-thread block is a launch error");
		expect(cudaGetLastError() == cudaSuccess, "cudaGetLastError clears it");
	} else {
		fprintf(stderr, "usage: emu_selftest race|race_synced|oob|uninit|exited_lane|divergent|memcpy|right\n");
		return 2;
	}
	return fails ? 1 : 0;
}
