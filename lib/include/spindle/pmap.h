/* pmap.h - ordered parallel map over batches: N worker threads, output in input order.
 *
 * The caller's producer fills batches (in one thread, in order); workers transform each batch into
 * output bytes; the consumer receives outputs strictly in batch order. With threads <= 1 everything
 * runs inline in the calling thread. This is how tools offer --threads N with ordered output. */
#ifndef SPINDLE_PMAP_H
#define SPINDLE_PMAP_H

#include <stddef.h>
#include "spindle/err.h"
#include "spindle/buf.h"

/* Fills batch (opaque caller object) with the next items. Returns 1 if it produced a batch, 0 at the
 * end, negative on error (err filled). Runs in the calling thread. */
typedef int (*sp_pmap_produce_fn)(void *ctx, void *batch, sp_err *err);
/* Transforms batch into out (emptied before each call). Runs in a worker; worker is 0..threads-1.
 * Returns 0 or negative (err filled); an error stops the map. */
typedef int (*sp_pmap_work_fn)(void *ctx, int worker, void *batch, sp_buf *out, sp_err *err);
/* Receives each batch's output in order (calling thread). Returns 0 or negative. */
typedef int (*sp_pmap_consume_fn)(void *ctx, void *batch, const sp_buf *out, sp_err *err);

typedef struct sp_pmap_spec {
	int threads;
	size_t n_slots;                 /* batches in flight; 0 = 2 * threads + 2 */
	void *(*batch_new)(void *ctx);  /* allocates one batch object */
	void (*batch_free)(void *ctx, void *batch);
	sp_pmap_produce_fn produce;
	sp_pmap_work_fn work;
	sp_pmap_consume_fn consume;
	void *ctx;
} sp_pmap_spec;

/* Runs to the end or the first error, which it returns (the first error in input order). */
int sp_pmap_run(const sp_pmap_spec *spec, sp_err *err);

#endif
