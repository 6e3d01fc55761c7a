/* filter_pii.c - PII spotting for `spindle filter --pii`: e-mail, IPv4, IPv6, phone and payment-card
 * numbers with PCRE2 (JIT), each candidate then checked in C (inet_pton for IPv6, Luhn and issuer
 * prefixes for cards, digit counts for phones, a "version" word before dotted quads).
 *
 * Look-alikes that must not match: version numbers (1.2.3, v1.2.3.4), dates (2023-01-15), ISBNs
 * (978-3-16-148410-0), hashes (hex runs: the patterns need non-word characters around them),
 * times (12:30:45), MAC addresses, C++ scopes (std::vector). By default nothing inside a URL's
 * host part (scheme://user@host:port) is touched; pii.url_hosts = on changes that. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "filter_int.h"
#include "spindle/mem.h"

const char *const filter_pii_names[FILTER_PII_N] = { "email", "ipv4", "ipv6", "phone", "card" };

static const char *const pii_patterns[FILTER_PII_N] = {
	/* email: matched anchored at the local part found by backing up from '@' */
	"[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+"
	"[A-Za-z]{2,24}(?![A-Za-z0-9-])",
	/* ipv4 */
	"(?<![\\w.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}"
	"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?!\\w|\\.[0-9])",
	/* ipv6 candidate, matched anchored at a token start; inet_pton decides */
	"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:[0-9]{1,3}\\.){3}[0-9]{1,3}|[0-9A-Fa-f]{0,4})(?![\\w:.])",
	/* phone: +CC international forms, (NNN) NNN-NNNN and NNN-NNN-NNNN */
	"(?<![\\w+.\\-/=:])(?:\\+[1-9][0-9]{0,2}[ .-]?(?:\\([0-9]{1,4}\\)[ .-]?)?[0-9]{1,4}(?:[ .-]?[0-9]{2,4}){1,4}"
	"|\\([0-9]{3}\\)[ .-]?[0-9]{3}[ .-][0-9]{4}|[0-9]{3}([.-])[0-9]{3}\\1[0-9]{4})(?!\\w|[.-][0-9])",
	/* card: 13-19 digits, optionally grouped by single spaces or dashes, not part of a longer run of
	 * numbers ("quanta 3500 1514 1514 1514 1514" is a list) */
	"(?<![\\w.\\-])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?!\\w|[.\\- ][0-9])",
};

int filter_pii_compile(filter *f, sp_err *err)
{
	for (int i = 0; i < FILTER_PII_N; i++) {
		int ec;
		PCRE2_SIZE eo;
		f->pii_re[i] = pcre2_compile((PCRE2_SPTR)pii_patterns[i], PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
		if (!f->pii_re[i])
			SP_RAISE(err, SP_EINTERNAL, "PII pattern %s does not compile (error %d at %zu)", filter_pii_names[i], ec,
			         (size_t)eo);
		pcre2_jit_compile(f->pii_re[i], PCRE2_JIT_COMPLETE);
	}
	return 0;
}

int filter_luhn_ok(const char *s, size_t n)
{
	int sum = 0, dbl = 0, digits = 0;
	for (size_t i = n; i-- > 0;) {
		if (s[i] < '0' || s[i] > '9')
			continue;
		int d = s[i] - '0';
		if (dbl && (d *= 2) > 9)
			d -= 9;
		sum += d;
		dbl = !dbl;
		digits++;
	}
	return digits > 0 && sum % 10 == 0;
}

static int card_ok(const char *s, size_t n)
{
	char d[20];
	size_t nd = 0, groups[20], ng = 0, run = 0;
	char sep = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (nd >= 19)
				return 0;
			d[nd++] = s[i];
			run++;
			continue;
		}
		if (sep && s[i] != sep)
			return 0; /* mixed separators */
		sep = s[i];
		groups[ng++] = run;
		run = 0;
	}
	groups[ng++] = run;
	if (nd < 13 || nd > 19)
		return 0;
	if (ng > 1) { /* grouped: 4-4-4-4(-3), 4-4-4-1..4 or Amex/Diners 4-6-4/5 */
		int fours = 1;
		for (size_t g = 0; g + 1 < ng; g++)
			fours &= groups[g] == 4;
		int amex = ng == 3 && groups[0] == 4 && groups[1] == 6 && (groups[2] == 5 || groups[2] == 4);
		if (!(fours && groups[ng - 1] >= 1 && groups[ng - 1] <= 4) && !amex)
			return 0;
	}
	int p2 = (d[0] - '0') * 10 + (d[1] - '0');
	int p4 = p2 * 100 + (d[2] - '0') * 10 + (d[3] - '0');
	int known = d[0] == '4' || (p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720) || p2 == 34 || p2 == 37 ||
	            p4 == 6011 || p2 == 65 || (p4 >= 6440 && p4 <= 6499) || p2 == 35 || p2 == 36 || p2 == 38 ||
	            (p4 >= 3000 && p4 <= 3059) || p2 == 62;
	return known && filter_luhn_ok(d, nd);
}

