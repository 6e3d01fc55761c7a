/* cli.c - `spindle dedup`: the subcommand dispatcher and the one-process commands exact, minhash
 * and eval. The staged commands are in cli_stage.c, line dedup in cli_lines.c; the logic they all
 * call is in dedup_*.c. Kept records are written as their raw input bytes, in input order. */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "cli_dedup.h"
#include "dedup.h"
#include "dedup_table.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/pmap.h"

/* ------------------------------------------------------------------ shared batch reading */
int dd_batch_add(dd_batch *b, const sp_doc *doc, int want_id, const char *score_field, int keep_longest)
{
	if (b->n == b->cap) {
		size_t c = b->cap ? b->cap * 2 : 256;
		dd_item *p = sp_realloc(b->it, c * sizeof *p);
		if (!p)
			return SP_ENOMEM;
		b->it = p;
		b->cap = c;
	}
	dd_item *it = &b->it[b->n];
	memset(it, 0, sizeof *it);
	it->index = doc->index;
	it->lineno = doc->rec->lineno;
	it->source = doc->rec->source;
	it->line_off = b->data.len;
	it->line_len = doc->rec->line.len;
	if (sp_buf_append(&b->data, doc->rec->line.p, doc->rec->line.len))
		return SP_ENOMEM;
	it->text_off = b->data.len;
	it->text_len = doc->text ? doc->text_len : 0;
	if (it->text_len && sp_buf_append(&b->data, doc->text, doc->text_len))
		return SP_ENOMEM;
	it->has_text = doc->text != NULL;
	if (want_id) {
		const char *id = sp_record_id(doc->rec);
		it->id_off = b->data.len;
		it->id_len = id ? strlen(id) : 0;
		if (id && sp_buf_append(&b->data, id, it->id_len))
			return SP_ENOMEM;
	}
	it->score = 0;
	if (keep_longest)
		it->score = (double)it->text_len;
	else if (score_field) {
		json_object *v = sp_json_path(doc->rec->obj, score_field);
		it->score = -1e308;
		if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
			it->score = json_object_get_double(v);
	}
	b->n++;
	return 0;
}

void dd_batch_reset(dd_batch *b)
{
	b->n = 0;
	sp_buf_reset(&b->data);
}

void dd_batch_free_(dd_batch *b)
{
	if (!b)
		return;
	sp_buf_release(&b->data);
	sp_free(b->it);
	sp_free(b);
}

/* Parses --keep: first | longest | field:NAME. */
int dd_parse_keep(const char *prog, const char *s, int *longest, const char **field)
{
	*longest = 0;
	*field = NULL;
	if (!s || !strcmp(s, "first"))
		return -1;
	if (!strcmp(s, "longest")) {
		*longest = 1;
		return -1;
	}
	if (!strncmp(s, "field:", 6) && s[6]) {
		*field = s + 6;
		return -1;
	}
	return cli_failf(prog, CLI_USAGE, "--keep must be first, longest or field:NAME, not '%s'", s);
}

/* The tools' shared producer (sp_docs_fill) with dedup's batch and progress line. */
typedef struct dd_fill {
	int (*add)(void *ctx, dd_batch *b, const sp_doc *doc);
	void *ctx;
	sp_docs *docs;
	const sp_stats *st;
	cli_progress *prog;
} dd_fill;

static int fill_add(void *vf, void *batch, const sp_doc *doc)
{
	dd_fill *f = vf;
	if (f->add(f->ctx, batch, doc))
		return SP_ENOMEM;
	cli_progress_step(f->prog, f->st->records_in, sp_docs_raw_bytes(f->docs));
	return 0;
}

static int fill_batch(dd_batch *b, size_t max_n, sp_docs *docs, const sp_stats *st, cli_progress *prog,
                      sp_docs_filler *filler, int (*add)(void *ctx, dd_batch *b, const sp_doc *doc), void *ctx,
                      sp_err *err)
{
	dd_batch_reset(b);
	dd_fill f = { add, ctx, docs, st, prog };
	return sp_docs_fill(docs, filler, b, max_n, 4u << 20, fill_add, &f, err);
}

/* ------------------------------------------------------------------ exact */
typedef struct ex_ctx {
	sp_docs_filler filler;  /* holds an input error met while a batch was part-filled */
	sp_docs *docs;
	sp_out *out;
	sp_stats st;
	dd_set128 seen;
	const char *key;
	int norm;
	dd_norm **norms;
	cli_progress prog;
	uint64_t no_key, removed;
} ex_ctx;

static void *ex_batch_new(void *ctx) { (void)ctx; return sp_calloc(1, sizeof(dd_batch)); }
static void ex_batch_free(void *ctx, void *b) { (void)ctx; dd_batch_free_(b); }

