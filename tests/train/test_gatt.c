/* test_gatt.c - Ghost Attention and context distillation building blocks: the seeded instruction
 * generator (reproducible, every combination, shortened about half the time), the dialog checks,
 * the list/template loaders, and the SFT loss mask of GAtt records checked token by token with the
 * real Llama 2 tokenizer (../shared/llama2): "last" = exactly the last assistant turn and its EOS,
 * "all" = every assistant turn, absent = "last" bit for bit; and the gradients of a last-turn-only
 * SFT batch against the independent PyTorch model (tests/train/ref_llama.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../tokenizer/tok.h"
#include "../../train/ckpt.h"
#include "../../train/data.h"
#include "../../train/gatt.h"
#include "../../train/model.h"
#include "../../train/safetensors.h"

#define TOK "../shared/llama2/tokenizer.model"
#define PY "/usr/bin/python3"

Test(gatt, generator_is_seeded_combines_and_shortens_about_half)
{
	gatt_lists l = { NULL };
	sp_err err = SP_ERR_INIT;
	cr_assert(gatt_lists_load(&l, NULL, &err) == 0, "%s", err.msg);
	train_rng a, b;
	rng_seed(&a, 42);
	rng_seed(&b, 42);
	int n_short = 0, seen_mask[8] = { 0 };
	const int N = 400;
	for (int i = 0; i < N; i++) {
		sp_buf x = SP_BUF_INIT, y = SP_BUF_INIT;
		int sx, sy;
		json_object *c = NULL;
		cr_assert(gatt_instruction(&l, &a, &x, &sx, &c, &err) == 0);
		cr_assert(gatt_instruction(&l, &b, &y, &sy, NULL, &err) == 0);
		cr_assert_str_eq(x.p, y.p, "same seed, same instruction");
		cr_assert_eq(sx, sy);
		n_short += sx;
		int mask = (json_object_object_get_ex(c, "hobby", NULL) ? 1 : 0) | (json_object_object_get_ex(c, "language", NULL) ? 2 : 0) |
		           (json_object_object_get_ex(c, "figure", NULL) ? 4 : 0);
		cr_assert(mask != 0, "at least one constraint");
		seen_mask[mask] = 1;
		if (sx) /* shortened: "Hobby: Tennis, Figure: Napoleon" */
			cr_expect(strstr(x.p, ": ") != NULL && !strstr(x.p, "Always"), "short form '%s'", x.p);
		else
			cr_expect(!strstr(x.p, "Figure: ") && !strstr(x.p, "Hobby: "), "long form '%s'", x.p);
		json_object *lc;
		if (json_object_object_get_ex(c, "language", NULL))
			cr_expect(json_object_object_get_ex(c, "language_code", &lc), "a language has its CLD2 code");
		json_object_put(c);
		sp_buf_release(&x);
		sp_buf_release(&y);
	}
	cr_expect(n_short > N * 2 / 5 && n_short < N * 3 / 5, "%d of %d shortened", n_short, N);
	for (int m = 1; m < 8; m++)
		cr_expect(seen_mask[m], "combination %d appears", m);
	/* another seed, another sequence */
	rng_seed(&a, 43);
	rng_seed(&b, 42);
	int differ = 0;
	for (int i = 0; i < 20; i++) {
		sp_buf x = SP_BUF_INIT, y = SP_BUF_INIT;
		int s;
		gatt_instruction(&l, &a, &x, &s, NULL, &err);
		gatt_instruction(&l, &b, &y, &s, NULL, &err);
		differ += strcmp(x.p, y.p) != 0;
		sp_buf_release(&x);
		sp_buf_release(&y);
	}
	cr_expect(differ > 10);
	gatt_lists_release(&l);
}

