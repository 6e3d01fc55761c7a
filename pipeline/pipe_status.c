/* pipe_status.c - `spindle pipeline status RUN`: per stage the tasks done, running, pending (from
 * squeue when the run has Slurm jobs), failed and not yet run; the failed tasks' log tails; and the
 * --stats files of the finished tasks merged into RUN/stats/STAGE.json (counts summed by key). */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pipe.h"
#include "spindle/io.h"
#include "spindle/mem.h"

static const char *const sum_keys[] = { "records_in", "records_out", "records_skipped", "bytes_in", "bytes_out", NULL };

/* Adds the integer members of src's object key to acc's. */
static void add_map(json_object *acc, json_object *src, const char *key)
{
	json_object *s, *a;
	if (!json_object_object_get_ex(src, key, &s) || !json_object_is_type(s, json_type_object))
		return;
	if (!json_object_object_get_ex(acc, key, &a)) {
		a = json_object_new_object();
		json_object_object_add(acc, key, a);
	}
	json_object_object_foreach(s, k, v) {
		json_object *old;
		int64_t x = json_object_get_int64(v);
		if (json_object_object_get_ex(a, k, &old))
			x += json_object_get_int64(old);
		json_object_object_add(a, k, json_object_new_int64(x));
	}
}

/* Merges the stats of the done tasks of a stage; writes RUN/stats/STAGE.json; prints a line. */
static void merge_stats(const pipe_stage *st, const char *run, int print)
{
	json_object *acc = NULL;
	long n = 0;
	int64_t sums[8] = { 0 };
	double seconds = 0;
	char p[4096];
	for (long t = 0; t < st->tasks; t++) {
		if (!pipe_is_done(run, st->name, t))
			continue;
		pipe_path(p, sizeof p, run, "stats", st->name, t, ".json");
		if (access(p, F_OK))
			continue;
		json_object *o = json_object_from_file(p);
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			continue;
		}
		if (!acc) {
			acc = json_object_new_object();
			json_object *tool;
			json_object_object_add(acc, "tool", json_object_object_get_ex(o, "tool", &tool) ?
			                       json_object_get(tool) : json_object_new_string(st->name));
		}
		for (int k = 0; sum_keys[k]; k++) {
			json_object *v;
			if (json_object_object_get_ex(o, sum_keys[k], &v))
				sums[k] += json_object_get_int64(v);
		}
		json_object *sec;
		if (json_object_object_get_ex(o, "seconds", &sec))
			seconds += json_object_get_double(sec);
		add_map(acc, o, "skipped");
		add_map(acc, o, "counters");
		json_object_put(o);
		n++;
	}
	if (!acc)
		return;
	/* Key order of schemas/stats.schema.json. */
	json_object *out = json_object_new_object(), *v;
	json_object_object_get_ex(acc, "tool", &v);
	json_object_object_add(out, "tool", json_object_get(v));
	for (int k = 0; sum_keys[k]; k++)
		json_object_object_add(out, sum_keys[k], json_object_new_int64(sums[k]));
	char secs[32];
	snprintf(secs, sizeof secs, "%.3f", seconds);
	json_object_object_add(out, "seconds", json_object_new_double_s(seconds, secs));
	json_object_object_add(out, "skipped", json_object_object_get_ex(acc, "skipped", &v) ? json_object_get(v) : json_object_new_object());
	json_object_object_add(out, "counters", json_object_object_get_ex(acc, "counters", &v) ? json_object_get(v) : json_object_new_object());
	const char *s = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);
	snprintf(p, sizeof p, "%s/stats/%s.json", run, st->name);
	sp_err err = SP_ERR_INIT;
	sp_buf b = SP_BUF_INIT;
	sp_buf_appendf(&b, "%s\n", s);
	if (b.p)
		sp_write_file_atomic(p, b.p, b.len, &err);
	sp_buf_release(&b);
	if (print)
		printf("stats %s (%ld tasks): %s\n", st->name, n, s);
	json_object_put(out);
	json_object_put(acc);
}

static void log_tail(const char *run, const char *stage, long task, int lines)
{
	char p[4096];
	pipe_path(p, sizeof p, run, "logs", stage, task, ".log");
	sp_buf b = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	printf("failed %s task %ld: %s\n", stage, task, p);
	if (sp_read_file(p, &b, &err) || !b.len) {
		printf("  (no log)\n");
		sp_buf_release(&b);
		return;
	}
	size_t i = b.len;
	if (b.p[i - 1] == '\n')
		i--;
	for (int k = 0; k < lines && i > 0; i--)
		if (b.p[i - 1] == '\n')
			k++;
	for (char *save = NULL, *l = strtok_r(b.p + i, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		printf("  | %s\n", l);
	sp_buf_release(&b);
}

int pipe_status(const pipe_file *pf, const char *run, int print, long *queued_out)
{
	sp_buf q = SP_BUF_INIT;
	int have_queue = pipe_slurm_queue(run, NULL, &q) == 0;
	long queued = 0;
	int all = 1;
	char p[4096];
	if (print)
		printf("%-16s %7s %7s %7s %7s %7s %7s\n", "stage", "tasks", "done", "running", "pending", "failed", "todo");
	for (int s = 0; s < pf->n; s++) {
		const pipe_stage *st = &pf->st[s];
		long done = 0, running = 0, pending = 0, failed = 0;
		char *state = sp_malloc((size_t)st->tasks);
		if (!state)
			continue;
		memset(state, 0, (size_t)st->tasks);
		/* Queue lines "STAGE TASK ST". */
		if (have_queue && q.p) {
			size_t nl = strlen(st->name);
			for (const char *l = q.p; *l;) {
				const char *e = strchr(l, '\n');
				if (!e)
					break;
				if (!strncmp(l, st->name, nl) && l[nl] == ' ') {
					char *x;
					long t = strtol(l + nl + 1, &x, 10);
					if (t >= 0 && t < st->tasks)
						state[t] = !strncmp(x, " PD", 3) ? 'P' : 'R';
				}
				l = e + 1;
			}
		}
		for (long t = 0; t < st->tasks; t++) {
			if (pipe_is_done(run, st->name, t))
				done++;
			else if (state[t] == 'R')
				running++;
			else if (state[t] == 'P')
				pending++;
			else {
				pipe_path(p, sizeof p, run, "fail", st->name, t, ".json");
				if (!access(p, F_OK)) {
					failed++;
					state[t] = 'F';
				}
			}
		}
		queued += running + pending;
		if (done < st->tasks)
			all = 0;
		if (print) {
			printf("%-16s %7ld %7ld %7ld %7ld %7ld %7ld\n", st->name, st->tasks, done, running, pending, failed,
			       st->tasks - done - running - pending - failed);
			int shown = 0;
			for (long t = 0; t < st->tasks && shown < 5; t++)
				if (state[t] == 'F') {
					log_tail(run, st->name, t, 5);
					shown++;
				}
		}
		sp_free(state);
	}
	for (int s = 0; s < pf->n; s++)
		merge_stats(&pf->st[s], run, print);
	if (print)
		fflush(stdout);
	sp_buf_release(&q);
	if (queued_out)
		*queued_out = queued;
	return all ? 0 : 1;
}
