/* data_chat.c - Llama 2's chat format for SFT and reward-model data, from the annotate exports
 * (schemas/annotate-sft.schema.json, annotate-preference.schema.json):
 *   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
 * Only the text is tokenized; BOS/EOS are the tokenizer's control ids, never spelled out. */
#include <json.h>
#include <string.h>
#include "data_chat.h"
#include "spindle/buf.h"

static int enc(const tok_model *tok, const char *s, size_t n, tok_ids *out, sp_err *err)
{
	return tok_encode(tok, s, n, out, err);
}

static int push_special(tok_ids *out, int32_t id, sp_err *err)
{
	if (id >= 0 && tok_ids_push(out, (uint32_t)id) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

static const char *turn(json_object *m, const char **role, size_t *n)
{
	json_object *r, *c;
	if (!json_object_is_type(m, json_type_object) || !json_object_object_get_ex(m, "role", &r) ||
	    !json_object_object_get_ex(m, "content", &c) || !json_object_is_type(c, json_type_string))
		return NULL;
	*role = json_object_get_string(r);
	*n = (size_t)json_object_get_string_len(c);
	return json_object_get_string(c);
}

int chat_encode_dialog(const tok_model *tok, json_object *dialog, tok_ids *out, sp_err *err)
{
	return chat_encode_dialog_spans(tok, dialog, out, NULL, err);
}

int chat_encode_dialog_spans(const tok_model *tok, json_object *dialog, tok_ids *out, tok_ids *spans, sp_err *err)
{
	if (!json_object_is_type(dialog, json_type_array) || json_object_array_length(dialog) == 0)
		SP_RAISE(err, SP_EDATA, "'dialog' is not a non-empty array");
	size_t n = json_object_array_length(dialog), i = 0, len;
	const char *role, *text, *sys = NULL;
	size_t sys_len = 0;
	sp_buf b = SP_BUF_INIT;
	int rc = 0;
	text = turn(json_object_array_get_idx(dialog, 0), &role, &len);
	if (text && !strcmp(role, "system")) {
		sys = text;
		sys_len = len;
		i = 1;
	}
	int expect_user = 1;
	for (; rc == 0 && i < n; i++) {
		text = turn(json_object_array_get_idx(dialog, i), &role, &len);
		if (!text) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "dialog turn %zu lacks role or content", i + 1);
			break;
		}
		if (strcmp(role, expect_user ? "user" : "assistant")) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "dialog turn %zu is '%s', expected '%s'", i + 1, role,
			                 expect_user ? "user" : "assistant");
			break;
		}
		sp_buf_reset(&b);
		if (expect_user) {
			rc = push_special(out, tok_bos_id(tok), err);
			if (rc == 0 && sys) {
				sp_buf_appends(&b, "[INST] <<SYS>>\n");
				sp_buf_append(&b, sys, sys_len);
				sp_buf_appends(&b, "\n<</SYS>>\n\n");
				sys = NULL;
			} else {
				sp_buf_appends(&b, "[INST] ");
			}
			sp_buf_append(&b, text, len);
			if (sp_buf_appends(&b, " [/INST]") < 0)
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			rc = rc ? rc : enc(tok, b.p, b.len, out, err);
		} else {
			size_t from = out->n;
			rc = enc(tok, text, len, out, err);
			rc = rc ? rc : push_special(out, tok_eos_id(tok), err);
			if (rc == 0 && spans && (tok_ids_push(spans, (uint32_t)from) < 0 || tok_ids_push(spans, (uint32_t)out->n) < 0))
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		}
		expect_user = !expect_user;
	}
	sp_buf_release(&b);
	if (rc == 0 && expect_user)
		SP_RAISE(err, SP_EDATA, "dialog does not end with a user turn");
	return rc;
}

int chat_encode_response(const tok_model *tok, const char *text, size_t n, tok_ids *out, sp_err *err)
{
	SP_FORWARD(enc(tok, text, n, out, err));
	return push_special(out, tok_eos_id(tok), err);
}
