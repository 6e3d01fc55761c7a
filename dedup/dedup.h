/* dedup.h - the logic of `spindle dedup`: text normalisation and hashing for exact dedup,
 * word segmentation (ICU word break iterator, with an ASCII fast path that segments identically),
 * word n-gram shingles, MinHash signatures and LSH band keys, exact Jaccard of shingle sets,
 * union-find, and the binary intermediate files of the staged mode (schemas/dedup-staged.md).
 *
 * Ownership: objects made by *_new are freed by *_free (NULL is fine). Arrays a function hands back
 * through a const pointer are borrowed from the object until its next call. Nothing here prints. */
#ifndef SPINDLE_DEDUP_H
#define SPINDLE_DEDUP_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"
#include "spindle/buf.h"
#include "spindle/hash.h"

/* ------------------------------------------------------------------ normalisation (exact, lines) */
enum {
	DD_NORM_CASE = 1,    /* Unicode case folding */
	DD_NORM_SPACE = 2,   /* runs of white space become one space; leading/trailing removed */
	DD_NORM_PUNCT = 4,   /* punctuation and symbols removed */
	DD_NORM_DIGITS = 8,  /* every decimal digit becomes 0 */
	DD_NORM_NFKC = 16    /* Unicode NFKC first */
};
/* Parses "case,space,punct,digits,nfkc" (or "none") into flags. Returns 0 or SP_EUSAGE. */
int dd_norm_parse(const char *s, int *flags, sp_err *err);

typedef struct dd_norm dd_norm; /* per-thread scratch (ICU normaliser, UTF-16 buffers) */
int dd_norm_new(dd_norm **out, int flags, sp_err *err);
void dd_norm_free(dd_norm *n);
/* Normalises text (valid UTF-8) into *out (borrowed until the next call), as UTF-8. */
int dd_norm_apply(dd_norm *n, const char *text, size_t len, const char **out, size_t *out_len, sp_err *err);

/* ------------------------------------------------------------------ shingles and MinHash */
#define DD_MAX_PERM 512

typedef struct dd_params {
	int ngram;          /* words per shingle (default 5) */
	int bands, rows;    /* LSH: bands x rows permutations (default: picked for the threshold, 13 x 8 at 0.8) */
	int nfkc;           /* NFKC-normalise before segmenting */
	int force_icu;      /* 1: never use the ASCII fast path (tests compare the two) */
	uint64_t seed;      /* seeds the permutations and hashes (default 1) */
} dd_params;

#define DD_PARAMS_DEFAULT { 5, 14, 8, 0, 0, 1 }

typedef struct dd_shingler dd_shingler; /* per-thread: break iterator and scratch */
int dd_shingler_new(dd_shingler **out, const dd_params *p, sp_err *err);
void dd_shingler_free(dd_shingler *s);

/* Calls fn for every word of text (case-folded UTF-8, borrowed for the call) in order. */
typedef void (*dd_word_fn)(void *ctx, const char *word, size_t len);
int dd_words(dd_shingler *s, const char *text, size_t len, dd_word_fn fn, void *ctx, sp_err *err);
/* The shingle hashes of text in document order (duplicates kept): each is the XXH3-64 of the
 * ngram consecutive word hashes; a text with 1..ngram-1 words has one shingle of all its words;
 * a text with no words has none. *h is borrowed until the next call. */
int dd_shingles(dd_shingler *s, const char *text, size_t len, const uint64_t **h, size_t *n, sp_err *err);
/* As dd_shingles, then sorted and made unique (the shingle set). */
int dd_shingle_set(dd_shingler *s, const char *text, size_t len, const uint64_t **h, size_t *n, sp_err *err);

/* Permutations: perm_i(x) = high 32 bits of (a_i * x + b_i) mod 2^64 for the 32-bit shingle
 * key x (multiply-add-shift, strongly universal), a_i, b_i drawn from a seeded generator. */
typedef struct dd_perms { int n; uint32_t a_lo[DD_MAX_PERM], a_hi[DD_MAX_PERM], b_lo[DD_MAX_PERM], b_hi[DD_MAX_PERM]; } dd_perms;
void dd_perms_init(dd_perms *pm, int n, uint64_t seed);
/* sig[0..pm->n) = min over shingles of perm_i; all 0xFFFFFFFF when n == 0. */
void dd_minhash(const dd_perms *pm, const uint64_t *h, size_t n, uint32_t *sig);
/* keys[b] = XXH3-64 of sig[b*rows .. b*rows+rows) seeded with b. */
void dd_band_keys(const uint32_t *sig, int bands, int rows, uint64_t *keys);

