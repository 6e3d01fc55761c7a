/* model.h - the Llama 2 architecture in float32 on the CPU: configuration, the parameter layout,
 * forward and backward over a batch, and the layer ops ("CPU twins") the CUDA path mirrors kernel by
 * kernel (train/cuda, issue 9). Layout follows llm.c: every parameter lives in one arena (so do the
 * gradients and the AdamW moments, same layout), each tensor kind holds all layers contiguously.
 * Weights use HuggingFace's shapes ([out, in], y = x W^T) so checkpoints need no transposes.
 * Ownership: model_init allocates the arenas and activations the caller frees with model_release;
 * batch arrays are borrowed for the duration of a call. Not thread-safe (it uses its own threads). */
#ifndef SPINDLE_TRAIN_MODEL_H
#define SPINDLE_TRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"

typedef struct model_config {
	int dim, n_layers, n_heads, n_kv_heads, hidden_dim, vocab_size, max_seq_len;
	float norm_eps, rope_theta;
	int reward_head;      /* 1: scalar reward head (score [1,D]) instead of the LM head */
} model_config;

/* Fills cfg with a named preset (tiny, small, 10m, 110m, 1b, 7b) for vocab_size tokens.
 * Returns 0 or SP_EUSAGE for an unknown name. */
int model_preset(model_config *cfg, const char *name, int vocab_size, sp_err *err);
/* Checks shapes (heads divide dim, kv heads divide heads, even head size). */
int model_config_check(const model_config *cfg, sp_err *err);

/* Parameter tensors, in arena order. Layer tensors hold n_layers slices. */
enum {
	P_EMBED, P_ATTN_NORM, P_WQ, P_WK, P_WV, P_WO, P_FFN_NORM, P_WGATE, P_WUP, P_WDOWN,
	P_FINAL_NORM, P_LM_HEAD, P_SCORE, P_COUNT
};

typedef struct model_tensor_info {
	size_t size;            /* floats in all layers together */
	size_t layer_size;      /* floats per layer (= size for non-layer tensors) */
	int per_layer;
	int rows, cols;         /* shape of one slice ([out, in] for linear maps; rows = 1 for vectors) */
	int decay;              /* AdamW weight decay applies (matrices, not norms) */
	const char *hf_name;    /* HuggingFace name; "%d" is the layer */
} model_tensor_info;

void model_tensor_infos(const model_config *cfg, model_tensor_info out[P_COUNT]);

/* A batch: B rows of T positions. targets < 0 are ignored by the loss (padding, prompt tokens).
 * pos: the rotary position of each token; seg: document number per token (attention stays within a
 * document) or NULL for plain causal attention. For a reward model, last[b] is the position whose
 * hidden state is scored. */
typedef struct model_batch {
	int B, T;
	const int32_t *inputs, *targets, *pos, *seg, *last;
} model_batch;

typedef struct model {
	model_config cfg;
	model_tensor_info ti[P_COUNT];
	size_t n_params;
	float *params, *grads;          /* arenas, n_params floats each */
	float *p[P_COUNT], *g[P_COUNT]; /* tensors pointing into the arenas */
	float *rope_cos, *rope_sin;     /* [max_seq_len, head_dim/2] */
	/* activations for a batch of up to B_max x T_max */
	int B_max, T_max;
	float *acts;
	size_t n_acts;
	float *resid, *xn1, *rstd1, *q, *k, *v, *att, *ao, *resid_mid, *xn2, *rstd2, *hg, *hu, *hs;
	float *xnf, *rstdf, *logits, *losses, *lse, *rewards;
	/* backward scratch (one layer at a time) */
	float *d_resid, *d_xn, *d_q, *d_k, *d_v, *d_att, *d_ao, *d_hg, *d_hu, *d_hs, *d_tmp;
	/* optional: called by the backward as each stage's gradients become final (grad_plan.h's
	 * stages: 0 head and final norm, 1 + j layer L-1-j, L + 1 embeddings), for data parallelism;
	 * also with stage -1 between a layer's large products (nothing new is final: a chance to move
	 * an exchange on) */
	void (*grad_ready)(void *ctx, int stage);
	void *grad_ready_ctx;
} model;

/* Allocates parameters (zeroed: call model_init_weights or load a checkpoint), gradients and
 * activations for batches up to B_max x T_max (T_max <= cfg->max_seq_len). */
int model_init(model *m, const model_config *cfg, int B_max, int T_max, sp_err *err);
void model_release(model *m);
/* Llama initialisation: matrices N(0, 0.02), norms 1, from a seeded generator. */
void model_init_weights(model *m, uint64_t seed);

/* Forward over the batch. LM: per-position losses in m->losses (0 where target < 0) and the mean
 * over counted targets in *mean_loss (NaN if none); logits stay in m->logits. Reward model:
 * rewards in m->rewards[B]; *mean_loss is 0. */
