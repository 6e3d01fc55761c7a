/* test_tok.c - unit tests of the tokenizer library (tok.h): loading both formats, errors on bad
 * files, published Llama 2 ids, byte fallback and decoding, thread safety, allocation failures.
 * The differential tests against HuggingFace and sentencepiece are in t_tok.sh. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "../../tokenizer/tok.h"
#include "../../tokenizer/tok_internal.h"
#include "spindle/mem.h"
#include "spindle/io.h"

#define LL_MODEL "../shared/llama2/tokenizer.model"
#define LL_JSON "../shared/llama2/tokenizer.json"
#define SMALL_MODEL "tests/fuzz/corpus/tok_model/bytes.model"

static tok_model *load(const char *path)
{
	if (access(path, R_OK) != 0)
		cr_skip_test("%s not found", path);
	tok_model *m = NULL;
	sp_err err = SP_ERR_INIT;
	int rc = tok_model_load(&m, path, &err);
	cr_assert_eq(rc, 0, "load %s: %s", path, err.msg);
	return m;
}

static size_t encode(const tok_model *m, const char *s, uint32_t *out, size_t cap)
{
	tok_ids ids = TOK_IDS_INIT;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(tok_encode(m, s, strlen(s), &ids, &err), 0, "%s", err.msg);
	size_t n = ids.n;
	memcpy(out, ids.v, (n < cap ? n : cap) * sizeof *out);
	tok_ids_release(&ids);
	return n;
}

Test(tok, llama2_hello_world_gives_the_published_ids)
{
	tok_model *m = load(LL_MODEL);
	uint32_t ids[8];
	cr_assert_eq(encode(m, "Hello world!", ids, 8), 3);
	cr_assert_eq(ids[0], 15043);
	cr_assert_eq(ids[1], 3186);
	cr_assert_eq(ids[2], 29991);
	cr_assert_eq(tok_vocab_size(m), 32000);
	cr_assert_eq(tok_unk_id(m), 0);
	cr_assert_eq(tok_bos_id(m), 1);
	cr_assert_eq(tok_eos_id(m), 2);
	cr_assert_eq(tok_pad_id(m), -1);
	tok_model_free(m);
}

Test(tok, json_and_model_of_one_tokenizer_have_the_same_identity)
{
	tok_model *a = load(LL_MODEL), *b = load(LL_JSON);
	cr_assert_eq(tok_identity(a), tok_identity(b));
	size_t la, lb;
	for (uint32_t i = 0; i < tok_vocab_size(a); i += 997)
		cr_assert_str_eq(tok_piece(a, i, &la), tok_piece(b, i, &lb));
	cr_assert_null(tok_piece(a, 32000, &la));
	tok_model_free(a);
	tok_model_free(b);
}

Test(tok, unknown_characters_fall_back_to_bytes_and_decode_back)
{
	tok_model *m = load(LL_MODEL);
	const char *s = "a \xF0\x9F\xA6\x84 b"; /* U+1F984, not a Llama 2 piece */
	uint32_t ids[32];
	size_t n = encode(m, s, ids, 32);
	int bytes = 0;
	for (size_t i = 0; i < n; i++)
		if (ids[i] >= 3 && ids[i] < 259)
			bytes++;
	cr_assert_eq(bytes, 4, "the 4 UTF-8 bytes of the emoji are byte pieces");
	sp_buf out = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(tok_decode(m, ids, n, &out, &err), 0);
	cr_assert_str_eq(out.p, s);
	sp_buf_release(&out);
	tok_model_free(m);
}

Test(tok, invalid_utf8_is_refused_with_its_offset)
{
	tok_model *m = load(LL_MODEL);
	tok_ids ids = TOK_IDS_INIT;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(tok_encode(m, "ab\xC3(", 4, &ids, &err), SP_EUTF8);
	cr_assert_eq(err.offset, 2);
	tok_ids_release(&ids);
	tok_model_free(m);
}

Test(tok, decode_refuses_ids_outside_the_vocabulary)
{
	tok_model *m = load(LL_MODEL);
	uint32_t ids[2] = { 15043, 32000 };
	sp_buf out = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(tok_decode(m, ids, 2, &out, &err), SP_EDATA);
	cr_assert(strstr(err.msg, "32000") != NULL);
	sp_buf_release(&out);
	tok_model_free(m);
}

Test(tok, control_ids_decode_to_nothing)
{
	tok_model *m = load(LL_MODEL);
	uint32_t ids[4] = { 1, 15043, 3186, 2 };
	sp_buf out = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(tok_decode(m, ids, 4, &out, &err), 0);
	cr_assert_str_eq(out.p, "Hello world");
	sp_buf_release(&out);
	tok_model_free(m);
}

