/* extract_decode.c - undoing an HTTP Content-Encoding for `spindle extract`: gzip (several members
 * allowed), deflate (RFC 9110 says zlib-wrapped; servers also send raw deflate, so both are tried),
 * br (libbrotli), zstd, identity, and lists of them ("gzip, br" was gzip'ed, then br'ed).
 *
 * wget --warc-file and other crawlers store bodies as the server sent them; Common Crawl stores them
 * decoded (and renames the header), so a body that does not decode is left to the caller, which
 * keeps it when it already reads as HTML. Output is capped (max_out) against decompression bombs. */
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>
#include <brotli/decode.h>
#include "extract.h"

enum { DEC_OK = 0, DEC_BAD = 1, DEC_BIG = 2, DEC_NOMEM = 3 };
#define STEP ((size_t)1 << 16)

/* Room for at least STEP more bytes at out->p + out->len (bounded by max_out + 1, to see "too big"). */
static int room(sp_buf *out, size_t max_out, size_t *avail)
{
	if (out->len > max_out)
		return DEC_BIG;
	size_t want = max_out + 1 - out->len;
	if (want > STEP)
		want = STEP;
	if (sp_buf_grow(out, want))
		return DEC_NOMEM;
	*avail = want;
	return DEC_OK;
}

/* wbits: 15 + 32 (gzip or zlib, auto) or -15 (raw deflate). */
static int inflate_all(const unsigned char *p, size_t n, int wbits, size_t max_out, sp_buf *out)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, wbits) != Z_OK)
		return DEC_NOMEM;
	int rc = DEC_OK;
	size_t pos = 0;
	for (;;) {
		size_t avail;
		if ((rc = room(out, max_out, &avail)) != DEC_OK)
			break;
		size_t in_now = n - pos > (1u << 30) ? (1u << 30) : n - pos;
		z.next_in = (unsigned char *)(uintptr_t)(p + pos);
		z.avail_in = (uInt)in_now;
		z.next_out = (unsigned char *)out->p + out->len;
		z.avail_out = (uInt)avail;
		int zr = inflate(&z, Z_NO_FLUSH);
		out->len += avail - z.avail_out;
		pos += in_now - z.avail_in;
		if (zr == Z_STREAM_END) {
			/* another gzip member may follow (concatenated gzip is one valid gzip stream) */
			if (wbits > 0 && n - pos >= 2 && p[pos] == 0x1f && p[pos + 1] == 0x8b) {
				inflateReset(&z);
				continue;
			}
			break;
		}
		if (zr == Z_BUF_ERROR && z.avail_out != 0) { /* input ended inside the stream */
			rc = DEC_BAD;
			break;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			rc = zr == Z_MEM_ERROR ? DEC_NOMEM : DEC_BAD;
			break;
		}
	}
	inflateEnd(&z);
	if (rc == DEC_OK && out->len > max_out)
		rc = DEC_BIG;
	return rc;
}

static int brotli_all(const unsigned char *p, size_t n, size_t max_out, sp_buf *out)
{
	BrotliDecoderState *s = BrotliDecoderCreateInstance(NULL, NULL, NULL);
	if (!s)
		return DEC_NOMEM;
	int rc = DEC_OK;
	size_t avail_in = n;
	const uint8_t *next_in = p;
	for (;;) {
		size_t avail;
		if ((rc = room(out, max_out, &avail)) != DEC_OK)
			break;
		uint8_t *next_out = (uint8_t *)out->p + out->len;
		size_t avail_out = avail;
		BrotliDecoderResult r = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, NULL);
		out->len += avail - avail_out;
		if (r == BROTLI_DECODER_RESULT_SUCCESS) {
			if (avail_in)
				rc = DEC_BAD; /* bytes after the end of the stream */
			break;
		}
		if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT)
			continue;
		rc = DEC_BAD; /* an error, or the input ended inside the stream */
		break;
	}
	BrotliDecoderDestroyInstance(s);
	if (rc == DEC_OK && out->len > max_out)
		rc = DEC_BIG;
	return rc;
}

