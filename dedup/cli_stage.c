/* cli_stage.c - the staged commands of `spindle dedup` (work in progress). */
#include "cli_dedup.h"

int dd_cmd_signatures(int argc, char **argv) { (void)argc; (void)argv; return cli_failf("spindle dedup signatures", CLI_USAGE, "not built yet"); }
int dd_cmd_buckets(int argc, char **argv) { (void)argc; (void)argv; return cli_failf("spindle dedup buckets", CLI_USAGE, "not built yet"); }
int dd_cmd_pairs(int argc, char **argv) { (void)argc; (void)argv; return cli_failf("spindle dedup pairs", CLI_USAGE, "not built yet"); }
int dd_cmd_clusters(int argc, char **argv) { (void)argc; (void)argv; return cli_failf("spindle dedup clusters", CLI_USAGE, "not built yet"); }
int dd_cmd_filter(int argc, char **argv) { (void)argc; (void)argv; return cli_failf("spindle dedup filter", CLI_USAGE, "not built yet"); }
int dd_cmd_lines(int argc, char **argv) { (void)argc; (void)argv; return cli_failf("spindle dedup lines", CLI_USAGE, "not built yet"); }
