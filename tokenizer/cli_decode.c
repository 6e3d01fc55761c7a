/* cli_decode.c - `spindle tok decode`: token ids (JSONL, or the binary token stream of `tok encode
 * --format bin`) back to text. */
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "tok.h"
#include "tok_internal.h"
#include "tok_train.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/pmap.h"
#include "spindle/utf8.h"
#include "cli_int.h"
#include "../pack/pack.h"


static int emit_text(sp_out *out, int text_mode, const char *id, size_t idn, const sp_buf *t, sp_buf *line, sp_err *err)
{
	sp_buf_reset(line);
	int rc = 0;
	if (text_mode) {
		rc = sp_buf_append(line, t->p ? t->p : "", t->len);
	} else {
		rc = sp_buf_appends(line, "{");
		if (rc == 0 && id) {
			rc = sp_buf_appends(line, "\"id\":");
			rc = rc ? rc : sp_buf_append_json_str(line, id, idn);
			rc = rc ? rc : sp_buf_appends(line, ",");
		}
		rc = rc ? rc : sp_buf_appends(line, "\"text\":");
		rc = rc ? rc : sp_buf_append_json_str(line, t->p ? t->p : "", t->len);
		rc = rc ? rc : sp_buf_appends(line, "}");
	}
	rc = rc ? rc : sp_buf_appendc(line, '\n');
	if (rc < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return sp_out_write(out, line->p, line->len, err);
}

/* JSONL input (in memory): each line an array of ids or an object with "ids" (and maybe "id"). */
static int decode_jsonl(const tok_model *m, const char *name, const sp_buf *all, sp_out *out, int text_mode,
                        uint64_t *n_docs, sp_err *err)
{
	sp_buf t = SP_BUF_INIT, line = SP_BUF_INIT;
	uint32_t *ids = NULL;
	size_t cap = 0;
	int rc = 0;
	uint64_t lineno = 0;
	json_tokener *tk = json_tokener_new();
	if (!tk)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	const char *p = all->p ? all->p : "", *end = p + all->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *q = p;
		p = nl ? nl + 1 : end;
		lineno++;
		while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q == le)
			continue;
		json_tokener_reset(tk);
		json_object *o = json_tokener_parse_ex(tk, q, (int)(le - q));
		json_object *arr = o, *idv = NULL;
		if (o && json_object_is_type(o, json_type_object)) {
			arr = sp_json_path(o, "ids");
			idv = sp_json_path(o, "id");
		}
		if (!arr || !json_object_is_type(arr, json_type_array)) {
			json_object_put(o);
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "not a JSON array of ids or an object with \"ids\"");
			sp_err_locate(err, name, lineno);
			break;
		}
		size_t n = json_object_array_length(arr);
		if (n > cap) {
			uint32_t *v = sp_realloc(ids, n * sizeof *v);
			if (!v) {
				json_object_put(o);
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			ids = v;
			cap = n;
		}
		for (size_t i = 0; i < n && rc >= 0; i++) {
			json_object *e = json_object_array_get_idx(arr, i);
			int64_t v = json_object_is_type(e, json_type_int) ? json_object_get_int64(e) : -1;
			if (v < 0 || v > UINT32_MAX) {
				rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "element %zu is not a token id", i);
				sp_err_locate(err, name, lineno);
			}
			ids[i] = (uint32_t)v;
		}
		sp_buf_reset(&t);
		if (rc >= 0 && (rc = tok_decode(m, ids, n, &t, err)) < 0)
			sp_err_locate(err, name, lineno);
		const char *id = idv ? json_object_get_string(idv) : NULL;
		if (rc >= 0)
			rc = emit_text(out, text_mode, id, id ? strlen(id) : 0, &t, &line, err);
		json_object_put(o);
		if (rc < 0)
			break;
		(*n_docs)++;
	}
	json_tokener_free(tk);
	sp_buf_release(&t);
	sp_buf_release(&line);
	sp_free(ids);
	return rc < 0 ? rc : 0;
}

/* The token stream through pack's reader (pack/pack_in.c), so concatenated streams, each end
 * record's count and bytes after the last one are checked the same way in both tools. */
