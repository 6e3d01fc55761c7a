/* gpu.h - the C bridge to the CUDA trainer (issue 9): device queries and memory, the layer ops as
 * "GPU twins" of the CPU ops in model.h (same names with a gpu_ prefix, same argument order:
 * outputs, inputs, sizes), the whole model on the device (gpu_model: forward, backward, clipping,
 * AdamW, parameter transfers for checkpoints) and KV-cache decoding for sampling.
 *
 * Precision: parameters are fp32 masters with bf16 copies for the matrix products; gradients and
 * AdamW moments are fp32. Activations that feed a matrix product are bf16 (gpu_bf16 below), the
 * residual stream, norms' statistics, the gradient of the residual stream and losses are fp32.
 * Matrix products go through cuBLAS (bf16 in, fp32 accumulate; output bf16 or fp32).
 *
 * Pointers named in these functions are device pointers unless the name ends in _host. Every CUDA
 * call and launch is checked; a failure prints "spindle: CUDA error at FILE:LINE: ..." and exits
 * (a faulted device cannot be recovered from). Functions return after queueing work on the default
 * stream except where they return host values (they synchronise then).
 * Only built by `make cuda` (nvcc); the plain build never includes this header. */
#ifndef SPINDLE_TRAIN_CUDA_GPU_H
#define SPINDLE_TRAIN_CUDA_GPU_H

#include <stddef.h>
#include <stdint.h>
#include "../model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t gpu_bf16;   /* bfloat16 bits (same layout as __nv_bfloat16) */

/* ---------------------------------------------------------------- device and memory */
/* Number of usable CUDA devices (0 when none: why_host says why, e.g. "no CUDA-capable device").
 * Fills name_host with device 0's name when there is one. Never exits. */
int gpu_device_count(char *name_host, size_t name_len, char *why_host, size_t why_len);
void *gpu_malloc(size_t bytes);
void gpu_free(void *p);
void gpu_upload(void *dst, const void *src_host, size_t bytes);
void gpu_download(void *dst_host, const void *src, size_t bytes);
void gpu_memset0(void *p, size_t bytes);
/* fills with 0xFF bytes: NaN as fp32 and as bf16, so an element a kernel forgot to write shows */
void gpu_poison(void *p, size_t bytes);
void gpu_sync(void);
void gpu_f32_to_bf16(gpu_bf16 *out, const float *in, size_t n);
void gpu_bf16_to_f32(float *out, const gpu_bf16 *in, size_t n);

/* ---------------------------------------------------------------- layer ops (GPU twins)
 * Differences from the CPU twins, all deliberate: backward ops OVERWRITE d_inp-style outputs the CPU
 * twin adds into a zeroed buffer (gpu_rmsnorm_backward and gpu_matmul_backward do add, like the CPU),
 * and weight gradients always add. */
void gpu_encoder_forward(float *out, const int32_t *tokens, const float *wte, int N, int D);
/* Deterministic scatter-add: the host groups positions by token (device_token_groups in
 * train/device.h): uniq[n_uniq] tokens, starts[n_uniq+1] into idx[N] positions. */
void gpu_encoder_backward(float *d_wte, const float *d_out, const int32_t *uniq, const int32_t *starts,
                          const int32_t *idx, int n_uniq, int D);
void gpu_rmsnorm_forward(gpu_bf16 *out, float *rstd, const float *inp, const float *weight, int N, int D, float eps);
/* d_inp += ..., d_weight += ...; d_out is fp32 */
void gpu_rmsnorm_backward(float *d_inp, float *d_weight, const float *d_out, const float *inp,
                          const float *weight, const float *rstd, int N, int D);
/* out[N,OC] = inp[N,C] W[OC,C]^T; out is fp32 when out_f32, else bf16 */
void gpu_matmul_forward(void *out, int out_f32, const gpu_bf16 *inp, const gpu_bf16 *weight, int N, int C, int OC);
/* d_inp[N,C] += d_out W (fp32 when d_inp_f32; NULL to skip), d_weight[OC,C] += d_out^T inp (fp32) */
void gpu_matmul_backward(void *d_inp, int d_inp_f32, float *d_weight, const gpu_bf16 *d_out, const gpu_bf16 *inp,
                         const gpu_bf16 *weight, int N, int C, int OC);
