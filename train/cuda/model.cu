/* model.cu - the Llama model on one GPU (gpu.h): device arenas laid out as the CPU model's (one
 * fp32 arena each for parameters, gradients and the two AdamW moments, plus a bf16 copy of the
 * parameters for the matrix products), forward and backward in the order of model.c, the global
 * gradient norm, AdamW, and KV-cache decoding. Host batches are copied in at each forward. */
#include <math.h>
#include <string.h>
#include "common.cuh"
#include "gpu.h"
#include "../device.h"

#define LAYER(ptr, l, per) ((ptr) + (size_t)(l) * (per))

struct gpu_model {
	model_config cfg;
	model_tensor_info ti[P_COUNT];
	size_t n_params, bytes;
	int B_max, T_max, flash;
	float *params, *grads, *m, *v;
	bf16 *p16;
	float *p[P_COUNT], *g[P_COUNT];
	bf16 *w[P_COUNT];
	float *rope_cos, *rope_sin;
	/* activations (per layer where the backward pass needs them) */
	float *resid, *rstd1, *mid, *rstd2, *rstdf, *losses, *lse, *rewards, *att;
	bf16 *xn1, *q, *k, *v_, *ao, *xn2, *hg, *hu, *hs, *xnf, *logits;
	/* backward scratch (one layer) */
	float *d_resid, *d_xn, *d_att, *d_rewards;
	bf16 *d_res16, *d_hs, *d_hg, *d_hu, *d_ao, *d_q, *d_k, *d_v;
	/* the batch on the device, and the host side of the embedding's scatter */
	int32_t *inputs, *targets, *pos, *seg, *last, *uniq, *starts, *idx;
	int32_t *h_uniq, *h_starts, *h_idx, *h_count;
	double *sumsq_part, *sumsq;
	gpu_grad_hook hook;
	void *hook_ctx;
	gpu_stage_hook stage_hook;
	void *stage_ctx;
	size_t att_per_layer;
};

static void *dalloc(gpu_model *g, size_t bytes)
{
	g->bytes += bytes;
	return gpu_malloc(bytes);
}

static void *halloc(size_t bytes)
{
	void *p = calloc(1, bytes ? bytes : 1);
	if (!p) {
		fprintf(stderr, "spindle: out of host memory (%zu bytes) for the GPU model\n", bytes);
		exit(2);
	}
	return p;
}

