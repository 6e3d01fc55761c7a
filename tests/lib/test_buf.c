/* test_buf.c - sp_buf: growth, formatting, JSON string escaping, fault injection. */
#include <criterion/criterion.h>
#include <string.h>
#include "spindle/buf.h"
#include "spindle/mem.h"
#include "spindle/err.h"

Test(buf, starts_empty_and_appends_bytes_including_nul)
{
	sp_buf b = SP_BUF_INIT;
	cr_assert_eq(b.len, 0);
	cr_assert_eq(sp_buf_append(&b, "a\0b", 3), 0);
	cr_assert_eq(b.len, 3);
	cr_assert_eq(memcmp(b.p, "a\0b", 3), 0);
	cr_assert_eq(b.p[3], '\0');
	sp_buf_release(&b);
	cr_assert_null(b.p);
}

Test(buf, grows_past_many_doublings)
{
	sp_buf b = SP_BUF_INIT;
	for (int i = 0; i < 100000; i++)
		cr_assert_eq(sp_buf_appendc(&b, (char)('a' + i % 26)), 0);
	cr_assert_eq(b.len, 100000);
	cr_assert_eq(b.p[99999], 'a' + 99999 % 26);
	sp_buf_release(&b);
}

Test(buf, appendf_formats_long_strings)
{
	sp_buf b = SP_BUF_INIT;
	char big[5000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	cr_assert_eq(sp_buf_appendf(&b, "%d-%s", 42, big), 0);
	cr_assert_eq(b.len, 3 + strlen(big));
	cr_assert_eq(strncmp(b.p, "42-xxx", 6), 0);
	sp_buf_release(&b);
}

Test(buf, json_string_escapes_quotes_controls_and_keeps_utf8)
{
	sp_buf b = SP_BUF_INIT;
	const char s[] = "a\"b\\c\n\t\x01\xc3\xa9";
	cr_assert_eq(sp_buf_append_json_str(&b, s, sizeof s - 1), 0);
	cr_assert_str_eq(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\"");
	sp_buf_release(&b);
}

Test(buf, failed_allocation_returns_enomem_and_keeps_contents)
{
	sp_buf b = SP_BUF_INIT;
	cr_assert_eq(sp_buf_appends(&b, "keep"), 0);
	char big[1000] = { 0 };
	sp_mem_fail_at(1);
	int rc = sp_buf_append(&b, big, sizeof big);
	sp_mem_fail_at(0);
	cr_assert_eq(rc, SP_ENOMEM);
	cr_assert_str_eq(b.p, "keep");
	sp_buf_release(&b);
}

Test(buf, detach_hands_over_ownership)
{
	sp_buf b = SP_BUF_INIT;
	sp_buf_appends(&b, "xyz");
	size_t n;
	char *p = sp_buf_detach(&b, &n);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(p, "xyz");
	cr_assert_null(b.p);
	sp_free(p);
}
