/* hash.c - xxHash wrappers (see spindle/hash.h). */
#include <stdio.h>
#include <errno.h>
#include <xxhash.h>
#include "spindle/hash.h"
#include "spindle/err.h"
#include "spindle/io.h"

uint64_t sp_hash64(const void *p, size_t n, uint64_t seed) { return XXH3_64bits_withSeed(p, n, seed); }

sp_hash128 sp_hash128_of(const void *p, size_t n, uint64_t seed)
{
	XXH128_hash_t h = XXH3_128bits_withSeed(p, n, seed);
	sp_hash128 r = { h.low64, h.high64 };
	return r;
}

uint64_t sp_xxh64(const void *p, size_t n, uint64_t seed) { return XXH64(p, n, seed); }

struct sp_xxh64_state { XXH64_state_t *s; };

sp_xxh64_state *sp_xxh64_new(uint64_t seed)
{
	XXH64_state_t *s = XXH64_createState();
	if (!s)
		return NULL;
	XXH64_reset(s, seed);
	return (sp_xxh64_state *)s;
}

void sp_xxh64_update(sp_xxh64_state *s, const void *p, size_t n) { XXH64_update((XXH64_state_t *)s, p, n); }
uint64_t sp_xxh64_digest(const sp_xxh64_state *s) { return XXH64_digest((const XXH64_state_t *)s); }
void sp_xxh64_free(sp_xxh64_state *s) { XXH64_freeState((XXH64_state_t *)s); }

int sp_xxh64_file(const char *path, uint64_t *out, sp_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot open");
		return sp_err_locate(err, path, 0);
	}
	XXH64_state_t *s = XXH64_createState();
	if (!s) {
		fclose(f);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	XXH64_reset(s, 0);
	char buf[1 << 16];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		XXH64_update(s, buf, n);
	int bad = ferror(f);
	fclose(f);
	*out = XXH64_digest(s);
	XXH64_freeState(s);
	if (bad) {
		errno = EIO;
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "read failed");
		return sp_err_locate(err, path, 0);
	}
	return 0;
}
