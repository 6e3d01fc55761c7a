/* dpo.c - DPO's loss, the reference model's cached log-probabilities and the trainer hook (dpo.h).
 * The loss is -log sigmoid(beta * delta - margin) with delta the chosen-over-rejected log-ratio of
 * the policy against the frozen reference; its gradient reaches the model as a weight per response
 * token (model_backward_tokens). The reference never changes during a run, so its log-probabilities
 * are computed once and kept in a cache file keyed by what they depend on. */
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "dpo.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/mem.h"

void dpo_row_logps(const model *m, const model_batch *b, double *out)
{
	for (int r = 0; r < b->B; r++) {
		double s = 0;
		for (int t = 0; t < b->T; t++) {
			size_t i = (size_t)r * b->T + t;
			if (b->targets[i] >= 0)
				s -= m->losses[i];
		}
		out[r] = s;
	}
}

/* -log sigmoid(x) without overflow */
static double softplus_neg(double x)
{
	return x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
}

double dpo_loss(const double *pc, const double *pr, const double *rc, const double *rr, const float *margin,
                double beta, int n, double *g_chosen, double *g_rejected)
{
	double total = 0;
	for (int i = 0; i < n; i++) {
		double delta = (pc[i] - rc[i]) - (pr[i] - rr[i]);
		double x = beta * delta - (margin ? margin[i] : 0);
		total += softplus_neg(x);
		double g = -1.0 / (1.0 + exp(x)) / n;   /* d/dx of the mean: -sigmoid(-x) / n */
		if (g_chosen)
			g_chosen[i] = g * beta;
		if (g_rejected)
			g_rejected[i] = -g * beta;
	}
	return n ? total / n : 0.0;
}

/* ---------------------------------------------------------------- reference cache */

void dpo_ref_release(dpo_ref *r)
{
	sp_free(r->lp);
	memset(r, 0, sizeof *r);
}

