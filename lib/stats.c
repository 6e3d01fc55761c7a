/* stats.c - run counters and the --stats JSON object (see spindle/stats.h, schemas/stats.schema.json). */
#include <string.h>
#include <time.h>
#include <inttypes.h>
#include "spindle/stats.h"
#include "spindle/io.h"
#include "spindle/mem.h"

double sp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void sp_stats_init(sp_stats *st, const char *tool)
{
	memset(st, 0, sizeof *st);
	st->tool = tool;
	st->t_start = sp_now();
}

static void release_list(sp_counter *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sp_free(c[i].name);
	sp_free(c);
}

void sp_stats_release(sp_stats *st)
{
	release_list(st->skipped, st->n_skipped);
	release_list(st->counters, st->n_counters);
	memset(st, 0, sizeof *st);
}

static int bump(sp_counter **list, size_t *n, size_t *cap, const char *name, int64_t by)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*list)[i].name, name)) {
			(*list)[i].value += by;
			return 0;
		}
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		sp_counter *p = sp_realloc(*list, nc * sizeof *p);
		if (!p)
			return SP_ENOMEM;
		*list = p;
		*cap = nc;
	}
	char *copy = sp_strdup(name);
	if (!copy)
		return SP_ENOMEM;
	(*list)[*n].name = copy;
	(*list)[*n].value = by;
	(*n)++;
	return 0;
}

int sp_stats_skip(sp_stats *st, const char *reason, int64_t by)
{
	return bump(&st->skipped, &st->n_skipped, &st->cap_skipped, reason, by);
}

int sp_stats_add(sp_stats *st, const char *name, int64_t by)
{
	return bump(&st->counters, &st->n_counters, &st->cap_counters, name, by);
}

int64_t sp_stats_get(const sp_stats *st, const char *name)
{
	for (size_t i = 0; i < st->n_counters; i++)
		if (!strcmp(st->counters[i].name, name))
			return st->counters[i].value;
	return 0;
}

int64_t sp_stats_skipped_total(const sp_stats *st)
{
	int64_t t = 0;
	for (size_t i = 0; i < st->n_skipped; i++)
		t += st->skipped[i].value;
	return t;
}

static int append_map(sp_buf *b, const sp_counter *c, size_t n)
{
	SP_FORWARD(sp_buf_appendc(b, '{'));
	for (size_t i = 0; i < n; i++) {
		if (i)
			SP_FORWARD(sp_buf_appendc(b, ','));
		SP_FORWARD(sp_buf_append_json_str(b, c[i].name, strlen(c[i].name)));
		SP_FORWARD(sp_buf_appendf(b, ":%" PRId64, c[i].value));
	}
	return sp_buf_appendc(b, '}');
}

int sp_stats_json(const sp_stats *st, sp_buf *b)
{
	double secs = sp_now() - st->t_start;
	SP_FORWARD(sp_buf_appends(b, "{\"tool\":"));
	SP_FORWARD(sp_buf_append_json_str(b, st->tool ? st->tool : "", st->tool ? strlen(st->tool) : 0));
	SP_FORWARD(sp_buf_appendf(b, ",\"records_in\":%" PRIu64 ",\"records_out\":%" PRIu64
	                          ",\"records_skipped\":%" PRId64 ",\"bytes_in\":%" PRIu64
	                          ",\"bytes_out\":%" PRIu64 ",\"seconds\":%.6f,\"skipped\":",
	                          st->records_in, st->records_out, sp_stats_skipped_total(st),
	                          st->bytes_in, st->bytes_out, secs));
	SP_FORWARD(append_map(b, st->skipped, st->n_skipped));
	SP_FORWARD(sp_buf_appends(b, ",\"counters\":"));
	SP_FORWARD(append_map(b, st->counters, st->n_counters));
	return sp_buf_appendc(b, '}');
}

int sp_stats_write(const sp_stats *st, const char *path, sp_err *err)
{
	sp_buf b = SP_BUF_INIT;
	int rc = sp_stats_json(st, &b);
	if (rc == 0)
		rc = sp_buf_appendc(&b, '\n');
	if (rc < 0) {
		sp_buf_release(&b);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	rc = sp_write_file_atomic(path, b.p, b.len, err);
	sp_buf_release(&b);
	return rc;
}
