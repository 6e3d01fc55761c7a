/* cli_train.c - `spindle train pretrain|sft|rm`: options, model configuration, data source, device
 * and the training loop's driving (train/trainer.c does the steps and checkpoints). */
#include <json.h>
#include <limits.h>
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
#include "cli_int.h"
#include "runlog.h"

typedef struct targs {
	const char *data, *preset, *out, *init_from, *tokenizer, *category, *margins, *mix;
	long steps, batch, accum, warmup, save_every, seq_len, threads, seed, spike_warmup;
	long dim, layers, heads, kv_heads, hidden, rank, world, stop_after;
	double lr, min_lr_ratio, clip, wd, spike_k, bucket_mb;
	int resume, doc_mask, skip_spikes, log_stdout, quiet, log_batches;
	const char *device;     /* device (train/cuda): --device, --naive-attention */
	int naive_attention;
} targs;

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
	OPT("log-stdout", SP_OPT_FLAG, &a->log_stdout, NULL, "print the JSONL step log on stdout on a terminal too (it always goes to RUN_DIR/train_log.jsonl, and to stdout when that is not a terminal)");
	t[(*n)++] = (sp_opt){ "quiet", 'q', SP_OPT_FLAG, &a->quiet, NULL, "no progress line on the terminal", NULL, 0, 0 };
	OPT("tokenizer", SP_OPT_STR, &a->tokenizer, "FILE", "tokenizer (.model or tokenizer.json): needed by sft/rm; pretrain checks the shards' identity against it");
	OPT("category", SP_OPT_CHOICE, &a->category, NULL, "rm: train on one category's pairs (separate helpfulness and safety reward models)");
	t[*n - 1].choices = "helpfulness|safety|all";
	OPT("mix", SP_OPT_STR, &a->mix, "SRC=W,...", "rm: take each source's pairs W times (0-100; spindle's own are 'own', converted ones their --source; default 1 each). --data may list several files: A,B");
	OPT("margins", SP_OPT_STR, &a->margins, "SPEC", "rm: margin per rating: small (1,2/3,1/3,0; default), large (3,2,1,0), none, or a,b,c,d");
	OPT("log-batches", SP_OPT_FLAG, &a->log_batches, NULL, "every step line lists its batch's rows (\"batch\", all ranks'), as spike events do");
	OPT("rank", SP_OPT_INT, &a->rank, "I", "pretrain without MPI: read this rank's part of the shards (default 0)");
	OPT("world", SP_OPT_INT, &a->world, "N", "pretrain without MPI: ranks the shards are split between (default 1); under mpirun/srun MPI says");
	OPT("bucket-mb", SP_OPT_DOUBLE, &a->bucket_mb, "MB", "data parallelism: the gradient goes to the other ranks in buckets of about MB megabytes, each as soon as the backward has finished it, overlapping the rest of the backward (default 25; 0: the whole gradient after the backward)");
	OPT("threads", SP_OPT_INT, &a->threads, "N", "CPU threads (default and auto: the CPUs this process may use: affinity mask, cgroup quota; under MPI, shared between the ranks of a host)");
	OPT("device", SP_OPT_STR, &a->device, "cpu|cuda|auto", "where to train: cuda needs bin/spindle-cuda (make cuda) and a GPU; auto (default) takes the GPU when there is one. Under mpirun/srun with --device cuda, ranks average gradients over NCCL");
	OPT("naive-attention", SP_OPT_FLAG, &a->naive_attention, NULL, "cuda: the reference attention kernel (stores T x T probabilities) instead of the fused one");
	t[(*n)++] = (sp_opt)SP_OPT_TABLE_END;
#undef OPT
	/* the accepted range of every numeric option (exit 2 outside it; shown in --help) */
	static const struct { const char *name; long lo, hi; const char *drange; } ranges[] = {
		{ "dim", 2, 65536, NULL }, { "layers", 1, 1024, NULL }, { "heads", 1, 1024, NULL }, { "kv-heads", 1, 1024, NULL },
		{ "hidden", 1, 1L << 20, NULL }, { "seq-len", 1, 1L << 20, NULL }, { "steps", 1, 1L << 40, NULL },
		{ "batch", 1, 65536, NULL }, { "accum", 1, 65536, NULL }, { "warmup", 0, 1L << 40, NULL },
		{ "seed", 0, LONG_MAX, NULL }, { "stop-after", 1, 1L << 40, NULL }, { "save-every", 0, 1L << 40, NULL },
		{ "rank", 0, 65535, NULL }, { "world", 1, 65536, NULL }, { "threads", 1, 1024, NULL },
		{ "lr", 0, 0, "1e-12..10" }, { "min-lr-ratio", 0, 0, "0..1" }, { "clip", 0, 0, "0..1e6" },
		{ "weight-decay", 0, 0, "0..10" }, { "spike-k", 0, 0, "0..1000" },
		{ "bucket-mb", 0, 0, "0..65536" },
	};
	for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++)
		for (size_t i = 0; i < *n; i++)
			if (t[i].name && !strcmp(t[i].name, ranges[r].name)) {
				t[i].min = ranges[r].lo;
				t[i].max = ranges[r].hi;
				if (ranges[r].drange)
					t[i].choices = ranges[r].drange;
			}
}


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

