/* mem.c - allocation wrappers with an injectable failure (see spindle/mem.h). */
#include <stdlib.h>
#include <string.h>
#include "spindle/mem.h"

static unsigned long fail_at, count;

static int should_fail(void)
{
	count++;
	return fail_at && count == fail_at;
}

void sp_mem_fail_at(unsigned long n) { fail_at = n; count = 0; }
unsigned long sp_mem_count(void) { return count; }

void *sp_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *sp_calloc(size_t c, size_t s) { return should_fail() ? NULL : calloc(c ? c : 1, s ? s : 1); }
void *sp_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void sp_free(void *p) { free(p); }

char *sp_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = sp_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}
