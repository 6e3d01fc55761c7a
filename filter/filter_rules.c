/* filter_rules.c - the document rules of `spindle filter`: each rule as a small measurement (the
 * scan and statistics in filter_stats.c) compared with its config threshold; C4 line removal,
 * sentence counting and the URL block lists are here too.
 *
 * Definitions follow the Gopher paper (Rae et al. 2021, appendix A), C4 (Raffel et al. 2020) and
 * FineWeb (Penedo et al. 2024) as datatrove implements them; where spindle differs it says so here
 * and in schemas/filter-config.md. Characters are Unicode code points; words are whitespace-separated.
 * PII lives in filter_pii.c, text clean-up in filter_text.c, the CLD2 shim in filter_lang.cc, the
 * filter's construction and list files in filter_new.c. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "filter_int.h"
#include "filter_lang.h"
#include "spindle/mem.h"

const char *const filter_rule_names[] = {
	"url_domain", "url_suffix", "url_pattern", "lang",
	"gopher_dup_lines", "gopher_dup_paragraphs", "gopher_dup_line_chars", "gopher_dup_paragraph_chars",
	"gopher_top_2gram", "gopher_top_3gram", "gopher_top_4gram",
	"gopher_dup_5gram", "gopher_dup_6gram", "gopher_dup_7gram", "gopher_dup_8gram", "gopher_dup_9gram",
	"gopher_dup_10gram",
	"gopher_word_count", "gopher_mean_word_length", "gopher_symbol_ratio", "gopher_bullet_lines",
	"gopher_ellipsis_lines", "gopher_alpha_words", "gopher_stop_words",
	"c4_lines", "c4_lorem_ipsum", "c4_curly_brace", "c4_min_sentences",
	"fineweb_line_punct", "fineweb_short_lines", "fineweb_char_dup", "fineweb_list_ratio",
	"pii", NULL
};


/* ------------------------------------------------------------------ C4 line rules */

static void lower_ascii(sp_buf *dst, const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst->p[i] = (char)tolower((unsigned char)t[i]);
	dst->p[n] = 0;
	dst->len = n;
}

static const char *const policy_phrases[] = { "terms of use", "privacy policy", "cookie policy", "uses cookies",
                                              "use of cookies", "use cookies" };

/* Deletes "[12]", "[]", "[edit]", "[citation needed]" from a line into out. */
static int append_without_citations(sp_buf *out, const char *p, size_t n)
{
	size_t i = 0, from = 0;
	while (i < n) {
		if (p[i] == '[') {
			size_t j = i + 1;
			while (j < n && p[j] >= '0' && p[j] <= '9')
				j++;
			size_t len = 0;
			if (j < n && p[j] == ']')
				len = j + 1 - i;
			else if (n - i >= 6 && !memcmp(p + i, "[edit]", 6))
				len = 6;
			else if (n - i >= 17 && !memcmp(p + i, "[citation needed]", 17))
				len = 17;
			if (len) {
				if (sp_buf_append(out, p + from, i - from))
					return SP_ENOMEM;
				i += len;
				from = i;
				continue;
			}
		}
		i++;
	}
	return sp_buf_append(out, p + from, n - from);
}

/* Removes lines per the c4_lines switches (needs s->l from scan of t, and s->lower). Blank lines
 * are kept but runs of them collapse to one (C4 drops them all; spindle keeps paragraph breaks). */
