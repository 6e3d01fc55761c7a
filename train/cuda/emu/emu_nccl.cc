/* emu_nccl.cc - NCCL for the emulation build (issue 16): ranks are processes on one machine (started
 * by mpirun, srun or a test as for the real thing). The unique id names a POSIX shared-memory segment
 * rank 0 creates; ncclCommInitRank maps it, and an all-reduce moves the buffers through it in chunks:
 * every rank copies its chunk in, waits at a barrier, sums the ranks' chunks in rank order (so every
 * rank gets the same bits, like NCCL's deterministic ring at a fixed size), waits again. A rank that
 * waits more than SPINDLE_EMU_NCCL_TIMEOUT seconds (default 120) for the others fails the call.
 * ncclGroupStart/End only count their depth (for the trace): a grouped call runs at its call. */
#include <atomic>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "emu_int.h"
#include "nccl.h"

enum { MAX_RANKS = 16, CHUNK = 1 << 18 };

struct seg {
	std::atomic<unsigned> arrived, gen;
	std::atomic<int> joined;
	float buf[MAX_RANKS][CHUNK];
};

struct emu_comm {
	seg *s;
	int rank, world;
};

const char *ncclGetErrorString(ncclResult_t r)
{
	switch (r) {
	case ncclSuccess: return "no error";
	case ncclUnhandledCudaError: return "unhandled cuda error";
	case ncclSystemError: return "unhandled system error (emulated NCCL: see the message above)";
	case ncclInternalError: return "internal error";
	case ncclInvalidArgument: return "invalid argument";
	case ncclInvalidUsage: return "invalid usage";
	}
	return "unknown result";
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double timeout_s(void)
{
	const char *e = getenv("SPINDLE_EMU_NCCL_TIMEOUT");
	double t = e ? atof(e) : 0;
	return t > 0 ? t : 120.0;
}

static int barrier(emu_comm *c)
{
	seg *s = c->s;
	unsigned g = s->gen.load();
	if (s->arrived.fetch_add(1) + 1 == (unsigned)c->world) {
		s->arrived.store(0);
		s->gen.fetch_add(1);
		return 0;
	}
	double t0 = now_s(), limit = timeout_s();
	while (s->gen.load() == g) {
		usleep(20);
		if (now_s() - t0 > limit) {
			fprintf(stderr, "emu nccl: rank %d waited %.0f s for the other ranks\n", c->rank, limit);
			return -1;
		}
	}
	return 0;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
	memset(id, 0, sizeof *id);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(id->internal, sizeof id->internal, "/spindle-emu-nccl-%d-%ld%09ld", (int)getpid(), (long)ts.tv_sec, ts.tv_nsec);
	int fd = shm_open(id->internal, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, sizeof(seg)) != 0) {
		fprintf(stderr, "emu nccl: cannot create %s: %s\n", id->internal, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ncclSystemError;
	}
	close(fd);
	return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *out, int world, ncclUniqueId id, int rank)
{
	*out = NULL;
	if (world < 1 || world > MAX_RANKS || rank < 0 || rank >= world || !memchr(id.internal, 0, sizeof id.internal))
		return ncclInvalidArgument;
	int fd = -1;
	double t0 = now_s();
	while ((fd = shm_open(id.internal, O_RDWR, 0600)) < 0) {
		if (now_s() - t0 > timeout_s()) {
			fprintf(stderr, "emu nccl: rank %d cannot open %s: %s\n", rank, id.internal, strerror(errno));
			return ncclSystemError;
		}
		usleep(1000);
	}
	void *m = mmap(NULL, sizeof(seg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return ncclSystemError;
	emu_comm *c = new emu_comm;
	c->s = (seg *)m;
	c->rank = rank;
	c->world = world;
	c->s->joined.fetch_add(1);
	if (barrier(c) < 0) {
		munmap(m, sizeof(seg));
		delete c;
		return ncclSystemError;
	}
	if (rank == 0)
		shm_unlink(id.internal); /* every rank has it mapped: nothing is left behind, even after a crash */
	*out = c;
	return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t c)
{
	if (!c)
		return ncclSuccess;
	munmap(c->s, sizeof(seg));
	delete c;
	return ncclSuccess;
}

/* ncclGroupStart/End nest (as NCCL's); inside a group each call runs at once, since every rank makes
 * the same calls in the same order and a call here completes before it returns */
static int group_depth;

ncclResult_t ncclGroupStart(void)
{
	group_depth++;
	if (emu_tracing())
		emu_trace("group_start");
	return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void)
{
	if (group_depth == 0)
		return ncclInvalidUsage;
	group_depth--;
	if (emu_tracing())
		emu_trace("group_end");
	return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op, ncclComm_t c,
                           cudaStream_t st)
{
	if (emu_tracing())
		emu_trace("allreduce ptr=%p n=%zu stream=%d group=%d", recv, n, emu_stream_id(st), group_depth > 0);
	if (!c || t != ncclFloat32 || (op != ncclSum && op != ncclAvg))
		return ncclInvalidArgument;
	if (!n)
		return ncclSuccess;
	if (!emu_check_range(send, n * 4, "ncclAllReduce send") || !emu_check_range(recv, n * 4, "ncclAllReduce recv"))
		return ncclInvalidArgument;
	const float *in = (const float *)send;
	float *out = (float *)recv;
	for (size_t o = 0; o < n; o += CHUNK) {
		size_t len = n - o < CHUNK ? n - o : CHUNK;
		memcpy(c->s->buf[c->rank], in + o, len * 4);
		if (barrier(c) < 0)
			return ncclSystemError;
		for (size_t i = 0; i < len; i++) {
			float s = 0;
			for (int r = 0; r < c->world; r++)
				s += c->s->buf[r][i];
			out[o + i] = op == ncclAvg ? s / (float)c->world : s;
		}
		if (barrier(c) < 0)
			return ncclSystemError;
	}
	return ncclSuccess;
}
