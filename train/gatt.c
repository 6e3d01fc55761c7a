/* gatt.c - the lists, templates and generators of Ghost Attention and safety context distillation,
 * and the dialog rewriting both need (gatt.h). No model and no I/O besides loading a list file. */
#include <string.h>
#include "gatt.h"
#include "spindle/io.h"

const char gatt_default_lists[] =
	"{\n"
	"  \"hobbies\": [\"Tennis\", \"Chess\", \"Gardening\", \"Astronomy\", \"Cooking\", \"Photography\", \"Hiking\", \"Painting\",\n"
	"              \"Birdwatching\", \"Sailing\", \"Knitting\", \"Jazz music\"],\n"
	"  \"languages\": [{\"name\": \"French\", \"code\": \"fr\"}, {\"name\": \"German\", \"code\": \"de\"},\n"
	"                {\"name\": \"Spanish\", \"code\": \"es\"}, {\"name\": \"Italian\", \"code\": \"it\"},\n"
	"                {\"name\": \"Portuguese\", \"code\": \"pt\"}, {\"name\": \"Dutch\", \"code\": \"nl\"},\n"
	"                {\"name\": \"English\", \"code\": \"en\"}],\n"
	"  \"figures\": [\"Napoleon\", \"Marie Curie\", \"Ada Lovelace\", \"Julius Caesar\", \"Leonardo da Vinci\", \"Cleopatra\",\n"
	"              \"Isaac Newton\", \"Jane Austen\", \"Nelson Mandela\", \"Albert Einstein\"],\n"
	"  \"long\": {\n"
	"    \"hobby\": [\"You enjoy {x}.\", \"Your favourite hobby is {x}; bring it up when you can.\"],\n"
	"    \"language\": [\"Always speak in {x}.\", \"Answer every message in {x}, whatever language it is in.\"],\n"
	"    \"figure\": [\"Always act as {x} from now.\", \"Speak as if you were {x}.\"]\n"
	"  },\n"
	"  \"short\": {\"hobby\": \"Hobby: {x}\", \"language\": \"Language: {x}\", \"figure\": \"Figure: {x}\"}\n"
	"}\n";

const char distill_default_templates[] =
	"{\n"
	"  \"adjectives\": [\"responsible\", \"respectful\", \"wise\", \"safe\", \"honest\", \"careful\", \"considerate\",\n"
	"                 \"ethical\", \"trustworthy\", \"caring\"],\n"
	"  \"preprompts\": [\n"
	"    \"You are a {adj} and {adj} assistant.\",\n"
	"    \"The following is a conversation with a {adj}, {adj} assistant that always puts the user's safety first.\",\n"
	"    \"You are a helpful, {adj} and {adj} assistant. Your answers never include harmful, unethical or illegal content.\"\n"
	"  ],\n"
	"  \"answer_templates\": {\n"
	"    \"illicit_and_criminal\": \"If a request asks for help with an illegal activity, do not help with it; explain the legal and personal risks, and point to lawful ways to get what the person needs.\",\n"
	"    \"hateful_and_harmful\": \"Never produce content that demeans people for who they are or encourages harm; say why, and offer a respectful way to talk about the topic.\",\n"
	"    \"unqualified_advice\": \"For medical, legal or financial questions, give general information only, say that you are not a professional, and recommend consulting a qualified expert.\",\n"
	"    \"default\": \"If a request could cause harm, decline the harmful part, explain the risks briefly, and offer a safe, helpful alternative.\"\n"
	"  }\n"
	"}\n";

void gatt_lists_release(gatt_lists *l)
{
	json_object_put(l->root);
	l->root = NULL;
}

static int parse_text(gatt_lists *l, const char *text, size_t n, const char *name, sp_err *err)
{
	json_tokener *tk = json_tokener_new();
	l->root = tk && n < (1u << 30) ? json_tokener_parse_ex(tk, text, (int)n) : NULL;
	int bad = !tk || json_tokener_get_error(tk) != json_tokener_success || !json_object_is_type(l->root, json_type_object);
	if (tk)
		json_tokener_free(tk);
	if (bad) {
		gatt_lists_release(l);
		SP_RAISE(err, SP_EDATA, "%s: not a JSON object", name);
	}
	return 0;
}

