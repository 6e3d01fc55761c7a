/* dedup_staged.c - verification of the staged dedup files (see dedup_staged.h). The writers live
 * with their commands (cli_stage.c, cli_lines.c) and append dd_staged_sum of what they wrote; this
 * file only reads, and never trusts a count before checking it against the bytes that are there. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dedup_staged.h"
#include "spindle/hash.h"

uint64_t dd_staged_sum(const void *p, size_t n) { return sp_xxh64(p, n, 0); }

static int check_head(const uint8_t *p, size_t n, const char *magic, const char *name, sp_err *err)
{
	if (n < DD_STAGED_HEAD + DD_STAGED_TAIL)
		SP_RAISE(err, SP_EDATA, "%s: corrupt file (%zu bytes: shorter than a header and a checksum)", name, n);
	if (memcmp(p, magic, 8))
		SP_RAISE(err, SP_EDATA, "%s: not a %.8s file (wrong magic)", name, magic);
	uint32_t v;
	memcpy(&v, p + 8, 4);
	if (v != DD_STAGED_VERSION)
		SP_RAISE(err, SP_EDATA, "%s: version %u of %.8s, this spindle reads %u (rerun the stage that made it)", name, v,
		         magic, DD_STAGED_VERSION);
	return 0;
}

int dd_staged_verify(const char *path, const char *magic, uint64_t *end, sp_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		SP_RAISE(err, SP_EIO, "%s: cannot open", path);
	}
	uint64_t size = (uint64_t)st.st_size, at = 0, want = 0;
	uint8_t buf[1 << 16], head[DD_STAGED_HEAD];
	sp_xxh64_state *h = sp_xxh64_new(0);
	int rc = h ? 0 : sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	if (rc == 0 && size < DD_STAGED_HEAD + DD_STAGED_TAIL)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (%llu bytes: shorter than a header and a checksum)",
		                 path, (unsigned long long)size);
	while (rc == 0 && at < size - DD_STAGED_TAIL) {
		uint64_t k = size - DD_STAGED_TAIL - at;
		ssize_t r = read(fd, buf, k < sizeof buf ? (size_t)k : sizeof buf);
		if (r <= 0) {
			rc = r < 0 ? sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "%s: cannot read", path)
			           : sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (it shrank while being read)", path);
			break;
		}
		if (at < DD_STAGED_HEAD)
			memcpy(head + at, buf, (size_t)r < DD_STAGED_HEAD - at ? (size_t)r : DD_STAGED_HEAD - at);
		sp_xxh64_update(h, buf, (size_t)r);
		at += (uint64_t)r;
	}
	if (rc == 0 && read(fd, &want, 8) != 8)
		rc = sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "%s: cannot read its checksum", path);
	if (rc == 0) {
		uint8_t fake[DD_STAGED_HEAD + DD_STAGED_TAIL];
		memcpy(fake, head, DD_STAGED_HEAD);
		rc = check_head(fake, sizeof fake, magic, path, err);
	}
	if (rc == 0 && sp_xxh64_digest(h) != want)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: corrupt file (checksum mismatch: changed or damaged since it was written)", path);
	sp_xxh64_free(h);
	close(fd);
	if (rc == 0)
		*end = size - DD_STAGED_TAIL;
	return rc;
}

/* a bounded cursor over the data part of an image */
typedef struct cur { const uint8_t *p; size_t at, end; } cur;

static int take(cur *c, void *dst, size_t n)
{
	if (n > c->end - c->at)
		return -1;
	if (dst)
		memcpy(dst, c->p + c->at, n);
	c->at += n;
	return 0;
}

#define CORRUPT(what) SP_RAISE(err, SP_EDATA, "%s: corrupt file (%s)", name, what)

static int check_sig(cur *c, const char *name, sp_err *err)
{
	uint32_t bands, rows, ngram, flags;
	uint64_t seed, n = 0, gid, count;
	if (take(c, &bands, 4) || take(c, &rows, 4) || take(c, &ngram, 4) || take(c, &seed, 8) || take(c, &flags, 4))
		CORRUPT("truncated header");
	if (bands == 0 || bands > 4096)
		CORRUPT("bad band count");
	for (;;) {
		if (take(c, &gid, 8))
			CORRUPT("no end marker");
		if (gid == UINT64_MAX)
			break;
		uint32_t n_set, id_len;
		if (take(c, NULL, 8) || take(c, &n_set, 4) || take(c, &id_len, 4) || take(c, NULL, (size_t)bands * 8) ||
		    take(c, NULL, id_len) || ((flags & 5) && take(c, NULL, (size_t)n_set * 8)))
			CORRUPT("a record runs past the end");
		n++;
	}
	if (take(c, &count, 8) || count != n)
		CORRUPT("record count does not match the records");
	return 0;
}

static int check_bkt(cur *c, const char *name, sp_err *err)
{
	uint32_t flags, nsig, cnt, l;
	if (take(c, &flags, 4) || take(c, &nsig, 4))
		CORRUPT("truncated header");
	for (uint32_t k = 0; k < nsig; k++)
		if (take(c, &l, 4) || l >= 4096 || take(c, NULL, l))
			CORRUPT("bad signature file name");
	for (;;) {
		if (take(c, &cnt, 4))
			CORRUPT("no end marker");
		if (cnt == 0)
			break;
		if (cnt < 2 || (uint64_t)cnt * 24 > c->end - c->at)
			CORRUPT("bucket member count does not fit the file");
		for (uint32_t k = 0; k < cnt; k++) {
			uint32_t file = 0;
			take(c, NULL, 16);
			take(c, &file, 4);
			take(c, NULL, 4);
			if (file >= nsig)
				CORRUPT("bad signature file number");
		}
	}
	return 0;
}

/* count u64, then count fixed-size entries */
static int check_table(cur *c, size_t entry, const char *name, sp_err *err)
{
	uint64_t n;
	if (take(c, &n, 8) || n > (c->end - c->at) / entry || n * entry != c->end - c->at)
		CORRUPT("entry count does not match the file size");
	c->at = c->end;
	return 0;
}

int dd_staged_check_mem(const uint8_t *p, size_t n, const char *name, sp_err *err)
{
	static const char *const magics[] = { "SPDDSIG1", "SPDDBKT1", "SPDDEDG1", "SPDDRMV1", "SPDDCNT1" };
	int kind = -1;
	for (int i = 0; i < 5 && n >= 8; i++)
		if (!memcmp(p, magics[i], 8))
			kind = i;
	if (kind < 0)
		SP_RAISE(err, SP_EDATA, "%s: not a staged dedup file (unknown magic)", name);
	SP_FORWARD(check_head(p, n, magics[kind], name, err));
	uint64_t want;
	memcpy(&want, p + n - DD_STAGED_TAIL, 8);
	if (dd_staged_sum(p, n - DD_STAGED_TAIL) != want)
		CORRUPT("checksum mismatch: changed or damaged since it was written");
	cur c = { p, DD_STAGED_HEAD, n - DD_STAGED_TAIL };
	int rc = kind == 0 ? check_sig(&c, name, err) : kind == 1 ? check_bkt(&c, name, err)
	       : check_table(&c, 16, name, err);
	if (rc == 0 && c.at != c.end)
		CORRUPT("bytes after the end marker");
	return rc;
}
