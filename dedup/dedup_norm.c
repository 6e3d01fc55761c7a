/* dedup_norm.c - text normalisation for exact and line deduplication (dedup.h): optional NFKC,
 * then one pass over code points doing simple case folding, white-space collapsing, punctuation
 * and symbol removal, digit mapping. Word-level normalisation for MinHash is in dedup_minhash.c. */
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>
#include "dedup.h"
#include "spindle/mem.h"

struct dd_norm {
	int flags;
	const UNormalizer2 *nfkc;
	UChar *a, *b; int32_t cap_a, cap_b;
	sp_buf tmp, out;
};

int dd_norm_parse(const char *s, int *flags, sp_err *err)
{
	static const struct { const char *name; int f; } names[] = {
		{ "case", DD_NORM_CASE }, { "space", DD_NORM_SPACE }, { "punct", DD_NORM_PUNCT },
		{ "digits", DD_NORM_DIGITS }, { "nfkc", DD_NORM_NFKC }, { "none", 0 }
	};
	int f = 0;
	const char *p = s;
	while (*p) {
		size_t n = strcspn(p, ",");
		size_t k;
		for (k = 0; k < sizeof names / sizeof names[0]; k++)
			if (strlen(names[k].name) == n && memcmp(names[k].name, p, n) == 0)
				break;
		if (k == sizeof names / sizeof names[0])
			SP_RAISE(err, SP_EUSAGE, "unknown normalisation '%.*s' (use case,space,punct,digits,nfkc or none)", (int)n, p);
		f |= names[k].f;
		p += n;
		if (*p == ',')
			p++;
	}
	*flags = f;
	return 0;
}

int dd_norm_new(dd_norm **out, int flags, sp_err *err)
{
	dd_norm *n = sp_calloc(1, sizeof *n);
	if (!n)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	n->flags = flags;
	UErrorCode e = U_ZERO_ERROR;
	n->nfkc = unorm2_getNFKCInstance(&e);
	if (U_FAILURE(e)) {
		sp_free(n);
		SP_RAISE(err, SP_EINTERNAL, "ICU NFKC: %s", u_errorName(e));
	}
	*out = n;
	return 0;
}

void dd_norm_free(dd_norm *n)
{
	if (!n)
		return;
	sp_free(n->a);
	sp_free(n->b);
	sp_buf_release(&n->tmp);
	sp_buf_release(&n->out);
	sp_free(n);
}

static int grow(UChar **p, int32_t *cap, int64_t need)
{
	if (need > INT32_MAX)
		return SP_EDATA;
	if (need <= *cap)
		return 0;
	UChar *q = sp_realloc(*p, (size_t)need * sizeof *q);
	if (!q)
		return SP_ENOMEM;
	*p = q;
	*cap = (int32_t)need;
	return 0;
}

static int nfkc(dd_norm *n, const char *t, size_t len, sp_err *err)
{
	UErrorCode e = U_ZERO_ERROR;
	int32_t l16 = 0;
	if (grow(&n->a, &n->cap_a, (int64_t)len + 1))
		SP_RAISE(err, SP_EDATA, "text too long to normalise");
	u_strFromUTF8Lenient(n->a, n->cap_a, &l16, t, (int32_t)len, &e);
	if (U_FAILURE(e))
		SP_RAISE(err, SP_EUTF8, "text is not valid UTF-8");
	e = U_ZERO_ERROR;
	int32_t need = unorm2_normalize(n->nfkc, n->a, l16, NULL, 0, &e);
	if (grow(&n->b, &n->cap_b, (int64_t)need + 1))
		SP_RAISE(err, SP_EDATA, "text too long to normalise");
	e = U_ZERO_ERROR;
	int32_t lb = unorm2_normalize(n->nfkc, n->a, l16, n->b, n->cap_b, &e);
	if (U_FAILURE(e))
		SP_RAISE(err, SP_EINTERNAL, "ICU NFKC: %s", u_errorName(e));
	sp_buf_reset(&n->tmp);
	if (sp_buf_grow(&n->tmp, (size_t)lb * 3 + 1))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	int32_t l8 = 0;
	e = U_ZERO_ERROR;
	u_strToUTF8(n->tmp.p, (int32_t)n->tmp.cap, &l8, n->b, lb, &e);
	if (U_FAILURE(e))
		SP_RAISE(err, SP_EINTERNAL, "ICU to UTF-8: %s", u_errorName(e));
	n->tmp.len = (size_t)l8;
	return 0;
}

