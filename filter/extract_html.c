/* extract_html.c - HTML to main text for `spindle extract`: charset detection and conversion to
 * UTF-8 (ICU), parsing with libxml2's error-tolerant HTML parser, and a walk of the tree that keeps
 * paragraphs, headings, list items, table rows and preformatted blocks and drops boilerplate:
 * script/style/nav/aside/forms, page-level header/footer, elements whose class/id/role says menu,
 * navigation, footer, cookie banner..., and link-dense blocks (most of their text is link text).
 * It does not render CSS or run scripts; "display:none" inline styles and `hidden` are honoured. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <unicode/ucnv.h>
#include <unicode/ucsdet.h>
#include "extract.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

void extract_global_init(void)
{
	xmlInitParser();
}

void extract_result_release(extract_result *res)
{
	sp_buf_release(&res->text);
	sp_buf_release(&res->title);
	sp_buf_release(&res->scratch);
}

/* ------------------------------------------------------------------ HTTP */

int extract_http(const char *p, size_t n, extract_http_resp *r, sp_buf *scratch, sp_err *err)
{
	memset(r, 0, sizeof *r);
	if (n < 12 || memcmp(p, "HTTP/", 5))
		SP_RAISE(err, SP_EDATA, "not an HTTP response");
	const char *sp = memchr(p, ' ', n < 16 ? n : 16);
	r->status = sp && sp + 3 < p + n && isdigit((unsigned char)sp[1]) && isdigit((unsigned char)sp[2]) && isdigit((unsigned char)sp[3]) ? (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0') : 0;
	size_t i = 0;
	int chunked = 0;
	for (;;) {
		const char *nl = memchr(p + i, '\n', n - i);
		if (!nl) { /* headers never end: no payload */
			r->payload = p + n;
			r->payload_len = 0;
			return 0;
		}
		size_t e = (size_t)(nl - p), le = e;
		if (le > i && p[le - 1] == '\r')
			le--;
		if (le == i) {
			i = e + 1;
			break;
		}
		const char *l = p + i;
		size_t ll = le - i;
		if (ll > 13 && !strncasecmp(l, "content-type:", 13)) {
			size_t a = 13;
			while (a < ll && (l[a] == ' ' || l[a] == '\t'))
				a++;
			r->ctype = l + a;
			r->ctype_len = ll - a;
		} else if (ll > 17 && !strncasecmp(l, "content-encoding:", 17)) {
			size_t a = 17, b = ll;
			while (a < b && (l[a] == ' ' || l[a] == '\t'))
				a++;
			while (b > a && (l[b - 1] == ' ' || l[b - 1] == '\t'))
				b--;
			r->coding = l + a;
			r->coding_len = b - a;
		} else if (ll > 18 && !strncasecmp(l, "transfer-encoding:", 18) && memmem(l, ll, "chunked", 7)) {
			chunked = 1;
		}
		i = e + 1;
	}
	r->payload = p + i;
	r->payload_len = n - i;
	if (chunked) {
		/* dechunk; if it does not parse, keep the raw payload (crawlers often store it decoded) */
		sp_buf_reset(scratch);
		size_t j = i;
		int ok = 0;
		while (j < n) {
			/* chunk size in hex, bounded by the buffer (it is not NUL-terminated) */
			size_t e = j;
			unsigned long long k = 0;
			while (e < n && isxdigit((unsigned char)p[e]) && k < (1ull << 40)) {
				int c = (unsigned char)p[e];
				k = k * 16 + (unsigned)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
				e++;
			}
			if (e == j)
				break;
			const char *nl = memchr(p + e, '\n', n - e);
			if (!nl)
				break;
			j = (size_t)(nl - p) + 1;
			if (k == 0) {
				ok = 1;
				break;
			}
			if (k > n - j)
				break;
			if (sp_buf_append(scratch, p + j, (size_t)k))
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			j += (size_t)k;
			while (j < n && (p[j] == '\r' || p[j] == '\n'))
				j++;
		}
		if (ok) {
			r->payload = scratch->p ? scratch->p : "";
			r->payload_len = scratch->len;
		}
	}
	return 0;
}

static int starts_html(const char *p, size_t n)
{
	size_t i = 0;
	if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < n && isspace((unsigned char)p[i]))
		i++;
	return n - i >= 5 && (!strncasecmp(p + i, "<!doc", 5) || !strncasecmp(p + i, "<html", 5) ||
	                      !strncasecmp(p + i, "<head", 5) || !strncasecmp(p + i, "<!--", 4) ||
	                      !strncasecmp(p + i, "<body", 5) || !strncasecmp(p + i, "<meta", 5));
}