/* the key: everything the reference log-probabilities depend on */
static int ref_key(sp_buf *key, const char *data_path, const char *ref_dir, const train_data *d, const char *category,
                   sp_err *err)
{
	uint64_t hd, hm;
	char p[4096];
	snprintf(p, sizeof p, "%s/model.safetensors", ref_dir);
	SP_FORWARD(sp_xxh64_file(data_path, &hd, err));
	SP_FORWARD(sp_xxh64_file(p, &hm, err));
	sp_buf_reset(key);
	if (sp_buf_appendf(key, "{\"data_xxh64\":\"%016llx\",\"reference_xxh64\":\"%016llx\",\"tokenizer\":\"%016llx\","
	                        "\"seq_len\":%d,\"category\":\"%s\",\"pairs\":%zu}",
	                   (unsigned long long)hd, (unsigned long long)hm, (unsigned long long)d->tokenizer_id, d->seq_len,
	                   category ? category : "all", data_dpo_count(d)) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

/* 1 when path holds a cache with this key (r filled), 0 when not (absent, stale or unreadable) */
static int ref_read(dpo_ref *r, const char *path, const sp_buf *key, size_t n_pairs)
{
	sp_buf s = SP_BUF_INIT;
	if (sp_read_file(path, &s, NULL) < 0 || s.len == 0) {  /* (an empty read leaves no NUL) */
		sp_buf_release(&s);
		return 0;
	}
	json_object *o = json_tokener_parse(s.p ? s.p : ""), *k, *lp;
	sp_buf_release(&s);
	json_object *want = json_tokener_parse(key->p);
	int ok = o && want && json_object_object_get_ex(o, "key", &k) && json_object_equal(k, want) &&
	         json_object_object_get_ex(o, "logps", &lp) && json_object_is_type(lp, json_type_array) &&
	         json_object_array_length(lp) == 2 * n_pairs;
	json_object_put(want);
	if (ok && !(r->lp = sp_malloc(2 * n_pairs * sizeof *r->lp)))
		ok = 0;
	for (size_t i = 0; ok && i < 2 * n_pairs; i++) {
		json_object *x = json_object_array_get_idx(lp, i);
		if (!json_object_is_type(x, json_type_double) && !json_object_is_type(x, json_type_int))
			ok = 0;
		else
			r->lp[i] = json_object_get_double(x);
	}
	json_object_put(o);
	if (!ok) {
		sp_free(r->lp);
		r->lp = NULL;
		return 0;
	}
	r->n_pairs = n_pairs;
	r->from_cache = 1;
	return 1;
}

int dpo_ref_get(dpo_ref *r, const char *cache_path, int write_cache, const char *data_path, const char *ref_dir,
                model *ref_model, train_data *d, const char *category, int B, sp_err *err)
{
	memset(r, 0, sizeof *r);
	size_t n = data_dpo_count(d);
	sp_buf key = SP_BUF_INIT;
	int rc = 0;
	if (cache_path) {
		rc = ref_key(&key, data_path, ref_dir, d, category, err);
		if (rc == 0 && ref_read(r, cache_path, &key, n)) {
			sp_buf_release(&key);
			return 0;
		}
	}
	train_batch b = TRAIN_BATCH_INIT;
	double *lp = sp_malloc((size_t)B * sizeof *lp);
	r->lp = sp_malloc(2 * n * sizeof *r->lp);
	if (rc == 0 && (!lp || !r->lp))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	rc = rc ? rc : train_batch_alloc(&b, B, d->seq_len, err);
	size_t next = 0;
	while (rc == 0 && next < n) {
		int k;
		data_dpo_fill_sequential(d, &b, &next, &k);
		const uint32_t *pairs = b.item;
		model_batch mb = train_batch_view(&b);
		model_forward(ref_model, &mb, NULL, NULL);
		dpo_row_logps(ref_model, &mb, lp);
		for (int j = 0; j < k; j++) {
			r->lp[2 * pairs[j]] = lp[2 * j];
			r->lp[2 * pairs[j] + 1] = lp[2 * j + 1];
		}
	}
	train_batch_release(&b);
	sp_free(lp);
	r->n_pairs = n;
	if (rc == 0 && cache_path && write_cache) {
		/* %.17g: a double reads back to the same bits */
		sp_buf s = SP_BUF_INIT;
		sp_buf_appends(&s, "{\"format\":\"spindle-dpo-ref/1\",\"key\":");
		sp_buf_append(&s, key.p, key.len);
		sp_buf_appends(&s, ",\"logps\":[");
		for (size_t i = 0; i < 2 * n; i++)
			sp_buf_appendf(&s, "%s%.17g", i ? "," : "", r->lp[i]);
		if (sp_buf_appends(&s, "]}\n") < 0)
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		rc = rc ? rc : sp_write_file_atomic(cache_path, s.p, s.len, err);
		sp_buf_release(&s);
	}
	sp_buf_release(&key);
	if (rc < 0)
		dpo_ref_release(r);
	return rc;
}

/* ---------------------------------------------------------------- trainer hook */

static int reserve(dpo_hook *h, int rows, size_t toks)
{
	if ((size_t)rows > h->cap_rows) {
		double **arr[] = { &h->lp, &h->g_c, &h->g_r, &h->pc, &h->pr, &h->rc, &h->rr };
		for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++) {
			double *p = sp_realloc(*arr[i], (size_t)rows * sizeof *p);
			if (!p)
				return -1;
			*arr[i] = p;
		}
		h->cap_rows = (size_t)rows;
	}
	if (toks > h->cap_tok) {
		float *p = sp_realloc(h->dtok, toks * sizeof *p);
		if (!p)
			return -1;
		h->dtok = p;
		h->cap_tok = toks;
	}
	return 0;
}

/* policy forward, loss against the reference, per-token weights, backward */
static int micro(void *ctx, trainer *t, train_batch *b, double *loss, sp_err *err)
{
	dpo_hook *h = ctx;
	int P = b->B / 2, T = b->T;
	if (reserve(h, b->B, (size_t)b->B * T) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	model_batch mb = train_batch_view(b);
	model_forward(&t->m, &mb, NULL, NULL);
	dpo_row_logps(&t->m, &mb, h->lp);
	const uint32_t *pairs = b->item;  /* (the source's state may be past this batch: data_dist.c) */
	for (int k = 0; k < P; k++) {
		h->pc[k] = h->lp[2 * k];
		h->pr[k] = h->lp[2 * k + 1];
		h->rc[k] = h->ref->lp[2 * pairs[k]];
		h->rr[k] = h->ref->lp[2 * pairs[k] + 1];
	}
	*loss = dpo_loss(h->pc, h->pr, h->rc, h->rr, b->margin, h->beta, P, h->g_c, h->g_r);
	/* this micro-batch's statistics join the step's in one addition each (trainer.h) */
	double chosen = 0, rejected = 0, correct = 0, div = (double)trainer_grad_divisor(t);
	for (int k = 0; k < P; k++) {
		double rwc = h->beta * (h->pc[k] - h->rc[k]), rwr = h->beta * (h->pr[k] - h->rr[k]);
		chosen += rwc;
		rejected += rwr;
		correct += rwc > rwr;
		/* the token weight is dLoss/d(-log p) = -dLoss/d(log p of the row), over the step's micro-batches */
		float wc = (float)(-h->g_c[k] / div), wr = (float)(-h->g_r[k] / div);
		for (int i = 0; i < T; i++) {
			h->dtok[(size_t)(2 * k) * T + i] = wc;
			h->dtok[(size_t)(2 * k + 1) * T + i] = wr;
		}
	}
	h->sums[DPO_SUM_CHOSEN] += chosen;
	h->sums[DPO_SUM_REJECTED] += rejected;
	h->sums[DPO_SUM_CORRECT] += correct;
	h->sums[DPO_SUM_PAIRS] += P;
	model_backward_tokens(&t->m, &mb, h->dtok);
	return 0;
}

static void log_fields(void *ctx, sp_buf *l)
{
	const dpo_hook *h = ctx;
	const double *s = h->sums;
	double n = s[DPO_SUM_PAIRS] > 0 ? s[DPO_SUM_PAIRS] : 1;
	sp_buf_appendf(l, ",\"reward_accuracy\":%.4f,\"reward_chosen\":%.6g,\"reward_rejected\":%.6g,\"reward_margin\":%.6g",
	               s[DPO_SUM_CORRECT] / n, s[DPO_SUM_CHOSEN] / n, s[DPO_SUM_REJECTED] / n,
	               (s[DPO_SUM_CHOSEN] - s[DPO_SUM_REJECTED]) / n);
}

int dpo_hook_init(dpo_hook *h, const dpo_ref *ref, double beta, sp_err *err)
{
	(void)err;
	memset(h, 0, sizeof *h);
	h->ref = ref;
	h->beta = beta;
	h->hook.name = "dpo";
	h->hook.ctx = h;
	h->hook.micro = micro;
	h->hook.one_backward = 1;   /* micro: one model_backward_tokens */
	h->hook.sums = h->sums;
	h->hook.n_sums = DPO_N_SUMS;
	h->hook.log = log_fields;
	return 0;
}

void dpo_hook_release(dpo_hook *h)
{
	sp_free(h->lp);
	sp_free(h->g_c);
	sp_free(h->g_r);
	sp_free(h->pc);
	sp_free(h->pr);
	sp_free(h->rc);
	sp_free(h->rr);
	sp_free(h->dtok);
	memset(h, 0, sizeof *h);
}

int dpo_evaluate(model *m, train_data *d, const dpo_ref *ref, int B, double *mean_delta, double *accuracy, sp_err *err)
{
	train_batch b = TRAIN_BATCH_INIT;
	double *lp = sp_malloc((size_t)B * sizeof *lp), sum = 0, good = 0;
	size_t next = 0, n = data_dpo_count(d);
	int rc = lp ? train_batch_alloc(&b, B, d->seq_len, err) : sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	while (rc == 0 && next < n) {
		int k;
		data_dpo_fill_sequential(d, &b, &next, &k);
		const uint32_t *pairs = b.item;
		model_batch mb = train_batch_view(&b);
		model_forward(m, &mb, NULL, NULL);
		dpo_row_logps(m, &mb, lp);
		for (int j = 0; j < k; j++) {
			double delta = (lp[2 * j] - ref->lp[2 * pairs[j]]) - (lp[2 * j + 1] - ref->lp[2 * pairs[j] + 1]);
			sum += delta;
			good += delta > 0;
		}
	}
	train_batch_release(&b);
	sp_free(lp);
	*mean_delta = n ? sum / (double)n : 0;
	*accuracy = n ? good / (double)n : 0;
	return rc;
}
