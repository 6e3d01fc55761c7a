/* sig_bench.c - MinHash signature speed of dedup/ alone: loads the texts of a JSONL file into
 * memory, then computes shingles + 112 permutations + band keys for every document on T threads
 * (documents split round-robin). Prints text bytes, CPU seconds per thread summed, wall seconds.
 * CPU time is what "MB/s per core" is computed from: the bench machine is shared and noisy. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../dedup/dedup.h"
#include "spindle/docs.h"

typedef struct job { char **t; size_t *n; size_t nd; int id, nt; double cpu; } job;
static dd_perms perms;

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	job *j = arg;
	dd_params p = DD_PARAMS_DEFAULT;
	dd_shingler *s = NULL;
	uint64_t keys[DD_MAX_PERM];
	if (dd_shingler_new(&s, &p, NULL))
		return NULL;
	double c0 = now(CLOCK_THREAD_CPUTIME_ID);
	for (size_t i = (size_t)j->id; i < j->nd; i += (size_t)j->nt)
		dd_signature(s, &perms, 14, 8, j->t[i], j->n[i], 0, keys, NULL, NULL, NULL, NULL);
	j->cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
	dd_shingler_free(s);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sig_bench FILE.jsonl THREADS [PERMUTATIONS]\n");
		return 2;
	}
	int nt = atoi(argv[2]);
	const char *in[1] = { argv[1] };
	sp_docs_opts o;
	memset(&o, 0, sizeof o);
	o.inputs = in;
	o.n_inputs = 1;
	sp_docs *d = NULL;
	sp_doc doc;
	if (sp_docs_open(&d, &o, NULL))
		return 1;
	size_t cap = 1024, nd = 0, bytes = 0;
	char **t = malloc(cap * sizeof *t);
	size_t *n = malloc(cap * sizeof *n);
	while (sp_docs_next(d, &doc, NULL) > 0) {
		if (nd == cap) {
			cap *= 2;
			t = realloc(t, cap * sizeof *t);
			n = realloc(n, cap * sizeof *n);
		}
		t[nd] = malloc(doc.text_len + 1);
		memcpy(t[nd], doc.text, doc.text_len);
		n[nd] = doc.text_len;
		bytes += doc.text_len;
		nd++;
	}
	sp_docs_free(d);
	dd_perms_init(&perms, argc > 3 ? atoi(argv[3]) : 112, 1);
	job *jobs = calloc((size_t)nt, sizeof *jobs);
	pthread_t *th = calloc((size_t)nt, sizeof *th);
	double w0 = now(CLOCK_MONOTONIC);
	for (int i = 0; i < nt; i++) {
		jobs[i] = (job){ t, n, nd, i, nt, 0 };
		pthread_create(&th[i], NULL, run, &jobs[i]);
	}
	double cpu = 0;
	for (int i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		cpu += jobs[i].cpu;
	}
	printf("%zu %zu %.3f %.3f\n", nd, bytes, cpu, now(CLOCK_MONOTONIC) - w0);
	return 0;
}
