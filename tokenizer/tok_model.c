/* tok_model.c - the tokenizer model: building it, the derived lookup tables (piece map, merge table,
 * user-defined symbols), the SentencePiece ModelProto loader (a small protobuf wire-format reader of
 * our own, bounds-checked everywhere: model files are untrusted input), identity and accessors.
 * The tokenizer.json loader is tok_json.c; encoding is tok_encode.c. */
#include <stdio.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include "tok_internal.h"
#include "spindle/mem.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/utf8.h"

static atomic_uint_fast64_t model_serial = 1;

int tok_ids_push(tok_ids *ids, uint32_t id)
{
	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 64;
		uint32_t *v = sp_realloc(ids->v, cap * sizeof *v);
		if (!v)
			return SP_ENOMEM;
		ids->v = v;
		ids->cap = cap;
	}
	ids->v[ids->n++] = id;
	return 0;
}

void tok_ids_release(tok_ids *ids)
{
	sp_free(ids->v);
	ids->v = NULL;
	ids->n = ids->cap = 0;
}

void tok_spec_defaults(tok_spec *s)
{
	memset(s, 0, sizeof *s);
	memcpy(s->norm_name, "identity", 9);
	s->add_dummy_prefix = 1;
	s->remove_extra_ws = 1;
	s->escape_ws = 1;
	s->model_type = 2;
	s->character_coverage = 0.9995;
	s->split_by_whitespace = 1;
	s->split_by_unicode_script = 1;
	s->split_by_number = 1;
	s->max_piece_len = 16;
	memcpy(s->unk_piece, "<unk>", 6);
	memcpy(s->bos_piece, "<s>", 4);
	memcpy(s->eos_piece, "</s>", 5);
	memcpy(s->pad_piece, "<pad>", 6);
	memcpy(s->unk_surface, " \xE2\x81\x87 ", 5);
}

tok_model *tok_model_new(void)
{
	tok_model *m = sp_calloc(1, sizeof *m);
	if (!m)
		return NULL;
	tok_spec_defaults(&m->spec);
	m->unk = m->bos = m->eos = m->pad = -1;
	for (int i = 0; i < 256; i++)
		m->byte_id[i] = -1;
	return m;
}

static int grow_syms(tok_model *m, size_t need)
{
	if (need <= m->cap_sym)
		return 0;
	size_t cap = m->cap_sym ? m->cap_sym * 2 : 1024;
	while (cap < need)
		cap *= 2;
	uint32_t *off = sp_realloc(m->off, cap * sizeof *off);
	if (!off)
		return SP_ENOMEM;
	m->off = off;
	uint32_t *len = sp_realloc(m->len, cap * sizeof *len);
	if (!len)
		return SP_ENOMEM;
	m->len = len;
	float *score = sp_realloc(m->score, cap * sizeof *score);
	if (!score)
		return SP_ENOMEM;
	m->score = score;
	uint8_t *type = sp_realloc(m->type, cap);
	if (!type)
		return SP_ENOMEM;
	m->type = type;
	m->cap_sym = cap;
	return 0;
}

/* Appends a symbol (piece or virtual) to the tables; returns 0 or SP_ENOMEM. */
static int add_sym(tok_model *m, const char *s, size_t n, float score, int type)
{
	if (n > UINT32_MAX / 2 || m->blob.len > UINT32_MAX / 2)
		return SP_ENOMEM;
	SP_FORWARD(grow_syms(m, (size_t)m->n_sym + 1));
	uint32_t id = m->n_sym;
	m->off[id] = (uint32_t)m->blob.len;
	m->len[id] = (uint32_t)n;
	/* priorities stay finite and above -FLT_MAX, the encoder's "no pair" mark (a NaN or infinite
	 * score in a hostile file must not change which pairs can merge) */
	if (!(score > -FLT_MAX / 2))
		score = -FLT_MAX / 2;
	else if (score > FLT_MAX / 2)
		score = FLT_MAX / 2;
	m->score[id] = score;
	m->type[id] = (uint8_t)type;
	if (sp_buf_append(&m->blob, s, n) < 0 || sp_buf_appendc(&m->blob, '\0') < 0)
		return SP_ENOMEM;
	m->n_sym++;
	return 0;
}

