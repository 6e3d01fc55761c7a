/* check_gpu.c - `make check-gpu`: the CUDA trainer against its CPU twins (issue 9).
 *
 * Every kernel of train/cuda is run on random inputs next to the CPU op of the same name (inputs the
 * GPU reads as bf16 are rounded to bf16 for the CPU too, so only the GPU's own rounding and
 * summation order differ); then the whole model on a tiny GQA configuration (2 layers, 4 heads,
 * 2 kv heads, head size 64, documents packed in rows, SFT-style ignored targets): logits, loss and
 * every parameter gradient; the reward model with Llama 2's margin loss; KV-cache decoding; 50
 * training steps (rows of 32 distinct tokens, so the loss falls) whose loss curve must track the
 * CPU's; a checkpoint written from the GPU and
 * resumed on the CPU. Output buffers are filled with NaN before every GPU call, so an element a
 * kernel forgot to write fails the comparison.
 *
 * Measure: relative error of the whole tensor, ||gpu - cpu|| / ||cpu||. Tolerances, calibrated on the
 * CUDA emulator (issue 16: the same kernels executed on the CPU, tests/cuda/t_emu.sh) at about 3x the
 * worst error it measured, in brackets. bf16 keeps 8 significant bits: one rounding costs at most 2^-8
 * relative (half a unit of the 8th bit), about 1.5e-3 as an RMS over a tensor, which is what the
 * kernels show.
 *   fp32 results of fp32 inputs (embedding, residual, norm statistics, AdamW)  1e-5/1e-6  [2e-7]
 *   fp32 results of bf16 inputs with fp32 accumulation (matmul into fp32)        1e-4      [0: same sums]
 *   one bf16 rounding of the result (RMSNorm out, RoPE, SwiGLU, matmul into bf16,
 *   the cross-entropy gradient, the bf16 weight copy)                           5e-3      [1.7e-3]
 *   attention out and gradients, naive and fused forward                        5e-3      [1.7e-3]
 *   fused backward (recomputed probabilities, one more rounding)                8e-3      [2.2e-3]
 *   whole model: logits 1.5e-2 [4.5e-3], per-position losses 1e-3 [2.2e-4], mean loss 1e-3 [4e-5],
 *   parameter gradients 2.5e-2 [7.1e-3], gradient norm 5e-3 [7e-4], decode logits 1.5e-2 [3.8e-3],
 *   rewards 1.5e-2 [3.5e-3], margin loss 5e-3 [6.5e-4];
 *   50 steps: every step's loss within 2% of the CPU's [0.35%].
 * A GPU differs from the emulator only below bf16's resolution (cuBLAS's fp32 summation order, the
 * last ulp of expf and rsqrtf, fused multiply-adds), so the same margins should hold there; the first
 * run on a GPU will tell (make check-gpu prints every measured error).
 * Exits 0 after "SKIP" when no GPU is usable, 1 when any check fails. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../train/cuda/gpu.h"
#include "../../train/device.h"
#include "../../train/ppo.h"
#include "../../train/rng.h"
#include "../../train/sample.h"
#include "../../train/trainer.h"

static int n_fail, n_pass;
static train_rng R;
/* SPINDLE_CHECK_GPU_SMALL=1 (the emulator's run in make check, tests/cuda/t_emu.sh): the same checks
 * on a smaller model (dim 128, head size 32, vocab 256) and shorter training rows, to fit the time
 * budget of a CPU running every CUDA thread as a fiber */
static int small;

static double relerr(const float *gpu, const float *cpu, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(gpu[i]))
			return INFINITY;
		double d = (double)gpu[i] - cpu[i];
		num += d * d;
		den += (double)cpu[i] * cpu[i];
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void expect(const char *what, const float *gpu, const float *cpu, size_t n, double tol)
{
	double e = relerr(gpu, cpu, n);
	int ok = e <= tol;
	printf("  %-40s rel %-9.2e tol %-7.2g %s\n", what, e, tol, ok ? "ok" : "FAIL");
	ok ? n_pass++ : n_fail++;
}

static void check(const char *what, int ok)
{
	printf("  %-40s %s\n", what, ok ? "ok" : "FAIL");
	ok ? n_pass++ : n_fail++;
}

static float *hrand(size_t n, float scale, int bf16)
{
	float *x = malloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++)
		x[i] = scale * rng_normal(&R);
	if (bf16)
		device_round_bf16(x, n);
	return x;
}

static float *fdup(const float *x, size_t n)
{
	float *y = malloc(n * sizeof *y);
	memcpy(y, x, n * sizeof *y);
	return y;
}

static float *up32(const float *x, size_t n)
{
	float *d = gpu_malloc(n * 4);
	gpu_upload(d, x, n * 4);
	return d;
}

static gpu_bf16 *up16(const float *x, size_t n)
{
	uint16_t *h = malloc(n * 2);
	for (size_t i = 0; i < n; i++)
		h[i] = device_bf16_from_f32(x[i]);
	gpu_bf16 *d = gpu_malloc(n * 2);
	gpu_upload(d, h, n * 2);
	free(h);
	return d;
}

static int32_t *upi(const int32_t *x, size_t n)
{
	int32_t *d = gpu_malloc(n * 4);
	gpu_upload(d, x, n * 4);
	return d;
}

static float *down32(const float *d, size_t n)
{
	float *x = malloc(n * 4);
	gpu_download(x, d, n * 4);
	return x;
}

