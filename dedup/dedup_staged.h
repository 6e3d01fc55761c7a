/* dedup_staged.h - integrity of the staged dedup files (schemas/dedup-staged.md): every file ends
 * with an XXH64 checksum of all bytes before it, and its counts must fit its size. Readers verify a
 * file before parsing it, so a flipped byte is a "corrupt file" error naming the file, never a wrong
 * result or an allocation sized by garbage. Used by dedup/cli_stage.c, cli_lines.c and the fuzz target. */
#ifndef SPINDLE_DEDUP_STAGED_H
#define SPINDLE_DEDUP_STAGED_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"

#define DD_STAGED_VERSION 2u
#define DD_STAGED_HEAD 12   /* magic (8) + version u32 */
#define DD_STAGED_TAIL 8    /* the checksum u64 */

/* Checks path: at least a header and a checksum, magic (8 bytes) and version, and the checksum over
 * the whole file. *end receives the offset of the checksum (where the data ends). SP_EDATA names the
 * file ("corrupt file"), SP_EIO when it cannot be read. */
int dd_staged_verify(const char *path, const char *magic, uint64_t *end, sp_err *err);
/* The whole structure of a staged file image p[0..n) (any of the five kinds, told by its magic):
 * checksum, then every count and length against the size. name is used in messages. */
int dd_staged_check_mem(const uint8_t *p, size_t n, const char *name, sp_err *err);
/* The checksum a writer appends: XXH64 (seed 0) of p[0..n). */
uint64_t dd_staged_sum(const void *p, size_t n);

#endif
