/* buf.h - the one growable byte buffer of spindle (cf. git's strbuf).
 *
 * An sp_buf owns its bytes; SP_BUF_INIT (all zero) is a valid empty buffer. p is always
 * NUL-terminated after any successful append, so text can be used as a C string, but the buffer
 * may hold NUL bytes too: len is the truth. */
#ifndef SPINDLE_BUF_H
#define SPINDLE_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct sp_buf {
	char *p;
	size_t len;
	size_t cap;
} sp_buf;

#define SP_BUF_INIT { NULL, 0, 0 }

/* Ensures room for extra more bytes plus a terminating NUL. Returns 0 or SP_ENOMEM. */
int sp_buf_grow(sp_buf *b, size_t extra);
int sp_buf_append(sp_buf *b, const void *data, size_t n);
int sp_buf_appendc(sp_buf *b, char c);
int sp_buf_appends(sp_buf *b, const char *s);
int sp_buf_appendf(sp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sp_buf_vappendf(sp_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s as a JSON string literal, quotes included (s must be valid UTF-8). */
int sp_buf_append_json_str(sp_buf *b, const char *s, size_t n);
/* Empties the buffer, keeping its memory. */
void sp_buf_reset(sp_buf *b);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void sp_buf_release(sp_buf *b);
/* Takes ownership of the bytes (caller frees with sp_free); the buffer becomes empty. */
char *sp_buf_detach(sp_buf *b, size_t *len);

#endif
