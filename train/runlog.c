/* runlog.c - a training run's step log in its folder, on stdout and as a terminal progress line
 * (runlog.h). */
#include <json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "runlog.h"
#include "spindle/buf.h"
#include "spindle/io.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int train_runlog_truncate(const char *path, long keep_step, sp_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	sp_buf all = SP_BUF_INIT, kept = SP_BUF_INIT;
	int rc = sp_read_file(path, &all, err);
	for (size_t at = 0; rc == 0 && at < all.len;) {
		const char *p = all.p + at, *nl = memchr(p, '\n', all.len - at);
		if (!nl)
			break;   /* a cut last line (a kill mid-write): dropped */
		size_t n = (size_t)(nl - p);
		at += n + 1;
		json_tokener *tk = json_tokener_new();
		json_object *o = tk ? json_tokener_parse_ex(tk, p, (int)n) : NULL, *s;
		int keep = o && json_tokener_get_error(tk) == json_tokener_success &&
		           (!json_object_object_get_ex(o, "step", &s) || json_object_get_int64(s) <= keep_step);
		json_object_put(o);
		json_tokener_free(tk);
		if (keep && (sp_buf_append(&kept, p, n) < 0 || sp_buf_appendc(&kept, '\n') < 0))
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	}
	if (rc == 0 && kept.len != all.len)
		rc = sp_write_file_atomic(path, kept.p ? kept.p : "", kept.len, err);
	sp_buf_release(&all);
	sp_buf_release(&kept);
	return rc;
}

int train_runlog_open(train_runlog *r, const char *dir, const char *prog, long start_step, long total,
                      int jsonl_stdout, int progress, sp_err *err)
{
	memset(r, 0, sizeof *r);
	r->prog = prog;
	r->to_stdout = jsonl_stdout;
	r->progress = progress;
	r->total = total;
	r->first_step = start_step;
	r->last_spike = -1;
	r->t0 = now_s();
	if (!dir)
		return 0;
	char path[4096];
	if (snprintf(path, sizeof path, "%s/%s", dir, TRAIN_LOG_NAME) >= (int)sizeof path)
		SP_RAISE(err, SP_EUSAGE, "run folder name too long");
	SP_FORWARD(train_runlog_truncate(path, start_step, err));
	r->file = fopen(path, "a");
	if (!r->file) {
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot open the run log for appending");
		return sp_err_locate(err, path, 0);
	}
	return 0;
}

static void progress_line(train_runlog *r, json_object *o)
{
	json_object *v;
	long step = json_object_object_get_ex(o, "step", &v) ? (long)json_object_get_int64(v) : 0;
	double loss = json_object_object_get_ex(o, "loss", &v) ? json_object_get_double(v) : NAN;
	double lr = json_object_object_get_ex(o, "lr", &v) ? json_object_get_double(v) : NAN;
	double tps = json_object_object_get_ex(o, "tokens_per_s", &v) ? json_object_get_double(v) : NAN;
	double el = now_s() - r->t0;
	long done = step - r->first_step, left = r->total - step;
	char eta[32] = "?";
	if (done > 0 && left >= 0) {
		long s = (long)(el / (double)done * (double)left + 0.5);
		snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	}
	char spike[48] = "none";
	if (r->last_spike >= 0)
		snprintf(spike, sizeof spike, "step %ld", r->last_spike);
	fprintf(stderr, "\r%s: step %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s  last spike: %s\033[K", r->prog, step,
	        r->total, loss, lr, tps, eta, spike);
	fflush(stderr);
	r->line_open = 1;
}

void train_runlog_write(train_runlog *r, const char *lines, size_t n)
{
	if (r->file) {
		fwrite(lines, 1, n, r->file);
		fflush(r->file);
	}
	if (r->to_stdout) {
		fwrite(lines, 1, n, stdout);
		fflush(stdout);
	}
	if (!r->progress)
		return;
	for (size_t at = 0; at < n;) {
		const char *p = lines + at, *nl = memchr(p, '\n', n - at);
		size_t len = nl ? (size_t)(nl - p) : n - at;
		at += len + 1;
		json_tokener *tk = json_tokener_new();
		json_object *o = tk ? json_tokener_parse_ex(tk, p, (int)len) : NULL, *v;
		if (o && json_object_object_get_ex(o, "event", &v)) {
			if (!strcmp(json_object_get_string(v), "spike") && json_object_object_get_ex(o, "step", &v))
				r->last_spike = (long)json_object_get_int64(v);
		} else if (o && json_object_object_get_ex(o, "step", &v)) {
			progress_line(r, o);
		}
		json_object_put(o);
		json_tokener_free(tk);
	}
}

void train_runlog_hook(void *ctx, const char *lines, size_t n)
{
	train_runlog_write(ctx, lines, n);
}

void train_runlog_close(train_runlog *r)
{
	if (r->line_open)
		fputc('\n', stderr);
	r->line_open = 0;
	if (r->file)
		fclose(r->file);
	r->file = NULL;
}