/* dedup by another field: hash its JSON value (strings by their text) */
static int ex_add(void *vctx, dd_batch *b, const sp_doc *doc)
{
	ex_ctx *c = vctx;
	if (!c->key)
		return dd_batch_add(b, doc, 0, NULL, 0);
	json_object *v = sp_json_path(doc->rec->obj, c->key);
	sp_doc d2 = *doc;
	if (v && json_object_is_type(v, json_type_string)) {
		d2.text = json_object_get_string(v);
		d2.text_len = (size_t)json_object_get_string_len(v);
	} else if (v) {
		d2.text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		d2.text_len = strlen(d2.text);
	} else {
		d2.text = NULL;
		d2.text_len = 0;
	}
	return dd_batch_add(b, &d2, 0, NULL, 0);
}

static int ex_produce(void *vctx, void *vb, sp_err *err)
{
	ex_ctx *c = vctx;
	return fill_batch(vb, 512, c->docs, &c->st, &c->prog, &c->filler, ex_add, c, err);
}

static int ex_work(void *vctx, int worker, void *vb, sp_buf *out, sp_err *err)
{
	ex_ctx *c = vctx;
	dd_batch *b = vb;
	for (size_t i = 0; i < b->n; i++) {
		dd_item *it = &b->it[i];
		sp_hash128 h = { 0, 0 };
		if (it->has_text) {
			const char *t;
			size_t n;
			int rc = dd_norm_apply(c->norms[worker], b->data.p + it->text_off, it->text_len, &t, &n, err);
			if (rc < 0)
				return sp_err_locate(err, it->source, it->lineno);
			h = sp_hash128_of(t, n, 0);
		}
		if (sp_buf_append(out, &h, sizeof h))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	return 0;
}

static int ex_consume(void *vctx, void *vb, const sp_buf *out, sp_err *err)
{
	ex_ctx *c = vctx;
	dd_batch *b = vb;
	for (size_t i = 0; i < b->n; i++) {
		dd_item *it = &b->it[i];
		sp_hash128 h;
		memcpy(&h, out->p + i * sizeof h, sizeof h);
		int added = 1;
		if (!it->has_text)
			c->no_key++;
		else if (dd_set128_add(&c->seen, h, &added))
			SP_RAISE(err, SP_ENOMEM, "out of memory for %zu hashes", c->seen.n);
		if (!added) {
			c->removed++;
			continue;
		}
		SP_FORWARD(sp_jsonl_write_raw(c->out, b->data.p + it->line_off, it->line_len, err));
		c->st.records_out++;
		c->st.bytes_out += it->line_len + 1;
	}
	return 0;
}

static int cmd_exact(int argc, char **argv)
{
	const char *prog = "spindle dedup exact", *out_path = "-", *norm_s = "nfkc,case,space", *key = NULL;
	long threads = 1;
	cli_common com;
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write kept records here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		{ "normalize", 0, SP_OPT_STR, &norm_s, "LIST", "normalise before hashing: comma list of nfkc,case,space,punct,digits or none (default nfkc,case,space)", NULL, 0, 0 },
		{ "key", 0, SP_OPT_STR, &key, "FIELD", "dedup by this field instead of the text (e.g. meta.url); records without it are kept", NULL, 0, 0 },
		{ "threads", 't', SP_OPT_INT, &threads, "N", "worker threads (default 1; auto: the CPUs this process may use); the output does not depend on N", NULL, 1, 256 },
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle dedup exact [OPTIONS] [FILE...]",
	                          "Drops every document whose normalised text (or --key field) was seen before: XXH3-128 of\n"
	                          "the normalised bytes, first occurrence kept, kept records written unchanged in input order.",
	                          table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		return rc;
	}
	sp_err err = SP_ERR_INIT;
	ex_ctx c;
	memset(&c, 0, sizeof c);
	c.key = key;
	if (dd_norm_parse(norm_s, &c.norm, &err) < 0) {
		sp_free(pos);
		return cli_fail(prog, &err);
	}
	sp_stats_init(&c.st, "dedup exact");
	sp_docs_opts o;
	cli_docs_opts(&com, pos, n_pos, &c.st, &o);
	if (key)
		o.field_optional = 1;
	c.norms = sp_calloc((size_t)threads, sizeof *c.norms);
	rc = c.norms ? 0 : sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (long i = 0; rc == 0 && i < threads; i++)
		rc = dd_norm_new(&c.norms[i], c.norm, &err);
	if (rc == 0)
		rc = sp_docs_open(&c.docs, &o, &err);
	if (rc == 0)
		rc = sp_out_open(&c.out, out_path, 0, &err);
	cli_progress_begin(&c.prog, prog, com.progress, c.docs ? sp_docs_raw_size(c.docs) : 0);
	if (rc == 0) {
		sp_pmap_spec spec = { (int)threads, 0, ex_batch_new, ex_batch_free, ex_produce, ex_work, ex_consume, &c };
		rc = sp_pmap_run(&spec, &err);
	}
	if (rc == 0)
		rc = sp_out_commit(c.out, &err);
	cli_progress_end(&c.prog, c.st.records_in, c.docs ? sp_docs_raw_bytes(c.docs) : 0);
	sp_stats_add(&c.st, "removed", (int64_t)c.removed);
	sp_stats_add(&c.st, "unique", (int64_t)c.seen.n);
	if (key)
		sp_stats_add(&c.st, "no_key", (int64_t)c.no_key);
	int code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &c.st);
	sp_out_free(c.out);
	sp_docs_free(c.docs);
	for (long i = 0; c.norms && i < threads; i++)
		dd_norm_free(c.norms[i]);
	sp_free(c.norms);
	dd_set128_release(&c.seen);
	sp_stats_release(&c.st);
	sp_free(pos);
	return code;
}

