/* filter.h - `spindle filter`'s logic: quality, repetition, language, URL block-list and PII rules
 * over one document's text, with every threshold in one config (printed by --print-config).
 *
 * Ownership: filter_config is plain caller storage (strings in it are owned by it: filter_config_release).
 * A filter (compiled rules: regexes, block lists) is made by filter_new and is read-only afterwards,
 * so worker threads share it; each thread owns one filter_scratch (filter_scratch_new/_free).
 * A filter_result is caller storage (FILTER_RESULT_INIT, filter_result_release); the text it points
 * to is owned by the scratch or borrowed from the input, valid until the next filter_doc with that
 * scratch. Nothing here prints. */
#ifndef SPINDLE_FILTER_H
#define SPINDLE_FILTER_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/buf.h"
#include "spindle/err.h"

enum filter_norm { FILTER_NORM_NONE = 0, FILTER_NORM_NFC = 1, FILTER_NORM_NFKC = 2 };
enum filter_pii_mode { FILTER_PII_OFF = 0, FILTER_PII_REDACT = 1, FILTER_PII_DROP = 2, FILTER_PII_TAG = 3 };
enum filter_pii_type { FILTER_PII_EMAIL = 0, FILTER_PII_IPV4, FILTER_PII_IPV6, FILTER_PII_PHONE, FILTER_PII_CARD,
                       FILTER_PII_N };

/* Every threshold and switch (schemas/filter-config.md documents each key). A rule is on when its
 * switch (the field named after it) is nonzero. */
typedef struct filter_config {
	/* text clean-up (transforms, not drops) */
	int normalize;                 /* FILTER_NORM_* */
	int strip_invisible;
	/* URL block lists: files of exact domains, domain suffixes, PCRE2 patterns on the whole URL */
	char *url_field, *block_domains, *block_suffixes, *block_patterns;
	/* language */
	int lang; char *lang_keep; double lang_min_score; long lang_max_bytes;
	/* Gopher quality */
	int gopher_word_count; long gopher_word_count_min, gopher_word_count_max;
	int gopher_mean_word_length; double gopher_mean_word_length_min, gopher_mean_word_length_max;
	int gopher_symbol_ratio; double gopher_symbol_ratio_max;
	int gopher_bullet_lines; double gopher_bullet_lines_max;
	int gopher_ellipsis_lines; double gopher_ellipsis_lines_max;
	int gopher_alpha_words; double gopher_alpha_words_min;
	int gopher_stop_words; long gopher_stop_words_min;
	/* Gopher repetition */
	int gopher_dup_lines; double gopher_dup_lines_max;
	int gopher_dup_paragraphs; double gopher_dup_paragraphs_max;
	int gopher_dup_line_chars; double gopher_dup_line_chars_max;
	int gopher_dup_paragraph_chars; double gopher_dup_paragraph_chars_max;
	int gopher_top_ngrams; double gopher_top_ngram_max[3];   /* n = 2, 3, 4 */
	int gopher_dup_ngrams; double gopher_dup_ngram_max[6];   /* n = 5 .. 10 */
	/* C4: line removal (a transform) then document rules */
	int c4_lines; int c4_lines_terminal_punct; long c4_lines_min_words; long c4_lines_max_word_length;
	int c4_lines_javascript, c4_lines_policy, c4_lines_citations;
	int c4_lorem_ipsum; int c4_curly_brace; int c4_min_sentences; long c4_min_sentences_min;
	/* FineWeb */
	int fineweb_line_punct; double fineweb_line_punct_min;
	int fineweb_short_lines; double fineweb_short_lines_max; long fineweb_short_lines_chars;
	int fineweb_char_dup; double fineweb_char_dup_max;
	int fineweb_list_ratio; double fineweb_list_ratio_max;
	/* PII */
	int pii;                       /* FILTER_PII_* */
	int pii_types[FILTER_PII_N];   /* which types are looked for */
	int pii_url_hosts;             /* 1: also inside URL host names */
} filter_config;

/* Fills c with the defaults (FineWeb's pipeline, language "en"). */
int filter_config_defaults(filter_config *c);
void filter_config_release(filter_config *c);
/* Sets one key ("gopher_word_count.min", "lang.keep", ...) from its text value. SP_EUSAGE for an
 * unknown key or a bad value (message names both). */
int filter_config_set(filter_config *c, const char *key, const char *value, sp_err *err);
/* Reads a config file: "key = value" lines, '#' comments, blank lines; keys not named keep their
 * values. Errors name the file and line. */
int filter_config_load(filter_config *c, const char *path, sp_err *err);
/* Appends c as a config file (every key, with a comment saying what it does). */
int filter_config_print(const filter_config *c, sp_buf *out);

typedef struct filter filter;
typedef struct filter_scratch filter_scratch;

int filter_new(filter **out, const filter_config *c, sp_err *err);
void filter_free(filter *f);
const filter_config *filter_get_config(const filter *f);
filter_scratch *filter_scratch_new(const filter *f);
void filter_scratch_free(filter_scratch *s);

typedef struct filter_pii_span { int type; size_t start, end; } filter_pii_span;

typedef struct filter_result {
	int keep;                 /* 1 kept, 0 dropped */
	const char *rule;         /* rule that dropped it (static string), NULL if kept */
	double value;             /* that rule's measured value */
	double threshold;         /* and the limit it crossed */
	const char *text;         /* final text (borrowed, see above) */
	size_t text_len;
	int text_changed;         /* text differs from the input */
	sp_buf signals;           /* annotate: JSON members "name":value,... of every measured signal */
	char lang[16];            /* detected language code ("" if not run) */
	double lang_score;
	long pii_counts[FILTER_PII_N];
	filter_pii_span *pii; size_t n_pii, cap_pii;  /* spans in the final text (tag mode: the input) */
	size_t lines_removed;     /* by the C4 line rules */
} filter_result;

#define FILTER_RESULT_INIT { 0, NULL, 0, 0, NULL, 0, 0, SP_BUF_INIT, "", 0, { 0 }, NULL, 0, 0, 0 }
void filter_result_release(filter_result *r);

/* Runs the rules in order (clean-up, URL, language, Gopher repetition, Gopher quality, C4, FineWeb,
 * PII) over text (valid UTF-8). url may be NULL. With annotate, every rule is measured even after
 * one drops the document and signals holds them all. Returns 0 (r filled) or SP_ENOMEM. */
int filter_doc(const filter *f, filter_scratch *s, const char *text, size_t n, const char *url,
               int annotate, filter_result *r, sp_err *err);

/* Names of the rules that can drop a document, in evaluation order (NULL-terminated), for stats. */
extern const char *const filter_rule_names[];
extern const char *const filter_pii_names[FILTER_PII_N];     /* "email", "ipv4", ... */

/* ---- pieces exposed for tests ---- */
/* Finds PII in text (per the config's types and url-hosts switch); spans sorted, non-overlapping. */
int filter_pii_find(const filter *f, filter_scratch *s, const char *text, size_t n, filter_result *r);
/* Luhn check over the digits of s (other characters ignored). */
int filter_luhn_ok(const char *s, size_t n);
/* Strips control and invisible characters (keeps \n and \t, drops \r) and normalizes per mode into
 * out (replaced). Returns 0 or SP_ENOMEM / SP_EUTF8. */
int filter_clean_text(int strip_invisible, int norm, const char *text, size_t n, sp_buf *out, sp_err *err);

#endif