static int phone_ok(const char *s, size_t n)
{
	size_t digits = 0;
	for (size_t i = 0; i < n; i++)
		digits += s[i] >= '0' && s[i] <= '9';
	return s[0] == '+' ? digits >= 8 && digits <= 15 : digits == 10;
}

/* A dotted quad right after "version", "ver", "v", "release", "rev" is a version number. */
static int after_version_word(const char *t, size_t start)
{
	size_t i = start;
	while (i && (t[i - 1] == ' ' || t[i - 1] == '\t'))
		i--;
	size_t e = i;
	while (i && isalpha((unsigned char)t[i - 1]))
		i--;
	size_t k = e - i;
	if (!k || k > 8)
		return 0;
	char w[9];
	for (size_t j = 0; j < k; j++)
		w[j] = (char)tolower((unsigned char)t[i + j]);
	w[k] = 0;
	return !strcmp(w, "version") || !strcmp(w, "ver") || !strcmp(w, "v") || !strcmp(w, "release") ||
	       !strcmp(w, "rev") || !strcmp(w, "revision") || !strcmp(w, "versions");
}

static int ipv6_ok(const char *s, size_t n)
{
	char buf[64];
	unsigned char addr[16];
	if (n >= sizeof buf)
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (inet_pton(AF_INET6, buf, addr) != 1)
		return 0;
	/* at least two non-empty groups: "::" and "::1" are not personal */
	int groups = 0, in = 0, digits = 0;
	for (size_t i = 0; i < n; i++) {
		digits += s[i] >= '0' && s[i] <= '9';
		if (s[i] != ':' && !in) { groups++; in = 1; }
		if (s[i] == ':') in = 0;
	}
	return groups >= 2 && digits > 0; /* a::b is a C++/Rust path, not an address */
}

static int add_span(filter_result *r, int type, size_t a, size_t b)
{
	if (r->n_pii == r->cap_pii) {
		size_t cap = r->cap_pii ? r->cap_pii * 2 : 16;
		filter_pii_span *x = sp_realloc(r->pii, cap * sizeof *x);
		if (!x)
			return SP_ENOMEM;
		r->pii = x;
		r->cap_pii = cap;
	}
	r->pii[r->n_pii].type = type;
	r->pii[r->n_pii].start = a;
	r->pii[r->n_pii].end = b;
	r->n_pii++;
	return 0;
}

static int cmp_span(const void *a, const void *b)
{
	const filter_pii_span *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end > y->end ? -1 : x->end < y->end;
}