extern "C" gpu_model *gpu_model_create(const model *hm, int B_max, int T_max, int flash)
{
	const model_config *c = &hm->cfg;
	gpu_model *g = (gpu_model *)halloc(sizeof *g);
	g->cfg = *c;
	memcpy(g->ti, hm->ti, sizeof g->ti);
	g->n_params = hm->n_params;
	g->B_max = B_max;
	g->T_max = T_max;
	int L = c->n_layers, D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = D / H, KVD = KVH * hd;
	int F = c->hidden_dim, V = c->reward_head ? 0 : c->vocab_size;
	g->flash = flash && gpu_flash_supported(hd);
	size_t N = (size_t)g->B_max * g->T_max, T = (size_t)g->T_max, P = g->n_params;
	g->params = (float *)dalloc(g, P * 4);
	g->grads = (float *)dalloc(g, P * 4);
	g->m = (float *)dalloc(g, P * 4);
	g->v = (float *)dalloc(g, P * 4);
	g->p16 = (bf16 *)dalloc(g, P * 2);
	gpu_memset0(g->grads, P * 4);
	gpu_memset0(g->m, P * 4);
	gpu_memset0(g->v, P * 4);
	size_t off = 0;
	for (int i = 0; i < P_COUNT; i++) {
		g->p[i] = g->params + off;
		g->g[i] = g->grads + off;
		g->w[i] = g->p16 + off;
		off += g->ti[i].size;
	}
	size_t half = (size_t)c->max_seq_len * (hd / 2);
	g->rope_cos = (float *)dalloc(g, half * 4);
	g->rope_sin = (float *)dalloc(g, half * 4);
	gpu_upload(g->rope_cos, hm->rope_cos, half * 4);
	gpu_upload(g->rope_sin, hm->rope_sin, half * 4);
	g->att_per_layer = g->flash ? (size_t)g->B_max * H * T : (size_t)g->B_max * H * T * T;
	g->resid = (float *)dalloc(g, (L + 1) * N * D * 4);
	g->rstd1 = (float *)dalloc(g, L * N * 4);
	g->mid = (float *)dalloc(g, L * N * D * 4);
	g->rstd2 = (float *)dalloc(g, L * N * 4);
	g->rstdf = (float *)dalloc(g, N * 4);
	g->losses = (float *)dalloc(g, N * 4);
	g->lse = (float *)dalloc(g, N * 4);
	g->rewards = (float *)dalloc(g, g->B_max * 4);
	g->att = (float *)dalloc(g, L * g->att_per_layer * 4);
	g->xn1 = (bf16 *)dalloc(g, L * N * D * 2);
	g->q = (bf16 *)dalloc(g, L * N * D * 2);
	g->k = (bf16 *)dalloc(g, L * N * KVD * 2);
	g->v_ = (bf16 *)dalloc(g, L * N * KVD * 2);
	g->ao = (bf16 *)dalloc(g, L * N * D * 2);
	g->xn2 = (bf16 *)dalloc(g, L * N * D * 2);
	g->hg = (bf16 *)dalloc(g, L * N * F * 2);
	g->hu = (bf16 *)dalloc(g, L * N * F * 2);
	g->hs = (bf16 *)dalloc(g, L * N * F * 2);
	g->xnf = (bf16 *)dalloc(g, N * D * 2);
	g->logits = (bf16 *)dalloc(g, N * (size_t)V * 2);
	g->d_resid = (float *)dalloc(g, N * D * 4);
	g->d_xn = (float *)dalloc(g, N * D * 4);
	g->d_att = (float *)dalloc(g, (g->flash ? gpu_flash_scratch(g->B_max, g->T_max, H, KVH, hd)
	                                        : (size_t)g->B_max * H * T * T) * 4);
	g->d_rewards = (float *)dalloc(g, g->B_max * 4);
	g->d_res16 = (bf16 *)dalloc(g, N * D * 2);
	g->d_hs = (bf16 *)dalloc(g, N * F * 2);
	g->d_hg = (bf16 *)dalloc(g, N * F * 2);
	g->d_hu = (bf16 *)dalloc(g, N * F * 2);
	g->d_ao = (bf16 *)dalloc(g, N * D * 2);
	g->d_q = (bf16 *)dalloc(g, N * D * 2);
	g->d_k = (bf16 *)dalloc(g, N * KVD * 2);
	g->d_v = (bf16 *)dalloc(g, N * KVD * 2);
	g->inputs = (int32_t *)dalloc(g, N * 4);
	g->targets = (int32_t *)dalloc(g, N * 4);
	g->pos = (int32_t *)dalloc(g, N * 4);
	g->seg = (int32_t *)dalloc(g, N * 4);
	g->last = (int32_t *)dalloc(g, g->B_max * 4);
	g->uniq = (int32_t *)dalloc(g, N * 4);
	g->starts = (int32_t *)dalloc(g, (N + 1) * 4);
	g->idx = (int32_t *)dalloc(g, N * 4);
	g->sumsq_part = (double *)dalloc(g, 1024 * 8);
	g->sumsq = (double *)dalloc(g, 8);
	g->h_uniq = (int32_t *)halloc(N * 4);
	g->h_starts = (int32_t *)halloc((N + 1) * 4);
	g->h_idx = (int32_t *)halloc(N * 4);
	g->h_count = (int32_t *)halloc(((size_t)c->vocab_size + 1) * 4);
	gpu_model_upload_params(g, hm->params);
	return g;
}

extern "C" void gpu_model_destroy(gpu_model *g)
{
	if (!g)
		return;
	void *dev[] = { g->params, g->grads, g->m, g->v, g->p16, g->rope_cos, g->rope_sin, g->resid, g->rstd1, g->mid,
		g->rstd2, g->rstdf, g->losses, g->lse, g->rewards, g->att, g->xn1, g->q, g->k, g->v_, g->ao, g->xn2, g->hg,
		g->hu, g->hs, g->xnf, g->logits, g->d_resid, g->d_xn, g->d_att, g->d_rewards, g->d_res16, g->d_hs, g->d_hg,
		g->d_hu, g->d_ao, g->d_q, g->d_k, g->d_v, g->inputs, g->targets, g->pos, g->seg, g->last, g->uniq,
		g->starts, g->idx, g->sumsq_part, g->sumsq };
	for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
		gpu_free(dev[i]);
	free(g->h_uniq);
	free(g->h_starts);
	free(g->h_idx);
	free(g->h_count);
	free(g);
}