/* UTF-16 without a BOM shows as NUL bytes in every other position. 0: no, 1: LE, 2: BE. */
static int utf16_guess(const char *p, size_t n)
{
	size_t m = n < 1024 ? n : 1024, even = 0, odd = 0;
	for (size_t i = 0; i + 1 < m; i += 2) {
		even += p[i] == 0;
		odd += p[i + 1] == 0;
	}
	size_t pairs = m / 2;
	if (pairs >= 8 && odd * 10 >= pairs * 7 && even * 10 < pairs)
		return 1;
	if (pairs >= 8 && even * 10 >= pairs * 7 && odd * 10 < pairs)
		return 2;
	return 0;
}

const char *extract_not_html(const char *ctype, size_t ctype_len, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	int u16 = (n >= 2 && ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff))) || utf16_guess(p, n);
	if (ctype && ctype_len) {
		int html = (ctype_len >= 9 && !strncasecmp(ctype, "text/html", 9)) ||
		           (ctype_len >= 21 && !strncasecmp(ctype, "application/xhtml+xml", 21));
		/* generic types: let the bytes decide */
		int generic = (ctype_len >= 24 && !strncasecmp(ctype, "application/octet-stream", 24)) ||
		              (ctype_len >= 10 && !strncasecmp(ctype, "text/plain", 10));
		if (!html && !generic)
			return "not_html";
		if (html)
			return !u16 && memchr(p, 0, n < 4096 ? n : 4096) ? "binary" : NULL;
	}
	if (!u16 && memchr(p, 0, n < 4096 ? n : 4096))
		return "binary";
	return u16 || starts_html(p, n) ? NULL : "not_html";
}

/* ------------------------------------------------------------------ charsets */

static void copy_name(char *dst, size_t cap, const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < cap; i++)
		if (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.' || s[i] == ':')
			dst[k++] = (char)tolower((unsigned char)s[i]);
		else
			break;
	dst[k] = 0;
}

/* charset=NAME inside a header value or tag text. */
static int find_charset(const char *p, size_t n, char *out, size_t cap)
{
	for (size_t i = 0; i + 7 < n; i++) {
		if (strncasecmp(p + i, "charset", 7))
			continue;
		size_t j = i + 7;
		while (j < n && isspace((unsigned char)p[j]))
			j++;
		if (j >= n || p[j] != '=')
			continue;
		j++;
		while (j < n && (isspace((unsigned char)p[j]) || p[j] == '"' || p[j] == '\''))
			j++;
		copy_name(out, cap, p + j, n - j);
		if (*out)
			return 1;
	}
	return 0;
}

/* <meta charset=...> or <meta http-equiv content="...; charset=..."> in the first 4 KiB. */
static int meta_charset(const char *p, size_t n, char *out, size_t cap)
{
	size_t m = n < 4096 ? n : 4096;
	for (size_t i = 0; i + 5 < m; i++) {
		if (p[i] != '<' || strncasecmp(p + i + 1, "meta", 4))
			continue;
		const char *gt = memchr(p + i, '>', m - i);
		size_t end = gt ? (size_t)(gt - p) : m;
		if (find_charset(p + i, end - i, out, cap))
			return 1;
	}
	return 0;
}

/* WHATWG: these labels mean windows-1252 in a browser. */
static const char *canonical(const char *cs)
{
	static const char *const w1252[] = { "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii",
	                                     "iso_8859-1", "cp1252", "windows-1252", "x-cp1252", "cp819", "ibm819" };
	for (size_t i = 0; i < sizeof w1252 / sizeof *w1252; i++)
		if (!strcmp(cs, w1252[i]))
			return "windows-1252";
	if (!strcmp(cs, "utf8") || !strcmp(cs, "unicode-1-1-utf-8"))
		return "utf-8";
	if (!strcmp(cs, "x-sjis") || !strcmp(cs, "sjis") || !strcmp(cs, "ms_kanji") || !strcmp(cs, "windows-31j"))
		return "shift_jis";
	if (!strcmp(cs, "unicode") || !strcmp(cs, "utf-16"))
		return "utf-16le";
	return cs;
}

