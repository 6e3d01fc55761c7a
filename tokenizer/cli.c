/* cli.c - `spindle tok`: encode, decode, info, convert, train. The logic lives in tok_*.c; this file
 * parses options, streams documents through sp_pmap (ordered output with --threads), and prints. */
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

#define TOKS_MAGIC "SPTOKS01"

/* ------------------------------------------------------------------ encode */

typedef struct enc_batch {
	sp_buf text, idb;              /* texts and ids, concatenated */
	size_t *off, *len, *idoff, *idlen;
	uint64_t *lineno;
	int *has_id;
	size_t n, cap;
	uint64_t first;                /* index of the first document */
} enc_batch;

typedef struct enc_ctx {
	const tok_model *m;
	sp_docs *docs;
	sp_in *in;                     /* --text mode */
	sp_buf line;
	const char *in_name;
	int bin, bos, eos, with_id, text_mode;
	uint64_t n_docs, n_tokens, n_bytes;
	sp_out *out;
	sp_stats *st;
	cli_progress prog;
} enc_ctx;

static void *enc_batch_new(void *ctx)
{
	(void)ctx;
	return sp_calloc(1, sizeof(enc_batch));
}

static void enc_batch_free(void *ctx, void *p)
{
	(void)ctx;
	enc_batch *b = p;
	if (!b)
		return;
	sp_buf_release(&b->text);
	sp_buf_release(&b->idb);
	sp_free(b->off);
	sp_free(b->len);
	sp_free(b->idoff);
	sp_free(b->idlen);
	sp_free(b->lineno);
	sp_free(b->has_id);
	sp_free(b);
}

static int batch_add(enc_batch *b, const char *t, size_t tn, const char *id, uint64_t lineno)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		size_t *a = sp_realloc(b->off, cap * sizeof *a);
		if (!a) return SP_ENOMEM;
		b->off = a;
		if (!(a = sp_realloc(b->len, cap * sizeof *a))) return SP_ENOMEM;
		b->len = a;
		if (!(a = sp_realloc(b->idoff, cap * sizeof *a))) return SP_ENOMEM;
		b->idoff = a;
		if (!(a = sp_realloc(b->idlen, cap * sizeof *a))) return SP_ENOMEM;
		b->idlen = a;
		uint64_t *l = sp_realloc(b->lineno, cap * sizeof *l);
		if (!l) return SP_ENOMEM;
		b->lineno = l;
		int *h = sp_realloc(b->has_id, cap * sizeof *h);
		if (!h) return SP_ENOMEM;
		b->has_id = h;
		b->cap = cap;
	}
	b->off[b->n] = b->text.len;
	b->len[b->n] = tn;
	SP_FORWARD(sp_buf_append(&b->text, t, tn));
	b->idoff[b->n] = b->idb.len;
	b->idlen[b->n] = id ? strlen(id) : 0;
	b->has_id[b->n] = id != NULL;
	if (id)
		SP_FORWARD(sp_buf_append(&b->idb, id, b->idlen[b->n]));
	b->lineno[b->n] = lineno;
	b->n++;
	return 0;
}

#define BATCH_BYTES (1u << 20)
#define BATCH_DOCS 4096

