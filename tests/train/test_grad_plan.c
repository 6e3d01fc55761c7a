/* test_grad_plan.c - the gradient buckets of data-parallel training (train/grad_plan.c, issue 18):
 * every float of the arena in exactly one bucket, buckets of consecutive stages at least the cap,
 * and, against the real backward (model.c's grad_ready calls), a bucket's floats never change
 * after the stage the plan says they are final at: exchanging them from then on is safe. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../../train/grad_plan.h"
#include "../../train/model.h"
#include "../../train/rng.h"

enum { B = 2, T = 7 };

static model_config cfg_of(int layers, int reward)
{
	model_config c = { .dim = 32, .n_layers = layers, .n_heads = 4, .n_kv_heads = 2, .hidden_dim = 40,
	                   .vocab_size = 53, .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
	                   .reward_head = reward };
	return c;
}

static void check_plan(const model_config *c, size_t cap)
{
	model_tensor_info ti[P_COUNT];
	model_tensor_infos(c, ti);
	grad_plan p;
	sp_err err = { 0 };
	cr_assert_eq(grad_plan_init(&p, ti, c->n_layers, cap, &err), 0, "%s", err.msg);
	cr_assert_eq(p.n_stages, c->n_layers + 2);
	unsigned char *seen = calloc(p.n_params, 1);
	int next_stage = 0;
	for (int i = 0; i < p.n_buckets; i++) {
		const grad_bucket *b = &p.buckets[i];
		cr_assert_eq(b->first_stage, next_stage, "bucket %d starts at stage %d", i, b->first_stage);
		cr_assert_geq(b->last_stage, b->first_stage);
		next_stage = b->last_stage + 1;
		size_t floats = 0;
		for (int s = b->seg_lo; s < b->seg_lo + b->n_segs; s++) {
			const grad_seg *g = &p.segs[s];
			cr_assert_gt(g->n, 0);
			cr_assert_leq(g->off + g->n, p.n_params);
			if (s > b->seg_lo)
				cr_assert_gt(g->off, p.segs[s - 1].off + p.segs[s - 1].n, "segments ascend and do not touch");
			for (size_t k = g->off; k < g->off + g->n; k++)
				seen[k]++;
			floats += g->n;
		}
		cr_assert_eq(floats, b->floats, "bucket %d", i);
		if (i + 1 < p.n_buckets)
			cr_assert_geq(b->floats, cap, "bucket %d closed below the cap", i);
		int lo, n = grad_plan_ready(&p, b->last_stage, &lo);
		cr_assert(n == 1 && lo == i);
	}
	cr_assert_eq(next_stage, p.n_stages, "the buckets cover every stage");
	for (size_t k = 0; k < p.n_params; k++)
		cr_assert_eq(seen[k], 1, "float %zu is in %d buckets (cap %zu)", k, seen[k], cap);
	if (cap <= 1)
		cr_assert_eq(p.n_buckets, p.n_stages, "a bucket per stage");
	if (cap == SIZE_MAX)
		cr_assert(p.n_buckets == 1 && p.n_segs == 1, "one bucket, the whole arena");
	free(seen);
	grad_plan_release(&p);
}

Test(grad_plan, every_float_in_one_bucket_for_any_cap)
{
	size_t caps[] = { 0, 1, 100, 5000, 20000, 60000, SIZE_MAX };
	for (int layers = 1; layers <= 5; layers += 2)
		for (int reward = 0; reward <= 1; reward++)
			for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
				model_config c = cfg_of(layers, reward);
				check_plan(&c, caps[i]);
			}
}

/* the backward's stages, checked: at each grad_ready call, snapshot the arena */
typedef struct probe {
	const model *m;
	float *snap;            /* n_stages snapshots */
	int calls, last, progress;
} probe;