int tok_model_add(tok_model *m, const char *s, size_t n, float score, int type)
{
	SP_FORWARD(add_sym(m, s, n, score, type));
	m->n = m->n_sym;
	return 0;
}

void tok_model_free(tok_model *m)
{
	if (!m)
		return;
	sp_buf_release(&m->blob);
	sp_free(m->off);
	sp_free(m->len);
	sp_free(m->score);
	sp_free(m->type);
	sp_free(m->map.slot);
	sp_free(m->bmp);
	sp_free(m->pairs.slot);
	sp_free(m->user);
	sp_free(m->charsmap);
	sp_free(m);
}

/* ------------------------------------------------------------------ string map */

static uint64_t str_hash(const char *s, size_t n) { return sp_hash64(s, n, 0); }

static int map_build(tok_model *m, size_t cap_hint)
{
	size_t cap = 16;
	while (cap < cap_hint * 2 + 16)
		cap *= 2;
	sp_free(m->map.slot);
	m->map.slot = sp_malloc(cap * sizeof *m->map.slot);
	if (!m->map.slot)
		return SP_ENOMEM;
	memset(m->map.slot, 0xFF, cap * sizeof *m->map.slot);
	m->map.mask = cap - 1;
	return 0;
}

/* Inserts id under its string; returns 1 if the string was already present (*prev set), else 0. */
static int map_put(tok_model *m, uint32_t id, uint32_t *prev)
{
	const char *s = tok_sym_str(m, id);
	size_t n = m->len[id];
	size_t i = str_hash(s, n) & m->map.mask;
	for (;;) {
		uint32_t o = m->map.slot[i];
		if (o == TOK_SYM_NONE) {
			m->map.slot[i] = id;
			return 0;
		}
		if (m->len[o] == n && memcmp(tok_sym_str(m, o), s, n) == 0) {
			*prev = o;
			return 1;
		}
		i = (i + 1) & m->map.mask;
	}
}

uint32_t tok_map_get(const tok_model *m, const char *s, size_t n)
{
	if (!m->map.slot)
		return TOK_SYM_NONE;
	size_t i = str_hash(s, n) & m->map.mask;
	for (;;) {
		uint32_t o = m->map.slot[i];
		if (o == TOK_SYM_NONE)
			return o;
		if (m->len[o] == n && memcmp(m->blob.p + m->off[o], s, n) == 0)
			return o;
		i = (i + 1) & m->map.mask;
	}
}

/* ------------------------------------------------------------------ pair map */


static int pairs_grow(tok_model *m)
{
	size_t cap = m->pairs.slot ? (m->pairs.mask + 1) * 2 : 1024;
	tok_pair *slot = sp_calloc_big(cap * sizeof *slot);
	if (!slot)
		return SP_ENOMEM;
	for (size_t i = 0; i < cap; i++)
		slot[i].key = UINT64_MAX;
	if (m->pairs.slot) {
		for (size_t i = 0; i <= m->pairs.mask; i++) {
			if (m->pairs.slot[i].key == UINT64_MAX)
				continue;
			size_t j = tok_pair_slot(m->pairs.slot[i].key, cap - 1);
			while (slot[j].key != UINT64_MAX)
				j = (j + 1) & (cap - 1);
			slot[j] = m->pairs.slot[i];
		}
		sp_free(m->pairs.slot);
	}
	m->pairs.slot = slot;
	m->pairs.mask = cap - 1;
	return 0;
}