static int enc_produce(void *vctx, void *vb, sp_err *err)
{
	enc_ctx *c = vctx;
	enc_batch *b = vb;
	b->n = 0;
	sp_buf_reset(&b->text);
	sp_buf_reset(&b->idb);
	b->first = c->n_docs;
	while (b->n < BATCH_DOCS && b->text.len < BATCH_BYTES) {
		if (c->text_mode) {
			int rc = sp_in_getline(c->in, &c->line, err);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
			c->st->records_in++;
			c->st->bytes_in += c->line.len + 1;
			if (batch_add(b, c->line.p ? c->line.p : "", c->line.len, NULL, sp_in_lineno(c->in)) < 0)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
		} else {
			sp_doc d;
			int rc = sp_docs_next(c->docs, &d, err);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
			if (batch_add(b, d.text, d.text_len, sp_record_id(d.rec), d.rec->lineno) < 0)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
		c->n_docs++;
	}
	return b->n > 0;
}

/* Decimal digits of v at o; returns the end. Two digits per step from a table (ids are 1-6 digits). */
static char *put_u32(char *o, uint32_t v)
{
	static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	                               "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	                               "8081828384858687888990919293949596979899";
	char tmp[12];
	int k = 12;
	while (v >= 100) {
		uint32_t r = v % 100;
		v /= 100;
		tmp[--k] = pairs[2 * r + 1];
		tmp[--k] = pairs[2 * r];
	}
	if (v >= 10) {
		tmp[--k] = pairs[2 * v + 1];
		tmp[--k] = pairs[2 * v];
	} else {
		tmp[--k] = (char)('0' + v);
	}
	memcpy(o, tmp + k, (size_t)(12 - k));
	return o + (12 - k);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int enc_work(void *vctx, int worker, void *vb, sp_buf *out, sp_err *err)
{
	(void)worker;
	enc_ctx *c = vctx;
	enc_batch *b = vb;
	tok_ids ids = TOK_IDS_INIT;
	int rc = 0;
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		ids.n = 0;
		if (c->bos && c->m->bos >= 0)
			rc = tok_ids_push(&ids, (uint32_t)c->m->bos);
		if (rc == 0)
			rc = tok_encode(c->m, b->text.p + b->off[i], b->len[i], &ids, err);
		if (rc == 0 && c->eos && c->m->eos >= 0)
			rc = tok_ids_push(&ids, (uint32_t)c->m->eos);
		if (rc < 0) {
			if (rc == SP_EUTF8 && err)
				sp_err_locate(err, c->in_name, b->lineno[i]);
			break;
		}
		const char *id = b->idb.p + b->idoff[i];
		size_t idn = b->idlen[i];
		if (c->bin) {
			if ((rc = sp_buf_grow(out, 8 + idn + 4 * ids.n)) < 0)
				break;
			uint8_t *o = (uint8_t *)out->p + out->len;
			put_le32(o, (uint32_t)ids.n);
			put_le32(o + 4, (uint32_t)idn);
			memcpy(o + 8, id, idn);
			o += 8 + idn;
			for (size_t k = 0; k < ids.n; k++, o += 4)
				put_le32(o, ids.v[k]);
			out->len = (size_t)((char *)o - out->p);
		} else {
			if (c->with_id) {
				rc = sp_buf_appends(out, "{\"id\":");
				if (rc == 0 && b->has_id[i])
					rc = sp_buf_append_json_str(out, id, idn);
				else if (rc == 0)
					rc = sp_buf_appendf(out, "%llu", (unsigned long long)(b->first + i));
				if (rc == 0)
					rc = sp_buf_appends(out, ",\"ids\":");
				if (rc < 0)
					break;
			}
			if ((rc = sp_buf_grow(out, 16 + 11 * ids.n)) < 0)
				break;
			char *o = out->p + out->len;
			*o++ = '[';
			for (size_t k = 0; k < ids.n; k++) {
				if (k)
					*o++ = ',';
				o = put_u32(o, ids.v[k]);
			}
			*o++ = ']';
			if (c->with_id)
				*o++ = '}';
			*o++ = '\n';
			out->len = (size_t)(o - out->p);
		}
		__atomic_fetch_add(&c->n_tokens, ids.n, __ATOMIC_RELAXED);
	}
	tok_ids_release(&ids);
	if (rc == SP_ENOMEM)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return rc;
}

static int enc_consume(void *vctx, void *vb, const sp_buf *out, sp_err *err)
{
	enc_ctx *c = vctx;
	enc_batch *b = vb;
	c->st->records_out += b->n;
	c->n_bytes += b->text.len;
	cli_progress_step(&c->prog, c->st->records_out, c->n_bytes);
	return out->len ? sp_out_write(c->out, out->p, out->len, err) : 0;
}

static int cmd_encode(int argc, char **argv)
{
	const char *prog = "spindle tok encode", *model = NULL, *out_path = "-", *format = "jsonl";
	long threads = 1;
	int bos = 0, eos = 0, text_mode = 0, with_id = 0;
	cli_common com;
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "model", 'm', SP_OPT_STR, &model, "MODEL", "tokenizer.json or SentencePiece .model (required)", NULL, 0, 0 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically) instead of stdout", NULL, 0, 0 },
		{ "format", 0, SP_OPT_CHOICE, &format, NULL, "jsonl: one JSON array of ids per document; bin: token stream (schemas/tokens.md)", "jsonl|bin", 0, 0 },
		{ "with-id", 0, SP_OPT_FLAG, &with_id, NULL, "jsonl: write {\"id\": ID, \"ids\": [...]} objects", NULL, 0, 0 },
		{ "threads", 'j', SP_OPT_INT, &threads, "N", "encode with N threads (output stays in input order)", NULL, 1, 256 },
		{ "bos", 0, SP_OPT_FLAG, &bos, NULL, "start each document with the BOS id", NULL, 0, 0 },
		{ "eos", 0, SP_OPT_FLAG, &eos, NULL, "end each document with the EOS id", NULL, 0, 0 },
		{ "text", 0, SP_OPT_FLAG, &text_mode, NULL, "input is plain text, one document per line", NULL, 0, 0 },
		CLI_COMMON_OPTS(&com),
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok encode -m MODEL [OPTIONS] [FILE...]",
	                   "Encodes each document (JSONL, field 'text'; or lines with --text) into token ids, in input order.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = cli_common_finish(prog, &com)) >= 0 || !model) {
		sp_free(pos);
		return rc >= 0 ? rc : cli_failf(prog, CLI_USAGE, "-m MODEL is required");
	}
	if (n_pos == 0 && isatty(0)) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "refusing to wait for documents on a terminal; give FILE or a pipe");
	}
	int bin = !strcmp(format, "bin");
	if (bin && (rc = cli_refuse_tty_stdout(prog, out_path)) >= 0) {
		sp_free(pos);
		return rc;
	}
	sp_err err = SP_ERR_INIT;
	sp_stats st;
	sp_stats_init(&st, "tok encode");
	enc_ctx c;
	memset(&c, 0, sizeof c);
	c.bin = bin;
	c.bos = bos;
	c.eos = eos;
	c.with_id = with_id;
	c.text_mode = text_mode;
	c.st = &st;
	tok_model *m = NULL;
	rc = tok_model_load(&m, model, &err);
	c.m = m;
	if (rc == 0 && text_mode) {
		if (n_pos > 1)
			rc = sp_err_set_(&err, SP_EUSAGE, __FILE__, __LINE__, "--text reads one input");
		else {
			c.in_name = n_pos ? pos[0] : "-";
			rc = sp_in_open(&c.in, c.in_name, &err);
		}
	} else if (rc == 0) {
		sp_docs_opts o;
		cli_docs_opts(&com, pos, n_pos, &st, &o);
		rc = sp_docs_open(&c.docs, &o, &err);
	}
	if (rc == 0)
		rc = sp_out_open(&c.out, out_path, 0, &err);
	if (rc == 0 && bin) {
		uint8_t h[40];
		memcpy(h, TOKS_MAGIC, 8);
		put_le32(h + 8, 1);
		put_le32(h + 12, 40);
		put_le32(h + 16, tok_vocab_size(m));
		put_le32(h + 20, (uint32_t)tok_bos_id(m));
		put_le32(h + 24, (uint32_t)tok_eos_id(m));
		put_le32(h + 28, (uint32_t)((bos && m->bos >= 0 ? 1 : 0) | (eos && m->eos >= 0 ? 2 : 0)));
		uint64_t idn = tok_identity(m);
		for (int i = 0; i < 8; i++)
			h[32 + i] = (uint8_t)(idn >> (8 * i));
		rc = sp_out_write(c.out, h, sizeof h, &err);
	}
	cli_progress_begin(&c.prog, prog, com.progress, c.docs ? sp_docs_raw_size(c.docs) : 0);
	if (rc == 0) {
		sp_pmap_spec spec = { (int)threads, 0, enc_batch_new, enc_batch_free, enc_produce, enc_work, enc_consume, &c };
		rc = sp_pmap_run(&spec, &err);
	}
	if (rc == 0 && bin) {
		uint8_t e[12];
		put_le32(e, 0xFFFFFFFFu);
		for (int i = 0; i < 8; i++)
			e[4 + i] = (uint8_t)(st.records_out >> (8 * i));
		rc = sp_out_write(c.out, e, sizeof e, &err);
	}
	if (rc == 0)
		rc = sp_out_commit(c.out, &err);
	cli_progress_end(&c.prog, st.records_out, c.n_bytes);
	sp_stats_add(&st, "tokens", (int64_t)c.n_tokens);
	st.bytes_out = c.out ? sp_out_bytes(c.out) : 0;
	int code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &st);
	sp_out_free(c.out);
	sp_docs_free(c.docs);
	sp_in_free(c.in);
	sp_buf_release(&c.line);
	tok_model_free(m);
	sp_stats_release(&st);
	sp_free(pos);
	return code;
}

