/* model.c - the Llama 2 model on the CPU: presets, the parameter arena, forward and backward.
 * The ops are in ops_*.c; this file only wires them together in the order the CUDA path repeats.
 * It does not train (adamw.c, trainer.c) or read data (data_*.c). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>
#include "model.h"
#include "rng.h"
#include "spindle/mem.h"

/* OpenBLAS (the pthread build, train/module.mk) starts a pool of threads in its library constructor,
 * sized to the machine; they spin for ~0.1 s of every core before they sleep, a cost every spindle
 * command paid (pack: 0.3 CPU-s instead of 0.13). The trainer runs sgemm single-threaded inside its
 * own OpenMP threads, so the pool is stopped as soon as the program starts: this constructor runs
 * after the libraries' ones and before main. (blas_thread_shutdown_ is OpenBLAS's own fork-safety
 * hook; a later multi-threaded call would start the pool again.) */
void blas_thread_shutdown_(void) __attribute__((weak)); /* absent from builds without a pool */
__attribute__((constructor)) static void model_blas_quiet(void)
{
	openblas_set_num_threads(1);
	if (blas_thread_shutdown_)
		blas_thread_shutdown_();
}

typedef struct preset { const char *name; int dim, n_layers, n_heads, n_kv_heads, hidden_dim, max_seq_len; } preset;

/* hidden_dim follows Llama's rule: 2/3 of 4*dim, rounded up to a multiple (of 8 here, 256 in 7B). */
static const preset presets[] = {
	{ "tiny", 64, 2, 4, 2, 176, 128 },
	{ "small", 128, 4, 4, 2, 344, 256 },
	{ "10m", 256, 8, 8, 4, 688, 256 },
	{ "110m", 768, 12, 12, 12, 2048, 1024 },
	{ "1b", 2048, 22, 32, 4, 5632, 2048 },
	{ "7b", 4096, 32, 32, 32, 11008, 4096 },
};

int model_preset(model_config *cfg, const char *name, int vocab_size, sp_err *err)
{
	for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
		const preset *p = &presets[i];
		if (strcmp(p->name, name))
			continue;
		memset(cfg, 0, sizeof *cfg);
		cfg->dim = p->dim;
		cfg->n_layers = p->n_layers;
		cfg->n_heads = p->n_heads;
		cfg->n_kv_heads = p->n_kv_heads;
		cfg->hidden_dim = p->hidden_dim;
		cfg->max_seq_len = p->max_seq_len;
		cfg->vocab_size = vocab_size;
		cfg->norm_eps = 1e-5f;
		cfg->rope_theta = 10000.0f;
		return 0;
	}
	SP_RAISE(err, SP_EUSAGE, "unknown preset '%s' (tiny, small, 10m, 110m, 1b, 7b)", name);
}

int model_config_check(const model_config *c, sp_err *err)
{
	if (c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->hidden_dim <= 0 ||
	    c->vocab_size <= 0 || c->max_seq_len <= 0)
		SP_RAISE(err, SP_EDATA, "model sizes must be positive");
	if (c->dim % c->n_heads || (c->dim / c->n_heads) % 2)
		SP_RAISE(err, SP_EDATA, "dim %d is not n_heads %d times an even head size", c->dim, c->n_heads);
	if (c->n_heads % c->n_kv_heads)
		SP_RAISE(err, SP_EDATA, "n_kv_heads %d does not divide n_heads %d", c->n_kv_heads, c->n_heads);
	if (!(c->norm_eps > 0) || !(c->rope_theta > 0))
		SP_RAISE(err, SP_EDATA, "norm_eps and rope_theta must be positive");
	if ((double)c->vocab_size * c->dim > 1e11 || (double)c->hidden_dim * c->dim * c->n_layers > 1e12)
		SP_RAISE(err, SP_EDATA, "model too large");
	return 0;
}

