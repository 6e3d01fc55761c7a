/* test_rules.c - each filter rule on both sides of its threshold, with every other rule off; PII
 * positives and look-alikes; text clean-up; the config format. Texts are built here so the
 * measured value is known by construction (not computed by the code under test). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include "../../filter/filter.h"
#include "spindle/buf.h"
#include "spindle/io.h"

static const char *const switches[] = {
	"strip_invisible", "lang", "gopher_dup_lines", "gopher_dup_paragraphs", "gopher_dup_line_chars",
	"gopher_dup_paragraph_chars", "gopher_top_ngrams", "gopher_dup_ngrams", "gopher_word_count",
	"gopher_mean_word_length", "gopher_symbol_ratio", "gopher_bullet_lines", "gopher_ellipsis_lines",
	"gopher_alpha_words", "gopher_stop_words", "c4_lines", "c4_lorem_ipsum", "c4_curly_brace", "c4_min_sentences",
	"fineweb_line_punct", "fineweb_short_lines", "fineweb_char_dup", "fineweb_list_ratio", NULL
};

/* A config with every rule off but the ones named (NULL-terminated key=value pairs). */
static filter *only(const char *k1, const char *v1, const char *k2, const char *v2)
{
	filter_config c;
	sp_err e = SP_ERR_INIT;
	cr_assert_eq(filter_config_defaults(&c), 0);
	for (size_t i = 0; switches[i]; i++)
		cr_assert_eq(filter_config_set(&c, switches[i], "off", &e), 0, "%s", e.msg);
	cr_assert_eq(filter_config_set(&c, "normalize", "none", &e), 0);
	if (k1) cr_assert_eq(filter_config_set(&c, k1, v1, &e), 0, "%s", e.msg);
	if (k2) cr_assert_eq(filter_config_set(&c, k2, v2, &e), 0, "%s", e.msg);
	filter *f = NULL;
	cr_assert_eq(filter_new(&f, &c, &e), 0, "%s", e.msg);
	filter_config_release(&c);
	return f;
}

/* Runs text through f; returns the rule that dropped it ("" if kept). */
static const char *verdict(filter *f, const char *text, const char *url, double *value)
{
	static char rule[64];
	filter_scratch *s = filter_scratch_new(f);
	filter_result r = FILTER_RESULT_INIT;
	sp_err e = SP_ERR_INIT;
	cr_assert_eq(filter_doc(f, s, text, strlen(text), url, 0, &r, &e), 0);
	snprintf(rule, sizeof rule, "%s", r.keep ? "" : r.rule);
	if (value)
		*value = r.value;
	filter_result_release(&r);
	filter_scratch_free(s);
	return rule;
}

static void both_sides(const char *rule_switch, const char *rule_name, const char *pass, const char *fail)
{
	filter *f = only(rule_switch, "on", NULL, NULL);
	cr_expect_str_eq(verdict(f, pass, NULL, NULL), "", "%s should keep: %.80s", rule_name, pass);
	cr_expect_str_eq(verdict(f, fail, NULL, NULL), rule_name, "%s should drop: %.80s", rule_name, fail);
	filter_free(f);
}

/* n words "w0 w1 ..." each made of len letters, distinct. */
static char *words(sp_buf *b, size_t n, size_t len)
{
	sp_buf_reset(b);
	for (size_t i = 0; i < n; i++) {
		if (i) sp_buf_appendc(b, ' ');
		char w[32];
		size_t x = i;
		for (size_t k = 0; k < len; k++) { w[k] = (char)('a' + x % 26); x /= 26; }
		w[len] = 0;
		sp_buf_appends(b, w);
	}
	return b->p;
}

/* Lines from a printf pattern with %zu = line index. */
static char *lines(sp_buf *b, size_t n, const char *const *pattern_of, size_t n_patterns)
{
	sp_buf_reset(b);
	for (size_t i = 0; i < n; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		sp_buf_appendf(b, pattern_of[i % n_patterns], i);
#pragma GCC diagnostic pop
		sp_buf_appendc(b, '\n');
	}
	return b->p;
}

