/* cli_rl.c - what `spindle train rs` and `train ppo` share: loading the policy (refusing a reward
 * model and a different tokenizer by name) and turning generated tokens into the text and tokens the
 * reward models score (the text as written to records, re-encoded, so `train score` on the records
 * gives the same scores). */
#include <stdio.h>
#include <string.h>
#include "../cli/cli.h"
#include "ckpt.h"
#include "data_chat.h"
#include "spindle/utf8.h"
#include "cli_int.h"

int rl_load_policy(const char *prog, const char *dir, const tok_model *tok, int B, int T, model *m, int *code)
{
	sp_err err = SP_ERR_INIT;
	model_config c;
	uint64_t tid = 0;
	if (ckpt_read_config(dir, &c, &tid, &err) < 0) {
		*code = cli_fail(prog, &err);
		return -1;
	}
	if (c.reward_head) {
		*code = cli_failf(prog, CLI_REJECTED, "%s: is a reward model, not a policy (a language model checkpoint is needed)", dir);
		return -1;
	}
	if (tid && tid != tok_identity(tok)) {
		*code = cli_failf(prog, CLI_REJECTED, "%s: the policy's tokenizer identity %016llx differs from the tokenizer's %016llx", dir,
		                  (unsigned long long)tid, (unsigned long long)tok_identity(tok));
		return -1;
	}
	if (tok_vocab_size(tok) > (uint32_t)c.vocab_size) {
		*code = cli_failf(prog, CLI_REJECTED, "%s: the tokenizer has more tokens than the policy", dir);
		return -1;
	}
	uint64_t t2;
	return load_model_dir(prog, dir, B, T, m, &t2, code);
}

int rl_clean_text(const char *p, size_t n, sp_buf *out)
{
	sp_buf_reset(out);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = sp_utf8_decode(p + i, n - i, &cp);
		if (k) {
			sp_buf_append(out, p + i, k);
			i += k;
		} else {
			sp_buf_appends(out, "\xEF\xBF\xBD");
			i++;
		}
	}
	return sp_buf_appends(out, "");
}