/* ------------------------------------------------------------------ minhash (one process) */
int dd_mh_options_finish(const char *prog, dd_mh_opts *m)
{
	m->threshold_given = m->threshold >= 0;
	if (!m->threshold_given)
		m->threshold = 0.8;
	if (m->threshold <= 0 || m->threshold > 1)
		return cli_failf(prog, CLI_USAGE, "--threshold must be in (0, 1], not %g", m->threshold);
	if ((m->bands > 0) != (m->rows > 0))
		return cli_failf(prog, CLI_USAGE, "give --bands and --rows together");
	if (m->bands <= 0) {
		/* the default threshold goes through the same choice as a given one: --threshold 0.8 written
		 * out changes nothing (it once did: the default was a fixed 14 x 8, the choice 13 x 8) */
		int b, r;
		dd_lsh_params(m->threshold, 112, &b, &r);
		m->bands = b;
		m->rows = r;
	}
	if (m->bands * m->rows > DD_MAX_PERM)
		return cli_failf(prog, CLI_USAGE, "bands x rows must be at most %d", DD_MAX_PERM);
	int rc = dd_parse_keep(prog, m->keep_s, &m->keep_longest, &m->keep_field);
	if (rc >= 0)
		return rc;
	m->p.ngram = (int)m->ngram;
	m->p.bands = (int)m->bands;
	m->p.rows = (int)m->rows;
	m->p.nfkc = m->nfkc;
	m->p.seed = (uint64_t)m->seed;
	/* the first bands x rows values make the band keys; the estimate check compares them all */
	int total = m->p.bands * m->p.rows;
	if (m->estimate_perms == 0 && !m->verify && !m->no_estimate)
		m->estimate_perms = 256; /* the estimate's error at J = 0.8: 0.025 (0.038 with 112) */
	if (m->estimate_perms > total)
		total = (int)m->estimate_perms;
	dd_perms_init(&m->perms, total, m->p.seed);
	return -1;
}

typedef struct mh_ctx {
	sp_docs_filler filler;  /* holds an input error met while a batch was part-filled */
	dd_mh_opts *m;
	sp_docs *docs;
	sp_stats st;
	cli_progress prog;
	dd_shingler **sh;
	int want_set, want_id;
	/* per document, in input order */
	size_t n, cap;
	uint64_t *keys;      /* n * bands */
	double *score;
	uint8_t *empty;
	uint64_t *line_off;  /* into the line spool; length = next offset - 1 */
	uint64_t *set_off;   /* into the set spool (in u64 units); count = next - this */
	uint64_t *id_off;    /* into ids */
	sp_buf ids;
	FILE *lines, *sets;
	uint64_t lines_len, sets_len;
	uint64_t *setbuf; size_t setcap;
	uint64_t no_words;
} mh_ctx;

static void *mh_batch_new(void *ctx) { (void)ctx; return sp_calloc(1, sizeof(dd_batch)); }
static void mh_batch_free(void *ctx, void *b) { (void)ctx; dd_batch_free_(b); }

static int mh_add(void *vctx, dd_batch *b, const sp_doc *doc)
{
	mh_ctx *c = vctx;
	return dd_batch_add(b, doc, c->want_id, c->m->keep_field, c->m->keep_longest);
}

static int mh_produce(void *vctx, void *vb, sp_err *err)
{
	mh_ctx *c = vctx;
	return fill_batch(vb, 256, c->docs, &c->st, &c->prog, &c->filler, mh_add, c, err);
}

