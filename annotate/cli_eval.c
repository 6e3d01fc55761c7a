/* cli_eval.c - `spindle annotate eval` (create an evaluation study) and the CLI halves of
 * `report --eval`, `report --by round` and export's round/split filters. The logic is in
 * annotate_eval.c, annotate_eval_report.c and annotate_rounds.c. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "../cli/cli.h"
#include "../tokenizer/tok.h"
#include "cli_int.h"
#include "spindle/mem.h"

int ann_cmd_eval(int argc, char **argv)
{
	const char *prog = "spindle annotate eval", *db_path = NULL, *name = NULL, *kind = NULL, *prompts = NULL, *round = NULL;
	sp_optlist systems = { 0 };
	long raters = 3;
	const sp_opt table[] = {
		{ "db", 0, SP_OPT_STR, &db_path, "FILE", "the annotation database (created if needed)", NULL, 0, 0 },
		{ "name", 0, SP_OPT_STR, &name, "NAME", "the study's name (letters, digits, . _ : -)", NULL, 0, 0 },
		{ "kind", 0, SP_OPT_CHOICE, &kind, NULL, "side-by-side: two systems on the 7-point scale; safety: ratings 1-5", "side-by-side|safety", 0, 0 },
		{ "prompts", 0, SP_OPT_STR, &prompts, "FILE", "the eval prompt set (schemas/annotate-prompt.schema.json)", NULL, 0, 0 },
		{ "system", 0, SP_OPT_LIST, &systems, "FILE", "one system's responses (schemas/annotate-response.schema.json); side-by-side: A first, then B", NULL, 0, 0 },
		{ "raters", 0, SP_OPT_INT, &raters, "N", "different annotators per item (default 3)", NULL, 1, 100 },
		{ "round", 0, SP_OPT_STR, &round, "LABEL", "round label of the imported batches", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle annotate eval --db FILE --name NAME --kind side-by-side|safety --prompts FILE --system FILE...",
		"Creates an evaluation study (Llama 2's human evaluation): the prompt set and each system's\n"
		"responses are imported (no sft or preference tasks are made of them) and every prompt becomes an\n"
		"item for --raters different annotators: side-by-side shows systems A and B (names hidden, sides\n"
		"drawn per item and recorded) for a 7-point rating; safety shows one response at a time for a\n"
		"1-5 rating. Every system must answer every prompt once; otherwise nothing is imported and the\n"
		"missing prompt ids are named. Rerunning with the same files completes an interrupted creation.\n"
		"Annotators then run `spindle annotate session --task side-by-side|safety`.",
		table, argc, argv, &pos, &n_pos);
	if (rc >= 0) {
		sp_free(systems.items);
		return rc;
	}
	sp_free(pos);
	if (!db_path || !name || !kind || !prompts || systems.n == 0) {
		sp_free(systems.items);
		return cli_failf(prog, CLI_USAGE, "--db, --name, --kind, --prompts and --system are required");
	}
	ann_db *db = NULL;
	sp_err err = SP_ERR_INIT;
	int code = CLI_OK;
	ann_eval_spec s = { name, strcmp(kind, "side-by-side") == 0 ? ANN_SBS : ANN_RATING, prompts, systems.items, systems.n,
	                    (int)raters, round };
	uint64_t n = 0;
	if (ann_db_open(&db, db_path, 1, &err) < 0 || ann_eval_create(db, &s, &n, &err) < 0)
		code = err.code == SP_EUSAGE ? cli_failf(prog, CLI_USAGE, "%s", err.msg) : cli_fail(prog, &err);
	else
		fprintf(stderr, "%s: study %s: %llu items made\n", prog, name, (unsigned long long)n);
	ann_db_free(db);
	sp_free(systems.items);
	return code;
}

int ann_cli_report_eval(const char *prog, ann_db *db, const char *name, const char *format, const char *charts,
                        long seed, long resamples)
{
	ann_eval_report_opts o = { name, (int)resamples, (uint64_t)seed, charts };
	struct stat sb;
	if (charts && (stat(charts, &sb) != 0 || !S_ISDIR(sb.st_mode)))
		return cli_failf(prog, CLI_USAGE, "--charts %s: not a folder", charts);
	sp_buf text = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	json_object *j = NULL;
	int code = CLI_OK;
	if (ann_eval_report(db, &o, &text, &j, &err) < 0) {
		code = cli_fail(prog, &err);
	} else if (format && strcmp(format, "json") == 0) {
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		fwrite(text.p, 1, text.len, stdout);
		json_object *c = json_object_object_get(j, "charts");
		for (size_t i = 0; c && i < json_object_array_length(c); i++)
			printf("chart: %s\n", json_object_get_string(json_object_array_get_idx(c, i)));
	}
	json_object_put(j);
	sp_buf_release(&text);
	return code;
}

static long count_tokens(void *ctx, const char *text)
{
	tok_ids ids = TOK_IDS_INIT;
	sp_err e = SP_ERR_INIT;
	long n = tok_encode(ctx, text, strlen(text), &ids, &e) < 0 ? -1 : (long)ids.n;
	tok_ids_release(&ids);
	return n;
}

int ann_cli_report_rounds(const char *prog, ann_db *db, const char *tokenizer)
{
	tok_model *m = NULL;
	sp_err err = SP_ERR_INIT;
	if (tokenizer && tok_model_load(&m, tokenizer, &err) < 0)
		return cli_fail(prog, &err);
	sp_buf out = SP_BUF_INIT;
	int code = CLI_OK;
	if (ann_report_rounds(db, m ? count_tokens : NULL, m, &out, &err) < 0)
		code = cli_fail(prog, &err);
	else
		fwrite(out.p, 1, out.len, stdout);
	sp_buf_release(&out);
	tok_model_free(m);
	return code;
}

int ann_cli_filter(const char *prog, ann_filter *f, const char *split, double test_share, long test_count,
                   const char *since, const char *until)
{
	if (since && (f->since = ann_parse_date(since)) < 0)
		return cli_failf(prog, CLI_USAGE, "--since '%s': use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)", since);
	if (until && (f->until = ann_parse_date(until)) < 0)
		return cli_failf(prog, CLI_USAGE, "--until '%s': use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)", until);
	if (test_share != -1 && !(test_share > 0 && test_share < 1))
		return cli_failf(prog, CLI_USAGE, "--test-share %g: must be above 0 and below 1", test_share);
	if (test_share != -1 && test_count >= 0)
		return cli_failf(prog, CLI_USAGE, "give --test-share or --test-count, not both");
	f->split = !split ? 0 : strcmp(split, "train") == 0 ? 1 : 2;
	f->test_share = test_share > 0 ? test_share : 0;
	f->test_count = test_count >= 0 ? test_count : 1000;
	if (!split && (test_share != -1 || test_count >= 0))
		return cli_failf(prog, CLI_USAGE, "--test-share and --test-count need --split train|test");
	return -1;
}
