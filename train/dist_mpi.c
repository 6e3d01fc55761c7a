/* dist_mpi.c - the MPI group of a data-parallel run (issue 18; see dist.h): MPI_Init when mpirun or
 * srun --mpi=pmix started the process, a fixed-order sum of the CPU gradient (each rank sums one
 * slice of every rank's vector in rank order, then the slices are gathered back), small sums and
 * gathers for the step log, and the broadcast of the NCCL id. Every wait polls nonblocking requests
 * with a watchdog, so a rank that died makes the others fail in well under a second on one host
 * (the dead process is seen) or after the timeout elsewhere, naming it, instead of hanging. */
#include <errno.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "dist.h"
#include "spindle/mem.h"

enum { TAG_DOUBLES = 13, TAG_LEN = 14, TAG_BYTES = 15, TAG_BCAST = 16, TAG_SUM = 100 };
enum { HOST_LEN = 64 };
#define CHUNK ((size_t)1 << 26)  /* floats per message: MPI counts are ints */

typedef struct peer_info {
	long pid;
	char host[HOST_LEN];
} peer_info;

struct dist_comm {
	MPI_Comm comm;
	int rank, world, local_rank, local_size;
	double timeout_s, wait_s;
	peer_info *peers;       /* world entries */
	struct sum_state *sums; /* gradient sums in flight (dist_comm_sum_start) */
	MPI_Request *req;
	int *req_peer;
	size_t n_req, cap_req;
};

struct sum_state;
static void sums_free(struct sum_state *st);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int dist_mpi_launched(void)
{
	/* mpirun (Open MPI), srun --mpi=pmix (PMIx), MPICH's Hydra and srun --mpi=pmi2 (PMI) */
	return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int dist_comm_rank(const dist_comm *c) { return c ? c->rank : 0; }
int dist_comm_world(const dist_comm *c) { return c ? c->world : 1; }
int dist_comm_local_size(const dist_comm *c) { return c ? c->local_size : 1; }
int dist_comm_local_rank(const dist_comm *c) { return c ? c->local_rank : 0; }
double dist_comm_wait_s(const dist_comm *c) { return c ? c->wait_s : 0; }

static int mpi_fail(int rc, const char *what, sp_err *err)
{
	char msg[MPI_MAX_ERROR_STRING];
	int len = 0;
	if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
		snprintf(msg, sizeof msg, "error %d", rc);
	SP_RAISE(err, SP_EIO, "MPI: %s: %s", what, msg);
}

int dist_comm_open(dist_comm **out, double timeout_s, sp_err *err)
{
	int inited = 0, provided, rc;
	*out = NULL;
	MPI_Initialized(&inited);
	if (!inited && (rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
		return mpi_fail(rc, "MPI_Init", err);
	dist_comm *c = sp_calloc(1, sizeof *c);
	if (!c)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	c->timeout_s = timeout_s;
	MPI_Comm local;
	if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &c->comm)) != MPI_SUCCESS) {
		sp_free(c);
		return mpi_fail(rc, "MPI_Comm_dup", err);
	}
	/* errors come back as codes (and become messages) instead of aborting inside MPI */
	MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
	MPI_Comm_rank(c->comm, &c->rank);
	MPI_Comm_size(c->comm, &c->world);
	rc = MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &local);
	if (rc == MPI_SUCCESS) {
		MPI_Comm_rank(local, &c->local_rank);
		MPI_Comm_size(local, &c->local_size);
		MPI_Comm_free(&local);
	} else {
		c->local_rank = 0;
		c->local_size = 1;
	}
	peer_info me;
	memset(&me, 0, sizeof me);
	me.pid = (long)getpid();
	gethostname(me.host, HOST_LEN - 1);
	c->peers = sp_calloc((size_t)c->world, sizeof *c->peers);
	if (!c->peers) {
		dist_comm_close(c, 0);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	if ((rc = MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, c->peers, (int)sizeof me, MPI_BYTE, c->comm)) != MPI_SUCCESS) {
		dist_comm_close(c, 0);
		return mpi_fail(rc, "exchanging process ids", err);
	}
	*out = c;
	return 0;
}

void dist_comm_close(dist_comm *c, int failed)
{
	if (!c)
		return;
	if (failed)
		MPI_Abort(MPI_COMM_WORLD, 3);
	MPI_Comm_free(&c->comm);
	sp_free(c->peers);
	sums_free(c->sums);
	sp_free(c->req);
	sp_free(c->req_peer);
	sp_free(c);
	MPI_Finalize();
}

