/* test_pack.c - the packer and the dataset reader: round trip through the reader, rank partitions,
 * cursor save/restore, epochs, prefetch, compression, resume after an interrupted run, corruption. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../pack/pack.h"
#include "spindle/shards.h"
#include "spindle/shards_fmt.h"
#include "spindle/mem.h"

#define N_DOCS 300
#define VOCAB 1000

typedef struct corpus { uint32_t *ids[N_DOCS]; size_t n[N_DOCS]; } corpus;

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) { rng_state = sp_mix64(rng_state); return (uint32_t)(rng_state % n); }

/* Writes a token stream (schemas/tokens.md) of N_DOCS random documents; one is long (many sequences). */
static void make_stream(const char *path, corpus *c, uint64_t seed)
{
	rng_state = seed;
	FILE *f = fopen(path, "wb");
	cr_assert(f);
	uint32_t h[8] = { 1, 40, VOCAB, 1, 2, 0, 0xabcdef01u, 0x12345678u };
	fwrite("SPTOKS01", 1, 8, f);
	fwrite(h, 4, 8, f);
	for (size_t k = 0; k < N_DOCS; k++) {
		size_t n = k == 17 ? 1000 : 1 + rnd(150);
		c->ids[k] = malloc(n * sizeof(uint32_t));
		for (size_t i = 0; i < n; i++)
			c->ids[k][i] = 3 + rnd(VOCAB - 3);
		c->n[k] = n;
		char id[32];
		int il = snprintf(id, sizeof id, "d%zu", k);
		uint32_t rec[2] = { (uint32_t)n, (uint32_t)il };
		fwrite(rec, 4, 2, f);
		fwrite(id, 1, (size_t)il, f);
		fwrite(c->ids[k], 4, n, f);
	}
	uint32_t end = 0xFFFFFFFFu;
	uint64_t nd = N_DOCS;
	fwrite(&end, 4, 1, f);
	fwrite(&nd, 8, 1, f);
	fclose(f);
}

static void free_corpus(corpus *c)
{
	for (size_t k = 0; k < N_DOCS; k++)
		free(c->ids[k]);
}

static char tmpdir[256];
static corpus C;
static char stream[300];

static void setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/spindle-pack-unit.XXXXXX");
	cr_assert(mkdtemp(tmpdir));
	snprintf(stream, sizeof stream, "%s/in.bin", tmpdir);
	make_stream(stream, &C, 42);
}

static void teardown(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_assert(system(cmd) == 0);
	free_corpus(&C);
}

static void pack_into(const char *name, int zstd, int order, uint64_t stop_after, pack_result *res)
{
	char dir[400];
	snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
	const char *inputs[1] = { stream };
	pack_opts o;
	pack_opts_init(&o);
	o.out_dir = dir;
	o.inputs = inputs;
	o.n_inputs = 1;
	o.seq_len = 64;
	o.shard_seqs = 8;
	o.zstd_level = zstd;
	o.order_shuffle = order;
	o.seed = 9;
	o.no_sync = 1;
	o.test_stop_after_shards = stop_after;
	sp_err err = SP_ERR_INIT;
	pack_result r;
	int rc = pack_run(&o, NULL, res ? res : &r, &err);
	cr_assert_eq(rc, 0, "pack_run: %s: %s", err.name, err.msg);
}

static sp_shards *open_ds(const char *name, unsigned prefetch)
{
	char dir[400];
	snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
	sp_shards *s = NULL;
	sp_err err = SP_ERR_INIT;
	int rc = sp_shards_open(&s, dir, prefetch, &err);
	cr_assert_eq(rc, 0, "open: %s: %s", err.name, err.msg);
	return s;
}

TestSuite(pack, .init = setup, .fini = teardown);

