/* reader_bench.c - sequences/s and tokens/s of the dataset reader (lib/shards.c) over one epoch, one
 * consumer thread, with and without the prefetch thread. usage: reader_bench DIR [PREFETCH] */
#include <stdio.h>
#include <stdlib.h>
#include "spindle/shards.h"
#include "spindle/stats.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: reader_bench DIR [PREFETCH]\n");
		return 2;
	}
	unsigned prefetch = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0;
	sp_shards *s;
	sp_err err = SP_ERR_INIT;
	if (sp_shards_open(&s, argv[1], prefetch, &err)) {
		fprintf(stderr, "reader_bench: %s: %s\n", err.name, err.msg);
		return 1;
	}
	sp_shards_info info;
	sp_shards_info_get(s, &info);
	sp_seq q = SP_SEQ_INIT;
	uint64_t sum = 0;
	double t0 = sp_now();
	for (uint64_t i = 0; i < info.n_sequences; i++) {
		if (sp_shards_next(s, &q, &err)) {
			fprintf(stderr, "reader_bench: %s: %s\n", err.name, err.msg);
			return 1;
		}
		sum += q.tokens[i % q.len]; /* touch the data */
	}
	double dt = sp_now() - t0;
	printf("%llu %u %.6f %llu\n", (unsigned long long)info.n_sequences, info.seq_len, dt, (unsigned long long)(sum & 1));
	sp_seq_release(&q);
	sp_shards_close(s);
	return 0;
}
