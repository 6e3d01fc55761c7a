/* cli.c - `spindle pipeline run|status|task`: runs a pipeline file (schemas/pipeline.md) under one
 * run folder with the local executor (N workers on this machine) or the Slurm executor (one job
 * array per stage), shows its status, and runs one task (what each worker or array job executes).
 * The logic is in pipe_*.c; this file only parses arguments. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "pipe.h"
#include "spindle/mem.h"

#define END_OPT SP_OPT_TABLE_END

/* An absolute run folder (placeholders and job scripts need one), without quotes. */
static int run_abs(const char *prog, const char *dir, char *out, size_t n)
{
	if (strchr(dir, '\'') || strchr(dir, '\n'))
		return cli_failf(prog, CLI_USAGE, "run folder '%s': no quotes or newlines, please", dir);
	if (dir[0] == '/')
		snprintf(out, n, "%s", dir);
	else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return cli_failf(prog, CLI_IO, "getcwd failed");
		size_t a = strlen(cwd), b = strlen(dir);
		if (a + b + 2 > n)
			return cli_failf(prog, CLI_USAGE, "run folder '%s': path too long", dir);
		memcpy(out, cwd, a);
		out[a] = '/';
		memcpy(out + a + 1, dir, b + 1);
	}
	return -1;
}

static int cmd_run(int argc, char **argv)
{
	const char *prog = "spindle pipeline run", *run_dir = NULL, *executor = "local";
	long jobs = 2, throttle = 0, max_array = 0;
	int wait = 0, quiet = 0;
	const sp_opt table[] = {
		{ "run-dir", 'd', SP_OPT_STR, &run_dir, "DIR", "the run folder: outputs, logs, markers, job scripts (required)", NULL, 0, 0 },
		{ "executor", 'e', SP_OPT_CHOICE, &executor, NULL, "local (default: this machine) or slurm (one job array per stage)", "local|slurm", 0, 0 },
		{ "jobs", 'j', SP_OPT_INT, &jobs, "N", "local: tasks run at once (default 2)", NULL, 1, 1024 },
		{ "throttle", 0, SP_OPT_INT, &throttle, "M", "slurm: at most M tasks of a stage's array at once, where the stage sets none (default: no limit)", NULL, 0, 1000000 },
		{ "max-array", 0, SP_OPT_INT, &max_array, "N", "slurm: split arrays at N tasks (default: the cluster's MaxArraySize)", NULL, 1, 100000000 },
		{ "wait", 0, SP_OPT_FLAG, &wait, NULL, "slurm: wait until the jobs leave the queue, then print the status", NULL, 0, 0 },
		{ "quiet", 'q', SP_OPT_FLAG, &quiet, NULL, "print only failures", NULL, 0, 0 },
		END_OPT
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle pipeline run [OPTIONS] -d RUN PIPELINE",
	                   "Runs the stages of the pipeline file PIPELINE (schemas/pipeline.md) as tasks under the run folder\n"
	                   "RUN. A task is complete once its marker RUN/done/STAGE/I.json exists (written last); running\n"
	                   "again does only the tasks not complete. local: waits for the tasks and exits 0 when all are\n"
	                   "complete, 1 when some failed. slurm: submits one job array per stage (afterok dependencies;\n"
	                   "a stage after a failed one is cancelled) and exits, or with --wait waits and prints the status.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1 || !run_dir) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "give -d RUN and one pipeline file");
	}
	char run[PATH_MAX], self[PATH_MAX];
	if ((rc = run_abs(prog, run_dir, run, sizeof run)) >= 0) {
		sp_free(pos);
		return rc;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = 0;
	pipe_file pf;
	sp_err err = SP_ERR_INIT;
	if (pipe_prepare_run(&pf, pos[0], run, &err)) {
		sp_free(pos);
		return cli_fail(prog, &err);
	}
	sp_free(pos);
	if (!strcmp(executor, "local"))
		rc = pipe_run_local(&pf, run, self, jobs, quiet);
	else {
		pipe_slurm_opts o = { throttle, wait, quiet, max_array };
		rc = pipe_run_slurm(&pf, run, self, &o);
	}
	pipe_file_free(&pf);
	return rc;
}

static int cmd_status(int argc, char **argv)
{
	const char *prog = "spindle pipeline status";
	const sp_opt table[] = { END_OPT };
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle pipeline status RUN",
	                   "Per stage: tasks done, running and pending (Slurm queue), failed and not yet run ('todo');\n"
	                   "the last lines of the failed tasks' logs; and the finished tasks' --stats files merged\n"
	                   "(also written to RUN/stats/STAGE.json). Exits 0 when every task is complete, else 1.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "name one run folder");
	}
	char run[PATH_MAX];
	if ((rc = run_abs(prog, pos[0], run, sizeof run)) >= 0) {
		sp_free(pos);
		return rc;
	}
	sp_free(pos);
	pipe_file pf;
	sp_err err = SP_ERR_INIT;
	if (pipe_load_run(&pf, run, &err))
		return cli_fail(prog, &err);
	rc = pipe_status(&pf, run, 1, NULL);
	pipe_file_free(&pf);
	return rc;
}

