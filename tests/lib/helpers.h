/* helpers.h - small fixtures shared by the lib/ unit tests: temp folders and files, compression. */
#ifndef SPINDLE_TEST_HELPERS_H
#define SPINDLE_TEST_HELPERS_H

#include <stddef.h>

/* Makes a fresh temporary folder; returns its path (static storage per call site is the caller's). */
char *th_tmpdir(void);
/* Writes n bytes to dir/name; returns the malloc'd path. */
char *th_write(const char *dir, const char *name, const void *data, size_t n);
/* zstd-compresses src into a malloc'd buffer (one frame). */
void *th_zstd(const void *src, size_t n, size_t *out_n);
/* gzip-compresses src into a malloc'd buffer (one member). */
void *th_gzip(const void *src, size_t n, size_t *out_n);
/* Removes a folder tree. */
void th_rmrf(const char *dir);

#endif
