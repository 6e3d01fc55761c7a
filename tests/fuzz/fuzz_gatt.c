/* fuzz_gatt.c - the Ghost Attention lists / distillation templates loaders and the dialog checks
 * (train/gatt.c) on arbitrary bytes: the first byte picks lists, templates or a dialog; accepted
 * lists must then generate instructions and preprompts, an accepted dialog must rewrite. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../train/gatt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t n = size - 1;
	gatt_lists l = { NULL };
	train_rng r;
	rng_seed(&r, size);
	if (data[0] % 3 < 2) {
		int templates = data[0] % 3 == 1;
		if (gatt_lists_parse(&l, text, n, templates, NULL) == 0) {
			for (int i = 0; i < 8; i++) {
				sp_buf b = SP_BUF_INIT;
				int s;
				if (templates)
					distill_preprompt(&l, i & 1 ? "default" : "x", &r, &b, NULL);
				else
					gatt_instruction(&l, &r, &b, &s, NULL, NULL);
				sp_buf_release(&b);
			}
			gatt_lists_release(&l);
		}
		return 0;
	}
	json_tokener *tk = json_tokener_new();
	json_object *d = json_tokener_parse_ex(tk, text, (int)(n < (1u << 30) ? n : 0));
	json_tokener_free(tk);
	size_t nu;
	if (d && gatt_check_dialog(d, &nu, NULL) == 0) {
		const char *ans[2] = { "a", "b" };
		json_object *o = gatt_dialog(d, nu, "inst", 0, "sys", ans, nu < 2 ? nu : 2);
		if (json_object_array_length(o) < nu)
			abort();
		json_object_put(o);
	}
	json_object_put(d);
	return 0;
}