extern "C" size_t gpu_model_bytes(const gpu_model *g) { return g->bytes; }

extern "C" void gpu_model_upload_params(gpu_model *g, const float *params)
{
	gpu_upload(g->params, params, g->n_params * 4);
	gpu_f32_to_bf16((gpu_bf16 *)g->p16, g->params, g->n_params);
}

extern "C" void gpu_model_download_params(const gpu_model *g, float *params) { gpu_download(params, g->params, g->n_params * 4); }
extern "C" void gpu_model_download_grads(const gpu_model *g, float *grads) { gpu_download(grads, g->grads, g->n_params * 4); }

extern "C" void gpu_model_upload_opt(gpu_model *g, const float *m, const float *v)
{
	gpu_upload(g->m, m, g->n_params * 4);
	gpu_upload(g->v, v, g->n_params * 4);
}

extern "C" void gpu_model_download_opt(const gpu_model *g, float *m, float *v)
{
	gpu_download(m, g->m, g->n_params * 4);
	gpu_download(v, g->v, g->n_params * 4);
}

extern "C" void gpu_model_zero_grad(gpu_model *g) { gpu_memset0(g->grads, g->n_params * 4); }

extern "C" void gpu_model_poison(gpu_model *g)
{
	const model_config *c = &g->cfg;
	int L = c->n_layers, D = c->dim, H = c->n_heads, hd = D / H, KVD = c->n_kv_heads * hd, F = c->hidden_dim;
	size_t N = (size_t)g->B_max * g->T_max, V = c->reward_head ? 0 : (size_t)c->vocab_size;
	struct { void *p; size_t bytes; } b[] = {
		{ g->resid, (L + 1) * N * D * 4 }, { g->rstd1, L * N * 4 }, { g->mid, L * N * D * 4 }, { g->rstd2, L * N * 4 },
		{ g->rstdf, N * 4 }, { g->losses, N * 4 }, { g->lse, N * 4 }, { g->rewards, (size_t)g->B_max * 4 },
		{ g->att, L * g->att_per_layer * 4 }, { g->xn1, L * N * D * 2 }, { g->q, L * N * D * 2 },
		{ g->k, L * N * KVD * 2 }, { g->v_, L * N * KVD * 2 }, { g->ao, L * N * D * 2 }, { g->xn2, L * N * D * 2 },
		{ g->hg, L * N * F * 2 }, { g->hu, L * N * F * 2 }, { g->hs, L * N * F * 2 }, { g->xnf, N * D * 2 },
		{ g->logits, N * V * 2 }, { g->d_resid, N * D * 4 }, { g->d_xn, N * D * 4 }, { g->d_res16, N * D * 2 },
		{ g->d_hs, N * F * 2 }, { g->d_hg, N * F * 2 }, { g->d_hu, N * F * 2 }, { g->d_ao, N * D * 2 },
		{ g->d_q, N * D * 2 }, { g->d_k, N * KVD * 2 }, { g->d_v, N * KVD * 2 },
	};
	for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
		gpu_poison(b[i].p, b[i].bytes);
}

extern "C" void gpu_model_set_grad_hook(gpu_model *g, gpu_grad_hook fn, void *ctx)
{
	g->hook = fn;
	g->hook_ctx = ctx;
}

extern "C" void gpu_model_set_stage_hook(gpu_model *g, gpu_stage_hook fn, void *ctx)
{
	g->stage_hook = fn;
	g->stage_ctx = ctx;
}

/* the backward has queued every kernel of `stage` (grad_plan.h's numbering, as model.c's grad_ready) */
static void stage_done(gpu_model *g, int stage)
{
	if (g->stage_hook)
		g->stage_hook(g->stage_ctx, stage, g->grads);
}

static void upload_batch(gpu_model *g, const model_batch *b)
{
	size_t N = (size_t)b->B * b->T;
	if (b->B > g->B_max || b->T > g->T_max) {
		fprintf(stderr, "spindle: batch %dx%d exceeds the GPU model's %dx%d\n", b->B, b->T, g->B_max, g->T_max);
		exit(2);
	}
	gpu_upload(g->inputs, b->inputs, N * 4);
	if (b->targets)
		gpu_upload(g->targets, b->targets, N * 4);
	gpu_upload(g->pos, b->pos, N * 4);
	if (b->seg)
		gpu_upload(g->seg, b->seg, N * 4);
	if (g->cfg.reward_head)
		gpu_upload(g->last, b->last, (size_t)b->B * 4);
}

