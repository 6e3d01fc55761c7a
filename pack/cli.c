/* cli.c - `spindle pack` (token streams to a packed, sharded dataset) and `spindle shards`
 * (verify, stats, cat, merge). Argument handling and printing only; the logic is in pack/pack*.c and
 * lib/shards*.c. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include "../cli/cli.h"
#include "pack.h"
#include "spindle/io.h"
#include "spindle/mem.h"
#include "spindle/shards.h"

static void on_progress(void *ctx, uint64_t docs, uint64_t bytes)
{
	cli_progress_step(ctx, docs, bytes);
}

static int choice_to_tri(const char *s) { return !strcmp(s, "yes") ? 1 : !strcmp(s, "no") ? 0 : -1; }

SP_COMMAND(pack, cmd_pack, "token streams to packed, sharded fixed-length sequences with an index and checksums")
{
	const char *prog = "spindle pack";
	const char *out_dir = NULL, *model = NULL, *bos = "auto", *eos = "auto", *tail = "pad";
	long seq_len = 4096, shard_size = 1024, zstd_level = 0, vocab = 0, bos_id = -1, eos_id = -1, pad_id = -1;
	long seed = 0, shuffle_buffer = 1L << 24, max_doc = 1L << 28, threads = 1, buckets = 0;
	int zstd = 0, shuffle = 0, force = 0, no_sync = 0;
	cli_common com;
	cli_common_init(&com);
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_dir, "DIR", "write the dataset here (required)", NULL, 0, 0 },
		{ "model", 'm', SP_OPT_STR, &model, "FILE", "the tokenizer (tokenizer.json or .model): identity, BOS/EOS, pad; checked against the stream", NULL, 0, 0 },
		{ "seq-len", 0, SP_OPT_INT, &seq_len, "N", "tokens per sequence (default 4096)", NULL, 1, 1L << 24 },
		{ "shard-size", 0, SP_OPT_INT, &shard_size, "N", "sequences per shard file (default 1024)", NULL, 1, 1L << 30 },
		{ "zstd", 0, SP_OPT_FLAG, &zstd, NULL, "compress each sequence as its own zstd frame (level 3)", NULL, 0, 0 },
		{ "zstd-level", 0, SP_OPT_INT, &zstd_level, "N", "compress with this zstd level (implies --zstd; default 3)", NULL, 1, 19 },
		{ "bos", 0, SP_OPT_CHOICE, &bos, NULL, "put BOS before each document: auto (if the tokenizer has one and the stream has not), yes, no", "auto|yes|no", 0, 0 },
		{ "eos", 0, SP_OPT_CHOICE, &eos, NULL, "put EOS after each document: auto, yes, no", "auto|yes|no", 0, 0 },
		{ "tail", 0, SP_OPT_CHOICE, &tail, NULL, "the last partial sequence: pad (padded, loss-masked) or drop", "pad|drop", 0, 0 },
		{ "shuffle", 0, SP_OPT_FLAG, &shuffle, NULL, "shuffle documents in a bounded buffer and record a seeded sequence order", NULL, 0, 0 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "shuffle seed (default 0)", NULL, 0, LONG_MAX },
		{ "shuffle-buffer", 0, SP_OPT_INT, &shuffle_buffer, "N", "tokens held by the document shuffle (default 16M)", NULL, 1, 1L << 40 },
		{ "shuffle-buckets", 0, SP_OPT_INT, &buckets, "K", "with --shuffle: shuffle globally in two passes through K temporary files in DIR (memory: ~1/K of the input)", NULL, 0, 4096 },
		{ "vocab-size", 0, SP_OPT_INT, &vocab, "N", "vocabulary size (for JSONL input without -m)", NULL, 1, 0xFFFFFFFFL },
		{ "bos-id", 0, SP_OPT_INT, &bos_id, "N", "BOS id (overrides the tokenizer's)", NULL, 0, 0xFFFFFFFEL },
		{ "eos-id", 0, SP_OPT_INT, &eos_id, "N", "EOS id (overrides the tokenizer's)", NULL, 0, 0xFFFFFFFEL },
		{ "pad-id", 0, SP_OPT_INT, &pad_id, "N", "id written in padding positions (default: pad, else EOS, else 0)", NULL, 0, 0xFFFFFFFEL },
		{ "max-doc-tokens", 0, SP_OPT_INT, &max_doc, "N", "refuse documents longer than N tokens (default 2^28)", NULL, 1, 1L << 40 },
		{ "threads", 'j', SP_OPT_INT, &threads, "N", "compress and checksum in N threads (same output; default 1; auto: the CPUs this process may use)", NULL, 1, 256 },
		{ "force", 0, SP_OPT_FLAG, &force, NULL, "replace a finished or interrupted dataset in DIR instead of resuming", NULL, 0, 0 },
		{ "no-sync", 0, SP_OPT_FLAG, &no_sync, NULL, "skip fsync (scratch data, benchmarks)", NULL, 0, 0 },
		{ "stats", 0, SP_OPT_STR, &com.stats_file, "FILE", "write a JSON summary of the run to FILE", NULL, 0, 0 },
		{ "on-error", 0, SP_OPT_CHOICE, &com.on_error, NULL, "documents with ids outside the vocabulary: fail (default) or skip and count", "fail|skip", 0, 0 },
		{ "shard", 0, SP_OPT_STR, &com.shard_s, "I/N", "pack only job I's share of N of the input files", NULL, 0, 0 },
		{ "progress", 0, SP_OPT_FLAG, &com.progress_force, NULL, "show progress even when stderr is not a terminal", NULL, 0, 0 },
		{ "quiet", 'q', SP_OPT_FLAG, &com.quiet, NULL, "no progress line", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse_common(prog, "spindle pack [OPTIONS] -o DIR [INPUT...]",
	                          "Reads token streams (`spindle tok encode --format bin`, schemas/tokens.md) or JSONL arrays of ids\n"
	                          "(or objects with \"ids\" and \"id\"), from the INPUTs or stdin, wraps each document in BOS/EOS,\n"
	                          "concatenates them and cuts --seq-len tokens per sequence, recording each sequence's document\n"
	                          "boundaries and provenance. Writes shard files, each with an index and checksums, and last\n"
	                          "DIR/manifest.json (schemas/shards.md). A killed run resumes when rerun with the same options.",
	                          table, &com, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (!out_dir) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "missing -o DIR");
	}
	if (!n_pos && isatty(0)) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "refusing to read a token stream from a terminal; pipe one in or name files");
	}
	if (com.shard_s && !n_pos) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--shard needs input files");
	}
	const char **picked = sp_calloc(n_pos ? n_pos : 1, sizeof *picked);
	size_t n_picked = 0;
	if (!picked) {
		sp_free(pos);
		return cli_failf(prog, CLI_IO, "out of memory");
	}
	sp_shard_select(&com.shard, pos, n_pos, picked, &n_picked);
	char extra[64];
	snprintf(extra, sizeof extra, "shard=%u/%u", com.shard.index, com.shard.count);

	pack_opts o;
	pack_opts_init(&o);
	o.out_dir = out_dir;
	o.inputs = picked;
	o.n_inputs = n_picked;
	o.model = model;
	o.seq_len = (uint32_t)seq_len;
	o.shard_seqs = (uint64_t)shard_size;
	o.zstd_level = zstd_level ? (int)zstd_level : zstd ? 3 : 0;
	o.bos = choice_to_tri(bos);
	o.eos = choice_to_tri(eos);
	o.tail_drop = !strcmp(tail, "drop");
	o.shuffle = o.order_shuffle = shuffle;
	o.seed = (uint64_t)seed;
	o.shuffle_buffer = (uint64_t)shuffle_buffer;
	o.shuffle_buckets = (unsigned)buckets;
	if (buckets && !shuffle) {
		sp_free(picked);
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "--shuffle-buckets needs --shuffle");
	}
	o.on_error_skip = com.on_error_mode == SP_ON_ERROR_SKIP;
	o.force = force;
	o.no_sync = no_sync;
	o.threads = (int)threads;
	o.vocab_size = (uint32_t)vocab;
	if (bos_id >= 0)
		o.bos_id = (uint32_t)bos_id;
	if (eos_id >= 0)
		o.eos_id = (uint32_t)eos_id;
	if (pad_id >= 0)
		o.pad_id = (uint32_t)pad_id;
	o.max_doc_tokens = (uint64_t)max_doc;
	o.fingerprint_extra = extra;
	if (n_picked == 0 && n_pos) {
		sp_free(picked);
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "job %u of %u gets none of the %zu input files", com.shard.index, com.shard.count, n_pos);
	}
	cli_progress cp;
	cli_progress_begin(&cp, prog, com.progress, cli_inputs_size(o.inputs, o.n_inputs));
	o.progress = on_progress;
	o.progress_ctx = &cp;
	sp_stats st;
	sp_stats_init(&st, "pack");
	sp_err err = SP_ERR_INIT;
	pack_result res;
	rc = pack_run(&o, &st, &res, &err);
	cli_progress_end(&cp, res.docs_in, st.bytes_in);
	int code;
	if (rc < 0) {
		code = cli_fail(prog, &err);
	} else {
		if (res.already_complete)
			cli_failf(prog, 0, "%s: already complete (same options); nothing to do", out_dir);
		else if (!com.quiet)
			cli_failf(prog, 0, "%s: %" PRIu64 " documents (%" PRIu64 " skipped), %" PRId64 " sequences in %" PRId64
			        " shards%s", out_dir, res.docs_in, res.docs_skipped, sp_stats_get(&st, "sequences"),
			        sp_stats_get(&st, "shards"), res.resumed_shards ? " (resumed)" : "");
		code = cli_write_stats(prog, &com, &st);
	}
	sp_stats_release(&st);
	sp_free(picked);
	sp_free(pos);
	return code;
}

/* ---------------------------------------------------------------- spindle shards */

