/* shards.c - the dataset reader the trainer uses (spindle/shards.h): manifest + memory-mapped shard
 * files, a deterministic per-(seed, epoch, rank, world_size) order over the sequences, and a
 * background thread that decodes the next sequences ahead of the caller.
 * Every record's checksum is checked when it is read; the full structural check of every shard is
 * `spindle shards verify` (lib/shards_verify.c), too slow to do on each open. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include "spindle/shards.h"
#include "spindle/shards_fmt.h"
#include "spindle/hash.h"
#include "spindle/mem.h"

typedef struct shard_map {
	unsigned char *base; size_t size;
	sp_shard_header h;
	sp_shard_footer f;
	uint64_t seq_base, doc_base;
	char *path;
	int mapped, refs;               /* under map_mu */
} shard_map;

typedef struct slot { sp_seq seq; int rc; sp_err err; } slot;

typedef struct rctx { ZSTD_DCtx *dctx; sp_buf raw; } rctx; /* per-thread decode state */

struct sp_shards {
	sp_manifest m;
	shard_map *sh; size_t n_sh;
	sp_perm order; int has_order;
	sp_shards_cursor cur;          /* what the caller has consumed */
	rctx main_ctx, th_ctx;
	/* prefetch */
	unsigned cap;
	slot *ring; size_t head, count;
	sp_shards_cursor pcur;         /* the next one the thread produces */
	int th_running, stop;
	int main_waiting, th_waiting;  /* signal a condition only when someone waits on it */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv_full, cv_space;
	/* Shards are mapped on first use and at most max_mapped at a time (a process has ~65k mappings
	 * in all, a trillion-token dataset may have more shards): a clock over the mapped ones unmaps
	 * one that no reader holds. */
	pthread_mutex_t map_mu;
	size_t *mapped_ix, n_mapped, max_mapped, hand;
};

#define DEFAULT_MAX_MAPPED 1024

static void unmap_all(sp_shards *s)
{
	for (size_t i = 0; i < s->n_sh; i++) {
		if (s->sh[i].base)
			munmap(s->sh[i].base, s->sh[i].size);
		sp_free(s->sh[i].path);
	}
	sp_free(s->sh);
	s->sh = NULL;
	s->n_sh = 0;
}

static int map_shard(shard_map *sm, const char *path, const sp_manifest_shard *ms, const sp_manifest *m, sp_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot open shard");
		return sp_err_locate(err, path, 0);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != ms->bytes) {
		close(fd);
		sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "shard has %lld bytes, the manifest says %llu",
		            (long long)st.st_size, (unsigned long long)ms->bytes);
		return sp_err_locate(err, path, 0);
	}
	sm->size = (size_t)st.st_size;
	void *p = sm->size ? mmap(NULL, sm->size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	close(fd);
	if (p == MAP_FAILED) {
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot map shard");
		return sp_err_locate(err, path, 0);
	}
	sm->base = p;
	int rc = sp_shard_header_decode(sm->base, sm->size, &sm->h, err);
	rc = rc ? rc : sp_shard_footer_decode(sm->base, sm->size, &sm->f, err);
	if (rc == 0 && (sm->h.seq_len != m->seq_len || sm->h.token_bytes != m->token_bytes || sm->h.tokenizer_id != m->tokenizer_id ||
	                sm->f.n_seqs != ms->n_sequences || !!(sm->h.flags & SP_SHARD_FLAG_ZSTD) != !!ms->zstd))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "shard does not match the manifest (seq_len, token width, tokenizer, count or compression)");
	if (rc) {
		munmap(sm->base, sm->size);
		sm->base = NULL;
		return sp_err_locate(err, path, 0);
	}
	return 0;
}

/* Checks that a shard exists with the manifest's size, without mapping it. */
static int stat_shard(const shard_map *sm, const sp_manifest_shard *ms, sp_err *err)
{
	struct stat st;
	if (stat(sm->path, &st) < 0) {
		sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "cannot open shard");
		return sp_err_locate(err, sm->path, 0);
	}
	if ((uint64_t)st.st_size != ms->bytes) {
		sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "shard has %lld bytes, the manifest says %llu",
		            (long long)st.st_size, (unsigned long long)ms->bytes);
		return sp_err_locate(err, sm->path, 0);
	}
	return 0;
}

