/* cli.c - `spindle filter`: JSONL documents in, the kept ones out (text cleaned, C4 lines removed,
 * PII redacted), dropped ones with their rule and measured value to --rejects. The rules are in
 * filter_rules.c; this file is argv, streams, threads (sp_pmap: output in input order) and stats. */
#include <string.h>
#include "../cli/cli.h"
#include "filter.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/pmap.h"
#include "spindle/shard.h"

enum { BATCH_DOCS = 256, BATCH_BYTES = 4 << 20 };
enum { SKIP_NONE = 0, SKIP_JSON, SKIP_UTF8, SKIP_FIELD };

typedef struct item_res {
	int kept, skip;
	const char *rule;        /* static string from the filter */
	size_t bytes_in, bytes_out, lines_removed;
	long pii[FILTER_PII_N];
	int changed;
} item_res;

typedef struct batch {
	sp_record *rec; item_res *res;
	size_t n, cap, bytes;
	sp_buf rejects;
} batch;

typedef struct run {
	const filter *f;
	filter_scratch **scratch;
	filter_result *results;     /* one per worker */
	const char *field, *url_field;
	int on_error, annotate, want_rejects;
	sp_docs *docs;              /* the inputs' lines, unparsed (opts.raw) */
	sp_docs_filler filler;
	sp_out *out, *rej;
	sp_stats *st;
	cli_progress prog;
} run;

static void *batch_new(void *ctx)
{
	(void)ctx;
	return sp_calloc(1, sizeof(batch));
}

static void batch_free(void *ctx, void *v)
{
	(void)ctx;
	batch *b = v;
	if (!b)
		return;
	for (size_t i = 0; i < b->cap; i++)
		sp_record_release(&b->rec[i]);
	sp_free(b->rec);
	sp_free(b->res);
	sp_buf_release(&b->rejects);
	sp_free(b);
}

/* a line into the batch (the shared producer's callback: lib/docs.c sp_docs_fill, unparsed lines;
 * the workers parse them) */
static int add_line(void *ctx, void *v, const sp_doc *doc)
{
	(void)ctx;
	batch *b = v;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		sp_record *x = sp_realloc(b->rec, cap * sizeof *x);
		if (!x)
			return SP_ENOMEM;
		b->rec = x;
		for (size_t i = b->cap; i < cap; i++)
			memset(&b->rec[i], 0, sizeof b->rec[i]);
		item_res *y = sp_realloc(b->res, cap * sizeof *y);
		if (!y)
			return SP_ENOMEM;
		b->res = y;
		b->cap = cap;
	}
	sp_record *rec = &b->rec[b->n];
	sp_buf_reset(&rec->line);
	if (sp_buf_append(&rec->line, doc->text, doc->text_len) < 0 || sp_buf_grow(&rec->line, 1) < 0)
		return SP_ENOMEM;
	rec->line.p[rec->line.len] = '\0';
	rec->lineno = doc->rec->lineno;
	rec->source = doc->rec->source;
	b->bytes += doc->text_len + 1;
	b->n++;
	return 0;
}

static int produce(void *ctx, void *v, sp_err *err)
{
	run *r = ctx;
	batch *b = v;
	b->n = b->bytes = 0;
	return sp_docs_fill(r->docs, &r->filler, b, BATCH_DOCS, BATCH_BYTES, add_line, r, err);
}

/* Replaces the string at a dotted path (the parent objects exist: the text was read from there). */
static int set_path_str(json_object *obj, const char *path, const char *s, size_t n)
{
	const char *dot;
	char key[256];
	while ((dot = strchr(path, '.')) != NULL) {
		size_t k = (size_t)(dot - path);
		if (k >= sizeof key)
			return SP_EDATA;
		memcpy(key, path, k);
		key[k] = 0;
		obj = json_object_object_get(obj, key);
		if (!obj)
			return SP_EDATA;
		path = dot + 1;
	}
	json_object *v = json_object_new_string_len(s, (int)n);
	if (!v)
		return SP_ENOMEM;
	return json_object_object_add(obj, path, v) ? SP_ENOMEM : 0;
}

