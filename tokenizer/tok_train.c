/* tok_train.c - the SentencePiece-BPE trainer (tok_train.h): word counting while sentences stream
 * in (memory is the table of distinct words, not the text), required characters by coverage, then
 * greedy BPE with a lazy max-heap of pair counts and, per pair, the list of words it occurs in, so
 * each merge touches only the words that contain the pair. */
#include <string.h>
#include <stdlib.h>
#include <unicode/uscript.h>
#include "tok_train.h"
#include "tok_internal.h"
#include "spindle/mem.h"
#include "spindle/hash.h"
#include "spindle/utf8.h"

#define WS_CP 0x2581u

void tok_train_opts_default(tok_train_opts *o)
{
	memset(o, 0, sizeof *o);
	o->vocab_size = 32000;
	o->character_coverage = 0.99995;
	o->byte_fallback = 1;
	o->split_digits = 1;
	o->allow_ws_only = 1;
	o->add_dummy_prefix = 1;
	o->remove_extra_ws = 0;
	o->max_piece_len = 16;
	o->max_sentence_len = 4192;
}

/* ------------------------------------------------------------------ word table */

typedef struct word { uint64_t h; uint32_t off, len; int64_t count; } word;

struct tok_trainer {
	tok_train_opts o;
	tok_model *norm;        /* a model with no pieces: only its normalizer settings are used */
	sp_buf nb;              /* normalized sentence */
	sp_buf arena;           /* word strings */
	word *words; size_t cap_words, n_words; /* open addressing; off == UINT32_MAX is empty */
	uint64_t sentences, skipped;
};

static int words_grow(tok_trainer *t)
{
	size_t cap = t->cap_words ? t->cap_words * 2 : 1 << 16;
	word *w = sp_malloc(cap * sizeof *w);
	if (!w)
		return SP_ENOMEM;
	for (size_t i = 0; i < cap; i++)
		w[i].off = UINT32_MAX;
	for (size_t i = 0; i < t->cap_words; i++) {
		if (t->words[i].off == UINT32_MAX)
			continue;
		size_t j = t->words[i].h & (cap - 1);
		while (w[j].off != UINT32_MAX)
			j = (j + 1) & (cap - 1);
		w[j] = t->words[i];
	}
	sp_free(t->words);
	t->words = w;
	t->cap_words = cap;
	return 0;
}

static int word_add(tok_trainer *t, const char *s, size_t n, int64_t by)
{
	if (n == 0)
		return 0;
	if ((t->n_words + 1) * 2 > t->cap_words)
		SP_FORWARD(words_grow(t));
	uint64_t h = sp_hash64(s, n, 0);
	size_t j = h & (t->cap_words - 1);
	for (;;) {
		word *w = &t->words[j];
		if (w->off == UINT32_MAX)
			break;
		if (w->h == h && w->len == n && memcmp(t->arena.p + w->off, s, n) == 0) {
			w->count += by;
			return 0;
		}
		j = (j + 1) & (t->cap_words - 1);
	}
	if (t->arena.len + n > UINT32_MAX - 1)
		return SP_ENOMEM;
	word *w = &t->words[j];
	w->h = h;
	w->off = (uint32_t)t->arena.len;
	w->len = (uint32_t)n;
	w->count = by;
	t->n_words++;
	return sp_buf_append(&t->arena, s, n);
}

/* A user-defined symbol may not repeat a control or byte piece, or another symbol: the model would
 * hold one piece twice, which spindle and sentencepiece refuse to load. */
static int check_user_symbols(const tok_train_opts *o, sp_err *err)
{
	for (size_t i = 0; i < o->n_user; i++) {
		const char *u = o->user_symbols[i];
		size_t n = strlen(u);
		if (!n)
			SP_RAISE(err, SP_EUSAGE, "user-defined symbol %zu is empty", i + 1);
		if (!strcmp(u, "<unk>") || !strcmp(u, "<s>") || !strcmp(u, "</s>"))
			SP_RAISE(err, SP_EUSAGE, "user-defined symbol '%s' is one of the control pieces <unk>, <s>, </s>", u);
		if (o->byte_fallback && n == 6 && !strncmp(u, "<0x", 3) && u[5] == '>' && strchr("0123456789ABCDEF", u[3]) &&
		    strchr("0123456789ABCDEF", u[4]) && u[3] && u[4])
			SP_RAISE(err, SP_EUSAGE, "user-defined symbol '%s' is a byte-fallback piece", u);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(o->user_symbols[k], u))
				SP_RAISE(err, SP_EUSAGE, "user-defined symbol '%s' is given twice", u);
	}
	return 0;
}

