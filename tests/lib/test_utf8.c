/* test_utf8.c - strict UTF-8 validation against hand-picked valid and invalid sequences, and against
 * the C library's own decoder (mbrtowc in a UTF-8 locale) on every 1- and 2-byte sequence. */
#include <criterion/criterion.h>
#include <locale.h>
#include <string.h>
#include <wchar.h>
#include "spindle/utf8.h"

Test(utf8, accepts_ascii_and_multibyte_text)
{
	const char *ok[] = { "", "plain ascii text of some length", "\xc3\xa9t\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
	                     "\xf0\x9f\x98\x80", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf" };
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		cr_assert(sp_utf8_valid(ok[i], strlen(ok[i]), NULL), "case %zu", i);
}

Test(utf8, rejects_overlongs_surrogates_and_truncation_with_offset)
{
	struct { const char *s; size_t bad; } cases[] = {
		{ "ab\xc0\xaf", 2 },          /* overlong '/' */
		{ "\xe0\x80\xaf", 0 },        /* overlong 3-byte */
		{ "xyz\xed\xa0\x80", 3 },     /* surrogate D800 */
		{ "\xf4\x90\x80\x80", 0 },    /* > U+10FFFF */
		{ "12345678\xe6\x97", 8 },    /* truncated after the fast path */
		{ "\x80", 0 },                /* lone continuation */
		{ "\xff", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t at = 999;
		cr_assert_not(sp_utf8_valid(cases[i].s, strlen(cases[i].s), &at), "case %zu", i);
		cr_assert_eq(at, cases[i].bad, "case %zu: at %zu", i, at);
	}
}

Test(utf8, agrees_with_libc_on_all_two_byte_prefixes)
{
	cr_assert_not_null(setlocale(LC_CTYPE, "C.UTF-8"));
	for (unsigned a = 0x80; a < 0x100; a++)
		for (unsigned b = 0; b < 0x100; b++) {
			char s[2] = { (char)a, (char)b };
			mbstate_t st;
			memset(&st, 0, sizeof st);
			wchar_t w;
			size_t r = mbrtowc(&w, s, 2, &st);
			int libc_ok = r == 2;
			uint32_t cp;
			int ours = sp_utf8_decode(s, 2, &cp) == 2;
			cr_assert_eq(ours, libc_ok, "bytes %02x %02x", a, b);
			if (ours)
				cr_assert_eq(cp, (uint32_t)w);
		}
}

Test(utf8, encode_round_trips_every_scalar_value)
{
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x3000 ? 1 : 97)) {
		char b[4];
		size_t n = sp_utf8_encode(cp, b);
		if (cp >= 0xD800 && cp <= 0xDFFF) {
			cr_assert_eq(n, 0);
			continue;
		}
		uint32_t back;
		cr_assert_eq(sp_utf8_decode(b, n, &back), n);
		cr_assert_eq(back, cp);
	}
}
