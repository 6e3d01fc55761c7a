/* tok_write.c - writes a model as a SentencePiece ModelProto (.model, loadable by Debian's
 * sentencepiece) or a HuggingFace tokenizer.json (Llama's pipeline: Prepend + Replace normalizer,
 * BPE with byte_fallback, merges ordered by the merged piece's score). Used by `tok convert` and
 * `tok train`. */
#include <string.h>
#include <stdlib.h>
#include "tok_internal.h"
#include "spindle/mem.h"

static int put_varint(sp_buf *b, uint64_t v)
{
	char t[10];
	size_t n = 0;
	do {
		t[n++] = (char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return sp_buf_append(b, t, n);
}

static int put_key(sp_buf *b, uint32_t num, int wt) { return put_varint(b, (uint64_t)num << 3 | (uint64_t)wt); }

static int put_bytes(sp_buf *b, uint32_t num, const void *p, size_t n)
{
	SP_FORWARD(put_key(b, num, 2));
	SP_FORWARD(put_varint(b, n));
	return sp_buf_append(b, p, n);
}

static int put_str(sp_buf *b, uint32_t num, const char *s) { return put_bytes(b, num, s, strlen(s)); }

static int put_int(sp_buf *b, uint32_t num, int64_t v)
{
	SP_FORWARD(put_key(b, num, 0));
	return put_varint(b, (uint64_t)v); /* negative int32 as 10-byte varint, as protobuf does */
}

static int put_float(sp_buf *b, uint32_t num, float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	char t[4] = { (char)x, (char)(x >> 8), (char)(x >> 16), (char)(x >> 24) };
	SP_FORWARD(put_key(b, num, 5));
	return sp_buf_append(b, t, 4);
}

static int put_msg(sp_buf *b, uint32_t num, const sp_buf *sub)
{
	return put_bytes(b, num, sub->p ? sub->p : "", sub->len);
}

int tok_write_sp(const tok_model *m, sp_buf *out, sp_err *err)
{
	sp_buf sub = SP_BUF_INIT;
	const tok_spec *s = &m->spec;
	int rc = 0;
	for (uint32_t i = 0; i < m->n && rc == 0; i++) {
		sp_buf_reset(&sub);
		rc = put_bytes(&sub, 1, tok_sym_str(m, i), m->len[i]);
		rc = rc ? rc : put_float(&sub, 2, m->score[i]);
		if (rc == 0 && m->type[i] != TOK_NORMAL)
			rc = put_int(&sub, 3, m->type[i]);
		rc = rc ? rc : put_msg(out, 1, &sub);
	}
	/* trainer_spec: what spm_encode needs (model type, byte_fallback, specials) and how it was made */
	sp_buf_reset(&sub);
	rc = rc ? rc : put_int(&sub, 3, 2); /* BPE */
	rc = rc ? rc : put_int(&sub, 4, m->n);
	rc = rc ? rc : put_float(&sub, 10, (float)s->character_coverage);
	if (rc == 0 && s->input_sentence_size)
		rc = put_int(&sub, 11, s->input_sentence_size);
	rc = rc ? rc : put_int(&sub, 20, s->max_piece_len);
	rc = rc ? rc : put_int(&sub, 21, s->split_by_unicode_script);
	rc = rc ? rc : put_int(&sub, 22, s->split_by_whitespace);
	rc = rc ? rc : put_int(&sub, 23, s->split_by_number);
	rc = rc ? rc : put_int(&sub, 24, s->treat_ws_suffix);
	rc = rc ? rc : put_int(&sub, 25, s->split_digits);
	rc = rc ? rc : put_int(&sub, 26, s->allow_ws_only);
	rc = rc ? rc : put_int(&sub, 35, s->byte_fallback);
	rc = rc ? rc : put_int(&sub, 40, m->unk);
	rc = rc ? rc : put_int(&sub, 41, m->bos);
	rc = rc ? rc : put_int(&sub, 42, m->eos);
	rc = rc ? rc : put_int(&sub, 43, m->pad);
	rc = rc ? rc : put_str(&sub, 45, m->unk >= 0 ? tok_sym_str(m, (uint32_t)m->unk) : s->unk_piece);
	rc = rc ? rc : put_str(&sub, 46, s->bos_piece);
	rc = rc ? rc : put_str(&sub, 47, s->eos_piece);
	rc = rc ? rc : put_str(&sub, 48, s->pad_piece);
	rc = rc ? rc : put_str(&sub, 44, s->unk_surface);
	rc = rc ? rc : put_msg(out, 2, &sub);
	/* normalizer_spec */
	sp_buf_reset(&sub);
	rc = rc ? rc : put_str(&sub, 1, s->norm_name);
	if (rc == 0 && m->charsmap)
		rc = put_bytes(&sub, 2, m->charsmap, m->charsmap_len);
	rc = rc ? rc : put_int(&sub, 3, s->add_dummy_prefix);
	rc = rc ? rc : put_int(&sub, 4, s->remove_extra_ws);
	rc = rc ? rc : put_int(&sub, 5, s->escape_ws);
	rc = rc ? rc : put_msg(out, 3, &sub);
	sp_buf_release(&sub);
	if (rc < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

/* ------------------------------------------------------------------ tokenizer.json */

typedef struct merge { uint32_t a, b, r; float score; } merge;

static int cmp_merge(const void *x, const void *y)
{
	const merge *p = x, *q = y;
	if (p->score != q->score)
		return p->score > q->score ? -1 : 1;
	if (p->r != q->r)
		return p->r < q->r ? -1 : 1;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	return (p->b > q->b) - (p->b < q->b);
}

int tok_write_json(const tok_model *m, sp_buf *out, sp_err *err)
{
	const tok_spec *s = &m->spec;
	if (m->trie || s->remove_extra_ws || !s->escape_ws || m->n_sym != m->n)
		SP_RAISE(err, SP_EDATA, "this model cannot be written as tokenizer.json (its normalizer or pieces have no "
		         "HuggingFace BPE equivalent: charsmap, remove_extra_whitespaces or characters outside the vocabulary)");
	merge *ms = sp_malloc((m->pairs.n + 1) * sizeof *ms);
	if (!ms)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i <= m->pairs.mask; i++) {
		const tok_pair *p = &m->pairs.slot[i];
		if (p->key == UINT64_MAX)
			continue;
		ms[n].a = (uint32_t)(p->key >> 32);
		ms[n].b = (uint32_t)p->key;
		ms[n].r = p->result;
		ms[n].score = p->score;
		n++;
	}
	qsort(ms, n, sizeof *ms, cmp_merge);
	int rc = sp_buf_appends(out, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
	int first = 1;
	for (uint32_t i = 0; i < m->n && rc == 0; i++) {
		if (m->type[i] != TOK_CONTROL && m->type[i] != TOK_UNKNOWN && m->type[i] != TOK_USER)
			continue;
		rc = sp_buf_appendf(out, "%s\n    {\"id\": %u, \"content\": ", first ? "" : ",", i);
		rc = rc ? rc : sp_buf_append_json_str(out, tok_sym_str(m, i), m->len[i]);
		rc = rc ? rc : sp_buf_appendf(out, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
		                              "\"normalized\": false, \"special\": %s}", m->type[i] == TOK_USER ? "false" : "true");
		first = 0;
	}
	rc = rc ? rc : sp_buf_appends(out, "\n  ],\n  \"normalizer\": ");
	if (rc == 0 && s->add_dummy_prefix)
		rc = sp_buf_appends(out, "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"}, "
		                    "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}]}");
	else if (rc == 0)
		rc = sp_buf_appends(out, "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}");
	rc = rc ? rc : sp_buf_appends(out, ",\n  \"pre_tokenizer\": null,\n  \"post_processor\": null,\n  \"decoder\": "
	                              "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\\u2581\"}, "
	                              "\"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}");
	if (rc == 0 && s->add_dummy_prefix)
		rc = sp_buf_appends(out, ", {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}");
	rc = rc ? rc : sp_buf_appends(out, "]},\n  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": ");
	if (rc == 0 && m->unk >= 0)
		rc = sp_buf_append_json_str(out, tok_sym_str(m, (uint32_t)m->unk), m->len[m->unk]);
	else if (rc == 0)
		rc = sp_buf_appends(out, "null");
	rc = rc ? rc : sp_buf_appendf(out, ", \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, "
	                              "\"fuse_unk\": true, \"byte_fallback\": %s,\n    \"vocab\": {", s->byte_fallback ? "true" : "false");
	for (uint32_t i = 0; i < m->n && rc == 0; i++) {
		rc = sp_buf_appends(out, i ? ",\n      " : "\n      ");
		rc = rc ? rc : sp_buf_append_json_str(out, tok_sym_str(m, i), m->len[i]);
		rc = rc ? rc : sp_buf_appendf(out, ": %u", i);
	}
	rc = rc ? rc : sp_buf_appends(out, "\n    },\n    \"merges\": [");
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = sp_buf_appends(out, i ? ",\n      [" : "\n      [");
		rc = rc ? rc : sp_buf_append_json_str(out, tok_sym_str(m, ms[i].a), m->len[ms[i].a]);
		rc = rc ? rc : sp_buf_appends(out, ", ");
		rc = rc ? rc : sp_buf_append_json_str(out, tok_sym_str(m, ms[i].b), m->len[ms[i].b]);
		rc = rc ? rc : sp_buf_appends(out, "]");
	}
	rc = rc ? rc : sp_buf_appends(out, "\n    ]\n  }\n}\n");
	sp_free(ms);
	if (rc < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}