int tok_trainer_new(tok_trainer **out, const tok_train_opts *o, sp_err *err)
{
	*out = NULL;
	SP_FORWARD(check_user_symbols(o, err));
	tok_trainer *t = sp_calloc(1, sizeof *t);
	if (!t || !(t->norm = tok_model_new())) {
		sp_free(t);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	t->o = *o;
	tok_spec *s = &t->norm->spec;
	s->add_dummy_prefix = o->add_dummy_prefix;
	s->remove_extra_ws = o->remove_extra_ws;
	s->escape_ws = 1;
	t->norm->fast_norm = o->add_dummy_prefix && !o->remove_extra_ws;
	*out = t;
	return 0;
}

void tok_trainer_free(tok_trainer *t)
{
	if (!t)
		return;
	tok_model_free(t->norm);
	sp_buf_release(&t->nb);
	sp_buf_release(&t->arena);
	sp_free(t->words);
	sp_free(t);
}

void tok_trainer_counts(const tok_trainer *t, uint64_t *sentences, uint64_t *skipped, uint64_t *words)
{
	*sentences = t->sentences;
	*skipped = t->skipped;
	*words = t->n_words;
}

int tok_trainer_absorb(tok_trainer *dst, tok_trainer *src, sp_err *err)
{
	for (size_t i = 0; i < src->cap_words; i++) {
		const word *w = &src->words[i];
		if (w->off != UINT32_MAX && word_add(dst, src->arena.p + w->off, w->len, w->count) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	dst->sentences += src->sentences;
	dst->skipped += src->skipped;
	return 0;
}

static inline int is_ws3(const char *p) { return (uint8_t)p[0] == 0xE2 && (uint8_t)p[1] == 0x96 && (uint8_t)p[2] == 0x81; }

/* Length of the user-defined symbol (whitespace escaped) starting at s, 0 if none. */
static size_t user_at(const tok_trainer *t, const char *s, size_t n, sp_buf *tmp)
{
	for (size_t k = 0; k < t->o.n_user; k++) {
		const char *u = t->o.user_symbols[k];
		sp_buf_reset(tmp);
		for (; *u; u++)
			if (*u == ' ' ? sp_buf_append(tmp, "\xE2\x96\x81", 3) < 0 : sp_buf_appendc(tmp, *u) < 0)
				return 0;
		if (tmp->len && tmp->len <= n && memcmp(tmp->p, s, tmp->len) == 0)
			return tmp->len;
	}
	return 0;
}

int tok_trainer_add(tok_trainer *t, const char *s, size_t n, sp_err *err)
{
	size_t bad;
	if (!sp_utf8_valid(s, n, &bad))
		SP_RAISE(err, SP_EUTF8, "invalid UTF-8 at byte %zu", bad);
	if (n > t->o.max_sentence_len) {
		t->skipped++;
		return 0;
	}
	t->sentences++;
	sp_buf_reset(&t->nb);
	if (tok_normalize(t->norm, s, n, &t->nb) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	const char *p = t->nb.p;
	size_t len = t->nb.len, start = 0;
	sp_buf tmp = SP_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0;) {
		size_t ul = t->o.n_user ? user_at(t, p + i, len - i, &tmp) : 0;
		if (ul) { /* user-defined symbols are never part of a word */
			rc = word_add(t, p + start, i - start, 1);
			i += ul;
			start = i;
			continue;
		}
		if (i > start && i + 3 <= len && is_ws3(p + i) &&
		    !(t->o.allow_ws_only && i >= 3 && is_ws3(p + i - 3) && i - 3 >= start)) {
			rc = word_add(t, p + start, i - start, 1);
			start = i;
		}
		uint8_t c = (uint8_t)p[i];
		i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	}
	if (rc == 0)
		rc = word_add(t, p + start, len - start, 1);
	sp_buf_release(&tmp);
	if (rc < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

/* ------------------------------------------------------------------ piece validity */

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }

/* SentencePiece's TrainerInterface::IsValidSentencePiece for split_by_whitespace, no suffix mode. */
static int valid_piece(const tok_train_opts *o, const char *s, size_t n)
{
	uint32_t cps[64];
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		if (k >= (size_t)o->max_piece_len || k >= 64)
			return 0;
		size_t l = sp_utf8_decode(s + i, n - i, &cps[k]);
		if (l == 0)
			return 0;
		i += l;
		k++;
	}
	int all_ws = 1;
	for (size_t i = 0; i < k; i++)
		if (cps[i] != WS_CP)
			all_ws = 0;
	int prev = -1;
	for (size_t i = 0; i < k; i++) {
		uint32_t c = cps[i];
		if (c == 0 || c == 0x09 || c == 0x20 || c == 0x2585)
			return 0;
		if (c == WS_CP) {
			if (!(o->allow_ws_only && all_ws) && i > 0)
				return 0;
			continue;
		}
		UErrorCode ue = U_ZERO_ERROR;
		int sc = (int)uscript_getScript((UChar32)c, &ue);
		if (U_FAILURE(ue))
			sc = USCRIPT_UNKNOWN;
		if (sc == USCRIPT_HIRAGANA || sc == USCRIPT_KATAKANA || c == 0x30FC)
			sc = USCRIPT_HAN;
		else if (sc == USCRIPT_INHERITED)
			sc = prev;
		if (o->split_digits && is_digit(c) && k > 1)
			return 0;
		if (prev != -1 && prev != sc)
			return 0;
		prev = sc;
	}
	return 1;
}

/* ------------------------------------------------------------------ BPE */

typedef struct pair {
	int32_t a, b;
	int64_t count;
	uint8_t state;           /* 0 unchecked, 1 valid, 2 invalid, 3 merged or duplicate */
	uint32_t touched;        /* merge step that last grew it (one heap entry per step) */
	uint32_t *w; uint32_t n_w, cap_w; /* words it occurs in (may repeat or be stale) */
} pair;

typedef struct heap_e { int64_t count; uint32_t p; } heap_e;

typedef struct bpe {
	const tok_train_opts *o;
	sp_buf str;              /* symbol strings */
	uint32_t *s_off, *s_len, *s_nch; size_t n_sym, cap_sym;
	uint64_t *smap; size_t smap_mask; /* string hash -> symbol id + 1 (low 32 bits), for duplicates */
	pair *pairs; size_t n_pairs, cap_pairs;
	uint32_t *pmap; size_t pmap_mask, pmap_n; /* (a,b) -> pair index + 1 */
	heap_e *heap; size_t n_heap, cap_heap;
	int32_t *seq; uint32_t *w_off, *w_len; int64_t *w_cnt; size_t n_w;
	uint32_t *stamp;
	uint32_t iter;           /* current merge step */
	uint32_t *grown; size_t n_grown, cap_grown; /* pairs grown in this step */
} bpe;

static int sym_add(bpe *b, const char *s, size_t n, uint32_t nch)
{
	if (b->n_sym == b->cap_sym) {
		size_t cap = b->cap_sym ? b->cap_sym * 2 : 4096;
		uint32_t *x;
		if (!(x = sp_realloc(b->s_off, cap * 4))) return SP_ENOMEM;
		b->s_off = x;
		if (!(x = sp_realloc(b->s_len, cap * 4))) return SP_ENOMEM;
		b->s_len = x;
		if (!(x = sp_realloc(b->s_nch, cap * 4))) return SP_ENOMEM;
		b->s_nch = x;
		b->cap_sym = cap;
	}
	if ((b->n_sym + 1) * 2 > b->smap_mask + 1) {
		size_t cap = b->smap_mask ? (b->smap_mask + 1) * 2 : 1 << 16;
		uint64_t *m = sp_calloc(cap, sizeof *m);
		if (!m) return SP_ENOMEM;
		for (size_t i = 0; b->smap && i <= b->smap_mask; i++) {
			if (!b->smap[i]) continue;
			uint32_t id = (uint32_t)b->smap[i] - 1;
			size_t j = sp_hash64(b->str.p + b->s_off[id], b->s_len[id], 0) & (cap - 1);
			while (m[j]) j = (j + 1) & (cap - 1);
			m[j] = b->smap[i];
		}
		sp_free(b->smap);
		b->smap = m;
		b->smap_mask = cap - 1;
	}
	uint32_t id = (uint32_t)b->n_sym++;
	b->s_off[id] = (uint32_t)b->str.len;
	b->s_len[id] = (uint32_t)n;
	b->s_nch[id] = nch;
	SP_FORWARD(sp_buf_append(&b->str, s, n));
	size_t j = sp_hash64(s, n, 0) & b->smap_mask;
	while (b->smap[j]) j = (j + 1) & b->smap_mask;
	b->smap[j] = (uint64_t)id + 1;
	return 0;
}

static int sym_exists(const bpe *b, const char *s, size_t n)
{
	size_t j = sp_hash64(s, n, 0) & b->smap_mask;
	while (b->smap[j]) {
		uint32_t id = (uint32_t)b->smap[j] - 1;
		if (b->s_len[id] == n && memcmp(b->str.p + b->s_off[id], s, n) == 0)
			return 1;
		j = (j + 1) & b->smap_mask;
	}
	return 0;
}

/* Is pair x better than pair y? More frequent; then fewer characters; then smaller bytes. */
static int pair_better(const bpe *b, int64_t cx, const pair *x, int64_t cy, const pair *y)
{
	if (cx != cy)
		return cx > cy;
	uint32_t nx = b->s_nch[x->a] + b->s_nch[x->b], ny = b->s_nch[y->a] + b->s_nch[y->b];
	if (nx != ny)
		return nx < ny;
	/* compare the concatenations byte by byte */
	const char *xs[2] = { b->str.p + b->s_off[x->a], b->str.p + b->s_off[x->b] };
	size_t xl[2] = { b->s_len[x->a], b->s_len[x->b] };
	const char *ys[2] = { b->str.p + b->s_off[y->a], b->str.p + b->s_off[y->b] };
	size_t yl[2] = { b->s_len[y->a], b->s_len[y->b] };
	size_t xi = 0, yi = 0, xo = 0, yo = 0;
	for (;;) {
		while (xi < 2 && xo == xl[xi]) { xi++; xo = 0; }
		while (yi < 2 && yo == yl[yi]) { yi++; yo = 0; }
		if (xi == 2 || yi == 2) {
			if (xi != yi)
				return xi == 2;
			/* same string from different splits: a total order keeps training deterministic */
			return x->a != y->a ? x->a < y->a : x->b < y->b;
		}
		uint8_t cx8 = (uint8_t)xs[xi][xo++], cy8 = (uint8_t)ys[yi][yo++];
		if (cx8 != cy8)
			return cx8 < cy8;
	}
}

static int heap_push(bpe *b, uint32_t p)
{
	if (b->n_heap == b->cap_heap) {
		size_t cap = b->cap_heap ? b->cap_heap * 2 : 1 << 16;
		heap_e *h = sp_realloc(b->heap, cap * sizeof *h);
		if (!h) return SP_ENOMEM;
		b->heap = h;
		b->cap_heap = cap;
	}
	heap_e e = { b->pairs[p].count, p };
	size_t i = b->n_heap++;
	while (i > 0) {
		size_t q = (i - 1) / 2;
		if (!pair_better(b, e.count, &b->pairs[e.p], b->heap[q].count, &b->pairs[b->heap[q].p]))
			break;
		b->heap[i] = b->heap[q];
		i = q;
	}
	b->heap[i] = e;
	return 0;
}

static heap_e heap_pop(bpe *b)
{
	heap_e top = b->heap[0], last = b->heap[--b->n_heap];
	size_t i = 0, n = b->n_heap;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n) break;
		if (c + 1 < n && pair_better(b, b->heap[c + 1].count, &b->pairs[b->heap[c + 1].p], b->heap[c].count, &b->pairs[b->heap[c].p]))
			c++;
		if (!pair_better(b, b->heap[c].count, &b->pairs[b->heap[c].p], last.count, &b->pairs[last.p]))
			break;
		b->heap[i] = b->heap[c];
		i = c;
	}
	if (n)
		b->heap[i] = last;
	return top;
}

static inline size_t pkey_slot(int32_t a, int32_t x, size_t mask)
{
	uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)x;
	k ^= k >> 29;
	k *= 0xBF58476D1CE4E5B9ull;
	k ^= k >> 32;
	return (size_t)k & mask;
}