/* Maps shard k if needed (unmapping an idle one when at the limit) and takes a reference. */
static int shard_acquire(sp_shards *s, size_t k, sp_err *err)
{
	shard_map *sm = &s->sh[k];
	int rc = 0;
	pthread_mutex_lock(&s->map_mu);
	if (!sm->mapped) {
		size_t slot_no = s->n_mapped;
		if (s->n_mapped == s->max_mapped) {
			for (size_t tries = 0;; tries++) {
				size_t j = s->mapped_ix[s->hand];
				if (s->sh[j].refs == 0)
					break;
				s->hand = (s->hand + 1) % s->max_mapped;
				if (tries > 2 * s->max_mapped) { /* cannot happen with 2 readers and a limit >= 4 */
					pthread_mutex_unlock(&s->map_mu);
					SP_RAISE(err, SP_EINTERNAL, "every mapped shard is in use");
				}
			}
			slot_no = s->hand;
			shard_map *old = &s->sh[s->mapped_ix[slot_no]];
			munmap(old->base, old->size);
			old->base = NULL;
			old->mapped = 0;
			s->hand = (s->hand + 1) % s->max_mapped;
		}
		rc = map_shard(sm, sm->path, &s->m.shards[k], &s->m, err);
		if (rc == 0) {
			sm->mapped = 1;
			s->mapped_ix[slot_no] = k;
			if (slot_no == s->n_mapped)
				s->n_mapped++;
		} else if (slot_no != s->n_mapped) {
			/* the evicted slot is free now: move the last mapped one into it */
			s->n_mapped--;
			s->mapped_ix[slot_no] = s->mapped_ix[s->n_mapped];
			s->hand = 0;
		}
	}
	if (rc == 0)
		sm->refs++;
	pthread_mutex_unlock(&s->map_mu);
	return rc;
}

static void shard_release(sp_shards *s, size_t k)
{
	pthread_mutex_lock(&s->map_mu);
	s->sh[k].refs--;
	pthread_mutex_unlock(&s->map_mu);
}

void sp_shards_set_map_limit(sp_shards *s, size_t max_mapped)
{
	pthread_mutex_lock(&s->map_mu);
	if (max_mapped < 4)
		max_mapped = 4;
	if (max_mapped >= s->n_mapped) {
		size_t *n = sp_realloc(s->mapped_ix, max_mapped * sizeof *n);
		if (n) {
			s->mapped_ix = n;
			s->max_mapped = max_mapped;
			s->hand = 0;
		}
	}
	pthread_mutex_unlock(&s->map_mu);
}

int sp_shards_open(sp_shards **out, const char *dir, unsigned prefetch, sp_err *err)
{
	sp_shards *s = sp_calloc(1, sizeof *s);
	if (!s)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	int rc = sp_manifest_load(dir, &s->m, err);
	if (rc)
		goto fail;
	s->sh = sp_calloc(s->m.n_shards ? s->m.n_shards : 1, sizeof *s->sh);
	if (!s->sh) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto fail;
	}
	uint64_t base = 0;
	for (size_t i = 0; i < s->m.n_shards; i++) {
		shard_map *sm = &s->sh[i];
		s->n_sh = i + 1;
		sp_buf p = SP_BUF_INIT;
		if (sp_buf_appendf(&p, "%s/%s", dir, s->m.shards[i].file) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			goto fail;
		}
		sm->path = p.p;
		sm->seq_base = base;
		sm->doc_base = s->m.shards[i].doc_base;
		base += s->m.shards[i].n_sequences;
		if ((rc = stat_shard(sm, &s->m.shards[i], err)))
			goto fail;
	}
	s->max_mapped = DEFAULT_MAX_MAPPED;
	s->mapped_ix = sp_calloc(s->max_mapped, sizeof *s->mapped_ix);
	if (!s->mapped_ix) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto fail;
	}
	s->has_order = s->m.has_order_seed;
	sp_perm_init(&s->order, s->m.n_sequences, s->m.order_seed);
	s->cur.world_size = 1;
	s->pcur = s->cur;
	s->cap = prefetch;
	s->main_ctx.dctx = ZSTD_createDCtx();
	s->th_ctx.dctx = ZSTD_createDCtx();
	if (!s->main_ctx.dctx || !s->th_ctx.dctx) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto fail;
	}
	if (prefetch) {
		s->ring = sp_calloc(prefetch, sizeof *s->ring);
		if (!s->ring) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			goto fail;
		}
		for (unsigned i = 0; i < prefetch; i++) {
			sp_seq z = SP_SEQ_INIT;
			s->ring[i].seq = z;
		}
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->map_mu, NULL);
	pthread_cond_init(&s->cv_full, NULL);
	pthread_cond_init(&s->cv_space, NULL);
	*out = s;
	return 0;
fail:
	unmap_all(s);
	sp_free(s->mapped_ix);
	sp_manifest_release(&s->m);
	ZSTD_freeDCtx(s->main_ctx.dctx);
	ZSTD_freeDCtx(s->th_ctx.dctx);
	sp_free(s->ring);
	sp_free(s);
	return rc;
}

