/* cli_rs.c - `spindle train rs`: Llama 2's rejection-sampling round (section 3.2.3). K samples per
 * prompt from the current policy, scored by the reward model(s) and the safety gate; writes every
 * sample as a scored response record, appends them to a persistent pool of all rounds' samples, and
 * writes the best sample per prompt (from this round or from the whole pool) as an SFT dataset that
 * `train sft` reads. Prints the best-of-K curve (Llama 2's Figure 7). Formats: schemas/train-rlhf.md. */
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../cli/cli.h"
#include "../tokenizer/tok.h"
#include "data_chat.h"
#include "reward.h"
#include "decode_batch.h"
#include "sample.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "cli_int.h"

/* one scored sample: from the pool (an earlier round) or this round */
typedef struct cand {
	char *line;          /* the response record's JSON (with scores), owned */
	char *prompt_id;
	char *response;
	double combined;
	long round;
} cand;

typedef struct cands { cand *v; size_t n, cap; } cands;

static int cands_push(cands *c, const char *line, size_t n, const char *pid, const char *resp, size_t rn, double comb, long round)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		cand *v = sp_realloc(c->v, cap * sizeof *v);
		if (!v)
			return SP_ENOMEM;
		c->v = v, c->cap = cap;
	}
	cand *x = &c->v[c->n];
	x->line = sp_malloc(n + 1);
	x->prompt_id = sp_strdup(pid);
	x->response = sp_malloc(rn + 1);
	if (!x->line || !x->prompt_id || !x->response) {
		sp_free(x->line), sp_free(x->prompt_id), sp_free(x->response);
		return SP_ENOMEM;
	}
	memcpy(x->line, line, n), x->line[n] = 0;
	memcpy(x->response, resp, rn), x->response[rn] = 0;
	x->combined = comb;
	x->round = round;
	c->n++;
	return 0;
}

static void cands_release(cands *c)
{
	for (size_t i = 0; i < c->n; i++)
		sp_free(c->v[i].line), sp_free(c->v[i].prompt_id), sp_free(c->v[i].response);
	sp_free(c->v);
	memset(c, 0, sizeof *c);
}

/* Reads the pool (a missing file is an empty pool): every record needs prompt_id, response,
 * scores.combined and meta.rs_round. */
static int pool_read(const char *path, cands *pool, long round, sp_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	fclose(f);
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_jsonl_next(in, &rec, err)) == 1) {
		const char *pid, *resp;
		size_t pn, rn;
		json_object *c = sp_json_path(rec.obj, "scores.combined"), *r = sp_json_path(rec.obj, "meta.rs_round");
		rc = sp_record_str(&rec, "prompt_id", &pid, &pn, err);
		rc = rc ? rc : sp_record_str(&rec, "response", &resp, &rn, err);
		if (rc == 0 && (!c || !(json_object_is_type(c, json_type_double) || json_object_is_type(c, json_type_int)) || !r ||
		                !json_object_is_type(r, json_type_int)))
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "pool record lacks a numeric 'scores.combined' or an integer 'meta.rs_round'");
		if (rc == 0 && json_object_get_int64(r) == round)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "round %ld is already in the pool (give the next --round)", round);
		if (rc == SP_ENOTFOUND)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "pool record lacks 'prompt_id' or 'response'");
		if (rc == 0 && cands_push(pool, rec.line.p, rec.line.len, pid, resp, rn, json_object_get_double(c), (long)json_object_get_int64(r)) < 0)
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		if (rc < 0)
			sp_err_locate(err, sp_in_name(in), rec.lineno);
	}
	sp_record_release(&rec);
	sp_in_free(in);
	return rc < 0 ? rc : 0;
}

static int write_lines(const char *path, const cands *a, const cands *b, sp_err *err)
{
	sp_out *out = NULL;
	int rc = sp_out_open(&out, path, 0, err);
	for (size_t i = 0; rc == 0 && a && i < a->n; i++)
		rc = sp_jsonl_write_raw(out, a->v[i].line, strlen(a->v[i].line), err);
	for (size_t i = 0; rc == 0 && b && i < b->n; i++)
		rc = sp_jsonl_write_raw(out, b->v[i].line, strlen(b->v[i].line), err);
	rc = rc ? rc : sp_out_commit(out, err);
	sp_out_free(out);
	return rc;
}

