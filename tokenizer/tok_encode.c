/* tok_encode.c - encoding and decoding: SentencePiece normalization (dummy prefix, whitespace
 * escaping, extra-whitespace removal, the precompiled charsmap of nmt_nfkc models, user-defined
 * symbols), BPE merging by best priority with leftmost tie-breaking (SentencePiece's and
 * HuggingFace's rule), byte fallback, and a per-thread cache of short chunks.
 *
 * Speed: the normalized text is cut before every "▁" that follows another character when no piece
 * can span such a cut (tok_model.can_chunk): each chunk is then merged on its own, and short chunks
 * (words) are looked up in a per-thread direct-mapped cache before any merging. */
#include <string.h>
#include <pthread.h>
#include <float.h>
#include "tok_internal.h"
#include "spindle/mem.h"
#include "spindle/hash.h"
#include "spindle/utf8.h"

#define WS "\xE2\x96\x81"

/* ------------------------------------------------------------------ per-thread scratch */

#define CACHE_BITS 16
#define CACHE_KEY 126
#define CACHE_IDS 30
typedef struct cache_entry {
	uint64_t h;
	uint8_t klen, nid;
	char key[CACHE_KEY];
	uint32_t ids[CACHE_IDS];
} cache_entry;

typedef struct sym { uint32_t id, start, len; int32_t prev, next; uint8_t frozen; } sym;
typedef struct agenda_item { float score; uint32_t left, right, result, size; } agenda_item;

typedef struct scratch {
	sp_buf norm;
	sym *syms; size_t cap_syms;
	agenda_item *heap; size_t n_heap, cap_heap;
	uint32_t *ids; size_t cap_ids;  /* one chunk's ids */
	cache_entry *cache;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
	scratch *s = p;
	if (!s)
		return;
	sp_buf_release(&s->norm);
	sp_free(s->syms);
	sp_free(s->heap);
	sp_free(s->ids);
	sp_free(s->cache);
	sp_free(s);
}

static void scratch_key_init(void) { (void)pthread_key_create(&scratch_key, scratch_free); }

static scratch *get_scratch(const tok_model *m)
{
	pthread_once(&scratch_once, scratch_key_init);
	scratch *s = pthread_getspecific(scratch_key);
	if (!s) {
		s = sp_calloc(1, sizeof *s);
		if (!s)
			return NULL;
		if (pthread_setspecific(scratch_key, s) != 0) {
			sp_free(s);
			return NULL;
		}
	}
	if (!s->cache) {
		/* one cache for all models: an entry's hash mixes in the model's serial (below) */
		s->cache = sp_calloc_big(((size_t)1 << CACHE_BITS) * sizeof *s->cache);
		if (!s->cache)
			return NULL;
	}
	(void)m;
	return s;
}

/* ------------------------------------------------------------------ normalization */

#define DA_OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
#define DA_LABEL(u) ((u) & ((1u << 31) | 0xFFu))
#define DA_HAS_LEAF(u) (((u) >> 8) & 1u)
#define DA_VALUE(u) ((u) & ((1u << 31) - 1))

/* Longest match of the charsmap trie at key (darts-clone common-prefix search, as SentencePiece:
 * at most 32 results considered). Every array access is bounds-checked: the trie comes from a file. */
static size_t trie_longest(const tok_model *m, const uint8_t *key, size_t n, uint32_t *value)
{
	const uint32_t *a = m->trie;
	size_t na = m->n_trie, pos = DA_OFFSET(a[0]), best = 0;
	int results = 0;
	for (size_t i = 0; i < n; i++) {
		pos ^= key[i];
		if (pos >= na)
			break;
		uint32_t u = a[pos];
		if (DA_LABEL(u) != key[i])
			break;
		pos ^= DA_OFFSET(u);
		if (DA_HAS_LEAF(u)) {
			if (pos >= na)
				break;
			if (results < 32) {
				best = i + 1;
				*value = DA_VALUE(a[pos]);
			}
			results++;
		}
	}
	return best;
}