Test(pack, permutation_is_a_bijection)
{
	uint64_t sizes[] = { 1, 2, 3, 7, 100, 1000, 4097 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		uint64_t n = sizes[k];
		char *seen = calloc(n, 1);
		sp_perm p;
		sp_perm_init(&p, n, 1234 + k);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t j = sp_perm_apply(&p, i);
			cr_assert_lt(j, n);
			cr_assert_eq(seen[j], 0, "n=%lu: %lu hit twice", (unsigned long)n, (unsigned long)j);
			seen[j] = 1;
		}
		free(seen);
	}
}

/* Rebuilds every document from the sequences read through the reader (manifest order) and compares. */
static int info_shuffled;

static void check_round_trip(const char *name)
{
	sp_shards *s = open_ds(name, 0);
	sp_shards_info info;
	sp_shards_info_get(s, &info);
	cr_assert_eq(info.n_documents, N_DOCS);
	cr_assert_eq(info.bos_id, 1);
	cr_assert_eq(info.eos_id, 2);
	size_t *got = calloc(N_DOCS, sizeof *got);
	uint32_t **doc = calloc(N_DOCS, sizeof *doc);
	for (size_t k = 0; k < N_DOCS; k++)
		doc[k] = calloc(C.n[k] + 2, sizeof(uint32_t));
	sp_seq q = SP_SEQ_INIT;
	sp_err err = SP_ERR_INIT;
	uint64_t tokens = 0;
	for (uint64_t i = 0; i < info.n_sequences; i++) {
		cr_assert_eq(sp_shards_get(s, i, &q, &err), 0, "%s", err.msg);
		cr_assert_eq(q.index, i);
		tokens += q.n_valid;
		for (size_t d = 0; d < q.n_docs; d++) {
			const sp_seq_doc *pc = &q.docs[d];
			/* the document is named by its provenance; unshuffled, its index is its input position */
			cr_assert_eq(pc->doc_id[0], 'd');
			size_t k = (size_t)strtoul(pc->doc_id + 1, NULL, 10);
			cr_assert_lt(k, N_DOCS);
			cr_assert_lt(pc->doc_index, N_DOCS);
			if (!info_shuffled)
				cr_assert_eq(pc->doc_index, k);
			cr_assert_leq(pc->doc_offset + pc->len, C.n[k] + 2, "doc %zu piece beyond its end", k);
			memcpy(doc[k] + pc->doc_offset, q.tokens + pc->start, pc->len * sizeof(uint32_t));
			for (uint32_t t = pc->start; t < pc->start + pc->len; t++)
				cr_assert_eq(q.loss_mask[t], 1);
			got[k] += pc->len;
		}
		for (uint32_t t = q.n_valid; t < q.len; t++)
			cr_assert_eq(q.loss_mask[t], 0);
	}
	cr_assert_eq(tokens, info.n_tokens);
	for (size_t k = 0; k < N_DOCS; k++) {
		cr_assert_eq(got[k], C.n[k] + 2, "doc %zu: %zu tokens back, wanted %zu", k, got[k], C.n[k] + 2);
		cr_assert_eq(doc[k][0], 1);
		cr_assert_eq(doc[k][C.n[k] + 1], 2);
		cr_assert_eq(memcmp(doc[k] + 1, C.ids[k], C.n[k] * sizeof(uint32_t)), 0, "doc %zu differs", k);
		free(doc[k]);
	}
	free(doc);
	free(got);
	sp_seq_release(&q);
	sp_shards_close(s);
}

Test(pack, round_trip_through_the_reader_is_lossless)
{
	pack_into("plain", 0, 0, 0, NULL);
	check_round_trip("plain");
}

Test(pack, round_trip_with_zstd_frames_and_a_manifest_order)
{
	pack_into("z", 3, 1, 0, NULL);
	check_round_trip("z");
}