Test(gopher, word_count_min_is_inclusive)
{
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	both_sides("gopher_word_count", "gopher_word_count", words(&a, 50, 5), words(&b, 49, 5));
	sp_buf_release(&a); sp_buf_release(&b);
}

Test(gopher, word_count_max)
{
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	filter *f = only("gopher_word_count", "on", "gopher_word_count.max", "100");
	cr_expect_str_eq(verdict(f, words(&a, 100, 5), NULL, NULL), "");
	cr_expect_str_eq(verdict(f, words(&b, 101, 5), NULL, NULL), "gopher_word_count");
	filter_free(f);
	sp_buf_release(&a); sp_buf_release(&b);
}

Test(gopher, mean_word_length_between_3_and_10)
{
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT, c = SP_BUF_INIT;
	both_sides("gopher_mean_word_length", "gopher_mean_word_length", words(&a, 60, 3), words(&b, 60, 2));
	both_sides("gopher_mean_word_length", "gopher_mean_word_length", words(&a, 60, 10), words(&c, 60, 11));
	sp_buf_release(&a); sp_buf_release(&b); sp_buf_release(&c);
}

Test(gopher, symbol_ratio_hash_and_ellipsis)
{
	/* 20 words: 2 hashes = 0.1 (kept), 3 = 0.15 (dropped); the same with ellipses */
	both_sides("gopher_symbol_ratio", "gopher_symbol_ratio",
	           "#a #b c d e f g h i j k l m n o p q r s t", "#a #b #c d e f g h i j k l m n o p q r s t");
	both_sides("gopher_symbol_ratio", "gopher_symbol_ratio",
	           "a... b\xe2\x80\xa6 c d e f g h i j k l m n o p q r s t", "a... b... c... d e f g h i j k l m n o p q r s t");
}

Test(gopher, bullet_lines_above_90_percent)
{
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	const char *p9[] = { "- item %zu", "- item %zu", "- item %zu", "- item %zu", "- item %zu", "\xe2\x80\xa2 item %zu",
	                     "* item %zu", "- item %zu", "- item %zu", "plain %zu" };
	const char *p10[] = { "- item %zu" };
	both_sides("gopher_bullet_lines", "gopher_bullet_lines", lines(&a, 10, p9, 10), lines(&b, 10, p10, 1));
	sp_buf_release(&a); sp_buf_release(&b);
}

Test(gopher, ellipsis_lines_above_30_percent)
{
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	const char *p3[] = { "line %zu...", "line %zu\xe2\x80\xa6", "line %zu...", "x %zu", "x %zu", "x %zu", "x %zu", "x %zu", "x %zu", "x %zu" };
	const char *p4[] = { "line %zu...", "line %zu...", "line %zu...", "line %zu...", "x %zu", "x %zu", "x %zu", "x %zu", "x %zu", "x %zu" };
	both_sides("gopher_ellipsis_lines", "gopher_ellipsis_lines", lines(&a, 10, p3, 10), lines(&b, 10, p4, 10));
	sp_buf_release(&a); sp_buf_release(&b);
}

Test(gopher, alpha_words_below_80_percent)
{
	both_sides("gopher_alpha_words", "gopher_alpha_words", "a b c d e f g \xc3\xa9t\xc3\xa9 42 7", "a b c d e f g 1 42 7");
}

Test(gopher, stop_words_at_least_two)
{
	both_sides("gopher_stop_words", "gopher_stop_words", "The cat sat with a hat", "A cat sat on a hat");
}

Test(gopher, duplicate_lines_fraction)
{
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	/* 10 lines; 3 repeat an earlier line (0.3 kept), 4 repeat (0.4 dropped) */
	const char *p3[] = { "one %zu", "two", "two", "two", "two", "six %zu", "seven %zu", "eight %zu", "nine %zu", "ten %zu" };
	const char *p4[] = { "one %zu", "two", "two", "two", "two", "two", "seven %zu", "eight %zu", "nine %zu", "ten %zu" };
	both_sides("gopher_dup_lines", "gopher_dup_lines", lines(&a, 10, p3, 10), lines(&b, 10, p4, 10));
	sp_buf_release(&a); sp_buf_release(&b);
}