static size_t user_match(const tok_model *m, const char *s, size_t n, uint32_t *id)
{
	if (!m->user_first[(uint8_t)s[0]])
		return 0;
	for (size_t k = 0; k < m->n_user; k++) { /* longest first */
		uint32_t u = m->user[k];
		if (m->len[u] <= n && memcmp(tok_sym_str(m, u), s, m->len[u]) == 0) {
			*id = u;
			return m->len[u];
		}
	}
	return 0;
}

static size_t char_len(const char *s, size_t n)
{
	uint8_t c = (uint8_t)s[0];
	size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	return l <= n ? l : n;
}

/* One normalization step at s: the replacement (*rep, *rep_n) and the input bytes consumed. */
static size_t norm_prefix(const tok_model *m, const char *s, size_t n, const char **rep, size_t *rep_n)
{
	uint32_t id;
	size_t l;
	if (m->n_user && (l = user_match(m, s, n, &id)) > 0) {
		*rep = s;
		*rep_n = l;
		return l;
	}
	if (m->trie) {
		uint32_t v = 0;
		l = trie_longest(m, (const uint8_t *)s, n, &v);
		if (l > 0 && v < m->n_norm) {
			*rep = m->norm + v;
			*rep_n = strnlen(m->norm + v, m->n_norm - v);
			return l;
		}
	}
	l = char_len(s, n);
	*rep = s;
	*rep_n = l;
	return l;
}

int tok_normalize(const tok_model *m, const char *text, size_t n, sp_buf *out)
{
	if (n == 0)
		return 0;
	const tok_spec *sp = &m->spec;
	if (m->fast_norm) {
		SP_FORWARD(sp_buf_grow(out, 3 + 3 * n));
		char *o = out->p + out->len;
		memcpy(o, WS, 3);
		o += 3;
		for (size_t i = 0; i < n; i++) {
			if (text[i] == ' ') {
				memcpy(o, WS, 3);
				o += 3;
			} else {
				*o++ = text[i];
			}
		}
		out->len = (size_t)(o - out->p);
		out->p[out->len] = 0;
		return 0;
	}
	const char *ws = sp->escape_ws ? WS : " ";
	size_t ws_n = sp->escape_ws ? 3 : 1, i = 0, base = out->len;
	const char *rep;
	size_t rep_n;
	if (sp->remove_extra_ws) {
		while (i < n) {
			size_t c = norm_prefix(m, text + i, n - i, &rep, &rep_n);
			if (!(rep_n == 1 && rep[0] == ' '))
				break;
			i += c;
		}
		if (i == n)
			return 0;
	}
	if (sp->add_dummy_prefix && !sp->treat_ws_suffix)
		SP_FORWARD(sp_buf_append(out, ws, ws_n));
	int prev_space = sp->remove_extra_ws;
	while (i < n) {
		size_t c = norm_prefix(m, text + i, n - i, &rep, &rep_n);
		if (prev_space)
			while (rep_n && rep[0] == ' ') {
				rep++;
				rep_n--;
			}
		if (rep_n) {
			SP_FORWARD(sp_buf_grow(out, rep_n * 3));
			for (size_t k = 0; k < rep_n; k++) {
				if (rep[k] == ' ')
					SP_FORWARD(sp_buf_append(out, ws, ws_n));
				else
					SP_FORWARD(sp_buf_appendc(out, rep[k]));
			}
			prev_space = rep[rep_n - 1] == ' ';
		}
		i += c;
		if (!sp->remove_extra_ws)
			prev_space = 0;
	}
	if (sp->remove_extra_ws)
		while (out->len - base >= ws_n && memcmp(out->p + out->len - ws_n, ws, ws_n) == 0)
			out->len -= ws_n;
	if (sp->add_dummy_prefix && sp->treat_ws_suffix && out->len > base)
		SP_FORWARD(sp_buf_append(out, ws, ws_n));
	if (out->p)
		out->p[out->len] = 0;
	return 0;
}

/* ------------------------------------------------------------------ BPE over one chunk */

static inline int better(const agenda_item *a, const agenda_item *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(scratch *w, const agenda_item *it)
{
	if (w->n_heap == w->cap_heap) {
		size_t cap = w->cap_heap ? w->cap_heap * 2 : 256;
		agenda_item *h = sp_realloc(w->heap, cap * sizeof *h);
		if (!h)
			return SP_ENOMEM;
		w->heap = h;
		w->cap_heap = cap;
	}
	size_t i = w->n_heap++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!better(it, &w->heap[p]))
			break;
		w->heap[i] = w->heap[p];
		i = p;
	}
	w->heap[i] = *it;
	return 0;
}

