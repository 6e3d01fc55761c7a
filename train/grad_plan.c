/* grad_plan.c - gradient buckets in backward order (see grad_plan.h). */
#include <stdint.h>
#include <string.h>
#include "grad_plan.h"
#include "spindle/mem.h"

/* the arena offset of each tensor kind (model.h: kinds in enum order, layers contiguous) */
static void offsets(const model_tensor_info ti[P_COUNT], size_t off[P_COUNT])
{
	size_t at = 0;
	for (int i = 0; i < P_COUNT; i++) {
		off[i] = at;
		at += ti[i].size;
	}
}

/* The stage's share of the arena as (kind, first layer, layers): stage 0 the head and final norm,
 * stage 1 + j layer L-1-j (every per-layer kind), stage L + 1 the embeddings. */
static int stage_kinds(int stage, int L, int kinds[P_COUNT])
{
	int n = 0;
	if (stage == 0) {
		kinds[n++] = P_FINAL_NORM;
		kinds[n++] = P_LM_HEAD;
		kinds[n++] = P_SCORE;
	} else if (stage == L + 1) {
		kinds[n++] = P_EMBED;
	} else {
		for (int i = 0; i < P_COUNT; i++)
			if (i != P_EMBED && i != P_FINAL_NORM && i != P_LM_HEAD && i != P_SCORE)
				kinds[n++] = i;
	}
	return n;
}

void grad_plan_release(grad_plan *p)
{
	sp_free(p->buckets);
	sp_free(p->segs);
	memset(p, 0, sizeof *p);
}

int grad_plan_init(grad_plan *p, const model_tensor_info ti[P_COUNT], int n_layers, size_t cap_floats, sp_err *err)
{
	memset(p, 0, sizeof *p);
	int L = n_layers, S = grad_plan_stages(L);
	size_t off[P_COUNT];
	offsets(ti, off);
	for (int i = 0; i < P_COUNT; i++) {
		p->n_params += ti[i].size;
		if (ti[i].per_layer && ti[i].size != ti[i].layer_size * (size_t)L)
			SP_RAISE(err, SP_EUSAGE, "grad_plan: tensor %d is not %d layers", i, L);
	}
	/* at most one bucket per stage, P_COUNT segments per bucket */
	p->buckets = sp_calloc((size_t)S, sizeof *p->buckets);
	p->segs = sp_calloc((size_t)S * P_COUNT, sizeof *p->segs);
	if (!p->buckets || !p->segs) {
		grad_plan_release(p);
		SP_RAISE(err, SP_ENOMEM, "out of memory for the gradient buckets");
	}
	int s = 0;
	while (s < S) {
		/* one bucket: stages s .. e, extended while it holds fewer than cap floats */
		grad_bucket *b = &p->buckets[p->n_buckets];
		b->first_stage = s;
		b->seg_lo = p->n_segs;
		int e = s;
		size_t floats = 0;
		for (;;) {
			int kinds[P_COUNT], nk = stage_kinds(e, L, kinds);
			for (int k = 0; k < nk; k++)
				floats += ti[kinds[k]].per_layer ? ti[kinds[k]].layer_size : ti[kinds[k]].size;
			if (floats >= cap_floats || e + 1 == S)
				break;
			/* the head, the layers and the embeddings are different kinds of stage: a bucket
			 * spanning them is still a set of contiguous runs, so they may share one */
			e++;
		}
		/* segments in arena order: for each kind, the run of what stages s..e finish */
		for (int kind = 0; kind < P_COUNT; kind++) {
			size_t lo = 0, n = 0;
			if (!ti[kind].size)
				continue;
			if (ti[kind].per_layer) {
				/* stages 1..L are layers L-1..0: stages [a, z] are layers [L - z, L - a] */
				int a = s > 1 ? s : 1, z = e < L ? e : L;
				if (a > z)
					continue;
				lo = off[kind] + (size_t)(L - z) * ti[kind].layer_size;
				n = (size_t)(z - a + 1) * ti[kind].layer_size;
			} else {
				int stage = kind == P_EMBED ? L + 1 : 0;
				if (stage < s || stage > e)
					continue;
				lo = off[kind];
				n = ti[kind].size;
			}
			grad_seg *g = &p->segs[p->n_segs];
			/* neighbours in the arena join (the final norm, LM head and score are adjacent) */
			if (p->n_segs > b->seg_lo && g[-1].off + g[-1].n == lo) {
				g[-1].n += n;
			} else {
				g->off = lo;
				g->n = n;
				p->n_segs++;
			}
		}
		b->last_stage = e;
		b->n_segs = p->n_segs - b->seg_lo;
		b->floats = floats;
		p->n_buckets++;
		s = e + 1;
	}
	p->n_stages = S;
	return 0;
}

int grad_plan_ready(const grad_plan *p, int stage, int *lo)
{
	int n = 0;
	*lo = 0;
	for (int i = 0; i < p->n_buckets; i++)
		if (p->buckets[i].last_stage == stage) {
			if (!n)
				*lo = i;
			n++;
		}
	return n;
}
