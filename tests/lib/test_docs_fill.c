/* test_docs_fill.c - sp_docs_fill, the producer every JSONL tool's thread pool uses: batch limits,
 * and an input error met in a part-filled batch held back until the documents before it are out. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spindle/docs.h"
#include "helpers.h"

typedef struct got { int n; char ids[16][8]; } got;

static int add(void *ctx, void *batch, const sp_doc *doc)
{
	got *g = batch;
	(void)ctx;
	snprintf(g->ids[g->n++], 8, "%.*s", (int)doc->text_len, doc->text);
	return 0;
}

static sp_docs *open_text(const char *text, char **dir)
{
	*dir = th_tmpdir();
	static char path[512];
	snprintf(path, sizeof path, "%s/in.jsonl", *dir);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
	static const char *inputs[1];
	inputs[0] = path;
	sp_docs_opts o;
	memset(&o, 0, sizeof o);
	o.inputs = inputs;
	o.n_inputs = 1;
	sp_shard all = SP_SHARD_ALL;
	o.shard = all;
	sp_docs *d = NULL;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_docs_open(&d, &o, &err), 0, "%s", err.msg);
	return d;
}

Test(docs_fill, batches_stop_at_max_docs_and_the_end_is_zero)
{
	char *dir;
	sp_docs *d = open_text("{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"text\":\"c\"}\n", &dir);
	sp_docs_filler f = SP_DOCS_FILLER_INIT;
	sp_err err = SP_ERR_INIT;
	got g = { 0 };
	cr_assert_eq(sp_docs_fill(d, &f, &g, 2, 1 << 20, add, NULL, &err), 1);
	cr_assert_eq(g.n, 2);
	got h = { 0 };
	cr_assert_eq(sp_docs_fill(d, &f, &h, 2, 1 << 20, add, NULL, &err), 1);
	cr_assert_eq(h.n, 1);
	cr_assert_str_eq(h.ids[0], "c");
	got e = { 0 };
	cr_assert_eq(sp_docs_fill(d, &f, &e, 2, 1 << 20, add, NULL, &err), 0);
	cr_assert_eq(e.n, 0);
	sp_docs_free(d);
	free(dir);
}

Test(docs_fill, an_error_after_some_documents_comes_with_the_next_call)
{
	char *dir;
	sp_docs *d = open_text("{\"text\":\"a\"}\n{\"text\":\"b\"}\nnot json\n{\"text\":\"d\"}\n", &dir);
	sp_docs_filler f = SP_DOCS_FILLER_INIT;
	sp_err err = SP_ERR_INIT;
	got g = { 0 };
	cr_assert_eq(sp_docs_fill(d, &f, &g, 8, 1 << 20, add, NULL, &err), 1, "the documents before the error are a batch");
	cr_assert_eq(g.n, 2);
	cr_assert_str_eq(g.ids[1], "b");
	got h = { 0 };
	int rc = sp_docs_fill(d, &f, &h, 8, 1 << 20, add, NULL, &err);
	cr_assert_lt(rc, 0, "then the error");
	cr_assert_eq(h.n, 0);
	cr_assert(strstr(err.msg, "JSON") || strstr(err.msg, "json"), "%s", err.msg);
	cr_assert_eq(err.line, 3, "it names line 3 (got %llu)", (unsigned long long)err.line);
	sp_docs_free(d);
	free(dir);
}
