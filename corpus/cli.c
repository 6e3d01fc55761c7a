/* cli.c - `spindle corpus`: documentation trees to JSONL documents (the demo's real corpus). */
#include <string.h>
#include "../cli/cli.h"
#include "corpus.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

typedef struct walk_ctx {
	corpus_opts o;
	sp_out *out;
	sp_stats st;
	sp_buf text, line;
	cli_progress prog;
	long max_docs;
	sp_err *err;
} walk_ctx;

static int on_file(void *arg, const char *path)
{
	walk_ctx *c = arg;
	if (c->max_docs >= 0 && (long)c->st.records_out >= c->max_docs)
		return 1; /* stop: enough documents */
	sp_err e = SP_ERR_INIT;
	c->st.records_in++;
	if (sp_read_file(path, &c->text, &e) < 0) {
		sp_stats_skip(&c->st, e.code == SP_EIO ? "unreadable" : "bad_compression", 1);
		return 0;
	}
	c->st.bytes_in += c->text.len;
	corpus_verdict v = corpus_judge(&c->o, c->text.p ? c->text.p : "", c->text.len);
	if (v != CORPUS_KEEP) {
		sp_stats_skip(&c->st, corpus_verdict_name(v), 1);
		return 0;
	}
	sp_buf_reset(&c->line);
	int rc = sp_buf_appends(&c->line, "{\"id\":");
	rc = rc ? rc : sp_buf_append_json_str(&c->line, path, strlen(path));
	rc = rc ? rc : sp_buf_appends(&c->line, ",\"text\":");
	rc = rc ? rc : sp_buf_append_json_str(&c->line, c->text.p, c->text.len);
	rc = rc ? rc : sp_buf_appends(&c->line, ",\"meta\":{\"source\":");
	rc = rc ? rc : sp_buf_append_json_str(&c->line, path, strlen(path));
	rc = rc ? rc : sp_buf_appendf(&c->line, ",\"bytes\":%zu}}", c->text.len);
	if (rc < 0)
		SP_RAISE(c->err, SP_ENOMEM, "out of memory");
	SP_FORWARD(sp_jsonl_write_raw(c->out, c->line.p, c->line.len, c->err));
	c->st.records_out++;
	c->st.bytes_out += c->line.len + 1;
	cli_progress_step(&c->prog, c->st.records_out, c->st.bytes_in);
	return 0;
}

SP_COMMAND(corpus, cmd_corpus, "documentation folders (default: this machine's) to JSONL documents")
{
	const char *prog = "spindle corpus", *out_path = "-";
	long min_bytes = 64, max_bytes = 8 << 20, max_docs = -1;
	cli_common com;
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		{ "min-bytes", 0, SP_OPT_INT, &min_bytes, "N", "skip texts shorter than N bytes (default 64)", NULL, 0, 1L << 40 },
		{ "max-bytes", 0, SP_OPT_INT, &max_bytes, "N", "skip texts longer than N bytes (default 8 MiB; 0 = no limit)", NULL, 0, 1L << 40 },
		{ "max-docs", 0, SP_OPT_INT, &max_docs, "N", "stop after N documents (default: all)", NULL, 0, 1L << 50 },
		{ "stats", 0, SP_OPT_STR, &com.stats_file, "FILE", "write a JSON summary of the run to FILE", NULL, 0, 0 },
		{ "progress", 0, SP_OPT_FLAG, &com.progress_force, NULL, "show progress even when stderr is not a terminal", NULL, 0, 0 },
		{ "quiet", 'q', SP_OPT_FLAG, &com.quiet, NULL, "no progress line", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle corpus [OPTIONS] [PATH...]",
	                          "Walks PATHs (default: /usr/share/doc /usr/share/man /usr/share/common-licenses) in sorted\n"
	                          "order, decompresses .gz/.zst files, and writes every UTF-8 text file as one JSONL document\n"
	                          "{\"id\": PATH, \"text\": ..., \"meta\": {\"source\": PATH, \"bytes\": N}}.",
	                          table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		return rc;
	}
	static const char *defaults[] = { "/usr/share/doc", "/usr/share/man", "/usr/share/common-licenses" };
	const char **paths = n_pos ? pos : defaults;
	size_t n_paths = n_pos ? n_pos : 3;

	sp_err err = SP_ERR_INIT;
	walk_ctx c;
	memset(&c, 0, sizeof c);
	c.o.min_bytes = (size_t)min_bytes;
	c.o.max_bytes = (size_t)max_bytes;
	c.max_docs = max_docs;
	c.err = &err;
	sp_stats_init(&c.st, "corpus");
	cli_progress_begin(&c.prog, prog, com.progress, 0);
	rc = sp_out_open(&c.out, out_path, 0, &err);
	for (size_t i = 0; rc == 0 && i < n_paths; i++)
		rc = corpus_walk(paths[i], on_file, &c, &err);
	if (rc == 1)
		rc = 0;
	if (rc == 0)
		rc = sp_out_commit(c.out, &err);
	cli_progress_end(&c.prog, c.st.records_out, c.st.bytes_in);
	int code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &c.st);
	sp_out_free(c.out);
	sp_buf_release(&c.text);
	sp_buf_release(&c.line);
	sp_stats_release(&c.st);
	sp_free(pos);
	return code;
}
