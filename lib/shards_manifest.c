/* shards_manifest.c - the dataset manifest (manifest.json, schemas/shards.manifest.schema.json):
 * written by `spindle pack` and `spindle shards merge`, read by the reader and `spindle shards`.
 * It is the mark of a complete dataset: pack writes it last, atomically. 64-bit hashes are written as
 * 16 hex digits (JSON numbers lose precision above 2^53). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <json.h>
#include "spindle/shards_fmt.h"
#include "spindle/io.h"
#include "spindle/mem.h"

void sp_manifest_release(sp_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_shards; i++)
		sp_free(m->shards[i].file);
	sp_free(m->shards);
	sp_free(m->tokenizer_model);
	sp_free(m->tail);
	sp_free(m->options);
	memset(m, 0, sizeof *m);
}

int sp_manifest_add_shard(sp_manifest *m, const sp_manifest_shard *s)
{
	if (m->n_shards == m->cap_shards) {
		size_t c = m->cap_shards ? m->cap_shards * 2 : 16;
		sp_manifest_shard *n = sp_realloc(m->shards, c * sizeof *n);
		if (!n)
			return SP_ENOMEM;
		m->shards = n;
		m->cap_shards = c;
	}
	sp_manifest_shard *d = &m->shards[m->n_shards];
	*d = *s;
	d->file = sp_strdup(s->file);
	if (!d->file)
		return SP_ENOMEM;
	m->n_shards++;
	return 0;
}

static int append_str_or_null(sp_buf *b, const char *s)
{
	return s ? sp_buf_append_json_str(b, s, strlen(s)) : sp_buf_appends(b, "null");
}

int sp_manifest_json(const sp_manifest *m, sp_buf *b)
{
	int rc = sp_buf_appendf(b,
		"{\n  \"format\": \"spindle-shards\",\n  \"version\": %u,\n  \"seq_len\": %u,\n  \"token_bytes\": %u,\n"
		"  \"tokenizer\": {\"id\": \"%016" PRIx64 "\", \"vocab_size\": %u, \"bos_id\": %d, \"eos_id\": %d, \"pad_id\": %d, \"model\": ",
		m->version ? m->version : 1, m->seq_len, m->token_bytes, m->tokenizer_id, m->vocab_size,
		m->bos_id, m->eos_id, m->pad_id);
	rc = rc ? rc : append_str_or_null(b, m->tokenizer_model);
	rc = rc ? rc : sp_buf_appendf(b, "},\n  \"pad_fill\": %u,\n  \"add_bos\": %s,\n  \"add_eos\": %s,\n  \"tail\": ",
	                              m->pad_fill, m->add_bos ? "true" : "false", m->add_eos ? "true" : "false");
	rc = rc ? rc : append_str_or_null(b, m->tail ? m->tail : "pad");
	if (m->doc_shuffle)
		rc = rc ? rc : sp_buf_appendf(b, ",\n  \"doc_shuffle\": {\"seed\": %" PRIu64 ", \"buffer_tokens\": %" PRIu64 ", \"buckets\": %" PRIu64 "}",
		                              m->doc_shuffle_seed, m->doc_shuffle_buffer, m->doc_shuffle_buckets);
	else
		rc = rc ? rc : sp_buf_appends(b, ",\n  \"doc_shuffle\": null");
	if (m->has_order_seed)
		rc = rc ? rc : sp_buf_appendf(b, ",\n  \"order_seed\": %" PRIu64, m->order_seed);
	else
		rc = rc ? rc : sp_buf_appends(b, ",\n  \"order_seed\": null");
	rc = rc ? rc : sp_buf_appendf(b,
		",\n  \"n_sequences\": %" PRIu64 ",\n  \"n_tokens\": %" PRIu64 ",\n  \"n_padding\": %" PRIu64
		",\n  \"n_documents\": %" PRIu64 ",\n  \"n_dropped_tokens\": %" PRIu64 ",\n  \"doc_length_histogram\": [",
		m->n_sequences, m->n_tokens, m->n_padding, m->n_documents, m->n_dropped_tokens);
	for (int i = 0; i < SP_HIST_BUCKETS; i++)
		rc = rc ? rc : sp_buf_appendf(b, "%s%" PRIu64, i ? ", " : "", m->hist[i]);
	rc = rc ? rc : sp_buf_appends(b, "],\n  \"options\": ");
	rc = rc ? rc : append_str_or_null(b, m->options);
	rc = rc ? rc : sp_buf_appends(b, ",\n  \"shards\": [");
	for (size_t i = 0; i < m->n_shards; i++) {
		const sp_manifest_shard *s = &m->shards[i];
		rc = rc ? rc : sp_buf_appends(b, i ? ",\n    {\"file\": " : "\n    {\"file\": ");
		rc = rc ? rc : sp_buf_append_json_str(b, s->file, strlen(s->file));
		rc = rc ? rc : sp_buf_appendf(b,
			", \"n_sequences\": %" PRIu64 ", \"n_tokens\": %" PRIu64 ", \"n_padding\": %" PRIu64
			", \"n_documents\": %" PRIu64 ", \"doc_base\": %" PRIu64 ", \"compression\": \"%s\", \"bytes\": %" PRIu64
			", \"xxh64\": \"%016" PRIx64 "\"}",
			s->n_sequences, s->n_tokens, s->n_padding, s->n_documents, s->doc_base, s->zstd ? "zstd" : "none",
			s->bytes, s->xxh64);
	}
	rc = rc ? rc : sp_buf_appends(b, m->n_shards ? "\n  ]\n}\n" : "]\n}\n");
	return rc;
}

/* ---------------------------------------------------------------- parsing */

