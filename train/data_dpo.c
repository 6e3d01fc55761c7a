/* data_dpo.c - DPO pairs from `spindle annotate export --format preference`
 * (schemas/annotate-preference.schema.json), in Llama 2's chat format (data_chat.c): each pair gives
 * a chosen and a rejected row sharing the dialog, with targets on the response tokens and the EOS
 * only (the log-probability DPO compares). The record rules are data_rm.c's (category filter,
 * one_safe pairs with an unsafe chosen response dropped, rating margins); unlike it this source
 * knows where each response starts, and each batch names its pairs' file indices (train_batch's item,
 * which the reference cache is indexed by).
 * Order: a seeded shuffle per epoch; cursor {"epoch", "index"}. */
#include <json.h>
#include <stdlib.h>
#include <string.h>
#include "data_chat.h"
#include "dpo.h"
#include "rng.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

typedef struct dpo_src {
	tok_ids toks;
	size_t *off;            /* per pair: prompt [o0,o1) chosen [o1,o2) prompt again [o2,o3) rejected [o3,o4) */
	int32_t *level;
	uint32_t *perm;
	size_t n, cap;
	sp_buf ids;
	size_t *id_off;
	float margins[4];
	int use_margins;
	uint64_t seed, epoch, index;
} dpo_src;

static void shuffle(dpo_src *s)
{
	train_rng r;
	rng_seed(&r, s->seed * 0xA24BAED4963EE407ull + s->epoch);
	for (size_t i = 0; i < s->n; i++)
		s->perm[i] = (uint32_t)i;
	for (size_t i = s->n; i > 1; i--) {
		size_t j = (size_t)(rng_u64(&r) % i);
		uint32_t t = s->perm[i - 1];
		s->perm[i - 1] = s->perm[j];
		s->perm[j] = t;
	}
}

/* row r = prompt [p, q) + response [q, e): targets on the response (and its EOS) */
static void fill_row(const dpo_src *s, size_t p, size_t q, size_t e, train_batch *b, int r, int with_targets)
{
	int T = b->T;
	size_t len = e - p, cut = 0;
	if (len > (size_t)T + 1)
		cut = len - ((size_t)T + 1);
	int32_t *in = b->inputs + (size_t)r * T, *tg = b->targets + (size_t)r * T;
	int n = 0;
	for (int t = 0; t < T; t++) {
		size_t a = p + cut + (size_t)t;
		in[t] = a < e ? (int32_t)s->toks.v[a] : 0;
		tg[t] = with_targets && a + 1 < e && a + 1 >= q ? (int32_t)s->toks.v[a + 1] : -1;
		b->pos[(size_t)r * T + t] = t;
		b->seg[(size_t)r * T + t] = 0;
		if (a < e)
			n = t;
	}
	b->last[r] = n;
}

static void fill_pair(dpo_src *s, size_t i, train_batch *b, int k, int with_targets)
{
	const size_t *o = s->off + 5 * i;
	fill_row(s, o[0], o[1], o[2], b, 2 * k, with_targets);
	fill_row(s, o[2], o[3], o[4], b, 2 * k + 1, with_targets);
	b->margin[k] = s->use_margins ? s->margins[s->level[i]] : 0.0f;
	b->rating[k] = with_targets ? s->level[i] : -1;
	b->item[k] = (uint32_t)i;
}

static int dpo_next(void *ctx, train_batch *b, sp_err *err)
{
	(void)err;
	dpo_src *s = ctx;
	int P = b->B / 2;
	b->use_seg = 0;
	sp_buf_reset(&b->provenance);
	sp_buf_appendc(&b->provenance, '[');
	for (int k = 0; k < P; k++) {
		if (s->index >= s->n) {
			s->epoch++;
			s->index = 0;
			shuffle(s);
		}
		size_t i = s->perm[s->index++];
		fill_pair(s, i, b, k, 1);
		const char *id = s->ids.p + s->id_off[i];
		sp_buf_appends(&b->provenance, k ? "," : "");
		sp_buf_append_json_str(&b->provenance, id, strlen(id));
	}
	sp_buf_appendc(&b->provenance, ']');
	return 0;
}

int data_dpo_fill_sequential(train_data *d, train_batch *b, size_t *next, int *n_filled)
{
	dpo_src *s = d->ctx;
	int P = b->B / 2, k = 0;
	b->use_seg = 0;
	for (; k < P && *next < s->n; k++, (*next)++)
		fill_pair(s, *next, b, k, 1);
	for (int j = k; j < P; j++)
		fill_pair(s, 0, b, j, 0);
	*n_filled = k;
	return 0;
}

