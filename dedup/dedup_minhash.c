/* dedup_minhash.c - words, shingles, MinHash signatures, LSH parameters, Jaccard, union-find.
 *
 * Words come from ICU's word break iterator (UAX #29 plus dictionaries for CJK and Thai): the
 * segments whose rule status is not UBRK_WORD_NONE, case-folded. Pure-ASCII texts take a fast path
 * that implements the same rules for ASCII (tests/dedup compares both on real and random text).
 * Shingles are hashed once with XXH3; the permutations are multiply-add-shift on 32-bit keys. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ubrk.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include "dedup.h"
#include "spindle/mem.h"

struct dd_shingler {
	dd_params p;
	UBreakIterator *bi;
	const UNormalizer2 *nfkc;
	UChar *u16, *u16b, *fold; int32_t cap16, cap16b, capfold;
	char *w8; size_t cap8;
	uint64_t *words; size_t n_words, cap_words;
	uint64_t *sh; size_t n_sh, cap_sh;
};

static int grow64(uint64_t **a, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	uint64_t *p = sp_realloc(*a, c * sizeof *p);
	if (!p)
		return SP_ENOMEM;
	*a = p;
	*cap = c;
	return 0;
}

static int grow16(UChar **a, int32_t *cap, size_t need)
{
	if (need > INT32_MAX / 2)
		return SP_EDATA;
	if ((int32_t)need <= *cap)
		return 0;
	int32_t c = *cap ? *cap : 256;
	while (c < (int32_t)need)
		c *= 2;
	UChar *p = sp_realloc(*a, (size_t)c * sizeof *p);
	if (!p)
		return SP_ENOMEM;
	*a = p;
	*cap = c;
	return 0;
}

int dd_shingler_new(dd_shingler **out, const dd_params *p, sp_err *err)
{
	dd_shingler *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	s->p = *p;
	if (s->p.ngram < 1)
		s->p.ngram = 1;
	UErrorCode e = U_ZERO_ERROR;
	s->bi = ubrk_open(UBRK_WORD, "", NULL, 0, &e);
	if (U_FAILURE(e)) {
		sp_free(s);
		SP_RAISE(err, SP_EINTERNAL, "ICU word break iterator: %s", u_errorName(e));
	}
	e = U_ZERO_ERROR;
	s->nfkc = unorm2_getNFKCInstance(&e);
	if (U_FAILURE(e)) {
		dd_shingler_free(s);
		SP_RAISE(err, SP_EINTERNAL, "ICU NFKC: %s", u_errorName(e));
	}
	*out = s;
	return 0;
}

void dd_shingler_free(dd_shingler *s)
{
	if (!s)
		return;
	if (s->bi)
		ubrk_close(s->bi);
	sp_free(s->u16);
	sp_free(s->u16b);
	sp_free(s->fold);
	sp_free(s->w8);
	sp_free(s->words);
	sp_free(s->sh);
	sp_free(s);
}

/* ------------------------------------------------------------------ ASCII fast path
 * UAX #29 as ICU 72 applies it to ASCII: letters (and '@', which ICU counts as a letter), digits
 * and '_' always join; '.' and '\'' join letter-letter and digit-digit; ',' and ';' join
 * digit-digit; ':' does not join (ICU removes it from MidLetter). A segment is a word unless it is
 * a single non-letter non-digit character. */
