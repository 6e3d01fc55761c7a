/* cli_stage.c - the staged MinHash dedup of `spindle dedup`: signatures -> buckets -> pairs ->
 * clusters -> filter, each a command a cluster job runs on its share (--shard I/N), writing its one
 * output atomically, so a failed job is simply rerun. The binary files are in schemas/dedup-staged.md.
 * The result is the one `dedup minhash` gives: clusters are the connected components of the
 * (verified) candidate pairs, whatever order or grouping the pairs are found in. */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include "cli_dedup.h"
#include "dedup_staged.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"

#define SIG_MAGIC "SPDDSIG1"
#define BKT_MAGIC "SPDDBKT1"
#define EDG_MAGIC "SPDDEDG1"
#define RMV_MAGIC "SPDDRMV1"
#define DD_VERSION DD_STAGED_VERSION
#define GID_END UINT64_MAX
#define GID_FILE_SHIFT 40

/* ------------------------------------------------------------------ small binary I/O */
/* every byte written goes into the checksum the file ends with (dedup_staged.h) */
typedef struct wr { sp_out *out; sp_buf b; sp_xxh64_state *sum; } wr;

static int wr_open(wr *w, const char *path, sp_err *err)
{
	memset(w, 0, sizeof *w);
	if (!(w->sum = sp_xxh64_new(0)))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return sp_out_open(&w->out, path, SP_OUT_NO_ZSTD, err);
}

static int wr_put(wr *w, const void *p, size_t n, sp_err *err)
{
	if (!w->sum)
		SP_RAISE(err, SP_EINTERNAL, "write to a file not opened");
	sp_xxh64_update(w->sum, p, n);
	if (sp_buf_append(&w->b, p, n))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (w->b.len >= (1u << 20)) {
		SP_FORWARD(sp_out_write(w->out, w->b.p, w->b.len, err));
		sp_buf_reset(&w->b);
	}
	return 0;
}

static int wr_u32(wr *w, uint32_t v, sp_err *err) { return wr_put(w, &v, 4, err); }
static int wr_u64(wr *w, uint64_t v, sp_err *err) { return wr_put(w, &v, 8, err); }

static int wr_commit(wr *w, sp_err *err)
{
	uint64_t sum = sp_xxh64_digest(w->sum);
	if (sp_buf_append(&w->b, &sum, 8))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (w->b.len)
		SP_FORWARD(sp_out_write(w->out, w->b.p, w->b.len, err));
	sp_buf_reset(&w->b);
	return sp_out_commit(w->out, err);
}

static void wr_free(wr *w)
{
	sp_out_free(w->out);
	sp_buf_release(&w->b);
	sp_xxh64_free(w->sum);
	memset(w, 0, sizeof *w);
}

