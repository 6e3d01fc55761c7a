/* cli_lines.c - `spindle dedup lines`: CCNet-style line deduplication. Every line is normalised
 * (default nfkc,case,space,punct,digits) and hashed (XXH3-64); a line found in more than K documents
 * of the corpus is boilerplate and is removed from every document; a document left with fewer than
 * --min-bytes of text is dropped. One process (input spooled to a temporary file, two passes), or
 * staged: `--counts-out` jobs count their shard, then filter jobs read every count file (--counts).
 * Lines that normalise to nothing (blank, only punctuation) are never counted nor removed. */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_dedup.h"
#include "dedup_staged.h"
#include "dedup_table.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

#define CNT_MAGIC "SPDDCNT1"

typedef struct lines_ctx {
	dd_norm *norm;
	dd_count64 counts;
	uint64_t *seen; size_t n_seen, cap_seen; /* hashes of one document (counted once per doc) */
} lines_ctx;

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* Hash of a normalised line, 0 when it normalises to nothing. */
static int line_hash(lines_ctx *c, const char *p, size_t n, uint64_t *h, sp_err *err)
{
	const char *o;
	size_t on;
	SP_FORWARD(dd_norm_apply(c->norm, p, n, &o, &on, err));
	*h = on ? (sp_hash64(o, on, 0x4C494E45) | 1) : 0;
	return 0;
}

static int count_doc(lines_ctx *c, const char *t, size_t n, sp_err *err)
{
	c->n_seen = 0;
	for (size_t a = 0; a <= n;) {
		const char *nl = memchr(t + a, '\n', n - a);
		size_t e = nl ? (size_t)(nl - t) : n;
		uint64_t h;
		SP_FORWARD(line_hash(c, t + a, e - a, &h, err));
		if (h) {
			if (c->n_seen == c->cap_seen) {
				size_t cap = c->cap_seen ? c->cap_seen * 2 : 256;
				uint64_t *q = sp_realloc(c->seen, cap * 8);
				if (!q)
					SP_RAISE(err, SP_ENOMEM, "out of memory");
				c->seen = q;
				c->cap_seen = cap;
			}
			c->seen[c->n_seen++] = h;
		}
		if (!nl)
			break;
		a = e + 1;
	}
	if (c->n_seen)
		qsort(c->seen, c->n_seen, 8, cmp_u64);
	for (size_t i = 0; i < c->n_seen; i++)
		if ((i == 0 || c->seen[i] != c->seen[i - 1]) && dd_count64_add(&c->counts, c->seen[i], 1))
			SP_RAISE(err, SP_ENOMEM, "out of memory for %zu distinct lines", c->counts.n);
	return 0;
}

/* Sets the (dotted) field of obj to a new string. */
static int set_field(json_object *obj, const char *path, const char *s, size_t n)
{
	const char *dot = strrchr(path, '.');
	json_object *parent = obj;
	char key[256];
	if (dot) {
		size_t pn = (size_t)(dot - path);
		if (pn >= sizeof key)
			return SP_EDATA;
		memcpy(key, path, pn);
		key[pn] = 0;
		parent = sp_json_path(obj, key);
		path = dot + 1;
	}
	if (!parent || !json_object_is_type(parent, json_type_object))
		return SP_EDATA;
	json_object *v = json_object_new_string_len(s, (int)n);
	if (!v || json_object_object_add(parent, path, v))
		return SP_ENOMEM;
	return 0;
}

