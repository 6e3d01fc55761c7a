/* test_data_dist.c - the data-parallel split of a stream (data_dist_wrap, issue 18) without MPI:
 * for W ranks of A micro-batches, the ranks' rows are disjoint, together they are exactly one
 * process's rows step by step, and after every step each rank's cursor is that process's. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "../../train/data.h"

/* the synthetic stream's cursor is {"row":N}: the rows read so far */
static long cursor_row(train_data *d)
{
	sp_buf b = SP_BUF_INIT;
	d->tell(d->ctx, &b);
	const char *p = strstr(b.p, "\"row\":");
	cr_assert(p, "%s", b.p);
	long r = atol(p + 6);
	sp_buf_release(&b);
	return r;
}

/* the first input token of each row identifies it (rows are functions of (seed, row)) */
static void row_ids(const train_batch *b, int32_t *out)
{
	for (int r = 0; r < b->B; r++)
		memcpy(&out[r * 4], &b->inputs[(size_t)r * b->T], 4 * sizeof(int32_t));
}

Test(data_dist, ranks_read_disjoint_rows_that_make_one_process_steps)
{
	enum { B = 3, T = 8, STEPS = 5 };
	for (int W = 1; W <= 3; W++) {
		for (int A = 1; A <= 2; A++) {
			train_data one, r[3];
			cr_assert(data_synth_open(&one, 50, T, 7, NULL) == 0);
			train_batch b1 = TRAIN_BATCH_INIT, b2 = TRAIN_BATCH_INIT;
			cr_assert(train_batch_alloc(&b1, B, T, NULL) == 0 && train_batch_alloc(&b2, B, T, NULL) == 0);
			for (int k = 0; k < W; k++) {
				cr_assert(data_synth_open(&r[k], 50, T, 7, NULL) == 0);
				cr_assert(data_dist_wrap(&r[k], k, W, A, NULL) == 0);
			}
			int32_t want[B * 4], got[B * 4];
			for (int s = 0; s < STEPS; s++) {
				/* one process: W x A micro-batches; rank k: numbers k*A .. k*A+A-1 of them */
				for (int k = 0; k < W; k++)
					for (int a = 0; a < A; a++) {
						cr_assert(one.next(one.ctx, &b1, NULL) == 0);
						cr_assert(r[k].next(r[k].ctx, &b2, NULL) == 0);
						row_ids(&b1, want);
						row_ids(&b2, got);
						cr_assert(!memcmp(want, got, sizeof want), "W %d A %d step %d rank %d micro-batch %d", W, A, s, k, a);
						cr_assert_str_eq(b1.provenance.p, b2.provenance.p);
					}
				for (int k = 0; k < W; k++)
					cr_assert_eq(cursor_row(&r[k]), cursor_row(&one), "W %d A %d step %d: rank %d's cursor", W, A, s, k);
			}
			/* a checkpoint's cursor resumes on any rank (and any world size) */
			sp_buf c = SP_BUF_INIT;
			one.tell(one.ctx, &c);
			for (int k = 0; k < W; k++) {
				cr_assert(r[k].seek(r[k].ctx, c.p, NULL) == 0);
				cr_assert_eq(cursor_row(&r[k]), cursor_row(&one));
				r[k].free(r[k].ctx);
			}
			sp_buf_release(&c);
			one.free(one.ctx);
			train_batch_release(&b1);
			train_batch_release(&b2);
		}
	}
}

Test(data_dist, impossible_layouts_are_refused)
{
	train_data d;
	sp_err e = SP_ERR_INIT;
	cr_assert(data_synth_open(&d, 50, 8, 7, NULL) == 0);
	cr_assert(data_dist_wrap(&d, 2, 2, 1, &e) == SP_EUSAGE);
	cr_assert(data_dist_wrap(&d, 0, 2, 0, &e) == SP_EUSAGE);
	d.free(d.ctx);
}

/* a pair source that numbers its pairs 0, 1, 2, ... in item (as data_dpo.c gives file indices) */
static int count_next(void *ctx, train_batch *b, sp_err *err)
{
	(void)err;
	uint32_t *n = ctx;
	for (int k = 0; k < b->B / 2; k++)
		b->item[k] = (*n)++;
	return 0;
}
static int count_tell(void *ctx, sp_buf *out) { return sp_buf_appendf(out, "{\"row\":%u}", *(uint32_t *)ctx); }

Test(data_dist, each_rank_batch_keeps_its_own_items_after_the_higher_ranks_are_skipped)
{
	/* the trainer's DPO hook looks a batch's pairs up after the wrapper has read the higher ranks'
	 * micro-batches of the step: those must not leak into this rank's batch */
	enum { B = 4, T = 2, W = 3, A = 2 };
	uint32_t n[W] = { 0 };
	train_data r[W];
	train_batch b = TRAIN_BATCH_INIT;
	cr_assert(train_batch_alloc(&b, B, T, NULL) == 0);
	for (int k = 0; k < W; k++) {
		memset(&r[k], 0, sizeof r[k]);
		r[k].ctx = &n[k];
		r[k].next = count_next;
		r[k].tell = count_tell;
		r[k].seq_len = T;
		cr_assert(data_dist_wrap(&r[k], k, W, A, NULL) == 0);
	}
	for (int s = 0; s < 3; s++)
		for (int k = 0; k < W; k++)
			for (int a = 0; a < A; a++) {
				cr_assert(r[k].next(r[k].ctx, &b, NULL) == 0);
				uint32_t first = (uint32_t)(((s * W + k) * A + a) * (B / 2));  /* one process's numbering */
				for (int p = 0; p < B / 2; p++)
					cr_assert_eq(b.item[p], first + (uint32_t)p, "step %d rank %d micro-batch %d pair %d", s, k, a, p);
			}
	for (int k = 0; k < W; k++)
		r[k].free(r[k].ctx);  /* (the inner source has no free: only the wrapper's) */
	train_batch_release(&b);
}