static float *down16(const gpu_bf16 *d, size_t n)
{
	uint16_t *h = malloc(n * 2);
	float *x = malloc(n * 4);
	gpu_download(h, d, n * 2);
	for (size_t i = 0; i < n; i++)
		x[i] = device_bf16_to_f32(h[i]);
	free(h);
	return x;
}

static gpu_bf16 *alloc16(size_t n)
{
	gpu_bf16 *d = gpu_malloc(n * 2);
	gpu_poison(d, n * 2);
	return d;
}

static float *alloc32(size_t n)
{
	float *d = gpu_malloc(n * 4);
	gpu_poison(d, n * 4);
	return d;
}

/* ---------------------------------------------------------------- kernels one by one */

static void check_kernels(void)
{
	enum { B = 2, T = 48, H = 4, KVH = 2, HD = 64, D = H * HD, KVD = KVH * HD, F = 344, V = 300, N = B * T };
	printf("kernels (N=%d, D=%d, F=%d, V=%d, GQA %d/%d, head %d)\n", N, D, F, V, H, KVH, HD);
	int32_t tok[N], pos[N], seg[N], tgt[N];
	for (int i = 0; i < N; i++) {
		tok[i] = (int32_t)(rng_u64(&R) % 40);   /* repeated tokens: the embedding gradient must sum them */
		int t = i % T;
		seg[i] = t < 20 ? 0 : t < 33 ? 1 : 2;   /* three documents per row */
		pos[i] = seg[i] == 0 ? t : seg[i] == 1 ? t - 20 : t - 33;
		tgt[i] = t % 7 == 3 ? -1 : (int32_t)(rng_u64(&R) % V);
	}
	int32_t *d_tok = upi(tok, N), *d_pos = upi(pos, N), *d_seg = upi(seg, N), *d_tgt = upi(tgt, N);

	/* embedding */
	float *wte = hrand((size_t)V * D, 1, 0), *out = malloc((size_t)N * D * 4);
	float *d_wte = up32(wte, (size_t)V * D), *g_out = alloc32((size_t)N * D);
	encoder_forward(out, tok, wte, N, D);
	gpu_encoder_forward(g_out, d_tok, d_wte, N, D);
	float *r = down32(g_out, (size_t)N * D);
	expect("encoder_forward", r, out, (size_t)N * D, 1e-5);
	free(r);
	float *dout = hrand((size_t)N * D, 1, 0), *dw = hrand((size_t)V * D, 1, 0), *dw0 = fdup(dw, (size_t)V * D);
	float *g_dout = up32(dout, (size_t)N * D), *g_dw = up32(dw, (size_t)V * D);
	encoder_backward(dw, dout, tok, N, D);
	int32_t uniq[N], starts[N + 1], idx[N], count[V + 1];
	int nu = device_token_groups(tok, N, V, uniq, starts, idx, count);
	int32_t *g_u = upi(uniq, (size_t)nu), *g_s = upi(starts, (size_t)nu + 1), *g_i = upi(idx, N);
	gpu_encoder_backward(g_dw, g_dout, g_u, g_s, g_i, nu, D);
	r = down32(g_dw, (size_t)V * D);
	expect("encoder_backward (adds)", r, dw, (size_t)V * D, 1e-5);
	(void)dw0;

	/* RMSNorm */
	float *x = hrand((size_t)N * D, 1, 0), *w = hrand(D, 1, 0), *xn = malloc((size_t)N * D * 4), rstd[N];
	float *g_x = up32(x, (size_t)N * D), *g_w = up32(w, D), *g_rstd = alloc32(N);
	gpu_bf16 *g_xn = alloc16((size_t)N * D);
	rmsnorm_forward(xn, rstd, x, w, N, D, 1e-5f);
	gpu_rmsnorm_forward(g_xn, g_rstd, g_x, g_w, N, D, 1e-5f);
	r = down16(g_xn, (size_t)N * D);
	expect("rmsnorm_forward out (bf16)", r, xn, (size_t)N * D, 5e-3);
	float *r2 = down32(g_rstd, N);
	expect("rmsnorm_forward rstd", r2, rstd, N, 1e-5);
	float *dx = hrand((size_t)N * D, 1, 0), *dnw = hrand(D, 1, 0), *dy = hrand((size_t)N * D, 1, 0);
	float *g_dx = up32(dx, (size_t)N * D), *g_dnw = up32(dnw, D), *g_dy = up32(dy, (size_t)N * D);
	gpu_upload(g_rstd, rstd, N * 4);
	rmsnorm_backward(dx, dnw, dy, x, w, rstd, N, D);
	gpu_rmsnorm_backward(g_dx, g_dnw, g_dy, g_x, g_w, g_rstd, N, D);
	expect("rmsnorm_backward d_inp (adds)", down32(g_dx, (size_t)N * D), dx, (size_t)N * D, 1e-5);
	expect("rmsnorm_backward d_weight (adds)", down32(g_dnw, D), dnw, D, 1e-5);

	/* matmul, both output types, and its backward */
	float *a = hrand((size_t)N * D, 1, 1), *wm = hrand((size_t)F * D, 0.05f, 1), *y = malloc((size_t)N * F * 4);
	gpu_bf16 *g_a = up16(a, (size_t)N * D), *g_wm = up16(wm, (size_t)F * D);
	matmul_forward(y, a, wm, N, D, F);
	float *g_y32 = alloc32((size_t)N * F);
	gpu_bf16 *g_y16 = alloc16((size_t)N * F);
	gpu_matmul_forward(g_y32, 1, g_a, g_wm, N, D, F);
	gpu_matmul_forward(g_y16, 0, g_a, g_wm, N, D, F);
	expect("matmul_forward (fp32 out)", down32(g_y32, (size_t)N * F), y, (size_t)N * F, 1e-4);
	expect("matmul_forward (bf16 out)", down16(g_y16, (size_t)N * F), y, (size_t)N * F, 5e-3);
	float *dyy = hrand((size_t)N * F, 1, 1), *da = hrand((size_t)N * D, 1, 0), *dwm = hrand((size_t)F * D, 1, 0);
	float *g_da = up32(da, (size_t)N * D), *g_dwm = up32(dwm, (size_t)F * D);
	gpu_bf16 *g_dyy = up16(dyy, (size_t)N * F);
	matmul_backward(da, 1, dwm, dyy, a, wm, N, D, F);
	gpu_matmul_backward(g_da, 1, g_dwm, g_dyy, g_a, g_wm, N, D, F);
	expect("matmul_backward d_inp (adds)", down32(g_da, (size_t)N * D), da, (size_t)N * D, 1e-4);
	expect("matmul_backward d_weight (adds)", down32(g_dwm, (size_t)F * D), dwm, (size_t)F * D, 1e-4);

	/* RoPE */
	float cs[64 * HD / 2], sn[64 * HD / 2];
	for (int p = 0; p < 64; p++)
		for (int i = 0; i < HD / 2; i++) {
			double fr = pow(10000.0, -2.0 * i / HD);
			cs[p * HD / 2 + i] = (float)cos(p * fr);
			sn[p * HD / 2 + i] = (float)sin(p * fr);
		}
	float *g_cs = up32(cs, 64 * HD / 2), *g_sn = up32(sn, 64 * HD / 2);
	float *qr = hrand((size_t)N * D, 1, 1), *qr2 = fdup(qr, (size_t)N * D);
	gpu_bf16 *g_qr = up16(qr, (size_t)N * D);
	rope_forward(qr, pos, cs, sn, N, H, HD);
	gpu_rope_forward(g_qr, d_pos, g_cs, g_sn, N, H, HD);
	expect("rope_forward (bf16 in place)", down16(g_qr, (size_t)N * D), qr, (size_t)N * D, 5e-3);
	g_qr = up16(qr2, (size_t)N * D);
	rope_backward(qr2, pos, cs, sn, N, H, HD);
	gpu_rope_backward(g_qr, d_pos, g_cs, g_sn, N, H, HD);
	expect("rope_backward", down16(g_qr, (size_t)N * D), qr2, (size_t)N * D, 5e-3);

	/* attention with documents; flash against the naive kernel and the CPU */
	float *q = hrand((size_t)N * D, 1, 1), *k = hrand((size_t)N * KVD, 1, 1), *v = hrand((size_t)N * KVD, 1, 1);
	float *ao = malloc((size_t)N * D * 4), *att = malloc((size_t)B * H * T * T * 4);
	gpu_bf16 *g_q = up16(q, (size_t)N * D), *g_k = up16(k, (size_t)N * KVD), *g_v = up16(v, (size_t)N * KVD);
	gpu_bf16 *g_ao = alloc16((size_t)N * D);
	float *g_att = alloc32((size_t)B * H * T * T);
	attention_forward(ao, att, q, k, v, seg, B, T, H, KVH, HD);
	gpu_attention_forward(g_ao, g_att, g_q, g_k, g_v, d_seg, B, T, H, KVH, HD);
	expect("attention_forward out", down16(g_ao, (size_t)N * D), ao, (size_t)N * D, 5e-3);
	expect("attention_forward probabilities", down32(g_att, (size_t)B * H * T * T), att, (size_t)B * H * T * T, 1e-4);
	float *dao = hrand((size_t)N * D, 1, 1), *dq = calloc((size_t)N * D, 4), *dk = calloc((size_t)N * KVD, 4);
	float *dv = calloc((size_t)N * KVD, 4), *datt = malloc((size_t)omp_get_max_threads() * T * T * 4); /* one T x T per thread */
	gpu_bf16 *g_dao = up16(dao, (size_t)N * D), *g_dq = alloc16((size_t)N * D), *g_dk = alloc16((size_t)N * KVD);
	gpu_bf16 *g_dv = alloc16((size_t)N * KVD);
	float *g_datt = alloc32((size_t)B * H * T * T);
	attention_backward(dq, dk, dv, datt, dao, q, k, v, att, B, T, H, KVH, HD);
	gpu_attention_backward(g_dq, g_dk, g_dv, g_datt, g_dao, g_q, g_k, g_v, g_att, B, T, H, KVH, HD);
	expect("attention_backward d_q", down16(g_dq, (size_t)N * D), dq, (size_t)N * D, 5e-3);
	expect("attention_backward d_k", down16(g_dk, (size_t)N * KVD), dk, (size_t)N * KVD, 5e-3);
	expect("attention_backward d_v", down16(g_dv, (size_t)N * KVD), dv, (size_t)N * KVD, 5e-3);
	if (gpu_flash_supported(HD)) {
		float *g_lse = alloc32((size_t)B * H * T);
		gpu_bf16 *g_fo = alloc16((size_t)N * D), *g_fdq = alloc16((size_t)N * D);
		gpu_bf16 *g_fdk = alloc16((size_t)N * KVD), *g_fdv = alloc16((size_t)N * KVD);
		float *g_fs = alloc32(gpu_flash_scratch(B, T, H, KVH, HD));
		gpu_flash_forward(g_fo, g_lse, g_q, g_k, g_v, d_seg, B, T, H, KVH, HD);
		float *fo = down16(g_fo, (size_t)N * D);
		expect("flash_forward out vs CPU", fo, ao, (size_t)N * D, 5e-3);
		expect("flash_forward out vs naive GPU", fo, down16(g_ao, (size_t)N * D), (size_t)N * D, 5e-3);
		gpu_flash_backward(g_fdq, g_fdk, g_fdv, g_fs, g_dao, g_fo, g_q, g_k, g_v, g_lse, d_seg, B, T, H, KVH, HD);
		expect("flash_backward d_q vs CPU", down16(g_fdq, (size_t)N * D), dq, (size_t)N * D, 8e-3);
		expect("flash_backward d_k vs CPU", down16(g_fdk, (size_t)N * KVD), dk, (size_t)N * KVD, 8e-3);
		expect("flash_backward d_v vs CPU", down16(g_fdv, (size_t)N * KVD), dv, (size_t)N * KVD, 8e-3);
	}

	/* SwiGLU, residual */
	size_t nf = (size_t)N * F;
	float *gt = hrand(nf, 2, 1), *upv = hrand(nf, 1, 1), *hs = malloc(nf * 4);
	gpu_bf16 *g_gt = up16(gt, nf), *g_up = up16(upv, nf), *g_hs = alloc16(nf);
	swiglu_forward(hs, gt, upv, nf);
	gpu_swiglu_forward(g_hs, g_gt, g_up, nf);
	expect("swiglu_forward", down16(g_hs, nf), hs, nf, 5e-3);
	float *dhs = hrand(nf, 1, 1), *dgt = calloc(nf, 4), *dup_ = calloc(nf, 4);
	gpu_bf16 *g_dhs = up16(dhs, nf), *g_dgt = alloc16(nf), *g_dup = alloc16(nf);
	swiglu_backward(dgt, dup_, dhs, gt, upv, nf);
	gpu_swiglu_backward(g_dgt, g_dup, g_dhs, g_gt, g_up, nf);
	expect("swiglu_backward d_gate", down16(g_dgt, nf), dgt, nf, 5e-3);
	expect("swiglu_backward d_up", down16(g_dup, nf), dup_, nf, 5e-3);
	float *ra = hrand((size_t)N * D, 1, 0), *rb = hrand((size_t)N * D, 1, 0), *rc = malloc((size_t)N * D * 4);
	float *g_ra = up32(ra, (size_t)N * D), *g_rb = up32(rb, (size_t)N * D), *g_rc = alloc32((size_t)N * D);
	residual_forward(rc, ra, rb, (size_t)N * D);
	gpu_residual_forward(g_rc, g_ra, g_rb, (size_t)N * D);
	expect("residual_forward", down32(g_rc, (size_t)N * D), rc, (size_t)N * D, 1e-6);

	/* cross-entropy (with ignored targets) */
	float *lg = hrand((size_t)N * V, 3, 1), losses[N], lse_c[N];
	gpu_bf16 *g_lg = up16(lg, (size_t)N * V);
	float *g_loss = alloc32(N), *g_lse2 = alloc32(N);
	crossentropy_forward(losses, lse_c, lg, tgt, N, V);
	gpu_crossentropy_forward(g_loss, g_lse2, g_lg, d_tgt, N, V);
	float *gl = down32(g_loss, N);
	expect("crossentropy_forward losses", gl, losses, N, 1e-5);
	expect("crossentropy_forward log-sum-exp", down32(g_lse2, N), lse_c, N, 1e-5);
	int zeros = 1;
	for (int i = 0; i < N; i++)
		zeros &= tgt[i] >= 0 || gl[i] == 0.0f;
	check("crossentropy ignores target -1 (SFT mask)", zeros);
	crossentropy_backward(lg, lse_c, tgt, 0.01f, N, V);
	gpu_crossentropy_backward(g_lg, g_lse2, d_tgt, 0.01f, N, V);
	expect("crossentropy_backward d_logits", down16(g_lg, (size_t)N * V), lg, (size_t)N * V, 5e-3);

	/* gradient norm, AdamW */
	size_t np = 100003;
	float *gg = hrand(np, 1, 0);
	double *g_ss = gpu_malloc(8), *g_part = gpu_malloc(1024 * 8), ss = 0;
	float *g_gg = up32(gg, np);
	gpu_sumsq(g_ss, g_gg, np, g_part);
	gpu_download(&ss, g_ss, 8);
	float cnorm = adamw_clip(fdup(gg, np), np, 0), gnorm = (float)sqrt(ss);
	expect("grad norm", &gnorm, &cnorm, 1, 1e-6);
	float *pp = hrand(np, 1, 0), *mm = hrand(np, 0.1f, 0), *vv = hrand(np, 0.1f, 0);
	for (size_t i = 0; i < np; i++)
		vv[i] = vv[i] * vv[i];
	float *g_pp = up32(pp, np), *g_mm = up32(mm, np), *g_vv = up32(vv, np);
	gpu_bf16 *g_p16 = alloc16(np);
	/* the CPU twin through a one-tensor "model": scale the gradients as clipping would */
	float gs = 0.5f;
	for (size_t i = 0; i < np; i++)
		gg[i] *= gs;
	{
		float c1 = 1 - powf(0.9f, 3), c2 = 1 - powf(0.95f, 3);
		for (size_t i = 0; i < np; i++) {
			float m1 = 0.9f * mm[i] + 0.1f * gg[i], v1 = 0.95f * vv[i] + 0.05f * gg[i] * gg[i];
			mm[i] = m1;
			vv[i] = v1;
			pp[i] -= 1e-3f * ((m1 / c1) / (sqrtf(v1 / c2) + 1e-5f) + 0.1f * pp[i]);
		}
		gpu_adamw(g_pp, g_p16, g_gg, g_mm, g_vv, np, 1e-3f, 0.9f, 0.95f, 1e-5f, 0.1f, c1, c2, gs);
	}
	expect("adamw params", down32(g_pp, np), pp, np, 1e-6);
	expect("adamw m", down32(g_mm, np), mm, np, 1e-6);
	expect("adamw v", down32(g_vv, np), vv, np, 1e-6);
	expect("adamw bf16 copy", down16(g_p16, np), pp, np, 5e-3);
	gpu_sync();
}