int tok_pairs_add(tok_model *m, uint32_t a, uint32_t b, uint32_t result, float score, int overwrite)
{
	if (!m->pairs.slot || (m->pairs.n + 1) * 2 > m->pairs.mask + 1)
		SP_FORWARD(pairs_grow(m));
	uint64_t key = (uint64_t)a << 32 | b;
	size_t j = tok_pair_slot(key, m->pairs.mask);
	while (m->pairs.slot[j].key != UINT64_MAX && m->pairs.slot[j].key != key)
		j = (j + 1) & m->pairs.mask;
	if (m->pairs.slot[j].key == key) {
		if (overwrite) {
			m->pairs.slot[j].result = result;
			m->pairs.slot[j].score = score;
		}
		return 0;
	}
	m->pairs.slot[j].key = key;
	m->pairs.slot[j].result = result;
	m->pairs.slot[j].score = score;
	m->pairs.n++;
	return 0;
}


/* ------------------------------------------------------------------ derived tables */

static int mergeable(int type)
{
	return type == TOK_NORMAL || type == TOK_USER || type == TOK_UNUSED || type == TOK_VIRTUAL;
}

static int is_ws_mark(const char *s) { return (uint8_t)s[0] == 0xE2 && (uint8_t)s[1] == 0x96 && (uint8_t)s[2] == 0x81; }

static int32_t find_special(const tok_model *m, const char *piece, int want1, int want2)
{
	for (uint32_t i = 0; i < m->n; i++) /* specials are few and near the start; ok once per load */
		if ((m->from_json || m->type[i] == want1 || m->type[i] == want2) && strcmp(tok_sym_str(m, i), piece) == 0 &&
		    m->len[i] == strlen(piece))
			return (int32_t)i;
	return -1;
}

static int cmp_user_len(const void *a, const void *b, void *ctx)
{
	const tok_model *m = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return m->len[x] < m->len[y] ? 1 : m->len[x] > m->len[y] ? -1 : (x > y) - (x < y);
}

