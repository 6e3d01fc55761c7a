/* test_annotate.c - units of spindle annotate: kappa against textbook cases, safe text and
 * wrapping, record validation, and the lease rules through the library API on a temporary DB. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../annotate/annotate.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

/* ------------------------------------------------------------------ kappa */

Test(annotate_kappa, cohen_matches_the_textbook_two_rater_case)
{
	/* 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15. po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4. */
	int x[50], y[50], n = 0;
	for (int i = 0; i < 20; i++) { x[n] = 0; y[n] = 0; n++; }
	for (int i = 0; i < 5; i++) { x[n] = 0; y[n] = 1; n++; }
	for (int i = 0; i < 10; i++) { x[n] = 1; y[n] = 0; n++; }
	for (int i = 0; i < 15; i++) { x[n] = 1; y[n] = 1; n++; }
	cr_assert_float_eq(ann_cohen_kappa(x, y, 50, 2), 0.4, 1e-12);
}

Test(annotate_kappa, cohen_is_undefined_when_chance_agreement_is_total)
{
	int x[3] = { 1, 1, 1 }, y[3] = { 1, 1, 1 };
	cr_assert(isnan(ann_cohen_kappa(x, y, 3, 2)));
	cr_assert(isnan(ann_cohen_kappa(x, y, 0, 2)));
}

Test(annotate_kappa, fleiss_matches_the_textbook_fourteen_rater_case)
{
	/* Fleiss (1971) style example: 10 subjects, 14 raters, 5 categories; kappa = 0.2099. */
	static const int c[50] = { 0, 0, 0, 0, 14, 0, 2, 6, 4, 2, 0, 0, 3, 5, 6, 0, 3, 9, 2, 0, 2, 2, 8, 1, 1,
	                           7, 7, 0, 0, 0, 3, 2, 6, 3, 0, 2, 5, 3, 2, 2, 6, 5, 2, 1, 0, 0, 2, 2, 3, 7 };
	cr_assert_float_eq(ann_fleiss_kappa(c, 10, 5), 0.20993, 5e-5);
}

Test(annotate_kappa, fleiss_of_two_raters_ignores_single_rated_items)
{
	static const int c[] = { 2, 0, 0, 2, 1, 0 /* one rater: ignored */, 1, 1 };
	/* items 1, 2, 4: P = 1, 1, 0 -> 2/3; p = (3/6, 3/6) -> pe 0.5; kappa = (2/3 - 1/2) / (1/2) = 1/3 */
	cr_assert_float_eq(ann_fleiss_kappa(c, 4, 2), 1.0 / 3.0, 1e-12);
}

/* ------------------------------------------------------------------ safe text */

static char *san(const char *s, size_t n)
{
	sp_buf b = SP_BUF_INIT;
	cr_assert_eq(ann_text_sanitize(s, n, &b), 0);
	return sp_buf_detach(&b, NULL);
}

Test(annotate_text, escape_sequences_become_visible_text)
{
	const char *in = "a\x1b[31mred\x1b]2;t\x07";
	char *o = san(in, strlen(in));
	cr_assert_str_eq(o, "a^[[31mred^[]2;t^G");
	sp_free(o);
}

Test(annotate_text, c1_bidi_and_invalid_bytes_are_named)
{
	char *o = san("\xc2\x9b" "x\xe2\x80\xae" "y\xff\x7f", 9);
	cr_assert_str_eq(o, "<U+009B>x<U+202E>y<FF>^?");
	sp_free(o);
}

Test(annotate_text, tabs_and_crlf)
{
	char *o = san("a\tb\r\nc\rd", 8);
	cr_assert_str_eq(o, "a    b\nc^Md");
	sp_free(o);
}

Test(annotate_text, no_control_byte_survives_random_input)
{
	unsigned seed = 12345;
	char in[512];
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof in; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = (char)(seed >> 16);
		}
		char *o = san(in, sizeof in);
		size_t n = strlen(o), bad;
		for (size_t i = 0; i < n; i++)
			cr_assert(((unsigned char)o[i] >= 0x20 && o[i] != 0x7f) || o[i] == '\n', "byte %02x at %zu", (unsigned char)o[i], i);
		cr_assert(sp_utf8_valid(o, n, &bad));
		sp_free(o);
	}
}

