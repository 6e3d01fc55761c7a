/* io.c - input streams (plain, zstd, gzip; sniffed by magic) and atomic output files (see spindle/io.h).
 * This is the only file in lib/ that talks to libzstd and zlib for streams. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include "spindle/io.h"
#include "spindle/mem.h"

#define RAW_CAP (1u << 17)
#define DEC_CAP (1u << 18)

struct sp_in {
	int fd, own_fd;
	char *name;
	int codec;
	unsigned char *raw; size_t raw_pos, raw_len; int raw_eof;
	unsigned char *dec; size_t dec_pos, dec_len;
	ZSTD_DStream *zd; int zmid;      /* zmid: inside a zstd frame */
	z_stream gz; int gz_init, gz_mid;
	int eof;
	uint64_t lineno, raw_bytes, raw_size;
};

static int in_fail(sp_in *in, int code, const char *msg, sp_err *err)
{
	sp_err_set_(err, code, __FILE__, __LINE__, "%s", msg);
	return sp_err_locate(err, in->name, in->lineno ? in->lineno + 1 : 0);
}

static int fill_raw(sp_in *in, sp_err *err)
{
	if (in->raw_pos < in->raw_len || in->raw_eof)
		return 0;
	in->raw_pos = in->raw_len = 0;
	for (;;) {
		ssize_t k = read(in->fd, in->raw, RAW_CAP);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return in_fail(in, SP_EIO, "read failed", err);
		if (k == 0)
			in->raw_eof = 1;
		in->raw_len = (size_t)k;
		in->raw_bytes += (uint64_t)k;
		return 0;
	}
}