static int mh_work(void *vctx, int worker, void *vb, sp_buf *out, sp_err *err)
{
	mh_ctx *c = vctx;
	dd_batch *b = vb;
	int bands = c->m->p.bands;
	uint64_t keys[DD_MAX_PERM];
	for (size_t i = 0; i < b->n; i++) {
		dd_item *it = &b->it[i];
		const uint64_t *set;
		size_t n;
		uint32_t sig[DD_MAX_PERM];
		int rc = dd_signature(c->sh[worker], &c->m->perms, bands, c->m->p.rows, b->data.p + it->text_off,
		                      it->text_len, c->want_set == 1, keys, &set, &n, sig, err);
		if (rc < 0)
			return sp_err_locate(err, it->source, it->lineno);
		uint64_t n64 = n, np = 0;
		if (sp_buf_append(out, &n64, 8) || sp_buf_append(out, keys, (size_t)bands * 8))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		if (c->want_set == 1)
			np = n;
		else if (c->want_set == 2 && n)
			np = (uint64_t)c->m->perms.n;
		if (sp_buf_append(out, &np, 8))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		if (c->want_set == 1 && sp_buf_append(out, set, n * 8))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		for (uint64_t k = 0; c->want_set == 2 && k < np; k++) {
			uint64_t v = sig[k];
			if (sp_buf_append(out, &v, 8))
				SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
	}
	return 0;
}

static int mh_grow(mh_ctx *c)
{
	size_t cap = c->cap ? c->cap * 2 : 4096;
	size_t bands = (size_t)c->m->p.bands;
	uint64_t *k = sp_realloc(c->keys, cap * bands * 8);
	if (k) c->keys = k;
	double *s = sp_realloc(c->score, cap * sizeof *s);
	if (s) c->score = s;
	uint8_t *e = sp_realloc(c->empty, cap);
	if (e) c->empty = e;
	uint64_t *lo = sp_realloc(c->line_off, (cap + 1) * 8);
	if (lo) c->line_off = lo;
	uint64_t *so = sp_realloc(c->set_off, (cap + 1) * 8);
	if (so) c->set_off = so;
	uint64_t *io = sp_realloc(c->id_off, (cap + 1) * 8);
	if (io) c->id_off = io;
	if (!k || !s || !e || !lo || !so || !io)
		return SP_ENOMEM;
	c->cap = cap;
	return 0;
}

static int mh_consume(void *vctx, void *vb, const sp_buf *out, sp_err *err)
{
	mh_ctx *c = vctx;
	dd_batch *b = vb;
	size_t bands = (size_t)c->m->p.bands, at = 0;
	for (size_t i = 0; i < b->n; i++) {
		dd_item *it = &b->it[i];
		if (c->n + 1 >= c->cap && mh_grow(c))
			SP_RAISE(err, SP_ENOMEM, "out of memory after %zu documents", c->n);
		uint64_t n64;
		memcpy(&n64, out->p + at, 8);
		at += 8;
		memcpy(c->keys + c->n * bands, out->p + at, bands * 8);
		at += bands * 8;
		c->empty[c->n] = n64 == 0;
		c->no_words += n64 == 0;
		c->score[c->n] = it->score;
		c->line_off[c->n] = c->lines_len;
		c->set_off[c->n] = c->sets_len;
		c->id_off[c->n] = c->ids.len;
		uint64_t np;
		memcpy(&np, out->p + at, 8);
		at += 8;
		if (np && fwrite(out->p + at, 8, np, c->sets) != np)
			SP_RAISE(err, SP_EIO, "cannot write the temporary shingle file");
		at += np * 8;
		c->sets_len += np;
		if (fwrite(b->data.p + it->line_off, 1, it->line_len, c->lines) != it->line_len || putc('\n', c->lines) == EOF)
			SP_RAISE(err, SP_EIO, "cannot write the temporary record file");
		c->lines_len += it->line_len + 1;
		if (c->want_id && sp_buf_append(&c->ids, b->data.p + it->id_off, it->id_len))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		c->n++;
		c->line_off[c->n] = c->lines_len;
		c->set_off[c->n] = c->sets_len;
		c->id_off[c->n] = c->ids.len;
	}
	return 0;
}

static int mh_get_set(void *vctx, size_t doc, const uint64_t **h, size_t *n, sp_err *err)
{
	mh_ctx *c = vctx;
	size_t cnt = (size_t)(c->set_off[doc + 1] - c->set_off[doc]);
	if (cnt > c->setcap) {
		uint64_t *p = sp_realloc(c->setbuf, cnt * 8);
		if (!p)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		c->setbuf = p;
		c->setcap = cnt;
	}
	if (cnt && pread(fileno(c->sets), c->setbuf, cnt * 8, (off_t)(c->set_off[doc] * 8)) != (ssize_t)(cnt * 8))
		SP_RAISE(err, SP_EIO, "cannot read the temporary shingle file");
	*h = c->setbuf;
	*n = cnt;
	return 0;
}

/* Writes the --clusters file: one line per removed doc, in input order. */
int dd_write_clusters(const char *path, size_t n, dd_uf *uf, const uint32_t *kept, const char *ids,
                      const uint64_t *id_off, sp_err *err)
{
	uint32_t *no = sp_malloc((n ? n : 1) * sizeof *no);
	if (!no)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	/* cluster numbers: clusters with a removed doc, in the order of their first document */
	uint32_t next = 0;
	for (size_t i = 0; i < n; i++)
		no[i] = UINT32_MAX;
	for (size_t i = 0; i < n; i++) {
		uint32_t r = dd_uf_find(uf, (uint32_t)i);
		if (r != i && no[r] == UINT32_MAX)
			no[r] = next++;
	}
	sp_out *out = NULL;
	sp_buf line = SP_BUF_INIT;
	int rc = sp_out_open(&out, path, 0, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (kept[i] == i)
			continue;
		uint32_t r = dd_uf_find(uf, (uint32_t)i), k = kept[i];
		sp_buf_reset(&line);
		int e = sp_buf_appends(&line, "{\"id\":");
		e = e ? e : sp_buf_append_json_str(&line, ids + id_off[i], (size_t)(id_off[i + 1] - id_off[i]));
		e = e ? e : sp_buf_appendf(&line, ",\"cluster\":%u,\"kept\":", no[r]);
		e = e ? e : sp_buf_append_json_str(&line, ids + id_off[k], (size_t)(id_off[k + 1] - id_off[k]));
		e = e ? e : sp_buf_appendc(&line, '}');
		rc = e ? sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory") : sp_jsonl_write_raw(out, line.p, line.len, err);
	}
	if (rc == 0)
		rc = sp_out_commit(out, err);
	sp_out_free(out);
	sp_buf_release(&line);
	sp_free(no);
	return rc;
}

static int cmd_minhash(int argc, char **argv)
{
	const char *prog = "spindle dedup minhash", *out_path = "-";
	dd_mh_opts m;
	cli_common com;
	dd_mh_opts_init(&m);
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write kept records here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		DD_MH_OPTS(&m),
		{ "clusters", 0, SP_OPT_STR, &m.clusters, "FILE", "write every removed document as {\"id\",\"cluster\",\"kept\"} (schemas/dedup-cluster.schema.json)", NULL, 0, 0 },
		{ "threads", 't', SP_OPT_INT, &m.threads, "N", "worker threads for signatures (default 1; auto: the CPUs this process may use); the output does not depend on N", NULL, 1, 256 },
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle dedup minhash [OPTIONS] [FILE...]",
	                          "Near-duplicate removal: MinHash over word n-gram shingles (ICU word segmentation, case\n"
	                          "folded), LSH banding, union-find clusters, one document kept per cluster. Kept records are\n"
	                          "written unchanged in input order. The same result comes from the staged commands\n"
	                          "(signatures, buckets, pairs, clusters, filter) on any number of jobs.",
	                          table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = dd_mh_options_finish(prog, &m)) >= 0 || (rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--clusters", m.clusters }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		return rc;
	}
	rc = dd_minhash_pipe(prog, &m, &com, pos, n_pos, out_path);
	sp_free(pos);
	return rc;
}