static void heap_pop(scratch *w, agenda_item *top)
{
	*top = w->heap[0];
	agenda_item last = w->heap[--w->n_heap];
	size_t i = 0, n = w->n_heap;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && better(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!better(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (n)
		w->heap[i] = last;
}

static int maybe_pair(const tok_model *m, scratch *w, int32_t l, int32_t r)
{
	if (l < 0 || r < 0)
		return 0;
	const sym *a = &w->syms[l], *b = &w->syms[r];
	if (a->frozen || b->frozen || a->id == TOK_SYM_NONE || b->id == TOK_SYM_NONE)
		return 0;
	const tok_pair *p = tok_pairs_get(m, a->id, b->id);
	if (!p)
		return 0;
	agenda_item it = { p->score, (uint32_t)l, (uint32_t)r, p->result, a->len + b->len };
	return heap_push(w, &it);
}

static int push_id(scratch *w, size_t *n, uint32_t id)
{
	if (*n == w->cap_ids) {
		size_t cap = w->cap_ids ? w->cap_ids * 2 : 256;
		uint32_t *v = sp_realloc(w->ids, cap * sizeof *v);
		if (!v)
			return SP_ENOMEM;
		w->ids = v;
		w->cap_ids = cap;
	}
	w->ids[(*n)++] = id;
	return 0;
}

#define SMALL_CHUNK 48

#define NO_PAIR (-FLT_MAX)

static inline void small_pair(const tok_model *m, const sym *a, const sym *b, float *score, uint32_t *result)
{
	*score = NO_PAIR;
	if (a->frozen || b->frozen || a->id == TOK_SYM_NONE || b->id == TOK_SYM_NONE)
		return;
	const tok_pair *p = tok_pairs_get(m, a->id, b->id);
	if (p) {
		*score = p->score;
		*result = p->result;
	}
}

/* Encodes chunk s[0..n) into w->ids[0..*n_ids). */
static int bpe_chunk(const tok_model *m, scratch *w, const char *s, size_t n, size_t *n_ids)
{
	size_t ns = 0;
	if (n > w->cap_syms) {
		size_t cap = w->cap_syms ? w->cap_syms : 256;
		while (cap < n)
			cap *= 2;
		sym *v = sp_realloc(w->syms, cap * sizeof *v);
		if (!v)
			return SP_ENOMEM;
		w->syms = v;
		w->cap_syms = cap;
	}
	for (size_t i = 0; i < n;) {
		sym *y = &w->syms[ns];
		uint32_t id;
		size_t l;
		y->frozen = 0;
		if (m->n_user && (l = user_match(m, s + i, n - i, &id)) > 0) {
			y->frozen = 1;
		} else {
			l = char_len(s + i, n - i);
			uint32_t cp;
			if (l == 1)
				id = m->bmp[(uint8_t)s[i]];
			else if (l < 4 && sp_utf8_decode(s + i, l, &cp) == l)
				id = m->bmp[cp];
			else
				id = tok_map_get(m, s + i, l);
		}
		y->id = id;
		y->start = (uint32_t)i;
		y->len = (uint32_t)l;
		y->prev = (int32_t)ns - 1;
		y->next = (int32_t)ns + 1;
		ns++;
		i += l;
	}
	if (ns == 0) {
		*n_ids = 0;
		return 0;
	}
	w->syms[ns - 1].next = -1;
	if (ns > 1 && ns <= SMALL_CHUNK) {
		/* short chunks: repeated scans of a pair array beat a heap (same rule: best, then leftmost) */
		/* no pair: NO_PAIR, below every real priority (tok_model_finish keeps scores finite) */
		float ps[SMALL_CHUNK];
		uint32_t pr[SMALL_CHUNK];
		sym *y = w->syms;
		for (size_t i = 0; i + 1 < ns; i++)
			small_pair(m, &y[i], &y[i + 1], &ps[i], &pr[i]);
		for (;;) {
			size_t best = 0;
			float bs = ps[0];
			for (size_t i = 1; i + 1 < ns; i++)
				if (ps[i] > bs) {
					bs = ps[i];
					best = i;
				}
			if (bs == NO_PAIR)
				break;
			y[best].id = pr[best];
			y[best].len += y[best + 1].len;
			size_t tail = ns - best - 2;
			memmove(&y[best + 1], &y[best + 2], tail * sizeof *y);
			memmove(&ps[best + 1], &ps[best + 2], tail * sizeof *ps);
			memmove(&pr[best + 1], &pr[best + 2], tail * sizeof *pr);
			ns--;
			if (ns == 1)
				break;
			if (best > 0)
				small_pair(m, &y[best - 1], &y[best], &ps[best - 1], &pr[best - 1]);
			if (best + 1 < ns)
				small_pair(m, &y[best], &y[best + 1], &ps[best], &pr[best]);
		}
		for (size_t i = 0; i < ns; i++)
			y[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
	} else if (ns > 1) {
		w->n_heap = 0;
		for (size_t i = 0; i + 1 < ns; i++)
			SP_FORWARD(maybe_pair(m, w, (int32_t)i, (int32_t)i + 1));
		while (w->n_heap) {
			agenda_item top;
			heap_pop(w, &top);
			sym *a = &w->syms[top.left], *b = &w->syms[top.right];
			if (a->len == 0 || b->len == 0 || a->next != (int32_t)top.right || a->len + b->len != top.size)
				continue; /* stale */
			a->id = top.result;
			a->len += b->len;
			a->next = b->next;
			if (b->next >= 0)
				w->syms[b->next].prev = (int32_t)top.left;
			b->len = 0;
			SP_FORWARD(maybe_pair(m, w, a->prev, (int32_t)top.left));
			SP_FORWARD(maybe_pair(m, w, (int32_t)top.left, a->next));
		}
	}
	size_t k = 0;
	int prev_unk = 0;
	for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
		const sym *y = &w->syms[i];
		if (y->id < m->n) {
			SP_FORWARD(push_id(w, &k, y->id));
			prev_unk = 0;
			continue;
		}
		/* a character in no piece (or only inside pieces): byte fallback or one unk per run */
		if (m->spec.byte_fallback) {
			int all = 1;
			for (uint32_t b = 0; b < y->len; b++)
				if (m->byte_id[(uint8_t)s[y->start + b]] < 0)
					all = 0;
			if (all || !m->from_json) {
				for (uint32_t b = 0; b < y->len; b++) {
					int32_t bid = m->byte_id[(uint8_t)s[y->start + b]];
					SP_FORWARD(push_id(w, &k, bid >= 0 ? (uint32_t)bid : (uint32_t)m->unk));
				}
				prev_unk = 0;
				continue;
			}
		}
		if (m->unk < 0)
			continue; /* no unk piece (tokenizer.json without unk_token): HF drops the character */
		if (!prev_unk)
			SP_FORWARD(push_id(w, &k, (uint32_t)m->unk));
		prev_unk = 1;
	}
	*n_ids = k;
	return 0;
}

/* ------------------------------------------------------------------ BPE over one long chunk */

/* A chunk longer than BIG_CHUNK bytes (text without spaces: a base64 blob, a run of one character)
 * is merged in 16 bytes per symbol, allocated for the call only: the symbols' ids (the high bit
 * marks a user-defined symbol, never merged; absorbed symbols become BIG_DEAD, so neighbours are
 * found by skipping those, at most a piece's length), and an indexed heap of the pair each live
 * symbol starts (its score, and heap position). Same rule as bpe_chunk: best score, then leftmost;
 * so the same ids (the lazy heap there keeps stale entries and 20 bytes each, up to 3 per symbol). */
#define BIG_CHUNK 4096
#define BIG_DEAD 0xFFFFFFFEu
#define BIG_FROZEN 0x80000000u
#define BIG_NOPOS 0xFFFFFFFFu

typedef struct big { uint32_t *id; float *score; uint32_t *pos, *heap; size_t n, n_heap; } big;

/* the next unit (user-defined symbol or character) at s[i..n): its symbol id and byte length */
static size_t next_unit(const tok_model *m, const char *s, size_t i, size_t n, uint32_t *id, int *frozen)
{
	size_t l;
	*frozen = 0;
	if (m->n_user && (l = user_match(m, s + i, n - i, id)) > 0) {
		*frozen = 1;
		return l;
	}
	l = char_len(s + i, n - i);
	uint32_t cp;
	if (l == 1)
		*id = m->bmp[(uint8_t)s[i]];
	else if (l < 4 && sp_utf8_decode(s + i, l, &cp) == l)
		*id = m->bmp[cp];
	else
		*id = tok_map_get(m, s + i, l);
	return l;
}

static inline int big_live(uint32_t x) { return x != BIG_DEAD; }
static inline int big_mergeable(uint32_t x) { return x != BIG_DEAD && x != TOK_SYM_NONE && !(x & BIG_FROZEN); }

static inline int64_t big_next(const big *b, size_t i)
{
	for (size_t j = i + 1; j < b->n; j++)
		if (big_live(b->id[j]))
			return (int64_t)j;
	return -1;
}

static inline int64_t big_prev(const big *b, size_t i)
{
	for (size_t j = i; j-- > 0;)
		if (big_live(b->id[j]))
			return (int64_t)j;
	return -1;
}

static inline int big_better(const big *b, uint32_t x, uint32_t y)
{
	return b->score[x] > b->score[y] || (b->score[x] == b->score[y] && x < y);
}

static void big_up(big *b, size_t k)
{
	uint32_t x = b->heap[k];
	while (k > 0) {
		size_t p = (k - 1) / 2;
		if (!big_better(b, x, b->heap[p]))
			break;
		b->heap[k] = b->heap[p];
		b->pos[b->heap[k]] = (uint32_t)k;
		k = p;
	}
	b->heap[k] = x;
	b->pos[x] = (uint32_t)k;
}

static void big_down(big *b, size_t k)
{
	uint32_t x = b->heap[k];
	for (;;) {
		size_t c = 2 * k + 1;
		if (c >= b->n_heap)
			break;
		if (c + 1 < b->n_heap && big_better(b, b->heap[c + 1], b->heap[c]))
			c++;
		if (!big_better(b, b->heap[c], x))
			break;
		b->heap[k] = b->heap[c];
		b->pos[b->heap[k]] = (uint32_t)k;
		k = c;
	}
	b->heap[k] = x;
	b->pos[x] = (uint32_t)k;
}

static void big_remove(big *b, uint32_t i)
{
	uint32_t k = b->pos[i];
	if (k == BIG_NOPOS)
		return;
	b->pos[i] = BIG_NOPOS;
	uint32_t last = b->heap[--b->n_heap];
	if (k == b->n_heap)
		return;
	b->heap[k] = last;
	b->pos[last] = k;
	big_up(b, k);
	big_down(b, b->pos[last]);
}

/* (re)computes the pair symbol i starts and puts it in the heap, or takes it out */
static void big_set(const tok_model *m, big *b, int64_t i)
{
	if (i < 0)
		return;
	int64_t r = big_next(b, (size_t)i);
	const tok_pair *p = r >= 0 && big_mergeable(b->id[i]) && big_mergeable(b->id[r]) ? tok_pairs_get(m, b->id[i], b->id[r]) : NULL;
	if (!p) {
		big_remove(b, (uint32_t)i);
		return;
	}
	b->score[i] = p->score;
	if (b->pos[i] == BIG_NOPOS) {
		b->heap[b->n_heap] = (uint32_t)i;
		b->pos[i] = (uint32_t)b->n_heap++;
		big_up(b, b->n_heap - 1);
	} else {
		big_up(b, b->pos[i]);
		big_down(b, b->pos[i]);
	}
}

static int bpe_big(const tok_model *m, scratch *w, const char *s, size_t n, size_t *n_ids)
{
	big b;
	memset(&b, 0, sizeof b);
	size_t ns = 0, k = 0;
	uint32_t id;
	int frozen, rc = 0;
	for (size_t i = 0; i < n; ns++)
		i += next_unit(m, s, i, n, &id, &frozen);
	if (ns >= BIG_NOPOS)
		return SP_ENOMEM; /* (4G symbols in one chunk) */
	b.id = sp_malloc(ns * sizeof *b.id);
	b.score = sp_malloc(ns * sizeof *b.score);
	b.pos = sp_malloc(ns * sizeof *b.pos);
	b.heap = sp_malloc(ns * sizeof *b.heap);
	b.n = ns;
	if (!b.id || !b.score || !b.pos || !b.heap) {
		rc = SP_ENOMEM;
		goto end;
	}
	for (size_t i = 0, u = 0; i < n; u++) {
		i += next_unit(m, s, i, n, &id, &frozen);
		b.id[u] = frozen ? id | BIG_FROZEN : id;
		b.pos[u] = BIG_NOPOS;
	}
	for (size_t i = 0; i < ns; i++)
		big_set(m, &b, (int64_t)i);
	while (b.n_heap) {
		uint32_t i = b.heap[0];
		int64_t r = big_next(&b, i);
		b.id[i] = tok_pairs_get(m, b.id[i], b.id[r])->result;
		big_remove(&b, (uint32_t)r);
		b.id[r] = BIG_DEAD;
		big_set(m, &b, i);
		big_set(m, &b, big_prev(&b, i));
	}
	/* the ids, with byte fallback or unk as in bpe_chunk; unit lengths are found again from s */
	int prev_unk = 0;
	size_t at = 0;
	for (size_t u = 0; u < ns && rc == 0;) {
		uint32_t sid = b.id[u] & ~BIG_FROZEN;
		if (b.id[u] == TOK_SYM_NONE)
			sid = TOK_SYM_NONE;
		size_t start = at, e = u;
		do {
			at += next_unit(m, s, at, n, &id, &frozen);
			e++;
		} while (e < ns && !big_live(b.id[e]));
		size_t len = at - start;
		u = e;
		if (sid < m->n) {
			rc = push_id(w, &k, sid);
			prev_unk = 0;
			continue;
		}
		if (m->spec.byte_fallback) {
			int all = 1;
			for (size_t q = 0; q < len; q++)
				if (m->byte_id[(uint8_t)s[start + q]] < 0)
					all = 0;
			if (all || !m->from_json) {
				for (size_t q = 0; q < len && rc == 0; q++) {
					int32_t bid = m->byte_id[(uint8_t)s[start + q]];
					rc = push_id(w, &k, bid >= 0 ? (uint32_t)bid : (uint32_t)m->unk);
				}
				prev_unk = 0;
				continue;
			}
		}
		if (m->unk < 0)
			continue;
		if (!prev_unk)
			rc = push_id(w, &k, (uint32_t)m->unk);
		prev_unk = 1;
	}
	*n_ids = k;
end:
	sp_free(b.id);
	sp_free(b.score);
	sp_free(b.pos);
	sp_free(b.heap);
	return rc;
}

static int append_ids(const tok_model *m, tok_ids *out, size_t out0, const uint32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == (uint32_t)m->unk && i == 0 && out->n > out0 && out->v[out->n - 1] == (uint32_t)m->unk &&
		    !m->spec.byte_fallback)
			continue; /* a run of unknown characters across chunks is one unk */
		SP_FORWARD(tok_ids_push(out, ids[i]));
	}
	return 0;
}

