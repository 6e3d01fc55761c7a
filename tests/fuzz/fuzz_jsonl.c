/* fuzz_jsonl.c - fuzz target: one JSONL line through the record parser and field getters. */
#include <stdint.h>
#include <string.h>
#include "spindle/jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_record rec = SP_RECORD_INIT;
	sp_err err = SP_ERR_INIT;
	if (sp_buf_append(&rec.line, data, size) < 0)
		return 0;
	rec.lineno = 1;
	rec.source = "fuzz";
	if (sp_jsonl_parse(&rec, &err) == 0) {
		const char *s;
		size_t n;
		sp_record_str(&rec, "text", &s, &n, &err);
		sp_record_str(&rec, "meta.url", &s, &n, &err);
		sp_record_id(&rec);
		sp_buf out = SP_BUF_INIT;
		sp_json_append(&out, rec.obj);
		sp_buf_release(&out);
	}
	sp_record_release(&rec);
	return 0;
}
