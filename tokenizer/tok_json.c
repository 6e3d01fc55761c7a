/* tok_json.c - loads a HuggingFace tokenizer.json holding a SentencePiece-style BPE model (Llama 2,
 * Mistral): model BPE with vocab, merges, byte_fallback, unk; normalizer Prepend("▁") + Replace(" ",
 * "▁") or the older Metaspace pre-tokenizer. Anything else (other models, NFKC normalizers, regex
 * pre-tokenizers, continuing_subword_prefix) is refused with a message naming the setting. */
#include <string.h>
#include <json.h>
#include "tok_internal.h"
#include "spindle/mem.h"

#define WS_MARK "\xE2\x96\x81"

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int is_null(json_object *v) { return v == NULL || json_object_is_type(v, json_type_null); }

static int type_is(json_object *o, const char *t)
{
	const char *s = get_str(o, "type");
	return s && strcmp(s, t) == 0;
}

/* One normalizer step of the supported forms; sets flags. Returns 0 or SP_EDATA. */
static int normalizer_step(tok_model *m, json_object *n, const char *name, sp_err *err, int *prepend, int *replace)
{
	if (type_is(n, "Prepend")) {
		const char *s = get_str(n, "prepend");
		if (!s || strcmp(s, WS_MARK) != 0)
			SP_RAISE(err, SP_EDATA, "%s: unsupported Prepend normalizer (only \"\\u2581\")", name);
		*prepend = 1;
		return 0;
	}
	if (type_is(n, "Replace")) {
		const char *pat = get_str(get(n, "pattern"), "String"), *content = get_str(n, "content");
		if (!pat || !content || strcmp(pat, " ") != 0 || strcmp(content, WS_MARK) != 0)
			SP_RAISE(err, SP_EDATA, "%s: unsupported Replace normalizer (only \" \" -> \"\\u2581\")", name);
		*replace = 1;
		return 0;
	}
	const char *t = get_str(n, "type");
	(void)m;
	SP_RAISE(err, SP_EDATA, "%s: unsupported normalizer '%s'", name, t ? t : "?");
}

typedef struct jpiece { const char *s; size_t n; int type; } jpiece;

