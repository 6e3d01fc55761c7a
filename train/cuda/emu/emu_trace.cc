/* emu_trace.cc - the emulator's call trace (issue 18): SPINDLE_EMU_TRACE=FILE appends one line per
 * launch, cuBLAS product, event record, stream wait and NCCL call to FILE (formats in emu_int.h).
 * The emulator runs every stream synchronously, so overlap cannot be seen by timing; the trace shows
 * the order in which the host issued the work and on which streams, which is what decides the overlap
 * on a GPU (tests/cuda/t_emu_overlap.sh reads it). Unset: one test of a cached flag per call. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "emu_int.h"

int emu_trace_state = -1;
static FILE *trace_file;

int emu_trace_open(void)
{
	const char *path = getenv("SPINDLE_EMU_TRACE");
	emu_trace_state = 0;
	if (!path || !*path)
		return 0;
	trace_file = fopen(path, "a");
	if (!trace_file) {
		emu_error("cannot open the trace SPINDLE_EMU_TRACE=%s", path);
		return 0;
	}
	emu_trace_state = 1;
	return 1;
}

void emu_trace(const char *fmt, ...)
{
	if (!emu_tracing())
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(trace_file, fmt, ap);
	va_end(ap);
	fputc('\n', trace_file);
}
