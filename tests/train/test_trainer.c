/* test_trainer.c - the training loop: a resumed run equals the uninterrupted run bit for bit,
 * checkpoints read back identical, hostile safetensors are rejected, the schedule and weight-decay
 * rules are Llama 2's. Synthetic data (train/data_synth.c), tiny GQA model. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../train/ckpt.h"
#include "../../train/safetensors.h"
#include "../../train/trainer.h"

static model_config tiny(void)
{
	model_config c = { .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .hidden_dim = 40,
	                   .vocab_size = 61, .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f };
	return c;
}

static char dir[64];
static void mk(void) { snprintf(dir, sizeof dir, "/tmp/spindle-trainer-XXXXXX"); cr_assert(mkdtemp(dir)); }
static void rm(void) { char c[128]; snprintf(c, sizeof c, "rm -rf %s", dir); (void)!system(c); }

static void start(trainer *t, train_data *d, long steps)
{
	train_opts o;
	train_opts_default(&o);
	o.steps = steps;
	o.batch = 3;
	o.accum = 2;
	o.lr = 1e-2f;
	o.warmup = 2;
	model_config c = tiny();
	cr_assert(data_synth_open(d, 61, 12, 5, NULL) == 0);
	cr_assert(trainer_init(t, &o, &c, d, NULL, NULL) == 0);
}

Test(trainer, resumed_run_equals_uninterrupted_run_bit_for_bit, .init = mk, .fini = rm)
{
	enum { STEPS = 8, CUT = 3 };
	trainer a, b;
	train_data da, db;
	float la[STEPS], lb[STEPS];
	start(&a, &da, STEPS);
	for (int s = 0; s < STEPS; s++) {
		cr_assert(trainer_step(&a, NULL) == 0);
		la[s] = a.last_loss;
	}
	start(&b, &db, STEPS);
	for (int s = 0; s < CUT; s++) {
		cr_assert(trainer_step(&b, NULL) == 0);
		lb[s] = b.last_loss;
	}
	sp_err err = SP_ERR_INIT;
	cr_assert(trainer_save(&b, dir, &err) == 0, "%s", err.msg);
	trainer_release(&b);
	db.free(db.ctx);
	start(&b, &db, STEPS);
	cr_assert(trainer_resume(&b, dir, &err) == 0, "%s", err.msg);
	cr_assert_eq(b.step, CUT);
	for (int s = CUT; s < STEPS; s++) {
		cr_assert(trainer_step(&b, NULL) == 0);
		lb[s] = b.last_loss;
	}
	cr_expect(memcmp(la, lb, sizeof la) == 0, "losses differ after resuming");
	cr_expect(memcmp(a.m.params, b.m.params, a.m.n_params * sizeof(float)) == 0, "parameters differ");
	cr_expect(memcmp(a.opt.v, b.opt.v, a.m.n_params * sizeof(float)) == 0, "optimizer moments differ");
	cr_expect(la[STEPS - 1] < la[0], "loss should fall: %g -> %g", la[0], la[STEPS - 1]);
	trainer_release(&a);
	trainer_release(&b);
	da.free(da.ctx);
	db.free(db.ctx);
}

Test(trainer, checkpoint_written_and_read_back_is_identical, .init = mk, .fini = rm)
{
	model m, m2;
	model_config c = tiny();
	cr_assert(model_init(&m, &c, 1, 4, NULL) == 0);
	model_init_weights(&m, 42);
	sp_err err = SP_ERR_INIT;
	char d1[128], d2[128], cmd[1024];
	snprintf(d1, sizeof d1, "%s/a", dir);
	snprintf(d2, sizeof d2, "%s/b", dir);
	cr_assert(ckpt_save_model(d1, &m, 0x1234abcdull, 1, 2, &err) == 0, "%s", err.msg);
	model_config c2;
	uint64_t tid;
	cr_assert(ckpt_read_config(d1, &c2, &tid, &err) == 0, "%s", err.msg);
	cr_assert(memcmp(&c, &c2, sizeof c) == 0, "config.json did not round-trip");
	cr_assert_eq(tid, 0x1234abcdull);
	cr_assert(model_init(&m2, &c2, 1, 4, NULL) == 0);
	cr_assert(ckpt_load_model(d1, &m2, 0, NULL, &err) == 0, "%s", err.msg);
	cr_expect(memcmp(m.params, m2.params, m.n_params * sizeof(float)) == 0);
	cr_assert(ckpt_save_model(d2, &m2, 0x1234abcdull, 1, 2, &err) == 0);
	snprintf(cmd, sizeof cmd, "cmp -s %s/model.safetensors %s/model.safetensors && cmp -s %s/config.json %s/config.json", d1, d2, d1, d2);
	cr_expect(system(cmd) == 0, "re-saved checkpoint differs");
	model_release(&m);
	model_release(&m2);
}

static int parse(const char *bytes, size_t n, sp_err *err)
{
	st_file f = ST_FILE_INIT;
	int rc = st_parse(&f, (const uint8_t *)bytes, n, "x.safetensors", err);
	st_release(&f);
	return rc;
}

static size_t mk_file(char *buf, const char *hdr, size_t n_data)
{
	size_t h = strlen(hdr);
	for (int i = 0; i < 8; i++)
		buf[i] = (char)((uint64_t)h >> (8 * i));
	memcpy(buf + 8, hdr, h);
	memset(buf + 8 + h, 0, n_data);
	return 8 + h + n_data;
}

Test(safetensors, truncated_or_malicious_headers_are_rejected_with_a_clear_error)
{
	char buf[1024];
	sp_err err = SP_ERR_INIT;
	size_t n = mk_file(buf, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
	cr_assert(parse(buf, n, &err) == 0, "%s", err.msg);
	cr_expect(parse(buf, n - 1, &err) == SP_EDATA && strstr(err.msg, "truncated"), "%s", err.msg);
	cr_expect(parse(buf, 5, &err) == SP_EDATA && strstr(err.msg, "truncated"), "%s", err.msg);
	/* header length larger than the file */
	memcpy(buf, "\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
	cr_expect(parse(buf, n, &err) == SP_EDATA && strstr(err.msg, "does not fit"), "%s", err.msg);
	const char *bad[] = {
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,17]}}",            /* past the end */
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,16]}}",            /* shape/bytes */
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,16]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,0]}}",
		"{\"a\":{\"dtype\":\"X99\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}",             /* truncated JSON */
		"[1,2,3]",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}xx",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = mk_file(buf, bad[i], 16);
		err.msg[0] = 0;
		cr_expect(parse(buf, n, &err) == SP_EDATA, "accepted: %s", bad[i]);
		cr_expect(strstr(err.msg, "x.safetensors") != NULL, "message does not name the file: %s", err.msg);
	}
}

