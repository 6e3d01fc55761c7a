/* helpers.c - fixtures for the lib/ unit tests (see helpers.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include "helpers.h"

char *th_tmpdir(void)
{
	char tmpl[] = "/tmp/spindle-unit.XXXXXX";
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

char *th_write(const char *dir, const char *name, const void *data, size_t n)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *p = malloc(len);
	snprintf(p, len, "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (f) {
		fwrite(data, 1, n, f);
		fclose(f);
	}
	return p;
}

void *th_zstd(const void *src, size_t n, size_t *out_n)
{
	size_t cap = ZSTD_compressBound(n);
	void *dst = malloc(cap);
	*out_n = ZSTD_compress(dst, cap, src, n, 3);
	return dst;
}

void *th_gzip(const void *src, size_t n, size_t *out_n)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	size_t cap = deflateBound(&z, n) + 64;
	unsigned char *dst = malloc(cap);
	z.next_in = (unsigned char *)(size_t)src;
	z.avail_in = (uInt)n;
	z.next_out = dst;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	*out_n = cap - z.avail_out;
	deflateEnd(&z);
	return dst;
}

void th_rmrf(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}
