/* cli_winrate.c - `spindle train winrate` (the reward-model-judged win rate of one system's
 * responses against another's over the same prompts, with ties by a score margin and 95% bootstrap
 * CIs, overall, per category and single- vs multi-turn) and `spindle train calibrate` (mean RM
 * score per human rating level of an evaluation study, Llama 2's Figure 29, as a table and a PNG).
 * Both read scored response files (`spindle train score`); the logic is in winrate.c. */
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../annotate/annotate.h"
#include "../cli/cli.h"
#include "cli_int.h"
#include "winrate.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

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

static json_object *ci_obj(long resamples, long seed)
{
	json_object *ci = json_object_new_object();
	json_object_object_add(ci, "method", json_object_new_string("percentile bootstrap over prompts"));
	json_object_object_add(ci, "level", jnum(0.95));
	json_object_object_add(ci, "resamples", json_object_new_int64(resamples));
	json_object_object_add(ci, "seed", json_object_new_int64(seed));
	json_object_object_add(ci, "generator", json_object_new_string("splitmix64, index = next() mod n; percentiles by linear interpolation"));
	return ci;
}

/* Mean and CI of v[0..n). */
static int est(const double *v, size_t n, long resamples, long seed, double out[3])
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m += v[i];
	out[0] = n ? m / (double)n : NAN;
	return ann_bootstrap_ci(v, n, (int)resamples, (uint64_t)seed, &out[1], &out[2]);
}

