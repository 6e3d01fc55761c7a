/* data_dist.c - a data source split between data-parallel ranks (issue 18; see data.h): every rank
 * walks the single-process stream, trains on its own micro-batches of each step and skips the
 * others'. So the ranks' rows are disjoint, each step's rows are exactly a single process's rows
 * for the same global batch (the epoch's length need not divide by the ranks), and at every step
 * boundary all ranks hold the same cursor, which a checkpoint stores and any world size resumes. */
#include <string.h>
#include "data.h"
#include "spindle/mem.h"

typedef struct dist_src {
	train_data inner;
	int rank, world, accum, k;  /* k: micro-batches of this step read so far */
	train_batch skip;           /* scratch the skipped micro-batches are read into */
} dist_src;

static int skip_batches(dist_src *s, const train_batch *like, int n, sp_err *err)
{
	if (n <= 0)
		return 0;
	if (s->skip.B != like->B || s->skip.T != like->T)
		SP_FORWARD(train_batch_alloc(&s->skip, like->B, like->T, err));
	for (int i = 0; i < n; i++)
		SP_FORWARD(s->inner.next(s->inner.ctx, &s->skip, err));
	return 0;
}

static int dist_next(void *ctx, train_batch *b, sp_err *err)
{
	dist_src *s = ctx;
	if (s->k == 0)  /* the lower ranks' micro-batches of this step */
		SP_FORWARD(skip_batches(s, b, s->rank * s->accum, err));
	SP_FORWARD(s->inner.next(s->inner.ctx, b, err));
	if (++s->k == s->accum) {  /* the higher ranks': the step ends at the same place on every rank */
		s->k = 0;
		SP_FORWARD(skip_batches(s, b, (s->world - 1 - s->rank) * s->accum, err));
	}
	return 0;
}

static int dist_tell(void *ctx, sp_buf *out)
{
	dist_src *s = ctx;
	return s->inner.tell(s->inner.ctx, out);
}

static int dist_seek(void *ctx, const char *cursor, sp_err *err)
{
	dist_src *s = ctx;
	s->k = 0;
	return s->inner.seek(s->inner.ctx, cursor, err);
}

static void dist_free(void *ctx)
{
	dist_src *s = ctx;
	if (!s)
		return;
	if (s->inner.free)
		s->inner.free(s->inner.ctx);
	train_batch_release(&s->skip);
	sp_free(s);
}

int data_dist_wrap(train_data *d, int rank, int world, int accum, sp_err *err)
{
	if (world < 1 || rank < 0 || rank >= world || accum < 1)
		SP_RAISE(err, SP_EUSAGE, "rank %d of %d ranks (%d micro-batches each) is not a data-parallel layout", rank,
		         world, accum);
	dist_src *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	s->inner = *d;
	s->rank = rank;
	s->world = world;
	s->accum = accum;
	d->ctx = s;
	d->next = dist_next;
	d->tell = dist_tell;
	d->seek = dist_seek;
	d->free = dist_free;
	return 0;
}
