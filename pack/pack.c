/* pack.c - the packer: documents (pack_in.c) -> optional bounded shuffle buffer -> BOS/doc/EOS
 * concatenated and cut into seq_len-token sequences with their document pieces -> shard files
 * (schemas/shards.md) -> manifest.json, written last.
 *
 * Crash safety and resume: each shard is written to a temporary name and renamed when complete;
 * after each one the journal DIR/pack.journal (a manifest of the shards done so far, with the options
 * fingerprint) is replaced atomically. A rerun with the same options re-reads the input and
 * regenerates the same sequences (the whole pipeline, shuffle included, is deterministic) but writes
 * nothing until it passes the last journaled shard, whose files it first checks against their
 * checksums. So a resumed dataset is byte-identical to an uninterrupted one. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include "pack.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/mem.h"
#include "spindle/pmap.h"

#define JOURNAL_NAME "pack.journal"
#define PACK_STOPPED 1 /* internal: the test hook stopped the run */

void pack_opts_init(pack_opts *o)
{
	memset(o, 0, sizeof *o);
	o->seq_len = 4096;
	o->shard_seqs = 1024;
	o->bos = o->eos = -1;
	o->shuffle_buffer = 1u << 24;
	o->bos_id = o->eos_id = o->pad_id = PACK_NO_ID;
	o->max_doc_tokens = 1ull << 28;
}

typedef struct piece { uint64_t doc_index; uint32_t start, len, doc_offset; size_t prov_off, prov_len; } piece;
typedef struct sdoc { uint32_t *ids; size_t n; char *prov; size_t prov_len; } sdoc;

typedef struct packer {
	const pack_opts *o;
	sp_err *err;
	sp_stats *st;
	uint32_t seq_len, token_bytes, vocab, bos, eos, pad_fill;
	int add_bos, add_eos;
	/* the sequence being filled */
	uint32_t *seq; uint32_t fill;
	piece *pieces; size_t n_pieces, cap_pieces;
	sp_buf prov;
	sp_rec_doc *rdocs; size_t cap_rdocs;
	uint64_t n_seqs, next_doc, dropped_tokens;
	/* shuffle buffer */
	sdoc *buf; size_t n_buf, cap_buf; uint64_t buf_tokens, rng_ctr, rng_key;
	/* writer */
	sp_manifest man;            /* shards done, totals at the end */
	sp_manifest jr;             /* the interrupted run's journal (shards kept) */
	uint64_t skip_seqs;         /* sequences in kept shards: regenerated, not written */
	int shard_open, shard_dry;
	uint64_t shard_no;
	sp_out *out;
	sp_xxh64_state *fh;
	uint64_t file_off;
	uint64_t sh_seqs, sh_tokens, sh_pad, sh_docs;
	sp_buf ix, path;
	uint64_t shards_written;
	int stopped;
	/* producer state */
	struct batch *cur;          /* the batch emit() appends to */
	pack_in *in;
	pack_result *res;
	int phase;                  /* 0 reading input, 3 packing the buckets, 1 draining the shuffle buffer / tail, 2 done */
	/* bucket shuffle (--shuffle-buckets): pass 1 scatters documents into temporary bucket files, pass 2
	 * shuffles one bucket at a time in memory */
	FILE **bk; unsigned n_bk, bk_next;
	sdoc *bdocs; size_t n_bdocs, bdoc_next;
	uint64_t bk_ordinal;
	sp_buf sbuf;
} packer;

/* ---------------------------------------------------------------- shard writer */

static int shard_name(packer *p, uint64_t k, sp_buf *out)
{
	sp_buf_reset(out);
	if (sp_buf_appendf(out, "shard-%05" PRIu64 ".bin", k) < 0)
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	return 0;
}

static int full_path(packer *p, const char *name, sp_buf *out)
{
	sp_buf_reset(out);
	if (sp_buf_appendf(out, "%s/%s", p->o->out_dir, name) < 0)
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	return 0;
}

/* In a dry shard (one an interrupted run already wrote) the bytes are only hashed, not written:
 * the rerun proves it regenerates exactly the shard on disk. */
static int out_write(packer *p, const void *d, size_t n)
{
	if (p->out)
		SP_FORWARD(sp_out_write(p->out, d, n, p->err));
	sp_xxh64_update(p->fh, d, n);
	p->file_off += n;
	return 0;
}

static int shard_begin(packer *p)
{
	p->shard_open = 1;
	p->sh_seqs = p->sh_tokens = p->sh_pad = p->sh_docs = 0;
	p->shard_dry = p->n_seqs < p->skip_seqs;
	if (!p->shard_dry) {
		sp_buf name = SP_BUF_INIT;
		int rc = shard_name(p, p->shard_no, &name);
		rc = rc ? rc : full_path(p, name.p, &p->path);
		sp_buf_release(&name);
		SP_FORWARD(rc);
		SP_FORWARD(sp_out_open(&p->out, p->path.p, SP_OUT_NO_ZSTD | (p->o->no_sync ? SP_OUT_NO_SYNC : 0), p->err));
	}
	p->fh = sp_xxh64_new(0);
	if (!p->fh)
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	p->file_off = 0;
	sp_buf_reset(&p->ix);
	sp_shard_header h = { SP_SHARD_VERSION, p->seq_len, p->token_bytes, p->o->zstd_level ? SP_SHARD_FLAG_ZSTD : 0,
	                      p->man.tokenizer_id };
	unsigned char hb[SP_SHARD_HEADER_LEN];
	sp_shard_header_encode(&h, hb);
	return out_write(p, hb, sizeof hb);
}

