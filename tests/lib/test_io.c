/* test_io.c - sp_in (plain, zstd, gzip; concatenated and truncated streams; long lines) and sp_out
 * (atomic commit, abandoned temp files, zstd output). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "spindle/io.h"
#include "spindle/mem.h"
#include "helpers.h"

static char *read_all(const char *path, size_t *n, int *rc_out)
{
	sp_buf b = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	*rc_out = sp_read_file(path, &b, &err);
	return sp_buf_detach(&b, n);
}

static const char text[] = "line one\nline two\r\n\nlast line without newline";

Test(io, plain_file_lines_and_crlf)
{
	char *d = th_tmpdir();
	char *p = th_write(d, "a.txt", text, sizeof text - 1);
	sp_in *in;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_in_open(&in, p, &err), 0);
	cr_assert_eq(sp_in_codec(in), SP_CODEC_NONE);
	sp_buf line = SP_BUF_INIT;
	const char *want[] = { "line one", "line two", "", "last line without newline" };
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(sp_in_getline(in, &line, &err), 1);
		cr_assert_str_eq(line.p, want[i]);
	}
	cr_assert_eq(sp_in_getline(in, &line, &err), 0);
	cr_assert_eq(sp_in_lineno(in), 4);
	sp_buf_release(&line);
	sp_in_free(in);
	th_rmrf(d);
}

Test(io, concatenated_zstd_frames_decode_as_one_stream)
{
	char *d = th_tmpdir();
	size_t n1, n2;
	void *z1 = th_zstd("first\n", 6, &n1), *z2 = th_zstd("second\n", 7, &n2);
	char *both = malloc(n1 + n2);
	memcpy(both, z1, n1);
	memcpy(both + n1, z2, n2);
	char *p = th_write(d, "x.zst", both, n1 + n2);
	size_t n;
	int rc;
	char *s = read_all(p, &n, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(n, 13);
	cr_assert_str_eq(s, "first\nsecond\n");
	sp_free(s);
	th_rmrf(d);
}

Test(io, truncated_zstd_frame_is_an_error_naming_the_file)
{
	char *d = th_tmpdir();
	char big[20000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + (i * 7919) % 26);
	size_t n;
	void *z = th_zstd(big, sizeof big, &n);
	char *p = th_write(d, "cut.zst", z, n - 5);
	sp_in *in;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_in_open(&in, p, &err), 0);
	char out[30000];
	size_t got;
	int rc = sp_in_read(in, out, sizeof out, &got, &err);
	cr_assert_eq(rc, SP_EZSTD);
	cr_assert(strstr(err.msg, "truncated") || strstr(err.msg, "corrupt"), "msg: %s", err.msg);
	cr_assert_str_eq(err.name, p);
	sp_in_free(in);
	th_rmrf(d);
}

Test(io, gzip_members_concatenate_and_truncation_is_detected)
{
	char *d = th_tmpdir();
	size_t n1, n2;
	void *g1 = th_gzip("alpha\n", 6, &n1), *g2 = th_gzip("beta\n", 5, &n2);
	char *both = malloc(n1 + n2);
	memcpy(both, g1, n1);
	memcpy(both + n1, g2, n2);
	char *p = th_write(d, "x.gz", both, n1 + n2);
	size_t n;
	int rc;
	char *s = read_all(p, &n, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(s, "alpha\nbeta\n");
	sp_free(s);
	char *q = th_write(d, "cut.gz", both, n1 + n2 - 6);
	s = read_all(q, &n, &rc);
	cr_assert_eq(rc, SP_EZSTD);
	sp_free(s);
	th_rmrf(d);
}

Test(io, a_100_mb_line_is_read_whole, .timeout = 60)
{
	char *d = th_tmpdir();
	size_t big = 100u << 20;
	char *data = malloc(big + 1);
	memset(data, 'q', big);
	data[big] = '\n';
	char *p = th_write(d, "big.txt", data, big + 1);
	free(data);
	sp_in *in;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_in_open(&in, p, &err), 0);
	sp_buf line = SP_BUF_INIT;
	cr_assert_eq(sp_in_getline(in, &line, &err), 1);
	cr_assert_eq(line.len, big);
	cr_assert_eq(line.p[big - 1], 'q');
	cr_assert_eq(sp_in_getline(in, &line, &err), 0);
	sp_buf_release(&line);
	sp_in_free(in);
	th_rmrf(d);
}

static int count_entries(const char *dir)
{
	int n = 0;
	DIR *dd = opendir(dir);
	struct dirent *e;
	while ((e = readdir(dd)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(dd);
	return n;
}

Test(io, output_appears_only_on_commit_and_abandoned_temp_is_removed)
{
	char *d = th_tmpdir();
	char path[512];
	snprintf(path, sizeof path, "%s/out.jsonl", d);
	sp_out *o;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_out_open(&o, path, 0, &err), 0);
	cr_assert_eq(sp_out_write(o, "hello\n", 6, &err), 0);
	struct stat st;
	cr_assert_neq(stat(path, &st), 0, "final name must not exist before commit");
	sp_out_free(o); /* abandoned */
	cr_assert_eq(count_entries(d), 0, "temp file left behind");
	cr_assert_eq(sp_out_open(&o, path, 0, &err), 0);
	cr_assert_eq(sp_out_write(o, "hello\n", 6, &err), 0);
	cr_assert_eq(sp_out_commit(o, &err), 0);
	sp_out_free(o);
	cr_assert_eq(count_entries(d), 1);
	size_t n;
	int rc;
	char *s = read_all(path, &n, &rc);
	cr_assert_str_eq(s, "hello\n");
	sp_free(s);
	th_rmrf(d);
}

