/* annotate.h - `spindle annotate`: SFT writing and pairwise preference collection on one SQLite
 * database (schemas/annotate.sql), following Llama 2's protocol. This header is the logic the CLI
 * (annotate/cli.c), the terminal session (annotate_tui.c) and the tests call; none of it prints.
 *
 * Ownership: an ann_db is allocated by ann_db_open and freed by ann_db_free. An ann_item is caller
 * storage (ANN_ITEM_INIT), filled by ann_lease_next / ann_undo and emptied by ann_item_release; its
 * strings and json objects are owned by it. Every write runs in its own IMMEDIATE transaction with
 * prepared statements, so several annotators (processes) can share one database file. */
#ifndef SPINDLE_ANNOTATE_H
#define SPINDLE_ANNOTATE_H

#include <stddef.h>
#include <stdint.h>
#include <json.h>
#include <sqlite3.h>
#include "spindle/err.h"
#include "spindle/buf.h"
#include "spindle/io.h"

/* ------------------------------------------------------------------ database */

typedef struct ann_db ann_db;

/* How ann_db_open opens: read-write, creating the file if needed, or read-only (report, export). */
enum { ANN_DB_WRITE = 0, ANN_DB_CREATE = 1, ANN_DB_READONLY = 2 };
/* Opens the database at path in mode (ANN_DB_*), sets WAL mode, a busy timeout and foreign keys,
 * and applies pending migrations (read-only: refuses a schema that needs one). SP_EIO on SQLite
 * errors; SP_ENOTFOUND if the file is absent and mode is not ANN_DB_CREATE; SP_EDATA if the file is
 * not a spindle database (not a regular file, not SQLite, another program's SQLite file; an empty
 * file only read-only) or its schema version is newer than this binary's. */
int ann_db_open(ann_db **out, const char *path, int mode, sp_err *err);
void ann_db_free(ann_db *db);
sqlite3 *ann_db_sqlite(ann_db *db);
/* Schema version of the open file (PRAGMA user_version) and the newest this binary knows. */
int ann_db_version(ann_db *db);
int ann_schema_latest(void);

/* Settings (table settings): overlap, overlap_k, lease_seconds, gold_every. */
int ann_setting_get(ann_db *db, const char *key, double *value, sp_err *err);
int ann_setting_set(ann_db *db, const char *key, double value, sp_err *err);

/* Wall-clock time, seconds since the epoch. Tests may shift it (ann_clock_shift) to expire leases. */
double ann_now(void);
void ann_clock_shift(double seconds);

/* ------------------------------------------------------------------ records and import */

enum { ANN_PROMPTS = 1, ANN_RESPONSES = 2 };

/* Checks one import record against schemas/annotate-prompt.schema.json (kind ANN_PROMPTS) or
 * annotate-response.schema.json (ANN_RESPONSES). Returns 0 or SP_EDATA with a message naming the
 * field ("field 'dialog[2].role': ..."). Never touches a database. */
int ann_record_validate(int kind, json_object *obj, sp_err *err);

typedef struct ann_import_result {
	uint64_t records;   /* records read */
	uint64_t added;     /* new prompts / responses */
	uint64_t unchanged; /* already in the database with identical content */
	uint64_t tasks;     /* tasks created (sft per prompt; preference pairs) */
	int64_t batch;      /* the batch this import made (export --batch) */
} ann_import_result;

/* Imports a JSONL file ("-" = stdin) of prompts or responses in ONE transaction: the first bad
 * line (bad JSON, schema violation, unknown prompt, conflicting duplicate id) rolls everything
 * back and is reported in err with the file name and line. make_sft: prompts also become sft
 * tasks. Responses are paired into preference tasks after the import (ann_pair_responses). */
int ann_import(ann_db *db, int kind, const char *path, int make_sft, ann_import_result *res, sp_err *err);

/* ann_import with more choices: round labels the batch (NULL: none; 1 to 64 bytes of [A-Za-z0-9._:-]);
 * eval marks the batch as an evaluation study's (its responses are never paired for preference). */
typedef struct ann_import_opts { int make_sft; const char *round; int eval; } ann_import_opts;
int ann_import_ex(ann_db *db, int kind, const char *path, const ann_import_opts *o, ann_import_result *res, sp_err *err);
/* 1 when s is a valid round label. */
int ann_round_valid(const char *s);

