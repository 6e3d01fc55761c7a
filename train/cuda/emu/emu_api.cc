/* emu_api.cc - the device, error, stream and event calls of the emulation build (issue 16): one
 * device ("spindle CUDA emulator"), launches are synchronous so streams and events have nothing to
 * wait for (an event's time is the host clock's); they are numbered for the call trace (emu_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cuda_runtime.h"
#include "emu_int.h"

cudaError_t emu_take_last_error(int clear);

const char *cudaGetErrorString(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "no error";
	case cudaErrorInvalidValue: return "invalid argument";
	case cudaErrorMemoryAllocation: return "out of memory";
	case cudaErrorInvalidConfiguration: return "invalid configuration argument";
	case cudaErrorNoDevice: return "no CUDA-capable device is detected";
	case cudaErrorInvalidDevice: return "invalid device ordinal";
	case cudaErrorLaunchFailure: return "unspecified launch failure";
	}
	return "unknown error";
}

cudaError_t cudaGetLastError(void) { return emu_take_last_error(1); }
cudaError_t cudaPeekAtLastError(void) { return emu_take_last_error(0); }

cudaError_t cudaGetDeviceCount(int *n)
{
	*n = 1;
	return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev)
{
	if (dev != 0)
		return cudaErrorInvalidDevice;
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "spindle CUDA emulator");
	p->totalGlobalMem = (size_t)16 << 30;
	p->sharedMemPerBlock = 48 * 1024;
	p->major = 9;
	p->minor = 0;
	p->multiProcessorCount = 1;
	p->maxThreadsPerBlock = 1024;
	p->warpSize = 32;
	return cudaSuccess;
}

cudaError_t cudaSetDevice(int dev) { return dev == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaGetDevice(int *dev)
{
	*dev = 0;
	return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) { return emu_take_last_error(0); }

/* streams and events only carry a number for the trace (the legacy default stream, NULL, is 0) */
struct emu_stream { int id; unsigned flags; };
static int n_streams, n_events;

int emu_stream_id(const emu_stream *s) { return s ? s->id : 0; }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
	*s = (cudaStream_t)calloc(1, sizeof(emu_stream));
	if (!*s)
		return cudaErrorMemoryAllocation;
	(*s)->id = ++n_streams;
	(*s)->flags = flags;
	return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamDestroy(cudaStream_t s)
{
	free(s);
	return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
	(void)s;
	return emu_take_last_error(0);
}

struct emu_event { double t; int id; };
static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags)
{
	(void)flags;
	*e = (cudaEvent_t)calloc(1, sizeof(emu_event));
	if (!*e)
		return cudaErrorMemoryAllocation;
	(*e)->id = ++n_events;
	return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	free(e);
	return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
	if (!e)
		return cudaErrorInvalidValue;
	e->t = now_ms();
	if (emu_tracing())
		emu_trace("record event=%d stream=%d", e->id, emu_stream_id(s));
	return cudaSuccess;
}
/* the work before the event has run already (synchronous streams): only the trace sees the wait */
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags)
{
	if (!e || flags)
		return cudaErrorInvalidValue;
	if (emu_tracing())
		emu_trace("wait stream=%d event=%d", emu_stream_id(s), e->id);
	return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
	(void)e;
	return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	*ms = (float)(b->t - a->t);
	return cudaSuccess;
}
