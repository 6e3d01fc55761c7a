/* nccl.h - stand-in for the NCCL calls of nccl.cu in the emulation build (issue 16): the ranks are
 * processes on this machine; a communicator is a shared-memory segment named by the unique id, and
 * an all-reduce sums the ranks' buffers in rank order (the same bits on every rank) between
 * barriers (emu_nccl.cc). Calls are traced with SPINDLE_EMU_TRACE (emu_int.h). */
#ifndef SPINDLE_EMU_NCCL_H
#define SPINDLE_EMU_NCCL_H

#include "cuda_runtime.h"

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct emu_comm *ncclComm_t;
typedef enum { ncclSuccess = 0, ncclUnhandledCudaError = 1, ncclSystemError = 2, ncclInternalError = 3,
	ncclInvalidArgument = 4, ncclInvalidUsage = 5 } ncclResult_t;
typedef enum { ncclFloat32 = 7, ncclFloat = 7, ncclFloat64 = 8 } ncclDataType_t;
typedef enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 } ncclRedOp_t;

const char *ncclGetErrorString(ncclResult_t r);
ncclResult_t ncclGetUniqueId(ncclUniqueId *id);
ncclResult_t ncclCommInitRank(ncclComm_t *c, int world, ncclUniqueId id, int rank);
ncclResult_t ncclCommDestroy(ncclComm_t c);
/* a group's calls run at once, each at its own call: every rank issues the same sequence */
ncclResult_t ncclGroupStart(void);
ncclResult_t ncclGroupEnd(void);
ncclResult_t ncclAllReduce(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op, ncclComm_t c,
                           cudaStream_t s);

#endif
