/* winrate.c - reading scored response files and prompt records for `spindle train winrate` and
 * `spindle train calibrate` (cli_winrate.c), pairing two systems' files by prompt id. The
 * statistics (bootstrap CIs) are annotate's (annotate_stats.c), so human and model-based
 * evaluations share one method. */
#include <json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "winrate.h"
#include "spindle/buf.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

#define OOM() sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory")

static const char *jstr(json_object *o, const char *k)
{
	json_object *v = json_object_object_get(o, k);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int cmp_rec(const void *x, const void *y)
{
	const wr_rec *a = x, *b = y;
	int c = strcmp(a->prompt_id, b->prompt_id);
	return c ? c : strcmp(a->system, b->system);
}

int wr_load(const char *path, const char *key, wr_set *s, sp_err *err)
{
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	SP_FORWARD(sp_in_open(&in, path, err));
	int rc;
	while ((rc = sp_jsonl_next(in, &rec, err)) == 1) {
		const char *pid = jstr(rec.obj, "prompt_id"), *model = jstr(rec.obj, "model"), *variant = jstr(rec.obj, "variant");
		json_object *sc = json_object_object_get(rec.obj, "scores"), *v = sc ? json_object_object_get(sc, key) : NULL;
		rc = 0;
		if (!pid || !*pid)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "missing field 'prompt_id'");
		else if (!model || !*model)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "missing field 'model'");
		else if (!v)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "no field 'scores.%s' (score the file with `spindle train score`)", key);
		else if (!(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) ||
		         !(json_object_get_double(v) >= 0 && json_object_get_double(v) <= 1))
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "field 'scores.%s': must be a number in [0, 1]", key);
		if (rc < 0) {
			sp_err_locate(err, sp_in_name(in), rec.lineno);
			break;
		}
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 64;
			wr_rec *g = sp_realloc(s->r, s->cap * sizeof *g);
			if (!g) { rc = OOM(); break; }
			s->r = g;
		}
		wr_rec *r = &s->r[s->n++];
		sp_buf sys = SP_BUF_INIT;
		sp_buf_appendf(&sys, "%s%s%s", model, variant ? ":" : "", variant ? variant : "");
		r->prompt_id = sp_strdup(pid);
		r->system = sp_buf_detach(&sys, NULL);
		r->score = json_object_get_double(v);
		r->line = rec.lineno;
		if (!r->prompt_id || !r->system) { rc = OOM(); break; }
	}
	sp_record_release(&rec);
	sp_in_free(in);
	if (rc < 0)
		return rc;
	qsort(s->r, s->n, sizeof *s->r, cmp_rec);
	for (size_t i = 1; i < s->n; i++)
		if (cmp_rec(&s->r[i - 1], &s->r[i]) == 0)
			SP_RAISE(err, SP_EDATA, "%s:%zu: a second response of '%.100s' to prompt '%.100s'", path,
			         s->r[i].line > s->r[i - 1].line ? s->r[i].line : s->r[i - 1].line, s->r[i].system, s->r[i].prompt_id);
	return 0;
}

void wr_set_release(wr_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		sp_free(s->r[i].prompt_id);
		sp_free(s->r[i].system);
	}
	sp_free(s->r);
	memset(s, 0, sizeof *s);
}

const wr_rec *wr_find(const wr_set *s, const char *prompt_id, const char *system)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(s->r[mid].prompt_id, prompt_id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->n && strcmp(s->r[i].prompt_id, prompt_id) == 0; i++)
		if (!system || strcmp(s->r[i].system, system) == 0)
			return &s->r[i];
	return NULL;
}

static int cmp_prompt(const void *x, const void *y) { return strcmp(((const wr_prompt *)x)->id, ((const wr_prompt *)y)->id); }

int wr_prompts_load(const char *path, wr_prompts *ps, sp_err *err)
{
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	SP_FORWARD(sp_in_open(&in, path, err));
	int rc;
	while ((rc = sp_jsonl_next(in, &rec, err)) == 1) {
		const char *id = jstr(rec.obj, "id"), *cat = jstr(rec.obj, "category");
		json_object *d = json_object_object_get(rec.obj, "dialog");
		if (!id || !cat || !d || !json_object_is_type(d, json_type_array)) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "not a prompt record (needs id, category, dialog)");
			sp_err_locate(err, sp_in_name(in), rec.lineno);
			break;
		}
		int users = 0;
		for (size_t i = 0; i < json_object_array_length(d); i++) {
			const char *role = jstr(json_object_array_get_idx(d, i), "role");
			users += role && strcmp(role, "user") == 0;
		}
		if (ps->n == ps->cap) {
			ps->cap = ps->cap ? 2 * ps->cap : 64;
			wr_prompt *g = sp_realloc(ps->p, ps->cap * sizeof *g);
			if (!g) { rc = OOM(); break; }
			ps->p = g;
		}
		wr_prompt *p = &ps->p[ps->n++];
		p->id = sp_strdup(id);
		p->category = sp_strdup(cat);
		p->multi = users > 1;
		if (!p->id || !p->category) { rc = OOM(); break; }
	}
	sp_record_release(&rec);
	sp_in_free(in);
	if (rc < 0)
		return rc;
	qsort(ps->p, ps->n, sizeof *ps->p, cmp_prompt);
	return 0;
}