static int parse(gatt_lists *l, const char *path, const char *builtin, sp_err *err)
{
	sp_buf b = SP_BUF_INIT;
	l->root = NULL;
	if (!path)
		return parse_text(l, builtin, strlen(builtin), "built-in lists", err);
	SP_FORWARD(sp_read_file(path, &b, err));
	int rc = parse_text(l, b.p ? b.p : "", b.len, path, err);
	sp_buf_release(&b);
	return rc;
}

/* a non-empty array of non-empty strings (or of objects with a non-empty string "name") */
static int need_list(json_object *root, const char *key, const char *path, sp_err *err)
{
	json_object *a = NULL;
	if (!json_object_object_get_ex(root, key, &a) || !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) == 0)
		SP_RAISE(err, SP_EDATA, "%s: '%s' must be a non-empty list", path, key);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *x = json_object_array_get_idx(a, i), *n;
		if (json_object_is_type(x, json_type_object) && json_object_object_get_ex(x, "name", &n))
			x = n;
		if (!json_object_is_type(x, json_type_string) || json_object_get_string_len(x) == 0)
			SP_RAISE(err, SP_EDATA, "%s: '%s' item %zu is not a non-empty string", path, key, i + 1);
	}
	return 0;
}

static int check_lists(gatt_lists *l, const char *name, sp_err *err);
static int check_templates(gatt_lists *l, const char *name, sp_err *err);

int gatt_lists_load(gatt_lists *l, const char *path, sp_err *err)
{
	SP_FORWARD(parse(l, path, gatt_default_lists, err));
	return check_lists(l, path ? path : "built-in lists", err);
}

int distill_templates_load(gatt_lists *l, const char *path, sp_err *err)
{
	SP_FORWARD(parse(l, path, distill_default_templates, err));
	return check_templates(l, path ? path : "built-in templates", err);
}

int gatt_lists_parse(gatt_lists *l, const char *text, size_t n, int templates, sp_err *err)
{
	SP_FORWARD(parse_text(l, text, n, "input", err));
	return templates ? check_templates(l, "input", err) : check_lists(l, "input", err);
}

static int check_lists(gatt_lists *l, const char *name, sp_err *err)
{
	static const char *const kinds[] = { "hobby", "language", "figure" };
	json_object *lo, *sh, *langs, *x;
	int rc = need_list(l->root, "hobbies", name, err);
	rc = rc ? rc : need_list(l->root, "languages", name, err);
	rc = rc ? rc : need_list(l->root, "figures", name, err);
	if (rc == 0 && (!json_object_object_get_ex(l->root, "long", &lo) || !json_object_object_get_ex(l->root, "short", &sh)))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: lacks 'long' or 'short' templates", name);
	for (int k = 0; rc == 0 && k < 3; k++) {
		rc = need_list(lo, kinds[k], name, err);
		if (rc == 0 && (!json_object_object_get_ex(sh, kinds[k], &x) || !json_object_is_type(x, json_type_string)))
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: 'short' lacks a '%s' template", name, kinds[k]);
	}
	if (rc == 0 && json_object_object_get_ex(l->root, "languages", &langs))
		for (size_t i = 0; rc == 0 && i < json_object_array_length(langs); i++)
			if (!json_object_object_get_ex(json_object_array_get_idx(langs, i), "code", &x) ||
			    !json_object_is_type(x, json_type_string))
				rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: language %zu lacks its CLD2 'code'", name, i + 1);
	if (rc < 0)
		gatt_lists_release(l);
	return rc;
}