Test(pack, compressed_and_plain_shards_hold_the_same_sequences)
{
	pack_into("plain", 0, 0, 0, NULL);
	pack_into("z", 5, 0, 0, NULL);
	sp_shards *a = open_ds("plain", 0), *b = open_ds("z", 2);
	sp_shards_info ia, ib;
	sp_shards_info_get(a, &ia);
	sp_shards_info_get(b, &ib);
	cr_assert_eq(ia.n_sequences, ib.n_sequences);
	sp_seq x = SP_SEQ_INIT, y = SP_SEQ_INIT;
	sp_err err = SP_ERR_INIT;
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(sp_shards_next(a, &x, &err), 0);
		cr_assert_eq(sp_shards_next(b, &y, &err), 0);
		cr_assert_eq(x.index, y.index);
		cr_assert_eq(memcmp(x.tokens, y.tokens, x.len * 4), 0);
	}
	sp_seq_release(&x);
	sp_seq_release(&y);
	sp_shards_close(a);
	sp_shards_close(b);
}

Test(pack, rank_partitions_cover_every_sequence_exactly_once)
{
	pack_into("plain", 0, 0, 0, NULL);
	for (uint32_t world = 1; world <= 5; world++) {
		sp_shards *s = open_ds("plain", world & 1 ? 3 : 0);
		sp_shards_info info;
		sp_shards_info_get(s, &info);
		int *hits = calloc(info.n_sequences, sizeof *hits);
		uint64_t total = 0;
		sp_seq q = SP_SEQ_INIT;
		sp_err err = SP_ERR_INIT;
		for (uint32_t r = 0; r < world; r++) {
			sp_shards_cursor c = { 77, 3, 0, r, world };
			cr_assert_eq(sp_shards_seek(s, &c, &err), 0);
			uint64_t len = sp_shards_epoch_len(s, r, world);
			total += len;
			for (uint64_t k = 0; k < len; k++) {
				cr_assert_eq(sp_shards_next(s, &q, &err), 0, "%s", err.msg);
				hits[q.index]++;
			}
			sp_shards_cursor after;
			sp_shards_tell(s, &after);
			cr_assert_eq(after.epoch, 4, "the epoch rolls over after the rank's share");
			cr_assert_eq(after.position, 0);
		}
		cr_assert_eq(total, info.n_sequences);
		for (uint64_t i = 0; i < info.n_sequences; i++)
			cr_assert_eq(hits[i], 1, "world %u: sequence %lu seen %d times", world, (unsigned long)i, hits[i]);
		free(hits);
		sp_seq_release(&q);
		sp_shards_close(s);
	}
}

Test(pack, saved_cursor_reproduces_the_order_across_epochs)
{
	pack_into("plain", 0, 0, 0, NULL);
	sp_shards *a = open_ds("plain", 4);
	sp_err err = SP_ERR_INIT;
	sp_shards_cursor c = { 5, 0, 0, 1, 3 };
	cr_assert_eq(sp_shards_seek(a, &c, &err), 0);
	sp_seq q = SP_SEQ_INIT;
	for (int i = 0; i < 10; i++)
		cr_assert_eq(sp_shards_next(a, &q, &err), 0);
	sp_shards_cursor saved;
	sp_shards_tell(a, &saved);
	cr_assert_eq(saved.position, 10);
	uint64_t len = sp_shards_epoch_len(a, 1, 3);
	size_t n = (size_t)len * 2 + 5; /* into epoch 2 */
	uint64_t *want = calloc(n, sizeof *want);
	uint32_t *tok0 = calloc(n, sizeof *tok0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(sp_shards_next(a, &q, &err), 0);
		want[i] = q.index;
		tok0[i] = q.tokens[0];
	}
	sp_shards_close(a);
	sp_shards *b = open_ds("plain", 0);
	cr_assert_eq(sp_shards_seek(b, &saved, &err), 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(sp_shards_next(b, &q, &err), 0);
		cr_assert_eq(q.index, want[i], "after restore, sequence %zu differs", i);
		cr_assert_eq(q.tokens[0], tok0[i]);
	}
	free(want);
	free(tok0);
	sp_seq_release(&q);
	sp_shards_close(b);
}

