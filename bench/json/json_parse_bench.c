/* json_parse_bench.c - measures parse speed of Debian's JSON libraries on a JSONL file.
 * Used once to choose spindle's JSON library (bench/RESULTS.md, "JSON library").
 * Each library parses every line and looks up the "text" string; we report MB/s. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json.h>
#include <cJSON.h>

size_t bench_jansson(char **lines, const size_t *lens, size_t n);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc < 2) { fprintf(stderr, "usage: %s FILE.jsonl\n", argv[0]); return 2; }
	FILE *f = fopen(argv[1], "rb");
	if (!f) { perror(argv[1]); return 3; }
	char **lines = NULL; size_t *lens = NULL, n = 0, cap = 0, total = 0;
	char *line = NULL; size_t lcap = 0; ssize_t got;
	while ((got = getline(&line, &lcap, f)) > 0) {
		if (n == cap) { cap = cap ? 2 * cap : 1024; lines = realloc(lines, cap * sizeof *lines); lens = realloc(lens, cap * sizeof *lens); }
		lines[n] = malloc(got + 1); memcpy(lines[n], line, got + 1); lens[n] = got; total += got; n++;
	}
	fclose(f);
	size_t sink = 0; double t;

	t = now();
	json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	for (size_t i = 0; i < n; i++) {
		json_tokener_reset(tok);
		json_object *o = json_tokener_parse_ex(tok, lines[i], (int)lens[i]);
		json_object *v;
		if (o && json_object_object_get_ex(o, "text", &v)) sink += json_object_get_string_len(v);
		json_object_put(o);
	}
	json_tokener_free(tok);
	double tjc = now() - t;

	t = now();
	sink += bench_jansson(lines, lens, n);
	double tja = now() - t;

	t = now();
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_ParseWithLength(lines[i], lens[i]);
		cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "text");
		if (cJSON_IsString(v)) sink += strlen(v->valuestring);
		cJSON_Delete(o);
	}
	double tcj = now() - t;

	double mb = total / 1e6;
	printf("lines %zu, %.1f MB (sink %zu)\n", n, mb, sink);
	printf("json-c  %.1f MB/s\njansson %.1f MB/s\ncJSON   %.1f MB/s\n", mb / tjc, mb / tja, mb / tcj);
	return 0;
}
