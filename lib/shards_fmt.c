/* shards_fmt.c - encoding and decoding of shard headers, footers, index entries and sequence
 * records (schemas/shards.md), the seeded permutation, and the doc-length histogram buckets.
 * No I/O here: the writer is pack/pack_shard.c, the reader lib/shards.c, the checker lib/shards_verify.c. */
#include <string.h>
#include "spindle/shards_fmt.h"
#include "spindle/hash.h"
#include "spindle/mem.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shards_fmt.c assumes a little-endian host (the files are little-endian)"
#endif

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

void sp_shard_header_encode(const sp_shard_header *h, unsigned char out[SP_SHARD_HEADER_LEN])
{
	memset(out, 0, SP_SHARD_HEADER_LEN);
	memcpy(out, SP_SHARD_MAGIC, 8);
	put32(out + 8, SP_SHARD_VERSION);
	put32(out + 12, SP_SHARD_HEADER_LEN);
	put32(out + 16, h->seq_len);
	put32(out + 20, h->token_bytes);
	put32(out + 24, h->flags);
	put64(out + 32, h->tokenizer_id);
	put64(out + 56, sp_xxh64(out, 56, 0));
}

int sp_shard_header_decode(const unsigned char *p, size_t n, sp_shard_header *h, sp_err *err)
{
	if (n < SP_SHARD_HEADER_LEN)
		SP_RAISE(err, SP_EDATA, "file too short for a shard header (%zu bytes)", n);
	if (memcmp(p, SP_SHARD_MAGIC, 8))
		SP_RAISE(err, SP_EDATA, "not a spindle shard (bad magic)");
	if (get64(p + 56) != sp_xxh64(p, 56, 0))
		SP_RAISE(err, SP_EDATA, "shard header checksum mismatch");
	h->version = get32(p + 8);
	if (h->version != SP_SHARD_VERSION)
		SP_RAISE(err, SP_EDATA, "unsupported shard version %u", h->version);
	if (get32(p + 12) != SP_SHARD_HEADER_LEN)
		SP_RAISE(err, SP_EDATA, "unexpected shard header length %u", get32(p + 12));
	h->seq_len = get32(p + 16);
	h->token_bytes = get32(p + 20);
	h->flags = get32(p + 24);
	h->tokenizer_id = get64(p + 32);
	if (h->seq_len == 0 || (h->token_bytes != 2 && h->token_bytes != 4))
		SP_RAISE(err, SP_EDATA, "bad shard header (seq_len %u, token_bytes %u)", h->seq_len, h->token_bytes);
	if (h->flags & ~SP_SHARD_FLAG_ZSTD)
		SP_RAISE(err, SP_EDATA, "unknown shard flags 0x%x", h->flags);
	return 0;
}

void sp_shard_footer_encode(const sp_shard_footer *f, unsigned char out[SP_SHARD_FOOTER_LEN])
{
	put64(out, f->n_seqs);
	put64(out + 8, f->index_offset);
	put64(out + 16, f->index_xxh64);
	memcpy(out + 24, SP_SHARD_END_MAGIC, 8);
}

int sp_shard_footer_decode(const unsigned char *p, size_t n, sp_shard_footer *f, sp_err *err)
{
	if (n < SP_SHARD_HEADER_LEN + SP_SHARD_FOOTER_LEN)
		SP_RAISE(err, SP_EDATA, "shard truncated (%zu bytes)", n);
	const unsigned char *q = p + n - SP_SHARD_FOOTER_LEN;
	if (memcmp(q + 24, SP_SHARD_END_MAGIC, 8))
		SP_RAISE(err, SP_EDATA, "shard truncated or corrupt (no end magic)");
	f->n_seqs = get64(q);
	f->index_offset = get64(q + 8);
	f->index_xxh64 = get64(q + 16);
	uint64_t body_end = n - SP_SHARD_FOOTER_LEN;
	if (f->index_offset < SP_SHARD_HEADER_LEN || f->index_offset > body_end ||
	    (body_end - f->index_offset) / SP_SHARD_INDEX_ENTRY != f->n_seqs ||
	    (body_end - f->index_offset) % SP_SHARD_INDEX_ENTRY)
		SP_RAISE(err, SP_EDATA, "shard footer inconsistent (index at %llu, %llu sequences, %zu bytes)",
		         (unsigned long long)f->index_offset, (unsigned long long)f->n_seqs, n);
	if (sp_xxh64(p + f->index_offset, (size_t)(body_end - f->index_offset), 0) != f->index_xxh64)
		SP_RAISE(err, SP_EDATA, "shard index checksum mismatch");
	return 0;
}

