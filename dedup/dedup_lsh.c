/* dedup_lsh.c - LSH banding into clusters, the keep rule, and the exact similarity join that
 * `dedup eval` measures MinHash against (dedup.h). In-memory, one thread: the staged commands
 * (dedup_stage.c) split the same work across jobs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dedup.h"
#include "spindle/mem.h"

void dd_pairs_release(dd_pairs *p)
{
	sp_free(p->ab);
	p->ab = NULL;
	p->n = p->cap = 0;
}

int dd_pairs_add(dd_pairs *p, uint64_t a, uint64_t b)
{
	if (p->n == p->cap) {
		size_t c = p->cap ? p->cap * 2 : 1024;
		uint64_t *q = sp_realloc(p->ab, c * 2 * sizeof *q);
		if (!q)
			return SP_ENOMEM;
		p->ab = q;
		p->cap = c;
	}
	p->ab[2 * p->n] = a < b ? a : b;
	p->ab[2 * p->n + 1] = a < b ? b : a;
	p->n++;
	return 0;
}

static int cmp_pair(const void *x, const void *y)
{
	const uint64_t *a = x, *b = y;
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return (a[1] > b[1]) - (a[1] < b[1]);
}

void dd_pairs_sort_unique(dd_pairs *p)
{
	if (p->n == 0)
		return;
	qsort(p->ab, p->n, 2 * sizeof *p->ab, cmp_pair);
	size_t m = 0;
	for (size_t i = 0; i < p->n; i++)
		if (m == 0 || p->ab[2 * m - 2] != p->ab[2 * i] || p->ab[2 * m - 1] != p->ab[2 * i + 1]) {
			p->ab[2 * m] = p->ab[2 * i];
			p->ab[2 * m + 1] = p->ab[2 * i + 1];
			m++;
		}
	p->n = m;
}

typedef struct kv { uint64_t key; uint64_t doc; } kv;

static int cmp_kv(const void *x, const void *y)
{
	const kv *a = x, *b = y;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (a->doc > b->doc) - (a->doc < b->doc);
}

double dd_sig_similarity(const uint64_t *a, const uint64_t *b, size_t n)
{
	size_t eq = 0;
	for (size_t i = 0; i < n; i++)
		eq += a[i] == b[i];
	return n ? (double)eq / (double)n : 0.0;
}

int dd_lsh_cluster(size_t n, int bands, const uint64_t *keys, const uint8_t *empty, double verify_t,
                   int positional, dd_set_fn get_set, void *ctx, dd_uf *uf, dd_pairs *all_pairs, dd_lsh_stats *st, sp_err *err)
{
	kv *a = sp_malloc((n ? n : 1) * sizeof *a);
	if (!a)
		SP_RAISE(err, SP_ENOMEM, "out of memory for %zu band keys", n);
	int rc = 0;
	for (int b = 0; b < bands && rc == 0; b++) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			if (empty && empty[i])
				continue;
			a[m].key = keys[i * (size_t)bands + (size_t)b];
			a[m].doc = i;
			m++;
		}
		qsort(a, m, sizeof *a, cmp_kv);
		for (size_t s = 0; s < m && rc == 0;) {
			size_t e = s + 1;
			while (e < m && a[e].key == a[s].key)
				e++;
			if (e - s >= 2 && st)
				st->buckets++;
			for (size_t j = s + 1; j < e && rc == 0; j++) {
				uint32_t dj = (uint32_t)a[j].doc;
				if (verify_t <= 0 && !all_pairs) {
					dd_uf_union(uf, (uint32_t)a[s].doc, dj);
					if (st)
						st->candidates++;
					continue;
				}
				for (size_t i = s; i < j; i++) {
					uint32_t di = (uint32_t)a[i].doc;
					if (st)
						st->candidates++;
					/* an edge inside one component changes nothing: skip its check */
					if (!all_pairs && dd_uf_find(uf, di) == dd_uf_find(uf, dj))
						continue;
					int ok = 1;
					if (verify_t > 0) {
						const uint64_t *h1, *h2;
						size_t n1, n2;
						if ((rc = get_set(ctx, di, &h1, &n1, err)) < 0)
							break;
						/* get_set may reuse one buffer per call: copy the first set's view */
						uint64_t *c1 = sp_malloc((n1 ? n1 : 1) * sizeof *c1);
						if (!c1) {
							rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
							break;
						}
						memcpy(c1, h1, n1 * sizeof *c1);
						if ((rc = get_set(ctx, dj, &h2, &n2, err)) < 0) {
							sp_free(c1);
							break;
						}
						ok = (positional ? dd_sig_similarity(c1, h2, n1 < n2 ? n1 : n2)
						                 : dd_jaccard(c1, n1, h2, n2)) >= verify_t;
						sp_free(c1);
						if (st) {
							st->verified++;
							st->rejected += !ok;
						}
					}
					if (ok) {
						dd_uf_union(uf, di, dj);
						if (all_pairs && dd_pairs_add(all_pairs, di, dj)) {
							rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
							break;
						}
					}
				}
			}
			s = e;
		}
	}
	sp_free(a);
	if (rc == 0 && all_pairs)
		dd_pairs_sort_unique(all_pairs);
	return rc;
}

int dd_keep(size_t n, dd_uf *uf, const double *score, uint32_t *kept)
{
	/* roots are component minima, so a root is seen before the rest of its component */
	for (size_t i = 0; i < n; i++) {
		uint32_t r = dd_uf_find(uf, (uint32_t)i);
		if (r == i) {
			kept[i] = (uint32_t)i;
			continue;
		}
		uint32_t k = kept[r];
		if (score && score[i] > score[k])
			kept[r] = (uint32_t)i;
	}
	for (size_t i = 0; i < n; i++)
		kept[i] = kept[dd_uf_find(uf, (uint32_t)i)];
	return 0;
}