/* ---------------------------------------------------------------- requests and the watchdog */

static int add_req(dist_comm *c, int peer, sp_err *err)
{
	if (c->n_req == c->cap_req) {
		size_t cap = c->cap_req ? 2 * c->cap_req : 16;
		MPI_Request *r = sp_realloc(c->req, cap * sizeof *r);
		if (r)
			c->req = r;
		int *p = r ? sp_realloc(c->req_peer, cap * sizeof *p) : NULL;
		if (!p)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		c->req_peer = p;
		c->cap_req = cap;
	}
	c->req_peer[c->n_req] = peer;
	c->n_req++;
	return 0;
}

static int post(dist_comm *c, int send, void *p, size_t bytes, int peer, int tag, sp_err *err)
{
	for (size_t at = 0; at < bytes || (bytes == 0 && at == 0); at += CHUNK * sizeof(float)) {
		size_t n = bytes - at < CHUNK * sizeof(float) ? bytes - at : CHUNK * sizeof(float);
		SP_FORWARD(add_req(c, peer, err));
		MPI_Request *r = &c->req[c->n_req - 1];
		int rc = send ? MPI_Isend((char *)p + at, (int)n, MPI_BYTE, peer, tag, c->comm, r)
		              : MPI_Irecv((char *)p + at, (int)n, MPI_BYTE, peer, tag, c->comm, r);
		if (rc != MPI_SUCCESS)
			return mpi_fail(rc, send ? "MPI_Isend" : "MPI_Irecv", err);
		if (bytes == 0)
			break;
	}
	return 0;
}

/* 1 when process pid on this host has ended (gone, or a zombie its parent has not reaped yet) */
static int pid_gone(long pid)
{
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 1;
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');  /* "pid (comm) S ...": the state follows the name */
	return p && (p[2] == 'Z' || p[2] == 'X');
}

/* Waits for every posted request; the watchdog names the peers still owed. */
static int wait_all(dist_comm *c, const char *what, sp_err *err)
{
	double t0 = now_s(), progress = t0, check = t0 + 0.05;
	int n = (int)c->n_req, left = n, rc = MPI_SUCCESS;
	int *idx = sp_malloc((size_t)(n ? n : 1) * sizeof *idx);
	if (!idx)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	for (long spins = 0; left > 0; spins++) {
		int done = 0;
		rc = MPI_Testsome(n, c->req, &done, idx, MPI_STATUSES_IGNORE);
		if (rc != MPI_SUCCESS)
			break;
		if (done == MPI_UNDEFINED)
			done = left;
		if (done > 0) {
			left -= done;
			progress = now_s();
			continue;
		}
		if (spins % 64)
			continue;
		double t = now_s();
		if (t - progress > 0.002) {
			/* a peer still computing: sleep between polls, as a blocking receive would, so a rank
			 * that is behind (or anything else on a shared machine) gets this core */
			struct timespec nap = { 0, 200 * 1000 };
			nanosleep(&nap, NULL);
		}
		if (t < check)
			continue;
		check = t + 0.05;
		for (int i = 0; i < n; i++) {
			int k = c->req_peer[i];
			if (c->req[i] != MPI_REQUEST_NULL && !strcmp(c->peers[k].host, c->peers[c->rank].host) &&
			    pid_gone(c->peers[k].pid)) {
				sp_free(idx);
				c->wait_s += now_s() - t0;
				errno = 0;  /* (the message says it all: no strerror after it) */
				SP_RAISE(err, SP_EIO, "rank %d (pid %ld on %s) has exited while %s; stopping rank %d", k,
				         c->peers[k].pid, c->peers[k].host, what, c->rank);
			}
		}
		if (t - progress > c->timeout_s) {
			char who[256];
			size_t w = 0;
			who[0] = 0;
			for (int i = 0; i < n && w + 16 < sizeof who; i++)
				if (c->req[i] != MPI_REQUEST_NULL && (i == 0 || c->req_peer[i] != c->req_peer[i - 1]))
					w += (size_t)snprintf(who + w, sizeof who - w, "%s%d", w ? ", " : "", c->req_peer[i]);
			sp_free(idx);
			c->wait_s += now_s() - t0;
			errno = 0;
			SP_RAISE(err, SP_EIO, "no progress for %.0f s while %s: waiting for rank(s) %s; stopping rank %d",
			         c->timeout_s, what, who, c->rank);
		}
	}
	sp_free(idx);
	c->n_req = 0;
	c->wait_s += now_s() - t0;
	if (rc != MPI_SUCCESS)
		return mpi_fail(rc, what, err);
	return 0;
}