static int encode_chunk(const tok_model *m, scratch *w, const char *s, size_t n, tok_ids *out, size_t out0)
{
	cache_entry *e = NULL;
	uint64_t h = 0;
	if (n <= CACHE_KEY) {
		/* XOR with an odd multiple of the model's serial: for one chunk, different models always
		 * get different h, so an entry never answers for another model (klen 0 marks empty) */
		h = sp_hash64(s, n, 0) ^ (m->serial * 0x9E3779B97F4A7C15ull);
		e = &w->cache[h >> (64 - CACHE_BITS)];
		if (e->h == h && e->klen == n && memcmp(e->key, s, n) == 0)
			return append_ids(m, out, out0, e->ids, e->nid);
	}
	size_t k;
	SP_FORWARD(n > BIG_CHUNK ? bpe_big(m, w, s, n, &k) : bpe_chunk(m, w, s, n, &k));
	if (e && k <= CACHE_IDS) {
		e->h = h;
		e->klen = (uint8_t)n;
		e->nid = (uint8_t)k;
		memcpy(e->key, s, n);
		if (k)
			memcpy(e->ids, w->ids, k * sizeof *w->ids);
	}
	return append_ids(m, out, out0, w->ids, k);
}

static inline int is_ws(const char *p) { return (uint8_t)p[0] == 0xE2 && (uint8_t)p[1] == 0x96 && (uint8_t)p[2] == 0x81; }