/* ------------------------------------------------------------------ decode */

static uint32_t get_le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

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

static int decode_bin(const tok_model *m, sp_in *in, sp_out *out, int text_mode, uint64_t *n_docs, sp_err *err)
{
	uint8_t h[40]; /* the caller has read the magic */
	SP_FORWARD(sp_in_read_full(in, h + 8, 32, err));
	uint32_t hlen = get_le32(h + 12), vocab = get_le32(h + 16);
	if (get_le32(h + 8) != 1 || hlen < 40)
		SP_RAISE(err, SP_EDATA, "%s: unsupported token stream version or header", sp_in_name(in));
	if (vocab != m->n)
		SP_RAISE(err, SP_EDATA, "%s: token stream has vocabulary size %u, the model %u", sp_in_name(in), vocab, m->n);
	uint64_t ident = 0;
	for (int i = 0; i < 8; i++)
		ident |= (uint64_t)h[32 + i] << (8 * i);
	if (ident != tok_identity(m))
		SP_RAISE(err, SP_EDATA, "%s: token stream was made by another tokenizer (identity %016llx, model %016llx)",
		         sp_in_name(in), (unsigned long long)ident, (unsigned long long)tok_identity(m));
	for (uint32_t skip = hlen - 40; skip > 0; skip--)
		SP_FORWARD(sp_in_read_full(in, h, 1, err));
	sp_buf t = SP_BUF_INIT, line = SP_BUF_INIT, idb = SP_BUF_INIT;
	uint32_t *ids = NULL;
	size_t cap = 0;
	int rc = 0;
	for (;;) {
		uint8_t r[8];
		if ((rc = sp_in_read_full(in, r, 4, err)) < 0)
			break;
		uint32_t n = get_le32(r);
		if (n == 0xFFFFFFFFu) {
			if ((rc = sp_in_read_full(in, r, 8, err)) < 0)
				break;
			break;
		}
		if ((rc = sp_in_read_full(in, r, 4, err)) < 0)
			break;
		uint32_t idn = get_le32(r);
		sp_buf_reset(&idb);
		if ((rc = sp_buf_grow(&idb, idn)) < 0 || (rc = sp_in_read_full(in, idb.p, idn, err)) < 0)
			break;
		if (n > cap) {
			uint32_t *v = sp_realloc(ids, (size_t)n * 4);
			if (!v) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			ids = v;
			cap = n;
		}
		if (n && (rc = sp_in_read_full(in, ids, (size_t)n * 4, err)) < 0)
			break;
		for (uint32_t i = 0; i < n; i++)
			ids[i] = get_le32((uint8_t *)&ids[i]);
		sp_buf_reset(&t);
		if ((rc = tok_decode(m, ids, n, &t, err)) < 0)
			break;
		if ((rc = emit_text(out, text_mode, idn ? idb.p : NULL, idn, &t, &line, err)) < 0)
			break;
		(*n_docs)++;
	}
	if (rc == SP_EDATA && strstr(err ? err->msg : "", "truncated"))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "truncated token stream after document %llu",
		                 (unsigned long long)*n_docs);
	sp_buf_release(&t);
	sp_buf_release(&line);
	sp_buf_release(&idb);
	sp_free(ids);
	return rc < 0 ? rc : 0;
}