int tok_load_json(tok_model **out, const char *text, size_t n_text, const char *name, sp_err *err)
{
	*out = NULL;
	int rc = 0;
	tok_model *m = NULL;
	jpiece *pieces = NULL;
	json_tokener *tk = json_tokener_new_ex(64);
	if (!tk)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (n_text > INT32_MAX) {
		json_tokener_free(tk);
		SP_RAISE(err, SP_EDATA, "%s: tokenizer.json larger than 2 GiB", name);
	}
	json_object *root = json_tokener_parse_ex(tk, text, (int)n_text);
	enum json_tokener_error je = json_tokener_get_error(tk);
	if (!root || je != json_tokener_success) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: invalid JSON at byte %zu: %s", name,
		                 json_tokener_get_parse_end(tk), json_tokener_error_desc(je));
		goto end;
	}
	json_object *model = get(root, "model");
	if (!model || !json_object_is_type(model, json_type_object)) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: no \"model\" object", name);
		goto end;
	}
	const char *mtype = get_str(model, "type");
	if (mtype && strcmp(mtype, "BPE") != 0) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: model type '%s' is not BPE", name, mtype);
		goto end;
	}
	json_object *vocab = get(model, "vocab"), *merges = get(model, "merges");
	if (!vocab || !json_object_is_type(vocab, json_type_object) || !merges ||
	    !json_object_is_type(merges, json_type_array)) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: BPE model without \"vocab\" object and \"merges\" array", name);
		goto end;
	}
	if (!is_null(get(model, "continuing_subword_prefix")) && strcmp(get_str(model, "continuing_subword_prefix") ? get_str(model, "continuing_subword_prefix") : "x", "") != 0) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: unsupported continuing_subword_prefix", name);
		goto end;
	}
	if (!is_null(get(model, "end_of_word_suffix")) && strcmp(get_str(model, "end_of_word_suffix") ? get_str(model, "end_of_word_suffix") : "x", "") != 0) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: unsupported end_of_word_suffix", name);
		goto end;
	}
	json_object *ig = get(model, "ignore_merges");
	if (ig && json_object_get_boolean(ig)) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: unsupported ignore_merges", name);
		goto end;
	}
	json_object *drop = get(model, "dropout");
	if (!is_null(drop) && json_object_get_double(drop) > 0) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: BPE dropout is not supported", name);
		goto end;
	}

	/* vocabulary by id: the model's vocab and the added tokens */
	size_t n = 0;
	json_object_object_foreach(vocab, key0, val0) {
		(void)key0;
		if (!json_object_is_type(val0, json_type_int)) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: vocab id of '%.40s' is not an integer", name, key0);
			goto end;
		}
		int64_t id = json_object_get_int64(val0);
		if (id < 0 || id >= TOK_MAX_VOCAB) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: vocab id %lld of '%.40s' out of range", name, (long long)id, key0);
			goto end;
		}
		if ((size_t)id + 1 > n)
			n = (size_t)id + 1;
	}
	json_object *added = get(root, "added_tokens");
	size_t n_added = added && json_object_is_type(added, json_type_array) ? json_object_array_length(added) : 0;
	for (size_t i = 0; i < n_added; i++) {
		json_object *a = json_object_array_get_idx(added, i);
		json_object *idv = get(a, "id");
		if (!idv || !json_object_is_type(idv, json_type_int) || !get_str(a, "content")) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: added token %zu without id or content", name, i);
			goto end;
		}
		int64_t id = json_object_get_int64(idv);
		if (id < 0 || id >= TOK_MAX_VOCAB) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: added token id %lld out of range", name, (long long)id);
			goto end;
		}
		if ((size_t)id + 1 > n)
			n = (size_t)id + 1;
	}
	if (n == 0) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: empty vocabulary", name);
		goto end;
	}
	pieces = sp_calloc(n, sizeof *pieces);
	if (!pieces) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	int byte_fallback = 0;
	json_object *bf = get(model, "byte_fallback");
	if (bf)
		byte_fallback = json_object_get_boolean(bf);
	const char *unk_token = get_str(model, "unk_token");
	json_object_object_foreach(vocab, key, val) {
		size_t id = (size_t)json_object_get_int64(val);
		if (pieces[id].s) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: vocab id %zu given twice", name, id);
			goto end;
		}
		pieces[id].s = key;
		pieces[id].n = strlen(key);
		pieces[id].type = TOK_NORMAL;
		if (byte_fallback && pieces[id].n == 6 && memcmp(key, "<0x", 3) == 0 && key[5] == '>')
			pieces[id].type = TOK_BYTE;
	}
	for (size_t i = 0; i < n_added; i++) {
		json_object *a = json_object_array_get_idx(added, i);
		size_t id = (size_t)json_object_get_int64(get(a, "id"));
		json_object *sp = get(a, "special");
		int special = sp ? json_object_get_boolean(sp) : 0;
		json_object *cv = get(a, "content");
		const char *c = json_object_get_string(cv);
		size_t cn = (size_t)json_object_get_string_len(cv);
		if (pieces[id].s && (pieces[id].n != cn || memcmp(pieces[id].s, c, cn) != 0)) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: added token %zu differs from vocab entry %zu", name, i, id);
			goto end;
		}
		if (!pieces[id].s || pieces[id].type == TOK_NORMAL)
			pieces[id].type = special ? TOK_CONTROL : TOK_USER;
		pieces[id].s = c;
		pieces[id].n = cn;
	}
	m = tok_model_new();
	if (!m) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto end;
	}
	m->from_json = 1;
	m->spec.byte_fallback = byte_fallback;
	m->spec.remove_extra_ws = 0;
	m->spec.add_dummy_prefix = 0;
	m->spec.escape_ws = 0;
	m->spec.split_by_unicode_script = 0; /* unknown for a converted model; shown as such */
	if (unk_token) {
		size_t l = strlen(unk_token);
		if (l >= sizeof m->spec.unk_piece)
			l = sizeof m->spec.unk_piece - 1;
		memcpy(m->spec.unk_piece, unk_token, l);
		m->spec.unk_piece[l] = 0;
	} else {
		m->spec.unk_piece[0] = 0;
	}
	for (size_t id = 0; id < n; id++) {
		if (!pieces[id].s) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: no token has id %zu (ids must be dense)", name, id);
			goto end;
		}
		int type = pieces[id].type;
		if (unk_token && strcmp(pieces[id].s, unk_token) == 0)
			type = TOK_UNKNOWN;
		else if (strcmp(pieces[id].s, m->spec.bos_piece) == 0 || strcmp(pieces[id].s, m->spec.eos_piece) == 0 ||
		         strcmp(pieces[id].s, m->spec.pad_piece) == 0)
			type = TOK_CONTROL;
		if (tok_model_add(m, pieces[id].s, pieces[id].n, 0, type) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			goto end;
		}
	}

	/* normalizer and pre-tokenizer: the two Llama forms */
	json_object *norm = get(root, "normalizer"), *pre = get(root, "pre_tokenizer");
	int prepend = 0, replace = 0;
	if (!is_null(norm)) {
		if (type_is(norm, "Sequence")) {
			json_object *list = get(norm, "normalizers");
			size_t k = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
			for (size_t i = 0; i < k && rc == 0; i++)
				rc = normalizer_step(m, json_object_array_get_idx(list, i), name, err, &prepend, &replace);
		} else {
			rc = normalizer_step(m, norm, name, err, &prepend, &replace);
		}
		if (rc < 0)
			goto end;
	}
	if (!is_null(pre)) {
		if (!type_is(pre, "Metaspace")) {
			const char *t = get_str(pre, "type");
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: unsupported pre_tokenizer '%s'", name, t ? t : "?");
			goto end;
		}
		const char *rep = get_str(pre, "replacement");
		if (rep && strcmp(rep, WS_MARK) != 0) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: unsupported Metaspace replacement", name);
			goto end;
		}
		replace = 1;
		const char *scheme = get_str(pre, "prepend_scheme");
		json_object *aps = get(pre, "add_prefix_space");
		if (scheme)
			prepend = strcmp(scheme, "never") != 0;
		else
			prepend = aps ? json_object_get_boolean(aps) : 1;
		json_object *split = get(pre, "split");
		m->hf_split_ws = split ? json_object_get_boolean(split) : 1;
	}
	if (prepend && !replace) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: unsupported normalizer: Prepend without Replace", name);
		goto end;
	}
	m->spec.add_dummy_prefix = prepend;
	m->spec.escape_ws = replace;
	if ((rc = tok_model_finish(m, name, err)) < 0)
		goto end;

	/* merges: rank r gets priority -r; a later duplicate replaces an earlier one (as HF does) */
	size_t n_merges = json_object_array_length(merges);
	for (size_t r = 0; r < n_merges; r++) {
		json_object *e = json_object_array_get_idx(merges, r);
		const char *a, *b;
		size_t an, bn;
		if (json_object_is_type(e, json_type_string)) {
			a = json_object_get_string(e);
			const char *sp = strchr(a, ' ');
			if (!sp || strchr(sp + 1, ' ')) {
				rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: merge %zu is not two tokens separated by a space", name, r);
				goto end;
			}
			an = (size_t)(sp - a);
			b = sp + 1;
			bn = strlen(b);
		} else if (json_object_is_type(e, json_type_array) && json_object_array_length(e) == 2 &&
		           json_object_is_type(json_object_array_get_idx(e, 0), json_type_string) &&
		           json_object_is_type(json_object_array_get_idx(e, 1), json_type_string)) {
			a = json_object_get_string(json_object_array_get_idx(e, 0));
			an = (size_t)json_object_get_string_len(json_object_array_get_idx(e, 0));
			b = json_object_get_string(json_object_array_get_idx(e, 1));
			bn = (size_t)json_object_get_string_len(json_object_array_get_idx(e, 1));
		} else {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: merge %zu is neither \"a b\" nor [a, b]", name, r);
			goto end;
		}
		uint32_t ia = tok_map_get(m, a, an), ib = tok_map_get(m, b, bn);
		if (ia == TOK_SYM_NONE || ib == TOK_SYM_NONE || an + bn > 4096) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: merge %zu names a token not in the vocabulary", name, r);
			goto end;
		}
		char cat[4096];
		memcpy(cat, a, an);
		memcpy(cat + an, b, bn);
		uint32_t ir = tok_map_get(m, cat, an + bn);
		if (ir == TOK_SYM_NONE) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: merge %zu makes a token not in the vocabulary", name, r);
			goto end;
		}
		float pri = -(float)r - 1; /* 0 stays "made by no merge" */
		if (tok_pairs_add(m, ia, ib, ir, pri, 1) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			goto end;
		}
		if (m->score[ir] == 0 || m->score[ir] < pri)
			m->score[ir] = pri;
	}
	/* pieces no merge makes: below every merged piece, in id order (for a .model made from this) */
	for (uint32_t i = 0; i < m->n; i++)
		if (m->score[i] == 0 && (m->type[i] == TOK_NORMAL || m->type[i] == TOK_USER))
			m->score[i] = -(float)n_merges - 1 - (float)i;
end:
	if (rc < 0) {
		tok_model_free(m);
		m = NULL;
	}
	*out = m;
	sp_free(pieces);
	json_object_put(root);
	json_tokener_free(tk);
	return rc;
}
