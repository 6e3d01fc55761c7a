/* cli_common.c - what the `spindle train` subcommands share (declared in cli_int.h): the thread count,
 * the data-parallel start-up under mpirun/srun, the step loop with its saves, a file test, loading a checkpoint folder's model. The
 * generation helpers live in cli_sample.c. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "ckpt.h"
#include "cli_int.h"
#include "dist.h"
#include "trainer.h"
#include "spindle/cpus.h"

void set_threads(long n)
{
	/* the default is --threads auto: the CPUs this process may use (affinity and cgroup quota, so a
	 * Slurm task with --cpus-per-task gets its share), not every core of the machine */
	if (n <= 0 && getenv("OMP_NUM_THREADS"))
		return;   /* the user's OpenMP setting stands when no --threads was given */
	omp_set_num_threads((int)(n > 0 ? n : sp_cpus_available()));
}

int cli_dist_start(const char *prog, int given_rank, int given_world, long *threads, dist_comm **comm, int *rank,
                   int *world)
{
	*comm = NULL;
	*rank = 0;
	*world = 1;
	if (dist_mpi_launched()) {
		sp_err err = SP_ERR_INIT;
		if (dist_comm_open(comm, 600.0, &err) < 0)
			return cli_fail(prog, &err);
		*rank = dist_comm_rank(*comm);
		*world = dist_comm_world(*comm);
		if (*world > 1 && (given_world != 1 || given_rank != 0)) {
			int rc = cli_failf(prog, CLI_USAGE, "under mpirun/srun the ranks come from MPI (%d of %d): drop --rank and --world",
			                   *rank, *world);
			dist_comm_close(*comm, 0);  /* every rank sees the same options: all stop with exit 2 */
			*comm = NULL;
			return rc;
		}
		/* the host's cores shared between its ranks, unless --threads says otherwise */
		long cores = sysconf(_SC_NPROCESSORS_ONLN), local = dist_comm_local_size(*comm);
		if (*threads <= 0 && local > 1)
			*threads = cores / local > 1 ? cores / local : 1;
	} else {
		const char *st = getenv("SLURM_STEP_NUM_TASKS");
		if (st && atol(st) > 1)
			return cli_failf(prog, CLI_USAGE, "started as one of %s tasks without MPI: use srun --mpi=pmix (or mpirun)", st);
	}
	set_threads(*threads);
	return CLI_OK;
}

int cli_train_steps(const char *prog, trainer *t, const char *out, long stop_after, int saver, float *first)
{
	sp_err err = SP_ERR_INIT;
	long start = t->step, end = t->o.steps, every = t->o.save_every;
	long stop = stop_after > 0 && start + stop_after < end ? start + stop_after : end;
	*first = NAN;
	while (t->step < stop) {
		if (trainer_step(t, &err) < 0)
			return cli_fail(prog, &err);
		if (t->step == start + 1)
			*first = t->last_loss;
		if (saver && every > 0 && t->step % every == 0 && t->step < stop && trainer_save(t, out, &err) < 0)
			return cli_fail(prog, &err);
	}
	if (saver && trainer_save(t, out, &err) < 0)
		return cli_fail(prog, &err);
	return CLI_OK;
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
