/* pipe_task.c - `spindle pipeline task RUN STAGE [I]`: runs one task of a stage, the same way under
 * the local executor and inside a Slurm array job: output appended to RUN/logs/STAGE/I.log, the
 * command run by /bin/sh in its own process group, and when it succeeds the completion marker
 * RUN/done/STAGE/I.json written last (atomically) with its CPU time and peak memory. A failure or
 * cancel writes RUN/fail/STAGE/I.json instead; SIGUSR1 (sbatch --signal) stops it and requeues. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "pipe.h"
#include "spindle/io.h"

static volatile sig_atomic_t got_term, got_usr1;
static void on_term(int sig) { (void)sig; got_term = 1; }
static void on_usr1(int sig) { (void)sig; got_usr1 = 1; }

/* The Slurm job of this task as ARRAYJOB_INDEX (or the job id outside an array); NULL outside Slurm. */
static const char *slurm_name(char *out, size_t n)
{
	const char *job = getenv("SLURM_JOB_ID"), *aj = getenv("SLURM_ARRAY_JOB_ID"), *at = getenv("SLURM_ARRAY_TASK_ID");
	if (aj && at)
		snprintf(out, n, "%.24s_%.24s", aj, at);
	else if (job)
		snprintf(out, n, "%.48s", job);
	else
		return NULL;
	return out;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stamp(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes RUN/KIND/STAGE/I.json: the task record (schemas/pipeline-task.schema.json). */
static int write_record(const char *run, const char *kind, const pipe_stage *s, long task, const char *status,
                        int exit_code, int sig, double wall, const struct rusage *ru)
{
	char p[4096], host[256] = "", ts[32];
	gethostname(host, sizeof host - 1);
	stamp(ts, sizeof ts);
	const char *rc = getenv("SLURM_RESTART_COUNT");
	char jobname[64];
	const char *job = slurm_name(jobname, sizeof jobname);
	double cpu = ru ? ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 + ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6 : 0;
	sp_buf b = SP_BUF_INIT;
	sp_buf_appends(&b, "{\"stage\":");
	sp_buf_append_json_str(&b, s->name, strlen(s->name));
	sp_buf_appendf(&b, ",\"task\":%ld,\"tasks\":%ld,\"status\":\"%s\",\"exit_code\":%d,\"signal\":%d,"
	               "\"wall_seconds\":%.3f,\"cpu_seconds\":%.3f,\"max_rss_kb\":%ld,\"restarts\":%ld,\"host\":",
	               task, s->tasks, status, exit_code, sig, wall, cpu, ru ? ru->ru_maxrss : 0L,
	               rc ? strtol(rc, NULL, 10) : 0L);
	sp_buf_append_json_str(&b, host, strlen(host));
	sp_buf_appends(&b, ",\"slurm_job\":");
	if (job)
		sp_buf_append_json_str(&b, job, strlen(job));
	else
		sp_buf_appends(&b, "null");
	sp_buf_appendf(&b, ",\"finished\":\"%s\"}\n", ts);
	pipe_path(p, sizeof p, run, kind, s->name, task, ".json");
	sp_err err = SP_ERR_INIT;
	int r = b.p ? sp_write_file_atomic(p, b.p, b.len, &err) : SP_ENOMEM;
	if (r)
		fprintf(stderr, "spindle pipeline: %s: %s\n", p, err.msg);
	sp_buf_release(&b);
	return r;
}

int pipe_task(const char *run, const char *stage, long task)
{
	pipe_file pf;
	sp_err err = SP_ERR_INIT;
	if (pipe_load_run(&pf, run, &err))
		return cli_fail("spindle pipeline task", &err);
	int si = pipe_find(&pf, stage), rc = CLI_OK;
	char p[4096];
	sp_buf cmd = SP_BUF_INIT;
	if (si < 0) {
		rc = cli_failf("spindle pipeline task", CLI_USAGE, "%s: no stage '%s'", run, stage);
		goto out;
	}
	const pipe_stage *s = &pf.st[si];
	if (task < 0 || task >= s->tasks) {
		rc = cli_failf("spindle pipeline task", CLI_USAGE, "stage '%s' has tasks 0..%ld, not %ld", stage, s->tasks - 1, task);
		goto out;
	}
	/* Everything from here on goes to the task's log (appended: a rerun keeps the earlier tries). */
	pipe_path(p, sizeof p, run, "logs", stage, task, ".log");
	int lfd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (lfd < 0) {
		rc = cli_failf("spindle pipeline task", CLI_IO, "%s: %s", p, strerror(errno));
		goto out;
	}
	fflush(stdout);
	fflush(stderr);
	dup2(lfd, 1);
	dup2(lfd, 2);
	close(lfd);
	char ts[32], host[256] = "";
	stamp(ts, sizeof ts);
	gethostname(host, sizeof host - 1);
	if (pipe_is_done(run, stage, task)) {
		printf("== spindle pipeline: %s task %ld/%ld already complete (%s)\n", stage, task, s->tasks, ts);
		goto out;
	}
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = 0;
	pipe_ctx c = { run, self, &pf, si, task };
	if (pipe_expand(&c, &cmd, &err)) {
		rc = cli_fail("spindle pipeline task", &err);
		goto out;
	}
	pipe_path(p, sizeof p, run, "fail", stage, task, ".json");
	unlink(p);
	char jn[64];
	const char *job = slurm_name(jn, sizeof jn);
	printf("== spindle pipeline: %s task %ld/%ld on %s at %s%s%s\n$ %s\n", stage, task, s->tasks, host, ts,
	       job ? " slurm job " : "", job ? job : "", cmd.p);
	fflush(stdout);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0) {
		rc = cli_failf("spindle pipeline task", CLI_IO, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		setpgid(0, 0);
		if (chdir(run)) {
			perror(run);
			_exit(126);
		}
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGUSR1, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd.p, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	int st = 0, forwarded = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	for (;;) {
		pid_t w = wait4(pid, &st, 0, &ru);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = cli_failf("spindle pipeline task", CLI_IO, "wait: %s", strerror(errno));
			goto out;
		}
		if ((got_term || got_usr1) && !forwarded) {
			kill(-pid, SIGTERM);
			forwarded = 1;
		}
	}
	double wall = now_s() - t0;
	stamp(ts, sizeof ts);
	if (got_usr1 && getenv("SLURM_JOB_ID")) {
		/* sbatch --signal: the time limit is near. The task restarts from scratch (its outputs are
		 * written atomically, so nothing half-made is left); requeue it and end here. */
		/* An array task is named ARRAYJOB_INDEX: the bare SLURM_JOB_ID of some elements is the
		 * array's own id, and requeueing that would requeue every element. */
		char jid[64];
		slurm_name(jid, sizeof jid);
		printf("== spindle pipeline: %s task %ld stopped at %s before the time limit; requeueing job %s\n",
		       stage, task, ts, jid);
		fflush(stdout);
		char *argv[] = { (char *)"scontrol", (char *)"requeue", jid, NULL };
		sp_buf eo = SP_BUF_INIT;
		int r = pipe_capture(argv, NULL, &eo);
		if (r) {
			printf("== spindle pipeline: scontrol requeue failed (%d): %s\n", r, eo.p ? eo.p : "");
			write_record(run, "fail", s, task, "failed", 0, SIGUSR1, wall, &ru);
			rc = CLI_IO;
		}
		sp_buf_release(&eo);
		goto out;
	}
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0, sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	if (!got_term && !got_usr1 && WIFEXITED(st) && code == 0) {
		if (write_record(run, "done", s, task, "done", 0, 0, wall, &ru)) {
			rc = CLI_IO;
			goto out;
		}
		printf("== spindle pipeline: %s task %ld done at %s (%.2f s, peak %ld KiB)\n", stage, task, ts, wall, ru.ru_maxrss);
		goto out;
	}
	/* scancel signals every process of the step at once: the command may die of SIGTERM before
	 * this process sees its own, so a command killed by TERM, INT or KILL counts as cancelled too. */
	int cancelled = got_term || got_usr1 || sig == SIGTERM || sig == SIGINT || sig == SIGKILL;
	const char *status = cancelled ? "cancelled" : "failed";
	printf("== spindle pipeline: %s task %ld %s at %s (exit %d%s%s)\n", stage, task, status, ts, code,
	       sig ? ", signal " : "", sig ? strsignal(sig) : "");
	write_record(run, "fail", s, task, status, code, sig, wall, &ru);
	rc = cancelled ? 128 + SIGTERM : CLI_REJECTED;
out:
	fflush(stdout);
	sp_buf_release(&cmd);
	pipe_file_free(&pf);
	return rc;
}