int train_run_mode(int mode, int argc, char **argv)
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
	a.bucket_mb = 25;
	a.category = "all";
	a.margins = "small";
	a.world = 1;
	sp_opt table[64];
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
		"document ids. Refuses shards whose tokenizer identity differs from the model's.\n"
		"Under `mpirun -np N` or `srun --mpi=pmix -n N` (also sft, rm): N data-parallel ranks, global batch\n"
		"--batch x N x --accum, rank 0 logs and saves (README: Data-parallel training).",
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
	if (a.mix && mode != TRAIN_MODE_RM)
		return cli_failf(prog, CLI_USAGE, "--mix is for reward models (train rm)");
	if ((mode != TRAIN_MODE_PRETRAIN) && !a.tokenizer)
		return cli_failf(prog, CLI_USAGE, "--tokenizer is required to read text data");
	if (a.steps <= 0 || a.batch <= 0 || a.accum <= 0 || !(a.lr > 0) || a.world <= 0 || a.rank < 0 || a.rank >= a.world)
		return cli_failf(prog, CLI_USAGE, "--steps, --batch, --accum, --lr and --world must be positive, 0 <= --rank < --world");
	/* data parallelism (issue 18): under mpirun or srun --mpi=pmix, the ranks and their MPI group */
	dist_comm *comm;
	int rank, world;
	if ((rc = cli_dist_start(prog, (int)a.rank, (int)a.world, &a.threads, &comm, &rank, &world)) != CLI_OK)
		return rc;
	/* device (train/cuda): the device, and on a GPU the data-parallel group mpirun/srun started */
	int dev_kind = DEVICE_CPU;
	dist_env de;
	train_device *dev = NULL;
	{
		char gname[200], why[256];
		sp_err derr = SP_ERR_INIT;
		int ngpu = device_gpu_count(gname, sizeof gname, why, sizeof why);
		if (device_choose(a.device, device_built_with_cuda(), ngpu, why, &dev_kind, &derr) < 0 ||
		    dist_env_read(&de, NULL, NULL, &derr) < 0) {
			dist_comm_close(comm, 1);
			return cli_fail(prog, &derr);
		}
		if (comm) { /* MPI's own numbering wins over the environment's */
			de.rank = rank;
			de.world = world;
			de.local_rank = dist_comm_local_rank(comm);
			de.comm = comm;
		}
		if (dev_kind == DEVICE_CUDA && de.world > 1 && !comm) {
			a.rank = de.rank;
			a.world = de.world;
		} else if (!comm) {
			de.world = 1;
		}
	}
	int talk = rank == 0;   /* rank 0 alone prints the run's progress and writes its checkpoints */

	sp_err err = SP_ERR_INIT;
	tok_model *tok = NULL;
	train_data d;
	memset(&d, 0, sizeof d);
	trainer t;
	memset(&t, 0, sizeof t);
	int code = CLI_OK, have_trainer = 0, have_log = 0;
	uint64_t model_tok = 0;
	model_config cfg;
	float margins[4];
	if (mode == TRAIN_MODE_RM && rm_margins_parse(a.margins, margins, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (a.tokenizer && tok_model_load(&tok, a.tokenizer, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}

	/* the context length decides the data's row length, so the config comes first */
	int vocab = tok ? (int)tok_vocab_size(tok) : 0;
	if (mode == TRAIN_MODE_PRETRAIN) {
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
	if ((rc = resolve_config(prog, &a, vocab, mode == TRAIN_MODE_RM, &cfg, &model_tok)) >= 0) {
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
	if (mode == TRAIN_MODE_PRETRAIN) {
		if (d.tokenizer_id && model_tok && d.tokenizer_id != model_tok) {
			code = cli_failf(prog, CLI_REJECTED, "%s: the shards were made with tokenizer %016llx, the model uses %016llx; refusing to train",
			                 a.data, (unsigned long long)d.tokenizer_id, (unsigned long long)model_tok);
			goto done;
		}
		if (!model_tok)
			model_tok = d.tokenizer_id;
	} else if (mode == TRAIN_MODE_SFT) {
		size_t n;
		if (data_sft_open(&d, a.data, tok, cfg.max_seq_len, (uint64_t)a.seed, &n, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		if (talk)
			fprintf(stderr, "%s: %zu SFT examples from %s\n", prog, n, a.data);
	} else {
		size_t n, skipped;
		const char *cat = strcmp(a.category, "all") ? a.category : NULL;
		if (data_rm_open_mix(&d, a.data, a.mix, tok, cfg.max_seq_len, (uint64_t)a.seed, cat, margins, &n, &skipped, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		if (talk) {
			sp_buf srcs = SP_BUF_INIT;
			data_rm_sources(&d, &srcs);
			fprintf(stderr, "%s: %zu preference pairs from %s (%s; %zu skipped: other category, or unsafe chosen over safe)\n", prog,
			        n, a.data, srcs.p ? srcs.p : "", skipped);
			sp_buf_release(&srcs);
		}
	}
	/* MPI ranks: each trains on its own micro-batches of the one stream (data_dist_wrap) */
	if (comm && world > 1 && data_dist_wrap(&d, rank, world, (int)a.accum, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}

	train_opts o;
	train_opts_default(&o);
	o.mode = mode == TRAIN_MODE_RM ? TRAIN_RM : TRAIN_LM;
	o.steps = a.steps;
	o.warmup = a.warmup;
	o.save_every = a.save_every;
	o.batch = (int)a.batch;
	o.accum = (int)a.accum;
	o.bucket_mb = (float)a.bucket_mb;
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
	o.log_batches = a.log_batches;
	if (trainer_init(&t, &o, &cfg, &d, talk ? stdout : NULL, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	have_trainer = 1;
	t.comm = comm;
	if (dev_kind == DEVICE_CUDA) {
		if (train_device_open_dist("cuda", &t, !a.naive_attention, &de, a.out, &dev, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		t.dev = dev;
		fprintf(stderr, "%s: on %s", prog, dev->name);
		if (de.world > 1)
			fprintf(stderr, ", rank %d of %d (%s)", de.rank, de.world, comm ? "mpi" : de.launcher);
		fputc('\n', stderr);
	}
	/* data-parallel ranks hold the same weights: rank 0 saves */
	int saver = comm ? talk : de.world <= 1 || de.rank == 0;
	if (a.resume && file_exists(a.out, "trainer_state.json")) {
		/* (MPI ranks share the one stream's cursor; file-exchange GPU ranks move to their own part) */
		if (trainer_resume(&t, a.out, &err) < 0 ||
		    (!comm && de.world > 1 && de.rank > 0 && reseek_rank(&d, de.rank, &err) < 0)) {
			code = cli_fail(prog, &err);
			goto done;
		}
		if (talk)
			fprintf(stderr, "%s: resuming %s at step %ld\n", prog, a.out, t.step);
	} else if (a.init_from) {
		size_t missing = 0;
		if (ckpt_load_model(a.init_from, &t.m, 1, &missing, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		if (talk)
			fprintf(stderr, "%s: initialised from %s (%zu tensors not in it kept fresh)\n", prog, a.init_from, missing);
		if (t.dev)
			t.dev->ops->push(t.dev->ctx, &t.m, &t.opt);
	}
	if (saver && sp_mkdir_p(a.out, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (talk)
		fprintf(stderr, "%s: %.2fM parameters (dim %d, %d layers, %d heads, %d kv heads, hidden %d, vocab %d), %dx%d tokens x %d x %d rank(s) per step\n",
		        prog, (double)t.m.n_params / 1e6, cfg.dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.hidden_dim,
		        cfg.vocab_size, t.batch.B, t.batch.T, o.accum, world);
	/* the step log (rank 0): the run folder, stdout for pipes, a progress line on a terminal. Under
	 * mpirun/srun the ranks' stdout is the launcher's pseudo-terminal whatever the user's stdout is:
	 * JSONL goes to stdout there, as before, and no progress line */
	train_runlog rl;
	if (talk) {
		if (train_runlog_open(&rl, saver ? a.out : NULL, prog, t.step, o.steps, a.log_stdout || comm || !isatty(1),
		                      saver && !a.quiet && !comm && isatty(2), &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		have_log = 1;
		t.on_log = train_runlog_hook;
		t.log_ctx = &rl;
	}
	float first;
	long start = t.step;
	if ((code = cli_train_steps(prog, &t, a.out, a.stop_after, saver, &first)) != CLI_OK)
		goto done;
	if (talk)
		fprintf(stderr, "%s: %ld steps, loss %.4f -> %.4f, %ld spikes; checkpoint in %s\n", prog, t.step - start,
		        (double)first, (double)t.last_loss, t.n_spikes, a.out);
done:
	if (have_log)
		train_runlog_close(&rl);
	t.dev = NULL;
	train_device_close(dev);
	if (have_trainer)
		trainer_release(&t);
	if (d.free)
		d.free(d.ctx);
	tok_model_free(tok);
	/* a failing rank aborts the MPI job, so the launcher stops the others at once */
	dist_comm_close(comm, code != CLI_OK);
	return code;
}