/* Pairs the responses of prompt_id (NULL: of every prompt) that are in no preference task yet:
 * a gold pair first, then greedily two responses of different model/variant when possible. Must
 * run inside a transaction the caller holds. Adds the number of tasks made to *n_tasks. */
int ann_pair_responses(ann_db *db, const char *prompt_id, uint64_t *n_tasks, sp_err *err);

/* ------------------------------------------------------------------ open-source preference data */

enum { ANN_CONVERT_HH = 1, ANN_CONVERT_TRL = 2 };
/* Converts a JSONL file ("-" = stdin) of Anthropic HH records ({chosen, rejected} transcripts) or TRL
 * records ({prompt, chosen, rejected[, margin]}) to preference records (annotate-preference.schema.json,
 * the imported form: source, category, dialog, chosen, rejected, margin, content-hash ids) written to
 * out; *n_out counts them. The first bad record stops it with SP_EDATA naming FILE:LINE. */
int ann_convert(const char *path, int format, const char *source, const char *category, sp_out *out,
                uint64_t *n_out, sp_err *err);
/* One parsed record of that kind into a new preference record in *out (caller owns; NULL on error). */
struct sp_record;
int ann_convert_record(const struct sp_record *rec, int format, const char *source, const char *category,
                       json_object **out, sp_err *err);

/* ------------------------------------------------------------------ sessions */

enum { ANN_SFT = 1, ANN_PREFERENCE = 2, ANN_SBS = 3, ANN_RATING = 4 };
enum { ANN_CHOICE_NONE = 0, ANN_CHOICE_A, ANN_CHOICE_B, ANN_CHOICE_BOTH_BAD };
enum { ANN_SAFETY_NONE = 0, ANN_SAFE, ANN_UNSAFE };

typedef struct ann_response {
	char *id, *text, *model, *variant;
	double temperature;
} ann_response;

typedef struct ann_item {
	int64_t task_id, assignment_id;
	int kind;                   /* ANN_SFT / ANN_PREFERENCE / ANN_SBS / ANN_RATING */
	int gold;
	char *prompt_id, *category, *risk_category;
	json_object *dialog;        /* array of {role, content} */
	json_object *attack_vectors;/* array or NULL */
	ann_response a, b;          /* preference: the pair (a/b as stored, not as shown); sbs: system A's
	                             * and B's responses; rating: a is the rated response */
	int left_is_b;              /* preference, sbs: response b is shown on the left */
	ann_response *cands;        /* sft: model responses to this prompt the annotator may edit */
	size_t n_cands;
	double shown_at;            /* when the item was put on screen */
} ann_item;

#define ANN_ITEM_INIT { 0 }
void ann_item_release(ann_item *it);

/* Finds or creates the annotator name. */
int ann_annotator_id(ann_db *db, const char *name, int64_t *id, sp_err *err);

/* Leases the next item of kind for annotator: their own unexpired (or still free) lease first,
 * then every gold_every-th item a gold item when one is left, then the lowest task id that is
 * neither answered, skipped nor leased by them and whose final answers plus others' live leases
 * are fewer than its replicas. Returns 1 with *it filled, 0 when nothing is left. */
int ann_lease_next(ann_db *db, int64_t annotator, int kind, ann_item *it, sp_err *err);
/* The same, restricted to the items of evaluation study eval (0: any). */
int ann_lease_next_in(ann_db *db, int64_t annotator, int kind, int64_t eval, ann_item *it, sp_err *err);

typedef struct ann_pref_answer {
	int choice;            /* ANN_CHOICE_A/B/BOTH_BAD, in stored (not shown) terms */
	int level;             /* 3 significantly better, 2 better, 1 slightly, 0 negligibly/unsure; -1 for both bad */
	int safety_a, safety_b;/* ANN_SAFE/ANN_UNSAFE for safety prompts, ANN_SAFETY_NONE otherwise */
	const char *next_turn; /* optional next user turn (NULL or ""), makes a new prompt */
} ann_pref_answer;

typedef struct ann_sft_answer {
	const char *text;
	const char *edited_from; /* response id when a model response was edited, else NULL */
} ann_sft_answer;

