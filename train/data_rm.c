/* data_rm.c - reward-model batches from `spindle annotate export --format preference`
 * (schemas/annotate-preference.schema.json). Each pair gives two rows, dialog + chosen + EOS and
 * dialog + rejected + EOS (Llama 2 chat format); the reward is read at each row's last token. A row
 * longer than T keeps its last T tokens. The margin of a pair comes from its rating level through a
 * margin table (Llama 2's "small" 1, 2/3, 1/3, 0 or "large" 3, 2, 1, 0, or given). A category filter
 * trains helpfulness and safety reward models separately from one export. Order: a seeded shuffle
 * per epoch; cursor {"epoch", "index"}. */
#include <json.h>
#include <stdlib.h>
#include <string.h>
#include "data.h"
#include "data_chat.h"
#include "rng.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

static const char *const rating_names[4] = { "negligibly_better", "slightly_better", "better", "significantly_better" };

int rm_margins_parse(const char *spec, float margins[4], sp_err *err)
{
	/* margins[level], level 3 = significantly better */
	if (!strcmp(spec, "small")) {
		margins[3] = 1.0f, margins[2] = 2.0f / 3, margins[1] = 1.0f / 3, margins[0] = 0;
		return 0;
	}
	if (!strcmp(spec, "large")) {
		margins[3] = 3, margins[2] = 2, margins[1] = 1, margins[0] = 0;
		return 0;
	}
	if (!strcmp(spec, "none")) {
		margins[3] = margins[2] = margins[1] = margins[0] = 0;
		return 0;
	}
	const char *p = spec;
	float m[4];
	for (int i = 3; i >= 0; i--) {
		char *end;
		m[i] = strtof(p, &end);
		if (end == p || (i > 0 && *end != ',') || (i == 0 && *end))
			SP_RAISE(err, SP_EUSAGE, "--margins: expected small, large, none or four numbers "
			         "(significantly,better,slightly,negligibly), got '%s'", spec);
		p = end + 1;
	}
	memcpy(margins, m, sizeof m);
	return 0;
}

const char *rm_rating_name(int level)
{
	return level >= 0 && level < 4 ? rating_names[level] : "unknown";
}

typedef struct rm_src {
	tok_ids toks;
	size_t *off;            /* per pair: chosen [off[3i], off[3i+1]), rejected [off[3i+1], off[3i+2]) */
	int32_t *level;
	uint32_t *perm;
	size_t n, cap;
	sp_buf ids;
	size_t *id_off;
	float margins[4];
	uint64_t seed, epoch, index;
} rm_src;

static void shuffle(rm_src *s)
{
	train_rng r;
	rng_seed(&r, s->seed * 0xD1B54A32D192ED03ull + s->epoch);
	for (size_t i = 0; i < s->n; i++)
		s->perm[i] = (uint32_t)i;
	for (size_t i = s->n; i > 1; i--) {
		size_t j = (size_t)(rng_u64(&r) % i);
		uint32_t t = s->perm[i - 1];
		s->perm[i - 1] = s->perm[j];
		s->perm[j] = t;
	}
}

static int fill_row(const rm_src *s, size_t a, size_t e, train_batch *b, int r)
{
	int T = b->T;
	size_t len = e - a;
	if (len > (size_t)T) {
		a = e - (size_t)T;
		len = (size_t)T;
	}
	for (int t = 0; t < T; t++) {
		b->inputs[(size_t)r * T + t] = t < (int)len ? (int32_t)s->toks.v[a + (size_t)t] : 0;
		b->targets[(size_t)r * T + t] = -1;
		b->pos[(size_t)r * T + t] = t;
		b->seg[(size_t)r * T + t] = 0;
	}
	b->last[r] = (int32_t)len - 1;
	return 0;
}

/* Fills pairs [index, index + B/2) of the order; when sequential, in file order from index without
 * wrapping (eval), returning the number of pairs filled in *n_filled. */
static int rm_fill(rm_src *s, train_batch *b, int sequential, int *n_filled)
{
	int P = b->B / 2, k = 0;
	b->use_seg = 0;
	sp_buf_reset(&b->provenance);
	sp_buf_appendc(&b->provenance, '[');
	for (; k < P; k++) {
		if (s->index >= s->n) {
			if (sequential)
				break;
			s->epoch++;
			s->index = 0;
			shuffle(s);
		}
		size_t i = sequential ? s->index : s->perm[s->index];
		s->index++;
		fill_row(s, s->off[3 * i], s->off[3 * i + 1], b, 2 * k);
		fill_row(s, s->off[3 * i + 1], s->off[3 * i + 2], b, 2 * k + 1);
		b->margin[k] = s->margins[s->level[i]];
		b->rating[k] = s->level[i];
		const char *id = s->ids.p + s->id_off[i];
		sp_buf_appends(&b->provenance, k ? "," : "");
		sp_buf_append_json_str(&b->provenance, id, strlen(id));
	}
	for (int j = k; j < P; j++) {  /* unused pairs in a short final eval batch: copies of pair 0 */
		fill_row(s, s->off[0], s->off[1], b, 2 * j);
		fill_row(s, s->off[1], s->off[2], b, 2 * j + 1);
		b->rating[j] = -1;
	}
	sp_buf_appendc(&b->provenance, ']');
	if (n_filled)
		*n_filled = k;
	return 0;
}

static int rm_next(void *ctx, train_batch *b, sp_err *err)
{
	(void)err;
	return rm_fill(ctx, b, 0, NULL);
}

int data_rm_next_sequential(train_data *d, train_batch *b, int *n_filled)
{
	return rm_fill(d->ctx, b, 1, n_filled);
}

