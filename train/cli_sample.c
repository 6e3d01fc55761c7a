/* cli_sample.c - `spindle train sample`: generation with a KV cache (CPU, or the device decoder),
 * written as response records for `spindle annotate import responses`; the generation helpers here
 * serve the other train commands that sample (cli_int.h). */
#include <json.h>
#include <math.h>
#include <omp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "../tokenizer/tok.h"
#include "ckpt.h"
#include "data.h"
#include "data_chat.h"
#include "device.h"
#include "dist.h"
#include "sample.h"
#include "trainer.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"
#include "cli_int.h"

/* Appends generated text as a JSON string. A sample can stop inside a multi-byte character (byte
 * pieces), so invalid bytes become U+FFFD instead of making the record invalid JSON. */
int append_text(sp_buf *line, const char *p, size_t n)
{
	if (sp_utf8_valid(p, n, NULL))
		return sp_buf_append_json_str(line, p, n);
	sp_buf clean = SP_BUF_INIT;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = sp_utf8_decode(p + i, n - i, &cp);
		if (k) {
			sp_buf_append(&clean, p + i, k);
			i += k;
		} else {
			sp_buf_appends(&clean, "\xEF\xBF\xBD");
			i++;
		}
	}
	int rc = sp_buf_append_json_str(line, clean.p ? clean.p : "", clean.len);
	sp_buf_release(&clean);
	return rc;
}

