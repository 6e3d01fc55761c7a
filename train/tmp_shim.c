/* tmp_shim.c - TEMPORARY stand-ins for the shard reader (branch `pack`) and the tokenizer (branch
 * `tok`) so `spindle train` links before they are merged into main. Every call fails with a clear
 * message. DELETE THIS FILE when merging main with pack and tok. */
#include "../tokenizer/tok.h"
#include "spindle/mem.h"
#include "spindle/shards.h"

int sp_shards_open(sp_shards **out, const char *dir, unsigned prefetch, sp_err *err)
{
	(void)out; (void)prefetch;
	SP_RAISE(err, SP_EUSAGE, "%s: the shard reader is not in this build yet (stub until pack is merged)", dir);
}
void sp_shards_info_get(const sp_shards *s, sp_shards_info *info) { (void)s; (void)info; }
int sp_shards_seek(sp_shards *s, const sp_shards_cursor *c, sp_err *err) { (void)s; (void)c; SP_RAISE(err, SP_EUSAGE, "stub"); }
int sp_shards_next(sp_shards *s, sp_seq *q, sp_err *err) { (void)s; (void)q; SP_RAISE(err, SP_EUSAGE, "stub"); }
void sp_shards_tell(const sp_shards *s, sp_shards_cursor *c) { (void)s; (void)c; }
void sp_seq_release(sp_seq *q) { (void)q; }
void sp_shards_close(sp_shards *s) { (void)s; }

int tok_model_load(tok_model **out, const char *path, sp_err *err)
{
	(void)out;
	SP_RAISE(err, SP_EUSAGE, "%s: the tokenizer is not in this build yet (stub until tok is merged)", path);
}
void tok_model_free(tok_model *m) { (void)m; }
uint32_t tok_vocab_size(const tok_model *m) { (void)m; return 0; }
int32_t tok_bos_id(const tok_model *m) { (void)m; return -1; }
int32_t tok_eos_id(const tok_model *m) { (void)m; return -1; }
uint64_t tok_identity(const tok_model *m) { (void)m; return 0; }
int tok_encode(const tok_model *m, const char *t, size_t n, tok_ids *o, sp_err *err)
{
	(void)m; (void)t; (void)n; (void)o;
	SP_RAISE(err, SP_EUSAGE, "stub");
}
int tok_decode(const tok_model *m, const uint32_t *ids, size_t n, sp_buf *o, sp_err *err)
{
	(void)m; (void)ids; (void)n; (void)o;
	SP_RAISE(err, SP_EUSAGE, "stub");
}
int tok_ids_push(tok_ids *ids, uint32_t id)
{
	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? 2 * ids->cap : 64;
		uint32_t *v = sp_realloc(ids->v, cap * sizeof *v);
		if (!v)
			return SP_ENOMEM;
		ids->v = v;
		ids->cap = cap;
	}
	ids->v[ids->n++] = id;
	return 0;
}
void tok_ids_release(tok_ids *ids) { sp_free(ids->v); ids->v = NULL; ids->n = ids->cap = 0; }
