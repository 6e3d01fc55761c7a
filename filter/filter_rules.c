/* filter_rules.c - the document rules of `spindle filter`: one scan of the text into words and
 * lines, then each rule as a small measurement compared with its config threshold.
 *
 * Definitions follow the Gopher paper (Rae et al. 2021, appendix A), C4 (Raffel et al. 2020) and
 * FineWeb (Penedo et al. 2024) as datatrove implements them; where spindle differs it says so here
 * and in schemas/filter-config.md. Characters are Unicode code points; words are whitespace-separated.
 * PII lives in filter_pii.c, text clean-up in filter_text.c, the CLD2 shim in filter_lang.cc. */
#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <unicode/uchar.h>
#include "filter_int.h"
#include "filter_lang.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

const char *const filter_rule_names[] = {
	"url_domain", "url_suffix", "url_pattern", "lang",
	"gopher_dup_lines", "gopher_dup_paragraphs", "gopher_dup_line_chars", "gopher_dup_paragraph_chars",
	"gopher_top_2gram", "gopher_top_3gram", "gopher_top_4gram",
	"gopher_dup_5gram", "gopher_dup_6gram", "gopher_dup_7gram", "gopher_dup_8gram", "gopher_dup_9gram",
	"gopher_dup_10gram",
	"gopher_word_count", "gopher_mean_word_length", "gopher_symbol_ratio", "gopher_bullet_lines",
	"gopher_ellipsis_lines", "gopher_alpha_words", "gopher_stop_words",
	"c4_lines", "c4_lorem_ipsum", "c4_curly_brace", "c4_min_sentences",
	"fineweb_line_punct", "fineweb_short_lines", "fineweb_char_dup", "fineweb_list_ratio",
	"pii", NULL
};

/* ------------------------------------------------------------------ hash table */

static int ht_reserve(htab *t, size_t items)
{
	size_t want = 64;
	while (want < items * 2)
		want <<= 1;
	if (want > t->cap) {
		uint64_t *x = sp_malloc(want * sizeof *x);
		if (!x)
			return SP_ENOMEM;
		sp_free(t->s);
		t->s = x;
		t->cap = want;
	}
	t->used_cap = want;
	memset(t->s, 0, want * sizeof *t->s);
	return 0;
}

#define HT_KEY(k) (((k) | (1ull << 63)) & ~0xFFFFFFull)

/* Adds key; returns its count after adding (saturating at 2^24 - 1). The table is sized for the
 * items of one use (ht_reserve), so it never fills. */
static uint32_t ht_add_at(htab *t, uint64_t key, uint32_t *slot)
{
	size_t mask = t->used_cap - 1, i = (size_t)(key ^ (key >> 29)) & mask;
	uint64_t k = HT_KEY(key);
	for (;;) {
		uint64_t e = t->s[i];
		if (!e) {
			t->s[i] = k | 1;
			*slot = (uint32_t)i;
			return 1;
		}
		if ((e & ~0xFFFFFFull) == k) {
			if ((e & 0xFFFFFF) != 0xFFFFFF)
				t->s[i] = ++e;
			*slot = (uint32_t)i;
			return (uint32_t)(e & 0xFFFFFF);
		}
		i = (i + 1) & mask;
	}
}

static uint32_t ht_add(htab *t, uint64_t key)
{
	uint32_t slot;
	return ht_add_at(t, key, &slot);
}

/* The count now held in a slot that ht_add_at returned (slots do not move: the table never grows). */
static uint32_t ht_count_at(const htab *t, uint32_t slot) { return (uint32_t)(t->s[slot] & 0xFFFFFF); }