/* the fused kernel at the other head sizes it supports, against the CPU (documents, GQA 3:1) */
static void check_flash_head(int hd)
{
	enum { B = 1, T = 70, H = 6, KVH = 2 };
	int D = H * hd, KVD = KVH * hd;
	size_t nq = (size_t)B * T * D, nk = (size_t)B * T * KVD;
	char what[64];
	int32_t seg[B * T];
	for (int t = 0; t < T; t++)
		seg[t] = t < 37 ? 0 : 1;
	printf("fused attention, head size %d (T=%d, GQA %d/%d)\n", hd, T, H, KVH);
	float *q = hrand(nq, 1, 1), *k = hrand(nk, 1, 1), *v = hrand(nk, 1, 1), *dout = hrand(nq, 1, 1);
	float *o = malloc(nq * 4), *att = malloc((size_t)B * H * T * T * 4);
	float *datt = malloc((size_t)omp_get_max_threads() * T * T * 4);
	float *dq = calloc(nq, 4), *dk = calloc(nk, 4), *dv = calloc(nk, 4);
	attention_forward(o, att, q, k, v, seg, B, T, H, KVH, hd);
	attention_backward(dq, dk, dv, datt, dout, q, k, v, att, B, T, H, KVH, hd);
	int32_t *g_seg = upi(seg, (size_t)B * T);
	gpu_bf16 *g_q = up16(q, nq), *g_k = up16(k, nk), *g_v = up16(v, nk), *g_do = up16(dout, nq);
	gpu_bf16 *g_o = alloc16(nq), *g_dq = alloc16(nq), *g_dk = alloc16(nk), *g_dv = alloc16(nk);
	float *g_lse = alloc32((size_t)B * H * T), *g_s = alloc32(gpu_flash_scratch(B, T, H, KVH, hd));
	gpu_flash_forward(g_o, g_lse, g_q, g_k, g_v, g_seg, B, T, H, KVH, hd);
	snprintf(what, sizeof what, "flash_forward out (hd %d)", hd);
	expect(what, down16(g_o, nq), o, nq, 5e-3);
	gpu_flash_backward(g_dq, g_dk, g_dv, g_s, g_do, g_o, g_q, g_k, g_v, g_lse, g_seg, B, T, H, KVH, hd);
	snprintf(what, sizeof what, "flash_backward d_q (hd %d)", hd);
	expect(what, down16(g_dq, nq), dq, nq, 8e-3);
	snprintf(what, sizeof what, "flash_backward d_k (hd %d)", hd);
	expect(what, down16(g_dk, nk), dk, nk, 8e-3);
	snprintf(what, sizeof what, "flash_backward d_v (hd %d)", hd);
	expect(what, down16(g_dv, nk), dv, nk, 8e-3);
}

