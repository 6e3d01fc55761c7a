/* shard.h - "--shard I/N": which inputs a job of a cluster array processes.
 *
 * Assignment is stable: the inputs are sorted by name (byte order) and input k goes to job k mod N.
 * Every job given the same list therefore takes a disjoint share, and the N shares cover every
 * input exactly once, whatever order the shell listed them in. */
#ifndef SPINDLE_SHARD_H
#define SPINDLE_SHARD_H

#include <stddef.h>
#include "spindle/err.h"

typedef struct sp_shard { unsigned index, count; } sp_shard; /* 0-based index < count */

#define SP_SHARD_ALL { 0, 1 }

/* Parses "I/N" (0 <= I < N). Returns 0 or SP_EUSAGE. */
int sp_shard_parse(const char *s, sp_shard *out, sp_err *err);
/* Selects this shard's inputs: fills picked (caller array of n pointers) and *n_picked.
 * picked keeps sorted order. Does not allocate. */
void sp_shard_select(const sp_shard *sh, const char *const *inputs, size_t n,
                     const char **picked, size_t *n_picked);

#endif
