/* cli_convert.c - `spindle tok convert`: tokenizer.json <-> SentencePiece .model. */
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "tok.h"
#include "tok_internal.h"
#include "tok_train.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/pmap.h"
#include "spindle/utf8.h"
#include "cli_int.h"

int tok_cmd_convert(int argc, char **argv)
{
	const char *prog = "spindle tok convert", *out_path = NULL, *to = NULL;
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "output file (.json: tokenizer.json, otherwise .model)", NULL, 0, 0 },
		{ "to", 0, SP_OPT_CHOICE, &to, NULL, "output format (default: from the output name)", "json|model", 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok convert MODEL -o OUT",
	                   "Writes a tokenizer.json as a SentencePiece .model or the other way round; both encode alike.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1 || !out_path) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "usage: spindle tok convert MODEL -o OUT");
	}
	size_t ol = strlen(out_path);
	int json = to ? !strcmp(to, "json") : (ol >= 5 && !strcmp(out_path + ol - 5, ".json"));
	sp_err err = SP_ERR_INIT;
	tok_model *m = NULL;
	sp_buf b = SP_BUF_INIT;
	rc = tok_model_load(&m, pos[0], &err);
	if (rc == 0)
		rc = json ? tok_write_json(m, &b, &err) : tok_write_sp(m, &b, &err);
	if (rc == 0)
		rc = sp_write_file_atomic(out_path, b.p, b.len, &err);
	int code = rc < 0 ? cli_fail(prog, &err) : 0;
	sp_buf_release(&b);
	tok_model_free(m);
	sp_free(pos);
	return code;
}