static int line_width(const char *s, size_t n)
{
	int w = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = sp_utf8_decode(s + i, n - i, &cp);
		cr_assert(l > 0);
		w += ann_cp_width(cp);
		i += l;
	}
	return w;
}

Test(annotate_text, wraps_at_spaces_and_breaks_long_words)
{
	ann_lines l = { 0 };
	const char *s = "hello world foo\nabcdefghijklmnop";
	cr_assert_eq(ann_text_wrap(s, strlen(s), 11, &l), 0);
	cr_assert_eq(l.n, 4);
	cr_assert_eq(l.len[0], 11); /* "hello world" */
	cr_assert_eq(strncmp(s + l.start[1], "foo", l.len[1]), 0);
	cr_assert_eq(l.len[2], 11);
	cr_assert_eq(l.len[3], 5);
	ann_lines_release(&l);
}

Test(annotate_text, wide_characters_count_two_columns)
{
	ann_lines l = { 0 };
	const char *s = "日本語日本語"; /* 6 wide characters, 12 columns */
	cr_assert_eq(ann_text_wrap(s, strlen(s), 5, &l), 0);
	cr_assert_eq(l.n, 3);
	for (size_t i = 0; i < l.n; i++)
		cr_assert_eq(line_width(s + l.start[i], l.len[i]), 4);
	ann_lines_release(&l);
}

Test(annotate_text, no_wrapped_line_is_wider_than_asked)
{
	sp_buf t = SP_BUF_INIT;
	for (int i = 0; i < 300; i++)
		sp_buf_appends(&t, i % 7 == 0 ? "語 " : i % 5 == 0 ? "supercalifragilistic " : i % 11 == 0 ? "\n" : "ab ");
	for (int w = 4; w < 50; w += 3) {
		ann_lines l = { 0 };
		cr_assert_eq(ann_text_wrap(t.p, t.len, w, &l), 0);
		size_t covered = 0;
		for (size_t i = 0; i < l.n; i++) {
			cr_assert_leq(line_width(t.p + l.start[i], l.len[i]), w);
			covered += l.len[i];
		}
		cr_assert_gt(covered, t.len / 2);
		ann_lines_release(&l);
	}
	sp_buf_release(&t);
}

/* ------------------------------------------------------------------ validation */

static int validate(int kind, const char *json, char *msg, size_t n)
{
	json_object *o = json_tokener_parse(json);
	sp_err e = SP_ERR_INIT;
	int rc = ann_record_validate(kind, o, &e);
	snprintf(msg, n, "%s", e.msg);
	json_object_put(o);
	return rc;
}

Test(annotate_validate, accepts_multi_turn_prompts_with_system_message)
{
	char m[512];
	cr_assert_eq(validate(ANN_PROMPTS, "{\"id\":\"a\",\"category\":\"safety\",\"risk_category\":null,\"attack_vectors\":[\"role_play\"],"
	             "\"dialog\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"u\"},"
	             "{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"u2\"}]}", m, sizeof m), 0, "%s", m);
}

Test(annotate_validate, names_the_field_that_is_wrong)
{
	char m[512];
	cr_assert_eq(validate(ANN_PROMPTS, "{\"id\":\"a\",\"category\":\"safety\",\"dialog\":[{\"role\":\"user\",\"content\":\"u\"},"
	             "{\"role\":\"user\",\"content\":\"u\"}]}", m, sizeof m), SP_EDATA);
	cr_assert(strstr(m, "dialog[1].role"), "%s", m);
	cr_assert_eq(validate(ANN_PROMPTS, "{\"id\":\"\",\"category\":\"safety\",\"dialog\":[]}", m, sizeof m), SP_EDATA);
	cr_assert(strstr(m, "'id'"), "%s", m);
	cr_assert_eq(validate(ANN_PROMPTS, "{\"id\":\"a\",\"category\":\"safety\",\"dialog\":[{\"role\":\"user\",\"content\":\"u\"}],"
	             "\"gold\":{\"chosen\":\"x\"}}", m, sizeof m), SP_EDATA);
	cr_assert(strstr(m, "gold"), "%s", m);
	cr_assert_eq(validate(ANN_RESPONSES, "{\"prompt_id\":\"p\",\"response\":\"r\",\"model\":\"m\",\"temperature\":0.5,\"top_k\":1.5}", m, sizeof m), SP_EDATA);
	cr_assert(strstr(m, "top_k"), "%s", m);
	cr_assert_eq(validate(ANN_RESPONSES, "{\"prompt_id\":\"p\",\"response\":\"r\",\"model\":\"m\",\"temperature\":0.5,"
	             "\"variant\":\"v\",\"top_p\":0.9,\"seed\":-3,\"finish_reason\":\"stop\",\"meta\":{}}", m, sizeof m), 0, "%s", m);
}

