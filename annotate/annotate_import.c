/* annotate_import.c - prompt and response records: validation against schemas/annotate-prompt and
 * annotate-response.schema.json (hand-written checks, one message per violated rule), the
 * all-or-nothing import of a JSONL file, task creation, and pairing responses for preference tasks.
 * The validator is also the fuzz target's subject (tests/fuzz/fuzz_annotate_record.c). */
#include <math.h>
#include <string.h>
#include "annotate_int.h"
#include "spindle/hash.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

/* ------------------------------------------------------------------ validation */

static int is_str(json_object *o) { return o && json_object_is_type(o, json_type_string); }
static int is_num(json_object *o)
{
	return o && (json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double));
}

#define BAD(...) SP_RAISE(err, SP_EDATA, __VA_ARGS__)

static int check_keys(json_object *obj, const char *const *allowed, const char *where, sp_err *err)
{
	json_object_object_foreach(obj, key, val) {
		(void)val;
		int ok = 0;
		for (size_t i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				ok = 1;
		if (!ok)
			BAD("unknown field '%s%s%.100s'", where, *where ? "." : "", key);
	}
	return 0;
}

static int check_id(json_object *obj, const char *field, int required, sp_err *err)
{
	json_object *v = json_object_object_get(obj, field);
	if (!v) {
		if (required)
			BAD("missing field '%s'", field);
		return 0;
	}
	if (!is_str(v))
		BAD("field '%s': must be a string", field);
	int n = json_object_get_string_len(v);
	if (n < 1 || n > 256)
		BAD("field '%s': must be 1 to 256 bytes, not %d", field, n);
	return 0;
}

static int check_opt_str(json_object *obj, const char *field, int nullable, sp_err *err)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, field, &v))
		return 0;
	if (v == NULL && nullable)
		return 0;
	if (!is_str(v))
		BAD("field '%s': must be a string%s", field, nullable ? " or null" : "");
	return 0;
}

static int check_dialog(json_object *d, sp_err *err)
{
	if (!d)
		BAD("missing field 'dialog'");
	if (!json_object_is_type(d, json_type_array))
		BAD("field 'dialog': must be an array of {\"role\", \"content\"}");
	size_t n = json_object_array_length(d);
	if (n == 0)
		BAD("field 'dialog': must hold at least one message");
	static const char *const msg_keys[] = { "role", "content", NULL };
	const char *expect = NULL;
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(d, i);
		if (!m || !json_object_is_type(m, json_type_object))
			BAD("field 'dialog[%zu]': must be an object", i);
		char where[32];
		snprintf(where, sizeof where, "dialog[%zu]", i);
		SP_FORWARD(check_keys(m, msg_keys, where, err));
		json_object *role = json_object_object_get(m, "role"), *content = json_object_object_get(m, "content");
		if (!role)
			BAD("missing field 'dialog[%zu].role'", i);
		if (!is_str(role))
			BAD("field 'dialog[%zu].role': must be a string", i);
		if (!content)
			BAD("missing field 'dialog[%zu].content'", i);
		if (!is_str(content))
			BAD("field 'dialog[%zu].content': must be a string", i);
		const char *r = json_object_get_string(role);
		if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant"))
			BAD("field 'dialog[%zu].role': must be user, assistant or system, not '%.40s'", i, r);
		if (strcmp(r, "system") == 0) {
			if (i != 0)
				BAD("field 'dialog[%zu].role': a system message may only come first", i);
			continue;
		}
		if (expect && strcmp(r, expect) != 0)
			BAD("field 'dialog[%zu].role': turns must alternate user and assistant, expected %s", i, expect);
		if (!expect && strcmp(r, "user") != 0)
			BAD("field 'dialog[%zu].role': the dialog must start with a user turn", i);
		expect = strcmp(r, "user") == 0 ? "assistant" : "user";
	}
	if (!expect || strcmp(expect, "assistant") != 0)
		BAD("field 'dialog': must end with a user turn (the turn to answer)");
	return 0;
}

