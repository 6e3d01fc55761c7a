/* fuzz_tok_model.c - hostile tokenizer files: the SentencePiece ModelProto reader and the
 * tokenizer.json loader must reject or load any bytes without crashing; a model that loads must
 * encode and decode text. The first byte picks the loader ('{' = JSON, as tok_model_load sniffs). */
#include <stdint.h>
#include <stddef.h>
#include "../../tokenizer/tok_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_err err = SP_ERR_INIT;
	tok_model *m = NULL;
	int rc = size && data[0] == '{' ? tok_load_json(&m, (const char *)data, size, "fuzz", &err)
	                                : tok_load_sp(&m, data, size, "fuzz", &err);
	if (rc == 0) {
		static const char text[] = "Hello  world!\t\xE6\x97\xA5\xE6\x9C\xAC 123 \xF0\x9F\x98\x80 foo";
		tok_ids ids = TOK_IDS_INIT;
		if (tok_encode(m, text, sizeof text - 1, &ids, &err) == 0) {
			sp_buf out = SP_BUF_INIT;
			tok_decode(m, ids.v, ids.n, &out, &err);
			sp_buf_release(&out);
		}
		(void)tok_identity(m);
		sp_buf w = SP_BUF_INIT;
		tok_write_sp(m, &w, &err);
		sp_buf_release(&w);
		tok_ids_release(&ids);
		tok_model_free(m);
	}
	return 0;
}
