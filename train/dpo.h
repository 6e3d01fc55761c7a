/* dpo.h - Direct Preference Optimisation (Rafailov et al. 2023) on annotate's preference export:
 * the pair data (data_dpo.c), the loss, the reference model's cached log-probabilities and the
 * trainer hook (dpo.c) that `spindle train dpo` (cli_dpo.c) runs through trainer.c.
 * Ownership: dpo_* objects are caller storage released with their _release; the data source is a
 * train_data freed through its free(). */
#ifndef SPINDLE_TRAIN_DPO_H
#define SPINDLE_TRAIN_DPO_H

#include <stddef.h>
#include <stdint.h>
#include "../tokenizer/tok.h"
#include "data.h"
#include "model.h"
#include "trainer.h"

/* Preference export (annotate-preference.schema.json) as DPO rows: pair i gives row 2k (dialog +
 * chosen + EOS) and 2k+1 (dialog + rejected + EOS) with targets on the response tokens and EOS
 * only, and b->item[k] = i (its index in the file, for the reference's log-probabilities). margins (NULL = none) gives each pair's margin from its rating level (as data_rm.c);
 * category NULL = all. Rows longer than T + 1 tokens keep their end. */
int data_dpo_open(train_data *d, const char *path, const tok_model *tok, int T, uint64_t seed, const char *category,
                  const float margins[4], size_t *n_pairs, size_t *n_skipped, sp_err *err);
/* Pairs in file order from *next without wrapping: *n_filled pairs (0 at the end); unused pairs of
 * a short batch copy pair 0 with no targets. */
int data_dpo_fill_sequential(train_data *d, train_batch *b, size_t *next, int *n_filled);
size_t data_dpo_count(const train_data *d);

/* Sum of log p(target) of each row of b after model_forward (from m->losses), in position order, in
 * double: out[b->B]. */
void dpo_row_logps(const model *m, const model_batch *b, double *out);

/* -log sigmoid(beta * delta_i - margin_i) with delta_i = (pc_i - rc_i) - (pr_i - rr_i), averaged
 * over n pairs. g_chosen/g_rejected (may be NULL): dLoss/d(pc_i), dLoss/d(pr_i) of that mean. */
double dpo_loss(const double *pc, const double *pr, const double *rc, const double *rr, const float *margin,
                double beta, int n, double *g_chosen, double *g_rejected);

/* The reference model's per-pair log-probabilities, file order: ref[2i] chosen, ref[2i+1] rejected. */
typedef struct dpo_ref {
	double *lp;
	size_t n_pairs;
	int from_cache;         /* 1: read from the cache file, 0: computed now */
} dpo_ref;

/* Loads cache_path when its key (data file hash, reference model.safetensors hash, tokenizer
 * identity, context length, category) matches, else computes the log-probabilities with ref_model over
 * the pairs of d (a data_dpo_open source, not wrapped; batches of B rows) and, when write_cache, writes
 * the cache atomically (data-parallel ranks: rank 0 alone writes). cache_path NULL: no cache. */
int dpo_ref_get(dpo_ref *r, const char *cache_path, int write_cache, const char *data_path, const char *ref_dir,
                model *ref_model, train_data *d, const char *category, int B, sp_err *err);
void dpo_ref_release(dpo_ref *r);

/* The trainer hook: the reference's log-probabilities (looked up by the batch's item, the pairs'
 * file indices), scratch, and the step's statistics (the trainer sums them over ranks). */
enum { DPO_SUM_CHOSEN, DPO_SUM_REJECTED, DPO_SUM_CORRECT, DPO_SUM_PAIRS, DPO_N_SUMS };
typedef struct dpo_hook {
	train_hook hook;
	const dpo_ref *ref;
	double beta;
	double *lp, *g_c, *g_r, *pc, *pr, *rc, *rr;
	float *dtok;
	size_t cap_rows, cap_tok;
	double sums[DPO_N_SUMS];  /* over the step's micro-batches (and ranks, once the trainer has summed) */
} dpo_hook;

int dpo_hook_init(dpo_hook *h, const dpo_ref *ref, double beta, sp_err *err);
void dpo_hook_release(dpo_hook *h);

/* Held-out evaluation of model m against the reference: mean delta = mean over pairs of
 * (log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l)), and the share of pairs with delta > 0. */
int dpo_evaluate(model *m, train_data *d, const dpo_ref *ref, int B, double *mean_delta, double *accuracy,
                 sp_err *err);

#endif
