/* cli_extract.c - `spindle extract`: WARC files and HTML files in, one JSONL document per HTML page
 * out, in input order (records are read in this thread; parsing and extraction run on --threads
 * workers through sp_pmap). Logic: extract_warc.c (records), extract_html.c (charset, text). */
#include <string.h>
#include "../cli/cli.h"
#include "extract.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/pmap.h"
#include "spindle/shard.h"
#include "spindle/utf8.h"
#include <strings.h>

enum { BATCH_ITEMS = 64, BATCH_BYTES = 8 << 20 };

typedef struct xitem {
	int http;                 /* body is an HTTP response (WARC response record) */
	int wet;                  /* body is text already (WET: a conversion record of text/plain) */
	const char *source;
	uint64_t number;
	sp_buf id, uri, date, ctype, body, refers_to;
	const char *skip;         /* set by the worker: reason it was skipped */
	size_t out_bytes;
} xitem;

typedef struct xbatch { xitem *it; size_t n, cap, bytes; } xbatch;

typedef struct xrun {
	extract_opts o;
	const char **inputs; size_t n_inputs, cur;
	warc_reader *wr;
	int in_warc;
	warc_record rec;
	size_t max_body;
	int on_error;
	extract_result *res;      /* per worker */
	sp_buf *scratch;          /* per worker, 3 each: dechunked payload, decoded body, decoding temp */
	sp_out *out;
	sp_stats *st;
	cli_progress prog;
	uint64_t raw_done;
	const char *prog_name;
} xrun;

static void *xbatch_new(void *ctx) { (void)ctx; return sp_calloc(1, sizeof(xbatch)); }

static void xitem_release(xitem *it)
{
	sp_buf_release(&it->id); sp_buf_release(&it->uri); sp_buf_release(&it->date);
	sp_buf_release(&it->ctype); sp_buf_release(&it->body); sp_buf_release(&it->refers_to);
}

static void xbatch_free(void *ctx, void *v)
{
	(void)ctx;
	xbatch *b = v;
	if (!b)
		return;
	for (size_t i = 0; i < b->cap; i++)
		xitem_release(&b->it[i]);
	sp_free(b->it);
	sp_free(b);
}

static int copy(sp_buf *dst, const sp_buf *src)
{
	sp_buf_reset(dst);
	return sp_buf_append(dst, src->p ? src->p : "", src->len) || sp_buf_grow(dst, 1) ? SP_ENOMEM : 0;
}

static xitem *next_slot(xbatch *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		xitem *x = sp_realloc(b->it, cap * sizeof *x);
		if (!x)
			return NULL;
		memset(x + b->cap, 0, (cap - b->cap) * sizeof *x);
		b->it = x;
		b->cap = cap;
	}
	xitem *it = &b->it[b->n];
	it->skip = NULL;
	it->out_bytes = 0;
	return it;
}

static int skip_type(xrun *r, const char *type)
{
	char name[48];
	snprintf(name, sizeof name, "warc_%s", *type ? type : "untyped");
	r->st->records_in++;
	return sp_stats_skip(r->st, name, 1);
}