/* The best sample of each prompt as an SFT record (annotate-sft.schema.json, source
 * "rejection_sampling"). Ties go to the earlier sample. */
static int write_best(const char *path, const rl_prompts *ps, const cands *pool, const cands *now, int all_rounds,
                      const char *model_name, const char *created, long round, sp_err *err)
{
	sp_out *out = NULL;
	sp_buf line = SP_BUF_INIT, idb = SP_BUF_INIT;
	int rc = sp_out_open(&out, path, 0, err);
	for (size_t i = 0; rc == 0 && i < ps->n; i++) {
		const rl_prompt *p = &ps->v[i];
		const cand *best = NULL;
		for (int pass = all_rounds ? 0 : 1; pass < 2; pass++) {
			const cands *c = pass ? now : pool;
			for (size_t j = 0; j < c->n; j++)
				if (!strcmp(c->v[j].prompt_id, p->id) && (!best || c->v[j].combined > best->combined))
					best = &c->v[j];
		}
		if (!best)
			continue;
		sp_buf_reset(&line);
		sp_buf_reset(&idb);
		sp_buf_appendf(&idb, "rs-%ld-%s", round, p->id);
		sp_buf_appends(&line, "{\"id\":");
		sp_buf_append_json_str(&line, idb.p, idb.len);
		sp_buf_appends(&line, ",\"prompt_id\":");
		sp_buf_append_json_str(&line, p->id, strlen(p->id));
		sp_buf_appendf(&line, ",\"category\":\"%s\",\"dialog\":", p->safety ? "safety" : "helpfulness");
		sp_json_append(&line, p->dialog);
		sp_buf_appends(&line, ",\"response\":");
		sp_buf_append_json_str(&line, best->response, strlen(best->response));
		sp_buf_appends(&line, ",\"source\":\"rejection_sampling\",\"annotator\":");
		sp_buf_append_json_str(&line, model_name, strlen(model_name));
		sp_buf_appendf(&line, ",\"created_at\":\"%s\",\"rs_round\":%ld,\"scores\":{\"combined\":%.9g}}", created, best->round,
		               best->combined);
		rc = sp_jsonl_write_raw(out, line.p, line.len, err);
	}
	rc = rc ? rc : sp_out_commit(out, err);
	sp_out_free(out);
	sp_buf_release(&line);
	sp_buf_release(&idb);
	return rc;
}

/* Rescores the pool's samples of the prompts in ps with the current reward models (their records get
 * the new scores), so a selection over all rounds compares like with like when the models changed. */
static int rescore_pool(cands *pool, const rl_prompts *ps, const tok_model *tok, reward_set *rs, size_t *n_done, sp_err *err)
{
	enum { CHUNK = 64 };
	tok_ids seq[CHUNK];
	const tok_ids *sp[CHUNK];
	int safe[CHUNK];
	size_t idx[CHUNK];
	double rh[CHUNK], rsf[CHUNK], rc[CHUNK];
	sp_buf line = SP_BUF_INIT;
	int rc_ = 0;
	memset(seq, 0, sizeof seq);
	*n_done = 0;
	for (size_t i0 = 0; rc_ == 0 && i0 < pool->n;) {
		int n = 0;
		for (; i0 < pool->n && n < CHUNK && rc_ == 0; i0++) {
			const rl_prompt *p = rl_prompts_find(ps, pool->v[i0].prompt_id);
			if (!p)
				continue; /* a prompt not in this round's set keeps its scores and is not selected from */
			seq[n].n = 0;
			for (size_t k = 0; k < p->ids.n && rc_ == 0; k++)
				if (tok_ids_push(&seq[n], p->ids.v[k]) < 0)
					rc_ = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			rc_ = rc_ ? rc_ : chat_encode_response(tok, pool->v[i0].response, strlen(pool->v[i0].response), &seq[n], err);
			sp[n] = &seq[n];
			safe[n] = p->safety;
			idx[n++] = i0;
		}
		rc_ = rc_ ? rc_ : reward_set_score(rs, sp, safe, (size_t)n, rh, rsf, rc, err);
		for (int k = 0; rc_ == 0 && k < n; k++) {
			cand *c = &pool->v[idx[k]];
			json_object *o = json_tokener_parse(c->line);
			if (!o) {
				rc_ = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "pool record no longer parses");
				break;
			}
			json_object_object_del(o, "scores");
			sp_buf_reset(&line);
			sp_json_append(&line, o);
			json_object_put(o);
			line.len--; /* the closing brace: the scores go last */
			reward_scores_append(rs, &line, rh[k], rsf[k], rc[k]);
			sp_buf_appendc(&line, '}');
			char *nl = sp_malloc(line.len + 1);
			if (!nl) {
				rc_ = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			memcpy(nl, line.p, line.len + 1);
			sp_free(c->line);
			c->line = nl;
			c->combined = strtod(strstr(nl, "\"combined\":") + 11, NULL);
			(*n_done)++;
		}
	}
	for (int k = 0; k < CHUNK; k++)
		tok_ids_release(&seq[k]);
	sp_buf_release(&line);
	return rc_;
}

