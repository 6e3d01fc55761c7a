/* pipe_local.c - the local executor of `spindle pipeline run`: runs the tasks on this machine with
 * N worker processes (each `spindle pipeline task`), a stage's tasks once every stage it comes
 * after is complete, skipping tasks whose completion marker exists (so a rerun does only what is
 * left) and not starting stages after a failed one. */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "pipe.h"
#include "spindle/mem.h"

typedef struct lstage {
	long next;        /* next task index to consider */
	long skipped, ran, failed, running;
	int complete;     /* every task has its marker */
} lstage;

typedef struct slot { pid_t pid; int stage; long task; } slot;

static volatile sig_atomic_t stop_sig;
static void on_stop(int sig) { stop_sig = sig; }

static pid_t spawn(const char *spindle, const char *run, const char *stage, long task)
{
	char t[32];
	snprintf(t, sizeof t, "%ld", task);
	pid_t pid = fork();
	if (pid == 0) {
		int dn = open("/dev/null", O_RDWR);
		if (dn >= 0) {
			dup2(dn, 0);
			dup2(dn, 1);
		}
		execl(spindle, "spindle", "pipeline", "task", run, stage, t, (char *)NULL);
		dprintf(2, "spindle pipeline: cannot run %s: %s\n", spindle, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* 1: every stage this one comes after is complete; 0: not yet; -1: one of them failed. */
static int deps_state(const pipe_file *pf, const lstage *ls, int s)
{
	int r = 1;
	for (int i = 0; i < pf->st[s].n_after; i++) {
		int d = pf->st[s].after[i];
		if (ls[d].failed || deps_state(pf, ls, d) < 0)
			return -1;
		if (!ls[d].complete)
			r = 0;
	}
	return r;
}

int pipe_run_local(const pipe_file *pf, const char *run, const char *spindle, long workers, int quiet)
{
	lstage ls[PIPE_MAX_STAGES];
	memset(ls, 0, sizeof ls);
	slot *slots = sp_malloc((size_t)workers * sizeof *slots);
	if (!slots)
		return cli_failf("spindle pipeline", CLI_IO, "out of memory");
	memset(slots, 0, (size_t)workers * sizeof *slots);
	long running = 0;
	/* SIGTERM/SIGINT: stop the running tasks (they record themselves as cancelled), start no more. */
	struct sigaction sa, old_term, old_int;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	int forwarded = 0;
	for (;;) {
		if (stop_sig && !forwarded) {
			for (long w = 0; w < workers; w++)
				if (slots[w].pid)
					kill(slots[w].pid, SIGTERM);
			forwarded = 1;
		}
		/* Fill free workers with ready tasks, stages in file order. */
		for (int s = 0; s < pf->n && running < workers && !stop_sig; s++) {
			const pipe_stage *st = &pf->st[s];
			if (deps_state(pf, ls, s) != 1)
				continue;
			while (ls[s].next < st->tasks && running < workers) {
				long t = ls[s].next++;
				if (pipe_is_done(run, st->name, t)) {
					ls[s].skipped++;
					continue;
				}
				long w = 0;
				while (slots[w].pid)
					w++;
				slots[w].pid = spawn(spindle, run, st->name, t);
				if (slots[w].pid < 0) {
					slots[w].pid = 0;
					ls[s].failed++;
					continue;
				}
				slots[w].stage = s;
				slots[w].task = t;
				ls[s].running++;
				running++;
			}
			if (ls[s].next == st->tasks && !ls[s].running && !ls[s].failed)
				ls[s].complete = 1;
		}
		if (!running && stop_sig)
			break;
		if (!running) {
			/* Stages whose last tasks were all skipped complete here without a wait. */
			int progressed = 0;
			for (int s = 0; s < pf->n; s++)
				if (!ls[s].complete && ls[s].next == pf->st[s].tasks && !ls[s].running && !ls[s].failed) {
					ls[s].complete = 1;
					progressed = 1;
				}
			if (!progressed)
				break;
			continue;
		}
		int status;
		pid_t pid = wait(&status);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (long w = 0; w < workers; w++) {
			if (slots[w].pid != pid)
				continue;
			int s = slots[w].stage;
			const pipe_stage *st = &pf->st[s];
			slots[w].pid = 0;
			running--;
			ls[s].running--;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && pipe_is_done(run, st->name, slots[w].task))
				ls[s].ran++;
			else {
				ls[s].failed++;
				fprintf(stderr, "spindle pipeline: %s task %ld failed; log: %s/logs/%s/%ld.log\n",
				        st->name, slots[w].task, run, st->name, slots[w].task);
			}
			if (ls[s].next == st->tasks && !ls[s].running && !ls[s].failed)
				ls[s].complete = 1;
		}
	}
	int all = 1;
	for (int s = 0; s < pf->n; s++) {
		const pipe_stage *st = &pf->st[s];
		const char *what = ls[s].complete ? "complete" : ls[s].failed ? "FAILED" :
		                   deps_state(pf, ls, s) < 0 ? "cancelled (a stage it comes after failed)" : "incomplete";
		if (!ls[s].complete)
			all = 0;
		if (!quiet || !ls[s].complete)
			fprintf(stderr, "spindle pipeline: stage %s: %ld tasks, ran %ld, skipped %ld (already complete), failed %ld: %s\n",
			        st->name, st->tasks, ls[s].ran, ls[s].skipped, ls[s].failed, what);
	}
	sp_free(slots);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	if (stop_sig)
		return 128 + stop_sig;
	return all ? 0 : 1;
}
