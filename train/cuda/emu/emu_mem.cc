/* emu_mem.cc - device memory and the runtime API calls of the emulation build (issue 16). Each
 * cudaMalloc is its own mapping, ending exactly at a PROT_NONE guard page (one more guards its
 * start), and is filled with NaN bytes; a kernel that reads or writes a byte outside its buffer
 * faults, and the handler names the kernel, block, thread and the allocation missed. Under ASan
 * (the SAN=1 pass) allocations are plain malloc and ASan reports the access, with the same kernel
 * context added. Copies check that their range lies inside one allocation. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <map>
#include "cuda_runtime.h"
#include "emu_int.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif

struct alloc_info {
	size_t bytes;
	char *map;        /* the mapping (guard pages included) */
	size_t map_bytes;
};
static std::map<uintptr_t, alloc_info> allocs; /* by start address */
static size_t live_bytes;

static const std::pair<const uintptr_t, alloc_info> *find_alloc(uintptr_t a)
{
	auto it = allocs.upper_bound(a);
	if (it == allocs.begin())
		return NULL;
	--it;
	return a < it->first + it->second.bytes ? &*it : NULL;
}

int emu_check_range(const void *p, size_t n, const char *what)
{
	uintptr_t a = (uintptr_t)p;
	auto *f = find_alloc(a);
	if (!f) {
		emu_error("%s: %p is not inside any device allocation", what, p);
		return 0;
	}
	if (n > f->first + f->second.bytes - a) {
		emu_error("%s: %zu bytes from offset %zu overrun the %zu-byte device allocation at %p by %zu bytes", what, n,
		          (size_t)(a - f->first), f->second.bytes, (void *)f->first, (size_t)(a + n - f->first - f->second.bytes));
		return 0;
	}
	return 1;
}

#ifdef EMU_ASAN
extern "C" void __asan_on_error(void) { emu_print_context(); }
#else
/* a fault in a guard page: which allocation it missed, and where */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr;
	char msg[512];
	int n = snprintf(msg, sizeof msg, "emu: invalid device memory access at %p", (void *)a);
	for (auto &kv : allocs) {
		const alloc_info &ai = kv.second;
		uintptr_t lo = (uintptr_t)ai.map, hi = lo + ai.map_bytes;
		if (a >= lo && a < hi) {
			if (a >= kv.first + ai.bytes)
				n += snprintf(msg + n, sizeof msg - n, ": %zu bytes past the end of the %zu-byte allocation at %p",
				              (size_t)(a - kv.first - ai.bytes), ai.bytes, (void *)kv.first);
			else
				n += snprintf(msg + n, sizeof msg - n, ": %zu bytes before the start of the %zu-byte allocation at %p",
				              (size_t)(kv.first - a), ai.bytes, (void *)kv.first);
			break;
		}
	}
	fprintf(stderr, "%s (out of bounds)\n", msg);
	emu_print_context();
	signal(sig, SIG_DFL);
	_exit(1);
}

static void install_handler(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	static char alt[64 * 1024];
	stack_t ss;
	ss.ss_sp = alt;
	ss.ss_size = sizeof alt;
	ss.ss_flags = 0;
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}
#endif

cudaError_t cudaMalloc(void **p, size_t bytes)
{
	*p = NULL;
	if (!bytes)
		return cudaErrorInvalidValue;
	alloc_info ai;
	ai.bytes = bytes;
#ifdef EMU_ASAN
	ai.map = (char *)malloc(bytes);
	ai.map_bytes = bytes;
	if (!ai.map)
		return cudaErrorMemoryAllocation;
	char *base = ai.map;
#else
	install_handler();
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), body = (bytes + pg - 1) / pg * pg;
	ai.map_bytes = body + 2 * pg;
	ai.map = (char *)mmap(NULL, ai.map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ai.map == MAP_FAILED)
		return cudaErrorMemoryAllocation;
	if (mprotect(ai.map + pg, body, PROT_READ | PROT_WRITE) != 0) {
		munmap(ai.map, ai.map_bytes);
		return cudaErrorMemoryAllocation;
	}
	/* the buffer ends where the upper guard page starts: a one-byte overrun faults (the start keeps
	 * the alignment its size has: a buffer of n floats is 4-aligned, of doubles 8-aligned) */
	char *base = ai.map + pg + body - bytes;
#endif
	memset(base, 0xFF, bytes); /* NaN as fp32 and bf16: what no kernel wrote shows */
	allocs[(uintptr_t)base] = ai;
	live_bytes += bytes;
	*p = base;
	return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
	if (!p)
		return cudaSuccess;
	auto it = allocs.find((uintptr_t)p);
	if (it == allocs.end()) {
		emu_error("cudaFree(%p): not the start of a device allocation (double free?)", p);
		return cudaErrorInvalidValue;
	}
#ifdef EMU_ASAN
	free(it->second.map);
#else
	munmap(it->second.map, it->second.map_bytes);
#endif
	live_bytes -= it->second.bytes;
	allocs.erase(it);
	return cudaSuccess;
}

cudaError_t cudaMallocHost(void **p, size_t bytes)
{
	*p = malloc(bytes ? bytes : 1);
	return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFreeHost(void *p)
{
	free(p);
	return cudaSuccess;
}

static int is_dev(const void *p) { return find_alloc((uintptr_t)p) != NULL; }

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
	if (!n)
		return cudaSuccess;
	int dd = kind == cudaMemcpyDeviceToDevice || kind == cudaMemcpyHostToDevice || (kind == cudaMemcpyDefault && is_dev(dst));
	int sd = kind == cudaMemcpyDeviceToDevice || kind == cudaMemcpyDeviceToHost || (kind == cudaMemcpyDefault && is_dev(src));
	if ((dd && !emu_check_range(dst, n, "cudaMemcpy destination")) || (sd && !emu_check_range(src, n, "cudaMemcpy source")))
		return cudaErrorInvalidValue;
	memmove(dst, src, n);
	return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s)
{
	(void)s;
	return cudaMemcpy(dst, src, n, kind);
}

cudaError_t cudaMemset(void *p, int byte, size_t n)
{
	if (!n)
		return cudaSuccess;
	if (!emu_check_range(p, n, "cudaMemset"))
		return cudaErrorInvalidValue;
	memset(p, byte, n);
	return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int byte, size_t n, cudaStream_t s)
{
	(void)s;
	return cudaMemset(p, byte, n);
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b)
{
	*total_b = (size_t)16 << 30;
	*free_b = *total_b - live_bytes;
	return cudaSuccess;
}
