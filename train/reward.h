/* reward.h - reward-model scoring for RLHF (issue 13): loading a reward model (a reward_head=1
 * checkpoint, its tokenizer identity checked), scoring dialog + response sequences in batches, and
 * Llama 2's combination of a helpfulness and a safety model (section 3.2.2: R_c = R_s when the prompt
 * is tagged safety or R_s < 0.15, else R_h), plus batch whitening. The prompt set (rl_prompts) maps
 * annotate prompt records to their chat tokens and category. Used by `spindle train score|rs|ppo`.
 * Ownership: reward_model, rl_prompts are caller storage released with their _release. */
#ifndef SPINDLE_TRAIN_REWARD_H
#define SPINDLE_TRAIN_REWARD_H

#include <json.h>
#include <stdint.h>
#include "../tokenizer/tok.h"
#include "model.h"
#include "spindle/buf.h"

/* ---------------------------------------------------------------- the gate (pure maths) */
#define REWARD_SAFETY_THRESHOLD 0.15
double reward_sigmoid(double s);
/* logit(p) = log(p / (1 - p)), with p clamped into [1e-12, 1 - 1e-12]. */
double reward_logit(double p);
/* Llama 2's gate: has_h/has_s say which scores exist. Both: R_s when is_safety or R_s < thresh, else
 * R_h; one: that one. Returns NaN when neither. */
double reward_gate(int has_h, double r_h, int has_s, double r_s, int is_safety, double thresh);
/* Whitens x[0..n) in place: (x - mean) / sqrt(var + eps), var the population variance (divided by n,
 * not n - 1). n == 1 gives 0. Statistics in double. */
void reward_whiten(float *x, size_t n, double eps);

/* Best-of-k over n prompts' K rewards each (r[i*K + j], sample order): the mean over prompts of the
 * max and of the median (mean of the two middle values for even k) of each prompt's first k samples. */
void reward_best_of_k(const double *r, size_t n, int K, int k, double *mean_max, double *mean_median);

/* ---------------------------------------------------------------- reward models */
typedef struct reward_model {
	model m;
	int B;                   /* rows per forward */
	int32_t *inputs, *targets, *pos, *last;
	char dir[512];
} reward_model;

/* Loads the reward model in dir for up to B rows per forward. Refuses (SP_EDATA, naming dir) a
 * checkpoint without a reward head and one whose tokenizer identity differs from tok's. */
int reward_open(reward_model *rm, const char *dir, const tok_model *tok, int B, sp_err *err);
void reward_release(reward_model *rm);
/* Raw scores s (before the sigmoid) of n token sequences seqs[i] (dialog + response + EOS), read at
 * each sequence's last token; a sequence longer than the context keeps its last tokens (as `train rm`).
 * Empty sequences score 0. */
void reward_score(reward_model *rm, const tok_ids *const *seqs, size_t n, float *out);

/* Both of Llama 2's reward models (either may be absent) and the gate's threshold. */
typedef struct reward_set {
	reward_model h, s;
	int has_h, has_s;
	double thresh;
} reward_set;

/* Opens the models whose folders are given (NULL: absent; at least one is required). */
int reward_set_open(reward_set *rs, const char *helpful_dir, const char *safety_dir, const tok_model *tok, int B,
                    double thresh, sp_err *err);
void reward_set_release(reward_set *rs);
/* Scores n sequences: r_h, r_s = sigmoid of each model's score (NaN when that model is absent), r_c the
 * gate's combination for the prompt's is_safety[i]. Any output array may be NULL. Returns 0 or SP_ENOMEM. */
int reward_set_score(reward_set *rs, const tok_ids *const *seqs, const int *is_safety, size_t n, double *r_h,
                     double *r_s, double *r_c, sp_err *err);
/* Appends ,"scores":{"helpful":..,"safety":..,"combined":..} (absent models' keys left out) to a JSON
 * object under construction in buf. */
int reward_scores_append(const reward_set *rs, sp_buf *buf, double r_h, double r_s, double r_c);

/* ---------------------------------------------------------------- prompt sets */
typedef struct rl_prompt {
	char *id;
	int safety;              /* category "safety" */
	tok_ids ids;             /* BOS [INST] ... [/INST] chat tokens of the dialog */
	json_object *dialog;     /* held reference */
	char *category;
} rl_prompt;

typedef struct rl_prompts {
	rl_prompt *v;
	size_t n, cap;
	size_t *order;           /* indices sorted by id */
} rl_prompts;

/* Reads annotate prompt records (annotate-prompt.schema.json) from path, chat-encoding each dialog.
 * A bad line is SP_EDATA located at path:line; a duplicate id and an empty file are errors too. */
int rl_prompts_load(rl_prompts *p, const char *path, const tok_model *tok, sp_err *err);
/* The prompt with this id or NULL. Borrowed. */
const rl_prompt *rl_prompts_find(const rl_prompts *p, const char *id);
void rl_prompts_release(rl_prompts *p);

#endif
