/* pack_in.c - the documents `spindle pack` reads: token streams (schemas/tokens.md, concatenated
 * streams allowed) and JSONL arrays of ids / objects with "ids", from files or stdin, plain or
 * compressed (lib/io.c sniffs zstd/gzip). It checks framing only; ids against the vocabulary are
 * checked by the packer, which knows the vocabulary size. */
#include <stdio.h>
#include <string.h>
#include <json.h>
#include "pack.h"
#include "spindle/io.h"
#include "spindle/mem.h"

#define ID_MAX (1u << 20)

struct pack_in {
	const char *const *inputs; size_t n_inputs, next_input;
	sp_in *in;
	int borrowed;              /* in belongs to the caller (pack_in_stream) */
	int jsonl;                 /* current input is JSONL */
	uint64_t record, docs_in_stream;
	int stream_ended;          /* end record seen in the current token stream */
	pack_meta meta; int have_meta;
	uint64_t max_doc;
	uint32_t *ids; size_t cap_ids;
	sp_buf id, line, pending;
	uint64_t bytes_done;
};

static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int in_err(pack_in *p, int code, sp_err *err, const char *msg)
{
	sp_err_set_(err, code, __FILE__, __LINE__, "%s", msg);
	return sp_err_locate(err, sp_in_name(p->in), p->record);
}

/* Reads the rest of a token stream header (magic already read). */
static int read_header(pack_in *p, sp_err *err)
{
	unsigned char h[32];
	int rc = sp_in_read_full(p->in, h, sizeof h, err);
	if (rc)
		return in_err(p, SP_EDATA, err, "truncated token stream header");
	uint32_t version = get32(h), hlen = get32(h + 4);
	if (version != 1 || hlen < 40)
		return in_err(p, SP_EDATA, err, "unsupported token stream version or header length");
	for (uint32_t skip = hlen - 40; skip; skip--) {
		unsigned char c;
		if (sp_in_read_full(p->in, &c, 1, err))
			return in_err(p, SP_EDATA, err, "truncated token stream header");
	}
	pack_meta m;
	memset(&m, 0, sizeof m);
	m.vocab_size = get32(h + 8);
	m.bos_id = get32(h + 12);
	m.eos_id = get32(h + 16);
	m.flags = get32(h + 20);
	m.tokenizer_id = get64(h + 24);
	m.pad_id = m.unk_id = PACK_NO_ID;
	if (m.vocab_size == 0)
		return in_err(p, SP_EDATA, err, "token stream header has vocab_size 0");
	if (!p->have_meta) {
		p->meta = m;
		p->have_meta = 1;
	} else if (p->meta.vocab_size != m.vocab_size || p->meta.tokenizer_id != m.tokenizer_id ||
	           p->meta.bos_id != m.bos_id || p->meta.eos_id != m.eos_id || p->meta.flags != m.flags) {
		return in_err(p, SP_EDATA, err, "token stream made with another tokenizer or flags than the first input");
	}
	p->stream_ended = 0;
	p->docs_in_stream = 0;
	return 0;
}

