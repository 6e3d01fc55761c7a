/* jsonl.h - JSON Lines records: one JSON object per line, parsed with json-c.
 *
 * spindle's JSON library is json-c (bench/RESULTS.md says why). Records are read through an sp_in
 * (so zstd/gzip input works) and parsed one line at a time; a record keeps its raw line too, so
 * tools that keep records unchanged can write the exact input bytes back.
 * Ownership: sp_record is caller storage (SP_RECORD_INIT); its line and obj are owned by the record
 * and replaced by the next sp_jsonl_next into it; sp_record_release frees them. Strings returned
 * by the field getters are borrowed until the next read into the record or its release. */
#ifndef SPINDLE_JSONL_H
#define SPINDLE_JSONL_H

#include <stddef.h>
#include <stdint.h>
#include <json.h>
#include "spindle/err.h"
#include "spindle/buf.h"
#include "spindle/io.h"

typedef struct sp_record {
	sp_buf line;          /* raw line, without '\n' */
	json_object *obj;     /* parsed object (owned) */
	uint64_t lineno;      /* 1-based line number in its input */
	const char *source;   /* input name, borrowed from the sp_in */
} sp_record;

#define SP_RECORD_INIT { SP_BUF_INIT, NULL, 0, NULL }

/* Reads and parses the next non-empty line of in into rec. Returns 1 on a record, 0 at end of
 * input, SP_EDATA for a line that is not one JSON object or whose string "id" holds U+0000
 * (sp_record_id_check; err names input and line; the stream stays usable, so a caller may skip and
 * go on), SP_EUTF8 for invalid UTF-8, or an I/O error.
 * Blank lines (only whitespace) are skipped. */
int sp_jsonl_next(sp_in *in, sp_record *rec, sp_err *err);
/* Parses a line already in rec->line (sets obj). Same errors as sp_jsonl_next. */
int sp_jsonl_parse(sp_record *rec, sp_err *err);
void sp_record_release(sp_record *rec);

/* Looks up a string field by a dotted path ("text", "meta.url"). Returns 0 and sets *s, *n
 * (borrowed), SP_ENOTFOUND if absent, SP_EDATA if present but not a string (err located at rec). */
int sp_record_str(const sp_record *rec, const char *path, const char **s, size_t *n, sp_err *err);
/* Looks up any field by dotted path; NULL if absent. Borrowed. */
json_object *sp_json_path(json_object *obj, const char *path);
/* The record's "id" as text: a string id as is, a number formatted; NULL if none. Borrowed. */
const char *sp_record_id(const sp_record *rec);
/* SP_EDATA (located at the record) if the record's string "id" holds U+0000: an id is used as a
 * C string, which would cut it there and make different ids collide. 0 otherwise. */
int sp_record_id_check(const sp_record *rec, sp_err *err);

/* Serialises obj as one compact line (no slash escaping, key order kept) plus '\n'. */
int sp_jsonl_write(sp_out *out, json_object *obj, sp_err *err);
/* Writes line bytes plus '\n'. */
int sp_jsonl_write_raw(sp_out *out, const char *line, size_t n, sp_err *err);
/* Appends obj as compact JSON to buf (no newline). */
int sp_json_append(sp_buf *buf, json_object *obj);

#endif
