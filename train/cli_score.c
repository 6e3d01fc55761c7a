/* cli_score.c - `spindle train score`: adds Llama 2's reward scores to response records (what
 * `train sample` writes, also human-written ones): "scores" {helpful, safety, combined}, each the
 * sigmoid of a reward model's score, combined by the safety gate (reward.h). Records pass through
 * otherwise unchanged, in order; the output is written atomically. */
#include <json.h>
#include <stdio.h>
#include <string.h>
#include "../cli/cli.h"
#include "../tokenizer/tok.h"
#include "data_chat.h"
#include "reward.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "cli_int.h"

typedef struct pending {
	json_object *obj;
	tok_ids ids;
	int safety;
} pending;

static int flush(reward_set *rs, pending *pd, size_t n, sp_out *out, sp_buf *line, sp_err *err)
{
	const tok_ids *seqs[256] = { 0 };
	int safe[256] = { 0 };
	double rh[256], rsf[256], rc[256];
	for (size_t i = 0; i < n; i++) {
		seqs[i] = &pd[i].ids;
		safe[i] = pd[i].safety;
	}
	SP_FORWARD(reward_set_score(rs, seqs, safe, n, rh, rsf, rc, err));
	for (size_t i = 0; i < n; i++) {
		sp_buf_reset(line);
		json_object_object_del(pd[i].obj, "scores");
		sp_json_append(line, pd[i].obj);
		line->len--; /* the closing brace (the object has prompt_id at least): the scores go last */
		reward_scores_append(rs, line, rh[i], rsf[i], rc[i]);
		sp_buf_appendc(line, '}');
		SP_FORWARD(sp_jsonl_write_raw(out, line->p, line->len, err));
	}
	return 0;
}

int cmd_score(int argc, char **argv)
{
	const char *prog = "spindle train score", *rm_h = NULL, *rm_s = NULL, *tokenizer = NULL, *prompts_path = NULL;
	const char *out_path = "-";
	long batch = 8, threads = 0;
	double thresh = REWARD_SAFETY_THRESHOLD;
	const sp_opt table[] = {
		{ "rm-helpful", 0, SP_OPT_STR, &rm_h, "DIR", "helpfulness reward model (a `train rm` checkpoint)", NULL, 0, 0 },
		{ "rm-safety", 0, SP_OPT_STR, &rm_s, "DIR", "safety reward model", NULL, 0, 0 },
		{ "tokenizer", 0, SP_OPT_STR, &tokenizer, "FILE", "the reward models' tokenizer", NULL, 0, 0 },
		{ "prompts", 0, SP_OPT_STR, &prompts_path, "FILE", "the prompt records the responses answer (annotate-prompt.schema.json)", NULL, 0, 0 },
		{ "safety-threshold", 0, SP_OPT_DOUBLE, &thresh, "X", "the gate: R_s below this takes over (default 0.15, in [0, 1])", "0..1", 0, 0 },
		{ "batch", 0, SP_OPT_INT, &batch, "N", "responses per reward-model forward (default 8)", NULL, 1, 256 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically) instead of stdout", NULL, 0, 0 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads (default all)", NULL, 0, 4096 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train score (--rm-helpful DIR | --rm-safety DIR)... --tokenizer TOK --prompts FILE [RESPONSES] [-o OUT]",
	                   "Adds \"scores\": {\"helpful\", \"safety\", \"combined\"} to each response record (annotate-response.schema.json;\n"
	                   "RESPONSES defaults to stdin). helpful and safety are sigmoid(reward model score), present when that model is\n"
	                   "given; combined is Llama 2's gate: the safety score when the prompt's category is safety or the safety\n"
	                   "score is below the threshold, else the helpfulness score (with one model: its score). The category is the\n"
	                   "response record's \"category\" when it has one, else its prompt's. A response whose prompt_id is not in\n"
	                   "--prompts is an error (FILE:LINE).",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	const char *in_path = n_pos ? pos[0] : "-";
	size_t extra = n_pos;
	sp_free(pos);
	if (extra > 1)
		return cli_failf(prog, CLI_USAGE, "one RESPONSES file at most (see --help)");
	if (!(thresh >= 0 && thresh <= 1))
		return cli_failf(prog, CLI_USAGE, "--safety-threshold must be in [0, 1]");
	if ((!rm_h && !rm_s) || !tokenizer || !prompts_path)
		return cli_failf(prog, CLI_USAGE, "--rm-helpful and/or --rm-safety, --tokenizer and --prompts are required (see --help)");
	set_threads(threads);
	sp_err err = SP_ERR_INIT;
	tok_model *tok = NULL;
	rl_prompts prompts;
	memset(&prompts, 0, sizeof prompts);
	reward_set rs;
	memset(&rs, 0, sizeof rs);
	sp_in *in = NULL;
	sp_out *out = NULL;
	sp_record rec = SP_RECORD_INIT;
	sp_buf line = SP_BUF_INIT;
	pending pd[256];
	size_t np = 0;
	memset(pd, 0, sizeof pd);
	int code = CLI_OK;
	if (tok_model_load(&tok, tokenizer, &err) < 0 || rl_prompts_load(&prompts, prompts_path, tok, &err) < 0 ||
	    reward_set_open(&rs, rm_h, rm_s, tok, (int)batch, thresh, &err) < 0 || sp_in_open(&in, in_path, &err) < 0 ||
	    sp_out_open(&out, out_path, 0, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	while ((rc = sp_jsonl_next(in, &rec, &err)) == 1) {
		const char *pid, *resp, *cat;
		size_t pn, rn, cn;
		const rl_prompt *p = NULL;
		rc = sp_record_str(&rec, "prompt_id", &pid, &pn, &err);
		rc = rc ? rc : sp_record_str(&rec, "response", &resp, &rn, &err);
		if (rc == SP_ENOTFOUND)
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "response record lacks 'prompt_id' or 'response'");
		if (rc == 0 && !(p = rl_prompts_find(&prompts, pid)))
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "prompt '%.200s' is not in %s", pid, prompts_path);
		int safety = p ? p->safety : 0;
		if (rc == 0 && sp_record_str(&rec, "category", &cat, &cn, NULL) == 0)
			safety = !strcmp(cat, "safety");
		pending *q = &pd[np];
		q->ids.n = 0;
		for (size_t i = 0; rc == 0 && i < p->ids.n; i++)
			if (tok_ids_push(&q->ids, p->ids.v[i]) < 0)
				rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		rc = rc ? rc : chat_encode_response(tok, resp, rn, &q->ids, &err);
		if (rc < 0) {
			sp_err_locate(&err, sp_in_name(in), rec.lineno);
			code = cli_fail(prog, &err);
			goto done;
		}
		q->safety = safety;
		q->obj = json_object_get(rec.obj);
		if (++np == (size_t)batch) {
			rc = flush(&rs, pd, np, out, &line, &err);
			for (size_t i = 0; i < np; i++)
				json_object_put(pd[i].obj), pd[i].obj = NULL;
			np = 0;
			if (rc < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
		}
	}
	if (rc < 0 || (np && flush(&rs, pd, np, out, &line, &err) < 0) || sp_out_commit(out, &err) < 0)
		code = cli_fail(prog, &err);
done:
	for (size_t i = 0; i < 256; i++) {
		json_object_put(pd[i].obj);
		tok_ids_release(&pd[i].ids);
	}
	sp_out_free(out);
	sp_in_free(in);
	sp_record_release(&rec);
	sp_buf_release(&line);
	reward_set_release(&rs);
	rl_prompts_release(&prompts);
	tok_model_free(tok);
	return code;
}
