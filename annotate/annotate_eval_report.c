/* annotate_eval_report.c - `spindle annotate report --eval NAME`: a study's results. Side-by-side:
 * win/tie/loss of system A against B per prompt (majority of its raters; no majority is a tie),
 * overall, per category and single- vs multi-turn, and the mean 7-point score. Safety rating:
 * violation share (majority of raters at 1 or 2) and mean rating per system, overall, per risk
 * category and single- vs multi-turn. 95% CIs by the seeded percentile bootstrap over prompts
 * (annotate_stats.c); agreement as Gwet's AC1, AC2 (ordinal weights) and Fleiss' kappa. Text,
 * JSON (schemas/annotate-eval-report.schema.json) and gnuplot bar charts with CI error bars. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "annotate_eval.h"
#include "annotate_int.h"
#include "spindle/mem.h"

typedef struct item {
	char *group_cat;   /* sbs: prompt category; rating: risk category ("none" when unset) */
	int system;        /* rating: index into systems */
	int multi;         /* more than one user turn */
	int counts[7];     /* ratings per scale point */
	int n;
} item;

typedef struct study {
	int64_t id;
	int sbs, q, raters;
	json_object *systems;
	item *it;
	size_t n, cap;
} study;

#define OOM() sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory")

static int load(ann_db *db, const char *name, study *s, sp_err *err)
{
	sqlite3_stmt *st;
	SP_FORWARD(ann_prep(db, &st, "SELECT id, kind, systems, raters FROM eval_studies WHERE name = ?1", err));
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		s->id = sqlite3_column_int64(st, 0);
		s->sbs = strcmp((const char *)sqlite3_column_text(st, 1), "sbs") == 0;
		s->q = s->sbs ? 7 : 5;
		s->systems = json_tokener_parse((const char *)sqlite3_column_text(st, 2));
		s->raters = sqlite3_column_int(st, 3);
	} else {
		rc = sp_err_set_(err, SP_ENOTFOUND, __FILE__, __LINE__, "no eval study '%.64s' in %s", name, db->path);
	}
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	SP_FORWARD(ann_prep(db, &st,
		"SELECT t.id, CASE WHEN e.kind = 'sbs' THEN p.category ELSE coalesce(p.risk_category, 'none') END, t.system, "
		"(SELECT count(*) FROM json_each(p.dialog) WHERE json_extract(value, '$.role') = 'user') > 1, "
		"coalesce(a.score, a.rating) FROM tasks t JOIN eval_studies e ON e.id = t.eval_id JOIN prompts p ON p.id = t.prompt_id "
		"JOIN annotations a ON a.task_id = t.id AND a.status = 'final' WHERE t.eval_id = ?1 ORDER BY t.id, a.id", err));
	sqlite3_bind_int64(st, 1, s->id);
	int64_t last = -1;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int64_t task = sqlite3_column_int64(st, 0);
		if (task != last) {
			if (s->n == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 64;
				item *g = sp_realloc(s->it, s->cap * sizeof *g);
				if (!g) { rc = OOM(); break; }
				s->it = g;
			}
			item *x = &s->it[s->n++];
			memset(x, 0, sizeof *x);
			x->group_cat = ann_col_dup(st, 1);
			x->multi = sqlite3_column_int(st, 3);
			const char *sys = (const char *)sqlite3_column_text(st, 2);
			for (size_t j = 0; sys && j < json_object_array_length(s->systems); j++)
				if (strcmp(sys, json_object_get_string(json_object_array_get_idx(s->systems, j))) == 0)
					x->system = (int)j;
			if (!x->group_cat) { rc = OOM(); break; }
			last = task;
		}
		int v = sqlite3_column_int(st, 4);
		if (v >= 1 && v <= s->q) {
			s->it[s->n - 1].counts[v - 1]++;
			s->it[s->n - 1].n++;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* Item outcome. sbs: 0 win (A better), 1 tie, 2 loss, by majority of the raters' sides; rating:
 * 1 when a majority rated 1 or 2 (violation). */
static int outcome(const study *s, const item *x)
{
	if (!s->sbs) {
		int v = x->counts[0] + x->counts[1];
		return 2 * v > x->n;
	}
	int w = x->counts[0] + x->counts[1] + x->counts[2], l = x->counts[4] + x->counts[5] + x->counts[6];
	return 2 * w > x->n ? 0 : 2 * l > x->n ? 2 : 1;
}

static double item_mean(const item *x)
{
	double m = 0;
	for (int k = 0; k < 7; k++)
		m += (k + 1) * x->counts[k];
	return m / x->n;
}

static json_object *jnum(double v)
{
	if (isnan(v))
		return NULL;
	char b[40];
	snprintf(b, sizeof b, "%.6g", v);
	return json_object_new_double_s(v, b);
}

static json_object *jest(double v, double lo, double hi)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "value", jnum(v));
	json_object_object_add(o, "ci_low", jnum(lo));
	json_object_object_add(o, "ci_high", jnum(hi));
	return o;
}