static char path[64];
static void write_file(const char *text)
{
	snprintf(path, sizeof path, "/tmp/spindle-gatt-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

Test(gatt, empty_or_incomplete_lists_are_clear_errors)
{
	gatt_lists l = { NULL };
	sp_err err = SP_ERR_INIT;
	write_file("{\"hobbies\":[],\"languages\":[{\"name\":\"French\",\"code\":\"fr\"}],\"figures\":[\"N\"],\"long\":{},\"short\":{}}");
	cr_expect(gatt_lists_load(&l, path, &err) == SP_EDATA);
	cr_expect(strstr(err.msg, "'hobbies' must be a non-empty list") != NULL, "%s", err.msg);
	unlink(path);
	write_file("{\"adjectives\":[\"wise\"],\"preprompts\":[\"You are {adj}.\"],\"answer_templates\":{}}");
	err = (sp_err)SP_ERR_INIT;
	cr_expect(distill_templates_load(&l, path, &err) == SP_EDATA);
	cr_expect(strstr(err.msg, "default") != NULL, "%s", err.msg);
	unlink(path);
	cr_assert(distill_templates_load(&l, NULL, &err) == 0);
	sp_buf p = SP_BUF_INIT;
	train_rng r;
	rng_seed(&r, 1);
	cr_assert(distill_preprompt(&l, "illicit_and_criminal", &r, &p, &err) == 0);
	cr_expect(strstr(p.p, "illegal") != NULL && !strstr(p.p, "{adj}"), "preprompt '%s'", p.p);
	sp_buf_release(&p);
	gatt_lists_release(&l);
}

Test(gatt, dialogs_must_alternate_and_end_with_the_user)
{
	const char *bad[] = {
		"[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}]",
		"[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"}]",
		"[{\"role\":\"assistant\",\"content\":\"a\"}]",
		"[]",
	};
	const char *why[] = { "turn 2 is 'user', expected 'assistant'", "end with a user turn", "turn 1 is 'assistant'", "non-empty" };
	for (int i = 0; i < 4; i++) {
		json_object *d = json_tokener_parse(bad[i]);
		sp_err err = SP_ERR_INIT;
		cr_expect(gatt_check_dialog(d, NULL, &err) == SP_EDATA, "dialog %d refused", i);
		cr_expect(strstr(err.msg, why[i]) != NULL, "'%s' says '%s'", err.msg, why[i]);
		json_object_put(d);
	}
	json_object *ok = json_tokener_parse("[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"a\"},"
	                                     "{\"role\":\"assistant\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"c\"}]");
	size_t nu;
	cr_expect(gatt_check_dialog(ok, &nu, NULL) == 0 && nu == 2);
	json_object_put(ok);
}

/* a GAtt record as cli_gatt.c builds it: the instruction only in the first user turn */
static const char *const ANS[3] = { "Bonjour, je suis Napoléon.", "La France est belle.", "Au revoir, mon ami." };
static const char *const INST = "Always speak in French. Figure: Napoleon";

static char *gatt_record(const char *loss_turns)
{
	json_object *d = json_tokener_parse("[{\"role\":\"user\",\"content\":\"Hello, who are you?\"},{\"role\":\"assistant\",\"content\":\"x\"},"
	                                    "{\"role\":\"user\",\"content\":\"Tell me about your country.\"},{\"role\":\"assistant\",\"content\":\"y\"},"
	                                    "{\"role\":\"user\",\"content\":\"Goodbye!\"}]");
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string("gatt-1"));
	json_object_object_add(o, "dialog", gatt_dialog(d, 3, INST, 0, NULL, ANS, 2));
	json_object_object_add(o, "response", json_object_new_string(ANS[2]));
	if (loss_turns)
		json_object_object_add(o, "loss_turns", json_object_new_string(loss_turns));
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	json_object_put(d);
	return s;
}