/* ------------------------------------------------------------------ exact similarity join */
typedef struct tokfreq { uint64_t tok; uint32_t freq; } tokfreq;

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

static int cmp_tf(const void *x, const void *y)
{
	const tokfreq *a = x, *b = y;
	if (a->freq != b->freq)
		return a->freq < b->freq ? -1 : 1;
	return (a->tok > b->tok) - (a->tok < b->tok);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

typedef struct bysize { size_t len; size_t doc; } bysize;
static int cmp_bysize(const void *x, const void *y)
{
	const bysize *a = x, *b = y;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return (a->doc > b->doc) - (a->doc < b->doc);
}

static size_t prefix_len(size_t len, double t)
{
	double need = ceil(t * (double)len - 1e-9);
	if (need < 1)
		need = 1;
	size_t p = len - (size_t)need + 1;
	return p > len ? len : p;
}

int dd_allpairs(size_t n, const uint64_t *const *sets, const size_t *lens, double t, dd_pairs *out, sp_err *err)
{
	int rc = 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += lens[i];
	uint64_t *all = sp_malloc((total ? total : 1) * sizeof *all);
	tokfreq *tf = NULL;
	uint32_t **r = sp_calloc(n ? n : 1, sizeof *r);
	bysize *order = sp_malloc((n ? n : 1) * sizeof *order);
	uint32_t **post = NULL; size_t *npost = NULL, *cpost = NULL;
	uint64_t *stamp = sp_calloc(n ? n : 1, sizeof *stamp);
	size_t nu = 0;
	uint32_t *rank = NULL;
	if (!all || !r || !order || !stamp)
		goto nomem;
	for (size_t i = 0, k = 0; i < n; i++) {
		memcpy(all + k, sets[i], lens[i] * sizeof *all);
		k += lens[i];
	}
	qsort(all, total, sizeof *all, cmp_u64);
	tf = sp_malloc((total ? total : 1) * sizeof *tf);
	if (!tf)
		goto nomem;
	for (size_t i = 0; i < total;) {
		size_t j = i;
		while (j < total && all[j] == all[i])
			j++;
		tf[nu].tok = all[i];
		tf[nu].freq = (uint32_t)(j - i);
		nu++;
		i = j;
	}
	/* rank tokens rarest first; all[] becomes the sorted unique tokens, rank[] their ranks */
	for (size_t i = 0; i < nu; i++)
		all[i] = tf[i].tok;
	qsort(tf, nu, sizeof *tf, cmp_tf);
	rank = sp_malloc((nu ? nu : 1) * sizeof *rank);
	if (!rank)
		goto nomem;
	for (size_t i = 0; i < nu; i++) {
		uint64_t *pos = bsearch(&tf[i].tok, all, nu, sizeof *all, cmp_u64);
		rank[pos - all] = (uint32_t)i;
	}
	for (size_t i = 0; i < n; i++) {
		r[i] = sp_malloc((lens[i] ? lens[i] : 1) * sizeof **r);
		if (!r[i])
			goto nomem;
		for (size_t k = 0; k < lens[i]; k++) {
			uint64_t *pos = bsearch(&sets[i][k], all, nu, sizeof *all, cmp_u64);
			r[i][k] = rank[pos - all];
		}
		qsort(r[i], lens[i], sizeof **r, cmp_u32);
		order[i].len = lens[i];
		order[i].doc = i;
	}
	qsort(order, n, sizeof *order, cmp_bysize);
	post = sp_calloc(nu ? nu : 1, sizeof *post);
	npost = sp_calloc(nu ? nu : 1, sizeof *npost);
	cpost = sp_calloc(nu ? nu : 1, sizeof *cpost);
	if (!post || !npost || !cpost)
		goto nomem;
	for (size_t oi = 0; oi < n; oi++) {
		size_t x = order[oi].doc, lx = lens[x];
		if (lx == 0)
			continue;
		size_t p = prefix_len(lx, t);
		double minlen = t * (double)lx - 1e-9;
		for (size_t k = 0; k < p; k++) {
			uint32_t tok = r[x][k];
			for (size_t q = 0; q < npost[tok]; q++) {
				size_t y = post[tok][q];
				if ((double)lens[y] < minlen || stamp[y] == oi + 1)
					continue;
				stamp[y] = oi + 1;
				if (dd_jaccard(sets[x], lx, sets[y], lens[y]) >= t && dd_pairs_add(out, x, y))
					goto nomem;
			}
		}
		for (size_t k = 0; k < p; k++) {
			uint32_t tok = r[x][k];
			if (npost[tok] == cpost[tok]) {
				size_t c = cpost[tok] ? cpost[tok] * 2 : 4;
				uint32_t *q = sp_realloc(post[tok], c * sizeof *q);
				if (!q)
					goto nomem;
				post[tok] = q;
				cpost[tok] = c;
			}
			post[tok][npost[tok]++] = (uint32_t)x;
		}
	}
	dd_pairs_sort_unique(out);
	goto done;
nomem:
	rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory in the exact similarity join");
done:
	if (post)
		for (size_t i = 0; i < nu; i++)
			sp_free(post[i]);
	sp_free(post);
	sp_free(npost);
	sp_free(cpost);
	if (r)
		for (size_t i = 0; i < n; i++)
			sp_free(r[i]);
	sp_free(r);
	sp_free(order);
	sp_free(stamp);
	sp_free(tf);
	sp_free(rank);
	sp_free(all);
	return rc;
}
