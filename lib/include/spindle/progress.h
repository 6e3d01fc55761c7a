/* progress.h - the progress line's arithmetic and text; printing is the tool's job (lib/ never prints).
 *
 * sp_progress_tick returns 1 when at least interval seconds passed since the last line, so a tool
 * calls it per record and prints only then. */
#ifndef SPINDLE_PROGRESS_H
#define SPINDLE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_progress {
	double t_start, t_last, interval;
	uint64_t total_bytes; /* 0 if unknown */
} sp_progress;

void sp_progress_init(sp_progress *p, uint64_t total_bytes, double interval);
/* Returns 1 if it is time to print a line. */
int sp_progress_tick(sp_progress *p);
/* Formats "12,345 records  4,321 rec/s  12.3 MB/s  45% ETA 0:12" into out. */
void sp_progress_format(const sp_progress *p, uint64_t records, uint64_t bytes, char *out, size_t n);

#endif
