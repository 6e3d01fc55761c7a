/* annotate_report.c - what the annotation database holds, as text tables (`spindle annotate
 * report`: counts, speed, agreement with Cohen's and Fleiss' kappa, gold accuracy, rating and
 * safety-bin distributions) and as JSONL exports (sft, preference, hh, trl, prompts; schemas in
 * schemas/annotate-*.schema.json). Only final answers count; undone ones are kept but ignored. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "annotate_eval.h"
#include "annotate_int.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

/* ------------------------------------------------------------------ kappa */

double ann_cohen_kappa(const int *x, const int *y, size_t n, int k)
{
	if (n == 0 || k <= 0)
		return NAN;
	double *px = calloc((size_t)k, sizeof *px), *py = calloc((size_t)k, sizeof *py);
	if (!px || !py) {
		free(px);
		free(py);
		return NAN;
	}
	double agree = 0;
	for (size_t i = 0; i < n; i++) {
		if (x[i] == y[i])
			agree++;
		if (x[i] >= 0 && x[i] < k) px[x[i]]++;
		if (y[i] >= 0 && y[i] < k) py[y[i]]++;
	}
	double po = agree / (double)n, pe = 0;
	for (int j = 0; j < k; j++)
		pe += (px[j] / (double)n) * (py[j] / (double)n);
	free(px);
	free(py);
	return pe >= 1.0 ? NAN : (po - pe) / (1.0 - pe);
}

double ann_fleiss_kappa(const int *counts, size_t n_items, int k)
{
	if (k <= 0)
		return NAN;
	double *p = calloc((size_t)k, sizeof *p);
	if (!p)
		return NAN;
	double sum_pi = 0, total = 0;
	size_t used = 0;
	for (size_t i = 0; i < n_items; i++) {
		double ni = 0, s = 0;
		for (int j = 0; j < k; j++)
			ni += counts[i * (size_t)k + (size_t)j];
		if (ni < 2)
			continue;
		for (int j = 0; j < k; j++) {
			double c = counts[i * (size_t)k + (size_t)j];
			s += c * (c - 1);
			p[j] += c;
		}
		sum_pi += s / (ni * (ni - 1));
		total += ni;
		used++;
	}
	double pe = 0;
	for (int j = 0; j < k && total > 0; j++)
		pe += (p[j] / total) * (p[j] / total);
	free(p);
	if (used == 0 || pe >= 1.0)
		return NAN;
	return (sum_pi / (double)used - pe) / (1.0 - pe);
}

/* ------------------------------------------------------------------ text tables */

typedef struct table {
	int n_cols;
	sp_buf cells;        /* NUL-separated cells, row after row */
	size_t n_cells;
	int width[16];
	int right[16];       /* right-align column (numbers) */
} table;