enum { C_OTHER = 0, C_AL = 1, C_NU = 2, C_ENL = 3, C_MNL = 4, C_MN = 5 };
static const unsigned char ascii_class[128] = {
	['\''] = C_MNL, [','] = C_MN, ['.'] = C_MNL, ['0'] = C_NU, ['1'] = C_NU, ['2'] = C_NU,
	['3'] = C_NU, ['4'] = C_NU, ['5'] = C_NU, ['6'] = C_NU, ['7'] = C_NU, ['8'] = C_NU, ['9'] = C_NU,
	[';'] = C_MN, ['@'] = C_AL, ['A'] = C_AL, ['B'] = C_AL, ['C'] = C_AL, ['D'] = C_AL, ['E'] = C_AL,
	['F'] = C_AL, ['G'] = C_AL, ['H'] = C_AL, ['I'] = C_AL, ['J'] = C_AL, ['K'] = C_AL, ['L'] = C_AL,
	['M'] = C_AL, ['N'] = C_AL, ['O'] = C_AL, ['P'] = C_AL, ['Q'] = C_AL, ['R'] = C_AL, ['S'] = C_AL,
	['T'] = C_AL, ['U'] = C_AL, ['V'] = C_AL, ['W'] = C_AL, ['X'] = C_AL, ['Y'] = C_AL, ['Z'] = C_AL,
	['_'] = C_ENL, ['a'] = C_AL, ['b'] = C_AL, ['c'] = C_AL, ['d'] = C_AL, ['e'] = C_AL, ['f'] = C_AL,
	['g'] = C_AL, ['h'] = C_AL, ['i'] = C_AL, ['j'] = C_AL, ['k'] = C_AL, ['l'] = C_AL, ['m'] = C_AL,
	['n'] = C_AL, ['o'] = C_AL, ['p'] = C_AL, ['q'] = C_AL, ['r'] = C_AL, ['s'] = C_AL, ['t'] = C_AL,
	['u'] = C_AL, ['v'] = C_AL, ['w'] = C_AL, ['x'] = C_AL, ['y'] = C_AL, ['z'] = C_AL
};

static int is_ascii(const char *p, size_t n)
{
	size_t i = 0;
	uint64_t acc = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= (unsigned char)p[i];
	return (acc & 0x8080808080808080ull) == 0;
}

static int add_word(dd_shingler *s, uint64_t h)
{
	if (s->n_words == s->cap_words && grow64(&s->words, &s->cap_words, s->n_words + 1))
		return SP_ENOMEM;
	s->words[s->n_words++] = h;
	return 0;
}

