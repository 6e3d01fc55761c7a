/* test_jsonl.c - JSONL records: parsing, error locations, fields, writing; the document stream
 * (sp_docs) with --on-error policies and --shard selection. */
#include <criterion/criterion.h>
#include <string.h>
#include "spindle/jsonl.h"
#include "spindle/docs.h"
#include "spindle/mem.h"
#include "helpers.h"

static const char good_bad[] =
	"{\"id\":\"a\",\"text\":\"one\",\"meta\":{\"url\":\"http://x/\"}}\n"
	"\n"
	"{\"id\":\"b\",\"text\":\"two\"}\n"
	"{\"id\":\"c\",\"text\":\"thr\n"
	"[1,2]\n"
	"{\"id\":\"d\",\"text\":\"four\"} trailing\n"
	"{\"id\":\"e\",\"text\":\"\xff\"}\n"
	"{\"id\":\"f\"}\n"
	"{\"id\":7,\"text\":\"last\"}";

Test(jsonl, malformed_line_error_names_file_and_line)
{
	char *d = th_tmpdir();
	char *p = th_write(d, "in.jsonl", good_bad, sizeof good_bad - 1);
	sp_in *in;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_in_open(&in, p, &err), 0);
	sp_record rec = SP_RECORD_INIT;
	cr_assert_eq(sp_jsonl_next(in, &rec, &err), 1);
	cr_assert_eq(rec.lineno, 1);
	cr_assert_eq(sp_jsonl_next(in, &rec, &err), 1);
	cr_assert_eq(rec.lineno, 3, "blank line 2 skipped");
	int expect[][2] = { { 4, SP_EDATA }, { 5, SP_EDATA }, { 6, SP_EDATA }, { 7, SP_EUTF8 } };
	for (int i = 0; i < 4; i++) {
		memset(&err, 0, sizeof err);
		cr_assert_eq(sp_jsonl_next(in, &rec, &err), expect[i][1], "line %d", expect[i][0]);
		cr_assert_eq(err.line, (uint64_t)expect[i][0]);
		cr_assert_str_eq(err.name, p);
	}
	cr_assert_eq(sp_jsonl_next(in, &rec, &err), 1);
	cr_assert_eq(sp_jsonl_next(in, &rec, &err), 1);
	cr_assert_str_eq(sp_record_id(&rec), "7");
	cr_assert_eq(sp_jsonl_next(in, &rec, &err), 0);
	sp_record_release(&rec);
	sp_in_free(in);
	th_rmrf(d);
}

Test(jsonl, dotted_field_lookup_and_type_errors)
{
	sp_record rec = SP_RECORD_INIT;
	sp_buf_appends(&rec.line, "{\"text\":\"a\\u0000b\",\"meta\":{\"url\":\"u\",\"n\":3}}");
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_jsonl_parse(&rec, &err), 0);
	const char *s;
	size_t n;
	cr_assert_eq(sp_record_str(&rec, "text", &s, &n, &err), 0);
	cr_assert_eq(n, 3, "embedded NUL kept");
	cr_assert_eq(sp_record_str(&rec, "meta.url", &s, &n, &err), 0);
	cr_assert_str_eq(s, "u");
	cr_assert_eq(sp_record_str(&rec, "meta.n", &s, &n, &err), SP_EDATA);
	cr_assert_eq(sp_record_str(&rec, "meta.nope", &s, &n, &err), SP_ENOTFOUND);
	cr_assert(strstr(err.msg, "meta.nope"));
	sp_record_release(&rec);
}

/* every JSONL reader refuses an id that U+0000 would cut short (two records could share a name) */
Test(jsonl, an_id_holding_nul_is_refused_at_parse)
{
	sp_record rec = SP_RECORD_INIT;
	sp_buf_appends(&rec.line, "{\"id\":\"doc-1\\u0000-copy\",\"text\":\"x\"}");
	rec.lineno = 7;
	rec.source = "in.jsonl";
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_jsonl_parse(&rec, &err), SP_EDATA);
	cr_assert(strstr(err.msg, "U+0000"), "%s", err.msg);
	cr_assert_eq(err.line, 7);
	cr_assert_str_eq(err.name, "in.jsonl");
	sp_record_release(&rec);
	/* U+0000 elsewhere, and numeric ids, stay records */
	sp_buf_appends(&rec.line, "{\"id\":12,\"text\":\"a\\u0000b\"}");
	cr_assert_eq(sp_jsonl_parse(&rec, &err), 0);
	cr_assert_str_eq(sp_record_id(&rec), "12");
	sp_record_release(&rec);
}

Test(jsonl, big_integers_and_key_order_survive_a_round_trip)
{
	sp_record rec = SP_RECORD_INIT;
	const char *line = "{\"z\":1,\"id\":9007199254740993,\"a\":\"x/y\",\"text\":\"\xc3\xa9\"}";
	sp_buf_appends(&rec.line, line);
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_jsonl_parse(&rec, &err), 0);
	sp_buf out = SP_BUF_INIT;
	cr_assert_eq(sp_json_append(&out, rec.obj), 0);
	cr_assert_str_eq(out.p, line);
	sp_buf_release(&out);
	sp_record_release(&rec);
}

Test(docs, skip_policy_counts_reasons_and_keeps_going)
{
	char *d = th_tmpdir();
	char *p = th_write(d, "in.jsonl", good_bad, sizeof good_bad - 1);
	sp_stats st;
	sp_stats_init(&st, "test");
	const char *inputs[] = { p };
	sp_docs_opts o = { inputs, 1, SP_SHARD_ALL, SP_ON_ERROR_SKIP, NULL, 0, &st };
	sp_docs *docs;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_docs_open(&docs, &o, &err), 0);
	sp_doc doc;
	const char *texts[3];
	int n = 0;
	int rc;
	while ((rc = sp_docs_next(docs, &doc, &err)) > 0)
		texts[n++] = strcmp(doc.text, "one") == 0 ? "one" : strcmp(doc.text, "two") == 0 ? "two" : "last";
	cr_assert_eq(rc, 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(texts[2], "last");
	cr_assert_eq(st.records_in, 8);
	cr_assert_eq(sp_stats_skipped_total(&st), 5);
	sp_docs_free(docs);
	sp_stats_release(&st);
	th_rmrf(d);
}

Test(docs, fail_policy_stops_at_the_first_bad_record)
{
	char *d = th_tmpdir();
	char *p = th_write(d, "in.jsonl", good_bad, sizeof good_bad - 1);
	const char *inputs[] = { p };
	sp_docs_opts o = { inputs, 1, SP_SHARD_ALL, SP_ON_ERROR_FAIL, NULL, 0, NULL };
	sp_docs *docs;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_docs_open(&docs, &o, &err), 0);
	sp_doc doc;
	cr_assert_eq(sp_docs_next(docs, &doc, &err), 1);
	cr_assert_eq(sp_docs_next(docs, &doc, &err), 1);
	cr_assert_eq(sp_docs_next(docs, &doc, &err), SP_EDATA);
	cr_assert_eq(err.line, 4);
	sp_docs_free(docs);
	th_rmrf(d);
}
