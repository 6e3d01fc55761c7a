/* filter_text.c - text clean-up before the rules: control characters and invisible junk removed,
 * line ends made "\n", Unicode normalized with ICU (NFC or NFKC).
 *
 * Kept on purpose: \n, \t, ZWJ/ZWNJ (U+200C/D: they spell words in Indic and Persian scripts and
 * emoji), U+FFFD. Invalid UTF-8 (which a JSON "\ud800" escape can produce) becomes U+FFFD. */
#include <string.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include "filter.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

static int invisible(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || cp == 0x180E || cp == 0x200B || cp == 0x200E ||
	       cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB);
}

static int normalize(int norm, sp_buf *buf, sp_err *err)
{
	UErrorCode ue = U_ZERO_ERROR;
	const UNormalizer2 *nz = norm == FILTER_NORM_NFKC ? unorm2_getNFKCInstance(&ue) : unorm2_getNFCInstance(&ue);
	if (U_FAILURE(ue))
		SP_RAISE(err, SP_EINTERNAL, "ICU normalizer: %s", u_errorName(ue));
	if (buf->len > INT32_MAX / 2)
		return 0; /* ICU's lengths are int32: leave giant texts as they are */
	int32_t n16 = 0;
	ue = U_ZERO_ERROR;
	u_strFromUTF8(NULL, 0, &n16, buf->p, (int32_t)buf->len, &ue);
	UChar *a = sp_malloc(((size_t)n16 + 1) * sizeof *a), *b = NULL;
	int rc = 0;
	if (!a) {
		rc = SP_ENOMEM;
		goto end;
	}
	ue = U_ZERO_ERROR;
	u_strFromUTF8(a, n16 + 1, NULL, buf->p, (int32_t)buf->len, &ue);
	if (U_FAILURE(ue)) {
		rc = SP_EUTF8;
		goto end;
	}
	if (unorm2_quickCheck(nz, a, n16, &ue) == UNORM_YES && U_SUCCESS(ue))
		goto end;
	ue = U_ZERO_ERROR;
	int32_t m = unorm2_normalize(nz, a, n16, NULL, 0, &ue);
	b = sp_malloc(((size_t)m + 1) * sizeof *b);
	if (!b) {
		rc = SP_ENOMEM;
		goto end;
	}
	ue = U_ZERO_ERROR;
	unorm2_normalize(nz, a, n16, b, m + 1, &ue);
	int32_t n8 = 0;
	UErrorCode ue2 = U_ZERO_ERROR;
	u_strToUTF8(NULL, 0, &n8, b, m, &ue2);
	if (U_FAILURE(ue) || sp_buf_grow(buf, (size_t)n8 + 1 > buf->len ? (size_t)n8 + 1 - buf->len : 0)) {
		rc = U_FAILURE(ue) ? SP_EINTERNAL : SP_ENOMEM;
		goto end;
	}
	ue = U_ZERO_ERROR;
	u_strToUTF8(buf->p, (int32_t)(buf->cap), &n8, b, m, &ue);
	buf->len = (size_t)n8;
	buf->p[n8] = 0;
end:
	sp_free(a);
	sp_free(b);
	if (rc == SP_ENOMEM)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (rc < 0)
		SP_RAISE(err, rc, "text normalization failed");
	return 0;
}

int filter_clean_text(int strip_invisible, int norm, const char *t, size_t n, sp_buf *out, sp_err *err)
{
	sp_buf_reset(out);
	if (sp_buf_grow(out, n + 1))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	char *o = out->p;
	size_t j = 0;
	uint32_t max_cp = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)t[i];
		if (c >= 0x20 && c < 0x7F) {
			o[j++] = (char)c;
			i++;
			continue;
		}
		if (c < 0x80) {
			i++;
			if (!strip_invisible || c == '\n' || c == '\t')
				o[j++] = (char)c;
			else if (c == '\r' && (i >= n || t[i] != '\n'))
				o[j++] = '\n'; /* a lone CR ends a line */
			continue;
		}
		uint32_t cp;
		size_t k = sp_utf8_decode(t + i, n - i, &cp);
		if (!k) {
			/* invalid: U+FFFD (3 bytes for 1: make room) */
			out->len = j;
			if (sp_buf_grow(out, (n - i) + 3))
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			o = out->p;
			memcpy(o + j, "\xef\xbf\xbd", 3);
			j += 3;
			i++;
			max_cp = max_cp > 0xFFFD ? max_cp : 0xFFFD;
			continue;
		}
		if (!(strip_invisible && invisible(cp))) {
			memcpy(o + j, t + i, k);
			j += k;
			if (cp > max_cp)
				max_cp = cp;
		}
		i += k;
	}
	out->len = j;
	o[j] = 0;
	/* Below U+0300 nothing composes or decomposes canonically, so such text is already NFC. */
	if (norm == FILTER_NORM_NFKC ? max_cp >= 0xA0 : (norm == FILTER_NORM_NFC && max_cp >= 0x300))
		return normalize(norm, out, err);
	return 0;
}
