/* buf.c - the growable byte buffer (see spindle/buf.h). */
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include "spindle/buf.h"
#include "spindle/err.h"
#include "spindle/mem.h"

int sp_buf_grow(sp_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return SP_ENOMEM;
	size_t want = b->len + extra + 1;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap = cap < (SIZE_MAX / 2) ? cap * 2 : want;
	char *p = sp_realloc(b->p, cap);
	if (!p)
		return SP_ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int sp_buf_append(sp_buf *b, const void *data, size_t n)
{
	SP_FORWARD(sp_buf_grow(b, n));
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int sp_buf_appendc(sp_buf *b, char c) { return sp_buf_append(b, &c, 1); }
int sp_buf_appends(sp_buf *b, const char *s) { return sp_buf_append(b, s, strlen(s)); }

int sp_buf_vappendf(sp_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return SP_EINTERNAL;
	SP_FORWARD(sp_buf_grow(b, (size_t)n));
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int sp_buf_appendf(sp_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = sp_buf_vappendf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int sp_buf_append_json_str(sp_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	SP_FORWARD(sp_buf_grow(b, n + 2));
	b->p[b->len++] = '"';
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		SP_FORWARD(sp_buf_append(b, s + start, i - start));
		char esc[7] = { '\\', 0, 0, 0, 0, 0, 0 };
		size_t k = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\t': esc[1] = 't'; break;
		case '\r': esc[1] = 'r'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[c >> 4]; esc[5] = hex[c & 15]; k = 6;
		}
		SP_FORWARD(sp_buf_append(b, esc, k));
		start = i + 1;
	}
	SP_FORWARD(sp_buf_append(b, s + start, n - start));
	return sp_buf_appendc(b, '"');
}

void sp_buf_reset(sp_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void sp_buf_release(sp_buf *b)
{
	sp_free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

char *sp_buf_detach(sp_buf *b, size_t *len)
{
	char *p = b->p;
	if (len)
		*len = b->len;
	if (!p)
		p = sp_calloc(1, 1);
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}
