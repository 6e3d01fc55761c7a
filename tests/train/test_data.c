/* test_data.c - SFT and preference data from annotate's exports, tokenized with the real Llama 2
 * tokenizer (../shared/llama2): the SFT loss mask covers exactly the response and its EOS, examples
 * are packed with restarting positions and separate attention segments; preference rows end at
 * the response's EOS and carry the margin of their rating. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../train/data.h"
#include "../../tokenizer/tok.h"

#define TOK "../shared/llama2/tokenizer.model"

static tok_model *load_tok(void)
{
	tok_model *t = NULL;
	if (access(TOK, R_OK) != 0)
		return NULL;
	cr_assert(tok_model_load(&t, TOK, NULL) == 0);
	return t;
}

static char path[64];
static void write_file(const char *text)
{
	snprintf(path, sizeof path, "/tmp/spindle-data-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static char *decode(const tok_model *t, const int32_t *ids, int n)
{
	sp_buf b = SP_BUF_INIT;
	uint32_t *u = malloc((size_t)n * sizeof *u + 1);
	for (int i = 0; i < n; i++)
		u[i] = (uint32_t)ids[i];
	cr_assert(tok_decode(t, u, (size_t)n, &b, NULL) == 0);
	free(u);
	return sp_buf_detach(&b, NULL);
}

Test(data, sft_targets_are_exactly_the_responses_and_eos)
{
	tok_model *tok = load_tok();
	if (!tok)
		cr_skip_test("no " TOK);
	write_file("{\"id\":\"sft-1\",\"dialog\":[{\"role\":\"user\",\"content\":\"Name a colour.\"}],\"response\":\"Blue is a colour.\"}\n"
	           "{\"id\":\"sft-2\",\"dialog\":[{\"role\":\"system\",\"content\":\"Be terse.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
	           "{\"role\":\"assistant\",\"content\":\"Hello.\"},{\"role\":\"user\",\"content\":\"Count to three.\"}],\"response\":\"One, two, three.\"}\n");
	train_data d;
	sp_err err = SP_ERR_INIT;
	size_t n;
	cr_assert(data_sft_open(&d, path, tok, 128, 1, &n, &err) == 0, "%s", err.msg);
	cr_assert_eq(n, 2);
	train_batch b = TRAIN_BATCH_INIT;
	cr_assert(train_batch_alloc(&b, 1, 128, NULL) == 0);
	cr_assert(d.next(d.ctx, &b, &err) == 0);
	/* examples are packed whole (the row continues into the next shuffled epoch): each segment starts
	 * with BOS at position 0, and a complete segment's targets are its response then EOS, nothing
	 * of the prompt */
	int seg_start = 0, complete = 0;
	for (int t = 1; t <= 128; t++) {
		if (t < 128 && b.seg[t] == b.seg[seg_start])
			continue;
		if (b.seg[seg_start] < 0) {  /* padding after the last example that fit */
			seg_start = t;
			continue;
		}
		cr_expect_eq(b.pos[seg_start], 0, "position restarts at a new example (t=%d)", seg_start);
		cr_expect_eq(b.inputs[seg_start], tok_bos_id(tok), "an example starts with BOS (t=%d)", seg_start);
		if (t < 128 || b.targets[127] < 0) {  /* complete segment */
			int32_t tg[128];
			int n_tg = 0;
			for (int i = seg_start; i < t; i++)
				if (b.targets[i] >= 0)
					tg[n_tg++] = b.targets[i];
			cr_assert(n_tg > 1);
			cr_expect_eq(tg[n_tg - 1], tok_eos_id(tok), "the last target is EOS");
			char *txt = decode(tok, tg, n_tg - 1);
			cr_expect(!strcmp(txt, "Blue is a colour.") || !strcmp(txt, "One, two, three."), "targets decode to '%s'", txt);
			free(txt);
			complete++;
		}
		seg_start = t;
	}
	cr_expect(complete >= 2, "%d complete examples in a 128-token row", complete);
	/* the prompt of the multi-turn example uses Llama 2's chat format */
	char *all = decode(tok, b.inputs, 128);
	cr_expect(strstr(all, "[INST] <<SYS>>\nBe terse.\n<</SYS>>\n\nHi [/INST] Hello.") != NULL, "chat format: '%s'", all);
	free(all);
	train_batch_release(&b);
	d.free(d.ctx);
	tok_model_free(tok);
	unlink(path);
}

