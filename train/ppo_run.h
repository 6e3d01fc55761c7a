/* ppo_run.h - a PPO run for RLHF (issue 13): the policy (from an SFT/RS checkpoint), the frozen
 * reference (the initial policy), the frozen reward models (reward.h), the critic (a value model: a
 * reward-head model initialised from a reward model, trained with its own AdamW), the rollouts of one
 * iteration, and checkpoints that a resumed run continues bit for bit. ppo.c does the maths;
 * cli_ppo.c the options and messages. Ownership: the run owns its models, optimizers and rollouts;
 * the tokenizer, prompts and reward models are borrowed for the run's life. */
#ifndef SPINDLE_TRAIN_PPO_RUN_H
#define SPINDLE_TRAIN_PPO_RUN_H

#include <stdio.h>
#include "adamw.h"
#include "ppo.h"
#include "reward.h"
#include "decode_batch.h"
#include "dist.h"
#include "sample.h"
#include "spindle/buf.h"

typedef struct ppo_run_opts {
	ppo_hparams h;
	long iterations, rollouts, minibatch, micro, epochs, max_new, save_every;
	long gen_batch;         /* rollouts sampled together (batched KV-cache decoding) */
	float lr, critic_lr, clip_grad, no_eos_penalty;
	float spike_k;          /* a policy gradient norm above mean + k std is a spike (0 = off) */
	long spike_warmup;      /* mini-batch steps of statistics before spikes are judged */
	int skip_spikes;        /* drop a spiking mini-batch's update */
	adamw_hparams hp;
	uint64_t seed;
} ppo_run_opts;

void ppo_run_opts_default(ppo_run_opts *o);

typedef struct ppo_run {
	ppo_run_opts o;
	const tok_model *tok;
	const rl_prompts *ps;
	reward_set *rs;
	model pol, ref, critic;
	adamw_state opt_p, opt_c;
	decode_batch db;
	ppo_scratch scr;
	ppo_rollout *ro;
	ppo_rollout **rp;
	long n_ro;
	uint32_t *perm;
	uint64_t epoch, index;   /* prompt cursor: position in the epoch's seeded permutation */
	long iter;               /* iterations done */
	double spike_mean, spike_var;
	long spike_n, n_spikes;
	sp_buf line;
	char init_from[1024];
	/* early stopping on held-out prompts (Llama 2 ran 200-400 iterations "with early stopping"):
	 * set by the caller after ppo_run_init */
	const rl_prompts *eval_ps;   /* NULL: no evaluation */
	long eval_every, patience;   /* patience 0: evaluate and log, never stop */
	char best_dir[1024];         /* the best-evaluated policy is saved here ("" = not saved) */
	double eval_best;            /* best held-out reward so far (-inf before the first) */
	long eval_bad;               /* evaluations since the best */
	int stop;                    /* set when patience ran out */
	/* data parallelism (ppo_run_set_comm): this rank samples and trains on rollouts [lo, hi) of each
	 * iteration's; the whole batch's statistics and the gradients are exchanged over comm */
	dist_comm *comm;             /* NULL: one process (borrowed) */
	int rank, world;
	long lo, hi;
	double reward_mean;          /* the last iteration's mean combined reward over every rank's rollouts */
} ppo_run;

/* Loads the policy and reference from policy_dir and the critic from critic_dir, refusing by name a
 * reward model as the policy, a language model as the critic, and tokenizer identities other than
 * tok's. */
int ppo_run_init(ppo_run *r, const ppo_run_opts *o, const char *policy_dir, const char *critic_dir, const tok_model *tok,
                 const rl_prompts *ps, reward_set *rs, sp_err *err);
/* Spreads the run over c's ranks (NULL: one process, the default): SP_EUSAGE, the same on every
 * rank, when the rollouts make fewer sampling chunks (--gen-batch) than there are ranks. */
int ppo_run_set_comm(ppo_run *r, dist_comm *c, sp_err *err);
/* Restores a checkpoint folder written by ppo_run_save (policy, critic, both optimizers, cursor,
 * spike statistics, iteration). */
int ppo_run_resume(ppo_run *r, const char *dir, sp_err *err);
/* One iteration: rollouts, scores, reference/critic forwards, GAE, then epochs x mini-batch steps.
 * Writes one JSON line (schemas/train-ppo-log.schema.json) to log when not NULL (rank 0's: the
 * statistics of the other ranks' rollouts reach rank 0 alone). Collective when spread over ranks. */
int ppo_run_iteration(ppo_run *r, FILE *log, sp_err *err);
/* Held-out evaluation: one sample per prompt of ev (the same random streams at every call), scored;
 * *mean is the mean combined reward. Spread over ranks by sampling chunks; *mean on every rank. */
int ppo_run_eval(ppo_run *r, const rl_prompts *ev, double *mean, sp_err *err);
/* Writes dir/{model.safetensors, config.json, optimizer.safetensors}, dir/critic/(the same), then
 * dir/ppo_state.json last (every file atomically). */
int ppo_run_save(ppo_run *r, const char *dir, sp_err *err);
void ppo_run_release(ppo_run *r);

#endif
