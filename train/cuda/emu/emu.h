/* emu.h - the CUDA device language for the emulation build (issue 16): the .cu files of train/cuda
 * compiled as C++ by the host compiler run each CUDA thread as a user-space fiber (emu_rt.cc), so
 * indexing, barriers, warp shuffles, shared memory and bf16 rounding execute without a GPU.
 * This header is what the stand-in <cuda_runtime.h> pulls in; it is never seen by nvcc. Launches reach
 * emu_launch through a mechanical rewrite of `k<<<g, b>>>(args)` (emu_rewrite.pl), not by editing
 * the sources. Single-threaded: one kernel, one block at a time, in the calling OS thread. */
#ifndef SPINDLE_EMU_H
#define SPINDLE_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <tuple>
#include <utility>

/* ---------------------------------------------------------------- qualifiers */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
/* Static shared memory: one copy, in a section of its own. Blocks run one after the other, so one
 * copy serves every block; the runtime fills it with NaN bytes before each block and watches the
 * section's addresses for races (the kernels' loads and stores are instrumented, see emu_rt.cc). */
#define __shared__ __attribute__((section("emu_shared"), aligned(16))) static

/* ---------------------------------------------------------------- indices */
struct uint3 { unsigned x, y, z; };
struct dim3 {
	unsigned x, y, z;
	constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
	constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
/* the running fiber's (set by the scheduler before it switches to a fiber) */
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
static const int warpSize = 32;

/* ---------------------------------------------------------------- synchronisation (emu_rt.cc) */
/* every live thread of the block must reach the same __syncthreads before any goes on */
void __syncthreads(void);
void __syncwarp(unsigned mask = 0xffffffffu);
enum { EMU_SHFL_IDX, EMU_SHFL_XOR, EMU_SHFL_DOWN, EMU_SHFL_UP, EMU_VOTE_BALLOT, EMU_VOTE_ANY, EMU_VOTE_ALL };
/* a warp collective: every lane named in mask must arrive (with the same kind and mask) */
uint64_t emu_warp_op(unsigned mask, uint64_t v, int kind, int arg, int width);

template <class T> static inline T emu_shfl(unsigned mask, T v, int kind, int arg, int width)
{
	static_assert(sizeof(T) <= 8, "shuffles move 4 or 8 bytes");
	uint64_t b = 0;
	memcpy(&b, &v, sizeof v);
	b = emu_warp_op(mask, b, kind, arg, width);
	memcpy(&v, &b, sizeof v);
	return v;
}
template <class T> static inline T __shfl_sync(unsigned m, T v, int src, int w = 32) { return emu_shfl(m, v, EMU_SHFL_IDX, src, w); }
template <class T> static inline T __shfl_xor_sync(unsigned m, T v, int lm, int w = 32) { return emu_shfl(m, v, EMU_SHFL_XOR, lm, w); }
template <class T> static inline T __shfl_down_sync(unsigned m, T v, unsigned d, int w = 32) { return emu_shfl(m, v, EMU_SHFL_DOWN, (int)d, w); }
template <class T> static inline T __shfl_up_sync(unsigned m, T v, unsigned d, int w = 32) { return emu_shfl(m, v, EMU_SHFL_UP, (int)d, w); }
static inline unsigned __ballot_sync(unsigned m, int p) { return (unsigned)emu_warp_op(m, p != 0, EMU_VOTE_BALLOT, 0, 32); }
static inline int __any_sync(unsigned m, int p) { return (int)emu_warp_op(m, p != 0, EMU_VOTE_ANY, 0, 32); }
static inline int __all_sync(unsigned m, int p) { return (int)emu_warp_op(m, p != 0, EMU_VOTE_ALL, 0, 32); }

/* Atomics: fibers switch only at barriers and collectives, so a read-modify-write is indivisible.
 * Out of line (in the uninstrumented runtime) so the race detector does not see them as plain
 * accesses, as racecheck ignores atomics. */
float atomicAdd(float *p, float v);
double atomicAdd(double *p, double v);
int atomicAdd(int *p, int v);
unsigned atomicAdd(unsigned *p, unsigned v);
unsigned long long atomicAdd(unsigned long long *p, unsigned long long v);
int atomicMax(int *p, int v);
int atomicMin(int *p, int v);
int atomicExch(int *p, int v);
float atomicExch(float *p, float v);
int atomicCAS(int *p, int cmp, int v);
unsigned atomicCAS(unsigned *p, unsigned cmp, unsigned v);
unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v);
static inline void __threadfence(void) {}
static inline void __threadfence_block(void) {}

/* ---------------------------------------------------------------- math the kernels call */
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __fdividef(float a, float b) { return a / b; }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline float __saturatef(float x) { return x < 0 ? 0.0f : x > 1 ? 1.0f : x; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
static inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }

/* ---------------------------------------------------------------- launches */
typedef struct emu_stream *cudaStream_t;
/* runs the grid now (returns when every block is done); a configuration error is kept for
 * cudaGetLastError, as on the device. The stream only names the launch in the trace (emu_trace.cc). */
void emu_run_grid(const char *name, dim3 grid, dim3 block, size_t smem, cudaStream_t s, void (*thunk)(void *),
                  void *ctx);

template <class... P> struct emu_launcher {
	const char *name;
	void (*k)(P...);
	dim3 g, b;
	size_t smem;
	cudaStream_t s;
	template <class... A> void operator()(A &&...a) const
	{
		std::tuple<P...> args(std::forward<A>(a)...); /* converted as the call would */
		struct ctx_t { void (*k)(P...); std::tuple<P...> *args; } c = { k, &args };
		emu_run_grid(name, g, b, smem, s, [](void *p) {
			ctx_t *c_ = (ctx_t *)p;
			std::apply(c_->k, *c_->args);
		}, &c);
	}
};

template <class... P>
static inline emu_launcher<P...> emu_launch(const char *name, void (*k)(P...), dim3 g, dim3 b, size_t smem = 0,
                                            cudaStream_t s = 0)
{
	/* streams are synchronous: every launch completes before it returns */
	return emu_launcher<P...>{ name, k, g, b, smem, s };
}

/* dynamic shared memory (extern __shared__ T name[]; is rewritten to use this) */
void *emu_dynamic_shared(void);

#endif