const wr_prompt *wr_prompt_find(const wr_prompts *ps, const char *id)
{
	wr_prompt key = { (char *)(uintptr_t)id, NULL, 0 };
	return ps->n ? bsearch(&key, ps->p, ps->n, sizeof *ps->p, cmp_prompt) : NULL;
}

void wr_prompts_release(wr_prompts *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		sp_free(ps->p[i].id);
		sp_free(ps->p[i].category);
	}
	sp_free(ps->p);
	memset(ps, 0, sizeof *ps);
}

/* Names up to 10 prompt ids of x missing from y. */
static size_t missing(const wr_set *x, const wr_set *y, sp_buf *out)
{
	size_t n = 0;
	for (size_t i = 0; i < x->n; i++) {
		if (wr_find(y, x->r[i].prompt_id, NULL))
			continue;
		if (n < 10)
			sp_buf_appendf(out, "%s'%.100s'", n ? ", " : "", x->r[i].prompt_id);
		n++;
	}
	if (n > 10)
		sp_buf_appends(out, ", ...");
	return n;
}

int wr_pair(const wr_set *a, const char *name_a, const wr_set *b, const char *name_b, size_t **idx_b, sp_err *err)
{
	*idx_b = NULL;
	for (size_t i = 1; i < a->n; i++)
		if (strcmp(a->r[i].system, a->r[0].system))
			SP_RAISE(err, SP_EDATA, "%s:%zu: model '%.100s' differs from '%.100s': one system per file", name_a, a->r[i].line, a->r[i].system, a->r[0].system);
	for (size_t i = 1; i < b->n; i++)
		if (strcmp(b->r[i].system, b->r[0].system))
			SP_RAISE(err, SP_EDATA, "%s:%zu: model '%.100s' differs from '%.100s': one system per file", name_b, b->r[i].line, b->r[i].system, b->r[0].system);
	for (size_t i = 1; i < a->n; i++)
		if (strcmp(a->r[i - 1].prompt_id, a->r[i].prompt_id) == 0)
			SP_RAISE(err, SP_EDATA, "%s:%zu: prompt '%.100s' answered twice (one system per file)", name_a, a->r[i].line, a->r[i].prompt_id);
	for (size_t i = 1; i < b->n; i++)
		if (strcmp(b->r[i - 1].prompt_id, b->r[i].prompt_id) == 0)
			SP_RAISE(err, SP_EDATA, "%s:%zu: prompt '%.100s' answered twice (one system per file)", name_b, b->r[i].line, b->r[i].prompt_id);
	sp_buf ma = SP_BUF_INIT, mb = SP_BUF_INIT, msg = SP_BUF_INIT;
	size_t na = missing(b, a, &ma), nb = missing(a, b, &mb);
	int rc = 0;
	if (na)
		sp_buf_appendf(&msg, " %s lacks %zu prompt%s of the other (%s)", name_a, na, na == 1 ? "" : "s", ma.p);
	if (nb)
		sp_buf_appendf(&msg, "%s %s lacks %zu prompt%s of the other (%s)", na ? ";" : "", name_b, nb, nb == 1 ? "" : "s", mb.p);
	if (na || nb)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "the two files do not cover the same prompts:%s", msg.p ? msg.p : "");
	sp_buf_release(&ma);
	sp_buf_release(&mb);
	sp_buf_release(&msg);
	if (rc < 0)
		return rc;
	*idx_b = sp_malloc((a->n + 1) * sizeof **idx_b);
	if (!*idx_b)
		return OOM();
	for (size_t i = 0; i < a->n; i++)
		(*idx_b)[i] = (size_t)(wr_find(b, a->r[i].prompt_id, NULL) - b->r);
	return 0;
}

int wr_outcome(double d, double margin)
{
	return d > margin ? 0 : d < -margin ? 2 : 1;
}