typedef struct jp { const char *name; sp_err *err; int rc; } jp;

static json_object *need(jp *j, json_object *o, const char *key, json_type t)
{
	json_object *v = NULL;
	if (j->rc)
		return NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t)) {
		sp_err_set_(j->err, SP_EDATA, __FILE__, __LINE__, "manifest field '%s' is missing or has the wrong type", key);
		sp_err_locate(j->err, j->name, 0);
		j->rc = SP_EDATA;
		return NULL;
	}
	return v;
}

static uint64_t get_u64(jp *j, json_object *o, const char *key)
{
	json_object *v = need(j, o, key, json_type_int);
	if (!v)
		return 0;
	int64_t x = json_object_get_int64(v);
	if (x < 0) {
		sp_err_set_(j->err, SP_EDATA, __FILE__, __LINE__, "manifest field '%s' is negative", key);
		sp_err_locate(j->err, j->name, 0);
		j->rc = SP_EDATA;
		return 0;
	}
	return (uint64_t)x;
}

static int32_t get_id(jp *j, json_object *o, const char *key)
{
	json_object *v = need(j, o, key, json_type_int);
	int64_t x = v ? json_object_get_int64(v) : -1;
	return x < 0 || x > INT32_MAX ? -1 : (int32_t)x;
}

static uint64_t get_hex(jp *j, json_object *o, const char *key)
{
	json_object *v = need(j, o, key, json_type_string);
	if (!v)
		return 0;
	const char *s = json_object_get_string(v);
	char *end;
	uint64_t x = strtoull(s, &end, 16);
	if (strlen(s) != 16 || *end) {
		sp_err_set_(j->err, SP_EDATA, __FILE__, __LINE__, "manifest field '%s' is not 16 hex digits", key);
		sp_err_locate(j->err, j->name, 0);
		j->rc = SP_EDATA;
	}
	return x;
}

static char *get_str_opt(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return sp_strdup(json_object_get_string(v));
}

static int bad(jp *j, const char *msg)
{
	sp_err_set_(j->err, SP_EDATA, __FILE__, __LINE__, "%s", msg);
	sp_err_locate(j->err, j->name, 0);
	return j->rc = SP_EDATA;
}