static int cmd_decode(int argc, char **argv)
{
	const char *prog = "spindle tok decode", *model = NULL, *out_path = "-";
	int text_mode = 0;
	const sp_opt table[] = {
		{ "model", 'm', SP_OPT_STR, &model, "MODEL", "tokenizer.json or SentencePiece .model (required)", NULL, 0, 0 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically) instead of stdout", NULL, 0, 0 },
		{ "text", 0, SP_OPT_FLAG, &text_mode, NULL, "write plain text, one document per line, instead of JSONL", NULL, 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok decode -m MODEL [OPTIONS] [FILE]",
	                   "Decodes token ids back to text: JSONL input (arrays of ids, or objects with \"ids\") or a\n"
	                   "binary token stream (schemas/tokens.md). Writes JSONL {\"id\"?, \"text\"} or, with --text, lines.",
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

/* ------------------------------------------------------------------ info */

static int cmd_info(int argc, char **argv)
{
	const char *prog = "spindle tok info", *model = NULL;
	const sp_opt table[] = {
		{ "model", 'm', SP_OPT_STR, &model, "MODEL", "tokenizer.json or SentencePiece .model", NULL, 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok info -m MODEL", "Prints the tokenizer's vocabulary size, special ids, settings and identity.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (!model && n_pos == 1)
		model = pos[0];
	if (!model) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "-m MODEL is required");
	}
	sp_err err = SP_ERR_INIT;
	tok_model *m = NULL;
	if (tok_model_load(&m, model, &err) < 0) {
		sp_free(pos);
		return cli_fail(prog, &err);
	}
	const tok_spec *s = &m->spec;
	size_t counts[7] = { 0 };
	for (uint32_t i = 0; i < m->n; i++)
		if (m->type[i] >= 1 && m->type[i] <= 6)
			counts[m->type[i]]++;
	printf("model: %s\n", model);
	printf("format: %s\n", m->from_json ? "tokenizer.json (HuggingFace)" : "SentencePiece ModelProto");
	printf("type: BPE\n");
	printf("vocab_size: %u\n", m->n);
	printf("pieces: normal %zu, byte %zu, control %zu, unknown %zu, user_defined %zu, unused %zu\n", counts[1],
	       counts[6], counts[3], counts[2], counts[4], counts[5]);
	printf("merge_rules: %zu\n", m->pairs.n);
	printf("unk_id: %d\nbos_id: %d\neos_id: %d\npad_id: %d\n", m->unk, m->bos, m->eos, m->pad);
	printf("normalizer: %s%s\n", s->norm_name, m->trie ? " (precompiled charsmap)" : "");
	printf("add_dummy_prefix: %s\nremove_extra_whitespaces: %s\nescape_whitespaces: %s\n",
	       s->add_dummy_prefix ? "true" : "false", s->remove_extra_ws ? "true" : "false", s->escape_ws ? "true" : "false");
	printf("byte_fallback: %s\n", s->byte_fallback ? "true" : "false");
	if (!m->from_json) {
		printf("split_digits: %s\n", s->split_digits ? "true" : "false");
		printf("character_coverage: %g\n", s->character_coverage);
		printf("allow_whitespace_only_pieces: %s\n", s->allow_ws_only ? "true" : "false");
		printf("treat_whitespace_as_suffix: %s\n", s->treat_ws_suffix ? "true" : "false");
		printf("max_sentencepiece_length: %d\n", s->max_piece_len);
	}
	if (m->hf_split_ws)
		printf("pre_tokenizer: Metaspace (split)\n");
	printf("identity: %016llx\n", (unsigned long long)tok_identity(m));
	tok_model_free(m);
	sp_free(pos);
	return 0;
}

/* ------------------------------------------------------------------ convert */

static int cmd_convert(int argc, char **argv)
{
	const char *prog = "spindle tok convert", *out_path = NULL, *to = NULL;
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "output file (.json: tokenizer.json, otherwise .model)", NULL, 0, 0 },
		{ "to", 0, SP_OPT_CHOICE, &to, NULL, "output format (default: from the output name)", "json|model", 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok convert MODEL -o OUT",
	                   "Writes a tokenizer.json as a SentencePiece .model or the other way round; both encode alike.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1 || !out_path) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "usage: spindle tok convert MODEL -o OUT");
	}
	size_t ol = strlen(out_path);
	int json = to ? !strcmp(to, "json") : (ol >= 5 && !strcmp(out_path + ol - 5, ".json"));
	sp_err err = SP_ERR_INIT;
	tok_model *m = NULL;
	sp_buf b = SP_BUF_INIT;
	rc = tok_model_load(&m, pos[0], &err);
	if (rc == 0)
		rc = json ? tok_write_json(m, &b, &err) : tok_write_sp(m, &b, &err);
	if (rc == 0)
		rc = sp_write_file_atomic(out_path, b.p, b.len, &err);
	int code = rc < 0 ? cli_fail(prog, &err) : 0;
	sp_buf_release(&b);
	tok_model_free(m);
	sp_free(pos);
	return code;
}


/* ------------------------------------------------------------------ train */

/* Sentences from the inputs in order: lines of text files, or lines of JSONL documents' text. */
typedef struct sent_iter {
	const char **files; size_t n_files, cur;
	int jsonl; const char *field;
	sp_docs *docs; sp_in *in;
	const char *pend; size_t pend_n;   /* rest of the current document's text */
	uint64_t doc_line;
	sp_buf line;
	const char *name; uint64_t lineno;
} sent_iter;

static int is_jsonl_name(const char *f) { return strstr(f, ".jsonl") != NULL || strstr(f, ".ndjson") != NULL; }

static void sent_iter_close(sent_iter *it)
{
	sp_docs_free(it->docs);
	sp_in_free(it->in);
	it->docs = NULL;
	it->in = NULL;
	it->pend = NULL;
	it->pend_n = 0;
}

/* Returns 1 with the next non-empty sentence in *p, *n (borrowed until the next call), 0 at the end. */
static int sent_next(sent_iter *it, const char **p, size_t *n, sp_err *err)
{
	for (;;) {
		if (it->pend) {
			if (it->pend_n == 0) {
				it->pend = NULL;
				continue;
			}
			const char *nl = memchr(it->pend, '\n', it->pend_n);
			size_t l = nl ? (size_t)(nl - it->pend) : it->pend_n;
			*p = it->pend;
			*n = l;
			it->pend += l + (nl ? 1 : 0);
			it->pend_n -= l + (nl ? 1 : 0);
			if (l)
				return 1;
			continue;
		}
		if (it->docs) {
			sp_doc d;
			int rc = sp_docs_next(it->docs, &d, err);
			if (rc < 0)
				return rc;
			if (rc == 1) {
				it->pend = d.text ? d.text : "";
				it->pend_n = d.text_len;
				it->lineno = d.rec->lineno;
				continue;
			}
			sent_iter_close(it);
			continue;
		}
		if (it->in) {
			int rc = sp_in_getline(it->in, &it->line, err);
			if (rc < 0)
				return rc;
			if (rc == 1) {
				it->lineno = sp_in_lineno(it->in);
				if (!it->line.len)
					continue;
				*p = it->line.p;
				*n = it->line.len;
				return 1;
			}
			sent_iter_close(it);
			continue;
		}
		if (it->cur >= it->n_files)
			return 0;
		it->name = it->files[it->cur++];
		if (it->jsonl || is_jsonl_name(it->name)) {
			sp_docs_opts dop;
			memset(&dop, 0, sizeof dop);
			dop.inputs = &it->name;
			dop.n_inputs = 1;
			dop.shard.count = 1;
			dop.field = it->field;
			SP_FORWARD(sp_docs_open(&it->docs, &dop, err));
		} else {
			SP_FORWARD(sp_in_open(&it->in, it->name, err));
		}
	}
}

typedef struct train_src {
	tok_trainer **tr;              /* one trainer per worker */
	tok_trainer *t;                /* tr[0] once the others are absorbed */
	sent_iter it;
	uint64_t sample, seen, rng, fed;
	sp_buf *keep;                  /* reservoir of sentences (--sample-size) */
	uint64_t bytes;
} train_src;

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

typedef struct tr_batch { sp_buf text; size_t *off, *len; uint64_t *lineno; const char **name; size_t n, cap; } tr_batch;

static void *tr_batch_new(void *ctx) { (void)ctx; return sp_calloc(1, sizeof(tr_batch)); }

static void tr_batch_free(void *ctx, void *p)
{
	(void)ctx;
	tr_batch *b = p;
	if (!b)
		return;
	sp_buf_release(&b->text);
	sp_free(b->off);
	sp_free(b->len);
	sp_free(b->lineno);
	sp_free(b->name);
	sp_free(b);
}

static int tr_batch_add(tr_batch *b, const char *p, size_t n, const char *name, uint64_t lineno)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		size_t *x;
		if (!(x = sp_realloc(b->off, cap * sizeof *x))) return SP_ENOMEM;
		b->off = x;
		if (!(x = sp_realloc(b->len, cap * sizeof *x))) return SP_ENOMEM;
		b->len = x;
		uint64_t *l = sp_realloc(b->lineno, cap * sizeof *l);
		if (!l) return SP_ENOMEM;
		b->lineno = l;
		const char **nm = sp_realloc(b->name, cap * sizeof *nm);
		if (!nm) return SP_ENOMEM;
		b->name = nm;
		b->cap = cap;
	}
	b->off[b->n] = b->text.len;
	b->len[b->n] = n;
	b->lineno[b->n] = lineno;
	b->name[b->n] = name;
	b->n++;
	return sp_buf_append(&b->text, p, n);
}