int dd_minhash_pipe(const char *prog, dd_mh_opts *m, cli_common *com, const char **pos, size_t n_pos,
                    const char *out_path)
{
	sp_err err = SP_ERR_INIT;
	mh_ctx c;
	memset(&c, 0, sizeof c);
	c.m = m;
	double check_t;
	int positional;
	c.want_set = dd_mh_check(m, &check_t, &positional);
	c.want_id = m->clusters != NULL;
	sp_stats_init(&c.st, "dedup minhash");
	sp_docs_opts o;
	cli_docs_opts(com, pos, n_pos, &c.st, &o);
	sp_out *out = NULL;
	dd_uf uf = { NULL, 0 };
	uint32_t *kept = NULL;
	sp_buf line = SP_BUF_INIT;
	dd_lsh_stats ls;
	memset(&ls, 0, sizeof ls);
	int threads = (int)m->threads;
	int rc = 0;
	c.sh = sp_calloc((size_t)threads, sizeof *c.sh);
	c.lines = tmpfile();
	c.sets = tmpfile();
	if (!c.sh)
		rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	else if (!c.lines || !c.sets)
		rc = sp_err_set_(&err, SP_EIO, __FILE__, __LINE__, "cannot create a temporary file (TMPDIR)");
	for (int i = 0; rc == 0 && i < threads; i++)
		rc = dd_shingler_new(&c.sh[i], &m->p, &err);
	if (rc == 0)
		rc = mh_grow(&c) ? sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory") : 0;
	if (rc == 0)
		c.line_off[0] = c.set_off[0] = c.id_off[0] = 0;
	if (rc == 0)
		rc = sp_docs_open(&c.docs, &o, &err);
	cli_progress_begin(&c.prog, prog, com->progress, c.docs ? sp_docs_raw_size(c.docs) : 0);
	if (rc == 0) {
		sp_pmap_spec spec = { threads, 0, mh_batch_new, mh_batch_free, mh_produce, mh_work, mh_consume, &c };
		rc = sp_pmap_run(&spec, &err);
	}
	cli_progress_end(&c.prog, c.st.records_in, c.docs ? sp_docs_raw_bytes(c.docs) : 0);
	if (rc == 0 && (fflush(c.lines) || fflush(c.sets)))
		rc = sp_err_set_(&err, SP_EIO, __FILE__, __LINE__, "cannot write a temporary file");
	if (rc == 0 && (c.n >= UINT32_MAX || dd_uf_init(&uf, c.n)))
		rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory for %zu documents", c.n);
	if (rc == 0)
		rc = dd_lsh_cluster(c.n, m->p.bands, c.keys, c.empty, check_t, positional, mh_get_set, &c,
		                    &uf, NULL, &ls, &err);
	if (rc == 0) {
		kept = sp_malloc((c.n ? c.n : 1) * sizeof *kept);
		if (!kept)
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		else
			dd_keep(c.n, &uf, (m->keep_longest || m->keep_field) ? c.score : NULL, kept);
	}
	if (rc == 0)
		rc = sp_out_open(&out, out_path, 0, &err);
	if (rc == 0 && fseeko(c.lines, 0, SEEK_SET))
		rc = sp_err_set_(&err, SP_EIO, __FILE__, __LINE__, "cannot rewind the temporary record file");
	uint64_t removed = 0;
	for (size_t i = 0; rc == 0 && i < c.n; i++) {
		size_t len = (size_t)(c.line_off[i + 1] - c.line_off[i]);
		sp_buf_reset(&line);
		if (sp_buf_grow(&line, len)) {
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			break;
		}
		if (fread(line.p, 1, len, c.lines) != len) {
			rc = sp_err_set_(&err, SP_EIO, __FILE__, __LINE__, "cannot read the temporary record file");
			break;
		}
		if (kept[i] != i) {
			removed++;
			continue;
		}
		rc = sp_out_write(out, line.p, len, &err);
		c.st.records_out++;
		c.st.bytes_out += len;
	}
	if (rc == 0)
		rc = sp_out_commit(out, &err);
	if (rc == 0 && m->clusters)
		rc = dd_write_clusters(m->clusters, c.n, &uf, kept, c.ids.p ? c.ids.p : "", c.id_off, &err);
	uint64_t clusters = 0;
	if (rc == 0) {
		uint8_t *has = sp_calloc(c.n ? c.n : 1, 1);
		for (size_t i = 0; has && i < c.n; i++) {
			uint32_t r = dd_uf_find(&uf, (uint32_t)i);
			if (r != i && !has[r]) {
				has[r] = 1;
				clusters++;
			}
		}
		sp_free(has);
	}
	sp_stats_add(&c.st, "removed", (int64_t)removed);
	sp_stats_add(&c.st, "clusters", (int64_t)clusters);
	sp_stats_add(&c.st, "no_words", (int64_t)c.no_words);
	sp_stats_add(&c.st, "candidate_pairs", (int64_t)ls.candidates);
	sp_stats_add(&c.st, "verified_pairs", (int64_t)ls.verified);
	sp_stats_add(&c.st, "rejected_pairs", (int64_t)ls.rejected);
	sp_stats_add(&c.st, "bands", m->p.bands);
	sp_stats_add(&c.st, "rows", m->p.rows);
	int code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, com, &c.st);
	sp_out_free(out);
	sp_docs_free(c.docs);
	for (int i = 0; c.sh && i < threads; i++)
		dd_shingler_free(c.sh[i]);
	sp_free(c.sh);
	if (c.lines)
		fclose(c.lines);
	if (c.sets)
		fclose(c.sets);
	sp_free(c.keys);
	sp_free(c.score);
	sp_free(c.empty);
	sp_free(c.line_off);
	sp_free(c.set_off);
	sp_free(c.id_off);
	sp_free(c.setbuf);
	sp_buf_release(&c.ids);
	sp_buf_release(&line);
	sp_free(kept);
	dd_uf_release(&uf);
	sp_stats_release(&c.st);
	return code;
}