static int write_journal(packer *p)
{
	sp_buf j = SP_BUF_INIT, path = SP_BUF_INIT;
	int rc = sp_manifest_json(&p->man, &j);
	rc = rc ? rc : full_path(p, JOURNAL_NAME, &path);
	if (rc) {
		sp_buf_release(&j);
		sp_buf_release(&path);
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	}
	rc = sp_write_file_atomic(path.p, j.p, j.len, p->err);
	sp_buf_release(&j);
	sp_buf_release(&path);
	return rc;
}

static void man_add_totals(sp_manifest *m, const sp_manifest_shard *s)
{
	m->n_sequences += s->n_sequences;
	m->n_tokens += s->n_tokens;
	m->n_padding += s->n_padding;
	m->n_documents += s->n_documents;
}

static int shard_end(packer *p)
{
	p->shard_open = 0;
	sp_manifest_shard s;
	memset(&s, 0, sizeof s);
	sp_buf name = SP_BUF_INIT;
	SP_FORWARD(shard_name(p, p->shard_no, &name));
	s.file = name.p;
	s.n_sequences = p->sh_seqs;
	s.n_tokens = p->sh_tokens;
	s.n_padding = p->sh_pad;
	s.n_documents = p->sh_docs;
	s.zstd = p->o->zstd_level != 0;
	unsigned char fb[SP_SHARD_FOOTER_LEN];
	sp_shard_footer f = { p->sh_seqs, p->file_off, sp_xxh64(p->ix.p, p->ix.len, 0) };
	sp_shard_footer_encode(&f, fb);
	int rc = p->ix.len ? out_write(p, p->ix.p, p->ix.len) : 0;
	rc = rc ? rc : out_write(p, fb, sizeof fb);
	rc = rc ? rc : p->out ? sp_out_commit(p->out, p->err) : 0;
	if (rc)
		goto out;
	s.bytes = p->file_off;
	s.xxh64 = sp_xxh64_digest(p->fh);
	sp_out_free(p->out);
	p->out = NULL;
	sp_xxh64_free(p->fh);
	p->fh = NULL;
	if (p->shard_dry) {
		const sp_manifest_shard *j = p->shard_no < p->jr.n_shards ? &p->jr.shards[p->shard_no] : NULL;
		if (!j || strcmp(j->file, s.file) || j->n_sequences != s.n_sequences || j->n_tokens != s.n_tokens ||
		    j->n_padding != s.n_padding || j->n_documents != s.n_documents || j->bytes != s.bytes || j->xxh64 != s.xxh64) {
			sp_err_set_(p->err, SP_EDATA, __FILE__, __LINE__,
			            "the input differs from the interrupted run's: %s would not be the same; rerun with --force to start over", s.file);
			rc = sp_err_locate(p->err, p->o->out_dir, 0);
			goto out;
		}
	}
	if (sp_manifest_add_shard(&p->man, &s) < 0) {
		rc = sp_err_set_(p->err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto out;
	}
	man_add_totals(&p->man, &s);
	if (!p->shard_dry) {
		if ((rc = write_journal(p)))
			goto out;
		p->shards_written++;
		if (p->o->test_stop_after_shards && p->shards_written >= p->o->test_stop_after_shards)
			rc = PACK_STOPPED;
	}
	p->shard_no++;
	if (p->st)
		sp_stats_add(p->st, "shards", 1);
out:
	sp_buf_release(&name);
	return rc;
}

/* Writes the sequence in p->seq (n_valid real tokens) with its pieces. */
/* A batch of encoded sequences on its way to the shards: the main thread packs and encodes them
 * (produce), a worker compresses and checksums them (work), the main thread writes them in order
 * (consume). With --threads 1 all three run inline. */
typedef struct rec_meta {
	size_t raw_off, raw_len, stored_off, stored_len;
	uint32_t n_valid, docs_started;
	uint64_t xxh64;
} rec_meta;

typedef struct batch {
	sp_buf raw;
	rec_meta *m; size_t n, cap;
	ZSTD_CCtx *cctx;
} batch;

/* Encodes the sequence in p->seq (n_valid real tokens) with its pieces into the current batch. */
static int emit(packer *p, uint32_t n_valid)
{
	batch *b = p->cur;
	if (b->n == b->cap) {
		size_t c = b->cap ? b->cap * 2 : 64;
		rec_meta *m = sp_realloc(b->m, c * sizeof *m);
		if (!m)
			SP_RAISE(p->err, SP_ENOMEM, "out of memory");
		b->m = m;
		b->cap = c;
	}
	if (p->cap_rdocs < p->n_pieces) {
		sp_rec_doc *r = sp_realloc(p->rdocs, p->n_pieces * sizeof *r);
		if (!r)
			SP_RAISE(p->err, SP_ENOMEM, "out of memory");
		p->rdocs = r;
		p->cap_rdocs = p->n_pieces;
	}
	uint32_t docs = 0;
	for (size_t i = 0; i < p->n_pieces; i++) {
		const piece *pc = &p->pieces[i];
		sp_rec_doc r = { pc->doc_index, pc->start, pc->len, pc->doc_offset, p->prov.p + pc->prov_off, pc->prov_len };
		p->rdocs[i] = r;
		docs += pc->doc_offset == 0;
	}
	rec_meta *m = &b->m[b->n];
	memset(m, 0, sizeof *m);
	m->raw_off = b->raw.len;
	if (sp_shard_rec_encode(&b->raw, p->seq, p->seq_len, p->token_bytes, n_valid, p->rdocs, p->n_pieces) < 0)
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	m->raw_len = b->raw.len - m->raw_off;
	m->n_valid = n_valid;
	m->docs_started = docs;
	b->n++;
	p->fill = 0;
	p->n_pieces = 0;
	sp_buf_reset(&p->prov);
	return 0;
}

static void *batch_new(void *ctx)
{
	packer *p = ctx;
	batch *b = sp_calloc(1, sizeof *b);
	if (b && p->o->zstd_level && !(b->cctx = ZSTD_createCCtx())) {
		sp_free(b);
		return NULL;
	}
	return b;
}

static void batch_free(void *ctx, void *v)
{
	(void)ctx;
	batch *b = v;
	if (!b)
		return;
	sp_buf_release(&b->raw);
	sp_free(b->m);
	ZSTD_freeCCtx(b->cctx);
	sp_free(b);
}

/* Compresses (with --zstd) and checksums each record of a batch. Runs in a worker thread. */
static int batch_work(void *ctx, int worker, void *v, sp_buf *out, sp_err *err)
{
	(void)worker;
	packer *p = ctx;
	batch *b = v;
	for (size_t i = 0; i < b->n; i++) {
		rec_meta *m = &b->m[i];
		const char *raw = b->raw.p + m->raw_off;
		if (!p->o->zstd_level) {
			m->stored_len = m->raw_len;
			m->xxh64 = sp_xxh64(raw, m->raw_len, 0);
			continue;
		}
		size_t bound = ZSTD_compressBound(m->raw_len);
		if (sp_buf_grow(out, bound) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		size_t r = ZSTD_compressCCtx(b->cctx, out->p + out->len, bound, raw, m->raw_len, p->o->zstd_level);
		if (ZSTD_isError(r))
			SP_RAISE(err, SP_EZSTD, "zstd: %s", ZSTD_getErrorName(r));
		m->stored_off = out->len;
		m->stored_len = r;
		m->xxh64 = sp_xxh64(out->p + out->len, r, 0);
		out->len += r;
	}
	return 0;
}

/* Writes a batch's records into the shards, in order, opening and closing shard files. */
static int batch_consume(void *ctx, void *v, const sp_buf *out, sp_err *err)
{
	packer *p = ctx;
	batch *b = v;
	(void)err;
	for (size_t i = 0; i < b->n; i++) {
		const rec_meta *m = &b->m[i];
		if (!p->shard_open)
			SP_FORWARD(shard_begin(p));
		p->sh_seqs++;
		p->sh_tokens += m->n_valid;
		p->sh_pad += p->seq_len - m->n_valid;
		p->sh_docs += m->docs_started;
		p->n_seqs++;
		if (p->st)
			sp_stats_add(p->st, "sequences", 1);
		const char *stored = p->o->zstd_level ? out->p + m->stored_off : b->raw.p + m->raw_off;
		sp_shard_ix ix = { p->file_off, (uint32_t)m->stored_len, (uint32_t)m->raw_len, m->xxh64 };
		unsigned char ib[SP_SHARD_INDEX_ENTRY];
		sp_shard_ix_encode(&ix, ib);
		if (sp_buf_append(&p->ix, ib, sizeof ib) < 0)
			SP_RAISE(p->err, SP_ENOMEM, "out of memory");
		SP_FORWARD(out_write(p, stored, m->stored_len));
		if (p->sh_seqs == p->o->shard_seqs) {
			int rc = shard_end(p);
			if (rc == PACK_STOPPED) {
				p->stopped = 1;
				return SP_EINTERNAL; /* stops the map; pack_run turns it back into a stop */
			}
			SP_FORWARD(rc);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- packing */

static int add_tokens(packer *p, uint64_t doc, const char *prov, size_t prov_len, const uint32_t *t, size_t n,
                      uint32_t *doc_off)
{
	while (n) {
		if (p->n_pieces == 0 || p->pieces[p->n_pieces - 1].doc_index != doc) {
			if (p->n_pieces == p->cap_pieces) {
				size_t c = p->cap_pieces ? p->cap_pieces * 2 : 16;
				piece *np = sp_realloc(p->pieces, c * sizeof *np);
				if (!np)
					SP_RAISE(p->err, SP_ENOMEM, "out of memory");
				p->pieces = np;
				p->cap_pieces = c;
			}
			piece pc = { doc, p->fill, 0, *doc_off, p->prov.len, prov_len };
			p->pieces[p->n_pieces++] = pc;
			if (sp_buf_append(&p->prov, prov, prov_len) < 0)
				SP_RAISE(p->err, SP_ENOMEM, "out of memory");
		}
		size_t take = p->seq_len - p->fill;
		if (take > n)
			take = n;
		memcpy(p->seq + p->fill, t, take * sizeof *t);
		p->pieces[p->n_pieces - 1].len += (uint32_t)take;
		p->fill += (uint32_t)take;
		*doc_off += (uint32_t)take;
		t += take;
		n -= take;
		if (p->fill == p->seq_len) {
			int rc = emit(p, p->seq_len);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int feed(packer *p, const uint32_t *ids, size_t n, const char *prov, size_t prov_len)
{
	uint64_t doc = p->next_doc++;
	uint32_t off = 0;
	uint64_t wrapped = n + (size_t)p->add_bos + (size_t)p->add_eos;
	p->man.hist[sp_hist_bucket(wrapped)]++;
	int rc = 0;
	if (p->add_bos)
		rc = add_tokens(p, doc, prov, prov_len, &p->bos, 1, &off);
	if (!rc)
		rc = add_tokens(p, doc, prov, prov_len, ids, n, &off);
	if (!rc && p->add_eos)
		rc = add_tokens(p, doc, prov, prov_len, &p->eos, 1, &off);
	return rc;
}

static uint64_t rng_below(packer *p, uint64_t n)
{
	return sp_mix64(p->rng_key + p->rng_ctr++) % n;
}

static int shuffle_pop(packer *p)
{
	size_t k = (size_t)rng_below(p, p->n_buf);
	sdoc d = p->buf[k];
	p->buf[k] = p->buf[--p->n_buf];
	p->buf_tokens -= d.n;
	int rc = feed(p, d.ids, d.n, d.prov, d.prov_len);
	sp_free(d.ids);
	sp_free(d.prov);
	return rc;
}

static int shuffle_push(packer *p, const uint32_t *ids, size_t n, const char *prov, size_t prov_len)
{
	if (p->n_buf == p->cap_buf) {
		size_t c = p->cap_buf ? p->cap_buf * 2 : 1024;
		sdoc *nb = sp_realloc(p->buf, c * sizeof *nb);
		if (!nb)
			SP_RAISE(p->err, SP_ENOMEM, "out of memory");
		p->buf = nb;
		p->cap_buf = c;
	}
	sdoc d = { sp_malloc(n ? n * sizeof *ids : 1), n, sp_malloc(prov_len + 1), prov_len };
	if (!d.ids || !d.prov) {
		sp_free(d.ids);
		sp_free(d.prov);
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	}
	if (n)
		memcpy(d.ids, ids, n * sizeof *ids);
	memcpy(d.prov, prov, prov_len);
	p->buf[p->n_buf++] = d;
	p->buf_tokens += n;
	while (p->n_buf > 1 && p->buf_tokens > p->o->shuffle_buffer) {
		int rc = shuffle_pop(p);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- bucket shuffle */

static int bucket_path(packer *p, unsigned k, sp_buf *out)
{
	sp_buf_reset(out);
	if (sp_buf_appendf(out, "%s/.bucket-%05u.tmp.bin", p->o->out_dir, k) < 0)
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	return 0;
}

static int bucket_open_all(packer *p)
{
	p->bk = sp_calloc(p->n_bk, sizeof *p->bk);
	if (!p->bk)
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	sp_buf path = SP_BUF_INIT;
	for (unsigned k = 0; k < p->n_bk; k++) {
		int rc = bucket_path(p, k, &path);
		if (rc == 0 && !(p->bk[k] = fopen(path.p, "w+b"))) {
			sp_err_set_(p->err, SP_EIO, __FILE__, __LINE__, "cannot create shuffle bucket");
			rc = sp_err_locate(p->err, path.p, 0);
		}
		/* used only through the open FILE: nameless from now on, so no kill or signal leaves it */
		if (rc == 0)
			unlink(path.p);
		if (rc) {
			sp_buf_release(&path);
			return rc;
		}
	}
	sp_buf_release(&path);
	return 0;
}

/* Pass 1: appends a document to the bucket its seeded hash picks. */
static int bucket_put(packer *p, const uint32_t *ids, size_t n, const char *prov, size_t prov_len)
{
	unsigned k = (unsigned)(sp_mix64(p->rng_key ^ sp_mix64(p->bk_ordinal++)) % p->n_bk);
	uint32_t h[2] = { (uint32_t)n, (uint32_t)prov_len };
	FILE *f = p->bk[k];
	if (fwrite(h, sizeof h, 1, f) != 1 || fwrite(prov, 1, prov_len, f) != prov_len || fwrite(ids, 4, n, f) != n)
		SP_RAISE(p->err, SP_EIO, "cannot write a shuffle bucket in %s", p->o->out_dir);
	return 0;
}

static void bdocs_clear(packer *p)
{
	for (size_t i = 0; i < p->n_bdocs; i++) {
		sp_free(p->bdocs[i].ids);
		sp_free(p->bdocs[i].prov);
	}
	sp_free(p->bdocs);
	p->bdocs = NULL;
	p->n_bdocs = p->bdoc_next = 0;
}

/* Pass 2: loads bucket k into memory (then deletes its file) and shuffles it. */
static int bucket_load(packer *p, unsigned k)
{
	bdocs_clear(p);
	FILE *f = p->bk[k];
	p->bk[k] = NULL;
	size_t cap = 0;
	int rc = 0;
	if (fflush(f) || fseek(f, 0, SEEK_SET)) {
		rc = sp_err_set_(p->err, SP_EIO, __FILE__, __LINE__, "cannot read back a shuffle bucket");
		goto out;
	}
	uint32_t h[2];
	while (fread(h, sizeof h, 1, f) == 1) {
		if (p->n_bdocs == cap) {
			size_t c = cap ? cap * 2 : 256;
			sdoc *nd = sp_realloc(p->bdocs, c * sizeof *nd);
			if (!nd) {
				rc = sp_err_set_(p->err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				goto out;
			}
			p->bdocs = nd;
			cap = c;
		}
		sdoc d = { sp_malloc(h[0] ? (size_t)h[0] * 4 : 1), h[0], sp_malloc((size_t)h[1] + 1), h[1] };
		if (!d.ids || !d.prov) {
			sp_free(d.ids);
			sp_free(d.prov);
			rc = sp_err_set_(p->err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			goto out;
		}
		p->bdocs[p->n_bdocs++] = d;
		if (fread(d.prov, 1, h[1], f) != h[1] || fread(d.ids, 4, h[0], f) != h[0]) {
			rc = sp_err_set_(p->err, SP_EIO, __FILE__, __LINE__, "shuffle bucket %u is truncated", k);
			goto out;
		}
	}
	if (ferror(f))
		rc = sp_err_set_(p->err, SP_EIO, __FILE__, __LINE__, "cannot read shuffle bucket %u", k);
	/* Fisher-Yates with the run's seeded generator */
	for (size_t i = p->n_bdocs; rc == 0 && i > 1; i--) {
		size_t j = (size_t)rng_below(p, i);
		sdoc t = p->bdocs[i - 1];
		p->bdocs[i - 1] = p->bdocs[j];
		p->bdocs[j] = t;
	}
out:
	fclose(f);
	sp_buf path = SP_BUF_INIT;
	if (bucket_path(p, k, &path) == 0)
		unlink(path.p);
	sp_buf_release(&path);
	return rc;
}

static void bucket_release(packer *p)
{
	sp_buf path = SP_BUF_INIT;
	for (unsigned k = 0; p->bk && k < p->n_bk; k++) {
		if (!p->bk[k])
			continue;
		fclose(p->bk[k]);
		if (bucket_path(p, k, &path) == 0)
			unlink(path.p);
	}
	sp_buf_release(&path);
	sp_free(p->bk);
	p->bk = NULL;
	bdocs_clear(p);
}

/* Handles one input document: skip/fail bad ones, then shuffle or pack it. */
static int take_doc(packer *p, const pack_doc *d)
{
	const pack_opts *o = p->o;
	pack_result *res = p->res;
	sp_stats *st = p->st;
	res->docs_in++;
	if (st) {
		st->records_in++;
		st->bytes_in = pack_in_bytes(p->in);
	}
	if (o->progress && (res->docs_in & 1023) == 0)
		o->progress(o->progress_ctx, res->docs_in, pack_in_bytes(p->in));
	const char *why = NULL;
	char what[160];
	if (d->n == 0) {
		why = "empty_doc";
		snprintf(what, sizeof what, "empty document (no tokens)");
	} else {
		for (size_t i = 0; i < d->n; i++)
			if (d->ids[i] >= p->vocab) {
				why = "bad_id";
				snprintf(what, sizeof what, "token id %u at position %zu is outside the vocabulary (%u)",
				         d->ids[i], i, p->vocab);
				break;
			}
	}
	if (why) {
		/* Empty documents are always skipped (nothing to train on); bad ids fail unless skipping. */
		if (!strcmp(why, "bad_id") && !o->on_error_skip) {
			sp_err_set_(p->err, SP_EDATA, __FILE__, __LINE__, "%s", what);
			return sp_err_locate(p->err, d->input, d->record);
		}
		res->docs_skipped++;
		if (st)
			sp_stats_skip(st, why, 1);
		return 0;
	}
	res->tokens_in += d->n;
	if (st)
		st->records_out++;
	sp_buf_reset(&p->sbuf);
	if (d->id_len ? sp_buf_append(&p->sbuf, d->id, d->id_len) : sp_buf_appendf(&p->sbuf, "%s:%" PRIu64, d->input, d->record))
		SP_RAISE(p->err, SP_ENOMEM, "out of memory");
	if (p->n_bk)
		return bucket_put(p, d->ids, d->n, p->sbuf.p, p->sbuf.len);
	return o->shuffle ? shuffle_push(p, d->ids, d->n, p->sbuf.p, p->sbuf.len) : feed(p, d->ids, d->n, p->sbuf.p, p->sbuf.len);
}

#define BATCH_SEQS 64

/* Fills a batch with the next BATCH_SEQS or more sequences (a long document may overshoot).
 * Returns 1 with a batch, 0 at the end, or an error. Runs in the calling thread. */
static int batch_produce(void *ctx, void *v, sp_err *err)
{
	packer *p = ctx;
	batch *b = v;
	(void)err;
	sp_buf_reset(&b->raw);
	b->n = 0;
	p->cur = b;
	while (b->n < BATCH_SEQS) {
		if (p->phase == 0) {
			pack_doc d;
			int rc = pack_in_next(p->in, &d, p->err);
			if (rc < 0)
				return rc;
			if (rc == 1) {
				SP_FORWARD(take_doc(p, &d));
				continue;
			}
			p->phase = p->n_bk ? 3 : 1;
		}
		if (p->phase == 3) {
			if (p->bdoc_next < p->n_bdocs) {
				const sdoc *d = &p->bdocs[p->bdoc_next++];
				SP_FORWARD(feed(p, d->ids, d->n, d->prov, d->prov_len));
				continue;
			}
			if (p->bk_next < p->n_bk) {
				SP_FORWARD(bucket_load(p, p->bk_next++));
				continue;
			}
			bdocs_clear(p);
			p->phase = 1;
		}
		if (p->phase == 1) {
			if (p->n_buf) {
				SP_FORWARD(shuffle_pop(p));
				continue;
			}
			if (p->fill) {
				if (p->o->tail_drop) {
					p->dropped_tokens = p->fill;
					p->fill = 0;
					p->n_pieces = 0;
				} else {
					uint32_t n_valid = p->fill;
					for (uint32_t i = p->fill; i < p->seq_len; i++)
						p->seq[i] = p->pad_fill;
					SP_FORWARD(emit(p, n_valid));
				}
			}
			p->phase = 2;
		}
		break;
	}
	return b->n > 0;
}

/* ---------------------------------------------------------------- setup, resume */

static int remove_matching(const char *dir, int (*match)(const char *), sp_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	sp_buf path = SP_BUF_INIT;
	int rc = 0;
	while ((e = readdir(d))) {
		if (!match(e->d_name))
			continue;
		sp_buf_reset(&path);
		if (sp_buf_appendf(&path, "%s/%s", dir, e->d_name) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			break;
		}
		if (unlink(path.p) < 0 && errno != ENOENT) {
			sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot remove");
			rc = sp_err_locate(err, path.p, 0);
			break;
		}
	}
	closedir(d);
	sp_buf_release(&path);
	return rc;
}

static int is_temp(const char *n) { return n[0] == '.' && strstr(n, ".tmp.") != NULL; }
static int is_output(const char *n)
{
	return !strcmp(n, SP_MANIFEST_NAME) || !strcmp(n, JOURNAL_NAME) ||
	       (!strncmp(n, "shard-", 6) && strstr(n, ".bin")) || is_temp(n);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Loads the journal and keeps the prefix of its shards whose files are intact. */
static int load_journal(packer *p, const char *fingerprint, pack_result *res)
{
	sp_buf path = SP_BUF_INIT, text = SP_BUF_INIT;
	SP_FORWARD(full_path(p, JOURNAL_NAME, &path));
	int rc = sp_read_file(path.p, &text, p->err);
	if (rc == 0)
		rc = sp_manifest_parse(text.p ? text.p : "", text.len, path.p, &p->jr, p->err);
	sp_buf_release(&text);
	if (rc) {
		sp_buf_release(&path);
		return rc;
	}
	if (!p->jr.options || strcmp(p->jr.options, fingerprint)) {
		sp_err_set_(p->err, SP_EUSAGE, __FILE__, __LINE__,
		            "an interrupted pack with other options or inputs is here; rerun it as it was, or use --force to start over");
		sp_err_locate(p->err, p->o->out_dir, 0);
		sp_buf_release(&path);
		return SP_EUSAGE;
	}
	size_t keep = 0;
	for (; keep < p->jr.n_shards; keep++) {
		const sp_manifest_shard *s = &p->jr.shards[keep];
		uint64_t h = 0;
		sp_err e = SP_ERR_INIT;
		if (full_path(p, s->file, &path) || sp_xxh64_file(path.p, &h, &e) || h != s->xxh64)
			break;
		p->skip_seqs += s->n_sequences;
	}
	for (size_t i = keep; i < p->jr.n_shards; i++)
		sp_free(p->jr.shards[i].file);
	p->jr.n_shards = keep; /* the rest are written again */
	res->resumed_shards = keep;
	sp_buf_release(&path);
	return 0;
}

static int make_fingerprint(const pack_opts *o, const packer *p, sp_buf *f)
{
	int rc = sp_buf_appendf(f, "seq_len=%u shard_seqs=%" PRIu64 " zstd=%d bos=%d eos=%d tail=%s shuffle=%d",
	                        p->seq_len, o->shard_seqs, o->zstd_level, p->add_bos ? (int)p->bos : -1,
	                        p->add_eos ? (int)p->eos : -1, o->tail_drop ? "drop" : "pad", o->shuffle);
	if (o->shuffle)
		rc = rc ? rc : sp_buf_appendf(f, ":%" PRIu64 ":%" PRIu64 ":%u", o->seed, o->shuffle_buffer, o->shuffle_buckets);
	rc = rc ? rc : sp_buf_appendf(f, " order=%d vocab=%u tokenizer=%016" PRIx64 " on_error=%s",
	                              o->order_shuffle, p->vocab, p->man.tokenizer_id, o->on_error_skip ? "skip" : "fail");
	if (o->fingerprint_extra)
		rc = rc ? rc : sp_buf_appendf(f, " %s", o->fingerprint_extra);
	rc = rc ? rc : sp_buf_appends(f, " inputs=");
	for (size_t i = 0; i < o->n_inputs; i++) {
		rc = rc ? rc : sp_buf_appends(f, i ? "," : "");
		rc = rc ? rc : sp_buf_appends(f, o->inputs[i]);
	}
	if (!o->n_inputs)
		rc = rc ? rc : sp_buf_appends(f, "-");
	return rc;
}

static uint32_t resolve_id(uint32_t opt, uint32_t a, uint32_t b)
{
	return opt != PACK_NO_ID ? opt : a != PACK_NO_ID ? a : b;
}

static void packer_release(packer *p)
{
	sp_free(p->seq);
	sp_free(p->pieces);
	sp_free(p->rdocs);
	sp_buf_release(&p->prov);
	for (size_t i = 0; i < p->n_buf; i++) {
		sp_free(p->buf[i].ids);
		sp_free(p->buf[i].prov);
	}
	sp_free(p->buf);
	sp_manifest_release(&p->man);
	sp_manifest_release(&p->jr);
	sp_out_free(p->out);
	if (p->fh)
		sp_xxh64_free(p->fh);
	sp_buf_release(&p->ix);
	sp_buf_release(&p->path);
	sp_buf_release(&p->sbuf);
	bucket_release(p);
}

int pack_run(const pack_opts *o, sp_stats *st, pack_result *res, sp_err *err)
{
	packer P, *p = &P;
	memset(p, 0, sizeof P);
	memset(res, 0, sizeof *res);
	p->o = o;
	p->err = err;
	p->st = st;
	pack_in *in = NULL;
	pack_tok *tok = NULL;
	sp_buf fp = SP_BUF_INIT, tmp = SP_BUF_INIT, sbuf = SP_BUF_INIT;
	int rc = 0;

	if (o->seq_len == 0 || o->shard_seqs == 0) {
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "--seq-len and --shard-size must be positive");
		goto out;
	}
	if ((rc = pack_in_open(&in, o->inputs, o->n_inputs, o->max_doc_tokens, err)))
		goto out;
	pack_meta m = *pack_in_meta(in);
	if (o->model) {
		if ((rc = pack_tok_load(&tok, o->model, err)))
			goto out;
		pack_meta tm;
		pack_tok_meta(tok, &tm);
		if (m.tokenizer_id && m.tokenizer_id != tm.tokenizer_id) {
			sp_err_set_(err, SP_EDATA, __FILE__, __LINE__,
			            "the token stream was made by another tokenizer (identity %016" PRIx64 ") than %s (%016" PRIx64 ")",
			            m.tokenizer_id, o->model, tm.tokenizer_id);
			rc = sp_err_locate(err, o->n_inputs ? o->inputs[0] : "-", 0);
			goto out;
		}
		tm.flags = m.flags;
		m = tm;
	}
	if (o->vocab_size)
		m.vocab_size = o->vocab_size;
	p->vocab = m.vocab_size;
	if (!p->vocab) {
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__,
		                 "the vocabulary size is unknown (JSONL input): give -m MODEL or --vocab-size N");
		goto out;
	}
	p->bos = resolve_id(o->bos_id, m.bos_id, PACK_NO_ID);
	p->eos = resolve_id(o->eos_id, m.eos_id, PACK_NO_ID);
	p->add_bos = o->bos == 1 || (o->bos == -1 && p->bos != PACK_NO_ID && !(m.flags & 1));
	p->add_eos = o->eos == 1 || (o->eos == -1 && p->eos != PACK_NO_ID && !(m.flags & 2));
	if ((p->add_bos && p->bos == PACK_NO_ID) || (p->add_eos && p->eos == PACK_NO_ID)) {
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "--bos/--eos asked for, but the tokenizer has no such id (give --bos-id/--eos-id)");
		goto out;
	}
	if ((p->add_bos && p->bos >= p->vocab) || (p->add_eos && p->eos >= p->vocab)) {
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "BOS/EOS id is outside the vocabulary (%u)", p->vocab);
		goto out;
	}
	uint32_t pad_id = resolve_id(o->pad_id, m.pad_id, PACK_NO_ID);
	p->pad_fill = pad_id != PACK_NO_ID ? pad_id : p->eos != PACK_NO_ID ? p->eos : 0;
	p->seq_len = o->seq_len;
	p->token_bytes = p->vocab <= 65536 ? 2 : 4;

	sp_manifest *man = &p->man;
	man->version = 1;
	man->seq_len = p->seq_len;
	man->token_bytes = p->token_bytes;
	man->vocab_size = p->vocab;
	man->bos_id = p->bos == PACK_NO_ID ? -1 : (int32_t)p->bos;
	man->eos_id = p->eos == PACK_NO_ID ? -1 : (int32_t)p->eos;
	man->pad_id = pad_id == PACK_NO_ID ? -1 : (int32_t)pad_id;
	man->pad_fill = p->pad_fill;
	man->tokenizer_id = m.tokenizer_id;
	man->add_bos = p->add_bos;
	man->add_eos = p->add_eos;
	man->doc_shuffle = o->shuffle;
	man->doc_shuffle_seed = o->seed;
	man->doc_shuffle_buffer = o->shuffle_buckets ? 0 : o->shuffle_buffer;
	man->doc_shuffle_buckets = o->shuffle ? o->shuffle_buckets : 0;
	man->has_order_seed = o->order_shuffle;
	man->order_seed = o->seed;
	man->tail = sp_strdup(o->tail_drop ? "drop" : "pad");
	man->tokenizer_model = o->model ? sp_strdup(o->model) : NULL;
	if (make_fingerprint(o, p, &fp) < 0 || !man->tail || (o->model && !man->tokenizer_model)) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto out;
	}
	man->options = sp_strdup(fp.p);
	if (!man->options) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto out;
	}

	/* The output folder: fresh, finished, or interrupted. */
	if ((rc = sp_mkdir_p(o->out_dir, err)))
		goto out;
	if (o->force && (rc = remove_matching(o->out_dir, is_output, err)))
		goto out;
	if ((rc = full_path(p, SP_MANIFEST_NAME, &tmp)))
		goto out;
	if (file_exists(tmp.p)) {
		sp_manifest done = SP_MANIFEST_INIT;
		rc = sp_manifest_load(o->out_dir, &done, err);
		int same = rc == 0 && done.options && !strcmp(done.options, fp.p);
		sp_manifest_release(&done);
		if (rc)
			goto out;
		if (!same) {
			rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__,
			                 "already holds a dataset packed with other options or inputs (use --force to replace it)");
			sp_err_locate(err, o->out_dir, 0);
			goto out;
		}
		res->already_complete = 1;
		goto out;
	}
	if ((rc = full_path(p, JOURNAL_NAME, &tmp)))
		goto out;
	if (file_exists(tmp.p) && (rc = load_journal(p, fp.p, res)))
		goto out;
	if ((rc = remove_matching(o->out_dir, is_temp, err)))
		goto out;

	p->seq = sp_malloc((size_t)p->seq_len * sizeof *p->seq);
	if (!p->seq) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto out;
	}
	p->rng_key = sp_mix64(o->seed ^ 0xD1B54A32D192ED03ull);
	p->in = in;
	p->res = res;
	p->n_bk = o->shuffle ? o->shuffle_buckets : 0;
	if (p->n_bk && (rc = bucket_open_all(p)))
		goto out;
	sp_pmap_spec spec = { o->threads > 1 ? o->threads : 1, 0, batch_new, batch_free, batch_produce, batch_work,
	                      batch_consume, p };
	rc = sp_pmap_run(&spec, err);
	if (p->stopped) {
		rc = PACK_STOPPED;
		goto out;
	}
	if (rc)
		goto out;
	if (p->shard_open && (rc = shard_end(p)))
		goto out;
	man->n_dropped_tokens = p->dropped_tokens;
	if (st) {
		sp_stats_add(st, "tokens", (int64_t)man->n_tokens);
		sp_stats_add(st, "padding", (int64_t)man->n_padding);
		sp_stats_add(st, "dropped_tokens", (int64_t)man->n_dropped_tokens);
		sp_stats_add(st, "resumed_shards", (int64_t)res->resumed_shards);
		for (size_t i = 0; i < man->n_shards; i++)
			st->bytes_out += man->shards[i].bytes;
	}
	/* The manifest last: from here on the dataset is complete. */
	sp_buf_reset(&tmp);
	if (sp_manifest_json(man, &tmp) < 0) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto out;
	}
	if ((rc = full_path(p, SP_MANIFEST_NAME, &sbuf)) || (rc = sp_write_file_atomic(sbuf.p, tmp.p, tmp.len, err)))
		goto out;
	if ((rc = full_path(p, JOURNAL_NAME, &sbuf)))
		goto out;
	unlink(sbuf.p);
out:
	if (rc == PACK_STOPPED) {
		res->stopped = 1;
		rc = 0;
	}
	pack_in_free(in);
	pack_tok_free(tok);
	packer_release(p);
	sp_buf_release(&fp);
	sp_buf_release(&tmp);
	sp_buf_release(&sbuf);
	return rc;
}