/* Finds or creates pair (a, x); returns its index or -1 on allocation failure. */
static int64_t pair_get(bpe *b, int32_t a, int32_t x)
{
	if ((b->pmap_n + 1) * 2 > b->pmap_mask + 1) {
		size_t cap = b->pmap_mask ? (b->pmap_mask + 1) * 2 : 1 << 18;
		uint32_t *m = sp_calloc(cap, sizeof *m);
		if (!m) return -1;
		for (size_t i = 0; b->pmap && i <= b->pmap_mask; i++) {
			if (!b->pmap[i]) continue;
			const pair *p = &b->pairs[b->pmap[i] - 1];
			size_t j = pkey_slot(p->a, p->b, cap - 1);
			while (m[j]) j = (j + 1) & (cap - 1);
			m[j] = b->pmap[i];
		}
		sp_free(b->pmap);
		b->pmap = m;
		b->pmap_mask = cap - 1;
	}
	size_t j = pkey_slot(a, x, b->pmap_mask);
	while (b->pmap[j]) {
		pair *p = &b->pairs[b->pmap[j] - 1];
		if (p->a == a && p->b == x)
			return (int64_t)b->pmap[j] - 1;
		j = (j + 1) & b->pmap_mask;
	}
	if (b->n_pairs == b->cap_pairs) {
		size_t cap = b->cap_pairs ? b->cap_pairs * 2 : 1 << 16;
		pair *v = sp_realloc(b->pairs, cap * sizeof *v);
		if (!v) return -1;
		b->pairs = v;
		b->cap_pairs = cap;
	}
	pair *p = &b->pairs[b->n_pairs];
	memset(p, 0, sizeof *p);
	p->a = a;
	p->b = x;
	b->pmap[j] = (uint32_t)++b->n_pairs;
	b->pmap_n++;
	return (int64_t)b->n_pairs - 1;
}