Test(data, preference_rows_end_at_the_response_with_the_rating_margin)
{
	tok_model *tok = load_tok();
	if (!tok)
		cr_skip_test("no " TOK);
	write_file("{\"id\":\"pref-1\",\"category\":\"safety\",\"dialog\":[{\"role\":\"user\",\"content\":\"Q\"}],\"chosen\":\"Good answer\",\"rejected\":\"Bad\",\"rating\":\"better\"}\n"
	           "{\"id\":\"pref-3\",\"category\":\"safety\",\"dialog\":[{\"role\":\"user\",\"content\":\"Q\"}],\"chosen\":\"x\",\"rejected\":\"y\",\"rating\":\"better\",\"safety_bin\":\"one_safe\",\"chosen_safety\":\"unsafe\"}\n"
	           "{\"id\":\"pref-2\",\"category\":\"helpfulness\",\"dialog\":[{\"role\":\"user\",\"content\":\"Q2\"}],\"chosen\":\"Yes\",\"rejected\":\"No way\",\"rating\":\"significantly_better\",\"level\":3}\n");
	float margins[4];
	cr_assert(rm_margins_parse("large", margins, NULL) == 0);
	cr_expect(margins[3] == 3 && margins[2] == 2 && margins[1] == 1 && margins[0] == 0);
	cr_assert(rm_margins_parse("small", margins, NULL) == 0);
	cr_expect(margins[3] == 1 && margins[0] == 0 && margins[2] > 0.66f && margins[2] < 0.67f);
	cr_expect(rm_margins_parse("1,2,3", margins, NULL) == SP_EUSAGE);
	train_data d;
	sp_err err = SP_ERR_INIT;
	size_t n, skipped;
	cr_assert(data_rm_open(&d, path, tok, 64, 1, "safety", margins, &n, &skipped, &err) == 0, "%s", err.msg);
	cr_expect(n == 1 && skipped == 2, "category filter and unsafe-chosen rule: %zu pairs, %zu skipped", n, skipped);
	train_batch b = TRAIN_BATCH_INIT;
	cr_assert(train_batch_alloc(&b, 2, 64, NULL) == 0);
	int filled;
	cr_assert(data_rm_next_sequential(&d, &b, &filled) == 0);
	cr_assert_eq(filled, 1);
	cr_expect_float_eq(b.margin[0], 2.0f / 3, 1e-6, "'better' has the small set's margin 2/3");
	for (int r = 0; r < 2; r++) {
		cr_expect_eq(b.inputs[r * 64 + b.last[r]], tok_eos_id(tok), "row %d is scored at its EOS", r);
		char *txt = decode(tok, b.inputs + r * 64, b.last[r] + 1);
		cr_expect(strstr(txt, r ? "Bad" : "Good answer") != NULL, "row %d: '%s'", r, txt);
		free(txt);
	}
	train_batch_release(&b);
	d.free(d.ctx);
	tok_model_free(tok);
	unlink(path);
}

Test(data, malformed_exports_name_file_and_line)
{
	tok_model *tok = load_tok();
	if (!tok)
		cr_skip_test("no " TOK);
	write_file("{\"id\":\"sft-1\",\"dialog\":[{\"role\":\"user\",\"content\":\"a\"}],\"response\":\"b\"}\n"
	           "{\"id\":\"sft-2\",\"dialog\":[{\"role\":\"assistant\",\"content\":\"a\"}],\"response\":\"b\"}\n");
	train_data d;
	sp_err err = SP_ERR_INIT;
	cr_expect(data_sft_open(&d, path, tok, 64, 1, NULL, &err) == SP_EDATA);
	cr_expect_eq(err.line, 2);
	cr_expect(strstr(err.msg, "expected 'user'") != NULL, "%s", err.msg);
	tok_model_free(tok);
	unlink(path);
}

/* ------------------------------------------------------------------ train_expf against libm */
#include <math.h>
#include "../../train/vexp.h"

Test(vexp, matches_libm_expf_within_a_few_ulps)
{
	double worst = 0;
	float worst_x = 0;
	/* every 97th float bit pattern in [-87, 88] (both signs), plus 0 and the ends */
	for (uint32_t u = 0; u < 0x42B00000u; u += 97) {
		for (int sign = 0; sign < 2; sign++) {
			uint32_t b = u | (sign ? 0x80000000u : 0);
			float x;
			memcpy(&x, &b, sizeof x);
			if (x < -87.0f || x > 88.0f)
				continue;
			double want = exp((double)x), got = train_expf(x);
			double rel = fabs(got - want) / want;
			if (rel > worst) {
				worst = rel;
				worst_x = x;
			}
		}
	}
	cr_assert_lt(worst, 4 * 1.1920929e-07, "worst relative error %g at x = %.9g", worst, (double)worst_x);
	cr_assert_eq(train_expf(0.0f), 1.0f);
	cr_assert(train_expf(-INFINITY) >= 0.0f && train_expf(-INFINITY) < 1e-37f, "-inf clamps to ~0");
	cr_assert(isfinite(train_expf(1000.0f)), "no overflow to inf");
}

/* ------------------------------------------------------------------ the BLAS the trainer links */
#include <cblas.h>

Test(blas, openblas_is_safe_to_call_from_the_trainers_threads)
{
	/* The trainer calls sgemm from several OpenMP threads at once. OpenBLAS's single-threaded
	 * ("serial") build keeps unlocked shared buffers: linked once, it changed eval losses now and
	 * then under load. 0 = that build; 1 = pthreads (what train/module.mk links); 2 = OpenMP. */
	cr_assert_neq(openblas_get_parallel(), 0, "the sequential OpenBLAS is not safe for concurrent calls");
}
