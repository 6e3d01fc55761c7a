/* data_sft.c - supervised fine-tuning batches from `spindle annotate export --format sft`
 * (schemas/annotate-sft.schema.json). Each record becomes the Llama 2 chat tokens of its dialog
 * followed by the response and EOS; only the response tokens and the EOS are targets, or with
 * "loss_turns": "all" also every assistant turn of the dialog (with its EOS); "last", the default,
 * is the response only (what records without the field always meant; Ghost Attention records say
 * it explicitly). Examples are
 * packed whole into rows (Llama 2 concatenated its SFT samples), each its own attention segment with
 * positions restarting; an example longer than a row keeps its last T+1 tokens. Order: a seeded
 * shuffle per epoch. Cursor: {"epoch", "index"} of the next example. */
#include <json.h>
#include <string.h>
#include "data.h"
#include "data_chat.h"
#include "rng.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

typedef struct sft_src {
	tok_ids toks;
	uint8_t *mask;
	size_t mask_cap;
	size_t *off;            /* n_ex + 1 offsets into toks */
	uint32_t *perm;
	size_t n_ex, cap_ex;
	sp_buf ids;             /* record ids, NUL-separated */
	size_t *id_off;
	uint64_t seed, epoch, index;
	int T;
} sft_src;

static void shuffle(sft_src *s)
{
	train_rng r;
	rng_seed(&r, s->seed * 0x9E3779B97F4A7C15ull + s->epoch);
	for (size_t i = 0; i < s->n_ex; i++)
		s->perm[i] = (uint32_t)i;
	for (size_t i = s->n_ex; i > 1; i--) {
		size_t j = (size_t)(rng_u64(&r) % i);
		uint32_t t = s->perm[i - 1];
		s->perm[i - 1] = s->perm[j];
		s->perm[j] = t;
	}
}

static int sft_next(void *ctx, train_batch *b, sp_err *err)
{
	(void)err;
	sft_src *s = ctx;
	int T = b->T, cap = T + 1;
	b->use_seg = 1;
	sp_buf_reset(&b->provenance);
	sp_buf_appendc(&b->provenance, '[');
	for (int r = 0; r < b->B; r++) {
		int32_t *in = b->inputs + (size_t)r * T, *tg = b->targets + (size_t)r * T;
		int32_t *pos = b->pos + (size_t)r * T, *seg = b->seg + (size_t)r * T;
		int fill = 0, k = 0;
		for (int t = 0; t < T; t++) {
			in[t] = 0;
			tg[t] = -1;
			pos[t] = t;
			seg[t] = -1 - t;  /* padding: isolated */
		}
		sp_buf_appends(&b->provenance, r ? ",[" : "[");
		while (fill < cap) {
			if (s->index >= s->n_ex) {
				s->epoch++;
				s->index = 0;
				shuffle(s);
			}
			size_t e = s->perm[s->index];
			size_t a = s->off[e], len = s->off[e + 1] - a;
			if (len > (size_t)cap) {
				if (fill > 0)
					break;
				a += len - (size_t)cap;  /* keep the end: the response */
				len = (size_t)cap;
			} else if (fill + (int)len > cap) {
				break;
			}
			for (size_t i = 0; i < len; i++, fill++) {
				uint32_t tok = s->toks.v[a + i];
				if (fill < T) {
					in[fill] = (int32_t)tok;
					pos[fill] = (int)i;
					seg[fill] = k;
				}
				if (i > 0 && s->mask[a + i])
					tg[fill - 1] = (int32_t)tok;
			}
			sp_buf_appends(&b->provenance, k ? "," : "");
			const char *id = s->ids.p + s->id_off[e];
			sp_buf_append_json_str(&b->provenance, id, strlen(id));
			k++;
			s->index++;
		}
		sp_buf_appendc(&b->provenance, ']');
		b->last[r] = fill > 0 ? (fill < T ? fill - 1 : T - 1) : 0;
	}
	sp_buf_appendc(&b->provenance, ']');
	return 0;
}

static int sft_tell(void *ctx, sp_buf *out)
{
	sft_src *s = ctx;
	return sp_buf_appendf(out, "{\"epoch\":%llu,\"index\":%llu}", (unsigned long long)s->epoch,
	                      (unsigned long long)s->index);
}

