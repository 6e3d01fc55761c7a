/* cli_int.h - what annotate/cli.c and annotate/cli_eval.c share: the evaluation and round
 * subcommands' entry points (each prints its own errors and returns an exit code). */
#ifndef SPINDLE_ANNOTATE_CLI_INT_H
#define SPINDLE_ANNOTATE_CLI_INT_H

#include "annotate_eval.h"

/* `spindle annotate eval`: create or complete an evaluation study. */
int ann_cmd_eval(int argc, char **argv);
/* `report --eval NAME`: format "text" or "json"; charts folder or NULL. */
int ann_cli_report_eval(const char *prog, ann_db *db, const char *name, const char *format, const char *charts,
                        long seed, long resamples);
/* `report --by round`, tokens counted with the tokenizer file (NULL: n/a). */
int ann_cli_report_rounds(const char *prog, ann_db *db, const char *tokenizer);
/* Fills f from the export options; prints and returns an exit code on bad values, else -1. */
int ann_cli_filter(const char *prog, ann_filter *f, const char *split, double test_share, long test_count,
                   const char *since, const char *until);

#endif