static int zstd_all(const unsigned char *p, size_t n, size_t max_out, sp_buf *out)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	if (!d)
		return DEC_NOMEM;
	ZSTD_inBuffer in = { p, n, 0 };
	int rc = DEC_OK;
	size_t left = 1;
	while (in.pos < in.size || left) {
		size_t avail;
		if ((rc = room(out, max_out, &avail)) != DEC_OK)
			break;
		ZSTD_outBuffer ob = { out->p + out->len, avail, 0 };
		left = ZSTD_decompressStream(d, &ob, &in);
		out->len += ob.pos;
		if (ZSTD_isError(left)) {
			rc = DEC_BAD;
			break;
		}
		if (in.pos == in.size && left && ob.pos < ob.size) { /* input ended inside a frame */
			rc = DEC_BAD;
			break;
		}
	}
	ZSTD_freeDStream(d);
	if (rc == DEC_OK && out->len > max_out)
		rc = DEC_BIG;
	return rc;
}

static int is_name(const char *s, size_t n, const char *name)
{
	return n == strlen(name) && !strncasecmp(s, name, n);
}

/* One coding step from (p, n) into out (emptied first). DEC_* or -1 for an unknown coding. */
static int decode_one(const char *c, size_t cn, const unsigned char *p, size_t n, size_t max_out, sp_buf *out)
{
	sp_buf_reset(out);
	if (is_name(c, cn, "gzip") || is_name(c, cn, "x-gzip"))
		return inflate_all(p, n, 15 + 32, max_out, out);
	if (is_name(c, cn, "deflate")) {
		int rc = inflate_all(p, n, 15 + 32, max_out, out);
		if (rc == DEC_BAD) {
			sp_buf_reset(out);
			rc = inflate_all(p, n, -15, max_out, out);
		}
		return rc;
	}
	if (is_name(c, cn, "br"))
		return brotli_all(p, n, max_out, out);
	if (is_name(c, cn, "zstd"))
		return zstd_all(p, n, max_out, out);
	return -1;
}

int extract_decode(const char *coding, size_t coding_len, const char *p, size_t n, size_t max_out, sp_buf *out,
                   sp_buf *tmp, const char **out_p, size_t *out_n, const char **why)
{
	/* the codings, in the order they were applied */
	struct { const char *s; size_t n; } step[4];
	size_t ns = 0;
	for (size_t i = 0; i < coding_len;) {
		while (i < coding_len && (coding[i] == ' ' || coding[i] == '\t' || coding[i] == ','))
			i++;
		size_t a = i;
		while (i < coding_len && coding[i] != ',' && coding[i] != ' ' && coding[i] != '\t')
			i++;
		if (i == a || is_name(coding + a, i - a, "identity"))
			continue;
		if (ns == sizeof step / sizeof *step) {
			*why = "content_encoding";
			return SP_EDATA;
		}
		step[ns].s = coding + a;
		step[ns].n = i - a;
		ns++;
	}
	*out_p = p;
	*out_n = n;
	/* undo the last first; alternate between out and tmp so the result ends in out */
	sp_buf *bufs[2] = { ns % 2 ? out : tmp, ns % 2 ? tmp : out };
	for (size_t k = ns; k-- > 0;) {
		sp_buf *dst = bufs[(ns - 1 - k) % 2];
		int rc = decode_one(step[k].s, step[k].n, (const unsigned char *)*out_p, *out_n, max_out, dst);
		if (rc == DEC_NOMEM)
			return SP_ENOMEM;
		if (rc != DEC_OK) {
			*why = rc < 0 ? "content_encoding" : rc == DEC_BIG ? "decoded_too_large" : "bad_content_encoding";
			return SP_EDATA;
		}
		if (sp_buf_grow(dst, 1))
			return SP_ENOMEM;
		dst->p[dst->len] = 0;
		*out_p = dst->p;
		*out_n = dst->len;
	}
	return 0;
}