/* ---------------------------------------------------------------- collectives */

static size_t slice_lo(size_t n, int world, int k)
{
	return (size_t)((unsigned __int128)n * (unsigned)k / (unsigned)world);
}

/* One bucket's sum in flight: phase 1, every rank k receives slice k of each segment from everyone;
 * phase 2, the summed slices go back to everyone. Its requests are c->req[req_lo, req_hi). */
typedef struct sum_job {
	int id, phase;
	size_t req_lo, req_hi;
	float *base;
	const grad_seg *segs;
	int n_segs;
} sum_job;

struct sum_state {
	sum_job *jobs;          /* started, not finished, in start order */
	int n_jobs, cap_jobs;
	float **scratch;        /* per id: the W-1 received copies of this rank's slices */
	size_t *scratch_n;
	int n_ids;
};

static struct sum_state *sums_of(dist_comm *c, sp_err *err)
{
	if (!c->sums && !(c->sums = sp_calloc(1, sizeof *c->sums)))
		sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory for the gradient exchange");
	return c->sums;
}

static void sums_free(struct sum_state *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->n_ids; i++)
		sp_free(st->scratch[i]);
	sp_free(st->scratch);
	sp_free(st->scratch_n);
	sp_free(st->jobs);
	sp_free(st);
}

static int tag_of(int id, int phase) { return TAG_SUM + 2 * id + phase; }

/* this rank's slices, back to back: the floats of slice `me` of every segment */
static size_t my_floats(const grad_seg *segs, int n, int W, int me)
{
	size_t m = 0;
	for (int s = 0; s < n; s++)
		m += slice_lo(segs[s].n, W, me + 1) - slice_lo(segs[s].n, W, me);
	return m;
}

static int post_phase1(dist_comm *c, struct sum_state *st, sum_job *j, sp_err *err)
{
	int W = c->world, me = c->rank;
	size_t m = my_floats(j->segs, j->n_segs, W, me), at = 0;
	float *scr = st->scratch[j->id];
	j->req_lo = c->n_req;
	for (int s = 0; s < j->n_segs; s++) {
		float *seg = j->base + j->segs[s].off;
		size_t n = j->segs[s].n, lo = slice_lo(n, W, me), mine = slice_lo(n, W, me + 1) - lo;
		for (int k = 0, p = 0; k < W; k++) {
			if (k == me)
				continue;
			size_t klo = slice_lo(n, W, k), kn = slice_lo(n, W, k + 1) - klo;
			if (mine)
				SP_FORWARD(post(c, 0, scr + (size_t)p * m + at, mine * sizeof(float), k, tag_of(j->id, 0), err));
			if (kn)
				SP_FORWARD(post(c, 1, seg + klo, kn * sizeof(float), k, tag_of(j->id, 0), err));
			p++;
		}
		at += mine;
	}
	j->req_hi = c->n_req;
	j->phase = 1;
	return 0;
}

/* phase 1 done: this rank's slices summed in rank order (the same association on every rank and
 * run), then sent to everyone while everyone's come in */
static int post_phase2(dist_comm *c, struct sum_state *st, sum_job *j, sp_err *err)
{
	int W = c->world, me = c->rank;
	size_t m = my_floats(j->segs, j->n_segs, W, me), at = 0;
	const float *scr = st->scratch[j->id];
	for (int s = 0; s < j->n_segs; s++) {
		float *seg = j->base + j->segs[s].off;
		size_t n = j->segs[s].n, lo = slice_lo(n, W, me), mine = slice_lo(n, W, me + 1) - lo;
		if (!mine)
			continue;  /* (a segment shorter than the ranks: no slice here, and maybe no scratch) */
		const float *from[64];
		for (int k = 0, p = 0; k < W; k++)
			from[k] = k == me ? seg + lo : scr + (size_t)p++ * m + at;
		float *out = seg + lo;
#pragma omp parallel for schedule(static) if (mine > 65536)
		for (size_t i = 0; i < mine; i++) {
			float v = from[0][i];
			for (int k = 1; k < W; k++)
				v += from[k][i];
			out[i] = v;
		}
		at += mine;
	}
	j->req_lo = c->n_req;
	for (int s = 0; s < j->n_segs; s++) {
		float *seg = j->base + j->segs[s].off;
		size_t n = j->segs[s].n, lo = slice_lo(n, W, me), mine = slice_lo(n, W, me + 1) - lo;
		for (int k = 0; k < W; k++) {
			if (k == me)
				continue;
			size_t klo = slice_lo(n, W, k), kn = slice_lo(n, W, k + 1) - klo;
			if (kn)
				SP_FORWARD(post(c, 0, seg + klo, kn * sizeof(float), k, tag_of(j->id, 1), err));
			if (mine)
				SP_FORWARD(post(c, 1, seg + lo, mine * sizeof(float), k, tag_of(j->id, 1), err));
		}
	}
	j->req_hi = c->n_req;
	j->phase = 2;
	return 0;
}

