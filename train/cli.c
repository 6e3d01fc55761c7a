/* cli.c - `spindle train`: the dispatcher of its subcommands (one file each: cli_train.c for
 * pretrain/sft/rm, cli_eval.c, cli_sample.c, ...; what they share is in cli_common.c, cli_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../cli/cli.h"
#include "cli_int.h"

/* ---------------------------------------------------------------- dispatch */


static int cmd_pretrain(int argc, char **argv) { return train_run_mode(TRAIN_MODE_PRETRAIN, argc, argv); }
static int cmd_sft(int argc, char **argv) { return train_run_mode(TRAIN_MODE_SFT, argc, argv); }
static int cmd_rm(int argc, char **argv) { return train_run_mode(TRAIN_MODE_RM, argc, argv); }

/* data_parallel: runs as the ranks of mpirun / srun --mpi=pmix (issue 18); the others run in one process */
static const struct { const char *name; int (*fn)(int, char **); const char *help; int data_parallel; } subs[] = {
	{ "pretrain", cmd_pretrain, "pretrain on packed shards", 1 },
	{ "sft", cmd_sft, "supervised fine-tuning on an annotate SFT export", 1 },
	{ "rm", cmd_rm, "train a reward model on an annotate preference export", 1 },
	{ "eval", cmd_eval, "loss/perplexity on held-out shards, or reward-model accuracy per rating", 0 },
	{ "sample", cmd_sample, "generate responses (KV cache, temperature, top-k, top-p) for annotation", 0 },
	{ "dpo", cmd_dpo, "direct preference optimisation of an SFT model on an annotate preference export", 1 },
	{ "gatt", cmd_gatt, "Ghost Attention data: sample dialogs under an instruction, keep it in the first turn only", 0 },
	{ "gatt-eval", cmd_gatt_eval, "multi-turn consistency: share of turns 2, 4, 6, 20 in the instructed language (CLD2)", 0 },
	{ "distill-prompts", cmd_distill_prompts, "safety context distillation, step 1: the prompts with and without a safety preprompt", 0 },
	{ "distill-select", cmd_distill_select, "safety context distillation, step 3: keep preprompted answers that score safer, as SFT", 0 },
	{ "plot", cmd_plot, "draw a training log's loss curve (PNG) and a text sparkline", 0 },
	{ "score", cmd_score, "add reward-model scores (helpful, safety, Llama 2's gate) to response records", 0 },
	{ "rs", cmd_rs, "rejection sampling: K scored samples per prompt, a pool across rounds, the best as SFT data", 0 },
	{ "ppo", cmd_ppo, "RLHF with PPO: policy, frozen reference and reward models, critic; checkpoints and resume", 1 },
	{ "winrate", cmd_winrate, "RM-judged win rate of one scored response file against another", 0 },
	{ "calibrate", cmd_calibrate, "mean RM score per human rating level of an eval study (table, PNG)", 0 },
};

static void train_usage(FILE *f)
{
	fprintf(f, "usage: spindle train COMMAND [OPTIONS]\n\n"
	           "The Llama 2 trainer (CPU reference, float32, OpenBLAS + OpenMP). Commands:\n");
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		fprintf(f, "  %-15s %s\n", subs[i].name, subs[i].help);
	fprintf(f, "\nRun 'spindle train COMMAND --help' for its options.\n" CLI_EXIT_CODES_HELP);
}

/* the ranks a launcher started this process among: mpirun (Open MPI), MPICH's Hydra, srun's step */
static long launched_ranks(void)
{
	static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS" };
	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
		const char *v = getenv(vars[i]);
		if (v && atol(v) > 0)
			return atol(v);
	}
	return 1;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
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
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		if (strcmp(argv[1], subs[i].name))
			continue;
		long n = launched_ranks();
		if (n > 1 && !subs[i].data_parallel && !wants_help(argc, argv)) {
			/* N copies would each do the whole job and write the same outputs */
			fprintf(stderr, "spindle train %s: started as one of %ld ranks (mpirun/srun), but it runs in one process; "
			        "data-parallel commands:", subs[i].name, n);
			for (size_t j = 0, k = 0; j < sizeof subs / sizeof subs[0]; j++)
				if (subs[j].data_parallel)
					fprintf(stderr, "%s %s", k++ ? "," : "", subs[j].name);
			fputc('\n', stderr);
			return CLI_USAGE;
		}
		return subs[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "spindle train: '%s' is not a train command. See 'spindle train --help'.\n", argv[1]);
	return CLI_USAGE;
}