void model_tensor_infos(const model_config *c, model_tensor_info t[P_COUNT])
{
	int D = c->dim, KVD = c->n_kv_heads * (c->dim / c->n_heads), F = c->hidden_dim, V = c->vocab_size;
	struct { int rows, cols, per_layer, decay; const char *name; } s[P_COUNT] = {
		[P_EMBED] = { V, D, 0, 1, "model.embed_tokens.weight" },
		[P_ATTN_NORM] = { 1, D, 1, 0, "model.layers.%d.input_layernorm.weight" },
		[P_WQ] = { D, D, 1, 1, "model.layers.%d.self_attn.q_proj.weight" },
		[P_WK] = { KVD, D, 1, 1, "model.layers.%d.self_attn.k_proj.weight" },
		[P_WV] = { KVD, D, 1, 1, "model.layers.%d.self_attn.v_proj.weight" },
		[P_WO] = { D, D, 1, 1, "model.layers.%d.self_attn.o_proj.weight" },
		[P_FFN_NORM] = { 1, D, 1, 0, "model.layers.%d.post_attention_layernorm.weight" },
		[P_WGATE] = { F, D, 1, 1, "model.layers.%d.mlp.gate_proj.weight" },
		[P_WUP] = { F, D, 1, 1, "model.layers.%d.mlp.up_proj.weight" },
		[P_WDOWN] = { D, F, 1, 1, "model.layers.%d.mlp.down_proj.weight" },
		[P_FINAL_NORM] = { 1, D, 0, 0, "model.norm.weight" },
		[P_LM_HEAD] = { c->reward_head ? 0 : V, D, 0, 1, "lm_head.weight" },
		[P_SCORE] = { c->reward_head ? 1 : 0, D, 0, 0, "score.weight" },
	};
	for (int i = 0; i < P_COUNT; i++) {
		t[i].rows = s[i].rows;
		t[i].cols = s[i].cols;
		t[i].per_layer = s[i].per_layer;
		t[i].decay = s[i].decay;
		t[i].hf_name = s[i].name;
		t[i].layer_size = (size_t)s[i].rows * s[i].cols;
		t[i].size = t[i].layer_size * (s[i].per_layer ? (size_t)c->n_layers : 1);
	}
}

int model_init(model *m, const model_config *cfg, int B_max, int T_max, sp_err *err)
{
	memset(m, 0, sizeof *m);
	SP_FORWARD(model_config_check(cfg, err));
	if (T_max > cfg->max_seq_len || B_max <= 0 || T_max <= 0)
		SP_RAISE(err, SP_EUSAGE, "batch %dx%d does not fit the model's context %d", B_max, T_max, cfg->max_seq_len);
	m->cfg = *cfg;
	/* all threading is OpenMP's (ops_dense.c says why); OpenBLAS computes on the calling thread */
	openblas_set_num_threads(1);
	model_tensor_infos(cfg, m->ti);
	for (int i = 0; i < P_COUNT; i++)
		m->n_params += m->ti[i].size;
	int L = cfg->n_layers, D = cfg->dim, H = cfg->n_heads, hd = D / H, KVD = cfg->n_kv_heads * hd;
	int F = cfg->hidden_dim, V = cfg->reward_head ? 0 : cfg->vocab_size;
	size_t N = (size_t)B_max * T_max, T = (size_t)T_max;
	m->B_max = B_max;
	m->T_max = T_max;
	/* activations, then backward scratch, all in one block */
	size_t sizes[] = {
		(L + 1) * N * D, L * N * D, L * N, L * N * D, L * N * KVD, L * N * KVD, L * (size_t)B_max * H * T * T,
		L * N * D, L * N * D, L * N * D, L * N, L * N * F, L * N * F, L * N * F,
		N * D, N, N * V, N, N, (size_t)B_max,
		N * D, N * D, N * D, N * KVD, N * KVD, T * T * (size_t)omp_get_max_threads(), N * D, N * F, N * F, N * F, N * D,
	};
	float **ptrs[] = {
		&m->resid, &m->xn1, &m->rstd1, &m->q, &m->k, &m->v, &m->att,
		&m->ao, &m->resid_mid, &m->xn2, &m->rstd2, &m->hg, &m->hu, &m->hs,
		&m->xnf, &m->rstdf, &m->logits, &m->losses, &m->lse, &m->rewards,
		&m->d_resid, &m->d_xn, &m->d_q, &m->d_k, &m->d_v, &m->d_att, &m->d_ao, &m->d_hg, &m->d_hu, &m->d_hs, &m->d_tmp,
	};
	size_t n_t = sizeof sizes / sizeof sizes[0];
	/* the largest blocks in floating point first, so an absurd batch or context is named as such
	 * instead of wrapping around size_t */
	double attn = (double)L * B_max * H * (double)T * (double)T, logits = (double)N * V, wide = (double)L * N * (F > D ? F : D);
	if (attn > 1e13 || logits > 1e13 || wide > 1e13)
		SP_RAISE(err, SP_EUSAGE, "batch %d x context %d is too large for this model: its activations would take about %.3g GiB "
		         "(%d layers x %d heads x %d^2 attention per row, %d x %d logits)", B_max, T_max,
		         (attn + logits + 12 * wide) * 4 / 1073741824.0, L, H, T_max, T_max, V);
	for (size_t i = 0; i < n_t; i++)
		m->n_acts += sizes[i];
	size_t half = (size_t)cfg->max_seq_len * (hd / 2);
	m->params = sp_calloc(m->n_params, sizeof(float));
	m->grads = sp_calloc(m->n_params, sizeof(float));
	m->acts = sp_calloc(m->n_acts, sizeof(float));
	m->rope_cos = sp_malloc(half * sizeof(float));
	m->rope_sin = sp_malloc(half * sizeof(float));
	if (!m->params || !m->grads || !m->acts || !m->rope_cos || !m->rope_sin) {
		size_t np = m->n_params, na = m->n_acts; /* (model_release clears them) */
		model_release(m);
		SP_RAISE(err, SP_ENOMEM, "out of memory for a model of %zu parameters (%.3g GiB with gradients) and %zu activations "
		         "(%.3g GiB for batch %d x %d)", np, (double)np * 8 / 1073741824.0, na, (double)na * 4 / 1073741824.0, B_max, T_max);
	}
	float *pp = m->params, *gp = m->grads, *ap = m->acts;
	for (int i = 0; i < P_COUNT; i++) {
		m->p[i] = pp;
		m->g[i] = gp;
		pp += m->ti[i].size;
		gp += m->ti[i].size;
	}
	for (size_t i = 0; i < n_t; i++) {
		*ptrs[i] = ap;
		ap += sizes[i];
	}
	for (int p = 0; p < cfg->max_seq_len; p++)
		for (int i = 0; i < hd / 2; i++) {
			double freq = pow((double)cfg->rope_theta, -2.0 * i / hd), a = p * freq;
			m->rope_cos[(size_t)p * (hd / 2) + i] = (float)cos(a);
			m->rope_sin[(size_t)p * (hd / 2) + i] = (float)sin(a);
		}
	return 0;
}

