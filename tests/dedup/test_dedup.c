/* test_dedup.c - units of dedup/: word segmentation (ASCII fast path == ICU), shingles of short and
 * empty texts, Jaccard of hand-made near-duplicates, MinHash estimates, LSH parameters, the exact
 * similarity join against brute force, union-find, normalisation. */
#include <criterion/criterion.h>
#include <glob.h>
#include <unicode/uchar.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../dedup/dedup.h"
#include "spindle/buf.h"
#include "spindle/io.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

static dd_shingler *mk(int force_icu, int ngram)
{
	dd_params p = DD_PARAMS_DEFAULT;
	p.force_icu = force_icu;
	p.ngram = ngram;
	dd_shingler *s = NULL;
	cr_assert_eq(dd_shingler_new(&s, &p, NULL), 0);
	return s;
}

static void collect(void *ctx, const char *w, size_t n)
{
	sp_buf *b = ctx;
	sp_buf_append(b, w, n);
	sp_buf_appendc(b, '\n');
}

static void words_of(dd_shingler *s, const char *t, size_t n, sp_buf *out)
{
	sp_buf_reset(out);
	cr_assert_eq(dd_words(s, t, n, collect, out, NULL), 0);
}

/* The ASCII fast path must segment exactly like ICU: compare both on this machine's license texts
 * and on random strings over the characters whose rules differ. */
Test(dedup, ascii_fast_path_segments_like_icu_on_real_text)
{
	const char *files[] = { "/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
	                        "/usr/share/common-licenses/Artistic", "/usr/share/common-licenses/GFDL-1.3" };
	dd_shingler *fast = mk(0, 5), *icu = mk(1, 5);
	sp_buf text = SP_BUF_INIT, a = SP_BUF_INIT, b = SP_BUF_INIT;
	int compared = 0;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (sp_read_file(files[i], &text, NULL) < 0)
			continue;
		size_t k = 0;
		for (size_t j = 0; j < text.len; j++)
			if ((unsigned char)text.p[j] < 128)
				text.p[k++] = text.p[j];
		text.len = k;
		words_of(fast, text.p, text.len, &a);
		words_of(icu, text.p, text.len, &b);
		cr_assert(a.len > 1000);
		cr_assert_eq(a.len, b.len, "%s: word streams differ in length", files[i]);
		cr_assert_eq(memcmp(a.p, b.p, a.len), 0, "%s: word streams differ", files[i]);
		compared++;
	}
	cr_assert(compared > 0, "no license text found to compare");
	sp_buf_release(&text);
	sp_buf_release(&a);
	sp_buf_release(&b);
	dd_shingler_free(fast);
	dd_shingler_free(icu);
}

Test(dedup, ascii_fast_path_segments_like_icu_on_random_strings)
{
	static const char alpha[] = "aZq09_.',;:@ -\n\t!$/\"#%&()*+<=>?[\\]^`{|}~\x01\x7f";
	dd_shingler *fast = mk(0, 5), *icu = mk(1, 5);
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	char t[64];
	unsigned long long st = 12345;
	for (int it = 0; it < 20000; it++) {
		size_t n = 1 + it % 24;
		for (size_t i = 0; i < n; i++) {
			st = st * 6364136223846793005ull + 1442695040888963407ull;
			t[i] = alpha[(st >> 33) % (sizeof alpha - 1)];
		}
		words_of(fast, t, n, &a);
		words_of(icu, t, n, &b);
		cr_assert(a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0), "differ on '%.*s': fast '%s' icu '%s'",
		          (int)n, t, a.p ? a.p : "", b.p ? b.p : "");
	}
	sp_buf_release(&a);
	sp_buf_release(&b);
	dd_shingler_free(fast);
	dd_shingler_free(icu);
}