/* Segments ASCII text; for each word, lower-cases it into w8 and hashes it (and calls fn). */
static int ascii_words(dd_shingler *s, const char *t, size_t n, dd_word_fn fn, void *ctx)
{
	const unsigned char *u = (const unsigned char *)t;
	if (n + 1 > s->cap8) {
		char *w = sp_realloc(s->w8, n + 1);
		if (!w)
			return SP_ENOMEM;
		s->w8 = w;
		s->cap8 = n + 1;
	}
	size_t i = 0;
	while (i < n) {
		int c = ascii_class[u[i]];
		if (c != C_AL && c != C_NU && c != C_ENL) {
			i++;
			continue;
		}
		size_t st = i;
		int last = c;
		i++;
		while (i < n) {
			int d = ascii_class[u[i]];
			if (d == C_AL || d == C_NU || d == C_ENL) {
				last = d;
				i++;
				continue;
			}
			if ((d == C_MNL || d == C_MN) && i + 1 < n) {
				int e = ascii_class[u[i + 1]];
				if ((last == C_AL && d == C_MNL && e == C_AL) || (last == C_NU && e == C_NU)) {
					last = e;
					i += 2;
					continue;
				}
			}
			break;
		}
		size_t len = i - st;
		if (len == 1 && c == C_ENL)
			continue; /* a lone '_' is not a word */
		for (size_t k = 0; k < len; k++) {
			unsigned char ch = u[st + k];
			s->w8[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		}
		if (fn)
			fn(ctx, s->w8, len);
		else if (add_word(s, sp_hash64(s->w8, len, s->p.seed)))
			return SP_ENOMEM;
	}
	return 0;
}

/* ICU path: UTF-8 -> UTF-16 (-> NFKC), break iterator, fold each word, back to UTF-8, hash. */
static int icu_words(dd_shingler *s, const char *t, size_t n, dd_word_fn fn, void *ctx, sp_err *err)
{
	UErrorCode e = U_ZERO_ERROR;
	int32_t len16 = 0;
	if (n > INT32_MAX / 4)
		SP_RAISE(err, SP_EDATA, "text of %zu bytes is too long for ICU", n);
	if (grow16(&s->u16, &s->cap16, n + 1))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	u_strFromUTF8Lenient(s->u16, s->cap16, &len16, t, (int32_t)n, &e);
	if (U_FAILURE(e))
		SP_RAISE(err, SP_EUTF8, "text is not valid UTF-8 (%s)", u_errorName(e));
	UChar *txt = s->u16;
	if (s->p.nfkc) {
		e = U_ZERO_ERROR;
		int32_t need = unorm2_normalize(s->nfkc, s->u16, len16, NULL, 0, &e);
		if (grow16(&s->u16b, &s->cap16b, (size_t)need + 1))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		e = U_ZERO_ERROR;
		len16 = unorm2_normalize(s->nfkc, s->u16, len16, s->u16b, s->cap16b, &e);
		if (U_FAILURE(e))
			SP_RAISE(err, SP_EINTERNAL, "ICU NFKC: %s", u_errorName(e));
		txt = s->u16b;
	}
	e = U_ZERO_ERROR;
	ubrk_setText(s->bi, txt, len16, &e);
	if (U_FAILURE(e))
		SP_RAISE(err, SP_EINTERNAL, "ICU break iterator: %s", u_errorName(e));
	int32_t a = ubrk_first(s->bi), b;
	while ((b = ubrk_next(s->bi)) != UBRK_DONE) {
		if (ubrk_getRuleStatus(s->bi) == UBRK_WORD_NONE) {
			a = b;
			continue;
		}
		int32_t wl = b - a, fl;
		if (grow16(&s->fold, &s->capfold, (size_t)wl * 3 + 8))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		e = U_ZERO_ERROR;
		fl = u_strFoldCase(s->fold, s->capfold, txt + a, wl, U_FOLD_CASE_DEFAULT, &e);
		if (U_FAILURE(e))
			SP_RAISE(err, SP_EINTERNAL, "ICU case folding: %s", u_errorName(e));
		size_t need8 = (size_t)fl * 3 + 1;
		if (need8 > s->cap8) {
			char *w = sp_realloc(s->w8, need8);
			if (!w)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			s->w8 = w;
			s->cap8 = need8;
		}
		int32_t l8 = 0;
		e = U_ZERO_ERROR;
		u_strToUTF8(s->w8, (int32_t)s->cap8, &l8, s->fold, fl, &e);
		if (U_FAILURE(e))
			SP_RAISE(err, SP_EINTERNAL, "ICU to UTF-8: %s", u_errorName(e));
		if (fn)
			fn(ctx, s->w8, (size_t)l8);
		else if (add_word(s, sp_hash64(s->w8, (size_t)l8, s->p.seed)))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		a = b;
	}
	return 0;
}

static int is_ascii_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Mixed texts are cut into runs that segment independently: a cut goes before an ASCII character
 * that follows ASCII white space. No UAX #29 rule joins across such a point except WB3d (space x
 * space, never a word), the look-ahead rules WB6/7/11/12 only look past letters and digits, and
 * dictionary runs (CJK, Thai) stop at spaces; ASCII characters never compose with what precedes
 * them, so NFKC commutes with the cut too. Pure-ASCII runs take the fast path, the others ICU. */
static int segment(dd_shingler *s, const char *t, size_t n, dd_word_fn fn, void *ctx, sp_err *err)
{
	s->n_words = 0;
	if (s->p.force_icu)
		return icu_words(s, t, n, fn, ctx, err);
	if (is_ascii(t, n)) {
		if (ascii_words(s, t, n, fn, ctx))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		return 0;
	}
	const unsigned char *u = (const unsigned char *)t;
	size_t run = 0, pos = 0;
	int run_ascii = -1;
	while (pos < n) {
		size_t e = pos;
		int ascii = 1;
		for (; e < n; e++) {
			if (u[e] >= 0x80)
				ascii = 0;
			else if (e > pos && is_ascii_space(u[e - 1]) && !is_ascii_space(u[e]))
				break;
		}
		if (run_ascii < 0)
			run_ascii = ascii;
		else if (ascii != run_ascii) {
			if (run_ascii) {
				if (ascii_words(s, t + run, pos - run, fn, ctx))
					SP_RAISE(err, SP_ENOMEM, "out of memory");
			} else
				SP_FORWARD(icu_words(s, t + run, pos - run, fn, ctx, err));
			run = pos;
			run_ascii = ascii;
		}
		pos = e;
	}
	if (run_ascii == 1) {
		if (ascii_words(s, t + run, n - run, fn, ctx))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
	} else if (run_ascii == 0)
		SP_FORWARD(icu_words(s, t + run, n - run, fn, ctx, err));
	return 0;
}