void model_forward(model *m, const model_batch *b, float *mean_loss, size_t *n_counted);
/* Backward after model_forward: adds to m->grads. LM: dloss is the weight of each counted target
 * (e.g. 1/(tokens in the accumulated batch)). Reward model: d_rewards[B] is dLoss/dreward.
 * Overwrites m->logits with their gradient. */
void model_backward(model *m, const model_batch *b, float dloss, const float *d_rewards);
void model_zero_grad(model *m);
/* LM backward with a weight per position (B x T): dtok[i] is dLoss/d(-log p(targets[i])), so
 * sequence-level objectives (DPO) weight each row's tokens by their own coefficient. */
void model_backward_tokens(model *m, const model_batch *b, const float *dtok);
/* Backward from m->d_xn = dLoss/d(final norm output) [B*T, D] (a head's gradient, e.g. PPO's policy
 * or value loss, computed by the caller) down to the embeddings; adds to m->grads (not the head's). */
void model_backward_hidden(model *m, const model_batch *b);

/* Llama 2 reward-model ranking loss over pairs: rewards of chosen and rejected, margins m.
 * loss = mean(-log sigmoid(rc - rr - m)); fills d_chosen/d_rejected (dLoss/dr) when not NULL. */
float rm_loss(const float *r_chosen, const float *r_rejected, const float *margin, int n,
              float *d_chosen, float *d_rejected);

/* Loops with less work than this (elements, or multiply-adds / 16 for matrix products) run on one
 * thread: a team's barriers cost more than they save, badly so on a loaded machine. */
#define PAR_MIN_WORK ((size_t)1 << 18)

/* ---------------------------------------------------------------- layer ops (CPU twins)
 * Argument order: outputs first, then inputs, then sizes (as the CUDA kernels). Backward functions
 * ADD into their input gradients (d_inp, d_weight), so residual branches sum naturally. */
void encoder_forward(float *out, const int32_t *tokens, const float *wte, int N, int D);
void encoder_backward(float *d_wte, const float *d_out, const int32_t *tokens, int N, int D);
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int D, float eps);
void rmsnorm_backward(float *d_inp, float *d_weight, const float *d_out, const float *inp,
                      const float *weight, const float *rstd, int N, int D);
/* out[N,OC] = inp[N,C] W[OC,C]^T */
void matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC);
/* d_W[OC,C] += d_out^T inp; d_inp[N,C] = d_out W (acc_inp 0) or += it (acc_inp 1). d_inp or d_weight
 * may be NULL. (The first product into a buffer sets it, so the buffer needs no zeroing.) */
void matmul_backward(float *d_inp, int acc_inp, float *d_weight, const float *d_out, const float *inp,
                     const float *weight, int N, int C, int OC);
/* Rotates x [N, n_heads, head_dim] in place by position (HuggingFace rotate_half layout). */
void rope_forward(float *x, const int32_t *pos, const float *cos_t, const float *sin_t, int N, int n_heads, int head_dim);
void rope_backward(float *d_x, const int32_t *pos, const float *cos_t, const float *sin_t, int N, int n_heads, int head_dim);
/* q [B,T,H,hd], k/v [B,T,KVH,hd]; att [B,H,T,T] keeps the probabilities; seg may be NULL.
 * d_att is scratch of omp_get_max_threads() T x T blocks. */
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       const int32_t *seg, int B, int T, int H, int KVH, int hd);
void attention_backward(float *d_q, float *d_k, float *d_v, float *d_att, const float *d_out,
                        const float *q, const float *k, const float *v, const float *att,
                        int B, int T, int H, int KVH, int hd);
void swiglu_forward(float *out, const float *gate, const float *up, size_t n);
/* Sets d_gate and d_up (does not add to them), as the CUDA twin. */
void swiglu_backward(float *d_gate, float *d_up, const float *d_out, const float *gate, const float *up, size_t n);
void residual_forward(float *out, const float *a, const float *b, size_t n);
/* losses[i] = -log softmax(logits[i])[targets[i]] and lse[i] = log sum exp(logits[i]) (both 0 where
 * targets[i] < 0). */
void crossentropy_forward(float *losses, float *lse, const float *logits, const int32_t *targets, int N, int V);
/* logits[N,V] becomes dloss * (softmax - onehot) in place (softmax from the forward's lse), 0 rows
 * where targets < 0. */
void crossentropy_backward(float *logits, const float *lse, const int32_t *targets, float dloss, int N, int V);
/* As crossentropy_backward with a weight per position: row i becomes w[i] * (softmax - onehot). */
void crossentropy_backward_weighted(float *logits, const float *lse, const int32_t *targets, const float *w, int N, int V);

#endif
