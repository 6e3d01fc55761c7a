/* cli.c - `spindle tok`: the dispatcher of its subcommands, one file each (cli_encode.c, cli_decode.c,
 * cli_info.c, cli_convert.c, cli_train.c; shared declarations in cli_int.h). The logic lives in tok_*.c. */
#include <stdio.h>
#include <string.h>
#include "../cli/cli.h"
#include "cli_int.h"

/* ------------------------------------------------------------------ dispatch */

SP_COMMAND(tok, cmd_tok, "SentencePiece-BPE tokenizer: encode, decode, info, convert, train")
{
	static const struct { const char *name; int (*fn)(int, char **); const char *help; } subs[] = {
		{ "encode", tok_cmd_encode, "JSONL documents (or text lines) to token ids" },
		{ "decode", tok_cmd_decode, "token ids (JSONL or token stream) back to text" },
		{ "info", tok_cmd_info, "vocabulary size, special ids, settings, identity of a tokenizer" },
		{ "convert", tok_cmd_convert, "tokenizer.json <-> SentencePiece .model" },
		{ "train", tok_cmd_train, "train a SentencePiece-BPE tokenizer (.model) on text or JSONL" },
	};
	if (argc >= 2) {
		for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
			if (!strcmp(argv[1], subs[i].name))
				return subs[i].fn(argc - 1, argv + 1);
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("spindle tok %s\n", SPINDLE_VERSION);
		return CLI_OK;
	}
	int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
	FILE *f = help ? stdout : stderr;
	fprintf(f, "usage: spindle tok COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		fprintf(f, "  %-8s %s\n", subs[i].name, subs[i].help);
	fprintf(f, "\n'spindle tok COMMAND --help' describes each.\n%s", CLI_EXIT_CODES_HELP);
	if (help)
		return CLI_OK;
	if (argc >= 2)
		fprintf(stderr, "spindle tok: unknown command '%s'\n", argv[1]);
	return CLI_USAGE;
}
