/* corpus.c - walking documentation trees and judging files as text (see corpus.h). */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "corpus.h"
#include "spindle/utf8.h"
#include "spindle/mem.h"

corpus_verdict corpus_judge(const corpus_opts *o, const char *text, size_t n)
{
	if (n < o->min_bytes)
		return CORPUS_TOO_SMALL;
	if (o->max_bytes && n > o->max_bytes)
		return CORPUS_TOO_LARGE;
	if (memchr(text, '\0', n))
		return CORPUS_BINARY;
	if (!sp_utf8_valid(text, n, NULL))
		return CORPUS_NOT_UTF8;
	return CORPUS_KEEP;
}

const char *corpus_verdict_name(corpus_verdict v)
{
	static const char *names[] = { "kept", "binary", "not_utf8", "too_small", "too_large" };
	return names[v];
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int corpus_walk(const char *path, corpus_file_fn fn, void *ctx, sp_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot stat");
		return sp_err_locate(err, path, 0);
	}
	if (S_ISREG(st.st_mode))
		return fn(ctx, path);
	if (!S_ISDIR(st.st_mode))
		return 0; /* symlinks, devices: not followed */
	DIR *d = opendir(path);
	if (!d)
		return 0; /* unreadable folder: nothing to take */
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **p = sp_realloc(names, cap * sizeof *p);
			if (!p) { rc = SP_ENOMEM; break; }
			names = p;
		}
		size_t len = strlen(path) + strlen(e->d_name) + 2;
		names[n] = sp_malloc(len);
		if (!names[n]) { rc = SP_ENOMEM; break; }
		snprintf(names[n], len, "%s/%s", path, e->d_name);
		n++;
	}
	closedir(d);
	if (rc == 0)
		qsort(names, n, sizeof *names, cmp_name);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = corpus_walk(names[i], fn, ctx, err);
	for (size_t i = 0; i < n; i++)
		sp_free(names[i]);
	sp_free(names);
	if (rc == SP_ENOMEM)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return rc;
}
