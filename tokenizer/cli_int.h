/* cli_int.h - what the `spindle tok` subcommand files (tokenizer/cli_*.c) share: the token stream
 * magic and each subcommand's entry point for the dispatcher in cli.c. */
#ifndef SPINDLE_TOK_CLI_INT_H
#define SPINDLE_TOK_CLI_INT_H

#define TOKS_MAGIC "SPTOKS01"

int tok_cmd_encode(int argc, char **argv);   /* cli_encode.c */
int tok_cmd_decode(int argc, char **argv);   /* cli_decode.c */
int tok_cmd_info(int argc, char **argv);     /* cli_info.c */
int tok_cmd_convert(int argc, char **argv);  /* cli_convert.c */
int tok_cmd_train(int argc, char **argv);    /* cli_train.c */

#endif
