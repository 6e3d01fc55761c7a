/* cli.c - `spindle train`: pretrain, sft, rm, eval, sample and plot. Argument handling, output and
 * messages only; the model, optimizer, data and checkpoint logic live in the other train/ files. */
#include <json.h>
#include <math.h>
#include <omp.h>
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

typedef struct targs {
	const char *data, *preset, *out, *init_from, *tokenizer, *category, *margins;
	long steps, batch, accum, warmup, save_every, seq_len, threads, seed, spike_warmup;
	long dim, layers, heads, kv_heads, hidden, rank, world, stop_after;
	double lr, min_lr_ratio, clip, wd, spike_k;
	int resume, doc_mask, skip_spikes;
	const char *device;     /* device (train/cuda): --device, --naive-attention */
	int naive_attention;
} targs;

static void set_threads(long n)
{
	if (n <= 0)
		return;
	omp_set_num_threads((int)n);
}

static int file_exists(const char *dir, const char *name)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

/* The model configuration: a resumed run's own, an --init-from checkpoint's, or a preset with overrides. */
static int resolve_config(const char *prog, const targs *a, int vocab, int reward, model_config *c, uint64_t *tok_id)
{
	sp_err err = SP_ERR_INIT;
	*tok_id = 0;
	const char *from = a->resume && file_exists(a->out, "trainer_state.json") ? a->out : a->init_from;
	if (from) {
		if (ckpt_read_config(from, c, tok_id, &err) < 0)
			return cli_fail(prog, &err);
		if (c->vocab_size != vocab)
			return cli_failf(prog, CLI_REJECTED, "%s: the model's vocabulary has %d tokens, the data's %d", from,
			                 c->vocab_size, vocab);
		c->reward_head = reward;
		return -1;
	}
	if (model_preset(c, a->preset, vocab, &err) < 0)
		return cli_fail(prog, &err);
	if (a->dim > 0)
		c->dim = (int)a->dim;
	if (a->layers > 0)
		c->n_layers = (int)a->layers;
	if (a->heads > 0)
		c->n_heads = (int)a->heads;
	if (a->kv_heads > 0)
		c->n_kv_heads = (int)a->kv_heads;
	if (a->hidden > 0)
		c->hidden_dim = (int)a->hidden;
	if (a->seq_len > 0)
		c->max_seq_len = (int)a->seq_len;
	c->reward_head = reward;
	if (model_config_check(c, &err) < 0)
		return cli_fail(prog, &err);
	return -1;
}