/* Probability that a pair of Jaccard s becomes a candidate with b bands of r rows. */
double dd_lsh_prob(double s, int b, int r);
/* Picks bands x rows (b*r <= max_perm) for threshold t: the smallest false-positive area
 * (integral of the candidate probability below t) among those with probability >= 0.9 at t. */
void dd_lsh_params(double t, int max_perm, int *bands, int *rows);

/* Exact Jaccard of two sorted unique arrays (0 when both are empty). */
double dd_jaccard(const uint64_t *a, size_t na, const uint64_t *b, size_t nb);

/* ------------------------------------------------------------------ union-find over 0..n-1 */
typedef struct dd_uf { uint32_t *parent; size_t n; } dd_uf;
int dd_uf_init(dd_uf *u, size_t n);
void dd_uf_release(dd_uf *u);
uint32_t dd_uf_find(dd_uf *u, uint32_t x);
/* Joins the sets of x and y; the root is always the smaller root (so roots are set minima). */
void dd_uf_union(dd_uf *u, uint32_t x, uint32_t y);

/* One document's LSH keys: shingles (the sorted set when want_set), MinHash with pm (pm->n must
 * be bands*rows), band keys into keys[bands]. *set / *n_set (borrowed from s until its next call)
 * get the shingle set when want_set, else the shingle count with duplicates. sig_out (NULL or
 * pm->n values) receives the signature. */
int dd_signature(dd_shingler *s, const dd_perms *pm, int bands, int rows, const char *text, size_t len,
                 int want_set, uint64_t *keys, const uint64_t **set, size_t *n_set, uint32_t *sig_out, sp_err *err);

/* ------------------------------------------------------------------ LSH clustering
 * Documents are 0..n-1 in input order. Clusters are the connected components of the graph whose
 * edges are the candidate pairs (two documents sharing a band key), keeping, with verify_t > 0,
 * only pairs whose exact shingle-set Jaccard is >= verify_t. Components do not depend on the order
 * edges are looked at, which is what makes threads, shards and staged jobs give the same result. */
typedef int (*dd_set_fn)(void *ctx, size_t doc, const uint64_t **h, size_t *n, sp_err *err);

typedef struct dd_pairs { uint64_t *ab; size_t n, cap; } dd_pairs; /* pair k: ab[2k] < ab[2k+1] */
void dd_pairs_release(dd_pairs *p);
int dd_pairs_add(dd_pairs *p, uint64_t a, uint64_t b);
void dd_pairs_sort_unique(dd_pairs *p);

typedef struct dd_lsh_stats { uint64_t buckets, candidates, verified, rejected; } dd_lsh_stats;

/* keys: n*bands band keys (doc-major); empty: NULL or 1 for docs without shingles (never
 * candidates: a text with no words is nobody's near-duplicate). uf: initialised for n docs by the caller. all_pairs: if
 * not NULL, receives every candidate pair (verified ones only with verify_t > 0), sorted, unique:
 * quadratic in bucket sizes, meant for evaluation. positional: get_set hands out whole MinHash
 * signatures (one value per u64) and a pair passes when the fraction of equal positions, the MinHash
 * estimate of its Jaccard, is >= verify_t; otherwise it hands out shingle sets (exact Jaccard). */
double dd_sig_similarity(const uint64_t *a, const uint64_t *b, size_t n);
int dd_lsh_cluster(size_t n, int bands, const uint64_t *keys, const uint8_t *empty, double verify_t,
                   int positional, dd_set_fn get_set, void *ctx, dd_uf *uf, dd_pairs *all_pairs, dd_lsh_stats *st, sp_err *err);

/* For each doc, the doc kept for its component: the highest score (NULL scores: none), ties and
 * NULL going to the earliest. kept[i] == i means i is kept. */
int dd_keep(size_t n, dd_uf *uf, const double *score, uint32_t *kept);

/* Exact similarity join: every pair (i < j) with dd_jaccard(set_i, set_j) >= t, by prefix
 * filtering (exact, no approximation). sets[i]/lens[i]: sorted unique shingle sets. */
int dd_allpairs(size_t n, const uint64_t *const *sets, const size_t *lens, double t, dd_pairs *out, sp_err *err);

#endif
