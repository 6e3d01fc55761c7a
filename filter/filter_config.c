/* filter_config.c - the filter's one config: defaults, "key = value" files, --print-config.
 *
 * One table lists every key with its type, the field it sets and its help line, so parsing,
 * printing and documentation (schemas/filter-config.md) cannot drift apart. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "filter.h"
#include "spindle/io.h"
#include "spindle/mem.h"

enum { P_BOOL, P_INT, P_DBL, P_STR, P_NORM, P_PII };

typedef struct param {
	const char *key;
	int type;
	size_t off;
	const char *help;
} param;

#define F(field) offsetof(filter_config, field)
static const param params[] = {
	{ "normalize", P_NORM, F(normalize), "Unicode normalization of the text: nfc, nfkc or none" },
	{ "strip_invisible", P_BOOL, F(strip_invisible), "remove control characters (but \\n, \\t) and invisible junk (zero-width space, BOM, bidi marks, soft hyphen)" },
	{ "url.field", P_STR, F(url_field), "dotted path of the URL in each record (documents without one pass the URL rules)" },
	{ "url_domain.file", P_STR, F(block_domains), "file of domains blocked exactly (one a line, # comments; empty = rule off)" },
	{ "url_suffix.file", P_STR, F(block_suffixes), "file of domain suffixes blocked with their subdomains (\"example.com\" blocks a.example.com)" },
	{ "url_pattern.file", P_STR, F(block_patterns), "file of PCRE2 patterns matched against the whole URL" },
	{ "lang", P_BOOL, F(lang), "language identification (CLD2); meta.lang and meta.lang_score are recorded" },
	{ "lang.keep", P_STR, F(lang_keep), "comma-separated language codes to keep (ISO 639-1 as CLD2 reports them; * = any)" },
	{ "lang.min_score", P_DBL, F(lang_min_score), "drop when the top language's share of the text is below this (0..1)" },
	{ "lang.max_bytes", P_INT, F(lang_max_bytes), "identify the language on at most this many leading bytes" },
	{ "gopher_dup_lines", P_BOOL, F(gopher_dup_lines), "Gopher: fraction of lines that repeat an earlier line" },
	{ "gopher_dup_lines.max", P_DBL, F(gopher_dup_lines_max), NULL },
	{ "gopher_dup_paragraphs", P_BOOL, F(gopher_dup_paragraphs), "Gopher: fraction of paragraphs that repeat an earlier one" },
	{ "gopher_dup_paragraphs.max", P_DBL, F(gopher_dup_paragraphs_max), NULL },
	{ "gopher_dup_line_chars", P_BOOL, F(gopher_dup_line_chars), "Gopher: characters in repeated lines / all characters" },
	{ "gopher_dup_line_chars.max", P_DBL, F(gopher_dup_line_chars_max), NULL },
	{ "gopher_dup_paragraph_chars", P_BOOL, F(gopher_dup_paragraph_chars), "Gopher: characters in repeated paragraphs / all characters" },
	{ "gopher_dup_paragraph_chars.max", P_DBL, F(gopher_dup_paragraph_chars_max), NULL },
	{ "gopher_top_ngrams", P_BOOL, F(gopher_top_ngrams), "Gopher: characters of the most frequent word n-gram (n = 2, 3, 4) / word characters" },
	{ "gopher_top_ngrams.max2", P_DBL, F(gopher_top_ngram_max[0]), NULL },
	{ "gopher_top_ngrams.max3", P_DBL, F(gopher_top_ngram_max[1]), NULL },
	{ "gopher_top_ngrams.max4", P_DBL, F(gopher_top_ngram_max[2]), NULL },
	{ "gopher_dup_ngrams", P_BOOL, F(gopher_dup_ngrams), "Gopher: characters of words inside repeated word n-grams (n = 5..10) / word characters" },
	{ "gopher_dup_ngrams.max5", P_DBL, F(gopher_dup_ngram_max[0]), NULL },
	{ "gopher_dup_ngrams.max6", P_DBL, F(gopher_dup_ngram_max[1]), NULL },
	{ "gopher_dup_ngrams.max7", P_DBL, F(gopher_dup_ngram_max[2]), NULL },
	{ "gopher_dup_ngrams.max8", P_DBL, F(gopher_dup_ngram_max[3]), NULL },
	{ "gopher_dup_ngrams.max9", P_DBL, F(gopher_dup_ngram_max[4]), NULL },
	{ "gopher_dup_ngrams.max10", P_DBL, F(gopher_dup_ngram_max[5]), NULL },
	{ "gopher_word_count", P_BOOL, F(gopher_word_count), "Gopher: number of words (whitespace-separated)" },
	{ "gopher_word_count.min", P_INT, F(gopher_word_count_min), NULL },
	{ "gopher_word_count.max", P_INT, F(gopher_word_count_max), NULL },
	{ "gopher_mean_word_length", P_BOOL, F(gopher_mean_word_length), "Gopher: mean word length in characters" },
	{ "gopher_mean_word_length.min", P_DBL, F(gopher_mean_word_length_min), NULL },
	{ "gopher_mean_word_length.max", P_DBL, F(gopher_mean_word_length_max), NULL },
	{ "gopher_symbol_ratio", P_BOOL, F(gopher_symbol_ratio), "Gopher: the larger of '#' per word and ellipses ('...' or U+2026) per word" },
	{ "gopher_symbol_ratio.max", P_DBL, F(gopher_symbol_ratio_max), NULL },
	{ "gopher_bullet_lines", P_BOOL, F(gopher_bullet_lines), "Gopher: fraction of lines starting with a bullet (U+2022, '-', '*')" },
	{ "gopher_bullet_lines.max", P_DBL, F(gopher_bullet_lines_max), NULL },
	{ "gopher_ellipsis_lines", P_BOOL, F(gopher_ellipsis_lines), "Gopher: fraction of lines ending with an ellipsis" },
	{ "gopher_ellipsis_lines.max", P_DBL, F(gopher_ellipsis_lines_max), NULL },
	{ "gopher_alpha_words", P_BOOL, F(gopher_alpha_words), "Gopher: fraction of words with at least one alphabetic character" },
	{ "gopher_alpha_words.min", P_DBL, F(gopher_alpha_words_min), NULL },
	{ "gopher_stop_words", P_BOOL, F(gopher_stop_words), "Gopher: number of English stop words (the be to of and that have with)" },
	{ "gopher_stop_words.min", P_INT, F(gopher_stop_words_min), NULL },
	{ "c4_lines", P_BOOL, F(c4_lines), "C4: remove lines (a transform; the switches below pick which)" },
	{ "c4_lines.terminal_punct", P_BOOL, F(c4_lines_terminal_punct), "remove lines not ending in terminal punctuation (C4 itself: on; FineWeb: off)" },
	{ "c4_lines.min_words", P_INT, F(c4_lines_min_words), "remove lines with fewer words (0 = off)" },
	{ "c4_lines.max_word_length", P_INT, F(c4_lines_max_word_length), "remove lines with a word longer than this many characters (0 = off)" },
	{ "c4_lines.javascript", P_BOOL, F(c4_lines_javascript), "remove lines mentioning javascript" },
	{ "c4_lines.policy", P_BOOL, F(c4_lines_policy), "remove cookie/privacy/terms-of-use lines" },
	{ "c4_lines.citations", P_BOOL, F(c4_lines_citations), "delete Wikipedia-style citation marks ([1], [citation needed])" },
	{ "c4_lorem_ipsum", P_BOOL, F(c4_lorem_ipsum), "C4: drop documents containing \"lorem ipsum\"" },
	{ "c4_curly_brace", P_BOOL, F(c4_curly_brace), "C4: drop documents containing '{' (code)" },
	{ "c4_min_sentences", P_BOOL, F(c4_min_sentences), "C4: number of sentences (terminal punctuation followed by a space or the end)" },
	{ "c4_min_sentences.min", P_INT, F(c4_min_sentences_min), NULL },
	{ "fineweb_line_punct", P_BOOL, F(fineweb_line_punct), "FineWeb: fraction of non-empty lines ending in terminal punctuation" },
	{ "fineweb_line_punct.min", P_DBL, F(fineweb_line_punct_min), NULL },
	{ "fineweb_short_lines", P_BOOL, F(fineweb_short_lines), "FineWeb: fraction of non-empty lines of at most .chars characters" },
	{ "fineweb_short_lines.max", P_DBL, F(fineweb_short_lines_max), NULL },
	{ "fineweb_short_lines.chars", P_INT, F(fineweb_short_lines_chars), NULL },
	{ "fineweb_char_dup", P_BOOL, F(fineweb_char_dup), "FineWeb: characters in repeated lines / characters outside newlines" },
	{ "fineweb_char_dup.max", P_DBL, F(fineweb_char_dup_max), NULL },
	{ "fineweb_list_ratio", P_BOOL, F(fineweb_list_ratio), "FineWeb: newlines per word" },
	{ "fineweb_list_ratio.max", P_DBL, F(fineweb_list_ratio_max), NULL },
	{ "pii", P_PII, F(pii), "PII: off, redact (typed placeholders), drop (the document) or tag (spans in meta.pii)" },
	{ "pii.email", P_BOOL, F(pii_types[FILTER_PII_EMAIL]), "look for e-mail addresses" },
	{ "pii.ipv4", P_BOOL, F(pii_types[FILTER_PII_IPV4]), "look for IPv4 addresses" },
	{ "pii.ipv6", P_BOOL, F(pii_types[FILTER_PII_IPV6]), "look for IPv6 addresses" },
	{ "pii.phone", P_BOOL, F(pii_types[FILTER_PII_PHONE]), "look for phone numbers (international +CC forms and (NNN) NNN-NNNN forms)" },
	{ "pii.card", P_BOOL, F(pii_types[FILTER_PII_CARD]), "look for payment-card numbers (Luhn-checked, known issuer prefixes)" },
	{ "pii.url_hosts", P_BOOL, F(pii_url_hosts), "also redact inside URLs' host names (http://10.0.0.1/ ...)" },
};
#undef F
#define N_PARAMS (sizeof params / sizeof params[0])

static int set_str(char **dst, const char *v)
{
	char *s = sp_strdup(v);
	if (!s)
		return SP_ENOMEM;
	sp_free(*dst);
	*dst = s;
	return 0;
}

int filter_config_defaults(filter_config *c)
{
	memset(c, 0, sizeof *c);
	c->normalize = FILTER_NORM_NFC;
	c->strip_invisible = 1;
	if (set_str(&c->url_field, "meta.url") || set_str(&c->block_domains, "") || set_str(&c->block_suffixes, "") ||
	    set_str(&c->block_patterns, "") || set_str(&c->lang_keep, "en")) {
		filter_config_release(c);
		return SP_ENOMEM;
	}
	c->lang = 1; c->lang_min_score = 0.65; c->lang_max_bytes = 16384;
	/* Gopher (Rae et al. 2021, appendix A) as in FineWeb's pipeline */
	c->gopher_word_count = 1; c->gopher_word_count_min = 50; c->gopher_word_count_max = 100000;
	c->gopher_mean_word_length = 1; c->gopher_mean_word_length_min = 3; c->gopher_mean_word_length_max = 10;
	c->gopher_symbol_ratio = 1; c->gopher_symbol_ratio_max = 0.1;
	c->gopher_bullet_lines = 1; c->gopher_bullet_lines_max = 0.9;
	c->gopher_ellipsis_lines = 1; c->gopher_ellipsis_lines_max = 0.3;
	c->gopher_alpha_words = 1; c->gopher_alpha_words_min = 0.8;
	c->gopher_stop_words = 1; c->gopher_stop_words_min = 2;
	c->gopher_dup_lines = 1; c->gopher_dup_lines_max = 0.30;
	c->gopher_dup_paragraphs = 1; c->gopher_dup_paragraphs_max = 0.30;
	c->gopher_dup_line_chars = 1; c->gopher_dup_line_chars_max = 0.20;
	c->gopher_dup_paragraph_chars = 1; c->gopher_dup_paragraph_chars_max = 0.20;
	c->gopher_top_ngrams = 1;
	c->gopher_top_ngram_max[0] = 0.20; c->gopher_top_ngram_max[1] = 0.18; c->gopher_top_ngram_max[2] = 0.16;
	c->gopher_dup_ngrams = 1;
	static const double dup[6] = { 0.15, 0.14, 0.13, 0.12, 0.11, 0.10 };
	memcpy(c->gopher_dup_ngram_max, dup, sizeof dup);
	/* C4 (Raffel et al. 2020) with FineWeb's choice: no terminal-punctuation line removal */
	c->c4_lines = 1; c->c4_lines_terminal_punct = 0; c->c4_lines_min_words = 3; c->c4_lines_max_word_length = 1000;
	c->c4_lines_javascript = 1; c->c4_lines_policy = 1; c->c4_lines_citations = 1;
	c->c4_lorem_ipsum = 1; c->c4_curly_brace = 1; c->c4_min_sentences = 1; c->c4_min_sentences_min = 5;
	/* FineWeb (Penedo et al. 2024) */
	c->fineweb_line_punct = 1; c->fineweb_line_punct_min = 0.12;
	c->fineweb_short_lines = 1; c->fineweb_short_lines_max = 0.67; c->fineweb_short_lines_chars = 30;
	c->fineweb_char_dup = 1; c->fineweb_char_dup_max = 0.01;
	c->fineweb_list_ratio = 1; c->fineweb_list_ratio_max = 0.3;
	c->pii = FILTER_PII_OFF;
	for (int i = 0; i < FILTER_PII_N; i++)
		c->pii_types[i] = 1;
	c->pii_url_hosts = 0;
	return 0;
}

