/* pack_tools.c - the logic of `spindle shards verify`, `merge` and `stats`: a full structural and
 * checksum check of a dataset, joining datasets of parallel pack jobs, and the text report. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include "pack.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/mem.h"

/* ---------------------------------------------------------------- verify */

typedef struct vstate {
	const sp_manifest *m;
	uint64_t prev_doc; int have_prev; uint32_t prev_end_off; /* last piece of the previous sequence */
	uint64_t seq_global;
	sp_seq seq;
	sp_buf raw;
	ZSTD_DCtx *dctx;
} vstate;

__attribute__((format(printf, 3, 4)))
static int vfail(sp_err *err, const char *path, const char *fmt, ...)
{
	char m[480];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s", m);
	return sp_err_locate(err, path, 0);
}

static int verify_shard(vstate *v, size_t k, const char *path, sp_err *err)
{
	const sp_manifest *m = v->m;
	const sp_manifest_shard *ms = &m->shards[k];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot open shard");
		return sp_err_locate(err, path, 0);
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot stat shard");
		return sp_err_locate(err, path, 0);
	}
	size_t size = (size_t)st.st_size;
	if ((uint64_t)st.st_size != ms->bytes) {
		close(fd);
		return vfail(err, path, "shard has %" PRIu64 " bytes, the manifest says %" PRIu64 "", (uint64_t)st.st_size, ms->bytes);
	}
	unsigned char *base = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	close(fd);
	if (base == MAP_FAILED)
		return vfail(err, path, "shard is empty or cannot be mapped (%zu bytes)", size);
	int rc = 0;
	uint64_t file_hash = sp_xxh64(base, size, 0);
	sp_shard_header h;
	sp_shard_footer f;
	sp_err e = SP_ERR_INIT;
	if (sp_shard_header_decode(base, size, &h, &e) || sp_shard_footer_decode(base, size, &f, &e)) {
		rc = vfail(err, path, "%s", e.msg);
		goto out;
	}
	if (h.seq_len != m->seq_len || h.token_bytes != m->token_bytes || h.tokenizer_id != m->tokenizer_id ||
	    !!(h.flags & SP_SHARD_FLAG_ZSTD) != !!ms->zstd) {
		rc = vfail(err, path, "shard header (seq_len %" PRIu64 ", token_bytes %" PRIu64 ") or tokenizer/compression differs from the manifest",
		           (uint64_t)h.seq_len, (uint64_t)h.token_bytes);
		goto out;
	}
	if (f.n_seqs != ms->n_sequences) {
		rc = vfail(err, path, "shard holds %" PRIu64 " sequences, the manifest says %" PRIu64 "", f.n_seqs, ms->n_sequences);
		goto out;
	}
	uint64_t expect_off = SP_SHARD_HEADER_LEN, tokens = 0, pad = 0, docs = 0;
	for (uint64_t i = 0; i < f.n_seqs; i++, v->seq_global++) {
		sp_shard_ix ix;
		sp_shard_ix_decode(base + f.index_offset + i * SP_SHARD_INDEX_ENTRY, &ix);
		if (ix.offset != expect_off || ix.stored_len > f.index_offset - ix.offset) {
			rc = vfail(err, path, "sequence %" PRIu64 " (dataset sequence %" PRIu64 "): index entry is out of place", i, v->seq_global);
			goto out;
		}
		expect_off += ix.stored_len;
		const unsigned char *p = base + ix.offset;
		if (sp_xxh64(p, ix.stored_len, 0) != ix.xxh64) {
			rc = vfail(err, path, "sequence %" PRIu64 " (dataset sequence %" PRIu64 "): checksum mismatch", i, v->seq_global);
			goto out;
		}
		size_t n = ix.stored_len;
		if (h.flags & SP_SHARD_FLAG_ZSTD) {
			sp_buf_reset(&v->raw);
			if (sp_buf_grow(&v->raw, ix.raw_len) < 0) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				goto out;
			}
			size_t r = ZSTD_decompressDCtx(v->dctx, v->raw.p, ix.raw_len, p, ix.stored_len);
			if (ZSTD_isError(r) || r != ix.raw_len) {
				rc = vfail(err, path, "sequence %" PRIu64 " (dataset sequence %" PRIu64 "): bad zstd frame", i, v->seq_global);
				goto out;
			}
			p = (const unsigned char *)v->raw.p;
			n = r;
		} else if (ix.raw_len != ix.stored_len) {
			rc = vfail(err, path, "sequence %" PRIu64 " (dataset sequence %" PRIu64 "): index lengths disagree", i, v->seq_global);
			goto out;
		}
		if (sp_shard_rec_decode(p, n, h.seq_len, h.token_bytes, m->vocab_size, ms->doc_base, &v->seq, &e)) {
			rc = vfail(err, path, "sequence %" PRIu64 " (dataset sequence %" PRIu64 "): %s", i, v->seq_global, e.msg);
			goto out;
		}
		const sp_seq_doc *d0 = &v->seq.docs[0];
		int cont = d0->doc_offset != 0;
		if (cont && (!v->have_prev || d0->doc_index != v->prev_doc || d0->doc_offset != v->prev_end_off)) {
			rc = vfail(err, path, "sequence %" PRIu64 " (dataset sequence %" PRIu64 "): its first document does not continue the previous sequence's last",
			           i, v->seq_global);
			goto out;
		}
		if (!cont && v->have_prev && d0->doc_index <= v->prev_doc) {
			rc = vfail(err, path, "sequence %" PRIu64 " (dataset sequence %" PRIu64 "): document indexes go backwards", i, v->seq_global);
			goto out;
		}
		const sp_seq_doc *dl = &v->seq.docs[v->seq.n_docs - 1];
		v->prev_doc = dl->doc_index;
		v->prev_end_off = dl->doc_offset + dl->len;
		v->have_prev = 1;
		for (size_t j = 0; j < v->seq.n_docs; j++)
			docs += v->seq.docs[j].doc_offset == 0;
		tokens += v->seq.n_valid;
		pad += h.seq_len - v->seq.n_valid;
	}
	if (expect_off != f.index_offset) {
		rc = vfail(err, path, "records end at byte %" PRIu64 " but the index starts at %" PRIu64 "", expect_off, f.index_offset);
		goto out;
	}
	if (tokens != ms->n_tokens || pad != ms->n_padding || docs != ms->n_documents) {
		rc = vfail(err, path, "shard counts (%" PRIu64 " tokens, %" PRIu64 " padding) differ from the manifest's", tokens, pad);
		goto out;
	}
	if (file_hash != ms->xxh64)
		rc = vfail(err, path, "shard checksum mismatch (xxh64 %016" PRIx64 ", the manifest says %016" PRIx64 ")", file_hash, ms->xxh64);
