/* utf8.h - UTF-8 validation and decoding (strict: no overlongs, no surrogates, max U+10FFFF). */
#ifndef SPINDLE_UTF8_H
#define SPINDLE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Returns 1 if p[0..n) is valid UTF-8; otherwise 0 and, if bad_at is not NULL, the offset of the
 * first invalid byte. */
int sp_utf8_valid(const char *p, size_t n, size_t *bad_at);

/* Decodes one code point at p (n bytes available). Returns its length in bytes (1-4) and sets *cp,
 * or 0 if the sequence is invalid or truncated. */
size_t sp_utf8_decode(const char *p, size_t n, uint32_t *cp);

/* Encodes cp into out (4 bytes of room). Returns the length, or 0 if cp is not a scalar value. */
size_t sp_utf8_encode(uint32_t cp, char *out);

#endif
