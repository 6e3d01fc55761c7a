/* fuzz_annotate_record.c - fuzz target: one JSONL line through the annotate import validator (as a
 * prompt and as a response record), then the same bytes through the terminal-safe text path
 * (sanitize and wrap), checking its promise: no control byte but '\n' survives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../annotate/annotate.h"
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
		ann_record_validate(ANN_PROMPTS, rec.obj, &err);
		ann_record_validate(ANN_RESPONSES, rec.obj, &err);
	}
	sp_record_release(&rec);

	sp_buf s = SP_BUF_INIT;
	if (ann_text_sanitize((const char *)data, size, &s) == 0) {
		for (size_t i = 0; i < s.len; i++)
			if (((unsigned char)s.p[i] < 0x20 && s.p[i] != '\n') || s.p[i] == 0x7f)
				abort();
		ann_lines l = { 0 };
		int w = size ? 4 + data[0] % 100 : 80;
		if (ann_text_wrap(s.p ? s.p : "", s.len, w, &l) == 0)
			for (size_t i = 0; i < l.n; i++)
				if (l.start[i] + l.len[i] > s.len)
					abort();
		ann_lines_release(&l);
	}
	sp_buf_release(&s);
	return 0;
}