/* ---------------------------------------------------------------- the whole model */

static model_config tiny(int reward)
{
	model_config c = { 256, 2, 4, 2, 688, 512, 64, 1e-5f, 10000.0f, reward };
	model_config s = { 128, 2, 4, 2, 344, 256, 64, 1e-5f, 10000.0f, reward };
	return small ? s : c;
}

static void fill_batch(int32_t *in, int32_t *tg, int32_t *pos, int32_t *seg, int32_t *last, int B, int T, int V)
{
	for (int b = 0; b < B; b++) {
		int doc = 0, start = 0;
		for (int t = 0; t < T; t++) {
			int i = b * T + t;
			if (t == T / 3 + b || t == 2 * T / 3) { /* a new document */
				doc++;
				start = t;
			}
			in[i] = (int32_t)(rng_u64(&R) % (uint64_t)V);
			tg[i] = t - start < 5 ? -1 : (int32_t)(rng_u64(&R) % (uint64_t)V); /* prompt tokens: no loss */
			pos[i] = t - start;
			seg[i] = doc;
		}
		last[b] = T - 1 - 3 * b;
	}
}

static void check_model(int flash)
{
	enum { B = 2, T = 64 };
	model_config c = tiny(0);
	model m;
	sp_err err = SP_ERR_INIT;
	printf("model forward/backward (dim %d, %d layers, heads %d/%d, vocab %d, %dx%d, %s attention)\n", c.dim,
	       c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, B, T, flash ? "fused" : "naive");
	if (model_init(&m, &c, B, T, &err) < 0) {
		printf("  model_init: %s\n", err.msg);
		n_fail++;
		return;
	}
	model_init_weights(&m, 7);
	/* the CPU reference computes with the bf16 weights the GPU multiplies with */
	for (int i = 0; i < P_COUNT; i++)
		if (m.ti[i].rows > 1)
			device_round_bf16(m.p[i], m.ti[i].size);
	int32_t in[B * T], tg[B * T], pos[B * T], seg[B * T], last[B];
	fill_batch(in, tg, pos, seg, last, B, T, c.vocab_size);
	model_batch mb = { B, T, in, tg, pos, seg, last };
	gpu_model *g = gpu_model_create(&m, B, T, flash);
	gpu_model_poison(g);
	float cl, gl, glosses[B * T];
	size_t cn, gn;
	model_forward(&m, &mb, &cl, &cn);
	gpu_model_forward(g, &mb, &gl, &gn, glosses, NULL);
	size_t nl = (size_t)B * T * c.vocab_size;
	float *logits = malloc(nl * 4);
	gpu_model_download_logits(g, logits, nl);
	expect("logits", logits, m.logits, nl, 1.5e-2);
	expect("per-position losses", glosses, m.losses, (size_t)B * T, 1e-3);
	expect("mean loss", &gl, &cl, 1, 1e-3);
	check("counted targets agree (SFT mask)", cn == gn);
	int zero = 1;
	for (int i = 0; i < B * T; i++)
		zero &= tg[i] >= 0 || glosses[i] == 0.0f;
	check("masked positions have loss 0", zero);
	model_zero_grad(&m);
	gpu_model_zero_grad(g);
	model_backward(&m, &mb, 1.0f / (float)cn, NULL);
	gpu_model_backward(g, &mb, 1.0f / (float)gn, NULL);
	float *grads = malloc(m.n_params * 4);
	gpu_model_download_grads(g, grads);
	size_t off = 0;
	for (int i = 0; i < P_COUNT; i++) {
		if (m.ti[i].size) {
			char what[80];
			snprintf(what, sizeof what, "grad %s", m.ti[i].hf_name);
			expect(what, grads + off, m.g[i], m.ti[i].size, 2.5e-2);
		}
		off += m.ti[i].size;
	}
	float cnorm = adamw_clip(m.grads, m.n_params, 0), gnorm = gpu_model_grad_norm(g);
	expect("gradient norm", &gnorm, &cnorm, 1, 5e-3);

	if (!flash) { /* KV-cache decoding against the CPU decoder */
		decode_state ds;
		gpu_decoder *gd = gpu_decoder_create(g, 16);
		float *gl16 = malloc((size_t)c.vocab_size * 4);
		if (decode_init(&ds, &m, 16, &err) == 0) {
			double worst = 0;
			for (int t = 0; t < 12; t++) {
				const float *cl2 = decode_step(&ds, &m, in[t]);
				gpu_decoder_step(gd, in[t], gl16);
				double e = relerr(gl16, cl2, (size_t)c.vocab_size);
				worst = e > worst ? e : worst;
			}
			expect("decode logits (12 positions, worst)", (float[]){ (float)worst }, (float[]){ 0 }, 1, 1.5e-2);
			decode_release(&ds);
		}
		free(gl16);
		gpu_decoder_destroy(gd);
	}
	free(grads);
	free(logits);
	gpu_model_destroy(g);
	model_release(&m);
}