static int validate_prompt(json_object *obj, sp_err *err)
{
	static const char *const keys[] = { "id", "category", "dialog", "risk_category", "attack_vectors", "gold", "meta", NULL };
	SP_FORWARD(check_keys(obj, keys, "", err));
	SP_FORWARD(check_id(obj, "id", 1, err));
	json_object *c = json_object_object_get(obj, "category");
	if (!c)
		BAD("missing field 'category'");
	if (!is_str(c) || (strcmp(json_object_get_string(c), "helpfulness") && strcmp(json_object_get_string(c), "safety")))
		BAD("field 'category': must be \"helpfulness\" or \"safety\"");
	SP_FORWARD(check_dialog(json_object_object_get(obj, "dialog"), err));
	SP_FORWARD(check_opt_str(obj, "risk_category", 1, err));
	json_object *av;
	if (json_object_object_get_ex(obj, "attack_vectors", &av)) {
		if (!av || !json_object_is_type(av, json_type_array))
			BAD("field 'attack_vectors': must be an array of strings");
		for (size_t i = 0; i < json_object_array_length(av); i++)
			if (!is_str(json_object_array_get_idx(av, i)))
				BAD("field 'attack_vectors[%zu]': must be a string", i);
	}
	json_object *g;
	if (json_object_object_get_ex(obj, "gold", &g)) {
		if (!g || !json_object_is_type(g, json_type_object))
			BAD("field 'gold': must be an object");
		static const char *const gkeys[] = { "chosen", "rejected", "both_bad", NULL };
		SP_FORWARD(check_keys(g, gkeys, "gold", err));
		json_object *ch = json_object_object_get(g, "chosen"), *rj = json_object_object_get(g, "rejected");
		json_object *bb;
		int has_bb = json_object_object_get_ex(g, "both_bad", &bb);
		if (has_bb && (!bb || !json_object_is_type(bb, json_type_boolean)))
			BAD("field 'gold.both_bad': must be true or false");
		int both_bad = has_bb && json_object_get_boolean(bb);
		if ((ch && !is_str(ch)) || (rj && !is_str(rj)))
			BAD("field 'gold': chosen and rejected must be response ids (strings)");
		if (both_bad && (ch || rj))
			BAD("field 'gold': both_bad excludes chosen/rejected");
		if (!both_bad && (!ch || !rj))
			BAD("field 'gold': needs chosen and rejected, or both_bad: true");
		if (ch && rj && strcmp(json_object_get_string(ch), json_object_get_string(rj)) == 0)
			BAD("field 'gold': chosen and rejected are the same response");
	}
	json_object *meta;
	if (json_object_object_get_ex(obj, "meta", &meta) && (!meta || !json_object_is_type(meta, json_type_object)))
		BAD("field 'meta': must be an object");
	return 0;
}

static int check_int(json_object *obj, const char *field, int64_t min, sp_err *err)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, field, &v))
		return 0;
	if (!v || !json_object_is_type(v, json_type_int))
		BAD("field '%s': must be an integer", field);
	if (json_object_get_int64(v) < min)
		BAD("field '%s': must be at least %lld", field, (long long)min);
	return 0;
}

