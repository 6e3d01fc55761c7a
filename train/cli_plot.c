/* cli_plot.c - `spindle train plot`: a training log's loss curve as a PNG (gnuplot) and a text sparkline. */
#include <json.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "../tokenizer/tok.h"
#include "ckpt.h"
#include "data.h"
#include "data_chat.h"
#include "device.h"
#include "dist.h"
#include "sample.h"
#include "trainer.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"
#include "cli_int.h"
#include "runlog.h"

int cmd_plot(int argc, char **argv)
{
	const char *prog = "spindle train plot", *png = NULL;
	long width = 60;
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &png, "FILE", "PNG to draw (default: LOG with .png)", NULL, 0, 0 },
		{ "width", 0, SP_OPT_INT, &width, "N", "sparkline width in characters (default 60)", NULL, 10, 400 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train plot RUN_DIR|LOG [-o loss.png]",
	                   "Draws the loss curve of a training log to a PNG with gnuplot, and prints a text sparkline of\n"
	                   "it. Given a run folder, reads its " TRAIN_LOG_NAME " and draws RUN_DIR/loss.png; given a file,\n"
	                   "reads that JSONL (e.g. a train command's stdout) and draws LOG.png.", table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "give one log file");
	}
	char log_path[4096], dir_png[4096];
	const char *log = pos[0];
	struct stat lst;
	int is_dir = stat(log, &lst) == 0 && S_ISDIR(lst.st_mode);
	if (is_dir) {
		snprintf(log_path, sizeof log_path, "%s/" TRAIN_LOG_NAME, pos[0]);
		snprintf(dir_png, sizeof dir_png, "%s/loss.png", pos[0]);
		log = log_path;
		if (!png)
			png = dir_png;
	}
	sp_free(pos);
	sp_err err = SP_ERR_INIT;
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	double *loss = NULL;
	long *steps = NULL;
	size_t n = 0, cap = 0;
	if (sp_in_open(&in, log, &err) < 0)
		return cli_fail(prog, &err);
	while ((rc = sp_jsonl_next(in, &rec, &err)) == 1) {
		json_object *l = sp_json_path(rec.obj, "loss"), *s = sp_json_path(rec.obj, "step");
		if (!l || !s || sp_json_path(rec.obj, "event"))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			double *nl = sp_realloc(loss, cap * sizeof *nl);
			long *ns = nl ? sp_realloc(steps, cap * sizeof *ns) : NULL;
			if (nl)
				loss = nl;
			if (!ns) {
				rc = SP_ENOMEM;
				break;
			}
			steps = ns;
		}
		loss[n] = json_object_get_double(l);
		steps[n++] = (long)json_object_get_int64(s);
	}
	sp_in_free(in);
	sp_record_release(&rec);
	int code = CLI_OK;
	if (rc < 0) {
		code = rc == SP_ENOMEM ? cli_failf(prog, CLI_IO, "out of memory") : cli_fail(prog, &err);
		goto done;
	}
	if (n == 0) {
		code = cli_failf(prog, CLI_REJECTED, "%s: no step records with a loss", log);
		goto done;
	}
	/* sparkline: mean loss per column */
	static const char *const bars[8] = { "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
	size_t cols = n < (size_t)width ? n : (size_t)width;
	double lo = INFINITY, hi = -INFINITY, col[400];
	for (size_t c = 0; c < cols; c++) {
		size_t a = c * n / cols, e = (c + 1) * n / cols;
		double s = 0;
		for (size_t i = a; i < e; i++)
			s += loss[i];
		col[c] = s / (double)(e - a);
		lo = col[c] < lo ? col[c] : lo;
		hi = col[c] > hi ? col[c] : hi;
	}
	printf("loss %.4f ", loss[0]);
	for (size_t c = 0; c < cols; c++) {
		int k = hi > lo ? (int)((col[c] - lo) / (hi - lo) * 7.999) : 0;
		fputs(bars[k < 0 ? 0 : k > 7 ? 7 : k], stdout);
	}
	printf(" %.4f (steps %ld-%ld)\n", loss[n - 1], steps[0], steps[n - 1]);
	/* the PNG: data to a temporary file, then gnuplot */
	char out_png[4200], dat[] = "/tmp/spindle-plot-XXXXXX";
	if (png)
		snprintf(out_png, sizeof out_png, "%s", png);
	else
		snprintf(out_png, sizeof out_png, "%s.png", log);
	int fd = mkstemp(dat);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		code = cli_failf(prog, CLI_IO, "cannot create a temporary file");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%ld %.6g\n", steps[i], loss[i]);
	fclose(f);
	FILE *g = popen("gnuplot 2>&1", "w");
	if (!g) {
		unlink(dat);
		code = cli_failf(prog, CLI_IO, "cannot run gnuplot");
		goto done;
	}
	fprintf(g, "set terminal png size 900,500\nset output '%s'\nset xlabel 'step'\nset ylabel 'loss'\n"
	           "set grid\nset title 'training loss'\nplot '%s' using 1:2 with lines title 'loss'\n", out_png, dat);
	int st = pclose(g);
	unlink(dat);
	struct stat sb;
	if (st != 0 || stat(out_png, &sb) != 0 || sb.st_size == 0) {
		code = cli_failf(prog, CLI_IO, "gnuplot failed to write %s", out_png);
		goto done;
	}
	fprintf(stderr, "%s: %zu steps plotted to %s\n", prog, n, out_png);
done:
	sp_free(loss);
	sp_free(steps);
	return code;
}