int tok_encode(const tok_model *m, const char *text, size_t n, tok_ids *out, sp_err *err)
{
	size_t bad;
	if (!sp_utf8_valid(text, n, &bad)) {
		sp_err_set_(err, SP_EUTF8, __FILE__, __LINE__, "invalid UTF-8 at byte %zu", bad);
		if (err)
			err->offset = bad;
		return SP_EUTF8;
	}
	scratch *w = get_scratch(m);
	if (!w)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	sp_buf_reset(&w->norm);
	if (tok_normalize(m, text, n, &w->norm) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	const char *s = w->norm.p;
	size_t ns = w->norm.len, out0 = out->n, start = 0;
	if (m->can_chunk || m->hf_split_ws) {
		for (size_t i = 3; i + 3 <= ns; i++) {
			if (!is_ws(s + i))
				continue;
			if (!m->hf_split_ws && is_ws(s + i - 3))
				continue;
			if (encode_chunk(m, w, s + start, i - start, out, out0) < 0)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			start = i;
			i += 2;
		}
	}
	if (start < ns && encode_chunk(m, w, s + start, ns - start, out, out0) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

/* ------------------------------------------------------------------ decoding */

static int flush_bytes(sp_buf *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = sp_utf8_decode((const char *)b + i, n - i, &cp);
		if (l == 0) {
			SP_FORWARD(sp_buf_append(out, "\xEF\xBF\xBD", 3));
			i++;
		} else {
			SP_FORWARD(sp_buf_append(out, b + i, l));
			i += l;
		}
	}
	return 0;
}

int tok_decode(const tok_model *m, const uint32_t *ids, size_t n, sp_buf *out, sp_err *err)
{
	uint8_t bytes[64];
	size_t nb = 0, out0 = out->len;
	int stripped = !m->spec.add_dummy_prefix;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint32_t id = ids[i];
		if (id >= m->n)
			SP_RAISE(err, SP_EDATA, "token id %u outside the vocabulary (size %u)", id, m->n);
		int t = m->type[id];
		if (t == TOK_BYTE) {
			if (nb == sizeof bytes) {
				/* flush, but keep a trailing incomplete UTF-8 sequence for the next bytes */
				size_t j = nb - 1;
				while (j > nb - 4 && ((uint8_t)bytes[j] & 0xC0) == 0x80)
					j--;
				uint8_t lead = bytes[j];
				size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
				size_t keep = need > nb - j ? nb - j : 0;
				rc = flush_bytes(out, bytes, nb - keep);
				memmove(bytes, bytes + nb - keep, keep);
				nb = keep;
			}
			bytes[nb++] = (uint8_t)tok_hex2(tok_sym_str(m, id) + 3);
			continue;
		}
		if (nb) {
			rc = flush_bytes(out, bytes, nb);
			nb = 0;
		}
		if (t == TOK_CONTROL)
			continue;
		if (t == TOK_UNKNOWN) {
			rc = sp_buf_appends(out, m->spec.unk_surface);
			stripped = 1;
			continue;
		}
		const char *s = tok_sym_str(m, id);
		size_t len = m->len[id];
		if (!stripped && out->len == out0 && len >= 3 && is_ws(s)) {
			s += 3;
			len -= 3;
		}
		stripped = 1;
		for (size_t k = 0; k < len && rc == 0;) {
			if (m->spec.escape_ws && k + 3 <= len && is_ws(s + k)) {
				rc = sp_buf_appendc(out, ' ');
				k += 3;
			} else {
				rc = sp_buf_appendc(out, s[k]);
				k++;
			}
		}
	}
	if (rc == 0 && nb)
		rc = flush_bytes(out, bytes, nb);
	if (rc < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}