int dd_cmd_lines(int argc, char **argv)
{
	const char *prog = "spindle dedup lines", *out_path = "-", *norm_s = "nfkc,case,space,punct,digits", *counts_out = NULL;
	long max_docs = 1, min_bytes = 1;
	sp_optlist counts_in = { NULL, 0, 0 };
	cli_common com;
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write records here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		{ "max-docs", 'k', SP_OPT_INT, &max_docs, "K", "a line found in more than K documents is removed everywhere (default 1)", NULL, 1, 1000000000 },
		{ "min-bytes", 0, SP_OPT_INT, &min_bytes, "N", "drop documents left with fewer than N bytes of text (default 1)", NULL, 0, 1000000000 },
		{ "normalize", 0, SP_OPT_STR, &norm_s, "LIST", "line normalisation (default nfkc,case,space,punct,digits)", NULL, 0, 0 },
		{ "counts-out", 0, SP_OPT_STR, &counts_out, "FILE", "staged: only count this shard's lines into FILE (no records written)", NULL, 0, 0 },
		{ "counts", 0, SP_OPT_LIST, &counts_in, "FILE", "staged: filter with these count files (repeat for every --counts-out file)", NULL, 0, 0 },
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle dedup lines [OPTIONS] [FILE...]",
	                   "CCNet-style boilerplate removal: lines (normalised) found in more than K documents are\n"
	                   "removed from every document; documents left too short are dropped. Records whose text\n"
	                   "lost no line are written unchanged; others get their text field replaced.\n"
	                   "Staged: 'lines --counts-out c-I.bin --shard I/N FILES' per job, then\n"
	                   "'lines --counts c-0.bin --counts c-1.bin ... --shard I/N FILES' per job.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = cli_common_finish(prog, &com)) >= 0 || (rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--counts-out", counts_out }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		sp_optlist_release(&counts_in);
		return rc;
	}
	sp_err err = SP_ERR_INIT;
	lines_ctx c;
	memset(&c, 0, sizeof c);
	int flags = 0;
	sp_stats st;
	sp_stats_init(&st, "dedup lines");
	sp_docs_opts o;
	cli_docs_opts(&com, pos, n_pos, &st, &o);
	const char *field = com.field ? com.field : "text";
	sp_docs *docs = NULL;
	sp_out *out = NULL;
	FILE *spool = NULL;
	sp_buf line = SP_BUF_INIT, text = SP_BUF_INIT;
	uint64_t removed_lines = 0, dropped = 0, changed = 0;
	rc = dd_norm_parse(norm_s, &flags, &err);
	if (rc == 0)
		rc = dd_norm_new(&c.norm, flags, &err);
	/* counts from files (staged filter) */
	for (size_t f = 0; rc == 0 && f < counts_in.n; f++) {
		sp_in *in = NULL;
		char m[8];
		uint64_t n = 0, end = 0;
		rc = dd_staged_verify(counts_in.items[f], CNT_MAGIC, &end, &err);
		if (rc == 0)
			rc = sp_in_open(&in, counts_in.items[f], &err);
		if (rc == 0)
			rc = sp_in_read_full(in, m, 8, &err);
		if (rc == 0 && memcmp(m, CNT_MAGIC, 8))
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: not a line count file", counts_in.items[f]);
		uint32_t version = 0;
		if (rc == 0)
			rc = sp_in_read_full(in, &version, 4, &err);
		if (rc == 0 && version != DD_STAGED_VERSION)
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: line count file version %u, this spindle reads %u", counts_in.items[f], version, DD_STAGED_VERSION);
		if (rc == 0)
			rc = sp_in_read_full(in, &n, 8, &err);
		if (rc == 0 && (end < DD_STAGED_HEAD + 8 || n != (end - DD_STAGED_HEAD - 8) / 16 || (end - DD_STAGED_HEAD - 8) % 16))
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (count %llu does not match the file size)", counts_in.items[f], (unsigned long long)n);
		for (uint64_t i = 0; rc == 0 && i < n; i++) {
			uint64_t kv[2];
			rc = sp_in_read_full(in, kv, 16, &err);
			if (rc == 0 && dd_count64_add(&c.counts, kv[0], (uint32_t)kv[1]))
				rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		}
		sp_in_free(in);
	}
	if (rc == 0)
		rc = sp_docs_open(&docs, &o, &err);
	int pipe_mode = counts_in.n == 0 && !counts_out;
	if (rc == 0 && pipe_mode && !(spool = tmpfile()))
		rc = sp_err_set_(&err, SP_EIO, __FILE__, __LINE__, "cannot create a temporary file (TMPDIR)");
	sp_doc doc;
	/* pass 1: count (and spool), unless the counts came from files */
	if (counts_in.n == 0) {
		while (rc == 0 && (rc = sp_docs_next(docs, &doc, &err)) > 0) {
			rc = count_doc(&c, doc.text, doc.text_len, &err);
			if (rc < 0) {
				sp_err_locate(&err, doc.rec->source, doc.rec->lineno);
				break;
			}
			if (spool && (fwrite(doc.rec->line.p, 1, doc.rec->line.len, spool) != doc.rec->line.len || putc('\n', spool) == EOF))
				rc = sp_err_set_(&err, SP_EIO, __FILE__, __LINE__, "cannot write the temporary file");
		}
	}
	if (rc == 0 && counts_out) {
		/* staged count job: (hash, count) pairs sorted by hash */
		uint64_t *kv = sp_malloc((c.counts.n ? c.counts.n : 1) * 16);
		size_t k = 0;
		if (!kv)
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		for (size_t i = 0; kv && i < c.counts.cap; i++)
			if (c.counts.keys[i]) {
				kv[2 * k] = c.counts.keys[i];
				kv[2 * k + 1] = c.counts.vals[i];
				k++;
			}
		if (rc == 0 && k)
			qsort(kv, k, 16, cmp_u64);
		sp_out *co = NULL;
		uint64_t nk = k;
		if (rc == 0)
			rc = sp_out_open(&co, counts_out, SP_OUT_NO_ZSTD, &err);
		if (rc == 0)
			rc = sp_out_write(co, CNT_MAGIC, 8, &err);
		uint32_t version = DD_STAGED_VERSION;
		if (rc == 0)
			rc = sp_out_write(co, &version, 4, &err);
		if (rc == 0)
			rc = sp_out_write(co, &nk, 8, &err);
		if (rc == 0 && k)
			rc = sp_out_write(co, kv, k * 16, &err);
		if (rc == 0) { /* the checksum of everything before it (dedup_staged.h) */
			uint8_t head[20];
			memcpy(head, CNT_MAGIC, 8);
			memcpy(head + 8, &version, 4);
			memcpy(head + 12, &nk, 8);
			sp_xxh64_state *h = sp_xxh64_new(0);
			if (!h)
				rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			else {
				sp_xxh64_update(h, head, sizeof head);
				sp_xxh64_update(h, kv ? (const void *)kv : "", k * 16);
				uint64_t sum = sp_xxh64_digest(h);
				sp_xxh64_free(h);
				rc = sp_out_write(co, &sum, 8, &err);
			}
		}
		if (rc == 0)
			rc = sp_out_commit(co, &err);
		sp_out_free(co);
		sp_free(kv);
		sp_stats_add(&st, "distinct_lines", (int64_t)k);
	} else if (rc == 0) {
		/* pass 2: filter */
		sp_in *in2 = NULL;
		sp_record rec = SP_RECORD_INIT;
		rc = sp_out_open(&out, out_path, 0, &err);
		if (rc == 0 && spool) {
			fflush(spool);
			rewind(spool);
			rc = sp_in_open_fd(&in2, fileno(spool), "(spooled input)", &err);
		}
		if (rc == 0 && !spool) {
			sp_docs_free(docs);
			docs = NULL;
			rc = sp_docs_open(&docs, &o, &err);
		}
		for (;;) {
			if (rc < 0)
				break;
			const char *t;
			size_t tn;
			sp_record *r;
			if (spool) {
				rc = sp_jsonl_next(in2, &rec, &err);
				if (rc <= 0)
					break;
				rc = 0;
				r = &rec;
				if (sp_record_str(r, field, &t, &tn, &err) < 0) {
					rc = sp_err_set_(&err, SP_EINTERNAL, __FILE__, __LINE__, "spooled record lost its field");
					break;
				}
			} else {
				rc = sp_docs_next(docs, &doc, &err);
				if (rc <= 0)
					break;
				rc = 0;
				r = doc.rec;
				t = doc.text;
				tn = doc.text_len;
			}
			sp_buf_reset(&text);
			uint64_t gone = 0;
			for (size_t a = 0; a <= tn;) {
				const char *nl = memchr(t + a, '\n', tn - a);
				size_t e = nl ? (size_t)(nl - t) : tn;
				uint64_t h;
				rc = line_hash(&c, t + a, e - a, &h, &err);
				if (rc < 0)
					break;
				if (h && dd_count64_get(&c.counts, h) > (uint32_t)max_docs)
					gone++;
				else if (sp_buf_append(&text, t + a, e - a + (nl ? 1 : 0))) {
					rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
					break;
				}
				if (!nl)
					break;
				a = e + 1;
			}
			if (rc < 0)
				break;
			removed_lines += gone;
			if (text.len < (size_t)min_bytes || (gone && text.len == 0)) {
				dropped++;
				continue;
			}
			if (!gone) {
				rc = sp_jsonl_write_raw(out, r->line.p, r->line.len, &err);
			} else {
				changed++;
				if (set_field(r->obj, field, text.p, text.len)) {
					rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "cannot replace the text field");
					break;
				}
				rc = sp_jsonl_write(out, r->obj, &err);
			}
			st.records_out++;
		}
		if (rc == 0)
			rc = sp_out_commit(out, &err);
		if (out)
			st.bytes_out = sp_out_bytes(out);
		sp_record_release(&rec);
		sp_in_free(in2);
	}
	sp_stats_add(&st, "lines_removed", (int64_t)removed_lines);
	sp_stats_add(&st, "docs_changed", (int64_t)changed);
	sp_stats_add(&st, "docs_dropped", (int64_t)dropped);
	int code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &st);
	sp_out_free(out);
	sp_docs_free(docs);
	if (spool)
		fclose(spool);
	dd_norm_free(c.norm);
	dd_count64_release(&c.counts);
	sp_free(c.seen);
	sp_buf_release(&line);
	sp_buf_release(&text);
	sp_stats_release(&st);
	sp_optlist_release(&counts_in);
	sp_free(pos);
	return code;
}