void model_release(model *m)
{
	sp_free(m->params);
	sp_free(m->grads);
	sp_free(m->acts);
	sp_free(m->rope_cos);
	sp_free(m->rope_sin);
	memset(m, 0, sizeof *m);
}

void model_init_weights(model *m, uint64_t seed)
{
	train_rng r;
	rng_seed(&r, seed);
	for (int i = 0; i < P_COUNT; i++) {
		float *p = m->p[i];
		int is_norm = m->ti[i].rows == 1 && i != P_SCORE;
		for (size_t j = 0; j < m->ti[i].size; j++)
			p[j] = is_norm ? 1.0f : 0.02f * rng_normal(&r);
	}
}

void model_zero_grad(model *m)
{
	memset(m->grads, 0, m->n_params * sizeof(float));
}

/* per-layer slices of activations (sized for B_max x T_max) and parameters */
#define LAYER(ptr, l, per) ((ptr) + (size_t)(l) * (per))

void model_forward(model *m, const model_batch *b, float *mean_loss, size_t *n_counted)
{
	const model_config *c = &m->cfg;
	int B = b->B, T = b->T, N = B * T, D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = D / H;
	int KVD = KVH * hd, F = c->hidden_dim, V = c->vocab_size;
	size_t NM = (size_t)m->B_max * m->T_max, AM = (size_t)m->B_max * H * m->T_max * m->T_max;
	const model_tensor_info *ti = m->ti;

	encoder_forward(m->resid, b->inputs, m->p[P_EMBED], N, D);
	for (int l = 0; l < c->n_layers; l++) {
		const float *x = LAYER(m->resid, l, NM * D);
		float *xn1 = LAYER(m->xn1, l, NM * D), *rstd1 = LAYER(m->rstd1, l, NM);
		float *q = LAYER(m->q, l, NM * D), *k = LAYER(m->k, l, NM * KVD), *v = LAYER(m->v, l, NM * KVD);
		float *att = LAYER(m->att, l, AM), *ao = LAYER(m->ao, l, NM * D), *mid = LAYER(m->resid_mid, l, NM * D);
		float *xn2 = LAYER(m->xn2, l, NM * D), *rstd2 = LAYER(m->rstd2, l, NM);
		float *hg = LAYER(m->hg, l, NM * F), *hu = LAYER(m->hu, l, NM * F), *hs = LAYER(m->hs, l, NM * F);
		float *y = LAYER(m->resid, l + 1, NM * D);

		rmsnorm_forward(xn1, rstd1, x, LAYER(m->p[P_ATTN_NORM], l, ti[P_ATTN_NORM].layer_size), N, D, c->norm_eps);
		matmul_forward(q, xn1, LAYER(m->p[P_WQ], l, ti[P_WQ].layer_size), N, D, D);
		matmul_forward(k, xn1, LAYER(m->p[P_WK], l, ti[P_WK].layer_size), N, D, KVD);
		matmul_forward(v, xn1, LAYER(m->p[P_WV], l, ti[P_WV].layer_size), N, D, KVD);
		rope_forward(q, b->pos, m->rope_cos, m->rope_sin, N, H, hd);
		rope_forward(k, b->pos, m->rope_cos, m->rope_sin, N, KVH, hd);
		attention_forward(ao, att, q, k, v, b->seg, B, T, H, KVH, hd);
		matmul_forward(mid, ao, LAYER(m->p[P_WO], l, ti[P_WO].layer_size), N, D, D);
		residual_forward(mid, mid, x, (size_t)N * D);
		rmsnorm_forward(xn2, rstd2, mid, LAYER(m->p[P_FFN_NORM], l, ti[P_FFN_NORM].layer_size), N, D, c->norm_eps);
		matmul_forward(hg, xn2, LAYER(m->p[P_WGATE], l, ti[P_WGATE].layer_size), N, D, F);
		matmul_forward(hu, xn2, LAYER(m->p[P_WUP], l, ti[P_WUP].layer_size), N, D, F);
		swiglu_forward(hs, hg, hu, (size_t)N * F);
		matmul_forward(y, hs, LAYER(m->p[P_WDOWN], l, ti[P_WDOWN].layer_size), N, F, D);
		residual_forward(y, y, mid, (size_t)N * D);
	}
	const float *top = LAYER(m->resid, c->n_layers, NM * D);
	rmsnorm_forward(m->xnf, m->rstdf, top, m->p[P_FINAL_NORM], N, D, c->norm_eps);
	if (c->reward_head) {
		for (int i = 0; i < B; i++) {
			const float *h = m->xnf + ((size_t)i * T + b->last[i]) * D;
			double s = 0;
			for (int j = 0; j < D; j++)
				s += (double)h[j] * m->p[P_SCORE][j];
			m->rewards[i] = (float)s;
		}
		if (mean_loss)
			*mean_loss = 0;
		if (n_counted)
			*n_counted = 0;
		return;
	}
	matmul_forward(m->logits, m->xnf, m->p[P_LM_HEAD], N, D, V);
	crossentropy_forward(m->losses, m->lse, m->logits, b->targets, N, V);
	double s = 0;
	size_t n = 0;
	for (int i = 0; i < N; i++)
		if (b->targets[i] >= 0) {
			s += m->losses[i];
			n++;
		}
	if (mean_loss)
		*mean_loss = n ? (float)(s / n) : NAN;
	if (n_counted)
		*n_counted = n;
}