Test(pack, each_epoch_is_a_different_permutation)
{
	pack_into("plain", 0, 0, 0, NULL);
	sp_shards *s = open_ds("plain", 2);
	sp_shards_info info;
	sp_shards_info_get(s, &info);
	uint64_t n = info.n_sequences;
	uint64_t *e0 = calloc(n, sizeof *e0);
	char *seen = calloc(n, 1);
	sp_seq q = SP_SEQ_INIT;
	sp_err err = SP_ERR_INIT;
	uint64_t same = 0, in_order = 0;
	for (int e = 0; e < 2; e++) {
		memset(seen, 0, n);
		for (uint64_t k = 0; k < n; k++) {
			cr_assert_eq(sp_shards_next(s, &q, &err), 0);
			cr_assert_eq(seen[q.index], 0);
			seen[q.index] = 1;
			if (e == 0)
				e0[k] = q.index;
			else
				same += e0[k] == q.index;
			in_order += q.index == k;
		}
	}
	cr_assert_lt(same, n / 4, "epochs 0 and 1 agree on %lu of %lu positions", (unsigned long)same, (unsigned long)n);
	cr_assert_lt(in_order, n / 4, "the order is not shuffled");
	free(e0);
	free(seen);
	sp_seq_release(&q);
	sp_shards_close(s);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)sz + 1);
	*n = fread(p, 1, (size_t)sz, f);
	fclose(f);
	return p;
}

static void assert_same_file(const char *a, const char *b)
{
	size_t na, nb;
	char *pa = slurp(a, &na), *pb = slurp(b, &nb);
	cr_assert(pa && pb, "missing %s or %s", a, b);
	cr_assert(na == nb && !memcmp(pa, pb, na), "%s and %s differ", a, b);
	free(pa);
	free(pb);
}

Test(pack, resumed_run_equals_an_uninterrupted_one)
{
	pack_into("whole", 0, 1, 0, NULL);
	pack_result r;
	pack_into("cut", 0, 1, 3, &r);
	cr_assert(r.stopped);
	char p[512], q[512];
	snprintf(p, sizeof p, "%s/cut/manifest.json", tmpdir);
	cr_assert(access(p, F_OK) != 0, "an interrupted run must not leave a manifest");
	snprintf(p, sizeof p, "%s/cut/pack.journal", tmpdir);
	cr_assert(access(p, F_OK) == 0);
	pack_into("cut", 0, 1, 0, &r);
	cr_assert_eq(r.resumed_shards, 3);
	snprintf(p, sizeof p, "%s/cut/pack.journal", tmpdir);
	cr_assert(access(p, F_OK) != 0, "the journal goes when the manifest is written");
	snprintf(p, sizeof p, "%s/whole/manifest.json", tmpdir);
	snprintf(q, sizeof q, "%s/cut/manifest.json", tmpdir);
	assert_same_file(p, q);
	sp_manifest m = SP_MANIFEST_INIT;
	sp_err err = SP_ERR_INIT;
	snprintf(p, sizeof p, "%s/whole", tmpdir);
	cr_assert_eq(sp_manifest_load(p, &m, &err), 0);
	cr_assert_gt(m.n_shards, 4);
	for (size_t i = 0; i < m.n_shards; i++) {
		snprintf(p, sizeof p, "%s/whole/%s", tmpdir, m.shards[i].file);
		snprintf(q, sizeof q, "%s/cut/%s", tmpdir, m.shards[i].file);
		assert_same_file(p, q);
	}
	sp_manifest_release(&m);
	/* rerunning a finished pack does nothing */
	pack_into("cut", 0, 1, 0, &r);
	cr_assert(r.already_complete);
}

