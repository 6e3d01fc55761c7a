/* ckpt.h - checkpoints: the model as safetensors under HuggingFace Llama names plus a config.json
 * (LlamaForCausalLM, or LlamaForSequenceClassification for a reward model), so transformers loads
 * it; the optimizer moments in optimizer.safetensors; the trainer state (step, RNG, data cursor,
 * spike statistics) in trainer_state.json, written last: a checkpoint without it is incomplete.
 * Every file is written atomically (temp, fsync, rename). */
#ifndef SPINDLE_TRAIN_CKPT_H
#define SPINDLE_TRAIN_CKPT_H

#include "model.h"
#include "safetensors.h"

/* HF name of tensor kind i of layer l into buf. */
void model_tensor_name(const model *m, int i, int layer, char *buf, size_t n);
/* Adds every tensor of arena (params, grads or a moment, laid out like m->params) to w, names
 * prefixed by prefix ("" for the model itself). */
int model_add_tensors(st_writer *w, const model *m, const float *arena, const char *prefix, sp_err *err);
/* Reads every tensor of arena from f (names prefixed). With skip_missing, tensors absent from f are
 * left as they are and counted in *n_missing (for --init-from a checkpoint without a reward head). */
int model_read_tensors(const st_file *f, const model *m, float *arena, const char *prefix, int skip_missing,
                       size_t *n_missing, const char *file, sp_err *err);

/* Writes dir/config.json for cfg (tokenizer identity and special ids recorded as spindle_* keys). */
int ckpt_write_config(const char *dir, const model_config *cfg, uint64_t tokenizer_id, int bos, int eos, sp_err *err);
/* Reads dir/config.json. */
int ckpt_read_config(const char *dir, model_config *cfg, uint64_t *tokenizer_id, sp_err *err);
/* Writes dir/model.safetensors and dir/config.json. */
int ckpt_save_model(const char *dir, const model *m, uint64_t tokenizer_id, int bos, int eos, sp_err *err);
/* The same, model.safetensors stamped with a checkpoint id (NULL: none; see trainer_save). */
int ckpt_save_model_stamped(const char *dir, const model *m, uint64_t tokenizer_id, int bos, int eos, const char *stamp,
                            sp_err *err);
/* Loads weights from dir/model.safetensors (or a .safetensors path), or from the files that
 * dir/model.safetensors.index.json lists (a sharded HuggingFace checkpoint), into m, whose config must
 * match. */
int ckpt_load_model(const char *path, model *m, int skip_missing, size_t *n_missing, sp_err *err);

#endif
