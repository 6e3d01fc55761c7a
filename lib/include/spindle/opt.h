/* opt.h - one option table per tool command: parsing and --help text from the same table.
 *
 * A table is an array of sp_opt ending with a zeroed entry. Parsing understands --name VALUE,
 * --name=VALUE, -x VALUE, -xVALUE, "--" and stops options at the first positional when asked.
 * The parser never prints: errors come back as SP_EUSAGE with a message. */
#ifndef SPINDLE_OPT_H
#define SPINDLE_OPT_H

#include <stddef.h>
#include "spindle/err.h"
#include "spindle/buf.h"

enum sp_opt_kind {
	SP_OPT_END = 0,
	SP_OPT_FLAG,    /* int *: set to 1 */
	SP_OPT_STR,     /* const char **: points into argv */
	SP_OPT_INT,     /* long *: decimal, range-checked against min/max when max > min */
	SP_OPT_DOUBLE,  /* double *: finite; range-checked against choices ("MIN..MAX") when given */
	SP_OPT_CHOICE,  /* const char **: must be one of choices ("a|b|c") */
	SP_OPT_LIST     /* sp_optlist *: repeatable string option */
};

/* The row that ends every table. */
#define SP_OPT_TABLE_END { NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }

typedef struct sp_optlist { const char **items; size_t n, cap; } sp_optlist;

typedef struct sp_opt {
	const char *name;    /* long name without "--" */
	char short_name;     /* 0 if none */
	int kind;
	void *dest;
	const char *arg;     /* placeholder in help ("N", "FILE") */
	const char *help;
	const char *choices; /* for SP_OPT_CHOICE: "fail|skip"; for SP_OPT_DOUBLE: the accepted range "MIN..MAX", inclusive */
	long min, max;       /* for SP_OPT_INT: the accepted range, inclusive (shown in --help) */
} sp_opt;

/* Parses argv[1..argc) (argv[0] is the command). Positional arguments are collected, in order,
 * into *pos (a caller array of argc entries) and *n_pos. "--help" and "--version" set *help or
 * *version when those pointers are given. Returns 0 or SP_EUSAGE. */
int sp_opt_parse(const sp_opt *table, int argc, char **argv, const char **pos, size_t *n_pos,
                 int *help, int *version, sp_err *err);
/* Appends the options section of --help ("  -o, --output FILE   help") to buf; a numeric option's
 * range follows its help as " [MIN..MAX]", or " [range unchecked]" when its table entry has none
 * (every numeric option should have one: tests/cli/t_opt_ranges.sh looks for that text). */
int sp_opt_help(const sp_opt *table, sp_buf *buf);
void sp_optlist_release(sp_optlist *l);

#endif