/* ------------------------------------------------------------------ leases */

static char dir[64];
static ann_db *db;

static void write_file(const char *name, const char *text)
{
	char p[128];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

static void setup_db(void)
{
	snprintf(dir, sizeof dir, "/tmp/spindle-ann-unit.XXXXXX");
	cr_assert(mkdtemp(dir));
	char p[128];
	snprintf(p, sizeof p, "%s/a.db", dir);
	sp_err e = SP_ERR_INIT;
	cr_assert_eq(ann_db_open(&db, p, 1, &e), 0, "%s", e.msg);
	sp_buf b = SP_BUF_INIT, r = SP_BUF_INIT;
	for (int i = 1; i <= 4; i++) {
		sp_buf_appendf(&b, "{\"id\":\"p%d\",\"category\":\"helpfulness\",\"dialog\":[{\"role\":\"user\",\"content\":\"q%d\"}]%s}\n",
		               i, i, i == 4 ? ",\"gold\":{\"chosen\":\"r4b\",\"rejected\":\"r4a\"}" : "");
		sp_buf_appendf(&r, "{\"id\":\"r%da\",\"prompt_id\":\"p%d\",\"response\":\"A\",\"model\":\"m\",\"variant\":\"x\",\"temperature\":1}\n", i, i);
		sp_buf_appendf(&r, "{\"id\":\"r%db\",\"prompt_id\":\"p%d\",\"response\":\"B\",\"model\":\"m\",\"variant\":\"y\",\"temperature\":1}\n", i, i);
	}
	write_file("p.jsonl", b.p);
	write_file("r.jsonl", r.p);
	sp_buf_release(&b);
	sp_buf_release(&r);
	ann_import_result res;
	snprintf(p, sizeof p, "%s/p.jsonl", dir);
	cr_assert_eq(ann_import(db, ANN_PROMPTS, p, 0, &res, &e), 0, "%s", e.msg);
	snprintf(p, sizeof p, "%s/r.jsonl", dir);
	cr_assert_eq(ann_import(db, ANN_RESPONSES, p, 0, &res, &e), 0, "%s", e.msg);
	cr_assert_eq(res.tasks, 4);
}

static void teardown_db(void)
{
	ann_db_free(db);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static ann_pref_answer better(int choice) { ann_pref_answer a = { choice, 2, 0, 0, NULL }; return a; }

Test(annotate_lease, two_annotators_never_hold_the_same_item, .init = setup_db, .fini = teardown_db)
{
	sp_err e = SP_ERR_INIT;
	int64_t x, y;
	cr_assert_eq(ann_setting_set(db, "gold_every", 0, &e), 0);
	cr_assert_eq(ann_annotator_id(db, "x", &x, &e), 0);
	cr_assert_eq(ann_annotator_id(db, "y", &y, &e), 0);
	ann_item a = ANN_ITEM_INIT, b = ANN_ITEM_INIT;
	cr_assert_eq(ann_lease_next(db, x, ANN_PREFERENCE, &a, &e), 1);
	cr_assert_eq(ann_lease_next(db, y, ANN_PREFERENCE, &b, &e), 1);
	cr_assert_neq(a.task_id, b.task_id);
	cr_assert(!a.gold && !b.gold, "gold items come last with gold_every 0");
	/* Asking again returns one's own lease, not a new item. */
	ann_item a2 = ANN_ITEM_INIT;
	cr_assert_eq(ann_lease_next(db, x, ANN_PREFERENCE, &a2, &e), 1);
	cr_assert_eq(a2.task_id, a.task_id);
	ann_pref_answer ans = better(ANN_CHOICE_A);
	int64_t id;
	cr_assert_eq(ann_answer_preference(db, &a, &ans, &id, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(ann_answer_preference(db, &a, &ans, &id, NULL, &e), SP_ENOTFOUND, "a lease answers once");
	ann_item_release(&a);
	ann_item_release(&a2);
	ann_item_release(&b);
}

Test(annotate_lease, an_expired_lease_goes_to_someone_else, .init = setup_db, .fini = teardown_db)
{
	sp_err e = SP_ERR_INIT;
	int64_t x, y;
	ann_setting_set(db, "gold_every", 0, &e);
	ann_setting_set(db, "lease_seconds", 60, &e);
	ann_annotator_id(db, "x", &x, &e);
	ann_annotator_id(db, "y", &y, &e);
	ann_item a = ANN_ITEM_INIT, b = ANN_ITEM_INIT;
	cr_assert_eq(ann_lease_next(db, x, ANN_PREFERENCE, &a, &e), 1);
	ann_clock_shift(61);
	cr_assert_eq(ann_lease_next(db, y, ANN_PREFERENCE, &b, &e), 1);
	cr_assert_eq(b.task_id, a.task_id, "the abandoned item is the lowest open one");
	ann_pref_answer ans = better(ANN_CHOICE_B);
	int64_t id;
	cr_assert_eq(ann_answer_preference(db, &b, &ans, &id, NULL, &e), 0, "%s", e.msg);
	/* x comes back late: the lease is lost, nothing is written. */
	cr_assert_eq(ann_answer_preference(db, &a, &ans, &id, NULL, &e), SP_ENOTFOUND);
	ann_clock_shift(-61);
	ann_item_release(&a);
	ann_item_release(&b);
}

Test(annotate_lease, gold_items_reach_every_annotator_and_undo_reopens, .init = setup_db, .fini = teardown_db)
{
	sp_err e = SP_ERR_INIT;
	ann_setting_set(db, "gold_every", 2, &e);
	int64_t who[2];
	ann_annotator_id(db, "x", &who[0], &e);
	ann_annotator_id(db, "y", &who[1], &e);
	for (int w = 0; w < 2; w++) {
		ann_item it = ANN_ITEM_INIT;
		int golds = 0, n = 0;
		while (ann_lease_next(db, who[w], ANN_PREFERENCE, &it, &e) == 1) {
			golds += it.gold;
			if (n == 1)
				cr_assert(it.gold, "the 2nd item is the gold one");
			ann_pref_answer ans = better(ANN_CHOICE_A);
			int64_t id;
			cr_assert_eq(ann_answer_preference(db, &it, &ans, &id, NULL, &e), 0, "%s", e.msg);
			n++;
			if (n == 3 && w == 1) {
				ann_item back = ANN_ITEM_INIT;
				cr_assert_eq(ann_undo(db, who[w], id, NULL, &back, &e), 0, "%s", e.msg);
				cr_assert_eq(back.task_id, it.task_id);
				cr_assert_eq(ann_answer_preference(db, &back, &ans, &id, NULL, &e), 0, "%s", e.msg);
				ann_item_release(&back);
			}
			ann_item_release(&it);
		}
		cr_assert_eq(golds, 1);
		cr_assert_eq(n, w == 0 ? 4 : 1, "x answers all 4, y only the gold one (n=%d)", n);
	}
}

Test(annotate_lease, safety_prompts_need_labels, .init = setup_db, .fini = teardown_db)
{
	sp_err e = SP_ERR_INIT;
	int64_t x;
	ann_annotator_id(db, "x", &x, &e);
	ann_item it = ANN_ITEM_INIT;
	cr_assert_eq(ann_lease_next(db, x, ANN_PREFERENCE, &it, &e), 1);
	ann_pref_answer ans = better(ANN_CHOICE_A);
	ans.safety_a = ANN_SAFE;
	ans.safety_b = ANN_UNSAFE;
	int64_t id;
	cr_assert_eq(ann_answer_preference(db, &it, &ans, &id, NULL, &e), SP_EDATA, "helpfulness prompt takes no labels");
	ans.level = 4;
	ans.safety_a = ans.safety_b = 0;
	cr_assert_eq(ann_answer_preference(db, &it, &ans, &id, NULL, &e), SP_EDATA, "level 4 is out of range");
	ann_item_release(&it);
}
