/* annotate_rounds.c - rounds and splits: export filters by round, batch, category, model and date;
 * the deterministic held-out test split (a stable hash of the root prompt id, so a prompt, its
 * next-turn prompts and all their pairs fall on one side); Llama 2's per-batch statistics table by
 * round (`annotate report --by round`). Used by annotate_report.c's exports and by cli.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "annotate_eval.h"
#include "annotate_int.h"
#include "spindle/hash.h"
#include "spindle/mem.h"

static void split_hash_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const unsigned char *s = sqlite3_value_text(argv[0]);
	int n = sqlite3_value_bytes(argv[0]);
	if (!s) {
		sqlite3_result_null(ctx);
		return;
	}
	sqlite3_result_int64(ctx, (sqlite3_int64)(sp_hash64(s, (size_t)n, 0x73706c6974ULL) >> 11));
}

int ann_split_register(ann_db *db, sp_err *err)
{
	if (sqlite3_create_function(db->h, "spindle_split_hash", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
	                            split_hash_fn, NULL, NULL) != SQLITE_OK)
		return ann_sql_fail(db, err, "registering the split function");
	return 0;
}

double ann_parse_date(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *e = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!e || *e) {
		memset(&tm, 0, sizeof tm);
		e = strptime(s, "%Y-%m-%d", &tm);
		if (!e || *e)
			return -1;
	}
	return (double)timegm(&tm);
}

/* Splits a comma list; calls fn(i, item, len) for each. Returns the count, -1 on an empty item. */
static int list_each(const char *s, int (*fn)(void *, int, const char *, size_t), void *ctx)
{
	int i = 0;
	while (s && *s) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		if (n == 0 || (fn && fn(ctx, i, s, n) < 0))
			return -1;
		i++;
		s = c ? c + 1 : s + n;
		if (c && !*s)
			return -1;
	}
	return i;
}

typedef struct param_ctx { sp_buf *b; const char *pfx; } param_ctx;

static int add_param(void *ctx, int i, const char *s, size_t n)
{
	(void)s;
	(void)n;
	param_ctx *c = ctx;
	return sp_buf_appendf(c->b, "%s:%s%d", i ? ", " : "", c->pfx, i);
}

static int check_batch(void *ctx, int i, const char *s, size_t n)
{
	(void)ctx;
	(void)i;
	for (size_t j = 0; j < n; j++)
		if (s[j] < '0' || s[j] > '9')
			return -1;
	return n > 0 && n < 12 ? 0 : -1;
}

