/* cli_ppo.c - `spindle train ppo`: RLHF with PPO (Llama 2 section 3.2.3, InstructGPT's recipe): the
 * options (Llama 2's defaults), the run folder (checkpoints, --resume, --stop-after) and the
 * per-iteration JSONL log on stdout (schemas/train-ppo-log.schema.json). The loop is ppo_run.c.
 * Under mpirun / srun --mpi=pmix (issue 18) it runs as the ranks of one job: each samples and trains
 * on its part of every iteration's rollouts (ppo_dist.h); rank 0 alone logs and saves. */
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "../tokenizer/tok.h"
#include "ppo_run.h"
#include "spindle/io.h"
#include "spindle/mem.h"
#include "cli_int.h"

int cmd_ppo(int argc, char **argv)
{
	const char *prog = "spindle train ppo", *model_dir = NULL, *tokenizer = NULL, *prompts_path = NULL, *rm_h = NULL, *rm_s = NULL;
	const char *critic_dir = NULL, *out_dir = NULL, *eval_path = NULL;
	long eval_every = 1, patience = 0;
	ppo_run_opts o;
	ppo_run_opts_default(&o);
	long gen_batch = o.gen_batch;
	long iterations = o.iterations, rollouts = o.rollouts, minibatch = o.minibatch, micro = o.micro, epochs = o.epochs;
	long max_new = o.max_new, save_every = 0, stop_after = 0, seed = 1, threads = 0, score_batch = 8, spike_warmup = o.spike_warmup;
	double temp = o.h.temperature, beta = o.h.beta, gamma = o.h.gamma, lambda = o.h.lambda, clip = o.h.clip, vclip = o.h.vclip;
	double lr = o.lr, critic_lr = -1, clip_grad = o.clip_grad, wd = o.hp.weight_decay, penalty = o.no_eos_penalty;
	double thresh = REWARD_SAFETY_THRESHOLD, spike_k = o.spike_k;
	int resume = 0, skip_spikes = 0;
	const sp_opt table[] = {
		{ "model", 0, SP_OPT_STR, &model_dir, "DIR", "the initial policy (an SFT or RS checkpoint); also the frozen reference", NULL, 0, 0 },
		{ "tokenizer", 0, SP_OPT_STR, &tokenizer, "FILE", "the models' tokenizer", NULL, 0, 0 },
		{ "prompts", 0, SP_OPT_STR, &prompts_path, "FILE", "prompt records (annotate-prompt.schema.json)", NULL, 0, 0 },
		{ "rm-helpful", 0, SP_OPT_STR, &rm_h, "DIR", "helpfulness reward model (frozen)", NULL, 0, 0 },
		{ "rm-safety", 0, SP_OPT_STR, &rm_s, "DIR", "safety reward model (frozen)", NULL, 0, 0 },
		{ "safety-threshold", 0, SP_OPT_DOUBLE, &thresh, "X", "the gate's threshold on R_s (default 0.15), in [0, 1]", "0..1", 0, 0 },
		{ "critic-init", 0, SP_OPT_STR, &critic_dir, "DIR", "the value model's starting point (default: the helpfulness reward model, else the safety one)", NULL, 0, 0 },
		{ "out", 0, SP_OPT_STR, &out_dir, "DIR", "run folder: the policy checkpoint, critic/, optimizer moments, ppo_state.json", NULL, 0, 0 },
		{ "resume", 0, SP_OPT_FLAG, &resume, NULL, "continue the run in --out (bit-identical to not stopping)", NULL, 0, 0 },
		{ "iterations", 0, SP_OPT_INT, &iterations, "N", "PPO iterations in the whole run (default 200)", NULL, 1, 10000000 },
		{ "stop-after", 0, SP_OPT_INT, &stop_after, "N", "end this invocation after N iterations with a checkpoint", NULL, 0, 10000000 },
		{ "save-every", 0, SP_OPT_INT, &save_every, "N", "write the checkpoint every N iterations (and at the end)", NULL, 0, 10000000 },
		{ "rollouts", 0, SP_OPT_INT, &rollouts, "N", "rollouts per iteration (default 512)", NULL, 1, 1 << 20 },
		{ "minibatch", 0, SP_OPT_INT, &minibatch, "N", "rollouts per gradient step (default 64)", NULL, 1, 1 << 20 },
		{ "micro", 0, SP_OPT_INT, &micro, "N", "rollouts per forward/backward (memory; default 8)", NULL, 1, 4096 },
		{ "gen-batch", 0, SP_OPT_INT, &gen_batch, "N", "rollouts sampled together, batched KV-cache decoding (default 32)", NULL, 1, 4096 },
		{ "ppo-epochs", 0, SP_OPT_INT, &epochs, "N", "passes over each iteration's rollouts (default 1)", NULL, 1, 100 },
		{ "max-new-tokens", 0, SP_OPT_INT, &max_new, "N", "response length limit (default 128)", NULL, 1, 1 << 20 },
		{ "temperature", 0, SP_OPT_DOUBLE, &temp, "X", "sampling temperature (default 1), in (0, 10]; pure sampling, no top-p/top-k", "1e-9..10", 0, 0 },
		{ "kl-beta", 0, SP_OPT_DOUBLE, &beta, "X", "KL penalty (default 0.01: Llama 2 7B/13B; 0.005 larger), in [0, 10]", "0..10", 0, 0 },
		{ "gamma", 0, SP_OPT_DOUBLE, &gamma, "X", "GAE discount (default 1), in [0, 1]", "0..1", 0, 0 },
		{ "lambda", 0, SP_OPT_DOUBLE, &lambda, "X", "GAE lambda (default 0.95), in [0, 1]", "0..1", 0, 0 },
		{ "clip", 0, SP_OPT_DOUBLE, &clip, "X", "policy ratio clip (default 0.2), in (0, 10]", "1e-9..10", 0, 0 },
		{ "value-clip", 0, SP_OPT_DOUBLE, &vclip, "X", "value clip around the rollout's values (default 0.2), in (0, 1e6]", "1e-9..1e6", 0, 0 },
		{ "no-eos-penalty", 0, SP_OPT_DOUBLE, &penalty, "X", "subtracted from the whitened score of a response that never emits EOS (default 1), in [0, 100]", "0..100", 0, 0 },
		{ "lr", 0, SP_OPT_DOUBLE, &lr, "X", "policy learning rate, constant (default 1e-6, Llama 2's), in (0, 1]", "1e-9..1", 0, 0 },
		{ "critic-lr", 0, SP_OPT_DOUBLE, &critic_lr, "X", "critic learning rate (default: --lr), in (0, 1]", "1e-9..1", 0, 0 },
		{ "clip-grad", 0, SP_OPT_DOUBLE, &clip_grad, "X", "gradient clipping, global norm (default 1; 0 = off), in [0, 1e6]", "0..1e6", 0, 0 },
		{ "weight-decay", 0, SP_OPT_DOUBLE, &wd, "X", "AdamW weight decay (default 0.1; beta1 0.9, beta2 0.95, eps 1e-5), in [0, 10]", "0..10", 0, 0 },
		{ "spike-k", 0, SP_OPT_DOUBLE, &spike_k, "K", "a policy gradient norm above the running mean + K std is a spike (default 4; 0 = off), in [0, 1000]", "0..1000", 0, 0 },
		{ "spike-warmup", 0, SP_OPT_INT, &spike_warmup, "N", "gradient steps of statistics before spikes are judged (default 10)", NULL, 0, 1000000 },
		{ "skip-spikes", 0, SP_OPT_FLAG, &skip_spikes, NULL, "drop a spiking mini-batch's update", NULL, 0, 0 },
		{ "score-batch", 0, SP_OPT_INT, &score_batch, "N", "sequences per reward-model forward (default 8)", NULL, 1, 4096 },
		{ "eval-prompts", 0, SP_OPT_STR, &eval_path, "FILE", "held-out prompt records: one sample each, scored, logged as eval_reward; the best policy goes to --out/best", NULL, 0, 0 },
		{ "eval-every", 0, SP_OPT_INT, &eval_every, "N", "evaluate every N iterations (default 1)", NULL, 1, 10000000 },
		{ "patience", 0, SP_OPT_INT, &patience, "N", "early stopping: end the run after N evaluations without a better eval_reward (default 0 = never)", NULL, 0, 10000000 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "sampling and shuffling seed (default 1)", NULL, 0, 1L << 62 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads (default all)", NULL, 0, 4096 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train ppo --model SFT_DIR --tokenizer TOK --prompts FILE (--rm-helpful DIR | --rm-safety DIR)... --out DIR [OPTIONS]",
	                   "PPO on the reward models' combined score (Llama 2, section 3.2.3). Per iteration: --rollouts responses\n"
	                   "sampled from the policy (pure sampling at --temperature, stop at EOS or --max-new-tokens), scored as\n"
	                   "`train score` does; the sequence reward is whiten(logit(R_c)) over the batch (population variance,\n"
	                   "eps 1e-8) minus --no-eos-penalty for a response without EOS, added at the last token, plus a per-token\n"
	                   "KL penalty -beta (log pi - log pi_ref); GAE advantages (whitened) and returns; then mini-batch steps of\n"
	                   "the clipped surrogate (policy) and the clipped value loss (critic: a separate value model initialised\n"
	                   "from a reward model, as InstructGPT/TRL/OpenRLHF do, read at every response position). One JSON line\n"
	                   "per iteration on stdout: reward, KL, entropy, clip fraction, approximate KL, value loss, explained\n"
	                   "variance, response length, the time split and tokens/s. The checkpoint in --out is the policy\n"
	                   "(`train sample --model DIR` reads it); --resume continues bit for bit. Under mpirun or srun --mpi=pmix\n"
	                   "it runs as N ranks: each samples whole --gen-batch chunks of the rollouts, the mini-batch gradients are\n"
	                   "summed over ranks, rank 0 logs and saves (README: Data-parallel training).",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if (n_pos)
		return cli_failf(prog, CLI_USAGE, "no positional arguments (see --help)");
	if ((!model_dir && !resume) || !tokenizer || !prompts_path || (!rm_h && !rm_s) || !out_dir)
		return cli_failf(prog, CLI_USAGE, "--model, --tokenizer, --prompts, a reward model and --out are required (see --help)");
	if (critic_lr < 0)
		critic_lr = lr;
	if (!(thresh >= 0 && thresh <= 1) || !(temp > 0 && temp <= 10) || !(beta >= 0 && beta <= 10) || !(gamma >= 0 && gamma <= 1) ||
	    !(lambda >= 0 && lambda <= 1) || !(clip > 0 && clip <= 10) || !(vclip > 0 && vclip <= 1e6) || !(penalty >= 0 && penalty <= 100) ||
	    !(lr > 0 && lr <= 1) || !(critic_lr > 0 && critic_lr <= 1) || !(clip_grad >= 0 && clip_grad <= 1e6) || !(wd >= 0 && wd <= 10) ||
	    !(spike_k >= 0 && spike_k <= 1000))
		return cli_failf(prog, CLI_USAGE, "a numeric option is out of its range (see --help for each range)");
	if (minibatch > rollouts)
		return cli_failf(prog, CLI_USAGE, "--minibatch %ld is larger than --rollouts %ld", minibatch, rollouts);
	/* data parallelism: the ranks and their MPI group; the host's cores shared between its ranks */
	dist_comm *comm = NULL;
	int rank = 0, world = 1;
	int rc0 = cli_dist_start(prog, 0, 1, &threads, &comm, &rank, &world);
	if (rc0 != CLI_OK)
		return rc0;
	int talk = rank == 0;   /* rank 0 alone logs, prints and saves */
	o.iterations = iterations, o.rollouts = rollouts, o.minibatch = minibatch, o.micro = micro, o.epochs = epochs;
	o.gen_batch = gen_batch;
	o.max_new = max_new, o.save_every = save_every, o.seed = (uint64_t)seed;
	o.h.temperature = (float)temp, o.h.beta = (float)beta, o.h.gamma = (float)gamma, o.h.lambda = (float)lambda;
	o.h.clip = (float)clip, o.h.vclip = (float)vclip;
	o.lr = (float)lr, o.critic_lr = (float)critic_lr, o.clip_grad = (float)clip_grad, o.hp.weight_decay = (float)wd;
	o.no_eos_penalty = (float)penalty, o.spike_k = (float)spike_k, o.spike_warmup = spike_warmup, o.skip_spikes = skip_spikes;

	sp_err err = SP_ERR_INIT;
	tok_model *tok = NULL;
	rl_prompts ps, eps;
	memset(&ps, 0, sizeof ps);
	memset(&eps, 0, sizeof eps);
	reward_set rs;
	memset(&rs, 0, sizeof rs);
	ppo_run run;
	memset(&run, 0, sizeof run);
	int code = CLI_OK;
	char state[4096], init_buf[1024];
	snprintf(state, sizeof state, "%s/ppo_state.json", out_dir);
	if (resume && !file_exists(out_dir, "ppo_state.json")) {
		code = cli_failf(prog, CLI_USAGE, "--resume: %s has no complete checkpoint (ppo_state.json)", out_dir);
		goto done;
	}
	if (!resume && file_exists(out_dir, "ppo_state.json")) {
		code = cli_failf(prog, CLI_USAGE, "%s already holds a PPO run: give --resume to continue it, or another --out", out_dir);
		goto done;
	}
	if (resume && !model_dir) { /* the reference: the run's initial policy */
		sp_buf s = SP_BUF_INIT;
		json_object *jo = NULL, *x;
		if (sp_read_file(state, &s, &err) == 0 && (jo = json_tokener_parse(s.p ? s.p : "")) &&
		    json_object_object_get_ex(jo, "init_from", &x))
			snprintf(init_buf, sizeof init_buf, "%s", json_object_get_string(x)), model_dir = init_buf;
		json_object_put(jo);
		sp_buf_release(&s);
		if (!model_dir) {
			code = cli_failf(prog, CLI_REJECTED, "%s: no init_from (give --model)", state);
			goto done;
		}
	}
	if (!critic_dir)
		critic_dir = rm_h ? rm_h : rm_s;
	if (tok_model_load(&tok, tokenizer, &err) < 0 || rl_prompts_load(&ps, prompts_path, tok, &err) < 0 ||
	    reward_set_open(&rs, rm_h, rm_s, tok, (int)score_batch, thresh, &err) < 0 ||
	    (eval_path && rl_prompts_load(&eps, eval_path, tok, &err) < 0) ||
	    ppo_run_init(&run, &o, model_dir, critic_dir, tok, &ps, &rs, &err) < 0 || ppo_run_set_comm(&run, comm, &err) < 0 ||
	    (resume && ppo_run_resume(&run, out_dir, &err) < 0)) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (eval_path) {
		run.eval_ps = &eps;
		run.eval_every = eval_every;
		run.patience = patience;
		snprintf(run.best_dir, sizeof run.best_dir, "%s/best", out_dir);
	}
	if (talk)
		fprintf(stderr, "%s: policy %s (%.2fM parameters), critic from %s, %zu prompts; %ld rollouts x %ld iterations, mini-batches of %ld%s%s\n",
		        prog, model_dir, (double)run.pol.n_params / 1e6, critic_dir, ps.n, rollouts, iterations, minibatch,
		        run.world > 1 ? ", over ranks" : "", resume ? " (resumed)" : "");
	if (talk && run.world > 1)
		fprintf(stderr, "%s: %d ranks; rank 0 samples rollouts [%ld, %ld) of each iteration's %ld\n", prog, run.world, run.lo,
		        run.hi, rollouts);
	long done_now = 0;
	double first = NAN, last = NAN;
	while (run.iter < o.iterations && (!stop_after || done_now < stop_after) && !run.stop) {
		if (ppo_run_iteration(&run, talk ? stdout : NULL, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		double mean = run.reward_mean;
		if (done_now == 0)
			first = mean;
		last = mean;
		done_now++;
		int at_end = run.iter >= o.iterations || (stop_after && done_now >= stop_after) || run.stop;
		if (talk && ((save_every && run.iter % save_every == 0) || at_end)) {
			if (ppo_run_save(&run, out_dir, &err) < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
		}
	}
	if (run.stop && talk)
		fprintf(stderr, "%s: early stop: no better held-out reward in %ld evaluations (best %.4f, policy in %s)\n", prog,
		        run.eval_bad, run.eval_best, run.best_dir);
	if (talk)
		fprintf(stderr, "%s: %ld iterations (now %ld of %ld), reward %.4f -> %.4f, %ld spikes; checkpoint in %s\n", prog, done_now,
		        run.iter, o.iterations, first, last, run.n_spikes, out_dir);
done:
	ppo_run_release(&run);
	reward_set_release(&rs);
	rl_prompts_release(&ps);
	rl_prompts_release(&eps);
	tok_model_free(tok);
	/* a usage error is every rank's (the same options and files): all end with it. Any other failure
	 * aborts the MPI job, so the launcher stops the other ranks at once */
	dist_comm_close(comm, code != CLI_OK && code != CLI_USAGE);
	return code;
}