static int pair_check(bpe *b, pair *p)
{
	if (p->state)
		return p->state == 1;
	char tmp[256];
	size_t la = b->s_len[p->a], lb = b->s_len[p->b];
	if (b->s_nch[p->a] + b->s_nch[p->b] > (uint32_t)b->o->max_piece_len || la + lb > sizeof tmp) {
		p->state = 2;
		return 0;
	}
	memcpy(tmp, b->str.p + b->s_off[p->a], la);
	memcpy(tmp + la, b->str.p + b->s_off[p->b], lb);
	p->state = valid_piece(b->o, tmp, la + lb) ? 1 : 2;
	return p->state == 1;
}

/* Adds delta occurrences of (a, x) in word w. */
static int pair_bump(bpe *b, int32_t a, int32_t x, int64_t delta, uint32_t w, int push)
{
	int64_t pi = pair_get(b, a, x);
	if (pi < 0)
		return SP_ENOMEM;
	pair *p = &b->pairs[pi];
	p->count += delta;
	if (delta > 0 && (p->n_w == 0 || p->w[p->n_w - 1] != w)) {
		if (p->n_w == p->cap_w) {
			uint32_t cap = p->cap_w ? p->cap_w * 2 : 2;
			uint32_t *v = sp_realloc(p->w, cap * sizeof *v);
			if (!v) return SP_ENOMEM;
			p->w = v;
			p->cap_w = cap;
		}
		p->w[p->n_w++] = w;
	}
	/* only increases need a heap entry, and one per merge step (pushed after the step): a decreased
	 * pair still has its older, higher entry, re-pushed with the current count when it surfaces */
	if (push && delta > 0 && p->touched != b->iter) {
		p->touched = b->iter;
		if (b->n_grown == b->cap_grown) {
			size_t cap = b->cap_grown ? b->cap_grown * 2 : 1024;
			uint32_t *v = sp_realloc(b->grown, cap * sizeof *v);
			if (!v) return SP_ENOMEM;
			b->grown = v;
			b->cap_grown = cap;
		}
		b->grown[b->n_grown++] = (uint32_t)pi;
	}
	return 0;
}

