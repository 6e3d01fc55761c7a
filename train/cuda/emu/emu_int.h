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

#endif
