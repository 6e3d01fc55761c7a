/* data_rm.c - reward-model batches from `spindle annotate export --format preference`
 * (schemas/annotate-preference.schema.json). Each pair gives two rows, dialog + chosen + EOS and
 * dialog + rejected + EOS (Llama 2 chat format); the reward is read at each row's last token. A row
 * longer than T keeps its last T tokens. The margin of a pair comes from its rating level through a
 * margin table (Llama 2's "small" 1, 2/3, 1/3, 0 or "large" 3, 2, 1, 0, or given). A category filter
 * trains helpfulness and safety reward models separately from one export; one_safe pairs whose
 * chosen response is the unsafe one are dropped, as Llama 2 did. Open-source pairs converted by
 * `spindle annotate convert` carry a "source" and their own margin instead of a rating; several files
 * (PATH,PATH,...) are read as one set, and a mix (SOURCE=W,...) takes each source's pairs W times
 * (a fraction of a time decided per pair by a seeded hash), as Llama 2 mixed its own data with
 * Anthropic HH and others in set proportions. Order: a seeded shuffle of the mixed set per epoch;
 * cursor {"epoch", "index"}. */
#include <json.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
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
	int32_t *level;         /* rating level, -1 for an imported pair */
	float *pm;              /* per pair: its margin */
	uint32_t *src;          /* per pair: its source (index into names) */
	uint32_t *sel, *perm;   /* the mixed set (pair indices, repeats allowed) and its order this epoch */
	size_t n, cap, n_sel;
	char names[16][65];     /* sources seen: "own" for spindle's own records */
	size_t n_names, per_source[16];
	sp_buf ids;
	size_t *id_off;
	float margins[4];
	uint64_t seed, epoch, index;
} rm_src;

static void shuffle(rm_src *s)
{
	train_rng r;
	rng_seed(&r, s->seed * 0xD1B54A32D192ED03ull + s->epoch);
	for (size_t i = 0; i < s->n_sel; i++)
		s->perm[i] = s->sel[i];
	for (size_t i = s->n_sel; i > 1; i--) {
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
		if (s->index >= (sequential ? s->n : s->n_sel)) {
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
		b->margin[k] = s->pm[i];
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
	return data_cursor_tell(out, s->epoch, s->index);
}

static int rm_seek(void *ctx, const char *cursor, sp_err *err)
{
	rm_src *s = ctx;
	SP_FORWARD(data_cursor_seek(cursor, s->n_sel, "preference", &s->epoch, &s->index, err));
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
	sp_free(s->pm);
	sp_free(s->src);
	sp_free(s->sel);
	sp_free(s->perm);
	sp_free(s->id_off);
	sp_buf_release(&s->ids);
	sp_free(s);
}

int rm_rating_level(const sp_record *rec)
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

/* The source index of name, added when new; -1 past 16 sources. */
static int source_index(rm_src *s, const char *name, size_t n)
{
	for (size_t i = 0; i < s->n_names; i++)
		if (strlen(s->names[i]) == n && !memcmp(s->names[i], name, n))
			return (int)i;
	if (s->n_names == 16 || n > 64)
		return -1;
	memcpy(s->names[s->n_names], name, n);
	s->names[s->n_names][n] = 0;
	return (int)s->n_names++;
}

static int load_file(rm_src *s, const char *path, const tok_model *tok, const char *category, size_t *n_skipped,
                     sp_err *err)
{
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
			float *pm = NULL;
			uint32_t *src = NULL;
			if (off)
				s->off = off;
			if (off && (lv = sp_realloc(s->level, cap * sizeof *lv)))
				s->level = lv;
			if (lv && (pm = sp_realloc(s->pm, cap * sizeof *pm)))
				s->pm = pm;
			if (pm && (src = sp_realloc(s->src, cap * sizeof *src)))
				s->src = src;
			if (src && (ido = sp_realloc(s->id_off, cap * sizeof *ido)))
				s->id_off = ido;
			if (!ido) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			s->cap = cap;
		}
		/* Llama 2 (section 3.2.2): of the pairs where only one response is safe, those whose chosen
		 * response is the unsafe one are not used */
		const char *bin, *cs, *source = "own";
		size_t bn, csn, sn = 3;
		if (sp_record_str(&rec, "safety_bin", &bin, &bn, NULL) == 0 && !strcmp(bin, "one_safe") &&
		    sp_record_str(&rec, "chosen_safety", &cs, &csn, NULL) == 0 && !strcmp(cs, "unsafe")) {
			if (n_skipped)
				(*n_skipped)++;
			continue;
		}
		int level = rm_rating_level(&rec), imported = sp_record_str(&rec, "source", &source, &sn, NULL) == 0;
		float margin = level >= 0 ? s->margins[level] : 0;
		prompt.n = 0;
		rc = sp_record_str(&rec, "chosen", &ch, &chn, err);
		rc = rc ? rc : sp_record_str(&rec, "rejected", &rj, &rjn, err);
		if (rc == 0 && level < 0 && !imported)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "no valid 'level' or 'rating' (nor a 'source': an imported pair)");
		if (rc == 0 && level < 0) {
			/* an imported pair: the margin it carries (TRL's), else 0 */
			json_object *m = sp_json_path(rec.obj, "margin");
			if (m && (json_object_is_type(m, json_type_double) || json_object_is_type(m, json_type_int)))
				margin = (float)json_object_get_double(m);
			if (!isfinite(margin) || margin < -1e6f || margin > 1e6f)
				rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "field 'margin' is not a finite number");
		}
		int si = rc == 0 ? source_index(s, source, sn) : 0;
		if (si < 0)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "more than 16 sources, or a source name over 64 bytes");
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
		s->pm[s->n] = margin;
		s->src[s->n] = (uint32_t)si;
		s->per_source[si]++;
		s->id_off[s->n] = s->ids.len;
		sp_buf_appends(&s->ids, id ? id : "");
		sp_buf_appendc(&s->ids, 0);
		s->n++;
	}
	tok_ids_release(&prompt);
	sp_record_release(&rec);
	sp_in_free(in);
	return rc;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* The mixed set: pair i of source k, W_k = floor + frac, appears floor times plus once more when a
 * seeded hash of (seed, i) falls below frac. */
