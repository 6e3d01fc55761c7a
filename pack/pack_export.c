/* pack_export.c - `spindle shards export`: a packed dataset rewritten for other trainers. Megatron-LM's
 * indexed dataset (PREFIX.bin + PREFIX.idx, the MMapIndexedDataset layout, version 1): every document
 * becomes one Megatron sequence (its pieces joined again across spindle's sequences, BOS/EOS as packed,
 * padding dropped), and the document index keeps one document per sequence, so Megatron's GPTDataset
 * re-packs at its own length with the boundaries intact. Layout notes in schemas/shards.md. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "pack.h"
#include "spindle/io.h"
#include "spindle/mem.h"
#include "spindle/shards.h"

/* Megatron's data type codes (megatron/core/datasets/indexed_dataset.py, DType) */
enum { MEG_INT32 = 4, MEG_UINT16 = 8 };

typedef struct u64vec {
	uint64_t *v;
	size_t n, cap;
} u64vec;

static int push(u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		uint64_t *v = sp_realloc(a->v, cap * sizeof *v);
		if (!v)
			return -1;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

static void put_le(sp_buf *b, uint64_t x, int bytes)
{
	unsigned char t[8];
	for (int i = 0; i < bytes; i++)
		t[i] = (unsigned char)(x >> (8 * i));
	sp_buf_append(b, t, (size_t)bytes);
}

int pack_export_megatron(const char *dir, const char *prefix, int no_sync, pack_export_result *res, sp_err *err)
{
	memset(res, 0, sizeof *res);
	sp_shards *s = NULL;
	sp_out *bin = NULL;
	sp_seq q = SP_SEQ_INIT;
	u64vec lens = { 0 };
	sp_buf tok = SP_BUF_INIT, idx = SP_BUF_INIT;
	char path[4096];
	int rc = sp_shards_open(&s, dir, 0, err);
	if (rc < 0)
		goto out;
	sp_shards_info info;
	sp_shards_info_get(s, &info);
	int wide = info.vocab_size >= 65500;   /* Megatron's own choice: uint16 below 65500 tokens */
	size_t width = wide ? 4 : 2;
	if (snprintf(path, sizeof path, "%s.bin", prefix) >= (int)sizeof path) {
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "output prefix too long");
		goto out;
	}
	const char *slash = strrchr(prefix, '/');
	if (slash && slash != prefix) {
		char d[4096];
		snprintf(d, sizeof d, "%.*s", (int)(slash - prefix), prefix);
		if ((rc = sp_mkdir_p(d, err)) < 0)
			goto out;
	}
	if ((rc = sp_out_open(&bin, path, SP_OUT_NO_ZSTD | (no_sync ? SP_OUT_NO_SYNC : 0), err)) < 0)
		goto out;
	/* documents in file order: a document's pieces follow each other, and a piece with doc_offset 0
	 * starts a new one */
	uint64_t cur_len = 0, cur_doc = 0;
	int open_doc = 0;
	for (uint64_t pos = 0; pos < info.n_sequences; pos++) {
		if ((rc = sp_shards_get_stored(s, pos, &q, err)) < 0)
			goto out;
		for (size_t i = 0; i < q.n_docs; i++) {
			const sp_seq_doc *d = &q.docs[i];
			if (open_doc && (d->doc_index != cur_doc || d->doc_offset == 0)) {
				if (push(&lens, cur_len) < 0)
					goto oom;
				open_doc = 0;
			}
			if (!open_doc) {
				if (d->doc_offset != 0) {
					rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__,
					                 "sequence %" PRIu64 " (file order) continues document %" PRIu64 " that did not start before it",
					                 pos, d->doc_index);
					sp_err_locate(err, dir, 0);
					goto out;
				}
				open_doc = 1;
				cur_doc = d->doc_index;
				cur_len = 0;
			} else if (d->doc_offset != cur_len) {
				rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__,
				                 "document %" PRIu64 " resumes at token %u, not %" PRIu64, cur_doc, d->doc_offset, cur_len);
				sp_err_locate(err, dir, 0);
				goto out;
			}
			sp_buf_reset(&tok);
			if (sp_buf_grow(&tok, (size_t)d->len * width) < 0)
				goto oom;
			for (uint32_t k = 0; k < d->len; k++) {
				uint32_t t = q.tokens[d->start + k];
				unsigned char *p = (unsigned char *)tok.p + (size_t)k * width;
				p[0] = (unsigned char)t;
				p[1] = (unsigned char)(t >> 8);
				if (wide) {
					p[2] = (unsigned char)(t >> 16);
					p[3] = (unsigned char)(t >> 24);
				}
			}
			if ((rc = sp_out_write(bin, tok.p, (size_t)d->len * width, err)) < 0)
				goto out;
			cur_len += d->len;
			res->n_tokens += d->len;
		}
	}
	if (open_doc && push(&lens, cur_len) < 0)
		goto oom;
	for (size_t i = 0; i < lens.n; i++)
		if (lens.v[i] > INT32_MAX) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "document %zu has %" PRIu64 " tokens, more than Megatron's int32 lengths hold", i, lens.v[i]);
			goto out;
		}
	/* the index: header, lengths (int32), byte pointers (int64), document indices (int64) */
	sp_buf_append(&idx, "MMIDIDX\0\0", 9);
	put_le(&idx, 1, 8);
	unsigned char code = wide ? MEG_INT32 : MEG_UINT16;
	sp_buf_append(&idx, &code, 1);
	put_le(&idx, lens.n, 8);
	put_le(&idx, lens.n + 1, 8);
	for (size_t i = 0; i < lens.n; i++)
		put_le(&idx, lens.v[i], 4);
	uint64_t at = 0;
	for (size_t i = 0; i < lens.n; i++) {
		put_le(&idx, at, 8);
		at += lens.v[i] * width;
	}
	for (size_t i = 0; i <= lens.n; i++)
		put_le(&idx, i, 8);
	if (idx.len != 9 + 8 + 1 + 8 + 8 + 4 * lens.n + 8 * lens.n + 8 * (lens.n + 1))
		goto oom;
	/* the data first, the index last: a reader that finds the index finds whole data */
	if ((rc = sp_out_commit(bin, err)) < 0)
		goto out;
	snprintf(path, sizeof path, "%s.idx", prefix);
	if ((rc = sp_write_file_atomic(path, idx.p, idx.len, err)) < 0)
		goto out;
	res->n_documents = lens.n;
	res->n_sequences = info.n_sequences;
	res->token_bytes = (int)width;
	goto out;
oom:
	rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
out:
	sp_out_free(bin);
	sp_seq_release(&q);
	sp_free(lens.v);
	sp_buf_release(&tok);
	sp_buf_release(&idx);
	sp_shards_close(s);
	return rc;
}
