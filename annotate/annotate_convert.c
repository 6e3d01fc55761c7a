/* annotate_convert.c - `spindle annotate convert`: open-source preference data (Anthropic HH-RLHF's
 * chosen/rejected transcripts, TRL's prompt/chosen/rejected records) to spindle's preference records
 * with a source tag, so `spindle train rm --mix` trains on them beside spindle's own export. No
 * database, no annotators: the pairs keep what the data says (TRL's margin, else 0). The inverse of
 * `annotate export --format hh|trl`: spindle's own exports convert back to the same pairs. */
#include <stdio.h>
#include <string.h>
#include "annotate.h"
#include "spindle/hash.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

typedef struct turn {
	int user;               /* 1 Human, 0 Assistant */
	const char *p;
	size_t n;
} turn;

/* Splits an HH transcript ("\n\nHuman: ...\n\nAssistant: ...") into turns. Returns the count, or -1 if
 * it does not start with a Human turn (leading blank lines are optional, as in the published data).
 * At most cap turns are stored (the count goes on). */
static long hh_split(const char *s, size_t n, turn *t, size_t cap)
{
	static const char H[] = "\n\nHuman:", A[] = "\n\nAssistant:";
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\n'))
		i++;
	if (n - i < 6 || memcmp(s + i, "Human:", 6))
		return -1;
	const char *q = s + i + 6, *end = s + n;
	if (q < end && *q == ' ')
		q++;
	int user = 1;
	long k = 0;
	for (;;) {
		const char *nh = memmem(q, (size_t)(end - q), H, sizeof H - 1), *na = memmem(q, (size_t)(end - q), A, sizeof A - 1);
		const char *nx = nh && (!na || nh < na) ? nh : na;
		size_t len = nx ? (size_t)(nx - q) : (size_t)(end - q);
		if ((size_t)k < cap)
			t[k] = (turn){ user, q, len };
		k++;
		if (!nx)
			return k;
		user = nx == nh;
		q = nx + (user ? sizeof H - 1 : sizeof A - 1);
		if (q < end && *q == ' ')
			q++;
	}
}

/* releases *o and forgets it (the caller releases what is still set on an error) */
static void drop(json_object **o)
{
	json_object_put(*o);
	*o = NULL;
}

static json_object *msg(const char *role, const char *p, size_t n)
{
	json_object *m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string(role));
	json_object_object_add(m, "content", json_object_new_string_len(p, (int)n));
	return m;
}

enum { MAX_TURNS = 4096 };

/* HH: dialog = the turns before the last (the same in chosen and rejected), responses = the last
 * Assistant turns. A first Human turn "System: ..." is the system message (as export writes it). */