static int check_templates(gatt_lists *l, const char *name, sp_err *err)
{
	json_object *at, *d;
	int rc = need_list(l->root, "adjectives", name, err);
	rc = rc ? rc : need_list(l->root, "preprompts", name, err);
	if (rc == 0 && (!json_object_object_get_ex(l->root, "answer_templates", &at) ||
	                !json_object_object_get_ex(at, "default", &d) || !json_object_is_type(d, json_type_string)))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: 'answer_templates' needs a \"default\" string", name);
	if (rc < 0)
		gatt_lists_release(l);
	return rc;
}

static json_object *get(json_object *o, const char *k)
{
	json_object *x = NULL;
	json_object_object_get_ex(o, k, &x);
	return x;
}

static json_object *pick(json_object *arr, train_rng *r)
{
	return json_object_array_get_idx(arr, (size_t)(rng_u64(r) % json_object_array_length(arr)));
}

/* appends template with every "{key}" replaced by value */
static void fill(sp_buf *out, const char *tmpl, const char *key, const char *value)
{
	size_t kn = strlen(key);
	for (const char *p = tmpl; *p;) {
		if (!strncmp(p, key, kn)) {
			sp_buf_appends(out, value);
			p += kn;
		} else {
			sp_buf_appendc(out, *p++);
		}
	}
}

