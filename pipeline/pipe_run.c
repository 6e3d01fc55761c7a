/* pipe_run.c - the run folder of `spindle pipeline` (layout in schemas/pipeline.md): creating it
 * from a pipeline file or checking that a rerun uses the same pipeline, loading it back for a task,
 * completion markers, and running a helper program (sbatch, squeue) with its output captured. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/select.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "pipe.h"
#include "spindle/io.h"
#include "spindle/mem.h"

int pipe_is_done(const char *run, const char *stage, long task)
{
	char p[4096];
	pipe_path(p, sizeof p, run, "done", stage, task, ".json");
	return access(p, F_OK) == 0;
}

int pipe_load_run(pipe_file *pf, const char *run, sp_err *err)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/pipeline.conf", run);
	sp_buf b = SP_BUF_INIT;
	int rc = sp_read_file(p, &b, err);
	if (!rc)
		rc = pipe_file_parse(pf, b.p ? b.p : "", b.len, p, err);
	sp_buf_release(&b);
	return rc;
}

int pipe_prepare_run(pipe_file *pf, const char *path, const char *run, sp_err *err)
{
	sp_buf text = SP_BUF_INIT, old = SP_BUF_INIT;
	char p[4096];
	int rc = sp_read_file(path, &text, err);
	if (rc)
		goto out;
	if ((rc = pipe_file_parse(pf, text.p ? text.p : "", text.len, path, err)))
		goto out;
	snprintf(p, sizeof p, "%s/pipeline.conf", run);
	if (access(p, F_OK) == 0) {
		sp_err e2 = SP_ERR_INIT;
		if (sp_read_file(p, &old, &e2) || old.len != text.len || (text.len && memcmp(old.p, text.p, text.len))) {
			pipe_file_free(pf);
			rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__,
			                 "run folder '%s' holds another pipeline (its pipeline.conf differs from '%s'); use a new --run-dir", run, path);
			goto out;
		}
	} else {
		if ((rc = sp_mkdir_p(run, err)) || (rc = sp_write_file_atomic(p, text.p ? text.p : "", text.len, err))) {
			pipe_file_free(pf);
			goto out;
		}
	}
	static const char *const kinds[] = { "out", "logs", "done", "fail", "stats" };
	for (int s = 0; s < pf->n; s++)
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			pipe_path(p, sizeof p, run, kinds[k], pf->st[s].name, -1, NULL);
			if ((rc = sp_mkdir_p(p, err))) {
				pipe_file_free(pf);
				goto out;
			}
		}
out:
	sp_buf_release(&text);
	sp_buf_release(&old);
	return rc;
}

static int drain(int fd, sp_buf *b)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof tmp);
	if (n > 0 && b)
		sp_buf_append(b, tmp, (size_t)n);
	return n > 0 || (n < 0 && errno == EINTR);
}

int pipe_capture(char *const argv[], sp_buf *out, sp_buf *errout)
{
	int po[2], pe[2];
	if (pipe(po))
		return -1;
	if (pipe(pe)) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
		int dn = open("/dev/null", O_RDONLY);
		if (dn >= 0)
			dup2(dn, 0);
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	/* Both pipes at once, so neither can fill up and stall the child. */
	int open_o = 1, open_e = 1;
	while (open_o || open_e) {
		fd_set fs;
		FD_ZERO(&fs);
		if (open_o)
			FD_SET(po[0], &fs);
		if (open_e)
			FD_SET(pe[0], &fs);
		if (select((po[0] > pe[0] ? po[0] : pe[0]) + 1, &fs, NULL, NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (open_o && FD_ISSET(po[0], &fs))
			open_o = drain(po[0], out);
		if (open_e && FD_ISSET(pe[0], &fs))
			open_e = drain(pe[0], errout);
	}
	close(po[0]);
	close(pe[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
