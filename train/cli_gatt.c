/* cli_gatt.c - `spindle train gatt` (Ghost Attention data, Llama 2 §3.3) and `spindle train
 * gatt-eval` (the language-consistency table, the shape of the paper's Table 30). gatt appends an
 * instruction to every user turn, samples each assistant turn with the current model (train sample's
 * sampler), and writes SFT records with the instruction only in the first user turn (or the system
 * turn) and loss on the last assistant turn only ("loss_turns": "last"). gatt-eval samples dialogs
 * whose first turn asks for a language and measures with CLD2 how often later turns keep it. */
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../cli/cli.h"
#include "../filter/filter_lang.h"
#include "../tokenizer/tok.h"
#include "data_chat.h"
#include "gatt.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "cli_int.h"

/* a loaded model and its sampler settings */
typedef struct sampler {
	model m;
	decode_state ds;
	tok_model *tok;
	long max_new;
	double temp, top_p;
	long top_k;
	train_rng r;
	tok_ids ids, gen;
} sampler;

static int sampler_open(sampler *s, const char *prog, const char *dir, const char *tokenizer, int *code)
{
	sp_err err = SP_ERR_INIT;
	uint64_t tok_id = 0;
	if (tok_model_load(&s->tok, tokenizer, &err) < 0) {
		*code = cli_fail(prog, &err);
		return -1;
	}
	if (load_model_dir(prog, dir, 1, 1, &s->m, &tok_id, code) < 0)
		return -1;
	if (s->m.cfg.reward_head) {
		*code = cli_failf(prog, CLI_REJECTED, "%s is a reward model, not a chat model", dir);
		return -1;
	}
	if ((tok_id && tok_identity(s->tok) != tok_id) || tok_vocab_size(s->tok) > (uint32_t)s->m.cfg.vocab_size) {
		*code = cli_failf(prog, CLI_REJECTED, "%s: tokenizer identity %016llx does not fit the model %s", tokenizer,
		                  (unsigned long long)tok_identity(s->tok), dir);
		return -1;
	}
	if (decode_init(&s->ds, &s->m, s->m.cfg.max_seq_len, &err) < 0) {
		*code = cli_fail(prog, &err);
		return -1;
	}
	return 0;
}

static void sampler_close(sampler *s)
{
	decode_release(&s->ds);
	model_release(&s->m);
	tok_model_free(s->tok);
	tok_ids_release(&s->ids);
	tok_ids_release(&s->gen);
	memset(s, 0, sizeof *s);
}

/* samples the assistant turn after dialog (ending with a user turn) into answer */
static int sample_turn(sampler *s, json_object *dialog, sp_buf *answer, sp_err *err)
{
	s->ids.n = 0;
	SP_FORWARD(chat_encode_dialog(s->tok, dialog, &s->ids, err));
	generate(&s->ds, NULL, &s->m, &s->ids, s->max_new, (float)s->temp, (int)s->top_k, (float)s->top_p,
	         tok_eos_id(s->tok), &s->r, &s->gen);
	sp_buf_reset(answer);
	SP_FORWARD(tok_decode(s->tok, s->gen.v, s->gen.n, answer, err));
	if (!answer->p)
		sp_buf_appends(answer, "");
	/* a sample can stop inside a character: keep the text valid (append_text repairs) */
	sp_buf clean = SP_BUF_INIT;
	append_text(&clean, answer->p, answer->len);
	json_object *j = json_tokener_parse(clean.p);
	sp_buf_release(&clean);
	sp_buf_reset(answer);
	const char *t = j ? json_object_get_string(j) : "";
	int tn = j ? json_object_get_string_len(j) : 0;
	for (int i = 0; i < tn; i++)  /* a NUL (a byte-fallback piece) would end the C string: U+FFFD */
		if (t[i])
			sp_buf_appendc(answer, t[i]);
		else
			sp_buf_appends(answer, "\xEF\xBF\xBD");
	if (!answer->p)
		sp_buf_appends(answer, "");
	json_object_put(j);
	return 0;
}