int cmd_rs(int argc, char **argv)
{
	const char *prog = "spindle train rs", *model_dir = NULL, *tokenizer = NULL, *prompts_path = NULL, *rm_h = NULL, *rm_s = NULL;
	const char *out_path = "-", *pool_path = NULL, *best_path = NULL, *curve_path = NULL, *select = "all", *model_name = NULL;
	long K = 4, max_new = 64, seed = 1, round = 1, threads = 0, top_k = 0, batch = 8, gen_batch = 32;
	double temp = 1.0, top_p = 1.0, thresh = REWARD_SAFETY_THRESHOLD;
	int rescore = 0;
	const sp_opt table[] = {
		{ "model", 0, SP_OPT_STR, &model_dir, "DIR", "the policy: the latest SFT/RS/PPO checkpoint", NULL, 0, 0 },
		{ "tokenizer", 0, SP_OPT_STR, &tokenizer, "FILE", "the models' tokenizer", NULL, 0, 0 },
		{ "prompts", 0, SP_OPT_STR, &prompts_path, "FILE", "prompt records (annotate-prompt.schema.json)", NULL, 0, 0 },
		{ "rm-helpful", 0, SP_OPT_STR, &rm_h, "DIR", "helpfulness reward model", NULL, 0, 0 },
		{ "rm-safety", 0, SP_OPT_STR, &rm_s, "DIR", "safety reward model", NULL, 0, 0 },
		{ "safety-threshold", 0, SP_OPT_DOUBLE, &thresh, "X", "the gate's threshold on R_s (default 0.15, in [0, 1])", "0..1", 0, 0 },
		{ "samples", 'k', SP_OPT_INT, &K, "K", "samples per prompt (default 4)", NULL, 1, 1024 },
		{ "temperature", 0, SP_OPT_DOUBLE, &temp, "X", "sampling temperature (default 1; Llama 2 found 1.2-1.3 best after RLHF), in (0, 10]", "1e-9..10", 0, 0 },
		{ "top-p", 0, SP_OPT_DOUBLE, &top_p, "X", "nucleus mass (default 1 = off), in (0, 1]", "1e-9..1", 0, 0 },
		{ "top-k", 0, SP_OPT_INT, &top_k, "N", "sample among the N most likely tokens (default 0 = off)", NULL, 0, 1 << 30 },
		{ "max-new-tokens", 0, SP_OPT_INT, &max_new, "N", "tokens per sample at most (default 64)", NULL, 1, 1 << 20 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "sampling seed (default 1)", NULL, 0, 1L << 62 },
		{ "round", 0, SP_OPT_INT, &round, "N", "this round's number, recorded in the pool (default 1)", NULL, 1, 1000000 },
		{ "pool", 0, SP_OPT_STR, &pool_path, "FILE", "the persistent pool of all rounds' scored samples: read, then rewritten with this round's added", NULL, 0, 0 },
		{ "rescore", 0, SP_OPT_FLAG, &rescore, NULL, "rescore the pool's earlier samples with the reward models given now (when they changed since)", NULL, 0, 0 },
		{ "select", 0, SP_OPT_CHOICE, &select, NULL, "pick the best among this round's samples, or among all rounds' in the pool (default all)", "round|all", 0, 0 },
		{ "best", 0, SP_OPT_STR, &best_path, "FILE", "write the best sample per prompt here as SFT records for `train sft`", NULL, 0, 0 },
		{ "curve", 0, SP_OPT_STR, &curve_path, "FILE", "write the best-of-K curve here (JSONL, one line per K)", NULL, 0, 0 },
		{ "model-name", 0, SP_OPT_STR, &model_name, "NAME", "the records' \"model\" field (default: the checkpoint path)", NULL, 0, 0 },
		{ "batch", 0, SP_OPT_INT, &batch, "N", "sequences per reward-model forward (default 8)", NULL, 1, 256 },
		{ "gen-batch", 0, SP_OPT_INT, &gen_batch, "N", "samples of a prompt decoded together (batched KV cache; default 32)", NULL, 1, 4096 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "every sample as a scored response record (default stdout)", NULL, 0, 0 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads (default all)", NULL, 0, 4096 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train rs --model DIR --tokenizer TOK --prompts FILE (--rm-helpful DIR | --rm-safety DIR)... [--pool FILE] [--best FILE] [OPTIONS]",
	                   "Rejection sampling (Llama 2, section 3.2.3): K samples per prompt (KV cache; temperature, top-p, top-k),\n"
	                   "each scored as `train score` does. Writes every sample as a response record with \"scores\" and\n"
	                   "meta.rs_round (-o; `annotate import responses` takes them), appends them to --pool, and writes the\n"
	                   "best sample per prompt to --best as SFT records (from the whole pool by default: Llama 2 selected\n"
	                   "among all earlier rounds' samples from round 4 on). Prints the best-of-K curve to stderr: the mean over\n"
	                   "prompts of the max and the median reward of the first K samples, K = 1, 2, 4, ...",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if (n_pos)
		return cli_failf(prog, CLI_USAGE, "no positional arguments (see --help)");
	if (!model_dir || !tokenizer || !prompts_path || (!rm_h && !rm_s))
		return cli_failf(prog, CLI_USAGE, "--model, --tokenizer, --prompts and a reward model are required (see --help)");
	if (!(thresh >= 0 && thresh <= 1) || !(temp > 0 && temp <= 10) || !(top_p > 0 && top_p <= 1))
		return cli_failf(prog, CLI_USAGE, "--safety-threshold in [0, 1], --temperature in (0, 10], --top-p in (0, 1]");
	set_threads(threads);
	sp_err err = SP_ERR_INIT;
	tok_model *tok = NULL;
	rl_prompts ps;
	memset(&ps, 0, sizeof ps);
	reward_set rs;
	memset(&rs, 0, sizeof rs);
	model m;
	memset(&m, 0, sizeof m);
	decode_batch db;
	memset(&db, 0, sizeof db);
	tok_ids *gens = NULL;
	int *stops = NULL;
	train_rng *rngs = NULL;
	const tok_ids **prp = NULL;
	cands pool = { 0 }, now = { 0 };
	sp_out *out = NULL;
	sp_buf text = SP_BUF_INIT, clean = SP_BUF_INIT, line = SP_BUF_INIT;
	tok_ids *seqs = NULL;
	double *rh = NULL, *rsf = NULL, *rc_ = NULL, *table_r = NULL;
	int *safe = NULL;
	const tok_ids **sp = NULL;
	int code = CLI_OK;
	char created[32];
	iso_now(created, sizeof created);
	const char *mn = model_name ? model_name : model_dir;
	if (tok_model_load(&tok, tokenizer, &err) < 0 || rl_prompts_load(&ps, prompts_path, tok, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (rl_load_policy(prog, model_dir, tok, 1, 1, &m, &code) < 0)
		goto done;
	if (reward_set_open(&rs, rm_h, rm_s, tok, (int)batch, thresh, &err) < 0 || (pool_path && pool_read(pool_path, &pool, round, &err) < 0) ||
	    decode_batch_init(&db, &m, (int)(gen_batch < K ? gen_batch : K), m.cfg.max_seq_len, &err) < 0 ||
	    sp_out_open(&out, out_path, 0, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (rescore && pool.n) {
		size_t nr = 0;
		if (rescore_pool(&pool, &ps, tok, &rs, &nr, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		fprintf(stderr, "%s: rescored %zu of the pool's %zu earlier samples\n", prog, nr, pool.n);
	}
	seqs = sp_calloc((size_t)K, sizeof *seqs);
	sp = sp_calloc((size_t)K, sizeof *sp);
	rh = sp_calloc((size_t)K, sizeof *rh), rsf = sp_calloc((size_t)K, sizeof *rsf), rc_ = sp_calloc((size_t)K, sizeof *rc_);
	safe = sp_calloc((size_t)K, sizeof *safe);
	gens = sp_calloc((size_t)K, sizeof *gens), stops = sp_calloc((size_t)K, sizeof *stops);
	rngs = sp_calloc((size_t)K, sizeof *rngs), prp = sp_calloc((size_t)K, sizeof *prp);
	table_r = sp_calloc(ps.n * (size_t)K, sizeof *table_r);
	if (!seqs || !sp || !rh || !rsf || !rc_ || !safe || !table_r || !gens || !stops || !rngs || !prp) {
		code = cli_failf(prog, CLI_IO, "out of memory");
		goto done;
	}
	int32_t eos = tok_eos_id(tok);
	for (size_t i = 0; i < ps.n; i++) {
		const rl_prompt *p = &ps.v[i];
		size_t base = now.n;
		/* one stream per (seed, round, prompt id, sample): independent of the prompt file's order;
		 * the K samples are decoded gen_batch at a time */
		uint64_t seed0 = sp_hash64(p->id, strlen(p->id), (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)round);
		for (long k0 = 0; k0 < K; k0 += db.B) {
			int nb = K - k0 < db.B ? (int)(K - k0) : db.B;
			for (int b = 0; b < nb; b++) {
				rng_seed(&rngs[b], (seed0 + (uint64_t)(k0 + b)) & 0x7FFFFFFFFFFFFFFFull);
				prp[b] = &p->ids;
			}
			if (decode_batch_generate(&db, &m, prp, nb, max_new, (float)temp, (int)top_k, (float)top_p, eos, rngs, gens + k0,
			                          stops + k0, &err) < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
		}
		for (long k = 0; k < K; k++) {
			uint64_t sseed = (seed0 + (uint64_t)k) & 0x7FFFFFFFFFFFFFFFull; /* a JSON integer that fits int64 */
			const tok_ids gen = gens[k];
			const char *why = stops[k] ? "stop" : "length";
			sp_buf_reset(&text);
			if (tok_decode(tok, gen.v, gen.n, &text, &err) < 0 || rl_clean_text(text.p ? text.p : "", text.len, &clean) < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
			seqs[k].n = 0;
			for (size_t j = 0; j < p->ids.n; j++)
				tok_ids_push(&seqs[k], p->ids.v[j]);
			if (chat_encode_response(tok, clean.p, clean.len, &seqs[k], &err) < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
			sp[k] = &seqs[k];
			safe[k] = p->safety;
			sp_buf_reset(&line);
			sp_buf_appends(&line, "{\"prompt_id\":");
			sp_buf_append_json_str(&line, p->id, strlen(p->id));
			sp_buf_appends(&line, ",\"response\":");
			sp_buf_append_json_str(&line, clean.p, clean.len);
			sp_buf_appends(&line, ",\"model\":");
			sp_buf_append_json_str(&line, mn, strlen(mn));
			sp_buf_appendf(&line, ",\"variant\":\"rs-%ld\",\"temperature\":%g,\"top_p\":%g,\"top_k\":%ld,\"max_new_tokens\":%ld,\"seed\":%llu,"
			               "\"n_tokens\":%zu,\"finish_reason\":\"%s\",\"created_at\":\"%s\",\"meta\":{\"rs_round\":%ld,\"rs_sample\":%ld}",
			               round, temp, top_p, top_k, max_new, (unsigned long long)sseed, gen.n, why, created, round, k);
			/* the scores are added after the batch is scored (below) */
			if (cands_push(&now, line.p, line.len, p->id, clean.p, clean.len, 0, round) < 0) {
				code = cli_failf(prog, CLI_IO, "out of memory");
				goto done;
			}
		}
		if (reward_set_score(&rs, sp, safe, (size_t)K, rh, rsf, rc_, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		for (long k = 0; k < K; k++) {
			cand *c = &now.v[base + (size_t)k];
			sp_buf_reset(&line);
			sp_buf_appends(&line, c->line);
			reward_scores_append(&rs, &line, rh[k], rsf[k], rc_[k]);
			sp_buf_appendc(&line, '}');
			char *nl = sp_malloc(line.len + 1);
			if (!nl) {
				code = cli_failf(prog, CLI_IO, "out of memory");
				goto done;
			}
			memcpy(nl, line.p, line.len + 1);
			sp_free(c->line);
			c->line = nl;
			/* the written score, so a pool read back selects exactly as now */
			c->combined = strtod(strstr(nl, "\"combined\":") + 11, NULL);
			table_r[i * (size_t)K + (size_t)k] = c->combined;
			if (sp_jsonl_write_raw(out, line.p, line.len, &err) < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
		}
	}
	if (sp_out_commit(out, &err) < 0 || (pool_path && write_lines(pool_path, &pool, &now, &err) < 0) ||
	    (best_path && write_best(best_path, &ps, &pool, &now, !strcmp(select, "all"), mn, created, round, &err) < 0)) {
		code = cli_fail(prog, &err);
		goto done;
	}
	/* the best-of-K curve */
	sp_out *cv = NULL;
	if (curve_path && sp_out_open(&cv, curve_path, 0, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	fprintf(stderr, "%s: round %ld, %zu prompts x %ld samples; best-of-K of the combined reward (mean over prompts):\n"
	                "      K   max      median\n", prog, round, ps.n, K);
	for (long k = 1;; k = k * 2 > K && k < K ? K : k * 2) {
		double mx, md;
		reward_best_of_k(table_r, ps.n, (int)K, (int)k, &mx, &md);
		fprintf(stderr, "  %5ld   %.4f   %.4f\n", k, mx, md);
		if (cv) {
			sp_buf_reset(&line);
			sp_buf_appendf(&line, "{\"round\":%ld,\"k\":%ld,\"mean_max\":%.9g,\"mean_median\":%.9g,\"prompts\":%zu}", round, k, mx, md, ps.n);
			if (sp_jsonl_write_raw(cv, line.p, line.len, &err) < 0)
				break;
		}
		if (k >= K)
			break;
	}
	if (cv && (err.code || sp_out_commit(cv, &err) < 0))
		code = cli_fail(prog, &err);
	sp_out_free(cv);
	double sum = 0;
	for (size_t i = 0; i < ps.n * (size_t)K; i++)
		sum += table_r[i];
	fprintf(stderr, "%s: mean combined reward %.4f over %zu samples\n", prog, sum / (double)(ps.n * (size_t)K), ps.n * (size_t)K);
	if (code == CLI_OK && pool_path)
		fprintf(stderr, "%s: pool %s: %zu samples (%zu from earlier rounds)\n", prog, pool_path, pool.n + now.n, pool.n);
done:
	for (long k = 0; seqs && k < K; k++)
		tok_ids_release(&seqs[k]);
	for (long k = 0; gens && k < K; k++)
		tok_ids_release(&gens[k]);
	sp_free(gens), sp_free(stops), sp_free(rngs), sp_free(prp);
	sp_free(seqs), sp_free(sp), sp_free(rh), sp_free(rsf), sp_free(rc_), sp_free(safe), sp_free(table_r);
	cands_release(&pool);
	cands_release(&now);
	sp_out_free(out);
	sp_buf_release(&text), sp_buf_release(&clean), sp_buf_release(&line);
	decode_batch_release(&db);
	model_release(&m);
	reward_set_release(&rs);
	rl_prompts_release(&ps);
	tok_model_free(tok);
	return code;
}
