/* ppo.h - the maths of PPO for RLHF (issue 13; InstructGPT / Llama 2 section 3.2.3) on the CPU
 * reference model: per-token log-probs and entropy of sampled tokens at a temperature, the per-token
 * KL penalty (k1 = log pi - log pi_ref) with the score added at the last action, generalised advantage
 * estimation, advantage whitening, and one mini-batch's gradients of the clipped surrogate (policy)
 * and the clipped value loss (critic: a reward-head model whose score head is read at every position).
 * No sampling, no optimizer steps and no files here (cli_ppo.c). Ownership: rollouts and the scratch
 * are caller storage released with their _release functions; models are borrowed. */
#ifndef SPINDLE_TRAIN_PPO_H
#define SPINDLE_TRAIN_PPO_H

#include <stdint.h>
#include "model.h"

typedef struct ppo_hparams {
	float temperature;      /* the policy is softmax(logits / temperature) (default 1) */
	float beta;             /* KL penalty coefficient (Llama 2: 0.01 for 7B/13B, 0.005 larger) */
	float gamma, lambda;    /* GAE (default 1, 0.95) */
	float clip;             /* policy ratio clip epsilon (0.2) */
	float vclip;            /* value clip around the rollout's values (0.2) */
	float whiten_eps;       /* whitening: (x - mean) / sqrt(population var + eps) (1e-8) */
} ppo_hparams;

void ppo_hparams_default(ppo_hparams *h);

/* One rollout: the prompt tokens then the actions (the response's tokens and, when the policy stopped,
 * its EOS). Action j sits at position P + j and is predicted at position P + j - 1. */
typedef struct ppo_rollout {
	int32_t *tok;           /* P + L tokens, owned */
	int P, L, stopped;
	int prompt;             /* index of its prompt */
	double r_h, r_s, r_c;   /* reward scores (sigmoid; NaN when a model is absent) */
	float score;            /* the sequence-level reward added at the last action */
	/* per action [L], owned */
	float *logp_old, *logp_ref, *entropy, *values, *rewards, *adv, *ret;
} ppo_rollout;

/* Allocates r's arrays for P + L tokens (copies tok). Returns 0 or SP_ENOMEM. */
int ppo_rollout_init(ppo_rollout *r, const int32_t *tok, int P, int L, sp_err *err);
void ppo_rollout_release(ppo_rollout *r);

/* Batch scratch for up to B rows of T tokens. */
typedef struct ppo_scratch {
	int B, T;
	int32_t *inputs, *targets, *pos, *last;
	int32_t *act;                                       /* per position: the action it predicts or -1 */
	float *lp_old, *adv, *loss, *clipped, *kl, *ratio;  /* per position */
} ppo_scratch;
int ppo_scratch_init(ppo_scratch *s, int B, int T, sp_err *err);
void ppo_scratch_release(ppo_scratch *s);

/* log softmax(z / temp)[target] of one row of V logits, and the entropy of softmax(z / temp)
 * (entropy may be NULL). Sums in double. */
float ppo_token_logprob(const float *z, int V, float temp, int32_t target, float *entropy);
/* Generalised advantage estimation over one rollout's L actions: delta_t = r_t + gamma v_{t+1} - v_t
 * (v_L = 0), adv_t = delta_t + gamma lambda adv_{t+1}, ret_t = adv_t + v_t. Sums in double. */
void ppo_gae(const float *r, const float *v, int L, float gamma, float lambda, float *adv, float *ret);

/* ---------------------------------------------------------------- ops (CPU twins of train/cuda/ppo.cu)
 * Row i of N holds V logits; act[i] is the action it predicts or < 0 for a row without one. */
/* logp[i] = ppo_token_logprob(row i) and entropy[i] (may be NULL) for rows with an action. */
void ppo_logprobs(float *logp, float *entropy, const float *logits, const int32_t *act, int N, int V, float temp);
/* The clipped surrogate's gradient w.r.t. the logits, in place: rows without an action become 0, the
 * others scale * dl/dz of l = max(-A r, -A clip(r, 1 - clip, 1 + clip)), r = exp(logp - logp_old).
 * Per row: loss[i] = l, clipped[i] = 1 when the clipped term is the active one, kl[i] = r - 1 - log r,
 * ratio[i] = r (all 0 without an action). */
void ppo_policy_grad(float *logits, float *loss, float *clipped, float *kl, float *ratio, const int32_t *act,
                     const float *logp_old, const float *adv, int N, int V, float temp, float clip, float scale);
/* ppo_gae over n rollouts stored back to back: rollout i is [off[i], off[i+1]). */
void ppo_gae_batch(float *adv, float *ret, const float *r, const float *v, const int *off, int n, float gamma, float lambda);

/* Fills logp (and entropy when not NULL) of the n rollouts' actions under m (an LM) at temp, in
 * micro-batches of s->B rows: which = 0 writes logp_old and entropy, 1 writes logp_ref. */
void ppo_eval_policy(model *m, ppo_rollout *const *rs, int n, float temp, int which, ppo_scratch *s);
/* Fills values of the n rollouts' actions (the critic read at each action's predicting position). */
void ppo_eval_critic(model *critic, ppo_rollout *const *rs, int n, ppo_scratch *s);
/* After the scores are set: per-token rewards (-beta k1, plus score at the last action), GAE, then the
 * advantages whitened over every action of the n rollouts. */
void ppo_prepare(ppo_rollout *const *rs, int n, const ppo_hparams *h);
/* ppo_prepare in pieces, for advantages whitened over rollouts spread across ranks (ppo_run.c):
 * the per-token rewards and GAE of n rollouts; the whitening's mean and 1/sqrt(var + eps) of n
 * advantages, summed in order (0 when n is 0: nothing to whiten); and its application. */
void ppo_rewards_gae(ppo_rollout *const *rs, int n, const ppo_hparams *h);
int ppo_whiten_moments(const float *adv, size_t n, float eps, double *mean, double *inv);
void ppo_whiten_apply(ppo_rollout *const *rs, int n, double mean, double inv);

typedef struct ppo_stats {
	double pg_loss, v_loss, clip_frac, approx_kl, ratio_mean;
	long n_tokens;
} ppo_stats;

/* One mini-batch: zeroes both models' gradients, then adds the gradients of
 *   policy: mean over the mini-batch's action tokens of max(-A r, -A clip(r, 1 - eps, 1 + eps)),
 *           r = exp(logp - logp_old)
 *   critic: mean over the same tokens of 0.5 max((V - R)^2, (V_clip - R)^2),
 *           V_clip = V_old + clip(V - V_old, -vclip, vclip)
 * in micro-batches of s->B rows. critic may be NULL. approx_kl is mean(r - 1 - log r); clip_frac the
 * fraction of tokens whose clipped term is the active one. The caller clips and steps. */
void ppo_minibatch(model *policy, model *critic, ppo_rollout *const *rs, int n, const ppo_hparams *h, ppo_scratch *s,
                   ppo_stats *st);
/* One rank's part of a mini-batch spread across ranks: ppo_minibatch of its n rollouts with the
 * means taken over ntok_all tokens (the whole mini-batch's; <= 0: its own), so the ranks' gradients
 * and statistics add up to the whole mini-batch's. n may be 0 (zero gradients). */
void ppo_minibatch_part(model *policy, model *critic, ppo_rollout *const *rs, int n, long ntok_all, const ppo_hparams *h,
                        ppo_scratch *s, ppo_stats *st);

#endif
