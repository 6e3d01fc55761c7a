/* shard.c - "--shard I/N" parsing and stable input assignment (see spindle/shard.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "spindle/shard.h"

int sp_shard_parse(const char *s, sp_shard *out, sp_err *err)
{
	/* two plain decimal numbers around one '/': no sign, space or trailing bytes (strtoul would
	 * take " 3", "+3" and "-1") */
	const char *slash = strchr(s, '/');
	size_t li = slash ? (size_t)(slash - s) : 0, ln = slash ? strlen(slash + 1) : 0;
	if (!slash || !li || !ln || strspn(s, "0123456789") != li || strspn(slash + 1, "0123456789") != ln)
		SP_RAISE(err, SP_EUSAGE, "bad --shard '%s': malformed, expected I/N with two whole numbers, e.g. 3/16", s);
	errno = 0;
	unsigned long i = strtoul(s, NULL, 10), n = strtoul(slash + 1, NULL, 10);
	if (errno || n == 0 || n > 1000000000UL)
		SP_RAISE(err, SP_EUSAGE, "bad --shard '%s': N must be 1 to 1000000000", s);
	if (i >= n)
		SP_RAISE(err, SP_EUSAGE, "bad --shard '%s': I must be below N (jobs are numbered 0 to N-1)", s);
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
