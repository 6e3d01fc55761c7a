/* mem.h - allocation wrappers with fault injection for tests.
 *
 * All of lib/ allocates through these so a test can make the Nth allocation fail
 * (sp_mem_fail_at) and check that each error path returns SP_ENOMEM and leaks nothing.
 * Memory returned is owned by the caller and freed with sp_free (free(NULL) is a no-op). */
#ifndef SPINDLE_MEM_H
#define SPINDLE_MEM_H

#include <stddef.h>

void *sp_malloc(size_t n);
void *sp_calloc(size_t count, size_t size);
void *sp_realloc(void *p, size_t n);
char *sp_strdup(const char *s);
void sp_free(void *p);
/* A zeroed block for a big table read at random (a cache, a hash table): 2 MiB-aligned and advised
 * for transparent huge pages from 1 MiB up (one TLB entry per 2 MiB instead of 512), and written
 * now, so its pages are faulted in here: a calloc'd page is first mapped read-only to the zero page,
 * and the write that later un-shares it costs, in a threaded process, a TLB shootdown on every core
 * (a quarter of `tok encode --threads 2` once went there). Freed with sp_free. */
void *sp_calloc_big(size_t n);

/* Make the n-th allocation from now fail (1 = the next one); 0 disables. Not thread-safe: tests only. */
void sp_mem_fail_at(unsigned long n);
/* Number of allocations attempted since the last sp_mem_fail_at. */
unsigned long sp_mem_count(void);

#endif
