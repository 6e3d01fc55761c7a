/* pipe_file.c - the pipeline file of `spindle pipeline` (schemas/pipeline.md): `key = value` lines,
 * defaults first, then one `[stage NAME]` section per stage in dependency order; and the expansion
 * of a stage's command placeholders for one task. Parsing only: nothing is run or written here.
 * Also the entry of tests/fuzz/fuzz_pipeline.c. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pipe.h"
#include "spindle/mem.h"

static const char *const placeholders[] = { "task", "tasks", "run", "out", "stats", "spindle", "stage", NULL };

static int bad(sp_err *err, const char *name, long line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(sp_err *err, const char *name, long line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s", msg);
	return sp_err_locate(err, name, (uint64_t)line);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

static int parse_long(const char *v, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

/* A value for --mem, --time, --partition, sbatch: printable, no quotes or shell specials, since it
 * becomes an sbatch argument. */
static int valid_arg(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || strchr("'\"`$\\;&|<>", *s))
			return 0;
	return 1;
}

/* A placeholder is `{name}` or `{name:stage}` with name in a-z; returns the length of what is between
 * the braces at p (which points at '{'), or 0 when p does not start one: other braces (JSON, the
 * shell's `${X}` and `{a,b}`) are left as they are. */
static size_t ph_len(const char *start, const char *p)
{
	if (*p != '{' || (p > start && p[-1] == '$'))
		return 0;
	const char *q = p + 1;
	while (*q >= 'a' && *q <= 'z')
		q++;
	if (q == p + 1)
		return 0;
	if (*q == ':') {
		const char *r = ++q;
		while (isalnum((unsigned char)*q) || *q == '-' || *q == '_')
			q++;
		if (q == r)
			return 0;
	}
	return *q == '}' ? (size_t)(q - p - 1) : 0;
}

/* Checks the placeholders of a command against the known names and the earlier stages. */
static int check_command(const pipe_file *pf, const char *cmd, const char *name, long line, sp_err *err)
{
	for (const char *p = cmd; *p; p++) {
		size_t n = ph_len(cmd, p);
		if (!n)
			continue;
		char ph[80];
		if (n >= sizeof ph)
			return bad(err, name, line, "placeholder too long at '%.40s'", p);
		memcpy(ph, p + 1, n);
		ph[n] = 0;
		int ok = 0;
		if (!strncmp(ph, "out:", 4)) {
			ok = pipe_find(pf, ph + 4) >= 0;
			if (!ok)
				return bad(err, name, line, "'{%s}' names no earlier stage", ph);
		}
		for (int i = 0; !ok && placeholders[i]; i++)
			ok = !strcmp(ph, placeholders[i]);
		if (!ok)
			return bad(err, name, line, "unknown placeholder '{%s}' (known: task tasks run out out:STAGE stats spindle stage)", ph);
		p += n + 1;
	}
	return 0;
}

int pipe_find(const pipe_file *pf, const char *name)
{
	for (int i = 0; i < pf->n; i++)
		if (!strcmp(pf->st[i].name, name))
			return i;
	return -1;
}

static int set_str(char **dst, const char *v)
{
	sp_free(*dst);
	*dst = sp_strdup(v);
	return *dst ? 0 : -1;
}

