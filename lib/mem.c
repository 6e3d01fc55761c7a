/* mem.c - allocation wrappers with an injectable failure (see spindle/mem.h).
 * The counters are atomic so tools running --threads N stay race-free; injection itself is meant for
 * single-threaded tests. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "spindle/mem.h"

static unsigned long fail_at, count;

static int should_fail(void)
{
	unsigned long n = __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
	unsigned long target = __atomic_load_n(&fail_at, __ATOMIC_RELAXED);
	return target && n == target;
}

void sp_mem_fail_at(unsigned long n)
{
	__atomic_store_n(&count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fail_at, n, __ATOMIC_RELAXED);
}

unsigned long sp_mem_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }

void *sp_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *sp_calloc(size_t c, size_t s) { return should_fail() ? NULL : calloc(c ? c : 1, s ? s : 1); }
void *sp_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void sp_free(void *p) { free(p); }

void *sp_calloc_big(size_t n)
{
	if (should_fail())
		return NULL;
	const size_t huge = (size_t)2 << 20;
	if (n < huge / 2) {
		void *p = calloc(1, n ? n : 1);
		if (p)
			memset(p, 0, n); /* written, not just mapped: see spindle/mem.h */
		return p;
	}
	void *p = NULL;
	if (posix_memalign(&p, huge, n) != 0)
		return NULL;
	(void)madvise(p, (n + huge - 1) & ~(huge - 1), MADV_HUGEPAGE);
	memset(p, 0, n);
	return p;
}

char *sp_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = sp_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}
