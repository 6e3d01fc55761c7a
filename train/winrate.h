/* winrate.h - model-based evaluation from scored response files (records of
 * schemas/annotate-response.schema.json plus "scores": {"helpful", "safety", "combined"}, the
 * sigmoid of each reward model's score, as `spindle train score` writes them): the RM-judged win
 * rate of one system against another over the same prompts, and a reward model's calibration
 * against the human ratings of an evaluation study (`spindle annotate export --format eval`).
 * Ownership: wr_set and wr_prompts are caller storage (zero = empty), emptied by their _release. */
#ifndef SPINDLE_TRAIN_WINRATE_H
#define SPINDLE_TRAIN_WINRATE_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"

typedef struct wr_rec { char *prompt_id, *system; double score; size_t line; } wr_rec;
typedef struct wr_set { wr_rec *r; size_t n, cap; } wr_set;

/* Reads a scored response file, taking scores.<key> of each record (sorted by prompt id, then
 * system). SP_EDATA naming FILE:LINE for a record that is not a response, lacks the score (or it is
 * not a number in [0, 1]), or repeats a prompt id for the same system. */
int wr_load(const char *path, const char *key, wr_set *s, sp_err *err);
void wr_set_release(wr_set *s);
/* The record of prompt_id (and system, when not NULL), or NULL. */
const wr_rec *wr_find(const wr_set *s, const char *prompt_id, const char *system);

/* Prompt facts for per-group results (from prompt records); NULL-safe lookups. */
typedef struct wr_prompt { char *id, *category; int multi; } wr_prompt;
typedef struct wr_prompts { wr_prompt *p; size_t n, cap; } wr_prompts;
int wr_prompts_load(const char *path, wr_prompts *ps, sp_err *err);
const wr_prompt *wr_prompt_find(const wr_prompts *ps, const char *id);
void wr_prompts_release(wr_prompts *ps);

/* Pairs a and b by prompt id: SP_EDATA naming (up to 10 of) the ids either lacks, or the line of
 * a record whose model[:variant] differs from its file's others. *idx_b[i] is
 * the index into b of a->r[i]'s prompt (caller frees with sp_free). */
int wr_pair(const wr_set *a, const char *name_a, const wr_set *b, const char *name_b, size_t **idx_b, sp_err *err);

/* Outcome of score difference d = s_a - s_b: 0 win (d > margin), 1 tie (|d| <= margin), 2 loss. */
int wr_outcome(double d, double margin);

#endif