extern "C" void gpu_model_forward(gpu_model *g, const model_batch *b, float *mean_loss, size_t *n_counted,
                                  float *losses_host, float *rewards_host)
{
	const model_config *c = &g->cfg;
	int B = b->B, T = b->T, N = B * T, D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = D / H;
	int KVD = KVH * hd, F = c->hidden_dim, V = c->vocab_size;
	size_t NM = (size_t)g->B_max * g->T_max;
	const model_tensor_info *ti = g->ti;
	const int32_t *seg = b->seg ? g->seg : NULL;
	upload_batch(g, b);
	gpu_encoder_forward(g->resid, g->inputs, g->p[P_EMBED], N, D);
	for (int l = 0; l < c->n_layers; l++) {
#define PL(i) LAYER(g->p[i], l, ti[i].layer_size)
#define WL(i) ((gpu_bf16 *)LAYER(g->w[i], l, ti[i].layer_size))
		const float *x = LAYER(g->resid, l, NM * D);
		gpu_bf16 *xn1 = (gpu_bf16 *)LAYER(g->xn1, l, NM * D), *q = (gpu_bf16 *)LAYER(g->q, l, NM * D);
		gpu_bf16 *k = (gpu_bf16 *)LAYER(g->k, l, NM * KVD), *v = (gpu_bf16 *)LAYER(g->v_, l, NM * KVD);
		gpu_bf16 *ao = (gpu_bf16 *)LAYER(g->ao, l, NM * D), *xn2 = (gpu_bf16 *)LAYER(g->xn2, l, NM * D);
		gpu_bf16 *hg = (gpu_bf16 *)LAYER(g->hg, l, NM * F), *hu = (gpu_bf16 *)LAYER(g->hu, l, NM * F);
		gpu_bf16 *hs = (gpu_bf16 *)LAYER(g->hs, l, NM * F);
		float *rstd1 = LAYER(g->rstd1, l, NM), *rstd2 = LAYER(g->rstd2, l, NM), *mid = LAYER(g->mid, l, NM * D);
		float *att = LAYER(g->att, l, g->att_per_layer), *y = LAYER(g->resid, l + 1, NM * D);

		gpu_rmsnorm_forward(xn1, rstd1, x, PL(P_ATTN_NORM), N, D, c->norm_eps);
		gpu_matmul_forward(q, 0, xn1, WL(P_WQ), N, D, D);
		gpu_matmul_forward(k, 0, xn1, WL(P_WK), N, D, KVD);
		gpu_matmul_forward(v, 0, xn1, WL(P_WV), N, D, KVD);
		gpu_rope_forward(q, g->pos, g->rope_cos, g->rope_sin, N, H, hd);
		gpu_rope_forward(k, g->pos, g->rope_cos, g->rope_sin, N, KVH, hd);
		if (g->flash)
			gpu_flash_forward(ao, att, q, k, v, seg, B, T, H, KVH, hd);
		else
			gpu_attention_forward(ao, att, q, k, v, seg, B, T, H, KVH, hd);
		gpu_matmul_forward(mid, 1, ao, WL(P_WO), N, D, D);
		gpu_residual_forward(mid, mid, x, (size_t)N * D);
		gpu_rmsnorm_forward(xn2, rstd2, mid, PL(P_FFN_NORM), N, D, c->norm_eps);
		gpu_matmul_forward(hg, 0, xn2, WL(P_WGATE), N, D, F);
		gpu_matmul_forward(hu, 0, xn2, WL(P_WUP), N, D, F);
		gpu_swiglu_forward(hs, hg, hu, (size_t)N * F);
		gpu_matmul_forward(y, 1, hs, WL(P_WDOWN), N, F, D);
		gpu_residual_forward(y, y, mid, (size_t)N * D);
#undef PL
#undef WL
	}
	const float *top = LAYER(g->resid, c->n_layers, NM * D);
	gpu_rmsnorm_forward((gpu_bf16 *)g->xnf, g->rstdf, top, g->p[P_FINAL_NORM], N, D, c->norm_eps);
	if (c->reward_head) {
		gpu_reward_forward(g->rewards, (gpu_bf16 *)g->xnf, g->p[P_SCORE], g->last, B, T, D);
		if (rewards_host)
			gpu_download(rewards_host, g->rewards, (size_t)B * 4);
		if (mean_loss)
			*mean_loss = 0;
		if (n_counted)
			*n_counted = 0;
		return;
	}
	gpu_matmul_forward(g->logits, 0, (gpu_bf16 *)g->xnf, (gpu_bf16 *)g->w[P_LM_HEAD], N, D, V);
	gpu_crossentropy_forward(g->losses, g->lse, (gpu_bf16 *)g->logits, g->targets, N, V);
	float *losses = losses_host ? losses_host : (float *)halloc((size_t)N * 4);
	gpu_download(losses, g->losses, (size_t)N * 4);
	double s = 0;
	size_t n = 0;
	for (int i = 0; i < N; i++)
		if (b->targets[i] >= 0) {
			s += losses[i];
			n++;
		}
	if (!losses_host)
		free(losses);
	if (mean_loss)
		*mean_loss = n ? (float)(s / n) : NAN;
	if (n_counted)
		*n_counted = n;
}