static int tcell(table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tcell(table *t, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	int col = (int)(t->n_cells % (size_t)t->n_cols);
	/* Cells hold database text (annotator names); keep them printable. */
	sp_buf clean = SP_BUF_INIT;
	int rc = ann_text_sanitize(tmp, strlen(tmp), &clean);
	const char *c = clean.p ? clean.p : "";
	for (char *q = clean.p; q && *q; q++)
		if (*q == '\n')
			*q = ' ';
	int w = 0;
	for (const unsigned char *q = (const unsigned char *)c; *q; q++)
		w += (*q & 0xC0) != 0x80;
	if (w > t->width[col])
		t->width[col] = w;
	if (rc == 0)
		rc = sp_buf_append(&t->cells, c, strlen(c) + 1);
	sp_buf_release(&clean);
	t->n_cells++;
	return rc;
}

static int tprint(table *t, sp_buf *out)
{
	size_t off = 0;
	for (size_t i = 0; i < t->n_cells; i++) {
		const char *c = t->cells.p + off;
		size_t len = strlen(c);
		off += len + 1;
		int col = (int)(i % (size_t)t->n_cols);
		int w = 0;
		for (const unsigned char *q = (const unsigned char *)c; *q; q++)
			w += (*q & 0xC0) != 0x80;
		int pad = t->width[col] - w;
		if (col > 0)
			SP_FORWARD(sp_buf_appends(out, "  "));
		if (t->right[col])
			SP_FORWARD(sp_buf_appendf(out, "%*s", pad, ""));
		SP_FORWARD(sp_buf_append(out, c, len));
		if (!t->right[col] && col + 1 < t->n_cols)
			SP_FORWARD(sp_buf_appendf(out, "%*s", pad, ""));
		if (col + 1 == t->n_cols)
			SP_FORWARD(sp_buf_appendc(out, '\n'));
		if (i + 1 == (size_t)t->n_cols) { /* rule under the header */
			int total = 0;
			for (int j = 0; j < t->n_cols; j++)
				total += t->width[j] + (j ? 2 : 0);
			for (int j = 0; j < total; j++)
				SP_FORWARD(sp_buf_appendc(out, '-'));
			SP_FORWARD(sp_buf_appendc(out, '\n'));
		}
	}
	return sp_buf_appendc(out, '\n');
}

static void tfree(table *t) { sp_buf_release(&t->cells); }

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void fmt_kappa(char *out, size_t n, double k)
{
	if (isnan(k))
		snprintf(out, n, "n/a");
	else
		snprintf(out, n, "%.4f", k);
}

/* ------------------------------------------------------------------ report */

typedef struct ann_row { int64_t id; char *name; } ann_row;

static int report_totals(ann_db *db, sp_buf *out, sp_err *err)
{
	static const char *const q[][2] = {
		{ "prompts", "SELECT count(*) FROM prompts" },
		{ "  written by annotators (next turns)", "SELECT count(*) FROM prompts WHERE parent_id IS NOT NULL" },
		{ "responses", "SELECT count(*) FROM responses" },
		{ "sft tasks", "SELECT count(*) FROM tasks WHERE kind = 'sft'" },
		{ "preference tasks", "SELECT count(*) FROM tasks WHERE kind = 'preference'" },
		{ "  overlap tasks", "SELECT count(*) FROM tasks WHERE kind = 'preference' AND replicas > 1" },
		{ "  gold tasks", "SELECT count(*) FROM tasks WHERE gold = 1" },
		{ "annotators", "SELECT count(*) FROM annotators" },
		{ "final answers", "SELECT count(*) FROM annotations WHERE status = 'final'" },
		{ "undone answers", "SELECT count(*) FROM annotations WHERE status = 'undone'" },
		{ "live leases", "SELECT count(*) FROM assignments WHERE state = 'leased' AND expires_at > ?1" },
	};
	table t = { .n_cols = 2 };
	t.right[1] = 1;
	int rc = tcell(&t, "database") | tcell(&t, "count");
	for (size_t i = 0; rc == 0 && i < sizeof q / sizeof *q; i++) {
		sqlite3_stmt *st;
		if ((rc = ann_prep(db, &st, q[i][1], err)) < 0)
			break;
		if (sqlite3_bind_parameter_count(st))
			sqlite3_bind_double(st, 1, ann_now());
		int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_finalize(st);
		rc = tcell(&t, "%s", q[i][0]) | tcell(&t, "%lld", (long long)v);
	}
	if (rc == 0)
		rc = tprint(&t, out);
	tfree(&t);
	return rc < 0 ? rc : 0;
}

static int report_annotators(ann_db *db, sp_buf *out, sp_err *err)
{
	sqlite3_stmt *st, *secs;
	SP_FORWARD(ann_prep(db, &st,
		"SELECT n.id, n.name, "
		"(SELECT count(*) FROM annotations a WHERE a.annotator_id = n.id AND a.status = 'final' AND a.kind = 'sft'), "
		"(SELECT count(*) FROM annotations a WHERE a.annotator_id = n.id AND a.status = 'final' AND a.kind = 'preference'), "
		"(SELECT count(*) FROM annotations a WHERE a.annotator_id = n.id AND a.status = 'final' AND a.choice = 'both_bad'), "
		"(SELECT count(*) FROM assignments s WHERE s.annotator_id = n.id AND s.state = 'skipped'), "
		"(SELECT count(*) FROM annotations a WHERE a.annotator_id = n.id AND a.status = 'undone'), "
		"(SELECT count(*) FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE a.annotator_id = n.id "
		"  AND a.status = 'final' AND t.gold = 1), "
		"(SELECT count(*) FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE a.annotator_id = n.id "
		"  AND a.status = 'final' AND t.gold = 1 AND a.choice = t.gold_choice) "
		"FROM annotators n ORDER BY n.name", err));
	int rc = ann_prep(db, &secs,
		"SELECT max(0, created_at - started_at) FROM annotations WHERE annotator_id = ?1 AND status = 'final'", err);
	if (rc < 0) {
		sqlite3_finalize(st);
		return rc;
	}
	table t = { .n_cols = 11 };
	for (int i = 1; i < 11; i++)
		t.right[i] = 1;
	rc = tcell(&t, "annotator") | tcell(&t, "sft") | tcell(&t, "pref") | tcell(&t, "both bad") | tcell(&t, "skipped") |
	     tcell(&t, "undone") | tcell(&t, "gold") | tcell(&t, "gold acc") | tcell(&t, "median s") | tcell(&t, "mean s") |
	     tcell(&t, "items/h");
	double *v = NULL;
	size_t cap = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		size_t n = 0;
		double total = 0;
		sqlite3_reset(secs);
		sqlite3_bind_int64(secs, 1, id);
		while (sqlite3_step(secs) == SQLITE_ROW) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				double *g = sp_realloc(v, nc * sizeof *g);
				if (!g) { rc = SP_ENOMEM; break; }
				v = g;
				cap = nc;
			}
			v[n] = sqlite3_column_double(secs, 0);
			total += v[n++];
		}
		if (rc < 0)
			break;
		if (n > 0)
			qsort(v, n, sizeof *v, cmp_double);
		double median = n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
		int64_t gold = sqlite3_column_int64(st, 7), good = sqlite3_column_int64(st, 8);
		rc = tcell(&t, "%s", (const char *)sqlite3_column_text(st, 1));
		for (int c = 2; c <= 7; c++)
			rc |= tcell(&t, "%lld", (long long)sqlite3_column_int64(st, c));
		if (gold)
			rc |= tcell(&t, "%.1f%%", 100.0 * (double)good / (double)gold);
		else
			rc |= tcell(&t, "-");
		rc |= tcell(&t, "%.1f", median) | tcell(&t, "%.1f", n ? total / (double)n : 0.0);
		if (total >= 1.0) /* scripted sessions answer in no time: no meaningful rate */
			rc |= tcell(&t, "%.1f", (double)n / (total / 3600.0));
		else
			rc |= tcell(&t, "-");
	}
	sqlite3_finalize(st);
	sqlite3_finalize(secs);
	sp_free(v);
	if (rc == 0) {
		rc = sp_buf_appends(out, "per annotator (final answers; seconds = time the item was on screen):\n");
		rc = rc ? rc : tprint(&t, out);
	}
	tfree(&t);
	return rc < 0 ? SP_ENOMEM : 0;
}

