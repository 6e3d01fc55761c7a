/* jsonl.c - JSON Lines records on top of json-c (see spindle/jsonl.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <inttypes.h>
#include "spindle/jsonl.h"
#include "spindle/utf8.h"
#include "spindle/mem.h"

static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* Raises code located at the record's input and line; at is a byte offset in the line or SIZE_MAX. */
__attribute__((format(printf, 5, 6)))
static int rec_fail(const sp_record *rec, int code, sp_err *err, size_t at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sp_err_set_(err, code, __FILE__, __LINE__, "%s", msg);
	if (err)
		err->offset = at == SIZE_MAX ? UINT64_MAX : at;
	return sp_err_locate(err, rec->source, rec->lineno);
}

int sp_jsonl_parse(sp_record *rec, sp_err *err)
{
	if (rec->obj) {
		json_object_put(rec->obj);
		rec->obj = NULL;
	}
	size_t bad;
	if (!sp_utf8_valid(rec->line.p, rec->line.len, &bad))
		return rec_fail(rec, SP_EUTF8, err, bad, "invalid UTF-8 at byte %zu", bad);
	if (rec->line.len > INT32_MAX)
		return rec_fail(rec, SP_EDATA, err, SIZE_MAX, "line too long for the JSON parser (%zu bytes)", rec->line.len);
	json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (!tok)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, rec->line.p, (int)rec->line.len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t off = json_tokener_get_parse_end(tok);
	if (je == json_tokener_continue && !o) {
		/* a bare number or literal ("123", "true") waits for more input: end it, so that a valid
		 * JSON value that is not an object is named as such, not as a truncated line */
		o = json_tokener_parse_ex(tok, "", 1);
		if (json_tokener_get_error(tok) == json_tokener_success) {
			je = json_tokener_success;
			off = rec->line.len;
		} else {
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	if (!o && je == json_tokener_success && blank(rec->line.p + off, rec->line.len - off))
		return rec_fail(rec, SP_EDATA, err, 0, "record is not a JSON object but null");
	if (!o || je != json_tokener_success) {
		json_object_put(o);
		const char *why = je == json_tokener_continue ? "unexpected end of line" : json_tokener_error_desc(je);
		return rec_fail(rec, SP_EDATA, err, off, "malformed JSON: %s at byte %zu", why, off);
	}
	if (!blank(rec->line.p + off, rec->line.len - off)) {
		json_object_put(o);
		return rec_fail(rec, SP_EDATA, err, off, "malformed JSON: extra data after the object at byte %zu", off);
	}
	if (!json_object_is_type(o, json_type_object)) {
		const char *what = json_object_is_type(o, json_type_array) ? "an array" : json_object_is_type(o, json_type_string) ? "a string"
		                 : json_object_is_type(o, json_type_boolean) ? "a boolean" : "a number";
		json_object_put(o);
		return rec_fail(rec, SP_EDATA, err, 0, "record is not a JSON object but %s", what);
	}
	rec->obj = o;
	/* an id is a name: one cut short at a U+0000 would be another record's, so every reader of
	 * JSONL refuses it here (the record is left parsed for the caller to release) */
	return sp_record_id_check(rec, err);
}

int sp_jsonl_next(sp_in *in, sp_record *rec, sp_err *err)
{
	for (;;) {
		int rc = sp_in_getline(in, &rec->line, err);
		if (rc <= 0)
			return rc;
		rec->lineno = sp_in_lineno(in);
		rec->source = sp_in_name(in);
		if (blank(rec->line.p, rec->line.len))
			continue;
		SP_FORWARD(sp_jsonl_parse(rec, err));
		return 1;
	}
}

void sp_record_release(sp_record *rec)
{
	sp_buf_release(&rec->line);
	if (rec->obj)
		json_object_put(rec->obj);
	rec->obj = NULL;
}

json_object *sp_json_path(json_object *obj, const char *path)
{
	char key[256];
	while (obj && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof key)
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		json_object *next;
		if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &next))
			return NULL;
		obj = next;
		path += n + (dot ? 1 : 0);
	}
	return obj;
}

int sp_record_str(const sp_record *rec, const char *path, const char **s, size_t *n, sp_err *err)
{
	json_object *v = rec->obj ? sp_json_path(rec->obj, path) : NULL;
	if (!v)
		return rec_fail(rec, SP_ENOTFOUND, err, SIZE_MAX, "missing field '%s'", path);
	if (!json_object_is_type(v, json_type_string))
		return rec_fail(rec, SP_EDATA, err, SIZE_MAX, "field '%s' is not a string", path);
	*s = json_object_get_string(v);
	*n = (size_t)json_object_get_string_len(v);
	return 0;
}

const char *sp_record_id(const sp_record *rec)
{
	json_object *v = rec->obj ? sp_json_path(rec->obj, "id") : NULL;
	if (!v || json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

int sp_record_id_check(const sp_record *rec, sp_err *err)
{
	json_object *v = rec->obj ? sp_json_path(rec->obj, "id") : NULL;
	if (v && json_object_is_type(v, json_type_string) &&
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return rec_fail(rec, SP_EDATA, err, SIZE_MAX, "field 'id' contains U+0000 (NUL), which ids may not hold");
	return 0;
}

int sp_json_append(sp_buf *buf, json_object *obj)
{
	size_t n;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!s)
		return SP_ENOMEM;
	return sp_buf_append(buf, s, n);
}

int sp_jsonl_write(sp_out *out, json_object *obj, sp_err *err)
{
	size_t n;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return sp_jsonl_write_raw(out, s, n, err);
}

int sp_jsonl_write_raw(sp_out *out, const char *line, size_t n, sp_err *err)
{
	SP_FORWARD(sp_out_write(out, line, n, err));
	return sp_out_write(out, "\n", 1, err);
}