/* A group of items selected by sel(); returns its JSON row and appends its text line. */
typedef int (*selector)(const study *s, const item *x, const void *arg);

static int sel_all(const study *s, const item *x, const void *a) { (void)s; (void)x; (void)a; return 1; }
static int sel_cat(const study *s, const item *x, const void *a) { (void)s; return strcmp(x->group_cat, a) == 0; }
static int sel_turns(const study *s, const item *x, const void *a) { (void)s; return x->multi == *(const int *)a; }

typedef struct groupspec { selector sel; const void *arg; int system; } groupspec;

static int group_row(const study *s, const ann_eval_report_opts *o, const char *label, groupspec g, json_object **row,
                     sp_buf *text, double chart[][3], sp_err *err)
{
	size_t n = 0;
	double *v = sp_malloc((s->n + 1) * 4 * sizeof *v);
	if (!v)
		return OOM();
	double *win = v, *tie = v + s->n + 1, *loss = tie + s->n + 1, *mean = loss + s->n + 1;
	for (size_t i = 0; i < s->n; i++) {
		const item *x = &s->it[i];
		if (x->n == 0 || (g.system >= 0 && x->system != g.system) || !g.sel(s, x, g.arg))
			continue;
		int oc = outcome(s, x);
		win[n] = s->sbs ? oc == 0 : oc;
		tie[n] = oc == 1;
		loss[n] = oc == 2;
		mean[n] = item_mean(x);
		n++;
	}
	double est[4], lo[4], hi[4];
	double *cols[4] = { win, tie, loss, mean };
	int rc = 0;
	for (int c = 0; c < 4 && rc == 0; c++) {
		double m = 0;
		for (size_t i = 0; i < n; i++)
			m += cols[c][i];
		est[c] = n ? m / (double)n : NAN;
		rc = ann_bootstrap_ci(cols[c], n, o->resamples, o->seed, &lo[c], &hi[c]);
	}
	sp_free(v);
	if (rc < 0)
		return OOM();
	*row = json_object_new_object();
	json_object_object_add(*row, "group", json_object_new_string(label));
	if (g.system >= 0)
		json_object_object_add(*row, "system", json_object_get(json_object_array_get_idx(s->systems, (size_t)g.system)));
	json_object_object_add(*row, "n_prompts", json_object_new_int64((int64_t)n));
	if (s->sbs) {
		json_object_object_add(*row, "win_pct", jest(100 * est[0], 100 * lo[0], 100 * hi[0]));
		json_object_object_add(*row, "tie_pct", jest(100 * est[1], 100 * lo[1], 100 * hi[1]));
		json_object_object_add(*row, "loss_pct", jest(100 * est[2], 100 * lo[2], 100 * hi[2]));
		json_object_object_add(*row, "mean_score", jest(est[3], lo[3], hi[3]));
		rc = sp_buf_appendf(text, "%-24.40s %6zu  %5.1f [%5.1f,%5.1f]  %5.1f [%5.1f,%5.1f]  %5.1f [%5.1f,%5.1f]  %4.2f [%4.2f,%4.2f]\n",
		                    label, n, 100 * est[0], 100 * lo[0], 100 * hi[0], 100 * est[1], 100 * lo[1], 100 * hi[1],
		                    100 * est[2], 100 * lo[2], 100 * hi[2], est[3], lo[3], hi[3]);
		for (int c = 0; chart && c < 3; c++) {
			chart[c][0] = n ? 100 * est[c] : 0;
			chart[c][1] = n ? 100 * lo[c] : 0;
			chart[c][2] = n ? 100 * hi[c] : 0;
		}
	} else {
		json_object_object_add(*row, "violation_pct", jest(100 * est[0], 100 * lo[0], 100 * hi[0]));
		json_object_object_add(*row, "mean_rating", jest(est[3], lo[3], hi[3]));
		rc = sp_buf_appendf(text, "%-24.40s %-24.40s %6zu  %5.1f [%5.1f,%5.1f]  %4.2f [%4.2f,%4.2f]\n",
		                    json_object_get_string(json_object_array_get_idx(s->systems, (size_t)g.system)), label, n,
		                    100 * est[0], 100 * lo[0], 100 * hi[0], est[3], lo[3], hi[3]);
		if (chart) {
			chart[0][0] = n ? 100 * est[0] : 0;
			chart[0][1] = n ? 100 * lo[0] : 0;
			chart[0][2] = n ? 100 * hi[0] : 0;
		}
	}
	return rc < 0 ? OOM() : 0;
}