static json_object *new_num(double v)
{
	char s[32];
	snprintf(s, sizeof s, "%.6g", v);
	if (v == (double)(long long)v && v < 1e15 && v > -1e15)
		return json_object_new_int64((int64_t)v);
	return json_object_new_double_s(v, s);
}

static json_object *meta_of(json_object *obj)
{
	json_object *m = json_object_object_get(obj, "meta");
	if (m && json_object_is_type(m, json_type_object))
		return m;
	m = json_object_new_object();
	if (m)
		json_object_object_add(obj, "meta", m);
	return m;
}

static int add_pii_meta(json_object *meta, const filter_result *fr, int spans)
{
	json_object *p = json_object_new_object();
	if (!p)
		return SP_ENOMEM;
	for (int k = 0; k < FILTER_PII_N; k++)
		if (fr->pii_counts[k])
			json_object_object_add(p, filter_pii_names[k], json_object_new_int64(fr->pii_counts[k]));
	if (spans) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; a && i < fr->n_pii; i++) {
			json_object *e = json_object_new_array();
			json_object_array_add(e, json_object_new_string(filter_pii_names[fr->pii[i].type]));
			json_object_array_add(e, json_object_new_int64((int64_t)fr->pii[i].start));
			json_object_array_add(e, json_object_new_int64((int64_t)fr->pii[i].end));
			json_object_array_add(a, e);
		}
		json_object_object_add(p, "spans", a);
	}
	json_object_object_add(meta, "pii", p);
	return 0;
}

static int reject_line(run *r, batch *b, const sp_record *rec, const filter_result *fr)
{
	json_object *o = json_object_new_object();
	if (!o)
		return SP_ENOMEM;
	json_object *id = json_object_object_get(rec->obj, "id");
	if (id)
		json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "rule", json_object_new_string(fr->rule));
	json_object_object_add(o, "value", new_num(fr->value));
	json_object_object_add(o, "threshold", new_num(fr->threshold));
	json_object_object_add(o, "source", json_object_new_string(rec->source ? rec->source : "-"));
	json_object_object_add(o, "line", json_object_new_int64((int64_t)rec->lineno));
	if (fr->lang[0])
		json_object_object_add(o, "lang", json_object_new_string(fr->lang));
	if (r->annotate && fr->signals.len) {
		sp_buf tmp = SP_BUF_INIT;
		sp_buf_appendc(&tmp, '{');
		sp_buf_append(&tmp, fr->signals.p, fr->signals.len);
		sp_buf_appendc(&tmp, '}');
		json_object *sig = json_tokener_parse(tmp.p);
		sp_buf_release(&tmp);
		if (sig)
			json_object_object_add(o, "signals", sig);
	}
	int rc = sp_json_append(&b->rejects, o);
	rc = rc ? rc : sp_buf_appendc(&b->rejects, '\n');
	json_object_put(o);
	return rc;
}