static int job_complete(const dist_comm *c, const sum_job *j)
{
	for (size_t i = j->req_lo; i < j->req_hi; i++)
		if (c->req[i] != MPI_REQUEST_NULL)
			return 0;
	return 1;
}

/* Moves every job whose requests are complete (all_done: every posted request is) to its next
 * phase; finished jobs leave the list, and the request array empties once nothing is in flight. */
static int advance(dist_comm *c, int all_done, sp_err *err)
{
	struct sum_state *st = c->sums;
	int kept = 0;
	for (int i = 0; i < st->n_jobs; i++) {
		sum_job *j = &st->jobs[i];
		if (all_done || job_complete(c, j)) {
			if (j->phase == 1) {
				SP_FORWARD(post_phase2(c, st, j, err));
			} else {
				continue;  /* phase 2 complete: finished */
			}
		}
		st->jobs[kept++] = *j;
	}
	st->n_jobs = kept;
	if (!kept)
		c->n_req = 0;
	return 0;
}

int dist_comm_sum_start(dist_comm *c, int id, float *base, const grad_seg *segs, int n, sp_err *err)
{
	if (!c || c->world <= 1)
		return 0;
	if (c->world > 64)
		SP_RAISE(err, SP_EUSAGE, "at most 64 ranks");
	if (id < 0 || tag_of(id, 1) > 32767)
		SP_RAISE(err, SP_EUSAGE, "dist_comm_sum_start: bucket id %d out of range", id);
	struct sum_state *st = sums_of(c, err);
	if (!st)
		return -1;
	double t0 = now_s();
	if (id >= st->n_ids) {
		float **s = sp_realloc(st->scratch, (size_t)(id + 1) * sizeof *s);
		if (s)
			st->scratch = s;
		size_t *sn = s ? sp_realloc(st->scratch_n, (size_t)(id + 1) * sizeof *sn) : NULL;
		if (!sn)
			SP_RAISE(err, SP_ENOMEM, "out of memory for the gradient exchange");
		st->scratch_n = sn;
		for (int i = st->n_ids; i <= id; i++) {
			st->scratch[i] = NULL;
			st->scratch_n[i] = 0;
		}
		st->n_ids = id + 1;
	}
	size_t need = (size_t)(c->world - 1) * my_floats(segs, n, c->world, c->rank);
	if (st->scratch_n[id] < need) {
		/* (only while this id is not in flight: ids are started once per step) */
		float *s = sp_realloc(st->scratch[id], need * sizeof *s);
		if (!s)
			SP_RAISE(err, SP_ENOMEM, "out of memory for the gradient exchange");
		st->scratch[id] = s;
		st->scratch_n[id] = need;
	}
	if (st->n_jobs == st->cap_jobs) {
		int cap = st->cap_jobs ? 2 * st->cap_jobs : 16;
		sum_job *j = sp_realloc(st->jobs, (size_t)cap * sizeof *j);
		if (!j)
			SP_RAISE(err, SP_ENOMEM, "out of memory for the gradient exchange");
		st->jobs = j;
		st->cap_jobs = cap;
	}
	sum_job *j = &st->jobs[st->n_jobs++];
	memset(j, 0, sizeof *j);
	j->id = id;
	j->base = base;
	j->segs = segs;
	j->n_segs = n;
	int rc = post_phase1(c, st, j, err);
	c->wait_s += now_s() - t0;
	return rc;
}