static int xproduce(void *ctx, void *v, sp_err *err)
{
	xrun *r = ctx;
	xbatch *b = v;
	b->n = b->bytes = 0;
	while (b->n < BATCH_ITEMS && b->bytes < BATCH_BYTES) {
		if (!r->wr) {
			if (r->cur >= r->n_inputs)
				break;
			int rc = warc_open(&r->wr, r->inputs[r->cur], &r->in_warc, err);
			if (rc < 0) {
				if (r->on_error != SP_ON_ERROR_SKIP)
					return rc;
				cli_fail(r->prog_name, err);   /* escaped, like every message */
				sp_stats_skip(r->st, "unreadable_input", 1);
				r->cur++;
				continue;
			}
			if (!r->in_warc) {
				/* a plain (possibly compressed) HTML file: one document */
				xitem *it = next_slot(b);
				if (!it)
					SP_RAISE(err, SP_ENOMEM, "out of memory");
				rc = warc_slurp(r->wr, &it->body, err);
				r->raw_done += warc_raw_bytes(r->wr);
				warc_close(r->wr);
				r->wr = NULL;
				const char *name = r->inputs[r->cur++];
				if (rc < 0) {
					sp_err_locate(err, name, 0);
					if (r->on_error != SP_ON_ERROR_SKIP)
						return rc;
					r->st->records_in++;
					sp_stats_skip(r->st, "damaged_input", 1);
					continue;
				}
				sp_buf_reset(&it->id);
				sp_buf_reset(&it->uri);
				sp_buf_reset(&it->date);
				sp_buf_reset(&it->ctype);
				/* a file named on the command line is taken as HTML (unless its bytes are binary) */
				if (sp_buf_appends(&it->id, name) || sp_buf_grow(&it->uri, 1) || sp_buf_grow(&it->date, 1) ||
				    sp_buf_appends(&it->ctype, "text/html"))
					SP_RAISE(err, SP_ENOMEM, "out of memory");
				it->http = 0;
				it->source = name;
				it->number = 1;
				b->bytes += it->body.len;
				b->n++;
				continue;
			}
		}
		int rc = warc_next(r->wr, &r->rec, r->max_body, err);
		if (rc == 0 || (rc < 0 && rc != SP_EDATA)) {
			if (rc < 0) {
				if (r->on_error != SP_ON_ERROR_SKIP)
					return rc;
				cli_fail(r->prog_name, err);   /* escaped, like every message */
				sp_stats_skip(r->st, "damaged_input", 1);
			}
			r->raw_done += warc_raw_bytes(r->wr);
			warc_close(r->wr);
			r->wr = NULL;
			r->cur++;
			continue;
		}
		if (rc == SP_EDATA) {
			r->st->records_in++;
			sp_stats_skip(r->st, strstr(err->msg, "too large") ? "too_large" : "damaged_record", 1);
			continue;
		}
		const char *ct = r->rec.content_type.p;
		int http = !strcmp(r->rec.type, "response") && !strncasecmp(ct, "application/http", 16);
		int resource = !strcmp(r->rec.type, "resource");
		/* Common Crawl's WET files: the text it extracted, one conversion record per page */
		int wet = !strcmp(r->rec.type, "conversion") && !strncasecmp(ct, "text/plain", 10);
		if (!http && !resource && !wet) {
			skip_type(r, r->rec.type);
			continue;
		}
		xitem *it = next_slot(b);
		if (!it)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		it->http = http;
		it->wet = wet;
		it->source = r->inputs[r->cur];
		it->number = r->rec.number;
		if (copy(&it->id, &r->rec.id) || copy(&it->uri, &r->rec.uri) || copy(&it->date, &r->rec.date) ||
		    copy(&it->ctype, &r->rec.content_type) || copy(&it->refers_to, &r->rec.refers_to))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		if (!it->id.len && (sp_buf_appendf(&it->id, "%s#%llu", it->source, (unsigned long long)it->number) < 0))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		/* take the body without copying */
		sp_buf tmp = it->body;
		it->body = r->rec.body;
		r->rec.body = tmp;
		b->bytes += it->body.len;
		b->n++;
	}
	return b->n > 0;
}

static int add_str(sp_buf *o, const char *key, const char *s, size_t n)
{
	return sp_buf_appendf(o, ",\"%s\":", key) < 0 || sp_buf_append_json_str(o, s, n) < 0 ? SP_ENOMEM : 0;
}