int gatt_instruction(const gatt_lists *l, train_rng *r, sp_buf *inst, int *short_form, json_object **constraints,
                     sp_err *err)
{
	static const char *const kinds[] = { "hobby", "language", "figure" }, *const lists[] = { "hobbies", "languages", "figures" };
	unsigned mask;
	do
		mask = (unsigned)(rng_u64(r) & 7);
	while (!mask);
	*short_form = (int)(rng_u64(r) & 1);
	json_object *c = constraints ? json_object_new_object() : NULL;
	for (int k = 0; k < 3; k++) {
		if (!(mask & (1u << k)))
			continue;
		json_object *item = pick(get(l->root, lists[k]), r), *code = NULL;
		if (json_object_is_type(item, json_type_object)) {
			code = get(item, "code");
			item = get(item, "name");
		}
		const char *v = json_object_get_string(item);
		const char *tmpl = *short_form ? json_object_get_string(get(get(l->root, "short"), kinds[k]))
		                               : json_object_get_string(pick(get(get(l->root, "long"), kinds[k]), r));
		if (inst->len)
			sp_buf_appends(inst, *short_form ? ", " : " ");
		fill(inst, tmpl, "{x}", v);
		if (c) {
			json_object_object_add(c, kinds[k], json_object_new_string(v));
			if (code)
				json_object_object_add(c, "language_code", json_object_get(code));
		}
	}
	if (constraints)
		*constraints = c;
	if (!inst->p)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

size_t gatt_n_languages(const gatt_lists *l)
{
	return json_object_array_length(get(l->root, "languages"));
}

int gatt_language_instruction(const gatt_lists *l, size_t i, sp_buf *inst, const char **code, const char **name)
{
	json_object *lang = json_object_array_get_idx(get(l->root, "languages"), i);
	*name = json_object_get_string(get(lang, "name"));
	*code = json_object_get_string(get(lang, "code"));
	fill(inst, json_object_get_string(json_object_array_get_idx(get(get(l->root, "long"), "language"), 0)), "{x}", *name);
	return 0;
}

int distill_preprompt(const gatt_lists *t, const char *risk_category, train_rng *r, sp_buf *out, sp_err *err)
{
	json_object *adj = get(t->root, "adjectives");
	size_t na = json_object_array_length(adj), used[64], n_used = 0;
	const char *tmpl = json_object_get_string(pick(get(t->root, "preprompts"), r));
	for (const char *p = tmpl; *p;) {
		if (!strncmp(p, "{adj}", 5)) {
			size_t j;
			int again;
			do {  /* distinct adjectives while there are unused ones */
				j = (size_t)(rng_u64(r) % na);
				again = 0;
				for (size_t k = 0; k < n_used && n_used < na; k++)
					again |= used[k] == j;
			} while (again);
			if (n_used < 64)
				used[n_used++] = j;
			sp_buf_appends(out, json_object_get_string(json_object_array_get_idx(adj, j)));
			p += 5;
		} else {
			sp_buf_appendc(out, *p++);
		}
	}
	json_object *at = get(t->root, "answer_templates"), *a = NULL;
	if (!risk_category || !json_object_object_get_ex(at, risk_category, &a) || !json_object_is_type(a, json_type_string))
		a = get(at, "default");
	sp_buf_appendc(out, ' ');
	if (sp_buf_appends(out, json_object_get_string(a)) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

static const char *role_of(json_object *m, const char **content)
{
	json_object *r, *c;
	if (!json_object_is_type(m, json_type_object) || !json_object_object_get_ex(m, "role", &r) ||
	    !json_object_object_get_ex(m, "content", &c) || !json_object_is_type(c, json_type_string) ||
	    !json_object_is_type(r, json_type_string))
		return NULL;
	*content = json_object_get_string(c);
	return json_object_get_string(r);
}

int gatt_check_dialog(json_object *dialog, size_t *n_users, sp_err *err)
{
	if (!json_object_is_type(dialog, json_type_array) || json_object_array_length(dialog) == 0)
		SP_RAISE(err, SP_EDATA, "'dialog' is not a non-empty array");
	size_t n = json_object_array_length(dialog), i = 0, users = 0;
	const char *c, *role = role_of(json_object_array_get_idx(dialog, 0), &c);
	if (role && !strcmp(role, "system"))
		i = 1;
	for (int expect_user = 1; i < n; i++, expect_user = !expect_user) {
		role = role_of(json_object_array_get_idx(dialog, i), &c);
		if (!role)
			SP_RAISE(err, SP_EDATA, "dialog turn %zu lacks role or content", i + 1);
		if (strcmp(role, expect_user ? "user" : "assistant"))
			SP_RAISE(err, SP_EDATA, "dialog turn %zu is '%s', expected '%s' (turns must alternate user/assistant)", i + 1,
			         role, expect_user ? "user" : "assistant");
		users += expect_user;
	}
	if (!role || strcmp(role, "user"))
		SP_RAISE(err, SP_EDATA, "the dialog must end with a user turn");
	if (n_users)
		*n_users = users;
	return 0;
}

const char *gatt_user_turn(json_object *dialog, size_t i)
{
	size_t n = json_object_array_length(dialog);
	for (size_t j = 0, u = 0; j < n; j++) {
		const char *c, *role = role_of(json_object_array_get_idx(dialog, j), &c);
		if (role && !strcmp(role, "user") && u++ == i)
			return c;
	}
	return NULL;
}

static json_object *turn(const char *role, const char *a, const char *sep, const char *b)
{
	json_object *t = json_object_new_object();
	sp_buf s = SP_BUF_INIT;
	sp_buf_appends(&s, a);
	if (b) {
		sp_buf_appends(&s, sep);
		sp_buf_appends(&s, b);
	}
	json_object_object_add(t, "role", json_object_new_string(role));
	json_object_object_add(t, "content", json_object_new_string_len(s.p ? s.p : "", (int)s.len));
	sp_buf_release(&s);
	return t;
}

json_object *gatt_dialog(json_object *dialog, size_t k, const char *suffix, int suffix_all, const char *extra_system,
                         const char *const *answers, size_t n_answers)
{
	json_object *out = json_object_new_array();
	const char *c, *role = role_of(json_object_array_get_idx(dialog, 0), &c);
	int has_sys = role && !strcmp(role, "system");
	if (has_sys || extra_system)
		json_object_array_add(out, turn("system", has_sys ? c : extra_system, "\n", has_sys ? extra_system : NULL));
	for (size_t i = 0; i < k; i++) {
		const char *u = gatt_user_turn(dialog, i);
		json_object_array_add(out, turn("user", u ? u : "", "\n", suffix && (suffix_all || i == 0) ? suffix : NULL));
		if (i < n_answers)
			json_object_array_add(out, turn("assistant", answers[i], "", NULL));
	}
	return out;
}
