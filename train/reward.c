/* reward.c - reward models for RLHF: loading with the kind and tokenizer checks, batched scoring at
 * each sequence's last token, Llama 2's helpfulness/safety gate and whitening; and the prompt set
 * (annotate prompt records chat-encoded once, looked up by id). No sampling or training here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ckpt.h"
#include "data_chat.h"
#include "reward.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

double reward_sigmoid(double s)
{
	return s >= 0 ? 1.0 / (1.0 + exp(-s)) : exp(s) / (1.0 + exp(s));
}

double reward_logit(double p)
{
	if (p < 1e-12)
		p = 1e-12;
	if (p > 1 - 1e-12)
		p = 1 - 1e-12;
	return log(p / (1 - p));
}

double reward_gate(int has_h, double r_h, int has_s, double r_s, int is_safety, double thresh)
{
	if (has_h && has_s)
		return is_safety || r_s < thresh ? r_s : r_h;
	if (has_s)
		return r_s;
	if (has_h)
		return r_h;
	return NAN;
}

void reward_whiten(float *x, size_t n, double eps)
{
	if (n == 0)
		return;
	double mean = 0, var = 0;
	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	for (size_t i = 0; i < n; i++)
		var += ((double)x[i] - mean) * ((double)x[i] - mean);
	var /= (double)n;
	double inv = 1.0 / sqrt(var + eps);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(((double)x[i] - mean) * inv);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void reward_best_of_k(const double *r, size_t n, int K, int k, double *mean_max, double *mean_median)
{
	double smax = 0, smed = 0, tmp[1024];
	if (k > K)
		k = K;
	if (k > 1024)
		k = 1024;
	for (size_t i = 0; i < n; i++) {
		memcpy(tmp, r + i * (size_t)K, (size_t)k * sizeof *tmp);
		qsort(tmp, (size_t)k, sizeof *tmp, cmp_double);
		smax += tmp[k - 1];
		smed += k % 2 ? tmp[k / 2] : 0.5 * (tmp[k / 2 - 1] + tmp[k / 2]);
	}
	*mean_max = n ? smax / (double)n : NAN;
	*mean_median = n ? smed / (double)n : NAN;
}

/* ---------------------------------------------------------------- reward models */

int reward_open(reward_model *rm, const char *dir, const tok_model *tok, int B, sp_err *err)
{
	memset(rm, 0, sizeof *rm);
	model_config c;
	uint64_t tid = 0;
	snprintf(rm->dir, sizeof rm->dir, "%s", dir);
	SP_FORWARD(ckpt_read_config(dir, &c, &tid, err));
	if (!c.reward_head)
		SP_RAISE(err, SP_EDATA, "%s: is a language model, not a reward model (its config has no reward head)", dir);
	if (tok && tid && tid != tok_identity(tok))
		SP_RAISE(err, SP_EDATA, "%s: the reward model's tokenizer identity %016llx differs from the tokenizer's %016llx", dir,
		         (unsigned long long)tid, (unsigned long long)tok_identity(tok));
	if (tok && tok_vocab_size(tok) > (uint32_t)c.vocab_size)
		SP_RAISE(err, SP_EDATA, "%s: the tokenizer has more tokens than the reward model", dir);
	int rc = model_init(&rm->m, &c, B, c.max_seq_len, err);
	rc = rc ? rc : ckpt_load_model(dir, &rm->m, 0, NULL, err);
	size_t N = (size_t)B * c.max_seq_len;
	if (rc == 0 && (!(rm->inputs = sp_calloc(N, sizeof(int32_t))) || !(rm->targets = sp_calloc(N, sizeof(int32_t))) ||
	                !(rm->pos = sp_calloc(N, sizeof(int32_t))) || !(rm->last = sp_calloc((size_t)B, sizeof(int32_t)))))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc < 0) {
		reward_release(rm);
		return rc;
	}
	rm->B = B;
	return 0;
}

void reward_release(reward_model *rm)
{
	model_release(&rm->m);
	sp_free(rm->inputs);
	sp_free(rm->targets);
	sp_free(rm->pos);
	sp_free(rm->last);
	memset(rm, 0, sizeof *rm);
}

void reward_score(reward_model *rm, const tok_ids *const *seqs, size_t n, float *out)
{
	int ctx = rm->m.cfg.max_seq_len;
	for (size_t i0 = 0; i0 < n; i0 += (size_t)rm->B) {
		int B = (int)(n - i0 < (size_t)rm->B ? n - i0 : (size_t)rm->B), T = 1;
		for (int r = 0; r < B; r++) {
			size_t len = seqs[i0 + r]->n;
			if (len > (size_t)T)
				T = len > (size_t)ctx ? ctx : (int)len;
		}
		for (int r = 0; r < B; r++) {
			const tok_ids *s = seqs[i0 + r];
			size_t len = s->n > (size_t)T ? (size_t)T : s->n, a = s->n - len;
			for (int t = 0; t < T; t++) {
				rm->inputs[(size_t)r * T + t] = t < (int)len ? (int32_t)s->v[a + (size_t)t] : 0;
				rm->targets[(size_t)r * T + t] = -1;
				rm->pos[(size_t)r * T + t] = t;
			}
			rm->last[r] = len ? (int32_t)len - 1 : 0;
		}
		model_batch b = { B, T, rm->inputs, rm->targets, rm->pos, NULL, rm->last };
		model_forward(&rm->m, &b, NULL, NULL);
		for (int r = 0; r < B; r++)
			out[i0 + (size_t)r] = seqs[i0 + r]->n ? rm->m.rewards[r] : 0.0f;
	}
}

/* ---------------------------------------------------------------- prompt sets */