static int cmd_task(int argc, char **argv)
{
	const char *prog = "spindle pipeline task";
	long offset = -1;
	const sp_opt table[] = {
		{ "offset", 0, SP_OPT_INT, &offset, "K", "the task is K + $SLURM_ARRAY_TASK_ID (an array job's first task)", NULL, 0, PIPE_MAX_TASKS },
		END_OPT
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle pipeline task RUN STAGE [I | --offset K]",
	                   "Runs task I of STAGE of the run folder RUN (what the executors start): appends to\n"
	                   "RUN/logs/STAGE/I.log, and writes RUN/done/STAGE/I.json when the command succeeded (else\n"
	                   "RUN/fail/STAGE/I.json). Does nothing when the task is already complete. SIGUSR1 stops the\n"
	                   "command and requeues the Slurm job (sbatch --signal). Exit: the command's failure gives 1.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	long task = -1;
	if (n_pos == 3 && offset < 0) {
		char *e;
		task = strtol(pos[2], &e, 10);
		if (*e || e == pos[2])
			task = -1;
	} else if (n_pos == 2 && offset >= 0 && getenv("SLURM_ARRAY_TASK_ID"))
		task = offset + strtol(getenv("SLURM_ARRAY_TASK_ID"), NULL, 10);
	if (task < 0) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "give RUN STAGE I, or RUN STAGE --offset K inside a Slurm array job");
	}
	rc = pipe_task(pos[0], pos[1], task);
	sp_free(pos);
	return rc;
}

SP_COMMAND(pipeline, cmd_pipeline, "run a pipeline of spindle stages as tasks: locally or as Slurm job arrays (run, status)")
{
	static const struct { const char *name; int (*fn)(int, char **); } subs[] = {
		{ "run", cmd_run }, { "status", cmd_status }, { "task", cmd_task },
	};
	if (argc >= 2)
		for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
			if (!strcmp(argv[1], subs[i].name))
				return subs[i].fn(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("spindle pipeline %s\n", SPINDLE_VERSION);
		return CLI_OK;
	}
	int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
	FILE *f = help ? stdout : stderr;
	fprintf(f, "usage: spindle pipeline run|status|task ...\n\n"
	           "  run -d RUN PIPELINE [-e local|slurm]  run the stages' tasks (only those not yet complete)\n"
	           "  status RUN                            tasks per stage, failed tasks' logs, merged stats\n"
	           "  task RUN STAGE I                      run one task (what the executors start)\n\n"
	           "The pipeline file: schemas/pipeline.md.\n\n%s", CLI_EXIT_CODES_HELP);
	return help ? CLI_OK : CLI_USAGE;
}