/* A WET conversion record: its text is the document, as Common Crawl extracted it. */
static int xwork_wet(xrun *r, xitem *it, sp_buf *out, sp_err *err)
{
	const char *text = it->body.p ? it->body.p : "";
	size_t n = it->body.len;
	if (!n) {
		it->skip = "empty";
		return 0;
	}
	if (!sp_utf8_valid(text, n, NULL)) {
		it->skip = "invalid_utf8";
		return 0;
	}
	if (n < r->o.min_chars) {
		it->skip = "empty_text";
		return 0;
	}
	size_t before = out->len;
	int rc = sp_buf_appends(out, "{\"id\":") || sp_buf_append_json_str(out, it->id.p, it->id.len) ||
	         sp_buf_appends(out, ",\"text\":") || sp_buf_append_json_str(out, text, n) ||
	         sp_buf_appends(out, ",\"meta\":{\"source\":") || sp_buf_append_json_str(out, it->source, strlen(it->source));
	if (!rc && it->uri.len) rc = add_str(out, "url", it->uri.p, it->uri.len);
	if (!rc && it->date.len) rc = add_str(out, "date", it->date.p, it->date.len);
	if (!rc) rc = add_str(out, "warc_record_id", it->id.p, it->id.len);
	if (!rc && it->refers_to.len) rc = add_str(out, "refers_to", it->refers_to.p, it->refers_to.len);
	if (!rc) rc = add_str(out, "content_type", "text/plain", 10);
	if (!rc) rc = sp_buf_appendf(out, ",\"bytes\":%zu}}\n", n) < 0;
	if (rc)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	it->out_bytes = out->len - before;
	return 0;
}

static int xwork_one(xrun *r, int worker, xitem *it, sp_buf *out, sp_err *err)
{
	if (it->wet)
		return xwork_wet(r, it, out, err);
	const char *payload = it->body.p ? it->body.p : "", *ctype = it->ctype.p;
	size_t payload_len = it->body.len, ctype_len = it->ctype.len;
	if (it->http) {
		extract_http_resp h;
		sp_buf *sc = &r->scratch[3 * worker];
		if (extract_http(it->body.p, it->body.len, &h, &sc[0], NULL) < 0) {
			it->skip = "bad_http";
			return 0;
		}
		if (h.status < 200 || h.status > 299) {
			it->skip = "http_status";
			return 0;
		}
		ctype = h.ctype;
		ctype_len = h.ctype_len;
		payload = h.payload;
		payload_len = h.payload_len;
		if (h.coding_len) {
			const char *why = NULL, *dp;
			size_t dn;
			int rc = extract_decode(h.coding, h.coding_len, h.payload, h.payload_len, r->max_body, &sc[1], &sc[2],
			                        &dp, &dn, &why);
			if (rc == SP_ENOMEM)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			if (rc == 0) {
				payload = dp;
				payload_len = dn;
			} else if (!payload_len || extract_not_html(ctype, ctype_len, payload, payload_len)) {
				/* (a body that does not decode but reads as HTML was stored decoded: kept as it is) */
				it->skip = why;
				return 0;
			}
		}
	}
	if (!payload_len) {
		it->skip = "empty";
		return 0;
	}
	const char *why = extract_not_html(ctype, ctype_len, payload, payload_len);
	if (why) {
		it->skip = why;
		return 0;
	}
	extract_result *res = &r->res[worker];
	int rc = extract_html(&r->o, payload, payload_len, ctype, ctype_len, res, err);
	if (rc == SP_ENOMEM)
		return rc;
	if (rc < 0) {
		it->skip = "unparsable";
		return 0;
	}
	if (res->text.len < r->o.min_chars) {
		it->skip = "empty_text";
		return 0;
	}
	size_t before = out->len;
	rc = sp_buf_appends(out, "{\"id\":") || sp_buf_append_json_str(out, it->id.p, it->id.len) ||
	     sp_buf_appends(out, ",\"text\":") || sp_buf_append_json_str(out, res->text.p, res->text.len) ||
	     sp_buf_appends(out, ",\"meta\":{\"source\":") ||
	     sp_buf_append_json_str(out, it->source, strlen(it->source));
	if (!rc && it->uri.len) rc = add_str(out, "url", it->uri.p, it->uri.len);
	if (!rc && it->date.len) rc = add_str(out, "date", it->date.p, it->date.len);
	if (!rc && it->http) rc = add_str(out, "warc_record_id", it->id.p, it->id.len);
	if (!rc) {
		/* the content type without parameters */
		size_t k = 0;
		while (ctype && k < ctype_len && ctype[k] != ';' && ctype[k] != ' ')
			k++;
		rc = k ? add_str(out, "content_type", ctype, k) : add_str(out, "content_type", "text/html", 9);
	}
	if (!rc) rc = add_str(out, "charset", res->charset, strlen(res->charset));
	if (!rc) rc = add_str(out, "charset_source", res->charset_source, strlen(res->charset_source));
	if (!rc && res->title.len && sp_utf8_valid(res->title.p, res->title.len, NULL))
		rc = add_str(out, "title", res->title.p, res->title.len);
	if (!rc) rc = sp_buf_appendf(out, ",\"bytes\":%zu}}\n", payload_len) < 0;
	if (rc)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	it->out_bytes = out->len - before;
	return 0;
}

