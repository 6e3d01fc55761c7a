/* test_shard.c - "--shard I/N": parsing and the exactly-once cover of the inputs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "spindle/shard.h"

Test(shard, parses_valid_and_rejects_bad_specs)
{
	sp_shard s;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_shard_parse("3/16", &s, &err), 0);
	cr_assert_eq(s.index, 3);
	cr_assert_eq(s.count, 16);
	const char *bad[] = { "16/16", "1/0", "x/2", "1/", "/2", "1/2x", "-1/2", "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		cr_assert_eq(sp_shard_parse(bad[i], &s, &err), SP_EUSAGE, "%s", bad[i]);
}

Test(shard, every_input_goes_to_exactly_one_job_whatever_the_listing_order)
{
	enum { N_IN = 103 };
	char names[N_IN][16];
	const char *fwd[N_IN], *rev[N_IN];
	for (int i = 0; i < N_IN; i++) {
		snprintf(names[i], sizeof names[i], "f%03d.jsonl", (i * 37) % N_IN);
		fwd[i] = names[i];
		rev[N_IN - 1 - i] = names[i];
	}
	for (unsigned count = 1; count <= 9; count++) {
		int seen[N_IN] = { 0 };
		for (unsigned idx = 0; idx < count; idx++) {
			sp_shard sh = { idx, count };
			const char *a[N_IN], *b[N_IN];
			size_t na, nb;
			sp_shard_select(&sh, fwd, N_IN, a, &na);
			sp_shard_select(&sh, rev, N_IN, b, &nb);
			cr_assert_eq(na, nb);
			for (size_t k = 0; k < na; k++) {
				cr_assert_str_eq(a[k], b[k], "order of listing must not matter");
				int id;
				sscanf(a[k], "f%d", &id);
				seen[id]++;
			}
			cr_assert(na >= N_IN / count && na <= N_IN / count + 1, "balanced");
		}
		for (int i = 0; i < N_IN; i++)
			cr_assert_eq(seen[i], 1, "input %d seen %d times with %u jobs", i, seen[i], count);
	}
}