/* Agreement on preference items answered by two or more annotators. Label: 0 = a better,
 * 1 = b better, 2 = both bad. */
typedef struct vote { int64_t task, annotator; int label; } vote;

static int report_agreement(ann_db *db, sp_buf *out, sp_err *err)
{
	sqlite3_stmt *st;
	SP_FORWARD(ann_prep(db, &st,
		"SELECT a.task_id, a.annotator_id, a.choice FROM annotations a WHERE a.status = 'final' AND a.kind = 'preference' "
		"AND a.task_id IN (SELECT task_id FROM annotations WHERE status = 'final' AND kind = 'preference' "
		"GROUP BY task_id HAVING count(*) >= 2) ORDER BY a.task_id, a.annotator_id", err));
	vote *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			vote *g = sp_realloc(v, nc * sizeof *g);
			if (!g) { rc = SP_ENOMEM; break; }
			v = g;
			cap = nc;
		}
		const char *c = (const char *)sqlite3_column_text(st, 2);
		v[n].task = sqlite3_column_int64(st, 0);
		v[n].annotator = sqlite3_column_int64(st, 1);
		v[n].label = c[0] == 'a' ? 0 : c[0] == 'b' && c[1] == 0 ? 1 : 2;
		n++;
	}
	sqlite3_finalize(st);
	/* Items: runs of equal task. */
	size_t n_items = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || v[i].task != v[i - 1].task)
			n_items++;
	int *counts = sp_calloc(n_items ? n_items * 3 : 1, sizeof *counts);
	double pairs = 0, agree = 0;
	if (!counts)
		rc = SP_ENOMEM;
	for (size_t i = 0, item = 0; rc == 0 && i < n; item++) {
		size_t j = i;
		while (j < n && v[j].task == v[i].task)
			j++;
		for (size_t x = i; x < j; x++) {
			counts[item * 3 + (size_t)v[x].label]++;
			for (size_t y = x + 1; y < j; y++) {
				pairs++;
				agree += v[x].label == v[y].label;
			}
		}
		i = j;
	}
	char fk[32], pct[32];
	fmt_kappa(fk, sizeof fk, counts ? ann_fleiss_kappa(counts, n_items, 3) : NAN);
	if (pairs > 0)
		snprintf(pct, sizeof pct, "%.1f%%", 100.0 * agree / pairs);
	else
		snprintf(pct, sizeof pct, "n/a");
	if (rc == 0)
		rc = sp_buf_appendf(out,
			"agreement on preference items answered by 2+ annotators (label: which response is better, or both bad):\n"
			"  items %zu, annotator pairs %.0f, percent agreement %s, Fleiss' kappa %s\n",
			n_items, pairs, pct, fk);
	/* Cohen's kappa for every pair of annotators with shared items. */
	table t = { .n_cols = 5 };
	t.right[2] = t.right[3] = t.right[4] = 1;
	if (rc == 0)
		rc = tcell(&t, "annotator") | tcell(&t, "annotator") | tcell(&t, "shared") | tcell(&t, "agree") | tcell(&t, "Cohen's kappa");
	int64_t *ids = NULL;
	size_t n_ids = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t k = 0;
		while (k < n_ids && ids[k] != v[i].annotator)
			k++;
		if (k == n_ids) {
			int64_t *g = sp_realloc(ids, (n_ids + 1) * sizeof *g);
			if (!g) { rc = SP_ENOMEM; break; }
			ids = g;
			ids[n_ids++] = v[i].annotator;
		}
	}
	int *xs = sp_calloc(n_items + 1, sizeof *xs), *ys = sp_calloc(n_items + 1, sizeof *ys);
	if (!xs || !ys)
		rc = SP_ENOMEM;
	size_t n_pairs_shown = 0;
	for (size_t p = 0; rc == 0 && p < n_ids; p++) {
		for (size_t q = p + 1; rc == 0 && q < n_ids; q++) {
			size_t m = 0;
			for (size_t i = 0; i < n;) {
				size_t j = i;
				int lx = -1, ly = -1;
				while (j < n && v[j].task == v[i].task) {
					if (v[j].annotator == ids[p]) lx = v[j].label;
					if (v[j].annotator == ids[q]) ly = v[j].label;
					j++;
				}
				if (lx >= 0 && ly >= 0) {
					xs[m] = lx;
					ys[m] = ly;
					m++;
				}
				i = j;
			}
			if (m == 0)
				continue;
			size_t same = 0;
			for (size_t i = 0; i < m; i++)
				same += xs[i] == ys[i];
			char ck[32], na[2][130];
			fmt_kappa(ck, sizeof ck, ann_cohen_kappa(xs, ys, m, 3));
			for (int w = 0; w < 2; w++) {
				sqlite3_stmt *q2;
				snprintf(na[w], sizeof na[w], "?");
				if (ann_prep(db, &q2, "SELECT name FROM annotators WHERE id = ?1", err) == 0) {
					sqlite3_bind_int64(q2, 1, ids[w ? q : p]);
					if (sqlite3_step(q2) == SQLITE_ROW)
						snprintf(na[w], sizeof na[w], "%s", (const char *)sqlite3_column_text(q2, 0));
					sqlite3_finalize(q2);
				}
			}
			rc = tcell(&t, "%s", na[0]) | tcell(&t, "%s", na[1]) | tcell(&t, "%zu", m) |
			     tcell(&t, "%.1f%%", 100.0 * (double)same / (double)m) | tcell(&t, "%s", ck);
			n_pairs_shown++;
		}
	}
	if (rc == 0 && n_pairs_shown)
		rc = tprint(&t, out);
	else if (rc == 0)
		rc = sp_buf_appends(out, "\n");
	tfree(&t);
	sp_free(xs);
	sp_free(ys);
	sp_free(ids);
	sp_free(counts);
	sp_free(v);
	return rc < 0 ? SP_ENOMEM : 0;
}