static int xwork(void *ctx, int worker, void *v, sp_buf *out, sp_err *err)
{
	xbatch *b = v;
	for (size_t i = 0; i < b->n; i++)
		SP_FORWARD(xwork_one(ctx, worker, &b->it[i], out, err));
	return 0;
}

static int xconsume(void *ctx, void *v, const sp_buf *out, sp_err *err)
{
	xrun *r = ctx;
	xbatch *b = v;
	for (size_t i = 0; i < b->n; i++) {
		xitem *it = &b->it[i];
		r->st->records_in++;
		r->st->bytes_in += it->body.len;
		if (it->skip) {
			sp_stats_skip(r->st, it->skip, 1);
			continue;
		}
		r->st->records_out++;
		r->st->bytes_out += it->out_bytes;
	}
	if (out->len)
		SP_FORWARD(sp_out_write(r->out, out->p, out->len, err));
	cli_progress_step(&r->prog, r->st->records_in, r->raw_done + (r->wr ? warc_raw_bytes(r->wr) : 0));
	return 0;
}

SP_COMMAND(extract, cmd_extract, "WARC, WET and HTML files to JSONL documents of their main text")
{
	const char *prog = "spindle extract", *out_path = "-";
	long threads = 1, max_mb = 32, min_chars = 1;
	double link_density = 0.5;
	cli_common com;
	cli_common_init(&com);
	com.on_error = "skip";
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		{ "threads", 'j', SP_OPT_INT, &threads, "N", "worker threads (output stays in input order; default 1; auto: the CPUs this process may use)", NULL, 1, 256 },
		{ "link-density", 0, SP_OPT_DOUBLE, &link_density, "X", "drop blocks with 2+ links whose link text is more than X of their text (default 0.5)", "0..1", 0, 0 },
		{ "min-chars", 0, SP_OPT_INT, &min_chars, "N", "skip pages with less extracted text (default 1)", NULL, 0, 1L << 30 },
		{ "max-record-mb", 0, SP_OPT_INT, &max_mb, "N", "skip WARC records (and decoded HTTP bodies) larger than N MiB (default 32)", NULL, 1, 4096 },
		{ "stats", 0, SP_OPT_STR, &com.stats_file, "FILE", "write a JSON summary of the run to FILE (skip reasons per record)", NULL, 0, 0 },
		{ "on-error", 0, SP_OPT_CHOICE, &com.on_error, NULL, "unreadable or corrupt input files: skip (default) or fail", "fail|skip", 0, 0 },
		{ "shard", 0, SP_OPT_STR, &com.shard_s, "I/N", "process only job I's share of N of the input files", NULL, 0, 0 },
		{ "progress", 0, SP_OPT_FLAG, &com.progress_force, NULL, "show progress even when stderr is not a terminal", NULL, 0, 0 },
		{ "quiet", 'q', SP_OPT_FLAG, &com.quiet, NULL, "no progress line", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle extract [OPTIONS] FILE.html|FILE.warc[.gz|.zst]... > docs.jsonl",
	                          "Writes one JSONL document per HTML page: {\"id\", \"text\", \"meta\": {source, url, date,\n"
	                          "warc_record_id, content_type, charset, charset_source, title, bytes}}. WARC files (1.0/1.1;\n"
	                          "plain, zstd, whole-file gzip or per-record gzip) give one document per HTML response or\n"
	                          "resource record; any other file is one HTML page (stdin when no FILE). Non-HTML records,\n"
	                          "binary payloads, non-2xx responses and damaged records (a truncated gzip member costs only\n"
	                          "its record) are skipped and counted by reason in --stats. HTTP bodies stored with their\n"
	                          "Content-Encoding (gzip, deflate, br, zstd, or a list) are decoded, up to --max-record-mb.\n"
	                          "WET files (Common Crawl's extracted text: conversion records of text/plain) give one document\n"
	                          "per record, its text as it is, meta {source, url, date, warc_record_id, refers_to (the WARC\n"
	                          "response it came from), content_type, bytes}; invalid UTF-8 is skipped as invalid_utf8.\n"
	                          "WARC and WET files can be mixed in one run.",
	                          table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		return rc;
	}
	extract_global_init();
	sp_err err = SP_ERR_INIT;
	sp_stats st;
	sp_stats_init(&st, "extract");
	xrun r;
	memset(&r, 0, sizeof r);
	warc_record rinit = WARC_RECORD_INIT;
	r.rec = rinit;
	r.o.link_density_max = link_density;
	r.o.min_chars = (size_t)min_chars;
	r.max_body = (size_t)max_mb << 20;
	r.on_error = com.on_error_mode;
	r.st = &st;
	r.prog_name = prog;
	static const char *stdin_names[1] = { "-" };
	const char **picked = stdin_names;
	size_t n_picked = 1;
	int code = 0;
	if (n_pos) {
		picked = sp_calloc(n_pos, sizeof *picked);
		if (!picked) {
			code = cli_failf(prog, CLI_IO, "out of memory");
			goto end;
		}
		sp_shard_select(&com.shard, pos, n_pos, picked, &n_picked);
	}
	r.inputs = picked;
	r.n_inputs = n_picked;
	r.res = sp_calloc((size_t)threads, sizeof *r.res);
	r.scratch = sp_calloc((size_t)threads * 3, sizeof *r.scratch);
	if (!r.res || !r.scratch) {
		code = cli_failf(prog, CLI_IO, "out of memory");
		goto end;
	}
	cli_progress_begin(&r.prog, prog, com.progress, 0);
	rc = sp_out_open(&r.out, out_path, 0, &err);
	if (rc == 0) {
		sp_pmap_spec spec = { (int)threads, 0, xbatch_new, xbatch_free, xproduce, xwork, xconsume, &r };
		rc = sp_pmap_run(&spec, &err);
	}
	if (rc == 0)
		rc = sp_out_commit(r.out, &err);
	cli_progress_end(&r.prog, st.records_in, r.raw_done);
	code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &st);
end:
	warc_close(r.wr);
	warc_record_release(&r.rec);
	sp_out_free(r.out);
	for (long i = 0; r.res && i < threads; i++)
		extract_result_release(&r.res[i]);
	for (long i = 0; r.scratch && i < threads * 3; i++)
		sp_buf_release(&r.scratch[i]);
	sp_free(r.res);
	sp_free(r.scratch);
	if (picked != stdin_names)
		sp_free(picked);
	sp_stats_release(&st);
	sp_free(pos);
	return code;
}