Test(gopher, duplicate_paragraphs_fraction)
{
	const char *keep = "p one\n\np two\n\np two\n\np four\n\np five\n\np six\n\np seven\n\np eight\n\np nine\n\np ten\n";
	const char *drop = "p one\n\np two\n\np two\n\np two\n\np two\n\np two\n\np seven\n\np eight\n\np nine\n\np ten\n";
	both_sides("gopher_dup_paragraphs", "gopher_dup_paragraphs", keep, drop);
}

Test(gopher, duplicate_line_characters)
{
	/* 100 characters in all; a repeated 19-character line is kept, a repeated 22-character line dropped */
	char keep[256], drop[256];
	snprintf(keep, sizeof keep, "%s\n%s\n%s", "abcdefghijklmnopqrs", "abcdefghijklmnopqrs",
	         "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
	snprintf(drop, sizeof drop, "%s\n%s\n%s", "abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuv",
	         "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
	cr_assert_eq(strlen(keep), 101);
	cr_assert_eq(strlen(drop), 101);
	both_sides("gopher_dup_line_chars", "gopher_dup_line_chars", keep, drop);
}

Test(gopher, top_2gram_fraction)
{
	/* "ab cd" x3 = 12 word chars of 60 (0.2, kept) vs x4 = 16 of 58 (0.28) */
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT, w = SP_BUF_INIT;
	sp_buf_appendf(&a, "ab cd qq ab cd zz ab cd %s", words(&w, 22, 2));
	sp_buf_appendf(&b, "ab cd ab cd ab cd ab cd %s", words(&w, 21, 2));
	filter *f = only("gopher_top_ngrams", "on", NULL, NULL);
	double v;
	cr_expect_str_eq(verdict(f, a.p, NULL, &v), "");
	cr_expect_str_eq(verdict(f, b.p, NULL, &v), "gopher_top_2gram");
	cr_expect_float_eq(v, 16.0 / 58.0, 1e-9);
	filter_free(f);
	sp_buf_release(&a); sp_buf_release(&b); sp_buf_release(&w);
}

Test(gopher, duplicate_5gram_fraction)
{
	/* a 5-gram of 1-letter words repeated: covers 10 chars of 100 (kept), 20 of 100 (dropped) */
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT, w = SP_BUF_INIT;
	sp_buf_appendf(&a, "a b c d e a b c d e %s", words(&w, 45, 2));
	sp_buf_appendf(&b, "a b c d e a b c d e a b c d e a b c d e a b c d e %s", words(&w, 37, 2));
	filter *f = only("gopher_dup_ngrams", "on", NULL, NULL);
	double v;
	cr_expect_str_eq(verdict(f, a.p, NULL, NULL), "");
	cr_expect_str_eq(verdict(f, b.p, NULL, &v), "gopher_dup_5gram");
	cr_expect_float_eq(v, 20.0 / 99.0, 1e-9);
	filter_free(f);
	sp_buf_release(&a); sp_buf_release(&b); sp_buf_release(&w);
}

Test(c4, lorem_ipsum_and_curly_braces)
{
	both_sides("c4_lorem_ipsum", "c4_lorem_ipsum", "Plain words here.", "Some Lorem Ipsum dolor sit amet.");
	both_sides("c4_curly_brace", "c4_curly_brace", "No braces (here).", "int main() { return 0; }");
}

Test(c4, min_sentences)
{
	both_sides("c4_min_sentences", "c4_min_sentences", "One. Two! Three? Four. Five, unterminated",
	           "One. Two! Three? Four...  ");
}

Test(c4, line_removal)
{
	filter *f = only("c4_lines", "on", NULL, NULL);
	filter_scratch *s = filter_scratch_new(f);
	filter_result r = FILTER_RESULT_INIT;
	sp_err e = SP_ERR_INIT;
	const char *t = "A proper first line of text.\nMenu\nPlease enable JavaScript to view this.\n"
	                "This site uses cookies to work.\nAnother good line here[1] ok.\n";
	cr_assert_eq(filter_doc(f, s, t, strlen(t), NULL, 0, &r, &e), 0);
	cr_expect(r.keep);
	cr_expect_eq(r.lines_removed, 3);
	cr_expect_eq(r.text_len, strlen("A proper first line of text.\nAnother good line here ok."));
	cr_expect(!memcmp(r.text, "A proper first line of text.\nAnother good line here ok.", r.text_len));
	filter_result_release(&r);
	filter_scratch_free(s);
	filter_free(f);
}

Test(fineweb, line_punct_short_lines_char_dup_list_ratio)
{
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	const char *p2[] = { "ends well %zu.", "ends well %zu!", "no end %zu", "no end %zu", "no end %zu", "no end %zu", "no end %zu", "no end %zu", "no end %zu", "no end %zu" };
	const char *p1[] = { "ends well %zu.", "no end %zu" , "no end %zu", "no end %zu", "no end %zu", "no end %zu", "no end %zu", "no end %zu", "no end %zu", "no end %zu"};
	both_sides("fineweb_line_punct", "fineweb_line_punct", lines(&a, 10, p2, 10), lines(&b, 10, p1, 10));
	/* 2 of 3 lines short (0.667 kept at 0.67), 3 of 4 short (0.75 dropped) */
	both_sides("fineweb_short_lines", "fineweb_short_lines",
	           "short\nshort two\nthis line is certainly longer than thirty characters",
	           "short\nshort two\nthree\nthis line is certainly longer than thirty characters");
	both_sides("fineweb_char_dup", "fineweb_char_dup", "unique line one\nunique line two\n", "same line\nsame line\n");
	/* newlines per word: 3 newlines / 10 words = 0.3 kept; 4 / 10 dropped */
	both_sides("fineweb_list_ratio", "fineweb_list_ratio", "a b c\nd e f\ng h i\nj", "a b c\nd e f\ng h\ni\nj");
	sp_buf_release(&a); sp_buf_release(&b);
}

Test(lang, english_kept_german_dropped)
{
	const char *en = "The quick brown fox jumps over the lazy dog while the farmer watches from his porch and "
	                 "wonders whether the weather will hold for the harvest that is planned for next week.";
	const char *de = "Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer von seiner Veranda "
	                 "aus zusieht und sich fragt, ob das Wetter für die Ernte in der nächsten Woche hält.";
	filter *f = only("lang", "on", "lang.keep", "en");
	cr_expect_str_eq(verdict(f, en, NULL, NULL), "");
	cr_expect_str_eq(verdict(f, de, NULL, NULL), "lang");
	filter_free(f);
	f = only("lang", "on", "lang.keep", "de,fr");
	cr_expect_str_eq(verdict(f, de, NULL, NULL), "");
	cr_expect_str_eq(verdict(f, en, NULL, NULL), "lang");
	filter_free(f);
}

Test(url, domain_suffix_pattern_lists)
{
	char dir[] = "/tmp/spindle-filter-XXXXXX";
	cr_assert(mkdtemp(dir));
	char pd[128], ps[128], pp[128];
	snprintf(pd, sizeof pd, "%s/d", dir);
	snprintf(ps, sizeof ps, "%s/s", dir);
	snprintf(pp, sizeof pp, "%s/p", dir);
	sp_err e = SP_ERR_INIT;
	cr_assert_eq(sp_write_file_atomic(pd, "# exact\nbad.example\n", 21, &e), 0);
	cr_assert_eq(sp_write_file_atomic(ps, "casino.test\n", 12, &e), 0);
	cr_assert_eq(sp_write_file_atomic(pp, "/ads?/\n", 7, &e), 0);
	filter *f = only("url_domain.file", pd, "url_suffix.file", ps);
	cr_expect_str_eq(verdict(f, "text", "https://bad.example/page", NULL), "url_domain");
	cr_expect_str_eq(verdict(f, "text", "https://www.bad.example/page", NULL), "");
	cr_expect_str_eq(verdict(f, "text", "http://spin.casino.test:8080/", NULL), "url_suffix");
	cr_expect_str_eq(verdict(f, "text", "http://casino.test/", NULL), "url_suffix");
	cr_expect_str_eq(verdict(f, "text", "http://notcasino.test/", NULL), "");
	filter_free(f);
	f = only("url_pattern.file", pp, NULL, NULL);
	cr_expect_str_eq(verdict(f, "text", "http://x.org/ads/1", NULL), "url_pattern");
	cr_expect_str_eq(verdict(f, "text", "http://x.org/news/1", NULL), "");
	filter_free(f);
	remove(pd); remove(ps); remove(pp); remove(dir);
}

static void clean(int norm, const char *in, const char *want)
{
	sp_buf out = SP_BUF_INIT;
	sp_err e = SP_ERR_INIT;
	cr_assert_eq(filter_clean_text(1, norm, in, strlen(in), &out, &e), 0);
	cr_expect_str_eq(out.p, want);
	sp_buf_release(&out);
}

Test(text, invisible_junk_and_normalization)
{
	clean(FILTER_NORM_NONE, "a\xe2\x80\x8b" "b\xef\xbb\xbf" "c\r\nd\x01" "e\xc2\xad" "f\tg", "abc\nde" "f\tg");
	clean(FILTER_NORM_NONE, "\xe2\x80\x8d\xe2\x80\x8c", "\xe2\x80\x8d\xe2\x80\x8c"); /* ZWJ, ZWNJ kept */
	clean(FILTER_NORM_NFC, "cafe\xcc\x81", "caf\xc3\xa9");
	clean(FILTER_NORM_NFC, "\xef\xac\x81", "\xef\xac\x81");   /* the fi ligature survives NFC */
	clean(FILTER_NORM_NFKC, "\xef\xac\x81", "fi");            /* but not NFKC */
	clean(FILTER_NORM_NFC, "bad \xff byte", "bad \xef\xbf\xbd byte");
}

/* ---------------------------------------------------------------- PII */

static filter *pii_filter(const char *mode)
{
	return only("pii", mode, NULL, NULL);
}

static void pii_count(const char *text, int type, long want)
{
	filter *f = pii_filter("tag");
	filter_scratch *s = filter_scratch_new(f);
	filter_result r = FILTER_RESULT_INIT;
	sp_err e = SP_ERR_INIT;
	cr_assert_eq(filter_doc(f, s, text, strlen(text), NULL, 0, &r, &e), 0);
	long total = 0;
	for (int k = 0; k < FILTER_PII_N; k++)
		total += r.pii_counts[k];
	if (type >= 0)
		cr_expect_eq(r.pii_counts[type], want, "%s in '%s': %ld, wanted %ld", filter_pii_names[type], text,
		             r.pii_counts[type], want);
	else
		cr_expect_eq(total, 0, "look-alike '%s' was taken for PII", text);
	filter_result_release(&r);
	filter_scratch_free(s);
	filter_free(f);
}

Test(pii, positives)
{
	pii_count("write to jane.doe+spam@mail.example.co.uk today", FILTER_PII_EMAIL, 1);
	pii_count("server at 192.168.10.254, backup 10.0.0.1.", FILTER_PII_IPV4, 2);
	pii_count("host 2001:db8:85a3::8a2e:370:7334 and fe80::1ff:fe23:4567:890a", FILTER_PII_IPV6, 2);
	pii_count("call +1 415 555 2671 or (415) 555-2671 or 415-555-2671", FILTER_PII_PHONE, 3);
	pii_count("London +44 20 7946 0958", FILTER_PII_PHONE, 1);
	pii_count("visa 4111 1111 1111 1111, mc 5555-5555-5555-4444, amex 378282246310005", FILTER_PII_CARD, 3);
}

Test(pii, look_alikes_are_left_alone)
{
	const char *neg[] = {
		"bash version 1.2.3.4 is out", "v2.0.1", "released 2023-01-15 at 12:30:45", "ISBN 978-3-16-148410-0",
		"ISBN 0-306-40615-2", "ISBN 9783161484100", "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
		"md5 d41d8cd98f00b204e9800998ecf8427e", "see http://192.168.1.1/admin", "std::vector<int>",
		"mac 00:1A:2B:3C:4D:5E", "card 4111 1111 1111 1112", "epoch 1700000000000", "uuid 123e4567-e89b-12d3-a456-426614174000",
		"oid 1.3.6.1.4.1.311", "npm foo@1.2.3", "price 1,234,567.89", "ref 12345-67890", "::", "a::b",
		"phone-like version 100.200.3000.1", "quanta 3500 4111 1111 1111 1111 1514", "see [1] and [2]", "rsync://user@[2001:db8::1]/x",
	};
	for (size_t i = 0; i < sizeof neg / sizeof *neg; i++)
		pii_count(neg[i], -1, 0);
}

Test(pii, redact_puts_typed_placeholders_and_keeps_url_hosts)
{
	filter *f = pii_filter("redact");
	filter_scratch *s = filter_scratch_new(f);
	filter_result r = FILTER_RESULT_INIT;
	sp_err e = SP_ERR_INIT;
	const char *t = "mail bob@example.org from 10.1.2.3 via http://10.1.2.3/x card 4111111111111111";
	cr_assert_eq(filter_doc(f, s, t, strlen(t), NULL, 0, &r, &e), 0);
	cr_expect(r.keep);
	char got[256];
	snprintf(got, sizeof got, "%.*s", (int)r.text_len, r.text);
	cr_expect_str_eq(got, "mail <EMAIL> from <IPV4> via http://10.1.2.3/x card <CARD>");
	filter_result_release(&r);
	filter_scratch_free(s);
	filter_free(f);

	f = only("pii", "redact", "pii.url_hosts", "on");
	s = filter_scratch_new(f);
	cr_assert_eq(filter_doc(f, s, t, strlen(t), NULL, 0, &r, &e), 0);
	snprintf(got, sizeof got, "%.*s", (int)r.text_len, r.text);
	cr_expect_str_eq(got, "mail <EMAIL> from <IPV4> via http://<IPV4>/x card <CARD>");
	filter_result_release(&r);
	filter_scratch_free(s);
	filter_free(f);
}

Test(pii, drop_mode_drops)
{
	filter *f = pii_filter("drop");
	cr_expect_str_eq(verdict(f, "contact x@y.example", NULL, NULL), "pii");
	cr_expect_str_eq(verdict(f, "nothing personal here", NULL, NULL), "");
	filter_free(f);
}

Test(pii, luhn)
{
	cr_expect(filter_luhn_ok("79927398713", 11));
	cr_expect(!filter_luhn_ok("79927398710", 11));
	cr_expect(filter_luhn_ok("4111-1111-1111-1111", 19));
}

/* ---------------------------------------------------------------- config */

Test(config, print_then_load_round_trips)
{
	filter_config a, b;
	sp_err e = SP_ERR_INIT;
	filter_config_defaults(&a);
	filter_config_set(&a, "gopher_word_count.min", "77", &e);
	filter_config_set(&a, "pii", "tag", &e);
	filter_config_set(&a, "lang.keep", "de,fr", &e);
	sp_buf p = SP_BUF_INIT, q = SP_BUF_INIT;
	filter_config_print(&a, &p);
	char path[] = "/tmp/spindle-filter-config-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(sp_write_file_atomic(path, p.p, p.len, &e), 0);
	filter_config_defaults(&b);
	cr_assert_eq(filter_config_load(&b, path, &e), 0, "%s", e.msg);
	filter_config_print(&b, &q);
	cr_expect_str_eq(p.p, q.p);
	cr_expect_eq(b.gopher_word_count_min, 77);
	cr_expect_eq(b.pii, FILTER_PII_TAG);
	remove(path);
	sp_buf_release(&p); sp_buf_release(&q);
	filter_config_release(&a); filter_config_release(&b);
}

Test(config, errors_name_key_file_and_line)
{
	filter_config c;
	sp_err e = SP_ERR_INIT;
	filter_config_defaults(&c);
	cr_expect_eq(filter_config_set(&c, "no_such_rule", "on", &e), SP_EUSAGE);
	cr_expect(strstr(e.msg, "no_such_rule"));
	cr_expect_eq(filter_config_set(&c, "gopher_word_count.min", "many", &e), SP_EUSAGE);
	char path[] = "/tmp/spindle-filter-config-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	cr_assert_eq(sp_write_file_atomic(path, "# ok\nlang = on\nlang.min_score 3\n", 32, &e), 0);
	sp_err e2 = SP_ERR_INIT;
	cr_expect_eq(filter_config_load(&c, path, &e2), SP_EUSAGE);
	cr_expect_eq(e2.line, 3);
	remove(path);
	filter_config_release(&c);
}
