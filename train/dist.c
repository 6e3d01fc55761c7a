/* dist.c - launcher environment and NCCL id exchange for data parallelism (see dist.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dist.h"
#include "spindle/buf.h"
#include "spindle/io.h"

static const char *env_get(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

/* -1 when unset, -2 when not a non-negative decimal integer */
static long env_int(dist_getenv_fn get, void *ctx, const char *name)
{
	const char *s = get(ctx, name);
	if (!s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 0 || v > 1000000)
		return -2;
	return v;
}

int dist_env_read(dist_env *d, dist_getenv_fn get, void *ctx, sp_err *err)
{
	static const struct { const char *launcher, *rank, *world, *local, *job; } L[] = {
		{ "spindle", "SPINDLE_RANK", "SPINDLE_WORLD_SIZE", "SPINDLE_LOCAL_RANK", "SPINDLE_JOB" },
		{ "openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_MCA_ess_base_jobid" },
		{ "slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_JOB_ID" },
		{ "mpich", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "PMI_ID" },
		{ "torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "TORCHELASTIC_RUN_ID" },
	};
	if (!get)
		get = env_get;
	memset(d, 0, sizeof *d);
	d->world = 1;
	snprintf(d->launcher, sizeof d->launcher, "none");
	snprintf(d->job, sizeof d->job, "local");
	for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
		long r = env_int(get, ctx, L[i].rank), w = env_int(get, ctx, L[i].world);
		if (r == -1 && w == -1)
			continue;
		if (r < 0 || w < 0)
			SP_RAISE(err, SP_EUSAGE, "%s: %s and %s must both be set to non-negative integers", L[i].launcher,
			         L[i].rank, L[i].world);
		if (w < 1 || r >= w)
			SP_RAISE(err, SP_EUSAGE, "%s: rank %ld is outside a world of %ld", L[i].launcher, r, w);
		long lr = env_int(get, ctx, L[i].local);
		if (lr == -2)
			SP_RAISE(err, SP_EUSAGE, "%s: %s is not a non-negative integer", L[i].launcher, L[i].local);
		d->rank = (int)r;
		d->world = (int)w;
		d->local_rank = lr >= 0 ? (int)lr : (int)r;
		snprintf(d->launcher, sizeof d->launcher, "%s", L[i].launcher);
		const char *job = get(ctx, L[i].job);
		if (!job && !strcmp(L[i].launcher, "openmpi"))
			job = get(ctx, "PMIX_NAMESPACE");
		if (job && *job) {
			/* keep it a safe file-name part */
			size_t n = 0;
			for (const char *p = job; *p && n + 1 < sizeof d->job; p++)
				d->job[n++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
				              *p == '-' || *p == '_' || *p == '.' ? *p : '_';
			d->job[n] = 0;
		}
		return 0;
	}
	return 0;
}

void dist_id_format(char out[2 * DIST_ID_BYTES + 1], const unsigned char id[DIST_ID_BYTES])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < DIST_ID_BYTES; i++) {
		out[2 * i] = hx[id[i] >> 4];
		out[2 * i + 1] = hx[id[i] & 15];
	}
	out[2 * DIST_ID_BYTES] = 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int dist_id_parse(unsigned char id[DIST_ID_BYTES], const char *hex, sp_err *err)
{
	size_t n = strlen(hex);
	while (n && (hex[n - 1] == '\n' || hex[n - 1] == '\r'))
		n--;
	if (n != 2 * DIST_ID_BYTES)
		SP_RAISE(err, SP_EDATA, "an NCCL id is %d hex digits, not %zu", 2 * DIST_ID_BYTES, n);
	for (int i = 0; i < DIST_ID_BYTES; i++) {
		int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
		if (a < 0 || b < 0)
			SP_RAISE(err, SP_EDATA, "NCCL id: not a hex digit at %d", a < 0 ? 2 * i : 2 * i + 1);
		id[i] = (unsigned char)(a << 4 | b);
	}
	return 0;
}

int dist_id_publish(const char *path, const unsigned char id[DIST_ID_BYTES], sp_err *err)
{
	char hex[2 * DIST_ID_BYTES + 2];
	dist_id_format(hex, id);
	hex[2 * DIST_ID_BYTES] = '\n';
	return sp_write_file_atomic(path, hex, 2 * DIST_ID_BYTES + 1, err);
}

int dist_id_wait(const char *path, unsigned char id[DIST_ID_BYTES], double timeout_s, sp_err *err)
{
	struct timespec t0, now, nap = { 0, 50 * 1000 * 1000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		sp_buf b = SP_BUF_INIT;
		sp_err e2 = SP_ERR_INIT;
		if (sp_read_file(path, &b, &e2) == 0) {
			/* the file appears whole (written by rename), so a bad one is an error, not a race */
			int rc = dist_id_parse(id, b.p ? b.p : "", err);
			sp_buf_release(&b);
			if (rc < 0)
				return sp_err_locate(err, path, 0);
			return 0;
		}
		sp_buf_release(&b);
		clock_gettime(CLOCK_MONOTONIC, &now);
		double el = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) * 1e-9;
		if (el >= timeout_s)
			SP_RAISE(err, SP_EIO, "%s: no NCCL id from rank 0 after %.0f s", path, timeout_s);
		nanosleep(&nap, NULL);
	}
}

void dist_id_path(char *out, size_t len, const char *dir, const dist_env *d)
{
	snprintf(out, len, "%s/nccl-id-%s", dir, d->job);
}