static int is_local_char(unsigned char c) { return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
static int is_hexcolon(unsigned char c) { return isxdigit(c) || c == ':'; }

/* Host parts (authority) of scheme://... URLs: [a, b) pairs into hosts (at most cap). */
static size_t url_hosts(const char *t, size_t n, size_t (*hosts)[2], size_t cap, size_t *more)
{
	size_t k = 0;
	*more = 0;
	const char *p = t;
	while ((p = memmem(p, (size_t)(t + n - p), "://", 3)) != NULL) {
		size_t a = (size_t)(p - t) + 3, b = a;
		while (b < n && !strchr("/?#\"'<>(){} \t\n\\", t[b]))
			b++;
		if (a > 0 && p > t && isalpha((unsigned char)p[-1])) {
			if (k < cap) { hosts[k][0] = a; hosts[k][1] = b; k++; }
			else (*more)++;
		}
		p = t + (b > a ? b : a);
	}
	return k;
}

int filter_pii_find(const filter *f, filter_scratch *s, const char *t, size_t n, filter_result *r)
{
	const filter_config *c = &f->c;
	r->n_pii = 0;
	memset(r->pii_counts, 0, sizeof r->pii_counts);
	pcre2_match_data *md = s->md;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	/* e-mail: from each '@' */
	if (c->pii_types[FILTER_PII_EMAIL]) {
		const char *p = t;
		while ((p = memchr(p, '@', (size_t)(t + n - p))) != NULL) {
			size_t at = (size_t)(p - t), a = at;
			while (a > 0 && at - a < 64 && is_local_char((unsigned char)t[a - 1]))
				a--;
			while (a < at && t[a] == '.')
				a++;
			p++;
			if (a == at)
				continue;
			if (pcre2_match(f->pii_re[FILTER_PII_EMAIL], (PCRE2_SPTR)t, n, a, PCRE2_ANCHORED, md, NULL) >= 0) {
				if (add_span(r, FILTER_PII_EMAIL, ov[0], ov[1]))
					return SP_ENOMEM;
				p = t + ov[1];
			}
		}
	}
	/* IPv6: from each token of hex digits and colons */
	if (c->pii_types[FILTER_PII_IPV6]) {
		const char *p = t;
		while ((p = memchr(p, ':', (size_t)(t + n - p))) != NULL) {
			size_t a = (size_t)(p - t), e = a;
			while (a > 0 && is_hexcolon((unsigned char)t[a - 1]))
				a--;
			while (e < n && (is_hexcolon((unsigned char)t[e]) || t[e] == '.'))
				e++;
			p = t + e;
			if (a > 0 && (isalnum((unsigned char)t[a - 1]) || t[a - 1] == '_' || t[a - 1] == '.'))
				continue;
			if (pcre2_match(f->pii_re[FILTER_PII_IPV6], (PCRE2_SPTR)t, n, a, PCRE2_ANCHORED, md, NULL) >= 0 &&
			    ipv6_ok(t + ov[0], ov[1] - ov[0])) {
				if (add_span(r, FILTER_PII_IPV6, ov[0], ov[1]))
					return SP_ENOMEM;
			}
			if (p == t + a)
				p++;
		}
	}
	/* IPv4, phones, cards: plain JIT scans */
	static const int scan_types[3] = { FILTER_PII_IPV4, FILTER_PII_PHONE, FILTER_PII_CARD };
	for (int k = 0; k < 3; k++) {
		int type = scan_types[k];
		if (!c->pii_types[type])
			continue;
		size_t at = 0;
		while (at < n && pcre2_match(f->pii_re[type], (PCRE2_SPTR)t, n, at, 0, md, NULL) >= 0) {
			size_t a = ov[0], b = ov[1];
			int ok = type == FILTER_PII_IPV4 ? !after_version_word(t, a)
			       : type == FILTER_PII_PHONE ? phone_ok(t + a, b - a) : card_ok(t + a, b - a);
			if (ok && add_span(r, type, a, b))
				return SP_ENOMEM;
			at = b > a ? b : a + 1;
		}
	}
	if (!r->n_pii)
		return 0;
	qsort(r->pii, r->n_pii, sizeof *r->pii, cmp_span);
	/* drop overlaps (keep the earlier, longer one) and spans inside URL hosts */
	size_t hosts[64][2], more = 0, nh = c->pii_url_hosts ? 0 : url_hosts(t, n, hosts, 64, &more);
	size_t out = 0, last_end = 0;
	for (size_t i = 0; i < r->n_pii; i++) {
		filter_pii_span sp = r->pii[i];
		if (out && sp.start < last_end)
			continue;
		int in_host = 0;
		for (size_t h = 0; h < nh && !in_host; h++)
			in_host = sp.start < hosts[h][1] && sp.end > hosts[h][0];
		if (in_host)
			continue;
		r->pii[out++] = sp;
		last_end = sp.end;
		r->pii_counts[sp.type]++;
	}
	r->n_pii = out;
	return 0;
}
