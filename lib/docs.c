/* docs.c - the document stream over a tool's inputs (see spindle/docs.h). */
#include <string.h>
#include <sys/stat.h>
#include "spindle/docs.h"
#include "spindle/mem.h"

struct sp_docs {
	sp_docs_opts o;
	const char **picked;
	size_t n_picked, cur;
	sp_in *in;
	sp_record rec;
	uint64_t index, raw_done, raw_size;
	const char *stdin_name[1];
};

int sp_docs_open(sp_docs **out, const sp_docs_opts *opts, sp_err *err)
{
	sp_docs *d = sp_calloc(1, sizeof *d);
	if (!d)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	d->o = *opts;
	if (!d->o.field)
		d->o.field = "text";
	if (!d->o.shard.count)
		d->o.shard.count = 1;
	sp_record init = SP_RECORD_INIT;
	d->rec = init;
	if (opts->n_inputs == 0) {
		d->stdin_name[0] = "-";
		d->picked = d->stdin_name;
		d->n_picked = 1;
	} else {
		d->picked = sp_calloc(opts->n_inputs, sizeof *d->picked);
		if (!d->picked) {
			sp_free(d);
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
		sp_shard_select(&d->o.shard, opts->inputs, opts->n_inputs, d->picked, &d->n_picked);
		for (size_t i = 0; i < d->n_picked; i++) {
			struct stat st;
			if (strcmp(d->picked[i], "-") && stat(d->picked[i], &st) == 0)
				d->raw_size += (uint64_t)st.st_size;
		}
	}
	*out = d;
	return 0;
}

static int skip_or_fail(sp_docs *d, int rc, const char *reason)
{
	if (d->o.on_error != SP_ON_ERROR_SKIP)
		return rc;
	if (d->o.stats)
		sp_stats_skip(d->o.stats, reason, 1);
	return 0;
}

static int is_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* opts.raw: the next non-blank line, unparsed */
static int next_raw(sp_docs *d, sp_doc *doc, sp_err *err)
{
	for (;;) {
		if (!d->in) {
			if (d->cur >= d->n_picked)
				return 0;
			SP_FORWARD(sp_in_open(&d->in, d->picked[d->cur], err));
		}
		int rc = sp_in_getline(d->in, &d->rec.line, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			d->raw_done += sp_in_raw_bytes(d->in);
			sp_in_free(d->in);
			d->in = NULL;
			d->cur++;
			continue;
		}
		if (is_blank(d->rec.line.p, d->rec.line.len))
			continue;
		d->rec.lineno = sp_in_lineno(d->in);
		d->rec.source = d->picked[d->cur];
		doc->rec = &d->rec;
		doc->text = d->rec.line.p;
		doc->text_len = d->rec.line.len;
		doc->index = d->index++;
		return 1;
	}
}

int sp_docs_next(sp_docs *d, sp_doc *doc, sp_err *err)
{
	if (d->o.raw)
		return next_raw(d, doc, err);
	for (;;) {
		if (!d->in) {
			if (d->cur >= d->n_picked)
				return 0;
			SP_FORWARD(sp_in_open(&d->in, d->picked[d->cur], err));
		}
		int rc = sp_jsonl_next(d->in, &d->rec, err);
		if (rc == 0) {
			d->raw_done += sp_in_raw_bytes(d->in);
			sp_in_free(d->in);
			d->in = NULL;
			d->cur++;
			continue;
		}
		if (rc == SP_EDATA || rc == SP_EUTF8) {
			if (d->o.stats) {
				d->o.stats->records_in++;
				d->o.stats->bytes_in += d->rec.line.len + 1;
			}
			SP_FORWARD(skip_or_fail(d, rc, rc == SP_EDATA ? "bad_json" : "bad_utf8"));
			continue;
		}
		if (rc < 0)
			return rc;
		if (d->o.stats) {
			d->o.stats->records_in++;
			d->o.stats->bytes_in += d->rec.line.len + 1;
		}
		doc->rec = &d->rec;
		doc->text = NULL;
		doc->text_len = 0;
		rc = sp_record_id_check(&d->rec, err);
		if (rc == 0)
			rc = sp_record_str(&d->rec, d->o.field, &doc->text, &doc->text_len, err);
		if (rc == SP_ENOTFOUND && d->o.field_optional) {
			doc->text = NULL;
		} else if (rc < 0) {
			SP_FORWARD(skip_or_fail(d, rc, rc == SP_ENOTFOUND ? "missing_field" : "bad_field"));
			continue;
		}
		doc->index = d->index++;
		return 1;
	}
}

uint64_t sp_docs_raw_bytes(const sp_docs *d) { return d->raw_done + (d->in ? sp_in_raw_bytes(d->in) : 0); }
uint64_t sp_docs_raw_size(const sp_docs *d)
{
	if (d->raw_size)
		return d->raw_size;
	return d->in ? sp_in_raw_size(d->in) : 0;
}

void sp_docs_free(sp_docs *d)
{
	if (!d)
		return;
	sp_in_free(d->in);
	sp_record_release(&d->rec);
	if (d->picked != d->stdin_name)
		sp_free(d->picked);
	sp_free(d);
}

int sp_docs_fill(sp_docs *d, sp_docs_filler *f, void *batch, size_t max_docs, size_t max_bytes,
                 int (*add)(void *ctx, void *batch, const sp_doc *doc), void *ctx, sp_err *err)
{
	if (f->pend_rc < 0) {
		*err = f->pend_err;
		int rc = f->pend_rc;
		f->pend_rc = 0;
		return rc;
	}
	size_t n = 0, bytes = 0;
	sp_doc doc;
	int rc = 0;
	while (n < max_docs && bytes < max_bytes && (rc = sp_docs_next(d, &doc, err)) > 0) {
		if (add(ctx, batch, &doc) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		n++;
		bytes += doc.text_len;
	}
	if (n && rc < 0) {
		f->pend_rc = rc;
		f->pend_err = *err;
	}
	if (n)
		return 1;
	return rc < 0 ? rc : 0;
}