int dd_mh_check(const dd_mh_opts *m, double *t, int *positional)
{
	*positional = 0;
	*t = 0;
	if (m->verify) {
		*t = m->threshold;
		return 1;
	}
	if (m->no_estimate)
		return 0;
	*t = m->threshold - m->margin;
	*positional = 1;
	return 2;
}

void dd_mh_opts_init(dd_mh_opts *m)
{
	memset(m, 0, sizeof *m);
	m->margin = 0.01;
	m->ngram = 5;
	m->threshold = -1; /* not given: 0.8, bands x rows picked for it (13 x 8) */
	m->seed = 1;
	m->threads = 1;
	m->keep_s = "first";
}

/* ------------------------------------------------------------------ eval */
struct dd_eval_sets { uint64_t **sets; size_t *lens; uint64_t *sigs; size_t npm; };

static int dd_eval_get_set(void *ctx, size_t doc, const uint64_t **h, size_t *n, sp_err *err)
{
	(void)err;
	struct dd_eval_sets *e = ctx;
	if (e->sigs) {
		*h = e->sigs + doc * e->npm;
		*n = e->npm;
		return 0;
	}
	*h = e->sets[doc];
	*n = e->lens[doc];
	return 0;
}

static int cmp_pairs(const uint64_t *a, const uint64_t *b)
{
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return (a[1] > b[1]) - (a[1] < b[1]);
}