int dist_comm_sum_poll(dist_comm *c, sp_err *err)
{
	if (!c || !c->sums || !c->sums->n_jobs)
		return 0;
	double t0 = now_s();
	int rc = 0;
	/* (Open MPI moves data, over shared memory or sockets, inside these calls: a large message
	 * takes several passes (request to send, the copy or its fragments, the acknowledgement), so
	 * pass a few times, and again while passes complete something) */
	for (int pass = 0; pass < 64 && c->sums->n_jobs; pass++) {
		int n = (int)c->n_req, done = 0;
		int *idx = sp_malloc((size_t)(n ? n : 1) * sizeof *idx);
		if (!idx)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		rc = MPI_Testsome(n, c->req, &done, idx, MPI_STATUSES_IGNORE);
		sp_free(idx);
		if (rc != MPI_SUCCESS) {
			c->wait_s += now_s() - t0;
			return mpi_fail(rc, "summing gradients", err);
		}
		if (done == MPI_UNDEFINED)
			done = 0;
		size_t before = c->n_req;
		if ((rc = advance(c, 0, err)) < 0)
			break;
		if (pass >= 7 && done == 0 && c->n_req == before)
			break;
	}
	c->wait_s += now_s() - t0;
	return rc;
}

int dist_comm_sum_pending(const dist_comm *c)
{
	return c && c->sums ? c->sums->n_jobs : 0;
}

int dist_comm_sum_wait(dist_comm *c, sp_err *err)
{
	if (!c || !c->sums)
		return 0;
	while (c->sums->n_jobs) {
		SP_FORWARD(wait_all(c, "summing gradients", err));
		SP_FORWARD(advance(c, 1, err));
	}
	return 0;
}

int dist_comm_sum_floats(dist_comm *c, float *g, size_t n, sp_err *err)
{
	if (!c || c->world <= 1)
		return 0;
	grad_seg whole = { 0, n };
	SP_FORWARD(dist_comm_sum_start(c, 0, g, &whole, 1, err));
	return dist_comm_sum_wait(c, err);
}

int dist_comm_sum_doubles(dist_comm *c, double *x, int n, sp_err *err)
{
	if (!c || c->world <= 1)
		return 0;
	if (n > 16 || c->world > 64)
		SP_RAISE(err, SP_EUSAGE, "dist_comm_sum_doubles: too many values or ranks");
	double all[64][16];
	for (int k = 0; k < c->world; k++) {
		if (k == c->rank)
			continue;
		SP_FORWARD(post(c, 0, all[k], (size_t)n * sizeof(double), k, TAG_DOUBLES, err));
		SP_FORWARD(post(c, 1, x, (size_t)n * sizeof(double), k, TAG_DOUBLES, err));
	}
	SP_FORWARD(wait_all(c, "summing the step's statistics", err));
	memcpy(all[c->rank], x, (size_t)n * sizeof(double));
	for (int i = 0; i < n; i++) {
		double s = all[0][i];
		for (int k = 1; k < c->world; k++)
			s += all[k][i];
		x[i] = s;
	}
	return 0;
}

int dist_comm_gather(dist_comm *c, const void *p, size_t n, sp_buf *all, sp_err *err)
{
	if (!c || c->world <= 1)
		return sp_buf_append(all, p, n) < 0 ? sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory") : 0;
	uint64_t len = n, lens[64];
	if (c->world > 64)
		SP_RAISE(err, SP_EUSAGE, "at most 64 ranks");
	if (c->rank != 0) {
		SP_FORWARD(post(c, 1, &len, sizeof len, 0, TAG_LEN, err));
		SP_FORWARD(post(c, 1, (void *)p, n, 0, TAG_BYTES, err));
		return wait_all(c, "sending a batch's provenance", err);
	}
	for (int k = 1; k < c->world; k++)
		SP_FORWARD(post(c, 0, &lens[k], sizeof lens[k], k, TAG_LEN, err));
	SP_FORWARD(wait_all(c, "gathering the batch's provenance", err));
	lens[0] = len;
	size_t total = 0, at = all->len;
	for (int k = 0; k < c->world; k++)
		total += lens[k];
	if (sp_buf_grow(all, total) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	memcpy(all->p + at, p, n);
	size_t off = at + n;
	for (int k = 1; k < c->world; k++) {
		SP_FORWARD(post(c, 0, all->p + off, lens[k], k, TAG_BYTES, err));
		off += lens[k];
	}
	SP_FORWARD(wait_all(c, "gathering the batch's provenance", err));
	all->len = at + total;
	all->p[all->len] = 0;
	return 0;
}

int dist_comm_bcast(dist_comm *c, void *p, size_t n, sp_err *err)
{
	if (!c || c->world <= 1)
		return 0;
	if (c->rank == 0)
		for (int k = 1; k < c->world; k++)
			SP_FORWARD(post(c, 1, p, n, k, TAG_BCAST, err));
	else
		SP_FORWARD(post(c, 0, p, n, 0, TAG_BCAST, err));
	return wait_all(c, "broadcasting from rank 0", err);
}

