/* fuzz_convert.c - fuzz target: one JSONL line as Anthropic HH and as TRL preference data through
 * `annotate convert`'s record reader (annotate_convert.c): it must refuse or convert, and a converted
 * pair must have a dialog ending with a user turn and string responses. */
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
		static const int formats[2] = { ANN_CONVERT_HH, ANN_CONVERT_TRL };
		for (int f = 0; f < 2; f++) {
			json_object *o = NULL, *d, *c, *r;
			if (ann_convert_record(&rec, formats[f], "fz", "helpfulness", &o, &err) < 0) {
				if (o)
					abort();
				continue;
			}
			if (!json_object_object_get_ex(o, "dialog", &d) || !json_object_object_get_ex(o, "chosen", &c) ||
			    !json_object_object_get_ex(o, "rejected", &r) || !json_object_is_type(c, json_type_string) ||
			    !json_object_is_type(r, json_type_string) || json_object_array_length(d) == 0)
				abort();
			json_object *last = json_object_array_get_idx(d, json_object_array_length(d) - 1), *role;
			if (!json_object_object_get_ex(last, "role", &role) || strcmp(json_object_get_string(role), "user"))
				abort();
			json_object_put(o);
		}
	}
	sp_record_release(&rec);
	return 0;
}
