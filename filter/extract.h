/* extract.h - `spindle extract`'s logic: WARC reading (WARC/1.0 and 1.1; plain, whole-file zstd or
 * gzip, per-record gzip members as Common Crawl writes them) and HTML to text (libxml2's tolerant
 * HTML parser, charsets converted to UTF-8 with ICU, boilerplate dropped).
 *
 * Ownership: warc_reader is made by warc_open and freed by warc_close; a warc_record is caller
 * storage (WARC_RECORD_INIT) that warc_next refills and warc_record_release frees. extract_result is
 * caller storage (EXTRACT_RESULT_INIT / extract_result_release). Call extract_global_init once from
 * the main thread before using the HTML functions from several threads. Nothing here prints. */
#ifndef SPINDLE_EXTRACT_H
#define SPINDLE_EXTRACT_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/buf.h"
#include "spindle/err.h"

/* ---------------------------------------------------------------- WARC */
typedef struct warc_reader warc_reader;

typedef struct warc_record {
	char type[32];          /* WARC-Type, lower case ("response", "resource", ...) */
	sp_buf uri, date, id, content_type;   /* header values ("" when absent) */
	sp_buf refers_to;       /* WARC-Refers-To (a WET conversion record names its response record) */
	sp_buf body;            /* the record block (Content-Length bytes) */
	uint64_t number;        /* 1-based record number in the file */
	uint64_t offset;        /* offset of the record in the decompressed stream */
} warc_record;

#define WARC_RECORD_INIT { "", SP_BUF_INIT, SP_BUF_INIT, SP_BUF_INIT, SP_BUF_INIT, SP_BUF_INIT, SP_BUF_INIT, 0, 0 }

/* Opens path ("-" = stdin). *is_warc tells whether it starts like a WARC file; when it does not,
 * warc_slurp returns the whole (decompressed) content instead. */
int warc_open(warc_reader **out, const char *path, int *is_warc, sp_err *err);
/* Returns 1 with rec filled, 0 at the end, SP_EDATA for a damaged record (truncated or corrupt gzip
 * member, header without Content-Length, garbage between records: err says which; reading may
 * continue with the next call, which resynchronises at the next record), or another negative
 * error after which the file cannot be read further. Records larger than max_body are skipped
 * with SP_EDATA "record too large". */
int warc_next(warc_reader *r, warc_record *rec, size_t max_body, sp_err *err);
/* Reads everything that is left (for non-WARC input). */
int warc_slurp(warc_reader *r, sp_buf *out, sp_err *err);
uint64_t warc_raw_bytes(const warc_reader *r);
void warc_close(warc_reader *r);
void warc_record_release(warc_record *rec);

/* ---------------------------------------------------------------- HTTP + HTML */
typedef struct extract_opts {
	double link_density_max;  /* drop blocks whose link text share is above this (with >= 2 links) */
	size_t min_chars;         /* documents with less text are skipped ("too_short") */
} extract_opts;

#define EXTRACT_OPTS_DEFAULT { 0.5, 1 }

typedef struct extract_result {
	sp_buf text;              /* UTF-8, NFC not applied (spindle filter does it) */
	sp_buf title;
	char charset[64];         /* the charset used to decode ("utf-8", "windows-1252", ...) */
	char charset_source[16];  /* "bom", "http", "meta", "sniffed", "default" */
	sp_buf scratch;           /* converted HTML */
} extract_result;

#define EXTRACT_RESULT_INIT { SP_BUF_INIT, SP_BUF_INIT, "", "", SP_BUF_INIT }

void extract_global_init(void);
void extract_result_release(extract_result *res);

/* An HTTP response (WARC "application/http" block), split. Header values are borrowed from the
 * block (not NUL-terminated); absent headers have length 0. */
typedef struct extract_http_resp {
	int status;
	const char *ctype; size_t ctype_len;      /* Content-Type */
	const char *coding; size_t coding_len;    /* Content-Encoding ("gzip", "br", "gzip, br", ...) */
	const char *payload; size_t payload_len;  /* the body, dechunked into scratch if chunked */
} extract_http_resp;

/* Splits p into r (dechunking into scratch when Transfer-Encoding is chunked). Returns 0 or SP_EDATA
 * (not an HTTP response). */
int extract_http(const char *p, size_t n, extract_http_resp *r, sp_buf *scratch, sp_err *err);

/* Undoes a Content-Encoding (extract_decode.c): gzip / x-gzip, deflate (zlib-wrapped or raw), br,
 * zstd, identity, or a comma-separated list of them (applied in order, so undone last to first).
 * Returns 0 with the body in *out_p / *out_n (out, or p itself for identity), SP_EDATA with *why set
 * ("content_encoding": a coding it does not know; "bad_content_encoding": the bytes do not decode;
 * "decoded_too_large": more than max_out bytes), or SP_ENOMEM. */
int extract_decode(const char *coding, size_t coding_len, const char *p, size_t n, size_t max_out, sp_buf *out,
                   sp_buf *tmp, const char **out_p, size_t *out_n, const char **why);

/* Why a payload is not extracted: 0 = it is HTML; else a reason name ("not_html", "binary"). */
const char *extract_not_html(const char *ctype, size_t ctype_len, const char *p, size_t n);

/* Converts p (charset from the Content-Type's charset= if any, else BOM / <meta> / sniffing) to
 * UTF-8 and extracts the main text into res. Returns 0, or SP_ENOMEM / SP_EDATA. */
int extract_html(const extract_opts *o, const char *p, size_t n, const char *http_ctype, size_t http_ctype_len,
                 extract_result *res, sp_err *err);

/* The decoding step alone: into out, with the charset chosen. Exposed for tests. */
int extract_to_utf8(const char *p, size_t n, const char *declared, sp_buf *out, char *charset, size_t charset_cap,
                    char *source, size_t source_cap, sp_err *err);

#endif
