/* hash.h - hashing for spindle (xxHash: XXH3 64/128 and XXH64), so every tool hashes alike. */
#ifndef SPINDLE_HASH_H
#define SPINDLE_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_hash128 { uint64_t lo, hi; } sp_hash128;

uint64_t sp_hash64(const void *p, size_t n, uint64_t seed);      /* XXH3-64 */
sp_hash128 sp_hash128_of(const void *p, size_t n, uint64_t seed); /* XXH3-128 */
uint64_t sp_xxh64(const void *p, size_t n, uint64_t seed);       /* XXH64, for file checksums */

/* Streaming XXH64 for checksums of files written in pieces. */
typedef struct sp_xxh64_state sp_xxh64_state;
sp_xxh64_state *sp_xxh64_new(uint64_t seed);
void sp_xxh64_update(sp_xxh64_state *s, const void *p, size_t n);
uint64_t sp_xxh64_digest(const sp_xxh64_state *s);
void sp_xxh64_free(sp_xxh64_state *s);

/* Hashes a whole file with XXH64 (seed 0). */
struct sp_err;
int sp_xxh64_file(const char *path, uint64_t *out, struct sp_err *err);

#endif