static int sft_seek(void *ctx, const char *cursor, sp_err *err)
{
	sft_src *s = ctx;
	json_object *o = json_tokener_parse(cursor), *e, *i;
	if (!o || !json_object_object_get_ex(o, "epoch", &e) || !json_object_object_get_ex(o, "index", &i) ||
	    json_object_get_int64(i) < 0 || (uint64_t)json_object_get_int64(i) > s->n_ex) {
		json_object_put(o);
		SP_RAISE(err, SP_EDATA, "bad SFT cursor %.200s", cursor);
	}
	s->epoch = (uint64_t)json_object_get_int64(e);
	s->index = (uint64_t)json_object_get_int64(i);
	json_object_put(o);
	shuffle(s);
	return 0;
}

static void sft_free(void *ctx)
{
	sft_src *s = ctx;
	if (!s)
		return;
	tok_ids_release(&s->toks);
	sp_free(s->mask);
	sp_free(s->off);
	sp_free(s->perm);
	sp_free(s->id_off);
	sp_buf_release(&s->ids);
	sp_free(s);
}

static int grow(sft_src *s)
{
	if (s->n_ex + 2 <= s->cap_ex)
		return 0;
	size_t cap = s->cap_ex ? s->cap_ex * 2 : 256;
	size_t *off = sp_realloc(s->off, cap * sizeof *off), *ido;
	if (!off)
		return -1;
	s->off = off;
	if (!(ido = sp_realloc(s->id_off, cap * sizeof *ido)))
		return -1;
	s->id_off = ido;
	s->cap_ex = cap;
	return 0;
}

static int set_mask(sft_src *s, size_t from, uint8_t v)
{
	if (s->toks.n > s->mask_cap) {
		size_t cap = s->toks.n * 2;
		uint8_t *m = sp_realloc(s->mask, cap);
		if (!m)
			return -1;
		s->mask = m;
		s->mask_cap = cap;
	}
	memset(s->mask + from, v, s->toks.n - from);
	return 0;
}

/* Reads the export; records of another category than category (NULL = all) are skipped. */
int data_sft_open(train_data *d, const char *path, const tok_model *tok, int T, uint64_t seed, size_t *n_records,
                  sp_err *err)
{
	sft_src *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	s->seed = seed;
	s->T = T;
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	tok_ids spans = TOK_IDS_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_jsonl_next(in, &rec, err)) == 1) {
		rc = 0;
		json_object *dialog = sp_json_path(rec.obj, "dialog");
		const char *resp, *id = sp_record_id(&rec), *lt;
		size_t rn, ltn;
		int all_turns = 0;
		if (grow(s) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			break;
		}
		if (s->n_ex == 0)
			s->off[0] = 0;
		size_t start = s->toks.n;
		rc = sp_record_str(&rec, "response", &resp, &rn, err);
		if (rc == 0 && sp_json_path(rec.obj, "loss_turns")) {
			if (sp_record_str(&rec, "loss_turns", &lt, &ltn, NULL) < 0 || (strcmp(lt, "all") && strcmp(lt, "last")))
				rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "'loss_turns' must be \"all\" or \"last\"");
			else
				all_turns = !strcmp(lt, "all");
		}
		spans.n = 0;
		rc = rc ? rc : (dialog ? chat_encode_dialog_spans(tok, dialog, &s->toks, all_turns ? &spans : NULL, err)
		                       : sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "no 'dialog'"));
		size_t mid = s->toks.n;
		rc = rc ? rc : chat_encode_response(tok, resp, rn, &s->toks, err);
		if (rc == 0 && (set_mask(s, start, 0) < 0 || set_mask(s, mid, 1) < 0))
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		for (size_t k = 0; rc == 0 && k + 1 < spans.n; k += 2)
			memset(s->mask + spans.v[k], 1, spans.v[k + 1] - spans.v[k]);
		if (rc < 0) {
			sp_err_locate(err, sp_in_name(in), rec.lineno);
			break;
		}
		s->id_off[s->n_ex] = s->ids.len;
		sp_buf_appends(&s->ids, id ? id : "");
		sp_buf_appendc(&s->ids, 0);
		s->off[++s->n_ex] = s->toks.n;
	}
	sp_record_release(&rec);
	tok_ids_release(&spans);
	sp_in_free(in);
	if (rc == 0 && s->n_ex == 0)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: no SFT records", path);
	if (rc == 0 && !(s->perm = sp_malloc(s->n_ex * sizeof *s->perm)))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc < 0) {
		sft_free(s);
		return rc;
	}
	shuffle(s);
	if (n_records)
		*n_records = s->n_ex;
	d->ctx = s;
	d->next = sft_next;
	d->tell = sft_tell;
	d->seek = sft_seek;
	d->free = sft_free;
	d->vocab_size = tok_vocab_size(tok);
	d->tokenizer_id = tok_identity(tok);
	d->seq_len = T;
	return 0;
}