static int decode_bin(const tok_model *m, sp_in *in, sp_out *out, int text_mode, uint64_t *n_docs, sp_err *err)
{
	pack_in *p = NULL;
	SP_FORWARD(pack_in_stream(&p, in, 0, err));
	const pack_meta *meta = pack_in_meta(p);
	int rc = 0;
	if (meta->vocab_size != tok_vocab_size(m))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: token stream has vocabulary size %u, the model %u",
		                 sp_in_name(in), meta->vocab_size, tok_vocab_size(m));
	else if (meta->tokenizer_id != tok_identity(m))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: token stream was made by another tokenizer (identity %016llx, model %016llx)",
		                 sp_in_name(in), (unsigned long long)meta->tokenizer_id, (unsigned long long)tok_identity(m));
	sp_buf t = SP_BUF_INIT, line = SP_BUF_INIT;
	pack_doc d;
	while (rc == 0 && (rc = pack_in_next(p, &d, err)) > 0) {
		sp_buf_reset(&t);
		rc = tok_decode(m, d.ids, d.n, &t, err);
		if (rc == 0)
			rc = emit_text(out, text_mode, d.id_len ? d.id : NULL, d.id_len, &t, &line, err);
		if (rc == 0)
			(*n_docs)++;
	}
	sp_buf_release(&t);
	sp_buf_release(&line);
	pack_in_free(p);
	return rc < 0 ? rc : 0;
}

int tok_cmd_decode(int argc, char **argv)
{
	const char *prog = "spindle tok decode", *model = NULL, *out_path = "-";
	int text_mode = 0;
	const sp_opt table[] = {
		{ "model", 'm', SP_OPT_STR, &model, "MODEL", "tokenizer.json or SentencePiece .model (required)", NULL, 0, 0 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically) instead of stdout", NULL, 0, 0 },
		{ "text", 0, SP_OPT_FLAG, &text_mode, NULL, "write plain text, one document per line, instead of JSONL", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok decode -m MODEL [OPTIONS] [FILE]",
	                   "Decodes token ids back to text: JSONL input (arrays of ids, or objects with \"ids\") or a\n"
	                   "binary token stream (schemas/tokens.md). Writes JSONL {\"id\"?, \"text\"} or, with --text, lines.\n"
	                   "Memory: the model plus one document (token stream; at most 2^28 ids); JSONL input is read whole.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (!model || n_pos > 1) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, !model ? "-m MODEL is required" : "one input at most");
	}
	if (n_pos == 0 && isatty(0)) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "refusing to wait for token ids on a terminal; give FILE or a pipe");
	}
	sp_err err = SP_ERR_INIT;
	tok_model *m = NULL;
	sp_in *in = NULL;
	sp_out *out = NULL;
	uint64_t n_docs = 0;
	rc = tok_model_load(&m, model, &err);
	if (rc == 0)
		rc = sp_in_open(&in, n_pos ? pos[0] : "-", &err);
	if (rc == 0)
		rc = sp_out_open(&out, out_path, 0, &err);
	if (rc == 0) {
		/* sniff: a token stream starts with its magic */
		char magic[8];
		size_t got = 0;
		while (rc == 0 && got < 8) {
			size_t k = 0;
			if ((rc = sp_in_read(in, magic + got, 8 - got, &k, &err)) < 0 || k == 0)
				break;
			got += k;
		}
		if (rc == 0 && got == 8 && memcmp(magic, TOKS_MAGIC, 8) == 0) {
			rc = decode_bin(m, in, out, text_mode, &n_docs, &err);
		} else if (rc == 0) {
			/* not a token stream: JSONL, read whole (ids are small next to their text) */
			sp_buf all = SP_BUF_INIT;
			rc = sp_buf_append(&all, magic, got) < 0 ? sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory") : 0;
			while (rc == 0) {
				if ((rc = sp_buf_grow(&all, 1 << 16)) < 0) {
					rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
					break;
				}
				size_t k = 0;
				if ((rc = sp_in_read(in, all.p + all.len, 1 << 16, &k, &err)) < 0 || k == 0)
					break;
				all.len += k;
			}
			if (rc == 0)
				rc = decode_jsonl(m, sp_in_name(in), &all, out, text_mode, &n_docs, &err);
			sp_buf_release(&all);
		}
	}
	if (rc == 0)
		rc = sp_out_commit(out, &err);
	int code = rc < 0 ? cli_fail(prog, &err) : 0;
	sp_out_free(out);
	sp_in_free(in);
	tok_model_free(m);
	sp_free(pos);
	return code;
}