static int sniff(sp_in *in, sp_err *err)
{
	/* Read until we have 4 bytes or EOF, keeping them in raw. */
	while (in->raw_len < 4 && !in->raw_eof) {
		ssize_t k = read(in->fd, in->raw + in->raw_len, RAW_CAP - in->raw_len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return in_fail(in, SP_EIO, "read failed", err);
		if (k == 0)
			in->raw_eof = 1;
		in->raw_len += (size_t)k;
		in->raw_bytes += (uint64_t)k;
	}
	const unsigned char *r = in->raw;
	if (in->raw_len >= 4 && r[0] == 0x28 && r[1] == 0xB5 && r[2] == 0x2F && r[3] == 0xFD) {
		in->codec = SP_CODEC_ZSTD;
		in->zd = ZSTD_createDStream();
		if (!in->zd)
			return in_fail(in, SP_ENOMEM, "out of memory", err);
	} else if (in->raw_len >= 2 && r[0] == 0x1F && r[1] == 0x8B) {
		in->codec = SP_CODEC_GZIP;
		memset(&in->gz, 0, sizeof in->gz);
		if (inflateInit2(&in->gz, 15 + 16) != Z_OK)
			return in_fail(in, SP_ENOMEM, "cannot start gzip decoder", err);
		in->gz_init = 1;
	}
	if (in->codec != SP_CODEC_NONE) {
		in->dec = sp_malloc(DEC_CAP);
		if (!in->dec)
			return in_fail(in, SP_ENOMEM, "out of memory", err);
	}
	return 0;
}

static int open_common(sp_in **out, int fd, int own, const char *name, sp_err *err)
{
	sp_in *in = sp_calloc(1, sizeof *in);
	if (!in) {
		if (own)
			close(fd);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	in->fd = fd;
	in->own_fd = own;
	in->name = sp_strdup(name);
	in->raw = sp_malloc(RAW_CAP);
	if (!in->name || !in->raw) {
		sp_in_free(in);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		in->raw_size = (uint64_t)st.st_size;
	int rc = sniff(in, err);
	if (rc < 0) {
		sp_in_free(in);
		return rc;
	}
	*out = in;
	return 0;
}

int sp_in_open(sp_in **out, const char *path, sp_err *err)
{
	if (!path || !strcmp(path, "-"))
		return open_common(out, 0, 0, "-", err);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot open");
		return sp_err_locate(err, path, 0);
	}
	return open_common(out, fd, 1, path, err);
}

int sp_in_open_fd(sp_in **out, int fd, const char *name, sp_err *err)
{
	return open_common(out, fd, 0, name ? name : "-", err);
}

/* Decodes more bytes into dec (compressed inputs). Sets eof when the stream is done. */
static int fill_dec(sp_in *in, sp_err *err)
{
	in->dec_pos = in->dec_len = 0;
	while (in->dec_len == 0) {
		SP_FORWARD(fill_raw(in, err));
		if (in->raw_pos == in->raw_len && in->raw_eof) {
			if (in->codec == SP_CODEC_ZSTD && in->zmid)
				return in_fail(in, SP_EZSTD, "truncated zstd frame", err);
			if (in->codec == SP_CODEC_GZIP && in->gz_mid)
				return in_fail(in, SP_EZSTD, "truncated gzip member", err);
			in->eof = 1;
			return 0;
		}
		if (in->codec == SP_CODEC_ZSTD) {
			ZSTD_inBuffer ib = { in->raw, in->raw_len, in->raw_pos };
			ZSTD_outBuffer ob = { in->dec, DEC_CAP, 0 };
			size_t r = ZSTD_decompressStream(in->zd, &ob, &ib);
			if (ZSTD_isError(r)) {
				char msg[200];
				snprintf(msg, sizeof msg, "corrupt zstd data: %s", ZSTD_getErrorName(r));
				return in_fail(in, SP_EZSTD, msg, err);
			}
			in->zmid = r != 0;
			in->raw_pos = ib.pos;
			in->dec_len = ob.pos;
		} else {
			z_stream *z = &in->gz;
			if (!in->gz_mid && z->total_in) {
				/* a new member after a finished one must start with the gzip magic */
				if (in->raw[in->raw_pos] != 0x1F) {
					return in_fail(in, SP_EZSTD, "trailing garbage after gzip data", err);
				}
				inflateReset(z);
			}
			z->next_in = in->raw + in->raw_pos;
			z->avail_in = (uInt)(in->raw_len - in->raw_pos);
			z->next_out = in->dec;
			z->avail_out = DEC_CAP;
			int r = inflate(z, Z_NO_FLUSH);
			if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
				char msg[200];
				snprintf(msg, sizeof msg, "corrupt gzip data: %s", z->msg ? z->msg : "inflate failed");
				return in_fail(in, SP_EZSTD, msg, err);
			}
			in->gz_mid = r != Z_STREAM_END;
			in->raw_pos = in->raw_len - z->avail_in;
			in->dec_len = DEC_CAP - z->avail_out;
		}
	}
	return 0;
}

/* Makes bytes available: returns pointer/len of the current window, 0 len at EOF. */
static int window(sp_in *in, const unsigned char **p, size_t *n, sp_err *err)
{
	if (in->codec == SP_CODEC_NONE) {
		if (in->raw_pos == in->raw_len)
			SP_FORWARD(fill_raw(in, err));
		*p = in->raw + in->raw_pos;
		*n = in->raw_len - in->raw_pos;
		return 0;
	}
	if (in->dec_pos == in->dec_len && !in->eof)
		SP_FORWARD(fill_dec(in, err));
	*p = in->dec + in->dec_pos;
	*n = in->dec_len - in->dec_pos;
	return 0;
}

static void consume(sp_in *in, size_t n)
{
	if (in->codec == SP_CODEC_NONE)
		in->raw_pos += n;
	else
		in->dec_pos += n;
}

int sp_in_read(sp_in *in, void *dst, size_t n, size_t *got, sp_err *err)
{
	size_t done = 0;
	while (done < n) {
		const unsigned char *p;
		size_t k;
		SP_FORWARD(window(in, &p, &k, err));
		if (!k)
			break;
		if (k > n - done)
			k = n - done;
		memcpy((char *)dst + done, p, k);
		consume(in, k);
		done += k;
	}
	*got = done;
	return 0;
}

int sp_in_read_full(sp_in *in, void *dst, size_t n, sp_err *err)
{
	size_t got;
	SP_FORWARD(sp_in_read(in, dst, n, &got, err));
	if (got != n) {
		char msg[160];
		snprintf(msg, sizeof msg, "truncated input: wanted %zu bytes, got %zu", n, got);
		return in_fail(in, SP_EDATA, msg, err);
	}
	return 0;
}

int sp_in_getline(sp_in *in, sp_buf *line, sp_err *err)
{
	sp_buf_reset(line);
	int any = 0;
	for (;;) {
		const unsigned char *p;
		size_t k;
		SP_FORWARD(window(in, &p, &k, err));
		if (!k)
			break;
		any = 1;
		const unsigned char *nl = memchr(p, '\n', k);
		size_t take = nl ? (size_t)(nl - p) : k;
		if (sp_buf_append(line, p, take) < 0)
			return in_fail(in, SP_ENOMEM, "out of memory", err);
		consume(in, nl ? take + 1 : take);
		if (nl)
			break;
	}
	if (!any)
		return 0;
	if (line->len && line->p[line->len - 1] == '\r')
		line->p[--line->len] = '\0';
	in->lineno++;
	return 1;
}

uint64_t sp_in_lineno(const sp_in *in) { return in->lineno; }
const char *sp_in_name(const sp_in *in) { return in->name; }
int sp_in_codec(const sp_in *in) { return in->codec; }
uint64_t sp_in_raw_bytes(const sp_in *in) { return in->raw_bytes; }
uint64_t sp_in_raw_size(const sp_in *in) { return in->raw_size; }

void sp_in_free(sp_in *in)
{
	if (!in)
		return;
	if (in->own_fd)
		close(in->fd);
	if (in->zd)
		ZSTD_freeDStream(in->zd);
	if (in->gz_init)
		inflateEnd(&in->gz);
	sp_free(in->raw);
	sp_free(in->dec);
	sp_free(in->name);
	sp_free(in);
}

/* ---------------------------------------------------------------- output */

#define OUT_CAP (1u << 18)

struct sp_out {
	int fd, is_stdout, committed, flags;
	int stream;           /* the target is a device, FIFO or socket: written in place, never renamed over */
	int slot;             /* index in the temp-file registry, -1 if not registered */
	char *path, *tmp;     /* path: the name given (for messages); tmp: the temporary file */
	char *target;         /* the file renamed into: path with its symlinks followed */
	unsigned char *buf; size_t len;
	ZSTD_CStream *zc;
	unsigned char *zbuf; size_t zcap;
	uint64_t bytes;
};

/* The registry of live temporary files, for sp_io_remove_temps in a signal handler: names are
 * copied into static storage (a handler must not follow pointers that another thread may free),
 * and a slot's state goes free -> claimed -> live -> free with atomic stores. */
#define TMP_SLOTS 128
#define TMP_NAME_MAX 4096
static char tmp_names[TMP_SLOTS][TMP_NAME_MAX];
static int tmp_state[TMP_SLOTS];   /* 0 free, 1 being filled, 2 live */

static int tmp_register(const char *name)
{
	size_t n = strlen(name);
	if (n >= TMP_NAME_MAX)
		return -1;
	for (int i = 0; i < TMP_SLOTS; i++) {
		int expect = 0;
		if (__atomic_compare_exchange_n(&tmp_state[i], &expect, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			memcpy(tmp_names[i], name, n + 1);
			__atomic_store_n(&tmp_state[i], 2, __ATOMIC_SEQ_CST);
			return i;
		}
	}
	return -1;   /* full: this temp file is not removed on a signal (a rerun removes it) */
}

static void tmp_unregister(int slot)
{
	if (slot >= 0)
		__atomic_store_n(&tmp_state[slot], 0, __ATOMIC_SEQ_CST);
}

void sp_io_remove_temps(void)
{
	for (int i = 0; i < TMP_SLOTS; i++)
		if (__atomic_load_n(&tmp_state[i], __ATOMIC_SEQ_CST) == 2)
			unlink(tmp_names[i]);
}

static int out_fail(sp_out *o, int code, const char *msg, sp_err *err)
{
	sp_err_set_(err, code, __FILE__, __LINE__, "%s", msg);
	return sp_err_locate(err, o->path, 0);
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* path with its symlinks followed (also a dangling one: its target is created). Caller owns the
 * result; NULL with errno set on failure (ELOOP after 40 links, ENOMEM). */
static char *follow_links(const char *path)
{
	char *cur = sp_strdup(path);
	for (int hops = 0; cur; hops++) {
		struct stat st;
		if (lstat(cur, &st) < 0 || !S_ISLNK(st.st_mode))
			return cur;
		if (hops == 40) {
			sp_free(cur);
			errno = ELOOP;
			return NULL;
		}
		char link[4096];
		ssize_t k = readlink(cur, link, sizeof link - 1);
		if (k < 0) {
			sp_free(cur);
			return NULL;
		}
		link[k] = '\0';
		char *next;
		if (link[0] == '/' || !strchr(cur, '/')) {
			next = sp_strdup(link);
		} else {
			size_t dlen = (size_t)(strrchr(cur, '/') - cur) + 1;
			next = sp_malloc(dlen + (size_t)k + 1);
			if (next) {
				memcpy(next, cur, dlen);
				memcpy(next + dlen, link, (size_t)k + 1);
			}
		}
		sp_free(cur);
		cur = next;
	}
	errno = ENOMEM;
	return NULL;
}

/* Removes temporary files of target left by earlier runs that were killed: ".BASE.tmp.PID.N" in
 * target's folder whose PID is no longer a running process. Only this output's own (another job
 * may be writing another name in a shared folder). The folder is read once per process and its
 * candidates kept, so writing many files into one folder (pack's shards) does not read it again
 * for each. */
static pthread_mutex_t stale_mu = PTHREAD_MUTEX_INITIALIZER;
static char *stale_dir;        /* the folder last read */
static sp_buf stale_names;     /* its temp names of dead processes, each NUL-terminated */

static int stale_name(const char *n, long self)
{
	const char *t = n[0] == '.' ? strstr(n + 1, ".tmp.") : NULL;
	if (!t || t == n + 1)
		return 0;
	char *end;
	errno = 0;
	long pid = strtol(t + 5, &end, 10);
	if (errno || pid <= 0 || *end != '.' || end[1] < '0' || end[1] > '9' || pid == self)
		return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void remove_stale_temps(const char *dir, const char *base)
{
	pthread_mutex_lock(&stale_mu);
	if (!stale_dir || strcmp(stale_dir, dir) != 0) {
		sp_free(stale_dir);
		stale_dir = sp_strdup(dir);
		sp_buf_reset(&stale_names);
		DIR *d = stale_dir ? opendir(dir) : NULL;
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL)
			if (stale_name(e->d_name, (long)getpid()))
				sp_buf_append(&stale_names, e->d_name, strlen(e->d_name) + 1);
		if (d)
			closedir(d);
	}
	size_t blen = strlen(base);
	for (size_t i = 0, len; i < stale_names.len; i += len + 1) {
		char *n = stale_names.p + i;
		len = strlen(n);
		if (n[0] == '.' && !strncmp(n + 1, base, blen) && !strncmp(n + 1 + blen, ".tmp.", 5)) {
			char *path = sp_malloc(strlen(dir) + strlen(n) + 2);
			if (path) {
				snprintf(path, strlen(dir) + strlen(n) + 2, "%s/%s", dir, n);
				unlink(path);
				sp_free(path);
			}
			memset(n, '/', len);   /* done: '/' is in no file name, so it never matches again */
		}
	}
	pthread_mutex_unlock(&stale_mu);
}

/* Opens a non-regular target (device, FIFO) as a stream; refuses a folder. 1 if it did, 0 if the
 * target is a regular file or absent (then the caller writes a temporary file). */
static int open_stream(sp_out *o, sp_err *err)
{
	/* stat and open the name itself: the kernel follows every link, also the magic ones of
	 * /proc/self/fd (/dev/stdout on a pipe), whose text is no path */
	struct stat st;
	if (stat(o->path, &st) < 0 || S_ISREG(st.st_mode))
		return 0;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return out_fail(o, SP_EIO, "cannot write output", err);
	}
	o->fd = open(o->path, O_WRONLY | O_CLOEXEC);
	if (o->fd < 0)
		return out_fail(o, SP_EIO, "cannot open output", err);
	o->stream = 1;
	return 1;
}

int sp_out_open(sp_out **out, const char *path, int flags, sp_err *err)
{
	sp_out *o = sp_calloc(1, sizeof *o);
	if (!o)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	o->fd = -1;
	o->slot = -1;
	o->flags = flags;
	o->is_stdout = !path || !strcmp(path, "-");
	o->path = sp_strdup(o->is_stdout ? "-" : path);
	o->buf = sp_malloc(OUT_CAP);
	if (!o->path || !o->buf) {
		sp_out_free(o);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	int zstd = (flags & SP_OUT_ZSTD) || (!(flags & SP_OUT_NO_ZSTD) && !o->is_stdout && ends_with(path, ".zst"));
	if (zstd) {
		o->zc = ZSTD_createCStream();
		o->zcap = ZSTD_CStreamOutSize();
		o->zbuf = sp_malloc(o->zcap);
		if (!o->zc || !o->zbuf) {
			sp_out_free(o);
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
		ZSTD_CCtx_setParameter(o->zc, ZSTD_c_compressionLevel, 3);
		ZSTD_CCtx_setParameter(o->zc, ZSTD_c_checksumFlag, 1);
	}
	if (o->is_stdout) {
		o->fd = 1;
		*out = o;
		return 0;
	}
	int rc = open_stream(o, err);
	if (rc != 0) {
		if (rc < 0) {
			sp_out_free(o);
			return rc;
		}
		*out = o;
		return 0;
	}
	o->target = follow_links(path);
	if (!o->target) {
		rc = out_fail(o, errno == ENOMEM ? SP_ENOMEM : SP_EIO, "cannot follow symbolic link", err);
		sp_out_free(o);
		return rc;
	}
	char *dcopy = sp_strdup(o->target), *bcopy = sp_strdup(o->target);
	size_t n = strlen(o->target) + 64;
	o->tmp = sp_malloc(n);
	if (!dcopy || !bcopy || !o->tmp) {
		sp_free(dcopy); sp_free(bcopy);
		sp_out_free(o);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	static unsigned seq;
	const char *dir = dirname(dcopy), *base = basename(bcopy);
	remove_stale_temps(dir, base);
	snprintf(o->tmp, n, "%s/.%s.tmp.%ld.%u", dir, base, (long)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	sp_free(dcopy);
	sp_free(bcopy);
	/* registered before it exists, so a signal between open and registering leaves nothing */
	o->slot = tmp_register(o->tmp);
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (o->fd < 0) {
		rc = out_fail(o, SP_EIO, "cannot create temporary file", err);
		tmp_unregister(o->slot);
		o->slot = -1;
		sp_free(o->tmp);
		o->tmp = NULL;
		sp_out_free(o);
		return rc;
	}
	*out = o;
	return 0;
}

static int write_all(sp_out *o, const void *p, size_t n, sp_err *err)
{
	const char *c = p;
	while (n) {
		ssize_t k = write(o->fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return out_fail(o, SP_EIO, "write failed", err);
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static int flush_buf(sp_out *o, ZSTD_EndDirective mode, sp_err *err)
{
	if (!o->zc) {
		int rc = write_all(o, o->buf, o->len, err);
		o->len = 0;
		return rc;
	}
	ZSTD_inBuffer ib = { o->buf, o->len, 0 };
	for (;;) {
		ZSTD_outBuffer ob = { o->zbuf, o->zcap, 0 };
		size_t r = ZSTD_compressStream2(o->zc, &ob, &ib, mode);
		if (ZSTD_isError(r))
			return out_fail(o, SP_EZSTD, ZSTD_getErrorName(r), err);
		SP_FORWARD(write_all(o, o->zbuf, ob.pos, err));
		if (mode == ZSTD_e_end ? r == 0 : ib.pos == ib.size)
			break;
	}
	o->len = 0;
	return 0;
}

int sp_out_write(sp_out *o, const void *p, size_t n, sp_err *err)
{
	o->bytes += n;
	const char *c = p;
	while (n) {
		if (o->len == 0 && n >= OUT_CAP && !o->zc)
			return write_all(o, c, n, err);
		size_t k = OUT_CAP - o->len;
		if (k > n)
			k = n;
		memcpy(o->buf + o->len, c, k);
		o->len += k;
		c += k;
		n -= k;
		if (o->len == OUT_CAP)
			SP_FORWARD(flush_buf(o, ZSTD_e_continue, err));
	}
	return 0;
}

int sp_out_commit(sp_out *o, sp_err *err)
{
	if (o->committed)
		return 0;
	SP_FORWARD(flush_buf(o, ZSTD_e_end, err));
	if (o->is_stdout) {
		o->committed = 1;
		return 0;
	}
	if (o->stream) {
		/* a device or FIFO: nothing to sync or rename */
		int rc = close(o->fd);
		o->fd = -1;
		if (rc < 0)
			return out_fail(o, SP_EIO, "close failed", err);
		o->committed = 1;
		return 0;
	}
	if (!(o->flags & SP_OUT_NO_SYNC) && fsync(o->fd) < 0)
		return out_fail(o, SP_EIO, "fsync failed", err);
	if (close(o->fd) < 0) {
		o->fd = -1;
		return out_fail(o, SP_EIO, "close failed", err);
	}
	o->fd = -1;
	if (rename(o->tmp, o->target) < 0)
		return out_fail(o, SP_EIO, "cannot rename temporary file into place", err);
	o->committed = 1;
	tmp_unregister(o->slot);
	o->slot = -1;
	if (!(o->flags & SP_OUT_NO_SYNC)) {
		char *dcopy = sp_strdup(o->target);
		if (dcopy) {
			int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0) {
				fsync(dfd);
				close(dfd);
			}
			sp_free(dcopy);
		}
	}
	return 0;
}

uint64_t sp_out_bytes(const sp_out *o) { return o->bytes; }
const char *sp_out_name(const sp_out *o) { return o->path; }

void sp_out_free(sp_out *o)
{
	if (!o)
		return;
	/* stdout, a device or a FIFO is a stream, not an atomic file: what was written before a
	 * failure still goes out */
	if ((o->is_stdout || o->stream) && !o->committed && o->len && o->fd >= 0)
		flush_buf(o, ZSTD_e_end, NULL);
	if (!o->is_stdout && o->fd >= 0)
		close(o->fd);
	if (!o->is_stdout && !o->committed && o->tmp)
		unlink(o->tmp);
	tmp_unregister(o->slot);
	if (o->zc)
		ZSTD_freeCStream(o->zc);
	sp_free(o->zbuf);
	sp_free(o->buf);
	sp_free(o->tmp);
	sp_free(o->target);
	sp_free(o->path);
	sp_free(o);
}

int sp_write_file_atomic(const char *path, const void *data, size_t n, sp_err *err)
{
	sp_out *o;
	SP_FORWARD(sp_out_open(&o, path, SP_OUT_NO_ZSTD, err));
	int rc = sp_out_write(o, data, n, err);
	if (rc == 0)
		rc = sp_out_commit(o, err);
	sp_out_free(o);
	return rc;
}

int sp_read_file(const char *path, sp_buf *buf, sp_err *err)
{
	sp_in *in;
	SP_FORWARD(sp_in_open(&in, path, err));
	sp_buf_reset(buf);
	int rc = 0;
	for (;;) {
		if (sp_buf_grow(buf, 1 << 16) < 0) {
			rc = in_fail(in, SP_ENOMEM, "out of memory", err);
			break;
		}
		buf->p[buf->len] = '\0';   /* terminated even when the file is empty */
		size_t got;
		rc = sp_in_read(in, buf->p + buf->len, buf->cap - buf->len - 1, &got, err);
		if (rc < 0 || got == 0)
			break;
		buf->len += got;
		buf->p[buf->len] = '\0';
	}
	sp_in_free(in);
	return rc;
}

int sp_mkdir_p(const char *path, sp_err *err)
{
	char *p = sp_strdup(path);
	if (!p)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST) {
				sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot create directory");
				sp_err_locate(err, p, 0);
				sp_free(p);
				return SP_EIO;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	sp_free(p);
	return 0;
}
