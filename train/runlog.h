/* runlog.h - where a training run's step log goes: RUN_DIR/train_log.jsonl always (appended across
 * --resume, cut back to the resumed step first so no step appears twice), JSONL on stdout for pipes
 * and scripts, and a readable progress line on a terminal (step/total, loss, lr, tokens/s, ETA, last
 * spike). Used by `spindle train pretrain|sft|rm` and the RLHF modes; the lines come from the trainer
 * (trainer.h: on_log) or the mode's own loop. Ownership: caller storage, train_runlog_close frees. */
#ifndef SPINDLE_TRAIN_RUNLOG_H
#define SPINDLE_TRAIN_RUNLOG_H

#include <stddef.h>
#include <stdio.h>
#include "spindle/err.h"

#define TRAIN_LOG_NAME "train_log.jsonl"

typedef struct train_runlog {
	FILE *file;             /* RUN_DIR/train_log.jsonl (NULL: no run folder log, e.g. ranks > 0) */
	int to_stdout;          /* JSONL to stdout as well */
	int progress;           /* progress line on stderr */
	const char *prog;
	long total, first_step; /* steps of the whole run; the step this invocation started at */
	double t0;
	long last_spike;        /* step of the last spike, -1 none */
	int line_open;          /* a progress line is on screen */
} train_runlog;

/* Opens dir/train_log.jsonl for appending after keeping only its entries of steps <= start_step (a
 * resumed run goes on from its checkpoint; a fresh run, start_step 0, starts it anew; a cut last
 * line is dropped). The rewrite is atomic. jsonl_stdout / progress as above. */
int train_runlog_open(train_runlog *r, const char *dir, const char *prog, long start_step, long total,
                      int jsonl_stdout, int progress, sp_err *err);
/* Records one or more complete JSON lines (a step, and a spike event before it). */
void train_runlog_write(train_runlog *r, const char *lines, size_t n);
/* Ends the progress line and closes the file. */
void train_runlog_close(train_runlog *r);
/* The trainer's on_log hook: ctx is a train_runlog. */
void train_runlog_hook(void *ctx, const char *lines, size_t n);
/* Cuts path back to entries of steps <= keep_step (atomically); absent is fine. */
int train_runlog_truncate(const char *path, long keep_step, sp_err *err);

#endif
