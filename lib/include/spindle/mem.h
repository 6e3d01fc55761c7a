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

/* Make the n-th allocation from now fail (1 = the next one); 0 disables. Not thread-safe: tests only. */
void sp_mem_fail_at(unsigned long n);
/* Number of allocations attempted since the last sp_mem_fail_at. */
unsigned long sp_mem_count(void);

#endif
