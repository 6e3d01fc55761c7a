/* emu_api.cc - the device, error, stream and event calls of the emulation build (issue 16): one
 * device ("spindle CUDA emulator"), launches are synchronous so streams and events have nothing to
 * wait for (an event's time is the host clock's). */
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

cudaError_t cudaStreamCreate(cudaStream_t *s)
{
	*s = (cudaStream_t)malloc(1);
	return cudaSuccess;
}
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

struct emu_event { double t; };
static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	*e = (cudaEvent_t)calloc(1, sizeof(emu_event));
	return *e ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	free(e);
	return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
	(void)s;
	e->t = now_ms();
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
