/* stats.h - per-run counters and the --stats JSON object (schemas/stats.schema.json).
 *
 * An sp_stats is caller storage (sp_stats_init / sp_stats_release). Counters are named, kept in
 * insertion order, and written as integers. Not thread-safe: tools count from one thread. */
#ifndef SPINDLE_STATS_H
#define SPINDLE_STATS_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/buf.h"

typedef struct sp_counter { char *name; int64_t value; } sp_counter;

typedef struct sp_stats {
	const char *tool;           /* "filter", "dedup minhash", ... (borrowed) */
	uint64_t records_in, records_out, bytes_in, bytes_out;
	double t_start;              /* monotonic seconds at init */
	sp_counter *skipped; size_t n_skipped, cap_skipped;   /* per-reason skip counts */
	sp_counter *counters; size_t n_counters, cap_counters; /* tool-specific counts */
} sp_stats;

void sp_stats_init(sp_stats *st, const char *tool);
void sp_stats_release(sp_stats *st);
/* Adds by to the skip counter reason (created at 0). */
int sp_stats_skip(sp_stats *st, const char *reason, int64_t by);
/* Adds by to the tool counter name (created at 0). */
int sp_stats_add(sp_stats *st, const char *name, int64_t by);
int64_t sp_stats_get(const sp_stats *st, const char *name);
int64_t sp_stats_skipped_total(const sp_stats *st);
/* Appends the stats object as one JSON line to buf. */
int sp_stats_json(const sp_stats *st, sp_buf *buf);
/* Writes the stats object atomically to path ("-" = stdout is the caller's business). */
int sp_stats_write(const sp_stats *st, const char *path, sp_err *err);

double sp_now(void); /* monotonic seconds */

#endif
