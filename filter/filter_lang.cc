// filter_lang.cc - the C-callable shim over CLD2 (libcld2-dev), the language identifier of
// `spindle filter`. C++ only because CLD2's interface is C++; nothing else lives here.
#include <cstddef>
#include <cstring>
#include <cstdio>
#include <cld2/public/compact_lang_det.h>
#include "filter_lang.h"

namespace CLD2 {
const char *LanguageCode(Language lang); // exported by libcld2, declared only in its internal headers
}

extern "C" int filter_lang_detect(const char *text, size_t n, char *code, size_t code_len, double *score,
                                  int *reliable)
{
	CLD2::Language lang3[3];
	int percent3[3], text_bytes = 0;
	bool is_reliable = false;
	if (n > 0x7fffffff)
		n = 0x7fffffff;
	CLD2::Language top = CLD2::ExtDetectLanguageSummary(text, (int)n, true, lang3, percent3, &text_bytes,
	                                                    &is_reliable);
	const char *c = CLD2::LanguageCode(top);
	if (!c)
		c = "un";
	std::strncpy(code, c, code_len - 1);
	code[code_len - 1] = 0;
	*score = top == CLD2::UNKNOWN_LANGUAGE ? 0.0 : percent3[0] / 100.0;
	*reliable = is_reliable ? 1 : 0;
	return 0;
}
