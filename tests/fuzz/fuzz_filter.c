/* fuzz_filter.c - fuzz target: the first line of the input as a config line ("key = value"), the
 * rest as a document's text through every filter rule with PII tagging and --annotate. */
#include <stdint.h>
#include <string.h>
#include "../../filter/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	filter_config c;
	sp_err err = SP_ERR_INIT;
	if (filter_config_defaults(&c) < 0)
		return 0;
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	size_t first = nl ? (size_t)(nl - p) : 0;
	char line[256];
	if (first && first < sizeof line) {
		memcpy(line, p, first);
		line[first] = 0;
		char *eq = strchr(line, '=');
		if (eq) {
			*eq = 0;
			char *k = line, *v = eq + 1;
			while (*k == ' ') k++;
			for (char *e = k + strlen(k); e > k && e[-1] == ' ';) *--e = 0;
			while (*v == ' ') v++;
			/* block-list files would be opened: keep the fuzzer off the file system */
			if (!strstr(k, ".file"))
				filter_config_set(&c, k, v, &err);
		}
	}
	c.pii = FILTER_PII_TAG;
	filter *f = NULL;
	if (filter_new(&f, &c, &err) == 0) {
		filter_scratch *s = filter_scratch_new(f);
		filter_result r = FILTER_RESULT_INIT;
		size_t off = nl ? first + 1 : 0;
		if (s) {
			filter_doc(f, s, p + off, size - off, "http://fuzz.example/x", 1, &r, &err);
			filter_config_set(&c, "pii", "redact", &err);
		}
		filter_result_release(&r);
		filter_scratch_free(s);
		filter_free(f);
	}
	filter_config_release(&c);
	return 0;
}