void sp_shards_info_get(const sp_shards *s, sp_shards_info *info)
{
	memset(info, 0, sizeof *info);
	info->n_sequences = s->m.n_sequences;
	info->n_tokens = s->m.n_tokens;
	info->n_documents = s->m.n_documents;
	info->seq_len = s->m.seq_len;
	info->vocab_size = s->m.vocab_size;
	info->n_shards = (uint32_t)s->m.n_shards;
	info->bos_id = s->m.bos_id;
	info->eos_id = s->m.eos_id;
	info->pad_id = s->m.pad_id;
	info->tokenizer_id = s->m.tokenizer_id;
}

uint64_t sp_shards_epoch_len(const sp_shards *s, uint32_t rank, uint32_t world_size)
{
	uint64_t n = s->m.n_sequences;
	if (world_size == 0 || rank >= world_size)
		return 0;
	return n / world_size + (rank < n % world_size ? 1 : 0);
}

/* Reads the sequence at file-order position phys into seq. */
static int read_phys(sp_shards *s, rctx *c, uint64_t phys, sp_seq *seq, sp_err *err)
{
	size_t lo = 0, hi = s->n_sh;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (s->sh[mid].seq_base <= phys)
			lo = mid;
		else
			hi = mid;
	}
	const shard_map *sm = &s->sh[lo];
	uint64_t local = phys - sm->seq_base;
	SP_FORWARD(shard_acquire(s, lo, err));
	sp_shard_ix ix;
	sp_shard_ix_decode(sm->base + sm->f.index_offset + local * SP_SHARD_INDEX_ENTRY, &ix);
	int rc = 0;
	if (ix.offset < SP_SHARD_HEADER_LEN || ix.offset > sm->f.index_offset || ix.stored_len > sm->f.index_offset - ix.offset) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "sequence %llu: index entry points outside the shard",
		                 (unsigned long long)local);
		goto out;
	}
	const unsigned char *p = sm->base + ix.offset;
	if (sp_xxh64(p, ix.stored_len, 0) != ix.xxh64) {
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "sequence %llu: checksum mismatch", (unsigned long long)local);
		goto out;
	}
	size_t n = ix.stored_len;
	if (sm->h.flags & SP_SHARD_FLAG_ZSTD) {
		sp_buf_reset(&c->raw);
		if (sp_buf_grow(&c->raw, ix.raw_len) < 0) {
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			goto out;
		}
		size_t r = ZSTD_decompressDCtx(c->dctx, c->raw.p, ix.raw_len, p, ix.stored_len);
		if (ZSTD_isError(r) || r != ix.raw_len) {
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "sequence %llu: bad zstd frame", (unsigned long long)local);
			goto out;
		}
		p = (const unsigned char *)c->raw.p;
		n = r;
	}
	rc = sp_shard_rec_decode(p, n, sm->h.seq_len, sm->h.token_bytes, 0, sm->doc_base, seq, err);
	if (rc && err) {
		char m[sizeof err->msg];
		memcpy(m, err->msg, sizeof m);
		snprintf(err->msg, sizeof err->msg, "sequence %llu: %.400s", (unsigned long long)local, m);
	}
	seq->shard = (uint32_t)lo;
out:
	shard_release(s, lo);
	if (rc)
		sp_err_locate(err, sm->path, 0);
	return rc;
}

static uint64_t to_phys(const sp_shards *s, uint64_t index)
{
	return s->has_order ? sp_perm_apply(&s->order, index) : index;
}

int sp_shards_get(sp_shards *s, uint64_t index, sp_seq *seq, sp_err *err)
{
	if (index >= s->m.n_sequences)
		SP_RAISE(err, SP_EUSAGE, "sequence %llu is beyond the dataset's %llu",
		         (unsigned long long)index, (unsigned long long)s->m.n_sequences);
	SP_FORWARD(read_phys(s, &s->main_ctx, to_phys(s, index), seq, err));
	seq->index = index;
	return 0;
}

int sp_shards_get_stored(sp_shards *s, uint64_t pos, sp_seq *seq, sp_err *err)
{
	if (pos >= s->m.n_sequences)
		SP_RAISE(err, SP_EUSAGE, "sequence %llu is beyond the dataset's %llu",
		         (unsigned long long)pos, (unsigned long long)s->m.n_sequences);
	SP_FORWARD(read_phys(s, &s->main_ctx, pos, seq, err));
	seq->index = pos;
	return 0;
}

/* The manifest index at cursor c (which must be inside its epoch). */
static uint64_t index_at(const sp_shards *s, const sp_shards_cursor *c)
{
	sp_perm p;
	sp_perm_init(&p, s->m.n_sequences, sp_mix64(c->seed) ^ sp_mix64(c->epoch + 0x5851F42D4C957F2Dull));
	uint64_t slot_no = c->position * c->world_size + c->rank;
	return sp_perm_apply(&p, slot_no);
}