static int from_hh(const sp_record *rec, json_object **dialog, json_object **chosen, json_object **rejected,
                   turn *tc, turn *tr, sp_err *err)
{
	const char *c, *r;
	size_t cn, rn;
	SP_FORWARD(sp_record_str(rec, "chosen", &c, &cn, err));
	SP_FORWARD(sp_record_str(rec, "rejected", &r, &rn, err));
	long kc = hh_split(c, cn, tc, MAX_TURNS), kr = hh_split(r, rn, tr, MAX_TURNS);
	if (kc < 0 || kr < 0)
		SP_RAISE(err, SP_EDATA, "field '%s' is not an HH transcript (\"\\n\\nHuman: ...\\n\\nAssistant: ...\")", kc < 0 ? "chosen" : "rejected");
	if (kc > MAX_TURNS || kr > MAX_TURNS)
		SP_RAISE(err, SP_EDATA, "more than %d turns", MAX_TURNS);
	if (kc < 2 || tc[kc - 1].user || kr < 2 || tr[kr - 1].user)
		SP_RAISE(err, SP_EDATA, "field '%s' does not end with an Assistant turn after a Human turn", kc < 2 || tc[kc - 1].user ? "chosen" : "rejected");
	if (kc != kr)
		SP_RAISE(err, SP_EDATA, "chosen and rejected answer different dialogs (%ld and %ld turns)", kc, kr);
	for (long i = 0; i < kc - 1; i++)
		if (tc[i].user != tr[i].user || tc[i].n != tr[i].n || memcmp(tc[i].p, tr[i].p, tc[i].n))
			SP_RAISE(err, SP_EDATA, "chosen and rejected differ before their last turn (turn %ld)", i + 1);
	/* after an optional "System:" first turn, Human and Assistant alternate from Human to the answer */
	long first = tc[0].n >= 8 && !memcmp(tc[0].p, "System: ", 8) ? 1 : 0;
	for (long i = first; i < kc; i++)
		if (tc[i].user != ((i - first) % 2 == 0))
			SP_RAISE(err, SP_EDATA, "the turns do not alternate Human/Assistant (turn %ld)", i + 1);
	*dialog = json_object_new_array();
	for (long i = 0; i < kc - 1; i++) {
		const char *p = tc[i].p;
		size_t n = tc[i].n;
		if (i < first)
			json_object_array_add(*dialog, msg("system", p + 8, n - 8));
		else
			json_object_array_add(*dialog, msg(tc[i].user ? "user" : "assistant", p, n));
	}
	*chosen = json_object_new_string_len(tc[kc - 1].p, (int)tc[kc - 1].n);
	*rejected = json_object_new_string_len(tr[kr - 1].p, (int)tr[kr - 1].n);
	return 0;
}

/* TRL: prompt is a message list (or a string: one user turn); chosen/rejected one assistant message
 * each (or strings). */
static int from_trl(const sp_record *rec, json_object **dialog, json_object **chosen, json_object **rejected, sp_err *err)
{
	json_object *p = sp_json_path(rec->obj, "prompt");
	if (!p)
		SP_RAISE(err, SP_EDATA, "no field 'prompt' (TRL's implicit-prompt layout is not read: give prompt, chosen, rejected)");
	if (json_object_is_type(p, json_type_string)) {
		*dialog = json_object_new_array();
		json_object_array_add(*dialog, msg("user", json_object_get_string(p), (size_t)json_object_get_string_len(p)));
	} else if (json_object_is_type(p, json_type_array) && json_object_array_length(p) > 0) {
		*dialog = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(p); i++) {
			json_object *m = json_object_array_get_idx(p, i), *role, *content;
			if (!json_object_is_type(m, json_type_object) || !json_object_object_get_ex(m, "role", &role) ||
			    !json_object_object_get_ex(m, "content", &content) || !json_object_is_type(content, json_type_string) ||
			    !json_object_is_type(role, json_type_string)) {
				drop(dialog);
				SP_RAISE(err, SP_EDATA, "field 'prompt[%zu]' is not a {role, content} message", i);
			}
			const char *r = json_object_get_string(role);
			if (strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "system")) {
				drop(dialog);
				SP_RAISE(err, SP_EDATA, "field 'prompt[%zu].role': '%.40s' is not user, assistant or system", i, r);
			}
			json_object_array_add(*dialog, msg(r, json_object_get_string(content), (size_t)json_object_get_string_len(content)));
		}
	} else {
		SP_RAISE(err, SP_EDATA, "field 'prompt' is neither a string nor a list of messages");
	}
	json_object *last = json_object_array_get_idx(*dialog, json_object_array_length(*dialog) - 1);
	if (strcmp(json_object_get_string(json_object_object_get(last, "role")), "user")) {
		drop(dialog);
		SP_RAISE(err, SP_EDATA, "field 'prompt' does not end with a user turn");
	}
	static const char *const side[2] = { "chosen", "rejected" };
	json_object **out[2] = { chosen, rejected };
	for (int k = 0; k < 2; k++) {
		json_object *v = sp_json_path(rec->obj, side[k]);
		if (v && json_object_is_type(v, json_type_array) && json_object_array_length(v) == 1) {
			json_object *m = json_object_array_get_idx(v, 0), *content, *role;
			if (json_object_object_get_ex(m, "role", &role) && json_object_is_type(role, json_type_string) &&
			    !strcmp(json_object_get_string(role), "assistant") && json_object_object_get_ex(m, "content", &content) &&
			    json_object_is_type(content, json_type_string))
				v = content;
		}
		if (!v || !json_object_is_type(v, json_type_string)) {
			if (k)
				drop(chosen);
			drop(dialog);
			SP_RAISE(err, SP_EDATA, "field '%s' is not one assistant message (or a string)", side[k]);
		}
		*out[k] = json_object_new_string_len(json_object_get_string(v), json_object_get_string_len(v));
	}
	return 0;
}