/* Mixed texts are cut into ASCII and non-ASCII runs at spaces: the words must not change. */
Test(dedup, mixed_text_runs_segment_like_icu_on_the_whole_text)
{
	static const char *alpha[] = { "a", "Z", "0", "_", ".", "'", ",", ":", " ", "  ", "\n", "\t", "\r\n", "-",
	                               "\u00e9", "\u00c9", "\u0301", "\u4e2d\u6587", "\u5927\u5b66", "\u0e20\u0e32\u0e29\u0e32",
	                               "\u0e44\u0e17\u0e22", "\u30ab\u30bf", "\u00a0", "\u200d", "\u00df", "\ufb01", "\u0130",
	                               "\u05d0", "\"", "\U0001F600", "1,5", "e.g." };
	dd_shingler *fast = mk(0, 5), *icu = mk(1, 5);
	sp_buf t = SP_BUF_INIT, a = SP_BUF_INIT, b = SP_BUF_INIT;
	unsigned long long st = 777;
	size_t na = sizeof alpha / sizeof alpha[0];
	for (int it = 0; it < 20000; it++) {
		sp_buf_reset(&t);
		size_t n = 1 + it % 30;
		for (size_t i = 0; i < n; i++) {
			st = st * 6364136223846793005ull + 1442695040888963407ull;
			sp_buf_appends(&t, alpha[(st >> 33) % na]);
		}
		words_of(fast, t.p, t.len, &a);
		words_of(icu, t.p, t.len, &b);
		cr_assert(a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0), "differ on '%s': fast '%s' icu '%s'",
		          t.p, a.p ? a.p : "", b.p ? b.p : "");
	}
	sp_buf_release(&t);
	sp_buf_release(&a);
	sp_buf_release(&b);
	dd_shingler_free(fast);
	dd_shingler_free(icu);
}

/* The run cutting on real multilingual text: this machine's translated man pages. */
Test(dedup, fast_segmentation_equals_icu_on_translated_man_pages)
{
	const char *langs[] = { "de", "fr", "ja", "ko", "ru", "pl", "tr", "zh_CN", "cs", "sv" };
	dd_shingler *fast = mk(0, 5), *icu = mk(1, 5);
	sp_buf text = SP_BUF_INIT, a = SP_BUF_INIT, b = SP_BUF_INIT;
	int compared = 0;
	for (size_t l = 0; l < sizeof langs / sizeof langs[0]; l++) {
		char pat[128];
		snprintf(pat, sizeof pat, "/usr/share/man/%s/man1/*.gz", langs[l]);
		glob_t g;
		if (glob(pat, 0, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc && i < 6; i++) {
			if (sp_read_file(g.gl_pathv[i], &text, NULL) < 0 || !sp_utf8_valid(text.p, text.len, NULL))
				continue;
			words_of(fast, text.p, text.len, &a);
			words_of(icu, text.p, text.len, &b);
			cr_assert(a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0), "%s: word streams differ", g.gl_pathv[i]);
			compared++;
		}
		globfree(&g);
	}
	if (compared == 0)
		cr_skip_test("no translated man pages on this machine");
	sp_buf_release(&text);
	sp_buf_release(&a);
	sp_buf_release(&b);
	dd_shingler_free(fast);
	dd_shingler_free(icu);
}