static int print_lists(const char *text)
{
	fputs(text, stdout);
	return CLI_OK;
}

int cmd_gatt(int argc, char **argv)
{
	const char *prog = "spindle train gatt", *model_dir = NULL, *tokenizer = NULL, *dialogs = NULL, *lists_path = NULL;
	const char *inst_path = NULL, *out_path = "-", *placement = "first";
	long max_new = 64, seed = 1, threads = 0, top_k = 0;
	double temp = 0.8, top_p = 0.9;
	int print = 0;
	sp_opt table[] = {
		{ "model", 0, SP_OPT_STR, &model_dir, "DIR", "the current chat model (an SFT/RLHF checkpoint) that samples the assistant turns", NULL, 0, 0 },
		{ "tokenizer", 0, SP_OPT_STR, &tokenizer, "FILE", "its tokenizer", NULL, 0, 0 },
		{ "dialogs", 0, SP_OPT_STR, &dialogs, "FILE", "multi-turn dialogs: prompt records (annotate-prompt.schema.json; system?, user, assistant, ..., user)", NULL, 0, 0 },
		{ "instructions", 0, SP_OPT_STR, &inst_path, "FILE", "instructions, one per line (default: the seeded generator over --lists)", NULL, 0, 0 },
		{ "lists", 0, SP_OPT_STR, &lists_path, "FILE", "the generator's hobbies, languages, figures and templates (schemas/gatt-lists.schema.json; default built in)", NULL, 0, 0 },
		{ "print-lists", 0, SP_OPT_FLAG, &print, NULL, "print the built-in lists (a file to edit for --lists) and exit", NULL, 0, 0 },
		{ "placement", 0, SP_OPT_CHOICE, &placement, NULL, "where the instruction stays in the training record: the first user turn (default) or the system turn", "first|system", 0, 0 },
		{ "temperature", 0, SP_OPT_DOUBLE, &temp, "X", "sampling temperature, in [0, 10] (default 0.8)", "0..10", 0, 0 },
		{ "top-p", 0, SP_OPT_DOUBLE, &top_p, "X", "nucleus mass, in (0, 1] (default 0.9)", "1e-9..1", 0, 0 },
		{ "top-k", 0, SP_OPT_INT, &top_k, "N", "sample among the N most likely tokens (default 0 = off)", NULL, 0, 1000000 },
		{ "max-new-tokens", 0, SP_OPT_INT, &max_new, "N", "tokens per assistant turn at most (default 64)", NULL, 1, 1000000 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "seed of the instructions and the sampling (default 1)", NULL, 0, 0x7fffffffL },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "SFT records (annotate-sft.schema.json), written atomically (default stdout)", NULL, 0, 0 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads (default and auto: the CPUs this process may use)", NULL, 0, 4096 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train gatt --model DIR --tokenizer TOK --dialogs FILE [--instructions FILE | --lists FILE] [-o FILE]",
	                   "Ghost Attention data (Llama 2 section 3.3): an instruction that must hold for a whole dialog (from\n"
	                   "--instructions, or generated: hobby, language and public figure constraints randomly combined, half\n"
	                   "of them shortened) is appended to every user turn; the model samples every assistant turn; the\n"
	                   "written SFT record keeps the instruction only in the first user turn (or the system turn) and has\n"
	                   "\"loss_turns\": \"last\": `spindle train sft` learns the last assistant turn only.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if (print)
		return print_lists(gatt_default_lists);
	if (!model_dir || !tokenizer || !dialogs)
		return cli_failf(prog, CLI_USAGE, "--model, --tokenizer and --dialogs are required (see --help)");
	if (!(temp >= 0 && temp <= 10) || !(top_p > 0 && top_p <= 1))
		return cli_failf(prog, CLI_USAGE, "--temperature must be in [0, 10] and --top-p in (0, 1]");
	set_threads(threads);
	sp_err err = SP_ERR_INIT;
	gatt_lists lists = { NULL };
	sp_buf file = SP_BUF_INIT, inst = SP_BUF_INIT, ans = SP_BUF_INIT;
	const char **insts = NULL;
	size_t n_inst = 0;
	sampler s;
	memset(&s, 0, sizeof s);
	sp_in *in = NULL;
	sp_out *out = NULL;
	sp_record rec = SP_RECORD_INIT;
	char **answers = NULL;
	size_t n_ans_cap = 0, n_rec = 0, n_short = 0;
	int code = CLI_OK;
	char created[32];
	iso_now(created, sizeof created);
	if (inst_path) {
		if (sp_read_file(inst_path, &file, &err) < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		/* (an empty file's buffer has no NUL: sp_read_file only terminates what it read) */
		for (char *p = file.len ? file.p : NULL, *e; p && *p; p = e) {  /* one instruction per non-blank line */
			e = strchr(p, '\n');
			e = e ? (*e = 0, e + 1) : p + strlen(p);
			if (strspn(p, " \t\r") == strlen(p))
				continue;
			const char **g = sp_realloc(insts, (n_inst + 1) * sizeof *g);
			if (!g) {
				code = cli_failf(prog, CLI_IO, "out of memory");
				goto done;
			}
			insts = g;
			insts[n_inst++] = p;
		}
		if (!n_inst) {
			code = cli_failf(prog, CLI_REJECTED, "%s: no instructions (the list is empty)", inst_path);
			goto done;
		}
	} else if (gatt_lists_load(&lists, lists_path, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	s.max_new = max_new;
	s.temp = temp;
	s.top_p = top_p;
	s.top_k = top_k;
	if (sampler_open(&s, prog, model_dir, tokenizer, &code) < 0)
		goto done;
	if (sp_in_open(&in, dialogs, &err) < 0 || sp_out_open(&out, out_path, 0, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	train_rng ir;
	rng_seed(&ir, (uint64_t)seed * 0x9E3779B97F4A7C15ull + 17);
	while ((rc = sp_jsonl_next(in, &rec, &err)) == 1) {
		json_object *dialog = sp_json_path(rec.obj, "dialog"), *constraints = NULL;
		const char *id = sp_record_id(&rec);
		size_t n_users = 0;
		if (!id || !dialog) {
			sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "dialog record lacks 'id' or 'dialog'");
			rc = -1;
		} else {
			rc = gatt_check_dialog(dialog, &n_users, &err);
		}
		if (rc < 0) {
			sp_err_locate(&err, sp_in_name(in), rec.lineno);
			code = cli_fail(prog, &err);
			goto done;
		}
		int short_form = 0;
		sp_buf_reset(&inst);
		if (n_inst)
			sp_buf_appends(&inst, insts[rng_u64(&ir) % n_inst]);
		else
			gatt_instruction(&lists, &ir, &inst, &short_form, &constraints, &err);
		n_short += short_form;
		if (n_users > n_ans_cap) {
			char **g = sp_realloc(answers, n_users * sizeof *g);
			if (!g) {
				code = cli_failf(prog, CLI_IO, "out of memory");
				goto done;
			}
			memset(g + n_ans_cap, 0, (n_users - n_ans_cap) * sizeof *g);
			answers = g;
			n_ans_cap = n_users;
		}
		/* sample turn by turn, the instruction on every user turn */
		rng_seed(&s.r, (uint64_t)seed * 1000003u + rec.lineno * 101u);
		for (size_t j = 0; j < n_users; j++) {
			json_object *ctx = gatt_dialog(dialog, j + 1, inst.p, 1, NULL, (const char *const *)answers, j);
			rc = sample_turn(&s, ctx, &ans, &err);
			json_object_put(ctx);
			if (rc < 0) {
				sp_err_locate(&err, sp_in_name(in), rec.lineno);
				code = cli_fail(prog, &err);
				goto done;
			}
			sp_free(answers[j]);
			answers[j] = sp_buf_detach(&ans, NULL);
		}
		/* the training record: the instruction once, loss on the last turn */
		int sys = !strcmp(placement, "system");
		json_object *o = json_object_new_object(), *cat, *x;
		char rid[600];
		snprintf(rid, sizeof rid, "gatt-%.500s", id);
		json_object_object_add(o, "id", json_object_new_string(rid));
		json_object_object_add(o, "prompt_id", json_object_new_string(id));
		cat = sp_json_path(rec.obj, "category");
		json_object_object_add(o, "category", cat && json_object_is_type(cat, json_type_string) ? json_object_get(cat)
		                                                                                        : json_object_new_string("helpfulness"));
		json_object_object_add(o, "dialog", gatt_dialog(dialog, n_users, sys ? NULL : inst.p, 0, sys ? inst.p : NULL,
		                                                (const char *const *)answers, n_users - 1));
		json_object_object_add(o, "response", json_object_new_string(answers[n_users - 1]));
		json_object_object_add(o, "loss_turns", json_object_new_string("last"));
		json_object_object_add(o, "source", json_object_new_string("generated"));
		json_object_object_add(o, "annotator", json_object_new_string(prog));
		json_object_object_add(o, "created_at", json_object_new_string(created));
		json_object *meta = json_object_new_object(), *g = json_object_new_object();
		json_object_object_add(g, "instruction", json_object_new_string(inst.p));
		json_object_object_add(g, "short", json_object_new_boolean(short_form));
		if (constraints)
			json_object_object_add(g, "constraints", constraints);
		json_object_object_add(g, "placement", json_object_new_string(placement));
		json_object_object_add(g, "turns", json_object_new_int64((int64_t)n_users));
		json_object_object_add(g, "model", json_object_new_string(model_dir));
		json_object_object_add(g, "seed", json_object_new_int64(seed));
		json_object_object_add(meta, "gatt", g);
		if ((x = sp_json_path(rec.obj, "meta")) && json_object_is_type(x, json_type_object))
			json_object_object_add(meta, "prompt_meta", json_object_get(x));
		json_object_object_add(o, "meta", meta);
		rc = sp_jsonl_write(out, o, &err);
		json_object_put(o);
		if (rc < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		n_rec++;
	}
	if (rc < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (n_rec == 0) {
		code = cli_failf(prog, CLI_REJECTED, "%s: no dialogs", dialogs);
		goto done;
	}
	if (sp_out_commit(out, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	fprintf(stderr, "%s: %zu Ghost Attention records (%zu with shortened instructions), loss on the last turn\n", prog, n_rec,
	        n_short);
done:
	for (size_t i = 0; i < n_ans_cap; i++)
		sp_free(answers[i]);
	sp_free(answers);
	sp_free(insts);
	sp_out_free(out);
	sp_in_free(in);
	sp_record_release(&rec);
	sampler_close(&s);
	gatt_lists_release(&lists);
	sp_buf_release(&file);
	sp_buf_release(&inst);
	sp_buf_release(&ans);
	return code;
}

/* ---------------------------------------------------------------- gatt-eval */

static int lang_matches(const char *got, const char *want)
{
	size_t n = strlen(want);
	return !strncmp(got, want, n) && (got[n] == 0 || got[n] == '-');
}

int cmd_gatt_eval(int argc, char **argv)
{
	const char *prog = "spindle train gatt-eval", *tokenizer = NULL, *dialogs = NULL, *lists_path = NULL, *out_path = NULL;
	const char *turns_spec = "2,4,6,20", *placement = "first", *samples_path = NULL;
	sp_out *samples = NULL;
	sp_optlist models = { NULL, 0, 0 };
	long max_new = 32, seed = 1, threads = 0, max_dialogs = 100000;
	double temp = 0.7, top_p = 0.9;
	sp_opt table[] = {
		{ "model", 0, SP_OPT_LIST, &models, "DIR", "a checkpoint to evaluate (repeat: e.g. before and after GAtt training)", NULL, 0, 0 },
		{ "tokenizer", 0, SP_OPT_STR, &tokenizer, "FILE", "the models' tokenizer", NULL, 0, 0 },
		{ "dialogs", 0, SP_OPT_STR, &dialogs, "FILE", "prompt records whose user turns drive the dialogs (cycled when shorter than the last turn asked)", NULL, 0, 0 },
		{ "lists", 0, SP_OPT_STR, &lists_path, "FILE", "the languages (and their CLD2 codes) and templates (default built in)", NULL, 0, 0 },
		{ "turns", 0, SP_OPT_STR, &turns_spec, "LIST", "assistant turns to measure (default 2,4,6,20)", NULL, 0, 0 },
		{ "placement", 0, SP_OPT_CHOICE, &placement, NULL, "where the language instruction goes: the first user turn (default) or the system turn", "first|system", 0, 0 },
		{ "max-dialogs", 0, SP_OPT_INT, &max_dialogs, "N", "dialogs to use at most (default all)", NULL, 1, 100000000 },
		{ "temperature", 0, SP_OPT_DOUBLE, &temp, "X", "sampling temperature, in [0, 10] (default 0.7)", "0..10", 0, 0 },
		{ "top-p", 0, SP_OPT_DOUBLE, &top_p, "X", "nucleus mass, in (0, 1] (default 0.9)", "1e-9..1", 0, 0 },
		{ "max-new-tokens", 0, SP_OPT_INT, &max_new, "N", "tokens per assistant turn at most (default 32)", NULL, 1, 1000000 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "sampling seed (default 1)", NULL, 0, 0x7fffffffL },
		{ "json", 0, SP_OPT_STR, &out_path, "FILE", "also write the table as JSON (schemas/gatt-eval.schema.json)", NULL, 0, 0 },
		{ "samples", 0, SP_OPT_STR, &samples_path, "FILE", "write every measured answer with its detected language (JSONL: model, dialog, turn, language, detected, answer)", NULL, 0, 0 },
		{ "threads", 0, SP_OPT_INT, &threads, "N", "CPU threads (default and auto: the CPUs this process may use)", NULL, 0, 4096 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train gatt-eval --model BEFORE [--model AFTER] --tokenizer TOK --dialogs FILE [OPTIONS]",
	                   "Multi-turn consistency without a human (Llama 2 Table 30's shape): each dialog gets a language\n"
	                   "instruction (\"Always speak in French.\") in its first turn only; the model answers turn after turn;\n"
	                   "CLD2 decides the language of every answer. Prints, per model, the share of answers at the asked\n"
	                   "turns that are in the instructed language.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	int code = CLI_OK;
	long turns[16];
	size_t n_turns = 0;
	for (const char *p = turns_spec; *p && n_turns < 16;) {
		char *e;
		long v = strtol(p, &e, 10);
		if (e == p || v < 1 || v > 1000 || (*e && *e != ',')) {
			code = cli_failf(prog, CLI_USAGE, "--turns: expected a list of turns in [1, 1000], got '%s'", turns_spec);
			goto out;
		}
		turns[n_turns++] = v;
		p = *e ? e + 1 : e;
	}
	if (!models.n || !tokenizer || !dialogs || !n_turns) {
		code = cli_failf(prog, CLI_USAGE, "--model, --tokenizer, --dialogs and --turns are required (see --help)");
		goto out;
	}
	if (!(temp >= 0 && temp <= 10) || !(top_p > 0 && top_p <= 1)) {
		code = cli_failf(prog, CLI_USAGE, "--temperature must be in [0, 10] and --top-p in (0, 1]");
		goto out;
	}
	set_threads(threads);
	long max_turn = 0;
	for (size_t i = 0; i < n_turns; i++)
		max_turn = turns[i] > max_turn ? turns[i] : max_turn;
	sp_err err = SP_ERR_INIT;
	gatt_lists lists = { NULL };
	if (gatt_lists_load(&lists, lists_path, &err) < 0) {
		code = cli_fail(prog, &err);
		goto out;
	}
	/* the dialogs, checked */
	json_object *all = json_object_new_array();
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	rc = sp_in_open(&in, dialogs, &err);
	while (rc >= 0 && (long)json_object_array_length(all) < max_dialogs && (rc = sp_jsonl_next(in, &rec, &err)) == 1) {
		json_object *d = sp_json_path(rec.obj, "dialog");
		if (!d)
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "no 'dialog'");
		else
			rc = gatt_check_dialog(d, NULL, &err);
		if (rc < 0)
			sp_err_locate(&err, sp_in_name(in), rec.lineno);
		else
			json_object_array_add(all, json_object_get(d));
	}
	sp_record_release(&rec);
	sp_in_free(in);
	if (rc < 0) {
		code = cli_fail(prog, &err);
		json_object_put(all);
		gatt_lists_release(&lists);
		goto out;
	}
	size_t nd = json_object_array_length(all);
	if (!nd) {
		code = cli_failf(prog, CLI_REJECTED, "%s: no dialogs", dialogs);
		json_object_put(all);
		gatt_lists_release(&lists);
		goto out;
	}
	if (samples_path && sp_out_open(&samples, samples_path, 0, &err) < 0) {
		code = cli_fail(prog, &err);
		json_object_put(all);
		gatt_lists_release(&lists);
		goto out;
	}
	long *hit = sp_calloc(models.n * n_turns, sizeof *hit), *cnt = sp_calloc(models.n * n_turns, sizeof *cnt);
	char **answers = sp_calloc((size_t)max_turn, sizeof *answers);
	sp_buf inst = SP_BUF_INIT, ans = SP_BUF_INIT;
	for (size_t mi = 0; code == CLI_OK && mi < models.n; mi++) {
		sampler s;
		memset(&s, 0, sizeof s);
		s.max_new = max_new;
		s.temp = temp;
		s.top_p = top_p;
		if (sampler_open(&s, prog, models.items[mi], tokenizer, &code) < 0) {
			sampler_close(&s);
			break;
		}
		for (size_t di = 0; code == CLI_OK && di < nd; di++) {
			json_object *d = json_object_array_get_idx(all, di);
			size_t nu;
			gatt_check_dialog(d, &nu, NULL);
			const char *lcode, *lname;
			sp_buf_reset(&inst);
			gatt_language_instruction(&lists, di % gatt_n_languages(&lists), &inst, &lcode, &lname);
			/* a dialog of max_turn user turns: the file's, cycled */
			rng_seed(&s.r, (uint64_t)seed * 1000003u + di * 101u);
			int sys = !strcmp(placement, "system");
			for (long tt = 0; tt < max_turn && code == CLI_OK; tt++) {
				json_object *ctx = json_object_new_array();
				if (sys) {
					json_object *t0 = json_object_new_object();
					json_object_object_add(t0, "role", json_object_new_string("system"));
					json_object_object_add(t0, "content", json_object_new_string(inst.p));
					json_object_array_add(ctx, t0);
				}
				for (long k = 0; k <= tt; k++) {
					json_object *u = json_object_new_object();
					sp_buf c = SP_BUF_INIT;
					sp_buf_appends(&c, gatt_user_turn(d, (size_t)k % nu));
					if (k == 0 && !sys) {
						sp_buf_appendc(&c, '\n');
						sp_buf_appends(&c, inst.p);
					}
					json_object_object_add(u, "role", json_object_new_string("user"));
					json_object_object_add(u, "content", json_object_new_string(c.p ? c.p : ""));
					sp_buf_release(&c);
					json_object_array_add(ctx, u);
					if (k < tt) {
						json_object *a = json_object_new_object();
						json_object_object_add(a, "role", json_object_new_string("assistant"));
						json_object_object_add(a, "content", json_object_new_string(answers[k]));
						json_object_array_add(ctx, a);
					}
				}
				rc = sample_turn(&s, ctx, &ans, &err);
				json_object_put(ctx);
				if (rc < 0) {
					code = cli_fail(prog, &err);
					break;
				}
				sp_free(answers[tt]);
				answers[tt] = sp_buf_detach(&ans, NULL);
				for (size_t q = 0; q < n_turns; q++)
					if (turns[q] == tt + 1) {
						char got[32];
						double score;
						int reliable;
						filter_lang_detect(answers[tt], strlen(answers[tt]), got, sizeof got, &score, &reliable);
						cnt[mi * n_turns + q]++;
						hit[mi * n_turns + q] += lang_matches(got, lcode);
						if (samples) {
							sp_buf l = SP_BUF_INIT;
							sp_buf_appends(&l, "{\"model\":");
							sp_buf_append_json_str(&l, models.items[mi], strlen(models.items[mi]));
							sp_buf_appendf(&l, ",\"dialog\":%zu,\"turn\":%ld,\"language\":", di, tt + 1);
							sp_buf_append_json_str(&l, lcode, strlen(lcode));
							sp_buf_appends(&l, ",\"detected\":");
							sp_buf_append_json_str(&l, got, strlen(got));
							sp_buf_appends(&l, ",\"answer\":");
							sp_buf_append_json_str(&l, answers[tt], strlen(answers[tt]));
							sp_buf_appendc(&l, '}');
							if (sp_jsonl_write_raw(samples, l.p, l.len, &err) < 0)
								code = cli_fail(prog, &err);
							sp_buf_release(&l);
						}
					}
			}
		}
		sampler_close(&s);
	}
	if (code == CLI_OK && samples && sp_out_commit(samples, &err) < 0)
		code = cli_fail(prog, &err);
	sp_out_free(samples);
	if (code == CLI_OK) {
		printf("%s: share of answers in the instructed language (CLD2), %zu dialogs, %zu languages\n", prog, nd,
		       gatt_n_languages(&lists));
		for (size_t mi = 0; mi < models.n; mi++)
			printf("  model %zu: %s\n", mi + 1, models.items[mi]);
		printf("%-8s", "turn");
		for (size_t mi = 0; mi < models.n; mi++)
			printf("  model %-18zu", mi + 1);
		printf("\n");
		for (size_t q = 0; q < n_turns; q++) {
			printf("%-8ld", turns[q]);
			for (size_t mi = 0; mi < models.n; mi++) {
				long c = cnt[mi * n_turns + q];
				char cell[64];
				snprintf(cell, sizeof cell, "%.1f%% (%ld/%ld)", c ? 100.0 * hit[mi * n_turns + q] / c : 0.0,
				         hit[mi * n_turns + q], c);
				printf("  %-24s", cell);
			}
			printf("\n");
		}
		if (out_path) {
			sp_buf j = SP_BUF_INIT;
			sp_buf_appendf(&j, "{\"dialogs\":%zu,\"turns\":[", nd);
			for (size_t q = 0; q < n_turns; q++)
				sp_buf_appendf(&j, "%s%ld", q ? "," : "", turns[q]);
			sp_buf_appends(&j, "],\"models\":[");
			for (size_t mi = 0; mi < models.n; mi++) {
				sp_buf_appends(&j, mi ? ",{\"model\":" : "{\"model\":");
				sp_buf_append_json_str(&j, models.items[mi], strlen(models.items[mi]));
				sp_buf_appends(&j, ",\"in_language\":[");
				for (size_t q = 0; q < n_turns; q++)
					sp_buf_appendf(&j, "%s%ld", q ? "," : "", hit[mi * n_turns + q]);
				sp_buf_appends(&j, "],\"answers\":[");
				for (size_t q = 0; q < n_turns; q++)
					sp_buf_appendf(&j, "%s%ld", q ? "," : "", cnt[mi * n_turns + q]);
				sp_buf_appends(&j, "]}");
			}
			sp_buf_appends(&j, "]}\n");
			if (sp_write_file_atomic(out_path, j.p, j.len, &err) < 0)
				code = cli_fail(prog, &err);
			sp_buf_release(&j);
		}
	}
	for (long tt = 0; tt < max_turn; tt++)
		sp_free(answers[tt]);
	sp_free(answers);
	sp_free(hit);
	sp_free(cnt);
	sp_buf_release(&inst);
	sp_buf_release(&ans);
	json_object_put(all);
	gatt_lists_release(&lists);
out:
	sp_optlist_release(&models);
	return code;
}