static int validate_response(json_object *obj, sp_err *err)
{
	static const char *const keys[] = { "id", "prompt_id", "response", "model", "variant", "temperature", "top_p",
	                                    "top_k", "max_new_tokens", "seed", "n_tokens", "finish_reason",
	                                    "created_at", "meta", "scores", NULL };
	SP_FORWARD(check_keys(obj, keys, "", err));
	SP_FORWARD(check_id(obj, "id", 0, err));
	SP_FORWARD(check_id(obj, "prompt_id", 1, err));
	json_object *r = json_object_object_get(obj, "response");
	if (!r)
		BAD("missing field 'response'");
	if (!is_str(r))
		BAD("field 'response': must be a string");
	json_object *m = json_object_object_get(obj, "model");
	if (!m)
		BAD("missing field 'model'");
	if (!is_str(m) || json_object_get_string_len(m) == 0)
		BAD("field 'model': must be a non-empty string");
	SP_FORWARD(check_opt_str(obj, "variant", 0, err));
	json_object *t = json_object_object_get(obj, "temperature");
	if (t && (!is_num(t) || !(json_object_get_double(t) >= 0) || !isfinite(json_object_get_double(t))))
		BAD("field 'temperature': must be a number >= 0");
	json_object *tp;
	if (json_object_object_get_ex(obj, "top_p", &tp) &&
	    (!is_num(tp) || !(json_object_get_double(tp) >= 0 && json_object_get_double(tp) <= 1)))
		BAD("field 'top_p': must be a number in [0, 1]");
	SP_FORWARD(check_int(obj, "top_k", 0, err));
	SP_FORWARD(check_int(obj, "max_new_tokens", 0, err));
	SP_FORWARD(check_int(obj, "seed", INT64_MIN, err));
	SP_FORWARD(check_int(obj, "n_tokens", 0, err));
	json_object *fr;
	if (json_object_object_get_ex(obj, "finish_reason", &fr) &&
	    (!is_str(fr) || (strcmp(json_object_get_string(fr), "stop") && strcmp(json_object_get_string(fr), "length"))))
		BAD("field 'finish_reason': must be \"stop\" or \"length\"");
	SP_FORWARD(check_opt_str(obj, "created_at", 0, err));
	json_object *meta;
	if (json_object_object_get_ex(obj, "meta", &meta) && (!meta || !json_object_is_type(meta, json_type_object)))
		BAD("field 'meta': must be an object");
	json_object *scores; /* `train score` output: accepted, not stored */
	if (json_object_object_get_ex(obj, "scores", &scores) && (!scores || !json_object_is_type(scores, json_type_object)))
		BAD("field 'scores': must be an object");
	return 0;
}

/* Refuses U+0000 in any string of the record: ids, texts and names go to SQLite and the screen as
 * C strings, which would cut them at the NUL (hidden text vanishes, different ids collide). */
static int check_no_nul(json_object *o, const char *path, sp_err *err)
{
	char sub[200];
	if (json_object_is_type(o, json_type_string)) {
		if (strlen(json_object_get_string(o)) != (size_t)json_object_get_string_len(o))
			BAD("field '%s': contains U+0000 (NUL), which annotate does not store", path);
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			snprintf(sub, sizeof sub, "%s[%zu]", path, i);
			SP_FORWARD(check_no_nul(json_object_array_get_idx(o, i), sub, err));
		}
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val) {
			snprintf(sub, sizeof sub, "%s%s%.100s", path, *path ? "." : "", key);
			SP_FORWARD(check_no_nul(val, sub, err));
		}
	}
	return 0;
}

int ann_record_validate(int kind, json_object *obj, sp_err *err)
{
	if (!obj || !json_object_is_type(obj, json_type_object))
		BAD("a record must be a JSON object");
	SP_FORWARD(check_no_nul(obj, "", err));
	return kind == ANN_PROMPTS ? validate_prompt(obj, err) : validate_response(obj, err);
}

/* ------------------------------------------------------------------ import */

static const char *json_text(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static const char *get_str(json_object *obj, const char *key)
{
	json_object *v = json_object_object_get(obj, key);
	return is_str(v) ? json_object_get_string(v) : NULL;
}

/* Replica count of a new task: a stable hash of its key decides whether it is an overlap item. */
static int task_replicas(const char *key, double overlap, int overlap_k)
{
	if (overlap <= 0)
		return 1;
	uint64_t h = sp_hash64(key, strlen(key), 0x616e6e6f74617465ULL);
	return (double)(h % 1000000) < overlap * 1000000.0 ? overlap_k : 1;
}

typedef struct import_ctx {
	ann_db *db;
	int64_t batch;
	double now, overlap;
	int overlap_k;
	sqlite3_stmt *get, *ins, *task, *resp;
} import_ctx;

static int add_sft_task(import_ctx *c, const char *prompt_id, uint64_t *n_tasks, sp_err *err)
{
	if (!c->task)
		SP_FORWARD(ann_prep(c->db, &c->task,
			"INSERT OR IGNORE INTO tasks(kind, prompt_id, replicas, created_at) VALUES ('sft', ?1, ?2, ?3)", err));
	sqlite3_stmt *st = c->task;
	char key[300];
	snprintf(key, sizeof key, "sft\x1f%s", prompt_id);
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, prompt_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, task_replicas(key, c->overlap, c->overlap_k));
	sqlite3_bind_double(st, 3, c->now);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ann_sql_fail(c->db, err, "adding sft task");
	if (rc == 0)
		*n_tasks += (uint64_t)sqlite3_changes(c->db->h);
	sqlite3_reset(st);
	return rc;
}