out:
	munmap(base, size);
	return rc;
}

int pack_verify(const char *dir, uint64_t *n_checked, sp_err *err)
{
	sp_manifest m = SP_MANIFEST_INIT;
	*n_checked = 0;
	SP_FORWARD(sp_manifest_load(dir, &m, err));
	vstate v;
	memset(&v, 0, sizeof v);
	sp_seq z = SP_SEQ_INIT;
	v.seq = z;
	v.m = &m;
	v.dctx = ZSTD_createDCtx();
	int rc = v.dctx ? 0 : sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	sp_buf path = SP_BUF_INIT;
	for (size_t k = 0; rc == 0 && k < m.n_shards; k++) {
		sp_buf_reset(&path);
		if (sp_buf_appendf(&path, "%s/%s", dir, m.shards[k].file) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			break;
		}
		rc = verify_shard(&v, k, path.p, err);
		*n_checked = v.seq_global;
	}
	sp_buf_release(&path);
	sp_buf_release(&v.raw);
	sp_seq_release(&v.seq);
	ZSTD_freeDCtx(v.dctx);
	sp_manifest_release(&m);
	return rc;
}

/* ---------------------------------------------------------------- merge */

static int copy_file(const char *src, const char *dst, int no_sync, sp_err *err)
{
	sp_in *in;
	SP_FORWARD(sp_in_open(&in, src, err));
	sp_out *out;
	int rc = sp_out_open(&out, dst, SP_OUT_NO_ZSTD | (no_sync ? SP_OUT_NO_SYNC : 0), err);
	if (rc) {
		sp_in_free(in);
		return rc;
	}
	/* Raw bytes: a shard never starts with a zstd/gzip magic (it starts with SPSHRD01), so sp_in passes it through. */
	char buf[1 << 16];
	size_t got;
	while ((rc = sp_in_read(in, buf, sizeof buf, &got, err)) == 0 && got)
		if ((rc = sp_out_write(out, buf, got, err)))
			break;
	if (rc == 0)
		rc = sp_out_commit(out, err);
	sp_out_free(out);
	sp_in_free(in);
	return rc;
}

