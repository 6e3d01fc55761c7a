/* annotate_eval.h - evaluation studies in `spindle annotate` (issue 14): side-by-side studies of
 * two systems on Llama 2's 7-point scale and safety-rating studies on its 1-5 scale, their report
 * (win/tie/loss, violation rates, bootstrap CIs, Gwet's AC1/AC2, Fleiss' kappa; text, JSON and
 * gnuplot charts), per-round data management (export filters, held-out splits, per-round
 * statistics). Nothing here prints; text and JSON are appended to caller buffers.
 * Ownership: every returned string or json_object is the caller's. */
#ifndef SPINDLE_ANNOTATE_EVAL_H
#define SPINDLE_ANNOTATE_EVAL_H

#include "annotate.h"

/* ------------------------------------------------------------------ studies */

typedef struct ann_eval_spec {
	const char *name;            /* 1 to 64 bytes, [A-Za-z0-9._:-] */
	int kind;                    /* ANN_SBS (exactly 2 systems) or ANN_RATING (1 or more) */
	const char *prompts;         /* prompt records (JSONL) */
	const char *const *systems;  /* one response file per system (JSONL, one model[/variant] each) */
	size_t n_systems;
	int raters;                  /* different annotators per item */
	const char *round;           /* round label of the imported batches, or NULL */
} ann_eval_spec;

/* Creates (or, when it exists with the same kind and systems, completes) a study: reads every file
 * first and refuses, naming the file and line or the missing prompt ids, when a system has no
 * response to some prompt, answers a prompt outside the set, answers one prompt twice or mixes
 * models; then imports the prompts (no sft tasks) and responses (never paired for preference) and
 * makes one task per prompt (sbs) or per prompt and system (rating) with `raters` replicas.
 * *n_tasks gets the tasks made. */
int ann_eval_create(ann_db *db, const ann_eval_spec *s, uint64_t *n_tasks, sp_err *err);

/* Finds study name: its id and kind (ANN_SBS / ANN_RATING); SP_ENOTFOUND when absent. */
int ann_eval_find(ann_db *db, const char *name, int64_t *id, int *kind, sp_err *err);

/* Writes the study's final answers as JSONL records of schemas/annotate-eval-rating.schema.json. */
int ann_eval_export(ann_db *db, const char *name, sp_out *out, uint64_t *n, sp_err *err);

/* ------------------------------------------------------------------ report */

typedef struct ann_eval_report_opts {
	const char *name;
	int resamples;          /* bootstrap resamples (100..100000) */
	uint64_t seed;
	const char *charts;     /* folder for PNG charts (gnuplot), or NULL */
} ann_eval_report_opts;

/* Fills *json (caller puts) with the report object of schemas/annotate-eval-report.schema.json and
 * appends its text tables to text (may be NULL). With o->charts, draws the PNGs there
 * (NAME-winrate.png, NAME-violation.png, NAME-violation-risk.png, NAME-violation-turns.png, as
 * apply), their paths listed under "charts". */
int ann_eval_report(ann_db *db, const ann_eval_report_opts *o, sp_buf *text, json_object **json, sp_err *err);

/* Appends a table of the database's evaluation studies (nothing when there is none): kind,
 * systems, items, raters per item, ratings given, items fully rated. Part of `annotate report`. */
int ann_report_eval_studies(ann_db *db, sp_buf *out, sp_err *err);

/* ------------------------------------------------------------------ rounds and splits */

typedef struct ann_filter {
	const char *rounds;     /* comma-separated round labels, or NULL */
	const char *batches;    /* comma-separated batch ids, or NULL */
	const char *category;   /* helpfulness | safety, or NULL */
	const char *model;      /* a response's model (pairs: either response), or NULL */
	double since, until;    /* answer (prompts export: prompt) created_at bounds; 0: none */
	int split;              /* 0 all, 1 train, 2 test */
	double test_share;      /* > 0: a prompt is held out when its hash falls below this share */
	long test_count;        /* else: the test_count prompts of lowest hash in each batch */
} ann_filter;

/* Registers the SQL function spindle_split_hash(id) on the handle: XXH3-64 of id (seed
 * 0x73706c6974) >> 11, an integer in [0, 2^53). Stable across versions and re-imports. */
int ann_split_register(ann_db *db, sp_err *err);
/* Appends " AND (...)" restricting a query whose prompt alias is p (and, for pairs, responses ra
 * and rb; answers a) to the filter; binds come from ann_filter_bind. what: 'p' prompts export,
 * 's' sft answers, 'r' preference answers. SP_EUSAGE for a filter that does not apply. */
int ann_filter_sql(const ann_filter *f, int what, sp_buf *sql, sp_err *err);
int ann_filter_bind(const ann_filter *f, sqlite3_stmt *st);
/* Parses "2026-12-03" or "2026-12-03T10:00:00Z" (UTC) to seconds since the epoch; -1 if bad. */
double ann_parse_date(const char *s);

/* ann_export restricted by f (NULL: everything). */
int ann_export_filtered(ann_db *db, int format, const ann_filter *f, sp_out *out, uint64_t *n, sp_err *err);

/* Llama 2's per-batch statistics (its Table 6) grouped by round: batches, comparisons, average
 * turns per dialog, average tokens per example, in the prompt and in a response. count_tokens
 * (NULL: token columns read n/a) returns the tokens of a text. */
typedef long (*ann_token_counter)(void *ctx, const char *text);
int ann_report_rounds(ann_db *db, ann_token_counter count_tokens, void *ctx, sp_buf *out, sp_err *err);

/* ------------------------------------------------------------------ session screen text */

const char *ann_tui_eval_help(int kind);
const char *ann_tui_eval_scale(int kind);
const char *ann_tui_eval_hint(int kind);

#endif
