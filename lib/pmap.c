/* pmap.c - ordered parallel map (see spindle/pmap.h).
 *
 * A ring of n_slots batches. The calling thread produces into free slots and consumes finished
 * slots in sequence order; workers take produced slots in sequence order and run work() on them.
 * One mutex and three condition variables; batches are large, so the lock is cold. */
#include <pthread.h>
#include <string.h>
#include "spindle/pmap.h"
#include "spindle/mem.h"

enum { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

typedef struct slot {
	void *batch;
	sp_buf out;
	int state, rc;
	sp_err err;
	unsigned long seq;
} slot;

typedef struct pool {
	const sp_pmap_spec *spec;
	slot *slots;
	size_t n;
	unsigned long next_work; /* next sequence number a worker takes */
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t ready, done;
} pool;

typedef struct worker_arg { pool *p; int id; } worker_arg;

static void *worker(void *v)
{
	worker_arg *wa = v;
	pool *p = wa->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		slot *s = &p->slots[p->next_work % p->n];
		while (!p->stop && !(s->state == SLOT_READY && s->seq == p->next_work)) {
			pthread_cond_wait(&p->ready, &p->mu);
			s = &p->slots[p->next_work % p->n];
		}
		if (p->stop)
			break;
		s->state = SLOT_BUSY;
		p->next_work++;
		pthread_mutex_unlock(&p->mu);
		sp_buf_reset(&s->out);
		memset(&s->err, 0, sizeof s->err);
		int rc = p->spec->work(p->spec->ctx, wa->id, s->batch, &s->out, &s->err);
		pthread_mutex_lock(&p->mu);
		s->rc = rc;
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int run_inline(const sp_pmap_spec *sp, sp_err *err)
{
	void *b = sp->batch_new(sp->ctx);
	if (!b)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	sp_buf out = SP_BUF_INIT;
	int rc;
	while ((rc = sp->produce(sp->ctx, b, err)) > 0) {
		sp_buf_reset(&out);
		rc = sp->work(sp->ctx, 0, b, &out, err);
		if (rc < 0)
			break;
		rc = sp->consume(sp->ctx, b, &out, err);
		if (rc < 0)
			break;
	}
	sp_buf_release(&out);
	sp->batch_free(sp->ctx, b);
	return rc < 0 ? rc : 0;
}

int sp_pmap_run(const sp_pmap_spec *sp, sp_err *err)
{
	if (sp->threads <= 1)
		return run_inline(sp, err);
	pool p;
	memset(&p, 0, sizeof p);
	p.spec = sp;
	p.n = sp->n_slots ? sp->n_slots : (size_t)(2 * sp->threads + 2);
	p.slots = sp_calloc(p.n, sizeof *p.slots);
	pthread_t *th = sp_calloc((size_t)sp->threads, sizeof *th);
	worker_arg *wa = sp_calloc((size_t)sp->threads, sizeof *wa);
	int rc = 0, started = 0;
	if (!p.slots || !th || !wa) {
		rc = SP_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p.n; i++) {
		p.slots[i].batch = sp->batch_new(sp->ctx);
		if (!p.slots[i].batch) {
			rc = SP_ENOMEM;
			goto out;
		}
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.ready, NULL);
	pthread_cond_init(&p.done, NULL);
	for (; started < sp->threads; started++) {
		wa[started].p = &p;
		wa[started].id = started;
		if (pthread_create(&th[started], NULL, worker, &wa[started])) {
			rc = SP_EINTERNAL;
			sp_err_set_(err, rc, __FILE__, __LINE__, "cannot start worker thread");
			break;
		}
	}
	unsigned long next_prod = 0, next_cons = 0;
	int eof = 0;
	while (rc == 0 && (!eof || next_cons < next_prod)) {
		/* produce while a slot is free */
		if (!eof && next_prod - next_cons < p.n) {
			slot *s = &p.slots[next_prod % p.n];
			int r = sp->produce(sp->ctx, s->batch, err);
			if (r < 0) {
				rc = r;
				break;
			}
			if (r == 0) {
				eof = 1;
				continue;
			}
			pthread_mutex_lock(&p.mu);
			s->seq = next_prod++;
			s->state = SLOT_READY;
			pthread_cond_broadcast(&p.ready);
			pthread_mutex_unlock(&p.mu);
			continue;
		}
		/* consume the oldest batch */
		slot *s = &p.slots[next_cons % p.n];
		pthread_mutex_lock(&p.mu);
		while (s->state != SLOT_DONE)
			pthread_cond_wait(&p.done, &p.mu);
		pthread_mutex_unlock(&p.mu);
		if (s->rc < 0) {
			rc = s->rc;
			if (err)
				*err = s->err;
			break;
		}
		rc = sp->consume(sp->ctx, s->batch, &s->out, err);
		pthread_mutex_lock(&p.mu);
		s->state = SLOT_FREE;
		pthread_mutex_unlock(&p.mu);
		next_cons++;
	}
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.ready);
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.ready);
	pthread_cond_destroy(&p.done);
out:
	if (rc == SP_ENOMEM)
		sp_err_set_(err, rc, __FILE__, __LINE__, "out of memory");
	if (p.slots)
		for (size_t i = 0; i < p.n; i++) {
			if (p.slots[i].batch)
				sp->batch_free(sp->ctx, p.slots[i].batch);
			sp_buf_release(&p.slots[i].out);
		}
	sp_free(p.slots);
	sp_free(th);
	sp_free(wa);
	return rc;
}
