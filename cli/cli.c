/* cli.c - shared command-line front code for every tool (see cli.h). */
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "spindle/buf.h"
#include "spindle/io.h"
#include "spindle/mem.h"

void cli_common_init(cli_common *c)
{
	memset(c, 0, sizeof *c);
	c->on_error = "fail";
	c->shard.index = 0;
	c->shard.count = 1;
}

size_t cli_escape(const char *s, char *out, size_t out_len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t used = 0;
	if (!out_len)
		return 0;
	for (; *p && used + 1 < out_len; p++) {
		/* C0 controls and DEL, and the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F), which
		 * terminals act on (ESC, OSC, CSI) */
		int c1 = p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;
		if (*p >= 0x20 && *p != 0x7F && !c1) {
			out[used++] = (char)*p;
			continue;
		}
		unsigned v = c1 ? p[1] : *p;
		if (used + 4 >= out_len)
			break;
		out[used++] = '\\';
		out[used++] = 'x';
		out[used++] = hex[v >> 4];
		out[used++] = hex[v & 15];
		if (c1)
			p++;
	}
	out[used] = '\0';
	return used;
}

/* Writes one message line to stderr with its control characters escaped. */
static void put_line(const char *msg)
{
	size_t n = strlen(msg);
	char *esc = sp_malloc(4 * n + 1);
	if (esc) {
		cli_escape(msg, esc, 4 * n + 1);
		fprintf(stderr, "%s\n", esc);
		sp_free(esc);
	} else {
		fprintf(stderr, "%s\n", "(out of memory formatting a message)");
	}
}

int cli_failf(const char *prog, int code, const char *fmt, ...)
{
	char msg[2048];
	int k = snprintf(msg, sizeof msg, "%s: ", prog);
	va_list ap;
	va_start(ap, fmt);
	if (k > 0 && (size_t)k < sizeof msg)
		vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
	va_end(ap);
	put_line(msg);
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
	put_line(line);
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

int cli_parse_common(const char *prog, const char *usage, const char *description, const sp_opt *table,
                     cli_common *com, int argc, char **argv, const char ***pos, size_t *n_pos)
{
	int rc = cli_parse(prog, usage, description, table, argc, argv, pos, n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = cli_common_finish(prog, com)) >= 0) {
		sp_free(*pos);
		*pos = NULL;
		return rc;
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

/* Identity of an output path: the file itself when it exists (device and inode), else its folder's
 * real path and its name. Returns 1 for a character device (/dev/null may take several outputs). */
typedef struct out_id { int exists; dev_t dev; ino_t ino; char *canon; } out_id;

static int out_identify(const char *path, out_id *id)
{
	struct stat st;
	memset(id, 0, sizeof *id);
	if (stat(path, &st) == 0) {
		if (S_ISCHR(st.st_mode))
			return 1;
		id->exists = 1;
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		return 0;
	}
	char *d = sp_strdup(path), *b = sp_strdup(path);
	char *real = d ? realpath(dirname(d), NULL) : NULL;
	const char *base = b ? basename(b) : NULL;
	if (real && base && (id->canon = sp_malloc(strlen(real) + strlen(base) + 2)) != NULL)
		snprintf(id->canon, strlen(real) + strlen(base) + 2, "%s/%s", real, base);
	else
		id->canon = sp_strdup(path);
	free(real);
	sp_free(d);
	sp_free(b);
	return 0;
}

int cli_check_outputs(const char *prog, const cli_out *outs, size_t n)
{
	int code = -1;
	out_id *ids = sp_calloc(n ? n : 1, sizeof *ids);
	int *skip = sp_calloc(n ? n : 1, sizeof *skip);
	if (!ids || !skip) {
		sp_free(ids);
		sp_free(skip);
		return cli_failf(prog, CLI_IO, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		skip[i] = !outs[i].path || !strcmp(outs[i].path, "-") || out_identify(outs[i].path, &ids[i]);
	for (size_t i = 0; i < n && code < 0; i++) {
		for (size_t j = i + 1; j < n && code < 0; j++) {
			if (skip[i] || skip[j])
				continue;
			int same = ids[i].exists && ids[j].exists ? ids[i].dev == ids[j].dev && ids[i].ino == ids[j].ino
			         : !ids[i].exists && !ids[j].exists && ids[i].canon && ids[j].canon && !strcmp(ids[i].canon, ids[j].canon);
			if (same)
				code = cli_failf(prog, CLI_USAGE, "%s '%s' and %s '%s' name the same file; give each output its own",
				                 outs[i].opt, outs[i].path, outs[j].opt, outs[j].path);
		}
	}
	for (size_t i = 0; i < n; i++)
		sp_free(ids[i].canon);
	sp_free(ids);
	sp_free(skip);
	return code;
}

static void on_signal(int sig)
{
	sp_io_remove_temps();
	/* SA_RESETHAND has restored the default action: die of the same signal */
	raise(sig);
}

void cli_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
		struct sigaction sa, old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;   /* nohup and the like: keep ignoring */
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESETHAND;
		sigaction(sigs[i], &sa, NULL);
	}
}