Test(adamw, schedule_warms_up_then_decays_to_a_tenth)
{
	cr_expect_float_eq(lr_schedule(0, 10, 100, 1.0f, 0.1f), 0.1f, 1e-6);
	cr_expect_float_eq(lr_schedule(9, 10, 100, 1.0f, 0.1f), 1.0f, 1e-6);
	cr_expect_float_eq(lr_schedule(10, 10, 100, 1.0f, 0.1f), 1.0f, 1e-6);
	cr_expect_float_eq(lr_schedule(55, 10, 100, 1.0f, 0.1f), 0.55f, 1e-5);
	cr_expect_float_eq(lr_schedule(100, 10, 100, 1.0f, 0.1f), 0.1f, 1e-6);
	cr_expect_float_eq(lr_schedule(500, 10, 100, 1.0f, 0.1f), 0.1f, 1e-6);
}

Test(adamw, weight_decay_spares_norms_and_clipping_caps_the_norm)
{
	model m;
	model_config c = tiny();
	cr_assert(model_init(&m, &c, 1, 4, NULL) == 0);
	model_init_weights(&m, 1);
	adamw_state s;
	cr_assert(adamw_init(&s, m.n_params, NULL) == 0);
	adamw_hparams hp = ADAMW_LLAMA2;
	model_zero_grad(&m);  /* zero gradients: only decay moves weights */
	float w0 = m.p[P_WQ][0], n0 = m.p[P_ATTN_NORM][0];
	adamw_update(&s, &m, 0.5f, &hp);
	cr_expect_float_eq(m.p[P_WQ][0], w0 * (1 - 0.5f * 0.1f), 1e-7);
	cr_expect_eq(m.p[P_ATTN_NORM][0], n0);
	for (size_t i = 0; i < m.n_params; i++)
		m.grads[i] = 1.0f;
	float norm = adamw_clip(m.grads, m.n_params, 1.0f);
	cr_expect_float_eq(norm, sqrtf((float)m.n_params), 1e-2);
	cr_expect_float_eq(adamw_clip(m.grads, m.n_params, 0), 1.0f, 1e-4);
	adamw_release(&s);
	model_release(&m);
}

