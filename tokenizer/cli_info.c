/* cli_info.c - `spindle tok info`: vocabulary size, special ids, settings and identity of a tokenizer. */
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "tok.h"
#include "tok_internal.h"
#include "tok_train.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/pmap.h"
#include "spindle/utf8.h"
#include "cli_int.h"

int tok_cmd_info(int argc, char **argv)
{
	const char *prog = "spindle tok info", *model = NULL;
	const sp_opt table[] = {
		{ "model", 'm', SP_OPT_STR, &model, "MODEL", "tokenizer.json or SentencePiece .model", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok info -m MODEL", "Prints the tokenizer's vocabulary size, special ids, settings and identity.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (!model && n_pos == 1)
		model = pos[0];
	if (!model) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "-m MODEL is required");
	}
	sp_err err = SP_ERR_INIT;
	tok_model *m = NULL;
	if (tok_model_load(&m, model, &err) < 0) {
		sp_free(pos);
		return cli_fail(prog, &err);
	}
	const tok_spec *s = &m->spec;
	size_t counts[7] = { 0 };
	for (uint32_t i = 0; i < m->n; i++)
		if (m->type[i] >= 1 && m->type[i] <= 6)
			counts[m->type[i]]++;
	printf("model: %s\n", model);
	printf("format: %s\n", m->from_json ? "tokenizer.json (HuggingFace)" : "SentencePiece ModelProto");
	printf("type: BPE\n");
	printf("vocab_size: %u\n", m->n);
	printf("pieces: normal %zu, byte %zu, control %zu, unknown %zu, user_defined %zu, unused %zu\n", counts[1],
	       counts[6], counts[3], counts[2], counts[4], counts[5]);
	printf("merge_rules: %zu\n", m->pairs.n);
	printf("unk_id: %d\nbos_id: %d\neos_id: %d\npad_id: %d\n", m->unk, m->bos, m->eos, m->pad);
	printf("normalizer: %s%s\n", s->norm_name, m->trie ? " (precompiled charsmap)" : "");
	printf("add_dummy_prefix: %s\nremove_extra_whitespaces: %s\nescape_whitespaces: %s\n",
	       s->add_dummy_prefix ? "true" : "false", s->remove_extra_ws ? "true" : "false", s->escape_ws ? "true" : "false");
	printf("byte_fallback: %s\n", s->byte_fallback ? "true" : "false");
	if (!m->from_json) {
		printf("split_digits: %s\n", s->split_digits ? "true" : "false");
		printf("character_coverage: %g\n", s->character_coverage);
		printf("allow_whitespace_only_pieces: %s\n", s->allow_ws_only ? "true" : "false");
		printf("treat_whitespace_as_suffix: %s\n", s->treat_ws_suffix ? "true" : "false");
		printf("max_sentencepiece_length: %d\n", s->max_piece_len);
	}
	if (m->hf_split_ws)
		printf("pre_tokenizer: Metaspace (split)\n");
	printf("identity: %016llx\n", (unsigned long long)tok_identity(m));
	tok_model_free(m);
	sp_free(pos);
	return 0;
}