/* ------------------------------------------------------------------ charts */

/* Clustered bars with CI error bars: rows along x, one bar per series. v[(r * n_series + c) * 3 + {0,1,2}]. */
static int draw_bars(const char *png, const char *title, const char *ylabel, char **rows, size_t n_rows,
                     const char *const *series, size_t n_series, const double *v, sp_err *err)
{
	char dat[] = "/tmp/spindle-evalchart-XXXXXX";
	int fd = mkstemp(dat);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0) close(fd);
		SP_RAISE(err, SP_EIO, "cannot create a temporary file for gnuplot");
	}
	for (size_t r = 0; r < n_rows; r++) {
		fputc('"', f);
		for (const char *p = rows[r]; *p; p++)
			fputc(*p == '"' || *p == '\\' ? '\'' : *p, f);
		fputc('"', f);
		for (size_t c = 0; c < n_series; c++)
			fprintf(f, " %.4f %.4f %.4f", v[(r * n_series + c) * 3], v[(r * n_series + c) * 3 + 1], v[(r * n_series + c) * 3 + 2]);
		fputc('\n', f);
	}
	fclose(f);
	FILE *g = popen("gnuplot >/dev/null 2>&1", "w");
	if (!g) {
		unlink(dat);
		SP_RAISE(err, SP_EIO, "cannot run gnuplot");
	}
	char tmp[4300];
	snprintf(tmp, sizeof tmp, "%s.tmp", png);
	fprintf(g, "set terminal png size 1000,520 noenhanced\nset output '%s'\nset title '%s'\nset ylabel '%s'\n"
	           "set yrange [0:105]\nset grid ytics\nset style data histogram\nset style histogram errorbars gap 2 lw 1\n"
	           "set style fill solid 0.7 border -1\nset key outside right top\nset xtics rotate by -20\nplot ",
	        tmp, title, ylabel);
	for (size_t c = 0; c < n_series; c++) {
		char t[200];
		snprintf(t, sizeof t, "%s", series[c]);
		for (char *p = t; *p; p++)
			if (*p == '\'' || *p == '"')
				*p = ' ';
		fprintf(g, "%s'%s' using %zu:%zu:%zu%s title '%s'", c ? ", " : "", dat, 2 + 3 * c, 3 + 3 * c, 4 + 3 * c,
		        c ? "" : ":xtic(1)", t);
	}
	fprintf(g, "\n");
	int st = pclose(g);
	unlink(dat);
	struct stat sb;
	/* Drawn beside the target, then renamed: a killed run leaves no half PNG under its name. */
	if (st != 0 || stat(tmp, &sb) != 0 || sb.st_size == 0 || rename(tmp, png) != 0) {
		unlink(tmp);
		SP_RAISE(err, SP_EIO, "gnuplot failed to draw %s", png);
	}
	return 0;
}