static int report_ratings(ann_db *db, sp_buf *out, sp_err *err)
{
	static const char *const names[] = { "significantly better", "better", "slightly better",
	                                     "negligibly better/unsure", "both bad" };
	int64_t c[5][2] = { { 0 } };
	sqlite3_stmt *st;
	SP_FORWARD(ann_prep(db, &st,
		"SELECT CASE WHEN a.choice = 'both_bad' THEN 4 ELSE 3 - a.level END, p.category = 'safety', count(*) "
		"FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN prompts p ON p.id = t.prompt_id "
		"WHERE a.status = 'final' AND a.kind = 'preference' GROUP BY 1, 2", err));
	while (sqlite3_step(st) == SQLITE_ROW) {
		int r = sqlite3_column_int(st, 0), s = sqlite3_column_int(st, 1);
		if (r >= 0 && r < 5)
			c[r][s ? 1 : 0] += sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	int64_t tot[2] = { 0, 0 };
	for (int r = 0; r < 5; r++)
		for (int s = 0; s < 2; s++)
			tot[s] += c[r][s];
	table t = { .n_cols = 5 };
	t.right[1] = t.right[2] = t.right[3] = t.right[4] = 1;
	int rc = tcell(&t, "rating") | tcell(&t, "helpfulness") | tcell(&t, "%%") | tcell(&t, "safety") | tcell(&t, "%%");
	for (int r = 0; r < 5; r++) {
		rc |= tcell(&t, "%s", names[r]);
		for (int s = 0; s < 2; s++)
			rc |= tcell(&t, "%lld", (long long)c[r][s]) |
			      tcell(&t, "%.1f", tot[s] ? 100.0 * (double)c[r][s] / (double)tot[s] : 0.0);
	}
	rc |= sp_buf_appends(out, "preference ratings by prompt category:\n");
	rc |= tprint(&t, out);
	tfree(&t);

	int64_t bins[4] = { 0, 0, 0, 0 };
	SP_FORWARD(ann_prep(db, &st,
		"SELECT a.safety_bin, "
		"(a.choice = 'a' AND a.safety_a = 'unsafe') OR (a.choice = 'b' AND a.safety_b = 'unsafe'), count(*) "
		"FROM annotations a WHERE a.status = 'final' AND a.safety_bin IS NOT NULL GROUP BY 1, 2", err));
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(st, 0);
		int64_t k = sqlite3_column_int64(st, 2);
		if (strcmp(b, "both_safe") == 0) bins[0] += k;
		else if (strcmp(b, "one_safe") == 0) {
			bins[1] += k;
			if (sqlite3_column_int(st, 1)) bins[3] += k;
		} else bins[2] += k;
	}
	sqlite3_finalize(st);
	int64_t all = bins[0] + bins[1] + bins[2];
	table u = { .n_cols = 3 };
	u.right[1] = u.right[2] = 1;
	static const char *const bn[] = { "both safe", "only one safe", "both unsafe", "  of which the chosen is unsafe" };
	rc |= tcell(&u, "safety bin") | tcell(&u, "answers") | tcell(&u, "%%");
	for (int i = 0; i < 4; i++)
		rc |= tcell(&u, "%s", bn[i]) | tcell(&u, "%lld", (long long)bins[i]) |
		      tcell(&u, "%.1f", all ? 100.0 * (double)bins[i] / (double)all : 0.0);
	rc |= sp_buf_appends(out, "safety bins (safety prompts):\n");
	rc |= tprint(&u, out);
	tfree(&u);
	return rc < 0 ? SP_ENOMEM : 0;
}

