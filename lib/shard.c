/* shard.c - "--shard I/N" parsing and stable input assignment (see spindle/shard.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "spindle/shard.h"

int sp_shard_parse(const char *s, sp_shard *out, sp_err *err)
{
	char *end;
	errno = 0;
	unsigned long i = strtoul(s, &end, 10);
	if (end == s || *end != '/' || errno)
		SP_RAISE(err, SP_EUSAGE, "bad --shard '%s': expected I/N, e.g. 3/16", s);
	const char *t = end + 1;
	unsigned long n = strtoul(t, &end, 10);
	if (end == t || *end || errno || n == 0 || i >= n || n > 1000000000UL)
		SP_RAISE(err, SP_EUSAGE, "bad --shard '%s': need 0 <= I < N", s);
	out->index = (unsigned)i;
	out->count = (unsigned)n;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void sp_shard_select(const sp_shard *sh, const char *const *inputs, size_t n,
                     const char **picked, size_t *n_picked)
{
	/* sort a copy in place in picked, then compact this shard's share */
	for (size_t i = 0; i < n; i++)
		picked[i] = inputs[i];
	qsort(picked, n, sizeof *picked, cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (i % sh->count == sh->index)
			picked[k++] = picked[i];
	*n_picked = k;
}