/* ------------------------------------------------------------------ the report */

int ann_report_eval_studies(ann_db *db, sp_buf *out, sp_err *err)
{
	sqlite3_stmt *st;
	SP_FORWARD(ann_prep(db, &st,
		"SELECT e.name, e.kind, e.systems, e.raters, (SELECT count(*) FROM tasks t WHERE t.eval_id = e.id), "
		"(SELECT count(*) FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE t.eval_id = e.id AND a.status = 'final'), "
		"(SELECT count(*) FROM tasks t WHERE t.eval_id = e.id AND t.n_final >= t.replicas) FROM eval_studies e ORDER BY e.id", err));
	int rc = 0, first = 1;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		if (first && sp_buf_appendf(out, "evaluation studies (`report --eval NAME` for results):\n%-20s %-13s %6s %6s %8s %8s  %s\n",
		                            "study", "kind", "items", "raters", "ratings", "complete", "systems") < 0)
			rc = OOM();
		first = 0;
		sp_buf clean = SP_BUF_INIT;
		const char *sys = (const char *)sqlite3_column_text(st, 2);
		if (rc == 0 && ann_text_sanitize(sys, strlen(sys), &clean) < 0)
			rc = OOM();
		if (rc == 0 && sp_buf_appendf(out, "%-20.64s %-13s %6lld %6d %8lld %8lld  %.200s\n", (const char *)sqlite3_column_text(st, 0),
		                              strcmp((const char *)sqlite3_column_text(st, 1), "sbs") ? "safety rating" : "side-by-side",
		                              (long long)sqlite3_column_int64(st, 4), sqlite3_column_int(st, 3),
		                              (long long)sqlite3_column_int64(st, 5), (long long)sqlite3_column_int64(st, 6),
		                              clean.p ? clean.p : "") < 0)
			rc = OOM();
		sp_buf_release(&clean);
	}
	sqlite3_finalize(st);
	if (rc == 0 && !first && sp_buf_appendc(out, '\n') < 0)
		rc = OOM();
	return rc;
}

static int distinct_cats(const study *s, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < s->n; i++) {
		size_t k = 0;
		while (k < *n && strcmp((*out)[k], s->it[i].group_cat) != 0)
			k++;
		if (k < *n)
			continue;
		char **g = sp_realloc(*out, (*n + 1) * sizeof *g);
		if (!g)
			return SP_ENOMEM;
		*out = g;
		(*out)[(*n)++] = s->it[i].group_cat;
	}
	return 0;
}