Test(io, zst_output_name_compresses_and_reads_back)
{
	char *d = th_tmpdir();
	char path[512];
	snprintf(path, sizeof path, "%s/out.jsonl.zst", d);
	sp_err err = SP_ERR_INIT;
	sp_buf want = SP_BUF_INIT;
	for (int i = 0; i < 50000; i++)
		sp_buf_appendf(&want, "{\"i\":%d}\n", i);
	cr_assert_eq(sp_write_file_atomic(path, want.p, want.len, &err), 0); /* atomic helper never compresses */
	sp_out *o;
	cr_assert_eq(sp_out_open(&o, path, 0, &err), 0);
	cr_assert_eq(sp_out_write(o, want.p, want.len, &err), 0);
	cr_assert_eq(sp_out_commit(o, &err), 0);
	sp_out_free(o);
	sp_in *in;
	cr_assert_eq(sp_in_open(&in, path, &err), 0);
	cr_assert_eq(sp_in_codec(in), SP_CODEC_ZSTD);
	sp_in_free(in);
	size_t n;
	int rc;
	char *s = read_all(path, &n, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(n, want.len);
	cr_assert_eq(memcmp(s, want.p, n), 0);
	sp_free(s);
	sp_buf_release(&want);
	th_rmrf(d);
}

Test(io, open_missing_file_names_it)
{
	sp_in *in;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_in_open(&in, "/nonexistent/x.jsonl", &err), SP_EIO);
	char line[600];
	sp_err_format(&err, "spindle cat", line, sizeof line);
	cr_assert(strstr(line, "spindle cat: /nonexistent/x.jsonl: cannot open: No such file"), "%s", line);
}

Test(io, allocation_failures_in_open_are_clean)
{
	char *d = th_tmpdir();
	char *p = th_write(d, "a.txt", text, sizeof text - 1);
	for (unsigned long k = 1; k < 6; k++) {
		sp_in *in = NULL;
		sp_err err = SP_ERR_INIT;
		sp_mem_fail_at(k);
		int rc = sp_in_open(&in, p, &err);
		sp_mem_fail_at(0);
		if (rc == 0)
			sp_in_free(in);
		else
			cr_assert_eq(rc, SP_ENOMEM, "k=%lu rc=%d", k, rc);
	}
	th_rmrf(d);
}

Test(io, an_empty_file_reads_as_a_terminated_empty_string)
{
	char *d = th_tmpdir();
	char path[512];
	snprintf(path, sizeof path, "%s/empty", d);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fclose(f);
	sp_buf b = SP_BUF_INIT;
	b.len = 0;
	sp_err err = SP_ERR_INIT;
	/* a buffer that held text before: the empty read must not leave it visible past len */
	cr_assert_eq(sp_buf_appends(&b, "stale"), 0);
	cr_assert_eq(sp_read_file(path, &b, &err), 0, "%s", err.msg);
	cr_assert_eq(b.len, 0);
	cr_assert_not_null(b.p);
	cr_assert_eq(b.p[0], '\0', "parsers given b.p (json_tokener_parse) must see an empty string");
	sp_buf_release(&b);
	free(d);
}
