/* dedup_table.h - hash tables of dedup: a set of 128-bit hashes (exact dedup) and a counter keyed
 * by 64-bit hashes (line dedup). Caller storage, all-zero is empty; *_release frees. */
#ifndef SPINDLE_DEDUP_TABLE_H
#define SPINDLE_DEDUP_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/hash.h"

typedef struct dd_set128 { sp_hash128 *keys; size_t n, cap; } dd_set128;
/* Adds h; *added = 1 if it was new. Returns 0 or SP_ENOMEM. */
int dd_set128_add(dd_set128 *s, sp_hash128 h, int *added);
void dd_set128_release(dd_set128 *s);

typedef struct dd_count64 { uint64_t *keys; uint32_t *vals; size_t n, cap; } dd_count64;
int dd_count64_add(dd_count64 *c, uint64_t key, uint32_t by); /* saturates at UINT32_MAX */
uint32_t dd_count64_get(const dd_count64 *c, uint64_t key);
void dd_count64_release(dd_count64 *c);

#endif
