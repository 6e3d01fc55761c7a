/* pipe_slurm.c - the Slurm executor of `spindle pipeline run --executor slurm`: one job array per
 * stage holding only its incomplete tasks (`--array=LIST%THROTTLE`, split into several arrays past
 * the cluster's MaxArraySize), chained with `--dependency=afterok` and `--kill-on-invalid-dep=yes`
 * (a stage after a failed one is cancelled, not left pending), `--signal=B:USR1@S --requeue`.
 * Submitted jobs are listed in RUN/slurm/jobs.tsv; the queue is read back with squeue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "pipe.h"
#include "spindle/io.h"
#include "spindle/mem.h"

#define PROG "spindle pipeline"

static long max_array_size(void)
{
	char *argv[] = { (char *)"scontrol", (char *)"show", (char *)"config", NULL };
	sp_buf out = SP_BUF_INIT;
	long m = 1001;
	if (pipe_capture(argv, &out, NULL) == 0 && out.p) {
		const char *p = strstr(out.p, "MaxArraySize");
		if (p && (p = strchr(p, '=')))
			m = strtol(p + 1, NULL, 10);
	}
	sp_buf_release(&out);
	return m > 0 ? m : 1001;
}

/* Reads RUN/slurm/jobs.tsv lines "STAGE\tJOBID\tOFFSET\tARRAY". Calls fn for each. */
typedef struct jobrec { char stage[80]; long job, offset; } jobrec;
static int read_jobs(const char *run, jobrec **out, size_t *n)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/slurm/jobs.tsv", run);
	*out = NULL;
	*n = 0;
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	char line[8192];
	size_t cap = 0;
	while (fgets(line, sizeof line, f)) {
		jobrec r;
		memset(&r, 0, sizeof r);
		if (sscanf(line, "%79[^\t]\t%ld\t%ld", r.stage, &r.job, &r.offset) != 3)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			jobrec *nr = sp_realloc(*out, cap * sizeof *nr);
			if (!nr)
				break;
			*out = nr;
		}
		(*out)[(*n)++] = r;
	}
	fclose(f);
	return 0;
}

int pipe_slurm_queue(const char *run, sp_buf *ids_out, sp_buf *tasks_out)
{
	jobrec *jobs;
	size_t nj;
	read_jobs(run, &jobs, &nj);
	if (!nj)
		return 0;
	/* Only this user's jobs (--me): a busy cluster's whole queue is large. */
	char *argv[] = { (char *)"squeue", (char *)"--me", (char *)"-h", (char *)"-r", (char *)"-o", (char *)"%i %t", NULL };
	sp_buf out = SP_BUF_INIT, eo = SP_BUF_INIT;
	int rc = pipe_capture(argv, &out, &eo);
	if (rc) {
		sp_free(jobs);
		sp_buf_release(&out);
		sp_buf_release(&eo);
		return -1;
	}
	/* Lines "JOB_IDX ST" (or "JOB ST" for a job not in an array). */
	for (char *save = NULL, *l = strtok_r(out.p ? out.p : (char *)"", "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		long job = strtol(l, NULL, 10), idx = -1;
		char *u = strchr(l, '_'), *sp = strchr(l, ' ');
		if (!sp)
			continue;
		if (u && u < sp)
			idx = strtol(u + 1, NULL, 10);
		for (size_t j = 0; j < nj; j++)
			if (jobs[j].job == job) {
				if (ids_out)
					sp_buf_appendf(ids_out, "%s%ld", ids_out->len ? " " : "", job);
				if (tasks_out && idx >= 0)
					sp_buf_appendf(tasks_out, "%s %ld %s\n", jobs[j].stage, jobs[j].offset + idx, sp + 1);
				break;
			}
	}
	sp_free(jobs);
	sp_buf_release(&out);
	sp_buf_release(&eo);
	return 0;
}

/* Appends "a-b,c,..." for the sorted task indices t[0..n) minus off. */
static void array_spec(sp_buf *b, const long *t, size_t n, long off)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && t[j + 1] == t[j] + 1)
			j++;
		sp_buf_appendf(b, "%s%ld", b->len ? "," : "", t[i] - off);
		if (j > i)
			sp_buf_appendf(b, "-%ld", t[j] - off);
		i = j + 1;
	}
}

