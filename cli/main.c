/* main.c - the `spindle` front command: dispatches `spindle TOOL ...` to the tool's entry point
 * (git-style). The table is generated at build time from the SP_COMMAND lines in each tool's cli.c
 * (build/commands.inc), so a new tool registers itself without touching this file. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

#define SP_CMD_DECL(name, fn, summary) int fn(int argc, char **argv);
#include "commands.inc"
#undef SP_CMD_DECL

typedef struct command { const char *name; int (*fn)(int, char **); const char *summary; } command;

static const command commands[] = {
#define SP_CMD_DECL(name, fn, summary) { #name, fn, summary },
#include "commands.inc"
#undef SP_CMD_DECL
};

static void usage(FILE *f)
{
	fprintf(f, "usage: spindle COMMAND [ARGS...]\n\n"
	           "spindle turns raw text into a trained, aligned Llama-2-style model.\n"
	           "Tools compose with pipes, e.g.\n"
	           "  spindle corpus | spindle filter | spindle dedup minhash | spindle tok encode -m tok.model --format bin | spindle pack -m tok.model -o shards/\n\n"
	           "Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'spindle COMMAND --help' for a command's options.\n" CLI_EXIT_CODES_HELP);
}

int main(int argc, char **argv)
{
	cli_signals_install();
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("spindle %s\n", SPINDLE_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	return cli_failf("spindle", CLI_USAGE, "'%s' is not a spindle command. See 'spindle --help'.", argv[1]);
}