int ann_convert_record(const sp_record *rec, int format, const char *source, const char *category, json_object **out,
                       sp_err *err)
{
	*out = NULL;
	turn *tc = NULL;
	json_object *dialog = NULL, *chosen = NULL, *rejected = NULL;
	int rc;
	if (format == ANN_CONVERT_HH) {
		if (!(tc = sp_malloc(2 * MAX_TURNS * sizeof *tc)))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		rc = from_hh(rec, &dialog, &chosen, &rejected, tc, tc + MAX_TURNS, err);
		sp_free(tc);
	} else {
		rc = from_trl(rec, &dialog, &chosen, &rejected, err);
	}
	double margin = 0;
	json_object *m = sp_json_path(rec->obj, "margin");
	if (rc == 0 && m) {
		if (!json_object_is_type(m, json_type_double) && !json_object_is_type(m, json_type_int))
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "field 'margin' is not a number");
		else
			margin = json_object_get_double(m);
	}
	if (rc < 0) {
		json_object_put(dialog);
		json_object_put(chosen);
		json_object_put(rejected);
		return rc;
	}
	/* ids: stable across runs and files: the source, then a hash of the pair's content */
	const char *ds = json_object_to_json_string_ext(dialog, JSON_C_TO_STRING_PLAIN);
	uint64_t hp = sp_hash64(ds, strlen(ds), 0x70726f6d7074ULL);
	uint64_t hc = sp_hash64(json_object_get_string(chosen), (size_t)json_object_get_string_len(chosen), hp);
	uint64_t hr = sp_hash64(json_object_get_string(rejected), (size_t)json_object_get_string_len(rejected), hp);
	char id[256];
	json_object *o = json_object_new_object();
	snprintf(id, sizeof id, "%s:%016llx-%016llx", source, (unsigned long long)hc, (unsigned long long)hr);
	json_object_object_add(o, "id", json_object_new_string(id));
	snprintf(id, sizeof id, "%s:%016llx", source, (unsigned long long)hp);
	json_object_object_add(o, "prompt_id", json_object_new_string(id));
	json_object_object_add(o, "source", json_object_new_string(source));
	json_object_object_add(o, "category", json_object_new_string(category));
	json_object_object_add(o, "dialog", dialog);
	json_object_object_add(o, "chosen", chosen);
	json_object_object_add(o, "rejected", rejected);
	json_object_object_add(o, "margin", json_object_new_double(margin));
	snprintf(id, sizeof id, "%s:%016llx", source, (unsigned long long)hc);
	json_object_object_add(o, "chosen_id", json_object_new_string(id));
	snprintf(id, sizeof id, "%s:%016llx", source, (unsigned long long)hr);
	json_object_object_add(o, "rejected_id", json_object_new_string(id));
	*out = o;
	return 0;
}

int ann_convert(const char *path, int format, const char *source, const char *category, sp_out *out,
                uint64_t *n_out, sp_err *err)
{
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_jsonl_next(in, &rec, err)) == 1) {
		json_object *o;
		if ((rc = ann_convert_record(&rec, format, source, category, &o, err)) < 0) {
			sp_err_locate(err, sp_in_name(in), rec.lineno);
			break;
		}
		rc = sp_jsonl_write(out, o, err);
		json_object_put(o);
		(*n_out)++;
	}
	if (rc == 1)
		rc = 0;
	sp_record_release(&rec);
	sp_in_free(in);
	return rc;
}