static void set_canonical(char *cs, size_t cap)
{
	const char *c = canonical(cs);
	if (c != cs)
		snprintf(cs, cap, "%s", c);
}

static int has_multibyte_utf8(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/* Bytes that start as ASCII markup ("<html", "<!doctype", after ASCII blanks): then FF FE or FE FF
 * in front of them is stray, not a UTF-16 byte-order mark (UTF-16 markup has a NUL per character). */
static int ascii_markup(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i + 1 < n && p[i] == '<' && (isalpha((unsigned char)p[i + 1]) || p[i + 1] == '!' || p[i + 1] == '?');
}

/* Declared UTF-8 that is valid but for a few stray bytes: more valid multi-byte sequences than
 * invalid bytes. Then the declaration holds and the stray bytes become U+FFFD. */
static int mostly_utf8(const char *p, size_t n)
{
	size_t good = 0, bad = 0, i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
		if (k && i + k <= n && sp_utf8_valid(p + i, k, NULL)) {
			good++;
			i += k;
		} else {
			bad++;
			i++;
		}
	}
	return good > bad;
}

static int convert(const char *from, const char *p, size_t n, sp_buf *out)
{
	UErrorCode ue = U_ZERO_ERROR;
	if (n > 0x3fffffff)
		return -1;
	size_t cap = n * 3 + 16;
	sp_buf_reset(out);
	if (sp_buf_grow(out, cap))
		return SP_ENOMEM;
	int32_t got = ucnv_convert("UTF-8", from, out->p, (int32_t)cap, p, (int32_t)n, &ue);
	if (ue == U_BUFFER_OVERFLOW_ERROR) {
		ue = U_ZERO_ERROR;
		if (sp_buf_grow(out, (size_t)got + 1))
			return SP_ENOMEM;
		got = ucnv_convert("UTF-8", from, out->p, got + 1, p, (int32_t)n, &ue);
	}
	if (U_FAILURE(ue))
		return -1;
	out->len = (size_t)got;
	out->p[got] = 0;
	return 0;
}

