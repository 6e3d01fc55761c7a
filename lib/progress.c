/* progress.c - progress-line arithmetic and formatting (see spindle/progress.h). */
#include <stdio.h>
#include "spindle/progress.h"
#include "spindle/stats.h"

void sp_progress_init(sp_progress *p, uint64_t total_bytes, double interval)
{
	p->t_start = p->t_last = sp_now();
	p->interval = interval > 0 ? interval : 0.5;
	p->total_bytes = total_bytes;
}

int sp_progress_tick(sp_progress *p)
{
	double t = sp_now();
	if (t - p->t_last < p->interval)
		return 0;
	p->t_last = t;
	return 1;
}

void sp_progress_format(const sp_progress *p, uint64_t records, uint64_t bytes, char *out, size_t n)
{
	double el = sp_now() - p->t_start;
	if (el <= 0)
		el = 1e-9;
	double mbs = (double)bytes / 1e6 / el;
	int k = snprintf(out, n, "%llu records  %.0f rec/s  %.1f MB/s", (unsigned long long)records,
	                 (double)records / el, mbs);
	if (k < 0 || (size_t)k >= n || !p->total_bytes || !bytes)
		return;
	double frac = (double)bytes / (double)p->total_bytes;
	if (frac > 1)
		frac = 1;
	double eta = el * (1 - frac) / (frac > 0 ? frac : 1);
	unsigned long e = (unsigned long)(eta + 0.5);
	snprintf(out + k, n - (size_t)k, "  %3.0f%%  ETA %lu:%02lu:%02lu", frac * 100, e / 3600, e / 60 % 60, e % 60);
}