static void ht_release(htab *t)
{
	sp_free(t->s);
	memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ scan */

typedef struct tstats {
	size_t words, word_chars, nonsym_words, nonsym_chars, alpha_words, stop_words;
	size_t hashes, ellipses, chars, newlines;
	size_t lines, bullet_lines, ellipsis_lines, punct_lines;
} tstats;

/* The scan's classes, derived from cls once: S_NONSYM for any ASCII byte that is not punctuation,
 * S_ALPHA for letters, S_SLOW for what needs more than a flag ('#' and '.' are counted; bytes >= 0x80
 * start a UTF-8 sequence). */
enum { S_WS = 1, S_ALPHA = 2, S_NONSYM = 4, S_SLOW = 8 };
static unsigned char scls[256];
static pthread_once_t scls_once = PTHREAD_ONCE_INIT;

static inline int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Byte classes for the scan (the C library's isalpha() is a call per byte). */
enum { C_WS = 1, C_ALPHA = 2, C_PUNCT = 4 };
static const unsigned char cls[256] = {
	['\t'] = C_WS, ['\n'] = C_WS, ['\v'] = C_WS, ['\f'] = C_WS, ['\r'] = C_WS, [' '] = C_WS,
	['!'] = C_PUNCT, ['"'] = C_PUNCT, ['#'] = C_PUNCT, ['$'] = C_PUNCT, ['%'] = C_PUNCT, ['&'] = C_PUNCT,
	['\''] = C_PUNCT, ['('] = C_PUNCT, [')'] = C_PUNCT, ['*'] = C_PUNCT, ['+'] = C_PUNCT, [','] = C_PUNCT,
	['-'] = C_PUNCT, ['.'] = C_PUNCT, ['/'] = C_PUNCT, [':'] = C_PUNCT, [';'] = C_PUNCT, ['<'] = C_PUNCT,
	['='] = C_PUNCT, ['>'] = C_PUNCT, ['?'] = C_PUNCT, ['@'] = C_PUNCT, ['['] = C_PUNCT, ['\\'] = C_PUNCT,
	[']'] = C_PUNCT, ['^'] = C_PUNCT, ['_'] = C_PUNCT, ['`'] = C_PUNCT, ['{'] = C_PUNCT, ['|'] = C_PUNCT,
	['}'] = C_PUNCT, ['~'] = C_PUNCT,
	['A'] = C_ALPHA, ['B'] = C_ALPHA, ['C'] = C_ALPHA, ['D'] = C_ALPHA, ['E'] = C_ALPHA, ['F'] = C_ALPHA,
	['G'] = C_ALPHA, ['H'] = C_ALPHA, ['I'] = C_ALPHA, ['J'] = C_ALPHA, ['K'] = C_ALPHA, ['L'] = C_ALPHA,
	['M'] = C_ALPHA, ['N'] = C_ALPHA, ['O'] = C_ALPHA, ['P'] = C_ALPHA, ['Q'] = C_ALPHA, ['R'] = C_ALPHA,
	['S'] = C_ALPHA, ['T'] = C_ALPHA, ['U'] = C_ALPHA, ['V'] = C_ALPHA, ['W'] = C_ALPHA, ['X'] = C_ALPHA,
	['Y'] = C_ALPHA, ['Z'] = C_ALPHA,
	['a'] = C_ALPHA, ['b'] = C_ALPHA, ['c'] = C_ALPHA, ['d'] = C_ALPHA, ['e'] = C_ALPHA, ['f'] = C_ALPHA,
	['g'] = C_ALPHA, ['h'] = C_ALPHA, ['i'] = C_ALPHA, ['j'] = C_ALPHA, ['k'] = C_ALPHA, ['l'] = C_ALPHA,
	['m'] = C_ALPHA, ['n'] = C_ALPHA, ['o'] = C_ALPHA, ['p'] = C_ALPHA, ['q'] = C_ALPHA, ['r'] = C_ALPHA,
	['s'] = C_ALPHA, ['t'] = C_ALPHA, ['u'] = C_ALPHA, ['v'] = C_ALPHA, ['w'] = C_ALPHA, ['x'] = C_ALPHA,
	['y'] = C_ALPHA, ['z'] = C_ALPHA,
};

/* Word hash: short words are most words, so a multiply-mix over 8-byte pieces beats a library call. */
static inline uint64_t word_hash(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xc2b2ae3d27d4eb4full);
	while (n >= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		h = (h ^ x) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	uint64_t x = 0;
	memcpy(&x, p, n);
	h = (h ^ x) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

static int is_stop_word(const char *p, size_t n)
{
	if (n < 2 || n > 8)
		return 0;
	/* strip ASCII punctuation around the word, compare lower-cased */
	while (n && (cls[(unsigned char)*p] & C_PUNCT)) { p++; n--; }
	while (n && (cls[(unsigned char)p[n - 1]] & C_PUNCT)) n--;
	if (n < 2 || n > 4)
		return 0;
	char w[4];
	for (size_t i = 0; i < n; i++)
		w[i] = (char)(p[i] | 0x20); /* ASCII lower case (non-letters never match below) */
	switch (n) {
	case 2: return !memcmp(w, "be", 2) || !memcmp(w, "to", 2) || !memcmp(w, "of", 2);
	case 3: return !memcmp(w, "the", 3) || !memcmp(w, "and", 3);
	default: return !memcmp(w, "that", 4) || !memcmp(w, "have", 4) || !memcmp(w, "with", 4);
	}
}

/* Ends with terminal punctuation (ASCII . ! ? " ' or one of the Unicode ones), after trailing spaces. */
static int ends_terminal(const char *p, size_t n)
{
	if (!n)
		return 0;
	unsigned char c = (unsigned char)p[n - 1];
	if (c == '.' || c == '!' || c == '?' || c == '"' || c == '\'')
		return 1;
	static const char *const uni[] = { "\xe2\x80\x9d", "\xe2\x80\x99", "\xc2\xbb", "\xe2\x80\xa6", "\xe3\x80\x82",
	                                   "\xef\xbc\x81", "\xef\xbc\x9f", "\xef\xbc\x8e", "\xd8\x9f", "\xdb\x94",
	                                   "\xe0\xa5\xa4", "\xe0\xa5\xa5" };
	for (size_t i = 0; i < sizeof uni / sizeof *uni; i++) {
		size_t m = strlen(uni[i]);
		if (n >= m && !memcmp(p + n - m, uni[i], m))
			return 1;
	}
	return 0;
}

static int ends_ellipsis(const char *p, size_t n)
{
	return (n >= 3 && !memcmp(p + n - 3, "...", 3)) || (n >= 3 && !memcmp(p + n - 3, "\xe2\x80\xa6", 3));
}

static int push_word(filter_scratch *s, const fword *w)
{
	if (s->n_w == s->cap_w) {
		size_t cap = s->cap_w ? s->cap_w * 2 : 1024;
		fword *x = sp_realloc(s->w, cap * sizeof *x);
		if (!x)
			return SP_ENOMEM;
		s->w = x;
		s->cap_w = cap;
	}
	s->w[s->n_w++] = *w;
	return 0;
}

static int push_line(filter_scratch *s, const fline *l)
{
	if (s->n_l == s->cap_l) {
		size_t cap = s->cap_l ? s->cap_l * 2 : 256;
		fline *x = sp_realloc(s->l, cap * sizeof *x);
		if (!x)
			return SP_ENOMEM;
		s->l = x;
		s->cap_l = cap;
	}
	s->l[s->n_l++] = *l;
	return 0;
}

/* One pass: words (with chars, hash, flags), lines (trimmed, with hash; blank lines kept with len 0)
 * and the counts the quality rules need. */
static void scls_init(void)
{
	for (unsigned c = 0; c < 256; c++) {
		unsigned k = cls[c];
		scls[c] = (unsigned char)((k & C_WS) ? S_WS : c >= 0x80 || c == '#' || c == '.' ? S_SLOW :
		                          (k & C_ALPHA) ? S_ALPHA | S_NONSYM : (k & C_PUNCT) ? 0 : S_NONSYM);
	}
}

static int scan(filter_scratch *s, const char *t, size_t n, tstats *st)
{
	pthread_once(&scls_once, scls_init);
	memset(st, 0, sizeof *st);
	s->n_w = s->n_l = 0;
	size_t i = 0;
	while (i <= n) {
		/* one line: [i, e) */
		const char *nl = i < n ? memchr(t + i, '\n', n - i) : NULL;
		size_t e = nl ? (size_t)(nl - t) : n;
		size_t a = i, b = e;
		while (a < b && is_ws((unsigned char)t[a])) a++;
		while (b > a && is_ws((unsigned char)t[b - 1])) b--;
		fline L = { a, b - a, 0, 0, 0 };
		size_t first_word = s->n_w, j = a;
		while (j < b) {
			while (j < b && is_ws((unsigned char)t[j])) { j++; L.chars++; }
			if (j >= b)
				break;
			size_t ws = j;
			uint32_t chars = 0;
			unsigned acc = 0; /* S_ALPHA | S_NONSYM of the word's characters */
			int dots = 0;
			while (j < b) {
				unsigned char c = (unsigned char)t[j];
				unsigned k = scls[c];
				if (!(k & (S_WS | S_SLOW))) {
					/* the common case: a plain ASCII letter, digit or punctuation mark */
					acc |= k;
					dots = 0;
					j++;
					chars++;
					continue;
				}
				if (k & S_WS)
					break;
				if (c < 0x80) {
					if (c == '#') {
						st->hashes++;
						dots = 0;
					} else if (++dots == 3) { /* '.' */
						st->ellipses++;
						dots = 0;
					}
					j++;
				} else {
					uint32_t cp = 0xFFFD;
					size_t kk = sp_utf8_decode(t + j, n - j, &cp);
					if (!kk)
						kk = 1;
					if (cp == 0x2026) st->ellipses++;
					else if (u_isalpha((UChar32)cp)) acc |= S_ALPHA | S_NONSYM;
					else if (!u_ispunct((UChar32)cp)) acc |= S_NONSYM;
					dots = 0;
					j += kk;
				}
				chars++;
			}
			int alpha = (acc & S_ALPHA) != 0, nonsym = (acc & S_NONSYM) != 0;
			fword w = { ws, (uint32_t)(j - ws), chars, word_hash(t + ws, j - ws) };
			if (push_word(s, &w))
				return SP_ENOMEM;
			st->words++;
			st->word_chars += chars;
			if (nonsym) { st->nonsym_words++; st->nonsym_chars += chars; }
			st->alpha_words += alpha;
			st->stop_words += is_stop_word(t + ws, j - ws);
			L.chars += chars;
		}
		L.n_words = (uint32_t)(s->n_w - first_word);
		L.h = sp_hash64(t + a, b - a, 1);
		if (push_line(s, &L))
			return SP_ENOMEM;
		if (L.len) {
			st->lines++;
			unsigned char c0 = (unsigned char)t[a];
			st->bullet_lines += c0 == '-' || c0 == '*' || (L.len >= 3 && !memcmp(t + a, "\xe2\x80\xa2", 3));
			st->ellipsis_lines += ends_ellipsis(t + a, L.len);
			st->punct_lines += ends_terminal(t + a, L.len);
		}
		st->chars += L.chars + (a - i) + (e - b); /* leading/trailing spaces are single bytes */
		if (!nl)
			break;
		st->newlines++;
		st->chars++;
		i = e + 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ measurements */

/* Repeated lines (blank ones ignored): how many, and their characters. */
static int dup_lines(filter_scratch *s, size_t *n_dup, size_t *chars_dup)
{
	*n_dup = *chars_dup = 0;
	if (ht_reserve(&s->ht, s->n_l))
		return SP_ENOMEM;
	for (size_t i = 0; i < s->n_l; i++)
		if (s->l[i].len && ht_add(&s->ht, s->l[i].h) > 1) {
			(*n_dup)++;
			*chars_dup += s->l[i].chars;
		}
	return 0;
}

/* Paragraphs are runs of non-blank lines. */
static int dup_paragraphs(filter_scratch *s, size_t *n_para, size_t *n_dup, size_t *chars_dup)
{
	*n_para = *n_dup = *chars_dup = 0;
	if (ht_reserve(&s->ht, s->n_l))
		return SP_ENOMEM;
	size_t i = 0;
	while (i < s->n_l) {
		if (!s->l[i].len) { i++; continue; }
		uint64_t h = 0x9e3779b97f4a7c15ull;
		size_t chars = 0;
		for (; i < s->n_l && s->l[i].len; i++) {
			h = (h ^ s->l[i].h) * 0x100000001b3ull + (h >> 31);
			chars += s->l[i].chars;
		}
		(*n_para)++;
		if (ht_add(&s->ht, h) > 1) {
			(*n_dup)++;
			*chars_dup += chars;
		}
	}
	return 0;
}

static int grow_grams(filter_scratch *s)
{
	if (s->cap_g >= s->n_w)
		return 0;
	size_t cap = s->n_w + 1024;
	uint64_t *g = sp_realloc(s->gh, cap * sizeof *g);
	if (!g)
		return SP_ENOMEM;
	s->gh = g;
	uint32_t *m = sp_realloc(s->mark, cap * sizeof *m);
	if (!m)
		return SP_ENOMEM;
	s->mark = m;
	uint32_t *c = sp_realloc(s->cand, cap * sizeof *c);
	if (!c)
		return SP_ENOMEM;
	s->cand = c;
	uint32_t *sl = sp_realloc(s->cslot, cap * sizeof *sl);
	if (!sl)
		return SP_ENOMEM;
	s->cslot = sl;
	s->cap_g = cap;
	return 0;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t x = (a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2))) * 0xff51afd7ed558ccdull;
	return x ^ (x >> 32);
}

/* For n = 2..10 in order: top[n-2] = chars of the most frequent n-gram * its count / word chars (0 if
 * none repeats); dup[n-5] = chars of words covered by repeated n-grams (every occurrence after the
 * first) / word chars.
 * Only positions whose (n-1)-gram occurs twice or more can start a repeated n-gram, so each level
 * looks only at the previous level's survivors: on ordinary text the levels above 3 cost little. */
static int ngram_fractions(filter_scratch *s, size_t word_chars, double top[3], double dup[6], int want_top,
                           int want_dup)
{
	memset(top, 0, 3 * sizeof *top);
	memset(dup, 0, 6 * sizeof *dup);
	size_t nw = s->n_w;
	if (nw < 2 || !word_chars)
		return 0;
	if (grow_grams(s))
		return SP_ENOMEM;
	size_t nc = 0;
	for (size_t i = 0; i < nw; i++) {
		s->gh[i] = s->w[i].h;
		s->mark[i] = 0;
		if (i + 1 < nw)
			s->cand[nc++] = (uint32_t)i;
	}
	size_t last = want_dup ? 10 : want_top ? 4 : 1;
	for (size_t n = 2; n <= last && nc; n++) {
		if (ht_reserve(&s->ht, nc))
			return SP_ENOMEM;
		uint32_t best = 0;
		size_t best_i = 0, covered = 0;
		for (size_t k = 0; k < nc; k++) {
			uint32_t i = s->cand[k];
			s->gh[i] = mix(s->gh[i], s->w[i + n - 1].h);
			uint32_t c = ht_add_at(&s->ht, s->gh[i], &s->cslot[k]);
			if (c > best) {
				best = c;
				best_i = i;
			}
			if (n >= 5 && c > 1)
				for (size_t j = i; j < i + n; j++)
					if (s->mark[j] != n) {
						s->mark[j] = (uint32_t)n;
						covered += s->w[j].chars;
					}
		}
		if (n <= 4 && best > 1) {
			size_t chars = 0;
			for (size_t k = 0; k < n; k++)
				chars += s->w[best_i + k].chars;
			top[n - 2] = (double)chars * best / (double)word_chars;
		}
		if (n >= 5)
			dup[n - 5] = (double)covered / (double)word_chars;
		/* survivors: the n-gram repeats and an (n+1)-gram fits */
		size_t m = 0;
		for (size_t k = 0; k < nc; k++) {
			uint32_t i = s->cand[k];
			if (i + n < nw && ht_count_at(&s->ht, s->cslot[k]) > 1)
				s->cand[m++] = i;
		}
		nc = m;
	}
	return 0;
}

/* ------------------------------------------------------------------ C4 line rules */

static void lower_ascii(sp_buf *dst, const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst->p[i] = (char)tolower((unsigned char)t[i]);
	dst->p[n] = 0;
	dst->len = n;
}

static const char *const policy_phrases[] = { "terms of use", "privacy policy", "cookie policy", "uses cookies",
                                              "use of cookies", "use cookies" };

/* Deletes "[12]", "[]", "[edit]", "[citation needed]" from a line into out. */
static int append_without_citations(sp_buf *out, const char *p, size_t n)
{
	size_t i = 0, from = 0;
	while (i < n) {
		if (p[i] == '[') {
			size_t j = i + 1;
			while (j < n && p[j] >= '0' && p[j] <= '9')
				j++;
			size_t len = 0;
			if (j < n && p[j] == ']')
				len = j + 1 - i;
			else if (n - i >= 6 && !memcmp(p + i, "[edit]", 6))
				len = 6;
			else if (n - i >= 17 && !memcmp(p + i, "[citation needed]", 17))
				len = 17;
			if (len) {
				if (sp_buf_append(out, p + from, i - from))
					return SP_ENOMEM;
				i += len;
				from = i;
				continue;
			}
		}
		i++;
	}
	return sp_buf_append(out, p + from, n - from);
}

/* Removes lines per the c4_lines switches (needs s->l from scan of t, and s->lower). Blank lines
 * are kept but runs of them collapse to one (C4 drops them all; spindle keeps paragraph breaks). */
static int c4_remove_lines(const filter_config *c, filter_scratch *s, const char *t, size_t *removed)
{
	*removed = 0;
	sp_buf_reset(&s->c4);
	int blank_pending = 0, any = 0;
	for (size_t i = 0; i < s->n_l; i++) {
		const fline *L = &s->l[i];
		if (!L->len) {
			blank_pending = any;
			continue;
		}
		const char *lo = s->lower.p + L->off;
		int drop = 0;
		if (c->c4_lines_min_words && L->n_words < (uint64_t)c->c4_lines_min_words)
			drop = 1;
		if (!drop && c->c4_lines_terminal_punct && !ends_terminal(t + L->off, L->len))
			drop = 1;
		if (!drop && c->c4_lines_javascript && memmem(lo, L->len, "javascript", 10))
			drop = 1;
		if (!drop && c->c4_lines_policy)
			for (size_t k = 0; k < sizeof policy_phrases / sizeof *policy_phrases && !drop; k++)
				drop = memmem(lo, L->len, policy_phrases[k], strlen(policy_phrases[k])) != NULL;
		if (!drop && c->c4_lines_max_word_length) {
			size_t run = 0;
			for (size_t k = L->off; k < L->off + L->len && !drop; k++) {
				unsigned char ch = (unsigned char)t[k];
				if (is_ws(ch)) run = 0;
				else if ((ch & 0xC0) != 0x80 && ++run > (size_t)c->c4_lines_max_word_length) drop = 1;
			}
		}
		if (drop) {
			(*removed)++;
			continue;
		}
		if (any && sp_buf_appends(&s->c4, blank_pending ? "\n\n" : "\n"))
			return SP_ENOMEM;
		blank_pending = 0;
		any = 1;
		if (c->c4_lines_citations ? append_without_citations(&s->c4, t + L->off, L->len)
		                          : sp_buf_append(&s->c4, t + L->off, L->len))
			return SP_ENOMEM;
	}
	if (!s->c4.p && sp_buf_grow(&s->c4, 1))
		return SP_ENOMEM;
	return 0;
}

/* Sentences: runs of . ! ? (and the CJK/Arabic full stops) followed by whitespace or the end, plus a
 * final unterminated fragment that has a letter or digit. */
static size_t count_sentences(const char *t, size_t n)
{
	size_t count = 0;
	int open = 0; /* text since the last sentence end */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		int term = 0;
		size_t k = 1;
		if (c == '.' || c == '!' || c == '?') term = 1;
		else if (c >= 0x80) {
			if (n - i >= 3 && (!memcmp(t + i, "\xe3\x80\x82", 3) || !memcmp(t + i, "\xef\xbc\x81", 3) ||
			                   !memcmp(t + i, "\xef\xbc\x9f", 3))) { term = 2; k = 3; }
		}
		if (term) {
			size_t j = i + k;
			while (j < n && (t[j] == '.' || t[j] == '!' || t[j] == '?' || t[j] == '"' || t[j] == '\'' || t[j] == ')'))
				j++;
			if (open && (j >= n || is_ws((unsigned char)t[j]) || term == 2)) {
				count++;
				open = 0;
			}
			i = j - 1;
			continue;
		}
		if (isalnum(c) || c >= 0x80)
			open = 1;
	}
	return count + (open ? 1 : 0);
}

/* ------------------------------------------------------------------ URL rules */

static int host_of(const char *url, size_t n, char *host, size_t cap)
{
	const char *p = memmem(url, n, "://", 3);
	size_t i = p ? (size_t)(p - url) + 3 : 0, h = 0;
	size_t end = i;
	while (end < n && url[end] != '/' && url[end] != '?' && url[end] != '#')
		end++;
	const char *at = memchr(url + i, '@', end - i);
	if (at)
		i = (size_t)(at - url) + 1;
	for (; i < end && url[i] != ':' && h + 1 < cap; i++)
		host[h++] = (char)tolower((unsigned char)url[i]);
	while (h && host[h - 1] == '.')
		h--;
	host[h] = 0;
	return h > 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int in_list(char **list, size_t n, const char *s)
{
	return n && bsearch(&s, list, n, sizeof *list, cmp_str) != NULL;
}

/* ------------------------------------------------------------------ filter_doc */

static int signal(filter_result *r, const char *name, double v)
{
	if (r->signals.len && sp_buf_appendc(&r->signals, ','))
		return SP_ENOMEM;
	if (v == (double)(long long)v && v < 1e15)
		return sp_buf_appendf(&r->signals, "\"%s\":%lld", name, (long long)v);
	return sp_buf_appendf(&r->signals, "\"%s\":%.6g", name, v);
}

/* Records one measurement; returns 1 when evaluation should stop (dropped and not annotating). */
static int judge(filter_result *r, int annotate, const char *name, double v, int bad, double limit)
{
	if (annotate)
		signal(r, name, v);
	if (bad && r->keep) {
		r->keep = 0;
		r->rule = name;
		r->value = v;
		r->threshold = limit;
	}
	return bad && !annotate;
}

#define JUDGE(name, v, bad, limit) do { if (judge(r, annotate, name, (v), (bad), (limit))) goto done; } while (0)
#define RATIO(a, b) ((b) ? (double)(a) / (double)(b) : 0.0)

int filter_doc(const filter *f, filter_scratch *s, const char *text, size_t n, const char *url, int annotate,
               filter_result *r, sp_err *err)
{
	const filter_config *c = &f->c;
	r->keep = 1;
	r->rule = NULL;
	r->value = r->threshold = 0;
	r->text = text;
	r->text_len = n;
	r->text_changed = 0;
	r->lang[0] = 0;
	r->lang_score = 0;
	r->n_pii = 0;
	r->lines_removed = 0;
	memset(r->pii_counts, 0, sizeof r->pii_counts);
	sp_buf_reset(&r->signals);
	int rc = 0;

	/* clean-up */
	if (c->strip_invisible || c->normalize != FILTER_NORM_NONE) {
		SP_FORWARD(filter_clean_text(c->strip_invisible, c->normalize, text, n, &s->clean, err));
		if (s->clean.len != n || memcmp(s->clean.p, text, n)) {
			r->text = s->clean.p;
			r->text_len = s->clean.len;
			r->text_changed = 1;
		}
	}
	const char *t = r->text;
	n = r->text_len;

	/* URL block lists */
	if (url && (f->n_domains || f->n_suffixes || f->n_url_re)) {
		char host[256];
		if (host_of(url, strlen(url), host, sizeof host)) {
			JUDGE("url_domain", 1, in_list(f->domains, f->n_domains, host), 0);
			int hit = 0;
			for (const char *h = host; h && !hit; h = strchr(h, '.'), h = h ? h + 1 : NULL)
				hit = in_list(f->suffixes, f->n_suffixes, h);
			JUDGE("url_suffix", hit, hit, 0);
		}
		int hit = 0;
		for (size_t i = 0; i < f->n_url_re && !hit; i++)
			hit = pcre2_match(f->url_re[i], (PCRE2_SPTR)url, strlen(url), 0, 0, s->md, NULL) >= 0;
		JUDGE("url_pattern", hit, hit, 0);
	}

	/* language */
	if (c->lang) {
		size_t m = n;
		if (c->lang_max_bytes > 0 && m > (size_t)c->lang_max_bytes) {
			m = (size_t)c->lang_max_bytes;
			while (m && ((unsigned char)t[m] & 0xC0) == 0x80)
				m--;
		}
		int reliable = 0;
		filter_lang_detect(t, m, r->lang, sizeof r->lang, &r->lang_score, &reliable);
		int ok = f->any_lang || in_list(f->langs, f->n_langs, r->lang);
		JUDGE("lang", r->lang_score, !ok || r->lang_score < c->lang_min_score, c->lang_min_score);
	}

	tstats st;
	if ((rc = scan(s, t, n, &st)) < 0)
		goto oom;

	/* Gopher repetition */
	size_t line_dup_chars = 0;
	const char *line_dup_text = NULL; /* the text line_dup_chars was measured on */
	if (c->gopher_dup_lines || c->gopher_dup_line_chars || c->fineweb_char_dup) {
		size_t nd, cd;
		if ((rc = dup_lines(s, &nd, &cd)) < 0)
			goto oom;
		line_dup_chars = cd;
		line_dup_text = t;
		if (c->gopher_dup_lines)
			JUDGE("gopher_dup_lines", RATIO(nd, st.lines), RATIO(nd, st.lines) > c->gopher_dup_lines_max, c->gopher_dup_lines_max);
		if (c->gopher_dup_line_chars)
			JUDGE("gopher_dup_line_chars", RATIO(cd, st.chars), RATIO(cd, st.chars) > c->gopher_dup_line_chars_max, c->gopher_dup_line_chars_max);
	}
	if (c->gopher_dup_paragraphs || c->gopher_dup_paragraph_chars) {
		size_t np, nd, cd;
		if ((rc = dup_paragraphs(s, &np, &nd, &cd)) < 0)
			goto oom;
		if (c->gopher_dup_paragraphs)
			JUDGE("gopher_dup_paragraphs", RATIO(nd, np), RATIO(nd, np) > c->gopher_dup_paragraphs_max, c->gopher_dup_paragraphs_max);
		if (c->gopher_dup_paragraph_chars)
			JUDGE("gopher_dup_paragraph_chars", RATIO(cd, st.chars), RATIO(cd, st.chars) > c->gopher_dup_paragraph_chars_max, c->gopher_dup_paragraph_chars_max);
	}
	if (c->gopher_top_ngrams || c->gopher_dup_ngrams) {
		double top[3], dup[6];
		if ((rc = ngram_fractions(s, st.word_chars, top, dup, c->gopher_top_ngrams, c->gopher_dup_ngrams)) < 0)
			goto oom;
		static const char *const tn[3] = { "gopher_top_2gram", "gopher_top_3gram", "gopher_top_4gram" };
		static const char *const dn[6] = { "gopher_dup_5gram", "gopher_dup_6gram", "gopher_dup_7gram",
		                                   "gopher_dup_8gram", "gopher_dup_9gram", "gopher_dup_10gram" };
		for (int k = 0; c->gopher_top_ngrams && k < 3; k++)
			JUDGE(tn[k], top[k], top[k] > c->gopher_top_ngram_max[k], c->gopher_top_ngram_max[k]);
		for (int k = 0; c->gopher_dup_ngrams && k < 6; k++)
			JUDGE(dn[k], dup[k], dup[k] > c->gopher_dup_ngram_max[k], c->gopher_dup_ngram_max[k]);
	}

	/* Gopher quality */
	if (c->gopher_word_count) {
		double v = (double)st.nonsym_words;
		JUDGE("gopher_word_count", v, v < c->gopher_word_count_min || v > c->gopher_word_count_max,
		      v < c->gopher_word_count_min ? c->gopher_word_count_min : c->gopher_word_count_max);
	}
	if (c->gopher_mean_word_length) {
		double v = RATIO(st.nonsym_chars, st.nonsym_words);
		JUDGE("gopher_mean_word_length", v, v < c->gopher_mean_word_length_min || v > c->gopher_mean_word_length_max,
		      v < c->gopher_mean_word_length_min ? c->gopher_mean_word_length_min : c->gopher_mean_word_length_max);
	}
	if (c->gopher_symbol_ratio) {
		double a = RATIO(st.hashes, st.words), b = RATIO(st.ellipses, st.words), v = a > b ? a : b;
		JUDGE("gopher_symbol_ratio", v, v > c->gopher_symbol_ratio_max, c->gopher_symbol_ratio_max);
	}
	if (c->gopher_bullet_lines)
		JUDGE("gopher_bullet_lines", RATIO(st.bullet_lines, st.lines), RATIO(st.bullet_lines, st.lines) > c->gopher_bullet_lines_max, c->gopher_bullet_lines_max);
	if (c->gopher_ellipsis_lines)
		JUDGE("gopher_ellipsis_lines", RATIO(st.ellipsis_lines, st.lines), RATIO(st.ellipsis_lines, st.lines) > c->gopher_ellipsis_lines_max, c->gopher_ellipsis_lines_max);
	if (c->gopher_alpha_words)
		JUDGE("gopher_alpha_words", RATIO(st.alpha_words, st.words), RATIO(st.alpha_words, st.words) < c->gopher_alpha_words_min, c->gopher_alpha_words_min);
	if (c->gopher_stop_words)
		JUDGE("gopher_stop_words", (double)st.stop_words, st.stop_words < (size_t)c->gopher_stop_words_min, (double)c->gopher_stop_words_min);

	/* C4 */
	int need_lower = c->c4_lines || c->c4_lorem_ipsum;
	if (need_lower) {
		if (sp_buf_grow(&s->lower, n + 1) < 0) { rc = SP_ENOMEM; goto oom; }
		lower_ascii(&s->lower, t, n);
	}
	if (c->c4_lorem_ipsum) {
		int hit = memmem(s->lower.p, n, "lorem ipsum", 11) != NULL;
		JUDGE("c4_lorem_ipsum", hit, hit, 0);
	}
	if (c->c4_curly_brace) {
		int hit = memchr(t, '{', n) != NULL;
		JUDGE("c4_curly_brace", hit, hit, 0);
	}
	if (c->c4_lines) {
		size_t removed;
		if ((rc = c4_remove_lines(c, s, t, &removed)) < 0)
			goto oom;
		r->lines_removed = removed;
		if (annotate)
			signal(r, "c4_lines_removed", (double)removed);
		if (removed || s->c4.len != n) {
			/* FineWeb's rules and the output see the text without the removed lines */
			t = s->c4.p;
			n = s->c4.len;
			r->text = t;
			r->text_len = n;
			r->text_changed = 1;
			if ((rc = scan(s, t, n, &st)) < 0)
				goto oom;
		}
		JUDGE("c4_lines", (double)removed, st.words == 0, 0);
	}
	if (c->c4_min_sentences) {
		size_t v = count_sentences(t, n);
		JUDGE("c4_min_sentences", (double)v, v < (size_t)c->c4_min_sentences_min, (double)c->c4_min_sentences_min);
	}

	/* FineWeb */
	if (c->fineweb_line_punct)
		JUDGE("fineweb_line_punct", RATIO(st.punct_lines, st.lines), RATIO(st.punct_lines, st.lines) < c->fineweb_line_punct_min, c->fineweb_line_punct_min);
	if (c->fineweb_short_lines) {
		size_t sh = 0;
		for (size_t i = 0; i < s->n_l; i++)
			sh += s->l[i].len && s->l[i].chars <= (uint32_t)c->fineweb_short_lines_chars;
		JUDGE("fineweb_short_lines", RATIO(sh, st.lines), RATIO(sh, st.lines) > c->fineweb_short_lines_max, c->fineweb_short_lines_max);
	}
	if (c->fineweb_char_dup) {
		size_t nd, cd = line_dup_chars;
		if (line_dup_text != t && (rc = dup_lines(s, &nd, &cd)) < 0)
			goto oom;
		double v = RATIO(cd, st.chars - st.newlines);
		JUDGE("fineweb_char_dup", v, v > c->fineweb_char_dup_max, c->fineweb_char_dup_max);
	}
	if (c->fineweb_list_ratio)
		JUDGE("fineweb_list_ratio", RATIO(st.newlines, st.words), RATIO(st.newlines, st.words) > c->fineweb_list_ratio_max, c->fineweb_list_ratio_max);

	/* PII */
	if (c->pii != FILTER_PII_OFF && (r->keep || annotate)) {
		if ((rc = filter_pii_find(f, s, t, n, r)) < 0)
			goto oom;
		long total = 0;
		for (int k = 0; k < FILTER_PII_N; k++)
			total += r->pii_counts[k];
		if (c->pii == FILTER_PII_DROP)
			JUDGE("pii", (double)total, total > 0, 0);
		if (c->pii == FILTER_PII_REDACT && r->n_pii) {
			static const char *const ph[FILTER_PII_N] = { "<EMAIL>", "<IPV4>", "<IPV6>", "<PHONE>", "<CARD>" };
			sp_buf_reset(&s->redact);
			size_t from = 0;
			for (size_t k = 0; k < r->n_pii; k++) {
				if (sp_buf_append(&s->redact, t + from, r->pii[k].start - from) ||
				    sp_buf_appends(&s->redact, ph[r->pii[k].type])) { rc = SP_ENOMEM; goto oom; }
				from = r->pii[k].end;
			}
			if (sp_buf_append(&s->redact, t + from, n - from)) { rc = SP_ENOMEM; goto oom; }
			r->text = s->redact.p;
			r->text_len = s->redact.len;
			r->text_changed = 1;
		}
	}
done:
	return 0;
oom:
	SP_RAISE(err, SP_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------------ lifecycle */

static char *lower_dup(const char *s, size_t n)
{
	char *d = sp_malloc(n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	d[n] = 0;
	return d;
}

static int push_str(char ***list, size_t *n, char *s)
{
	char **x = sp_realloc(*list, (*n + 1) * sizeof *x);
	if (!x) {
		sp_free(s);
		return SP_ENOMEM;
	}
	*list = x;
	x[(*n)++] = s;
	return 0;
}

/* Reads a list file: one entry a line, '#' comments, blank lines ignored. */
static int load_list(const char *path, int lower, char ***list, size_t *n, sp_err *err)
{
	if (!path || !*path)
		return 0;
	sp_in *in = NULL;
	sp_buf line = SP_BUF_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_in_getline(in, &line, err)) == 1) {
		rc = 0;
		char *p = line.p;
		size_t len = line.len;
		while (len && isspace((unsigned char)*p)) { p++; len--; }
		while (len && isspace((unsigned char)p[len - 1])) len--;
		if (!len || *p == '#')
			continue;
		if (lower && *p == '.') { p++; len--; }
		char *d = lower ? lower_dup(p, len) : sp_malloc(len + 1);
		if (!d) { rc = SP_ENOMEM; break; }
		if (!lower) { memcpy(d, p, len); d[len] = 0; }
		rc = push_str(list, n, d);
	}
	sp_buf_release(&line);
	sp_in_free(in);
	if (rc == SP_ENOMEM)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (rc < 0)
		return rc;
	if (lower && *n)
		qsort(*list, *n, sizeof **list, cmp_str);
	return 0;
}

int filter_pii_compile(filter *f, sp_err *err); /* filter_pii.c */

int filter_new(filter **out, const filter_config *c, sp_err *err)
{
	*out = NULL;
	filter *f = sp_calloc(1, sizeof *f);
	if (!f)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	f->c = *c;
	f->c.url_field = f->c.block_domains = f->c.block_suffixes = f->c.block_patterns = f->c.lang_keep = NULL;
	int rc = 0;
	if (!(f->c.url_field = sp_strdup(c->url_field ? c->url_field : "")) ||
	    !(f->c.block_domains = sp_strdup(c->block_domains ? c->block_domains : "")) ||
	    !(f->c.block_suffixes = sp_strdup(c->block_suffixes ? c->block_suffixes : "")) ||
	    !(f->c.block_patterns = sp_strdup(c->block_patterns ? c->block_patterns : "")) ||
	    !(f->c.lang_keep = sp_strdup(c->lang_keep ? c->lang_keep : ""))) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto fail;
	}
	/* language list */
	for (const char *p = f->c.lang_keep; *p;) {
		size_t k = strcspn(p, ", ");
		if (k == 1 && *p == '*')
			f->any_lang = 1;
		else if (k) {
			char *d = sp_malloc(k + 1);
			if (!d || push_str(&f->langs, &f->n_langs, d)) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				goto fail;
			}
			memcpy(d, p, k);
			d[k] = 0;
		}
		p += k;
		p += strspn(p, ", ");
	}
	if (f->n_langs)
		qsort(f->langs, f->n_langs, sizeof *f->langs, cmp_str);
	if (c->lang && !f->any_lang && !f->n_langs) {
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "config key 'lang.keep' is empty (use * to keep any language)");
		goto fail;
	}
	if ((rc = load_list(f->c.block_domains, 1, &f->domains, &f->n_domains, err)) < 0 ||
	    (rc = load_list(f->c.block_suffixes, 1, &f->suffixes, &f->n_suffixes, err)) < 0)
		goto fail;
	char **pats = NULL;
	size_t n_pats = 0;
	if ((rc = load_list(f->c.block_patterns, 0, &pats, &n_pats, err)) < 0)
		goto fail;
	if (n_pats && !(f->url_re = sp_calloc(n_pats, sizeof *f->url_re)))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (size_t i = 0; rc == 0 && i < n_pats; i++) {
		int ec;
		PCRE2_SIZE eo;
		f->url_re[i] = pcre2_compile((PCRE2_SPTR)pats[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
		if (!f->url_re[i]) {
			PCRE2_UCHAR msg[200];
			pcre2_get_error_message(ec, msg, sizeof msg);
			rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "%s: pattern %zu '%s': %s at offset %zu",
			                 f->c.block_patterns, i + 1, pats[i], (char *)msg, (size_t)eo);
		} else {
			pcre2_jit_compile(f->url_re[i], PCRE2_JIT_COMPLETE);
			f->n_url_re++;
		}
	}
	for (size_t i = 0; i < n_pats; i++)
		sp_free(pats[i]);
	sp_free(pats);
	if (rc < 0)
		goto fail;
	if ((rc = filter_pii_compile(f, err)) < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	filter_free(f);
	return rc;
}

void filter_free(filter *f)
{
	if (!f)
		return;
	for (int i = 0; i < FILTER_PII_N; i++)
		pcre2_code_free(f->pii_re[i]);
	for (size_t i = 0; i < f->n_url_re; i++)
		pcre2_code_free(f->url_re[i]);
	sp_free(f->url_re);
	for (size_t i = 0; i < f->n_domains; i++) sp_free(f->domains[i]);
	for (size_t i = 0; i < f->n_suffixes; i++) sp_free(f->suffixes[i]);
	for (size_t i = 0; i < f->n_langs; i++) sp_free(f->langs[i]);
	sp_free(f->domains); sp_free(f->suffixes); sp_free(f->langs);
	filter_config_release(&f->c);
	sp_free(f);
}

const filter_config *filter_get_config(const filter *f) { return &f->c; }

filter_scratch *filter_scratch_new(const filter *f)
{
	(void)f;
	filter_scratch *s = sp_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->md = pcre2_match_data_create(32, NULL);
	if (!s->md) {
		sp_free(s);
		return NULL;
	}
	return s;
}

void filter_scratch_free(filter_scratch *s)
{
	if (!s)
		return;
	sp_buf_release(&s->clean); sp_buf_release(&s->c4); sp_buf_release(&s->lower); sp_buf_release(&s->redact);
	sp_free(s->w); sp_free(s->l); sp_free(s->gh); sp_free(s->mark); sp_free(s->cand); sp_free(s->cslot);
	ht_release(&s->ht);
	pcre2_match_data_free(s->md);
	sp_free(s);
}

void filter_result_release(filter_result *r)
{
	sp_buf_release(&r->signals);
	sp_free(r->pii);
	r->pii = NULL;
	r->n_pii = r->cap_pii = 0;
}