/* Commits an answer to the leased item (one transaction). SP_EDATA when the answer is invalid
 * for the item; SP_ENOTFOUND "lease lost" when the lease expired and the item has meanwhile been
 * answered by as many annotators as it needs (nothing is written then). *annotation_id gets the
 * new row id. A next_turn creates prompt "<prompt_id>+t<N>" continuing the dialog with the chosen
 * response (category and tags kept; `export --format prompts` hands it to sampling); *new_prompt (optional, caller frees) names it. */
int ann_answer_preference(ann_db *db, const ann_item *it, const ann_pref_answer *a,
                          int64_t *annotation_id, char **new_prompt, sp_err *err);
int ann_answer_sft(ann_db *db, const ann_item *it, const ann_sft_answer *a, int64_t *annotation_id, sp_err *err);
/* Evaluation answers. sbs: value is the 7-point score in A/B terms (1 A much better .. 4 about the
 * same .. 7 B much better; the session maps the key pressed from left/right to A/B through
 * it->left_is_b). rating: value is the safety rating 1..5. SP_EDATA for a value off the scale. */
int ann_answer_eval(ann_db *db, const ann_item *it, int value, int64_t *annotation_id, sp_err *err);
/* The 7-point score in A/B terms for key k (1..7, 1 = LEFT much better) shown with left_is_b. */
int ann_sbs_score_from_key(int k, int left_is_b);
/* Llama 2's scales as shown on screen: label of sbs key k (1..7, left/right terms) and of safety
 * rating r (1..5, with its definition). NULL off the scale. */
const char *ann_sbs_key_label(int k);
const char *ann_rating_label(int r);

/* Skip: the item is not shown to this annotator again; others may get it. */
int ann_skip(ann_db *db, const ann_item *it, sp_err *err);
/* Gives the lease back (quitting with an item on screen). */
int ann_release(ann_db *db, const ann_item *it, sp_err *err);
/* Undoes annotation_id (which must be annotator's final answer): marks it undone, removes the
 * prompt its next turn created when nothing uses it yet, gives back the lease of *current (if not
 * NULL and leased) and leases the undone task to the annotator again, filling *it. */
int ann_undo(ann_db *db, int64_t annotator, int64_t annotation_id, const ann_item *current,
             ann_item *it, sp_err *err);

/* The annotator's final answers of kind and the items still open to them, counted up to
 * ANN_PROGRESS_CAP (a bigger backlog reads as ANN_PROGRESS_CAP, shown "10000+"). */
#define ANN_PROGRESS_CAP 10000
int ann_progress(ann_db *db, int64_t annotator, int kind, int64_t *done, int64_t *left, sp_err *err);
int ann_progress_in(ann_db *db, int64_t annotator, int kind, int64_t eval, int64_t *done, int64_t *left, sp_err *err);

/* ------------------------------------------------------------------ report and export */

/* Cohen's kappa of two raters' labels x[i], y[i] in [0, k) over n items; NAN when n == 0 or
 * chance agreement is 1 (kappa undefined). */
double ann_cohen_kappa(const int *x, const int *y, size_t n, int k);
/* Fleiss' kappa from counts[i*k + j] = raters who put item i in category j. Items may have
 * different numbers of raters (>= 2; items with fewer are ignored): P_i = sum_j n_ij(n_ij-1) /
 * (n_i(n_i-1)), p_j = sum_i n_ij / sum_i n_i, kappa = (mean P_i - sum p_j^2) / (1 - sum p_j^2),
 * which is Fleiss' definition when every n_i is the same. NAN when undefined. */
double ann_fleiss_kappa(const int *counts, size_t n_items, int k);

/* Gwet's agreement coefficient (Gwet 2008) from counts[i*q + k] = raters who put item i in
 * category k, with weights w[k*q + l] (w_kk = 1): pa = mean over items with r_i >= 2 of
 * sum_k r_ik (r*_ik - 1) / (r_i (r_i - 1)), r*_ik = sum_l w_kl r_il; pi_k = mean over items with
 * r_i >= 1 of r_ik / r_i; pe = T_w / (q (q - 1)) sum_k pi_k (1 - pi_k), T_w = sum of all weights;
 * AC = (pa - pe) / (1 - pe). Identity weights give AC1, ordinal weights AC2. NAN when q < 2, when
 * no item has 2 raters, or pe = 1. */