static const rl_prompts *sort_ctx;
static int by_id(const void *a, const void *b)
{
	return strcmp(sort_ctx->v[*(const size_t *)a].id, sort_ctx->v[*(const size_t *)b].id);
}

int rl_prompts_load(rl_prompts *p, const char *path, const tok_model *tok, sp_err *err)
{
	memset(p, 0, sizeof *p);
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_jsonl_next(in, &rec, err)) == 1) {
		rc = 0;
		const char *id = sp_record_id(&rec), *cat = NULL;
		size_t cn;
		json_object *dialog = sp_json_path(rec.obj, "dialog");
		if (!id || !*id || !dialog) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "prompt record lacks 'id' or 'dialog'");
		} else if (sp_record_str(&rec, "category", &cat, &cn, NULL) == 0 && strcmp(cat, "helpfulness") && strcmp(cat, "safety")) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "field 'category': must be \"helpfulness\" or \"safety\"");
		} else if (p->n == p->cap) {
			size_t cap = p->cap ? 2 * p->cap : 64;
			rl_prompt *v = sp_realloc(p->v, cap * sizeof *v);
			if (!v)
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			else
				p->v = v, p->cap = cap;
		}
		if (rc == 0) {
			rl_prompt *q = &p->v[p->n];
			memset(q, 0, sizeof *q);
			q->id = sp_strdup(id);
			q->category = sp_strdup(cat ? cat : "helpfulness");
			q->safety = cat && !strcmp(cat, "safety");
			q->dialog = json_object_get(dialog);
			p->n++;
			if (!q->id || !q->category)
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			else
				rc = chat_encode_dialog(tok, dialog, &q->ids, err);
		}
		if (rc < 0)
			sp_err_locate(err, sp_in_name(in), rec.lineno);
	}
	if (rc == 0 && p->n == 0)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: no prompts", path);
	if (rc == 0 && !(p->order = sp_malloc(p->n * sizeof *p->order)))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc == 0) {
		for (size_t i = 0; i < p->n; i++)
			p->order[i] = i;
		sort_ctx = p;
		qsort(p->order, p->n, sizeof *p->order, by_id);
		for (size_t i = 1; i < p->n; i++)
			if (!strcmp(p->v[p->order[i]].id, p->v[p->order[i - 1]].id)) {
				rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: prompt id '%.200s' appears twice", path,
				                 p->v[p->order[i]].id);
				break;
			}
	}
	sp_record_release(&rec);
	sp_in_free(in);
	if (rc < 0)
		rl_prompts_release(p);
	return rc < 0 ? rc : 0;
}

const rl_prompt *rl_prompts_find(const rl_prompts *p, const char *id)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(p->v[p->order[mid]].id, id);
		if (c == 0)
			return &p->v[p->order[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void rl_prompts_release(rl_prompts *p)
{
	for (size_t i = 0; i < p->n; i++) {
		sp_free(p->v[i].id);
		sp_free(p->v[i].category);
		tok_ids_release(&p->v[i].ids);
		json_object_put(p->v[i].dialog);
	}
	sp_free(p->v);
	sp_free(p->order);
	memset(p, 0, sizeof *p);
}

/* ---------------------------------------------------------------- the pair of reward models */

int reward_set_open(reward_set *rs, const char *helpful_dir, const char *safety_dir, const tok_model *tok, int B,
                    double thresh, sp_err *err)
{
	memset(rs, 0, sizeof *rs);
	rs->thresh = thresh;
	if (!helpful_dir && !safety_dir)
		SP_RAISE(err, SP_EUSAGE, "no reward model given (--rm-helpful and/or --rm-safety)");
	if (helpful_dir) {
		SP_FORWARD(reward_open(&rs->h, helpful_dir, tok, B, err));
		rs->has_h = 1;
	}
	if (safety_dir) {
		int rc = reward_open(&rs->s, safety_dir, tok, B, err);
		if (rc < 0) {
			reward_set_release(rs);
			return rc;
		}
		rs->has_s = 1;
	}
	return 0;
}

void reward_set_release(reward_set *rs)
{
	if (rs->has_h)
		reward_release(&rs->h);
	if (rs->has_s)
		reward_release(&rs->s);
	rs->has_h = rs->has_s = 0;
}

int reward_set_score(reward_set *rs, const tok_ids *const *seqs, const int *is_safety, size_t n, double *r_h,
                     double *r_s, double *r_c, sp_err *err)
{
	float *raw = sp_malloc((n ? n : 1) * 2 * sizeof *raw);
	if (!raw)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (rs->has_h)
		reward_score(&rs->h, seqs, n, raw);
	if (rs->has_s)
		reward_score(&rs->s, seqs, n, raw + n);
	for (size_t i = 0; i < n; i++) {
		double h = rs->has_h ? reward_sigmoid(raw[i]) : NAN, s = rs->has_s ? reward_sigmoid(raw[n + i]) : NAN;
		if (r_h)
			r_h[i] = h;
		if (r_s)
			r_s[i] = s;
		if (r_c)
			r_c[i] = reward_gate(rs->has_h, h, rs->has_s, s, is_safety ? is_safety[i] : 0, rs->thresh);
	}
	sp_free(raw);
	return 0;
}

int reward_scores_append(const reward_set *rs, sp_buf *buf, double r_h, double r_s, double r_c)
{
	sp_buf_appends(buf, ",\"scores\":{");
	if (rs->has_h)
		sp_buf_appendf(buf, "\"helpful\":%.9g,", r_h);
	if (rs->has_s)
		sp_buf_appendf(buf, "\"safety\":%.9g,", r_s);
	return sp_buf_appendf(buf, "\"combined\":%.9g}", r_c);
}
