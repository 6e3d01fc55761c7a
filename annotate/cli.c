/* cli.c - `spindle annotate`: import, session, report, export, config. The logic is in
 * annotate_*.c (annotate.h); this file parses arguments and prints. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "annotate.h"
#include "cli_int.h"
#include "spindle/io.h"
#include "spindle/mem.h"

#define DB_OPT(p) { "db", 0, SP_OPT_STR, (p), "FILE", "the annotation database (SQLite; schemas/annotate.sql)", NULL, 0, 0 }

static int need_db(const char *prog, const char *db)
{
	if (db)
		return -1;
	fprintf(stderr, "%s: --db FILE is required\nTry '%s --help'.\n", prog, prog);
	return CLI_USAGE;
}

static int open_db(const char *prog, const char *path, int mode, ann_db **db)
{
	sp_err err = SP_ERR_INIT;
	if (ann_db_open(db, path, mode, &err) < 0)
		return cli_fail(prog, &err);
	return -1;
}

static int cmd_import(int argc, char **argv)
{
	const char *prog = "spindle annotate import", *db_path = NULL, *round = NULL;
	int no_sft = 0;
	const sp_opt table[] = {
		DB_OPT(&db_path),
		{ "round", 0, SP_OPT_STR, &round, "LABEL", "label the batch with a round (e.g. rlhf-v3) for export --round and report --by round", NULL, 0, 0 },
		{ "no-sft", 0, SP_OPT_FLAG, &no_sft, NULL, "prompts: do not make sft tasks of them (preference only)", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle annotate import prompts|responses --db FILE [OPTIONS] FILE.jsonl...",
		"Imports prompt records (schemas/annotate-prompt.schema.json) or response records\n"
		"(schemas/annotate-response.schema.json, what `spindle train sample` writes) into the database,\n"
		"creating it if needed. Each file is imported in one transaction: a bad line (its FILE:LINE: is\n"
		"reported) imports nothing of that file, and the files after it are not read. Prompts become\n"
		"sft tasks; responses of a prompt are paired into preference tasks (two different model\n"
		"variants when possible; a prompt's gold pair first). Re-importing identical records is a no-op.\n"
		"- reads stdin.",
		table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = need_db(prog, db_path)) >= 0 || n_pos < 2 ||
	    (strcmp(pos[0], "prompts") != 0 && strcmp(pos[0], "responses") != 0)) {
		if (rc < 0)
			fprintf(stderr, "%s: usage: spindle annotate import prompts|responses --db FILE FILE.jsonl...\n", prog);
		sp_free(pos);
		return CLI_USAGE;
	}
	int kind = strcmp(pos[0], "prompts") == 0 ? ANN_PROMPTS : ANN_RESPONSES;
	if (round && !ann_round_valid(round)) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--round '%s': use 1 to 64 letters, digits and . _ : -", round);
	}
	ann_db *db = NULL;
	if ((rc = open_db(prog, db_path, ANN_DB_CREATE, &db)) >= 0) {
		sp_free(pos);
		return rc;
	}
	int code = CLI_OK;
	for (size_t i = 1; i < n_pos; i++) {
		sp_err err = SP_ERR_INIT;
		ann_import_result r;
		ann_import_opts io = { !no_sft, round, 0 };
		if (ann_import_ex(db, kind, pos[i], &io, &r, &err) < 0) {
			code = cli_fail(prog, &err);
			cli_failf(prog, 0, "%s: nothing imported from this file", pos[i]);
			break;
		}
		cli_failf(prog, 0, "%s: %llu records, %llu new, %llu already present, %llu tasks made (batch %lld%s%s)", pos[i],
		          (unsigned long long)r.records, (unsigned long long)r.added, (unsigned long long)r.unchanged,
		          (unsigned long long)r.tasks, (long long)r.batch, round ? ", round " : "", round ? round : "");
	}
	ann_db_free(db);
	sp_free(pos);
	return code;
}

static const char *editor_setting(void)
{
	static const char *const vars[] = { "SPINDLE_EDITOR", "VISUAL", "EDITOR" };
	for (size_t i = 0; i < 3; i++) {
		const char *e = getenv(vars[i]);
		if (e && *e)
			return e;
	}
	return "vi";
}

static int cmd_session(int argc, char **argv)
{
	const char *prog = "spindle annotate session", *db_path = NULL, *who = NULL, *task = NULL, *keys = NULL, *eval = NULL;
	long max_items = 0;
	const sp_opt table[] = {
		DB_OPT(&db_path),
		{ "annotator", 0, SP_OPT_STR, &who, "NAME", "who is annotating (created on first use)", NULL, 0, 0 },
		{ "task", 0, SP_OPT_CHOICE, &task, NULL, "what to annotate (side-by-side, safety: evaluation studies)", "sft|preference|side-by-side|safety", 0, 0 },
		{ "eval", 0, SP_OPT_STR, &eval, "NAME", "only the items of evaluation study NAME (its kind gives --task)", NULL, 0, 0 },
		{ "keys", 0, SP_OPT_STR, &keys, "FILE", "read the keystrokes from FILE instead of the terminal (scripted sessions)", NULL, 0, 0 },
		{ "max-items", 0, SP_OPT_INT, &max_items, "N", "stop after N answers", NULL, 0, 1000000000 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle annotate session --db FILE --annotator NAME --task sft|preference",
		"One annotator's terminal session: one item at a time, keyboard only (press ? for the keys).\n"
		"preference: the dialog and two responses in random left/right order; pick the better one and\n"
		"how much better (significantly, better, slightly, negligibly/unsure), label safety prompts'\n"
		"responses safe/unsafe, or say both are bad; optionally write the next user turn.\n"
		"sft: write the assistant's answer ($SPINDLE_EDITOR, $VISUAL, $EDITOR or vi for long texts) or\n"
		"edit a model's response. side-by-side: two systems' responses (names hidden), rated 1-7 from\n"
		"LEFT much better to RIGHT much better. safety: one response rated 1-5 (definitions on screen).\n"
		"s skips, u undoes the last answer. Every answer is committed at once;\n"
		"quitting or a crash loses at most the item on screen. Many annotators may work at once.",
		table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if ((rc = need_db(prog, db_path)) >= 0)
		return rc;
	if (!who || (!task && !eval)) {
		fprintf(stderr, "%s: --annotator NAME and --task sft|preference|side-by-side|safety are required\n", prog);
		return CLI_USAGE;
	}
	int in_fd = STDIN_FILENO;
	if (keys && (in_fd = open(keys, O_RDONLY | O_CLOEXEC)) < 0)
		return cli_failf(prog, CLI_IO, "%s: cannot open: %m", keys);
	if (!keys && isatty(STDIN_FILENO) && !isatty(STDOUT_FILENO)) {
		/* Keys from a person who could not see the screen. Piped keys (scripts) are fine. */
		fprintf(stderr, "%s: the keyboard is a terminal but the screen (stdout) is not; refusing to work blind\n", prog);
		return CLI_USAGE;
	}
	ann_db *db = NULL;
	if ((rc = open_db(prog, db_path, ANN_DB_WRITE, &db)) >= 0) {
		if (keys) close(in_fd);
		return rc;
	}
	sp_err err = SP_ERR_INIT;
	ann_session_opts o;
	memset(&o, 0, sizeof o);
	o.annotator_name = who;
	ann_session_result r;
	memset(&r, 0, sizeof r);
	int code = CLI_OK;
	if (eval) {
		int ek = 0;
		if (ann_eval_find(db, eval, &o.eval_id, &ek, &err) < 0) {
			code = cli_fail(prog, &err);
			goto out;
		}
		if (task && (ek == ANN_SBS) != !strcmp(task, "side-by-side")) {
			code = cli_failf(prog, CLI_USAGE, "study %s is a %s study, not --task %s", eval, ek == ANN_SBS ? "side-by-side" : "safety", task);
			goto out;
		}
		task = ek == ANN_SBS ? "side-by-side" : "safety";
	}
	o.kind = !strcmp(task, "sft") ? ANN_SFT : !strcmp(task, "preference") ? ANN_PREFERENCE : !strcmp(task, "side-by-side") ? ANN_SBS : ANN_RATING;
	o.in_fd = in_fd;
	o.out_fd = STDOUT_FILENO;
	o.draw = isatty(STDOUT_FILENO);
	o.editor = editor_setting();
	o.max_items = (int)max_items;
	if (ann_annotator_id(db, who, &o.annotator, &err) < 0 || ann_session_run(db, &o, &r, &err) < 0)
		code = cli_fail(prog, &err);
	cli_failf(prog, 0, "%s: %lld answered, %lld skipped, %lld undone%s", who, (long long)r.answered,
	        (long long)r.skipped, (long long)r.undone, r.lost_leases ? ", some leases lost to expiry" : "");