static int c4_remove_lines(const filter_config *c, filter_scratch *s, const char *t, size_t *removed)
{
	*removed = 0;
	sp_buf_reset(&s->c4);
	int blank_pending = 0, any = 0;
	for (size_t i = 0; i < s->n_l; i++) {
		const fline *L = &s->l[i];
		if (!L->len) {
			blank_pending = any;
			continue;
		}
		const char *lo = s->lower.p + L->off;
		int drop = 0;
		if (c->c4_lines_min_words && L->n_words < (uint64_t)c->c4_lines_min_words)
			drop = 1;
		if (!drop && c->c4_lines_terminal_punct && !filter_ends_terminal(t + L->off, L->len))
			drop = 1;
		if (!drop && c->c4_lines_javascript && memmem(lo, L->len, "javascript", 10))
			drop = 1;
		if (!drop && c->c4_lines_policy)
			for (size_t k = 0; k < sizeof policy_phrases / sizeof *policy_phrases && !drop; k++)
				drop = memmem(lo, L->len, policy_phrases[k], strlen(policy_phrases[k])) != NULL;
		if (!drop && c->c4_lines_max_word_length) {
			size_t run = 0;
			for (size_t k = L->off; k < L->off + L->len && !drop; k++) {
				unsigned char ch = (unsigned char)t[k];
				if (filter_is_ws(ch)) run = 0;
				else if ((ch & 0xC0) != 0x80 && ++run > (size_t)c->c4_lines_max_word_length) drop = 1;
			}
		}
		if (drop) {
			(*removed)++;
			continue;
		}
		if (any && sp_buf_appends(&s->c4, blank_pending ? "\n\n" : "\n"))
			return SP_ENOMEM;
		blank_pending = 0;
		any = 1;
		if (c->c4_lines_citations ? append_without_citations(&s->c4, t + L->off, L->len)
		                          : sp_buf_append(&s->c4, t + L->off, L->len))
			return SP_ENOMEM;
	}
	if (!s->c4.p && sp_buf_grow(&s->c4, 1))
		return SP_ENOMEM;
	return 0;
}

/* Sentences: runs of . ! ? (and the CJK/Arabic full stops) followed by whitespace or the end, plus a
 * final unterminated fragment that has a letter or digit. */
static size_t count_sentences(const char *t, size_t n)
{
	size_t count = 0;
	int open = 0; /* text since the last sentence end */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		int term = 0;
		size_t k = 1;
		if (c == '.' || c == '!' || c == '?') term = 1;
		else if (c >= 0x80) {
			if (n - i >= 3 && (!memcmp(t + i, "\xe3\x80\x82", 3) || !memcmp(t + i, "\xef\xbc\x81", 3) ||
			                   !memcmp(t + i, "\xef\xbc\x9f", 3))) { term = 2; k = 3; }
		}
		if (term) {
			size_t j = i + k;
			while (j < n && (t[j] == '.' || t[j] == '!' || t[j] == '?' || t[j] == '"' || t[j] == '\'' || t[j] == ')'))
				j++;
			if (open && (j >= n || filter_is_ws((unsigned char)t[j]) || term == 2)) {
				count++;
				open = 0;
			}
			i = j - 1;
			continue;
		}
		if (isalnum(c) || c >= 0x80)
			open = 1;
	}
	return count + (open ? 1 : 0);
}

/* ------------------------------------------------------------------ URL rules */

static int host_of(const char *url, size_t n, char *host, size_t cap)
{
	const char *p = memmem(url, n, "://", 3);
	size_t i = p ? (size_t)(p - url) + 3 : 0, h = 0;
	size_t end = i;
	while (end < n && url[end] != '/' && url[end] != '?' && url[end] != '#')
		end++;
	const char *at = memchr(url + i, '@', end - i);
	if (at)
		i = (size_t)(at - url) + 1;
	for (; i < end && url[i] != ':' && h + 1 < cap; i++)
		host[h++] = (char)tolower((unsigned char)url[i]);
	while (h && host[h - 1] == '.')
		h--;
	host[h] = 0;
	return h > 0;
}

int filter_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int in_list(char **list, size_t n, const char *s)
{
	return n && bsearch(&s, list, n, sizeof *list, filter_cmp_str) != NULL;
}

/* ------------------------------------------------------------------ filter_doc */

static int signal(filter_result *r, const char *name, double v)
{
	if (r->signals.len && sp_buf_appendc(&r->signals, ','))
		return SP_ENOMEM;
	if (v == (double)(long long)v && v < 1e15)
		return sp_buf_appendf(&r->signals, "\"%s\":%lld", name, (long long)v);
	return sp_buf_appendf(&r->signals, "\"%s\":%.6g", name, v);
}