void filter_config_release(filter_config *c)
{
	sp_free(c->url_field); sp_free(c->block_domains); sp_free(c->block_suffixes);
	sp_free(c->block_patterns); sp_free(c->lang_keep);
	c->url_field = c->block_domains = c->block_suffixes = c->block_patterns = c->lang_keep = NULL;
}

static const char *const norm_names[] = { "none", "nfc", "nfkc" };
static const char *const pii_modes[] = { "off", "redact", "drop", "tag" };

static int pick(const char *v, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v, names[i]))
			return i;
	return -1;
}

int filter_config_set(filter_config *c, const char *key, const char *v, sp_err *err)
{
	const param *p = NULL;
	for (size_t i = 0; i < N_PARAMS; i++)
		if (!strcmp(params[i].key, key))
			p = &params[i];
	if (!p)
		SP_RAISE(err, SP_EUSAGE, "unknown config key '%s'", key);
	char *field = (char *)c + p->off, *end = NULL;
	errno = 0;
	switch (p->type) {
	case P_BOOL: {
		int b = pick(v, (const char *const[]){ "off", "on", "false", "true", "0", "1", "no", "yes" }, 8);
		if (b < 0)
			SP_RAISE(err, SP_EUSAGE, "config key '%s': '%s' is not on/off", key, v);
		*(int *)field = b & 1;
		return 0;
	}
	case P_INT: {
		long x = strtol(v, &end, 10);
		if (!*v || *end || errno || x < 0)
			SP_RAISE(err, SP_EUSAGE, "config key '%s': '%s' is not a non-negative integer", key, v);
		*(long *)field = x;
		return 0;
	}
	case P_DBL: {
		double x = strtod(v, &end);
		if (!*v || *end || errno || !(x >= 0))
			SP_RAISE(err, SP_EUSAGE, "config key '%s': '%s' is not a non-negative number", key, v);
		*(double *)field = x;
		return 0;
	}
	case P_STR:
		if (set_str((char **)field, v))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		return 0;
	case P_NORM: case P_PII: {
		int x = p->type == P_NORM ? pick(v, norm_names, 3) : pick(v, pii_modes, 4);
		if (x < 0)
			SP_RAISE(err, SP_EUSAGE, "config key '%s': '%s' is not one of %s", key, v,
			         p->type == P_NORM ? "nfc|nfkc|none" : "off|redact|drop|tag");
		*(int *)field = x;
		return 0;
	}
	}
	SP_RAISE(err, SP_EINTERNAL, "bad param type");
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

int filter_config_load(filter_config *c, const char *path, sp_err *err)
{
	sp_in *in = NULL;
	sp_buf line = SP_BUF_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_in_getline(in, &line, err)) == 1) {
		rc = 0;
		char *s = trim(line.p ? line.p : (char *)"");
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "expected 'key = value', got '%.60s'", s);
			sp_err_locate(err, path, sp_in_lineno(in));
			break;
		}
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		if ((rc = filter_config_set(c, k, v, err)) < 0) {
			sp_err_locate(err, path, sp_in_lineno(in));
			break;
		}
	}
	sp_buf_release(&line);
	sp_in_free(in);
	return rc < 0 ? rc : 0;
}

