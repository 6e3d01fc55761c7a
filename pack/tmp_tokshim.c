/* tmp_tokshim.c - TEMPORARY stub of tokenizer/tok.h so pack links before the real tokenizer (branch
 * `tok`) lands in main. Delete this file when merging main with the tokenizer. Loading always fails
 * with a clear message; pack works from the token stream header alone until then. */
#include "../tokenizer/tok.h"
#include "spindle/mem.h"

int tok_model_load(tok_model **out, const char *path, sp_err *err)
{
	(void)out;
	sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "tokenizer not available in this build (stub)");
	return sp_err_locate(err, path, 0);
}
void tok_model_free(tok_model *m) { (void)m; }
uint32_t tok_vocab_size(const tok_model *m) { (void)m; return 0; }
int32_t tok_unk_id(const tok_model *m) { (void)m; return -1; }
int32_t tok_bos_id(const tok_model *m) { (void)m; return -1; }
int32_t tok_eos_id(const tok_model *m) { (void)m; return -1; }
int32_t tok_pad_id(const tok_model *m) { (void)m; return -1; }
uint64_t tok_identity(const tok_model *m) { (void)m; return 0; }
int tok_decode(const tok_model *m, const uint32_t *ids, size_t n, sp_buf *out, sp_err *err)
{
	(void)m; (void)ids; (void)n; (void)out;
	SP_RAISE(err, SP_EUSAGE, "tokenizer not available in this build (stub)");
}
