/* test_cli.c - the shared command-line front (cli/cli.c) and its error paths, called in-process:
 * message escaping, the output-collision check, and a tool failing before its progress line began
 * (issue 19 classes 2, 7, 13). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

int cmd_cat(int argc, char **argv);

/* Runs fn with stderr sent to a temporary file; returns what was written there (caller frees). */
static char *capture_stderr(int (*fn)(void *), void *arg, int *rc)
{
	char path[] = "/tmp/spindle-cli-test.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	*rc = fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char *buf = calloc(1, 65536);
	ssize_t k = pread(fd, buf, 65535, 0);
	cr_assert(k >= 0);
	close(fd);
	unlink(path);
	return buf;
}

/* Leaves a large stretch of the stack full of non-zero bytes, as earlier calls would. */
static __attribute__((noinline)) void dirty_stack(void)
{
	volatile unsigned char junk[1 << 16];
	memset((unsigned char *)junk, 0xA5, sizeof junk);
	__asm__ volatile("" : : "r"(junk) : "memory");
}

static int run_cat_missing_dir(void *arg)
{
	char **argv = arg;
	dirty_stack();
	return cmd_cat(6, argv);
}

Test(cat, missing_output_folder_is_an_io_error_after_a_dirty_stack)
{
	char in[] = "/tmp/spindle-cli-in.XXXXXX";
	int fd = mkstemp(in);
	cr_assert(fd >= 0);
	cr_assert(write(fd, "{\"id\":\"a\",\"text\":\"b\"}\n", 22) == 22);
	close(fd);
	char *argv[] = { "cat", "--progress", "-o", "/nonexistent-spindle-dir/x.jsonl", in, "-q", NULL };
	for (int i = 0; i < 3; i++) {
		int rc;
		char *err = capture_stderr(run_cat_missing_dir, argv, &rc);
		cr_expect_eq(rc, CLI_IO, "exit %d, stderr: %s", rc, err);
		cr_expect(strstr(err, "x.jsonl: cannot create temporary file") != NULL, "stderr: %s", err);
		cr_expect(strchr(err, '\r') == NULL, "a progress line was printed: %s", err);
		free(err);
		argv[5] = "--progress";   /* with and without -q */
	}
	unlink(in);
}

Test(cli_escape, control_characters_become_hex_escapes)
{
	char out[256];
	cli_escape("a\x1b]0;title\x07" "b\tc\x7f" "d\xc2\x9b" "e caf\xc3\xa9", out, sizeof out);
	cr_expect_str_eq(out, "a\\x1b]0;title\\x07b\\x09c\\x7fd\\x9be caf\xc3\xa9");
}

Test(cli_escape, output_is_always_terminated_and_bounded)
{
	char out[6];
	size_t n = cli_escape("\x01\x02\x03", out, sizeof out);
	cr_expect_eq(n, 4);
	cr_expect_str_eq(out, "\\x01");
}

typedef struct failf_arg { const char *name; } failf_arg;
static int run_failf(void *arg)
{
	const failf_arg *a = arg;
	return cli_failf("spindle test", CLI_USAGE, "cannot open '%s'", a->name);
}

Test(cli_failf, untrusted_bytes_in_a_message_are_escaped)
{
	failf_arg a = { "evil\x1b[2J\x1b]8;;http://x\x07name" };
	int rc;
	char *err = capture_stderr(run_failf, &a, &rc);
	cr_expect_eq(rc, CLI_USAGE);
	cr_expect_str_eq(err, "spindle test: cannot open 'evil\\x1b[2J\\x1b]8;;http://x\\x07name'\n");
	free(err);
}

typedef struct outs_arg { const cli_out *o; size_t n; } outs_arg;
static int run_outs(void *arg)
{
	const outs_arg *a = arg;
	return cli_check_outputs("spindle test", a->o, a->n);
}

Test(cli_check_outputs, two_spellings_of_one_new_file_collide)
{
	char dir[] = "/tmp/spindle-cli-outs.XXXXXX";
	cr_assert(mkdtemp(dir));
	char a[300], b[300], c[300];
	snprintf(a, sizeof a, "%s/x.jsonl", dir);
	snprintf(b, sizeof b, "%s/./x.jsonl", dir);
	snprintf(c, sizeof c, "%s/y.jsonl", dir);
	cli_out outs[] = { { "-o", a }, { "--stats", c }, { "--rejects", b } };
	outs_arg arg = { outs, 3 };
	int rc;
	char *err = capture_stderr(run_outs, &arg, &rc);
	cr_expect_eq(rc, CLI_USAGE);
	cr_expect(strstr(err, "-o '") && strstr(err, "--rejects '") && strstr(err, "name the same file"), "stderr: %s", err);
	free(err);
	/* distinct files, stdout twice and /dev/null twice are fine */
	cli_out ok[] = { { "-o", a }, { "--stats", c }, { "--x", "-" }, { "--y", "-" }, { "--z", "/dev/null" }, { "--w", "/dev/null" }, { "--v", NULL } };
	outs_arg arg2 = { ok, 7 };
	err = capture_stderr(run_outs, &arg2, &rc);
	cr_expect_eq(rc, -1, "stderr: %s", err);
	free(err);
	rmdir(dir);
}

Test(cli_check_outputs, a_symlink_to_an_existing_output_collides)
{
	char dir[] = "/tmp/spindle-cli-outs.XXXXXX";
	cr_assert(mkdtemp(dir));
	char a[300], l[300];
	snprintf(a, sizeof a, "%s/real.jsonl", dir);
	snprintf(l, sizeof l, "%s/link.jsonl", dir);
	FILE *f = fopen(a, "w");
	cr_assert(f);
	fclose(f);
	cr_assert(symlink("real.jsonl", l) == 0);
	cli_out outs[] = { { "-o", l }, { "--clusters", a } };
	outs_arg arg = { outs, 2 };
	int rc;
	char *err = capture_stderr(run_outs, &arg, &rc);
	cr_expect_eq(rc, CLI_USAGE, "stderr: %s", err);
	cr_expect(strstr(err, "--clusters") != NULL, "stderr: %s", err);
	free(err);
	unlink(l);
	unlink(a);
	rmdir(dir);
}