static int import_prompt(import_ctx *c, json_object *obj, int make_sft, ann_import_result *res, sp_err *err)
{
	const char *id = get_str(obj, "id"), *cat = get_str(obj, "category");
	json_object *dialog = json_object_object_get(obj, "dialog");
	char *dialog_s = sp_strdup(json_text(dialog));
	if (!dialog_s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	int rc = 0;
	sqlite3_reset(c->get);
	sqlite3_bind_text(c->get, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(c->get);
	if (s == SQLITE_ROW) {
		const char *d0 = (const char *)sqlite3_column_text(c->get, 0);
		const char *c0 = (const char *)sqlite3_column_text(c->get, 1);
		if (!d0 || !c0 || strcmp(d0, dialog_s) || strcmp(c0, cat))
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__,
			                 "prompt id '%.100s' is already in the database with a different dialog or category", id);
		else
			res->unchanged++;
		sqlite3_reset(c->get);
		sp_free(dialog_s);
		return rc;
	}
	sqlite3_reset(c->get);
	if (s != SQLITE_DONE) {
		sp_free(dialog_s);
		return ann_sql_fail(c->db, err, "looking up prompt");
	}
	json_object *av = json_object_object_get(obj, "attack_vectors");
	json_object *gold = json_object_object_get(obj, "gold");
	json_object *meta = json_object_object_get(obj, "meta");
	sqlite3_stmt *st = c->ins;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cat, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, dialog_s, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)json_object_array_length(dialog));
	ann_bind_text(st, 5, get_str(obj, "risk_category"));
	ann_bind_text(st, 6, av ? json_text(av) : NULL);
	ann_bind_text(st, 7, gold ? json_text(gold) : NULL);
	ann_bind_text(st, 8, meta ? json_text(meta) : NULL);
	sqlite3_bind_int64(st, 9, c->batch);
	sqlite3_bind_double(st, 10, c->now);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ann_sql_fail(c->db, err, "adding prompt");
	sqlite3_reset(st);
	sp_free(dialog_s);
	if (rc == 0)
		res->added++;
	if (rc == 0 && make_sft)
		rc = add_sft_task(c, id, &res->tasks, err);
	return rc;
}