static void check_reward(void)
{
	enum { P = 2, B = 2 * P, T = 32 };
	model_config c = tiny(1);
	model m;
	sp_err err = SP_ERR_INIT;
	printf("reward model with margin loss (%d pairs of %d tokens)\n", P, T);
	if (model_init(&m, &c, B, T, &err) < 0) {
		n_fail++;
		return;
	}
	model_init_weights(&m, 11);
	for (int i = 0; i < P_COUNT; i++)
		if (m.ti[i].rows > 1)
			device_round_bf16(m.p[i], m.ti[i].size);
	int32_t in[B * T], tg[B * T], pos[B * T], seg[B * T], last[B];
	fill_batch(in, tg, pos, seg, last, B, T, c.vocab_size);
	model_batch mb = { B, T, in, NULL, pos, NULL, last };
	gpu_model *g = gpu_model_create(&m, B, T, 0);
	gpu_model_poison(g);
	float gr[B], margin[P] = { 1.0f, 0.33f }, dc[P], dr[P], gdc[P], gdr[P], dre[B], gdre[B];
	model_forward(&m, &mb, NULL, NULL);
	gpu_model_forward(g, &mb, NULL, NULL, NULL, gr);
	expect("rewards", gr, m.rewards, B, 1.5e-2);
	float rc[P], rr[P], grc[P], grr[P];
	for (int i = 0; i < P; i++) {
		rc[i] = m.rewards[2 * i];
		rr[i] = m.rewards[2 * i + 1];
		grc[i] = gr[2 * i];
		grr[i] = gr[2 * i + 1];
	}
	float cl = rm_loss(rc, rr, margin, P, dc, dr), gl = rm_loss(grc, grr, margin, P, gdc, gdr);
	expect("margin ranking loss", &gl, &cl, 1, 5e-3);
	for (int i = 0; i < P; i++) {
		dre[2 * i] = dc[i];
		dre[2 * i + 1] = dr[i];
		gdre[2 * i] = gdc[i];
		gdre[2 * i + 1] = gdr[i];
	}
	model_zero_grad(&m);
	gpu_model_zero_grad(g);
	model_backward(&m, &mb, 0, dre);
	gpu_model_backward(g, &mb, 0, gdre);
	float *grads = malloc(m.n_params * 4);
	gpu_model_download_grads(g, grads);
	size_t off = 0;
	for (int i = 0; i < P_COUNT; i++) {
		if (m.ti[i].size && (i == P_SCORE || i == P_FINAL_NORM || i == P_WQ || i == P_EMBED)) {
			char what[80];
			snprintf(what, sizeof what, "grad %s", m.ti[i].hf_name);
			expect(what, grads + off, m.g[i], m.ti[i].size, 2.5e-2);
		}
		off += m.ti[i].size;
	}
	free(grads);
	gpu_model_destroy(g);
	model_release(&m);
}