static void train_options(targs *a, sp_opt *t, size_t *n)
{
#define OPT(name, kind, dest, arg, help) t[(*n)++] = (sp_opt){ name, 0, kind, dest, arg, help, NULL, 0, 0 }
	OPT("data", SP_OPT_STR, &a->data, "PATH", "training data (pretrain: shards folder, or synthetic:VOCAB for benchmarks; sft/rm: annotate export JSONL)");
	OPT("out", SP_OPT_STR, &a->out, "DIR", "run folder: checkpoint (model.safetensors, config.json, optimizer, state)");
	OPT("preset", SP_OPT_STR, &a->preset, "NAME", "model size: tiny (default), small, 10m, 110m, 1b, 7b");
	OPT("dim", SP_OPT_INT, &a->dim, "N", "override the preset's model width");
	OPT("layers", SP_OPT_INT, &a->layers, "N", "override the number of layers");
	OPT("heads", SP_OPT_INT, &a->heads, "N", "override the number of attention heads");
	OPT("kv-heads", SP_OPT_INT, &a->kv_heads, "N", "override the number of key/value heads (GQA)");
	OPT("hidden", SP_OPT_INT, &a->hidden, "N", "override the SwiGLU hidden size");
	OPT("seq-len", SP_OPT_INT, &a->seq_len, "N", "context length (default: the preset's)");
	OPT("init-from", SP_OPT_STR, &a->init_from, "DIR", "start from this checkpoint's weights (e.g. SFT or RM from a pretrained model)");
	OPT("resume", SP_OPT_FLAG, &a->resume, NULL, "continue the run in --out from its checkpoint (bit-identical to not stopping)");
	OPT("steps", SP_OPT_INT, &a->steps, "N", "optimizer steps in the whole run (default 100)");
	OPT("batch", SP_OPT_INT, &a->batch, "N", "sequences per micro-batch (rm: pairs; default 8)");
	OPT("accum", SP_OPT_INT, &a->accum, "N", "micro-batches per step: gradient accumulation (default 1)");
	OPT("lr", SP_OPT_DOUBLE, &a->lr, "X", "peak learning rate (default 3e-4; tiny models like 1e-3 or more)");
	OPT("warmup", SP_OPT_INT, &a->warmup, "N", "warm-up steps (default 2% of the steps)");
	OPT("min-lr-ratio", SP_OPT_DOUBLE, &a->min_lr_ratio, "X", "cosine decay floor as a fraction of the peak (default 0.1)");
	OPT("clip", SP_OPT_DOUBLE, &a->clip, "X", "gradient clipping: global norm (default 1.0; 0 = off)");
	OPT("weight-decay", SP_OPT_DOUBLE, &a->wd, "X", "AdamW weight decay on matrices, never norms (default 0.1)");
	OPT("seed", SP_OPT_INT, &a->seed, "N", "initialisation and data-order seed (default 1337)");
	OPT("stop-after", SP_OPT_INT, &a->stop_after, "N", "end this invocation after N steps with a checkpoint (time-sliced jobs; continue with --resume)");
	OPT("save-every", SP_OPT_INT, &a->save_every, "N", "write the checkpoint every N steps (and at the end)");
	OPT("doc-mask", SP_OPT_FLAG, &a->doc_mask, NULL, "pretrain: attention and positions stop at document boundaries");
	OPT("spike-k", SP_OPT_DOUBLE, &a->spike_k, "K", "a loss above the running mean + K std is a spike, logged with its batch (default 4; 0 = off)");
	OPT("skip-spikes", SP_OPT_FLAG, &a->skip_spikes, NULL, "drop the update of a spiking batch");
	OPT("tokenizer", SP_OPT_STR, &a->tokenizer, "FILE", "tokenizer (.model or tokenizer.json): needed by sft/rm; pretrain checks the shards' identity against it");
	OPT("category", SP_OPT_CHOICE, &a->category, NULL, "rm: train on one category's pairs (separate helpfulness and safety reward models)");
	t[*n - 1].choices = "helpfulness|safety|all";
	OPT("margins", SP_OPT_STR, &a->margins, "SPEC", "rm: margin per rating: small (1,2/3,1/3,0; default), large (3,2,1,0), none, or a,b,c,d");
	OPT("rank", SP_OPT_INT, &a->rank, "I", "pretrain: this job's rank in a data-parallel run (default 0)");
	OPT("world", SP_OPT_INT, &a->world, "N", "pretrain: number of data-parallel ranks (default 1)");
	OPT("threads", SP_OPT_INT, &a->threads, "N", "CPU threads (default: all cores)");
	OPT("device", SP_OPT_STR, &a->device, "cpu|cuda|auto", "where to train: cuda needs bin/spindle-cuda (make cuda) and a GPU; auto (default) takes the GPU when there is one. Under mpirun/srun with --device cuda, ranks average gradients over NCCL");
	OPT("naive-attention", SP_OPT_FLAG, &a->naive_attention, NULL, "cuda: the reference attention kernel (stores T x T probabilities) instead of the fused one");
	t[(*n)++] = (sp_opt){ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 };
#undef OPT
}

enum { MODE_PRETRAIN, MODE_SFT, MODE_RM };

/* device (train/cuda): a data-parallel checkpoint comes from rank 0, whose data cursor names rank 0;
 * every other rank continues at the same position in its own part of the shards. */
static int reseek_rank(train_data *d, int rank, sp_err *err)
{
	sp_buf b = SP_BUF_INIT;
	d->tell(d->ctx, &b);
	json_object *o = json_tokener_parse(b.p ? b.p : ""), *x;
	sp_buf_release(&b);
	int rc = 0;
	if (o && json_object_object_get_ex(o, "rank", &x)) {
		json_object_object_add(o, "rank", json_object_new_int(rank));
		rc = d->seek(d->ctx, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), err);
	}
	json_object_put(o);
	return rc;
}