static int import_response(import_ctx *c, json_object *obj, ann_import_result *res, sp_err *err)
{
	const char *pid = get_str(obj, "prompt_id"), *text = get_str(obj, "response");
	const char *model = get_str(obj, "model"), *variant = get_str(obj, "variant");
	json_object *tj = json_object_object_get(obj, "temperature");   /* optional: serving systems give none */
	double temp = tj ? json_object_get_double(tj) : -1;
	char idbuf[400];
	const char *id = get_str(obj, "id");
	if (!id) {
		sp_buf k = SP_BUF_INIT;
		json_object *seed = json_object_object_get(obj, "seed");
		int r = sp_buf_appendf(&k, "%s%c%s%c%.17g%c%lld%c", model, 0, variant ? variant : "", 0, temp, 0,
		                       seed ? (long long)json_object_get_int64(seed) : -1LL, 0);
		r = r ? r : sp_buf_appends(&k, text);
		if (r < 0) {
			sp_buf_release(&k);
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
		snprintf(idbuf, sizeof idbuf, "%s/%016llx", pid, (unsigned long long)sp_hash64(k.p, k.len, 0));
		sp_buf_release(&k);
		id = idbuf;
	}
	int64_t exists = 0;
	sqlite3_reset(c->get);
	sqlite3_bind_text(c->get, 1, pid, -1, SQLITE_STATIC);
	int s = sqlite3_step(c->get);
	exists = s == SQLITE_ROW;
	sqlite3_reset(c->get);
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		return ann_sql_fail(c->db, err, "looking up prompt");
	if (!exists)
		SP_RAISE(err, SP_EDATA, "unknown prompt_id '%.100s' (import its prompt first)", pid);
	if (!c->resp)
		SP_FORWARD(ann_prep(c->db, &c->resp, "SELECT prompt_id, text, model FROM responses WHERE id = ?1", err));
	sqlite3_stmt *q = c->resp;
	sqlite3_reset(q);
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	s = sqlite3_step(q);
	if (s == SQLITE_ROW) {
		int same = strcmp((const char *)sqlite3_column_text(q, 0), pid) == 0 &&
		           strcmp((const char *)sqlite3_column_text(q, 1), text) == 0 &&
		           strcmp((const char *)sqlite3_column_text(q, 2), model) == 0;
		sqlite3_reset(q);
		if (!same)
			SP_RAISE(err, SP_EDATA, "response id '%.100s' is already in the database with different content", id);
		res->unchanged++;
		return 0;
	}
	sqlite3_reset(q);
	if (s != SQLITE_DONE)
		return ann_sql_fail(c->db, err, "looking up response");
	json_object *meta = json_object_object_get(obj, "meta"), *v;
	sqlite3_stmt *st = c->ins;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, text, json_object_get_string_len(json_object_object_get(obj, "response")), SQLITE_STATIC);
	sqlite3_bind_text(st, 4, model, -1, SQLITE_STATIC);
	ann_bind_text(st, 5, variant);
	if (tj)
		sqlite3_bind_double(st, 6, temp);
	if ((v = json_object_object_get(obj, "top_p")))
		sqlite3_bind_double(st, 7, json_object_get_double(v));
	static const char *const ints[] = { "top_k", "max_new_tokens", "seed", "n_tokens" };
	for (int i = 0; i < 4; i++)
		if ((v = json_object_object_get(obj, ints[i])))
			sqlite3_bind_int64(st, 8 + i, json_object_get_int64(v));
	ann_bind_text(st, 12, get_str(obj, "finish_reason"));
	ann_bind_text(st, 13, get_str(obj, "created_at"));
	ann_bind_text(st, 14, meta ? json_text(meta) : NULL);
	sqlite3_bind_int64(st, 15, c->batch);
	sqlite3_bind_double(st, 16, c->now);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ann_sql_fail(c->db, err, "adding response");
	sqlite3_reset(st);
	if (rc == 0)
		res->added++;
	return rc;
}

int ann_round_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == ':' || s[i] == '-'))
			return 0;
	return 1;
}

int ann_import(ann_db *db, int kind, const char *path, int make_sft, ann_import_result *res, sp_err *err)
{
	ann_import_opts o = { make_sft, NULL, 0 };
	return ann_import_ex(db, kind, path, &o, res, err);
}