size_t data_dpo_count(const train_data *d)
{
	return ((const dpo_src *)d->ctx)->n;
}

static int dpo_tell(void *ctx, sp_buf *out)
{
	dpo_src *s = ctx;
	return data_cursor_tell(out, s->epoch, s->index);
}

static int dpo_seek(void *ctx, const char *cursor, sp_err *err)
{
	dpo_src *s = ctx;
	SP_FORWARD(data_cursor_seek(cursor, s->n, "DPO", &s->epoch, &s->index, err));
	shuffle(s);
	return 0;
}

static void dpo_free(void *ctx)
{
	dpo_src *s = ctx;
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

static int push_all(tok_ids *dst, const tok_ids *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (tok_ids_push(dst, src->v[i]) < 0)
			return SP_ENOMEM;
	return 0;
}

static int grow(dpo_src *s)
{
	if (s->n + 1 <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap * 2 : 256;
	size_t *off = sp_realloc(s->off, 5 * cap * sizeof *off), *ido;
	int32_t *lv;
	if (!off)
		return -1;
	s->off = off;
	if (!(lv = sp_realloc(s->level, cap * sizeof *lv)))
		return -1;
	s->level = lv;
	if (!(ido = sp_realloc(s->id_off, cap * sizeof *ido)))
		return -1;
	s->id_off = ido;
	s->cap = cap;
	return 0;
}

int data_dpo_open(train_data *d, const char *path, const tok_model *tok, int T, uint64_t seed, const char *category,
                  const float margins[4], size_t *n_pairs, size_t *n_skipped, sp_err *err)
{
	dpo_src *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	s->seed = seed;
	if (margins) {
		memcpy(s->margins, margins, sizeof s->margins);
		s->use_margins = 1;
	}
	if (n_skipped)
		*n_skipped = 0;
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	tok_ids prompt = TOK_IDS_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_jsonl_next(in, &rec, err)) == 1) {
		rc = 0;
		const char *cat, *ch, *rj, *bin, *cs, *id = sp_record_id(&rec);
		size_t cn, chn, rjn, bn, csn;
		if ((category && sp_record_str(&rec, "category", &cat, &cn, NULL) == 0 && strcmp(cat, category)) ||
		    (sp_record_str(&rec, "safety_bin", &bin, &bn, NULL) == 0 && !strcmp(bin, "one_safe") &&
		     sp_record_str(&rec, "chosen_safety", &cs, &csn, NULL) == 0 && !strcmp(cs, "unsafe"))) {
			if (n_skipped)
				(*n_skipped)++;
			continue;
		}
		if (grow(s) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			break;
		}
		int level = rm_rating_level(&rec);
		prompt.n = 0;
		rc = sp_record_str(&rec, "chosen", &ch, &chn, err);
		rc = rc ? rc : sp_record_str(&rec, "rejected", &rj, &rjn, err);
		if (rc == 0 && level < 0)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "no valid 'level' or 'rating'");
		json_object *dialog = sp_json_path(rec.obj, "dialog");
		rc = rc ? rc : (dialog ? chat_encode_dialog(tok, dialog, &prompt, err)
		                       : sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "no 'dialog'"));
		size_t *o = s->off + 5 * s->n;
		o[0] = s->toks.n;
		rc = rc ? rc : push_all(&s->toks, &prompt);
		o[1] = s->toks.n;
		rc = rc ? rc : chat_encode_response(tok, ch, chn, &s->toks, err);
		o[2] = s->toks.n;
		rc = rc ? rc : push_all(&s->toks, &prompt);
		o[3] = s->toks.n;
		rc = rc ? rc : chat_encode_response(tok, rj, rjn, &s->toks, err);
		o[4] = s->toks.n;
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
		dpo_free(s);
		return rc;
	}
	shuffle(s);
	if (n_pairs)
		*n_pairs = s->n;
	d->ctx = s;
	d->next = dpo_next;
	d->tell = dpo_tell;
	d->seek = dpo_seek;
	d->free = dpo_free;
	d->vocab_size = tok_vocab_size(tok);
	d->tokenizer_id = tok_identity(tok);
	d->seq_len = T;
	d->rows_per_epoch = 2 * s->n;
	return 0;
}