int ann_report(ann_db *db, sp_buf *out, sp_err *err)
{
	SP_FORWARD(ann_exec(db, "BEGIN", err)); /* one consistent snapshot */
	int rc = report_totals(db, out, err);
	rc = rc ? rc : report_annotators(db, out, err);
	rc = rc ? rc : report_agreement(db, out, err);
	rc = rc ? rc : report_ratings(db, out, err);
	rc = rc ? rc : ann_report_eval_studies(db, out, err);
	ann_rollback(db);
	if (rc == SP_ENOMEM)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return rc;
}

/* ------------------------------------------------------------------ export */

static json_object *jstr(const char *s) { return s ? json_object_new_string(s) : NULL; }

/* Numbers with 10 significant digits: 0.7, not 0.69999999999999996. */
static json_object *jdouble(double v)
{
	char b[40];
	snprintf(b, sizeof b, "%.10g", v);
	return json_object_new_double_s(v, b);
}

static json_object *jparse(const char *s) { return s ? json_tokener_parse(s) : NULL; }

static json_object *jtime(double t)
{
	char buf[40];
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_object_new_string(buf);
}

static const char *const rating_names[] = { "negligibly_better", "slightly_better", "better", "significantly_better" };
static const double margins[] = { 0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0 };

static int hh_text(sp_buf *b, json_object *dialog, const char *last)
{
	for (size_t i = 0; i < json_object_array_length(dialog); i++) {
		json_object *m = json_object_array_get_idx(dialog, i);
		const char *role = json_object_get_string(json_object_object_get(m, "role"));
		const char *content = json_object_get_string(json_object_object_get(m, "content"));
		const char *who = strcmp(role, "assistant") == 0 ? "Assistant: " : strcmp(role, "system") == 0 ? "Human: System: " : "Human: ";
		SP_FORWARD(sp_buf_appendf(b, "\n\n%s%s", who, content));
	}
	return sp_buf_appendf(b, "\n\nAssistant: %s", last);
}