extern "C" void gpu_model_download_logits(const gpu_model *g, float *logits_host, size_t n)
{
	float *tmp = (float *)gpu_malloc(n * 4);
	gpu_bf16_to_f32(tmp, (const gpu_bf16 *)g->logits, n);
	gpu_download(logits_host, tmp, n * 4);
	gpu_free(tmp);
}

extern "C" void gpu_model_backward(gpu_model *g, const model_batch *b, float dloss, const float *d_rewards_host)
{
	const model_config *c = &g->cfg;
	int B = b->B, T = b->T, N = B * T, D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = D / H;
	int KVD = KVH * hd, F = c->hidden_dim, V = c->vocab_size;
	size_t NM = (size_t)g->B_max * g->T_max, ND = (size_t)N * D, NF = (size_t)N * F;
	const model_tensor_info *ti = g->ti;
	const int32_t *seg = b->seg ? g->seg : NULL;
	gpu_bf16 *xnf = (gpu_bf16 *)g->xnf, *d_res16 = (gpu_bf16 *)g->d_res16;

	gpu_memset0(g->d_resid, ND * 4);
	gpu_memset0(g->d_xn, ND * 4);
	if (c->reward_head) {
		gpu_upload(g->d_rewards, d_rewards_host, (size_t)B * 4);
		gpu_reward_backward(g->d_xn, g->g[P_SCORE], g->d_rewards, xnf, g->p[P_SCORE], g->last, B, T, D);
	} else {
		gpu_crossentropy_backward((gpu_bf16 *)g->logits, g->lse, g->targets, dloss, N, V);
		gpu_matmul_backward(g->d_xn, 1, g->g[P_LM_HEAD], (gpu_bf16 *)g->logits, xnf, (gpu_bf16 *)g->w[P_LM_HEAD], N, D, V);
	}
	gpu_rmsnorm_backward(g->d_resid, g->g[P_FINAL_NORM], g->d_xn, LAYER(g->resid, c->n_layers, NM * D),
	                     g->p[P_FINAL_NORM], g->rstdf, N, D);
	stage_done(g, 0);
	for (int l = c->n_layers - 1; l >= 0; l--) {
#define PL(i) LAYER(g->p[i], l, ti[i].layer_size)
#define GL(i) LAYER(g->g[i], l, ti[i].layer_size)
#define WL(i) ((gpu_bf16 *)LAYER(g->w[i], l, ti[i].layer_size))
		const float *x = LAYER(g->resid, l, NM * D);
		gpu_bf16 *xn1 = (gpu_bf16 *)LAYER(g->xn1, l, NM * D), *q = (gpu_bf16 *)LAYER(g->q, l, NM * D);
		gpu_bf16 *k = (gpu_bf16 *)LAYER(g->k, l, NM * KVD), *v = (gpu_bf16 *)LAYER(g->v_, l, NM * KVD);
		gpu_bf16 *ao = (gpu_bf16 *)LAYER(g->ao, l, NM * D), *xn2 = (gpu_bf16 *)LAYER(g->xn2, l, NM * D);
		gpu_bf16 *hg = (gpu_bf16 *)LAYER(g->hg, l, NM * F), *hu = (gpu_bf16 *)LAYER(g->hu, l, NM * F);
		gpu_bf16 *hs = (gpu_bf16 *)LAYER(g->hs, l, NM * F);
		float *rstd1 = LAYER(g->rstd1, l, NM), *rstd2 = LAYER(g->rstd2, l, NM), *mid = LAYER(g->mid, l, NM * D);
		float *att = LAYER(g->att, l, g->att_per_layer);
		gpu_bf16 *d_hs = (gpu_bf16 *)g->d_hs, *d_hg = (gpu_bf16 *)g->d_hg, *d_hu = (gpu_bf16 *)g->d_hu;
		gpu_bf16 *d_ao = (gpu_bf16 *)g->d_ao, *d_q = (gpu_bf16 *)g->d_q, *d_k = (gpu_bf16 *)g->d_k;
		gpu_bf16 *d_v = (gpu_bf16 *)g->d_v;

		/* feed-forward branch (the residual gradient feeds the products as bf16) */
		gpu_f32_to_bf16(d_res16, g->d_resid, ND);
		gpu_memset0(d_hs, NF * 2);
		gpu_matmul_backward(d_hs, 0, GL(P_WDOWN), d_res16, hs, WL(P_WDOWN), N, F, D);
		gpu_swiglu_backward(d_hg, d_hu, d_hs, hg, hu, NF);
		gpu_memset0(g->d_xn, ND * 4);
		gpu_matmul_backward(g->d_xn, 1, GL(P_WGATE), d_hg, xn2, WL(P_WGATE), N, D, F);
		gpu_matmul_backward(g->d_xn, 1, GL(P_WUP), d_hu, xn2, WL(P_WUP), N, D, F);
		gpu_rmsnorm_backward(g->d_resid, GL(P_FFN_NORM), g->d_xn, mid, PL(P_FFN_NORM), rstd2, N, D);
		/* attention branch */
		gpu_f32_to_bf16(d_res16, g->d_resid, ND);
		gpu_memset0(d_ao, ND * 2);
		gpu_matmul_backward(d_ao, 0, GL(P_WO), d_res16, ao, WL(P_WO), N, D, D);
		if (g->flash)
			gpu_flash_backward(d_q, d_k, d_v, g->d_att, d_ao, ao, q, k, v, att, seg, B, T, H, KVH, hd);
		else
			gpu_attention_backward(d_q, d_k, d_v, g->d_att, d_ao, q, k, v, att, B, T, H, KVH, hd);
		gpu_rope_backward(d_q, g->pos, g->rope_cos, g->rope_sin, N, H, hd);
		gpu_rope_backward(d_k, g->pos, g->rope_cos, g->rope_sin, N, KVH, hd);
		gpu_memset0(g->d_xn, ND * 4);
		gpu_matmul_backward(g->d_xn, 1, GL(P_WQ), d_q, xn1, WL(P_WQ), N, D, D);
		gpu_matmul_backward(g->d_xn, 1, GL(P_WK), d_k, xn1, WL(P_WK), N, D, KVD);
		gpu_matmul_backward(g->d_xn, 1, GL(P_WV), d_v, xn1, WL(P_WV), N, D, KVD);
		gpu_rmsnorm_backward(g->d_resid, GL(P_ATTN_NORM), g->d_xn, x, PL(P_ATTN_NORM), rstd1, N, D);
		stage_done(g, c->n_layers - l);
#undef PL
#undef GL
#undef WL
	}
	int n_uniq = device_token_groups(b->inputs, N, c->vocab_size, g->h_uniq, g->h_starts, g->h_idx, g->h_count);
	if (n_uniq < 0) {
		fprintf(stderr, "spindle: a batch token is outside the vocabulary of %d\n", c->vocab_size);
		exit(2);
	}
	gpu_upload(g->uniq, g->h_uniq, (size_t)n_uniq * 4);
	gpu_upload(g->starts, g->h_starts, ((size_t)n_uniq + 1) * 4);
	gpu_upload(g->idx, g->h_idx, (size_t)N * 4);
	gpu_encoder_backward(g->g[P_EMBED], g->d_resid, g->uniq, g->starts, g->idx, n_uniq, D);
	stage_done(g, c->n_layers + 1);
}

