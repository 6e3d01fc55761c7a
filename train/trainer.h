/* trainer.h - the training loop: gradient accumulation, clipping, AdamW on the Llama 2 schedule,
 * JSONL step logs, loss-spike detection (with the batch's provenance, and optional skipping), and
 * checkpoints that a resumed run continues from bit for bit (model, optimizer moments, RNG, data
 * cursor, spike statistics). Used by `spindle train pretrain|sft|rm` (cli_train.c), `train dpo`
 * (cli_dpo.c, through a train_hook) and the tests.
 * Ownership: trainer_init takes the data source (borrowed: the caller frees it after
 * trainer_release); the trainer owns its model, optimizer and batch. */
#ifndef SPINDLE_TRAIN_TRAINER_H
#define SPINDLE_TRAIN_TRAINER_H

#include <stdio.h>
#include "adamw.h"
#include "data.h"
#include "grad_plan.h"
#include "model.h"
#include "rng.h"

enum { TRAIN_LM = 0, TRAIN_RM = 1, TRAIN_HOOK = 2 };

struct trainer;
enum { TRAIN_HOOK_MAX_SUMS = 12 };
/* A mode that brings its own micro-batch (TRAIN_HOOK: DPO, train/dpo.c). Batches hold pairs (2 x
 * batch rows) as for TRAIN_RM; checkpoints and --resume are the trainer's own. Data-parallel ranks
 * (t->comm) run it as the other modes: each rank its own micro-batches, gradients summed in rank
 * order, the step's statistics summed over ranks before the log (rank 0's) is written. */
typedef struct train_hook {
	const char *name;        /* trainer_state.json's "mode" */
	void *ctx;
	/* forward and backward of micro-batch b on t->m: adds the gradients of its loss divided by
	 * trainer_grad_divisor(t) (the step's micro-batches over all ranks); *loss: the micro-batch's
	 * mean loss (the trainer sums them over micro-batches and ranks) */
	int (*micro)(void *ctx, struct trainer *t, train_batch *b, double *loss, sp_err *err);
	/* the step's own statistics: micro adds each micro-batch's share to sums[0..n_sums) (in one
	 * addition per micro-batch, so that W ranks with --accum 1 sum to one process's bits with
	 * --accum W); the trainer zeroes them before a step and sums them over ranks before log */
	double *sums;
	int n_sums;              /* at most TRAIN_HOOK_MAX_SUMS */
	/* appends the step's own fields, from sums, to its log line (",\"key\":value,...") */
	void (*log)(void *ctx, sp_buf *line);
	/* micro runs exactly one backward of t->m (model_backward*), so the ranks' exchange may start
	 * on gradient buckets as that backward finishes them (o.bucket_mb) */
	int one_backward;
} train_hook;

typedef struct train_opts {
	int mode;                /* TRAIN_LM (pretrain, sft) or TRAIN_RM */
	long steps, warmup, save_every;
	int batch, accum;        /* rows per micro-batch (RM: pairs), micro-batches per step */
	float lr, min_lr_ratio, clip;
	adamw_hparams hp;
	uint64_t seed;
	float spike_k;           /* a loss above mean + k std is a spike (0 = off) */
	long spike_warmup;       /* steps of statistics before spikes are judged */
	int skip_spikes;         /* drop the update of a spiking batch */
	uint64_t tokenizer_id;
	int bos, eos;
	int device_acts;         /* activations live on a device (train_device): the host model keeps none */
	int log_batches;         /* every step line carries its batch's provenance ("batch", all ranks') */
	float bucket_mb;  /* data parallelism: gradient bucket size in MB (0: exchange after the backward in one piece) */
} train_opts;

void train_opts_default(train_opts *o);

typedef struct trainer {
	train_opts o;
	model m;
	adamw_state opt;
	train_data *data;
	train_batch batch;
	train_rng rng;
	long step;
	uint64_t tokens;
	double spike_mean, spike_var;
	long spike_n, n_spikes;
	float last_loss;
	FILE *log;               /* JSONL step log; NULL = silent */
	/* when set, the step log's lines go here instead of log (the CLI's train_runlog: run folder,
	 * stdout, terminal progress) */
	void (*on_log)(void *ctx, const char *lines, size_t n);
	void *log_ctx;
	sp_buf line, prov;
	struct train_device *dev; /* device hook (device.h, train/cuda): NULL = the CPU; borrowed */
	const train_hook *hook;  /* TRAIN_HOOK's micro-batch (CPU only; data-parallel too); borrowed */
	/* data parallelism (issue 18): the MPI group (dist.h; NULL = one process; borrowed). On the CPU
	 * the step's gradient is the sum, in global micro-batch order, of each micro-batch's gradient
	 * scaled by 1/(accum x ranks): ranks sum theirs in rank order, so W ranks with --accum 1 give
	 * one process's bits with --accum W. Loss, tokens and accuracy are sums over ranks. */
	struct dist_comm *comm;
	float *acc;               /* the running micro-batch sum when accum > 1 (CPU) */
	/* the exchange overlapped with the last micro-batch's backward (o.bucket_mb > 0, CPU ranks):
	 * buckets in backward order, the next one to start, an error met inside the backward */
	grad_plan plan;
	int next_bucket, overlap_failed, buckets_early;
	sp_err overlap_err;
} trainer;

/* Builds the model for cfg (weights initialised from o->seed), the optimizer and the batch buffer. */
int trainer_init(trainer *t, const train_opts *o, const model_config *cfg, train_data *d, FILE *log, sp_err *err);
/* Restores a checkpoint directory written by trainer_save (model, optimizer, RNG, cursor). */
int trainer_resume(trainer *t, const char *dir, sp_err *err);
/* One optimizer step over accum micro-batches; logs one JSON line. */
int trainer_step(trainer *t, sp_err *err);
/* What each micro-batch's loss gradient is divided by: accum x ranks on the CPU (ranks sum their
 * gradients), accum on a device (its NCCL group averages). */
int trainer_grad_divisor(const trainer *t);
/* Writes the checkpoint (model.safetensors, config.json, optimizer.safetensors, trainer_state.json). */
int trainer_save(trainer *t, const char *dir, sp_err *err);
void trainer_release(trainer *t);

#endif