static int run_training(int mode, int argc, char **argv)
{
	static const char *const progs[] = { "spindle train pretrain", "spindle train sft", "spindle train rm" };
	const char *prog = progs[mode];
	targs a;
	memset(&a, 0, sizeof a);
	a.preset = "tiny";
	a.steps = 100;
	a.batch = 8;
	a.accum = 1;
	a.lr = 3e-4;
	a.warmup = -1;
	a.min_lr_ratio = 0.1;
	a.clip = 1.0;
	a.wd = 0.1;
	a.seed = 1337;
	a.spike_k = 4;
	a.spike_warmup = 20;
	a.category = "all";
	a.margins = "small";
	a.world = 1;
	sp_opt table[40];
	size_t nt = 0;
	train_options(&a, table, &nt);
	static const char *const usages[] = {
		"spindle train pretrain --data SHARDS_DIR --out RUN_DIR [OPTIONS]",
		"spindle train sft --data sft.jsonl --tokenizer TOK --out RUN_DIR [--init-from PRETRAINED] [OPTIONS]",
		"spindle train rm --data prefs.jsonl --tokenizer TOK --out RUN_DIR [--init-from DIR] [--category C] [OPTIONS]",
	};
	static const char *const descs[] = {
		"Pretrains a Llama 2 model (RMSNorm, RoPE, GQA, SwiGLU, untied head) on packed shards from\n"
		"`spindle pack`, on the CPU in float32: AdamW (0.9, 0.95, eps 1e-5, decay 0.1), cosine schedule to\n"
		"10% of the peak, clipping at 1.0. Logs one JSON object per step to stdout (step, loss, lr,\n"
		"grad_norm, tokens, tokens_per_s, cursor) and spike events with their batch's shard, sequence and\n"
		"document ids. Refuses shards whose tokenizer identity differs from the model's.",
		"Supervised fine-tuning on `spindle annotate export --format sft`: Llama 2 chat format, loss only on\n"
		"the assistant's response tokens, examples packed into sequences (attention stays within each).",
		"Trains a reward model (scalar head on the last token) on `spindle annotate export --format\n"
		"preference` with Llama 2's ranking loss -log sigmoid(r_chosen - r_rejected - margin(rating)).\n"
		"Logs accuracy (chosen scored above rejected) per step.",
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, usages[mode], descs[mode], table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos) {
		rc = cli_failf(prog, CLI_USAGE, "unexpected argument '%s'", pos[0]);
		sp_free(pos);
		return rc;
	}
	sp_free(pos);
	if (!a.data || !a.out)
		return cli_failf(prog, CLI_USAGE, "--data and --out are required (see --help)");
	if ((mode != MODE_PRETRAIN) && !a.tokenizer)
		return cli_failf(prog, CLI_USAGE, "--tokenizer is required to read text data");
	if (a.steps <= 0 || a.batch <= 0 || a.accum <= 0 || !(a.lr > 0) || a.world <= 0 || a.rank < 0 || a.rank >= a.world)
		return cli_failf(prog, CLI_USAGE, "--steps, --batch, --accum, --lr and --world must be positive, 0 <= --rank < --world");
	set_threads(a.threads);
	/* device (train/cuda): the device, and on a GPU the data-parallel group mpirun/srun started */
	int dev_kind = DEVICE_CPU;
	dist_env de;
	train_device *dev = NULL;
	{
		char gname[200], why[256];
		sp_err derr = SP_ERR_INIT;
		int ngpu = device_gpu_count(gname, sizeof gname, why, sizeof why);
		if (device_choose(a.device, device_built_with_cuda(), ngpu, why, &dev_kind, &derr) < 0 ||
		    dist_env_read(&de, NULL, NULL, &derr) < 0)
			return cli_fail(prog, &derr);
		if (dev_kind == DEVICE_CUDA && de.world > 1) {
			a.rank = de.rank;
			a.world = de.world;
		} else {
			de.world = 1;
		}
	}

	sp_err err = SP_ERR_INIT;
	tok_model *tok = NULL;
	train_data d;
	memset(&d, 0, sizeof d);
	trainer t;
	memset(&t, 0, sizeof t);
	int code = CLI_OK, have_trainer = 0;
	uint64_t model_tok = 0;
	model_config cfg;
	float margins[4];
	if (mode == MODE_RM && rm_margins_parse(a.margins, margins, &err) < 0)
		return cli_fail(prog, &err);
	if (a.tokenizer && tok_model_load(&tok, a.tokenizer, &err) < 0)
		return cli_fail(prog, &err);

	/* the context length decides the data's row length, so the config comes first */
	int vocab = tok ? (int)tok_vocab_size(tok) : 0;
	if (mode == MODE_PRETRAIN) {
		/* vocabulary from the shards: open once to read it */
		model_config probe;
		if (model_preset(&probe, a.preset, 1, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		int max_T = a.seq_len > 0 ? (int)a.seq_len : probe.max_seq_len;
		if (a.resume && file_exists(a.out, "config.json") && ckpt_read_config(a.out, &probe, NULL, &err) == 0)
			max_T = probe.max_seq_len;
		else if (a.init_from && ckpt_read_config(a.init_from, &probe, NULL, &err) == 0)
			max_T = probe.max_seq_len;
		if (!strncmp(a.data, "synthetic:", 10)) {
			/* benchmarks and smoke tests: generated rows, no files */
			long v = strtol(a.data + 10, NULL, 10);
			if (v < 2 || v > (1 << 24)) {
				code = cli_failf(prog, CLI_USAGE, "--data synthetic:VOCAB needs a vocabulary size");
				goto done;
			}
			if (data_synth_open(&d, (uint32_t)v, max_T, (uint64_t)a.seed, &err) < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
		} else if (data_shards_open(&d, a.data, max_T, a.doc_mask, (uint64_t)a.seed, (uint32_t)a.rank, (uint32_t)a.world,
		                            &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		vocab = (int)d.vocab_size;
		if (tok && (int)tok_vocab_size(tok) != vocab) {
			code = cli_failf(prog, CLI_REJECTED, "%s: the shards have a %d-token vocabulary, the tokenizer %u", a.data,
			                 vocab, tok_vocab_size(tok));
			goto done;
		}
	}
	if ((rc = resolve_config(prog, &a, vocab, mode == MODE_RM, &cfg, &model_tok)) >= 0) {
		code = rc;
		goto done;
	}
	if (tok) {
		uint64_t id = tok_identity(tok);
		if (model_tok && id != model_tok) {
			code = cli_failf(prog, CLI_REJECTED, "%s: tokenizer identity %016llx differs from the model's %016llx",
			                 a.tokenizer, (unsigned long long)id, (unsigned long long)model_tok);
			goto done;
		}
		model_tok = id;
	}
	if (mode == MODE_PRETRAIN) {
		if (d.tokenizer_id && model_tok && d.tokenizer_id != model_tok) {
			code = cli_failf(prog, CLI_REJECTED, "%s: the shards were made with tokenizer %016llx, the model uses %016llx; refusing to train",
			                 a.data, (unsigned long long)d.tokenizer_id, (unsigned long long)model_tok);
			goto done;
		}
		if (!model_tok)
			model_tok = d.tokenizer_id;
	} else if (mode == MODE_SFT) {
		size_t n;
		if (data_sft_open(&d, a.data, tok, cfg.max_seq_len, (uint64_t)a.seed, &n, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		fprintf(stderr, "%s: %zu SFT examples from %s\n", prog, n, a.data);
	} else {
		size_t n, skipped;
		const char *cat = strcmp(a.category, "all") ? a.category : NULL;
		if (data_rm_open(&d, a.data, tok, cfg.max_seq_len, (uint64_t)a.seed, cat, margins, &n, &skipped, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		fprintf(stderr, "%s: %zu preference pairs from %s (%zu skipped: other category, or unsafe chosen over safe)\n", prog, n, a.data, skipped);
	}

	train_opts o;
	train_opts_default(&o);
	o.mode = mode == MODE_RM ? TRAIN_RM : TRAIN_LM;
	o.steps = a.steps;
	o.warmup = a.warmup;
	o.save_every = a.save_every;
	o.batch = (int)a.batch;
	o.accum = (int)a.accum;
	o.lr = (float)a.lr;
	o.min_lr_ratio = (float)a.min_lr_ratio;
	o.clip = (float)a.clip;
	o.hp.weight_decay = (float)a.wd;
	o.seed = (uint64_t)a.seed;
	o.spike_k = (float)a.spike_k;
	o.spike_warmup = a.spike_warmup;
	o.skip_spikes = a.skip_spikes;
	o.tokenizer_id = model_tok;
	o.bos = tok ? tok_bos_id(tok) : -1;
	o.eos = tok ? tok_eos_id(tok) : -1;
	o.device_acts = dev_kind == DEVICE_CUDA;
	if (trainer_init(&t, &o, &cfg, &d, stdout, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	have_trainer = 1;
	if (dev_kind == DEVICE_CUDA) {
		if (train_device_open_dist("cuda", &t, !a.naive_attention, &de, a.out, &dev, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		t.dev = dev;
		fprintf(stderr, "%s: on %s", prog, dev->name);
		if (de.world > 1)
			fprintf(stderr, ", rank %d of %d (%s)", de.rank, de.world, de.launcher);
		fputc('\n', stderr);
	}
	int saver = de.world <= 1 || de.rank == 0;   /* data-parallel ranks hold the same weights: rank 0 saves */
	if (a.resume && file_exists(a.out, "trainer_state.json")) {
		if (trainer_resume(&t, a.out, &err) < 0 || (de.world > 1 && de.rank > 0 && reseek_rank(&d, de.rank, &err) < 0)) {
			code = cli_fail(prog, &err);
			goto done;
		}
		fprintf(stderr, "%s: resuming %s at step %ld\n", prog, a.out, t.step);
	} else if (a.init_from) {
		size_t missing = 0;
		if (ckpt_load_model(a.init_from, &t.m, 1, &missing, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		fprintf(stderr, "%s: initialised from %s (%zu tensors not in it kept fresh)\n", prog, a.init_from, missing);
		if (t.dev)
			t.dev->ops->push(t.dev->ctx, &t.m, &t.opt);
	}
	if (sp_mkdir_p(a.out, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	fprintf(stderr, "%s: %.2fM parameters (dim %d, %d layers, %d heads, %d kv heads, hidden %d, vocab %d), %dx%d tokens x %d per step\n",
	        prog, (double)t.m.n_params / 1e6, cfg.dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.hidden_dim,
	        cfg.vocab_size, t.batch.B, t.batch.T, o.accum);
	float first = NAN;
	long start = t.step;
	long stop = a.stop_after > 0 && start + a.stop_after < o.steps ? start + a.stop_after : o.steps;
	while (t.step < stop) {
		if (trainer_step(&t, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		if (t.step == start + 1)
			first = t.last_loss;
		if (saver && o.save_every > 0 && t.step % o.save_every == 0 && t.step < stop && trainer_save(&t, a.out, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
	}
	if (saver && trainer_save(&t, a.out, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	fprintf(stderr, "%s: %ld steps, loss %.4f -> %.4f, %ld spikes; checkpoint in %s\n", prog, t.step - start,
	        (double)first, (double)t.last_loss, t.n_spikes, a.out);
done:
	t.dev = NULL;
	train_device_close(dev);
	if (have_trainer)
		trainer_release(&t);
	if (d.free)
		d.free(d.ctx);
	tok_model_free(tok);
	return code;
}

/* ---------------------------------------------------------------- eval */

static int load_model_dir(const char *prog, const char *dir, int B, int T, model *m, uint64_t *tok_id, int *code)
{
	sp_err err = SP_ERR_INIT;
	model_config c;
	if (ckpt_read_config(dir, &c, tok_id, &err) < 0 || model_init(m, &c, B, T > 0 && T < c.max_seq_len ? T : c.max_seq_len, &err) < 0 ||
	    ckpt_load_model(dir, m, 0, NULL, &err) < 0) {
		*code = cli_fail(prog, &err);
		model_release(m);
		return -1;
	}
	return 0;
}

static int cmd_eval(int argc, char **argv)
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
		{ "batch", 0, SP_OPT_INT, &batch, "N", "rows per forward pass (default 8)", NULL, 0, 0 },
		{ "max-batches", 0, SP_OPT_INT, &max_batches, "N", "stop after N batches (default: one pass over the data)", NULL, 0, 0 },
		{ "doc-mask", 0, SP_OPT_FLAG, &doc_mask, NULL, "attention and positions stop at document boundaries", NULL, 0, 0 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads", NULL, 0, 0 },
		{ "device", 0, SP_OPT_STR, &device, "cpu|cuda|auto", "where to evaluate (default auto: the GPU in a CUDA build when there is one)", NULL, 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
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

/* ---------------------------------------------------------------- sample */

/* Appends generated text as a JSON string. A sample can stop inside a multi-byte character (byte
 * pieces), so invalid bytes become U+FFFD instead of making the record invalid JSON. */
static int append_text(sp_buf *line, const char *p, size_t n)
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

static void iso_now(char *buf, size_t n)
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

static const char *generate(decode_state *ds, device_decoder *dd, const model *m, const tok_ids *prompt, long max_new,
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

static int cmd_sample(int argc, char **argv)
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
		{ "n", 'n', SP_OPT_INT, &n_per, "N", "samples per prompt (default 1)", NULL, 0, 0 },
		{ "temperature", 0, SP_OPT_DOUBLE, &temp, "X", "sampling temperature (default 0.8; 0 = greedy)", NULL, 0, 0 },
		{ "top-p", 0, SP_OPT_DOUBLE, &top_p, "X", "nucleus sampling mass (default 0.9; 1 = off)", NULL, 0, 0 },
		{ "top-k", 0, SP_OPT_INT, &top_k, "N", "sample among the N most likely tokens only (default 0 = off)", NULL, 0, 0 },
		{ "max-new-tokens", 0, SP_OPT_INT, &max_new, "N", "tokens to generate at most (default 128)", NULL, 0, 0 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "sampling seed (default 1)", NULL, 0, 0 },
		{ "model-name", 0, SP_OPT_STR, &model_name, "NAME", "the \"model\" field of the records (default: the checkpoint path)", NULL, 0, 0 },
		{ "variant", 0, SP_OPT_STR, &variant, "NAME", "the \"variant\" field (e.g. sft, rlhf-v1, step-1000)", NULL, 0, 0 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write here (atomically) instead of stdout", NULL, 0, 0 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads", NULL, 0, 0 },
		{ "device", 0, SP_OPT_STR, &device, "cpu|cuda|auto", "where to decode (default auto: the GPU in a CUDA build when there is one)", NULL, 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
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

/* ---------------------------------------------------------------- plot */

static int cmd_plot(int argc, char **argv)
{
	const char *prog = "spindle train plot", *png = NULL;
	long width = 60;
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &png, "FILE", "PNG to draw (default: LOG with .png)", NULL, 0, 0 },
		{ "width", 0, SP_OPT_INT, &width, "N", "sparkline width in characters (default 60)", NULL, 10, 400 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train plot LOG [-o loss.png]",
	                   "Draws the loss curve of a training log (the JSONL a train command printed) to a PNG with\n"
	                   "gnuplot, and prints a text sparkline of it.", table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "give one log file");
	}
	const char *log = pos[0];
	sp_free(pos);
	sp_err err = SP_ERR_INIT;
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	double *loss = NULL;
	long *steps = NULL;
	size_t n = 0, cap = 0;
	if (sp_in_open(&in, log, &err) < 0)
		return cli_fail(prog, &err);
	while ((rc = sp_jsonl_next(in, &rec, &err)) == 1) {
		json_object *l = sp_json_path(rec.obj, "loss"), *s = sp_json_path(rec.obj, "step");
		if (!l || !s || sp_json_path(rec.obj, "event"))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			double *nl = sp_realloc(loss, cap * sizeof *nl);
			long *ns = nl ? sp_realloc(steps, cap * sizeof *ns) : NULL;
			if (nl)
				loss = nl;
			if (!ns) {
				rc = SP_ENOMEM;
				break;
			}
			steps = ns;
		}
		loss[n] = json_object_get_double(l);
		steps[n++] = (long)json_object_get_int64(s);
	}
	sp_in_free(in);
	sp_record_release(&rec);
	int code = CLI_OK;
	if (rc < 0) {
		code = rc == SP_ENOMEM ? cli_failf(prog, CLI_IO, "out of memory") : cli_fail(prog, &err);
		goto done;
	}
	if (n == 0) {
		code = cli_failf(prog, CLI_REJECTED, "%s: no step records with a loss", log);
		goto done;
	}
	/* sparkline: mean loss per column */
	static const char *const bars[8] = { "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
	size_t cols = n < (size_t)width ? n : (size_t)width;
	double lo = INFINITY, hi = -INFINITY, col[400];
	for (size_t c = 0; c < cols; c++) {
		size_t a = c * n / cols, e = (c + 1) * n / cols;
		double s = 0;
		for (size_t i = a; i < e; i++)
			s += loss[i];
		col[c] = s / (double)(e - a);
		lo = col[c] < lo ? col[c] : lo;
		hi = col[c] > hi ? col[c] : hi;
	}
	printf("loss %.4f ", loss[0]);
	for (size_t c = 0; c < cols; c++) {
		int k = hi > lo ? (int)((col[c] - lo) / (hi - lo) * 7.999) : 0;
		fputs(bars[k < 0 ? 0 : k > 7 ? 7 : k], stdout);
	}
	printf(" %.4f (steps %ld-%ld)\n", loss[n - 1], steps[0], steps[n - 1]);
	/* the PNG: data to a temporary file, then gnuplot */
	char out_png[4096], dat[] = "/tmp/spindle-plot-XXXXXX";
	if (png)
		snprintf(out_png, sizeof out_png, "%s", png);
	else
		snprintf(out_png, sizeof out_png, "%s.png", log);
	int fd = mkstemp(dat);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		code = cli_failf(prog, CLI_IO, "cannot create a temporary file");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%ld %.6g\n", steps[i], loss[i]);
	fclose(f);
	FILE *g = popen("gnuplot 2>&1", "w");
	if (!g) {
		unlink(dat);
		code = cli_failf(prog, CLI_IO, "cannot run gnuplot");
		goto done;
	}
	fprintf(g, "set terminal png size 900,500\nset output '%s'\nset xlabel 'step'\nset ylabel 'loss'\n"
	           "set grid\nset title 'training loss'\nplot '%s' using 1:2 with lines title 'loss'\n", out_png, dat);
	int st = pclose(g);
	unlink(dat);
	struct stat sb;
	if (st != 0 || stat(out_png, &sb) != 0 || sb.st_size == 0) {
		code = cli_failf(prog, CLI_IO, "gnuplot failed to write %s", out_png);
		goto done;
	}
	fprintf(stderr, "%s: %zu steps plotted to %s\n", prog, n, out_png);
done:
	sp_free(loss);
	sp_free(steps);
	return code;
}

/* ---------------------------------------------------------------- dispatch */

static int cmd_pretrain(int argc, char **argv) { return run_training(MODE_PRETRAIN, argc, argv); }
static int cmd_sft(int argc, char **argv) { return run_training(MODE_SFT, argc, argv); }
static int cmd_rm(int argc, char **argv) { return run_training(MODE_RM, argc, argv); }

static const struct { const char *name; int (*fn)(int, char **); const char *help; } subs[] = {
	{ "pretrain", cmd_pretrain, "pretrain on packed shards" },
	{ "sft", cmd_sft, "supervised fine-tuning on an annotate SFT export" },
	{ "rm", cmd_rm, "train a reward model on an annotate preference export" },
	{ "eval", cmd_eval, "loss/perplexity on held-out shards, or reward-model accuracy per rating" },
	{ "sample", cmd_sample, "generate responses (KV cache, temperature, top-k, top-p) for annotation" },
	{ "plot", cmd_plot, "draw a training log's loss curve (PNG) and a text sparkline" },
};

static void train_usage(FILE *f)
{
	fprintf(f, "usage: spindle train COMMAND [OPTIONS]\n\n"
	           "The Llama 2 trainer (CPU reference, float32, OpenBLAS + OpenMP). Commands:\n");
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		fprintf(f, "  %-9s %s\n", subs[i].name, subs[i].help);
	fprintf(f, "\nRun 'spindle train COMMAND --help' for its options.\n" CLI_EXIT_CODES_HELP);
}

SP_COMMAND(train, cmd_train, "Llama 2 trainer: pretrain, sft, rm, eval, sample, plot")
{
	if (argc < 2) {
		train_usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		train_usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("spindle train %s\n", SPINDLE_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "spindle train: '%s' is not a train command. See 'spindle train --help'.\n", argv[1]);
	return CLI_USAGE;
}
