/* cli.h - what every tool's command-line front shares: exit codes, the one error-message shape,
 * the common options (--stats, --on-error, --shard, --field, --progress, -q), progress printing.
 * This is tool-side code: unlike lib/ it prints to stderr. Tools register their entry point with
 * SP_COMMAND in their cli.c; the build collects those lines into the dispatch table of main.c. */
#ifndef SPINDLE_CLI_H
#define SPINDLE_CLI_H

#include <stdio.h>
#include "spindle/err.h"
#include "spindle/opt.h"
#include "spindle/docs.h"
#include "spindle/progress.h"
#include "spindle/stats.h"

#define SPINDLE_VERSION "0.1.0"

/* Exit codes (listed in every --help). */
enum {
	CLI_OK = 0,
	CLI_REJECTED = 1,  /* records rejected under --strict / --on-error=fail */
	CLI_USAGE = 2,
	CLI_IO = 3,        /* I/O or system error */
	CLI_BUG = 4        /* internal error */
};

/* Registers a subcommand: name, entry function, one-line summary. Expands to the declaration. */
#define SP_COMMAND(name, fn, summary) int fn(int argc, char **argv)

#define CLI_EXIT_CODES_HELP \
	"Exit codes: 0 ok; 1 bad input record (with --on-error=fail); 2 usage; 3 I/O or system error; 4 internal error.\n"

/* The common options of tools that read documents. Fill with cli_common_init, add
 * CLI_COMMON_OPTS(&c) to the tool's table, then call cli_common_finish after parsing. */
typedef struct cli_common {
	const char *stats_file;
	const char *on_error;
	const char *shard_s;
	const char *field;
	int progress_force, quiet;
	sp_shard shard;
	int on_error_mode;
	int progress;       /* resolved: print progress? */
} cli_common;

#define CLI_COMMON_OPTS(c) \
	{ "stats", 0, SP_OPT_STR, &(c)->stats_file, "FILE", "write a JSON summary of the run to FILE (schemas/stats.schema.json)", NULL, 0, 0 }, \
	{ "on-error", 0, SP_OPT_CHOICE, &(c)->on_error, NULL, "bad input records: fail (default) or skip and count", "fail|skip", 0, 0 }, \
	{ "shard", 0, SP_OPT_STR, &(c)->shard_s, "I/N", "process only job I's share of N of the input files", NULL, 0, 0 }, \
	{ "field", 0, SP_OPT_STR, &(c)->field, "NAME", "the text field of each record (default: text; dotted paths allowed)", NULL, 0, 0 }, \
	{ "progress", 0, SP_OPT_FLAG, &(c)->progress_force, NULL, "show progress on stderr even when it is not a terminal", NULL, 0, 0 }, \
	{ "quiet", 'q', SP_OPT_FLAG, &(c)->quiet, NULL, "no progress line", NULL, 0, 0 }

void cli_common_init(cli_common *c);
/* Resolves shard, on-error and progress. Prints a usage error and returns CLI_USAGE on failure. */
int cli_common_finish(const char *prog, cli_common *c);
/* Fills docs options from the common options and positional inputs. */
void cli_docs_opts(const cli_common *c, const char *const *inputs, size_t n, sp_stats *st, sp_docs_opts *o);

/* Copies s into out (always terminated) with control characters (C0, DEL, C1) written as \xHH, so
 * untrusted bytes in a message cannot drive the terminal. Returns the length written. */
size_t cli_escape(const char *s, char *out, size_t out_len);
/* Prints "PROG: LOCATION: MESSAGE" for err and returns the exit code matching its class. */
int cli_fail(const char *prog, const sp_err *err);
/* Prints "PROG: MESSAGE" (printf-style) and returns code. */
int cli_failf(const char *prog, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Exit code for an error code. */
int cli_exit_code(int sp_code);

/* Parses argv against table, handles --help (prints usage + table + exit codes to stdout) and
 * --version. Returns -1 to continue (then *pos holds the positional arguments, caller frees it with
 * sp_free), or an exit code to return now (*pos is NULL). */
int cli_parse(const char *prog, const char *usage, const char *description, const sp_opt *table,
              int argc, char **argv, const char ***pos, size_t *n_pos);
/* cli_parse, then cli_common_finish on the tool's common options (CLI_COMMON_OPTS): the start of
 * every tool's command. -1 to continue (*pos to free with sp_free), or an exit code (*pos NULL). */
int cli_parse_common(const char *prog, const char *usage, const char *description, const sp_opt *table,
                     cli_common *com, int argc, char **argv, const char ***pos, size_t *n_pos);

/* Progress: call cli_progress_step per record; it prints when due (only if c->progress).
 * Start from CLI_PROGRESS_INIT (or zeroed memory): then _step and _end before _begin (an error
 * path) print nothing. */
typedef struct cli_progress { sp_progress p; int on; const char *prog; } cli_progress;
#define CLI_PROGRESS_INIT { .on = 0 }
void cli_progress_begin(cli_progress *cp, const char *prog, int on, uint64_t total_bytes);
/* The input files' total size for a percentage and ETA (bytes as stored: progress counts raw bytes
 * read, before decompression); 0 when any is stdin or not a regular file. */
uint64_t cli_inputs_size(const char *const *paths, size_t n);
void cli_progress_step(cli_progress *cp, uint64_t records, uint64_t bytes);
void cli_progress_end(cli_progress *cp, uint64_t records, uint64_t bytes);

/* Refuses to write binary data to a terminal (returns CLI_USAGE after printing), else -1. */
int cli_refuse_tty_stdout(const char *prog, const char *out_path);
/* The outputs of one run, for cli_check_outputs: opt is the option as the user knows it ("-o",
 * "--stats"), path its value (NULL: not given; "-": standard output or error, not checked). */
typedef struct cli_out { const char *opt; const char *path; } cli_out;
/* Refuses two outputs naming the same file (also through another spelling, a symlink or a hard
 * link; character devices such as /dev/null may be shared): prints both options and returns
 * CLI_USAGE, else -1. */
int cli_check_outputs(const char *prog, const cli_out *outs, size_t n);
#define CLI_CHECK_OUTPUTS(prog, ...) \
	cli_check_outputs((prog), (const cli_out[]){ __VA_ARGS__ }, sizeof((const cli_out[]){ __VA_ARGS__ }) / sizeof(cli_out))

/* Installs the SIGINT/SIGTERM/SIGHUP handler of the front command: it removes the temporary files
 * of the outputs being written (sp_io_remove_temps), then dies of the signal. Signals already
 * ignored stay ignored. */
void cli_signals_install(void);

/* Writes the stats file if asked. Returns 0 or an exit code. */
int cli_write_stats(const char *prog, const cli_common *c, const sp_stats *st);

#endif