/* Records one measurement; returns 1 when evaluation should stop (dropped and not annotating). */
static int judge(filter_result *r, int annotate, const char *name, double v, int bad, double limit)
{
	if (annotate)
		signal(r, name, v);
	if (bad && r->keep) {
		r->keep = 0;
		r->rule = name;
		r->value = v;
		r->threshold = limit;
	}
	return bad && !annotate;
}

#define JUDGE(name, v, bad, limit) do { if (judge(r, annotate, name, (v), (bad), (limit))) goto done; } while (0)
#define RATIO(a, b) ((b) ? (double)(a) / (double)(b) : 0.0)

int filter_doc(const filter *f, filter_scratch *s, const char *text, size_t n, const char *url, int annotate,
               filter_result *r, sp_err *err)
{
	const filter_config *c = &f->c;
	r->keep = 1;
	r->rule = NULL;
	r->value = r->threshold = 0;
	r->text = text;
	r->text_len = n;
	r->text_changed = 0;
	r->lang[0] = 0;
	r->lang_score = 0;
	r->n_pii = 0;
	r->lines_removed = 0;
	memset(r->pii_counts, 0, sizeof r->pii_counts);
	sp_buf_reset(&r->signals);
	int rc = 0;

	/* clean-up */
	if (c->strip_invisible || c->normalize != FILTER_NORM_NONE) {
		SP_FORWARD(filter_clean_text(c->strip_invisible, c->normalize, text, n, &s->clean, err));
		if (s->clean.len != n || memcmp(s->clean.p, text, n)) {
			r->text = s->clean.p;
			r->text_len = s->clean.len;
			r->text_changed = 1;
		}
	}
	const char *t = r->text;
	n = r->text_len;

	/* URL block lists */
	if (url && (f->n_domains || f->n_suffixes || f->n_url_re)) {
		char host[256];
		if (host_of(url, strlen(url), host, sizeof host)) {
			JUDGE("url_domain", 1, in_list(f->domains, f->n_domains, host), 0);
			int hit = 0;
			for (const char *h = host; h && !hit; h = strchr(h, '.'), h = h ? h + 1 : NULL)
				hit = in_list(f->suffixes, f->n_suffixes, h);
			JUDGE("url_suffix", hit, hit, 0);
		}
		int hit = 0;
		for (size_t i = 0; i < f->n_url_re && !hit; i++)
			hit = pcre2_match(f->url_re[i], (PCRE2_SPTR)url, strlen(url), 0, 0, s->md, NULL) >= 0;
		JUDGE("url_pattern", hit, hit, 0);
	}

	/* language */
	if (c->lang) {
		size_t m = n;
		if (c->lang_max_bytes > 0 && m > (size_t)c->lang_max_bytes) {
			m = (size_t)c->lang_max_bytes;
			while (m && ((unsigned char)t[m] & 0xC0) == 0x80)
				m--;
		}
		int reliable = 0;
		filter_lang_detect(t, m, r->lang, sizeof r->lang, &r->lang_score, &reliable);
		int ok = f->any_lang || in_list(f->langs, f->n_langs, r->lang);
		JUDGE("lang", r->lang_score, !ok || r->lang_score < c->lang_min_score, c->lang_min_score);
	}

	filter_tstats st;
	if ((rc = filter_scan(s, t, n, &st)) < 0)
		goto oom;

	/* Gopher repetition */
	size_t line_dup_chars = 0;
	const char *line_dup_text = NULL; /* the text line_dup_chars was measured on */
	if (c->gopher_dup_lines || c->gopher_dup_line_chars || c->fineweb_char_dup) {
		size_t nd, cd;
		if ((rc = filter_dup_lines(s, &nd, &cd)) < 0)
			goto oom;
		line_dup_chars = cd;
		line_dup_text = t;
		if (c->gopher_dup_lines)
			JUDGE("gopher_dup_lines", RATIO(nd, st.lines), RATIO(nd, st.lines) > c->gopher_dup_lines_max, c->gopher_dup_lines_max);
		if (c->gopher_dup_line_chars)
			JUDGE("gopher_dup_line_chars", RATIO(cd, st.chars), RATIO(cd, st.chars) > c->gopher_dup_line_chars_max, c->gopher_dup_line_chars_max);
	}
	if (c->gopher_dup_paragraphs || c->gopher_dup_paragraph_chars) {
		size_t np, nd, cd;
		if ((rc = filter_dup_paragraphs(s, &np, &nd, &cd)) < 0)
			goto oom;
		if (c->gopher_dup_paragraphs)
			JUDGE("gopher_dup_paragraphs", RATIO(nd, np), RATIO(nd, np) > c->gopher_dup_paragraphs_max, c->gopher_dup_paragraphs_max);
		if (c->gopher_dup_paragraph_chars)
			JUDGE("gopher_dup_paragraph_chars", RATIO(cd, st.chars), RATIO(cd, st.chars) > c->gopher_dup_paragraph_chars_max, c->gopher_dup_paragraph_chars_max);
	}
	if (c->gopher_top_ngrams || c->gopher_dup_ngrams) {
		double top[3], dup[6];
		if ((rc = filter_ngram_fractions(s, st.word_chars, top, dup, c->gopher_top_ngrams, c->gopher_dup_ngrams)) < 0)
			goto oom;
		static const char *const tn[3] = { "gopher_top_2gram", "gopher_top_3gram", "gopher_top_4gram" };
		static const char *const dn[6] = { "gopher_dup_5gram", "gopher_dup_6gram", "gopher_dup_7gram",
		                                   "gopher_dup_8gram", "gopher_dup_9gram", "gopher_dup_10gram" };
		for (int k = 0; c->gopher_top_ngrams && k < 3; k++)
			JUDGE(tn[k], top[k], top[k] > c->gopher_top_ngram_max[k], c->gopher_top_ngram_max[k]);
		for (int k = 0; c->gopher_dup_ngrams && k < 6; k++)
			JUDGE(dn[k], dup[k], dup[k] > c->gopher_dup_ngram_max[k], c->gopher_dup_ngram_max[k]);
	}

	/* Gopher quality */
	if (c->gopher_word_count) {
		double v = (double)st.nonsym_words;
		JUDGE("gopher_word_count", v, v < c->gopher_word_count_min || v > c->gopher_word_count_max,
		      v < c->gopher_word_count_min ? c->gopher_word_count_min : c->gopher_word_count_max);
	}
	if (c->gopher_mean_word_length) {
		double v = RATIO(st.nonsym_chars, st.nonsym_words);
		JUDGE("gopher_mean_word_length", v, v < c->gopher_mean_word_length_min || v > c->gopher_mean_word_length_max,
		      v < c->gopher_mean_word_length_min ? c->gopher_mean_word_length_min : c->gopher_mean_word_length_max);
	}
	if (c->gopher_symbol_ratio) {
		double a = RATIO(st.hashes, st.words), b = RATIO(st.ellipses, st.words), v = a > b ? a : b;
		JUDGE("gopher_symbol_ratio", v, v > c->gopher_symbol_ratio_max, c->gopher_symbol_ratio_max);
	}
	if (c->gopher_bullet_lines)
		JUDGE("gopher_bullet_lines", RATIO(st.bullet_lines, st.lines), RATIO(st.bullet_lines, st.lines) > c->gopher_bullet_lines_max, c->gopher_bullet_lines_max);
	if (c->gopher_ellipsis_lines)
		JUDGE("gopher_ellipsis_lines", RATIO(st.ellipsis_lines, st.lines), RATIO(st.ellipsis_lines, st.lines) > c->gopher_ellipsis_lines_max, c->gopher_ellipsis_lines_max);
	if (c->gopher_alpha_words)
		JUDGE("gopher_alpha_words", RATIO(st.alpha_words, st.words), RATIO(st.alpha_words, st.words) < c->gopher_alpha_words_min, c->gopher_alpha_words_min);
	if (c->gopher_stop_words)
		JUDGE("gopher_stop_words", (double)st.stop_words, st.stop_words < (size_t)c->gopher_stop_words_min, (double)c->gopher_stop_words_min);

	/* C4 */
	int need_lower = c->c4_lines || c->c4_lorem_ipsum;
	if (need_lower) {
		if (sp_buf_grow(&s->lower, n + 1) < 0) { rc = SP_ENOMEM; goto oom; }
		lower_ascii(&s->lower, t, n);
	}
	if (c->c4_lorem_ipsum) {
		int hit = memmem(s->lower.p, n, "lorem ipsum", 11) != NULL;
		JUDGE("c4_lorem_ipsum", hit, hit, 0);
	}
	if (c->c4_curly_brace) {
		int hit = memchr(t, '{', n) != NULL;
		JUDGE("c4_curly_brace", hit, hit, 0);
	}
	if (c->c4_lines) {
		size_t removed;
		if ((rc = c4_remove_lines(c, s, t, &removed)) < 0)
			goto oom;
		r->lines_removed = removed;
		if (annotate)
			signal(r, "c4_lines_removed", (double)removed);
		if (removed || s->c4.len != n) {
			/* FineWeb's rules and the output see the text without the removed lines */
			t = s->c4.p;
			n = s->c4.len;
			r->text = t;
			r->text_len = n;
			r->text_changed = 1;
			if ((rc = filter_scan(s, t, n, &st)) < 0)
				goto oom;
		}
		JUDGE("c4_lines", (double)removed, st.words == 0, 0);
	}
	if (c->c4_min_sentences) {
		size_t v = count_sentences(t, n);
		JUDGE("c4_min_sentences", (double)v, v < (size_t)c->c4_min_sentences_min, (double)c->c4_min_sentences_min);
	}

	/* FineWeb */
	if (c->fineweb_line_punct)
		JUDGE("fineweb_line_punct", RATIO(st.punct_lines, st.lines), RATIO(st.punct_lines, st.lines) < c->fineweb_line_punct_min, c->fineweb_line_punct_min);
	if (c->fineweb_short_lines) {
		size_t sh = 0;
		for (size_t i = 0; i < s->n_l; i++)
			sh += s->l[i].len && s->l[i].chars <= (uint32_t)c->fineweb_short_lines_chars;
		JUDGE("fineweb_short_lines", RATIO(sh, st.lines), RATIO(sh, st.lines) > c->fineweb_short_lines_max, c->fineweb_short_lines_max);
	}
	if (c->fineweb_char_dup) {
		size_t nd, cd = line_dup_chars;
		if (line_dup_text != t && (rc = filter_dup_lines(s, &nd, &cd)) < 0)
			goto oom;
		double v = RATIO(cd, st.chars - st.newlines);
		JUDGE("fineweb_char_dup", v, v > c->fineweb_char_dup_max, c->fineweb_char_dup_max);
	}
	if (c->fineweb_list_ratio)
		JUDGE("fineweb_list_ratio", RATIO(st.newlines, st.words), RATIO(st.newlines, st.words) > c->fineweb_list_ratio_max, c->fineweb_list_ratio_max);

	/* PII */
	if (c->pii != FILTER_PII_OFF && (r->keep || annotate)) {
		if ((rc = filter_pii_find(f, s, t, n, r)) < 0)
			goto oom;
		long total = 0;
		for (int k = 0; k < FILTER_PII_N; k++)
			total += r->pii_counts[k];
		if (c->pii == FILTER_PII_DROP)
			JUDGE("pii", (double)total, total > 0, 0);
		if (c->pii == FILTER_PII_REDACT && r->n_pii) {
			static const char *const ph[FILTER_PII_N] = { "<EMAIL>", "<IPV4>", "<IPV6>", "<PHONE>", "<CARD>" };
			sp_buf_reset(&s->redact);
			size_t from = 0;
			for (size_t k = 0; k < r->n_pii; k++) {
				if (sp_buf_append(&s->redact, t + from, r->pii[k].start - from) ||
				    sp_buf_appends(&s->redact, ph[r->pii[k].type])) { rc = SP_ENOMEM; goto oom; }
				from = r->pii[k].end;
			}
			if (sp_buf_append(&s->redact, t + from, n - from)) { rc = SP_ENOMEM; goto oom; }
			r->text = s->redact.p;
			r->text_len = s->redact.len;
			r->text_changed = 1;
		}
	}
done:
	return 0;
oom:
	SP_RAISE(err, SP_ENOMEM, "out of memory");
}

