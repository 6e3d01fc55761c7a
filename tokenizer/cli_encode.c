/* cli_encode.c - `spindle tok encode`: JSONL documents (or text lines with --text) to token ids as
 * JSONL or a binary token stream, through sp_pmap (ordered output with --threads). */
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
	sp_docs_filler filler;         /* an input error met in a part-filled batch, reported next */
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

/* a JSONL document into the batch (sp_docs_fill's callback) */
static int doc_add(void *vctx, void *vb, const sp_doc *d)
{
	enc_ctx *c = vctx;
	c->n_docs++;
	return batch_add(vb, d->text, d->text_len, sp_record_id(d->rec), d->rec->lineno);
}

static int enc_produce(void *vctx, void *vb, sp_err *err)
{
	enc_ctx *c = vctx;
	enc_batch *b = vb;
	b->n = 0;
	sp_buf_reset(&b->text);
	sp_buf_reset(&b->idb);
	b->first = c->n_docs;
	if (!c->text_mode)
		return sp_docs_fill(c->docs, &c->filler, b, BATCH_DOCS, BATCH_BYTES, doc_add, c, err);
	/* --text: lines of plain text, not documents */
	while (b->n < BATCH_DOCS && b->text.len < BATCH_BYTES) {
		int rc = sp_in_getline(c->in, &c->line, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		c->st->records_in++;
		c->st->bytes_in += c->line.len + 1;
		if (batch_add(b, c->line.p ? c->line.p : "", c->line.len, NULL, sp_in_lineno(c->in)) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
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
	cli_progress_step(&c->prog, c->st->records_out, c->docs ? sp_docs_raw_bytes(c->docs) : c->n_bytes);
	return out->len ? sp_out_write(c->out, out->p, out->len, err) : 0;
}

int tok_cmd_encode(int argc, char **argv)
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
		{ "threads", 'j', SP_OPT_INT, &threads, "N", "encode with N threads (output stays in input order; default 1; auto: the CPUs this process may use)", NULL, 1, 256 },
		{ "bos", 0, SP_OPT_FLAG, &bos, NULL, "start each document with the BOS id", NULL, 0, 0 },
		{ "eos", 0, SP_OPT_FLAG, &eos, NULL, "end each document with the EOS id", NULL, 0, 0 },
		{ "text", 0, SP_OPT_FLAG, &text_mode, NULL, "input is plain text, one document per line", NULL, 0, 0 },
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle tok encode -m MODEL [OPTIONS] [FILE...]",
	                          "Encodes each document (JSONL, field 'text'; or lines with --text) into token ids, in input order.\n"
	                          "Memory: the model, plus per thread about 6 bytes per byte of the longest document or line, and\n"
	                          "up to 20 bytes per byte when it has a long run without whitespace (one BPE chunk, e.g. base64).",
	                          table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--stats", com.stats_file })) >= 0 || !model) {
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
	cli_progress_end(&c.prog, st.records_out, c.docs ? sp_docs_raw_bytes(c.docs) : c.n_bytes);
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