out:
	ann_db_free(db);
	if (keys)
		close(in_fd);
	return code;
}

static int cmd_report(int argc, char **argv)
{
	const char *prog = "spindle annotate report", *db_path = NULL, *eval = NULL, *by = NULL, *tokenizer = NULL;
	const char *format = "text", *charts = NULL;
	long seed = 1, resamples = 2000;
	const sp_opt table[] = {
		DB_OPT(&db_path),
		{ "eval", 0, SP_OPT_STR, &eval, "NAME", "the report of evaluation study NAME instead", NULL, 0, 0 },
		{ "format", 0, SP_OPT_CHOICE, &format, NULL, "--eval: text tables or one JSON object (schemas/annotate-eval-report.schema.json)", "text|json", 0, 0 },
		{ "charts", 0, SP_OPT_STR, &charts, "DIR", "--eval: draw PNG bar charts with CI error bars into DIR (gnuplot)", NULL, 0, 0 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "--eval: bootstrap seed (default 1)", NULL, 0, 2000000000 },
		{ "bootstrap", 0, SP_OPT_INT, &resamples, "N", "--eval: bootstrap resamples (default 2000)", NULL, 100, 100000 },
		{ "by", 0, SP_OPT_CHOICE, &by, NULL, "per-round statistics (Llama 2's Table 6) instead", "round", 0, 0 },
		{ "tokenizer", 0, SP_OPT_STR, &tokenizer, "FILE", "--by round: count tokens with this tokenizer (tokenizer.json or .model)", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle annotate report --db FILE [--eval NAME [--format json] [--charts DIR] | --by round]",
		"Prints text tables: database totals; per annotator answers, skips, undos, gold accuracy and\n"
		"speed; agreement on items answered by several annotators (percent, Cohen's kappa per pair,\n"
		"Fleiss' kappa); preference ratings by category; Llama 2's safety bins.\n"
		"--eval NAME: the study's win/tie/loss (side-by-side) or violation % and mean rating (safety),\n"
		"overall, per category or risk category and single- vs multi-turn, with 95% CIs from a seeded\n"
		"percentile bootstrap over prompts; Gwet's AC1, AC2 (ordinal weights) and Fleiss' kappa.\n"
		"--by round: comparisons, turns per dialog and tokens per example, prompt and response per round.",
		table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if ((rc = need_db(prog, db_path)) >= 0)
		return rc;
	if (eval && by)
		return cli_failf(prog, CLI_USAGE, "--eval and --by are separate reports");
	ann_db *db = NULL;
	if ((rc = open_db(prog, db_path, ANN_DB_READONLY, &db)) >= 0)
		return rc;
	if (eval || by) {
		rc = eval ? ann_cli_report_eval(prog, db, eval, format, charts, seed, resamples) : ann_cli_report_rounds(prog, db, tokenizer);
		ann_db_free(db);
		return rc;
	}
	sp_err err = SP_ERR_INIT;
	sp_buf out = SP_BUF_INIT;
	int code = CLI_OK;
	if (ann_report(db, &out, &err) < 0)
		code = cli_fail(prog, &err);
	else
		fwrite(out.p, 1, out.len, stdout);
	sp_buf_release(&out);
	ann_db_free(db);
	return code;
}

static int cmd_export(int argc, char **argv)
{
	const char *prog = "spindle annotate export", *db_path = NULL, *format = NULL, *out_path = "-", *eval = NULL;
	const char *split = NULL, *since = NULL, *until = NULL;
	double test_share = -1;
	long test_count = -1;
	ann_filter flt;
	memset(&flt, 0, sizeof flt);
	const sp_opt table[] = {
		DB_OPT(&db_path),
		{ "format", 0, SP_OPT_CHOICE, &format, NULL, "record layout (schemas/annotate-FORMAT.schema.json; eval: annotate-eval-rating)", "sft|preference|hh|trl|prompts|eval", 0, 0 },
		{ "eval", 0, SP_OPT_STR, &eval, "NAME", "--format eval: the study", NULL, 0, 0 },
		{ "round", 0, SP_OPT_STR, &flt.rounds, "R[,R...]", "only these rounds (a pair's round: its later response batch's; sft/prompts: the prompt's)", NULL, 0, 0 },
		{ "batch", 0, SP_OPT_STR, &flt.batches, "ID[,ID...]", "only these batches (the ids `import` prints; a pair's batch: its later response's)", NULL, 0, 0 },
		{ "category", 0, SP_OPT_CHOICE, &flt.category, NULL, "only this prompt category", "helpfulness|safety", 0, 0 },
		{ "model", 0, SP_OPT_STR, &flt.model, "NAME", "only pairs with a response of this model", NULL, 0, 0 },
		{ "since", 0, SP_OPT_STR, &since, "DATE", "only answers given at or after DATE (UTC; prompts: imported)", NULL, 0, 0 },
		{ "until", 0, SP_OPT_STR, &until, "DATE", "only answers given before DATE (UTC)", NULL, 0, 0 },
		{ "split", 0, SP_OPT_CHOICE, &split, NULL, "the held-out split: a stable hash of the root prompt id decides", "train|test", 0, 0 },
		{ "test-share", 0, SP_OPT_DOUBLE, &test_share, "S", "--split: hold out this share (0..1) of prompts", "0..1", 0, 0 },
		{ "test-count", 0, SP_OPT_INT, &test_count, "N", "--split: hold out N prompts per batch (default 1000, as Llama 2)", NULL, 0, 100000000 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle annotate export --db FILE --format sft|preference|hh|trl|prompts|eval [FILTERS] [-o FILE]",
		"Writes every final answer as JSONL. sft and preference are spindle's own records (read by\n"
		"`spindle train sft` and `spindle train rm`); hh is Anthropic HH-RLHF's chosen/rejected text;\n"
		"trl is TRL's conversational prompt/chosen/rejected with a margin from the rating. 'Both bad'\n"
		"answers have no preference and are left out. prompts writes the prompts with no response\n"
		"yet (annotators' next turns included) for `spindle train sample`. eval writes one evaluation\n"
		"study's ratings (--eval NAME). Filters select by round, batch (import prints each file's batch\n"
		"id), category, model and date, and --split train|test by a stable hash of the root prompt id\n"
		"(a prompt, its next turns and all their pairs fall on one side; rerun the same --split options\n"
		"for the same split).",
		table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if ((rc = need_db(prog, db_path)) >= 0)
		return rc;
	if (!format) {
		fprintf(stderr, "%s: --format is required\n", prog);
		return CLI_USAGE;
	}
	if ((rc = ann_cli_filter(prog, &flt, split, test_share, test_count, since, until)) >= 0)
		return rc;
	if (!strcmp(format, "eval") != !!eval)
		return cli_failf(prog, CLI_USAGE, "--format eval and --eval NAME go together");
	int fmt = !strcmp(format, "sft") ? ANN_FMT_SFT : !strcmp(format, "preference") ? ANN_FMT_PREFERENCE
	        : !strcmp(format, "hh") ? ANN_FMT_HH : !strcmp(format, "trl") ? ANN_FMT_TRL : ANN_FMT_PROMPTS;
	ann_db *db = NULL;
	if ((rc = open_db(prog, db_path, ANN_DB_READONLY, &db)) >= 0)
		return rc;
	sp_err err = SP_ERR_INIT;
	sp_out *out = NULL;
	uint64_t n = 0;
	int code = CLI_OK;
	if (sp_out_open(&out, out_path, 0, &err) < 0 ||
	    (eval ? ann_eval_export(db, eval, out, &n, &err) : ann_export_filtered(db, fmt, &flt, out, &n, &err)) < 0 ||
	    sp_out_commit(out, &err) < 0)
		code = err.code == SP_EUSAGE ? cli_failf(prog, CLI_USAGE, "%s", err.msg) : cli_fail(prog, &err);
	else if (strcmp(out_path, "-") != 0)
		fprintf(stderr, "%s: %llu %s records -> %s\n", prog, (unsigned long long)n, format, out_path);
	sp_out_free(out);
	ann_db_free(db);
	return code;
}

static int cmd_config(int argc, char **argv)
{
	const char *prog = "spindle annotate config", *db_path = NULL;
	double overlap = -1;
	long k = -1, lease = -1, gold = -1;
	const sp_opt table[] = {
		DB_OPT(&db_path),
		{ "overlap", 0, SP_OPT_DOUBLE, &overlap, "SHARE", "share of tasks made from now on that several annotators answer", "0..1", 0, 0 },
		{ "overlap-k", 0, SP_OPT_INT, &k, "N", "how many annotators answer an overlap task (default 2)", NULL, 2, 100 },
		{ "lease-seconds", 0, SP_OPT_INT, &lease, "N", "an item on an abandoned screen goes back to the pool after N seconds (default 1800)", NULL, 1, 100000000 },
		{ "gold-every", 0, SP_OPT_INT, &gold, "N", "every Nth item an annotator gets is a gold item while any is left (0: gold items last; default 10)", NULL, 0, 1000000 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle annotate config --db FILE [OPTIONS]",
		"Shows the database's settings, after changing those given (the database is created if needed).",
		table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if ((rc = need_db(prog, db_path)) >= 0)
		return rc;
	ann_db *db = NULL;
	if ((rc = open_db(prog, db_path, ANN_DB_CREATE, &db)) >= 0)
		return rc;
	sp_err err = SP_ERR_INIT;
	int code = CLI_OK;
	if ((overlap >= 0 && ann_setting_set(db, "overlap", overlap, &err) < 0) ||
	    (k >= 0 && ann_setting_set(db, "overlap_k", (double)k, &err) < 0) ||
	    (lease >= 0 && ann_setting_set(db, "lease_seconds", (double)lease, &err) < 0) ||
	    (gold >= 0 && ann_setting_set(db, "gold_every", (double)gold, &err) < 0))
		code = cli_fail(prog, &err);
	static const char *const keys[] = { "overlap", "overlap_k", "lease_seconds", "gold_every" };
	for (size_t i = 0; code == CLI_OK && i < 4; i++) {
		double v = 0;
		if (ann_setting_get(db, keys[i], &v, &err) < 0)
			code = cli_fail(prog, &err);
		else
			printf("%s = %g\n", keys[i], v);
	}
	if (code == CLI_OK)
		printf("schema_version = %d\n", ann_db_version(db));
	ann_db_free(db);
	return code;
}

int ann_cmd_convert(int argc, char **argv);   /* cli_convert.c */

SP_COMMAND(annotate, cmd_annotate, "SFT writing and preference collection in terminal sessions, on SQLite")
{
	static const struct { const char *name; int (*fn)(int, char **); const char *summary; } subs[] = {
		{ "import", cmd_import, "import prompts or responses (JSONL) into the database" },
		{ "session", cmd_session, "an annotator's terminal session (sft, preference, side-by-side, safety)" },
		{ "eval", ann_cmd_eval, "create a human evaluation study (side-by-side or safety rating)" },
		{ "report", cmd_report, "counts, speed, agreement, gold accuracy, rating and safety distributions" },
		{ "export", cmd_export, "answers as JSONL: sft, preference, hh, trl; or prompts awaiting responses" },
		{ "config", cmd_config, "show or change overlap, lease and gold settings" },
		{ "convert", ann_cmd_convert, "open-source preference data (Anthropic HH, TRL) to preference records" },
	};
	if (argc >= 2) {
		for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
			if (strcmp(argv[1], subs[i].name) == 0)
				return subs[i].fn(argc - 1, argv + 1);
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("spindle annotate %s (database schema %d)\n", SPINDLE_VERSION, ann_schema_latest());
		return CLI_OK;
	}
	int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
	FILE *f = help ? stdout : stderr;
	if (argc >= 2 && !help)
		cli_failf("spindle annotate", 0, "'%s' is not an annotate command", argv[1]);
	fprintf(f, "usage: spindle annotate COMMAND [OPTIONS]\n\n"
	           "Llama 2-style human data collection on one SQLite database (schemas/annotate.sql).\n\nCommands:\n");
	for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
		fprintf(f, "  %-9s %s\n", subs[i].name, subs[i].summary);
	fprintf(f, "\nRun 'spindle annotate COMMAND --help' for its options.\n" CLI_EXIT_CODES_HELP);
	return help ? CLI_OK : CLI_USAGE;
}
