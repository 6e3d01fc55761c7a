/* dedup_table.c - open-addressing hash tables keyed by hashes (dedup_table.h): a set of 128-bit
 * hashes for exact dedup and a 64-bit-key counter for line dedup. Keys are already uniform. */
#include <string.h>
#include "dedup_table.h"
#include "spindle/mem.h"

static int set_grow(dd_set128 *s)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	sp_hash128 *k = sp_calloc(cap, sizeof *k);
	if (!k)
		return SP_ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		sp_hash128 h = s->keys[i];
		if (!h.lo && !h.hi)
			continue;
		size_t j = h.lo & (cap - 1);
		while (k[j].lo || k[j].hi)
			j = (j + 1) & (cap - 1);
		k[j] = h;
	}
	sp_free(s->keys);
	s->keys = k;
	s->cap = cap;
	return 0;
}

int dd_set128_add(dd_set128 *s, sp_hash128 h, int *added)
{
	if (!h.lo && !h.hi)
		h.lo = 1; /* the empty-slot marker: remap (a 2^-128 event) */
	if ((s->n + 1) * 4 > s->cap * 3 && set_grow(s))
		return SP_ENOMEM;
	size_t j = h.lo & (s->cap - 1);
	while (s->keys[j].lo || s->keys[j].hi) {
		if (s->keys[j].lo == h.lo && s->keys[j].hi == h.hi) {
			*added = 0;
			return 0;
		}
		j = (j + 1) & (s->cap - 1);
	}
	s->keys[j] = h;
	s->n++;
	*added = 1;
	return 0;
}

void dd_set128_release(dd_set128 *s)
{
	sp_free(s->keys);
	memset(s, 0, sizeof *s);
}

static int cnt_grow(dd_count64 *c)
{
	size_t cap = c->cap ? c->cap * 2 : 1024;
	uint64_t *k = sp_calloc(cap, sizeof *k);
	uint32_t *v = sp_calloc(cap, sizeof *v);
	if (!k || !v) {
		sp_free(k);
		sp_free(v);
		return SP_ENOMEM;
	}
	for (size_t i = 0; i < c->cap; i++) {
		if (!c->keys[i])
			continue;
		size_t j = c->keys[i] & (cap - 1);
		while (k[j])
			j = (j + 1) & (cap - 1);
		k[j] = c->keys[i];
		v[j] = c->vals[i];
	}
	sp_free(c->keys);
	sp_free(c->vals);
	c->keys = k;
	c->vals = v;
	c->cap = cap;
	return 0;
}

int dd_count64_add(dd_count64 *c, uint64_t key, uint32_t by)
{
	if (!key)
		key = 1;
	if ((c->n + 1) * 4 > c->cap * 3 && cnt_grow(c))
		return SP_ENOMEM;
	size_t j = key & (c->cap - 1);
	while (c->keys[j] && c->keys[j] != key)
		j = (j + 1) & (c->cap - 1);
	if (!c->keys[j]) {
		c->keys[j] = key;
		c->n++;
	}
	uint64_t v = (uint64_t)c->vals[j] + by;
	c->vals[j] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return 0;
}

uint32_t dd_count64_get(const dd_count64 *c, uint64_t key)
{
	if (!key)
		key = 1;
	if (!c->cap)
		return 0;
	size_t j = key & (c->cap - 1);
	while (c->keys[j]) {
		if (c->keys[j] == key)
			return c->vals[j];
		j = (j + 1) & (c->cap - 1);
	}
	return 0;
}

void dd_count64_release(dd_count64 *c)
{
	sp_free(c->keys);
	sp_free(c->vals);
	memset(c, 0, sizeof *c);
}