extern "C" float gpu_model_grad_norm(gpu_model *g)
{
	if (g->hook)
		g->hook(g->hook_ctx, g->grads, g->n_params);
	double s = 0;
	gpu_sumsq(g->sumsq, g->grads, g->n_params, g->sumsq_part);
	gpu_download(&s, g->sumsq, sizeof s);
	return (float)sqrt(s);
}

extern "C" void gpu_model_adamw(gpu_model *g, float lr, float beta1, float beta2, float eps, float weight_decay,
                                uint64_t t, float gscale)
{
	float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
	size_t off = 0;
	for (int i = 0; i < P_COUNT; i++) {
		size_t n = g->ti[i].size;
		gpu_adamw(g->params + off, (gpu_bf16 *)g->p16 + off, g->grads + off, g->m + off, g->v + off, n, lr, beta1,
		          beta2, eps, g->ti[i].decay ? weight_decay : 0.0f, c1, c2, gscale);
		off += n;
	}
}

/* ---------------------------------------------------------------- decoding */

struct gpu_decoder {
	gpu_model *g;
	int n_ctx, n;
	bf16 *kc, *vc, *xn, *q, *ao, *hg, *hu, *hs;
	float *x, *mid, *att, *rstd, *logits32;
	int32_t *tok, *pos;
};