Test(pack, a_flipped_byte_is_caught_and_named)
{
	pack_into("plain", 0, 0, 0, NULL);
	char p[512];
	snprintf(p, sizeof p, "%s/plain/shard-00002.bin", tmpdir);
	FILE *f = fopen(p, "r+b");
	cr_assert(f);
	fseek(f, 64 + 20, SEEK_SET); /* inside the first record's tokens */
	int c = fgetc(f);
	fseek(f, 64 + 20, SEEK_SET);
	fputc(c ^ 0x10, f);
	fclose(f);
	snprintf(p, sizeof p, "%s/plain", tmpdir);
	uint64_t n;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(pack_verify(p, &n, &err), SP_EDATA);
	cr_assert(strstr(err.name, "shard-00002.bin"), "named %s", err.name);
	cr_assert(strstr(err.msg, "sequence 0"), "message: %s", err.msg);
	sp_shards *s = open_ds("plain", 0);
	sp_seq q = SP_SEQ_INIT;
	sp_err e2 = SP_ERR_INIT;
	cr_assert_eq(sp_shards_get(s, 16, &q, &e2), SP_EDATA, "sequence 16 is the first of shard 2");
	cr_assert(strstr(e2.name, "shard-00002.bin"));
	cr_assert_eq(sp_shards_get(s, 15, &q, &e2), 0);
	sp_seq_release(&q);
	sp_shards_close(s);
}

Test(pack, ranks_beyond_the_data_and_bad_cursors_are_refused)
{
	pack_into("plain", 0, 0, 0, NULL);
	sp_shards *s = open_ds("plain", 0);
	sp_shards_info info;
	sp_shards_info_get(s, &info);
	sp_err err = SP_ERR_INIT;
	sp_shards_cursor c = { 0, 0, 0, 3, 3 };
	cr_assert_eq(sp_shards_seek(s, &c, &err), SP_EUSAGE);
	sp_shards_cursor d = { 0, 0, 0, (uint32_t)info.n_sequences, (uint32_t)info.n_sequences + 1 };
	cr_assert_eq(sp_shards_seek(s, &d, &err), SP_EUSAGE);
	sp_seq q = SP_SEQ_INIT;
	cr_assert_eq(sp_shards_get(s, info.n_sequences, &q, &err), SP_EUSAGE);
	sp_shards_close(s);
}

Test(pack, resume_refuses_an_input_that_changed)
{
	pack_result r;
	pack_into("cut", 0, 0, 2, &r);
	cr_assert(r.stopped);
	corpus other;
	make_stream(stream, &other, 43); /* same name, other documents */
	free_corpus(&other);
	char dir[400];
	snprintf(dir, sizeof dir, "%s/cut", tmpdir);
	const char *inputs[1] = { stream };
	pack_opts o;
	pack_opts_init(&o);
	o.out_dir = dir;
	o.inputs = inputs;
	o.n_inputs = 1;
	o.seq_len = 64;
	o.shard_seqs = 8;
	o.seed = 9;
	o.no_sync = 1;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(pack_run(&o, NULL, &r, &err), SP_EDATA);
	cr_assert(strstr(err.msg, "input differs"), "%s", err.msg);
	o.force = 1;
	cr_assert_eq(pack_run(&o, NULL, &r, &err), 0, "--force starts over: %s", err.msg);
}

/* Fault injection: the n-th allocation fails, for every n until a run succeeds. Each failing run must
 * return an error (not crash), and under ASan leak nothing. */
Test(pack, every_failed_allocation_is_an_error_not_a_crash)
{
	char dir[400];
	snprintf(dir, sizeof dir, "%s/oom", tmpdir);
	const char *inputs[1] = { stream };
	pack_opts o;
	pack_opts_init(&o);
	o.out_dir = dir;
	o.inputs = inputs;
	o.n_inputs = 1;
	o.seq_len = 64;
	o.shard_seqs = 64;
	o.no_sync = 1;
	o.force = 1;
	o.shuffle = o.order_shuffle = 1;
	o.shuffle_buffer = 2000;
	int done = 0;
	unsigned long n;
	for (n = 1; n < 20000 && !done; n++) {
		sp_err err = SP_ERR_INIT;
		pack_result r;
		sp_mem_fail_at(n);
		int rc = pack_run(&o, NULL, &r, &err);
		sp_mem_fail_at(0);
		if (rc == 0)
			done = 1;
		else
			cr_assert_eq(rc, SP_ENOMEM, "allocation %lu: %d %s", n, rc, err.msg);
	}
	cr_assert(done, "pack never succeeded");
	cr_assert_gt(n, 10);
	done = 0;
	for (n = 1; n < 5000 && !done; n++) {
		sp_err err = SP_ERR_INIT;
		sp_shards *s = NULL;
		sp_seq q = SP_SEQ_INIT;
		sp_mem_fail_at(n);
		int rc = sp_shards_open(&s, dir, 2, &err);
		for (int i = 0; rc == 0 && i < 5; i++)
			rc = sp_shards_next(s, &q, &err);
		rc = rc ? rc : sp_shards_get(s, 3, &q, &err);
		sp_mem_fail_at(0);
		sp_seq_release(&q);
		sp_shards_close(s);
		if (rc == 0)
			done = 1;
		else
			cr_assert_eq(rc, SP_ENOMEM, "allocation %lu: %d %s", n, rc, err.msg);
	}
	cr_assert(done, "the reader never succeeded");
}