void gpu_rope_forward(gpu_bf16 *x, const int32_t *pos, const float *cos_t, const float *sin_t, int N, int n_heads, int head_dim);
void gpu_rope_backward(gpu_bf16 *d_x, const int32_t *pos, const float *cos_t, const float *sin_t, int N, int n_heads, int head_dim);
/* Naive attention (the oracle for the fused kernel): att [B,H,T,T] fp32 probabilities (0 where masked). */
void gpu_attention_forward(gpu_bf16 *out, float *att, const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v,
                           const int32_t *seg, int B, int T, int H, int KVH, int hd);
/* d_att: scratch [B,H,T,T]; d_q, d_k, d_v are written (not added) */
void gpu_attention_backward(gpu_bf16 *d_q, gpu_bf16 *d_k, gpu_bf16 *d_v, float *d_att, const gpu_bf16 *d_out,
                            const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v, const float *att,
                            int B, int T, int H, int KVH, int hd);
void gpu_swiglu_forward(gpu_bf16 *out, const gpu_bf16 *gate, const gpu_bf16 *up, size_t n);
/* d_gate, d_up written */
void gpu_swiglu_backward(gpu_bf16 *d_gate, gpu_bf16 *d_up, const gpu_bf16 *d_out, const gpu_bf16 *gate,
                         const gpu_bf16 *up, size_t n);
void gpu_residual_forward(float *out, const float *a, const float *b, size_t n);
/* losses as the CPU twin; lse[N] keeps each row's log-sum-exp for the backward pass, so the softmax
 * is never stored: forward reads the logits once, backward once more and writes the gradient in place. */
void gpu_crossentropy_forward(float *losses, float *lse, const gpu_bf16 *logits, const int32_t *targets, int N, int V);
void gpu_crossentropy_backward(gpu_bf16 *logits, const float *lse, const int32_t *targets, float dloss, int N, int V);
/* Sum of squares of g[0..n) into *out (device double), in a fixed order (deterministic). */
void gpu_sumsq(double *out, const float *g, size_t n, double *scratch);
/* One AdamW step on n parameters; g is multiplied by gscale first (clipping). Also refreshes the
 * bf16 copy p16 (may be NULL). */
void gpu_adamw(float *p, gpu_bf16 *p16, const float *g, float *m, float *v, size_t n, float lr, float beta1,
               float beta2, float eps, float wd, float c1, float c2, float gscale);
/* rewards[b] = xn[row_b] . w, row_b = b*T + last[b]; backward adds into d_xn (fp32) and d_w */
void gpu_reward_forward(float *rewards, const gpu_bf16 *xn, const float *w, const int32_t *last, int B, int T, int D);
void gpu_reward_backward(float *d_xn, float *d_w, const float *d_rewards, const gpu_bf16 *xn, const float *w,
                         const int32_t *last, int B, int T, int D);

/* ---------------------------------------------------------------- fused attention (issue 10)
 * Flash-attention-style: online softmax in tiles, no T x T matrix; causal, GQA, document masking,
 * head_dim 32, 64 or 128. lse[B,H,T] (natural log-sum-exp of the scaled scores) is kept for backward.
 * The backward recomputes probabilities from q, k and lse; d_q, d_k, d_v are written. */
int gpu_flash_supported(int hd);
void gpu_flash_forward(gpu_bf16 *out, float *lse, const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v,
                       const int32_t *seg, int B, int T, int H, int KVH, int hd);
void gpu_flash_backward(gpu_bf16 *d_q, gpu_bf16 *d_k, gpu_bf16 *d_v, float *scratch, const gpu_bf16 *d_out,
                        const gpu_bf16 *out, const gpu_bf16 *q, const gpu_bf16 *k, const gpu_bf16 *v,
                        const float *lse, const int32_t *seg, int B, int T, int H, int KVH, int hd);
/* floats of scratch gpu_flash_backward needs */
size_t gpu_flash_scratch(int B, int T, int H, int KVH, int hd);

/* ---------------------------------------------------------------- the model on the device */
typedef struct gpu_model gpu_model;