static int tr_produce(void *ctx, void *vb, sp_err *err)
{
	train_src *ts = ctx;
	tr_batch *b = vb;
	b->n = 0;
	sp_buf_reset(&b->text);
	while (b->text.len < (4u << 20) && b->n < 65536) {
		const char *p;
		size_t n;
		if (ts->keep) {
			if (ts->fed >= ts->sample || ts->fed >= ts->seen)
				break;
			p = ts->keep[ts->fed].p ? ts->keep[ts->fed].p : "";
			n = ts->keep[ts->fed].len;
			ts->fed++;
			if (tr_batch_add(b, p, n, "sample", ts->fed) < 0)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			continue;
		}
		int rc = sent_next(&ts->it, &p, &n, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		ts->bytes += n + 1;
		if (tr_batch_add(b, p, n, ts->it.name, ts->it.lineno) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	return b->n > 0;
}

static int tr_work(void *ctx, int worker, void *vb, sp_buf *out, sp_err *err)
{
	(void)out;
	train_src *ts = ctx;
	tr_batch *b = vb;
	for (size_t i = 0; i < b->n; i++) {
		int rc = tok_trainer_add(ts->tr[worker], b->text.p + b->off[i], b->len[i], err);
		if (rc < 0) {
			sp_err_locate(err, b->name[i], b->lineno[i]);
			return rc;
		}
	}
	return 0;
}

static int tr_consume(void *ctx, void *vb, const sp_buf *out, sp_err *err)
{
	(void)ctx;
	(void)vb;
	(void)out;
	(void)err;
	return 0;
}

static int cmd_train(int argc, char **argv)
{
	const char *prog = "spindle tok train", *out_path = NULL, *field = NULL, *users = NULL;
	long vocab = 0, max_piece = 16, max_sentence = 4192, sample = 0, seed = 1, threads = 1;
	double coverage = 0.99995;
	int no_bf = 0, no_digits = 0, no_ws_only = 0, no_prefix = 0, remove_ws = 0, quiet = 0, jsonl = 0;
	const sp_opt table[] = {
		{ "vocab-size", 0, SP_OPT_INT, &vocab, "V", "vocabulary size, special and byte pieces included (required)", NULL, 1, TOK_MAX_VOCAB },
		{ "output", 'o', SP_OPT_STR, &out_path, "M.model", "write the SentencePiece model here (required)", NULL, 0, 0 },
		{ "character-coverage", 0, SP_OPT_DOUBLE, &coverage, "F", "share of characters the vocabulary must cover (default 0.99995)", NULL, 0, 0 },
		{ "user-defined-symbols", 0, SP_OPT_STR, &users, "A,B,...", "pieces always kept whole", NULL, 0, 0 },
		{ "no-byte-fallback", 0, SP_OPT_FLAG, &no_bf, NULL, "no <0xXX> pieces: unknown characters become <unk>", NULL, 0, 0 },
		{ "no-split-digits", 0, SP_OPT_FLAG, &no_digits, NULL, "allow pieces of several digits", NULL, 0, 0 },
		{ "no-whitespace-only-pieces", 0, SP_OPT_FLAG, &no_ws_only, NULL, "no pieces made of several whitespace marks", NULL, 0, 0 },
		{ "no-dummy-prefix", 0, SP_OPT_FLAG, &no_prefix, NULL, "do not add a space before each sentence", NULL, 0, 0 },
		{ "remove-extra-whitespaces", 0, SP_OPT_FLAG, &remove_ws, NULL, "collapse and trim whitespace (not Llama 2's setting)", NULL, 0, 0 },
		{ "max-piece-length", 0, SP_OPT_INT, &max_piece, "N", "longest piece in characters (default 16)", NULL, 1, 64 },
		{ "max-sentence-length", 0, SP_OPT_INT, &max_sentence, "N", "skip longer lines, in bytes (default 4192, as spm_train)", NULL, 1, 1L << 30 },
		{ "sample-size", 0, SP_OPT_INT, &sample, "N", "train on a uniform sample of N sentences (spm_train's input_sentence_size)", NULL, 0, 1L << 40 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "seed of the sample (default 1)", NULL, 0, 0 },
		{ "jsonl", 0, SP_OPT_FLAG, &jsonl, NULL, "inputs are JSONL documents (default for names containing .jsonl)", NULL, 0, 0 },
		{ "threads", 'j', SP_OPT_INT, &threads, "N", "count words with N threads (the merges are sequential)", NULL, 1, 256 },
		{ "field", 0, SP_OPT_STR, &field, "NAME", "text field of JSONL documents (default text)", NULL, 0, 0 },
		{ "quiet", 'q', SP_OPT_FLAG, &quiet, NULL, "no summary on stderr", NULL, 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok train --vocab-size V -o M.model [OPTIONS] FILE...",
	                   "Trains a SentencePiece-BPE tokenizer with Llama 2's settings (identity normalization, byte\n"
	                   "fallback, split digits, whitespace-only pieces) on text files (one sentence per line) or JSONL\n"
	                   "documents (each text split into lines), and writes a .model that spm_encode and spindle load.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (!vocab || !out_path || n_pos == 0) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--vocab-size, -o and at least one input are required");
	}
	if (coverage <= 0 || coverage > 1) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--character-coverage must be in (0, 1]");
	}
	double t0 = sp_now();
	tok_train_opts o;
	tok_train_opts_default(&o);
	o.vocab_size = (uint32_t)vocab;
	o.character_coverage = coverage;
	o.byte_fallback = !no_bf;
	o.split_digits = !no_digits;
	o.allow_ws_only = !no_ws_only;
	o.add_dummy_prefix = !no_prefix;
	o.remove_extra_ws = remove_ws;
	o.max_piece_len = (int)max_piece;
	o.max_sentence_len = (size_t)max_sentence;
	/* user-defined symbols: a comma-separated list */
	char *ucopy = users ? sp_strdup(users) : NULL;
	const char *ulist[256];
	size_t n_user = 0;
	char *save = NULL;
	for (char *tokn = ucopy ? strtok_r(ucopy, ",", &save) : NULL; tokn && n_user < 256; tokn = strtok_r(NULL, ",", &save))
		ulist[n_user++] = tokn;
	o.user_symbols = ulist;
	o.n_user = n_user;

	sp_err err = SP_ERR_INIT;
	train_src ts;
	memset(&ts, 0, sizeof ts);
	ts.sample = (uint64_t)sample;
	ts.rng = (uint64_t)seed;
	ts.it.files = pos;
	ts.it.n_files = n_pos;
	ts.it.jsonl = jsonl;
	ts.it.field = field;
	tok_model *m = NULL;
	sp_buf out = SP_BUF_INIT;
	rc = 0;
	ts.tr = sp_calloc((size_t)threads, sizeof *ts.tr);
	if (!ts.tr)
		rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (long i = 0; rc == 0 && i < threads; i++)
		rc = tok_trainer_new(&ts.tr[i], &o, &err);
	if (rc == 0 && sample) {
		/* first pass: a uniform sample of the sentences (reservoir), then train on it */
		ts.keep = sp_calloc((size_t)sample, sizeof *ts.keep);
		if (!ts.keep)
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory: --sample-size %ld", sample);
		const char *p;
		size_t n;
		while (rc == 0) {
			if ((rc = sent_next(&ts.it, &p, &n, &err)) != 1)
				break;
			rc = 0;
			ts.bytes += n + 1;
			uint64_t slot = ts.seen < ts.sample ? ts.seen : next_rand(&ts.rng) % (ts.seen + 1);
			ts.seen++;
			if (slot < ts.sample) {
				sp_buf_reset(&ts.keep[slot]);
				if (sp_buf_append(&ts.keep[slot], p, n) < 0)
					rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			}
		}
		if (rc > 0)
			rc = 0;
	}
	if (rc == 0) {
		sp_pmap_spec spec = { (int)threads, 0, tr_batch_new, tr_batch_free, tr_produce, tr_work, tr_consume, &ts };
		rc = sp_pmap_run(&spec, &err);
	}
	for (long i = 1; rc == 0 && i < threads; i++)
		rc = tok_trainer_absorb(ts.tr[0], ts.tr[i], &err);
	ts.t = ts.tr ? ts.tr[0] : NULL;
	double t1 = sp_now();
	if (rc == 0)
		rc = tok_trainer_finish(ts.t, &m, &err);
	if (rc == 0)
		rc = tok_write_sp(m, &out, &err);
	if (rc == 0)
		rc = sp_write_file_atomic(out_path, out.p, out.len, &err);
	int code = 0;
	if (rc < 0) {
		code = cli_fail(prog, &err);
	} else if (!quiet) {
		uint64_t ns, sk, nw;
		tok_trainer_counts(ts.t, &ns, &sk, &nw);
		fprintf(stderr, "%s: %llu sentences (%llu too long, skipped), %llu distinct words, %.1f MB read; "
		        "%u pieces; counting %.2f s, merging %.2f s; wrote %s (identity %016llx)\n", prog,
		        (unsigned long long)ns, (unsigned long long)sk, (unsigned long long)nw, (double)ts.bytes / 1e6,
		        tok_vocab_size(m), t1 - t0, sp_now() - t1, out_path, (unsigned long long)tok_identity(m));
	}
	for (uint64_t i = 0; ts.keep && i < ts.sample; i++)
		sp_buf_release(&ts.keep[i]);
	sp_free(ts.keep);
	for (long i = 0; ts.tr && i < threads; i++)
		tok_trainer_free(ts.tr[i]);
	sp_free(ts.tr);
	sent_iter_close(&ts.it);
	sp_buf_release(&ts.it.line);
	tok_model_free(m);
	sp_buf_release(&out);
	sp_free(ucopy);
	sp_free(pos);
	return code;
}

/* ------------------------------------------------------------------ dispatch */

SP_COMMAND(tok, cmd_tok, "SentencePiece-BPE tokenizer: encode, decode, info, convert, train")
{
	static const struct { const char *name; int (*fn)(int, char **); const char *help; } subs[] = {
		{ "encode", cmd_encode, "JSONL documents (or text lines) to token ids" },
		{ "decode", cmd_decode, "token ids (JSONL or token stream) back to text" },
		{ "info", cmd_info, "vocabulary size, special ids, settings, identity of a tokenizer" },
		{ "convert", cmd_convert, "tokenizer.json <-> SentencePiece .model" },
		{ "train", cmd_train, "train a SentencePiece-BPE tokenizer (.model) on text or JSONL" },
	};
	if (argc >= 2) {
		for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
			if (!strcmp(argv[1], subs[i].name))
				return subs[i].fn(argc - 1, argv + 1);
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("spindle tok %s\n", SPINDLE_VERSION);
		return CLI_OK;
	}
	int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
	FILE *f = help ? stdout : stderr;
	fprintf(f, "usage: spindle tok COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		fprintf(f, "  %-8s %s\n", subs[i].name, subs[i].help);
	fprintf(f, "\n'spindle tok COMMAND --help' describes each.\n%s", CLI_EXIT_CODES_HELP);
	if (help)
		return CLI_OK;
	if (argc >= 2)
		fprintf(stderr, "spindle tok: unknown command '%s'\n", argv[1]);
	return CLI_USAGE;
}