static int pack_buckets(const char *name, uint64_t stop_after, pack_result *r)
{
	char dir[400];
	snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
	const char *inputs[1] = { stream };
	pack_opts o;
	pack_opts_init(&o);
	o.out_dir = dir;
	o.inputs = inputs;
	o.n_inputs = 1;
	o.seq_len = 64;
	o.shard_seqs = 8;
	o.shuffle = o.order_shuffle = 1;
	o.shuffle_buckets = 4;
	o.seed = 3;
	o.threads = 2;
	o.no_sync = 1;
	o.test_stop_after_shards = stop_after;
	sp_err err = SP_ERR_INIT;
	int rc = pack_run(&o, NULL, r, &err);
	cr_assert_eq(rc, 0, "pack_run: %s: %s", err.name, err.msg);
	return rc;
}

Test(pack, bucket_shuffle_resumes_to_the_same_dataset)
{
	pack_result r;
	pack_buckets("whole", 0, &r);
	pack_buckets("cut", 4, &r);
	cr_assert(r.stopped);
	pack_buckets("cut", 0, &r);
	cr_assert_eq(r.resumed_shards, 4);
	info_shuffled = 1;
	char p[512], q[512];
	snprintf(p, sizeof p, "%s/whole/manifest.json", tmpdir);
	snprintf(q, sizeof q, "%s/cut/manifest.json", tmpdir);
	assert_same_file(p, q);
	snprintf(p, sizeof p, "%s/whole/shard-00005.bin", tmpdir);
	snprintf(q, sizeof q, "%s/cut/shard-00005.bin", tmpdir);
	assert_same_file(p, q);
	check_round_trip("cut");
}

Test(pack, a_small_mapping_limit_reads_the_same_sequences)
{
	pack_into("z", 3, 0, 0, NULL);
	sp_shards *a = open_ds("z", 0), *b = open_ds("z", 3);
	sp_shards_set_map_limit(b, 4);  /* far fewer than the shards: constant unmapping */
	sp_shards_info info;
	sp_shards_info_get(a, &info);
	cr_assert_gt(info.n_shards, 20);
	sp_seq x = SP_SEQ_INIT, y = SP_SEQ_INIT;
	sp_err err = SP_ERR_INIT;
	for (uint64_t i = 0; i < info.n_sequences + 10; i++) {
		cr_assert_eq(sp_shards_next(a, &x, &err), 0, "%s", err.msg);
		cr_assert_eq(sp_shards_next(b, &y, &err), 0, "%s", err.msg);
		cr_assert_eq(x.index, y.index);
		cr_assert_eq(memcmp(x.tokens, y.tokens, x.len * 4), 0);
		if (i % 5 == 0) { /* the main thread maps too, while the prefetch thread runs */
			cr_assert_eq(sp_shards_get(b, (i * 7) % info.n_sequences, &y, &err), 0, "%s", err.msg);
			cr_assert_eq(y.index, (i * 7) % info.n_sequences);
		}
	}
	sp_seq_release(&x);
	sp_seq_release(&y);
	sp_shards_close(a);
	sp_shards_close(b);
}