int pack_merge(const char *out_dir, const char *const *dirs, size_t n_dirs, int order_shuffle, uint64_t seed,
               int no_sync, sp_err *err)
{
	if (n_dirs == 0)
		SP_RAISE(err, SP_EUSAGE, "nothing to merge: name the datasets");
	sp_manifest out = SP_MANIFEST_INIT, in = SP_MANIFEST_INIT;
	sp_buf src = SP_BUF_INIT, dst = SP_BUF_INIT, name = SP_BUF_INIT, opts = SP_BUF_INIT;
	int rc = sp_mkdir_p(out_dir, err);
	if (rc)
		return rc;
	if (sp_buf_appendf(&dst, "%s/%s", out_dir, SP_MANIFEST_NAME) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (access(dst.p, F_OK) == 0) {
		sp_buf_release(&dst);
		sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "already holds a dataset");
		return sp_err_locate(err, out_dir, 0);
	}
	/* the same dataset twice would duplicate every sequence: the same folder, or the same shard */
	for (size_t d = 0; d < n_dirs; d++) {
		struct stat a, b;
		for (size_t e = 0; e < d; e++)
			if (stat(dirs[d], &a) == 0 && stat(dirs[e], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
				sp_buf_release(&dst);
				sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "the same dataset as %s, given twice", dirs[e]);
				return sp_err_locate(err, dirs[d], 0);
			}
	}
	/* ... or a copy of it: a shard whose checksum, size and count another input's shard has */
	struct seen { uint64_t xxh64, bytes, n; size_t dir; const char *file; } *seen = NULL;
	size_t n_seen = 0, cap_seen = 0;
	sp_manifest *ms = sp_calloc(n_dirs, sizeof *ms);
	rc = ms ? 0 : sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (size_t d = 0; rc == 0 && d < n_dirs; d++) {
		if ((rc = sp_manifest_load(dirs[d], &ms[d], err)))
			break;
		for (size_t i = 0; rc == 0 && i < ms[d].n_shards; i++) {
			const sp_manifest_shard *s = &ms[d].shards[i];
			for (size_t k = 0; s->n_sequences && k < n_seen; k++)
				if (seen[k].xxh64 == s->xxh64 && seen[k].bytes == s->bytes && seen[k].n == s->n_sequences) {
					sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "shard %s is the same as %s/%s (a dataset given twice, "
					            "or a copy of one): refusing to duplicate its sequences", s->file, dirs[seen[k].dir], seen[k].file);
					rc = sp_err_locate(err, dirs[d], 0);
					break;
				}
			if (rc == 0 && n_seen == cap_seen) {
				cap_seen = cap_seen ? 2 * cap_seen : 64;
				struct seen *q = sp_realloc(seen, cap_seen * sizeof *q);
				if (!q)
					rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				else
					seen = q;
			}
			if (rc == 0)
				seen[n_seen++] = (struct seen){ s->xxh64, s->bytes, s->n_sequences, d, s->file };
		}
	}
	for (size_t d = 0; ms && d < n_dirs; d++)
		sp_manifest_release(&ms[d]);
	sp_free(ms);
	sp_free(seen);
	if (rc) {
		sp_buf_release(&dst);
		return rc;
	}
	uint64_t doc_off = 0, k_out = 0;
	rc = sp_buf_appends(&opts, "merge of");
	for (size_t d = 0; rc == 0 && d < n_dirs; d++) {
		if ((rc = sp_manifest_load(dirs[d], &in, err)))
			break;
		if (d == 0) {
			out = in;   /* the shared facts; in keeps its pointers, out gets copies */
			out.shards = NULL;
			out.n_shards = out.cap_shards = 0;
			out.n_sequences = out.n_tokens = out.n_padding = out.n_documents = out.n_dropped_tokens = 0;
			memset(out.hist, 0, sizeof out.hist);
			out.options = NULL;
			out.tail = in.tail ? sp_strdup(in.tail) : NULL;
			out.tokenizer_model = in.tokenizer_model ? sp_strdup(in.tokenizer_model) : NULL;
			out.has_order_seed = order_shuffle;
			out.order_seed = seed;
			out.doc_shuffle = 0;
		} else if (in.seq_len != out.seq_len || in.token_bytes != out.token_bytes || in.vocab_size != out.vocab_size ||
		           in.tokenizer_id != out.tokenizer_id || in.bos_id != out.bos_id || in.eos_id != out.eos_id ||
		           in.add_bos != out.add_bos || in.add_eos != out.add_eos) {
			sp_err_set_(err, SP_EDATA, __FILE__, __LINE__,
			            "dataset differs from %s in seq_len, token width, tokenizer or BOS/EOS wrapping", dirs[0]);
			rc = sp_err_locate(err, dirs[d], 0);
			break;
		}
		rc = sp_buf_appendf(&opts, " %s", dirs[d]);
		for (size_t i = 0; rc == 0 && i < in.n_shards; i++, k_out++) {
			sp_manifest_shard s = in.shards[i];
			sp_buf_reset(&src);
			sp_buf_reset(&dst);
			sp_buf_reset(&name);
			if (sp_buf_appendf(&src, "%s/%s", dirs[d], s.file) < 0 ||
			    sp_buf_appendf(&name, "shard-%05" PRIu64 ".bin", k_out) < 0 ||
			    sp_buf_appendf(&dst, "%s/%s", out_dir, name.p) < 0) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			unlink(dst.p);
			if (link(src.p, dst.p) < 0 && (rc = copy_file(src.p, dst.p, no_sync, err)))
				break;
			s.file = name.p;
			s.doc_base += doc_off;
			if (sp_manifest_add_shard(&out, &s) < 0) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				break;
			}
			out.n_sequences += s.n_sequences;
			out.n_tokens += s.n_tokens;
			out.n_padding += s.n_padding;
			out.n_documents += s.n_documents;
		}
		if (rc)
			break;
		doc_off += in.n_documents;
		out.n_dropped_tokens += in.n_dropped_tokens;
		for (int b = 0; b < SP_HIST_BUCKETS; b++)
			out.hist[b] += in.hist[b];
		sp_manifest_release(&in);
	}
	if (rc == 0) {
		out.options = sp_buf_detach(&opts, NULL);
		sp_buf_reset(&name);
		sp_buf_reset(&dst);
		if (sp_manifest_json(&out, &name) < 0 || sp_buf_appendf(&dst, "%s/%s", out_dir, SP_MANIFEST_NAME) < 0)
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		else
			rc = sp_write_file_atomic(dst.p, name.p, name.len, err);
	}
	sp_manifest_release(&in);
	sp_manifest_release(&out);
	sp_buf_release(&src);
	sp_buf_release(&dst);
	sp_buf_release(&name);
	sp_buf_release(&opts);
	return rc;
}

