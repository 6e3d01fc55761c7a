/* opt.c - table-driven option parsing and --help generation (see spindle/opt.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spindle/cpus.h"
#include "spindle/opt.h"
#include "spindle/mem.h"

static const sp_opt *find_long(const sp_opt *t, const char *name, size_t n)
{
	for (; t->kind != SP_OPT_END; t++)
		if (strlen(t->name) == n && !strncmp(t->name, name, n))
			return t;
	return NULL;
}

static const sp_opt *find_short(const sp_opt *t, char c)
{
	for (; t->kind != SP_OPT_END; t++)
		if (t->short_name && t->short_name == c)
			return t;
	return NULL;
}

static int in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);
	for (const char *c = choices; c && *c;) {
		const char *bar = strchr(c, '|');
		size_t k = bar ? (size_t)(bar - c) : strlen(c);
		if (k == n && !strncmp(c, v, n))
			return 1;
		c += k + (bar ? 1 : 0);
	}
	return 0;
}

/* "MIN..MAX" of a double option */
static int double_range(const char *s, double *lo, double *hi)
{
	char left[64], *end;
	const char *dots = strstr(s, "..");
	if (!dots || (size_t)(dots - s) >= sizeof left)
		return -1;
	memcpy(left, s, (size_t)(dots - s));
	left[dots - s] = 0;
	*lo = strtod(left, &end);
	if (end == left || *end)
		return -1;
	*hi = strtod(dots + 2, &end);
	return end == dots + 2 || *end || !(*hi >= *lo) ? -1 : 0;
}

static int set_value(const sp_opt *o, const char *v, sp_err *err)
{
	char *end;
	switch (o->kind) {
	case SP_OPT_STR:
		*(const char **)o->dest = v;
		return 0;
	case SP_OPT_CHOICE:
		if (!in_choices(o->choices, v))
			SP_RAISE(err, SP_EUSAGE, "bad value '%s' for --%s: expected one of %s", v, o->name, o->choices);
		*(const char **)o->dest = v;
		return 0;
	case SP_OPT_INT: {
		if (!strcmp(o->name, "threads") && !strcmp(v, "auto")) {
			/* every tool's --threads: the CPUs this process may run on (affinity, cgroup quota) */
			long x = sp_cpus_available();
			if (o->max > o->min && x > o->max)
				x = o->max;
			*(long *)o->dest = x;
			return 0;
		}
		errno = 0;
		long x = strtol(v, &end, 10);
		if (end == v || *end || errno)
			SP_RAISE(err, SP_EUSAGE, "bad value '%s' for --%s: expected an integer", v, o->name);
		if (o->max > o->min && (x < o->min || x > o->max))
			SP_RAISE(err, SP_EUSAGE, "bad value '%s' for --%s: must be in %ld..%ld", v, o->name, o->min, o->max);
		*(long *)o->dest = x;
		return 0;
	}
	case SP_OPT_DOUBLE: {
		errno = 0;
		double x = strtod(v, &end);
		if (end == v || *end || errno || !isfinite(x))
			SP_RAISE(err, SP_EUSAGE, "bad value '%s' for --%s: expected a finite number", v, o->name);
		double lo, hi;
		if (o->choices && double_range(o->choices, &lo, &hi) < 0)
			SP_RAISE(err, SP_EINTERNAL, "bad range '%s' in the option table for --%s", o->choices, o->name);
		if (o->choices && (x < lo || x > hi))
			SP_RAISE(err, SP_EUSAGE, "bad value '%s' for --%s: must be in %s", v, o->name, o->choices);
		*(double *)o->dest = x;
		return 0;
	}
	case SP_OPT_LIST: {
		sp_optlist *l = o->dest;
		if (l->n == l->cap) {
			size_t nc = l->cap ? 2 * l->cap : 4;
			const char **p = sp_realloc(l->items, nc * sizeof *p);
			if (!p)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			l->items = p;
			l->cap = nc;
		}
		l->items[l->n++] = v;
		return 0;
	}
	default:
		SP_RAISE(err, SP_EINTERNAL, "bad option table entry --%s", o->name);
	}
}

int sp_opt_parse(const sp_opt *table, int argc, char **argv, const char **pos, size_t *n_pos,
                 int *help, int *version, sp_err *err)
{
	*n_pos = 0;
	int only_pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_pos || a[0] != '-' || !a[1]) {
			pos[(*n_pos)++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		const sp_opt *o;
		const char *val = NULL;
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t n = eq ? (size_t)(eq - name) : strlen(name);
			if (help && n == 4 && !strncmp(name, "help", 4)) { *help = 1; continue; }
			if (version && n == 7 && !strncmp(name, "version", 7)) { *version = 1; continue; }
			o = find_long(table, name, n);
			if (!o)
				SP_RAISE(err, SP_EUSAGE, "unknown option '--%.*s'", (int)n, name);
			if (eq) {
				if (o->kind == SP_OPT_FLAG)
					SP_RAISE(err, SP_EUSAGE, "option '--%s' takes no value", o->name);
				val = eq + 1;
			}
		} else {
			if (help && a[1] == 'h' && !a[2]) { *help = 1; continue; }
			o = find_short(table, a[1]);
			if (!o)
				SP_RAISE(err, SP_EUSAGE, "unknown option '-%c'", a[1]);
			if (a[2]) {
				if (o->kind == SP_OPT_FLAG)
					SP_RAISE(err, SP_EUSAGE, "option '-%c' takes no value", a[1]);
				val = a + 2;
			}
		}
		if (o->kind == SP_OPT_FLAG) {
			*(int *)o->dest = 1;
			continue;
		}
		if (!val) {
			if (i + 1 >= argc)
				SP_RAISE(err, SP_EUSAGE, "option '--%s' needs a value", o->name);
			val = argv[++i];
		}
		SP_FORWARD(set_value(o, val, err));
	}
	return 0;
}

int sp_opt_help(const sp_opt *t, sp_buf *b)
{
	for (; t->kind != SP_OPT_END; t++) {
		char left[96];
		int k;
		if (t->short_name)
			k = snprintf(left, sizeof left, "  -%c, --%s", t->short_name, t->name);
		else
			k = snprintf(left, sizeof left, "      --%s", t->name);
		if (t->kind != SP_OPT_FLAG && k > 0 && (size_t)k < sizeof left)
			snprintf(left + k, sizeof left - (size_t)k, " %s", t->arg ? t->arg : (t->kind == SP_OPT_CHOICE ? t->choices : "VALUE"));
		const char *h = t->help ? t->help : "";
		char range[64] = "";
		if (t->kind == SP_OPT_INT)
			snprintf(range, sizeof range, t->max > t->min ? " [%ld..%ld]" : " [range unchecked]", t->min, t->max);
		else if (t->kind == SP_OPT_DOUBLE)
			snprintf(range, sizeof range, t->choices ? " [%s]" : " [range unchecked]", t->choices ? t->choices : "");
		if (strlen(left) < 30)
			SP_FORWARD(sp_buf_appendf(b, "%-30s %s%s\n", left, h, range));
		else
			SP_FORWARD(sp_buf_appendf(b, "%s\n%30s %s%s\n", left, "", h, range));
	}
	return 0;
}

void sp_optlist_release(sp_optlist *l)
{
	sp_free(l->items);
	l->items = NULL;
	l->n = l->cap = 0;
}