void iso_now(char *buf, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Generates after ids (prompt) into out_ids; returns finish reason "stop" or "length". */
/* one decoding step on the device's KV cache (train/cuda) when there is one, else the CPU's */
static const float *step_token(decode_state *ds, device_decoder *dd, const model *m, int32_t t)
{
	if (!dd)
		return decode_step(ds, m, t);
	ds->n++;
	return device_decoder_step(dd, t);
}

const char *generate(decode_state *ds, device_decoder *dd, const model *m, const tok_ids *prompt, long max_new,
                            float temp, int top_k, float top_p, int32_t eos, train_rng *r, tok_ids *out)
{
	if (dd) {
		device_decoder_reset(dd);
		ds->n = 0;
	} else {
		decode_reset(ds);
	}
	out->n = 0;
	/* a prompt longer than the context keeps its end, leaving room for the answer (up to half) */
	size_t room = (size_t)(max_new < ds->n_ctx / 2 ? max_new : ds->n_ctx / 2), keep = (size_t)ds->n_ctx - (room ? room : 1);
	size_t start = prompt->n > keep ? prompt->n - keep : 0;
	const float *lg = NULL;
	for (size_t i = start; i < prompt->n; i++)
		lg = step_token(ds, dd, m, (int32_t)prompt->v[i]);
	for (long k = 0; k < max_new; k++) {
		if (!lg || ds->n >= ds->n_ctx)
			return "length";
		int32_t t = sample_token(lg, m->cfg.vocab_size, temp, top_k, top_p, r);
		if (t == eos)
			return "stop";
		tok_ids_push(out, (uint32_t)t);
		lg = step_token(ds, dd, m, t);
	}
	return "length";
}

int cmd_sample(int argc, char **argv)
{
	const char *prog = "spindle train sample", *model_dir = NULL, *tokenizer = NULL, *prompts = NULL, *prompt = NULL;
	const char *out_path = "-", *variant = NULL, *model_name = NULL;
	long max_new = 128, seed = 1, n_per = 1, threads = 0;
	double temp = 0.8, top_p = 0.9;
	long top_k = 0;
	const char *device = NULL;   /* device (train/cuda) */
	device_decoder *dd = NULL;
	const sp_opt table[] = {
		{ "model", 0, SP_OPT_STR, &model_dir, "DIR", "checkpoint folder", NULL, 0, 0 },
		{ "tokenizer", 0, SP_OPT_STR, &tokenizer, "FILE", "the model's tokenizer (.model or tokenizer.json)", NULL, 0, 0 },
		{ "prompts", 0, SP_OPT_STR, &prompts, "FILE", "JSONL prompts (annotate-prompt.schema.json): writes response records for `spindle annotate import responses`", NULL, 0, 0 },
		{ "prompt", 0, SP_OPT_STR, &prompt, "TEXT", "complete this raw text instead (no chat format); prints {\"prompt\", \"completion\"}", NULL, 0, 0 },
		{ "n", 'n', SP_OPT_INT, &n_per, "N", "samples per prompt (default 1)", NULL, 1, 100000 },
		{ "temperature", 0, SP_OPT_DOUBLE, &temp, "X", "sampling temperature (default 0.8; 0 = greedy)", "0..100", 0, 0 },
		{ "top-p", 0, SP_OPT_DOUBLE, &top_p, "X", "nucleus sampling mass (default 0.9; 1 = off)", "0.000001..1", 0, 0 },
		{ "top-k", 0, SP_OPT_INT, &top_k, "N", "sample among the N most likely tokens only (default 0 = off)", NULL, 0, 2147483647 },
		{ "max-new-tokens", 0, SP_OPT_INT, &max_new, "N", "tokens to generate at most (default 128)", NULL, 0, 1L << 24 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "sampling seed (default 1)", NULL, 0, LONG_MAX },
		{ "model-name", 0, SP_OPT_STR, &model_name, "NAME", "the \"model\" field of the records (default: the checkpoint path)", NULL, 0, 0 },
		{ "variant", 0, SP_OPT_STR, &variant, "NAME", "the \"variant\" field (e.g. sft, rlhf-v1, step-1000)", NULL, 0, 0 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically) instead of stdout", NULL, 0, 0 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads (default and auto: the CPUs this process may use)", NULL, 1, 1024 },
		{ "device", 0, SP_OPT_STR, &device, "cpu|cuda|auto", "where to decode (default auto: the GPU in a CUDA build when there is one)", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train sample --model DIR --tokenizer TOK (--prompts FILE | --prompt TEXT) [OPTIONS]",
	                   "Generates with a KV cache (temperature, top-k, top-p, seed, max tokens, stop at EOS). With --prompts,\n"
	                   "each prompt's dialog is put in Llama 2's chat format and every sample is written as a response\n"
	                   "record (annotate-response.schema.json) ready for `spindle annotate import responses`.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if (!model_dir || !tokenizer || (!prompts == !prompt) || max_new < 0 || n_per <= 0 || temp < 0 || top_p <= 0 || top_p > 1 ||
	    top_k < 0 || top_k > INT32_MAX)
		return cli_failf(prog, CLI_USAGE, "--model, --tokenizer and one of --prompts or --prompt are required (see --help)");
	set_threads(threads);
	sp_err err = SP_ERR_INIT;
	tok_model *tok = NULL;
	model m;
	memset(&m, 0, sizeof m);
	decode_state ds;
	memset(&ds, 0, sizeof ds);
	sp_out *out = NULL;
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	tok_ids ids = TOK_IDS_INIT, gen = TOK_IDS_INIT;
	sp_buf text = SP_BUF_INIT, line = SP_BUF_INIT;
	int code = CLI_OK;
	uint64_t tok_id = 0;
	train_rng r;
	char created[32];
	iso_now(created, sizeof created);
	rng_seed(&r, (uint64_t)seed);
	if (tok_model_load(&tok, tokenizer, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (load_model_dir(prog, model_dir, 1, 1, &m, &tok_id, &code) < 0)
		goto done;
	if (tok_id && tok_identity(tok) != tok_id) {
		code = cli_failf(prog, CLI_REJECTED, "%s: tokenizer identity %016llx differs from the model's %016llx", tokenizer,
		                 (unsigned long long)tok_identity(tok), (unsigned long long)tok_id);
		goto done;
	}
	if (tok_vocab_size(tok) > (uint32_t)m.cfg.vocab_size) {
		code = cli_failf(prog, CLI_REJECTED, "%s: the tokenizer has more tokens than the model", tokenizer);
		goto done;
	}
	if (device_decoder_open(device, &m, m.cfg.max_seq_len, &dd, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (dd) /* the GPU holds the cache: the CPU decoder only counts positions */
		ds.n_ctx = m.cfg.max_seq_len;
	if ((!dd && decode_init(&ds, &m, m.cfg.max_seq_len, &err) < 0) || sp_out_open(&out, out_path, 0, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	int32_t eos = tok_eos_id(tok);
	if (prompt) {
		if (tok_bos_id(tok) >= 0)
			tok_ids_push(&ids, (uint32_t)tok_bos_id(tok));
		if (tok_encode(tok, prompt, strlen(prompt), &ids, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		for (long k = 0; k < n_per; k++) {
			generate(&ds, dd, &m, &ids, max_new, (float)temp, (int)top_k, (float)top_p, eos, &r, &gen);
			sp_buf_reset(&text);
			sp_buf_reset(&line);
			/* decode prompt and completion together (a piece's leading space survives), then
			 * keep what follows the prompt's own text */
			size_t np = ids.n;
			for (size_t i = 0; i < gen.n; i++)
				tok_ids_push(&ids, gen.v[i]);
			sp_buf pre = SP_BUF_INIT;
			int drc = tok_decode(tok, ids.v, np, &pre, &err);
			drc = drc ? drc : tok_decode(tok, ids.v, ids.n, &text, &err);
			ids.n = np;
			size_t skip = pre.len <= text.len && !memcmp(pre.p ? pre.p : "", text.p ? text.p : "", pre.len) ? pre.len : 0;
			sp_buf_release(&pre);
			if (drc < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
			if (skip) {
				memmove(text.p, text.p + skip, text.len - skip);
				text.len -= skip;
				text.p[text.len] = 0;
			}
			sp_buf_appends(&line, "{\"prompt\":");
			sp_buf_append_json_str(&line, prompt, strlen(prompt));
			sp_buf_appends(&line, ",\"completion\":");
			append_text(&line, text.p ? text.p : "", text.len);
			sp_buf_appendc(&line, '}');
			if (sp_jsonl_write_raw(out, line.p, line.len, &err) < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
		}
	} else {
		if (sp_in_open(&in, prompts, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		while ((rc = sp_jsonl_next(in, &rec, &err)) == 1) {
			const char *pid = sp_record_id(&rec);
			json_object *dialog = sp_json_path(rec.obj, "dialog");
			ids.n = 0;
			if (!pid || !dialog) {
				sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "prompt record lacks 'id' or 'dialog'");
				code = cli_fail(prog, (sp_err_locate(&err, sp_in_name(in), rec.lineno), &err));
				goto done;
			}
			if (chat_encode_dialog(tok, dialog, &ids, &err) < 0) {
				sp_err_locate(&err, sp_in_name(in), rec.lineno);
				code = cli_fail(prog, &err);
				goto done;
			}
			for (long k = 0; k < n_per; k++) {
				uint64_t sample_seed = (uint64_t)seed * 1000003u + rec.lineno * 101u + (uint64_t)k;
				rng_seed(&r, sample_seed);
				const char *why = generate(&ds, dd, &m, &ids, max_new, (float)temp, (int)top_k, (float)top_p, eos, &r, &gen);
				sp_buf_reset(&text);
				sp_buf_reset(&line);
				if (tok_decode(tok, gen.v, gen.n, &text, &err) < 0) {
					code = cli_fail(prog, &err);
					goto done;
				}
				const char *mn = model_name ? model_name : model_dir;
				sp_buf_appends(&line, "{\"prompt_id\":");
				sp_buf_append_json_str(&line, pid, strlen(pid));
				sp_buf_appends(&line, ",\"response\":");
				append_text(&line, text.p ? text.p : "", text.len);
				sp_buf_appends(&line, ",\"model\":");
				sp_buf_append_json_str(&line, mn, strlen(mn));
				if (variant) {
					sp_buf_appends(&line, ",\"variant\":");
					sp_buf_append_json_str(&line, variant, strlen(variant));
				}
				sp_buf_appendf(&line, ",\"temperature\":%g,\"top_p\":%g,\"top_k\":%ld,\"max_new_tokens\":%ld,\"seed\":%llu,\"n_tokens\":%zu,"
				               "\"finish_reason\":\"%s\",\"created_at\":\"%s\"}", temp, top_p, top_k, max_new,
				               (unsigned long long)sample_seed, gen.n, why, created);
				if (sp_jsonl_write_raw(out, line.p, line.len, &err) < 0) {
					code = cli_fail(prog, &err);
					goto done;
				}
			}
		}
		if (rc < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
	}
	if (sp_out_commit(out, &err) < 0)
		code = cli_fail(prog, &err);
done:
	sp_out_free(out);
	sp_in_free(in);
	sp_record_release(&rec);
	tok_ids_release(&ids);
	tok_ids_release(&gen);
	sp_buf_release(&text);
	sp_buf_release(&line);
	device_decoder_close(dd);
	decode_release(&ds);
	model_release(&m);
	tok_model_free(tok);
	return code;
}
