/* extract_warc.c - WARC record reader for `spindle extract`.
 *
 * Gzip input gets its own member-by-member inflater over the whole compressed file (mapped), so
 * that one truncated or corrupt member (one Common Crawl record) costs that record only: the reader
 * skips to the next gzip member and the next "WARC/" line. zstd and plain input go through sp_in
 * (lib/io.c); there a corrupt frame ends the file. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "extract.h"
#include "spindle/io.h"
#include "spindle/mem.h"

enum { BUF = 1 << 18, MAX_HEADER_LINE = 1 << 16 };

struct warc_reader {
	char name[256];
	int gz;                        /* 1: own gzip inflater; 0: sp_in */
	sp_in *in;
	unsigned char *map; size_t map_len; int mapped;  /* gz: the compressed bytes, mapped */
	z_stream z; int z_live; size_t member_start;
	int damaged;                   /* gz: the current member failed; resync before reading */
	unsigned char *buf; size_t pos, len;
	uint64_t decoded;              /* decoded bytes handed out */
	int eof, gz_done;
	uint64_t records;
	sp_buf line;
};

static int gz_start_member(warc_reader *r, size_t at)
{
	if (r->z_live)
		inflateEnd(&r->z);
	memset(&r->z, 0, sizeof r->z);
	if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK)
		return SP_ENOMEM;
	r->z_live = 1;
	r->member_start = at;
	r->z.next_in = r->map + at;
	r->z.avail_in = (uInt)(r->map_len - at > 0x40000000u ? 0x40000000u : r->map_len - at);
	return 0;
}

/* Next gzip magic after the failed member's start, or the end. */
static int gz_resync(warc_reader *r)
{
	size_t i = r->member_start + 1;
	while (i + 2 < r->map_len) {
		const unsigned char *p = memchr(r->map + i, 0x1f, r->map_len - i - 2);
		if (!p)
			break;
		i = (size_t)(p - r->map);
		if (p[1] == 0x8b && p[2] == 8)
			return gz_start_member(r, i);
		i++;
	}
	r->gz_done = 1;
	return 0;
}

static int fill(warc_reader *r, sp_err *err)
{
	r->pos = r->len = 0;
	if (r->eof)
		return 0;
	if (!r->gz) {
		size_t got;
		SP_FORWARD(sp_in_read(r->in, r->buf, BUF, &got, err));
		r->len = got;
		if (!got)
			r->eof = 1;
		return 0;
	}
	while (r->len == 0) {
		if (r->gz_done) {
			r->eof = 1;
			return 0;
		}
		size_t used = (size_t)(r->z.next_in - r->map);
		if (r->z.avail_in == 0 && used < r->map_len)
			r->z.avail_in = (uInt)(r->map_len - used > 0x40000000u ? 0x40000000u : r->map_len - used);
		if (r->z.avail_in == 0) {
			r->damaged = 1;
			r->eof = 1;
			SP_RAISE(err, SP_EDATA, "truncated gzip member at byte %zu", r->member_start);
		}
		r->z.next_out = r->buf;
		r->z.avail_out = BUF;
		int zr = inflate(&r->z, Z_NO_FLUSH);
		r->len = BUF - r->z.avail_out;
		if (zr == Z_STREAM_END) {
			size_t next = (size_t)(r->z.next_in - r->map);
			while (next < r->map_len && r->map[next] == 0) /* zero padding */
				next++;
			if (next >= r->map_len)
				r->gz_done = 1;
			else if (gz_start_member(r, next))
				SP_RAISE(err, SP_ENOMEM, "out of memory");
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			r->damaged = 1;
			r->len = 0;
			SP_RAISE(err, SP_EDATA, "corrupt gzip member at byte %zu (%s)", r->member_start,
			         r->z.msg ? r->z.msg : "bad data");
		}
	}
	return 0;
}

/* Byte-level helpers: 1 ok, 0 end of input, negative error. */
static int peek_byte(warc_reader *r, sp_err *err)
{
	if (r->pos == r->len) {
		SP_FORWARD(fill(r, err));
		if (r->len == 0)
			return -1000;
	}
	return r->buf[r->pos];
}