/* One key of a stage or of the defaults (is_default: name, command, tasks and after refused). */
static int set_key(pipe_file *pf, pipe_stage *s, int is_default, const char *k, const char *v,
                   const char *name, long line, sp_err *err)
{
	if (!strcmp(k, "command") || !strcmp(k, "tasks") || !strcmp(k, "after")) {
		if (is_default)
			return bad(err, name, line, "'%s' belongs in a [stage NAME] section%s", k, "");
		if (!strcmp(k, "command")) {
			if (!*v)
				return bad(err, name, line, "empty command%s%s", "", "");
			SP_FORWARD(check_command(pf, v, name, line, err));
			if (set_str(&s->command, v))
				SP_RAISE(err, SP_ENOMEM, "out of memory");
		} else if (!strcmp(k, "tasks")) {
			if (parse_long(v, 1, PIPE_MAX_TASKS, &s->tasks))
				return bad(err, name, line, "tasks '%s': want an integer in 1..1000000%s", v, "");
		} else {
			char tmp[1024];
			if (strlen(v) >= sizeof tmp)
				return bad(err, name, line, "'after' too long%s%s", "", "");
			memcpy(tmp, v, strlen(v) + 1);
			for (char *save = NULL, *t = strtok_r(tmp, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
				int d = pipe_find(pf, t);
				if (d < 0 || d == pf->n - 1)
					return bad(err, name, line, "'after %s': no earlier stage has that name%s", t, "");
				if (s->n_after >= PIPE_MAX_AFTER)
					return bad(err, name, line, "more than 16 stages in 'after'%s%s", "", "");
				s->after[s->n_after++] = d;
			}
		}
		return 0;
	}
	if (!strcmp(k, "cpus")) {
		if (parse_long(v, 1, 1024, &s->cpus))
			return bad(err, name, line, "cpus '%s': want an integer in 1..1024%s", v, "");
		return 0;
	}
	if (!strcmp(k, "throttle")) {
		if (parse_long(v, 0, PIPE_MAX_TASKS, &s->throttle))
			return bad(err, name, line, "throttle '%s': want an integer in 0..1000000%s", v, "");
		return 0;
	}
	if (!strcmp(k, "signal")) {
		if (parse_long(v, 0, 65535, &s->signal_s))
			return bad(err, name, line, "signal '%s': want seconds in 0..65535%s", v, "");
		return 0;
	}
	char **dst = !strcmp(k, "mem") ? &s->mem : !strcmp(k, "time") ? &s->time
	           : !strcmp(k, "partition") ? &s->partition : !strcmp(k, "sbatch") ? &s->sbatch : NULL;
	if (!dst)
		return bad(err, name, line, "unknown key '%s' (known: command tasks after cpus mem time partition sbatch throttle signal)%s", k, "");
	if (!*v || !valid_arg(v) || (dst != &s->sbatch && strchr(v, ' ')))
		return bad(err, name, line, "%s '%s': empty, or has a space, quote or shell character", k, v);
	if (set_str(dst, v))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

static int copy_defaults(pipe_stage *s, const pipe_stage *d)
{
	s->cpus = d->cpus;
	s->throttle = d->throttle;
	s->signal_s = d->signal_s;
	if ((d->mem && set_str(&s->mem, d->mem)) || (d->time && set_str(&s->time, d->time)) ||
	    (d->partition && set_str(&s->partition, d->partition)) || (d->sbatch && set_str(&s->sbatch, d->sbatch)))
		return -1;
	return 0;
}

static void stage_release(pipe_stage *s)
{
	sp_free(s->name);
	sp_free(s->command);
	sp_free(s->mem);
	sp_free(s->time);
	sp_free(s->partition);
	sp_free(s->sbatch);
	memset(s, 0, sizeof *s);
}

static int finish_stage(const pipe_stage *s, const char *name, sp_err *err)
{
	if (!s->command)
		return bad(err, name, s->line, "stage '%s' has no command%s", s->name, "");
	return 0;
}

int pipe_file_parse(pipe_file *pf, const char *text, size_t len, const char *name, sp_err *err)
{
	memset(pf, 0, sizeof *pf);
	pipe_stage def;
	memset(&def, 0, sizeof def);
	def.cpus = 1;
	def.signal_s = 60;
	int rc = 0;
	long line = 0;
	const char *p = text, *end = text + len;
	char *buf = NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		if (memchr(p, 0, n)) {
			rc = bad(err, name, line, "NUL byte in the line%s%s", "", "");
			goto out;
		}
		sp_free(buf);
		if (!(buf = sp_malloc(n + 1))) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			goto out;
		}
		memcpy(buf, p, n);
		buf[n] = 0;
		p = nl ? nl + 1 : end;
		char *s = trim(buf);
		if (!*s || *s == '#')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (!close || close[1] || strncmp(s, "[stage ", 7)) {
				rc = bad(err, name, line, "want '[stage NAME]', got '%s'%s", s, "");
				goto out;
			}
			*close = 0;
			char *sn = trim(s + 7);
			if (!valid_name(sn)) {
				rc = bad(err, name, line, "stage name '%s': want 1-64 of A-Z a-z 0-9 - _%s", sn, "");
				goto out;
			}
			if (pipe_find(pf, sn) >= 0) {
				rc = bad(err, name, line, "stage '%s' defined twice%s", sn, "");
				goto out;
			}
			if (pf->n && (rc = finish_stage(&pf->st[pf->n - 1], name, err)))
				goto out;
			if (pf->n >= PIPE_MAX_STAGES) {
				rc = bad(err, name, line, "more than 64 stages%s%s", "", "");
				goto out;
			}
			pipe_stage *st = &pf->st[pf->n++];
			st->line = line;
			st->tasks = 1;
			if (!(st->name = sp_strdup(sn)) || copy_defaults(st, &def)) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				goto out;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = bad(err, name, line, "want 'key = value', got '%.60s'%s", s, "");
			goto out;
		}
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		if ((rc = set_key(pf, pf->n ? &pf->st[pf->n - 1] : &def, !pf->n, k, v, name, line, err)))
			goto out;
	}
	if (!pf->n) {
		rc = bad(err, name, line, "no [stage NAME] section%s%s", "", "");
		goto out;
	}
	rc = finish_stage(&pf->st[pf->n - 1], name, err);