static int shards_verify(int argc, char **argv)
{
	const char *prog = "spindle shards verify";
	int quiet = 0;
	const sp_opt table[] = {
		{ "quiet", 'q', SP_OPT_FLAG, &quiet, NULL, "print nothing when the dataset is good", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle shards verify DIR",
	                   "Checks the manifest, every shard's size and checksum, header, index and footer, every sequence's\n"
	                   "checksum and structure, token ids and all counts. Names the bad shard and sequence; exits non-zero.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "name one dataset folder");
	}
	sp_err err = SP_ERR_INIT;
	uint64_t n = 0;
	rc = pack_verify(pos[0], &n, &err);
	int code = 0;
	if (rc < 0)
		code = cli_fail(prog, &err);
	else if (!quiet)
		printf("%s: ok, %" PRIu64 " sequences checked\n", pos[0], n);
	sp_free(pos);
	return code;
}

static int shards_stats(int argc, char **argv)
{
	const char *prog = "spindle shards stats";
	const sp_opt table[] = { SP_OPT_TABLE_END };
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle shards stats DIR",
	                   "Prints a dataset's tokens, sequences, documents, padding fraction and document-length histogram.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "name one dataset folder");
	}
	sp_err err = SP_ERR_INIT;
	sp_manifest m = SP_MANIFEST_INIT;
	rc = sp_manifest_load(pos[0], &m, &err);
	int code = 0;
	if (rc < 0) {
		code = cli_fail(prog, &err);
	} else {
		sp_buf b = SP_BUF_INIT;
		printf("dataset        %s\n", pos[0]);
		if (pack_stats_text(&m, &b) < 0)
			code = cli_failf(prog, CLI_IO, "out of memory");
		else
			fwrite(b.p, 1, b.len, stdout);
		sp_buf_release(&b);
	}
	sp_manifest_release(&m);
	sp_free(pos);
	return code;
}