static int rm_tell(void *ctx, sp_buf *out)
{
	rm_src *s = ctx;
	return sp_buf_appendf(out, "{\"epoch\":%llu,\"index\":%llu}", (unsigned long long)s->epoch,
	                      (unsigned long long)s->index);
}

static int rm_seek(void *ctx, const char *cursor, sp_err *err)
{
	rm_src *s = ctx;
	json_object *o = json_tokener_parse(cursor), *e, *i;
	if (!o || !json_object_object_get_ex(o, "epoch", &e) || !json_object_object_get_ex(o, "index", &i) ||
	    json_object_get_int64(i) < 0 || (uint64_t)json_object_get_int64(i) > s->n) {
		json_object_put(o);
		SP_RAISE(err, SP_EDATA, "bad preference cursor %.200s", cursor);
	}
	s->epoch = (uint64_t)json_object_get_int64(e);
	s->index = (uint64_t)json_object_get_int64(i);
	json_object_put(o);
	shuffle(s);
	return 0;
}

static void rm_free(void *ctx)
{
	rm_src *s = ctx;
	if (!s)
		return;
	tok_ids_release(&s->toks);
	sp_free(s->off);
	sp_free(s->level);
	sp_free(s->perm);
	sp_free(s->id_off);
	sp_buf_release(&s->ids);
	sp_free(s);
}

static int rating_level(const sp_record *rec)
{
	json_object *x = sp_json_path(rec->obj, "level");
	if (x && json_object_is_type(x, json_type_int) && json_object_get_int(x) >= 0 && json_object_get_int(x) <= 3)
		return json_object_get_int(x);
	x = sp_json_path(rec->obj, "rating");
	if (x && json_object_is_type(x, json_type_string))
		for (int i = 0; i < 4; i++)
			if (!strcmp(json_object_get_string(x), rating_names[i]))
				return i;
	return -1;
}

int data_rm_open(train_data *d, const char *path, const tok_model *tok, int T, uint64_t seed, const char *category,
                 const float margins[4], size_t *n_pairs, size_t *n_skipped, sp_err *err)
{
	rm_src *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	s->seed = seed;
	memcpy(s->margins, margins, sizeof s->margins);
	if (n_skipped)
		*n_skipped = 0;
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	tok_ids prompt = TOK_IDS_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_jsonl_next(in, &rec, err)) == 1) {
		rc = 0;
		const char *cat, *ch, *rj, *id = sp_record_id(&rec);
		size_t cn, chn, rjn;
		if (category && sp_record_str(&rec, "category", &cat, &cn, NULL) == 0 && strcmp(cat, category)) {
			if (n_skipped)
				(*n_skipped)++;
			continue;
		}
		if (s->n + 1 > s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 256;
			size_t *off = sp_realloc(s->off, 3 * cap * sizeof *off), *ido = NULL;
			int32_t *lv = NULL;
			if (off)
				s->off = off;
			if (off && (lv = sp_realloc(s->level, cap * sizeof *lv)))
				s->level = lv;
			if (lv && (ido = sp_realloc(s->id_off, cap * sizeof *ido)))
				s->id_off = ido;
			if (!ido) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			s->cap = cap;
		}
		int level = rating_level(&rec);
		prompt.n = 0;
		rc = sp_record_str(&rec, "chosen", &ch, &chn, err);
		rc = rc ? rc : sp_record_str(&rec, "rejected", &rj, &rjn, err);
		if (rc == 0 && level < 0)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "no valid 'level' or 'rating'");
		json_object *dialog = sp_json_path(rec.obj, "dialog");
		rc = rc ? rc : (dialog ? chat_encode_dialog(tok, dialog, &prompt, err)
		                       : sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "no 'dialog'"));
		size_t *o = s->off + 3 * s->n;
		o[0] = s->toks.n;
		for (size_t i = 0; rc == 0 && i < prompt.n; i++)
			rc = tok_ids_push(&s->toks, prompt.v[i]) < 0 ? SP_ENOMEM : 0;
		rc = rc ? rc : chat_encode_response(tok, ch, chn, &s->toks, err);
		o[1] = s->toks.n;
		for (size_t i = 0; rc == 0 && i < prompt.n; i++)
			rc = tok_ids_push(&s->toks, prompt.v[i]) < 0 ? SP_ENOMEM : 0;
		rc = rc ? rc : chat_encode_response(tok, rj, rjn, &s->toks, err);
		o[2] = s->toks.n;
		if (rc < 0) {
			if (rc == SP_ENOMEM)
				sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			sp_err_locate(err, sp_in_name(in), rec.lineno);
			break;
		}
		s->level[s->n] = level;
		s->id_off[s->n] = s->ids.len;
		sp_buf_appends(&s->ids, id ? id : "");
		sp_buf_appendc(&s->ids, 0);
		s->n++;
	}
	tok_ids_release(&prompt);
	sp_record_release(&rec);
	sp_in_free(in);
	if (rc == 0 && s->n == 0)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: no preference pairs%s%s", path,
		                 category ? " in category " : "", category ? category : "");
	if (rc == 0 && !(s->perm = sp_malloc(s->n * sizeof *s->perm)))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc < 0) {
		rm_free(s);
		return rc;
	}
	shuffle(s);
	if (n_pairs)
		*n_pairs = s->n;
	d->ctx = s;
	d->next = rm_next;
	d->tell = rm_tell;
	d->seek = rm_seek;
	d->free = rm_free;
	d->vocab_size = tok_vocab_size(tok);
	d->tokenizer_id = tok_identity(tok);
	d->seq_len = T;
	return 0;
}
