/* data_synth.c - a synthetic token stream for tests and benchmarks (no files needed): row r is
 * drawn from a generator seeded by (seed, r), a random phrase of 3-10 tokens repeated to fill the
 * row, so a model can learn to copy and the loss falls. The cursor is the row number. */
#include <json.h>
#include <stdlib.h>
#include "data.h"
#include "rng.h"
#include "spindle/mem.h"

typedef struct synth { uint32_t vocab; int T; uint64_t seed, row; } synth;

static int synth_next(void *ctx, train_batch *b, sp_err *err)
{
	(void)err;
	synth *s = ctx;
	int T = b->T;
	sp_buf_reset(&b->provenance);
	sp_buf_appendc(&b->provenance, '[');
	for (int r = 0; r < b->B; r++, s->row++) {
		train_rng g;
		rng_seed(&g, s->seed * 0x9E3779B97F4A7C15ull ^ s->row);
		uint32_t phrase[10];
		int len = 3 + (int)(rng_u64(&g) % 8);
		for (int i = 0; i < len; i++)
			phrase[i] = (uint32_t)(rng_u64(&g) % s->vocab);
		for (int t = 0; t <= T; t++) {
			int32_t tok = (int32_t)phrase[t % len];
			if (t < T) {
				b->inputs[r * T + t] = tok;
				b->pos[r * T + t] = t;
				b->seg[r * T + t] = 0;
			}
			if (t > 0)
				b->targets[r * T + t - 1] = tok;
		}
		b->last[r] = T - 1;
		sp_buf_appendf(&b->provenance, "%s{\"row\":%llu}", r ? "," : "", (unsigned long long)s->row);
	}
	sp_buf_appendc(&b->provenance, ']');
	return 0;
}

static int synth_tell(void *ctx, sp_buf *out)
{
	synth *s = ctx;
	return sp_buf_appendf(out, "{\"row\":%llu}", (unsigned long long)s->row);
}

static int synth_seek(void *ctx, const char *cursor, sp_err *err)
{
	synth *s = ctx;
	json_object *o = json_tokener_parse(cursor), *x;
	if (!o || !json_object_object_get_ex(o, "row", &x)) {
		json_object_put(o);
		SP_RAISE(err, SP_EDATA, "bad synthetic data cursor");
	}
	s->row = (uint64_t)json_object_get_int64(x);
	json_object_put(o);
	return 0;
}

int data_synth_open(train_data *d, uint32_t vocab, int T, uint64_t seed, sp_err *err)
{
	synth *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	s->vocab = vocab;
	s->T = T;
	s->seed = seed;
	d->ctx = s;
	d->next = synth_next;
	d->tell = synth_tell;
	d->seek = synth_seek;
	d->free = sp_free;
	d->vocab_size = vocab;
	d->tokenizer_id = 0;
	d->seq_len = T;
	return 0;
}