/* A data source that, on one chosen call, serves a batch of uniformly
 * random tokens (the others follow an easy pattern): the loss jumps, as with the bad batches Llama 2 traced its spikes to. */
typedef struct spiky { train_data inner; int calls, bad_call; } spiky;

static int spiky_next(void *ctx, train_batch *b, sp_err *err)
{
	spiky *s = ctx;
	SP_FORWARD(s->inner.next(s->inner.ctx, b, err));
	for (int i = 0; i < b->B * b->T; i++) {  /* an easy pattern the model learns in a few steps */
		b->inputs[i] = (int32_t)(i % b->T % 5);
		b->targets[i] = (int32_t)((i % b->T + 1) % 5);
	}
	if (s->calls++ == s->bad_call) {
		for (int i = 0; i < b->B * b->T; i++) {
			b->inputs[i] = (int32_t)((i * 7919u + 13u) % 61u);
			b->targets[i] = (int32_t)((i * 104729u + 7u) % 61u);
		}
		sp_buf_reset(&b->provenance);
		sp_buf_appends(&b->provenance, "[{\"bad_batch\":true}]");
	}
	return 0;
}
static int spiky_tell(void *ctx, sp_buf *out) { spiky *s = ctx; return s->inner.tell(s->inner.ctx, out); }
static int spiky_seek(void *ctx, const char *c, sp_err *err) { spiky *s = ctx; return s->inner.seek(s->inner.ctx, c, err); }

static void run_spiky(int skip, char **log, size_t *log_len, int *params_moved_at_spike)
{
	spiky s = { .calls = 0, .bad_call = 60 };
	cr_assert(data_synth_open(&s.inner, 61, 12, 5, NULL) == 0);
	train_data d = s.inner;
	d.ctx = &s;
	d.next = spiky_next;
	d.tell = spiky_tell;
	d.seek = spiky_seek;
	train_opts o;
	train_opts_default(&o);
	o.steps = 62;
	o.batch = 4;
	o.lr = 1e-2f;
	o.spike_k = 4;
	o.skip_spikes = skip;
	model_config c = tiny();
	FILE *f = open_memstream(log, log_len);
	trainer t;
	cr_assert(trainer_init(&t, &o, &c, &d, f, NULL) == 0);
	float *before = malloc(t.m.n_params * sizeof(float));
	for (int step = 0; step < 62; step++) {
		if (step == 60)
			memcpy(before, t.m.params, t.m.n_params * sizeof(float));
		cr_assert(trainer_step(&t, NULL) == 0);
		if (step == 60)
			*params_moved_at_spike = memcmp(before, t.m.params, t.m.n_params * sizeof(float)) != 0;
	}
	fclose(f);
	free(before);
	trainer_release(&t);
	s.inner.free(s.inner.ctx);
}

Test(trainer, a_loss_spike_is_logged_with_its_batch_and_skipped_on_request)
{
	char *log = NULL;
	size_t n = 0;
	int moved;
	run_spiky(0, &log, &n, &moved);
	const char *ev = strstr(log, "{\"event\":\"spike\"");
	cr_assert(ev != NULL, "no spike event in the log");
	cr_expect(strstr(ev, "\"step\":61") == ev + strlen("{\"event\":\"spike\","), "the first spike is the bad batch's step: %.80s", ev);
	cr_expect(strstr(ev, "\"batch\":[{\"bad_batch\":true}]") != NULL, "the event names the batch: %.200s", ev);
	cr_expect(moved, "without --skip-spikes the update is applied");
	free(log);
	log = NULL;
	run_spiky(1, &log, &n, &moved);
	cr_assert(strstr(log, "\"skipped\":true") != NULL);
	cr_expect(!moved, "with --skip-spikes the spiking batch leaves the weights unchanged");
	free(log);
}
