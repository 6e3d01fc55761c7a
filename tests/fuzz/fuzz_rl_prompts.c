/* fuzz_rl_prompts.c - fuzz target: arbitrary bytes as a prompt file for `train score|rs|ppo`
 * (train/reward.c rl_prompts_load: JSONL records, categories, Llama 2 chat encoding of the dialogs,
 * duplicate ids), with a small embedded tokenizer. On success every prompt must be found by its id
 * and hold at least its [INST] tokens; on failure nothing may leak (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../tokenizer/tok_internal.h"
#include "../../train/reward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char model_json[] =
	"{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2,"
	"\"\\u2581\":3,\"a\":4,\"[\":5,\"]\":6,\"I\":7,\"N\":8,\"S\":9,\"T\":10,\"/\":11,\"<\":12,\">\":13,\"Y\":14},"
	"\"merges\":[]},\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"},"
	"{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]},\"pre_tokenizer\":null}";

static tok_model *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_err err = SP_ERR_INIT;
	if (!tok && tok_load_json(&tok, model_json, sizeof model_json - 1, "embedded", &err) != 0)
		abort();
	char path[64];
	snprintf(path, sizeof path, "/tmp/fuzz-rl-prompts-%ld.jsonl", (long)getpid());
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	rl_prompts ps;
	if (rl_prompts_load(&ps, path, tok, &err) == 0) {
		if (ps.n == 0)
			abort(); /* an empty set is an error, never a success */
		for (size_t i = 0; i < ps.n; i++)
			if (rl_prompts_find(&ps, ps.v[i].id) != &ps.v[i] || ps.v[i].ids.n == 0)
				abort();
		rl_prompts_release(&ps);
	}
	unlink(path);
	return 0;
}
