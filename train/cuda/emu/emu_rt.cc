/* emu_rt.cc - the runtime of the CUDA emulation build (issue 16): runs a grid one block at a time,
 * each CUDA thread a fiber with its own stack, switched cooperatively at __syncthreads and warp
 * collectives (so a barrier really waits for every thread of the block, and a shuffle sees every
 * lane's value of the same step); device memory between guard pages; the shared-memory race detector;
 * the error reports. Not instrumented itself: only the kernels' own loads and stores are watched.
 * Used by the emulated CUDA files (emu.h, cuda_runtime.h); nothing in the product links it. */
#include <cxxabi.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "cuda_runtime.h"
#include "emu_int.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifndef EMU_RACECHECK
#define EMU_RACECHECK 0
#endif
#ifdef EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

/* ---------------------------------------------------------------- errors */

static int n_errors;
static cudaError_t last_error = cudaSuccess;
static const char *cur_kernel;   /* the kernel running now (NULL on the host) */
static int abort_on_error = -1;

static void at_exit_status(void)
{
	if (n_errors) {
		fprintf(stderr, "emu: %d error%s found by the CUDA emulator (see above)\n", n_errors, n_errors == 1 ? "" : "s");
		fflush(stdout);
		_exit(1);
	}
}

void emu_error(const char *fmt, ...)
{
	static int hooked;
	if (!hooked) {
		hooked = 1;
		atexit(at_exit_status);
	}
	if (abort_on_error < 0) {
		const char *e = getenv("SPINDLE_EMU_ABORT");
		abort_on_error = e && *e == '1';
	}
	n_errors++;
	if (n_errors <= 20) {
		va_list ap;
		va_start(ap, fmt);
		fflush(stdout);
		fputs("emu: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	if (abort_on_error)
		_exit(1);
}

int emu_error_count(void) { return n_errors; }

/* the launch error cudaGetLastError returns (clear: and forgets) */
cudaError_t emu_take_last_error(int clear)
{
	cudaError_t e = last_error;
	if (clear)
		last_error = cudaSuccess;
	return e;
}

/* ---------------------------------------------------------------- fibers (x86-64: a few instructions)
 * A switch saves the callee-saved registers and the stack pointer, then restores the other side's:
 * far cheaper than swapcontext, which makes a system call for the signal mask on every switch. The
 * floating-point control words are not switched: no kernel changes rounding modes. */
#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif
extern "C" void emu_ctx_switch(void **save_sp, void *new_sp);
extern "C" void emu_ctx_start(void);
asm(".text\n"
    ".globl emu_ctx_switch\n.hidden emu_ctx_switch\n.type emu_ctx_switch,@function\n"
    "emu_ctx_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size emu_ctx_switch,.-emu_ctx_switch\n"
    ".globl emu_ctx_start\n.hidden emu_ctx_start\n.type emu_ctx_start,@function\n"
    "emu_ctx_start:\n"
    "  movq %r12, %rdi\n  callq *%r13\n  ud2\n"
    ".size emu_ctx_start,.-emu_ctx_start\n");

enum { F_RUN, F_BAR, F_WARP, F_DONE };
enum { STACK_BYTES = 256 * 1024, MAX_THREADS = 1024 };

struct fiber {
	void *sp;
	char *stack;            /* lowest usable byte (a PROT_NONE page lies below it) */
	int state, id;
	uint3 tid;
	const void *site;       /* where it waits: __syncthreads' return address */
	unsigned wmask;         /* warp collective: mask, kind, argument, width, value in and out */
	int wkind, warg, wwidth;
	uint64_t wval, wres;
	uint32_t wsync;         /* warp collectives this thread has completed (the race detector's order) */
	void *fake;             /* ASan's fake stack while switched out */
};

static fiber fibers[MAX_THREADS];
static fiber *cur;
static void *sched_sp;
static int n_threads;
static void (*cur_thunk)(void *);
static void *cur_ctx;
[[maybe_unused]] static const void *sched_stack_lo;
[[maybe_unused]] static size_t sched_stack_size;
[[maybe_unused]] static void *sched_fake;

static void switch_to_fiber(fiber *f)
{
#ifdef EMU_ASAN
	__sanitizer_start_switch_fiber(&sched_fake, f->stack, STACK_BYTES);
#endif
	emu_ctx_switch(&sched_sp, f->sp);
#ifdef EMU_ASAN
	__sanitizer_finish_switch_fiber(sched_fake, NULL, NULL);
#endif
}

static void switch_to_scheduler(fiber *f, int finished)
{
#ifdef EMU_ASAN
	__sanitizer_start_switch_fiber(finished ? NULL : &f->fake, sched_stack_lo, sched_stack_size);
#endif
	(void)finished;
	emu_ctx_switch(&f->sp, sched_sp);
#ifdef EMU_ASAN
	__sanitizer_finish_switch_fiber(f->fake, &sched_stack_lo, &sched_stack_size);
#endif
}

static void fiber_main(void *arg)
{
	fiber *f = (fiber *)arg;
#ifdef EMU_ASAN
	__sanitizer_finish_switch_fiber(NULL, &sched_stack_lo, &sched_stack_size);
#endif
	cur_thunk(cur_ctx);
	f->state = F_DONE;
	switch_to_scheduler(f, 1);
	abort(); /* a finished fiber is never resumed */
}

static void fiber_init(fiber *f)
{
	if (!f->stack) {
		size_t pg = (size_t)sysconf(_SC_PAGESIZE);
		char *m = (char *)mmap(NULL, STACK_BYTES + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED) {
			fprintf(stderr, "emu: cannot map a fiber stack: %s\n", strerror(errno));
			exit(3);
		}
		mprotect(m, pg, PROT_NONE); /* a stack overflow faults instead of writing the next stack */
		f->stack = m + pg;
	}
	uintptr_t top = ((uintptr_t)f->stack + STACK_BYTES) & ~(uintptr_t)15;
	uint64_t *s = (uint64_t *)(top - 80);
	s[0] = 0;                               /* alignment slot */
	s[1] = s[2] = 0;                        /* r15, r14 */
	s[3] = (uint64_t)(uintptr_t)fiber_main; /* r13: entry */
	s[4] = (uint64_t)(uintptr_t)f;          /* r12: argument */
	s[5] = s[6] = 0;                        /* rbx, rbp */
	s[7] = (uint64_t)(uintptr_t)emu_ctx_start;
	f->sp = s;
	f->fake = NULL;
}

/* ---------------------------------------------------------------- shared memory and its races */

extern "C" char __start_emu_shared[] __attribute__((weak)), __stop_emu_shared[] __attribute__((weak));
/* dynamic shared memory lives in the same section, so the same watch covers it */
enum { DYN_SHARED_BYTES = 96 * 1024 };
__attribute__((section("emu_shared"), aligned(16))) static char dyn_shared[DYN_SHARED_BYTES];
static size_t dyn_shared_limit;

void *emu_dynamic_shared(void) { return dyn_shared; }

struct sh_ent {
	uint32_t w_ep, r_ep;   /* barrier epochs of the last write and of the reads */
	uint16_t w_tid, r_tid; /* writer; reader (R_MANY: several) */
	uint16_t r_warp, pad;  /* the readers' warp when all are in one (W_MIXED: not) */
	uint32_t blk;          /* the block that touched it last (first touch in a block: poison it) */
	uint32_t w_ws, r_ws;   /* warp-collective counts at the write / the latest read */
};
enum { R_MANY = 0xFFFF, W_MIXED = 0xFFFF };
static sh_ent *shadow;
static uintptr_t sh_lo;
static size_t sh_len;
static uint32_t epoch = 1, block_serial = 1;
static int race_reports;
static int race_enabled = -1;

static void tid3(int t, char *buf, size_t n)
{
	unsigned x = t % blockDim.x, y = (t / blockDim.x) % blockDim.y, z = t / (blockDim.x * blockDim.y);
	snprintf(buf, n, "(%u,%u,%u)", x, y, z);
}

/* ---- the shared variable an address belongs to, for the report: the executable's own symbol table
 * (static locals keep local symbols, e.g. flash_dkv_kernel<64>(...)::ksw), read once, on demand */
struct sh_sym { uintptr_t lo; size_t size; char *name; };
static sh_sym *syms;
static int n_syms = -1;

static void load_symbols(void)
{
	n_syms = 0;
	FILE *f = fopen("/proc/self/exe", "rb");
	if (!f)
		return;
	Elf64_Ehdr eh;
	Elf64_Shdr *sh = NULL;
	char *shstr = NULL, *str = NULL;
	Elf64_Sym *sy = NULL;
	size_t nsy = 0;
	uintptr_t sec_addr = 0;
	if (fread(&eh, sizeof eh, 1, f) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_shentsize != sizeof(Elf64_Shdr))
		goto out;
	sh = (Elf64_Shdr *)calloc(eh.e_shnum, sizeof *sh);
	if (!sh || fseek(f, (long)eh.e_shoff, SEEK_SET) || fread(sh, sizeof *sh, eh.e_shnum, f) != eh.e_shnum)
		goto out;
	shstr = (char *)malloc(sh[eh.e_shstrndx].sh_size);
	if (!shstr || fseek(f, (long)sh[eh.e_shstrndx].sh_offset, SEEK_SET) ||
	    fread(shstr, 1, sh[eh.e_shstrndx].sh_size, f) != sh[eh.e_shstrndx].sh_size)
		goto out;
	for (int i = 0; i < eh.e_shnum; i++) {
		if (!strcmp(shstr + sh[i].sh_name, "emu_shared"))
			sec_addr = sh[i].sh_addr;
		if (sh[i].sh_type == SHT_SYMTAB && !sy) {
			const Elf64_Shdr *ss = &sh[sh[i].sh_link];
			nsy = sh[i].sh_size / sizeof(Elf64_Sym);
			sy = (Elf64_Sym *)malloc(sh[i].sh_size);
			str = (char *)malloc(ss->sh_size);
			if (!sy || !str || fseek(f, (long)sh[i].sh_offset, SEEK_SET) || fread(sy, 1, sh[i].sh_size, f) != sh[i].sh_size ||
			    fseek(f, (long)ss->sh_offset, SEEK_SET) || fread(str, 1, ss->sh_size, f) != ss->sh_size)
				goto out;
		}
	}
	if (!sec_addr || !sy)
		goto out;
	syms = (sh_sym *)calloc(nsy, sizeof *syms);
	for (size_t i = 0; syms && i < nsy; i++) {
		uintptr_t lo = sy[i].st_value - sec_addr + sh_lo;
		if (ELF64_ST_TYPE(sy[i].st_info) != STT_OBJECT || lo - sh_lo >= sh_len)
			continue;
		int st = 0;
		char *dm = abi::__cxa_demangle(str + sy[i].st_name, NULL, NULL, &st);
		syms[n_syms].lo = lo;
		syms[n_syms].size = sy[i].st_size;
		syms[n_syms].name = dm ? dm : strdup(str + sy[i].st_name);
		n_syms++;
	}
out:
	free(sh);
	free(shstr);
	free(str);
	free(sy);
	fclose(f);
}

static void shared_name(uintptr_t a, char *buf, size_t n)
{
	if (n_syms < 0)
		load_symbols();
	for (int i = 0; i < n_syms; i++)
		if (a - syms[i].lo < syms[i].size) {
			snprintf(buf, n, "%s + %zu", syms[i].name, (size_t)(a - syms[i].lo));
			return;
		}
	snprintf(buf, n, "shared byte %zu", (size_t)(a - sh_lo));
}

static void race(const char *kind, int other, uintptr_t a)
{
	race_reports++;
	char me[40], them[40];
	tid3(cur->id, me, sizeof me);
	if (other == R_MANY)
		snprintf(them, sizeof them, "other threads");
	else {
		char t3[32];
		tid3(other, t3, sizeof t3);
		snprintf(them, sizeof them, "thread %s", t3);
	}
	char var[512] = "";
	if (race_reports <= 20) /* only the reports that are printed */
		shared_name(a, var, sizeof var);
	emu_error("race on shared memory in kernel %s, block (%u,%u,%u): %s: thread %s and %s, address %p (%s), with "
	          "no __syncthreads between them", cur_kernel, blockIdx.x, blockIdx.y, blockIdx.z, kind, me, them,
	          (void *)a, var);
}

static inline int ordered(int other, uint32_t other_ws)
{
	return other == cur->id || (other / 32 == cur->id / 32 && other_ws < cur->wsync);
}

/* out of line: the callbacks' fast path (not shared memory) stays a compare and a return */
__attribute__((noinline)) static void shared_access(uintptr_t a, int size, int write)
{
	int me = cur->id;
	for (uintptr_t w = (a - sh_lo) / 4, end = (a - sh_lo + size + 3) / 4; w < end; w++) {
		sh_ent *e = &shadow[w];
		if (e->blk != block_serial) {
			/* the word's first access in this block: a read gets NaN bytes (this runs before the
			 * load), as a whole-section fill before the block would give, at a fraction of the cost */
			e->blk = block_serial;
			if (!write)
				memset((void *)(sh_lo + w * 4), 0xFF, 4);
		}
		if (write) {
			if (e->w_ep == epoch && !ordered(e->w_tid, e->w_ws))
				race("write after write", e->w_tid, a);
			else if (e->r_ep == epoch) {
				if (e->r_tid == R_MANY ? !(e->r_warp == me / 32 && e->r_ws < cur->wsync) : !ordered(e->r_tid, e->r_ws))
					race("write after read", e->r_tid, a);
			}
			e->w_ep = epoch;
			e->w_tid = (uint16_t)me;
			e->w_ws = cur->wsync;
		} else {
			if (e->w_ep == epoch && !ordered(e->w_tid, e->w_ws))
				race("read after write", e->w_tid, a);
			if (e->r_ep != epoch) {
				e->r_ep = epoch;
				e->r_tid = (uint16_t)me;
				e->r_warp = (uint16_t)(me / 32);
			} else if (e->r_tid != me) {
				e->r_tid = R_MANY;
				if (e->r_warp != me / 32)
					e->r_warp = W_MIXED;
			}
			e->r_ws = cur->wsync;
		}
	}
}

__attribute__((always_inline)) static inline void watch(const void *p, int size, int write)
{
	uintptr_t a = (uintptr_t)p;
	if (__builtin_expect(a - sh_lo < sh_len, 0) && cur && race_enabled)
		shared_access(a, size, write);
}

/* the callbacks of clang's -fsanitize-coverage=trace-loads,trace-stores in the emulated kernels */
extern "C" {
void __sanitizer_cov_load1(uint8_t *p) { watch(p, 1, 0); }
void __sanitizer_cov_load2(uint16_t *p) { watch(p, 2, 0); }
void __sanitizer_cov_load4(uint32_t *p) { watch(p, 4, 0); }
void __sanitizer_cov_load8(uint64_t *p) { watch(p, 8, 0); }
void __sanitizer_cov_load16(__int128 *p) { watch(p, 16, 0); }
void __sanitizer_cov_store1(uint8_t *p) { watch(p, 1, 1); }
void __sanitizer_cov_store2(uint16_t *p) { watch(p, 2, 1); }
void __sanitizer_cov_store4(uint32_t *p) { watch(p, 4, 1); }
void __sanitizer_cov_store8(uint64_t *p) { watch(p, 8, 1); }
void __sanitizer_cov_store16(__int128 *p) { watch(p, 16, 1); }
}

static void shared_setup(void)
{
	if (shadow)
		return;
	sh_lo = (uintptr_t)__start_emu_shared;
	sh_len = (size_t)(__stop_emu_shared - __start_emu_shared);
	shadow = (sh_ent *)calloc(sh_len / 4 + 4, sizeof *shadow);
	if (!shadow) {
		fprintf(stderr, "emu: out of memory for the race detector\n");
		exit(3);
	}
	const char *e = getenv("SPINDLE_EMU_RACECHECK");
	/* EMU_RACECHECK: the build compiled the kernels with clang's load/store callbacks */
	race_enabled = EMU_RACECHECK && !(e && *e == '0');
	dyn_shared_limit = DYN_SHARED_BYTES;
}

/* NaN bytes in all of shared memory before a block: what a kernel reads before writing shows */
static void shared_poison(void)
{
	block_serial++;
	if (race_enabled)
		return; /* done word by word at the first access (shared_access) */
#ifdef EMU_ASAN
	/* globals in the section may carry ASan redzones: only the variables' own bytes */
	for (uintptr_t a = sh_lo; a < sh_lo + sh_len; a++)
		if (!__asan_address_is_poisoned((void *)a))
			*(volatile char *)a = (char)0xFF;
#else
	memset((void *)sh_lo, 0xFF, sh_len);
#endif
}

/* ---------------------------------------------------------------- the scheduler */

void emu_print_context(void)
{
	if (!cur_kernel)
		return;
	char t[40] = "(none)";
	if (cur)
		tid3(cur->id, t, sizeof t);
	fprintf(stderr, "emu: in kernel %s, block (%u,%u,%u) of (%u,%u,%u), thread %s of (%u,%u,%u)\n", cur_kernel,
	        blockIdx.x, blockIdx.y, blockIdx.z, gridDim.x, gridDim.y, gridDim.z, t, blockDim.x, blockDim.y, blockDim.z);
}

static void block_error(const char *what)
{
	emu_error("%s in kernel %s, block (%u,%u,%u)", what, cur_kernel, blockIdx.x, blockIdx.y, blockIdx.z);
}

static uint64_t warp_result(const fiber *w, int lane, unsigned mask, int *bad_src)
{
	const fiber *f = &w[lane];
	int width = f->wwidth, seg = lane / width * width, src = lane;
	switch (f->wkind) {
	case EMU_SHFL_IDX: src = seg + ((f->warg % width) + width) % width; break;
	case EMU_SHFL_XOR: src = lane ^ f->warg; if (src >= seg + width) src = lane; break;
	case EMU_SHFL_DOWN: src = lane + f->warg; if (src >= seg + width) src = lane; break;
	case EMU_SHFL_UP: src = lane - f->warg; if (src < seg) src = lane; break;
	default: {
		uint64_t ballot = 0;
		for (int l = 0; l < 32; l++)
			if (mask >> l & 1)
				ballot |= (uint64_t)(w[l].wval != 0) << l;
		if (f->wkind == EMU_VOTE_BALLOT)
			return ballot;
		if (f->wkind == EMU_VOTE_ANY)
			return ballot != 0;
		return ballot == (uint64_t)mask;
	}
	}
	if (!(mask >> src & 1)) {
		*bad_src = src;
		return f->wval;
	}
	return w[src].wval;
}

/* completes the collectives of the warp at thread w0 that every named lane has reached; returns how
 * many lanes it released */
static int resolve_warp(int w0)
{
	int released = 0;
	{
		fiber *w = &fibers[w0];
		int nl = n_threads - w0 < 32 ? n_threads - w0 : 32;
		unsigned done = 0;
		for (int l = 0; l < nl; l++) {
			if (w[l].state != F_WARP || (done >> l & 1))
				continue;
			unsigned mask = w[l].wmask;
			int ready = 1;
			for (int m = 0; m < 32 && ready; m++) {
				if (!(mask >> m & 1))
					continue;
				if (m >= nl) {
					block_error("a warp collective names a lane beyond the block");
					mask &= ~(1u << m);
					continue;
				}
				if (w[m].state == F_DONE) {
					char msg[160];
					snprintf(msg, sizeof msg, "lane %d of warp %d has exited but is named in the mask 0x%08x of a warp "
					         "collective (undefined on the GPU)", m, w0 / 32, w[l].wmask);
					block_error(msg);
					mask &= ~(1u << m);
				} else if (w[m].state != F_WARP)
					ready = 0;
			}
			if (!ready)
				continue;
			for (int m = 0; m < nl; m++)
				if ((mask >> m & 1) && (w[m].wkind != w[l].wkind || w[m].wmask != w[l].wmask || w[m].site != w[l].site)) {
					block_error("lanes of one warp reached different warp collectives (divergence)");
					break;
				}
			for (int m = 0; m < nl; m++) {
				if (!(mask >> m & 1))
					continue;
				int bad = -1;
				w[m].wres = warp_result(w, m, mask, &bad);
				if (bad >= 0) {
					char msg[160];
					snprintf(msg, sizeof msg, "lane %d reads lane %d, which is not in the shuffle's mask 0x%08x", m, bad, mask);
					block_error(msg);
				}
			}
			for (int m = 0; m < nl; m++)
				if (mask >> m & 1) {
					w[m].state = F_RUN;
					w[m].wsync++;
					done |= 1u << m;
					released++;
				}
		}
	}
	return released;
}

static int run_block(void)
{
	shared_poison();
	epoch++;
	for (int i = 0; i < n_threads; i++) {
		fiber *f = &fibers[i];
		fiber_init(f);
		f->id = i;
		f->state = F_RUN;
		f->wsync = 0;
		f->tid.x = i % blockDim.x;
		f->tid.y = (i / blockDim.x) % blockDim.y;
		f->tid.z = i / (blockDim.x * blockDim.y);
	}
	for (;;) {
		/* warp by warp: run its lanes to their next collective, complete it, again, until every lane
		 * waits at a barrier or has finished (the 32 fibers stay in the cache meanwhile) */
		int live = 0, at_bar = 0, at_warp = 0;
		for (int w0 = 0; w0 < n_threads; w0 += 32) {
			int nl = n_threads - w0 < 32 ? n_threads - w0 : 32;
			for (;;) {
				int waiting = 0;
				for (int i = w0; i < w0 + nl; i++) {
					fiber *f = &fibers[i];
					if (f->state == F_RUN) {
						cur = f;
						threadIdx = f->tid;
						switch_to_fiber(f);
						cur = NULL;
					}
					waiting += f->state == F_WARP;
				}
				if (!waiting || !resolve_warp(w0))
					break;
			}
			for (int i = w0; i < w0 + nl; i++) {
				live += fibers[i].state != F_DONE;
				at_bar += fibers[i].state == F_BAR;
				at_warp += fibers[i].state == F_WARP;
			}
		}
		if (!live)
			return 0;
		if (at_bar == live) {
			const void *site = NULL;
			int diverged = 0;
			for (int i = 0; i < n_threads; i++)
				if (fibers[i].state == F_BAR) {
					if (site && fibers[i].site != site)
						diverged = 1;
					site = fibers[i].site;
					fibers[i].state = F_RUN;
				}
			if (diverged)
				block_error("threads of one block wait at different __syncthreads (divergent barrier)");
			epoch++;
			continue;
		}
		char msg[200];
		snprintf(msg, sizeof msg, "deadlock: %d threads wait at __syncthreads while %d wait at warp collectives that "
		         "cannot complete", at_bar, at_warp);
		block_error(msg);
		return -1;
	}
}

void __syncthreads(void)
{
	if (!cur) {
		emu_error("__syncthreads called outside a kernel");
		return;
	}
	cur->site = __builtin_return_address(0);
	cur->state = F_BAR;
	switch_to_scheduler(cur, 0);
}

uint64_t emu_warp_op(unsigned mask, uint64_t v, int kind, int arg, int width)
{
	if (!cur) {
		emu_error("a warp collective called outside a kernel");
		return v;
	}
	if (width <= 0 || width > 32 || (width & (width - 1))) {
		emu_error("kernel %s: shuffle width %d is not a power of two up to 32", cur_kernel, width);
		width = 32;
	}
	int lane = cur->id % 32;
	if (!(mask >> lane & 1))
		emu_error("kernel %s: lane %d calls a warp collective whose mask 0x%08x does not name it", cur_kernel, lane, mask);
	fiber *f = cur;
	f->site = __builtin_return_address(0);
	f->wmask = mask | 1u << lane;
	f->wkind = kind;
	f->warg = arg;
	f->wwidth = width;
	f->wval = v;
	f->state = F_WARP;
	switch_to_scheduler(f, 0);
	return f->wres;
}

void __syncwarp(unsigned mask) { (void)emu_warp_op(mask, 0, EMU_VOTE_ANY, 0, 32); }

/* SPINDLE_EMU_PROFILE=1: launches, threads and seconds per kernel, printed at exit */
struct prof_ent { const char *name; long launches; double threads, secs; };
static prof_ent prof[64];
static int n_prof, profiling = -1;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void prof_print(void)
{
	for (int i = 0; i < n_prof; i++)
		fprintf(stderr, "emu profile: %-32s %7ld launches %12.0f threads %8.3f s\n", prof[i].name, prof[i].launches,
		        prof[i].threads, prof[i].secs);
}

static void prof_add(const char *name, double threads, double secs)
{
	int i = 0;
	while (i < n_prof && strcmp(prof[i].name, name))
		i++;
	if (i == n_prof) {
		if (n_prof == 64)
			return;
		prof[n_prof++].name = name;
	}
	prof[i].launches++;
	prof[i].threads += threads;
	prof[i].secs += secs;
}

void emu_run_grid(const char *name, dim3 grid, dim3 block, size_t smem, cudaStream_t s, void (*thunk)(void *),
                  void *ctx)
{
	shared_setup();
	if (emu_tracing())
		emu_trace("kernel %s stream=%d", name, emu_stream_id(s));
	if (profiling < 0) {
		const char *e = getenv("SPINDLE_EMU_PROFILE");
		profiling = e && *e == '1';
		if (profiling) {
			atexit(prof_print);
			signal(SIGTERM, [](int) { prof_print(); _exit(124); });
		}
	}
	double t0 = profiling ? now_s() : 0;
	unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
	if (!grid.x || !grid.y || !grid.z || !nt || nt > MAX_THREADS || block.z > 64 || grid.y > 65535 ||
	    grid.z > 65535 || grid.x > 0x7FFFFFFFu || smem > dyn_shared_limit) {
		last_error = cudaErrorInvalidConfiguration;
		if (getenv("SPINDLE_EMU_VERBOSE"))
			fprintf(stderr, "emu: %s<<<(%u,%u,%u), (%u,%u,%u), %zu>>>: invalid configuration\n", name, grid.x, grid.y,
			        grid.z, block.x, block.y, block.z, smem);
		return;
	}
	if (cur_kernel) {
		emu_error("kernel %s launched from inside kernel %s (dynamic parallelism is not emulated)", name, cur_kernel);
		return;
	}
	cur_kernel = name;
	cur_thunk = thunk;
	cur_ctx = ctx;
	gridDim = grid;
	blockDim = block;
	n_threads = (int)nt;
	for (unsigned z = 0; z < grid.z; z++)
		for (unsigned y = 0; y < grid.y; y++)
			for (unsigned x = 0; x < grid.x; x++) {
				blockIdx.x = x;
				blockIdx.y = y;
				blockIdx.z = z;
				if (run_block() < 0) {
					last_error = cudaErrorLaunchFailure;
					goto out;
				}
			}
out:
	cur_kernel = NULL;
	if (profiling)
		prof_add(name, (double)nt * grid.x * grid.y * grid.z, now_s() - t0);
}

/* ---------------------------------------------------------------- atomics (see emu.h) */

template <class T> static T fetch_add(T *p, T v) { T o = *p; *p = o + v; return o; }
float atomicAdd(float *p, float v) { return fetch_add(p, v); }
double atomicAdd(double *p, double v) { return fetch_add(p, v); }
int atomicAdd(int *p, int v) { return fetch_add(p, v); }
unsigned atomicAdd(unsigned *p, unsigned v) { return fetch_add(p, v); }
unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) { return fetch_add(p, v); }
int atomicMax(int *p, int v) { int o = *p; if (v > o) *p = v; return o; }
int atomicMin(int *p, int v) { int o = *p; if (v < o) *p = v; return o; }
int atomicExch(int *p, int v) { int o = *p; *p = v; return o; }
float atomicExch(float *p, float v) { float o = *p; *p = v; return o; }
int atomicCAS(int *p, int c, int v) { int o = *p; if (o == c) *p = v; return o; }
unsigned atomicCAS(unsigned *p, unsigned c, unsigned v) { unsigned o = *p; if (o == c) *p = v; return o; }
unsigned long long atomicCAS(unsigned long long *p, unsigned long long c, unsigned long long v)
{
	unsigned long long o = *p;
	if (o == c)
		*p = v;
	return o;
}