double ann_gwet_ac(const int *counts, size_t n_items, int q, const double *w);
/* Fill w (q*q): identity weights; Gwet's ordinal weights 1 - C(|k-l|+1, 2) / C(q, 2). */
void ann_weights_identity(int q, double *w);
void ann_weights_ordinal(int q, double *w);
/* The bootstrap's generator (SplitMix64: state += 0x9E3779B97F4A7C15, then the usual mix). */
uint64_t ann_splitmix64(uint64_t *state);
/* Percentile p (0..1) of sorted[0..n) by linear interpolation at (n-1)p (Hyndman-Fan type 7). */
double ann_percentile(const double *sorted, size_t n, double p);
/* 95% percentile-bootstrap interval of the mean of x[0..n): resamples means of n draws
 * x[next() mod n] from ann_splitmix64 with state = seed, sorted, then the 2.5th and 97.5th
 * percentiles. NAN bounds when n == 0. Returns 0 or SP_ENOMEM. */
int ann_bootstrap_ci(const double *x, size_t n, int resamples, uint64_t seed, double *lo, double *hi);

/* Appends the text tables of `spindle annotate report` to out. */
int ann_report(ann_db *db, sp_buf *out, sp_err *err);

enum { ANN_FMT_SFT = 1, ANN_FMT_PREFERENCE, ANN_FMT_HH, ANN_FMT_TRL, ANN_FMT_PROMPTS };
/* Writes every final answer as one JSONL record in format (schemas/annotate-*.schema.json);
 * ANN_FMT_PROMPTS writes the prompts that have no response yet (for `spindle train sample`).
 * *n gets the number of records. */
int ann_export(ann_db *db, int format, sp_out *out, uint64_t *n, sp_err *err);

/* ------------------------------------------------------------------ terminal session */

typedef struct ann_session_opts {
	int64_t annotator;
	const char *annotator_name;
	int kind;               /* ANN_SFT / ANN_PREFERENCE */
	int in_fd, out_fd;      /* keys come from in_fd; the screen goes to out_fd */
	int draw;               /* 0: no screen output (keys scripted from a file) */
	const char *editor;     /* command for long texts, run as: sh -c 'EDITOR "$1"' sh FILE */
	int max_items;          /* stop after this many answers (0: no limit) */
	int64_t eval_id;        /* side-by-side, safety: only this study's items (0: any study) */
} ann_session_opts;

typedef struct ann_session_result { int64_t answered, skipped, undone; int lost_leases; } ann_session_result;

/* Runs one annotator's session until they quit, input ends or nothing is left. When in_fd is a
 * terminal it is put in raw mode (restored on exit and on SIGTERM/SIGHUP/SIGINT) and the screen
 * is drawn on the alternate screen of out_fd. */
int ann_session_run(ann_db *db, const ann_session_opts *o, ann_session_result *res, sp_err *err);

/* ------------------------------------------------------------------ safe text */

/* Appends text to out with everything a terminal could act on made visible and inert: C0 controls
 * but '\n' and '\t' as ^X (ESC as ^[), DEL as ^?, C1 controls, bidi overrides/isolates and other
 * non-printing code points as <U+XXXX>, invalid UTF-8 bytes as <XX>; '\t' becomes four spaces and
 * "\r\n" a plain '\n'. The result holds no byte below 0x20 but '\n'. Returns 0 or SP_ENOMEM. */
int ann_text_sanitize(const char *s, size_t n, sp_buf *out);

/* Display width of one code point (0 for combining marks, 2 for wide East Asian). */
int ann_cp_width(uint32_t cp);

/* Wraps sanitized text (no controls but '\n') into lines of at most width display columns,
 * breaking at spaces when it can. Appends each line's start offset and byte length to
 * starts/lens (growable arrays, caller frees with sp_free). */
typedef struct ann_lines { size_t *start, *len; size_t n, cap; } ann_lines;
int ann_text_wrap(const char *s, size_t n, int width, ann_lines *lines);
void ann_lines_release(ann_lines *l);

#endif