static int rd_magic(sp_in *in, const char *magic, uint32_t *version, sp_err *err)
{
	char m[8];
	SP_FORWARD(sp_in_read_full(in, m, 8, err));
	if (memcmp(m, magic, 8))
		SP_RAISE(err, SP_EDATA, "%s: not a %.8s file (wrong magic)", sp_in_name(in), magic);
	SP_FORWARD(sp_in_read_full(in, version, 4, err));
	if (*version != DD_VERSION)
		SP_RAISE(err, SP_EDATA, "%s: version %u of %.8s, this spindle reads %u", sp_in_name(in), *version, magic, DD_VERSION);
	return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* Global document ids: (index of the input in the sorted list of all inputs << 40) | record
 * number in that input. They sort like the one-process run reads the documents. */
typedef struct gidmap { const char **sorted; size_t n; const char *cur; uint64_t file, rec; } gidmap;

static int gid_init(gidmap *g, const char **inputs, size_t n)
{
	memset(g, 0, sizeof *g);
	static const char *stdin_name[1] = { "-" };
	if (n == 0) {
		inputs = stdin_name;
		n = 1;
	}
	g->sorted = sp_malloc(n * sizeof *g->sorted);
	if (!g->sorted)
		return SP_ENOMEM;
	memcpy(g->sorted, inputs, n * sizeof *g->sorted);
	qsort(g->sorted, n, sizeof *g->sorted, cmp_str);
	g->n = n;
	return 0;
}

static uint64_t gid_next(gidmap *g, const char *source)
{
	if (!g->cur || strcmp(g->cur, source)) {
		const char **p = bsearch(&source, g->sorted, g->n, sizeof *g->sorted, cmp_str);
		g->file = p ? (uint64_t)(p - g->sorted) : 0;
		g->cur = g->sorted[g->file]; /* not source: the input's name is freed with it */
		g->rec = 0;
	}
	return (g->file << GID_FILE_SHIFT) | g->rec++;
}

/* ------------------------------------------------------------------ signatures */
static const char *stage_help =
	"Staged MinHash dedup, for corpora larger than one machine (same result as `dedup minhash`):\n"
	"  1. spindle dedup signatures --shard I/N -o sig-I.bin INPUTS...   (every job the same INPUTS)\n"
	"  2. spindle dedup buckets --shard J/M -o bkt-J.bin sig-*.bin        (band-key partitions)\n"
	"  3. spindle dedup pairs --shard K/P -o pairs-K.bin bkt-*.bin        (candidate pairs, --verify)\n"
	"  4. spindle dedup clusters --shard L/Q -o part-L.bin pairs-*.bin    (union-find, any levels)\n"
	"     spindle dedup clusters --final --sig sig-0.bin ... -o removed.bin part-*.bin\n"
	"  5. spindle dedup filter --shard I/N --removed removed.bin -o kept-I.jsonl INPUTS...\n"
	"MinHash options (--ngram --bands --rows --threshold --nfkc --seed --verify --keep) must be the\n"
	"same in every stage that takes them. Memory per job: signatures O(one batch); buckets 40 bytes x\n"
	"documents x bands / M; pairs O(its buckets and their shingle sets); clusters 16 bytes per document\n"
	"in a duplicate cluster; filter 8 bytes per removed document. Files: schemas/dedup-staged.md.";

int dd_cmd_signatures(int argc, char **argv)
{
	const char *prog = "spindle dedup signatures", *out_path = NULL;
	dd_mh_opts m;
	cli_common com;
	dd_mh_opts_init(&m);
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "the signature file to write (atomically)", NULL, 0, 0 },
		DD_MH_OPTS(&m),
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle dedup signatures [OPTIONS] -o FILE [INPUT...]", stage_help, table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = dd_mh_options_finish(prog, &m)) >= 0 ||
	    (rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		return rc;
	}
	if (!out_path) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "-o FILE is required");
	}
	sp_err err = SP_ERR_INIT;
	sp_stats st;
	sp_stats_init(&st, "dedup signatures");
	sp_docs_opts o;
	cli_docs_opts(&com, pos, n_pos, &st, &o);
	sp_docs *docs = NULL;
	dd_shingler *sh = NULL;
	gidmap g;
	wr w;
	memset(&w, 0, sizeof w);
	uint64_t n_docs = 0, keys[DD_MAX_PERM];
	uint32_t sig[DD_MAX_PERM];
	double check_t;
	int positional, payload = dd_mh_check(&m, &check_t, &positional);
	rc = gid_init(&g, pos, n_pos) ? sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory") : 0;
	if (rc == 0)
		rc = dd_shingler_new(&sh, &m.p, &err);
	if (rc == 0)
		rc = sp_docs_open(&docs, &o, &err);
	if (rc == 0)
		rc = wr_open(&w, out_path, &err);
	if (rc == 0) {
		wr_put(&w, SIG_MAGIC, 8, &err);
		wr_u32(&w, DD_VERSION, &err);
		wr_u32(&w, (uint32_t)m.p.bands, &err);
		wr_u32(&w, (uint32_t)m.p.rows, &err);
		wr_u32(&w, (uint32_t)m.p.ngram, &err);
		wr_u64(&w, m.p.seed, &err);
		rc = wr_u32(&w, (uint32_t)(m.verify | (m.nfkc << 1) | (payload == 2 ? 4 : 0)) | ((uint32_t)m.perms.n << 8), &err);
	}
	sp_doc doc;
	while (rc == 0 && (rc = sp_docs_next(docs, &doc, &err)) > 0) {
		uint64_t gid = gid_next(&g, doc.rec->source);
		const uint64_t *set;
		size_t n;
		rc = dd_signature(sh, &m.perms, m.p.bands, m.p.rows, doc.text, doc.text_len, payload == 1, keys, &set, &n, sig, &err);
		if (rc < 0) {
			sp_err_locate(&err, doc.rec->source, doc.rec->lineno);
			break;
		}
		double score = 0;
		if (m.keep_longest)
			score = (double)doc.text_len;
		else if (m.keep_field) {
			json_object *v = sp_json_path(doc.rec->obj, m.keep_field);
			score = -1e308;
			if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
				score = json_object_get_double(v);
		}
		const char *id = sp_record_id(doc.rec);
		uint32_t id_len = id ? (uint32_t)strlen(id) : 0;
		wr_u64(&w, gid, &err);
		wr_put(&w, &score, 8, &err);
		/* n_set: the payload's length (shingle set, or signature), 0 for a text without words */
		uint32_t np = payload == 2 ? (n ? (uint32_t)m.perms.n : 0) : (uint32_t)n;
		wr_u32(&w, np, &err);
		wr_u32(&w, id_len, &err);
		wr_put(&w, keys, (size_t)m.p.bands * 8, &err);
		rc = wr_put(&w, id ? id : "", id_len, &err);
		if (rc == 0 && payload == 1)
			rc = wr_put(&w, set, n * 8, &err);
		for (uint32_t k = 0; rc == 0 && payload == 2 && k < np; k++)
			rc = wr_u64(&w, sig[k], &err);
		n_docs++;
		st.records_out++;
	}
	if (rc == 0) {
		wr_u64(&w, GID_END, &err);
		rc = wr_u64(&w, n_docs, &err);
	}
	if (rc == 0)
		rc = wr_commit(&w, &err);
	int code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &st);
	wr_free(&w);
	sp_docs_free(docs);
	dd_shingler_free(sh);
	sp_free(g.sorted);
	sp_stats_release(&st);
	sp_free(pos);
	return code;
}

/* Reads a signature file header; checks the parameters against m. */
typedef struct sighdr { uint32_t bands, rows, ngram, flags; uint64_t seed, end, n_seen; } sighdr;

