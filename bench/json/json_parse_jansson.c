/* json_parse_jansson.c - the jansson half of json_parse_bench.c (its names clash with json-c's). */
#include <jansson.h>

size_t bench_jansson(char **lines, const size_t *lens, size_t n);

size_t bench_jansson(char **lines, const size_t *lens, size_t n)
{
	size_t sink = 0;
	for (size_t i = 0; i < n; i++) {
		json_error_t e;
		json_t *o = json_loadb(lines[i], lens[i], JSON_DISABLE_EOF_CHECK, &e);
		json_t *v = o ? json_object_get(o, "text") : NULL;
		if (v) sink += json_string_length(v);
		json_decref(o);
	}
	return sink;
}