/* Writes buf plus a newline to path ("-" = stdout), atomically for a file. */
static int write_out_line(const char *path, sp_buf *b, sp_err *err)
{
	sp_out *o = NULL;
	int rc = sp_out_open(&o, path, 0, err);
	if (rc == 0)
		rc = sp_jsonl_write_raw(o, b->p, b->len, err);
	if (rc == 0)
		rc = sp_out_commit(o, err);
	sp_out_free(o);
	return rc;
}
static int cmd_eval(int argc, char **argv)
{
	const char *prog = "spindle dedup eval", *out_path = "-";
	dd_mh_opts m;
	cli_common com;
	dd_mh_opts_init(&m);
	cli_common_init(&com);
	long max_docs = 200000;
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write the JSON report here instead of stdout", NULL, 0, 0 },
		DD_MH_OPTS(&m),
		{ "max-docs", 0, SP_OPT_INT, &max_docs, "N", "refuse corpora larger than N documents (default 200000)", NULL, 1, 100000000 },
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle dedup eval [OPTIONS] [FILE...]",
	                          "Computes, exactly (prefix-filtered similarity join), every pair of documents whose shingle\n"
	                          "sets have Jaccard >= --threshold, runs MinHash-LSH with the same options as `dedup minhash`,\n"
	                          "and prints one JSON object: the exact pair count, the candidate pairs' precision and\n"
	                          "recall, and the recall and precision of the clusters (pairs in one cluster).",
	                          table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = dd_mh_options_finish(prog, &m)) >= 0 || (rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		return rc;
	}
	sp_err err = SP_ERR_INIT;
	sp_stats st;
	sp_stats_init(&st, "dedup eval");
	sp_docs_opts o;
	cli_docs_opts(&com, pos, n_pos, &st, &o);
	sp_docs *docs = NULL;
	dd_shingler *sh = NULL;
	uint64_t **sets = NULL, *keys = NULL, *sigs = NULL;
	size_t npm = (size_t)m.perms.n;
	double check_t;
	int positional;
	dd_mh_check(&m, &check_t, &positional);
	size_t *lens = NULL, n = 0, cap = 0;
	uint8_t *empty = NULL;
	dd_pairs exact = { NULL, 0, 0 }, cand = { NULL, 0, 0 };
	dd_uf uf = { NULL, 0 };
	dd_lsh_stats ls;
	memset(&ls, 0, sizeof ls);
	size_t bands = (size_t)m.p.bands;
	double t0 = sp_now(), t_exact = 0, t_lsh = 0;
	rc = dd_shingler_new(&sh, &m.p, &err);
	if (rc == 0)
		rc = sp_docs_open(&docs, &o, &err);
	sp_doc doc;
	while (rc == 0 && (rc = sp_docs_next(docs, &doc, &err)) > 0) {
		rc = 0;
		if (n == (size_t)max_docs) {
			rc = sp_err_set_(&err, SP_EUSAGE, __FILE__, __LINE__, "more than %ld documents (see --max-docs)", max_docs);
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			uint64_t **s2 = sp_realloc(sets, cap * sizeof *s2);
			if (s2) sets = s2;
			size_t *l2 = sp_realloc(lens, cap * sizeof *l2);
			if (l2) lens = l2;
			uint64_t *k2 = sp_realloc(keys, cap * bands * 8);
			if (k2) keys = k2;
			uint8_t *e2 = sp_realloc(empty, cap);
			if (e2) empty = e2;
			uint64_t *g2 = sp_realloc(sigs, cap * npm * 8);
			if (g2) sigs = g2;
			if (!s2 || !l2 || !k2 || !e2 || !g2) {
				rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
		}
		const uint64_t *h;
		size_t k;
		uint32_t sig[DD_MAX_PERM];
		rc = dd_signature(sh, &m.perms, m.p.bands, m.p.rows, doc.text, doc.text_len, 1, keys + n * bands, &h, &k, sig, &err);
		for (size_t q = 0; rc == 0 && q < npm; q++)
			sigs[n * npm + q] = sig[q];
		if (rc < 0) {
			sp_err_locate(&err, doc.rec->source, doc.rec->lineno);
			break;
		}
		sets[n] = sp_malloc((k ? k : 1) * 8);
		if (!sets[n]) {
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			break;
		}
		memcpy(sets[n], h, k * 8);
		lens[n] = k;
		empty[n] = k == 0;
		n++;
	}
	if (rc == 0) {
		double t1 = sp_now();
		rc = dd_allpairs(n, (const uint64_t *const *)sets, lens, m.threshold, &exact, &err);
		t_exact = sp_now() - t1;
	}
	if (rc == 0 && dd_uf_init(&uf, n))
		rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc == 0) {
		double t1 = sp_now();
		rc = dd_lsh_cluster(n, m.p.bands, keys, empty, check_t, positional, dd_eval_get_set,
		                    &(struct dd_eval_sets){ sets, lens, positional ? sigs : NULL, npm }, &uf, &cand, &ls, &err);
		t_lsh = sp_now() - t1;
	}
	int code;
	if (rc < 0) {
		code = cli_fail(prog, &err);
	} else {
		/* candidate pairs vs exact pairs (both sorted unique) */
		uint64_t tp = 0, in_cluster = 0, cluster_pairs = 0;
		for (size_t i = 0, j = 0; i < cand.n && j < exact.n;) {
			int c = cmp_pairs(cand.ab + 2 * i, exact.ab + 2 * j);
			if (c == 0) { tp++; i++; j++; }
			else if (c < 0) i++;
			else j++;
		}
		for (size_t j = 0; j < exact.n; j++)
			in_cluster += dd_uf_find(&uf, (uint32_t)exact.ab[2 * j]) == dd_uf_find(&uf, (uint32_t)exact.ab[2 * j + 1]);
		/* pairs inside clusters: sum of size choose 2 */
		uint64_t *size = sp_calloc(n ? n : 1, 8), removed = 0;
		for (size_t i = 0; size && i < n; i++)
			size[dd_uf_find(&uf, (uint32_t)i)]++;
		for (size_t i = 0; size && i < n; i++) {
			cluster_pairs += size[i] * (size[i] ? size[i] - 1 : 0) / 2;
			removed += size[i] ? size[i] - 1 : 0;
		}
		sp_free(size);
		sp_buf b = SP_BUF_INIT;
		sp_buf_appendf(&b, "{\"docs\":%zu,\"threshold\":%g,\"bands\":%d,\"rows\":%d,\"ngram\":%d,\"verify\":%s,"
		               "\"exact_pairs\":%zu,\"candidate_pairs\":%zu,\"true_candidate_pairs\":%llu,"
		               "\"precision\":%.6f,\"recall\":%.6f,\"cluster_recall\":%.6f,\"cluster_pairs\":%llu,"
		               "\"cluster_precision\":%.6f,\"removed\":%llu,\"exact_seconds\":%.3f,\"lsh_seconds\":%.3f,\"seconds\":%.3f}",
		               n, m.threshold, m.p.bands, m.p.rows, m.p.ngram, m.verify ? "true" : "false",
		               exact.n, cand.n, (unsigned long long)tp,
		               cand.n ? (double)tp / (double)cand.n : 1.0, exact.n ? (double)tp / (double)exact.n : 1.0,
		               exact.n ? (double)in_cluster / (double)exact.n : 1.0, (unsigned long long)cluster_pairs,
		               cluster_pairs ? (double)in_cluster / (double)cluster_pairs : 1.0, (unsigned long long)removed,
		               t_exact, t_lsh, sp_now() - t0);
		rc = write_out_line(out_path, &b, &err);
		sp_buf_release(&b);
		code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &st);
	}
	for (size_t i = 0; i < n; i++)
		sp_free(sets[i]);
	sp_free(sets);
	sp_free(lens);
	sp_free(keys);
	sp_free(sigs);
	sp_free(empty);
	dd_pairs_release(&exact);
	dd_pairs_release(&cand);
	dd_uf_release(&uf);
	dd_shingler_free(sh);
	sp_docs_free(docs);
	sp_stats_release(&st);
	sp_free(pos);
	return code;
}