/* ---------------------------------------------------------------- training */

static void check_training(void)
{
	enum { STEPS = 50 };
	model_config c = tiny(0);
	c.vocab_size = 256;
	if (small) { /* dim 64, head size 32: the 50 steps take a minute in the emulator */
		c.dim = 64;
		c.n_heads = 2;
		c.n_kv_heads = 1;
		c.hidden_dim = 172;
	}
	train_data dc, dg;
	sp_err err = SP_ERR_INIT;
	train_opts o;
	train_opts_default(&o);
	int T = small ? 32 : 64;
	o.steps = STEPS;
	o.batch = small ? 2 : 4;
	o.lr = 3e-3f;
	o.spike_k = 0;
	printf("training: %d steps on synthetic rows, GPU loss curve against the CPU's\n", STEPS);
	/* rows of 32 distinct tokens: the loss falls from ln 256 towards ln 32 within 50 steps (with all
	 * 256 tokens it stays at ln 256 for longer than 50 steps, on the CPU too, and "falls as far"
	 * compared noise) */
	if (data_synth_open(&dc, 32, T, 5, &err) < 0 || data_synth_open(&dg, 32, T, 5, &err) < 0) {
		printf("  data: %s\n", err.msg);
		n_fail++;
		return;
	}
	trainer tc, tg;
	if (trainer_init(&tc, &o, &c, &dc, NULL, &err) < 0 || trainer_init(&tg, &o, &c, &dg, NULL, &err) < 0) {
		printf("  trainer_init: %s\n", err.msg);
		n_fail++;
		return;
	}
	train_device *dev = NULL;
	if (train_device_open("cuda", &tg, 0, &dev, &err) < 0 || !dev) {
		printf("  train_device_open: %s\n", err.msg);
		n_fail++;
		return;
	}
	tg.dev = dev;
	double worst = 0;
	float first = 0, first_cpu = 0;
	for (int s = 0; s < STEPS; s++) {
		if (trainer_step(&tc, &err) < 0 || trainer_step(&tg, &err) < 0) {
			printf("  step %d: %s\n", s, err.msg);
			n_fail++;
			return;
		}
		double e = fabs((double)tg.last_loss - tc.last_loss) / tc.last_loss;
		worst = e > worst ? e : worst;
		if (s == 0) {
			first = tg.last_loss;
			first_cpu = tc.last_loss;
		}
		if (s % 10 == 9 || s == 0)
			printf("    step %2d  cpu %.4f  gpu %.4f\n", s + 1, (double)tc.last_loss, (double)tg.last_loss);
	}
	expect("loss curve (worst step, relative)", (float[]){ (float)worst }, (float[]){ 0 }, 1, 2e-2);
	check("GPU loss falls as far as the CPU's (within 10%)", tg.last_loss - first <= 0.9f * (tc.last_loss - first_cpu));
	/* a checkpoint written from the GPU resumes on the CPU with the GPU's weights */
	char dir[] = "/tmp/spindle-check-gpu-XXXXXX";
	if (mkdtemp(dir)) {
		trainer tr;
		train_data dr;
		int ok = trainer_save(&tg, dir, &err) == 0 && data_synth_open(&dr, 32, T, 5, &err) == 0 &&
		         trainer_init(&tr, &o, &c, &dr, NULL, &err) == 0 && trainer_resume(&tr, dir, &err) == 0;
		/* the device's weights, pulled through the device's own operation (dev->ctx is the device
		 * context, not a gpu_model: passing it to gpu_model_download_params read garbage, which the
		 * emulator reported as a copy from outside any device allocation) */
		float *p = malloc(tg.m.n_params * 4);
		model pm = tg.m;
		pm.params = p;
		dev->ops->pull(dev->ctx, &pm, NULL);
		ok = ok && memcmp(p, tr.m.params, tg.m.n_params * 4) == 0 && tr.step == tg.step && tr.opt.t == tg.opt.t;
		check("GPU checkpoint resumes on the CPU (same weights)", ok);
		free(p);
		char cmd[256];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("  (could not remove %s)\n", dir);
	}
	train_device_close(dev);
	tg.dev = NULL;
	trainer_release(&tc);
	trainer_release(&tg);
}

