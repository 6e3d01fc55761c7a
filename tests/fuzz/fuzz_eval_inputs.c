/* fuzz_eval_inputs.c - fuzz target: the inputs of the evaluation commands. The bytes as a scored
 * response file (`train winrate`/`calibrate`), as a prompt file (their --prompts), as an export
 * filter's round and batch lists and dates (`annotate export --round/--batch/--since`), checking
 * that what is accepted holds its promises (scores in [0, 1], lists only of valid labels/ids). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../annotate/annotate_eval.h"
#include "../../train/winrate.h"
#include "spindle/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/spindle-fuzz-eval-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	wr_set s = { 0 };
	sp_err err = SP_ERR_INIT;
	if (wr_load(path, "combined", &s, &err) == 0)
		for (size_t i = 0; i < s.n; i++)
			if (!(s.r[i].score >= 0 && s.r[i].score <= 1) || !s.r[i].prompt_id || !s.r[i].system)
				abort();
	wr_set_release(&s);
	wr_prompts ps = { 0 };
	wr_prompts_load(path, &ps, &err);
	wr_prompts_release(&ps);
	unlink(path);

	char *str = sp_malloc(size + 1);
	if (!str)
		return 0;
	memcpy(str, data, size);
	str[size] = 0;
	ann_parse_date(str);
	ann_filter f;
	memset(&f, 0, sizeof f);
	f.rounds = str;
	sp_buf sql = SP_BUF_INIT;
	if (ann_filter_sql(&f, 'r', &sql, &err) == 0 && strchr(str, '\''))
		abort(); /* a quote can never reach the SQL text */
	sp_buf_reset(&sql);
	f.rounds = NULL;
	f.batches = str;
	if (ann_filter_sql(&f, 'r', &sql, &err) == 0 && strspn(str, "0123456789,") != strlen(str))
		abort();
	sp_buf_release(&sql);
	sp_free(str);
	return 0;
}