int ann_import_ex(ann_db *db, int kind, const char *path, const ann_import_opts *o, ann_import_result *res, sp_err *err)
{
	memset(res, 0, sizeof *res);
	int make_sft = o->make_sft;
	if (o->round && !ann_round_valid(o->round))
		SP_RAISE(err, SP_EUSAGE, "round '%.80s': use 1 to 64 letters, digits and . _ : -", o->round);
	import_ctx c;
	memset(&c, 0, sizeof c);
	c.db = db;
	c.now = ann_now();
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	sqlite3_stmt *b = NULL;
	double k = 2;
	int rc = sp_in_open(&in, path, err);
	if (rc < 0)
		return rc;
	if ((rc = ann_begin(db, err)) < 0)
		goto done;
	if ((rc = ann_setting_get(db, "overlap", &c.overlap, err)) < 0 || (rc = ann_setting_get(db, "overlap_k", &k, err)) < 0)
		goto done;
	c.overlap_k = (int)k;
	if ((rc = ann_prep(db, &b, "INSERT INTO batches(kind, source, n_records, created_at, round, eval) VALUES (?1, ?2, 0, ?3, ?4, ?5)", err)) < 0)
		goto done;
	sqlite3_bind_text(b, 1, kind == ANN_PROMPTS ? "prompts" : "responses", -1, SQLITE_STATIC);
	sqlite3_bind_text(b, 2, path ? path : "-", -1, SQLITE_STATIC);
	sqlite3_bind_double(b, 3, c.now);
	ann_bind_text(b, 4, o->round);
	sqlite3_bind_int(b, 5, o->eval ? 1 : 0);
	if (sqlite3_step(b) != SQLITE_DONE) {
		rc = ann_sql_fail(db, err, "adding batch");
		goto done;
	}
	c.batch = sqlite3_last_insert_rowid(db->h);
	if (kind == ANN_PROMPTS) {
		rc = ann_prep(db, &c.get, "SELECT dialog, category FROM prompts WHERE id = ?1", err);
		rc = rc ? rc : ann_prep(db, &c.ins,
			"INSERT INTO prompts(id, category, dialog, n_turns, risk_category, attack_vectors, gold, meta, batch_id, created_at) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", err);
	} else {
		rc = ann_prep(db, &c.get, "SELECT 1 FROM prompts WHERE id = ?1", err);
		rc = rc ? rc : ann_prep(db, &c.ins,
			"INSERT INTO responses(id, prompt_id, text, model, variant, temperature, top_p, top_k, max_new_tokens, seed, "
			"n_tokens, finish_reason, sampled_at, meta, batch_id, created_at) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)", err);
	}
	if (rc < 0)
		goto done;
	for (;;) {
		rc = sp_jsonl_next(in, &rec, err);
		if (rc == 0)
			break;
		if (rc < 0)
			goto done;
		res->records++;
		rc = ann_record_validate(kind, rec.obj, err);
		if (rc == 0)
			rc = kind == ANN_PROMPTS ? import_prompt(&c, rec.obj, make_sft, res, err)
			                         : import_response(&c, rec.obj, res, err);
		if (rc < 0) {
			sp_err_locate(err, sp_in_name(in), rec.lineno);
			goto done;
		}
	}
	if (kind == ANN_RESPONSES && !o->eval && (rc = ann_pair_responses(db, NULL, &res->tasks, err)) < 0)
		goto done;
	sqlite3_reset(b);
	sqlite3_finalize(b);
	b = NULL;
	if ((rc = ann_prep(db, &b, "UPDATE batches SET n_records = ?1 WHERE id = ?2", err)) < 0)
		goto done;
	sqlite3_bind_int64(b, 1, (int64_t)res->added);
	sqlite3_bind_int64(b, 2, c.batch);
	if (sqlite3_step(b) != SQLITE_DONE) {
		rc = ann_sql_fail(db, err, "updating batch");
		goto done;
	}
	rc = ann_commit(db, err);
	res->batch = c.batch;
done:
	if (rc < 0) {
		ann_rollback(db);
		memset(res, 0, sizeof *res);
	}
	sqlite3_finalize(b);
	sqlite3_finalize(c.get);
	sqlite3_finalize(c.ins);
	sqlite3_finalize(c.task);
	sqlite3_finalize(c.resp);
	sp_record_release(&rec);
	sp_in_free(in);
	return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------ pairing */

typedef struct cand { char *pid, *id, *mv, *gold; int used; } cand;

typedef struct pairer { ann_db *db; sqlite3_stmt *ins; double overlap, now; int k; uint64_t *n_tasks; } pairer;

static int add_pair(pairer *pr, const char *pid, const char *x, const char *y, int gold, const char *gold_choice_for_x,
                    sp_err *err)
{
	/* Store the pair in id order so (a, b) is canonical; gold_choice is given for x. */
	const char *a = strcmp(x, y) < 0 ? x : y, *bb = a == x ? y : x;
	const char *gc = NULL;
	if (gold_choice_for_x)
		gc = strcmp(gold_choice_for_x, "both_bad") == 0 ? "both_bad" : (a == x ? "a" : "b");
	char key[700];
	snprintf(key, sizeof key, "preference\x1f%s\x1f%s", a, bb);
	if (!pr->ins)
		SP_FORWARD(ann_prep(pr->db, &pr->ins,
			"INSERT OR IGNORE INTO tasks(kind, prompt_id, response_a, response_b, replicas, gold, gold_choice, created_at) "
			"VALUES ('preference', ?1, ?2, ?3, ?4, ?5, ?6, ?7)", err));
	sqlite3_stmt *st = pr->ins;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, bb, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, gold ? 1 : task_replicas(key, pr->overlap, pr->k));
	sqlite3_bind_int(st, 5, gold);
	ann_bind_text(st, 6, gc);
	sqlite3_bind_double(st, 7, pr->now);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ann_sql_fail(pr->db, err, "adding preference task");
	if (rc == 0)
		*pr->n_tasks += (uint64_t)sqlite3_changes(pr->db->h);
	sqlite3_reset(st);
	return rc;
}

