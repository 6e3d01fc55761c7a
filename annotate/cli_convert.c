/* cli_convert.c - `spindle annotate convert hh|trl`: open-source preference data to spindle's
 * preference records (the logic is annotate_convert.c). */
#include <string.h>
#include "../cli/cli.h"
#include "annotate.h"
#include "spindle/io.h"
#include "spindle/mem.h"

int ann_cmd_convert(int argc, char **argv);

int ann_cmd_convert(int argc, char **argv)
{
	const char *prog = "spindle annotate convert", *source = NULL, *category = "helpfulness", *out_path = "-";
	const sp_opt table[] = {
		{ "source", 0, SP_OPT_STR, &source, "NAME", "the records' source tag (default: the format, hh or trl); `train rm --mix NAME=W` weighs it", NULL, 0, 0 },
		{ "category", 0, SP_OPT_CHOICE, &category, NULL, "the pairs' category (default helpfulness)", "helpfulness|safety", 0, 0 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle annotate convert hh|trl [--source NAME] [-o prefs.jsonl] FILE.jsonl...",
		"Converts open-source preference data to spindle's preference records (schemas/annotate-preference.\n"
		"schema.json, the imported form) with a source tag, for `spindle train rm --mix own=1,NAME=W`:\n"
		"  hh   Anthropic HH-RLHF: {\"chosen\", \"rejected\"} transcripts of \"\\n\\nHuman: ...\\n\\nAssistant: ...\"\n"
		"       turns; the dialog is every turn before the last (it must be the same on both sides), the\n"
		"       responses the last Assistant turns; a first Human turn \"System: ...\" is the system message.\n"
		"  trl  TRL's preference records: prompt (messages, or a string), chosen and rejected (one assistant\n"
		"       message each, or strings), an optional margin.\n"
		"Pairs keep TRL's margin (else 0) and get ids from a hash of their content, so converting again\n"
		"gives the same records. spindle's own `annotate export --format hh|trl` converts back to the same\n"
		"pairs. The first bad record stops the run, naming FILE:LINE; nothing is written then.",
		table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	int format = 0;
	if (n_pos >= 1)
		format = !strcmp(pos[0], "hh") ? ANN_CONVERT_HH : !strcmp(pos[0], "trl") ? ANN_CONVERT_TRL : 0;
	if (!format) {
		rc = cli_failf(prog, CLI_USAGE, "name the input format first: hh or trl");
		sp_free(pos);
		return rc;
	}
	if (!source)
		source = pos[0];
	if (!*source || strlen(source) > 64 || strchr(source, '=') || strchr(source, ',') || strchr(source, ':')) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--source must be 1-64 characters without '=', ',' or ':'");
	}
	sp_err err = SP_ERR_INIT;
	sp_out *out = NULL;
	uint64_t n = 0;
	int code = CLI_OK;
	rc = sp_out_open(&out, out_path, 0, &err);
	static const char *const stdin_only[] = { "-" };
	const char *const *files = n_pos > 1 ? pos + 1 : stdin_only;
	size_t n_files = n_pos > 1 ? n_pos - 1 : 1;
	for (size_t i = 0; rc == 0 && i < n_files; i++)
		rc = ann_convert(files[i], format, source, category, out, &n, &err);
	if (rc == 0)
		rc = sp_out_commit(out, &err);
	if (rc < 0)
		code = cli_fail(prog, &err);
	else
		fprintf(stderr, "%s: %llu %s pairs (source %s)%s%s\n", prog, (unsigned long long)n, pos[0], source,
		        strcmp(out_path, "-") ? " -> " : "", strcmp(out_path, "-") ? out_path : "");
	sp_out_free(out);
	sp_free(pos);
	return code;
}