/* ------------------------------------------------------------------ dispatcher */
static const struct { const char *name; int (*fn)(int, char **); const char *summary; } subs[] = {
	{ "exact", cmd_exact, "drop documents whose normalised text (or a field) was seen before" },
	{ "minhash", cmd_minhash, "near-duplicate removal with MinHash-LSH (one process, --threads N)" },
	{ "lines", dd_cmd_lines, "CCNet-style removal of lines repeated across the corpus" },
	{ "eval", cmd_eval, "exact all-pairs Jaccard vs MinHash: precision and recall" },
	{ "signatures", dd_cmd_signatures, "staged 1/5: band keys (and shingle sets) of a shard of inputs" },
	{ "buckets", dd_cmd_buckets, "staged 2/5: group signatures by band key (a share of band partitions)" },
	{ "pairs", dd_cmd_pairs, "staged 3/5: candidate pairs of a share of buckets (--verify checks them)" },
	{ "clusters", dd_cmd_clusters, "staged 4/5: union-find over pair files (reduce step; --final decides)" },
	{ "filter", dd_cmd_filter, "staged 5/5: write the kept records of a shard of inputs" },
};

SP_COMMAND(dedup, cmd_dedup, "exact, near-duplicate (MinHash-LSH) and line-level deduplication")
{
	size_t n = sizeof subs / sizeof subs[0];
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		FILE *f = argc < 2 ? stderr : stdout;
		fprintf(f, "usage: spindle dedup COMMAND [OPTIONS] [FILE...]\n\nCommands:\n");
		for (size_t i = 0; i < n; i++)
			fprintf(f, "  %-11s %s\n", subs[i].name, subs[i].summary);
		fprintf(f, "\nOne process: spindle dedup minhash < docs.jsonl > kept.jsonl\n"
		           "Staged (cluster jobs, same result): signatures -> buckets -> pairs -> clusters -> filter;\n"
		           "see 'spindle dedup signatures --help'.\n\n%s", CLI_EXIT_CODES_HELP);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("spindle dedup %s\n", SPINDLE_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	return cli_failf("spindle dedup", CLI_USAGE, "'%s' is not a dedup command (see 'spindle dedup --help')", argv[1]);
}
