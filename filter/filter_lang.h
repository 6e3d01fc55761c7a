/* filter_lang.h - language identification for the filter (CLD2 through a C++ shim, filter_lang.cc).
 * Thread-safe: CLD2 keeps no state between calls. */
#ifndef SPINDLE_FILTER_LANG_H
#define SPINDLE_FILTER_LANG_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* Detects the main language of UTF-8 text: writes its code ("en", "zh-Hant", "un" if unknown) into
 * code (code_len bytes), its share of the text (0..1) into *score and CLD2's reliability flag.
 * Returns 0. */
int filter_lang_detect(const char *text, size_t n, char *code, size_t code_len, double *score, int *reliable);
#ifdef __cplusplus
}
#endif
#endif
