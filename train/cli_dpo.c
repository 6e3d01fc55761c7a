/* cli_dpo.c - `spindle train dpo`: Direct Preference Optimisation of a chat model (an SFT
 * checkpoint) on annotate's preference export, against a frozen reference (that checkpoint, or
 * --ref). Options, the reference cache and the held-out evaluation; the steps and checkpoints are
 * trainer.c's (TRAIN_HOOK), the loss dpo.c's. CPU only; data-parallel under mpirun/srun (issue 18):
 * every rank loads the models and data and trains its own micro-batches, rank 0 alone writes the
 * reference cache, the log and the checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "../tokenizer/tok.h"
#include "ckpt.h"
#include "dist.h"
#include "dpo.h"
#include "trainer.h"
#include "spindle/io.h"
#include "spindle/mem.h"
#include "cli_int.h"
#include "runlog.h"

#define REF_CACHE "dpo_ref_logps.json"

typedef struct dargs {
	const char *data, *eval_data, *out, *init_from, *ref, *tokenizer, *category, *margins;
	long steps, batch, accum, warmup, save_every, threads, seed, stop_after;
	double lr, min_lr_ratio, clip, wd, beta, spike_k, bucket_mb;
	int resume, skip_spikes, no_cache;
} dargs;

/* writes one held-out evaluation line ({"event":"eval",...}) to the run's log (runlog.h); log NULL
 * (data-parallel ranks but 0): evaluates alone, so that rank 0's evaluation keeps no rank waiting */
static int eval_line(const char *prog, model *m, train_data *ed, const dpo_ref *er, int B, long step, double beta,
                     train_runlog *log)
{
	sp_err err = SP_ERR_INIT;
	double md, acc;
	if (dpo_evaluate(m, ed, er, B, &md, &acc, &err) < 0)
		return cli_fail(prog, &err);
	if (!log)
		return CLI_OK;
	char line[512];
	int n = snprintf(line, sizeof line, "{\"event\":\"eval\",\"step\":%ld,\"pairs\":%zu,\"delta\":%.6g,\"reward_margin\":%.6g,\"reward_accuracy\":%.4f}\n",
	                 step, data_dpo_count(ed), md, beta * md, acc);
	train_runlog_write(log, line, (size_t)n);
	fprintf(stderr, "%s: held-out pairs at step %ld: chosen-over-rejected log-ratio %.4f, accuracy %.3f\n", prog, step, md,
	        acc);
	return CLI_OK;
}

