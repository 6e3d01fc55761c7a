/* test_misc.c - options table, stats JSON, error formatting, progress text, hashing, ordered pmap. */
#include <criterion/criterion.h>
#include <errno.h>
#include <json.h>
#include <string.h>
#include <xxhash.h>
#include "spindle/opt.h"
#include "spindle/stats.h"
#include "spindle/err.h"
#include "spindle/hash.h"
#include "spindle/pmap.h"
#include "spindle/progress.h"
#include "spindle/mem.h"

Test(opt, parses_long_short_equals_and_positionals)
{
	const char *out = NULL, *mode = "a";
	long n = 1;
	double x = 0;
	int flag = 0;
	sp_optlist l = { 0 };
	sp_opt t[] = {
		{ "output", 'o', SP_OPT_STR, &out, "FILE", "h", NULL, 0, 0 },
		{ "n", 'n', SP_OPT_INT, &n, "N", "h", NULL, 1, 10 },
		{ "x", 0, SP_OPT_DOUBLE, &x, "X", "h", NULL, 0, 0 },
		{ "mode", 0, SP_OPT_CHOICE, &mode, NULL, "h", "a|bb|c", 0, 0 },
		{ "flag", 'f', SP_OPT_FLAG, &flag, NULL, "h", NULL, 0, 0 },
		{ "add", 0, SP_OPT_LIST, &l, "S", "h", NULL, 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	char *argv[] = { "cmd", "in1", "-oout", "--n=7", "--x", "0.5", "-f", "--mode", "bb", "--add", "p", "--add=q", "--", "-in2" };
	const char *pos[14];
	size_t n_pos;
	int help = 0;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_opt_parse(t, 14, argv, pos, &n_pos, &help, NULL, &err), 0, "%s", err.msg);
	cr_assert_str_eq(out, "out");
	cr_assert_eq(n, 7);
	cr_assert_float_eq(x, 0.5, 1e-12);
	cr_assert_eq(flag, 1);
	cr_assert_str_eq(mode, "bb");
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.items[1], "q");
	cr_assert_eq(n_pos, 2);
	cr_assert_str_eq(pos[1], "-in2");
	sp_optlist_release(&l);
	char *bad1[] = { "cmd", "--n", "11" };
	cr_assert_eq(sp_opt_parse(t, 3, bad1, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE);
	char *bad2[] = { "cmd", "--mode=d" };
	cr_assert_eq(sp_opt_parse(t, 2, bad2, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE);
	char *bad3[] = { "cmd", "--nope" };
	cr_assert_eq(sp_opt_parse(t, 2, bad3, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE);
	cr_assert(strstr(err.msg, "--nope"));
	char *bad4[] = { "cmd", "-o" };
	cr_assert_eq(sp_opt_parse(t, 2, bad4, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE);
	sp_buf h = SP_BUF_INIT;
	sp_opt_help(t, &h);
	cr_assert(strstr(h.p, "-o, --output FILE"));
	cr_assert(strstr(h.p, "--mode a|bb|c"));
	sp_buf_release(&h);
}

Test(opt, numeric_ranges_are_enforced_and_shown)
{
	long n = 5;
	double x = 0.5, y = 1;
	sp_opt t[] = {
		{ "n", 0, SP_OPT_INT, &n, "N", "h", NULL, 1, 10 },
		{ "x", 0, SP_OPT_DOUBLE, &x, "X", "h", "0..1", 0, 0 },
		{ "y", 0, SP_OPT_DOUBLE, &y, "Y", "h", NULL, 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	const char *pos[4];
	size_t n_pos;
	sp_err err = SP_ERR_INIT;
	char *ok[] = { "cmd", "--x", "1", "--n", "10", "--y", "-3e5" };
	cr_assert_eq(sp_opt_parse(t, 7, ok, pos, &n_pos, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_float_eq(x, 1.0, 0);
	cr_assert_float_eq(y, -3e5, 0);
	const char *bad[] = { "-0.001", "1.0001", "nan", "inf", "-inf", "1e400", "0x", "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *argv[] = { "cmd", "--x", (char *)bad[i] };
		cr_assert_eq(sp_opt_parse(t, 3, argv, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE, "--x '%s' accepted", bad[i]);
		cr_assert(strstr(err.msg, "--x"), "%s", err.msg);
	}
	char *nan_y[] = { "cmd", "--y", "NaN" };
	cr_assert_eq(sp_opt_parse(t, 3, nan_y, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE, "NaN accepted without a range");
	char *n0[] = { "cmd", "--n", "0" };
	cr_assert_eq(sp_opt_parse(t, 3, n0, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE);
	cr_assert(strstr(err.msg, "1..10"), "%s", err.msg);
	sp_buf h = SP_BUF_INIT;
	sp_opt_help(t, &h);
	cr_assert(strstr(h.p, "[1..10]"), "%s", h.p);
	cr_assert(strstr(h.p, "[0..1]"), "%s", h.p);
	cr_assert(strstr(h.p, "[range unchecked]"), "%s", h.p);
	sp_buf_release(&h);
	sp_opt broken[] = { { "z", 0, SP_OPT_DOUBLE, &y, "Z", "h", "1..0", 0, 0 }, { NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 } };
	char *z[] = { "cmd", "--z", "0.5" };
	cr_assert_eq(sp_opt_parse(broken, 3, z, pos, &n_pos, NULL, NULL, &err), SP_EINTERNAL);
}

Test(stats, json_is_valid_and_counts_by_reason)
{
	sp_stats st;
	sp_stats_init(&st, "dedup \"minhash\"");
	st.records_in = 10;
	st.records_out = 7;
	sp_stats_skip(&st, "bad_json", 2);
	sp_stats_skip(&st, "too_short", 1);
	sp_stats_skip(&st, "bad_json", 0);
	sp_stats_add(&st, "tokens", 12345);
	sp_buf b = SP_BUF_INIT;
	cr_assert_eq(sp_stats_json(&st, &b), 0);
	json_object *o = json_tokener_parse(b.p);
	cr_assert_not_null(o, "not JSON: %s", b.p);
	json_object *v;
	cr_assert(json_object_object_get_ex(o, "records_skipped", &v));
	cr_assert_eq(json_object_get_int64(v), 3);
	cr_assert(json_object_object_get_ex(o, "tool", &v));
	cr_assert_str_eq(json_object_get_string(v), "dedup \"minhash\"");
	json_object *sk = json_object_object_get(o, "skipped");
	cr_assert_eq(json_object_get_int64(json_object_object_get(sk, "bad_json")), 2);
	json_object_put(o);
	sp_buf_release(&b);
	sp_stats_release(&st);
}

Test(err, format_has_program_location_message_and_errno)
{
	sp_err e = SP_ERR_INIT;
	errno = ENOENT;
	sp_err_set_(&e, SP_EIO, __FILE__, __LINE__, "cannot open");
	sp_err_locate(&e, "shard-03.jsonl", 1234);
	char out[300];
	sp_err_format(&e, "spindle tok", out, sizeof out);
	cr_assert_str_eq(out, "spindle tok: shard-03.jsonl:1234: cannot open: No such file or directory");
	sp_err d = SP_ERR_INIT;
	sp_err_set_(&d, SP_EDATA, __FILE__, __LINE__, "bad");
	sp_err_format(&d, "p", out, sizeof out);
	cr_assert_str_eq(out, "p: bad");
}

Test(hash, matches_libxxhash_reference)
{
	const char s[] = "The quick brown fox";
	cr_assert_eq(sp_xxh64(s, sizeof s - 1, 0), XXH64(s, sizeof s - 1, 0));
	cr_assert_eq(sp_hash64(s, sizeof s - 1, 7), XXH3_64bits_withSeed(s, sizeof s - 1, 7));
	sp_xxh64_state *st = sp_xxh64_new(0);
	sp_xxh64_update(st, s, 4);
	sp_xxh64_update(st, s + 4, sizeof s - 5);
	cr_assert_eq(sp_xxh64_digest(st), XXH64(s, sizeof s - 1, 0));
	sp_xxh64_free(st);
}

Test(progress, eta_appears_only_with_known_size)
{
	sp_progress p;
	sp_progress_init(&p, 1000, 0.1);
	char out[200];
	sp_progress_format(&p, 10, 500, out, sizeof out);
	cr_assert(strstr(out, "10 records"), "%s", out);
	cr_assert(strstr(out, "50%"), "%s", out);
	cr_assert(strstr(out, "ETA"), "%s", out);
	sp_progress_init(&p, 0, 0.1);
	sp_progress_format(&p, 10, 500, out, sizeof out);
	cr_assert_null(strstr(out, "ETA"));
}

/* pmap: batches of consecutive integers; work squares them; consume checks order. */
typedef struct pm_ctx { int next, limit, consumed, fail_at; } pm_ctx;
typedef struct pm_batch { int start, n; } pm_batch;
static void *pm_new(void *c) { (void)c; return sp_calloc(1, sizeof(pm_batch)); }
static void pm_free(void *c, void *b) { (void)c; sp_free(b); }
static int pm_produce(void *c, void *b, sp_err *e)
{
	(void)e;
	pm_ctx *x = c;
	pm_batch *bt = b;
	if (x->next >= x->limit)
		return 0;
	bt->start = x->next;
	bt->n = x->limit - x->next < 7 ? x->limit - x->next : 7;
	x->next += bt->n;
	return 1;
}
static int pm_work(void *c, int w, void *b, sp_buf *out, sp_err *e)
{
	(void)w;
	pm_ctx *x = c;
	pm_batch *bt = b;
	for (int i = bt->start; i < bt->start + bt->n; i++) {
		if (i == x->fail_at)
			SP_RAISE(e, SP_EDATA, "bad item %d", i);
		sp_buf_appendf(out, "%d\n", i * i);
	}
	return 0;
}
static int pm_consume(void *c, void *b, const sp_buf *out, sp_err *e)
{
	(void)e;
	pm_ctx *x = c;
	pm_batch *bt = b;
	const char *p = out->p;
	for (int i = bt->start; i < bt->start + bt->n; i++) {
		cr_assert_eq(strtol(p, (char **)&p, 10), (long)i * i);
		p++;
		cr_assert_eq(i, x->consumed, "out of order");
		x->consumed++;
	}
	return 0;
}

Test(pmap, output_is_in_input_order_for_any_thread_count)
{
	for (int threads = 1; threads <= 5; threads++) {
		pm_ctx c = { 0, 10007, 0, -1 };
		sp_pmap_spec s = { threads, 0, pm_new, pm_free, pm_produce, pm_work, pm_consume, &c };
		sp_err err = SP_ERR_INIT;
		cr_assert_eq(sp_pmap_run(&s, &err), 0);
		cr_assert_eq(c.consumed, 10007);
	}
}

Test(pmap, a_worker_error_stops_the_run_after_the_items_before_it)
{
	for (int threads = 1; threads <= 4; threads += 3) {
		pm_ctx c = { 0, 5000, 0, 2345 };
		sp_pmap_spec s = { threads, 0, pm_new, pm_free, pm_produce, pm_work, pm_consume, &c };
		sp_err err = SP_ERR_INIT;
		cr_assert_eq(sp_pmap_run(&s, &err), SP_EDATA);
		cr_assert(strstr(err.msg, "2345"));
		cr_assert_eq(c.consumed, 2345 / 7 * 7, "every batch before the failing one consumed");
	}
}

Test(mem, calloc_big_is_zeroed_aligned_and_fails_on_injection)
{
	/* small (plain calloc) and big (2 MiB-aligned, huge-page advised) blocks */
	size_t sizes[] = { 1, 4096, (size_t)3 << 20 };
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		unsigned char *p = sp_calloc_big(sizes[k]);
		cr_assert_not_null(p);
		size_t nonzero = 0;
		for (size_t i = 0; i < sizes[k]; i++)
			nonzero += p[i] != 0;
		cr_assert_eq(nonzero, 0, "size %zu: %zu nonzero bytes", sizes[k], nonzero);
		if (sizes[k] >= ((size_t)1 << 20))
			cr_assert_eq((uintptr_t)p % ((size_t)2 << 20), 0, "big blocks are 2 MiB-aligned");
		memset(p, 0xAB, sizes[k]);
		sp_free(p);
	}
	sp_mem_fail_at(1);
	cr_assert_null(sp_calloc_big((size_t)4 << 20), "an injected failure returns NULL");
	sp_mem_fail_at(0);
}
