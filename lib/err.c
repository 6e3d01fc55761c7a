/* err.c - filling and formatting sp_err records (see spindle/err.h). Never prints. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <inttypes.h>
#include "spindle/err.h"

int sp_err_set_(sp_err *err, int code, const char *src_file, int src_line, const char *fmt, ...)
{
	if (!err)
		return code;
	int saved = errno;
	err->code = code;
	err->sys_errno = code == SP_EIO ? saved : 0;
	err->src_file = src_file;
	err->src_line = src_line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	errno = saved;
	return code;
}

int sp_err_locate(sp_err *err, const char *name, uint64_t line)
{
	if (!err)
		return SP_EINTERNAL;
	if (name)
		snprintf(err->name, sizeof err->name, "%s", name);
	if (line)
		err->line = line;
	return err->code;
}

void sp_err_format(const sp_err *err, const char *prog, char *out, size_t out_len)
{
	size_t used = 0;
	if (!out_len)
		return;
	out[0] = '\0';
#define ADD(...) do { if (used < out_len) { int k_ = snprintf(out + used, out_len - used, __VA_ARGS__); if (k_ > 0) used += (size_t)k_; } } while (0)
	if (prog && *prog)
		ADD("%s: ", prog);
	if (err->name[0]) {
		ADD("%s", err->name);
		if (err->line)
			ADD(":%" PRIu64, err->line);
		ADD(": ");
	}
	ADD("%s", err->msg[0] ? err->msg : sp_err_code_name(err->code));
	if (err->sys_errno)
		ADD(": %s", strerror(err->sys_errno));
#undef ADD
}

const char *sp_err_code_name(int code)
{
	switch (code) {
	case SP_OK: return "ok";
	case SP_ENOMEM: return "out_of_memory";
	case SP_EIO: return "io";
	case SP_EDATA: return "bad_data";
	case SP_EUTF8: return "bad_utf8";
	case SP_EZSTD: return "bad_compression";
	case SP_EUSAGE: return "usage";
	case SP_ENOTFOUND: return "not_found";
	default: return "internal";
	}
}
