/* fuzz_dedup_words.c - fuzz target: dedup's word segmentation. For valid UTF-8 input, the fast
 * path (ASCII runs cut at spaces, the rest through ICU) must give exactly the words ICU gives on
 * the whole text; shingles, signatures and the normaliser must not crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../dedup/dedup.h"
#include "spindle/buf.h"
#include "spindle/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void collect(void *ctx, const char *w, size_t n)
{
	sp_buf *b = ctx;
	sp_buf_append(b, w, n);
	sp_buf_appendc(b, '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static dd_shingler *fast, *icu;
	static dd_norm *norm;
	static dd_perms pm;
	if (!fast) {
		dd_params p = DD_PARAMS_DEFAULT;
		dd_shingler_new(&fast, &p, NULL);
		p.force_icu = 1;
		dd_shingler_new(&icu, &p, NULL);
		dd_norm_new(&norm, DD_NORM_CASE | DD_NORM_SPACE | DD_NORM_PUNCT | DD_NORM_DIGITS | DD_NORM_NFKC, NULL);
		dd_perms_init(&pm, 112, 1);
	}
	const char *t = (const char *)data;
	if (!sp_utf8_valid(t, size, NULL))
		return 0;
	sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
	dd_words(fast, t, size, collect, &a, NULL);
	dd_words(icu, t, size, collect, &b, NULL);
	if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len)))
		abort();
	uint64_t keys[DD_MAX_PERM];
	const uint64_t *h;
	size_t n;
	dd_signature(fast, &pm, 14, 8, t, size, 1, keys, &h, &n, NULL, NULL);
	const char *o;
	size_t on;
	dd_norm_apply(norm, t, size, &o, &on, NULL);
	sp_buf_release(&a);
	sp_buf_release(&b);
	return 0;
}
