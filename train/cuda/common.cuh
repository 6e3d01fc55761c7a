/* common.cuh - what every CUDA file of the trainer shares: checked CUDA/cuBLAS calls that report the
 * source file and line and end the process (a device fault leaves nothing to recover), launch checks,
 * bf16 loads and stores, and warp/block reductions. Device code only; the C bridge is gpu.h. */
#ifndef SPINDLE_TRAIN_CUDA_COMMON_CUH
#define SPINDLE_TRAIN_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef __nv_bfloat16 bf16;

void gpu_fatal(const char *what, const char *detail, const char *file, int line);

#define cudaCheck(expr) do { cudaError_t e_ = (expr); \
	if (e_ != cudaSuccess) gpu_fatal(#expr, cudaGetErrorString(e_), __FILE__, __LINE__); } while (0)
#define cublasCheck(expr) do { cublasStatus_t s_ = (expr); \
	if (s_ != CUBLAS_STATUS_SUCCESS) gpu_fatal(#expr, cublasGetStatusString(s_), __FILE__, __LINE__); } while (0)
/* after every <<<...>>>: configuration errors now; execution errors surface at the next checked call,
 * or right here when SPINDLE_CUDA_SYNC=1 is set (every launch then waits for its kernel: slow, but a
 * fault names the kernel that caused it) */
void gpu_launch_check(const char *file, int line);
#define launchCheck() gpu_launch_check(__FILE__, __LINE__)

static inline unsigned cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

__device__ __forceinline__ float ld(const bf16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ float ld(const float *p) { return *p; }
__device__ __forceinline__ void st(bf16 *p, float x) { *p = __float2bfloat16_rn(x); }
__device__ __forceinline__ void st(float *p, float x) { *p = x; }

__device__ __forceinline__ float warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

__device__ __forceinline__ float warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
 * sh: 32 floats of shared memory. The order of additions is fixed: results are deterministic. */
__device__ __forceinline__ float block_sum(float v, float *sh)
{
	int lane = threadIdx.x % 32, wid = threadIdx.x / 32, nw = blockDim.x / 32;
	v = warp_sum(v);
	__syncthreads();
	if (lane == 0)
		sh[wid] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : 0.0f;
	return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float *sh)
{
	int lane = threadIdx.x % 32, wid = threadIdx.x / 32, nw = blockDim.x / 32;
	v = warp_max(v);
	__syncthreads();
	if (lane == 0)
		sh[wid] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : -INFINITY;
	return warp_max(v);
}

#endif