int cmd_dpo(int argc, char **argv)
{
	const char *prog = "spindle train dpo";
	dargs a;
	memset(&a, 0, sizeof a);
	a.steps = 100;
	a.batch = 4;
	a.accum = 1;
	a.bucket_mb = 25;
	a.lr = 1e-6;
	a.warmup = -1;
	a.min_lr_ratio = 0.1;
	a.clip = 1.0;
	a.wd = 0.0;
	a.beta = 0.1;
	a.seed = 1337;
	a.spike_k = 4;
	a.category = "all";
	a.margins = "none";
#define O(name, kind, dest, arg, help, lo, hi) { name, 0, kind, dest, arg, help, NULL, lo, hi }
#define OD(name, dest, arg, help, range) { name, 0, SP_OPT_DOUBLE, dest, arg, help, range, 0, 0 }
	sp_opt table[] = {
		O("data", SP_OPT_STR, &a.data, "FILE", "preference pairs (`spindle annotate export --format preference`)", 0, 0),
		O("tokenizer", SP_OPT_STR, &a.tokenizer, "FILE", "the model's tokenizer (.model or tokenizer.json)", 0, 0),
		O("init-from", SP_OPT_STR, &a.init_from, "DIR", "the policy's starting checkpoint (an SFT model); also the reference unless --ref", 0, 0),
		O("ref", SP_OPT_STR, &a.ref, "DIR", "the frozen reference model (default: --init-from)", 0, 0),
		O("out", SP_OPT_STR, &a.out, "DIR", "run folder: checkpoint, and the reference cache " REF_CACHE, 0, 0),
		O("eval-data", SP_OPT_STR, &a.eval_data, "FILE", "held-out pairs: log-ratio and accuracy before and after training", 0, 0),
		OD("beta", &a.beta, "X", "DPO temperature beta, in (0, 100] (default 0.1)", "1e-9..100"),
		O("margins", SP_OPT_STR, &a.margins, "SPEC", "Llama 2's rating margin inside the sigmoid: none (default), small, large or a,b,c,d", 0, 0),
		O("category", SP_OPT_CHOICE, &a.category, NULL, "train on one category's pairs", 0, 0),
		O("resume", SP_OPT_FLAG, &a.resume, NULL, "continue the run in --out from its checkpoint (bit-identical to not stopping)", 0, 0),
		O("steps", SP_OPT_INT, &a.steps, "N", "optimizer steps in the whole run (default 100)", 1, 100000000),
		O("batch", SP_OPT_INT, &a.batch, "N", "pairs per micro-batch (default 4)", 1, 4096),
		O("accum", SP_OPT_INT, &a.accum, "N", "micro-batches per step (default 1)", 1, 65536),
		OD("lr", &a.lr, "X", "peak learning rate, in (0, 1] (default 1e-6)", "1e-12..1"),
		O("warmup", SP_OPT_INT, &a.warmup, "N", "warm-up steps (default 2% of the steps)", 0, 100000000),
		OD("min-lr-ratio", &a.min_lr_ratio, "X", "cosine decay floor as a fraction of the peak, in [0, 1] (default 0.1)", "0..1"),
		OD("clip", &a.clip, "X", "gradient clipping: global norm, >= 0 (default 1.0; 0 = off)", "0..1e6"),
		OD("weight-decay", &a.wd, "X", "AdamW weight decay on matrices, in [0, 1] (default 0)", "0..1"),
		O("seed", SP_OPT_INT, &a.seed, "N", "data-order seed (default 1337)", 0, 0x7fffffffL),
		O("save-every", SP_OPT_INT, &a.save_every, "N", "write the checkpoint every N steps (and at the end)", 0, 100000000),
		O("stop-after", SP_OPT_INT, &a.stop_after, "N", "end this invocation after N steps with a checkpoint (continue with --resume)", 0, 100000000),
		OD("spike-k", &a.spike_k, "K", "loss spike threshold in standard deviations, in [0, 1000] (default 4; 0 = off)", "0..1000"),
		O("skip-spikes", SP_OPT_FLAG, &a.skip_spikes, NULL, "drop the update of a spiking batch", 0, 0),
		O("no-cache", SP_OPT_FLAG, &a.no_cache, NULL, "compute the reference log-probabilities without the cache (neither read nor written)", 0, 0),
		O("threads", SP_OPT_INT, &a.threads, "N", "CPU threads (default and auto: the CPUs this process may use; under MPI, shared between the ranks of a host)", 1, 4096),
		OD("bucket-mb", &a.bucket_mb, "MB", "data parallelism: the gradient goes to the other ranks in buckets of about MB megabytes as the backward finishes them (default 25; 0: the whole gradient after the backward)", "0..65536"),
		SP_OPT_TABLE_END
	};
#undef O
	for (size_t i = 0; table[i].name; i++)
		if (!strcmp(table[i].name, "category"))
			table[i].choices = "helpfulness|safety|all";
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train dpo --data prefs.jsonl --tokenizer TOK --init-from SFT_DIR --out RUN_DIR [OPTIONS]",
	                   "Direct Preference Optimisation (Rafailov et al. 2023): loss -log sigmoid(beta * delta [- margin(rating)])\n"
	                   "with delta = [log pi(y_w) - log ref(y_w)] - [log pi(y_l) - log ref(y_l)] summed over the response tokens\n"
	                   "and EOS, in Llama 2's chat format. The reference's log-probabilities are computed once and cached in\n"
	                   "RUN_DIR/" REF_CACHE ", keyed by the hashes of the data file and the reference's model.safetensors,\n"
	                   "the tokenizer identity, the context length and the category: any change recomputes it. Logs per\n"
	                   "step (stdout, JSONL): loss, reward_accuracy, reward_chosen, reward_rejected, reward_margin (implicit\n"
	                   "rewards beta * log(pi / ref)); with --eval-data an {\"event\":\"eval\"} line before and after.\n"
	                   "Under `mpirun -np N` or `srun --mpi=pmix -n N`: N data-parallel ranks, global batch --batch x N x\n"
	                   "--accum pairs, rank 0 logs, writes the cache and saves (README: Data-parallel training).",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if (n_pos)
		return cli_failf(prog, CLI_USAGE, "unexpected argument");
	if (!a.data || !a.out || !a.tokenizer || !a.init_from)
		return cli_failf(prog, CLI_USAGE, "--data, --tokenizer, --init-from and --out are required (see --help)");
	if (!(a.beta > 0 && a.beta <= 100) || !(a.lr > 0 && a.lr <= 1) || !(a.min_lr_ratio >= 0 && a.min_lr_ratio <= 1) ||
	    !(a.clip >= 0 && a.clip <= 1e6) || !(a.wd >= 0 && a.wd <= 1) || !(a.spike_k >= 0 && a.spike_k <= 1000))
		return cli_failf(prog, CLI_USAGE, "--beta must be in (0, 100], --lr in (0, 1], --min-lr-ratio and --weight-decay in [0, 1], "
		                 "--clip in [0, 1e6], --spike-k in [0, 1000]");
	/* data parallelism (issue 18): under mpirun or srun --mpi=pmix, the ranks and their MPI group */
	dist_comm *comm;
	int rank, world;
	if ((rc = cli_dist_start(prog, 0, 1, &a.threads, &comm, &rank, &world)) != CLI_OK)
		return rc;
	int talk = rank == 0;   /* rank 0 alone prints, logs and writes (the cache, the checkpoints) */
	const char *ref_dir = a.ref ? a.ref : a.init_from;
	sp_err err = SP_ERR_INIT;
	float margins[4];
	int use_margins = strcmp(a.margins, "none") != 0;
	if (use_margins && rm_margins_parse(a.margins, margins, &err) < 0) {
		rc = cli_fail(prog, &err);
		dist_comm_close(comm, 0);  /* the same on every rank */
		return rc;
	}
	const char *cat = strcmp(a.category, "all") ? a.category : NULL;
	int resuming = a.resume && file_exists(a.out, "trainer_state.json");
	const char *cfg_dir = resuming ? a.out : a.init_from;
	int code = CLI_OK, have_trainer = 0, have_log = 0, B = 2 * (int)a.batch;
	tok_model *tok = NULL;
	train_data d, ed;
	memset(&d, 0, sizeof d);
	memset(&ed, 0, sizeof ed);
	model ref;
	memset(&ref, 0, sizeof ref);
	dpo_ref rl, erl;
	memset(&rl, 0, sizeof rl);
	memset(&erl, 0, sizeof erl);
	dpo_hook hook;
	memset(&hook, 0, sizeof hook);
	trainer t;
	train_runlog log;
	memset(&t, 0, sizeof t);
	model_config cfg, rcfg;
	uint64_t model_tok = 0, ref_tok = 0;
	char cache[4096];
	snprintf(cache, sizeof cache, "%s/" REF_CACHE, a.out);
	if (tok_model_load(&tok, a.tokenizer, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (ckpt_read_config(cfg_dir, &cfg, &model_tok, &err) < 0 || ckpt_read_config(ref_dir, &rcfg, &ref_tok, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (cfg.reward_head || rcfg.reward_head) {
		code = cli_failf(prog, CLI_REJECTED, "%s is a reward model, not a chat model: DPO needs a language model (an SFT checkpoint)",
		                 cfg.reward_head ? cfg_dir : ref_dir);
		goto done;
	}
	if ((model_tok && model_tok != tok_identity(tok)) || (ref_tok && ref_tok != tok_identity(tok))) {
		code = cli_failf(prog, CLI_REJECTED, "%s: tokenizer identity %016llx differs from the model's (%s)", a.tokenizer,
		                 (unsigned long long)tok_identity(tok), model_tok != tok_identity(tok) ? cfg_dir : ref_dir);
		goto done;
	}
	if (cfg.vocab_size != (int)tok_vocab_size(tok) || rcfg.vocab_size != cfg.vocab_size || rcfg.max_seq_len < cfg.max_seq_len) {
		code = cli_failf(prog, CLI_REJECTED, "%s: the policy, the reference and the tokenizer disagree on the vocabulary or context", ref_dir);
		goto done;
	}
	size_t n_pairs, n_skip;
	if (data_dpo_open(&d, a.data, tok, cfg.max_seq_len, (uint64_t)a.seed, cat, use_margins ? margins : NULL, &n_pairs, &n_skip,
	                  &err) < 0 ||
	    (a.eval_data && data_dpo_open(&ed, a.eval_data, tok, cfg.max_seq_len, (uint64_t)a.seed, cat, NULL, NULL, NULL, &err) < 0)) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (talk)
		fprintf(stderr, "%s: %zu preference pairs from %s (%zu skipped: other category, or unsafe chosen over safe)\n", prog,
		        n_pairs, a.data, n_skip);
	/* every rank computes (or reads) the reference's log-probabilities; rank 0 alone writes the cache */
	if ((talk && sp_mkdir_p(a.out, &err) < 0) || model_init(&ref, &rcfg, B, cfg.max_seq_len, &err) < 0 ||
	    ckpt_load_model(ref_dir, &ref, 0, NULL, &err) < 0 ||
	    dpo_ref_get(&rl, a.no_cache ? NULL : cache, talk, a.data, ref_dir, &ref, &d, cat, B, &err) < 0 ||
	    (a.eval_data && dpo_ref_get(&erl, NULL, 0, a.eval_data, ref_dir, &ref, &ed, cat, B, &err) < 0)) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (talk)
		fprintf(stderr, "%s: reference %s: log-probabilities of %zu pairs %s\n", prog, ref_dir, rl.n_pairs,
		        rl.from_cache ? "read from the cache " REF_CACHE : "computed");
	model_release(&ref);
	/* MPI ranks: each trains on its own micro-batches of the one stream (data_dist_wrap); the batches
	 * name their pairs, so the hook finds their reference values whatever the wrapper read since */
	if (comm && world > 1 && data_dist_wrap(&d, rank, world, (int)a.accum, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}

	train_opts o;
	train_opts_default(&o);
	o.mode = TRAIN_HOOK;
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
	o.skip_spikes = a.skip_spikes;
	o.tokenizer_id = tok_identity(tok);
	o.bos = tok_bos_id(tok);
	o.eos = tok_eos_id(tok);
	if (trainer_init(&t, &o, &cfg, &d, talk ? stdout : NULL, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	have_trainer = 1;
	t.comm = comm;
	dpo_hook_init(&hook, &rl, a.beta, &err);
	t.hook = &hook.hook;
	if (resuming) {
		/* (the checkpoint holds the one stream's cursor: any number of ranks continues it) */
		if (trainer_resume(&t, a.out, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		if (talk)
			fprintf(stderr, "%s: resuming %s at step %ld\n", prog, a.out, t.step);
	} else if (ckpt_load_model(a.init_from, &t.m, 0, NULL, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (talk && world > 1)
		fprintf(stderr, "%s: %d data-parallel ranks: %ld pairs x %d micro-batches x %d ranks per step\n", prog, world,
		        a.batch, o.accum, world);
	/* the step log (rank 0): RUN_DIR/train_log.jsonl, stdout for pipes, a progress line on a terminal
	 * (under mpirun/srun stdout is the launcher's pseudo-terminal: JSONL there, no progress line) */
	if (talk) {
		if (train_runlog_open(&log, a.out, prog, t.step, o.steps, comm || !isatty(1), !comm && isatty(2), &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		have_log = 1;
		t.on_log = train_runlog_hook;
		t.log_ctx = &log;
	}
	train_runlog *elog = talk ? &log : NULL;
	if (a.eval_data && !resuming && (code = eval_line(prog, &t.m, &ed, &erl, t.batch.B, t.step, a.beta, elog)) != CLI_OK)
		goto done;
	long start = t.step;
	float first;
	if ((code = cli_train_steps(prog, &t, a.out, a.stop_after, talk, &first)) != CLI_OK)
		goto done;
	if (a.eval_data && t.step >= o.steps && (code = eval_line(prog, &t.m, &ed, &erl, t.batch.B, t.step, a.beta, elog)) != CLI_OK)
		goto done;
	if (talk)
		fprintf(stderr, "%s: %ld steps, loss %.4f -> %.4f (log 2 = 0.6931 at the reference); checkpoint in %s\n", prog,
		        t.step - start, (double)first, (double)t.last_loss, a.out);
done:
	if (have_log)
		train_runlog_close(&log);
	if (have_trainer)
		trainer_release(&t);
	dpo_hook_release(&hook);
	dpo_ref_release(&rl);
	dpo_ref_release(&erl);
	model_release(&ref);
	if (d.free)
		d.free(d.ctx);
	if (ed.free)
		ed.free(ed.ctx);
	tok_model_free(tok);
	/* a failing rank aborts the MPI job, so the launcher stops the others at once */
	dist_comm_close(comm, code != CLI_OK);
	return code;
}