int extract_to_utf8(const char *p, size_t n, const char *declared, sp_buf *out, char *charset, size_t charset_cap,
                    char *source, size_t source_cap, sp_err *err)
{
	char cs[64] = "";
	const char *src = "";
	const unsigned char *u = (const unsigned char *)p;
	if (n >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) {
		snprintf(cs, sizeof cs, "utf-8"); src = "bom"; p += 3; n -= 3;
	} else if (n >= 2 && u[0] == 0xff && u[1] == 0xfe && !ascii_markup(p + 2, n - 2)) {
		snprintf(cs, sizeof cs, "utf-16le"); src = "bom"; p += 2; n -= 2;
	} else if (n >= 2 && u[0] == 0xfe && u[1] == 0xff && !ascii_markup(p + 2, n - 2)) {
		snprintf(cs, sizeof cs, "utf-16be"); src = "bom"; p += 2; n -= 2;
	} else if (utf16_guess(p, n)) {
		snprintf(cs, sizeof cs, "%s", utf16_guess(p, n) == 1 ? "utf-16le" : "utf-16be"); src = "sniffed";
	} else if (declared && *declared) {
		copy_name(cs, sizeof cs, declared, strlen(declared)); src = "http";
	}
	if (!*cs && meta_charset(p, n, cs, sizeof cs))
		src = "meta";
	if (*cs) {
		set_canonical(cs, sizeof cs);
		int valid_utf8 = sp_utf8_valid(p, n, NULL);
		/* A declaration is wrong when it says UTF-8 but the bytes are not, or says a legacy
		 * charset while the bytes are valid UTF-8 with non-ASCII in them. */
		if (!strcmp(cs, "utf-8") && !valid_utf8 && !mostly_utf8(p, n)) {
			cs[0] = 0;
		} else if (strcmp(cs, "utf-8") && strncmp(cs, "utf-16", 6) && valid_utf8 && has_multibyte_utf8(p, n)) {
			snprintf(cs, sizeof cs, "utf-8");
			src = "sniffed";
		}
	}
	if (!*cs) {
		if (sp_utf8_valid(p, n, NULL)) {
			snprintf(cs, sizeof cs, "utf-8");
			src = "sniffed";
		} else {
			UErrorCode ue = U_ZERO_ERROR;
			UCharsetDetector *d = ucsdet_open(&ue);
			if (U_SUCCESS(ue)) {
				ucsdet_enableInputFilter(d, 1);
				ucsdet_setText(d, p, (int32_t)(n > 65536 ? 65536 : n), &ue);
				const UCharsetMatch *m = U_SUCCESS(ue) ? ucsdet_detect(d, &ue) : NULL;
				const char *name = m && U_SUCCESS(ue) ? ucsdet_getName(m, &ue) : NULL;
				if (name && U_SUCCESS(ue)) {
					copy_name(cs, sizeof cs, name, strlen(name));
					set_canonical(cs, sizeof cs);
					src = "sniffed";
					/* UTF-16/32 without NULs in every other byte (utf16_guess said no above) is a
					 * guess from stray bytes such as FF FE in ASCII markup: never take it */
					if (!strncmp(cs, "utf-16", 6) || !strncmp(cs, "utf-32", 6))
						cs[0] = 0;
				}
				ucsdet_close(d);
			}
			if (!*cs) {
				snprintf(cs, sizeof cs, "windows-1252");
				src = "default";
			}
		}
	}
	int rc;
	if (!strcmp(cs, "utf-8")) {
		sp_buf_reset(out);
		rc = sp_buf_append(out, p, n) || sp_buf_grow(out, 1) ? SP_ENOMEM : 0;
		if (rc == 0 && !sp_utf8_valid(p, n, NULL))
			rc = convert("utf-8", p, n, out); /* ICU substitutes U+FFFD for the bad bytes */
	} else {
		rc = convert(cs, p, n, out);
		if (rc == -1) { /* a charset ICU does not know: fall back */
			snprintf(cs, sizeof cs, "windows-1252");
			src = "default";
			rc = convert(cs, p, n, out);
		}
	}
	if (rc == SP_ENOMEM)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (rc < 0)
		SP_RAISE(err, SP_EDATA, "cannot convert from %s", cs);
	snprintf(charset, charset_cap, "%s", cs);
	snprintf(source, source_cap, "%s", src);
	return 0;
}

/* ------------------------------------------------------------------ text walk */

typedef struct walk {
	sp_buf *out;
	const extract_opts *o;
	int pending;          /* 0 nothing, 1 newline, 2 blank line before the next text */
	int space;            /* a space before the next text */
	int pre;              /* inside <pre>: keep whitespace */
	int in_link;
	size_t link_chars, links;
	int in_main;          /* inside <article>/<main>: keep their header/footer */
	sp_buf *title;
} walk;

static const char *const boiler_tokens[] = { "nav", "navbar", "navigation", "menu", "menubar", "footer", "sidebar",
                                             "breadcrumb", "breadcrumbs", "cookie", "cookies", "banner", "share",
                                             "social", "skip", "skiplink", "advert", "advertisement", "ads",
                                             "sponsored", "newsletter", "popup", "modal", "pagination", "related",
                                             "masthead", "topbar", "toolbar", NULL };

enum { T_SKIP = 1, T_PARA = 2, T_LINE = 4, T_DENSE = 8 };

