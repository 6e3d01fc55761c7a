/* cli.c - shared command-line front code for every tool (see cli.h). */
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "spindle/buf.h"
#include "spindle/mem.h"

void cli_common_init(cli_common *c)
{
	memset(c, 0, sizeof *c);
	c->on_error = "fail";
	c->shard.index = 0;
	c->shard.count = 1;
}

int cli_failf(const char *prog, int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int cli_exit_code(int sp_code)
{
	switch (sp_code) {
	case SP_OK: return CLI_OK;
	case SP_EDATA: case SP_EUTF8: case SP_ENOTFOUND: return CLI_REJECTED;
	case SP_EUSAGE: return CLI_USAGE;
	case SP_EIO: case SP_ENOMEM: case SP_EZSTD: return CLI_IO;
	default: return CLI_BUG;
	}
}

int cli_fail(const char *prog, const sp_err *err)
{
	char line[1200];
	sp_err_format(err, prog, line, sizeof line);
	fprintf(stderr, "%s\n", line);
	return cli_exit_code(err->code);
}

int cli_common_finish(const char *prog, cli_common *c)
{
	sp_err err = SP_ERR_INIT;
	if (c->shard_s && sp_shard_parse(c->shard_s, &c->shard, &err) < 0)
		return cli_fail(prog, &err);
	c->on_error_mode = !strcmp(c->on_error, "skip") ? SP_ON_ERROR_SKIP : SP_ON_ERROR_FAIL;
	c->progress = !c->quiet && (c->progress_force || isatty(2));
	return -1;
}

void cli_docs_opts(const cli_common *c, const char *const *inputs, size_t n, sp_stats *st, sp_docs_opts *o)
{
	memset(o, 0, sizeof *o);
	o->inputs = inputs;
	o->n_inputs = n;
	o->shard = c->shard;
	o->on_error = c->on_error_mode;
	o->field = c->field;
	o->stats = st;
}

int cli_parse(const char *prog, const char *usage, const char *description, const sp_opt *table,
              int argc, char **argv, const char ***pos, size_t *n_pos)
{
	int help = 0, version = 0;
	sp_err err = SP_ERR_INIT;
	*pos = sp_calloc((size_t)(argc > 0 ? argc : 1), sizeof **pos);
	if (!*pos)
		return cli_failf(prog, CLI_IO, "out of memory");
	int rc = sp_opt_parse(table, argc, argv, *pos, n_pos, &help, &version, &err);
	if (rc < 0 || help || version) {
		sp_free(*pos);
		*pos = NULL;
	}
	if (rc < 0) {
		cli_fail(prog, &err);
		fprintf(stderr, "Try '%s --help'.\n", prog);
		return CLI_USAGE;
	}
	if (help) {
		sp_buf b = SP_BUF_INIT;
		sp_opt_help(table, &b);
		printf("usage: %s\n\n%s\n\nOptions:\n%s  -h, --help                   this help\n      --version                print the version\n\n%s",
		       usage, description, b.p ? b.p : "", CLI_EXIT_CODES_HELP);
		sp_buf_release(&b);
		return CLI_OK;
	}
	if (version) {
		printf("%s %s\n", prog, SPINDLE_VERSION);
		return CLI_OK;
	}
	return -1;
}

void cli_progress_begin(cli_progress *cp, const char *prog, int on, uint64_t total_bytes)
{
	cp->on = on;
	cp->prog = prog;
	sp_progress_init(&cp->p, total_bytes, 0.5);
}

uint64_t cli_inputs_size(const char *const *paths, size_t n)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (!paths[i] || !strcmp(paths[i], "-") || stat(paths[i], &st) != 0 || !S_ISREG(st.st_mode))
			return 0;   /* stdin, a pipe or a device: size unknown, no percentage */
		total += (uint64_t)st.st_size;
	}
	return total;
}

void cli_progress_step(cli_progress *cp, uint64_t records, uint64_t bytes)
{
	if (!cp->on || !sp_progress_tick(&cp->p))
		return;
	char line[200];
	sp_progress_format(&cp->p, records, bytes, line, sizeof line);
	fprintf(stderr, "\r%s: %s\033[K", cp->prog, line);
}

void cli_progress_end(cli_progress *cp, uint64_t records, uint64_t bytes)
{
	if (!cp->on)
		return;
	char line[200];
	sp_progress_format(&cp->p, records, bytes, line, sizeof line);
	fprintf(stderr, "\r%s: %s\033[K\n", cp->prog, line);
}

int cli_refuse_tty_stdout(const char *prog, const char *out_path)
{
	if ((!out_path || !strcmp(out_path, "-")) && isatty(1))
		return cli_failf(prog, CLI_USAGE, "refusing to write binary data to a terminal; use -o FILE or a pipe");
	return -1;
}

int cli_write_stats(const char *prog, const cli_common *c, const sp_stats *st)
{
	if (!c->stats_file)
		return 0;
	sp_err err = SP_ERR_INIT;
	if (!strcmp(c->stats_file, "-")) {
		sp_buf b = SP_BUF_INIT;
		sp_stats_json(st, &b);
		fprintf(stderr, "%s\n", b.p ? b.p : "{}");
		sp_buf_release(&b);
		return 0;
	}
	if (sp_stats_write(st, c->stats_file, &err) < 0)
		return cli_fail(prog, &err);
	return 0;
}
