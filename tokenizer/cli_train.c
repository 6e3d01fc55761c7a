/* cli_train.c - `spindle tok train`: options, the sentence reader (text or JSONL, sampled) and
 * the parallel word count feeding tok_train.c's BPE merges. */
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "tok.h"
#include "tok_internal.h"
#include "tok_train.h"
#include "spindle/io.h"
#include "spindle/jsonl.h"
#include "spindle/mem.h"
#include "spindle/pmap.h"
#include "spindle/utf8.h"
#include "cli_int.h"

/* Sentences from the inputs in order: lines of text files, or lines of JSONL documents' text. */
typedef struct sent_iter {
	const char **files; size_t n_files, cur;
	int jsonl; const char *field;
	sp_docs *docs; sp_in *in;
	const char *pend; size_t pend_n;   /* rest of the current document's text */
	uint64_t doc_line;
	sp_buf line;
	const char *name; uint64_t lineno;
} sent_iter;

static int is_jsonl_name(const char *f) { return strstr(f, ".jsonl") != NULL || strstr(f, ".ndjson") != NULL; }

static void sent_iter_close(sent_iter *it)
{
	sp_docs_free(it->docs);
	sp_in_free(it->in);
	it->docs = NULL;
	it->in = NULL;
	it->pend = NULL;
	it->pend_n = 0;
}

/* Returns 1 with the next non-empty sentence in *p, *n (borrowed until the next call), 0 at the end. */
static int sent_next(sent_iter *it, const char **p, size_t *n, sp_err *err)
{
	for (;;) {
		if (it->pend) {
			if (it->pend_n == 0) {
				it->pend = NULL;
				continue;
			}
			const char *nl = memchr(it->pend, '\n', it->pend_n);
			size_t l = nl ? (size_t)(nl - it->pend) : it->pend_n;
			*p = it->pend;
			*n = l;
			it->pend += l + (nl ? 1 : 0);
			it->pend_n -= l + (nl ? 1 : 0);
			if (l)
				return 1;
			continue;
		}
		if (it->docs) {
			sp_doc d;
			int rc = sp_docs_next(it->docs, &d, err);
			if (rc < 0)
				return rc;
			if (rc == 1) {
				it->pend = d.text ? d.text : "";
				it->pend_n = d.text_len;
				it->lineno = d.rec->lineno;
				continue;
			}
			sent_iter_close(it);
			continue;
		}
		if (it->in) {
			int rc = sp_in_getline(it->in, &it->line, err);
			if (rc < 0)
				return rc;
			if (rc == 1) {
				it->lineno = sp_in_lineno(it->in);
				if (!it->line.len)
					continue;
				*p = it->line.p;
				*n = it->line.len;
				return 1;
			}
			sent_iter_close(it);
			continue;
		}
		if (it->cur >= it->n_files)
			return 0;
		it->name = it->files[it->cur++];
		if (it->jsonl || is_jsonl_name(it->name)) {
			sp_docs_opts dop;
			memset(&dop, 0, sizeof dop);
			dop.inputs = &it->name;
			dop.n_inputs = 1;
			dop.shard.count = 1;
			dop.field = it->field;
			SP_FORWARD(sp_docs_open(&it->docs, &dop, err));
		} else {
			SP_FORWARD(sp_in_open(&it->in, it->name, err));
		}
	}
}

typedef struct train_src {
	tok_trainer **tr;              /* one trainer per worker */
	tok_trainer *t;                /* tr[0] once the others are absorbed */
	sent_iter it;
	uint64_t sample, seen, rng, fed;
	sp_buf *keep;                  /* reservoir of sentences (--sample-size) */
	uint64_t bytes;
} train_src;

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

typedef struct tr_batch { sp_buf text; size_t *off, *len; uint64_t *lineno; const char **name; size_t n, cap; } tr_batch;

static void *tr_batch_new(void *ctx) { (void)ctx; return sp_calloc(1, sizeof(tr_batch)); }