static json_object *trl_msg(const char *text)
{
	json_object *a = json_object_new_array(), *m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("assistant"));
	json_object_object_add(m, "content", json_object_new_string(text));
	json_object_array_add(a, m);
	return a;
}

/* Prepares sql + the filter's conditions + tail, with the filter's values bound. */
static int prep_filtered(ann_db *db, sqlite3_stmt **st, const char *sql, const ann_filter *f, int what, const char *tail,
                         sp_err *err)
{
	sp_buf q = SP_BUF_INIT;
	int rc = sp_buf_appends(&q, sql) < 0 ? sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory") : 0;
	if (rc == 0)
		rc = ann_filter_sql(f, what, &q, err);
	if (rc == 0 && sp_buf_appends(&q, tail) < 0)
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc == 0 && f && f->split)
		rc = ann_split_register(db, err);
	if (rc == 0)
		rc = ann_prep(db, st, q.p, err);
	if (rc == 0)
		ann_filter_bind(f, *st);
	sp_buf_release(&q);
	return rc;
}

static int export_prompts(ann_db *db, const ann_filter *f, sp_out *out, uint64_t *n, sp_err *err)
{
	sqlite3_stmt *st;
	SP_FORWARD(prep_filtered(db, &st,
		"SELECT id, category, dialog, risk_category, attack_vectors, meta FROM prompts p "
		"WHERE NOT EXISTS (SELECT 1 FROM responses r WHERE r.prompt_id = p.id)", f, 'p', " ORDER BY p.rowid", err));
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "id", jstr((const char *)sqlite3_column_text(st, 0)));
		json_object_object_add(o, "category", jstr((const char *)sqlite3_column_text(st, 1)));
		json_object_object_add(o, "dialog", jparse((const char *)sqlite3_column_text(st, 2)));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			json_object_object_add(o, "risk_category", jstr((const char *)sqlite3_column_text(st, 3)));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			json_object_object_add(o, "attack_vectors", jparse((const char *)sqlite3_column_text(st, 4)));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			json_object_object_add(o, "meta", jparse((const char *)sqlite3_column_text(st, 5)));
		rc = sp_jsonl_write(out, o, err);
		json_object_put(o);
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc;
}