/* PPO's ops (issue 13) against train/ppo.c: fp32 in and out, so 1e-5 except the gradient rows
 * (a softmax of fp32 logits, expf vs exp: 1e-5 too); GAE's sums are sequential in both (1e-6). */
static void check_ppo(void)
{
	enum { N = 40, V = 300, NR = 5 };
	printf("ppo ops (N=%d, V=%d)\n", N, V);
	int32_t act[N];
	float lpo[N], adv[N];
	for (int i = 0; i < N; i++) {
		act[i] = i % 6 == 1 ? -1 : (int32_t)(rng_u64(&R) % V);
		lpo[i] = -6.0f + 2.0f * rng_uniform(&R);   /* some ratios far from 1: both clip branches */
		adv[i] = rng_normal(&R);
	}
	float *z = hrand((size_t)N * V, 3, 0), *lp = calloc(N, 4), *ent = calloc(N, 4);
	float *d_z = up32(z, (size_t)N * V), *d_lp = alloc32(N), *d_ent = alloc32(N);
	int32_t *d_act = upi(act, N);
	ppo_logprobs(lp, ent, z, act, N, V, 0.7f);
	gpu_ppo_logprobs(d_lp, d_ent, d_z, d_act, N, V, 0.7f);
	float *r1 = down32(d_lp, N), *r2 = down32(d_ent, N);
	for (int i = 0; i < N; i++)
		if (act[i] < 0)
			r1[i] = lp[i], r2[i] = ent[i]; /* rows without an action are not written */
	expect("ppo_logprobs", r1, lp, N, 1e-5);
	expect("ppo_logprobs entropy", r2, ent, N, 1e-5);
	free(r1), free(r2);
	float *loss = calloc(N, 4), *cl = calloc(N, 4), *kl = calloc(N, 4), *ra = calloc(N, 4);
	float *d_loss = alloc32(N), *d_cl = alloc32(N), *d_kl = alloc32(N), *d_ra = alloc32(N);
	float *d_lpo = up32(lpo, N), *d_adv = up32(adv, N);
	ppo_policy_grad(z, loss, cl, kl, ra, act, lpo, adv, N, V, 0.7f, 0.2f, 1.0f / 30);
	gpu_ppo_policy_grad(d_z, d_loss, d_cl, d_kl, d_ra, d_act, d_lpo, d_adv, N, V, 0.7f, 0.2f, 1.0f / 30);
	float *gz = down32(d_z, (size_t)N * V), *gl = down32(d_loss, N), *gc = down32(d_cl, N), *gk = down32(d_kl, N), *gr = down32(d_ra, N);
	expect("ppo_policy_grad dlogits", gz, z, (size_t)N * V, 1e-5);
	expect("ppo_policy_grad loss", gl, loss, N, 1e-5);
	expect("ppo_policy_grad kl", gk, kl, N, 1e-5);
	expect("ppo_policy_grad ratio", gr, ra, N, 1e-5);
	int same = 1, some = 0;
	for (int i = 0; i < N; i++)
		same &= gc[i] == cl[i], some += cl[i] != 0;
	check("ppo_policy_grad clip flags equal (and some rows clipped)", same && some > 0 && some < N);
	free(gz), free(gl), free(gc), free(gk), free(gr);
	int off[NR + 1] = { 0, 7, 8, 20, 33, N };
	float *rw = hrand(N, 1, 0), *vv = hrand(N, 1, 0), *a1 = calloc(N, 4), *t1 = calloc(N, 4);
	float *d_rw = up32(rw, N), *d_v = up32(vv, N), *d_a = alloc32(N), *d_t = alloc32(N);
	int *d_off = gpu_malloc(sizeof off);
	gpu_upload(d_off, off, sizeof off);
	ppo_gae_batch(a1, t1, rw, vv, off, NR, 0.99f, 0.95f);
	gpu_ppo_gae_batch(d_a, d_t, d_rw, d_v, d_off, NR, 0.99f, 0.95f);
	float *ga = down32(d_a, N), *gt = down32(d_t, N);
	expect("ppo_gae_batch advantages", ga, a1, N, 1e-6);
	expect("ppo_gae_batch returns", gt, t1, N, 1e-6);
	free(ga), free(gt), free(rw), free(vv), free(a1), free(t1);
	free(z), free(lp), free(ent), free(loss), free(cl), free(kl), free(ra);
	gpu_free(d_z), gpu_free(d_lp), gpu_free(d_ent), gpu_free(d_act), gpu_free(d_loss), gpu_free(d_cl), gpu_free(d_kl);
	gpu_free(d_ra), gpu_free(d_lpo), gpu_free(d_adv), gpu_free(d_rw), gpu_free(d_v), gpu_free(d_a), gpu_free(d_t), gpu_free(d_off);
}

int main(void)
{
	char name[256], why[256];
	int n = gpu_device_count(name, sizeof name, why, sizeof why);
	if (n <= 0) {
		printf("check-gpu: SKIP: no usable CUDA GPU (%s)\n", why);
		return 0;
	}
	const char *sm = getenv("SPINDLE_CHECK_GPU_SMALL");
	small = sm && *sm == '1';
	printf("check-gpu on %s%s\n", name, small ? " (small sizes)" : "");
	rng_seed(&R, 20261126);
	double t0 = now_s();
#define SECTION(call) do { call; printf("  (%.1f s)\n", now_s() - t0); t0 = now_s(); fflush(stdout); } while (0)
	SECTION(check_kernels());
	SECTION(check_flash_head(32));
	SECTION(check_flash_head(128));
	const char *parts = getenv("SPINDLE_CHECK_GPU_PARTS"); /* "kernels": these only (the ASan tier) */
	if (!parts || strcmp(parts, "kernels")) {
		SECTION(check_model(0));
		if (gpu_flash_supported(tiny(0).dim / tiny(0).n_heads))
			SECTION(check_model(1));
		SECTION(check_reward());
		SECTION(check_training());
		SECTION(check_ppo());
	}
	printf("check-gpu: %d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
