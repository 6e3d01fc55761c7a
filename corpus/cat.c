/* cat.c - `spindle cat`: concatenate JSONL document files (plain, zstd or gzip) into one stream,
 * checking every record. Records are written unchanged (their original bytes), in input order.
 * The smallest complete user of sp_docs: also what the foundation's CLI tests drive. */
#include <string.h>
#include "../cli/cli.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

SP_COMMAND(cat, cmd_cat, "concatenate and check JSONL documents (plain, .zst, .gz), records unchanged")
{
	const char *prog = "spindle cat", *out_path = "-";
	int require_text = 0;
	cli_common com;
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		{ "require-text", 0, SP_OPT_FLAG, &require_text, NULL, "a record without the text field (--field) is an error", NULL, 0, 0 },
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle cat [OPTIONS] [FILE...]",
	                          "Reads JSONL documents from FILEs (default: stdin; '-' is stdin), checks that every line is\n"
	                          "one JSON object in valid UTF-8, and writes the records unchanged, in order.",
	                          table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		return rc;
	}
	sp_err err = SP_ERR_INIT;
	sp_stats st;
	sp_stats_init(&st, "cat");
	sp_docs_opts o;
	cli_docs_opts(&com, pos, n_pos, &st, &o);
	o.field_optional = !require_text;
	sp_docs *docs = NULL;
	sp_out *out = NULL;
	cli_progress prog_line = CLI_PROGRESS_INIT;
	rc = sp_docs_open(&docs, &o, &err);
	if (rc == 0)
		rc = sp_out_open(&out, out_path, 0, &err);
	if (rc == 0)
		cli_progress_begin(&prog_line, prog, com.progress, sp_docs_raw_size(docs));
	sp_doc doc;
	while (rc == 0 && (rc = sp_docs_next(docs, &doc, &err)) > 0) {
		rc = sp_jsonl_write_raw(out, doc.rec->line.p, doc.rec->line.len, &err);
		st.records_out++;
		st.bytes_out += doc.rec->line.len + 1;
		cli_progress_step(&prog_line, st.records_in, sp_docs_raw_bytes(docs));
	}
	if (rc == 0)
		rc = sp_out_commit(out, &err);
	if (docs)
		cli_progress_end(&prog_line, st.records_in, sp_docs_raw_bytes(docs));
	int code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &st);
	sp_out_free(out);
	sp_docs_free(docs);
	sp_stats_release(&st);
	sp_free(pos);
	return code;
}