static int get_line(warc_reader *r, sp_buf *line, sp_err *err)
{
	sp_buf_reset(line);
	for (;;) {
		if (r->pos == r->len) {
			SP_FORWARD(fill(r, err));
			if (r->len == 0)
				return line->len ? 1 : 0;
		}
		unsigned char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		size_t k = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
		if (line->len + k > MAX_HEADER_LINE)
			SP_RAISE(err, SP_EDATA, "header line longer than %d bytes", MAX_HEADER_LINE);
		if (sp_buf_append(line, r->buf + r->pos, k))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		r->pos += k + (nl ? 1 : 0);
		r->decoded += k + (nl ? 1 : 0);
		if (nl) {
			if (line->len && line->p[line->len - 1] == '\r')
				line->p[--line->len] = 0;
			return 1;
		}
	}
}

/* Reads n bytes into out (appending) or skips them when out is NULL. */
static int get_bytes(warc_reader *r, sp_buf *out, uint64_t n, sp_err *err)
{
	while (n) {
		if (r->pos == r->len) {
			SP_FORWARD(fill(r, err));
			if (r->len == 0)
				SP_RAISE(err, SP_EDATA, "record truncated (%llu bytes missing)", (unsigned long long)n);
		}
		size_t k = r->len - r->pos;
		if (k > n)
			k = (size_t)n;
		if (out && sp_buf_append(out, r->buf + r->pos, k))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		r->pos += k;
		r->decoded += k;
		n -= k;
	}
	return 0;
}

int warc_open(warc_reader **out, const char *path, int *is_warc, sp_err *err)
{
	*out = NULL;
	warc_reader *r = sp_calloc(1, sizeof *r);
	if (!r || !(r->buf = sp_malloc(BUF))) {
		sp_free(r);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	snprintf(r->name, sizeof r->name, "%s", path ? path : "-");
	int rc = 0;
	int fd = path && strcmp(path, "-") ? open(path, O_RDONLY) : 0;
	unsigned char magic[2] = { 0, 0 };
	struct stat st;
	if (fd < 0) {
		rc = sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (fd != 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f &&
	    magic[1] == 0x8b) {
		r->gz = 1;
		r->map_len = (size_t)st.st_size;
		void *m = mmap(NULL, r->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			rc = sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot map: %s", strerror(errno));
			goto fail;
		}
		r->map = m;
		r->mapped = 1;
		close(fd);
		fd = -1;
	} else if (fd == 0) {
		/* stdin: sp_in decodes gzip or zstd on it */
		if ((rc = sp_in_open_fd(&r->in, 0, "-", err)) < 0)
			goto fail;
		fd = -1;
	} else {
		close(fd);
		fd = -1;
		if ((rc = sp_in_open(&r->in, path, err)) < 0)
			goto fail;
	}
	/* (gzip on stdin is decoded by sp_in: no per-member recovery there) */
	if (r->gz && (rc = gz_start_member(r, 0)) < 0) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto fail;
	}
	/* peek: does it start with "WARC/"? */
	int c;
	while ((c = peek_byte(r, err)) >= 0 && (c == ' ' || c == '\r' || c == '\n' || c == '\t')) {
		r->pos++;
		r->decoded++;
	}
	if (c < 0 && c != -1000) {
		rc = c;
		goto fail;
	}
	*is_warc = r->len - r->pos >= 5 && !memcmp(r->buf + r->pos, "WARC/", 5);
	*out = r;
	return 0;
fail:
	if (fd > 0)
		close(fd);
	sp_err_locate(err, r->name, 0);
	warc_close(r);
	return rc;
}

static int header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
	size_t k = strlen(name);
	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return 0;
	const char *v = line + k + 1, *e = line + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*val = v;
	*vlen = (size_t)(e - v);
	return 1;
}

static int set_buf(sp_buf *b, const char *s, size_t n)
{
	sp_buf_reset(b);
	return sp_buf_append(b, s, n) || sp_buf_grow(b, 1);
}