static int shards_cat(int argc, char **argv)
{
	const char *prog = "spindle shards cat";
	const char *model = NULL;
	long seq = -1;
	int ids = 0;
	const sp_opt table[] = {
		{ "seq", 0, SP_OPT_INT, &seq, "K", "the sequence to show (manifest order, from 0)", NULL, 0, LONG_MAX },
		{ "model", 'm', SP_OPT_STR, &model, "FILE", "the tokenizer to decode with (default: the one named in the manifest)", NULL, 0, 0 },
		{ "ids", 0, SP_OPT_FLAG, &ids, NULL, "print token ids instead of text", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle shards cat DIR --seq K [-m MODEL] [--ids]",
	                   "Decodes sequence K back to text through the tokenizer, one block per document piece, each\n"
	                   "introduced by a '### doc' line with its index, id/provenance, and where it lies.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1 || seq < 0) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "name one dataset folder and --seq K");
	}
	sp_err err = SP_ERR_INIT;
	sp_shards *s = NULL;
	pack_tok *tok = NULL;
	sp_seq q = SP_SEQ_INIT;
	sp_buf text = SP_BUF_INIT;
	int code = 0;
	sp_shards_info info;
	if ((rc = sp_shards_open(&s, pos[0], 0, &err)) < 0)
		goto fail;
	sp_shards_info_get(s, &info);
	if (!ids) {
		sp_manifest m = SP_MANIFEST_INIT;
		if ((rc = sp_manifest_load(pos[0], &m, &err)) < 0)
			goto fail;
		const char *path = model ? model : m.tokenizer_model;
		if (!path) {
			sp_manifest_release(&m);
			code = cli_failf(prog, CLI_USAGE, "the manifest names no tokenizer: give -m MODEL (or --ids)");
			goto out;
		}
		rc = pack_tok_load(&tok, path, &err);
		sp_manifest_release(&m);
		if (rc < 0)
			goto fail;
		pack_meta tm;
		pack_tok_meta(tok, &tm);
		if (info.tokenizer_id && tm.tokenizer_id != info.tokenizer_id) {
			code = cli_failf(prog, CLI_USAGE, "%s is not the tokenizer these shards were made with (identity %016" PRIx64
			                 ", shards %016" PRIx64 ")", path, tm.tokenizer_id, info.tokenizer_id);
			goto out;
		}
	}
	if ((rc = sp_shards_get(s, (uint64_t)seq, &q, &err)) < 0)
		goto fail;
	printf("## sequence %" PRIu64 " (shard %u): %u tokens, %u real, %zu documents\n", q.index, q.shard, q.len, q.n_valid, q.n_docs);
	for (size_t i = 0; i < q.n_docs; i++) {
		const sp_seq_doc *d = &q.docs[i];
		printf("### doc %" PRIu64 " \"%s\" tokens [%u, %u) = document tokens [%u, %u)\n", d->doc_index, d->doc_id,
		       d->start, d->start + d->len, d->doc_offset, d->doc_offset + d->len);
		if (ids) {
			for (uint32_t k = 0; k < d->len; k++)
				printf("%s%u", k ? " " : "", q.tokens[d->start + k]);
			putchar('\n');
		} else {
			sp_buf_reset(&text);
			if ((rc = pack_tok_decode(tok, q.tokens + d->start, d->len, &text, &err)) < 0)
				goto fail;
			fwrite(text.p ? text.p : "", 1, text.len, stdout);
			putchar('\n');
		}
	}
	if (q.n_valid < q.len)
		printf("### padding: %u tokens (loss-masked)\n", q.len - q.n_valid);
	goto out;
fail:
	code = cli_fail(prog, &err);
out:
	sp_buf_release(&text);
	sp_seq_release(&q);
	pack_tok_free(tok);
	sp_shards_close(s);
	sp_free(pos);
	return code;
}

static int shards_merge(int argc, char **argv)
{
	const char *prog = "spindle shards merge";
	const char *out_dir = NULL;
	int shuffle = 0, no_sync = 0;
	long seed = 0;
	const sp_opt table[] = {
		{ "output", 'o', SP_OPT_STR, &out_dir, "DIR", "the merged dataset (required; must not hold one)", NULL, 0, 0 },
		{ "shuffle", 0, SP_OPT_FLAG, &shuffle, NULL, "record a seeded sequence order in the merged manifest", NULL, 0, 0 },
		{ "seed", 0, SP_OPT_INT, &seed, "N", "the order's seed (default 0)", NULL, 0, LONG_MAX },
		{ "no-sync", 0, SP_OPT_FLAG, &no_sync, NULL, "skip fsync when copying", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle shards merge -o DIR DATASET...",
	                   "Joins datasets packed by parallel jobs (same seq-len, token width and tokenizer) into one:\n"
	                   "shards are hard-linked (or copied) under new names and one manifest is written last.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (!out_dir || !n_pos) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "give -o DIR and the datasets to merge");
	}
	sp_err err = SP_ERR_INIT;
	rc = pack_merge(out_dir, pos, n_pos, shuffle, (uint64_t)seed, no_sync, &err);
	int code = rc < 0 ? cli_fail(prog, &err) : 0;
	sp_free(pos);
	return code;
}

static int shards_export(int argc, char **argv)
{
	const char *prog = "spindle shards export";
	const char *prefix = NULL, *format = "megatron";
	int no_sync = 0;
	const sp_opt table[] = {
		{ "format", 0, SP_OPT_CHOICE, &format, NULL, "the output format (default megatron)", "megatron", 0, 0 },
		{ "output", 'o', SP_OPT_STR, &prefix, "PREFIX", "write PREFIX.bin and PREFIX.idx (required)", NULL, 0, 0 },
		{ "no-sync", 0, SP_OPT_FLAG, &no_sync, NULL, "skip fsync", NULL, 0, 0 },
		SP_OPT_TABLE_END
	};
	const char **pos;
	size_t n_pos;
	int rc = cli_parse(prog, "spindle shards export --format megatron -o PREFIX DIR",
	                   "Writes a packed dataset as Megatron-LM's indexed dataset (PREFIX.bin + PREFIX.idx, the\n"
	                   "MMapIndexedDataset layout, version 1) for Megatron's GPTDataset: one Megatron sequence per\n"
	                   "document in packing order (pieces joined again, BOS/EOS as packed, padding dropped), one document\n"
	                   "per sequence in the document index; tokens uint16 below a 65500-token vocabulary, else int32.\n"
	                   "The .idx is written last: a folder with both files holds a whole export. Memory: 8 bytes per document.",
	                   table, argc, argv, &pos, &n_pos);
	if (rc >= 0)
		return rc;
	if (n_pos != 1 || !prefix) {
		sp_free(pos);
		return cli_failf(prog, CLI_USAGE, "name one dataset folder and -o PREFIX");
	}
	sp_err err = SP_ERR_INIT;
	pack_export_result r;
	rc = pack_export_megatron(pos[0], prefix, no_sync, &r, &err);
	int code = 0;
	if (rc < 0)
		code = cli_fail(prog, &err);
	else
		fprintf(stderr, "%s: %" PRIu64 " documents, %" PRIu64 " tokens (%d bytes each) from %" PRIu64 " sequences -> %s.bin, %s.idx\n",
		        prog, r.n_documents, r.n_tokens, r.token_bytes, r.n_sequences, prefix, prefix);
	sp_free(pos);
	return code;
}

SP_COMMAND(shards, cmd_shards, "check, describe, decode, merge and export packed datasets (verify, stats, cat, merge, export)")
{
	static const struct { const char *name; int (*fn)(int, char **); } subs[] = {
		{ "verify", shards_verify }, { "stats", shards_stats }, { "cat", shards_cat }, { "merge", shards_merge },
		{ "export", shards_export },
	};
	if (argc >= 2)
		for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
			if (!strcmp(argv[1], subs[i].name))
				return subs[i].fn(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("spindle shards %s\n", SPINDLE_VERSION);
		return CLI_OK;
	}
	int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
	FILE *f = help ? stdout : stderr;
	fprintf(f, "usage: spindle shards verify|stats|cat|merge|export ...\n\nCommands:\n"
	           "  verify DIR               check every checksum, index and count; name the bad shard and sequence\n"
	           "  stats DIR                tokens, sequences, documents, padding, document-length histogram\n"
	           "  cat DIR --seq K          decode sequence K to text with document boundaries marked\n"
	           "  merge -o DIR DATASET...  join the datasets of parallel pack jobs\n"
	           "  export -o PREFIX DIR     write Megatron-LM's indexed dataset (PREFIX.bin + PREFIX.idx)\n\n%s", CLI_EXIT_CODES_HELP);
	return help ? CLI_OK : CLI_USAGE;
}