int dd_norm_apply(dd_norm *n, const char *text, size_t len, const char **out, size_t *out_len, sp_err *err)
{
	int ascii = 1;
	for (size_t i = 0; i < len && ascii; i++)
		ascii = (unsigned char)text[i] < 0x80;
	if ((n->flags & DD_NORM_NFKC) && !ascii) { /* ASCII is NFKC already */
		SP_FORWARD(nfkc(n, text, len, err));
		text = n->tmp.p;
		len = n->tmp.len;
	}
	if (!(n->flags & (DD_NORM_CASE | DD_NORM_SPACE | DD_NORM_PUNCT | DD_NORM_DIGITS))) {
		*out = text ? text : "";
		*out_len = len;
		return 0;
	}
	sp_buf_reset(&n->out);
	if (sp_buf_grow(&n->out, len + 4))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	char *o = n->out.p;
	size_t k = 0;
	int pending_space = 0;
	const uint8_t *s = (const uint8_t *)text;
	int32_t i = 0, L = (int32_t)len;
	if (len > INT32_MAX)
		SP_RAISE(err, SP_EDATA, "text too long to normalise");
	while (i < L) {
		UChar32 c;
		if (s[i] < 0x80) {
			/* ASCII: the same answers as the ICU predicates below (tests/dedup compares them) */
			c = s[i++];
			if ((n->flags & DD_NORM_SPACE) && (c == ' ' || (c >= 9 && c <= 13))) {
				pending_space = k > 0;
				continue;
			}
			if ((n->flags & DD_NORM_PUNCT) && c > 32 && c < 127 && !(c >= '0' && c <= '9') &&
			    !((c | 32) >= 'a' && (c | 32) <= 'z'))
				continue;
			if ((n->flags & DD_NORM_DIGITS) && c >= '0' && c <= '9')
				c = '0';
			if ((n->flags & DD_NORM_CASE) && c >= 'A' && c <= 'Z')
				c += 32;
			if (pending_space) {
				o[k++] = ' ';
				pending_space = 0;
			}
			o[k++] = (char)c;
			continue;
		}
		U8_NEXT(s, i, L, c);
		if (c < 0)
			c = 0xFFFD;
		if ((n->flags & DD_NORM_SPACE) && u_isUWhiteSpace(c)) {
			pending_space = k > 0;
			continue;
		}
		if ((n->flags & DD_NORM_PUNCT) && (U_GET_GC_MASK(c) & (U_GC_P_MASK | U_GC_S_MASK)))
			continue;
		if ((n->flags & DD_NORM_DIGITS) && u_isdigit(c))
			c = '0';
		if (n->flags & DD_NORM_CASE)
			c = u_foldCase(c, U_FOLD_CASE_DEFAULT);
		if (pending_space) {
			o[k++] = ' ';
			pending_space = 0;
		}
		/* folding keeps a code point within 4 bytes, and the buffer has len + 4 room: case folding
		 * can lengthen a character (U+023A -> U+2C65), so grow when close to the end */
		if (k + 8 > n->out.cap) {
			n->out.len = k;
			if (sp_buf_grow(&n->out, 64 + len / 8))
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			o = n->out.p;
		}
		U8_APPEND_UNSAFE(o, k, c);
	}
	n->out.len = k;
	o[k] = '\0';
	*out = n->out.p;
	*out_len = k;
	return 0;
}
