/* cli_common.c - what the `spindle train` subcommands share (declared in cli_int.h): the thread count,
 * a file test, loading a checkpoint folder's model. The generation helpers live in cli_sample.c. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "../cli/cli.h"
#include "ckpt.h"
#include "cli_int.h"
#include "spindle/cpus.h"

void set_threads(long n)
{
	/* the default is --threads auto: the CPUs this process may use (affinity and cgroup quota, so a
	 * Slurm task with --cpus-per-task gets its share), not every core of the machine */
	if (n <= 0 && getenv("OMP_NUM_THREADS"))
		return;   /* the user's OpenMP setting stands when no --threads was given */
	omp_set_num_threads((int)(n > 0 ? n : sp_cpus_available()));
}

int file_exists(const char *dir, const char *name)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

/* A checkpoint folder's model (config.json + weights) for batches up to B x T. */
int load_model_dir(const char *prog, const char *dir, int B, int T, model *m, uint64_t *tok_id, int *code)
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