static void on_ready(void *ctx, int stage)
{
	probe *pr = ctx;
	if (stage == -1) { /* (progress only) */
		pr->progress++;
		return;
	}
	cr_assert_eq(stage, pr->last + 1, "stages come in order (got %d after %d)", stage, pr->last);
	pr->last = stage;
	memcpy(pr->snap + (size_t)stage * pr->m->n_params, pr->m->grads, pr->m->n_params * sizeof(float));
	pr->calls++;
}

static void backward_stages(int reward)
{
	model_config c = cfg_of(3, reward);
	model m;
	sp_err err = { 0 };
	cr_assert_eq(model_init(&m, &c, B, T, &err), 0, "%s", err.msg);
	model_init_weights(&m, 7);
	int32_t in[B * T], tg[B * T], pos[B * T], last[B] = { T - 1, T - 3 };
	train_rng r;
	rng_seed(&r, 11);
	for (int i = 0; i < B * T; i++) {
		in[i] = (int32_t)(rng_u64(&r) % 53);
		tg[i] = (int32_t)(rng_u64(&r) % 53);
		pos[i] = i % T;
	}
	model_batch b = { B, T, in, tg, pos, NULL, last };
	/* grads start from a pattern, as the second micro-batch of an accumulated step would */
	for (size_t k = 0; k < m.n_params; k++)
		m.grads[k] = (float)(k % 7) * 0.25f;
	int S = grad_plan_stages(c.n_layers);
	probe pr = { &m, calloc((size_t)S * m.n_params, sizeof(float)), 0, -1, 0 };
	m.grad_ready = on_ready;
	m.grad_ready_ctx = &pr;
	float d_rewards[B] = { 0.5f, -0.25f };
	float loss;
	size_t n;
	model_forward(&m, &b, &loss, &n);
	model_backward(&m, &b, reward ? 0 : 1.0f / (float)n, reward ? d_rewards : NULL);
	cr_assert_eq(pr.calls, S);
	cr_assert_eq(pr.progress, 6 * c.n_layers, "progress calls between each layer's products");
	model_tensor_info ti[P_COUNT];
	model_tensor_infos(&c, ti);
	grad_plan p;
	cr_assert_eq(grad_plan_init(&p, ti, c.n_layers, 0, &err), 0);
	size_t changed_later = 0, moved = 0;
	for (int i = 0; i < p.n_buckets; i++) {
		const grad_bucket *bk = &p.buckets[i];
		const float *at = pr.snap + (size_t)bk->last_stage * m.n_params;
		for (int s = bk->seg_lo; s < bk->seg_lo + bk->n_segs; s++)
			for (size_t k = p.segs[s].off; k < p.segs[s].off + p.segs[s].n; k++) {
				changed_later += memcmp(&at[k], &m.grads[k], sizeof(float)) != 0;
				/* and the backward did write it by then (not a bucket of untouched floats) */
				moved += at[k] != (float)(k % 7) * 0.25f;
			}
	}
	cr_assert_eq(changed_later, 0, "%zu floats changed after the stage the plan calls them final at", changed_later);
	cr_assert_gt(moved, m.n_params / 2, "the backward wrote the buckets before their stage: %zu of %zu", moved,
	             m.n_params);
	/* and a stage's floats are not final before it: the previous snapshot differs somewhere */
	for (int i = 1; i < p.n_buckets; i++) {
		const grad_bucket *bk = &p.buckets[i];
		const float *before = pr.snap + (size_t)(bk->first_stage - 1) * m.n_params;
		size_t diff = 0;
		for (int s = bk->seg_lo; s < bk->seg_lo + bk->n_segs; s++)
			for (size_t k = p.segs[s].off; k < p.segs[s].off + p.segs[s].n; k++)
				diff += before[k] != m.grads[k];
		cr_assert_gt(diff, 0, "bucket %d (stage %d) was already final a stage earlier", i, bk->first_stage);
	}
	grad_plan_release(&p);
	free(pr.snap);
	model_release(&m);
}

Test(grad_plan, the_backward_finishes_each_bucket_at_its_stage_lm) { backward_stages(0); }
Test(grad_plan, the_backward_finishes_each_bucket_at_its_stage_reward) { backward_stages(1); }