static int sig_open(sp_in **in, const char *path, const dd_mh_opts *m, sighdr *h, uint64_t *pos, sp_err *err)
{
	uint32_t v;
	SP_FORWARD(dd_staged_verify(path, SIG_MAGIC, &h->end, err));
	h->n_seen = 0;
	SP_FORWARD(sp_in_open(in, path, err));
	SP_FORWARD(rd_magic(*in, SIG_MAGIC, &v, err));
	SP_FORWARD(sp_in_read_full(*in, &h->bands, 4, err));
	SP_FORWARD(sp_in_read_full(*in, &h->rows, 4, err));
	SP_FORWARD(sp_in_read_full(*in, &h->ngram, 4, err));
	SP_FORWARD(sp_in_read_full(*in, &h->seed, 8, err));
	SP_FORWARD(sp_in_read_full(*in, &h->flags, 4, err));
	*pos = 36;
	if (m && ((int)h->bands != m->p.bands || (int)h->rows != m->p.rows || (int)h->ngram != m->p.ngram ||
	          h->seed != m->p.seed || (int)(h->flags & 1) != m->verify))
		SP_RAISE(err, SP_EUSAGE, "%s: made with other MinHash options (bands %u rows %u ngram %u seed %llu verify %u)",
		         path, h->bands, h->rows, h->ngram, (unsigned long long)h->seed, h->flags & 1);
	if (h->bands == 0 || h->bands > DD_MAX_PERM)
		SP_RAISE(err, SP_EDATA, "%s: bad band count %u", path, h->bands);
	return 0;
}

typedef struct sigrec { uint64_t gid; double score; uint32_t n_set, id_len; uint64_t set_off; } sigrec;

/* Reads the next record: 1, or 0 at the end marker. keys and id (may be NULL) receive them. */
static int sig_next(sp_in *in, sighdr *h, uint64_t *pos, sigrec *r, uint64_t *keys, sp_buf *id, sp_err *err)
{
	if (*pos + 8 > h->end)
		SP_RAISE(err, SP_EDATA, "%s: corrupt file (no end marker)", sp_in_name(in));
	SP_FORWARD(sp_in_read_full(in, &r->gid, 8, err));
	if (r->gid == GID_END) {
		uint64_t count = 0;
		if (*pos + 16 != h->end || sp_in_read_full(in, &count, 8, err) < 0 || count != h->n_seen)
			SP_RAISE(err, SP_EDATA, "%s: corrupt file (record count does not match the records)", sp_in_name(in));
		return 0;
	}
	if (*pos + 24 > h->end)
		SP_RAISE(err, SP_EDATA, "%s: corrupt file (a record runs past the end)", sp_in_name(in));
	SP_FORWARD(sp_in_read_full(in, &r->score, 8, err));
	SP_FORWARD(sp_in_read_full(in, &r->n_set, 4, err));
	SP_FORWARD(sp_in_read_full(in, &r->id_len, 4, err));
	if (*pos + 24 + (uint64_t)h->bands * 8 + r->id_len + ((h->flags & 5) ? (uint64_t)r->n_set * 8 : 0) > h->end)
		SP_RAISE(err, SP_EDATA, "%s: corrupt file (a record runs past the end)", sp_in_name(in));
	h->n_seen++;
	SP_FORWARD(sp_in_read_full(in, keys, (size_t)h->bands * 8, err));
	sp_buf_reset(id);
	if (sp_buf_grow(id, r->id_len))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	SP_FORWARD(sp_in_read_full(in, id->p, r->id_len, err));
	id->len = r->id_len;
	id->p[id->len] = 0;
	*pos += 8 + 8 + 4 + 4 + (uint64_t)h->bands * 8 + r->id_len;
	r->set_off = *pos;
	if (h->flags & 5) {
		uint64_t skip = (uint64_t)r->n_set * 8, tmp[512];
		while (skip) {
			size_t k = skip > sizeof tmp ? sizeof tmp : (size_t)skip;
			SP_FORWARD(sp_in_read_full(in, tmp, k, err));
			skip -= k;
		}
		*pos += (uint64_t)r->n_set * 8;
	}
	return 1;
}

/* ------------------------------------------------------------------ buckets */
typedef struct bent { uint64_t key, gid, set_off; uint32_t band, file, n_set, pad; } bent;

static int cmp_bent(const void *x, const void *y)
{
	const bent *a = x, *b = y;
	if (a->band != b->band)
		return a->band < b->band ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (a->gid > b->gid) - (a->gid < b->gid);
}

static unsigned partition_of(uint64_t key, uint32_t band, unsigned n)
{
	return (unsigned)((key + (uint64_t)band * 0x9E3779B97F4A7C15ull) % n);
}

