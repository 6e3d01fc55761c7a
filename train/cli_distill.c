/* cli_distill.c - safety context distillation (Llama 2 §4.2.4) through files, with `spindle train
 * sample` and `spindle train score` in between:
 *   distill-prompts: safety prompts -> the same prompts with a safety preprompt (a system turn made
 *                    from templates: safe adjectives + the risk category's answer template) and without;
 *   (the user samples both sets with `train sample`, scores both with `train score --rm-safety`)
 *   distill-select:  keeps a preprompted answer only when its safety score beats the plain answer's
 *                    (targeted context distillation) and writes SFT records of the prompt WITHOUT the
 *                    preprompt; prints kept counts per risk category and the mean score gain. */
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../cli/cli.h"
#include "gatt.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "cli_int.h"

int cmd_distill_prompts(int argc, char **argv)
{
	const char *prog = "spindle train distill-prompts", *prompts = NULL, *tmpl_path = NULL, *with_path = NULL,
	           *without_path = NULL;
	long seed = 1;
	int print = 0, all = 0;
	sp_opt table[] = {
		{ "prompts", 0, SP_OPT_STR, &prompts, "FILE", "prompt records (annotate-prompt.schema.json); those of category \"safety\" are used", NULL, 0, 0 },
		{ "all-categories", 0, SP_OPT_FLAG, &all, NULL, "use every prompt, not only category \"safety\"", NULL, 0, 0 },
		{ "with", 0, SP_OPT_STR, &with_path, "FILE", "write the prompts with their safety preprompt here", NULL, 0, 0 },
		{ "without", 0, SP_OPT_STR, &without_path, "FILE", "write the same prompts unchanged here (same ids, same order)", NULL, 0, 0 },
		{ "templates", 0, SP_OPT_STR, &tmpl_path, "FILE", "preprompt templates (schemas/distill-templates.schema.json; default built in)", NULL, 0, 0 },
		{ "print-templates", 0, SP_OPT_FLAG, &print, NULL, "print the built-in templates (a file to edit for --templates) and exit", NULL, 0, 0 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "seed of the template and adjective choices (default 1)", NULL, 0, 0x7fffffffL },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train distill-prompts --prompts FILE --with FILE --without FILE [--templates FILE]",
	                   "Safety context distillation, step 1 of 3 (Llama 2 section 4.2.4). Writes each safety prompt twice:\n"
	                   "with a safety preprompt as its system turn (templates with adjectives of safe behaviour, and the\n"
	                   "risk category's answer template) and without. Then: `spindle train sample` both files, `spindle\n"
	                   "train score --rm-safety` both samples, and `spindle train distill-select`.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if (print) {
		fputs(distill_default_templates, stdout);
		return CLI_OK;
	}
	if (!prompts || !with_path || !without_path)
		return cli_failf(prog, CLI_USAGE, "--prompts, --with and --without are required (see --help)");
	sp_err err = SP_ERR_INIT;
	gatt_lists t = { NULL };
	sp_in *in = NULL;
	sp_out *ow = NULL, *oo = NULL;
	sp_record rec = SP_RECORD_INIT;
	sp_buf pre = SP_BUF_INIT;
	size_t n = 0, skipped = 0;
	int code = CLI_OK;
	train_rng r;
	rng_seed(&r, (uint64_t)seed * 0xC2B2AE3D27D4EB4Full + 3);
	if (distill_templates_load(&t, tmpl_path, &err) < 0 || sp_in_open(&in, prompts, &err) < 0 ||
	    sp_out_open(&ow, with_path, 0, &err) < 0 || sp_out_open(&oo, without_path, 0, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	while ((rc = sp_jsonl_next(in, &rec, &err)) == 1) {
		json_object *dialog = sp_json_path(rec.obj, "dialog");
		const char *cat = NULL, *risk = NULL, *id = sp_record_id(&rec);
		size_t cn, rn;
		sp_record_str(&rec, "category", &cat, &cn, NULL);
		if (!all && (!cat || strcmp(cat, "safety"))) {
			skipped++;
			continue;
		}
		rc = id && dialog ? gatt_check_dialog(dialog, NULL, &err)
		                  : sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "prompt record lacks 'id' or 'dialog'");
		if (rc < 0) {
			sp_err_locate(&err, sp_in_name(in), rec.lineno);
			code = cli_fail(prog, &err);
			goto done;
		}
		if (sp_record_str(&rec, "risk_category", &risk, &rn, NULL) < 0)
			risk = NULL;
		sp_buf_reset(&pre);
		distill_preprompt(&t, risk, &r, &pre, &err);
		json_object *w = NULL;
		json_object_deep_copy(rec.obj, &w, NULL);
		/* the preprompt as the system turn, in front of the prompt's own system turn if any */
		json_object *d2 = json_object_new_array(), *x;
		size_t nt = json_object_array_length(dialog), start = 0;
		json_object *first = json_object_array_get_idx(dialog, 0);
		const char *sys = NULL;
		if (json_object_object_get_ex(first, "role", &x) && !strcmp(json_object_get_string(x), "system")) {
			json_object_object_get_ex(first, "content", &x);
			sys = json_object_get_string(x);
			start = 1;
		}
		json_object *st = json_object_new_object();
		sp_buf sc = SP_BUF_INIT;
		sp_buf_appends(&sc, pre.p);
		if (sys) {
			sp_buf_appendc(&sc, '\n');
			sp_buf_appends(&sc, sys);
		}
		json_object_object_add(st, "role", json_object_new_string("system"));
		json_object_object_add(st, "content", json_object_new_string(sc.p));
		sp_buf_release(&sc);
		json_object_array_add(d2, st);
		for (size_t i = start; i < nt; i++)
			json_object_array_add(d2, json_object_get(json_object_array_get_idx(dialog, i)));
		json_object_object_add(w, "dialog", d2);
		json_object *meta = sp_json_path(w, "meta");
		if (!meta || !json_object_is_type(meta, json_type_object)) {
			meta = json_object_new_object();
			json_object_object_add(w, "meta", meta);
		}
		json_object_object_add(meta, "safety_preprompt", json_object_new_string(pre.p));
		rc = sp_jsonl_write(ow, w, &err);
		json_object_put(w);
		rc = rc ? rc : sp_jsonl_write(oo, rec.obj, &err);
		if (rc < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
		n++;
	}
	if (rc < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (!n) {
		code = cli_failf(prog, CLI_REJECTED, "%s: no safety prompts (%zu of other categories; --all-categories uses them)", prompts,
		                 skipped);
		goto done;
	}
	if (sp_out_commit(ow, &err) < 0 || sp_out_commit(oo, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	fprintf(stderr, "%s: %zu prompts with and without a safety preprompt (%zu of other categories skipped)\n", prog, n, skipped);
done:
	sp_out_free(ow);
	sp_out_free(oo);
	sp_in_free(in);
	sp_record_release(&rec);
	sp_buf_release(&pre);
	gatt_lists_release(&t);
	return code;
}

/* ---------------------------------------------------------------- distill-select */

/* scored responses of one file: per prompt id, the array of records in file order */
static int read_scored(const char *path, json_object *by_prompt, sp_err *err)
{
	sp_in *in = NULL;
	sp_record rec = SP_RECORD_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_jsonl_next(in, &rec, err)) == 1) {
		rc = 0;
		const char *pid, *resp;
		size_t n;
		json_object *s = sp_json_path(rec.obj, "scores.safety");
		rc = sp_record_str(&rec, "prompt_id", &pid, &n, err);
		rc = rc ? rc : sp_record_str(&rec, "response", &resp, &n, err);
		if (rc == 0 && (!s || !(json_object_is_type(s, json_type_double) || json_object_is_type(s, json_type_int))))
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__,
			                 "no numeric 'scores.safety' (score the samples with `spindle train score --rm-safety`)");
		if (rc < 0) {
			sp_err_locate(err, sp_in_name(in), rec.lineno);
			break;
		}
		json_object *arr;
		if (!json_object_object_get_ex(by_prompt, pid, &arr)) {
			arr = json_object_new_array();
			json_object_object_add(by_prompt, pid, arr);
		}
		json_object_array_add(arr, json_object_get(rec.obj));
	}
	sp_record_release(&rec);
	sp_in_free(in);
	return rc;
}

typedef struct risk_row { char name[64]; long prompts, pairs, kept; double gain_all, gain_kept; } risk_row;

int cmd_distill_select(int argc, char **argv)
{
	const char *prog = "spindle train distill-select", *prompts = NULL, *with_path = NULL, *without_path = NULL, *out_path = "-";
	const char *pre_path = NULL;
	double min_gain = 0;
	sp_opt table[] = {
		{ "prompts", 0, SP_OPT_STR, &prompts, "FILE", "the prompts WITHOUT preprompt (distill-prompts --without)", NULL, 0, 0 },
		{ "with", 0, SP_OPT_STR, &with_path, "FILE", "scored samples of the preprompted prompts (train sample, then train score)", NULL, 0, 0 },
		{ "without", 0, SP_OPT_STR, &without_path, "FILE", "scored samples of the plain prompts", NULL, 0, 0 },
		{ "preprompted", 0, SP_OPT_STR, &pre_path, "FILE", "the preprompted prompts (distill-prompts --with): answers that repeat their preprompt are dropped", NULL, 0, 0 },
		{ "min-gain", 0, SP_OPT_DOUBLE, &min_gain, "X", "keep when safety(with) - safety(without) > X, in [0, 1] (default 0)", NULL, 0, 0 },
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "SFT records (annotate-sft.schema.json), written atomically (default stdout)", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle train distill-select --prompts FILE --with SCORED --without SCORED [-o sft.jsonl]",
	                   "Safety context distillation, step 3 of 3: for each prompt, the k-th sample with the preprompt is\n"
	                   "paired with the k-th sample without; the preprompted answer is kept only when its safety score\n"
	                   "(\"scores\": {\"safety\"} from `spindle train score`) is higher than the plain one's. Kept answers become\n"
	                   "SFT records of the prompt without the preprompt, ready for `spindle train sft`. Prints, per risk\n"
	                   "category, the pairs, how many were kept and the mean safety score gain.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_free(pos);
	if (!prompts || !with_path || !without_path)
		return cli_failf(prog, CLI_USAGE, "--prompts, --with and --without are required (see --help)");
	if (!(min_gain >= 0 && min_gain <= 1))
		return cli_failf(prog, CLI_USAGE, "--min-gain must be in [0, 1]");
	sp_err err = SP_ERR_INIT;
	json_object *W = json_object_new_object(), *O = json_object_new_object(), *PP = json_object_new_object();
	sp_in *in = NULL;
	sp_out *out = NULL;
	sp_record rec = SP_RECORD_INIT;
	risk_row rows[64];
	size_t n_rows = 0, n_prompts = 0, n_kept = 0, n_pairs = 0, n_leak = 0;
	int code = CLI_OK;
	char created[32];
	iso_now(created, sizeof created);
	memset(rows, 0, sizeof rows);
	if (pre_path) {  /* id -> preprompt */
		rc = sp_in_open(&in, pre_path, &err);
		while (rc == 0 && (rc = sp_jsonl_next(in, &rec, &err)) == 1) {
			json_object *p = sp_json_path(rec.obj, "meta.safety_preprompt");
			const char *id = sp_record_id(&rec);
			rc = 0;
			if (!p || !id) {
				rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "no 'id' or 'meta.safety_preprompt' (not a distill-prompts --with file?)");
				sp_err_locate(&err, sp_in_name(in), rec.lineno);
			} else {
				json_object_object_add(PP, id, json_object_get(p));
			}
		}
		sp_in_free(in);
		in = NULL;
		if (rc < 0) {
			code = cli_fail(prog, &err);
			goto done;
		}
	}
	if (read_scored(with_path, W, &err) < 0 || read_scored(without_path, O, &err) < 0 || sp_in_open(&in, prompts, &err) < 0 ||
	    sp_out_open(&out, out_path, 0, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	while ((rc = sp_jsonl_next(in, &rec, &err)) == 1) {
		json_object *dialog = sp_json_path(rec.obj, "dialog"), *ws, *os, *x;
		const char *id = sp_record_id(&rec), *risk = NULL, *cat = "safety";
		size_t n;
		rc = id && dialog ? gatt_check_dialog(dialog, NULL, &err)
		                  : sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "prompt record lacks 'id' or 'dialog'");
		if (rc == 0 && (x = sp_json_path(rec.obj, "meta.safety_preprompt")))
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "this prompt carries a safety preprompt: --prompts takes the plain prompts (distill-prompts --without)");
		if (rc < 0) {
			sp_err_locate(&err, sp_in_name(in), rec.lineno);
			code = cli_fail(prog, &err);
			goto done;
		}
		sp_record_str(&rec, "category", &cat, &n, NULL);
		if (sp_record_str(&rec, "risk_category", &risk, &n, NULL) < 0)
			risk = NULL;
		n_prompts++;
		size_t ri = 0;
		for (; ri < n_rows && strcmp(rows[ri].name, risk ? risk : "(none)"); ri++)
			;
		if (ri == n_rows && n_rows < 64)
			snprintf(rows[n_rows++].name, sizeof rows[0].name, "%s", risk ? risk : "(none)");
		if (ri == 64)
			ri = 63;
		rows[ri].prompts++;
		if (!json_object_object_get_ex(W, id, &ws) || !json_object_object_get_ex(O, id, &os))
			continue;
		/* the preprompt, to check it does not leak into what is written */
		size_t np = json_object_array_length(ws) < json_object_array_length(os) ? json_object_array_length(ws)
		                                                                        : json_object_array_length(os);
		for (size_t k = 0; k < np; k++) {
			json_object *w = json_object_array_get_idx(ws, k), *o = json_object_array_get_idx(os, k);
			double sw = json_object_get_double(sp_json_path(w, "scores.safety"));
			double so = json_object_get_double(sp_json_path(o, "scores.safety"));
			json_object *rj = sp_json_path(w, "response");
			const char *resp = json_object_get_string(rj);
			size_t resp_len = (size_t)json_object_get_string_len(rj);
			rows[ri].pairs++;
			rows[ri].gain_all += sw - so;
			n_pairs++;
			if (!(sw - so > min_gain))
				continue;
			json_object *pre = NULL;
			if (json_object_object_get_ex(PP, id, &pre) && memmem(resp, resp_len, json_object_get_string(pre), strlen(json_object_get_string(pre)))) {
				n_leak++;
				continue;
			}
			rows[ri].kept++;
			rows[ri].gain_kept += sw - so;
			n_kept++;
			json_object *r = json_object_new_object(), *meta = json_object_new_object(), *cd = json_object_new_object();
			char rid[600];
			snprintf(rid, sizeof rid, "cd-%.500s-%zu", id, k);
			json_object_object_add(r, "id", json_object_new_string(rid));
			json_object_object_add(r, "prompt_id", json_object_new_string(id));
			json_object_object_add(r, "category", json_object_new_string(cat));
			if ((x = sp_json_path(rec.obj, "risk_category")))
				json_object_object_add(r, "risk_category", json_object_get(x));
			if ((x = sp_json_path(rec.obj, "attack_vectors")))
				json_object_object_add(r, "attack_vectors", json_object_get(x));
			json_object_object_add(r, "dialog", json_object_get(dialog));
			json_object_object_add(r, "response", json_object_new_string_len(resp, (int)resp_len));
			json_object_object_add(r, "source", json_object_new_string("generated"));
			json_object_object_add(r, "annotator", json_object_new_string(prog));
			json_object_object_add(r, "created_at", json_object_new_string(created));
			json_object_object_add(cd, "safety_with", json_object_new_double(sw));
			json_object_object_add(cd, "safety_without", json_object_new_double(so));
			json_object_object_add(cd, "gain", json_object_new_double(sw - so));
			if ((x = sp_json_path(w, "id")))
				json_object_object_add(cd, "response_id", json_object_get(x));
			if ((x = sp_json_path(w, "model")))
				json_object_object_add(cd, "model", json_object_get(x));
			json_object_object_add(meta, "context_distillation", cd);
			json_object_object_add(r, "meta", meta);
			rc = sp_jsonl_write(out, r, &err);
			json_object_put(r);
			if (rc < 0) {
				code = cli_fail(prog, &err);
				goto done;
			}
		}
	}
	if (rc < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	if (!n_prompts) {
		code = cli_failf(prog, CLI_REJECTED, "%s: no prompts", prompts);
		goto done;
	}
	if (sp_out_commit(out, &err) < 0) {
		code = cli_fail(prog, &err);
		goto done;
	}
	fprintf(stderr, "%s: %-24s %7s %7s %7s %12s %12s\n", prog, "risk category", "prompts", "pairs", "kept", "gain (kept)",
	        "gain (all)");
	for (size_t i = 0; i < n_rows; i++)
		fprintf(stderr, "%s: %-24s %7ld %7ld %7ld %12.4f %12.4f\n", prog, rows[i].name, rows[i].prompts, rows[i].pairs,
		        rows[i].kept, rows[i].kept ? rows[i].gain_kept / rows[i].kept : 0.0,
		        rows[i].pairs ? rows[i].gain_all / rows[i].pairs : 0.0);
	fprintf(stderr, "%s: kept %zu of %zu pairs (%zu prompts; %zu dropped: the answer repeated the preprompt)\n", prog, n_kept,
	        n_pairs, n_prompts, n_leak);
done:
	json_object_put(W);
	json_object_put(O);
	json_object_put(PP);
	sp_out_free(out);
	sp_in_free(in);
	sp_record_release(&rec);
	return code;
}
