/* pack_tok.c - the only place pack/ touches the tokenizer (tokenizer/tok.h): its identity and
 * special ids for the manifest, and decoding for `spindle shards cat`. */
#include "pack.h"
#include "../tokenizer/tok.h"

struct pack_tok { tok_model *m; };

int pack_tok_load(pack_tok **out, const char *path, sp_err *err)
{
	tok_model *m;
	SP_FORWARD(tok_model_load(&m, path, err));
	pack_tok *t = (pack_tok *)m; /* the wrapper is the model itself: no allocation needed */
	*out = t;
	return 0;
}

static uint32_t id_or_none(int32_t id) { return id < 0 ? PACK_NO_ID : (uint32_t)id; }

void pack_tok_meta(const pack_tok *t, pack_meta *m)
{
	const tok_model *tm = (const tok_model *)t;
	m->vocab_size = tok_vocab_size(tm);
	m->bos_id = id_or_none(tok_bos_id(tm));
	m->eos_id = id_or_none(tok_eos_id(tm));
	m->pad_id = id_or_none(tok_pad_id(tm));
	m->unk_id = id_or_none(tok_unk_id(tm));
	m->flags = 0;
	m->tokenizer_id = tok_identity(tm);
}

int pack_tok_decode(const pack_tok *t, const uint32_t *ids, size_t n, sp_buf *out, sp_err *err)
{
	return tok_decode((const tok_model *)t, ids, n, out, err);
}

void pack_tok_free(pack_tok *t)
{
	tok_model_free((tok_model *)t);
}
