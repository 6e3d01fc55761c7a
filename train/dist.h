/* dist.h - data-parallel training's host side (issue 10): who this process is (rank, world size,
 * local rank) from the launcher's environment (mpirun: Open MPI or MPICH/Hydra; Slurm's srun;
 * torchrun-style RANK/WORLD_SIZE; or SPINDLE_RANK/SPINDLE_WORLD_SIZE to override), and the exchange
 * of the NCCL unique id through a file every rank can see (rank 0 writes it atomically, the others
 * wait for it). Each rank reads its own deterministic part of the shards: data_shards_open takes
 * (rank, world). The NCCL communicator and the gradient all-reduce are in train/cuda/nccl.cu.
 * No state: everything is returned to the caller. */
#ifndef SPINDLE_TRAIN_DIST_H
#define SPINDLE_TRAIN_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"

typedef struct dist_env {
	int rank, world, local_rank;
	char launcher[16];      /* "spindle", "openmpi", "mpich", "slurm", "torchrun" or "none" */
	char job[128];          /* a name shared by the ranks of one job (for the id file), "local" if none */
} dist_env;

/* getenv-like lookup (NULL when unset); dist_env_read(d, NULL, NULL, err) uses the process environment. */
typedef const char *(*dist_getenv_fn)(void *ctx, const char *name);

/* Fills d from the environment: a single process (rank 0 of 1) when no launcher is recognised.
 * SP_EUSAGE for malformed or inconsistent values (rank outside [0, world), non-numbers). */
int dist_env_read(dist_env *d, dist_getenv_fn get, void *ctx, sp_err *err);

/* The NCCL unique id (128 bytes) as 256 lower-case hex digits and back. */
enum { DIST_ID_BYTES = 128 };
void dist_id_format(char out[2 * DIST_ID_BYTES + 1], const unsigned char id[DIST_ID_BYTES]);
int dist_id_parse(unsigned char id[DIST_ID_BYTES], const char *hex, sp_err *err);
/* Rank 0: writes the id to path atomically. Others: wait up to timeout_s for it and read it. */
int dist_id_publish(const char *path, const unsigned char id[DIST_ID_BYTES], sp_err *err);
int dist_id_wait(const char *path, unsigned char id[DIST_ID_BYTES], double timeout_s, sp_err *err);
/* "<dir>/nccl-id-<job>" into out */
void dist_id_path(char *out, size_t len, const char *dir, const dist_env *d);

#endif