static int export_sft(ann_db *db, const ann_filter *f, sp_out *out, uint64_t *n, sp_err *err)
{
	sqlite3_stmt *st;
	SP_FORWARD(prep_filtered(db, &st,
		"SELECT a.id, t.prompt_id, p.category, p.risk_category, p.attack_vectors, p.dialog, a.response_text, a.source, "
		"a.edited_from, n.name, a.created_at, max(0, a.created_at - a.started_at) "
		"FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN prompts p ON p.id = t.prompt_id "
		"JOIN annotators n ON n.id = a.annotator_id WHERE a.status = 'final' AND a.kind = 'sft'", f, 's', " ORDER BY a.id", err));
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		json_object *o = json_object_new_object();
		char id[40];
		snprintf(id, sizeof id, "sft-%lld", (long long)sqlite3_column_int64(st, 0));
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "prompt_id", jstr((const char *)sqlite3_column_text(st, 1)));
		json_object_object_add(o, "category", jstr((const char *)sqlite3_column_text(st, 2)));
		json_object_object_add(o, "risk_category", jstr((const char *)sqlite3_column_text(st, 3)));
		json_object *av = jparse((const char *)sqlite3_column_text(st, 4));
		json_object_object_add(o, "attack_vectors", av ? av : json_object_new_array());
		json_object_object_add(o, "dialog", jparse((const char *)sqlite3_column_text(st, 5)));
		json_object_object_add(o, "response", jstr((const char *)sqlite3_column_text(st, 6)));
		json_object_object_add(o, "source", jstr((const char *)sqlite3_column_text(st, 7)));
		json_object_object_add(o, "edited_from", jstr((const char *)sqlite3_column_text(st, 8)));
		json_object_object_add(o, "annotator", jstr((const char *)sqlite3_column_text(st, 9)));
		json_object_object_add(o, "created_at", jtime(sqlite3_column_double(st, 10)));
		json_object_object_add(o, "seconds", jdouble(round(sqlite3_column_double(st, 11) * 1000) / 1000));
		rc = sp_jsonl_write(out, o, err);
		json_object_put(o);
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc;
}

