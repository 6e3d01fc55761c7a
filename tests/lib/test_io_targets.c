/* test_io_targets.c - sp_out on targets that are not plain new files (issue 19 classes 1 and 6):
 * a symlink is followed, a FIFO is written in place, the temp-file registry that the signal
 * handler empties, and stale temp files of killed runs. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "spindle/io.h"
#include "spindle/mem.h"
#include "helpers.h"

static size_t count_temps(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	cr_assert(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	return n;
}

Test(io_targets, symlink_is_followed_and_kept)
{
	char *d = th_tmpdir();
	char *real = th_write(d, "real.txt", "old", 3), link[512];
	snprintf(link, sizeof link, "%s/link.txt", d);
	cr_assert_eq(symlink("real.txt", link), 0);
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_write_file_atomic(link, "new contents", 12, &err), 0, "%s", err.msg);
	struct stat st;
	cr_assert_eq(lstat(link, &st), 0);
	cr_expect(S_ISLNK(st.st_mode), "the symlink was replaced");
	sp_buf b = SP_BUF_INIT;
	cr_assert_eq(sp_read_file(real, &b, &err), 0);
	cr_expect_eq(b.len, 12);
	cr_expect(b.p && !memcmp(b.p, "new contents", 12));
	sp_buf_release(&b);
	cr_expect_eq(count_temps(d), 0);
	free(real);
	th_rmrf(d);
}

Test(io_targets, fifo_is_written_in_place)
{
	char *d = th_tmpdir();
	char fifo[512];
	snprintf(fifo, sizeof fifo, "%s/out.fifo", d);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		sp_err err = SP_ERR_INIT;
		_exit(sp_write_file_atomic(fifo, "through the pipe\n", 17, &err) == 0 ? 0 : 1);
	}
	int fd = open(fifo, O_RDONLY);
	cr_assert(fd >= 0);
	char got[64] = { 0 };
	size_t n = 0;
	ssize_t k;
	while ((k = read(fd, got + n, sizeof got - 1 - n)) > 0)
		n += (size_t)k;
	close(fd);
	int status;
	waitpid(pid, &status, 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_expect_str_eq(got, "through the pipe\n");
	struct stat st;
	cr_assert_eq(lstat(fifo, &st), 0);
	cr_expect(S_ISFIFO(st.st_mode), "the FIFO was replaced");
	cr_expect_eq(count_temps(d), 0);
	th_rmrf(d);
}

Test(io_targets, a_folder_is_refused_by_name)
{
	char *d = th_tmpdir();
	sp_out *o = NULL;
	sp_err err = SP_ERR_INIT;
	cr_expect_eq(sp_out_open(&o, d, 0, &err), SP_EIO);
	cr_expect_str_eq(err.name, d);
	struct stat st;
	cr_expect(stat(d, &st) == 0 && S_ISDIR(st.st_mode));
	th_rmrf(d);
}

Test(io_targets, remove_temps_unlinks_every_open_output_and_nothing_else)
{
	char *d = th_tmpdir();
	char a[512], b[512];
	snprintf(a, sizeof a, "%s/a.jsonl", d);
	snprintf(b, sizeof b, "%s/b.jsonl.zst", d);
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_write_file_atomic(a, "done\n", 5, &err), 0);
	sp_out *o1, *o2;
	cr_assert_eq(sp_out_open(&o1, a, 0, &err), 0);
	cr_assert_eq(sp_out_open(&o2, b, 0, &err), 0);
	cr_assert_eq(sp_out_write(o1, "x", 1, &err), 0);
	cr_expect_eq(count_temps(d), 2);
	sp_io_remove_temps();
	cr_expect_eq(count_temps(d), 0);
	struct stat st;
	cr_expect(stat(a, &st) == 0 && st.st_size == 5, "the committed file must stay");
	sp_out_free(o1);
	sp_out_free(o2);
	/* a committed output is no longer in the registry */
	cr_assert_eq(sp_out_open(&o1, b, 0, &err), 0);
	cr_assert_eq(sp_out_commit(o1, &err), 0);
	sp_io_remove_temps();
	cr_expect(stat(b, &st) == 0, "a committed output must not be removed");
	sp_out_free(o1);
	th_rmrf(d);
}

Test(io_targets, opening_removes_stale_temps_of_dead_runs_only)
{
	char *d = th_tmpdir();
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char name[128];
	snprintf(name, sizeof name, ".out.jsonl.tmp.%ld.3", (long)dead);
	free(th_write(d, name, "half", 4));
	snprintf(name, sizeof name, ".out.jsonl.tmp.%ld.0", (long)getppid());
	free(th_write(d, name, "live", 4));
	snprintf(name, sizeof name, ".other.jsonl.tmp.%ld.0", (long)dead);
	free(th_write(d, name, "other", 5));
	char out[512];
	snprintf(out, sizeof out, "%s/out.jsonl", d);
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_write_file_atomic(out, "ok\n", 3, &err), 0);
	cr_expect_eq(count_temps(d), 2, "the dead run's temp of out.jsonl goes, the live one and other.jsonl's stay");
	snprintf(name, sizeof name, "%s/.out.jsonl.tmp.%ld.3", d, (long)dead);
	cr_expect(access(name, F_OK) != 0);
	th_rmrf(d);
}
