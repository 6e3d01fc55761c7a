/* dist.h - data-parallel training's host side (issues 10, 18): who this process is (rank, world size,
 * local rank) from the launcher's environment (mpirun: Open MPI or MPICH/Hydra; Slurm's srun;
 * torchrun-style RANK/WORLD_SIZE; or SPINDLE_RANK/SPINDLE_WORLD_SIZE to override), and the exchange
 * of the NCCL unique id through a file every rank can see (rank 0 writes it atomically, the others
 * wait for it). Each rank reads its own deterministic part of the shards: data_shards_open takes
 * (rank, world). The NCCL communicator and the gradient all-reduce are in train/cuda/nccl.cu.
 * dist_comm (dist_mpi.c, issue 18) is the MPI group of a run started by mpirun or srun --mpi=pmix:
 * the CPU gradient's fixed-order sum, the step's statistics, and the NCCL id's broadcast. */
#ifndef SPINDLE_TRAIN_DIST_H
#define SPINDLE_TRAIN_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "grad_plan.h"
#include "spindle/buf.h"
#include "spindle/err.h"

typedef struct dist_env {
	int rank, world, local_rank;
	char launcher[16];      /* "spindle", "openmpi", "mpich", "slurm", "torchrun" or "none" */
	char job[128];          /* a name shared by the ranks of one job (for the id file), "local" if none */
	struct dist_comm *comm; /* the MPI group when started by mpirun/srun (the NCCL id goes over it); borrowed */
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

/* ---------------------------------------------------------------- MPI (dist_mpi.c)
 * A dist_comm is the MPI world of this run. Every operation is collective (all ranks call it in the
 * same order) and waits with a watchdog: a peer rank on this host that has exited, or no progress
 * for the timeout, ends the wait with SP_EIO and a message naming the rank(s) waited for. */
typedef struct dist_comm dist_comm;

/* 1 when this process was started by an MPI launcher (mpirun, or srun with PMIx/PMI). */
int dist_mpi_launched(void);
/* MPI_Init and the group: *out is the communicator (caller owns: dist_comm_close), with rank and
 * world from MPI itself. timeout_s: how long a collective may wait without progress. */
int dist_comm_open(dist_comm **out, double timeout_s, sp_err *err);
int dist_comm_rank(const dist_comm *c);
int dist_comm_world(const dist_comm *c);
/* ranks of this run on this host, and this one's index among them */
int dist_comm_local_size(const dist_comm *c);
int dist_comm_local_rank(const dist_comm *c);
/* g[0..n) <- sum over ranks of every rank's g, added in rank order ((g0 + g1) + g2 ...): the same
 * bits on every rank and for every run (reduce-scatter by slices, then all-gather). */
int dist_comm_sum_floats(dist_comm *c, float *g, size_t n, sp_err *err);
/* The same sum for the segments segs[0..n) of base (a gradient bucket, grad_plan.h), started now and
 * finished later, so it can overlap the rest of the backward: each segment is summed as
 * dist_comm_sum_floats sums a vector (slice by slice, in rank order: the same bits). id (0, 1, ...)
 * names the bucket: its messages, and its receive buffer, kept for the next step. Every rank starts
 * the same ids in the same order. base and segs are borrowed until dist_comm_sum_wait returns.
 * dist_comm_sum_poll advances every started sum without waiting (moves data that has arrived, sums
 * slices, starts the gathers); dist_comm_sum_wait finishes them all (the watchdog applies). The
 * other collectives must not be called while sums are started. */
int dist_comm_sum_start(dist_comm *c, int id, float *base, const grad_seg *segs, int n, sp_err *err);
int dist_comm_sum_poll(dist_comm *c, sp_err *err);
int dist_comm_sum_wait(dist_comm *c, sp_err *err);
/* started sums not finished yet */
int dist_comm_sum_pending(const dist_comm *c);
/* x[0..n) <- sum over ranks in rank order (n <= 16), on every rank */
int dist_comm_sum_doubles(dist_comm *c, double *x, int n, sp_err *err);
/* Rank 0 gets every rank's bytes, in rank order, appended to all (others: all untouched). */
int dist_comm_gather(dist_comm *c, const void *p, size_t n, sp_buf *all, sp_err *err);
/* rank 0's n bytes at p to every rank */
int dist_comm_bcast(dist_comm *c, void *p, size_t n, sp_err *err);
/* seconds spent waiting in collectives and moving data so far */
double dist_comm_wait_s(const dist_comm *c);
/* failed: MPI_Abort (a launcher then stops every rank); else MPI_Finalize. NULL: nothing. */
void dist_comm_close(dist_comm *c, int failed);

#endif