int dd_words(dd_shingler *s, const char *text, size_t len, dd_word_fn fn, void *ctx, sp_err *err)
{
	return segment(s, text, len, fn, ctx, err);
}

int dd_shingles(dd_shingler *s, const char *text, size_t len, const uint64_t **h, size_t *n, sp_err *err)
{
	SP_FORWARD(segment(s, text, len, NULL, NULL, err));
	size_t nw = s->n_words, k = (size_t)s->p.ngram;
	size_t ns = nw == 0 ? 0 : nw < k ? 1 : nw - k + 1;
	if (grow64(&s->sh, &s->cap_sh, ns + 1))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	size_t win = nw < k ? nw : k;
	for (size_t i = 0; i < ns; i++)
		s->sh[i] = sp_hash64(s->words + i, win * sizeof(uint64_t), s->p.seed ^ 0x5348494e474c45ull);
	s->n_sh = ns;
	*h = s->sh;
	*n = ns;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

int dd_shingle_set(dd_shingler *s, const char *text, size_t len, const uint64_t **h, size_t *n, sp_err *err)
{
	const uint64_t *hh;
	size_t nn;
	SP_FORWARD(dd_shingles(s, text, len, &hh, &nn, err));
	qsort(s->sh, nn, sizeof *s->sh, cmp_u64);
	size_t m = 0;
	for (size_t i = 0; i < nn; i++)
		if (m == 0 || s->sh[m - 1] != s->sh[i])
			s->sh[m++] = s->sh[i];
	s->n_sh = m;
	*h = s->sh;
	*n = m;
	return 0;
}

/* ------------------------------------------------------------------ MinHash */
static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void dd_perms_init(dd_perms *pm, int n, uint64_t seed)
{
	memset(pm, 0, sizeof *pm);
	pm->n = n < 1 ? 1 : n > DD_MAX_PERM ? DD_MAX_PERM : n;
	uint64_t st = seed ^ 0x4D494E48415348ull;
	for (int i = 0; i < pm->n; i++) {
		uint64_t a = splitmix(&st) | 1, b = splitmix(&st);
		pm->a_lo[i] = (uint32_t)a;
		pm->a_hi[i] = (uint32_t)(a >> 32);
		pm->b_lo[i] = (uint32_t)b;
		pm->b_hi[i] = (uint32_t)(b >> 32);
	}
}

/* One shingle key against every permutation. With x < 2^32:
 * (a*x + b) >> 32 mod 2^32 = ((a_lo*x + b_lo) >> 32) + a_hi*x + b_hi (mod 2^32), and
 * a_lo*x + b_lo < 2^64, so each lane needs one 32x32->64 and one 32x32->32 multiply: this loop
 * vectorises (AVX2 when the CPU has it, SSE2 otherwise). */
#if defined(__x86_64__) && defined(__clang__)
#define DD_VECTORIZE __attribute__((target_clones("avx2", "default")))
#elif defined(__x86_64__) && defined(__GNUC__)
#define DD_VECTORIZE __attribute__((target_clones("avx2", "default"), optimize("O3")))
#else
#define DD_VECTORIZE
#endif
DD_VECTORIZE
static void minhash_block(const dd_perms *pm, const uint64_t *h, size_t n, uint32_t *sig)
{
	int np = pm->n;
	for (size_t k = 0; k < n; k++) {
		uint32_t x = (uint32_t)(h[k] ^ (h[k] >> 32));
		for (int i = 0; i < np; i++) {
			uint64_t lo = (uint64_t)pm->a_lo[i] * x + pm->b_lo[i];
			uint32_t v = (uint32_t)(lo >> 32) + pm->a_hi[i] * x + pm->b_hi[i];
			sig[i] = v < sig[i] ? v : sig[i];
		}
	}
}

void dd_minhash(const dd_perms *pm, const uint64_t *h, size_t n, uint32_t *sig)
{
	for (int i = 0; i < pm->n; i++)
		sig[i] = UINT32_MAX;
	minhash_block(pm, h, n, sig);
}

void dd_band_keys(const uint32_t *sig, int bands, int rows, uint64_t *keys)
{
	for (int b = 0; b < bands; b++)
		keys[b] = sp_hash64(sig + (size_t)b * (size_t)rows, (size_t)rows * sizeof *sig, (uint64_t)b);
}

double dd_lsh_prob(double s, int b, int r)
{
	return 1.0 - pow(1.0 - pow(s, r), b);
}

void dd_lsh_params(double t, int max_perm, int *bands, int *rows)
{
	double best = INFINITY;
	int bb = 1, br = 1;
	for (int b = 1; b <= max_perm; b++)
		for (int r = 1; b * r <= max_perm; r++) {
			if (dd_lsh_prob(t, b, r) < 0.9)
				continue;
			double fp = 0; /* midpoint rule, 200 steps over [0, t] */
			for (int k = 0; k < 200; k++)
				fp += dd_lsh_prob(t * (k + 0.5) / 200.0, b, r);
			fp *= t / 200.0;
			if (fp < best - 1e-12) {
				best = fp;
				bb = b;
				br = r;
			}
		}
	*bands = bb;
	*rows = br;
}

double dd_jaccard(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	if (na + nb == 0)
		return 0.0;
	size_t i = 0, j = 0, inter = 0;
	while (i < na && j < nb) {
		if (a[i] < b[j])
			i++;
		else if (a[i] > b[j])
			j++;
		else {
			inter++;
			i++;
			j++;
		}
	}
	return (double)inter / (double)(na + nb - inter);
}

/* ------------------------------------------------------------------ union-find */
int dd_uf_init(dd_uf *u, size_t n)
{
	u->n = n;
	u->parent = sp_malloc((n ? n : 1) * sizeof *u->parent);
	if (!u->parent)
		return SP_ENOMEM;
	for (size_t i = 0; i < n; i++)
		u->parent[i] = (uint32_t)i;
	return 0;
}

void dd_uf_release(dd_uf *u)
{
	sp_free(u->parent);
	u->parent = NULL;
	u->n = 0;
}

uint32_t dd_uf_find(dd_uf *u, uint32_t x)
{
	while (u->parent[x] != x) {
		u->parent[x] = u->parent[u->parent[x]]; /* path halving */
		x = u->parent[x];
	}
	return x;
}

void dd_uf_union(dd_uf *u, uint32_t x, uint32_t y)
{
	x = dd_uf_find(u, x);
	y = dd_uf_find(u, y);
	if (x < y)
		u->parent[y] = x;
	else if (y < x)
		u->parent[x] = y;
}

int dd_signature(dd_shingler *s, const dd_perms *pm, int bands, int rows, const char *text, size_t len,
                 int want_set, uint64_t *keys, const uint64_t **set, size_t *n_set, uint32_t *sig_out, sp_err *err)
{
	uint32_t sig[DD_MAX_PERM];
	const uint64_t *h;
	size_t n;
	if (want_set)
		SP_FORWARD(dd_shingle_set(s, text, len, &h, &n, err));
	else
		SP_FORWARD(dd_shingles(s, text, len, &h, &n, err));
	dd_minhash(pm, h, n, sig);
	dd_band_keys(sig, bands, rows, keys);
	if (sig_out)
		memcpy(sig_out, sig, (size_t)pm->n * sizeof *sig);
	if (set)
		*set = h;
	if (n_set)
		*n_set = n;
	return 0;
}
