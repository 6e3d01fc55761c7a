/* cli_dedup.h - what the `spindle dedup` command files (cli.c, cli_stage.c, cli_lines.c) share:
 * document batches for the ordered thread pool, the MinHash option block, and the subcommands. */
#ifndef SPINDLE_CLI_DEDUP_H
#define SPINDLE_CLI_DEDUP_H

#include "../cli/cli.h"
#include "dedup.h"

/* One document copied out of the stream (its line, text and id live in the batch's data). */
typedef struct dd_item {
	uint64_t index, lineno;
	const char *source;     /* input name, borrowed from argv for the run */
	size_t line_off, line_len, text_off, text_len, id_off, id_len;
	double score;           /* keep score: text length (longest) or a numeric field */
	int has_text;
} dd_item;

typedef struct dd_batch { sp_buf data; dd_item *it; size_t n, cap; } dd_batch;

int dd_batch_add(dd_batch *b, const sp_doc *doc, int want_id, const char *score_field, int keep_longest);
void dd_batch_reset(dd_batch *b);
void dd_batch_free_(dd_batch *b);
int dd_parse_keep(const char *prog, const char *s, int *longest, const char **field);

/* MinHash options shared by minhash, eval and the staged commands. */
typedef struct dd_mh_opts {
	long ngram, bands, rows, seed, threads, estimate_perms;
	double threshold;
	int threshold_given, verify, nfkc, no_estimate;
	double margin;
	const char *keep_s, *keep_field, *clusters;
	int keep_longest;
	dd_params p;
	dd_perms perms;
} dd_mh_opts;

#define DD_MH_OPTS(m) \
	{ "threshold", 0, SP_OPT_DOUBLE, &(m)->threshold, "T", "Jaccard threshold (default 0.8): picks bands x rows (<= 112 permutations) with >= 0.9 candidate probability at T, and is what --verify checks", "0.01..1", 0, 0 }, \
	{ "bands", 0, SP_OPT_INT, &(m)->bands, "B", "LSH bands (default: chosen for --threshold, 13 at 0.8; with --rows overrides that choice)", NULL, 1, 512 }, \
	{ "rows", 0, SP_OPT_INT, &(m)->rows, "R", "rows per band (default: chosen for --threshold, 8 at 0.8)", NULL, 1, 512 }, \
	{ "ngram", 0, SP_OPT_INT, &(m)->ngram, "N", "words per shingle (default 5)", NULL, 1, 64 }, \
	{ "verify", 0, SP_OPT_FLAG, &(m)->verify, NULL, "keep only candidate pairs whose exact shingle-set Jaccard is >= T", NULL, 0, 0 }, \
	{ "margin", 0, SP_OPT_DOUBLE, &(m)->margin, "D", "without --verify, keep candidate pairs whose MinHash estimate (equal signature values) is >= T - D (default 0.01)", "0..1", 0, 0 }, \
	{ "estimate-perms", 0, SP_OPT_INT, &(m)->estimate_perms, "N", "permutations the estimate check compares (default 256; the first bands x rows make the bands)", NULL, 1, 512 }, \
	{ "no-estimate", 0, SP_OPT_FLAG, &(m)->no_estimate, NULL, "without --verify, keep every LSH candidate pair (no estimate check)", NULL, 0, 0 }, \
	{ "keep", 0, SP_OPT_STR, &(m)->keep_s, "RULE", "which document of a cluster stays: first (default), longest, or field:NAME (highest number)", NULL, 0, 0 }, \
	{ "nfkc", 0, SP_OPT_FLAG, &(m)->nfkc, NULL, "NFKC-normalise text before segmenting words", NULL, 0, 0 }, \
	{ "seed", 0, SP_OPT_INT, &(m)->seed, "N", "seed of the hash permutations (default 1)", NULL, 0, 2147483647 }

void dd_mh_opts_init(dd_mh_opts *m);
/* What checks a candidate pair: *t (0 = nothing), *positional (signatures instead of sets), and
 * the payload each document carries: 0 none, 1 shingle set, 2 signature. */
int dd_mh_check(const dd_mh_opts *m, double *t, int *positional);
/* Resolves bands/rows/keep and the permutations; -1 to go on, else an exit code (printed). */
int dd_mh_options_finish(const char *prog, dd_mh_opts *m);
int dd_minhash_pipe(const char *prog, dd_mh_opts *m, cli_common *com, const char **pos, size_t n_pos,
                    const char *out_path);
int dd_write_clusters(const char *path, size_t n, dd_uf *uf, const uint32_t *kept, const char *ids,
                      const uint64_t *id_off, sp_err *err);

int dd_cmd_lines(int argc, char **argv);
int dd_cmd_signatures(int argc, char **argv);
int dd_cmd_buckets(int argc, char **argv);
int dd_cmd_pairs(int argc, char **argv);
int dd_cmd_clusters(int argc, char **argv);
int dd_cmd_filter(int argc, char **argv);

#endif
