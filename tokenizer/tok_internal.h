/* tok_internal.h - the tokenizer's model representation, shared by the loader (tok_model.c), the
 * encoder (tok_encode.c), the writers (tok_write.c) and the trainer (tok_train.c). Not public:
 * pack and train use tok.h only.
 *
 * Symbols: ids 0..n-1 are the vocabulary; ids n..n_sym-1 are "virtual" symbols (characters that
 * occur inside pieces of a SentencePiece model without being pieces themselves; SentencePiece can
 * still merge them, so the merge table must know them). TOK_SYM_NONE is a character that is in no
 * piece at all: it never merges and ends up as byte pieces or unk. */
#ifndef SPINDLE_TOK_INTERNAL_H
#define SPINDLE_TOK_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include "tok.h"

#define TOK_SYM_NONE 0xFFFFFFFFu
#define TOK_MAX_VOCAB (1u << 24)

/* SentencePiece piece types (sentencepiece_model.proto). */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5, TOK_BYTE = 6,
       TOK_VIRTUAL = 100 };

/* Open-addressing map from a piece string to its id (strings live in the model's blob). */
typedef struct tok_strmap { uint32_t *slot; size_t mask; } tok_strmap;

/* Open-addressing map (left id, right id) -> (merged id, priority): the BPE merge rules. A higher
 * priority merges first; ties go to the leftmost pair. */
typedef struct tok_pair { uint64_t key; uint32_t result; float score; } tok_pair;
typedef struct tok_pairmap { tok_pair *slot; size_t mask, n; } tok_pairmap;

typedef struct tok_spec {
	/* normalizer_spec */
	char norm_name[64];
	int add_dummy_prefix, remove_extra_ws, escape_ws;
	/* trainer_spec (what info shows and the writer keeps) */
	int model_type;           /* 1 unigram, 2 BPE, 3 word, 4 char */
	int byte_fallback, split_digits, treat_ws_suffix, allow_ws_only, split_by_whitespace;
	int split_by_unicode_script, split_by_number, max_piece_len;
	double character_coverage;
	int64_t spec_vocab_size, input_sentence_size;
	char unk_piece[64], bos_piece[64], eos_piece[64], pad_piece[64], unk_surface[64];
} tok_spec;

struct tok_model {
	uint32_t n;               /* vocabulary size */
	uint32_t n_sym;           /* n + virtual symbols */
	sp_buf blob;              /* piece strings, each NUL-terminated */
	uint32_t *off, *len;      /* per symbol: offset into blob, length */
	size_t cap_sym;
	float *score;             /* per piece */
	uint8_t *type;            /* per symbol */
	int32_t unk, bos, eos, pad;
	int32_t byte_id[256];     /* id of <0xXX>, -1 if absent */
	tok_strmap map;           /* mergeable strings (normal, user-defined, unused, virtual) -> id */
	uint32_t *bmp;            /* code point < 0x10000 -> symbol id (TOK_SYM_NONE) */
	tok_pairmap pairs;
	uint32_t *user;           /* user-defined piece ids, longest first */
	size_t n_user;
	uint8_t user_first[256];  /* 1 if some user-defined piece starts with this byte */
	/* precompiled_charsmap (darts-clone double array + normalized strings) */
	uint8_t *charsmap; size_t charsmap_len;
	const uint32_t *trie; size_t n_trie;
	const char *norm; size_t n_norm;
	int from_json;            /* loaded from tokenizer.json (merges define the pairs) */
	int hf_split_ws;          /* Metaspace pre-tokenizer with split: every U+2581 starts a word */
	int can_chunk;            /* no piece spans "x▁" (x not ▁): text may be cut before such ▁ */
	int fast_norm;            /* identity normalizer, dummy prefix, escape, nothing else */
	int has_unused;
	uint64_t serial;          /* unique per loaded model (keys the per-thread cache) */
	tok_spec spec;
};

/* Builds the derived tables (string map, bmp, user list, byte ids, specials) after pieces, scores
 * and types are set, and the SentencePiece pair table unless from_json. name is for messages. */
int tok_model_finish(tok_model *m, const char *name, sp_err *err);
/* A blank model (spec defaults); pieces are appended in id order with tok_model_add. */
tok_model *tok_model_new(void);
int tok_model_add(tok_model *m, const char *s, size_t n, float score, int type);
/* Value of two hex digits at s, or -1. */
static inline int tok_hex2(const char *s)
{
	int v = 0;
	for (int i = 0; i < 2; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}
static inline const char *tok_sym_str(const tok_model *m, uint32_t id) { return m->blob.p + m->off[id]; }
uint32_t tok_map_get(const tok_model *m, const char *s, size_t n);
int tok_pairs_add(tok_model *m, uint32_t a, uint32_t b, uint32_t result, float score, int overwrite);
/* The pair map's probe start, and its lookup (inline: the merge loops call it for every pair). */
static inline size_t tok_pair_slot(uint64_t key, size_t mask)
{
	key ^= key >> 29;
	key *= 0xBF58476D1CE4E5B9ull;
	key ^= key >> 32;
	return (size_t)key & mask;
}
static inline const tok_pair *tok_pairs_get(const tok_model *m, uint32_t a, uint32_t b)
{
	uint64_t key = (uint64_t)a << 32 | b;
	size_t j = tok_pair_slot(key, m->pairs.mask);
	for (;;) {
		const tok_pair *p = &m->pairs.slot[j];
		if (p->key == key)
			return p;
		if (p->key == UINT64_MAX)
			return NULL;
		j = (j + 1) & m->pairs.mask;
	}
}
void tok_spec_defaults(tok_spec *s);

/* Loaders (tok_model.c, tok_json.c). */
int tok_load_sp(tok_model **out, const uint8_t *p, size_t n, const char *name, sp_err *err);
int tok_load_json(tok_model **out, const char *p, size_t n, const char *name, sp_err *err);

/* Writers (tok_write.c): SentencePiece ModelProto and HuggingFace tokenizer.json. */
int tok_write_sp(const tok_model *m, sp_buf *out, sp_err *err);
int tok_write_json(const tok_model *m, sp_buf *out, sp_err *err);

/* Normalization as SentencePiece does it (with the model's flags); appends to out. */
int tok_normalize(const tok_model *m, const char *text, size_t n, sp_buf *out);

#endif