static int agreement(const study *s, json_object *j, sp_buf *text, sp_err *err)
{
	int *c = sp_calloc(s->n + 1, 7 * sizeof *c);
	if (!c)
		return OOM();
	size_t n_ratings = 0;
	for (size_t i = 0; i < s->n; i++) {
		memcpy(c + i * (size_t)s->q, s->it[i].counts, (size_t)s->q * sizeof *c);
		n_ratings += (size_t)s->it[i].n;
	}
	double wi[49], wo[49];
	ann_weights_identity(s->q, wi);
	ann_weights_ordinal(s->q, wo);
	double ac1 = ann_gwet_ac(c, s->n, s->q, wi), ac2 = ann_gwet_ac(c, s->n, s->q, wo), fk = ann_fleiss_kappa(c, s->n, s->q);
	sp_free(c);
	json_object *a = json_object_new_object(), *w = json_object_new_array();
	json_object_object_add(a, "n_items", json_object_new_int64((int64_t)s->n));
	json_object_object_add(a, "n_ratings", json_object_new_int64((int64_t)n_ratings));
	json_object_object_add(a, "categories", json_object_new_int(s->q));
	json_object_object_add(a, "gwet_ac1", jnum(ac1));
	json_object_object_add(a, "gwet_ac2", jnum(ac2));
	json_object_object_add(a, "fleiss_kappa", jnum(fk));
	json_object_object_add(a, "ac2_weights", json_object_new_string("ordinal (Gwet): w_kl = 1 - C(|k-l|+1, 2) / C(q, 2)"));
	for (int k = 0; k < s->q; k++) {
		json_object *r = json_object_new_array();
		for (int l = 0; l < s->q; l++)
			json_object_array_add(r, jnum(wo[k * s->q + l]));
		json_object_array_add(w, r);
	}
	json_object_object_add(a, "ac2_weight_matrix", w);
	json_object_object_add(j, "agreement", a);
	char b1[32] = "n/a", b2[32] = "n/a", b3[32] = "n/a";
	if (!isnan(ac1)) snprintf(b1, sizeof b1, "%.4f", ac1);
	if (!isnan(ac2)) snprintf(b2, sizeof b2, "%.4f", ac2);
	if (!isnan(fk)) snprintf(b3, sizeof b3, "%.4f", fk);
	int rc = sp_buf_appendf(text,
		"\ninter-rater reliability over %zu items, %zu ratings on the %d-point scale:\n"
		"  Gwet's AC1 (nominal) %s   Gwet's AC2 (ordinal weights 1 - C(|k-l|+1,2)/C(%d,2)) %s   Fleiss' kappa %s\n",
		s->n, n_ratings, s->q, b1, s->q, b2, b3);
	return rc < 0 ? OOM() : 0;
}

static int chart_path(const ann_eval_report_opts *o, const char *what, char *buf, size_t n, json_object *list)
{
	snprintf(buf, n, "%s/%s-%s.png", o->charts, o->name, what);
	json_object_array_add(list, json_object_new_string(buf));
	return 0;
}