/* one block per query head: scores over positions 0..n, softmax, weighted sum of values */
__global__ void decode_attention_kernel(bf16 *out, float *att, const bf16 *q, const bf16 *kc, const bf16 *vc, int n,
                                        int n_ctx, int H, int KVH, int hd, float scale)
{
	__shared__ float sh[32];
	int h = blockIdx.x, kh = h / (H / KVH), KVD = KVH * hd;
	const bf16 *qh = q + (size_t)h * hd;
	float *P = att + (size_t)h * n_ctx;
	float mx = -INFINITY;
	for (int j = threadIdx.x; j <= n; j += blockDim.x) {
		float s = 0;
		for (int d = 0; d < hd; d++)
			s += __bfloat162float(qh[d]) * __bfloat162float(kc[(size_t)j * KVD + (size_t)kh * hd + d]);
		P[j] = s * scale;
		mx = fmaxf(mx, P[j]);
	}
	mx = block_max(mx, sh);
	float sum = 0;
	for (int j = threadIdx.x; j <= n; j += blockDim.x) {
		P[j] = expf(P[j] - mx);
		sum += P[j];
	}
	sum = block_sum(sum, sh);
	__syncthreads();
	for (int d = threadIdx.x; d < hd; d += blockDim.x) {
		float acc = 0;
		for (int j = 0; j <= n; j++)
			acc += P[j] * __bfloat162float(vc[(size_t)j * KVD + (size_t)kh * hd + d]);
		out[(size_t)h * hd + d] = __float2bfloat16_rn(acc / sum);
	}
}

extern "C" gpu_decoder *gpu_decoder_create(gpu_model *g, int n_ctx)
{
	const model_config *c = &g->cfg;
	int D = c->dim, H = c->n_heads, hd = D / H, KVD = c->n_kv_heads * hd, F = c->hidden_dim, V = c->vocab_size;
	if (n_ctx > c->max_seq_len)
		n_ctx = c->max_seq_len;
	gpu_decoder *d = (gpu_decoder *)halloc(sizeof *d);
	d->g = g;
	d->n_ctx = n_ctx;
	size_t cache = (size_t)c->n_layers * n_ctx * KVD;
	d->kc = (bf16 *)gpu_malloc(cache * 2);
	d->vc = (bf16 *)gpu_malloc(cache * 2);
	d->xn = (bf16 *)gpu_malloc((size_t)D * 2);
	d->q = (bf16 *)gpu_malloc((size_t)D * 2);
	d->ao = (bf16 *)gpu_malloc((size_t)D * 2);
	d->hg = (bf16 *)gpu_malloc((size_t)F * 2);
	d->hu = (bf16 *)gpu_malloc((size_t)F * 2);
	d->hs = (bf16 *)gpu_malloc((size_t)F * 2);
	d->x = (float *)gpu_malloc((size_t)D * 4);
	d->mid = (float *)gpu_malloc((size_t)D * 4);
	d->att = (float *)gpu_malloc((size_t)H * n_ctx * 4);
	d->rstd = (float *)gpu_malloc(4);
	d->logits32 = (float *)gpu_malloc((size_t)V * 4);
	d->tok = (int32_t *)gpu_malloc(4);
	d->pos = (int32_t *)gpu_malloc(4);
	return d;
}