static void tr_batch_free(void *ctx, void *p)
{
	(void)ctx;
	tr_batch *b = p;
	if (!b)
		return;
	sp_buf_release(&b->text);
	sp_free(b->off);
	sp_free(b->len);
	sp_free(b->lineno);
	sp_free(b->name);
	sp_free(b);
}

static int tr_batch_add(tr_batch *b, const char *p, size_t n, const char *name, uint64_t lineno)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		size_t *x;
		if (!(x = sp_realloc(b->off, cap * sizeof *x))) return SP_ENOMEM;
		b->off = x;
		if (!(x = sp_realloc(b->len, cap * sizeof *x))) return SP_ENOMEM;
		b->len = x;
		uint64_t *l = sp_realloc(b->lineno, cap * sizeof *l);
		if (!l) return SP_ENOMEM;
		b->lineno = l;
		const char **nm = sp_realloc(b->name, cap * sizeof *nm);
		if (!nm) return SP_ENOMEM;
		b->name = nm;
		b->cap = cap;
	}
	b->off[b->n] = b->text.len;
	b->len[b->n] = n;
	b->lineno[b->n] = lineno;
	b->name[b->n] = name;
	b->n++;
	return sp_buf_append(&b->text, p, n);
}

static int tr_produce(void *ctx, void *vb, sp_err *err)
{
	train_src *ts = ctx;
	tr_batch *b = vb;
	b->n = 0;
	sp_buf_reset(&b->text);
	while (b->text.len < (4u << 20) && b->n < 65536) {
		const char *p;
		size_t n;
		if (ts->keep) {
			if (ts->fed >= ts->sample || ts->fed >= ts->seen)
				break;
			p = ts->keep[ts->fed].p ? ts->keep[ts->fed].p : "";
			n = ts->keep[ts->fed].len;
			ts->fed++;
			if (tr_batch_add(b, p, n, "sample", ts->fed) < 0)
				SP_RAISE(err, SP_ENOMEM, "out of memory");
			continue;
		}
		int rc = sent_next(&ts->it, &p, &n, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		ts->bytes += n + 1;
		if (tr_batch_add(b, p, n, ts->it.name, ts->it.lineno) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	return b->n > 0;
}

static int tr_work(void *ctx, int worker, void *vb, sp_buf *out, sp_err *err)
{
	(void)out;
	train_src *ts = ctx;
	tr_batch *b = vb;
	for (size_t i = 0; i < b->n; i++) {
		int rc = tok_trainer_add(ts->tr[worker], b->text.p + b->off[i], b->len[i], err);
		if (rc < 0) {
			sp_err_locate(err, b->name[i], b->lineno[i]);
			return rc;
		}
	}
	return 0;
}

static int tr_consume(void *ctx, void *vb, const sp_buf *out, sp_err *err)
{
	(void)ctx;
	(void)vb;
	(void)out;
	(void)err;
	return 0;
}

int tok_cmd_train(int argc, char **argv)
{
	const char *prog = "spindle tok train", *out_path = NULL, *field = NULL, *users = NULL;
	long vocab = 0, max_piece = 16, max_sentence = 4192, sample = 0, seed = 1, threads = 1;
	double coverage = 0.99995;
	int no_bf = 0, no_digits = 0, no_ws_only = 0, no_prefix = 0, remove_ws = 0, quiet = 0, jsonl = 0;
	const sp_opt table[] = {
		{ "vocab-size", 0, SP_OPT_INT, &vocab, "V", "vocabulary size, special and byte pieces included (required)", NULL, 1, TOK_MAX_VOCAB },
		{ "output", 'o', SP_OPT_STR, &out_path, "M.model", "write the SentencePiece model here (required)", NULL, 0, 0 },
		{ "character-coverage", 0, SP_OPT_DOUBLE, &coverage, "F", "share of characters the vocabulary must cover (default 0.99995)", "0.01..1", 0, 0 },
		{ "user-defined-symbols", 0, SP_OPT_STR, &users, "A,B,...", "pieces always kept whole", NULL, 0, 0 },
		{ "no-byte-fallback", 0, SP_OPT_FLAG, &no_bf, NULL, "no <0xXX> pieces: unknown characters become <unk>", NULL, 0, 0 },
		{ "no-split-digits", 0, SP_OPT_FLAG, &no_digits, NULL, "allow pieces of several digits", NULL, 0, 0 },
		{ "no-whitespace-only-pieces", 0, SP_OPT_FLAG, &no_ws_only, NULL, "no pieces made of several whitespace marks", NULL, 0, 0 },
		{ "no-dummy-prefix", 0, SP_OPT_FLAG, &no_prefix, NULL, "do not add a space before each sentence", NULL, 0, 0 },
		{ "remove-extra-whitespaces", 0, SP_OPT_FLAG, &remove_ws, NULL, "collapse and trim whitespace (not Llama 2's setting)", NULL, 0, 0 },
		{ "max-piece-length", 0, SP_OPT_INT, &max_piece, "N", "longest piece in characters (default 16)", NULL, 1, 64 },
		{ "max-sentence-length", 0, SP_OPT_INT, &max_sentence, "N", "skip longer lines, in bytes (default 4192, as spm_train)", NULL, 1, 1L << 30 },
		{ "sample-size", 0, SP_OPT_INT, &sample, "N", "train on a uniform sample of N sentences (spm_train's input_sentence_size)", NULL, 0, 1L << 40 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "seed of the sample (default 1)", NULL, 0, LONG_MAX },
		{ "jsonl", 0, SP_OPT_FLAG, &jsonl, NULL, "inputs are JSONL documents (default for names containing .jsonl)", NULL, 0, 0 },
		{ "threads", 'j', SP_OPT_INT, &threads, "N", "count words with N threads (the merges are sequential; default 1; auto: the CPUs this process may use)", NULL, 1, 256 },
		{ "field", 0, SP_OPT_STR, &field, "NAME", "text field of JSONL documents (default text)", NULL, 0, 0 },
		{ "quiet", 'q', SP_OPT_FLAG, &quiet, NULL, "no summary on stderr", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle tok train --vocab-size V -o M.model [OPTIONS] FILE...",
	                   "Trains a SentencePiece-BPE tokenizer with Llama 2's settings (identity normalization, byte\n"
	                   "fallback, split digits, whitespace-only pieces) on text files (one sentence per line) or JSONL\n"
	                   "documents (each text split into lines), and writes a .model that spm_encode and spindle load.\n"
	                   "Memory: the distinct words with their counts (per thread), plus --sample-size sentences when given.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (!vocab || !out_path || n_pos == 0) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--vocab-size, -o and at least one input are required");
	}
	if (coverage <= 0 || coverage > 1) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--character-coverage must be in (0, 1]");
	}
	double t0 = sp_now();
	tok_train_opts o;
	tok_train_opts_default(&o);
	o.vocab_size = (uint32_t)vocab;
	o.character_coverage = coverage;
	o.byte_fallback = !no_bf;
	o.split_digits = !no_digits;
	o.allow_ws_only = !no_ws_only;
	o.add_dummy_prefix = !no_prefix;
	o.remove_extra_ws = remove_ws;
	o.max_piece_len = (int)max_piece;
	o.max_sentence_len = (size_t)max_sentence;
	/* user-defined symbols: a comma-separated list */
	char *ucopy = users ? sp_strdup(users) : NULL;
	const char *ulist[256];
	size_t n_user = 0;
	char *save = NULL;
	for (char *tokn = ucopy ? strtok_r(ucopy, ",", &save) : NULL; tokn && n_user < 256; tokn = strtok_r(NULL, ",", &save))
		ulist[n_user++] = tokn;
	o.user_symbols = ulist;
	o.n_user = n_user;

	sp_err err = SP_ERR_INIT;
	train_src ts;
	memset(&ts, 0, sizeof ts);
	ts.sample = (uint64_t)sample;
	ts.rng = (uint64_t)seed;
	ts.it.files = pos;
	ts.it.n_files = n_pos;
	ts.it.jsonl = jsonl;
	ts.it.field = field;
	tok_model *m = NULL;
	sp_buf out = SP_BUF_INIT;
	rc = 0;
	ts.tr = sp_calloc((size_t)threads, sizeof *ts.tr);
	if (!ts.tr)
		rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (long i = 0; rc == 0 && i < threads; i++)
		rc = tok_trainer_new(&ts.tr[i], &o, &err);
	if (rc == 0 && sample) {
		/* first pass: a uniform sample of the sentences (reservoir), then train on it */
		ts.keep = sp_calloc((size_t)sample, sizeof *ts.keep);
		if (!ts.keep)
			rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory: --sample-size %ld", sample);
		const char *p;
		size_t n;
		while (rc == 0) {
			if ((rc = sent_next(&ts.it, &p, &n, &err)) != 1)
				break;
			rc = 0;
			ts.bytes += n + 1;
			uint64_t slot = ts.seen < ts.sample ? ts.seen : next_rand(&ts.rng) % (ts.seen + 1);
			ts.seen++;
			if (slot < ts.sample) {
				sp_buf_reset(&ts.keep[slot]);
				if (sp_buf_append(&ts.keep[slot], p, n) < 0)
					rc = sp_err_set_(&err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
			}
		}
		if (rc > 0)
			rc = 0;
	}
	if (rc == 0) {
		sp_pmap_spec spec = { (int)threads, 0, tr_batch_new, tr_batch_free, tr_produce, tr_work, tr_consume, &ts };
		rc = sp_pmap_run(&spec, &err);
	}
	for (long i = 1; rc == 0 && i < threads; i++)
		rc = tok_trainer_absorb(ts.tr[0], ts.tr[i], &err);
	ts.t = ts.tr ? ts.tr[0] : NULL;
	if (rc == 0) { /* nothing to learn from: a byte-only model would pass for a trained one */
		uint64_t ns, sk, nw;
		tok_trainer_counts(ts.t, &ns, &sk, &nw);
		if (nw == 0)
			rc = sp_err_set_(&err, SP_EDATA, __FILE__, __LINE__, "no text to train on: the inputs hold %llu sentences with words "
			                 "(%llu skipped as longer than --max-sentence-length)", (unsigned long long)ns, (unsigned long long)sk);
	}
	double t1 = sp_now();
	if (rc == 0)
		rc = tok_trainer_finish(ts.t, &m, &err);
	if (rc == 0)
		rc = tok_write_sp(m, &out, &err);
	if (rc == 0)
		rc = sp_write_file_atomic(out_path, out.p, out.len, &err);
	int code = 0;
	if (rc < 0) {
		code = cli_fail(prog, &err);
	} else if (!quiet) {
		uint64_t ns, sk, nw;
		tok_trainer_counts(ts.t, &ns, &sk, &nw);
		fprintf(stderr, "%s: %llu sentences (%llu too long, skipped), %llu distinct words, %.1f MB read; "
		        "%u pieces; counting %.2f s, merging %.2f s; wrote %s (identity %016llx)\n", prog,
		        (unsigned long long)ns, (unsigned long long)sk, (unsigned long long)nw, (double)ts.bytes / 1e6,
		        tok_vocab_size(m), t1 - t0, sp_now() - t1, out_path, (unsigned long long)tok_identity(m));
	}
	for (uint64_t i = 0; ts.keep && i < ts.sample; i++)
		sp_buf_release(&ts.keep[i]);
	sp_free(ts.keep);
	for (long i = 0; ts.tr && i < threads; i++)
		tok_trainer_free(ts.tr[i]);
	sp_free(ts.tr);
	sent_iter_close(&ts.it);
	sp_buf_release(&ts.it.line);
	tok_model_free(m);
	sp_buf_release(&out);
	sp_free(ucopy);
	sp_free(pos);
	return code;
}
