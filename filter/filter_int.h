/* filter_int.h - internals shared by the filter sources (not a public interface). */
#ifndef SPINDLE_FILTER_INT_H
#define SPINDLE_FILTER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "filter.h"

struct filter {
	filter_config c;
	pcre2_code *pii_re[FILTER_PII_N];
	pcre2_code **url_re; size_t n_url_re;
	char **domains; size_t n_domains;    /* sorted, lower case */
	char **suffixes; size_t n_suffixes;  /* sorted, lower case */
	char **langs; size_t n_langs;        /* lang.keep split; n_langs 0 with any_lang */
	int any_lang;
};

typedef struct fword { size_t off; uint32_t len, chars; uint64_t h; } fword;
typedef struct fline { size_t off, len; uint32_t chars; uint32_t n_words; uint64_t h; } fline;

/* Open-addressing table of hashed keys with counts: one 64-bit slot each (top 40 bits of the key,
 * low 24 bits the count; 0 = empty), cleared with memset, which is cheap next to the random probes. */
typedef struct htab { uint64_t *s; size_t cap, used_cap; } htab;

struct filter_scratch {
	sp_buf clean, c4, lower;
	sp_buf redact;
	fword *w; size_t n_w, cap_w;
	fline *l; size_t n_l, cap_l;
	uint64_t *gh; uint32_t *mark, *cand, *cslot; size_t cap_g;
	htab ht;
	pcre2_match_data *md;
};


/* filter_stats.c: the text statistics the rules measure with. */
typedef struct filter_tstats {
	size_t words, word_chars, nonsym_words, nonsym_chars, alpha_words, stop_words;
	size_t hashes, ellipses, chars, newlines;
	size_t lines, bullet_lines, ellipsis_lines, punct_lines;
} filter_tstats;

static inline int filter_is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* One pass over t: s->w (words), s->l (lines, trimmed, blank ones kept with len 0) and the counts in st. */
int filter_scan(filter_scratch *s, const char *t, size_t n, filter_tstats *st);
/* Ends with terminal punctuation (ASCII . ! ? " ' or one of the Unicode ones), after trailing spaces. */
int filter_ends_terminal(const char *p, size_t n);
/* Repeated lines (blank ones ignored) and repeated paragraphs (runs of non-blank lines) of the last scan. */
int filter_dup_lines(filter_scratch *s, size_t *n_dup, size_t *chars_dup);
int filter_dup_paragraphs(filter_scratch *s, size_t *n_para, size_t *n_dup, size_t *chars_dup);
/* Gopher's top n-gram (n = 2..4) and duplicate n-gram (n = 5..10) fractions of the last scan's words. */
int filter_ngram_fractions(filter_scratch *s, size_t word_chars, double top[3], double dup[6], int want_top,
                           int want_dup);
void filter_ht_release(htab *t);

/* filter_rules.c: strcmp for qsort and bsearch over the sorted lists. */
int filter_cmp_str(const void *a, const void *b);

/* filter_pii.c: compiles the PII patterns into f->pii_re. */
int filter_pii_compile(filter *f, sp_err *err);

#endif
