/* gatt.h - data made by changing the context (Llama 2 §3.3 Ghost Attention, §4.2.4 safety context
 * distillation): the replaceable lists and templates with their built-in defaults, the seeded
 * instruction and preprompt generators, and the dialog surgery both need (gatt.c). The commands are
 * cli_gatt.c (gatt, gatt-eval) and cli_distill.c (distill-prompts, distill-select).
 * Ownership: gatt_lists holds a parsed JSON tree freed by gatt_lists_release; returned strings are
 * caller-owned sp_bufs. */
#ifndef SPINDLE_TRAIN_GATT_H
#define SPINDLE_TRAIN_GATT_H

#include <json.h>
#include "rng.h"
#include "spindle/buf.h"
#include "spindle/err.h"

/* The Ghost Attention lists (schemas/gatt-lists.schema.json) or the distillation templates
 * (schemas/distill-templates.schema.json), checked on load. */
typedef struct gatt_lists {
	json_object *root;
} gatt_lists;

extern const char gatt_default_lists[];      /* JSON text of the built-in GAtt lists */
extern const char distill_default_templates[]; /* JSON text of the built-in preprompt templates */

/* Loads path (NULL: the built-in lists). Errors name the file and what is missing or empty. */
int gatt_lists_load(gatt_lists *l, const char *path, sp_err *err);
int distill_templates_load(gatt_lists *l, const char *path, sp_err *err);
/* The same from text in memory (templates 1: distillation templates); for tests and fuzzing. */
int gatt_lists_parse(gatt_lists *l, const char *text, size_t n, int templates, sp_err *err);
void gatt_lists_release(gatt_lists *l);

/* One synthetic instruction: a random non-empty combination of hobby, language and public figure,
 * each phrased from a long template, or, half of the time, all shortened ("Figure: Napoleon").
 * Appends the text to inst and sets *short_form; constraints (may be NULL) gets {"hobby": ...,
 * "language": NAME, "language_code": CODE, "figure": ...} for what was chosen (caller owns). */
int gatt_instruction(const gatt_lists *l, train_rng *r, sp_buf *inst, int *short_form, json_object **constraints,
                     sp_err *err);
/* The language instruction of a language (for the evaluation): the first long template. */
int gatt_language_instruction(const gatt_lists *l, size_t i, sp_buf *inst, const char **code, const char **name);
size_t gatt_n_languages(const gatt_lists *l);

/* A safety preprompt for a risk category: a preprompt template with distinct random adjectives,
 * then the category's answer template (or "default"). */
int distill_preprompt(const gatt_lists *t, const char *risk_category, train_rng *r, sp_buf *out, sp_err *err);

/* Checks a dialog (optional system, then user/assistant alternating from user, ending with user):
 * 0, or SP_EDATA saying which turn is wrong. Fills *n_users when not NULL. */
int gatt_check_dialog(json_object *dialog, size_t *n_users, sp_err *err);

/* A new dialog array: the system turn (if any; with extra_system appended on a new line when
 * given, or as a new system turn), the first k user turns with suffix appended to user turn i
 * when (suffix_all or i == 0) and suffix != NULL, answers[i] as the assistant turn after user i
 * for i < n_answers. Caller owns. */
json_object *gatt_dialog(json_object *dialog, size_t k, const char *suffix, int suffix_all, const char *extra_system,
                         const char *const *answers, size_t n_answers);
/* The text of user turn i (0-based, system not counted). Borrowed. */
const char *gatt_user_turn(json_object *dialog, size_t i);

#endif