static int open_next(pack_in *p, sp_err *err)
{
	sp_in_free(p->in);
	p->in = NULL;
	const char *name = p->n_inputs ? p->inputs[p->next_input] : "-";
	p->next_input++;
	SP_FORWARD(sp_in_open(&p->in, name, err));
	p->record = 0;
	sp_buf_reset(&p->pending);
	unsigned char magic[8];
	size_t got = 0, g;
	while (got < 8) {
		SP_FORWARD(sp_in_read(p->in, magic + got, 8 - got, &g, err));
		if (!g)
			break;
		got += g;
	}
	if (got == 8 && !memcmp(magic, "SPTOKS01", 8)) {
		p->jsonl = 0;
		return read_header(p, err);
	}
	p->jsonl = 1;
	p->stream_ended = 1;
	if (sp_buf_append(&p->pending, magic, got) < 0)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

int pack_in_open(pack_in **out, const char *const *inputs, size_t n_inputs, uint64_t max_doc_tokens, sp_err *err)
{
	pack_in *p = sp_calloc(1, sizeof *p);
	if (!p)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	p->inputs = inputs;
	p->n_inputs = n_inputs;
	p->max_doc = max_doc_tokens ? max_doc_tokens : (1ull << 28);
	p->meta.bos_id = p->meta.eos_id = p->meta.pad_id = p->meta.unk_id = PACK_NO_ID;
	int rc = open_next(p, err);
	if (rc) {
		pack_in_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int pack_in_stream(pack_in **out, sp_in *in, uint64_t max_doc_tokens, sp_err *err)
{
	pack_in *p = sp_calloc(1, sizeof *p);
	if (!p)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	p->in = in;
	p->borrowed = 1;
	p->next_input = p->n_inputs = 1; /* this one input only */
	p->max_doc = max_doc_tokens ? max_doc_tokens : (1ull << 28);
	p->meta.bos_id = p->meta.eos_id = p->meta.pad_id = p->meta.unk_id = PACK_NO_ID;
	int rc = read_header(p, err);
	if (rc) {
		pack_in_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

const pack_meta *pack_in_meta(const pack_in *p) { return &p->meta; }

static int ensure_ids(pack_in *p, size_t n)
{
	if (p->cap_ids >= n)
		return 0;
	size_t c = p->cap_ids ? p->cap_ids : 4096;
	while (c < n)
		c *= 2;
	uint32_t *v = sp_realloc(p->ids, c * sizeof *v);
	if (!v)
		return SP_ENOMEM;
	p->ids = v;
	p->cap_ids = c;
	return 0;
}

/* One line of JSONL, with the sniffed prefix (pending) served first. */
static int get_line(pack_in *p, sp_err *err)
{
	if (p->pending.len) {
		char *nl = memchr(p->pending.p, '\n', p->pending.len);
		sp_buf_reset(&p->line);
		if (nl) {
			size_t k = (size_t)(nl - p->pending.p);
			if (sp_buf_append(&p->line, p->pending.p, k) < 0)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			memmove(p->pending.p, nl + 1, p->pending.len - k - 1);
			p->pending.len -= k + 1;
			return 1;
		}
		sp_buf tail = SP_BUF_INIT;
		int rc = sp_in_getline(p->in, &tail, err);
		if (rc < 0) {
			sp_buf_release(&tail);
			return rc;
		}
		rc = sp_buf_append(&p->line, p->pending.p, p->pending.len);
		if (rc == 0 && tail.len)
			rc = sp_buf_append(&p->line, tail.p, tail.len);
		sp_buf_release(&tail);
		sp_buf_reset(&p->pending);
		if (rc < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		return 1;
	}
	return sp_in_getline(p->in, &p->line, err);
}

static int next_jsonl(pack_in *p, pack_doc *doc, sp_err *err)
{
	for (;;) {
		int rc = get_line(p, err);
		if (rc <= 0)
			return rc;
		p->record++;
		size_t i = 0;
		while (i < p->line.len && (p->line.p[i] == ' ' || p->line.p[i] == '\t' || p->line.p[i] == '\r'))
			i++;
		if (i == p->line.len)
			continue;
		json_tokener *tk = json_tokener_new();
		if (!tk)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		json_object *o = json_tokener_parse_ex(tk, p->line.p, (int)p->line.len);
		int ok = o && json_tokener_get_error(tk) == json_tokener_success;
		json_tokener_free(tk);
		json_object *arr = o, *idv = NULL;
		if (ok && json_object_is_type(o, json_type_object)) {
			if (!json_object_object_get_ex(o, "ids", &arr))
				arr = NULL;
			json_object_object_get_ex(o, "id", &idv);
		}
		if (!ok || !arr || !json_object_is_type(arr, json_type_array)) {
			json_object_put(o);
			return in_err(p, SP_EDATA, err, "expected a JSON array of token ids or an object with \"ids\"");
		}
		size_t n = json_object_array_length(arr);
		if (n > p->max_doc) {
			json_object_put(o);
			return in_err(p, SP_EDATA, err, "document longer than --max-doc-tokens");
		}
		if (ensure_ids(p, n ? n : 1) < 0) {
			json_object_put(o);
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
		for (size_t k = 0; k < n; k++) {
			json_object *e = json_object_array_get_idx(arr, k);
			int64_t v = json_object_is_type(e, json_type_int) ? json_object_get_int64(e) : -1;
			if (v < 0 || v > 0xFFFFFFFELL) {
				json_object_put(o);
				return in_err(p, SP_EDATA, err, "token ids must be integers in [0, 2^32-1)");
			}
			p->ids[k] = (uint32_t)v;
		}
		sp_buf_reset(&p->id);
		if (idv && !json_object_is_type(idv, json_type_null)) {
			const char *s = json_object_get_string(idv);
			if (sp_buf_appends(&p->id, s) < 0) {
				json_object_put(o);
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			}
		}
		json_object_put(o);
		doc->ids = p->ids;
		doc->n = n;
		doc->id = p->id.p ? p->id.p : "";
		doc->id_len = p->id.len;
		doc->input = sp_in_name(p->in);
		doc->record = p->record;
		return 1;
	}
}

static int next_stream(pack_in *p, pack_doc *doc, sp_err *err)
{
	for (;;) {
		if (p->stream_ended) {
			/* Another concatenated stream, or the end of this input. */
			unsigned char magic[8];
			size_t got = 0, g;
			while (got < 8) {
				SP_FORWARD(sp_in_read(p->in, magic + got, 8 - got, &g, err));
				if (!g)
					break;
				got += g;
			}
			if (got == 0)
				return 0;
			if (got < 8 || memcmp(magic, "SPTOKS01", 8))
				return in_err(p, SP_EDATA, err, "unexpected bytes after the token stream's end record");
			SP_FORWARD(read_header(p, err));
			continue;
		}
		unsigned char h[8];
		size_t got = 0, g;
		while (got < 4) {
			SP_FORWARD(sp_in_read(p->in, h + got, 4 - got, &g, err));
			if (!g)
				break;
			got += g;
		}
		char what[96];
		if (got < 4) {
			snprintf(what, sizeof what, "truncated token stream after document %llu", (unsigned long long)p->docs_in_stream);
			return in_err(p, SP_EDATA, err, what);
		}
		uint32_t n = get32(h);
		if (n == 0xFFFFFFFFu) {
			unsigned char c[8];
			if (sp_in_read_full(p->in, c, 8, err))
				return in_err(p, SP_EDATA, err, "truncated token stream end record");
			if (get64(c) != p->docs_in_stream) {
				snprintf(what, sizeof what, "token stream end record says %llu documents, %llu were read",
				         (unsigned long long)get64(c), (unsigned long long)p->docs_in_stream);
				return in_err(p, SP_EDATA, err, what);
			}
			p->stream_ended = 1;
			continue;
		}
		p->record++;
		p->docs_in_stream++;
		if (sp_in_read_full(p->in, h + 4, 4, err)) {
			snprintf(what, sizeof what, "truncated token stream in document %llu", (unsigned long long)p->docs_in_stream);
			return in_err(p, SP_EDATA, err, what);
		}
		uint32_t id_len = get32(h + 4);
		if (id_len > ID_MAX)
			return in_err(p, SP_EDATA, err, "document id longer than 1 MiB (corrupt stream?)");
		if (n > p->max_doc)
			return in_err(p, SP_EDATA, err, "document longer than --max-doc-tokens");
		sp_buf_reset(&p->id);
		if (sp_buf_grow(&p->id, id_len) < 0 || ensure_ids(p, n ? n : 1) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		if ((id_len && sp_in_read_full(p->in, p->id.p, id_len, err)) ||
		    (n && sp_in_read_full(p->in, p->ids, (size_t)n * 4, err))) {
			snprintf(what, sizeof what, "truncated token stream in document %llu", (unsigned long long)p->docs_in_stream);
			return in_err(p, SP_EDATA, err, what);
		}
		p->id.len = id_len;
		p->id.p[id_len] = '\0';
		doc->ids = p->ids;
		doc->n = n;
		doc->id = p->id.p;
		doc->id_len = id_len;
		doc->input = sp_in_name(p->in);
		doc->record = p->record;
		return 1;
	}
}

int pack_in_next(pack_in *p, pack_doc *doc, sp_err *err)
{
	for (;;) {
		int rc = p->jsonl ? next_jsonl(p, doc, err) : next_stream(p, doc, err);
		if (rc != 0)
			return rc;
		if (p->next_input >= p->n_inputs)
			return 0;
		p->bytes_done += sp_in_raw_bytes(p->in);
		SP_FORWARD(open_next(p, err));
	}
}

uint64_t pack_in_bytes(const pack_in *p) { return p->bytes_done + (p->in ? sp_in_raw_bytes(p->in) : 0); }

void pack_in_free(pack_in *p)
{
	if (!p)
		return;
	if (!p->borrowed)
		sp_in_free(p->in);
	sp_free(p->ids);
	sp_buf_release(&p->id);
	sp_buf_release(&p->line);
	sp_buf_release(&p->pending);
	sp_free(p);
}
