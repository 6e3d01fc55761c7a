/* annotate_text.c - showing untrusted text on a terminal: sanitizing (every control character,
 * escape sequence, bidi override and invalid byte made visible and inert) and wrapping to the
 * screen width by display columns. No locale is consulted, so the result is the same everywhere.
 * Used by the session UI (annotate_tui.c); tests check it directly. */
#include <string.h>
#include "annotate.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

int ann_cp_width(uint32_t cp)
{
	/* Combining marks: zero width. */
	if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x0483 && cp <= 0x0489) || (cp >= 0x0591 && cp <= 0x05BD) ||
	    (cp >= 0x0610 && cp <= 0x061A) || (cp >= 0x064B && cp <= 0x065F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
	    (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
	    (cp >= 0xFE20 && cp <= 0xFE2F))
		return 0;
	/* East Asian wide and fullwidth, emoji. */
	if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) || (cp >= 0x3041 && cp <= 0x33FF) ||
	    (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
	    (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
	    (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
	    (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD))
		return 2;
	return 1;
}

/* Code points that change how a terminal lays out or reorders text without showing anything. */
static int invisible(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) ||
	       (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF ||
	       (cp >= 0xFFF9 && cp <= 0xFFFB) || cp == 0xFFFE || cp == 0xFFFF || (cp >= 0xE0000 && cp <= 0xE007F) ||
	       (cp >= 0xD800 && cp <= 0xDFFF);
}

int ann_text_sanitize(const char *s, size_t n, sp_buf *out)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		int rc = 0;
		if (c < 0x80) {
			if (c == '\n' || (c >= 0x20 && c < 0x7F))
				rc = sp_buf_appendc(out, (char)c);
			else if (c == '\t')
				rc = sp_buf_appends(out, "    ");
			else if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
				rc = 0; /* CRLF line end */
			else if (c == 0x7F)
				rc = sp_buf_appends(out, "^?");
			else
				rc = sp_buf_appendf(out, "^%c", (char)(c + 64));
			i++;
		} else {
			uint32_t cp;
			size_t len = sp_utf8_decode(s + i, n - i, &cp);
			if (len == 0) {
				rc = sp_buf_appendf(out, "<%02X>", c);
				i++;
			} else {
				if (invisible(cp))
					rc = sp_buf_appendf(out, "<U+%04X>", (unsigned)cp);
				else
					rc = sp_buf_append(out, s + i, len);
				i += len;
			}
		}
		if (rc < 0)
			return rc;
	}
	return sp_buf_grow(out, 0);
}

static int lines_push(ann_lines *l, size_t start, size_t len)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		size_t *a = sp_realloc(l->start, nc * sizeof *a);
		if (!a)
			return SP_ENOMEM;
		l->start = a;
		size_t *b = sp_realloc(l->len, nc * sizeof *b);
		if (!b)
			return SP_ENOMEM;
		l->len = b;
		l->cap = nc;
	}
	l->start[l->n] = start;
	l->len[l->n] = len;
	l->n++;
	return 0;
}

int ann_text_wrap(const char *s, size_t n, int width, ann_lines *lines)
{
	if (width < 4)
		width = 4;
	size_t i = 0;
	for (;;) {
		/* One output line starting at i. */
		size_t start = i, brk = 0;
		int col = 0, have_brk = 0;
		while (i < n && s[i] != '\n') {
			uint32_t cp;
			size_t len = sp_utf8_decode(s + i, n - i, &cp);
			if (len == 0) { cp = '?'; len = 1; }
			int w = ann_cp_width(cp);
			if (col + w > width) {
				if (cp == ' ') {
					/* The overflowing character is a space: break at it. */
					SP_FORWARD(lines_push(lines, start, i - start));
					i += len;
				} else if (have_brk && brk > start) {
					SP_FORWARD(lines_push(lines, start, brk - start));
					i = brk + 1; /* drop the space we broke at */
				} else {
					SP_FORWARD(lines_push(lines, start, i - start));
				}
				start = i;
				col = 0;
				have_brk = 0;
				continue;
			}
			if (cp == ' ') {
				brk = i;
				have_brk = 1;
			}
			col += w;
			i += len;
		}
		SP_FORWARD(lines_push(lines, start, i - start));
		if (i >= n)
			return 0;
		i++; /* the '\n' */
	}
}

void ann_lines_release(ann_lines *l)
{
	sp_free(l->start);
	sp_free(l->len);
	memset(l, 0, sizeof *l);
}