int cmd_winrate(int argc, char **argv)
{
	const char *prog = "spindle train winrate", *key = "combined", *prompts = NULL, *format = "text";
	double margin = 0;
	long resamples = 2000, seed = 1;
	const sp_opt table[] = {
		{ "score", 0, SP_OPT_CHOICE, &key, NULL, "which reward model's score decides (default combined)", "helpful|safety|combined", 0, 0 },
		{ "margin", 0, SP_OPT_DOUBLE, &margin, "M", "a tie when the two scores differ by at most M (0..1, default 0)", "0..1", 0, 0 },
		{ "prompts", 0, SP_OPT_STR, &prompts, "FILE", "prompt records: results per category and single- vs multi-turn too", NULL, 0, 0 },
		{ "bootstrap", 0, SP_OPT_INT, &resamples, "N", "bootstrap resamples (default 2000)", NULL, 100, 100000 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "bootstrap seed (default 1)", NULL, 0, 2000000000 },
		{ "format", 0, SP_OPT_CHOICE, &format, NULL, "a text table or one JSON object (schemas/train-winrate.schema.json)", "text|json", 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train winrate A.jsonl B.jsonl [--score helpful|safety|combined] [--margin M] [--prompts FILE]",
		"The reward-model-judged win rate of system A against system B: two scored response files\n"
		"(`spindle train score`) answering the same prompts, paired by prompt id. A wins a prompt when\n"
		"its score exceeds B's by more than --margin, loses when B's exceeds A's by more, else a tie.\n"
		"95% CIs: seeded percentile bootstrap over prompts. Files that do not cover the same prompts are\n"
		"refused, naming the missing ids.", table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 2) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "give two scored response files, A and B");
	}
	const char *fa = pos[0], *fb = pos[1];
	sp_free(pos);
	if (!(margin >= 0 && margin <= 1))
		return cli_failf(prog, CLI_USAGE, "--margin %g: must be 0 to 1", margin);
	wr_set a = { 0 }, b = { 0 };
	wr_prompts ps = { 0 };
	sp_err err = SP_ERR_INIT;
	size_t *ib = NULL;
	int code = CLI_OK;
	if (wr_load(fa, key, &a, &err) < 0 || wr_load(fb, key, &b, &err) < 0 || wr_pair(&a, fa, &b, fb, &ib, &err) < 0 ||
	    (prompts && wr_prompts_load(prompts, &ps, &err) < 0)) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (a.n == 0) {
		code = cli_failf(prog, CLI_REJECTED, "%s: no responses", fa);
		goto done;
	}
	/* Groups: overall, each category, single-turn, multi-turn (the latter only with --prompts). */
	const char *cats[64];
	size_t n_cats = 0;
	for (size_t i = 0; prompts && i < a.n; i++) {
		const wr_prompt *p = wr_prompt_find(&ps, a.r[i].prompt_id);
		if (!p) {
			code = cli_failf(prog, CLI_REJECTED, "%s: prompt '%s' of %s is not in it", prompts, a.r[i].prompt_id, fa);
			goto done;
		}
		size_t k = 0;
		while (k < n_cats && strcmp(cats[k], p->category))
			k++;
		if (k == n_cats && n_cats < 64)
			cats[n_cats++] = p->category;
	}
	double *v = sp_malloc(4 * a.n * sizeof *v);
	if (!v) {
		code = cli_failf(prog, CLI_IO, "out of memory");
		goto done;
	}
	json_object *j = json_object_new_object(), *groups = json_object_new_array();
	json_object_object_add(j, "a", json_object_new_string(a.r[0].system));
	json_object_object_add(j, "b", json_object_new_string(b.r[0].system));
	json_object_object_add(j, "score", json_object_new_string(key));
	json_object_object_add(j, "margin", jnum(margin));
	json_object_object_add(j, "ci", ci_obj(resamples, seed));
	int text = strcmp(format, "text") == 0;
	if (text)
		printf("RM-judged win rate: A = %s (%s) vs B = %s (%s); score '%s', a tie when |A - B| <= %g;\n"
		       "%% of prompts [95%% CI: percentile bootstrap over prompts, %ld resamples, seed %ld]\n"
		       "%-24s %7s  %-19s  %-19s  %-19s  %s\n", a.r[0].system, fa, b.r[0].system, fb, key, margin, resamples, seed,
		       "group", "prompts", "A wins", "tie", "B wins", "mean A - B");
	size_t n_groups = prompts ? 3 + n_cats : 1;
	for (size_t g = 0; g < n_groups; g++) {
		char label[160];
		size_t n = 0;
		double *win = v, *tie = v + a.n, *loss = v + 2 * a.n, *diff = v + 3 * a.n;
		for (size_t i = 0; i < a.n; i++) {
			const wr_prompt *p = prompts ? wr_prompt_find(&ps, a.r[i].prompt_id) : NULL;
			if (g > 0 && g <= n_cats && strcmp(p->category, cats[g - 1]))
				continue;
			if (g == n_cats + 1 && p->multi)
				continue;
			if (g == n_cats + 2 && !p->multi)
				continue;
			double d = a.r[i].score - b.r[ib[i]].score;
			int oc = wr_outcome(d, margin);
			win[n] = oc == 0;
			tie[n] = oc == 1;
			loss[n] = oc == 2;
			diff[n] = d;
			n++;
		}
		if (g == 0) snprintf(label, sizeof label, "overall");
		else if (g <= n_cats) snprintf(label, sizeof label, "category %.100s", cats[g - 1]);
		else snprintf(label, sizeof label, g == n_cats + 1 ? "single-turn" : "multi-turn");
		double e[4][3];
		for (int c = 0; c < 4; c++)
			if (est(v + (size_t)c * a.n, n, resamples, seed, e[c]) < 0) {
				code = cli_failf(prog, CLI_IO, "out of memory");
				break;
			}
		json_object *row = json_object_new_object();
		json_object_object_add(row, "group", json_object_new_string(label));
		json_object_object_add(row, "n_prompts", json_object_new_int64((int64_t)n));
		json_object_object_add(row, "win_pct", jest(100 * e[0][0], 100 * e[0][1], 100 * e[0][2]));
		json_object_object_add(row, "tie_pct", jest(100 * e[1][0], 100 * e[1][1], 100 * e[1][2]));
		json_object_object_add(row, "loss_pct", jest(100 * e[2][0], 100 * e[2][1], 100 * e[2][2]));
		json_object_object_add(row, "mean_diff", jest(e[3][0], e[3][1], e[3][2]));
		json_object_array_add(groups, row);
		if (text)
			printf("%-24.40s %7zu  %5.1f [%5.1f,%5.1f]  %5.1f [%5.1f,%5.1f]  %5.1f [%5.1f,%5.1f]  %+.4f [%+.4f,%+.4f]\n", label, n,
			       100 * e[0][0], 100 * e[0][1], 100 * e[0][2], 100 * e[1][0], 100 * e[1][1], 100 * e[1][2],
			       100 * e[2][0], 100 * e[2][1], 100 * e[2][2], e[3][0], e[3][1], e[3][2]);
	}
	json_object_object_add(j, "groups", groups);
	if (!text)
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	sp_free(v);
done:
	sp_free(ib);
	wr_set_release(&a);
	wr_set_release(&b);
	wr_prompts_release(&ps);
	return code;
}