static int check_round(void *ctx, int i, const char *s, size_t n)
{
	(void)ctx;
	(void)i;
	char tmp[80];
	if (n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	return ann_round_valid(tmp) ? 0 : -1;
}

#define TEST_ROOTS_SHARE "SELECT id FROM prompts WHERE parent_id IS NULL AND spindle_split_hash(id) < :split_cut"
#define TEST_ROOTS_COUNT \
	"SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY batch_id ORDER BY spindle_split_hash(id), id) AS rn " \
	"FROM prompts WHERE parent_id IS NULL) WHERE rn <= :split_count"

int ann_filter_sql(const ann_filter *f, int what, sp_buf *sql, sp_err *err)
{
	if (!f)
		return 0;
	const char *batch = what == 'r' ? "max(ra.batch_id, rb.batch_id)" : "p.batch_id";
	const char *when = what == 'p' ? "p.created_at" : "a.created_at";
	int rc = 0;
	if (f->rounds) {
		if (list_each(f->rounds, check_round, NULL) < 1)
			SP_RAISE(err, SP_EUSAGE, "--round: a comma-separated list of round labels ([A-Za-z0-9._:-])");
		param_ctx ctx = { sql, "round" };
		rc |= sp_buf_appendf(sql, " AND (SELECT round FROM batches WHERE id = %s) IN (", batch);
		list_each(f->rounds, add_param, &ctx);
		rc |= sp_buf_appends(sql, ")");
	}
	if (f->batches) {
		if (list_each(f->batches, check_batch, NULL) < 1)
			SP_RAISE(err, SP_EUSAGE, "--batch: a comma-separated list of batch ids (numbers)");
		param_ctx ctx = { sql, "batch" };
		rc |= sp_buf_appendf(sql, " AND %s IN (", batch);
		list_each(f->batches, add_param, &ctx);
		rc |= sp_buf_appends(sql, ")");
	}
	if (f->category)
		rc |= sp_buf_appends(sql, " AND p.category = :category");
	if (f->model) {
		if (what != 'r')
			SP_RAISE(err, SP_EUSAGE, "--model selects preference pairs (formats preference, hh, trl)");
		rc |= sp_buf_appends(sql, " AND (ra.model = :model OR rb.model = :model)");
	}
	if (f->since > 0)
		rc |= sp_buf_appendf(sql, " AND %s >= :since", when);
	if (f->until > 0)
		rc |= sp_buf_appendf(sql, " AND %s < :until", when);
	if (f->split) {
		rc |= sp_buf_appendf(sql, " AND p.id %s (WITH RECURSIVE held(id) AS (%s UNION SELECT q.id FROM prompts q "
		                     "JOIN held ON q.parent_id = held.id) SELECT id FROM held)",
		                     f->split == 2 ? "IN" : "NOT IN", f->test_share > 0 ? TEST_ROOTS_SHARE : TEST_ROOTS_COUNT);
	}
	return rc < 0 ? sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory") : 0;
}

typedef struct bind_ctx { sqlite3_stmt *st; const char *pfx; int is_int; } bind_ctx;

static int bind_item(void *ctx, int i, const char *s, size_t n)
{
	bind_ctx *b = ctx;
	char name[32];
	snprintf(name, sizeof name, ":%s%d", b->pfx, i);
	int idx = sqlite3_bind_parameter_index(b->st, name);
	if (idx == 0)
		return 0;
	if (b->is_int)
		return sqlite3_bind_int64(b->st, idx, strtoll(s, NULL, 10)) == SQLITE_OK ? 0 : -1;
	return sqlite3_bind_text(b->st, idx, s, (int)n, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

static void bind_named_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);
	if (i)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void bind_named_double(sqlite3_stmt *st, const char *name, double v)
{
	int i = sqlite3_bind_parameter_index(st, name);
	if (i)
		sqlite3_bind_double(st, i, v);
}

int ann_filter_bind(const ann_filter *f, sqlite3_stmt *st)
{
	if (!f)
		return 0;
	bind_ctx r = { st, "round", 0 }, b = { st, "batch", 1 };
	if (f->rounds)
		list_each(f->rounds, bind_item, &r);
	if (f->batches)
		list_each(f->batches, bind_item, &b);
	if (f->category)
		bind_named_text(st, ":category", f->category);
	if (f->model)
		bind_named_text(st, ":model", f->model);
	bind_named_double(st, ":since", f->since);
	bind_named_double(st, ":until", f->until);
	int i = sqlite3_bind_parameter_index(st, ":split_cut");
	if (i)
		sqlite3_bind_int64(st, i, (sqlite3_int64)floor(f->test_share * 9007199254740992.0));
	i = sqlite3_bind_parameter_index(st, ":split_count");
	if (i)
		sqlite3_bind_int64(st, i, f->test_count);
	return 0;
}

/* ------------------------------------------------------------------ per-round statistics */

typedef struct round_stat {
	char *round;
	int64_t comparisons, batches;
	double turns, tok_prompt, tok_resp; /* sums */
	int tok_ok;
} round_stat;

static long dialog_tokens(json_object *d, ann_token_counter count, void *ctx, int *user_turns)
{
	long t = 0;
	*user_turns = 0;
	for (size_t i = 0; i < json_object_array_length(d); i++) {
		json_object *m = json_object_array_get_idx(d, i);
		const char *role = json_object_get_string(json_object_object_get(m, "role"));
		if (role && strcmp(role, "user") == 0)
			(*user_turns)++;
		if (count) {
			long k = count(ctx, json_object_get_string(json_object_object_get(m, "content")));
			t = k < 0 || t < 0 ? -1 : t + k;
		}
	}
	return t;
}

int ann_report_rounds(ann_db *db, ann_token_counter count, void *ctx, sp_buf *out, sp_err *err)
{
	SP_FORWARD(ann_exec(db, "BEGIN", err));
	sqlite3_stmt *st;
	int rc = ann_prep(db, &st,
		"SELECT coalesce(b.round, ''), b.id, p.dialog, ra.text, rb.text "
		"FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN prompts p ON p.id = t.prompt_id "
		"JOIN responses ra ON ra.id = t.response_a JOIN responses rb ON rb.id = t.response_b "
		"LEFT JOIN batches b ON b.id = max(ra.batch_id, rb.batch_id) "
		"WHERE a.status = 'final' AND a.kind = 'preference' AND a.choice <> 'both_bad' ORDER BY b.id, a.id", err);
	round_stat *r = NULL;
	size_t n = 0;
	int64_t last_batch = -1;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *label = (const char *)sqlite3_column_text(st, 0);
		size_t k = 0;
		while (k < n && strcmp(r[k].round, label) != 0)
			k++;
		if (k == n) {
			round_stat *g = sp_realloc(r, (n + 1) * sizeof *g);
			if (!g) { rc = SP_ENOMEM; break; }
			r = g;
			memset(&r[n], 0, sizeof r[n]);
			r[n].tok_ok = count != NULL;
			if (!(r[n++].round = sp_strdup(label))) { rc = SP_ENOMEM; break; }
		}
		int64_t bid = sqlite3_column_int64(st, 1);
		if (bid != last_batch)
			r[k].batches++;
		last_batch = bid;
		json_object *d = json_tokener_parse((const char *)sqlite3_column_text(st, 2));
		int turns = 0;
		long tp = d ? dialog_tokens(d, count, ctx, &turns) : -1;
		json_object_put(d);
		long ta = count ? count(ctx, (const char *)sqlite3_column_text(st, 3)) : -1;
		long tb = count ? count(ctx, (const char *)sqlite3_column_text(st, 4)) : -1;
		if (tp < 0 || ta < 0 || tb < 0)
			r[k].tok_ok = 0;
		r[k].comparisons++;
		r[k].turns += turns;
		r[k].tok_prompt += (double)tp;
		r[k].tok_resp += (double)(ta + tb) / 2.0;
	}
	sqlite3_finalize(st);
	ann_rollback(db);
	if (rc == 0)
		rc = sp_buf_appends(out,
			"per round (Llama 2's Table 6; comparisons = final preference answers but 'both bad'; a pair's round is\n"
			"the round of the later of its two responses' batches; tokens: prompt = every dialog message before\n"
			"the response, response = mean of the two, example = prompt + both responses):\n");
	if (rc == 0)
		rc = sp_buf_appendf(out, "%-20s %8s %12s %10s %12s %10s %10s\n", "round", "batches", "comparisons",
		                    "avg turns", "tok/example", "tok/prompt", "tok/resp");
	for (size_t k = 0; rc == 0 && k < n; k++) {
		double c = (double)r[k].comparisons;
		char te[32] = "n/a", tpr[32] = "n/a", tre[32] = "n/a";
		if (r[k].tok_ok) {
			snprintf(te, sizeof te, "%.1f", (r[k].tok_prompt + 2 * r[k].tok_resp) / c);
			snprintf(tpr, sizeof tpr, "%.1f", r[k].tok_prompt / c);
			snprintf(tre, sizeof tre, "%.1f", r[k].tok_resp / c);
		}
		rc = sp_buf_appendf(out, "%-20.64s %8lld %12lld %10.2f %12s %10s %10s\n", *r[k].round ? r[k].round : "(none)",
		                    (long long)r[k].batches, (long long)r[k].comparisons, r[k].turns / c, te, tpr, tre);
	}
	for (size_t k = 0; k < n; k++)
		sp_free(r[k].round);
	sp_free(r);
	if (rc == SP_ENOMEM)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return rc;
}