static int n_occ(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* one batch row of the record (first segment only) */
static void load_row(tok_model *tok, const char *rec, train_batch *b, int T)
{
	size_t len = strlen(rec) + 2;
	char *line = malloc(len);
	snprintf(line, len, "%s\n", rec);
	write_file(line);
	free(line);
	train_data d;
	sp_err err = SP_ERR_INIT;
	cr_assert(data_sft_open(&d, path, tok, T, 1, NULL, &err) == 0, "%s", err.msg);
	cr_assert(train_batch_alloc(b, 1, T, NULL) == 0);
	cr_assert(d.next(d.ctx, b, &err) == 0);
	d.free(d.ctx);
	unlink(path);
}

static void expect_targets(tok_model *tok, const train_batch *b, const char *const *turns, int n_turns, const char *what)
{
	tok_ids want = TOK_IDS_INIT;
	for (int i = 0; i < n_turns; i++) {
		cr_assert(tok_encode(tok, turns[i], strlen(turns[i]), &want, NULL) == 0);
		tok_ids_push(&want, (uint32_t)tok_eos_id(tok));
	}
	size_t k = 0;
	for (int t = 0; t < b->T && b->seg[t] == 0; t++) {
		if (b->targets[t] < 0)
			continue;
		cr_assert(k < want.n, "%s: more targets than the assistant turns' %zu tokens", what, want.n);
		cr_expect_eq((uint32_t)b->targets[t], want.v[k], "%s: target %zu is %d, want %u", what, k, b->targets[t], want.v[k]);
		cr_expect_eq(b->targets[t], b->inputs[t + 1], "%s: a target is the next input", what);
		k++;
	}
	cr_expect_eq(k, want.n, "%s: %zu targets, the turns have %zu tokens", what, k, want.n);
	tok_ids_release(&want);
}

Test(gatt, loss_mask_is_exactly_the_last_turn_with_the_llama2_tokenizer, .timeout = 60)
{
	tok_model *tok = NULL;
	if (access(TOK, R_OK) != 0)
		cr_skip_test("no " TOK);
	cr_assert(tok_model_load(&tok, TOK, NULL) == 0);
	enum { T = 256 };
	train_batch last = TRAIN_BATCH_INIT, none = TRAIN_BATCH_INIT, all = TRAIN_BATCH_INIT;
	char *r_last = gatt_record("last"), *r_none = gatt_record(NULL), *r_all = gatt_record("all");
	load_row(tok, r_last, &last, T);
	load_row(tok, r_none, &none, T);
	load_row(tok, r_all, &all, T);
	/* the instruction is in the first user turn only */
	sp_buf text = SP_BUF_INIT;
	int n = 0;
	while (n < T && last.seg[n] == 0)
		n++;
	uint32_t ids[T];
	for (int i = 0; i < n; i++)
		ids[i] = (uint32_t)last.inputs[i];
	cr_assert(tok_decode(tok, ids, (size_t)n, &text, NULL) == 0);
	cr_expect_eq(n_occ(text.p, INST), 1, "the instruction appears once: '%s'", text.p);
	cr_expect(strstr(text.p, "[INST] Hello, who are you?\nAlways speak in French.") != NULL, "in the first turn: '%s'", text.p);
	cr_expect(strstr(text.p, "Tell me about your country. [/INST]") != NULL, "later turns are clean: '%s'", text.p);
	sp_buf_release(&text);
	expect_targets(tok, &last, ANS + 2, 1, "last");
	expect_targets(tok, &all, ANS, 3, "all");
	cr_expect(!memcmp(last.inputs, none.inputs, sizeof(int32_t) * T) && !memcmp(last.targets, none.targets, sizeof(int32_t) * T) &&
	          !memcmp(last.pos, none.pos, sizeof(int32_t) * T) && !memcmp(last.seg, none.seg, sizeof(int32_t) * T),
	          "no loss_turns field = \"last\", bit for bit");
	cr_expect(!memcmp(last.inputs, all.inputs, sizeof(int32_t) * T), "the loss choice changes targets only");
	free(r_last);
	free(r_none);
	free(r_all);
	train_batch_release(&last);
	train_batch_release(&none);
	train_batch_release(&all);
	tok_model_free(tok);
}

Test(gatt, bad_loss_turns_is_refused_with_the_line)
{
	tok_model *tok = NULL;
	if (access(TOK, R_OK) != 0)
		cr_skip_test("no " TOK);
	cr_assert(tok_model_load(&tok, TOK, NULL) == 0);
	char *ok = gatt_record("last"), *bad = gatt_record("first"), both[4096];
	snprintf(both, sizeof both, "%s\n%s\n", ok, bad);
	write_file(both);
	train_data d;
	sp_err err = SP_ERR_INIT;
	cr_expect(data_sft_open(&d, path, tok, 128, 1, NULL, &err) == SP_EDATA);
	cr_expect(err.line == 2, "line %llu", (unsigned long long)err.line);
	cr_expect(strstr(err.msg, "loss_turns") != NULL, "%s", err.msg);
	unlink(path);
	free(ok);
	free(bad);
	tok_model_free(tok);
}

static double rel_err(const float *a, const float *ref, size_t n)
{
	double md = 0, mr = 0;
	for (size_t i = 0; i < n; i++) {
		double dd = fabs((double)a[i] - ref[i]);
		md = dd > md ? dd : md;
		mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
	}
	return mr > 0 ? md / mr : md;
}

static void add_ints(st_writer *w, const char *name, const int32_t *v, int n, float *store)
{
	for (int i = 0; i < n; i++)
		store[i] = (float)v[i];
	uint64_t shape[1] = { (uint64_t)n };
	cr_assert(st_writer_add(w, name, store, 1, shape, NULL) == 0);
}

Test(gatt, last_turn_only_gradients_match_pytorch, .timeout = 180)
{
	tok_model *tok = NULL;
	if (access(TOK, R_OK) != 0)
		cr_skip_test("no " TOK);
	if (access(PY, X_OK) != 0 || system(PY " -c 'import torch' 2>/dev/null") != 0)
		cr_skip_test("no /usr/bin/python3 with torch");
	cr_assert(tok_model_load(&tok, TOK, NULL) == 0);
	enum { T = 96 };
	train_batch b = TRAIN_BATCH_INIT;
	char *rec = gatt_record("last");
	load_row(tok, rec, &b, T);
	free(rec);
	model_config c = { .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .hidden_dim = 40,
	                   .vocab_size = (int)tok_vocab_size(tok), .max_seq_len = T, .norm_eps = 1e-5f, .rope_theta = 10000.0f };
	model m;
	cr_assert(model_init(&m, &c, 1, T, NULL) == 0);
	model_init_weights(&m, 5);
	model_batch mb = train_batch_view(&b);
	float loss;
	size_t n;
	model_zero_grad(&m);
	model_forward(&m, &mb, &loss, &n);
	cr_assert(n > 3);
	model_backward(&m, &mb, 1.0f / (float)n, NULL);

	char dir[] = "/tmp/spindle-gattg-XXXXXX", in[128], out[128], cmd[512];
	cr_assert(mkdtemp(dir));
	st_writer w = ST_WRITER_INIT;
	cr_assert(model_add_tensors(&w, &m, m.params, "", NULL) == 0);
	float cv[11] = { c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.vocab_size, c.norm_eps, c.rope_theta, 0, 1, T };
	uint64_t s11[1] = { 11 }, s1[1] = { 1 };
	static float st[5][T];
	float margin = 0;
	cr_assert(st_writer_add(&w, "config", cv, 1, s11, NULL) == 0);
	add_ints(&w, "batch.inputs", b.inputs, T, st[0]);
	add_ints(&w, "batch.targets", b.targets, T, st[1]);
	add_ints(&w, "batch.pos", b.pos, T, st[2]);
	add_ints(&w, "batch.seg", b.seg, T, st[3]);
	add_ints(&w, "batch.last", b.last, 1, st[4]);
	cr_assert(st_writer_add(&w, "batch.margin", &margin, 1, s1, NULL) == 0);
	snprintf(in, sizeof in, "%s/in.safetensors", dir);
	snprintf(out, sizeof out, "%s/out.safetensors", dir);
	cr_assert(st_write(&w, in, NULL) == 0);
	st_writer_release(&w);
	snprintf(cmd, sizeof cmd, PY " tests/train/ref_llama.py %s %s", in, out);
	cr_assert(system(cmd) == 0, "reference failed");
	st_file f = ST_FILE_INIT;
	cr_assert(st_open(&f, out, NULL) == 0);
	float rl;
	cr_assert(st_read_f32(&f, "loss", &rl, 1, "ref", NULL) == 0);
	cr_expect(fabs(loss - rl) / fabs(rl) < 1e-5, "loss %.9g vs PyTorch %.9g", loss, rl);
	char name[160], full[200];
	const float *g = m.grads;
	int checked = 0;
	for (int i = 0; i < P_COUNT; i++) {
		int layers = m.ti[i].per_layer ? c.n_layers : 1;
		for (int l = 0; l < layers && m.ti[i].layer_size; l++) {
			size_t sz = m.ti[i].layer_size;
			model_tensor_name(&m, i, l, name, sizeof name);
			snprintf(full, sizeof full, "grad.%s", name);
			float *r = malloc(sz * sizeof *r);
			cr_assert(st_read_f32(&f, full, r, sz, "ref", NULL) == 0, "reference lacks %s", full);
			double e = rel_err(g + (size_t)l * sz, r, sz);
			cr_expect(e < 1e-5, "gradient of %s: relative error %g", name, e);
			free(r);
			checked++;
		}
		g += m.ti[i].size;
	}
	cr_assert(checked > 10);
	st_release(&f);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)!system(cmd);
	model_release(&m);
	train_batch_release(&b);
	tok_model_free(tok);
}