int filter_config_print(const filter_config *c, sp_buf *out)
{
	int rc = sp_buf_appends(out, "# spindle filter config: \"key = value\" lines, '#' starts a comment.\n"
	                             "# A rule's own key switches it (on/off); its thresholds are KEY.min/.max/....\n"
	                             "# Keys left out keep these defaults. See schemas/filter-config.md.\n");
	for (size_t i = 0; rc == 0 && i < N_PARAMS; i++) {
		const param *p = &params[i];
		const char *field = (const char *)c + p->off;
		if (p->help && !strchr(p->key, '.'))
			rc = sp_buf_appendf(out, "\n# %s\n", p->help);
		else if (p->help)
			rc = sp_buf_appendf(out, "# %s\n", p->help);
		if (rc)
			break;
		switch (p->type) {
		case P_BOOL: rc = sp_buf_appendf(out, "%s = %s\n", p->key, *(const int *)field ? "on" : "off"); break;
		case P_INT: rc = sp_buf_appendf(out, "%s = %ld\n", p->key, *(const long *)field); break;
		case P_DBL: rc = sp_buf_appendf(out, "%s = %g\n", p->key, *(const double *)field); break;
		case P_STR: rc = sp_buf_appendf(out, "%s = %s\n", p->key, *(char *const *)field ? *(char *const *)field : ""); break;
		case P_NORM: rc = sp_buf_appendf(out, "%s = %s\n", p->key, norm_names[*(const int *)field]); break;
		case P_PII: rc = sp_buf_appendf(out, "%s = %s\n", p->key, pii_modes[*(const int *)field]); break;
		}
	}
	return rc;
}