/* Allocates everything for m's configuration and batches up to B_max x T_max (independent of the
 * host model's own activation limits) and uploads m's parameters and rotary tables.
 * flash: use the fused attention kernel (head dim 32/64/128 only) instead of the naive one. */
gpu_model *gpu_model_create(const model *m, int B_max, int T_max, int flash);
void gpu_model_destroy(gpu_model *g);
size_t gpu_model_bytes(const gpu_model *g);
void gpu_model_upload_params(gpu_model *g, const float *params_host);
void gpu_model_download_params(const gpu_model *g, float *params_host);
void gpu_model_download_grads(const gpu_model *g, float *grads_host);
void gpu_model_upload_opt(gpu_model *g, const float *m_host, const float *v_host);
void gpu_model_download_opt(const gpu_model *g, float *m_host, float *v_host);
void gpu_model_zero_grad(gpu_model *g);
/* Fills every activation and scratch buffer with NaN (tests: an element no kernel wrote shows up). */
void gpu_model_poison(gpu_model *g);
/* As model_forward; losses_host[N] and rewards_host[B] (either may be NULL) receive copies. */
void gpu_model_forward(gpu_model *g, const model_batch *b, float *mean_loss, size_t *n_counted,
                       float *losses_host, float *rewards_host);
/* As model_backward (d_rewards_host: B floats, reward model only). */
void gpu_model_backward(gpu_model *g, const model_batch *b, float dloss, const float *d_rewards_host);
/* Logits of the last forward (fp32 copies of the bf16 logits, N x V) for tests and eval. */
void gpu_model_download_logits(const gpu_model *g, float *logits_host, size_t n);
/* Global gradient L2 norm (as adamw_clip computes it, without scaling). */
float gpu_model_grad_norm(gpu_model *g);
/* AdamW over every tensor (decay per tensor as adamw_update), step t (1-based, for bias correction),
 * gradients scaled by gscale first. */
void gpu_model_adamw(gpu_model *g, float lr, float beta1, float beta2, float eps, float weight_decay,
                     uint64_t t, float gscale);
/* Gradient all-reduce hook for data parallelism (gpu_dist.h): called between backward and the norm
 * (the whole exchange, or only the wait for the buckets the stage hook started). */
typedef void (*gpu_grad_hook)(void *ctx, float *grads, size_t n);
void gpu_model_set_grad_hook(gpu_model *g, gpu_grad_hook fn, void *ctx);
/* Stage hook (issue 18, overlapping the all-reduce with the backward): gpu_model_backward calls it
 * on the host once the kernels that finish a stage of grad_plan.h are queued on the default stream
 * (stage 0: head and final norm; L - l: layer l; L + 1: the embeddings), with the gradient arena.
 * The kernels may still be running: the hook orders its own work after them with an event. */
typedef void (*gpu_stage_hook)(void *ctx, int stage, float *grads);
void gpu_model_set_stage_hook(gpu_model *g, gpu_stage_hook fn, void *ctx);

/* ---------------------------------------------------------------- decoding with a KV cache */
typedef struct gpu_decoder gpu_decoder;
gpu_decoder *gpu_decoder_create(gpu_model *g, int n_ctx);
void gpu_decoder_destroy(gpu_decoder *d);
void gpu_decoder_reset(gpu_decoder *d);
int gpu_decoder_pos(const gpu_decoder *d);
/* Feeds token at the next position; fills logits_host[V] for the position after it. */
void gpu_decoder_step(gpu_decoder *d, int32_t token, float *logits_host);

/* ---------------------------------------------------------------- PPO (issue 13): twins of train/ppo.h's ops,
 * same arguments (device pointers; off is a device array of n + 1 ints). */
void gpu_ppo_logprobs(float *logp, float *entropy, const float *logits, const int32_t *act, int N, int V, float temp);
void gpu_ppo_policy_grad(float *logits, float *loss, float *clipped, float *kl, float *ratio, const int32_t *act,
                         const float *logp_old, const float *adv, int N, int V, float temp, float clip, float scale);
void gpu_ppo_gae_batch(float *adv, float *ret, const float *r, const float *v, const int *off, int n, float gamma, float lambda);

#ifdef __cplusplus
}
#endif
#endif