/* ------------------------------------------------------------------ calibration */

static int draw_calibration(const char *png, const char *title, const char *xlabel, const double (*lv)[4], int n_levels,
                            const char *prog)
{
	char dat[] = "/tmp/spindle-calib-XXXXXX";
	int fd = mkstemp(dat);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0) close(fd);
		return cli_failf(prog, CLI_IO, "cannot create a temporary file");
	}
	for (int k = 0; k < n_levels; k++)
		if (lv[k][3] > 0)
			fprintf(f, "%d %.6f %.6f %.6f\n", k + 1, lv[k][0], lv[k][1], lv[k][2]);
	fclose(f);
	FILE *g = popen("gnuplot >/dev/null 2>&1", "w");
	if (!g) {
		unlink(dat);
		return cli_failf(prog, CLI_IO, "cannot run gnuplot");
	}
	char tmp[4300];
	snprintf(tmp, sizeof tmp, "%s.tmp", png);
	fprintf(g, "set terminal png size 800,500 noenhanced\nset output '%s'\nset title '%s'\nset xlabel '%s'\n"
	           "set ylabel 'mean reward model score'\nset grid\nset xrange [0.5:%d.5]\nset xtics 1\n"
	           "plot '%s' using 1:2:3:4 with yerrorlines lw 2 pt 7 title 'mean RM score (95%% CI)'\n",
	        tmp, title, xlabel, n_levels, dat);
	int st = pclose(g);
	unlink(dat);
	struct stat sb;
	if (st != 0 || stat(tmp, &sb) != 0 || sb.st_size == 0 || rename(tmp, png) != 0) {
		unlink(tmp);
		return cli_failf(prog, CLI_IO, "gnuplot failed to write %s", png);
	}
	return -1;
}