/* ---------------------------------------------------------------- stats */

int pack_stats_text(const sp_manifest *m, sp_buf *b)
{
	uint64_t slots = m->n_sequences * m->seq_len;
	int zstd = 0;
	for (size_t i = 0; i < m->n_shards; i++)
		zstd |= m->shards[i].zstd;
	uint64_t bytes = 0;
	for (size_t i = 0; i < m->n_shards; i++)
		bytes += m->shards[i].bytes;
	int rc = sp_buf_appendf(b, "sequences      %" PRIu64 " of %u tokens in %zu shards (%u-bit tokens, %s, %" PRIu64 " bytes)\n",
	                        m->n_sequences, m->seq_len, m->n_shards, m->token_bytes * 8, zstd ? "zstd" : "uncompressed", bytes);
	rc = rc ? rc : sp_buf_appendf(b, "tokens         %" PRIu64 " (+ %" PRIu64 " padding)\n", m->n_tokens, m->n_padding);
	rc = rc ? rc : sp_buf_appendf(b, "padding        %.6f of all token slots\n", slots ? (double)m->n_padding / (double)slots : 0.0);
	rc = rc ? rc : sp_buf_appendf(b, "documents      %" PRIu64 " (mean %.1f tokens with BOS/EOS)\n", m->n_documents,
	                              m->n_documents ? (double)m->n_tokens / (double)m->n_documents : 0.0);
	rc = rc ? rc : sp_buf_appendf(b, "dropped        %" PRIu64 " tokens (tail %s)\n", m->n_dropped_tokens, m->tail ? m->tail : "pad");
	rc = rc ? rc : sp_buf_appendf(b, "tokenizer      %016" PRIx64 "  vocab %u  bos %d  eos %d  pad %d (BOS %s, EOS %s)\n",
	                              m->tokenizer_id, m->vocab_size, m->bos_id, m->eos_id, m->pad_id,
	                              m->add_bos ? "added" : "not added", m->add_eos ? "added" : "not added");
	rc = rc ? rc : sp_buf_appendf(b, "order          %s; documents %s\n", m->has_order_seed ? "seeded permutation" : "as packed",
	                              m->doc_shuffle ? "shuffled" : "in input order");
	uint64_t max = 0, total = 0;
	int lo = SP_HIST_BUCKETS, hi = -1;
	for (int i = 0; i < SP_HIST_BUCKETS; i++) {
		if (m->hist[i] > max)
			max = m->hist[i];
		total += m->hist[i];
		if (m->hist[i]) {
			if (i < lo)
				lo = i;
			hi = i;
		}
	}
	rc = rc ? rc : sp_buf_appendf(b, "document length histogram (tokens incl. BOS/EOS; %" PRIu64 " documents packed)\n", total);
	for (int i = lo; rc == 0 && i <= hi; i++) {
		int bar = max ? (int)((m->hist[i] * 50 + max - 1) / max) : 0;
		char range[64];
		snprintf(range, sizeof range, "[%" PRIu64 ", %" PRIu64 ")", (uint64_t)1 << i, (uint64_t)1 << (i + 1));
		rc = sp_buf_appendf(b, "  %-24s %10" PRIu64 "  ", range, m->hist[i]);
		for (int k = 0; rc == 0 && k < bar; k++)
			rc = sp_buf_appendc(b, '#');
		rc = rc ? rc : sp_buf_appendc(b, '\n');
	}
	return rc;
}
