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

#endif