void sp_shard_ix_encode(const sp_shard_ix *ix, unsigned char out[SP_SHARD_INDEX_ENTRY])
{
	put64(out, ix->offset);
	put32(out + 8, ix->stored_len);
	put32(out + 12, ix->raw_len);
	put64(out + 16, ix->xxh64);
}

void sp_shard_ix_decode(const unsigned char *p, sp_shard_ix *ix)
{
	ix->offset = get64(p);
	ix->stored_len = get32(p + 8);
	ix->raw_len = get32(p + 12);
	ix->xxh64 = get64(p + 16);
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

int sp_shard_rec_encode(sp_buf *out, const uint32_t *tokens, uint32_t seq_len, uint32_t token_bytes,
                        uint32_t n_valid, const sp_rec_doc *docs, size_t n_docs)
{
	size_t tok_end = align8(8 + (size_t)seq_len * token_bytes);
	size_t prov = 0;
	for (size_t i = 0; i < n_docs; i++)
		prov += docs[i].prov_len;
	size_t total = align8(tok_end + n_docs * SP_SHARD_DOC_ENTRY + prov);
	SP_FORWARD(sp_buf_grow(out, total));
	unsigned char *p = (unsigned char *)out->p + out->len;
	/* zero only what the tokens and pieces do not overwrite: the two alignment gaps */
	memset(p + 8 + (size_t)seq_len * token_bytes, 0, tok_end - 8 - (size_t)seq_len * token_bytes);
	size_t used = tok_end + n_docs * SP_SHARD_DOC_ENTRY + prov;
	memset(p + used, 0, total - used);
	put32(p, n_valid);
	put32(p + 4, (uint32_t)n_docs);
	if (token_bytes == 2) {
		uint16_t *t = (uint16_t *)(void *)(p + 8);
		for (uint32_t i = 0; i < seq_len; i++)
			t[i] = (uint16_t)tokens[i];
	} else {
		memcpy(p + 8, tokens, (size_t)seq_len * 4);
	}
	unsigned char *d = p + tok_end, *s = d + n_docs * SP_SHARD_DOC_ENTRY;
	for (size_t i = 0; i < n_docs; i++, d += SP_SHARD_DOC_ENTRY) {
		put64(d, docs[i].doc_index);
		put32(d + 8, docs[i].start);
		put32(d + 12, docs[i].len);
		put32(d + 16, docs[i].doc_offset);
		put32(d + 20, (uint32_t)docs[i].prov_len);
		if (docs[i].prov_len)
			memcpy(s, docs[i].prov, docs[i].prov_len);
		s += docs[i].prov_len;
	}
	out->len += total;
	return 0;
}

static int seq_reserve(sp_seq *seq, uint32_t seq_len, size_t n_docs, size_t text)
{
	if (seq->cap_tokens < seq_len) {
		uint32_t *t = sp_realloc(seq->tokens, (size_t)seq_len * sizeof *t);
		if (!t)
			return SP_ENOMEM;
		seq->tokens = t;
		uint8_t *m = sp_realloc(seq->loss_mask, seq_len);
		if (!m)
			return SP_ENOMEM;
		seq->loss_mask = m;
		seq->cap_tokens = seq_len;
	}
	if (seq->cap_docs < n_docs || !seq->docs) {
		size_t c = n_docs > 4 ? n_docs : 4;
		sp_seq_doc *d = sp_realloc(seq->docs, c * sizeof *d);
		if (!d)
			return SP_ENOMEM;
		seq->docs = d;
		seq->cap_docs = c;
	}
	if (seq->cap_text < text || !seq->text) {
		size_t c = text > 64 ? text : 64;
		char *x = sp_realloc(seq->text, c);
		if (!x)
			return SP_ENOMEM;
		seq->text = x;
		seq->cap_text = c;
	}
	return 0;
}

int sp_shard_rec_decode(const unsigned char *p, size_t n, uint32_t seq_len, uint32_t token_bytes,
                        uint32_t vocab_size, uint64_t doc_base, sp_seq *seq, sp_err *err)
{
	size_t tok_end = align8(8 + (size_t)seq_len * token_bytes);
	if (n < tok_end)
		SP_RAISE(err, SP_EDATA, "record too short (%zu bytes)", n);
	uint32_t n_valid = get32(p), n_docs = get32(p + 4);
	if (n_valid > seq_len || n_valid == 0)
		SP_RAISE(err, SP_EDATA, "record has %u valid tokens of %u", n_valid, seq_len);
	if (n_docs == 0 || n_docs > n_valid || (n - tok_end) / SP_SHARD_DOC_ENTRY < n_docs)
		SP_RAISE(err, SP_EDATA, "record has a bad document count %u", n_docs);
	const unsigned char *d = p + tok_end, *s = d + (size_t)n_docs * SP_SHARD_DOC_ENTRY;
	size_t text = 0, prov_room = n - (size_t)(s - p);
	for (uint32_t i = 0; i < n_docs; i++) {
		uint32_t pl = get32(d + (size_t)i * SP_SHARD_DOC_ENTRY + 20);
		if (pl > prov_room - (text - i))
			SP_RAISE(err, SP_EDATA, "record's document %u has a bad id length", i);
		text += (size_t)pl + 1;
	}
	if (seq_reserve(seq, seq_len, n_docs, text) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (token_bytes == 2) {
		const uint16_t *t = (const uint16_t *)(const void *)(p + 8);
		for (uint32_t i = 0; i < seq_len; i++)
			seq->tokens[i] = t[i];
	} else {
		memcpy(seq->tokens, p + 8, (size_t)seq_len * 4);
	}
	if (vocab_size) {
		for (uint32_t i = 0; i < seq_len; i++)
			if (seq->tokens[i] >= vocab_size)
				SP_RAISE(err, SP_EDATA, "token %u at position %u is outside the vocabulary (%u)",
				         seq->tokens[i], i, vocab_size);
	}
	memset(seq->loss_mask, 1, n_valid);
	memset(seq->loss_mask + n_valid, 0, seq_len - n_valid);
	uint32_t at = 0;
	char *x = seq->text;
	for (uint32_t i = 0; i < n_docs; i++, d += SP_SHARD_DOC_ENTRY) {
		sp_seq_doc *sd = &seq->docs[i];
		sd->doc_index = get64(d) + doc_base;
		sd->start = get32(d + 8);
		sd->len = get32(d + 12);
		sd->doc_offset = get32(d + 16);
		uint32_t pl = get32(d + 20);
		if (sd->start != at || sd->len == 0 || sd->len > n_valid - at)
			SP_RAISE(err, SP_EDATA, "record's document pieces do not tile the sequence (piece %u at %u+%u)",
			         i, sd->start, sd->len);
		if (i > 0 && get64(d) <= get64(d - SP_SHARD_DOC_ENTRY))
			SP_RAISE(err, SP_EDATA, "record's document indexes are not increasing (piece %u)", i);
		if (i > 0 && sd->doc_offset != 0)
			SP_RAISE(err, SP_EDATA, "record's document piece %u does not start its document", i);
		at += sd->len;
		memcpy(x, s, pl);
		x[pl] = '\0';
		sd->doc_id = x;
		x += pl + 1;
		s += pl;
	}
	if (at != n_valid)
		SP_RAISE(err, SP_EDATA, "record's document pieces cover %u of %u tokens", at, n_valid);
	seq->len = seq_len;
	seq->n_valid = n_valid;
	seq->n_docs = n_docs;
	return 0;
}

void sp_seq_release(sp_seq *seq)
{
	if (!seq)
		return;
	sp_free(seq->tokens);
	sp_free(seq->loss_mask);
	sp_free(seq->docs);
	sp_free(seq->text);
	sp_seq z = SP_SEQ_INIT;
	*seq = z;
}

unsigned sp_hist_bucket(uint64_t len)
{
	unsigned b = 0;
	while (len > 1 && b < SP_HIST_BUCKETS - 1) {
		len >>= 1;
		b++;
	}
	return b;
}

/* ------------------------------------------------------------------ permutation */

uint64_t sp_mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

void sp_perm_init(sp_perm *p, uint64_t n, uint64_t seed)
{
	p->n = n;
	unsigned bits = 2;
	while (bits < 64 && (1ull << bits) < n)
		bits++;
	if (bits & 1)
		bits++;
	p->half_bits = bits / 2;
	p->half_mask = (1ull << p->half_bits) - 1;
	uint64_t k = seed;
	for (int i = 0; i < 4; i++) {
		k = sp_mix64(k + (uint64_t)i);
		p->key[i] = k;
	}
}

static uint64_t feistel(const sp_perm *p, uint64_t x)
{
	uint64_t l = x >> p->half_bits, r = x & p->half_mask;
	for (int i = 0; i < 4; i++) {
		uint64_t nl = r;
		r = l ^ (sp_mix64(r ^ p->key[i]) & p->half_mask);
		l = nl;
	}
	return (l << p->half_bits) | r;
}

uint64_t sp_perm_apply(const sp_perm *p, uint64_t i)
{
	uint64_t x = i;
	do
		x = feistel(p, x);
	while (x >= p->n);
	return x;
}
