/* data_shards.c - pretraining batches from packed shards (spindle/shards.h). A shard sequence of
 * L tokens is cut into the fewest equal rows of T+1 tokens (T <= the context) that overlap by one
 * (inputs t, targets t+1), so a model with a shorter context than the pack still sees every token;
 * rows go to the batch in the shard reader's order (seed, epoch, rank, world). Padding (loss_mask 0) is not a target. With doc_mask,
 * positions restart and attention stops at each document boundary the pack recorded. The cursor is
 * the reader's cursor before the current sequence plus the row within it. */
#include <json.h>
#include <string.h>
#include "data.h"
#include "spindle/mem.h"
#include "spindle/shards.h"

typedef struct shards_src {
	sp_shards *s;
	sp_shards_info info;
	sp_seq seq;
	sp_shards_cursor before;  /* cursor before seq was read */
	int have, row, rows, T, doc_mask;
} shards_src;

static int load_next(shards_src *s, sp_err *err)
{
	sp_shards_tell(s->s, &s->before);
	SP_FORWARD(sp_shards_next(s->s, &s->seq, err));
	s->have = 1;
	s->row = 0;
	return 0;
}

static int shards_next(void *ctx, train_batch *b, sp_err *err)
{
	shards_src *s = ctx;
	int T = b->T;
	sp_buf_reset(&b->provenance);
	sp_buf_appendc(&b->provenance, '[');
	b->use_seg = s->doc_mask;
	for (int r = 0; r < b->B; r++) {
		if (!s->have || s->row >= s->rows)
			SP_FORWARD(load_next(s, err));
		const sp_seq *q = &s->seq;
		uint32_t off = (uint32_t)s->row * (uint32_t)T;
		int32_t *in = b->inputs + (size_t)r * T, *tg = b->targets + (size_t)r * T;
		int32_t *pos = b->pos + (size_t)r * T, *seg = b->seg + (size_t)r * T;
		for (int t = 0; t < T; t++) {
			in[t] = (int32_t)q->tokens[off + t];
			tg[t] = q->loss_mask[off + t + 1] ? (int32_t)q->tokens[off + t + 1] : -1;
			pos[t] = t;
			seg[t] = -1;  /* padding: its own segment */
		}
		sp_buf_appendf(&b->provenance, "%s{\"shard\":%u,\"sequence\":%llu,\"row\":%d,\"docs\":[", r ? "," : "",
		               q->shard, (unsigned long long)q->index, s->row);
		int nd = 0;
		for (size_t d = 0; d < q->n_docs; d++) {
			uint32_t a = q->docs[d].start, e = a + q->docs[d].len;
			if (e <= off || a >= off + (uint32_t)T)
				continue;
			int lo = a > off ? (int)(a - off) : 0, hi = e < off + (uint32_t)T ? (int)(e - off) : T;
			for (int t = lo; t < hi; t++) {
				seg[t] = (int32_t)d;
				if (s->doc_mask)
					pos[t] = t - lo;
			}
			sp_buf_appends(&b->provenance, nd++ ? "," : "");
			const char *id = q->docs[d].doc_id ? q->docs[d].doc_id : "";
			sp_buf_appendf(&b->provenance, "{\"index\":%llu,\"id\":", (unsigned long long)q->docs[d].doc_index);
			sp_buf_append_json_str(&b->provenance, id, strlen(id));
			sp_buf_appendc(&b->provenance, '}');
		}
		sp_buf_appends(&b->provenance, "]}");
		b->last[r] = T - 1;
		s->row++;
	}
	sp_buf_appendc(&b->provenance, ']');
	return 0;
}

static int shards_tell(void *ctx, sp_buf *out)
{
	shards_src *s = ctx;
	sp_shards_cursor c;
	int row = 0;
	if (s->have && s->row < s->rows) {
		c = s->before;
		row = s->row;
	} else {
		sp_shards_tell(s->s, &c);
	}
	return sp_buf_appendf(out, "{\"seed\":%llu,\"epoch\":%llu,\"position\":%llu,\"rank\":%u,\"world_size\":%u,\"row\":%d}",
	                      (unsigned long long)c.seed, (unsigned long long)c.epoch, (unsigned long long)c.position,
	                      c.rank, c.world_size, row);
}

static int get_u64(json_object *o, const char *k, uint64_t *v)
{
	json_object *x;
	if (!json_object_object_get_ex(o, k, &x) || !json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0)
		return -1;
	*v = (uint64_t)json_object_get_int64(x);
	return 0;
}

static int shards_seek(void *ctx, const char *cursor, sp_err *err)
{
	shards_src *s = ctx;
	json_object *o = json_tokener_parse(cursor);
	uint64_t seed, epoch, position, rank, world, row;
	int bad = !o || get_u64(o, "seed", &seed) || get_u64(o, "epoch", &epoch) || get_u64(o, "position", &position) ||
	          get_u64(o, "rank", &rank) || get_u64(o, "world_size", &world) || get_u64(o, "row", &row);
	json_object_put(o);
	if (bad || world == 0 || rank >= world || row >= (uint64_t)s->rows)
		SP_RAISE(err, SP_EDATA, "bad shard cursor %.200s", cursor);
	sp_shards_cursor c = { seed, epoch, position, (uint32_t)rank, (uint32_t)world };
	SP_FORWARD(sp_shards_seek(s->s, &c, err));
	s->have = 0;
	if (row > 0) {
		SP_FORWARD(load_next(s, err));
		s->row = (int)row;
	}
	return 0;
}

static void shards_free(void *ctx)
{
	shards_src *s = ctx;
	if (!s)
		return;
	sp_seq_release(&s->seq);
	sp_shards_close(s->s);
	sp_free(s);
}

int data_shards_open(train_data *d, const char *dir, int max_T, int doc_mask, uint64_t seed, uint32_t rank,
                     uint32_t world, sp_err *err)
{
	shards_src *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	int rc = sp_shards_open(&s->s, dir, 4, err);
	if (rc < 0) {
		sp_free(s);
		return rc;
	}
	sp_shards_info_get(s->s, &s->info);
	if (s->info.seq_len < 2 || s->info.n_sequences == 0) {
		shards_free(s);
		SP_RAISE(err, SP_EDATA, "%s: no sequences to train on", dir);
	}
	/* the fewest rows that fit the context, all of equal length: a 256-token pack and a 128-token
	 * context give 2 rows of 127, not 1 row of 128 that wastes half the sequence */
	uint32_t usable = s->info.seq_len - 1, n_rows = (usable + (uint32_t)max_T - 1) / (uint32_t)max_T;
	s->T = (int)(usable / n_rows);
	s->rows = (int)n_rows;
	s->doc_mask = doc_mask;
	sp_shards_cursor c = { seed, 0, 0, rank, world };
	if ((rc = sp_shards_seek(s->s, &c, err)) < 0) {
		shards_free(s);
		return rc;
	}
	d->ctx = s;
	d->next = shards_next;
	d->tell = shards_tell;
	d->seek = shards_seek;
	d->free = shards_free;
	d->vocab_size = s->info.vocab_size;
	d->tokenizer_id = s->info.tokenizer_id;
	d->seq_len = s->T;
	d->rows_per_epoch = s->info.n_sequences / world * (uint64_t)s->rows;
	return 0;
}