Test(tok, every_truncation_of_a_model_is_an_error_or_a_model)
{
	sp_buf b = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	if (access(SMALL_MODEL, R_OK) != 0)
		cr_skip_test("no small model");
	cr_assert_eq(sp_read_file(SMALL_MODEL, &b, &err), 0);
	for (size_t n = 0; n < b.len; n += 7) {
		tok_model *m = NULL;
		int rc = tok_load_sp(&m, (const uint8_t *)b.p, n, "cut.model", &err);
		cr_assert(rc == 0 || rc == SP_EDATA, "length %zu: rc %d", n, rc);
		if (rc == SP_EDATA)
			cr_assert(strstr(err.msg, "cut.model") != NULL, "message names the file: %s", err.msg);
		tok_model_free(m);
	}
	sp_buf_release(&b);
}

Test(tok, a_tokenizer_json_with_a_bad_merge_is_refused)
{
	const char *j = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}";
	tok_model *m = NULL;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(tok_load_json(&m, j, strlen(j), "t.json", &err), SP_EDATA);
	cr_assert(strstr(err.msg, "merge 0") != NULL, "%s", err.msg);
	cr_assert_null(m);
}

Test(tok, failed_allocations_while_loading_return_enomem)
{
	sp_buf b = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	if (access(SMALL_MODEL, R_OK) != 0)
		cr_skip_test("no small model");
	cr_assert_eq(sp_read_file(SMALL_MODEL, &b, &err), 0);
	int ok = 0;
	for (unsigned long k = 1; k < 200 && !ok; k++) {
		tok_model *m = NULL;
		sp_mem_fail_at(k);
		int rc = tok_load_sp(&m, (const uint8_t *)b.p, b.len, "m", &err);
		sp_mem_fail_at(0);
		cr_assert(rc == 0 || rc == SP_ENOMEM, "allocation %lu: rc %d", k, rc);
		ok = rc == 0;
		tok_model_free(m);
	}
	cr_assert(ok, "loads once allocations stop failing");
	sp_buf_release(&b);
}

typedef struct th_arg { const tok_model *m; const char *text; tok_ids ids; } th_arg;

static void *th_encode(void *p)
{
	th_arg *a = p;
	for (int r = 0; r < 20; r++) {
		a->ids.n = 0;
		if (tok_encode(a->m, a->text, strlen(a->text), &a->ids, NULL) != 0)
			return p;
	}
	return NULL;
}

Test(tok, one_model_encodes_from_many_threads_at_once)
{
	tok_model *m = load(LL_MODEL);
	const char *text = "The quick brown fox jumps over the lazy dog. 日本語 1234 \xF0\x9F\x98\x80   spaces\tand tabs";
	th_arg a[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (th_arg){ m, text, TOK_IDS_INIT };
		cr_assert_eq(pthread_create(&t[i], NULL, th_encode, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		cr_assert_null(r);
	}
	for (int i = 1; i < 4; i++) {
		cr_assert_eq(a[i].ids.n, a[0].ids.n);
		cr_assert_eq(memcmp(a[i].ids.v, a[0].ids.v, a[0].ids.n * 4), 0);
	}
	for (int i = 0; i < 4; i++)
		tok_ids_release(&a[i].ids);
	tok_model_free(m);
}

Test(tok, a_long_run_of_byte_pieces_decodes_back_whole)
{
	tok_model *m = load(LL_MODEL);
	/* U+2E80 (3 bytes) then 20 emoji (4 bytes each), all byte fallback: a run of 83 byte pieces whose
	 * characters straddle any fixed-size buffer boundary */
	sp_buf s = SP_BUF_INIT;
	sp_buf_appends(&s, "\xE2\xBA\x80");
	for (int i = 0; i < 20; i++)
		sp_buf_appends(&s, "\xF0\x9F\xA6\x84");
	tok_ids ids = TOK_IDS_INIT;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(tok_encode(m, s.p, s.len, &ids, &err), 0);
	cr_assert_gt(ids.n, 80);
	sp_buf out = SP_BUF_INIT;
	cr_assert_eq(tok_decode(m, ids.v, ids.n, &out, &err), 0);
	cr_assert_eq(out.len, s.len);
	cr_assert_eq(memcmp(out.p, s.p, s.len), 0);
	sp_buf_release(&out);
	sp_buf_release(&s);
	tok_ids_release(&ids);
	tok_model_free(m);
}