static void cancel_jobs(const sp_buf *ids)
{
	if (!ids->len)
		return;
	char *argv[64] = { (char *)"scancel" };
	int n = 1;
	char *copy = sp_strdup(ids->p);
	for (char *save = NULL, *t = strtok_r(copy, " ", &save); t && n < 63; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	argv[n] = NULL;
	pipe_capture(argv, NULL, NULL);
	sp_free(copy);
}

int pipe_run_slurm(const pipe_file *pf, const char *run, const char *spindle, const pipe_slurm_opts *o)
{
	sp_buf queued = SP_BUF_INIT, all = SP_BUF_INIT, stage_ids[PIPE_MAX_STAGES];
	memset(stage_ids, 0, sizeof stage_ids);
	sp_err err = SP_ERR_INIT;
	long *todo = NULL;
	int rc = 0;
	if (pipe_slurm_queue(run, &queued, NULL) < 0) {
		rc = cli_failf(PROG, CLI_IO, "squeue failed: is this a Slurm cluster (SLURM_CONF)?");
		goto out;
	}
	if (queued.len) {
		rc = cli_failf(PROG, CLI_USAGE, "jobs of run '%s' are still queued (%s): wait for them or scancel them first", run, queued.p);
		goto out;
	}
	long max = o->max_array > 0 ? o->max_array : max_array_size();
	char p[4096];
	snprintf(p, sizeof p, "%s/slurm/out", run);
	if (sp_mkdir_p(p, &err)) {
		rc = cli_fail(PROG, &err);
		goto out;
	}
	snprintf(p, sizeof p, "%s/slurm/jobs.tsv", run);
	FILE *jf = fopen(p, "a");
	if (!jf) {
		rc = cli_failf(PROG, CLI_IO, "%s: %s", p, strerror(errno));
		goto out;
	}
	for (int s = 0; s < pf->n && !rc; s++) {
		const pipe_stage *st = &pf->st[s];
		sp_free(todo);
		todo = sp_malloc((size_t)st->tasks * sizeof *todo);
		size_t nt = 0;
		for (long t = 0; todo && t < st->tasks; t++)
			if (!pipe_is_done(run, st->name, t))
				todo[nt++] = t;
		if (!nt) {
			if (!o->quiet)
				fprintf(stderr, "spindle pipeline: stage %s: all %ld tasks complete, nothing to submit\n", st->name, st->tasks);
			continue;
		}
		sp_buf dep = SP_BUF_INIT;
		for (int i = 0; i < st->n_after; i++)
			if (stage_ids[st->after[i]].len)
				sp_buf_appendf(&dep, "%s%s", dep.len ? ":" : "afterok:", stage_ids[st->after[i]].p);
		long throttle = st->throttle ? st->throttle : o->throttle;
		for (size_t i = 0; i < nt && !rc;) {
			long off = todo[i] / max * max;
			size_t j = i;
			while (j < nt && todo[j] < off + max)
				j++;
			sp_buf spec = SP_BUF_INIT, script = SP_BUF_INIT, a[16];
			memset(a, 0, sizeof a);
			array_spec(&spec, todo + i, j - i, off);
			if (throttle)
				sp_buf_appendf(&spec, "%%%ld", throttle);
			char sp[4096];
			snprintf(sp, sizeof sp, "%s/slurm/%s-%ld.sh", run, st->name, off);
			{
				const char *argv[64];
				int n = 0;
				sp_buf_appendf(&a[0], "--array=%s", spec.p);
				sp_buf_appendf(&a[1], "--job-name=%s", st->name);
				sp_buf_appendf(&a[2], "--output=%s/slurm/out/%%A_%%a.out", run);
				sp_buf_appendf(&a[3], "--cpus-per-task=%ld", st->cpus);
				argv[n++] = "sbatch";
				argv[n++] = "--parsable";
				argv[n++] = "--kill-on-invalid-dep=yes";
				for (int k = 0; k < 4; k++)
					argv[n++] = a[k].p;
				if (st->mem) { sp_buf_appendf(&a[4], "--mem=%s", st->mem); argv[n++] = a[4].p; }
				if (st->time) { sp_buf_appendf(&a[5], "--time=%s", st->time); argv[n++] = a[5].p; }
				if (st->partition) { sp_buf_appendf(&a[6], "--partition=%s", st->partition); argv[n++] = a[6].p; }
				if (st->signal_s) {
					sp_buf_appendf(&a[7], "--signal=B:USR1@%ld", st->signal_s);
					argv[n++] = a[7].p;
					argv[n++] = "--requeue";
				}
				if (dep.len) { sp_buf_appendf(&a[8], "--dependency=%s", dep.p); argv[n++] = a[8].p; }
				char *extra = st->sbatch ? sp_strdup(st->sbatch) : NULL;
				for (char *save = NULL, *t = extra ? strtok_r(extra, " ", &save) : NULL; t && n < 60; t = strtok_r(NULL, " ", &save))
					argv[n++] = t;
				argv[n++] = sp;
				argv[n] = NULL;
				/* The script records how it was submitted. */
				sp_buf_appendf(&script, "#!/bin/sh\n# written by spindle pipeline: stage %s, tasks from %ld, submitted as:\n#", st->name, off);
				for (int k = 0; k < n; k++)
					sp_buf_appendf(&script, " %s", argv[k]);
				sp_buf_appendf(&script, "\nexec '%s' pipeline task '%s' '%s' --offset %ld\n", spindle, run, st->name, off);
				sp_buf out = SP_BUF_INIT, eo = SP_BUF_INIT;
				int r = -1;
				if (sp_write_file_atomic(sp, script.p, script.len, &err))
					rc = cli_fail(PROG, &err);
				else
					r = pipe_capture((char *const *)argv, &out, &eo);
				long job = r == 0 && out.p ? strtol(out.p, NULL, 10) : 0;
				if (rc) {
				} else if (job <= 0) {
					rc = cli_failf(PROG, CLI_IO, "sbatch for stage %s failed (exit %d): %s", st->name, r, eo.p ? eo.p : "");
				} else {
					fprintf(jf, "%s\t%ld\t%ld\t%s\n", st->name, job, off, spec.p);
					fflush(jf);
					sp_buf_appendf(&stage_ids[s], "%s%ld", stage_ids[s].len ? ":" : "", job);
					sp_buf_appendf(&all, "%s%ld", all.len ? " " : "", job);
					if (!o->quiet)
						fprintf(stderr, "spindle pipeline: stage %s: %zu of %ld tasks submitted as job %ld (array %s)%s%s\n",
						        st->name, j - i, st->tasks, job, spec.p, dep.len ? ", " : "", dep.len ? dep.p : "");
				}
				sp_free(extra);
				sp_buf_release(&out);
				sp_buf_release(&eo);
			}
			for (int k = 0; k < 16; k++)
				sp_buf_release(&a[k]);
			sp_buf_release(&spec);
			sp_buf_release(&script);
			i = j;
		}
		sp_buf_release(&dep);
	}
	fclose(jf);
	if (rc) {
		/* Leave nothing half-submitted: the next run submits the whole remainder again. */
		cancel_jobs(&all);
		goto out;
	}
	if (o->wait) {
		for (;;) {
			sp_buf q = SP_BUF_INIT;
			int r = pipe_slurm_queue(run, &q, NULL);
			size_t len = q.len;
			sp_buf_release(&q);
			if (r < 0 || !len)
				break;
			sleep(1);
		}
		rc = pipe_status(pf, run, !o->quiet, NULL);
	}
out:
	sp_free(todo);
	for (int s = 0; s < PIPE_MAX_STAGES; s++)
		sp_buf_release(&stage_ids[s]);
	sp_buf_release(&queued);
	sp_buf_release(&all);
	return rc;
}