extern "C" void gpu_decoder_destroy(gpu_decoder *d)
{
	if (!d)
		return;
	void *p[] = { d->kc, d->vc, d->xn, d->q, d->ao, d->hg, d->hu, d->hs, d->x, d->mid, d->att, d->rstd,
		d->logits32, d->tok, d->pos };
	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
		gpu_free(p[i]);
	free(d);
}

extern "C" void gpu_decoder_reset(gpu_decoder *d) { d->n = 0; }
extern "C" int gpu_decoder_pos(const gpu_decoder *d) { return d->n; }

extern "C" void gpu_decoder_step(gpu_decoder *d, int32_t token, float *logits_host)
{
	gpu_model *g = d->g;
	const model_config *c = &g->cfg;
	const model_tensor_info *ti = g->ti;
	int D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = D / H, KVD = KVH * hd, F = c->hidden_dim;
	int V = c->vocab_size, n = d->n;
	if (n >= d->n_ctx) {
		fprintf(stderr, "spindle: decoder context of %d positions is full\n", d->n_ctx);
		exit(2);
	}
	gpu_upload(d->tok, &token, 4);
	gpu_upload(d->pos, &n, 4);
	gpu_encoder_forward(d->x, d->tok, g->p[P_EMBED], 1, D);
	for (int l = 0; l < c->n_layers; l++) {
#define PL(i) LAYER(g->p[i], l, ti[i].layer_size)
#define WL(i) ((gpu_bf16 *)LAYER(g->w[i], l, ti[i].layer_size))
		gpu_bf16 *kslot = (gpu_bf16 *)(d->kc + ((size_t)l * d->n_ctx + n) * KVD);
		gpu_bf16 *vslot = (gpu_bf16 *)(d->vc + ((size_t)l * d->n_ctx + n) * KVD);
		gpu_rmsnorm_forward((gpu_bf16 *)d->xn, d->rstd, d->x, PL(P_ATTN_NORM), 1, D, c->norm_eps);
		gpu_matmul_forward(d->q, 0, (gpu_bf16 *)d->xn, WL(P_WQ), 1, D, D);
		gpu_matmul_forward(kslot, 0, (gpu_bf16 *)d->xn, WL(P_WK), 1, D, KVD);
		gpu_matmul_forward(vslot, 0, (gpu_bf16 *)d->xn, WL(P_WV), 1, D, KVD);
		gpu_rope_forward((gpu_bf16 *)d->q, d->pos, g->rope_cos, g->rope_sin, 1, H, hd);
		gpu_rope_forward(kslot, d->pos, g->rope_cos, g->rope_sin, 1, KVH, hd);
		decode_attention_kernel<<<H, 128>>>(d->ao, d->att, d->q, d->kc + (size_t)l * d->n_ctx * KVD,
		                                    d->vc + (size_t)l * d->n_ctx * KVD, n, d->n_ctx, H, KVH, hd,
		                                    1.0f / sqrtf((float)hd));
		launchCheck();
		gpu_matmul_forward(d->mid, 1, (gpu_bf16 *)d->ao, WL(P_WO), 1, D, D);
		gpu_residual_forward(d->mid, d->mid, d->x, (size_t)D);
		gpu_rmsnorm_forward((gpu_bf16 *)d->xn, d->rstd, d->mid, PL(P_FFN_NORM), 1, D, c->norm_eps);
		gpu_matmul_forward(d->hg, 0, (gpu_bf16 *)d->xn, WL(P_WGATE), 1, D, F);
		gpu_matmul_forward(d->hu, 0, (gpu_bf16 *)d->xn, WL(P_WUP), 1, D, F);
		gpu_swiglu_forward((gpu_bf16 *)d->hs, (gpu_bf16 *)d->hg, (gpu_bf16 *)d->hu, (size_t)F);
		gpu_matmul_forward(d->x, 1, (gpu_bf16 *)d->hs, WL(P_WDOWN), 1, F, D);
		gpu_residual_forward(d->x, d->x, d->mid, (size_t)D);
#undef PL
#undef WL
	}
	gpu_rmsnorm_forward((gpu_bf16 *)d->xn, d->rstd, d->x, g->p[P_FINAL_NORM], 1, D, c->norm_eps);
	gpu_matmul_forward(d->logits32, 1, (gpu_bf16 *)d->xn, (gpu_bf16 *)g->w[P_LM_HEAD], 1, D, V);
	gpu_download(logits_host, d->logits32, (size_t)V * 4);
	d->n++;
}