int tok_model_finish(tok_model *m, const char *name, sp_err *err)
{
	if (m->n == 0)
		SP_RAISE(err, SP_EDATA, "%s: the model has no pieces", name);
	/* map of mergeable pieces; duplicates are an error as in SentencePiece */
	SP_FORWARD(map_build(m, m->n + 4096) < 0 ? sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory") : 0);
	size_t n_user = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		if (m->len[i] == 0)
			SP_RAISE(err, SP_EDATA, "%s: piece %u is empty", name, i);
		if (m->type[i] == TOK_USER)
			n_user++;
		if (m->type[i] == TOK_UNUSED)
			m->has_unused = 1;
		if (m->type[i] == TOK_BYTE) {
			const char *s = tok_sym_str(m, i);
			int v;
			if (m->len[i] != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' || (v = tok_hex2(s + 3)) < 0)
				SP_RAISE(err, SP_EDATA, "%s: byte piece %u is not of the form <0xXX>", name, i);
			m->byte_id[v] = (int32_t)i;
		}
		if (!mergeable(m->type[i]) && !m->from_json)
			continue;
		uint32_t prev;
		if (map_put(m, i, &prev))
			SP_RAISE(err, SP_EDATA, "%s: piece %u duplicates piece %u", name, i, prev);
	}
	if (m->from_json) {
		/* tokenizer.json: byte pieces are found by name, whatever their type */
		for (int b = 0; b < 256; b++) {
			char s[8];
			snprintf(s, sizeof s, "<0x%02X>", b);
			m->byte_id[b] = (int32_t)tok_map_get(m, s, 6);
			if (m->byte_id[b] == (int32_t)TOK_SYM_NONE)
				m->byte_id[b] = -1;
		}
	}
	/* virtual symbols (SentencePiece only): characters inside pieces that are not pieces */
	if (!m->from_json) {
		uint32_t n0 = m->n;
		for (uint32_t i = 0; i < n0; i++) {
			if (!mergeable(m->type[i]))
				continue;
			size_t len = m->len[i];
			for (size_t k = 0; k < len;) {
				const char *s = tok_sym_str(m, i) + k;
				uint32_t cp;
				size_t l = sp_utf8_decode(s, len - k, &cp);
				if (l == 0)
					l = 1;
				if (l < len && tok_map_get(m, s, l) == TOK_SYM_NONE) {
					char ch[8];
					memcpy(ch, s, l); /* the blob may move while we append to it */
					if ((m->n_sym + 1) * 2 > m->map.mask + 1)
						SP_RAISE(err, SP_EDATA, "%s: too many distinct characters in pieces", name);
					if (add_sym(m, ch, l, 0, TOK_VIRTUAL) < 0)
						SP_RAISE(err, SP_ENOMEM, "out of memory");
					uint32_t prev;
					map_put(m, m->n_sym - 1, &prev);
				}
				k += l;
			}
		}
	}
	/* code points of the BMP to symbols */
	m->bmp = sp_malloc(0x10000 * sizeof *m->bmp);
	if (!m->bmp)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	memset(m->bmp, 0xFF, 0x10000 * sizeof *m->bmp);
	for (uint32_t i = 0; i < m->n_sym; i++) {
		uint32_t cp;
		if (!mergeable(m->type[i]) || m->type[i] == TOK_USER)
			continue;
		if (sp_utf8_decode(tok_sym_str(m, i), m->len[i], &cp) == m->len[i] && cp < 0x10000 &&
		    tok_map_get(m, tok_sym_str(m, i), m->len[i]) == i)
			m->bmp[cp] = i;
	}
	/* user-defined symbols, longest first */
	if (n_user) {
		m->user = sp_malloc(n_user * sizeof *m->user);
		if (!m->user)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		for (uint32_t i = 0; i < m->n; i++)
			if (m->type[i] == TOK_USER) {
				m->user[m->n_user++] = i;
				m->user_first[(uint8_t)tok_sym_str(m, i)[0]] = 1;
			}
		qsort_r(m->user, m->n_user, sizeof *m->user, cmp_user_len, m);
	}
	/* SentencePiece merge rules: every split of a mergeable piece into two mergeable strings */
	if (!m->from_json) {
		for (uint32_t i = 0; i < m->n; i++) {
			if (m->type[i] != TOK_NORMAL && m->type[i] != TOK_USER && m->type[i] != TOK_UNUSED)
				continue;
			const char *s = tok_sym_str(m, i);
			size_t len = m->len[i];
			for (size_t k = 1; k < len; k++) {
				if (((uint8_t)s[k] & 0xC0) == 0x80)
					continue;
				uint32_t a = tok_map_get(m, s, k);
				if (a == TOK_SYM_NONE)
					continue;
				uint32_t b = tok_map_get(m, s + k, len - k);
				if (b == TOK_SYM_NONE)
					continue;
				if (tok_pairs_add(m, a, b, i, m->score[i], 0) < 0)
					SP_RAISE(err, SP_ENOMEM, "out of memory");
			}
		}
	}
	if (!m->pairs.slot && pairs_grow(m) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	/* specials, by the spec's piece names */
	m->unk = find_special(m, m->spec.unk_piece, TOK_UNKNOWN, m->from_json ? TOK_CONTROL : TOK_UNKNOWN);
	m->bos = find_special(m, m->spec.bos_piece, TOK_CONTROL, TOK_USER);
	m->eos = find_special(m, m->spec.eos_piece, TOK_CONTROL, TOK_USER);
	m->pad = find_special(m, m->spec.pad_piece, TOK_CONTROL, TOK_USER);
	if (m->unk < 0 && !m->from_json) {
		for (uint32_t i = 0; i < m->n && m->unk < 0; i++)
			if (m->type[i] == TOK_UNKNOWN)
				m->unk = (int32_t)i;
		if (m->unk < 0)
			SP_RAISE(err, SP_EDATA, "%s: the model has no unknown piece", name);
	}
	/* Can text be cut before a ▁ that follows a non-▁ character? Only if no mergeable string
	 * contains such a transition (then no merge can cross the cut). */
	m->can_chunk = 1;
	for (uint32_t i = 0; i < m->n_sym && m->can_chunk; i++) {
		if (!mergeable(m->type[i]))
			continue;
		const char *s = tok_sym_str(m, i);
		size_t len = m->len[i];
		for (size_t k = 1; k + 3 <= len; k++)
			if (is_ws_mark(s + k) && !(k >= 3 && is_ws_mark(s + k - 3))) {
				m->can_chunk = 0;
				break;
			}
	}
	m->fast_norm = m->trie == NULL && m->n_user == 0 && m->spec.add_dummy_prefix && m->spec.escape_ws &&
	               !m->spec.remove_extra_ws && !m->spec.treat_ws_suffix;
	m->serial = atomic_fetch_add(&model_serial, 1);
	return 0;
}

/* ------------------------------------------------------------------ protobuf reader */

typedef struct pb { const uint8_t *p, *end, *start; const char *name; sp_err *err; } pb;

static int pb_fail(pb *r, const char *what)
{
	return sp_err_set_(r->err, SP_EDATA, __FILE__, __LINE__, "%s: not a SentencePiece model: %s at byte %zu",
	                   r->name, what, (size_t)(r->p - r->start));
}

static int pb_varint(pb *r, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return pb_fail(r, "truncated varint");
		uint8_t b = *r->p++;
		x |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return pb_fail(r, "varint longer than 10 bytes");
}

/* Reads a field key and its value: varints in *v, fixed32 in *v, length-delimited in sub, sub_n. */
typedef struct pb_field { uint32_t num; int wt; uint64_t v; const uint8_t *sub; size_t sub_n; } pb_field;

static int pb_next(pb *r, pb_field *f)
{
	uint64_t key;
	SP_FORWARD(pb_varint(r, &key));
	f->num = (uint32_t)(key >> 3);
	f->wt = (int)(key & 7);
	if (key >> 3 == 0 || key >> 3 > 536870911)
		return pb_fail(r, "bad field number");
	switch (f->wt) {
	case 0:
		return pb_varint(r, &f->v);
	case 1:
		if (r->end - r->p < 8)
			return pb_fail(r, "truncated fixed64");
		memcpy(&f->v, r->p, 8);
		r->p += 8;
		return 0;
	case 5: {
		if (r->end - r->p < 4)
			return pb_fail(r, "truncated fixed32");
		uint32_t x;
		memcpy(&x, r->p, 4);
		f->v = x;
		r->p += 4;
		return 0;
	}
	case 2: {
		uint64_t n;
		SP_FORWARD(pb_varint(r, &n));
		if (n > (uint64_t)(r->end - r->p))
			return pb_fail(r, "length past the end of the data");
		f->sub = r->p;
		f->sub_n = (size_t)n;
		r->p += n;
		return 0;
	}
	default:
		return pb_fail(r, "unsupported wire type");
	}
}

static float pb_float(uint64_t v)
{
	uint32_t x = (uint32_t)v;
	float f;
	memcpy(&f, &x, 4);
	return f;
}

static void pb_str(char *dst, size_t cap, const pb_field *f)
{
	size_t n = f->sub_n < cap - 1 ? f->sub_n : cap - 1;
	memcpy(dst, f->sub, n);
	dst[n] = '\0';
}

static int parse_piece(pb *r, const uint8_t *p, size_t n, tok_model *m)
{
	pb s = { p, p + n, r->start, r->name, r->err };
	const uint8_t *str = NULL;
	size_t str_n = 0;
	float score = 0;
	int type = TOK_NORMAL;
	while (s.p < s.end) {
		pb_field f;
		SP_FORWARD(pb_next(&s, &f));
		if (f.num == 1 && f.wt == 2) {
			str = f.sub;
			str_n = f.sub_n;
		} else if (f.num == 2 && f.wt == 5) {
			score = pb_float(f.v);
		} else if (f.num == 3 && f.wt == 0) {
			if (f.v < 1 || f.v > 6)
				return pb_fail(&s, "unknown piece type");
			type = (int)f.v;
		}
	}
	if (!str)
		return pb_fail(&s, "piece without text");
	if (m->n >= TOK_MAX_VOCAB)
		return pb_fail(&s, "too many pieces");
	if (tok_model_add(m, (const char *)str, str_n, score, type) < 0)
		SP_RAISE(r->err, SP_ENOMEM, "out of memory");
	return 0;
}

static int parse_trainer(pb *r, const uint8_t *p, size_t n, tok_spec *t)
{
	pb s = { p, p + n, r->start, r->name, r->err };
	while (s.p < s.end) {
		pb_field f;
		SP_FORWARD(pb_next(&s, &f));
		if (f.wt == 0) {
			switch (f.num) {
			case 3: t->model_type = (int)f.v; break;
			case 4: t->spec_vocab_size = (int32_t)f.v; break;
			case 11: t->input_sentence_size = (int64_t)f.v; break;
			case 20: t->max_piece_len = (int32_t)f.v; break;
			case 21: t->split_by_unicode_script = f.v != 0; break;
			case 22: t->split_by_whitespace = f.v != 0; break;
			case 23: t->split_by_number = f.v != 0; break;
			case 24: t->treat_ws_suffix = f.v != 0; break;
			case 25: t->split_digits = f.v != 0; break;
			case 26: t->allow_ws_only = f.v != 0; break;
			case 35: t->byte_fallback = f.v != 0; break;
			default: break;
			}
		} else if (f.wt == 5 && f.num == 10) {
			t->character_coverage = pb_float(f.v);
		} else if (f.wt == 2) {
			switch (f.num) {
			case 45: pb_str(t->unk_piece, sizeof t->unk_piece, &f); break;
			case 46: pb_str(t->bos_piece, sizeof t->bos_piece, &f); break;
			case 47: pb_str(t->eos_piece, sizeof t->eos_piece, &f); break;
			case 48: pb_str(t->pad_piece, sizeof t->pad_piece, &f); break;
			case 44: pb_str(t->unk_surface, sizeof t->unk_surface, &f); break;
			default: break;
			}
		}
	}
	return 0;
}

static int parse_normalizer(pb *r, const uint8_t *p, size_t n, tok_model *m)
{
	pb s = { p, p + n, r->start, r->name, r->err };
	tok_spec *t = &m->spec;
	while (s.p < s.end) {
		pb_field f;
		SP_FORWARD(pb_next(&s, &f));
		if (f.wt == 0) {
			if (f.num == 3)
				t->add_dummy_prefix = f.v != 0;
			else if (f.num == 4)
				t->remove_extra_ws = f.v != 0;
			else if (f.num == 5)
				t->escape_ws = f.v != 0;
		} else if (f.wt == 2) {
			if (f.num == 1) {
				pb_str(t->norm_name, sizeof t->norm_name, &f);
			} else if (f.num == 2 && f.sub_n > 0) {
				/* precompiled_charsmap: u32 trie size, darts-clone units, normalized strings */
				if (f.sub_n < 4)
					return pb_fail(&s, "precompiled_charsmap shorter than 4 bytes");
				uint32_t tsz;
				memcpy(&tsz, f.sub, 4);
				if (tsz > f.sub_n - 4 || tsz % 4 != 0 || tsz == 0)
					return pb_fail(&s, "precompiled_charsmap trie size out of range");
				sp_free(m->charsmap);
				m->charsmap = sp_malloc(f.sub_n + 1);
				if (!m->charsmap)
					SP_RAISE(r->err, SP_ENOMEM, "out of memory");
				memcpy(m->charsmap, f.sub, f.sub_n);
				m->charsmap[f.sub_n] = 0;
				m->charsmap_len = f.sub_n;
				m->trie = (const uint32_t *)(void *)(m->charsmap + 4);
				m->n_trie = tsz / 4;
				m->norm = (const char *)m->charsmap + 4 + tsz;
				m->n_norm = f.sub_n - 4 - tsz;
			}
		}
	}
	return 0;
}

int tok_load_sp(tok_model **out, const uint8_t *p, size_t n, const char *name, sp_err *err)
{
	*out = NULL;
	tok_model *m = tok_model_new();
	if (!m)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	pb r = { p, p + n, p, name, err };
	int rc = 0, saw_trainer = 0;
	while (rc == 0 && r.p < r.end) {
		pb_field f;
		if ((rc = pb_next(&r, &f)) < 0)
			break;
		if (f.wt != 2)
			continue;
		if (f.num == 1)
			rc = parse_piece(&r, f.sub, f.sub_n, m);
		else if (f.num == 2) {
			rc = parse_trainer(&r, f.sub, f.sub_n, &m->spec);
			saw_trainer = 1;
		} else if (f.num == 3)
			rc = parse_normalizer(&r, f.sub, f.sub_n, m);
	}
	if (rc == 0 && m->n == 0)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: not a SentencePiece model: no pieces", name);
	if (rc == 0 && saw_trainer && m->spec.model_type != 2)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__,
		                 "%s: model type %d is not BPE (only SentencePiece BPE models are supported)", name,
		                 m->spec.model_type);
	if (rc == 0 && m->trie) {
		/* the root unit must be inside the array (lookups check every further step) */
		if (m->n_trie < 1)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: empty normalization trie", name);
	}
	if (rc == 0)
		rc = tok_model_finish(m, name, err);
	if (rc < 0) {
		tok_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int tok_model_load(tok_model **out, const char *path, sp_err *err)
{
	sp_buf b = SP_BUF_INIT;
	*out = NULL;
	int rc = sp_read_file(path, &b, err);
	if (rc < 0) {
		sp_buf_release(&b);
		return rc;
	}
	size_t i = 0;
	while (i < b.len && (b.p[i] == ' ' || b.p[i] == '\t' || b.p[i] == '\n' || b.p[i] == '\r'))
		i++;
	if (b.len == 0)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: empty tokenizer file", path);
	else if (i < b.len && b.p[i] == '{')
		rc = tok_load_json(out, b.p, b.len, path, err);
	else
		rc = tok_load_sp(out, (const uint8_t *)b.p, b.len, path, err);
	sp_buf_release(&b);
	return rc;
}

/* ------------------------------------------------------------------ accessors */

uint32_t tok_vocab_size(const tok_model *m) { return m->n; }
int32_t tok_unk_id(const tok_model *m) { return m->unk; }
int32_t tok_bos_id(const tok_model *m) { return m->bos; }
int32_t tok_eos_id(const tok_model *m) { return m->eos; }
int32_t tok_pad_id(const tok_model *m) { return m->pad; }

const char *tok_piece(const tok_model *m, uint32_t id, size_t *len)
{
	if (id >= m->n)
		return NULL;
	if (len)
		*len = m->len[id];
	return tok_sym_str(m, id);
}

uint64_t tok_identity(const tok_model *m)
{
	sp_xxh64_state *s = sp_xxh64_new(0);
	if (!s)
		return 0;
	for (uint32_t i = 0; i < m->n; i++)
		sp_xxh64_update(s, tok_sym_str(m, i), (size_t)m->len[i] + 1); /* piece and its NUL */
	uint32_t tail[5] = { m->n, (uint32_t)m->unk, (uint32_t)m->bos, (uint32_t)m->eos, (uint32_t)m->pad };
	uint8_t le[20];
	for (int k = 0; k < 5; k++)
		for (int j = 0; j < 4; j++)
			le[k * 4 + j] = (uint8_t)(tail[k] >> (8 * j));
	sp_xxh64_update(s, le, sizeof le);
	uint64_t h = sp_xxh64_digest(s);
	sp_xxh64_free(s);
	return h;
}