out:
	sp_free(buf);
	stage_release(&def);
	if (rc)
		pipe_file_free(pf);
	return rc;
}

void pipe_file_free(pipe_file *pf)
{
	for (int i = 0; i < pf->n; i++)
		stage_release(&pf->st[i]);
	pf->n = 0;
}

void pipe_path(char *out, size_t n, const char *run, const char *kind, const char *stage, long task,
               const char *suffix)
{
	if (task < 0)
		snprintf(out, n, "%s/%s/%s", run, kind, stage);
	else
		snprintf(out, n, "%s/%s/%s/%ld%s", run, kind, stage, task, suffix ? suffix : "");
}

int pipe_expand(const pipe_ctx *c, sp_buf *out, sp_err *err)
{
	const pipe_stage *s = &c->pf->st[c->stage];
	char path[4096];
	for (const char *p = s->command; *p; p++) {
		size_t n = ph_len(s->command, p);
		if (!n) {
			if (sp_buf_appendc(out, *p))
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			continue;
		}
		const char *e = p + n + 1;
		const char *ph = p + 1;
		int r;
#define IS(w) (n == strlen(w) && !strncmp(ph, w, n))
		if (IS("task"))
			r = sp_buf_appendf(out, "%ld", c->task);
		else if (IS("tasks"))
			r = sp_buf_appendf(out, "%ld", s->tasks);
		else if (IS("run"))
			r = sp_buf_appends(out, c->run);
		else if (IS("spindle"))
			r = sp_buf_appends(out, c->spindle);
		else if (IS("stage"))
			r = sp_buf_appends(out, s->name);
		else if (IS("out")) {
			/* Relative to the run folder (the command's working directory), so what tools record
			 * of their paths is the same wherever the run folder is. */
			pipe_path(path, sizeof path, ".", "out", s->name, -1, NULL);
			r = sp_buf_appends(out, path + 2);
		} else if (IS("stats")) {
			pipe_path(path, sizeof path, ".", "stats", s->name, c->task, ".json");
			r = sp_buf_appends(out, path + 2);
		} else if (n > 4 && !strncmp(ph, "out:", 4)) {
			char sn[80];
			snprintf(sn, sizeof sn, "%.*s", (int)(n - 4), ph + 4);
			pipe_path(path, sizeof path, ".", "out", sn, -1, NULL);
			r = sp_buf_appends(out, path + 2);
		} else
			SP_RAISE(err, SP_EINTERNAL, "unchecked placeholder '%.*s'", (int)n, ph);
#undef IS
		if (r)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		p = e;
	}
	return 0;
}