static int apply_mix(rm_src *s, const char *mix, sp_err *err)
{
	double w[16];
	for (size_t k = 0; k < 16; k++)
		w[k] = 1.0;
	for (const char *p = mix; p && *p;) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end || eq == p)
			SP_RAISE(err, SP_EUSAGE, "--mix: expected SOURCE=WEIGHT[,SOURCE=WEIGHT...], got '%.100s'", mix);
		size_t k = 0;
		while (k < s->n_names && (strlen(s->names[k]) != (size_t)(eq - p) || memcmp(s->names[k], p, (size_t)(eq - p))))
			k++;
		if (k == s->n_names)
			SP_RAISE(err, SP_EUSAGE, "--mix: no pairs have source '%.*s' (the data's sources: %s%s%s%s%s)", (int)(eq - p), p,
			         s->names[0], s->n_names > 1 ? ", " : "", s->n_names > 1 ? s->names[1] : "",
			         s->n_names > 2 ? ", " : "", s->n_names > 2 ? s->names[2] : "");
		char num[32];
		size_t nl = (size_t)(end - eq - 1) < sizeof num - 1 ? (size_t)(end - eq - 1) : sizeof num - 1;
		memcpy(num, eq + 1, nl);
		num[nl] = 0;
		char *stop;
		double v = strtod(num, &stop);
		if (!nl || *stop || !(v >= 0 && v <= 100))
			SP_RAISE(err, SP_EUSAGE, "--mix: the weight of '%.*s' must be a number in [0, 100], not '%s'", (int)(eq - p), p, num);
		w[k] = v;
		p = *end ? end + 1 : end;
	}
	size_t cap = 0;
	for (size_t i = 0; i < s->n; i++)
		cap += (size_t)w[s->src[i]] + 1;
	if (!(s->sel = sp_malloc((cap ? cap : 1) * sizeof *s->sel)) || !(s->perm = sp_malloc((cap ? cap : 1) * sizeof *s->perm)))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	s->n_sel = 0;
	for (size_t i = 0; i < s->n; i++) {
		double wk = w[s->src[i]], whole = (double)(size_t)wk;
		size_t copies = (size_t)whole;
		uint64_t h = mix64(s->seed ^ mix64(0x6D69780000000000ull + i));
		if ((double)(h >> 11) * 0x1.0p-53 < wk - whole)
			copies++;
		for (size_t c = 0; c < copies; c++)
			s->sel[s->n_sel++] = (uint32_t)i;
	}
	if (!s->n_sel)
		SP_RAISE(err, SP_EUSAGE, "--mix leaves no pairs to train on");
	return 0;
}

int data_rm_open(train_data *d, const char *path, const tok_model *tok, int T, uint64_t seed, const char *category,
                 const float margins[4], size_t *n_pairs, size_t *n_skipped, sp_err *err)
{
	return data_rm_open_mix(d, path, NULL, tok, T, seed, category, margins, n_pairs, n_skipped, err);
}

int data_rm_open_mix(train_data *d, const char *paths, const char *mix, const tok_model *tok, int T, uint64_t seed,
                     const char *category, const float margins[4], size_t *n_pairs, size_t *n_skipped, sp_err *err)
{
	rm_src *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	s->seed = seed;
	memcpy(s->margins, margins, sizeof s->margins);
	if (n_skipped)
		*n_skipped = 0;
	int rc = 0;
	/* PATH[,PATH...]: a file name with a comma is read whole when it exists */
	sp_buf one = SP_BUF_INIT;
	const char *p = paths;
	while (rc == 0 && p) {
		const char *comma = access(p, F_OK) == 0 ? NULL : strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		sp_buf_reset(&one);
		if (sp_buf_append(&one, p, len) < 0 || sp_buf_appendc(&one, 0) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			break;
		}
		rc = load_file(s, one.p, tok, category, n_skipped, err);
		p = comma ? comma + 1 : NULL;
	}
	sp_buf_release(&one);
	if (rc == 0 && s->n == 0)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: no preference pairs%s%s", paths,
		                 category ? " in category " : "", category ? category : "");
	if (rc == 0)
		rc = apply_mix(s, mix, err);
	if (rc < 0) {
		rm_free(s);
		return rc;
	}
	shuffle(s);
	if (n_pairs)
		*n_pairs = s->n_sel;
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

int data_rm_sources(const train_data *d, sp_buf *out)
{
	const rm_src *s = d->ctx;
	for (size_t k = 0; k < s->n_names; k++) {
		size_t used = 0;
		for (size_t i = 0; i < s->n_sel; i++)
			used += s->src[s->sel[i]] == k;
		if (sp_buf_appendf(out, "%s%s %zu pairs, %zu taken", k ? ", " : "", s->names[k], s->per_source[k], used) < 0)
			return SP_ENOMEM;
	}
	return 0;
}
