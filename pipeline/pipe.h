/* pipe.h - `spindle pipeline`: a pipeline file (stages of spindle command lines with placeholders,
 * task counts, resources, dependencies; schemas/pipeline.md) run as tasks under one run folder by
 * the local executor or as Slurm job arrays. Internal to pipeline/; the parser is also the fuzz
 * target's entry. Ownership: a pipe_file owns its stages and strings; pipe_file_free releases them. */
#ifndef SPINDLE_PIPE_H
#define SPINDLE_PIPE_H
#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/buf.h"

#define PIPE_MAX_STAGES 64
#define PIPE_MAX_TASKS 1000000L
#define PIPE_MAX_AFTER 16

typedef struct pipe_stage {
	char *name;
	char *command;          /* with placeholders, checked at parse time */
	long tasks;             /* 1..PIPE_MAX_TASKS */
	int after[PIPE_MAX_AFTER]; /* indices of earlier stages */
	int n_after;
	long cpus;              /* --cpus-per-task, 1..1024 */
	char *mem;              /* --mem (e.g. 2G), NULL: cluster default */
	char *time;             /* --time (e.g. 0:30:00), NULL: partition default */
	char *partition;        /* --partition, NULL: default */
	char *sbatch;           /* extra sbatch arguments, split at spaces */
	long throttle;          /* at most this many tasks at once on Slurm (%M), 0: no limit */
	long signal_s;          /* USR1 this many seconds before the time limit (requeue), 0: off */
	long line;              /* line of its [stage] header */
} pipe_stage;

typedef struct pipe_file {
	pipe_stage st[PIPE_MAX_STAGES];
	int n;
} pipe_file;

/* Parses a pipeline file's text (name for messages). On failure err names NAME:LINE. */
int pipe_file_parse(pipe_file *pf, const char *text, size_t len, const char *name, sp_err *err);
void pipe_file_free(pipe_file *pf);
/* Index of the stage named name, or -1. */
int pipe_find(const pipe_file *pf, const char *name);

/* The values placeholders expand to for one task. */
typedef struct pipe_ctx {
	const char *run;      /* absolute run folder */
	const char *spindle;  /* absolute path of the spindle binary */
	const pipe_file *pf;
	int stage;
	long task;
} pipe_ctx;
/* Expands the stage's command for one task into out (appended). */
int pipe_expand(const pipe_ctx *c, sp_buf *out, sp_err *err);

/* Run-folder paths: RUN/KIND/STAGE/TASK.SUFFIX (task < 0: RUN/KIND/STAGE). Into a caller buffer. */
void pipe_path(char *out, size_t n, const char *run, const char *kind, const char *stage, long task,
               const char *suffix);
int pipe_is_done(const char *run, const char *stage, long task);

/* Loads RUN/pipeline.conf. */
int pipe_load_run(pipe_file *pf, const char *run, sp_err *err);
/* Creates the run folder (and its layout) from the pipeline file at path, or checks that an
 * existing run folder was made from the same pipeline text. */
int pipe_prepare_run(pipe_file *pf, const char *path, const char *run, sp_err *err);

/* Executors. Return 0 when every task is complete, 1 when some failed or were cancelled, else an
 * exit code (CLI_*) after printing. */
int pipe_run_local(const pipe_file *pf, const char *run, const char *spindle, long workers, int quiet);
typedef struct pipe_slurm_opts { long throttle; int wait; int quiet; long max_array; } pipe_slurm_opts;
int pipe_run_slurm(const pipe_file *pf, const char *run, const char *spindle, const pipe_slurm_opts *o);

/* `pipeline task`: runs one task (log, markers, requeue on SIGUSR1). Returns its exit code. */
int pipe_task(const char *run, const char *stage, long task);

/* Status of every stage (Slurm queue consulted when the run has jobs). Prints; returns 0 when all
 * tasks are done, 1 otherwise. queue_out (may be NULL) receives the number of tasks still queued. */
int pipe_status(const pipe_file *pf, const char *run, int print, long *queued_out);

/* Slurm helpers (pipe_slurm.c): ids of this run's jobs still in the queue, space-separated. */
int pipe_slurm_queue(const char *run, sp_buf *ids_out, sp_buf *tasks_out);

/* Runs argv (no shell), capturing stdout into out (may be NULL) and stderr into errout (may be
 * NULL). Returns the exit status (0..255), or -1 when it could not start. */
int pipe_capture(char *const argv[], sp_buf *out, sp_buf *errout);

#endif