static void backward(model *m, const model_batch *b, float dloss, const float *dtok, const float *d_rewards)
{
	const model_config *c = &m->cfg;
	int B = b->B, T = b->T, N = B * T, D = c->dim, V = c->vocab_size;
	size_t ND = (size_t)N * D;

	if (c->reward_head) {
		memset(m->d_xn, 0, ND * sizeof(float));
		for (int i = 0; i < B; i++) {
			size_t row = (size_t)i * T + b->last[i];
			for (int j = 0; j < D; j++) {
				m->d_xn[row * D + j] += d_rewards[i] * m->p[P_SCORE][j];
				m->g[P_SCORE][j] += d_rewards[i] * m->xnf[row * D + j];
			}
		}
	} else {
		if (dtok)
			crossentropy_backward_weighted(m->logits, m->lse, b->targets, dtok, N, V);
		else
			crossentropy_backward(m->logits, m->lse, b->targets, dloss, N, V);
		matmul_backward(m->d_xn, 0, m->g[P_LM_HEAD], m->logits, m->xnf, m->p[P_LM_HEAD], N, D, V);
	}
	model_backward_hidden(m, b);
}

void model_backward_hidden(model *m, const model_batch *b)
{
	const model_config *c = &m->cfg;
	int B = b->B, T = b->T, N = B * T, D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = D / H;
	int KVD = KVH * hd, F = c->hidden_dim;
	size_t NM = (size_t)m->B_max * m->T_max, AM = (size_t)m->B_max * H * m->T_max * m->T_max;
	size_t ND = (size_t)N * D, NF = (size_t)N * F, NKV = (size_t)N * KVD;
	const model_tensor_info *ti = m->ti;

	memset(m->d_resid, 0, ND * sizeof(float));
	rmsnorm_backward(m->d_resid, m->g[P_FINAL_NORM], m->d_xn, LAYER(m->resid, c->n_layers, NM * D),
	                 m->p[P_FINAL_NORM], m->rstdf, N, D);
	if (m->grad_ready)
		m->grad_ready(m->grad_ready_ctx, 0);

	/* between a layer's big products: no new gradient is final, but the exchange of those that are
	 * can move on (stage -1) */
#define PROGRESS() do { if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, -1); } while (0)
	for (int l = c->n_layers - 1; l >= 0; l--) {
		const float *x = LAYER(m->resid, l, NM * D);
		float *xn1 = LAYER(m->xn1, l, NM * D), *rstd1 = LAYER(m->rstd1, l, NM);
		float *q = LAYER(m->q, l, NM * D), *k = LAYER(m->k, l, NM * KVD), *v = LAYER(m->v, l, NM * KVD);
		float *att = LAYER(m->att, l, AM), *ao = LAYER(m->ao, l, NM * D), *mid = LAYER(m->resid_mid, l, NM * D);
		float *xn2 = LAYER(m->xn2, l, NM * D), *rstd2 = LAYER(m->rstd2, l, NM);
		float *hg = LAYER(m->hg, l, NM * F), *hu = LAYER(m->hu, l, NM * F), *hs = LAYER(m->hs, l, NM * F);
#define PL(i) LAYER(m->p[i], l, ti[i].layer_size)
#define GL(i) LAYER(m->g[i], l, ti[i].layer_size)
		/* feed-forward branch: d_resid is dL/d(layer output) = dL/d(mid) through the skip */
		/* (the first product into each gradient buffer sets it: no zeroing) */
		matmul_backward(m->d_hs, 0, GL(P_WDOWN), m->d_resid, hs, PL(P_WDOWN), N, F, D);
		PROGRESS();
		swiglu_backward(m->d_hg, m->d_hu, m->d_hs, hg, hu, NF);
		matmul_backward(m->d_xn, 0, GL(P_WGATE), m->d_hg, xn2, PL(P_WGATE), N, D, F);
		PROGRESS();
		matmul_backward(m->d_xn, 1, GL(P_WUP), m->d_hu, xn2, PL(P_WUP), N, D, F);
		PROGRESS();
		rmsnorm_backward(m->d_resid, GL(P_FFN_NORM), m->d_xn, mid, PL(P_FFN_NORM), rstd2, N, D);
		/* attention branch */
		matmul_backward(m->d_ao, 0, GL(P_WO), m->d_resid, ao, PL(P_WO), N, D, D);
		PROGRESS();
		memset(m->d_q, 0, ND * sizeof(float));
		memset(m->d_k, 0, NKV * sizeof(float));
		memset(m->d_v, 0, NKV * sizeof(float));
		attention_backward(m->d_q, m->d_k, m->d_v, m->d_att, m->d_ao, q, k, v, att, B, T, H, KVH, hd);
		PROGRESS();
		rope_backward(m->d_q, b->pos, m->rope_cos, m->rope_sin, N, H, hd);
		rope_backward(m->d_k, b->pos, m->rope_cos, m->rope_sin, N, KVH, hd);
		matmul_backward(m->d_xn, 0, GL(P_WQ), m->d_q, xn1, PL(P_WQ), N, D, D);
		PROGRESS();
		matmul_backward(m->d_xn, 1, GL(P_WK), m->d_k, xn1, PL(P_WK), N, D, KVD);
		matmul_backward(m->d_xn, 1, GL(P_WV), m->d_v, xn1, PL(P_WV), N, D, KVD);
		rmsnorm_backward(m->d_resid, GL(P_ATTN_NORM), m->d_xn, x, PL(P_ATTN_NORM), rstd1, N, D);
#undef PL
#undef GL
		if (m->grad_ready)
			m->grad_ready(m->grad_ready_ctx, c->n_layers - l);
	}
#undef PROGRESS
	encoder_backward(m->g[P_EMBED], m->d_resid, b->inputs, N, D);
	if (m->grad_ready)
		m->grad_ready(m->grad_ready_ctx, c->n_layers + 1);
}

void model_backward(model *m, const model_batch *b, float dloss, const float *d_rewards)
{
	backward(m, b, dloss, NULL, d_rewards);
}

void model_backward_tokens(model *m, const model_batch *b, const float *dtok)
{
	backward(m, b, 0, dtok, NULL);
}
