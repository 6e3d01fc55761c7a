/* utf8.c - strict UTF-8 validation, decoding and encoding (see spindle/utf8.h).
 * The validator has an ASCII fast path: it checks 8 bytes at a time while no high bit is set. */
#include <string.h>
#include "spindle/utf8.h"

size_t sp_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	if (!n)
		return 0;
	unsigned char c = p[0];
	if (c < 0x80) { *cp = c; return 1; }
	if (c < 0xC2) return 0;
	if (c < 0xE0) {
		if (n < 2 || (p[1] & 0xC0) != 0x80) return 0;
		*cp = ((uint32_t)(c & 0x1F) << 6) | (p[1] & 0x3F);
		return 2;
	}
	if (c < 0xF0) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
		uint32_t v = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
		if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
		*cp = v;
		return 3;
	}
	if (c < 0xF5) {
		if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
		uint32_t v = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
		             ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
		if (v < 0x10000 || v > 0x10FFFF) return 0;
		*cp = v;
		return 4;
	}
	return 0;
}

int sp_utf8_valid(const char *s, size_t n, size_t *bad_at)
{
	size_t i = 0;
	while (i < n) {
		if (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (!(w & 0x8080808080808080ULL)) { i += 8; continue; }
		}
		if (!((unsigned char)s[i] & 0x80)) { i++; continue; }
		uint32_t cp;
		size_t k = sp_utf8_decode(s + i, n - i, &cp);
		if (!k) {
			if (bad_at) *bad_at = i;
			return 0;
		}
		i += k;
	}
	return 1;
}

size_t sp_utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
	if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | (cp >> 6)); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
	if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12)); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F)); return 3;
	}
	if (cp <= 0x10FFFF) {
		o[0] = (unsigned char)(0xF0 | (cp >> 18)); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F)); return 4;
	}
	return 0;
}
