/* filter_stats.c - the text statistics behind the rules of `spindle filter`: one scan of the text
 * into words and lines with the counts the quality rules need, repeated lines and paragraphs, and
 * the Gopher n-gram fractions, over a small open-addressing hash table of counts.
 *
 * Characters are Unicode code points; words are whitespace-separated. The rules that compare these
 * measurements with the config are in filter_rules.c. */
#include <pthread.h>
#include <string.h>
#include <unicode/uchar.h>
#include "filter_int.h"
#include "spindle/hash.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

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

void filter_ht_release(htab *t)
{
	sp_free(t->s);
	memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ scan */

/* The scan's classes, derived from cls once: S_NONSYM for any ASCII byte that is not punctuation,
 * S_ALPHA for letters, S_SLOW for what needs more than a flag ('#' and '.' are counted; bytes >= 0x80
 * start a UTF-8 sequence). */
enum { S_WS = 1, S_ALPHA = 2, S_NONSYM = 4, S_SLOW = 8 };
static unsigned char scls[256];
static pthread_once_t scls_once = PTHREAD_ONCE_INIT;

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
int filter_ends_terminal(const char *p, size_t n)
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

int filter_scan(filter_scratch *s, const char *t, size_t n, filter_tstats *st)
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
		while (a < b && filter_is_ws((unsigned char)t[a])) a++;
		while (b > a && filter_is_ws((unsigned char)t[b - 1])) b--;
		fline L = { a, b - a, 0, 0, 0 };
		size_t first_word = s->n_w, j = a;
		while (j < b) {
			while (j < b && filter_is_ws((unsigned char)t[j])) { j++; L.chars++; }
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
			st->punct_lines += filter_ends_terminal(t + a, L.len);
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
int filter_dup_lines(filter_scratch *s, size_t *n_dup, size_t *chars_dup)
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
int filter_dup_paragraphs(filter_scratch *s, size_t *n_para, size_t *n_dup, size_t *chars_dup)
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
int filter_ngram_fractions(filter_scratch *s, size_t word_chars, double top[3], double dup[6], int want_top,
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