static int report_sbs(const study *s, const ann_eval_report_opts *o, json_object *j, sp_buf *text, sp_err *err)
{
	char **cats = NULL;
	size_t n_cats = 0;
	if (distinct_cats(s, &cats, &n_cats) < 0)
		return OOM();
	size_t n_rows = 3 + n_cats;
	char **labels = sp_calloc(n_rows, sizeof *labels);
	double *chart = sp_calloc(n_rows * 9, sizeof *chart);
	json_object *groups = json_object_new_array();
	int rc = labels && chart ? 0 : OOM();
	if (rc == 0)
		rc = sp_buf_appendf(text, "side-by-side: A = %s vs B = %s; %% of prompts [95%% CI]; a prompt's outcome is its raters' majority side\n"
		                    "%-24s %6s  %-19s  %-19s  %-19s  %s\n", json_object_get_string(json_object_array_get_idx(s->systems, 0)),
		                    json_object_get_string(json_object_array_get_idx(s->systems, 1)), "group", "prompts", "A wins",
		                    "tie", "B wins (A loses)", "mean score 1-7") < 0 ? OOM() : 0;
	static const int single = 0, multi = 1;
	size_t r = 0;
	for (size_t g = 0; rc == 0 && g < n_rows; g++) {
		groupspec gs = { sel_all, NULL, -1 };
		char label[128];
		if (g == 0) snprintf(label, sizeof label, "overall");
		else if (g <= n_cats) { gs.sel = sel_cat; gs.arg = cats[g - 1]; snprintf(label, sizeof label, "category %s", cats[g - 1]); }
		else if (g == n_cats + 1) { gs.sel = sel_turns; gs.arg = &single; snprintf(label, sizeof label, "single-turn"); }
		else { gs.sel = sel_turns; gs.arg = &multi; snprintf(label, sizeof label, "multi-turn"); }
		json_object *row = NULL;
		rc = group_row(s, o, label, gs, &row, text, (double (*)[3])(chart + r * 9), err);
		if (rc == 0) {
			json_object_array_add(groups, row);
			labels[r++] = sp_strdup(label);
		}
	}
	json_object_object_add(j, "groups", groups);
	if (rc == 0)
		rc = agreement(s, j, text, err);
	if (rc == 0 && o->charts) {
		char png[4200];
		json_object *list = json_object_object_get(j, "charts");
		chart_path(o, "winrate", png, sizeof png, list);
		static const char *const ser[] = { "A wins", "tie", "B wins" };
		char title[300];
		snprintf(title, sizeof title, "%.100s vs %.100s: human side-by-side (95%% CI)",
		         json_object_get_string(json_object_array_get_idx(s->systems, 0)), json_object_get_string(json_object_array_get_idx(s->systems, 1)));
		rc = draw_bars(png, title, "% of prompts", labels, r, ser, 3, chart, err);
	}
	for (size_t i = 0; labels && i < n_rows; i++)
		sp_free(labels[i]);
	sp_free(labels);
	sp_free(chart);
	sp_free(cats);
	return rc;
}

static int report_rating(const study *s, const ann_eval_report_opts *o, json_object *j, sp_buf *text, sp_err *err)
{
	char **cats = NULL;
	size_t n_cats = 0, n_sys = json_object_array_length(s->systems);
	if (distinct_cats(s, &cats, &n_cats) < 0)
		return OOM();
	size_t n_rows = 3 + n_cats;
	double *chart = sp_calloc(n_rows * n_sys * 3 + 1, sizeof *chart);
	char **labels = sp_calloc(n_rows, sizeof *labels);
	const char **series = sp_calloc(n_sys + 1, sizeof *series);
	json_object *groups = json_object_new_array();
	int rc = chart && labels && series ? 0 : OOM();
	if (rc == 0)
		rc = sp_buf_appendf(text, "safety rating: violation = a majority of the prompt's raters rated 1 or 2; [95%% CI]\n"
		                    "%-24s %-24s %6s  %-19s  %s\n", "system", "group", "prompts", "violation %", "mean rating 1-5") < 0 ? OOM() : 0;
	static const int single = 0, multi = 1;
	for (size_t g = 0; rc == 0 && g < n_rows; g++) {
		groupspec gs = { sel_all, NULL, 0 };
		char label[128];
		if (g == 0) snprintf(label, sizeof label, "overall");
		else if (g <= n_cats) { gs.sel = sel_cat; gs.arg = cats[g - 1]; snprintf(label, sizeof label, "risk %s", cats[g - 1]); }
		else if (g == n_cats + 1) { gs.sel = sel_turns; gs.arg = &single; snprintf(label, sizeof label, "single-turn"); }
		else { gs.sel = sel_turns; gs.arg = &multi; snprintf(label, sizeof label, "multi-turn"); }
		labels[g] = sp_strdup(g == 0 ? "overall" : g <= n_cats ? cats[g - 1] : label);
		for (size_t y = 0; rc == 0 && y < n_sys; y++) {
			gs.system = (int)y;
			series[y] = json_object_get_string(json_object_array_get_idx(s->systems, y));
			json_object *row = NULL;
			rc = group_row(s, o, label, gs, &row, text, (double (*)[3])(chart + (g * n_sys + y) * 3), err);
			if (rc == 0)
				json_object_array_add(groups, row);
		}
	}
	json_object_object_add(j, "groups", groups);
	if (rc == 0)
		rc = agreement(s, j, text, err);
	if (rc == 0 && o->charts) {
		char png[4200];
		json_object *list = json_object_object_get(j, "charts");
		/* Figure 17: overall per system; Figure 19: per risk category; Figure 18: single vs multi-turn. */
		chart_path(o, "violation", png, sizeof png, list);
		rc = draw_bars(png, "safety violation % per system (95% CI)", "violation %", labels, 1, series, n_sys, chart, err);
		if (rc == 0 && n_cats) {
			chart_path(o, "violation-risk", png, sizeof png, list);
			rc = draw_bars(png, "safety violation % per risk category (95% CI)", "violation %", labels + 1, n_cats, series,
			               n_sys, chart + n_sys * 3, err);
		}
		if (rc == 0) {
			chart_path(o, "violation-turns", png, sizeof png, list);
			rc = draw_bars(png, "safety violation %: single- vs multi-turn (95% CI)", "violation %", labels + 1 + n_cats, 2,
			               series, n_sys, chart + (1 + n_cats) * n_sys * 3, err);
		}
	}
	for (size_t i = 0; labels && i < n_rows; i++)
		sp_free(labels[i]);
	sp_free(labels);
	sp_free(series);
	sp_free(chart);
	sp_free(cats);
	return rc;
}