int sp_manifest_parse(const char *text, size_t n, const char *name, sp_manifest *m, sp_err *err)
{
	jp j = { name, err, 0 };
	memset(m, 0, sizeof *m);
	json_tokener *tk = json_tokener_new();
	if (!tk)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	json_object *root = json_tokener_parse_ex(tk, text, (int)n);
	int ok = root && json_tokener_get_error(tk) == json_tokener_success;
	json_tokener_free(tk);
	if (!ok || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return bad(&j, "manifest is not a JSON object");
	}
	json_object *fmt = need(&j, root, "format", json_type_string);
	if (fmt && strcmp(json_object_get_string(fmt), "spindle-shards"))
		bad(&j, "manifest format is not spindle-shards");
	m->version = (uint32_t)get_u64(&j, root, "version");
	if (!j.rc && m->version != 1)
		bad(&j, "unsupported manifest version");
	m->seq_len = (uint32_t)get_u64(&j, root, "seq_len");
	m->token_bytes = (uint32_t)get_u64(&j, root, "token_bytes");
	json_object *tok = need(&j, root, "tokenizer", json_type_object);
	if (tok) {
		m->tokenizer_id = get_hex(&j, tok, "id");
		m->vocab_size = (uint32_t)get_u64(&j, tok, "vocab_size");
		m->bos_id = get_id(&j, tok, "bos_id");
		m->eos_id = get_id(&j, tok, "eos_id");
		m->pad_id = get_id(&j, tok, "pad_id");
		m->tokenizer_model = get_str_opt(tok, "model");
	}
	m->pad_fill = (uint32_t)get_u64(&j, root, "pad_fill");
	json_object *v = NULL;
	m->add_bos = json_object_object_get_ex(root, "add_bos", &v) && json_object_get_boolean(v);
	m->add_eos = json_object_object_get_ex(root, "add_eos", &v) && json_object_get_boolean(v);
	m->tail = get_str_opt(root, "tail");
	m->options = get_str_opt(root, "options");
	if (json_object_object_get_ex(root, "doc_shuffle", &v) && json_object_is_type(v, json_type_object)) {
		m->doc_shuffle = 1;
		m->doc_shuffle_seed = get_u64(&j, v, "seed");
		m->doc_shuffle_buffer = get_u64(&j, v, "buffer_tokens");
		json_object *bk = NULL;
		if (json_object_object_get_ex(v, "buckets", &bk) && json_object_is_type(bk, json_type_int))
			m->doc_shuffle_buckets = (uint64_t)json_object_get_int64(bk);
	}
	if (json_object_object_get_ex(root, "order_seed", &v) && json_object_is_type(v, json_type_int)) {
		m->has_order_seed = 1;
		m->order_seed = (uint64_t)json_object_get_int64(v);
	}
	m->n_sequences = get_u64(&j, root, "n_sequences");
	m->n_tokens = get_u64(&j, root, "n_tokens");
	m->n_padding = get_u64(&j, root, "n_padding");
	m->n_documents = get_u64(&j, root, "n_documents");
	m->n_dropped_tokens = get_u64(&j, root, "n_dropped_tokens");
	json_object *h = need(&j, root, "doc_length_histogram", json_type_array);
	if (h) {
		size_t nh = json_object_array_length(h);
		for (size_t i = 0; i < nh && i < SP_HIST_BUCKETS; i++)
			m->hist[i] = (uint64_t)json_object_get_int64(json_object_array_get_idx(h, i));
	}
	if (!j.rc && (m->seq_len == 0 || (m->token_bytes != 2 && m->token_bytes != 4) || m->vocab_size == 0 ||
	              (m->token_bytes == 2 && m->vocab_size > 65536)))
		bad(&j, "manifest has a bad seq_len, token_bytes or vocab_size");
	json_object *arr = need(&j, root, "shards", json_type_array);
	uint64_t sum_seq = 0, sum_tok = 0, sum_pad = 0, sum_docs = 0;
	for (size_t i = 0; arr && !j.rc && i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(o, json_type_object)) {
			bad(&j, "manifest shard entry is not an object");
			break;
		}
		sp_manifest_shard s;
		memset(&s, 0, sizeof s);
		json_object *f = need(&j, o, "file", json_type_string);
		s.n_sequences = get_u64(&j, o, "n_sequences");
		s.n_tokens = get_u64(&j, o, "n_tokens");
		s.n_padding = get_u64(&j, o, "n_padding");
		s.n_documents = get_u64(&j, o, "n_documents");
		s.doc_base = get_u64(&j, o, "doc_base");
		s.bytes = get_u64(&j, o, "bytes");
		s.xxh64 = get_hex(&j, o, "xxh64");
		json_object *c = need(&j, o, "compression", json_type_string);
		s.zstd = c && !strcmp(json_object_get_string(c), "zstd");
		if (j.rc)
			break;
		const char *fn = json_object_get_string(f);
		if (!*fn || strchr(fn, '/') || fn[0] == '.') {
			bad(&j, "manifest shard file name must be a plain name inside the dataset folder");
			break;
		}
		s.file = (char *)fn;
		if (sp_manifest_add_shard(m, &s) < 0) {
			j.rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			break;
		}
		sum_seq += s.n_sequences;
		sum_tok += s.n_tokens;
		sum_pad += s.n_padding;
		sum_docs += s.n_documents;
	}
	if (!j.rc && (sum_seq != m->n_sequences || sum_tok != m->n_tokens || sum_pad != m->n_padding ||
	              sum_docs != m->n_documents || m->n_tokens + m->n_padding != m->n_sequences * m->seq_len))
		bad(&j, "manifest totals do not add up over its shards");
	json_object_put(root);
	if (j.rc)
		sp_manifest_release(m);
	return j.rc;
}

int sp_manifest_load(const char *dir, sp_manifest *m, sp_err *err)
{
	sp_buf path = SP_BUF_INIT, text = SP_BUF_INIT;
	int rc = sp_buf_appendf(&path, "%s/%s", dir, SP_MANIFEST_NAME);
	if (rc < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	rc = sp_read_file(path.p, &text, err);
	if (rc == SP_EIO && err && err->sys_errno == 2) {
		sp_err_set_(err, SP_ENOTFOUND, __FILE__, __LINE__, "no manifest.json: not a dataset, or its pack has not finished");
		sp_err_locate(err, dir, 0);
		rc = SP_ENOTFOUND;
	}
	if (rc == 0)
		rc = sp_manifest_parse(text.p ? text.p : "", text.len, path.p, m, err);
	sp_buf_release(&path);
	sp_buf_release(&text);
	return rc;
}
