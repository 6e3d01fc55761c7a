/* cli_eval.c - `spindle train eval`: loss and perplexity of a language model on held-out shards, or a
 * reward model's accuracy per rating level on preference pairs. */
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

int cmd_eval(int argc, char **argv)
{
	const char *prog = "spindle train eval", *model_dir = NULL, *data = NULL, *tokenizer = NULL, *margins_s = "small";
	const char *category = "all";
	long batch = 8, max_batches = 0, threads = 0;
	int doc_mask = 0;
	const char *device = NULL;   /* device (train/cuda) */
	train_device *dev = NULL;
	const sp_opt table[] = {
		{ "model", 0, SP_OPT_STR, &model_dir, "DIR", "checkpoint folder (config.json + model.safetensors)", NULL, 0, 0 },
		{ "data", 0, SP_OPT_STR, &data, "PATH", "held-out shards folder (LM) or preference export JSONL (reward model)", NULL, 0, 0 },
		{ "tokenizer", 0, SP_OPT_STR, &tokenizer, "FILE", "tokenizer for a reward model's preference data", NULL, 0, 0 },
		{ "category", 0, SP_OPT_CHOICE, &category, NULL, "reward model: only this category's pairs", "helpfulness|safety|all", 0, 0 },
		{ "margins", 0, SP_OPT_STR, &margins_s, "SPEC", "reward model: margins for the loss (default small)", NULL, 0, 0 },
		{ "batch", 0, SP_OPT_INT, &batch, "N", "rows per forward pass (default 8)", NULL, 1, 65536 },
		{ "max-batches", 0, SP_OPT_INT, &max_batches, "N", "stop after N batches (default: one pass over the data)", NULL, 1, LONG_MAX },
		{ "doc-mask", 0, SP_OPT_FLAG, &doc_mask, NULL, "attention and positions stop at document boundaries", NULL, 0, 0 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads (default and auto: the CPUs this process may use)", NULL, 1, 1024 },
		{ "device", 0, SP_OPT_STR, &device, "cpu|cuda|auto", "where to evaluate (default auto: the GPU in a CUDA build when there is one)", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train eval --model DIR --data PATH [OPTIONS]",
	                   "Evaluates a checkpoint: loss and perplexity of a language model on held-out shards, or a\n"
	                   "reward model's accuracy (chosen scored above rejected) per rating level on preference pairs.\n"
	                   "Prints one JSON object.", table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if (!model_dir || !data || batch <= 0)
		return cli_failf(prog, CLI_USAGE, "--model and --data are required");
	set_threads(threads);
	sp_err err = SP_ERR_INIT;
	{ /* device (train/cuda): a wrong --device fails before any work */
		int kind;
		char why[256];
		int ngpu = device_gpu_count(NULL, 0, why, sizeof why);
		if (device_choose(device, device_built_with_cuda(), ngpu, why, &kind, &err) < 0)
			return cli_fail(prog, &err);
	}
	model_config c;
	uint64_t tok_id;
	if (ckpt_read_config(model_dir, &c, &tok_id, &err) < 0)
		return cli_fail(prog, &err);
	train_data d;
	memset(&d, 0, sizeof d);
	train_batch b = TRAIN_BATCH_INIT;
	tok_model *tok = NULL;
	model m;
	memset(&m, 0, sizeof m);
	int code = CLI_OK;
	if (!c.reward_head) {
		if (data_shards_open(&d, data, c.max_seq_len, doc_mask, 0, 0, 1, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		if (d.tokenizer_id && tok_id && d.tokenizer_id != tok_id) {
			code = cli_failf(prog, CLI_REJECTED, "%s: shards tokenizer %016llx differs from the model's %016llx", data,
			                 (unsigned long long)d.tokenizer_id, (unsigned long long)tok_id);
			goto done;
		}
		if ((int)d.vocab_size > c.vocab_size) {
			code = cli_failf(prog, CLI_REJECTED, "%s: vocabulary %u is larger than the model's %d", data, d.vocab_size, c.vocab_size);
			goto done;
		}
		if (load_model_dir(prog, model_dir, (int)batch, d.seq_len, &m, NULL, &code) < 0 ||
		    train_batch_alloc(&b, (int)batch, d.seq_len, &err) < 0 ||
		    train_device_open_model(device, &m, (int)batch, d.seq_len, 1, &dev, &err) < 0) {
			if (code == CLI_OK)
				code = cli_fail(prog, &err);
			goto done;
		}
		double sum = 0;
		uint64_t count = 0, rows = 0, total = d.rows_per_epoch;
		for (long k = 0; rows < total && (max_batches <= 0 || k < max_batches); k++) {
			if (d.next(d.ctx, &b, &err) < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
			for (int r = 0; r < b.B; r++)
				if (rows + (uint64_t)r >= total)
					for (int t = 0; t < b.T; t++)
						b.targets[(size_t)r * b.T + t] = -1;
			rows += (uint64_t)b.B;
			model_batch mb = train_batch_view(&b);
			size_t n;
			if (dev) { /* the device's mean over counted targets, back to a sum */
				float mean;
				dev->ops->forward(dev->ctx, &mb, &mean, &n, NULL);
				sum += n ? (double)mean * (double)n : 0.0;
			} else {
				model_forward(&m, &mb, NULL, &n);
				for (size_t i = 0; i < (size_t)b.B * b.T; i++)
					sum += m.losses[i];
			}
			count += n;
		}
		double loss = count ? sum / (double)count : NAN;
		printf("{\"loss\":%.6f,\"perplexity\":%.4f,\"tokens\":%llu,\"rows\":%llu}\n", loss, exp(loss),
		       (unsigned long long)count, (unsigned long long)(rows < total ? rows : total));
	} else {
		float margins[4];
		if (!tokenizer) {
			code = cli_failf(prog, CLI_USAGE, "--tokenizer is required for a reward model's preference data");
			goto done;
		}
		if (rm_margins_parse(margins_s, margins, &err) < 0 || tok_model_load(&tok, tokenizer, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		size_t n_pairs, skipped;
		if (data_rm_open(&d, data, tok, c.max_seq_len, 0, strcmp(category, "all") ? category : NULL, margins, &n_pairs,
		                 &skipped, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		if (load_model_dir(prog, model_dir, 2 * (int)batch, c.max_seq_len, &m, NULL, &code) < 0 ||
		    train_batch_alloc(&b, 2 * (int)batch, c.max_seq_len, &err) < 0 ||
		    train_device_open_model(device, &m, 2 * (int)batch, c.max_seq_len, 1, &dev, &err) < 0) {
			if (code == CLI_OK)
				code = cli_fail(prog, &err);
			goto done;
		}
		long n_lv[4] = { 0 }, ok_lv[4] = { 0 }, pairs = 0, ok = 0;
		double loss_sum = 0;
		for (long k = 0; max_batches <= 0 || k < max_batches; k++) {
			int filled;
			data_rm_next_sequential(&d, &b, &filled);
			if (filled == 0)
				break;
			model_batch mb = train_batch_view(&b);
			if (dev)
				dev->ops->forward(dev->ctx, &mb, NULL, NULL, m.rewards);
			else
				model_forward(&m, &mb, NULL, NULL);
			for (int i = 0; i < filled; i++) {
				float rc_ = m.rewards[2 * i], rr = m.rewards[2 * i + 1];
				int lv = b.rating[i];
				int right = rc_ > rr;
				loss_sum += rm_loss(&rc_, &rr, &b.margin[i], 1, NULL, NULL);
				ok += right;
				pairs++;
				if (lv >= 0 && lv < 4) {
					n_lv[lv]++;
					ok_lv[lv] += right;
				}
			}
		}
		printf("{\"pairs\":%ld,\"accuracy\":%.4f,\"loss\":%.6f,\"by_rating\":{", pairs, pairs ? (double)ok / pairs : 0.0,
		       pairs ? loss_sum / pairs : 0.0);
		for (int lv = 3, first = 1; lv >= 0; lv--, first = 0)
			printf("%s\"%s\":{\"pairs\":%ld,\"accuracy\":%.4f}", first ? "" : ",", rm_rating_name(lv), n_lv[lv],
			       n_lv[lv] ? (double)ok_lv[lv] / n_lv[lv] : 0.0);
		printf("}}\n");
	}
done:
	train_device_close(dev);
	model_release(&m);
	train_batch_release(&b);
	if (d.free)
		d.free(d.ctx);
	tok_model_free(tok);
	return code;
}