Test(dedup, texts_without_words_have_no_shingles_and_short_ones_have_one)
{
	dd_shingler *s = mk(0, 5);
	const uint64_t *h;
	size_t n;
	cr_assert_eq(dd_shingles(s, "", 0, &h, &n, NULL), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(dd_shingles(s, "!!! --- ... ???", 15, &h, &n, NULL), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(dd_shingles(s, "  word  ", 8, &h, &n, NULL), 0);
	cr_assert_eq(n, 1);
	uint64_t one = h[0];
	cr_assert_eq(dd_shingles(s, "WORD!", 5, &h, &n, NULL), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(h[0], one, "case folding and punctuation do not change a word");
	cr_assert_eq(dd_shingles(s, "a b c", 5, &h, &n, NULL), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(dd_shingles(s, "a b c d e f g", 13, &h, &n, NULL), 0);
	cr_assert_eq(n, 3);
	dd_shingler_free(s);
}

/* Documents of distinct words w0 w1 ...: A = words 0..99, B = words 0..89 and 10 others. With 5-word
 * shingles A and B have 96 shingles each and share the 86 inside words 0..89: J = 86/106. */
static void words_doc(sp_buf *b, int from, int to, int tag)
{
	for (int i = from; i < to; i++)
		sp_buf_appendf(b, "w%dx%d ", i, tag);
}

Test(dedup, hand_made_near_duplicates_have_the_jaccard_worked_out_by_hand)
{
	dd_shingler *s = mk(0, 5);
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	words_doc(&a, 0, 100, 0);
	words_doc(&b, 0, 90, 0);
	words_doc(&b, 90, 100, 1);
	const uint64_t *h;
	size_t na, nb;
	cr_assert_eq(dd_shingle_set(s, a.p, a.len, &h, &na, NULL), 0);
	uint64_t *sa = malloc(na * 8);
	memcpy(sa, h, na * 8);
	cr_assert_eq(dd_shingle_set(s, b.p, b.len, &h, &nb, NULL), 0);
	cr_assert_eq(na, 96);
	cr_assert_eq(nb, 96);
	double j = dd_jaccard(sa, na, h, nb);
	cr_assert_float_eq(j, 86.0 / 106.0, 1e-12);

	/* MinHash estimate with 512 permutations: within 4 standard deviations */
	dd_perms pm;
	dd_perms_init(&pm, 512, 7);
	uint32_t s1[512], s2[512];
	dd_minhash(&pm, sa, na, s1);
	dd_minhash(&pm, h, nb, s2);
	int eq = 0;
	for (int i = 0; i < 512; i++)
		eq += s1[i] == s2[i];
	double est = eq / 512.0, sd = sqrt(j * (1 - j) / 512.0);
	cr_assert(fabs(est - j) < 4 * sd, "estimate %f vs %f", est, j);
	free(sa);
	sp_buf_release(&a);
	sp_buf_release(&b);
	dd_shingler_free(s);
}

Test(dedup, chinese_japanese_and_thai_get_words_from_the_dictionaries)
{
	dd_shingler *s = mk(0, 2);
	sp_buf w = SP_BUF_INIT;
	const char *zh = "我们今天去北京大学参观图书馆和博物馆。";
	words_of(s, zh, strlen(zh), &w);
	int nzh = 0;
	for (size_t i = 0; i < w.len; i++)
		nzh += w.p[i] == '\n';
	cr_assert(nzh >= 6 && nzh < 19, "Chinese: %d words (not one per character, not one for all): %s", nzh, w.p);
	const char *th = "ภาษาไทยเป็นภาษาที่สวยงามมาก";
	words_of(s, th, strlen(th), &w);
	int nth = 0;
	for (size_t i = 0; i < w.len; i++)
		nth += w.p[i] == '\n';
	cr_assert(nth >= 4, "Thai: %d words: %s", nth, w.p);
	cr_assert(strstr(w.p, "ภาษา\n") != NULL, "Thai word for language: %s", w.p);
	const char *ja = "東京の天気は晴れです。明日も晴れるでしょう。";
	words_of(s, ja, strlen(ja), &w);
	int nja = 0;
	for (size_t i = 0; i < w.len; i++)
		nja += w.p[i] == '\n';
	cr_assert(nja >= 6, "Japanese: %d words: %s", nja, w.p);
	/* a Chinese near-duplicate is more similar than an unrelated text */
	const char *zh2 = "我们今天去北京大学参观图书馆和美术馆。";
	const char *zh3 = "他喜欢在周末踢足球和打篮球。";
	const uint64_t *h;
	size_t n1, n2, n3;
	dd_shingle_set(s, zh, strlen(zh), &h, &n1, NULL);
	uint64_t *a = malloc(n1 * 8);
	memcpy(a, h, n1 * 8);
	dd_shingle_set(s, zh2, strlen(zh2), &h, &n2, NULL);
	double j12 = dd_jaccard(a, n1, h, n2);
	dd_shingle_set(s, zh3, strlen(zh3), &h, &n3, NULL);
	double j13 = dd_jaccard(a, n1, h, n3);
	cr_assert(j12 > 0.5 && j13 < 0.1, "near %f, unrelated %f", j12, j13);
	free(a);
	sp_buf_release(&w);
	dd_shingler_free(s);
}

Test(dedup, lsh_parameters_for_a_threshold_have_high_recall_there)
{
	double ts[] = { 0.5, 0.7, 0.8, 0.9, 0.95 };
	for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
		int b, r;
		dd_lsh_params(ts[i], 112, &b, &r);
		cr_assert(b * r <= 112);
		cr_assert(dd_lsh_prob(ts[i], b, r) >= 0.9, "t=%f b=%d r=%d p=%f", ts[i], b, r, dd_lsh_prob(ts[i], b, r));
		cr_assert(dd_lsh_prob(ts[i] - 0.3, b, r) < 0.5, "t=%f b=%d r=%d: too many false positives", ts[i], b, r);
	}
	cr_assert_float_eq(dd_lsh_prob(0.8, 14, 8), 1 - pow(1 - pow(0.8, 8), 14), 1e-12);
}

Test(dedup, exact_similarity_join_equals_brute_force)
{
	/* 300 random sets over a small universe, with planted near-copies */
	enum { N = 300 };
	uint64_t *sets[N];
	size_t lens[N];
	unsigned long long st = 99;
	for (int i = 0; i < N; i++) {
		size_t n = 5 + (size_t)(i * 7 % 40);
		sets[i] = malloc(n * 8);
		size_t k = 0;
		for (size_t j = 0; j < n; j++) {
			st = st * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t v = (i >= 10 && (st >> 60) < 13) ? sets[i - 10][j % lens[i - 10]] : (st >> 40) % 2000;
			sets[i][k++] = v;
		}
		/* sort unique */
		for (size_t a = 1; a < k; a++)
			for (size_t b = a; b > 0 && sets[i][b - 1] > sets[i][b]; b--) {
				uint64_t t = sets[i][b];
				sets[i][b] = sets[i][b - 1];
				sets[i][b - 1] = t;
			}
		size_t m = 0;
		for (size_t a = 0; a < k; a++)
			if (m == 0 || sets[i][m - 1] != sets[i][a])
				sets[i][m++] = sets[i][a];
		lens[i] = m;
	}
	double ts[] = { 0.3, 0.5, 0.8 };
	for (size_t ti = 0; ti < 3; ti++) {
		dd_pairs p = { NULL, 0, 0 };
		cr_assert_eq(dd_allpairs(N, (const uint64_t *const *)sets, lens, ts[ti], &p, NULL), 0);
		size_t brute = 0, k = 0;
		for (int i = 0; i < N; i++)
			for (int j = i + 1; j < N; j++)
				if (dd_jaccard(sets[i], lens[i], sets[j], lens[j]) >= ts[ti]) {
					brute++;
					cr_assert(k < p.n && p.ab[2 * k] == (uint64_t)i && p.ab[2 * k + 1] == (uint64_t)j,
					          "t=%f: pair %d,%d missing", ts[ti], i, j);
					k++;
				}
		cr_assert_eq(p.n, brute);
		cr_assert(brute > 0);
		dd_pairs_release(&p);
	}
	for (int i = 0; i < N; i++)
		free(sets[i]);
}

Test(dedup, union_find_roots_are_the_smallest_members)
{
	dd_uf u;
	cr_assert_eq(dd_uf_init(&u, 10), 0);
	dd_uf_union(&u, 7, 3);
	dd_uf_union(&u, 9, 7);
	dd_uf_union(&u, 5, 9);
	dd_uf_union(&u, 2, 8);
	cr_assert_eq(dd_uf_find(&u, 5), 3);
	cr_assert_eq(dd_uf_find(&u, 8), 2);
	cr_assert_eq(dd_uf_find(&u, 0), 0);
	uint32_t kept[10];
	double score[10] = { 0, 0, 1, 5, 0, 9, 0, 9, 2, 1 };
	dd_keep(10, &u, score, kept);
	cr_assert_eq(kept[3], 5, "highest score, earliest on ties");
	cr_assert_eq(kept[9], 5);
	cr_assert_eq(kept[8], 8);
	dd_keep(10, &u, NULL, kept);
	cr_assert_eq(kept[9], 3);
	dd_uf_release(&u);
}

Test(dedup, normalisation_folds_case_space_punctuation_digits_and_nfkc)
{
	dd_norm *n = NULL;
	int f;
	cr_assert_eq(dd_norm_parse("case,space,punct,digits,nfkc", &f, NULL), 0);
	cr_assert_eq(dd_norm_new(&n, f, NULL), 0);
	const char *t = "  Hello,\tWORLD\u00a0 1234 \ufb01ne \u00c9T\u00c9! ";
	const char *o;
	size_t len;
	cr_assert_eq(dd_norm_apply(n, t, strlen(t), &o, &len, NULL), 0);
	cr_assert_str_eq(o, "hello world 0000 fine \u00e9t\u00e9");
	dd_norm_free(n);
	cr_assert_neq(dd_norm_parse("case,bogus", &f, NULL), 0);
	cr_assert_eq(dd_norm_parse("none", &f, NULL), 0);
	cr_assert_eq(f, 0);
}

Test(dedup, ascii_normalisation_agrees_with_the_icu_predicates)
{
	dd_norm *n = NULL;
	cr_assert_eq(dd_norm_new(&n, DD_NORM_CASE | DD_NORM_SPACE | DD_NORM_PUNCT | DD_NORM_DIGITS, NULL), 0);
	for (int c = 1; c < 128; c++) {
		/* x<c>y: ICU decides what c becomes */
		char in[4] = { 'x', (char)c, 'y', 0 }, want[8];
		int w = 0;
		want[w++] = 'x';
		if (u_isUWhiteSpace(c))
			want[w++] = ' ';
		else if (U_GET_GC_MASK(c) & (U_GC_P_MASK | U_GC_S_MASK))
			;
		else if (u_isdigit(c))
			want[w++] = '0';
		else
			want[w++] = (char)u_foldCase(c, U_FOLD_CASE_DEFAULT);
		want[w++] = 'y';
		want[w] = 0;
		const char *o;
		size_t len;
		cr_assert_eq(dd_norm_apply(n, in, 3, &o, &len, NULL), 0);
		cr_assert(len == (size_t)w && memcmp(o, want, len) == 0, "char %d: got '%.*s' want '%s'", c, (int)len, o, want);
	}
	dd_norm_free(n);
}

/* ------------------------------------------------------------------ staged files (dedup_staged.h) */
#include "../../dedup/dedup_staged.h"

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s (run from the repository root)", path);
	static uint8_t buf[1 << 16];
	*n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	return buf;
}

Test(dedup_staged, every_written_kind_checks_and_every_flipped_byte_is_corrupt)
{
	static const char *const kinds[] = { "signatures", "signatures_verify", "buckets", "pairs", "removed", "line_counts" };
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		char path[256];
		snprintf(path, sizeof path, "tests/fuzz/corpus/dedup_staged/%s", kinds[k]);
		size_t n;
		uint8_t *p = slurp(path, &n);
		sp_err err = SP_ERR_INIT;
		cr_assert_eq(dd_staged_check_mem(p, n, path, &err), 0, "%s: %s", path, err.msg);
		for (size_t i = 0; i < n; i++) {
			p[i] ^= 0x01;
			cr_assert_eq(dd_staged_check_mem(p, n, path, &err), SP_EDATA, "%s: byte %zu flipped was accepted", path, i);
			p[i] ^= 0x01;
		}
		cr_assert_eq(dd_staged_check_mem(p, n - 1, path, &err), SP_EDATA, "%s truncated was accepted", path);
	}
}