int dd_cmd_buckets(int argc, char **argv)
{
	const char *prog = "spindle dedup buckets", *out_path = NULL, *shard_s = NULL;
	int help_dummy = 0;
	(void)help_dummy;
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "the bucket file to write (atomically)", NULL, 0, 0 },
		{ "shard", 0, SP_OPT_STR, &shard_s, "J/M", "this job takes band-key partition J of M (every job reads every signature file)", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle dedup buckets [--shard J/M] -o FILE SIGFILE...", stage_help, table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_err err = SP_ERR_INIT;
	sp_shard sh = SP_SHARD_ALL;
	if (!out_path || !n_pos || (shard_s && sp_shard_parse(shard_s, &sh, &err) < 0)) {
		sp_free(pos);
		return out_path && n_pos ? cli_fail(prog, &err) : cli_failf(prog, CLI_USAGE, "-o FILE and signature files are required");
	}
	qsort(pos, n_pos, sizeof *pos, cmp_str);
	bent *e = NULL;
	size_t n = 0, cap = 0;
	sighdr h0, h;
	memset(&h0, 0, sizeof h0);
	uint64_t keys[DD_MAX_PERM];
	sp_buf id = SP_BUF_INIT;
	rc = 0;
	for (size_t f = 0; rc == 0 && f < n_pos; f++) {
		sp_in *in = NULL;
		uint64_t p;
		rc = sig_open(&in, pos[f], NULL, &h, &p, &err);
		if (rc == 0 && f == 0)
			h0 = h;
		if (rc == 0 && (h.bands != h0.bands || h.rows != h0.rows || h.ngram != h0.ngram || h.seed != h0.seed || h.flags != h0.flags))
			rc = sp_err_set_(&err, SP_EUSAGE, __FILE__, __LINE__, "%s: made with other MinHash options than %s", pos[f], pos[0]);
		sigrec r;
		while (rc == 0 && (rc = sig_next(in, &h, &p, &r, keys, &id, &err)) > 0) {
			rc = 0;
			if (r.n_set == 0)
				continue; /* no words: never a candidate */
			for (uint32_t b = 0; b < h.bands; b++) {
				if (partition_of(keys[b], b, sh.count) != sh.index)
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 65536;
					bent *q = sp_realloc(e, cap * sizeof *q);
					if (!q) {
						rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory after %zu entries (use more --shard jobs)", n);
						break;
					}
					e = q;
				}
				bent x = { keys[b], r.gid, r.set_off, b, (uint32_t)f, r.n_set, 0 };
				e[n++] = x;
			}
		}
		sp_in_free(in);
	}
	wr w;
	memset(&w, 0, sizeof w);
	uint64_t n_buckets = 0;
	if (rc == 0) {
		if (n)
			qsort(e, n, sizeof *e, cmp_bent);
		rc = wr_open(&w, out_path, &err);
	}
	if (rc == 0) {
		/* header: magic, version, flags of the signatures, the signature file names */
		wr_put(&w, BKT_MAGIC, 8, &err);
		wr_u32(&w, DD_VERSION, &err);
		wr_u32(&w, h0.flags, &err);
		rc = wr_u32(&w, (uint32_t)n_pos, &err);
		for (size_t f = 0; rc == 0 && f < n_pos; f++) {
			uint32_t l = (uint32_t)strlen(pos[f]);
			wr_u32(&w, l, &err);
			rc = wr_put(&w, pos[f], l, &err);
		}
	}
	for (size_t s = 0; rc == 0 && s < n;) {
		size_t t = s + 1;
		while (t < n && e[t].band == e[s].band && e[t].key == e[s].key)
			t++;
		if (t - s >= 2) {
			n_buckets++;
			wr_u32(&w, (uint32_t)(t - s), &err);
			for (size_t k = s; rc == 0 && k < t; k++) {
				wr_u64(&w, e[k].gid, &err);
				wr_u64(&w, e[k].set_off, &err);
				wr_u32(&w, e[k].file, &err);
				rc = wr_u32(&w, e[k].n_set, &err);
			}
		}
		s = t;
	}
	if (rc == 0) {
		wr_u32(&w, 0, &err);
		rc = wr_commit(&w, &err);
	}
	int code = rc < 0 ? cli_fail(prog, &err) : 0;
	wr_free(&w);
	sp_free(e);
	sp_buf_release(&id);
	sp_free(pos);
	return code;
}

/* ------------------------------------------------------------------ pairs */
typedef struct bmem { uint64_t gid, set_off; uint32_t file, n_set; } bmem;

static int read_set(int fd, const bmem *b, uint64_t **buf, size_t *cap, sp_err *err)
{
	if (b->n_set > *cap) {
		uint64_t *p = sp_realloc(*buf, (size_t)b->n_set * 8);
		if (!p)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		*buf = p;
		*cap = b->n_set;
	}
	if (b->n_set && pread(fd, *buf, (size_t)b->n_set * 8, (off_t)b->set_off) != (ssize_t)b->n_set * 8)
		SP_RAISE(err, SP_EIO, "cannot read a shingle set of a signature file");
	return 0;
}

static int write_edges(const char *path, dd_pairs *p, sp_err *err)
{
	wr w;
	dd_pairs_sort_unique(p);
	int rc = wr_open(&w, path, err);
	if (rc == 0) {
		wr_put(&w, EDG_MAGIC, 8, err);
		wr_u32(&w, DD_VERSION, err);
		rc = wr_u64(&w, (uint64_t)p->n, err);
	}
	for (size_t i = 0; rc == 0 && i < p->n; i++)
		rc = wr_put(&w, p->ab + 2 * i, 16, err);
	if (rc == 0)
		rc = wr_commit(&w, err);
	wr_free(&w);
	return rc;
}

