/* emu_int.h - what the emulator's runtime files share (emu_rt.cc, emu_mem.cc, emu_blas.cc,
 * emu_nccl.cc): error reports and the device allocation table. Not for the emulated sources. */
#ifndef SPINDLE_EMU_INT_H
#define SPINDLE_EMU_INT_H

#include <stddef.h>

/* Reports one error found in the emulated program ("emu: ..." on stderr; the first 20 are printed)
 * and makes the process exit with status 1 at its end (at once when SPINDLE_EMU_ABORT=1). */
void emu_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int emu_error_count(void);
/* "in kernel K, block (..), thread (..)" when a kernel is running; nothing on the host */
void emu_print_context(void);
/* 1 when [p, p+n) lies inside one device allocation (what: the call, for the report) */
int emu_check_range(const void *p, size_t n, const char *what);

/* The call trace (emu_trace.cc): with SPINDLE_EMU_TRACE=FILE set, one line per kernel launch,
 * cuBLAS product, event record, stream wait and NCCL call is appended to FILE, in issue order
 * (streams are synchronous here, so the order of the calls is all a test can check, not overlap in
 * time). Lines: "kernel NAME stream=S", "gemm stream=S", "record event=E stream=S",
 * "wait stream=S event=E", "group_start", "group_end", "allreduce ptr=0xADDR n=N stream=S group=G".
 * Stream 0 is the legacy default stream; created streams are 1, 2, ... in creation order, events
 * 1, 2, ... likewise. */
struct emu_stream;
extern int emu_trace_state; /* -1: SPINDLE_EMU_TRACE not read yet; 0: off; 1: on */
int emu_trace_open(void);
static inline int emu_tracing(void) { return emu_trace_state < 0 ? emu_trace_open() : emu_trace_state; }
void emu_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int emu_stream_id(const struct emu_stream *s);

#endif
