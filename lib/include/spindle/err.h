/* err.h - error codes and the caller-owned error record every lib/ function fills.
 *
 * Ownership: an sp_err is plain storage owned by the caller; lib/ functions only write into it.
 * Convention: functions return int, 0 on success, a negative SP_E* code on failure, and on failure
 * describe it in *err (which may be NULL when the caller does not care). lib/ never prints. */
#ifndef SPINDLE_ERR_H
#define SPINDLE_ERR_H

#include <stddef.h>
#include <stdint.h>

enum {
	SP_OK = 0,
	SP_ENOMEM = -1,    /* allocation failed */
	SP_EIO = -2,       /* read/write/open failed; errno is in err->sys_errno */
	SP_EDATA = -3,     /* malformed input data (bad JSON line, bad record, bad file layout) */
	SP_EUTF8 = -4,     /* invalid UTF-8 in input text */
	SP_EZSTD = -5,     /* zstd or gzip stream corrupt or truncated */
	SP_EUSAGE = -6,    /* bad argument or option */
	SP_ENOTFOUND = -7, /* a named field, file or key is absent */
	SP_EINTERNAL = -8  /* a bug: an invariant failed */
};

typedef struct sp_err {
	int code;          /* SP_E* or SP_OK */
	int sys_errno;     /* errno at the failure, 0 if none */
	char msg[512];     /* what was wrong, lower case, no final period */
	char name[256];    /* input or output name ("-" for stdin), empty if none */
	uint64_t line;     /* 1-based line or record number, 0 if none */
	uint64_t offset;   /* byte offset in the line or file, UINT64_MAX if none */
	const char *src_file; /* lib/ source that raised it (for debugging) */
	int src_line;
} sp_err;

#define SP_ERR_INIT { 0, 0, "", "", 0, UINT64_MAX, NULL, 0 }

/* Fills *err (if not NULL) and returns code. fmt is printf-style. */
int sp_err_set_(sp_err *err, int code, const char *src_file, int src_line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Sets the location fields of an already-raised error (name and line). Returns err->code. */
int sp_err_locate(sp_err *err, const char *name, uint64_t line);

/* Formats "PROG: NAME:LINE: MSG" (parts that are unset are left out) into out (always terminated). */
void sp_err_format(const sp_err *err, const char *prog, char *out, size_t out_len);

/* Short name of a code ("io", "data", "utf8", ...), for stats keys. */
const char *sp_err_code_name(int code);

/* Raise: fill err and return the code from the current function. */
#define SP_RAISE(err, code, ...) return sp_err_set_((err), (code), __FILE__, __LINE__, __VA_ARGS__)
/* Forward: return the code if expr failed (the callee has filled err). */
#define SP_FORWARD(expr) do { int sp_rc_ = (expr); if (sp_rc_ < 0) return sp_rc_; } while (0)

#endif