/* Every tag the walk treats specially, sorted by name (bsearch), with its classes. */
typedef struct tag_class { const char *name; unsigned flags; } tag_class;
static const tag_class tag_classes[] = {
	{ "address", T_PARA }, { "article", T_PARA }, { "aside", T_SKIP }, { "audio", T_SKIP },
	{ "blockquote", T_PARA }, { "body", T_LINE }, { "button", T_SKIP }, { "canvas", T_SKIP },
	{ "caption", T_LINE }, { "center", T_PARA | T_DENSE }, { "dd", T_LINE }, { "details", T_PARA },
	{ "dialog", T_SKIP }, { "div", T_LINE | T_DENSE }, { "dl", T_PARA | T_DENSE }, { "dt", T_LINE },
	{ "embed", T_SKIP }, { "fieldset", T_LINE }, { "figcaption", T_PARA }, { "figure", T_PARA },
	{ "footer", T_LINE }, { "form", T_SKIP }, { "h1", T_PARA }, { "h2", T_PARA }, { "h3", T_PARA },
	{ "h4", T_PARA }, { "h5", T_PARA }, { "h6", T_PARA }, { "head", T_SKIP }, { "header", T_LINE },
	{ "hr", T_PARA }, { "iframe", T_SKIP }, { "input", T_SKIP }, { "legend", T_LINE },
	{ "li", T_LINE }, { "main", T_PARA }, { "map", T_SKIP }, { "math", T_SKIP }, { "menu", T_SKIP },
	{ "nav", T_SKIP }, { "noscript", T_SKIP }, { "object", T_SKIP }, { "ol", T_PARA | T_DENSE },
	{ "option", T_LINE }, { "p", T_PARA | T_DENSE }, { "pre", T_PARA }, { "script", T_SKIP },
	{ "section", T_PARA | T_DENSE }, { "select", T_SKIP }, { "span", T_DENSE }, { "style", T_SKIP },
	{ "summary", T_PARA }, { "svg", T_SKIP }, { "table", T_PARA | T_DENSE }, { "td", T_DENSE },
	{ "template", T_SKIP }, { "textarea", T_SKIP }, { "tr", T_LINE | T_DENSE }, { "ul", T_PARA | T_DENSE },
	{ "video", T_SKIP },
};

static int cmp_tag(const void *k, const void *e) { return strcmp(k, ((const tag_class *)e)->name); }

static unsigned tag_flags(const char *name)
{
	const tag_class *t = bsearch(name, tag_classes, sizeof tag_classes / sizeof *tag_classes, sizeof *tag_classes, cmp_tag);
	return t ? t->flags : 0;
}

static int in_set(const char *name, const char *const *set)
{
	for (size_t i = 0; set[i]; i++)
		if (!strcmp(name, set[i]))
			return 1;
	return 0;
}

static int attr_has_token(xmlNode *n, const char *attr)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)attr);
	if (!v)
		return 0;
	int hit = 0;
	const char *s = (const char *)v;
	while (*s && !hit) {
		while (*s && !isalnum((unsigned char)*s))
			s++;
		char tok[32];
		size_t k = 0;
		while (*s && isalnum((unsigned char)*s)) {
			if (k + 1 < sizeof tok)
				tok[k++] = (char)tolower((unsigned char)*s);
			s++;
		}
		tok[k] = 0;
		hit = k && in_set(tok, boiler_tokens);
	}
	xmlFree(v);
	return hit;
}