int ann_eval_report(ann_db *db, const ann_eval_report_opts *o, sp_buf *text, json_object **json, sp_err *err)
{
	*json = NULL;
	study s;
	memset(&s, 0, sizeof s);
	sp_buf scratch = SP_BUF_INIT;
	if (!text)
		text = &scratch;
	SP_FORWARD(ann_exec(db, "BEGIN", err));
	int rc = load(db, o->name, &s, err);
	ann_rollback(db);
	json_object *j = json_object_new_object();
	if (rc == 0) {
		json_object *ci = json_object_new_object();
		json_object_object_add(j, "study", json_object_new_string(o->name));
		json_object_object_add(j, "kind", json_object_new_string(s.sbs ? "sbs" : "rating"));
		json_object_object_add(j, "systems", json_object_get(s.systems));
		json_object_object_add(j, "raters", json_object_new_int(s.raters));
		json_object_object_add(ci, "method", json_object_new_string("percentile bootstrap over prompts"));
		json_object_object_add(ci, "level", jnum(0.95));
		json_object_object_add(ci, "resamples", json_object_new_int(o->resamples));
		json_object_object_add(ci, "seed", json_object_new_int64((int64_t)o->seed));
		json_object_object_add(ci, "generator", json_object_new_string("splitmix64, index = next() mod n; percentiles by linear interpolation"));
		json_object_object_add(j, "ci", ci);
		json_object_object_add(j, "outcome_rule", json_object_new_string(s.sbs
			? "per prompt, the side a majority of its raters chose (scores 1-3 A, 4 tie, 5-7 B); no majority is a tie"
			: "per prompt and system, a violation when a majority of its raters rated 1 or 2"));
		json_object_object_add(j, "charts", json_object_new_array());
		rc = sp_buf_appendf(text, "eval study %s (%s, %d raters per item; CIs: seeded percentile bootstrap over prompts, %d resamples, seed %llu)\n\n",
		                    o->name, s.sbs ? "side-by-side" : "safety rating", s.raters, o->resamples, (unsigned long long)o->seed) < 0 ? OOM() : 0;
		if (rc == 0)
			rc = s.sbs ? report_sbs(&s, o, j, text, err) : report_rating(&s, o, j, text, err);
	}
	for (size_t i = 0; i < s.n; i++)
		sp_free(s.it[i].group_cat);
	sp_free(s.it);
	json_object_put(s.systems);
	sp_buf_release(&scratch);
	if (rc < 0) {
		json_object_put(j);
		return rc;
	}
	*json = j;
	return 0;
}