int warc_next(warc_reader *r, warc_record *rec, size_t max_body, sp_err *err)
{
	int resync = 0;
	if (r->damaged) {
		r->damaged = 0;
		r->pos = r->len = 0;
		r->eof = r->gz_done = 0;
		if (gz_resync(r) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		resync = 1;
	}
	int garbage = 0;
	for (;;) {
		int rc = get_line(r, &r->line, err);
		if (rc < 0)
			return sp_err_locate(err, r->name, r->records + 1);
		if (rc == 0) {
			if (garbage)
				SP_RAISE(err, SP_EDATA, "garbage at the end of the file");
			return 0;
		}
		if (r->line.len >= 5 && !memcmp(r->line.p, "WARC/", 5))
			break;
		if (r->line.len && !resync)
			garbage = 1;
	}
	uint64_t start = r->decoded - r->line.len - 1;
	rec->number = ++r->records;
	rec->offset = start;
	rec->type[0] = 0;
	set_buf(&rec->uri, "", 0); set_buf(&rec->date, "", 0); set_buf(&rec->id, "", 0); set_buf(&rec->content_type, "", 0);
	set_buf(&rec->refers_to, "", 0);
	sp_buf_reset(&rec->body);
	long long length = -1;
	for (;;) {
		int rc = get_line(r, &r->line, err);
		if (rc < 0)
			return sp_err_locate(err, r->name, rec->number);
		if (rc == 0) {
			sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "record header truncated");
			return sp_err_locate(err, r->name, rec->number);
		}
		if (!r->line.len)
			break;
		const char *v;
		size_t vl;
		const char *l = r->line.p;
		size_t n = r->line.len;
		int bad = 0;
		if (header_is(l, n, "WARC-Type", &v, &vl)) {
			size_t k = vl < sizeof rec->type - 1 ? vl : sizeof rec->type - 1;
			for (size_t i = 0; i < k; i++)
				rec->type[i] = (char)tolower((unsigned char)v[i]);
			rec->type[k] = 0;
		} else if (header_is(l, n, "WARC-Target-URI", &v, &vl)) {
			if (vl && *v == '<' && v[vl - 1] == '>') { v++; vl -= 2; } /* WARC/1.0 drafts wrote <uri> */
			bad = set_buf(&rec->uri, v, vl);
		} else if (header_is(l, n, "WARC-Date", &v, &vl)) {
			bad = set_buf(&rec->date, v, vl);
		} else if (header_is(l, n, "WARC-Record-ID", &v, &vl)) {
			bad = set_buf(&rec->id, v, vl);
		} else if (header_is(l, n, "WARC-Refers-To", &v, &vl)) {
			bad = set_buf(&rec->refers_to, v, vl);
		} else if (header_is(l, n, "Content-Type", &v, &vl)) {
			bad = set_buf(&rec->content_type, v, vl);
		} else if (header_is(l, n, "Content-Length", &v, &vl)) {
			char num[24];
			size_t k = vl < sizeof num - 1 ? vl : sizeof num - 1;
			memcpy(num, v, k);
			num[k] = 0;
			char *end;
			length = strtoll(num, &end, 10);
			if (!k || *end || length < 0)
				length = -2;
		}
		if (bad)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	if (length < 0) {
		sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "record without a valid Content-Length");
		return sp_err_locate(err, r->name, rec->number);
	}
	int too_big = (uint64_t)length > max_body;
	int rc = get_bytes(r, too_big ? NULL : &rec->body, (uint64_t)length, err);
	if (rc < 0)
		return sp_err_locate(err, r->name, rec->number);
	if (sp_buf_grow(&rec->body, 1))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (too_big) {
		sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "record too large (%lld bytes)", length);
		return sp_err_locate(err, r->name, rec->number);
	}
	return 1;
}

int warc_slurp(warc_reader *r, sp_buf *out, sp_err *err)
{
	sp_buf_reset(out);
	for (;;) {
		if (r->pos == r->len) {
			SP_FORWARD(fill(r, err));
			if (r->len == 0)
				break;
		}
		if (sp_buf_append(out, r->buf + r->pos, r->len - r->pos))
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		r->pos = r->len;
	}
	return sp_buf_grow(out, 1) ? SP_ENOMEM : 0;
}

uint64_t warc_raw_bytes(const warc_reader *r)
{
	if (r->gz)
		return r->z_live && !r->gz_done ? (uint64_t)(r->z.next_in - r->map) : r->map_len;
	return r->in ? sp_in_raw_bytes(r->in) : 0;
}

void warc_close(warc_reader *r)
{
	if (!r)
		return;
	if (r->z_live)
		inflateEnd(&r->z);
	if (r->mapped)
		munmap(r->map, r->map_len);
	sp_in_free(r->in);
	sp_buf_release(&r->line);
	sp_free(r->buf);
	sp_free(r);
}

void warc_record_release(warc_record *rec)
{
	sp_buf_release(&rec->uri); sp_buf_release(&rec->date); sp_buf_release(&rec->id);
	sp_buf_release(&rec->content_type); sp_buf_release(&rec->body); sp_buf_release(&rec->refers_to);
}