/* Pairs the unpaired responses c[0..n) of one prompt: the gold pair first, then greedily two of
 * different model/variant when possible. */
static int pair_prompt(pairer *pr, cand *c, size_t n, sp_err *err)
{
	int rc = 0;
	json_object *gold = c[0].gold ? json_tokener_parse(c[0].gold) : NULL;
	const char *gch = gold ? get_str(gold, "chosen") : NULL, *grj = gold ? get_str(gold, "rejected") : NULL;
	json_object *bbo = gold ? json_object_object_get(gold, "both_bad") : NULL;
	int both_bad = bbo && json_object_get_boolean(bbo);
	if (gch && grj) {
		size_t i = n, j = n;
		for (size_t x = 0; x < n; x++) {
			if (strcmp(c[x].id, gch) == 0) i = x;
			if (strcmp(c[x].id, grj) == 0) j = x;
		}
		if (i < n && j < n) {
			rc = add_pair(pr, c[0].pid, c[i].id, c[j].id, 1, "x", err);
			c[i].used = c[j].used = 1;
		}
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (c[i].used)
			continue;
		size_t pick = n;
		for (size_t j = i + 1; j < n; j++) {
			if (c[j].used)
				continue;
			if (strcmp(c[i].mv, c[j].mv) != 0) { pick = j; break; }
			if (pick == n) pick = j;
		}
		if (pick == n)
			break;
		rc = add_pair(pr, c[0].pid, c[i].id, c[pick].id, both_bad, both_bad ? "both_bad" : NULL, err);
		c[i].used = c[pick].used = 1;
	}
	json_object_put(gold);
	return rc;
}

int ann_pair_responses(ann_db *db, const char *prompt_id, uint64_t *n_tasks, sp_err *err)
{
	pairer pr = { db, NULL, 0, ann_now(), 2, n_tasks };
	double k = 2;
	SP_FORWARD(ann_setting_get(db, "overlap", &pr.overlap, err));
	SP_FORWARD(ann_setting_get(db, "overlap_k", &k, err));
	pr.k = (int)k;
	sqlite3_stmt *st;
	/* One pass over the responses in no pair yet, grouped by prompt (collected first: pairing
	 * writes to tasks, which this query reads). */
	SP_FORWARD(ann_prep(db, &st,
		"SELECT r.prompt_id, r.id, r.model || char(31) || coalesce(r.variant, ''), p.gold FROM responses r "
		"JOIN prompts p ON p.id = r.prompt_id WHERE (?1 IS NULL OR r.prompt_id = ?1) "
		"AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = r.batch_id AND b.eval = 1) "
		"AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.kind = 'preference' AND t.response_a = r.id) "
		"AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.kind = 'preference' AND t.response_b = r.id) "
		"ORDER BY p.rowid, r.rowid", err));
	ann_bind_text(st, 1, prompt_id);
	cand *c = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			cand *g = sp_realloc(c, nc * sizeof *g);
			if (!g) { rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory"); break; }
			c = g;
			cap = nc;
		}
		cand *x = &c[n++];
		x->pid = ann_col_dup(st, 0);
		x->id = ann_col_dup(st, 1);
		x->mv = ann_col_dup(st, 2);
		x->gold = ann_col_dup(st, 3);
		x->used = 0;
		if (!x->pid || !x->id || !x->mv) { rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory"); break; }
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = ann_sql_fail(db, err, "listing responses to pair");
	sqlite3_finalize(st);
	for (size_t i = 0; rc == 0 && i < n;) {
		size_t j = i + 1;
		while (j < n && strcmp(c[j].pid, c[i].pid) == 0)
			j++;
		rc = pair_prompt(&pr, c + i, j - i, err);
		i = j;
	}
	sqlite3_finalize(pr.ins);
	for (size_t i = 0; i < n; i++) {
		sp_free(c[i].pid);
		sp_free(c[i].id);
		sp_free(c[i].mv);
		sp_free(c[i].gold);
	}
	sp_free(c);
	return rc;
}
