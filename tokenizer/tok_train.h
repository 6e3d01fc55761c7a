/* tok_train.h - a SentencePiece-BPE trainer (`spindle tok train`): sentences in, a tok_model out
 * (written as a .model that Debian's spm_encode loads). SentencePiece's semantics for Llama 2's
 * settings: identity normalization with dummy prefix and escaped whitespace, words split before
 * "▁" (whitespace runs stay with the next word), pieces valid by SentencePiece's rules (one Unicode
 * script, "▁" only as a prefix or in whitespace-only pieces, digits alone with split_digits, at most
 * max_piece_len characters, no tab), character_coverage picking the required characters, byte
 * fallback pieces, user-defined symbols. Merges are exact greedy BPE (always the most frequent valid
 * pair; ties: shorter piece, then smaller bytes), where spm_train approximates with an active set.
 * Ownership: tok_trainer_new allocates, tok_trainer_free frees; tok_trainer_finish returns a model
 * the caller frees with tok_model_free. Not thread-safe: one trainer per thread, joined with
 * tok_trainer_absorb. */
#ifndef SPINDLE_TOK_TRAIN_H
#define SPINDLE_TOK_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "tok.h"

typedef struct tok_train_opts {
	uint32_t vocab_size;
	double character_coverage;    /* 0.99995 for Llama 2 */
	int byte_fallback, split_digits, allow_ws_only, add_dummy_prefix, remove_extra_ws;
	int max_piece_len;            /* characters; 16 */
	size_t max_sentence_len;      /* bytes; longer sentences are skipped (spm_train: 4192) */
	const char *const *user_symbols; size_t n_user;
} tok_train_opts;

/* Llama 2's settings. */
void tok_train_opts_default(tok_train_opts *o);

typedef struct tok_trainer tok_trainer;
int tok_trainer_new(tok_trainer **out, const tok_train_opts *o, sp_err *err);
/* Adds one sentence (a line, without its newline; must be valid UTF-8). Returns 0, SP_EUTF8, SP_ENOMEM. */
int tok_trainer_add(tok_trainer *t, const char *s, size_t n, sp_err *err);
/* Adds src's word counts into dst (trainers fed by different threads). src is unchanged. */
int tok_trainer_absorb(tok_trainer *dst, tok_trainer *src, sp_err *err);
/* Counts for reporting. */
void tok_trainer_counts(const tok_trainer *t, uint64_t *sentences, uint64_t *skipped, uint64_t *words);
/* Learns the vocabulary and returns the model. */
int tok_trainer_finish(tok_trainer *t, tok_model **out, sp_err *err);
void tok_trainer_free(tok_trainer *t);

#endif
