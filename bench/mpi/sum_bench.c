/* sum_bench.c - the cost of the CPU gradient exchange alone (bench/mpi/run.sh): with every rank
 * ready (a barrier first), dist_comm_sum_floats (fixed-order reduce-scatter + all-gather) beside
 * MPI_Allreduce on the same N floats, median of R rounds. This is the most that overlapping the
 * exchange with backward could hide on the CPU. Usage: mpirun -np 2 sum_bench N R */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include "../../train/dist.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)atol(argv[1]) : 10000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 7;
	dist_comm *c;
	sp_err err = SP_ERR_INIT;
	if (dist_comm_open(&c, 60, &err) < 0) {
		fprintf(stderr, "sum_bench: %s\n", err.msg);
		return 3;
	}
	float *g = malloc(n * sizeof *g);
	double *ours = malloc((size_t)rounds * sizeof *ours), *ref = malloc((size_t)rounds * sizeof *ref);
	for (int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < n; i++)
			g[i] = (float)(i % 97) * 1e-3f;
		MPI_Barrier(MPI_COMM_WORLD);
		double t0 = MPI_Wtime();
		if (dist_comm_sum_floats(c, g, n, &err) < 0) {
			fprintf(stderr, "sum_bench: %s\n", err.msg);
			return 3;
		}
		ours[r] = MPI_Wtime() - t0;
		MPI_Barrier(MPI_COMM_WORLD);
		t0 = MPI_Wtime();
		MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
		ref[r] = MPI_Wtime() - t0;
	}
	qsort(ours, (size_t)rounds, sizeof *ours, cmp);
	qsort(ref, (size_t)rounds, sizeof *ref, cmp);
	if (dist_comm_rank(c) == 0)
		printf("%.4f %.4f\n", ours[rounds / 2], ref[rounds / 2]);
	free(g);
	free(ours);
	free(ref);
	dist_comm_close(c, 0);
	return 0;
}
