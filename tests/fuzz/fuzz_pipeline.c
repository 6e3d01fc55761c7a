/* fuzz_pipeline.c - fuzz target: bytes as a pipeline file (schemas/pipeline.md) through the parser,
 * then every parsed stage's command expanded for its first and last task, checking the parser's
 * promises: stage names non-empty, dependencies point at earlier stages, task counts in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../pipeline/pipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pipe_file pf;
	sp_err err = SP_ERR_INIT;
	if (pipe_file_parse(&pf, (const char *)data, size, "fuzz", &err))
		return 0;
	for (int s = 0; s < pf.n; s++) {
		const pipe_stage *st = &pf.st[s];
		if (!st->name[0] || !st->command || st->tasks < 1 || st->tasks > PIPE_MAX_TASKS)
			abort();
		for (int i = 0; i < st->n_after; i++)
			if (st->after[i] < 0 || st->after[i] >= s)
				abort();
		for (int k = 0; k < 2; k++) {
			sp_buf b = SP_BUF_INIT;
			pipe_ctx c = { "/run", "/bin/spindle", &pf, s, k ? st->tasks - 1 : 0 };
			if (pipe_expand(&c, &b, &err))
				abort();
			sp_buf_release(&b);
		}
	}
	pipe_file_free(&pf);
	return 0;
}