int dd_cmd_pairs(int argc, char **argv)
{
	const char *prog = "spindle dedup pairs", *out_path = NULL, *shard_s = NULL;
	dd_mh_opts m;
	dd_mh_opts_init(&m);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "the pair file to write (atomically)", NULL, 0, 0 },
		{ "shard", 0, SP_OPT_STR, &shard_s, "K/P", "this job takes bucket file k when k mod P == K (sorted by name)", NULL, 0, 0 },
		{ "verify", 0, SP_OPT_FLAG, &m.verify, NULL, "keep only pairs with exact shingle-set Jaccard >= T (signatures made with --verify)", NULL, 0, 0 },
		{ "threshold", 0, SP_OPT_DOUBLE, &m.threshold, "T", "the threshold pairs are checked against (default 0.8)", "0.01..1", 0, 0 },
		{ "margin", 0, SP_OPT_DOUBLE, &m.margin, "D", "without --verify: keep pairs whose MinHash estimate is >= T - D (default 0.01)", "0..1", 0, 0 },
		{ "no-estimate", 0, SP_OPT_FLAG, &m.no_estimate, NULL, "without --verify: keep every candidate pair", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle dedup pairs [--shard K/P] [--verify] -o FILE BUCKETFILE...", stage_help, table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_err err = SP_ERR_INIT;
	sp_shard sh = SP_SHARD_ALL;
	if (m.threshold < 0)
		m.threshold = 0.8;
	double check_t;
	int positional, payload = dd_mh_check(&m, &check_t, &positional);
	if (!out_path || !n_pos || (shard_s && sp_shard_parse(shard_s, &sh, &err) < 0)) {
		sp_free(pos);
		return out_path && n_pos ? cli_fail(prog, &err) : cli_failf(prog, CLI_USAGE, "-o FILE and bucket files are required");
	}
	const char **mine = sp_malloc(n_pos * sizeof *mine);
	size_t n_mine = 0;
	if (!mine) {
		sp_free(pos);
		return cli_failf(prog, CLI_IO, "out of memory");
	}
	sp_shard_select(&sh, pos, n_pos, mine, &n_mine);
	dd_pairs out = { NULL, 0, 0 };
	bmem *mem = NULL;
	size_t mcap = 0;
	uint64_t *s1 = NULL, *s2 = NULL;
	size_t c1 = 0, c2 = 0;
	uint64_t verified = 0, rejected = 0;
	rc = 0;
	for (size_t f = 0; rc == 0 && f < n_mine; f++) {
		sp_in *in = NULL;
		uint32_t v, flags = 0, nsig = 0;
		int *fds = NULL;
		uint64_t end = 0, at = DD_STAGED_HEAD + 8;
		uint64_t *sig_end = NULL;
		rc = dd_staged_verify(mine[f], BKT_MAGIC, &end, &err);
		if (rc == 0)
			rc = sp_in_open(&in, mine[f], &err);
		if (rc == 0)
			rc = rd_magic(in, BKT_MAGIC, &v, &err);
		if (rc == 0)
			rc = sp_in_read_full(in, &flags, 4, &err);
		if (rc == 0)
			rc = sp_in_read_full(in, &nsig, 4, &err);
		if (rc == 0 && ((payload == 1) != !!(flags & 1) || (payload == 2) != !!(flags & 4)))
			rc = sp_err_set_(&err, SP_EUSAGE, __FILE__, __LINE__, "%s: made from signatures with other --verify/--no-estimate options", mine[f]);
		if (rc == 0 && (end < at || (uint64_t)nsig * 4 > end - at))
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (signature file count does not fit the file)", mine[f]);
		if (rc == 0 && (!(fds = sp_calloc(nsig ? nsig : 1, sizeof *fds)) || !(sig_end = sp_calloc(nsig ? nsig : 1, 8))))
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		for (uint32_t k = 0; rc == 0 && k < nsig; k++) {
			uint32_t l;
			char name[4096];
			fds[k] = -1;
			rc = sp_in_read_full(in, &l, 4, &err);
			if (rc == 0 && (l >= sizeof name || at + 4 + l > end))
				rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (bad signature file name length)", mine[f]);
			at += 4 + (uint64_t)l;
			if (rc == 0)
				rc = sp_in_read_full(in, name, l, &err);
			if (rc == 0 && payload) {
				name[l] = 0;
				rc = dd_staged_verify(name, SIG_MAGIC, &sig_end[k], &err);
			}
			if (rc == 0 && payload) {
				fds[k] = open(name, O_RDONLY);
				if (fds[k] < 0)
					rc = sp_err_set_(&err, SP_EIO, __FILE__, __LINE__, "cannot open signature file '%s' named by %s", name, mine[f]);
			}
		}
		for (;;) {
			uint32_t cnt = 0;
			if (rc == 0 && at + 4 > end)
				rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (no end marker)", mine[f]);
			if (rc < 0 || (rc = sp_in_read_full(in, &cnt, 4, &err)) < 0)
				break;
			at += 4;
			if (cnt == 0) {
				if (at != end)
					rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (bytes after the end marker)", mine[f]);
				break;
			}
			if (cnt < 2 || (uint64_t)cnt * 24 > end - at) {
				rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (bucket member count %u does not fit the file)", mine[f], cnt);
				break;
			}
			at += (uint64_t)cnt * 24;
			if (cnt > mcap) {
				bmem *q = sp_realloc(mem, cnt * sizeof *q);
				if (!q) {
					rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
					break;
				}
				mem = q;
				mcap = cnt;
			}
			for (uint32_t k = 0; rc == 0 && k < cnt; k++) {
				rc = sp_in_read_full(in, &mem[k].gid, 8, &err);
				rc = rc ? rc : sp_in_read_full(in, &mem[k].set_off, 8, &err);
				rc = rc ? rc : sp_in_read_full(in, &mem[k].file, 4, &err);
				rc = rc ? rc : sp_in_read_full(in, &mem[k].n_set, 4, &err);
				if (rc == 0 && mem[k].file >= nsig)
					rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (bad signature file number)", mine[f]);
				if (rc == 0 && payload && (mem[k].set_off > sig_end[mem[k].file] ||
				                           (uint64_t)mem[k].n_set * 8 > sig_end[mem[k].file] - mem[k].set_off))
					rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (a member's payload lies outside its signature file)", mine[f]);
			}
			if (rc < 0)
				break;
			if (!payload) {
				for (uint32_t k = 1; rc == 0 && k < cnt; k++)
					if (dd_pairs_add(&out, mem[0].gid, mem[k].gid))
						rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				continue;
			}
			/* verify: every pair, skipping pairs the bucket has already connected */
			dd_uf uf;
			if (dd_uf_init(&uf, cnt)) {
				rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			for (uint32_t j = 1; rc == 0 && j < cnt; j++) {
				rc = read_set(fds[mem[j].file], &mem[j], &s2, &c2, &err);
				for (uint32_t i = 0; rc == 0 && i < j; i++) {
					if (dd_uf_find(&uf, i) == dd_uf_find(&uf, j))
						continue;
					rc = read_set(fds[mem[i].file], &mem[i], &s1, &c1, &err);
					if (rc < 0)
						break;
					verified++;
					double sim = positional ? dd_sig_similarity(s1, s2, mem[i].n_set < mem[j].n_set ? mem[i].n_set : mem[j].n_set)
					                        : dd_jaccard(s1, mem[i].n_set, s2, mem[j].n_set);
					if (sim >= check_t) {
						dd_uf_union(&uf, i, j);
						if (dd_pairs_add(&out, mem[i].gid, mem[j].gid))
							rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
					} else
						rejected++;
				}
			}
			dd_uf_release(&uf);
		}
		for (uint32_t k = 0; fds && k < nsig; k++)
			if (fds[k] >= 0)
				close(fds[k]);
		sp_free(fds);
		sp_free(sig_end);
		sp_in_free(in);
	}
	if (rc == 0)
		rc = write_edges(out_path, &out, &err);
	int code = rc < 0 ? cli_fail(prog, &err) : 0;
	dd_pairs_release(&out);
	sp_free(mem);
	sp_free(s1);
	sp_free(s2);
	sp_free(mine);
	sp_free(pos);
	return code;
}

/* ------------------------------------------------------------------ clusters */
static int read_edges(const char *path, dd_pairs *p, sp_err *err)
{
	sp_in *in = NULL;
	uint32_t v;
	uint64_t n = 0, end = 0;
	int rc = dd_staged_verify(path, EDG_MAGIC, &end, err);
	if (rc == 0)
		rc = sp_in_open(&in, path, err);
	if (rc == 0)
		rc = rd_magic(in, EDG_MAGIC, &v, err);
	if (rc == 0)
		rc = sp_in_read_full(in, &n, 8, err);
	if (rc == 0 && (end < DD_STAGED_HEAD + 8 || n != (end - DD_STAGED_HEAD - 8) / 16 || (end - DD_STAGED_HEAD - 8) % 16))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (pair count %llu does not match the file size)", path, (unsigned long long)n);
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		uint64_t ab[2];
		rc = sp_in_read_full(in, ab, 16, err);
		if (rc == 0 && dd_pairs_add(p, ab[0], ab[1]))
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	}
	sp_in_free(in);
	return rc;
}

static size_t node_of(const uint64_t *nodes, size_t n, uint64_t gid)
{
	const uint64_t *p = bsearch(&gid, nodes, n, sizeof *nodes, cmp_u64);
	return p ? (size_t)(p - nodes) : SIZE_MAX;
}

int dd_cmd_clusters(int argc, char **argv)
{
	const char *prog = "spindle dedup clusters", *out_path = NULL, *shard_s = NULL, *keep_s = "first", *clusters = NULL;
	int final = 0;
	sp_optlist sigs = { NULL, 0, 0 };
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "the pair file (or with --final the removal file) to write (atomically)", NULL, 0, 0 },
		{ "shard", 0, SP_OPT_STR, &shard_s, "L/Q", "this job reduces pair file k when k mod Q == L (sorted by name)", NULL, 0, 0 },
		{ "final", 0, SP_OPT_FLAG, &final, NULL, "the last level: decide kept and removed documents (needs --sig)", NULL, 0, 0 },
		{ "sig", 0, SP_OPT_LIST, &sigs, "FILE", "a signature file (repeat for every one): keep scores and ids, with --final", NULL, 0, 0 },
		{ "keep", 0, SP_OPT_STR, &keep_s, "RULE", "first (default), longest or field:NAME, as given to signatures", NULL, 0, 0 },
		{ "clusters", 0, SP_OPT_STR, &clusters, "FILE", "with --final: write every removed document as {\"id\",\"cluster\",\"kept\"}", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle dedup clusters [--shard L/Q | --final --sig F...] -o FILE PAIRFILE...", stage_help, table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	sp_err err = SP_ERR_INIT;
	sp_shard sh = SP_SHARD_ALL;
	int longest;
	const char *field;
	if ((rc = dd_parse_keep(prog, keep_s, &longest, &field)) >= 0) {
		sp_free(pos);
		sp_optlist_release(&sigs);
		return rc;
	}
	if ((rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--clusters", clusters })) >= 0) {
		sp_free(pos);
		sp_optlist_release(&sigs);
		return rc;
	}
	if (!out_path || (shard_s && sp_shard_parse(shard_s, &sh, &err) < 0) || (final && !sigs.n)) {
		sp_free(pos);
		sp_optlist_release(&sigs);
		return out_path && !(final && !sigs.n) ? cli_fail(prog, &err)
		                                       : cli_failf(prog, CLI_USAGE, "-o FILE is required, and --final needs every --sig FILE");
	}
	const char **mine = sp_malloc((n_pos ? n_pos : 1) * sizeof *mine);
	size_t n_mine = 0;
	dd_pairs p = { NULL, 0, 0 }, forest = { NULL, 0, 0 };
	uint64_t *nodes = NULL;
	size_t nn = 0;
	dd_uf uf = { NULL, 0 };
	rc = mine ? 0 : sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc == 0)
		sp_shard_select(&sh, pos, n_pos, mine, &n_mine);
	for (size_t f = 0; rc == 0 && f < n_mine; f++)
		rc = read_edges(mine[f], &p, &err);
	if (rc == 0) {
		nodes = sp_malloc((p.n ? p.n * 2 : 1) * 8);
		if (!nodes)
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	}
	if (rc == 0) {
		if (p.n)
			memcpy(nodes, p.ab, p.n * 16);
		qsort(nodes, p.n * 2, 8, cmp_u64);
		for (size_t i = 0; i < p.n * 2; i++)
			if (nn == 0 || nodes[nn - 1] != nodes[i])
				nodes[nn++] = nodes[i];
		if (nn >= UINT32_MAX || dd_uf_init(&uf, nn))
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory for %zu nodes", nn);
	}
	for (size_t i = 0; rc == 0 && i < p.n; i++)
		dd_uf_union(&uf, (uint32_t)node_of(nodes, nn, p.ab[2 * i]), (uint32_t)node_of(nodes, nn, p.ab[2 * i + 1]));
	if (rc == 0 && !final) {
		/* a reduce level: the forest (root, member) is a smaller edge list with the same components */
		for (size_t i = 0; rc == 0 && i < nn; i++) {
			uint32_t r = dd_uf_find(&uf, (uint32_t)i);
			if (r != i && dd_pairs_add(&forest, nodes[r], nodes[i]))
				rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		}
		if (rc == 0)
			rc = write_edges(out_path, &forest, &err);
	} else if (rc == 0) {
		/* final: scores and ids of the nodes, then the keep rule (highest score, then smallest gid) */
		double *score = sp_calloc(nn ? nn : 1, sizeof *score);
		uint64_t *id_off = sp_calloc(nn + 1, 8);
		uint32_t *kept = sp_malloc((nn ? nn : 1) * sizeof *kept);
		sp_buf ids = SP_BUF_INIT, id = SP_BUF_INIT;
		uint64_t *idpos = sp_calloc(nn ? nn : 1, 8), *idlen = sp_calloc(nn ? nn : 1, 8);
		uint64_t keys[DD_MAX_PERM];
		if (!score || !id_off || !kept || !idpos || !idlen)
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		const char **sorted = sp_malloc(sigs.n * sizeof *sorted);
		if (!sorted)
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		else {
			memcpy(sorted, sigs.items, sigs.n * sizeof *sorted);
			qsort(sorted, sigs.n, sizeof *sorted, cmp_str);
		}
		for (size_t f = 0; rc == 0 && f < sigs.n; f++) {
			sp_in *in = NULL;
			sighdr h;
			uint64_t at;
			sigrec r;
			rc = sig_open(&in, sorted[f], NULL, &h, &at, &err);
			while (rc == 0 && (rc = sig_next(in, &h, &at, &r, keys, &id, &err)) > 0) {
				rc = 0;
				size_t k = node_of(nodes, nn, r.gid);
				if (k == SIZE_MAX)
					continue;
				score[k] = r.score;
				idpos[k] = ids.len;
				idlen[k] = r.id_len;
				if (sp_buf_append(&ids, id.p, r.id_len))
					rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			}
			sp_in_free(in);
		}
		(void)field;
		if (rc == 0)
			dd_keep(nn, &uf, (longest || field) ? score : NULL, kept);
		/* removal file: (removed gid, kept gid) in gid order */
		wr w;
		memset(&w, 0, sizeof w);
		uint64_t n_removed = 0;
		for (size_t i = 0; rc == 0 && i < nn; i++)
			n_removed += kept[i] != i;
		if (rc == 0)
			rc = wr_open(&w, out_path, &err);
		if (rc == 0) {
			wr_put(&w, RMV_MAGIC, 8, &err);
			wr_u32(&w, DD_VERSION, &err);
			rc = wr_u64(&w, n_removed, &err);
		}
		for (size_t i = 0; rc == 0 && i < nn; i++)
			if (kept[i] != i) {
				wr_u64(&w, nodes[i], &err);
				rc = wr_u64(&w, nodes[kept[i]], &err);
			}
		if (rc == 0)
			rc = wr_commit(&w, &err);
		wr_free(&w);
		if (rc == 0 && clusters) {
			/* the same JSONL as `dedup minhash --clusters`: ids re-laid out in node order */
			sp_buf ids2 = SP_BUF_INIT;
			for (size_t i = 0; rc == 0 && i < nn; i++) {
				id_off[i] = ids2.len;
				if (sp_buf_append(&ids2, ids.p ? ids.p + idpos[i] : "", idlen[i]))
					rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			}
			id_off[nn] = ids2.len;
			if (rc == 0)
				rc = dd_write_clusters(clusters, nn, &uf, kept, ids2.p ? ids2.p : "", id_off, &err);
			sp_buf_release(&ids2);
		}
		sp_free(sorted);
		sp_free(score);
		sp_free(id_off);
		sp_free(kept);
		sp_free(idpos);
		sp_free(idlen);
		sp_buf_release(&ids);
		sp_buf_release(&id);
	}
	int code = rc < 0 ? cli_fail(prog, &err) : 0;
	dd_pairs_release(&p);
	dd_pairs_release(&forest);
	dd_uf_release(&uf);
	sp_free(nodes);
	sp_free(mine);
	sp_free(pos);
	sp_optlist_release(&sigs);
	return code;
}

/* ------------------------------------------------------------------ filter */
int dd_cmd_filter(int argc, char **argv)
{
	const char *prog = "spindle dedup filter", *out_path = "-", *removed = NULL;
	cli_common com;
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_path, "FILE", "write kept records here (atomically; .zst compresses) instead of stdout", NULL, 0, 0 },
		{ "removed", 0, SP_OPT_STR, &removed, "FILE", "the removal file of `clusters --final`", NULL, 0, 0 },
		CLI_COMMON_OPTS(&com),
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle dedup filter --removed FILE [--shard I/N] [-o FILE] [INPUT...]", stage_help, table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if ((rc = CLI_CHECK_OUTPUTS(prog, { "-o", out_path }, { "--stats", com.stats_file })) >= 0) {
		sp_free(pos);
		return rc;
	}
	if (!removed) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--removed FILE is required");
	}
	sp_err err = SP_ERR_INIT;
	sp_stats st;
	sp_stats_init(&st, "dedup filter");
	uint64_t *gone = NULL, n_gone = 0;
	sp_in *in = NULL;
	uint32_t v;
	uint64_t end = 0;
	rc = dd_staged_verify(removed, RMV_MAGIC, &end, &err);
	if (rc == 0)
		rc = sp_in_open(&in, removed, &err);
	if (rc == 0)
		rc = rd_magic(in, RMV_MAGIC, &v, &err);
	if (rc == 0)
		rc = sp_in_read_full(in, &n_gone, 8, &err);
	if (rc == 0 && (end < DD_STAGED_HEAD + 8 || n_gone != (end - DD_STAGED_HEAD - 8) / 16 || (end - DD_STAGED_HEAD - 8) % 16))
		rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (entry count %llu does not match the file size)", removed, (unsigned long long)n_gone);
	/* Only the removals in this job's share of the inputs (file index mod N, as --shard picks
	 * files): the memory grows with the share, not with the whole corpus. */
	uint64_t n_all = rc == 0 ? n_gone : 0;
	size_t cap = 0;
	n_gone = 0;
	for (uint64_t i = 0; rc == 0 && i < n_all; i++) {
		uint64_t pair[2];
		rc = sp_in_read_full(in, pair, 16, &err);
		if (rc || (pair[0] >> GID_FILE_SHIFT) % com.shard.count != com.shard.index)
			continue;
		if (n_gone == cap) {
			uint64_t *q = sp_realloc(gone, (cap = cap ? cap * 2 : 1024) * 8);
			if (!q) {
				rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			gone = q;
		}
		gone[n_gone++] = pair[0];
	}
	sp_in_free(in);
	sp_docs_opts o;
	cli_docs_opts(&com, pos, n_pos, &st, &o);
	sp_docs *docs = NULL;
	sp_out *out = NULL;
	gidmap g;
	memset(&g, 0, sizeof g);
	if (rc == 0 && gid_init(&g, pos, n_pos))
		rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc == 0)
		rc = sp_docs_open(&docs, &o, &err);
	if (rc == 0)
		rc = sp_out_open(&out, out_path, 0, &err);
	sp_doc doc;
	uint64_t dropped = 0;
	while (rc == 0 && (rc = sp_docs_next(docs, &doc, &err)) > 0) {
		rc = 0;
		uint64_t gid = gid_next(&g, doc.rec->source);
		if (n_gone && bsearch(&gid, gone, (size_t)n_gone, 8, cmp_u64)) {
			dropped++;
			continue;
		}
		rc = sp_jsonl_write_raw(out, doc.rec->line.p, doc.rec->line.len, &err);
		st.records_out++;
		st.bytes_out += doc.rec->line.len + 1;
	}
	if (rc == 0)
		rc = sp_out_commit(out, &err);
	sp_stats_add(&st, "removed", (int64_t)dropped);
	int code = rc < 0 ? cli_fail(prog, &err) : cli_write_stats(prog, &com, &st);
	sp_out_free(out);
	sp_docs_free(docs);
	sp_free(g.sorted);
	sp_free(gone);
	sp_stats_release(&st);
	sp_free(pos);
	return code;
}