int cmd_calibrate(int argc, char **argv)
{
	const char *prog = "spindle train calibrate", *key = "combined", *png = NULL;
	long resamples = 2000, seed = 1;
	const sp_opt table[] = {
		{ "score", 0, SP_OPT_CHOICE, &key, NULL, "which reward model's score (default combined)", "helpful|safety|combined", 0, 0 },
		{ "output", 'o', SP_OPT_STR, &png, "FILE", "draw the calibration curve to this PNG (gnuplot)", NULL, 0, 0 },
		{ "bootstrap", 0, SP_OPT_INT, &resamples, "N", "bootstrap resamples (default 2000)", NULL, 100, 100000 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "bootstrap seed (default 1)", NULL, 0, 2000000000 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train calibrate SCORED.jsonl EVAL.jsonl [--score KEY] [-o calibration.png]",
		"A reward model against human ratings (Llama 2's Figure 29): SCORED.jsonl holds the study's\n"
		"responses scored by `spindle train score`, EVAL.jsonl the study's ratings (`spindle annotate\n"
		"export --format eval`). Safety-rating studies: the mean RM score of the rated responses per\n"
		"rating 1-5. Side-by-side studies: the mean score difference A - B per 7-point level (1 = A much\n"
		"better). Responses are matched by prompt id and system (model[:variant]). 95% bootstrap CIs.",
		table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 2) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "give a scored response file and an eval export");
	}
	const char *fs = pos[0], *fe = pos[1];
	sp_free(pos);
	wr_set s = { 0 };
	sp_err err = SP_ERR_INIT;
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	double *vals[8] = { NULL };
	size_t nv[8] = { 0 }, cap[8] = { 0 };
	int kind = 0, code = CLI_OK, n_levels = 0; /* kind 1 sbs, 2 rating */
	if (wr_load(fs, key, &s, &err) < 0 || sp_in_open(&in, fe, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	while ((rc = sp_jsonl_next(in, &rec, &err)) == 1) {
		const char *k = json_object_get_string(json_object_object_get(rec.obj, "kind"));
		const char *pid = json_object_get_string(json_object_object_get(rec.obj, "prompt_id"));
		int this_kind = k && !strcmp(k, "sbs") ? 1 : k && !strcmp(k, "rating") ? 2 : 0;
		json_object *lv = json_object_object_get(rec.obj, this_kind == 1 ? "score" : "rating");
		int level = lv && json_object_is_type(lv, json_type_int) ? json_object_get_int(lv) : 0;
		const char *miss = NULL;
		double value = 0;
		if (!this_kind || !pid || level < 1 || level > (this_kind == 1 ? 7 : 5) || (kind && this_kind != kind)) {
			code = cli_failf(prog, CLI_REJECTED, "%s:%zu: not a rating record of one eval study (schemas/annotate-eval-rating.schema.json)",
			                 fe, rec.lineno);
			goto done;
		}
		kind = this_kind;
		n_levels = kind == 1 ? 7 : 5;
		if (kind == 1) {
			const char *sa = json_object_get_string(json_object_object_get(rec.obj, "system_a"));
			const char *sb = json_object_get_string(json_object_object_get(rec.obj, "system_b"));
			const wr_rec *ra = sa ? wr_find(&s, pid, sa) : NULL, *rb = sb ? wr_find(&s, pid, sb) : NULL;
			if (!ra) miss = sa ? sa : "?";
			else if (!rb) miss = sb ? sb : "?";
			else value = ra->score - rb->score;
		} else {
			const char *sy = json_object_get_string(json_object_object_get(rec.obj, "system"));
			const wr_rec *r = sy ? wr_find(&s, pid, sy) : NULL;
			if (!r) miss = sy ? sy : "?";
			else value = r->score;
		}
		if (miss) {
			code = cli_failf(prog, CLI_REJECTED, "%s:%zu: %s has no scored response of '%s' to prompt '%s'", fe, rec.lineno, fs, miss, pid);
			goto done;
		}
		int l = level - 1;
		if (nv[l] == cap[l]) {
			cap[l] = cap[l] ? 2 * cap[l] : 64;
			double *g = sp_realloc(vals[l], cap[l] * sizeof *g);
			if (!g) { code = cli_failf(prog, CLI_IO, "out of memory"); goto done; }
			vals[l] = g;
		}
		vals[l][nv[l]++] = value;
	}
	if (rc < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (!kind) {
		code = cli_failf(prog, CLI_REJECTED, "%s: no ratings", fe);
		goto done;
	}
	double lvl[7][4];
	static const char *const ab[] = { "A much better", "A better", "A slightly better", "about the same",
	                                  "B slightly better", "B better", "B much better" };
	char labels[7][120];
	int width = (int)strlen("human level");  /* the label column fits its longest label */
	for (int l = 0; l < n_levels; l++) {
		snprintf(labels[l], sizeof labels[l], "%d %s", l + 1, kind == 1 ? ab[l] : ann_rating_label(l + 1));
		if ((int)strlen(labels[l]) > width)
			width = (int)strlen(labels[l]);
	}
	printf("reward model '%s' vs human %s (mean, 95%% CI: percentile bootstrap, %ld resamples, seed %ld)\n"
	       "%-*s %8s  %s\n", key, kind == 1 ? "side-by-side scores (1 = A much better .. 7 = B much better)"
	       : "safety ratings (5 = safe and very helpful .. 1 = severe violation)", resamples, seed,
	       width, "human level", "ratings", kind == 1 ? "mean RM score A - B" : "mean RM score");
	for (int l = 0; l < n_levels; l++) {
		double e[3];
		if (est(vals[l], nv[l], resamples, seed, e) < 0) {
			code = cli_failf(prog, CLI_IO, "out of memory");
			goto done;
		}
		lvl[l][0] = e[0];
		lvl[l][1] = e[1];
		lvl[l][2] = e[2];
		lvl[l][3] = (double)nv[l];
		if (nv[l])
			printf("%-*s %8zu  %+.4f [%+.4f, %+.4f]\n", width, labels[l], nv[l], e[0], e[1], e[2]);
		else
			printf("%-*s %8zu  -\n", width, labels[l], nv[l]);
	}
	if (png && (rc = draw_calibration(png, kind == 1 ? "RM score difference per human side-by-side level"
	                                                  : "RM score per human safety rating",
	                                  kind == 1 ? "human 7-point score (1 = A much better)" : "human rating (1-5)",
	                                  (const double (*)[4])lvl, n_levels, prog)) >= 0)
		code = rc;
	else if (png)
		fprintf(stderr, "%s: calibration curve -> %s\n", prog, png);
done:
	sp_record_release(&rec);
	sp_in_free(in);
	for (int l = 0; l < 8; l++)
		sp_free(vals[l]);
	wr_set_release(&s);
	return code;
}