static int is_boilerplate(walk *w, xmlNode *n, const char *name, unsigned flags)
{
	if (flags & T_SKIP)
		return 1;
	if ((!strcmp(name, "header") || !strcmp(name, "footer")) && !w->in_main)
		return 1;
	if (!n->properties)
		return 0;
	if (xmlHasProp(n, (const xmlChar *)"hidden"))
		return 1;
	xmlChar *v = xmlGetProp(n, (const xmlChar *)"aria-hidden");
	int hidden = v && !strcmp((const char *)v, "true");
	xmlFree(v);
	if (hidden)
		return 1;
	v = xmlGetProp(n, (const xmlChar *)"style");
	if (v) {
		char *s = (char *)v;
		for (char *q = s; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		char *d = strstr(s, "display");
		hidden = d && strstr(d, "none") && strstr(d, "none") - d < 12;
		xmlFree(v);
		if (hidden)
			return 1;
	}
	v = xmlGetProp(n, (const xmlChar *)"role");
	if (v) {
		const char *r = (const char *)v;
		hidden = !strcmp(r, "navigation") || !strcmp(r, "banner") || !strcmp(r, "contentinfo") ||
		         !strcmp(r, "menu") || !strcmp(r, "menubar") || !strcmp(r, "complementary") || !strcmp(r, "search");
		xmlFree(v);
		if (hidden)
			return 1;
	}
	return attr_has_token(n, "class") || attr_has_token(n, "id");
}

static void want_break(walk *w, int level)
{
	if (level > w->pending)
		w->pending = level;
}

static int flush_breaks(walk *w)
{
	if (w->out->len) {
		if (w->pending == 2)
			return sp_buf_appends(w->out, "\n\n");
		if (w->pending == 1)
			return sp_buf_appendc(w->out, '\n');
		if (w->space)
			return sp_buf_appendc(w->out, ' ');
	}
	return 0;
}

static int emit_raw(walk *w, const char *s, size_t n)
{
	if (!n)
		return 0;
	if (flush_breaks(w))
		return SP_ENOMEM;
	w->pending = w->space = 0;
	if (w->in_link)
		w->link_chars += n;
	return sp_buf_append(w->out, s, n);
}

static int emit_text(walk *w, const char *s, size_t n)
{
	if (w->pre) {
		/* keep it verbatim (but drop a newline right after <pre>) */
		if (!w->out->len || w->pending) {
			if (n && s[0] == '\n') { s++; n--; }
		}
		if (!n)
			return 0;
		if (flush_breaks(w))
			return SP_ENOMEM;
		w->pending = w->space = 0;
		if (w->in_link)
			w->link_chars += n;
		return sp_buf_append(w->out, s, n);
	}
	size_t i = 0;
	while (i < n) {
		if (isspace((unsigned char)s[i])) {
			w->space = 1;
			i++;
			continue;
		}
		/* U+00A0 (no-break space) counts as a space too */
		if ((unsigned char)s[i] == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0xa0) {
			w->space = 1;
			i += 2;
			continue;
		}
		size_t j = i;
		while (j < n && !isspace((unsigned char)s[j]) &&
		       !((unsigned char)s[j] == 0xc2 && j + 1 < n && (unsigned char)s[j + 1] == 0xa0))
			j++;
		if (emit_raw(w, s + i, j - i))
			return SP_ENOMEM;
		i = j;
	}
	return 0;
}

static int walk_children(walk *w, xmlNode *n);

static int walk_element(walk *w, xmlNode *n)
{
	const char *name = (const char *)n->name;
	if (!name)
		return 0;
	if (!strcmp(name, "title") && w->title && !w->title->len) {
		xmlChar *t = xmlNodeGetContent(n);
		if (t) {
			/* collapse whitespace */
			int sp = 0;
			for (const char *s = (const char *)t; *s; s++) {
				if (isspace((unsigned char)*s)) { sp = w->title->len > 0; continue; }
				if (sp && sp_buf_appendc(w->title, ' ')) break;
				sp = 0;
				if (sp_buf_appendc(w->title, *s)) break;
			}
			xmlFree(t);
		}
		return 0;
	}
	unsigned flags = tag_flags(name);
	if (is_boilerplate(w, n, name, flags))
		return 0;
	if (!strcmp(name, "br")) {
		if (w->out->len && sp_buf_appendc(w->out, '\n'))
			return SP_ENOMEM;
		w->space = 0;
		if (w->pending == 1)
			w->pending = 0;
		return 0;
	}
	int level = flags & T_PARA ? 2 : flags & T_LINE ? 1 : 0;
	int dense = (flags & T_DENSE) != 0;
	int is_link = !strcmp(name, "a") && xmlHasProp(n, (const xmlChar *)"href");
	int is_pre = !strcmp(name, "pre") || !strcmp(name, "textarea") || !strcmp(name, "listing");
	int is_main = !strcmp(name, "article") || !strcmp(name, "main");
	int is_cell = !strcmp(name, "td") || !strcmp(name, "th");
	if (level)
		want_break(w, level);
	/* roll-back point for link-dense blocks */
	size_t at_len = w->out->len, at_links = w->links, at_link_chars = w->link_chars;
	int at_pending = w->pending, at_space = w->space;
	if (is_cell) {
		xmlNode *prev = n->prev;
		while (prev && prev->type != XML_ELEMENT_NODE)
			prev = prev->prev;
		if (prev && w->out->len && !w->pending && emit_raw(w, " |", 2))
			return SP_ENOMEM;
		w->space = 1;
	}
	if (!strcmp(name, "li")) {
		const char *bullet = "-";
		char num[24];
		if (n->parent && n->parent->name && !strcmp((const char *)n->parent->name, "ol")) {
			int k = 1;
			for (xmlNode *s = n->prev; s; s = s->prev)
				k += s->type == XML_ELEMENT_NODE && s->name && !strcmp((const char *)s->name, "li");
			snprintf(num, sizeof num, "%d.", k);
			bullet = num;
		}
		if (emit_raw(w, bullet, strlen(bullet)))
			return SP_ENOMEM;
		w->space = 1;
	}
	if (is_link) {
		w->links++;
		w->in_link++;
	}
	w->pre += is_pre;
	w->in_main += is_main;
	int rc = walk_children(w, n);
	w->pre -= is_pre;
	w->in_main -= is_main;
	if (is_link)
		w->in_link--;
	if (rc < 0)
		return rc;
	if (is_link && w->out->len > at_len) {
		/* heading anchors ("#", pilcrow, section sign) are navigation, not text */
		const char *a = w->out->p + at_len, *e = w->out->p + w->out->len;
		while (a < e && (*a == ' ' || *a == '\n'))
			a++;
		size_t k = (size_t)(e - a);
		if ((k == 1 && *a == '#') || (k == 2 && (!memcmp(a, "\xc2\xb6", 2) || !memcmp(a, "\xc2\xa7", 2)))) {
			w->out->len = at_len;
			w->out->p[at_len] = 0;
			w->link_chars = at_link_chars;
			w->pending = at_pending;
			w->space = at_space;
			return 0;
		}
	}
	if (dense && w->links - at_links >= 2) {
		size_t text = w->out->len - at_len, links = w->link_chars - at_link_chars;
		if (text && (double)links / (double)text > w->o->link_density_max) {
			w->out->len = at_len;
			if (w->out->p)
				w->out->p[at_len] = 0;
			w->links = at_links;
			w->link_chars = at_link_chars;
			w->pending = at_pending;
			w->space = at_space;
			return 0;
		}
	}
	if (level)
		want_break(w, level);
	return 0;
}

static int walk_children(walk *w, xmlNode *n)
{
	for (xmlNode *c = n->children; c; c = c->next) {
		int rc = 0;
		if (c->type == XML_ELEMENT_NODE)
			rc = walk_element(w, c);
		else if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			rc = emit_text(w, (const char *)c->content, strlen((const char *)c->content));
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Trailing spaces off every line, at most one blank line in a row, no blank start or end. */
static void tidy(sp_buf *b)
{
	size_t j = 0, blank_run = 0;
	char *p = b->p;
	size_t i = 0;
	while (i < b->len) {
		char *nl = memchr(p + i, '\n', b->len - i);
		size_t e = nl ? (size_t)(nl - p) : b->len, le = e;
		while (le > i && (p[le - 1] == ' ' || p[le - 1] == '\t') && !(le - i > 0 && 0))
			le--;
		if (le == i) {
			blank_run++;
		} else {
			if (j) {
				p[j++] = '\n';
				if (blank_run)
					p[j++] = '\n';
			}
			memmove(p + j, p + i, le - i);
			j += le - i;
			blank_run = 0;
		}
		i = e + 1;
	}
	b->len = j;
	if (p)
		p[j] = 0;
}

/* ------------------------------------------------------------------ deep nesting */

/* libxml2 gives up below 256 levels (2048 with HTML_PARSE_HUGE) and drops what is deeper; the walk
 * also recurses per level. Pages nested deeper than FLAT_DEPTH are flattened first: tags below that
 * depth are replaced by a space, so their text is kept at the deepest kept level. */
#define FLAT_DEPTH 1000

static int no_depth(const char *name, size_t len)
{
	/* void elements and those whose end tag is usually left out: they do not nest */
	static const char *const names[] = { "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
	                                     "param", "source", "track", "wbr", "p", "li", "option", "td", "th", "tr",
	                                     "dt", "dd", NULL };
	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == len && !strncasecmp(names[i], name, len))
			return 1;
	return 0;
}

/* Scans the tags of p: returns the deepest nesting seen; with out, writes p there with the tags
 * deeper than limit replaced by one space. Comments are copied whole. */
static size_t nest_scan(const char *p, size_t n, size_t limit, sp_buf *out)
{
	size_t depth = 0, max = 0, i = 0, copied = 0;
	while (i < n) {
		const char *lt = memchr(p + i, '<', n - i);
		if (!lt)
			break;
		i = (size_t)(lt - p);
		if (n - i >= 4 && !strncmp(p + i, "<!--", 4)) {
			const char *e = n - i > 4 ? memmem(p + i + 4, n - i - 4, "-->", 3) : NULL;
			i = e ? (size_t)(e - p) + 3 : n;
			continue;
		}
		size_t j = i + 1;
		int end = j < n && p[j] == '/';
		j += (size_t)end;
		if (j >= n || !isalpha((unsigned char)p[j])) {
			i++;
			continue;
		}
		size_t name_at = j;
		while (j < n && (isalnum((unsigned char)p[j]) || p[j] == '-' || p[j] == ':'))
			j++;
		size_t name_len = j - name_at;
		char quote = 0;
		while (j < n && (quote || p[j] != '>')) {
			if (quote && p[j] == quote)
				quote = 0;
			else if (!quote && (p[j] == '"' || p[j] == '\''))
				quote = p[j];
			j++;
		}
		int self_closing = j < n && j > i && p[j - 1] == '/';
		size_t tag_end = j < n ? j + 1 : n;
		int nests = !self_closing && !no_depth(p + name_at, name_len);
		int drop = 0;
		if (nests && !end) {
			depth++;
			if (depth > max)
				max = depth;
			drop = depth > limit;
		} else if (nests && end) {
			drop = depth > limit;
			if (depth)
				depth--;
		}
		if (drop && out) {
			if (sp_buf_append(out, p + copied, i - copied) || sp_buf_appendc(out, ' '))
				return SIZE_MAX;
			copied = tag_end;
		}
		i = tag_end;
	}
	if (out && sp_buf_append(out, p + copied, n - copied))
		return SIZE_MAX;
	return max;
}

int extract_html(const extract_opts *o, const char *p, size_t n, const char *http_ctype, size_t http_ctype_len,
                 extract_result *res, sp_err *err)
{
	char declared[64] = "";
	if (http_ctype && http_ctype_len)
		find_charset(http_ctype, http_ctype_len, declared, sizeof declared);
	SP_FORWARD(extract_to_utf8(p, n, declared, &res->scratch, res->charset, sizeof res->charset,
	                           res->charset_source, sizeof res->charset_source, err));
	sp_buf_reset(&res->text);
	sp_buf_reset(&res->title);
	if (res->scratch.len > 0x7fffffff)
		SP_RAISE(err, SP_EDATA, "page too large for the HTML parser");
	const char *html = res->scratch.p ? res->scratch.p : "";
	size_t html_len = res->scratch.len;
	sp_buf flat = SP_BUF_INIT;
	if (nest_scan(html, html_len, FLAT_DEPTH, NULL) > FLAT_DEPTH) {
		if (nest_scan(html, html_len, FLAT_DEPTH, &flat) == SIZE_MAX) {
			sp_buf_release(&flat);
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
		html = flat.p ? flat.p : "";
		html_len = flat.len;
	}
	htmlDocPtr doc = htmlReadMemory(html, (int)html_len, NULL, "UTF-8",
	                                HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
	                                HTML_PARSE_COMPACT | HTML_PARSE_NOIMPLIED | XML_PARSE_HUGE);
	sp_buf_release(&flat);
	if (!doc)
		SP_RAISE(err, SP_EDATA, "the HTML parser gave up on this page");
	walk w;
	memset(&w, 0, sizeof w);
	w.out = &res->text;
	w.o = o;
	w.title = &res->title;
	/* the title lives in <head>, which the walk skips: look for it first */
	xmlNode *root = xmlDocGetRootElement(doc);
	int rc = 0;
	for (xmlNode *c = root; c && rc == 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		for (xmlNode *h = c->children; h; h = h->next)
			if (h->type == XML_ELEMENT_NODE && h->name && !strcmp((const char *)h->name, "head"))
				for (xmlNode *t = h->children; t; t = t->next)
					if (t->type == XML_ELEMENT_NODE && t->name && !strcmp((const char *)t->name, "title"))
						walk_element(&w, t);
	}
	for (xmlNode *c = doc->children; c && rc == 0; c = c->next) {
		if (c->type == XML_ELEMENT_NODE)
			rc = walk_element(&w, c);
		else if (c->type == XML_TEXT_NODE && c->content)
			rc = emit_text(&w, (const char *)c->content, strlen((const char *)c->content));
	}
	xmlFreeDoc(doc);
	if (rc < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (sp_buf_grow(&res->text, 1) || sp_buf_grow(&res->title, 1))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	tidy(&res->text);
	return 0;
}
