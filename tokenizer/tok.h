/* tok.h - the tokenizer's public interface, used by `spindle tok`, `spindle pack` (identity, BOS/EOS,
 * decoding sequences back to text) and `spindle train` (sampling, SFT/RM data, identity checks).
 *
 * A tok_model is a SentencePiece-BPE tokenizer loaded from a HuggingFace tokenizer.json or a
 * SentencePiece .model file; both forms of one tokenizer behave identically and have the same
 * identity (schemas/tokens.md). A loaded model is immutable: tok_encode and tok_decode may be called
 * from many threads at once on one model.
 * Ownership: tok_model_load returns a model the caller frees with tok_model_free (NULL is fine).
 * tok_ids is caller storage (TOK_IDS_INIT) released with tok_ids_release. */
#ifndef SPINDLE_TOK_H
#define SPINDLE_TOK_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/buf.h"

typedef struct tok_model tok_model;

typedef struct tok_ids { uint32_t *v; size_t n, cap; } tok_ids;
#define TOK_IDS_INIT { NULL, 0, 0 }
int tok_ids_push(tok_ids *ids, uint32_t id);
void tok_ids_release(tok_ids *ids);

/* Loads path: a tokenizer.json (HuggingFace) or a .model (SentencePiece ModelProto), told apart by
 * content. Corrupt, truncated or hostile files give SP_EDATA with a message naming the file. */
int tok_model_load(tok_model **out, const char *path, sp_err *err);
void tok_model_free(tok_model *m);

uint32_t tok_vocab_size(const tok_model *m);
int32_t tok_unk_id(const tok_model *m);  /* -1 when absent */
int32_t tok_bos_id(const tok_model *m);
int32_t tok_eos_id(const tok_model *m);
int32_t tok_pad_id(const tok_model *m);
uint64_t tok_identity(const tok_model *m); /* schemas/tokens.md, "Tokenizer identity" */
/* The piece of id (borrowed, valid while m lives), NULL if id is out of range. */
const char *tok_piece(const tok_model *m, uint32_t id, size_t *len);

/* Appends the ids of text[0..n) to out: no BOS/EOS (the caller adds them). Raw text never yields
 * control ids. Thread-safe. Returns 0, SP_EUTF8 (invalid UTF-8), SP_ENOMEM. */
int tok_encode(const tok_model *m, const char *text, size_t n, tok_ids *out, sp_err *err);
/* Appends the text of ids to out (control ids produce nothing; byte pieces are reassembled).
 * Returns 0 or SP_EDATA for an id outside the vocabulary. */
int tok_decode(const tok_model *m, const uint32_t *ids, size_t n, sp_buf *out, sp_err *err);

#endif