static int work_one(run *r, int worker, batch *b, size_t i, sp_buf *out, sp_err *err)
{
	sp_record *rec = &b->rec[i];
	item_res *res = &b->res[i];
	memset(res, 0, sizeof *res);
	res->bytes_in = rec->line.len + 1;
	int rc = sp_jsonl_parse(rec, err);
	const char *text = NULL, *url = NULL;
	size_t n = 0, url_n = 0;
	if (rc == 0)
		rc = sp_record_str(rec, r->field, &text, &n, err);
	if (rc < 0) {
		if (r->on_error != SP_ON_ERROR_SKIP || rc == SP_ENOMEM)
			return rc;
		res->skip = rc == SP_EUTF8 ? SKIP_UTF8 : rc == SP_EDATA && !rec->obj ? SKIP_JSON : SKIP_FIELD;
		return 0;
	}
	if (sp_record_str(rec, r->url_field, &url, &url_n, NULL) < 0)
		url = NULL;
	filter_result *fr = &r->results[worker];
	SP_FORWARD(filter_doc(r->f, r->scratch[worker], text, n, url, r->annotate, fr, err));
	const filter_config *c = filter_get_config(r->f);
	memcpy(res->pii, fr->pii_counts, sizeof res->pii);
	res->lines_removed = fr->lines_removed;
	if (!fr->keep) {
		res->rule = fr->rule;
		if (r->want_rejects && reject_line(r, b, rec, fr) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		return 0;
	}
	res->kept = 1;
	res->changed = fr->text_changed;
	size_t before = out->len;
	int touch = fr->text_changed || fr->lang[0] || r->annotate || c->pii == FILTER_PII_TAG;
	if (!touch) {
		rc = sp_buf_append(out, rec->line.p, rec->line.len);
	} else {
		if (fr->text_changed && (rc = set_path_str(rec->obj, r->field, fr->text, fr->text_len)) < 0)
			SP_RAISE(err, rc, "cannot set field '%s'", r->field);
		json_object *meta = meta_of(rec->obj);
		if (!meta)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		if (fr->lang[0]) {
			json_object_object_add(meta, "lang", json_object_new_string(fr->lang));
			json_object_object_add(meta, "lang_score", new_num(fr->lang_score));
		}
		if (c->pii == FILTER_PII_TAG || (c->pii == FILTER_PII_REDACT && fr->n_pii))
			add_pii_meta(meta, fr, c->pii == FILTER_PII_TAG);
		if (r->annotate) {
			sp_buf tmp = SP_BUF_INIT;
			sp_buf_appendc(&tmp, '{');
			sp_buf_append(&tmp, fr->signals.p, fr->signals.len);
			sp_buf_appendc(&tmp, '}');
			json_object *sig = json_tokener_parse(tmp.p);
			sp_buf_release(&tmp);
			if (sig)
				json_object_object_add(meta, "filter", sig);
		}
		rc = sp_json_append(out, rec->obj);
	}
	if (rc < 0 || sp_buf_appendc(out, '\n'))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	res->bytes_out = out->len - before;
	return 0;
}

static int work(void *ctx, int worker, void *v, sp_buf *out, sp_err *err)
{
	run *r = ctx;
	batch *b = v;
	sp_buf_reset(&b->rejects);
	for (size_t i = 0; i < b->n; i++)
		SP_FORWARD(work_one(r, worker, b, i, out, err));
	/* parsed objects are not needed any more: free them here, in parallel */
	for (size_t i = 0; i < b->n; i++)
		if (b->rec[i].obj) {
			json_object_put(b->rec[i].obj);
			b->rec[i].obj = NULL;
		}
	return 0;
}

static int consume(void *ctx, void *v, const sp_buf *out, sp_err *err)
{
	run *r = ctx;
	batch *b = v;
	sp_stats *st = r->st;
	static const char *const skip_names[] = { "", "bad_json", "bad_utf8", "missing_field" };
	for (size_t i = 0; i < b->n; i++) {
		item_res *res = &b->res[i];
		st->records_in++;
		st->bytes_in += res->bytes_in;
		if (res->skip) {
			sp_stats_skip(st, skip_names[res->skip], 1);
			continue;
		}
		for (int k = 0; k < FILTER_PII_N; k++)
			if (res->pii[k]) {
				char name[32];
				snprintf(name, sizeof name, "pii_%s", filter_pii_names[k]);
				sp_stats_add(st, name, res->pii[k]);
			}
		if (res->lines_removed)
			sp_stats_add(st, "c4_lines_removed", (int64_t)res->lines_removed);
		if (!res->kept) {
			char name[64];
			sp_stats_skip(st, res->rule, 1);
			snprintf(name, sizeof name, "bytes_dropped_%s", res->rule);
			sp_stats_add(st, name, (int64_t)res->bytes_in);
			continue;
		}
		st->records_out++;
		st->bytes_out += res->bytes_out;
		if (res->changed)
			sp_stats_add(st, "text_changed", 1);
	}
	if (out->len)
		SP_FORWARD(sp_out_write(r->out, out->p, out->len, err));
	if (r->rej && b->rejects.len)
		SP_FORWARD(sp_out_write(r->rej, b->rejects.p, b->rejects.len, err));
	cli_progress_step(&r->prog, st->records_in, sp_docs_raw_bytes(r->docs));
	return 0;
}

SP_COMMAND(filter, cmd_filter, "quality, repetition, language, URL and PII rules over JSONL documents")
{
	const char *prog = "spindle filter", *out_path = "-", *config_path = NULL, *rejects_path = NULL;
	const char *pii = NULL, *lang = NULL;
	int print_config = 0, annotate = 0;
	long threads = 1;
	sp_optlist sets = { 0 }, disables = { 0 };
	cli_common com;
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write kept documents here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		{ "config", 'c', SP_OPT_STR, &config_path, "FILE", "rule switches and thresholds (\"key = value\" lines; see --print-config)", NULL, 0, 0 },
		{ "set", 0, SP_OPT_LIST, &sets, "KEY=VALUE", "set one config key (after --config; repeatable)", NULL, 0, 0 },
		{ "disable", 0, SP_OPT_LIST, &disables, "RULE", "switch a rule off (repeatable; same as --set RULE=off)", NULL, 0, 0 },
		{ "print-config", 0, SP_OPT_FLAG, &print_config, NULL, "print the configuration in effect (defaults unless changed) and exit", NULL, 0, 0 },
		{ "pii", 0, SP_OPT_CHOICE, &pii, NULL, "PII: redact with typed placeholders, drop the document, tag spans in meta.pii, or off", "redact|drop|tag|off", 0, 0 },
		{ "lang", 0, SP_OPT_STR, &lang, "LIST", "languages to keep, comma-separated (default en; * = any)", NULL, 0, 0 },
		{ "rejects", 0, SP_OPT_STR, &rejects_path, "FILE", "write each dropped document's id, rule, measured value and threshold here (JSONL)", NULL, 0, 0 },
		{ "annotate", 0, SP_OPT_FLAG, &annotate, NULL, "measure every rule and keep all signals in meta.filter (and in rejects)", NULL, 0, 0 },
		{ "threads", 'j', SP_OPT_INT, &threads, "N", "worker threads (output stays in input order; default 1; auto: the CPUs this process may use)", NULL, 1, 256 },
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle filter [OPTIONS] [FILE.jsonl[.zst|.gz]...] > kept.jsonl",
	                   "Reads JSONL documents (stdin when no FILE) and writes those that pass every enabled rule,\n"
	                   "keeping each record's id and fields and adding to meta (lang, lang_score, pii, filter).\n"
	                   "Rules run in order: text clean-up (control/invisible characters, NFC), URL block lists,\n"
	                   "language (CLD2), Gopher repetition, Gopher quality, C4 (line removal, lorem ipsum, curly\n"
	                   "braces, sentences), FineWeb, then PII. The first failing rule drops a document.\n"
	                   "--stats counts drops per rule (skipped.RULE) and their bytes (counters.bytes_dropped_RULE).\n"
	                   "Every rule, threshold and output field: schemas/filter-config.md.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_err err = SP_ERR_INIT;
	filter_config cfg;
	filter *f = NULL;
	sp_stats st;
	sp_stats_init(&st, "filter");
	run r;
	memset(&r, 0, sizeof r);
	int code = 0;
	if ((rc = cli_common_finish(prog, &com)) >= 0 || (rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--rejects", rejects_path }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		sp_optlist_release(&sets);
		sp_optlist_release(&disables);
		sp_stats_release(&st);
		return rc;
	}
	if (filter_config_defaults(&cfg) < 0) {
		code = cli_failf(prog, CLI_IO, "out of memory");
		goto end_cfg;
	}
	if (config_path && (rc = filter_config_load(&cfg, config_path, &err)) < 0) {
		code = cli_fail(prog, &err);
		if (err.code == SP_EUSAGE)
			code = CLI_USAGE;
		goto end_cfg;
	}
	for (size_t i = 0; i < sets.n; i++) {
		char key[128];
		const char *eq = strchr(sets.items[i], '=');
		size_t k = eq ? (size_t)(eq - sets.items[i]) : 0;
		if (!eq || k >= sizeof key) {
			code = cli_failf(prog, CLI_USAGE, "--set wants KEY=VALUE, got '%s'", sets.items[i]);
			goto end_cfg;
		}
		memcpy(key, sets.items[i], k);
		key[k] = 0;
		while (k && key[k - 1] == ' ')
			key[--k] = 0;
		const char *val = eq + 1;
		while (*val == ' ')
			val++;
		if (filter_config_set(&cfg, key, val, &err) < 0) {
			code = cli_fail(prog, &err);
			code = CLI_USAGE;
			goto end_cfg;
		}
	}
	for (size_t i = 0; i < disables.n; i++)
		if (strchr(disables.items[i], '.') || filter_config_set(&cfg, disables.items[i], "off", &err) < 0) {
			code = cli_failf(prog, CLI_USAGE, "--disable: '%s' is not a rule switch (see --print-config)", disables.items[i]);
			goto end_cfg;
		}
	if (pii)
		filter_config_set(&cfg, "pii", pii, &err);
	if (lang && filter_config_set(&cfg, "lang.keep", lang, &err) < 0) {
		code = cli_fail(prog, &err);
		goto end_cfg;
	}
	if (print_config) {
		sp_buf b = SP_BUF_INIT;
		filter_config_print(&cfg, &b);
		fwrite(b.p, 1, b.len, stdout);
		sp_buf_release(&b);
		goto end_cfg;
	}
	if ((rc = filter_new(&f, &cfg, &err)) < 0) {
		code = err.code == SP_EUSAGE ? (cli_fail(prog, &err), CLI_USAGE) : cli_fail(prog, &err);
		goto end_cfg;
	}

	r.f = f;
	r.field = com.field ? com.field : "text";
	r.url_field = cfg.url_field && *cfg.url_field ? cfg.url_field : "meta.url";
	r.on_error = com.on_error_mode;
	r.annotate = annotate;
	r.want_rejects = rejects_path != NULL;
	r.st = &st;
	/* inputs: this job's shard of the files, or stdin; lines unparsed (the workers parse them) */
	sp_docs_opts dopts;
	memset(&dopts, 0, sizeof dopts);
	dopts.inputs = pos;
	dopts.n_inputs = n_pos;
	dopts.shard = com.shard;
	dopts.raw = 1;
	r.scratch = sp_calloc((size_t)threads, sizeof *r.scratch);
	r.results = sp_calloc((size_t)threads, sizeof *r.results);
	rc = r.scratch && r.results ? 0 : SP_ENOMEM;
	for (long i = 0; rc == 0 && i < threads; i++)
		if (!(r.scratch[i] = filter_scratch_new(f)))
			rc = SP_ENOMEM;
	if (rc < 0) {
		code = cli_failf(prog, CLI_IO, "out of memory");
		goto end_run;
	}
	if ((rc = sp_docs_open(&r.docs, &dopts, &err)) < 0) {
		code = cli_fail(prog, &err);
		goto end_run;
	}
	cli_progress_begin(&r.prog, prog, com.progress, sp_docs_raw_size(r.docs));
	rc = sp_out_open(&r.out, out_path, 0, &err);
	if (rc == 0 && rejects_path)
		rc = sp_out_open(&r.rej, rejects_path, 0, &err);
	if (rc == 0) {
		sp_pmap_spec spec = { (int)threads, 0, batch_new, batch_free, produce, work, consume, &r };
		rc = sp_pmap_run(&spec, &err);
	}
	if (rc == 0)
		rc = sp_out_commit(r.out, &err);
	if (rc == 0 && r.rej)
		rc = sp_out_commit(r.rej, &err);
	cli_progress_end(&r.prog, st.records_in, sp_docs_raw_bytes(r.docs));
	code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &st);
end_run:
	sp_docs_free(r.docs);
	sp_out_free(r.out);
	sp_out_free(r.rej);
	for (long i = 0; r.scratch && i < threads; i++)
		filter_scratch_free(r.scratch[i]);
	for (long i = 0; r.results && i < threads; i++)
		filter_result_release(&r.results[i]);
	sp_free(r.scratch);
	sp_free(r.results);

	filter_free(f);
end_cfg:
	filter_config_release(&cfg);
	sp_stats_release(&st);
	sp_optlist_release(&sets);
	sp_optlist_release(&disables);
	sp_free(pos);
	return code;
}