static void bpe_release(bpe *b)
{
	sp_buf_release(&b->str);
	sp_free(b->s_off);
	sp_free(b->s_len);
	sp_free(b->s_nch);
	sp_free(b->smap);
	for (size_t i = 0; i < b->n_pairs; i++)
		sp_free(b->pairs[i].w);
	sp_free(b->pairs);
	sp_free(b->pmap);
	sp_free(b->heap);
	sp_free(b->seq);
	sp_free(b->w_off);
	sp_free(b->w_len);
	sp_free(b->w_cnt);
	sp_free(b->stamp);
	sp_free(b->grown);
}

typedef struct cpcount { uint32_t cp; int64_t count; } cpcount;

static int cmp_cpcount(const void *x, const void *y)
{
	const cpcount *a = x, *b = y;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return (a->cp > b->cp) - (a->cp < b->cp);
}

/* Merges pair pi everywhere; the new symbol is c. */
static int apply_merge(bpe *b, uint32_t pi, int32_t c, uint32_t iter)
{
	pair *p = &b->pairs[pi];
	int32_t a = p->a, x = p->b;
	uint32_t n_w = p->n_w;
	uint32_t *ws = p->w;
	p->w = NULL;
	p->n_w = p->cap_w = 0;
	int rc = 0;
	for (uint32_t k = 0; k < n_w && rc == 0; k++) {
		uint32_t w = ws[k];
		if (b->stamp[w] == iter)
			continue;
		b->stamp[w] = iter;
		int32_t *s = b->seq + b->w_off[w];
		uint32_t len = b->w_len[w];
		int64_t cnt = b->w_cnt[w];
		for (uint32_t i = 0; i + 1 < len && rc == 0;) {
			if (s[i] != a || s[i + 1] != x) {
				i++;
				continue;
			}
			if (i > 0 && s[i - 1] >= 0)
				rc = pair_bump(b, s[i - 1], a, -cnt, w, 1);
			if (rc == 0 && i + 2 < len && s[i + 2] >= 0)
				rc = pair_bump(b, x, s[i + 2], -cnt, w, 1);
			s[i] = c;
			memmove(s + i + 1, s + i + 2, (len - i - 2) * sizeof *s);
			len--;
			if (rc == 0 && i > 0 && s[i - 1] >= 0)
				rc = pair_bump(b, s[i - 1], c, cnt, w, 1);
			if (rc == 0 && i + 1 < len && s[i + 1] >= 0)
				rc = pair_bump(b, c, s[i + 1], cnt, w, 1);
			i++;
		}
		b->w_len[w] = len;
	}
	sp_free(ws);
	b->pairs[pi].count = 0;
	b->pairs[pi].state = 3;
	for (size_t k = 0; k < b->n_grown && rc == 0; k++) {
		pair *g = &b->pairs[b->grown[k]];
		if (g->count > 0 && g->state != 3 && pair_check(b, g))
			rc = heap_push(b, b->grown[k]);
	}
	b->n_grown = 0;
	return rc;
}