static int export_pairs(ann_db *db, int format, const ann_filter *f, sp_out *out, uint64_t *n, sp_err *err)
{
	sqlite3_stmt *st;
	SP_FORWARD(prep_filtered(db, &st,
		"SELECT a.id, t.prompt_id, p.category, p.risk_category, p.attack_vectors, p.dialog, a.choice, a.level, "
		"ra.id, ra.text, ra.model, ra.variant, ra.temperature, rb.id, rb.text, rb.model, rb.variant, rb.temperature, "
		"a.safety_a, a.safety_b, a.safety_bin, a.shown_left, t.gold, n.name, a.created_at, max(0, a.created_at - a.started_at) "
		"FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN prompts p ON p.id = t.prompt_id "
		"JOIN responses ra ON ra.id = t.response_a JOIN responses rb ON rb.id = t.response_b "
		"JOIN annotators n ON n.id = a.annotator_id "
		"WHERE a.status = 'final' AND a.kind = 'preference' AND a.choice <> 'both_bad'", f, 'r', " ORDER BY a.id", err));
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int b_won = strcmp((const char *)sqlite3_column_text(st, 6), "b") == 0;
		int cw = b_won ? 13 : 8, lw = b_won ? 8 : 13; /* first column of chosen / rejected */
		int level = sqlite3_column_int(st, 7);
		if (level < 0 || level > 3)
			level = 0;
		const char *chosen = (const char *)sqlite3_column_text(st, cw + 1);
		const char *rejected = (const char *)sqlite3_column_text(st, lw + 1);
		json_object *dialog = jparse((const char *)sqlite3_column_text(st, 5));
		json_object *o = json_object_new_object();
		if (format == ANN_FMT_PREFERENCE) {
			char id[40];
			snprintf(id, sizeof id, "pref-%lld", (long long)sqlite3_column_int64(st, 0));
			json_object_object_add(o, "id", json_object_new_string(id));
			json_object_object_add(o, "prompt_id", jstr((const char *)sqlite3_column_text(st, 1)));
			json_object_object_add(o, "category", jstr((const char *)sqlite3_column_text(st, 2)));
			json_object_object_add(o, "risk_category", jstr((const char *)sqlite3_column_text(st, 3)));
			json_object *av = jparse((const char *)sqlite3_column_text(st, 4));
			json_object_object_add(o, "attack_vectors", av ? av : json_object_new_array());
			json_object_object_add(o, "dialog", dialog);
			dialog = NULL;
			json_object_object_add(o, "chosen", jstr(chosen));
			json_object_object_add(o, "rejected", jstr(rejected));
			json_object_object_add(o, "chosen_id", jstr((const char *)sqlite3_column_text(st, cw)));
			json_object_object_add(o, "rejected_id", jstr((const char *)sqlite3_column_text(st, lw)));
			json_object_object_add(o, "chosen_model", jstr((const char *)sqlite3_column_text(st, cw + 2)));
			json_object_object_add(o, "chosen_variant", jstr((const char *)sqlite3_column_text(st, cw + 3)));
			if (sqlite3_column_type(st, cw + 4) != SQLITE_NULL)   /* absent when the response gave none */
				json_object_object_add(o, "chosen_temperature", jdouble(sqlite3_column_double(st, cw + 4)));
			json_object_object_add(o, "rejected_model", jstr((const char *)sqlite3_column_text(st, lw + 2)));
			json_object_object_add(o, "rejected_variant", jstr((const char *)sqlite3_column_text(st, lw + 3)));
			if (sqlite3_column_type(st, lw + 4) != SQLITE_NULL)
				json_object_object_add(o, "rejected_temperature", jdouble(sqlite3_column_double(st, lw + 4)));
			json_object_object_add(o, "rating", json_object_new_string(rating_names[level]));
			json_object_object_add(o, "level", json_object_new_int(level));
			json_object_object_add(o, "margin", jdouble(margins[level]));
			const char *sa = (const char *)sqlite3_column_text(st, 18), *sb = (const char *)sqlite3_column_text(st, 19);
			json_object_object_add(o, "chosen_safety", jstr(b_won ? sb : sa));
			json_object_object_add(o, "rejected_safety", jstr(b_won ? sa : sb));
			json_object_object_add(o, "safety_bin", jstr((const char *)sqlite3_column_text(st, 20)));
			const char *left = (const char *)sqlite3_column_text(st, 21);
			int left_won = left && ((left[0] == 'b') == b_won);
			json_object_object_add(o, "shown_left", json_object_new_string(left_won ? "chosen" : "rejected"));
			json_object_object_add(o, "gold", json_object_new_boolean(sqlite3_column_int(st, 22)));
			json_object_object_add(o, "annotator", jstr((const char *)sqlite3_column_text(st, 23)));
			json_object_object_add(o, "created_at", jtime(sqlite3_column_double(st, 24)));
			json_object_object_add(o, "seconds", jdouble(round(sqlite3_column_double(st, 25) * 1000) / 1000));
		} else if (format == ANN_FMT_HH) {
			sp_buf c = SP_BUF_INIT, r = SP_BUF_INIT;
			if (hh_text(&c, dialog, chosen) < 0 || hh_text(&r, dialog, rejected) < 0)
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			json_object_object_add(o, "chosen", json_object_new_string_len(c.p ? c.p : "", (int)c.len));
			json_object_object_add(o, "rejected", json_object_new_string_len(r.p ? r.p : "", (int)r.len));
			sp_buf_release(&c);
			sp_buf_release(&r);
		} else {
			json_object_object_add(o, "prompt", dialog);
			dialog = NULL;
			json_object_object_add(o, "chosen", trl_msg(chosen));
			json_object_object_add(o, "rejected", trl_msg(rejected));
			json_object_object_add(o, "margin", jdouble(margins[level]));
		}
		json_object_put(dialog);
		if (rc == 0)
			rc = sp_jsonl_write(out, o, err);
		json_object_put(o);
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc;
}

int ann_export(ann_db *db, int format, sp_out *out, uint64_t *n, sp_err *err)
{
	return ann_export_filtered(db, format, NULL, out, n, err);
}

int ann_export_filtered(ann_db *db, int format, const ann_filter *f, sp_out *out, uint64_t *n, sp_err *err)
{
	*n = 0;
	SP_FORWARD(ann_exec(db, "BEGIN", err));
	int rc = format == ANN_FMT_SFT ? export_sft(db, f, out, n, err)
	       : format == ANN_FMT_PROMPTS ? export_prompts(db, f, out, n, err)
	       : export_pairs(db, format, f, out, n, err);
	ann_rollback(db);
	return rc;
}