static void advance(const sp_shards *s, sp_shards_cursor *c)
{
	c->position++;
	if (c->position >= sp_shards_epoch_len(s, c->rank, c->world_size)) {
		c->position = 0;
		c->epoch++;
	}
}

static int read_at(sp_shards *s, rctx *ctx, const sp_shards_cursor *c, sp_seq *seq, sp_err *err)
{
	uint64_t index = index_at(s, c);
	SP_FORWARD(read_phys(s, ctx, to_phys(s, index), seq, err));
	seq->index = index;
	return 0;
}

static void *prefetch_main(void *arg)
{
	sp_shards *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		if (s->count == s->cap) {
			s->th_waiting = 1;
			pthread_cond_wait(&s->cv_space, &s->mu);
			s->th_waiting = 0;
			continue;
		}
		slot *sl = &s->ring[(s->head + s->count) % s->cap];
		sp_shards_cursor c = s->pcur;
		pthread_mutex_unlock(&s->mu);
		sp_err e = SP_ERR_INIT;
		sl->rc = read_at(s, &s->th_ctx, &c, &sl->seq, &e);
		sl->err = e;
		pthread_mutex_lock(&s->mu);
		advance(s, &s->pcur);
		s->count++;
		if (s->main_waiting)
			pthread_cond_signal(&s->cv_full);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void stop_thread(sp_shards *s)
{
	if (!s->th_running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv_space);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	s->th_running = 0;
	s->stop = 0;
	s->head = s->count = 0;
}

static int check_cursor(const sp_shards *s, const sp_shards_cursor *c, sp_err *err)
{
	if (c->world_size == 0 || c->rank >= c->world_size)
		SP_RAISE(err, SP_EUSAGE, "rank %u is not below world size %u", c->rank, c->world_size);
	uint64_t len = sp_shards_epoch_len(s, c->rank, c->world_size);
	if (len == 0)
		SP_RAISE(err, SP_EUSAGE, "rank %u gets no sequences: the dataset has %llu for %u ranks", c->rank,
		         (unsigned long long)s->m.n_sequences, c->world_size);
	if (c->position > len)
		SP_RAISE(err, SP_EUSAGE, "cursor position %llu is beyond the epoch's %llu sequences",
		         (unsigned long long)c->position, (unsigned long long)len);
	return 0;
}

int sp_shards_seek(sp_shards *s, const sp_shards_cursor *cursor, sp_err *err)
{
	SP_FORWARD(check_cursor(s, cursor, err));
	stop_thread(s);
	s->cur = *cursor;
	if (s->cur.position == sp_shards_epoch_len(s, s->cur.rank, s->cur.world_size)) {
		s->cur.position = 0;
		s->cur.epoch++;
	}
	s->pcur = s->cur;
	return 0;
}

int sp_shards_next(sp_shards *s, sp_seq *seq, sp_err *err)
{
	SP_FORWARD(check_cursor(s, &s->cur, err));
	int rc;
	if (!s->cap) {
		rc = read_at(s, &s->main_ctx, &s->cur, seq, err);
	} else {
		if (!s->th_running) {
			s->pcur = s->cur;
			if (pthread_create(&s->th, NULL, prefetch_main, s) != 0)
				SP_RAISE(err, SP_EIO, "cannot start the prefetch thread");
			s->th_running = 1;
		}
		pthread_mutex_lock(&s->mu);
		while (s->count == 0) {
			s->main_waiting = 1;
			pthread_cond_wait(&s->cv_full, &s->mu);
			s->main_waiting = 0;
		}
		slot *sl = &s->ring[s->head];
		sp_seq t = *seq;
		*seq = sl->seq;
		sl->seq = t;
		rc = sl->rc;
		if (rc && err)
			*err = sl->err;
		s->head = (s->head + 1) % s->cap;
		s->count--;
		if (s->th_waiting)
			pthread_cond_signal(&s->cv_space);
		pthread_mutex_unlock(&s->mu);
	}
	advance(s, &s->cur);
	return rc;
}

void sp_shards_tell(const sp_shards *s, sp_shards_cursor *cursor)
{
	*cursor = s->cur;
}

void sp_shards_close(sp_shards *s)
{
	if (!s)
		return;
	stop_thread(s);
	for (unsigned i = 0; i < s->cap; i++)
		sp_seq_release(&s->ring[i].seq);
	sp_free(s->ring);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->map_mu);
	sp_free(s->mapped_ix);
	pthread_cond_destroy(&s->cv_full);
	pthread_cond_destroy(&s->cv_space);
	ZSTD_freeDCtx(s->main_ctx.dctx);
	ZSTD_freeDCtx(s->th_ctx.dctx);
	sp_buf_release(&s->main_ctx.raw);
	sp_buf_release(&s->th_ctx.raw);
	unmap_all(s);
	sp_manifest_release(&s->m);
	sp_free(s);
}