int tok_trainer_finish(tok_trainer *t, tok_model **out, sp_err *err)
{
	*out = NULL;
	const tok_train_opts *o = &t->o;
	bpe b;
	memset(&b, 0, sizeof b);
	b.o = o;
	int rc = 0;
	int64_t *cpc = NULL;
	int32_t *cp_sym = NULL;
	cpcount *req = NULL;
	size_t n_req = 0;
	tok_model *m = NULL;

	/* 1. character counts and the required characters (character_coverage) */
	cpc = sp_calloc(0x110000, sizeof *cpc);
	cp_sym = sp_malloc(0x110000 * sizeof *cp_sym);
	if (!cpc || !cp_sym) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	int64_t all = 0;
	size_t total_chars = 0;
	for (size_t i = 0; i < t->cap_words; i++) {
		const word *w = &t->words[i];
		if (w->off == UINT32_MAX)
			continue;
		for (size_t k = 0; k < w->len;) {
			uint32_t cp;
			size_t l = sp_utf8_decode(t->arena.p + w->off + k, w->len - k, &cp);
			k += l ? l : 1;
			total_chars++;
			if (l == 0 || cp == 0 || cp == 0x20)
				continue;
			cpc[cp] += w->count;
			all += w->count;
		}
	}
	size_t n_cp = 0;
	for (uint32_t cp = 0; cp < 0x110000; cp++)
		n_cp += cpc[cp] > 0;
	req = sp_malloc((n_cp + 1) * sizeof *req);
	if (!req) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	for (uint32_t cp = 0; cp < 0x110000; cp++)
		if (cpc[cp] > 0)
			req[n_req++] = (cpcount){ cp, cpc[cp] };
	qsort(req, n_req, sizeof *req, cmp_cpcount);
	{
		int64_t acc = 0;
		size_t keep = 0;
		for (size_t i = 0; i < n_req; i++) {
			if ((double)acc / (double)(all ? all : 1) >= o->character_coverage)
				break;
			acc += req[i].count;
			if (req[i].cp == 0x09)
				continue; /* tab is never a piece (SentencePiece's boundary character) */
			req[keep++] = req[i];
		}
		n_req = keep;
	}
	uint32_t n_meta = 3 + (uint32_t)o->n_user + (o->byte_fallback ? 256 : 0);
	if ((size_t)o->vocab_size < n_meta + n_req) {
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__,
		                 "vocabulary size %u is smaller than the %u special pieces and %zu required characters; "
		                 "raise --vocab-size or lower --character-coverage", o->vocab_size, n_meta, n_req);
		goto end;
	}
	size_t target = o->vocab_size - n_meta - n_req;

	/* 2. symbols for the required characters; words as symbol sequences (-1: not a required char) */
	memset(cp_sym, 0xFF, 0x110000 * sizeof *cp_sym);
	for (size_t i = 0; i < n_req && rc == 0; i++) {
		char u[4];
		size_t l = sp_utf8_encode(req[i].cp, u);
		cp_sym[req[i].cp] = (int32_t)b.n_sym;
		if (sym_add(&b, u, l, 1) < 0)
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	}
	if (rc < 0)
		goto end;
	b.seq = sp_malloc((total_chars + 1) * sizeof *b.seq);
	b.w_off = sp_malloc((t->n_words + 1) * sizeof *b.w_off);
	b.w_len = sp_malloc((t->n_words + 1) * sizeof *b.w_len);
	b.w_cnt = sp_malloc((t->n_words + 1) * sizeof *b.w_cnt);
	b.stamp = sp_calloc(t->n_words + 1, sizeof *b.stamp);
	if (!b.seq || !b.w_off || !b.w_len || !b.w_cnt || !b.stamp) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	size_t pos = 0;
	for (size_t i = 0; i < t->cap_words; i++) {
		const word *w = &t->words[i];
		if (w->off == UINT32_MAX)
			continue;
		b.w_off[b.n_w] = (uint32_t)pos;
		for (size_t k = 0; k < w->len;) {
			uint32_t cp = 0;
			size_t l = sp_utf8_decode(t->arena.p + w->off + k, w->len - k, &cp);
			k += l ? l : 1;
			b.seq[pos++] = l ? cp_sym[cp] : -1;
		}
		b.w_len[b.n_w] = (uint32_t)(pos - b.w_off[b.n_w]);
		b.w_cnt[b.n_w] = w->count;
		b.n_w++;
	}
	/* 3. initial pair counts */
	for (uint32_t w = 0; w < b.n_w && rc == 0; w++) {
		const int32_t *s = b.seq + b.w_off[w];
		for (uint32_t i = 0; i + 1 < b.w_len[w] && rc == 0; i++)
			if (s[i] >= 0 && s[i + 1] >= 0)
				rc = pair_bump(&b, s[i], s[i + 1], b.w_cnt[w], w, 0);
	}
	for (size_t i = 0; i < b.n_pairs && rc == 0; i++)
		if (b.pairs[i].count > 0 && pair_check(&b, &b.pairs[i]))
			rc = heap_push(&b, (uint32_t)i);
	if (rc < 0) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	/* 4. merges */
	size_t first_merged = b.n_sym;
	uint32_t iter = 0;
	while (b.n_sym - first_merged < target && b.n_heap && rc == 0) {
		heap_e e = heap_pop(&b);
		pair *p = &b.pairs[e.p];
		if (p->state == 3 || p->count <= 0)
			continue;
		if (e.count != p->count) { /* stale: a decreased pair goes back in with its count */
			if (e.count > p->count && (rc = heap_push(&b, e.p)) < 0)
				break;
			continue;
		}
		size_t la = b.s_len[p->a], lb = b.s_len[p->b];
		char tmp[256];
		memcpy(tmp, b.str.p + b.s_off[p->a], la);
		memcpy(tmp + la, b.str.p + b.s_off[p->b], lb);
		if (sym_exists(&b, tmp, la + lb)) {
			p->state = 3; /* another pair already made this string (SentencePiece skips it too) */
			continue;
		}
		int32_t c = (int32_t)b.n_sym;
		if ((rc = sym_add(&b, tmp, la + lb, b.s_nch[p->a] + b.s_nch[p->b])) < 0)
			break;
		b.iter = ++iter;
		rc = apply_merge(&b, e.p, c, iter);
	}
	if (rc < 0) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	if (b.n_sym - first_merged < target) {
		/* the text ran out of pairs to merge: a smaller model than asked for would surprise every
		 * later stage (SentencePiece refuses too: "Vocabulary size too high") */
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__,
		                 "vocabulary size %u is more than this text can fill: merging stopped at %zu pieces; "
		                 "lower --vocab-size or give more text", o->vocab_size,
		                 (size_t)n_meta + n_req + (b.n_sym - first_merged));
		goto end;
	}

	/* 5. the model: specials, user-defined, bytes, merged pieces, required characters */
	m = tok_model_new();
	if (!m) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	rc = tok_model_add(m, "<unk>", 5, 0, TOK_UNKNOWN);
	rc = rc ? rc : tok_model_add(m, "<s>", 3, 0, TOK_CONTROL);
	rc = rc ? rc : tok_model_add(m, "</s>", 4, 0, TOK_CONTROL);
	for (size_t i = 0; i < o->n_user && rc == 0; i++) {
		sp_buf u = SP_BUF_INIT;
		for (const char *q = o->user_symbols[i]; *q && rc == 0; q++)
			rc = *q == ' ' ? sp_buf_append(&u, "\xE2\x96\x81", 3) : sp_buf_appendc(&u, *q);
		if (rc == 0 && u.len)
			rc = tok_model_add(m, u.p, u.len, 0, TOK_USER);
		sp_buf_release(&u);
	}
	for (int v = 0; o->byte_fallback && v < 256 && rc == 0; v++) {
		char s[8];
		static const char hex[] = "0123456789ABCDEF";
		memcpy(s, "<0x", 3);
		s[3] = hex[v >> 4];
		s[4] = hex[v & 15];
		s[5] = '>';
		rc = tok_model_add(m, s, 6, 0, TOK_BYTE);
	}
	float score = 0;
	for (size_t i = first_merged; i < b.n_sym && rc == 0; i++, score -= 1)
		rc = tok_model_add(m, b.str.p + b.s_off[i], b.s_len[i], score, TOK_NORMAL);
	for (size_t i = 0; i < n_req && rc == 0; i++, score -= 1)
		rc = tok_model_add(m, b.str.p + b.s_off[i], b.s_len[i], score, TOK_NORMAL);
	if (rc < 0) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	tok_spec *sp = &m->spec;
	sp->add_dummy_prefix = o->add_dummy_prefix;
	sp->remove_extra_ws = o->remove_extra_ws;
	sp->escape_ws = 1;
	sp->byte_fallback = o->byte_fallback;
	sp->split_digits = o->split_digits;
	sp->allow_ws_only = o->allow_ws_only;
	sp->character_coverage = o->character_coverage;
	sp->max_piece_len = o->max_piece_len;
	sp->spec_vocab_size = m->n;
	if ((rc = tok_model_finish(m, "trained model", err)) < 0)
		goto end;
	*out = m;
	m = NULL;
end:
	tok_model_free(m);
	bpe_release(&b);
	sp_free(cpc);
	sp_free(cp_sym);
	sp_free(req);
	return rc;
}
