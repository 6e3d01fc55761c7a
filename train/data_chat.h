/* data_chat.h - Llama 2 chat formatting of annotate's dialogs into token ids (data_chat.c). */
#ifndef SPINDLE_TRAIN_DATA_CHAT_H
#define SPINDLE_TRAIN_DATA_CHAT_H

#include <json.h>
#include "../tokenizer/tok.h"

/* Appends the dialog (system?, user, assistant, ..., user) as BOS [INST] ... [/INST] turns; earlier
 * assistant turns end with EOS. Returns 0, SP_EDATA (malformed dialog, message says which turn). */
int chat_encode_dialog(const tok_model *tok, json_object *dialog, tok_ids *out, sp_err *err);
/* As chat_encode_dialog; when spans is not NULL, appends [start, end) of each assistant turn's
 * tokens (its text and EOS) in out, as pairs (offsets must fit 32 bits). */
int chat_encode_dialog_spans(const tok_model *tok, json_object *dialog, tok_ids *out, tok_ids *spans, sp_err *err);
/* Appends an assistant response and EOS. */
int chat_encode_response(const tok_model *tok, const char *text, size_t n, tok_ids *out, sp_err *err);

#endif
