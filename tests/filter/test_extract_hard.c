/* test_extract_hard.c - issue 19 class 12: charset sniffing must not override a declared charset
 * with UTF-16 when the bytes are ASCII markup, and deeply nested HTML keeps its text. */
#include <criterion/criterion.h>
#include <string.h>
#include "../../filter/extract.h"
#include "spindle/buf.h"

static char *extract(const char *page, size_t n, const char *ctype, extract_result *res)
{
	extract_opts o = EXTRACT_OPTS_DEFAULT;
	sp_err err = SP_ERR_INIT;
	extract_global_init();
	cr_assert_eq(extract_html(&o, page, n, ctype, ctype ? strlen(ctype) : 0, res, &err), 0, "%s", err.msg);
	return res->text.p ? res->text.p : "";
}

Test(extract_hard, declared_utf8_page_with_stray_ff_fe_stays_utf8)
{
	static const char page[] = "<html><head><meta charset=\"utf-8\"><title>t</title></head><body><p>caf\xc3\xa9, "
	                           "na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xff\xfe stray bytes, then plain words that must stay readable</p></body></html>";
	extract_result res = EXTRACT_RESULT_INIT;
	const char *text = extract(page, sizeof page - 1, "text/html; charset=utf-8", &res);
	cr_expect_str_eq(res.charset, "utf-8");
	cr_expect(strstr(text, "caf\xc3\xa9") != NULL, "text: %s", text);
	cr_expect(strstr(text, "plain words that must stay readable") != NULL, "text: %s", text);
	extract_result_release(&res);
}

Test(extract_hard, ff_fe_in_front_of_ascii_markup_is_not_a_utf16_bom)
{
	static const char page[] = "\xff\xfe<html><head><meta charset=\"utf-8\"></head><body><p>the page is ASCII markup "
	                           "declared UTF-8, caf\xc3\xa9</p></body></html>";
	extract_result res = EXTRACT_RESULT_INIT;
	const char *text = extract(page, sizeof page - 1, "text/html; charset=utf-8", &res);
	cr_expect(strncmp(res.charset, "utf-16", 6) != 0, "charset %s", res.charset);
	cr_expect(strstr(text, "the page is ASCII markup declared UTF-8") != NULL, "text: %s", text);
	extract_result_release(&res);
}

Test(extract_hard, undeclared_ascii_page_with_stray_ff_fe_is_not_utf16)
{
	static const char page[] = "<html><body><p>plain words \xff\xfe then more plain words in ASCII</p></body></html>";
	extract_result res = EXTRACT_RESULT_INIT;
	const char *text = extract(page, sizeof page - 1, "text/html", &res);
	cr_expect(strncmp(res.charset, "utf-16", 6) != 0, "charset %s", res.charset);
	cr_expect(strstr(text, "then more plain words in ASCII") != NULL, "text: %s", text);
	extract_result_release(&res);
}

static void nested_page(sp_buf *b, int depth, const char *words)
{
	sp_buf_append(b, "<html><body>", 12);
	for (int i = 0; i < depth; i++)
		sp_buf_append(b, "<div>", 5);
	sp_buf_append(b, words, strlen(words));
	for (int i = 0; i < depth; i++)
		sp_buf_append(b, "</div>", 6);
	sp_buf_append(b, "</body></html>", 14);
}

Test(extract_hard, text_nested_500_deep_is_kept)
{
	sp_buf b = SP_BUF_INIT;
	nested_page(&b, 500, "the words at the bottom of a deep page");
	extract_result res = EXTRACT_RESULT_INIT;
	const char *text = extract(b.p, b.len, "text/html", &res);
	cr_expect(strstr(text, "the words at the bottom of a deep page") != NULL, "text: '%.200s'", text);
	extract_result_release(&res);
	sp_buf_release(&b);
}

Test(extract_hard, text_nested_20000_deep_is_kept)
{
	sp_buf b = SP_BUF_INIT;
	nested_page(&b, 20000, "still here twenty thousand levels down");
	extract_result res = EXTRACT_RESULT_INIT;
	const char *text = extract(b.p, b.len, "text/html", &res);
	cr_expect(strstr(text, "still here twenty thousand levels down") != NULL, "text: '%.200s'", text);
	extract_result_release(&res);
	sp_buf_release(&b);
}
