/* fuzz_shards.c - fuzz target for pack's parsers: arbitrary bytes as a dataset manifest, as a shard
 * file (header, footer, index, every record), and as a token stream / JSONL ids input of pack. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "spindle/shards_fmt.h"
#include "spindle/hash.h"
#include "../../pack/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void as_shard(const uint8_t *data, size_t size)
{
	sp_shard_header h;
	sp_shard_footer f;
	sp_err err = SP_ERR_INIT;
	if (sp_shard_header_decode(data, size, &h, &err) || sp_shard_footer_decode(data, size, &f, &err))
		return;
	sp_seq q = SP_SEQ_INIT;
	for (uint64_t i = 0; i < f.n_seqs; i++) {
		sp_shard_ix ix;
		sp_shard_ix_decode(data + f.index_offset + i * SP_SHARD_INDEX_ENTRY, &ix);
		if (ix.offset > f.index_offset || ix.stored_len > f.index_offset - ix.offset || (h.flags & SP_SHARD_FLAG_ZSTD))
			continue;
		sp_shard_rec_decode(data + ix.offset, ix.stored_len, h.seq_len, h.token_bytes, 1000, 0, &q, &err);
	}
	sp_seq_release(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_manifest m = SP_MANIFEST_INIT;
	sp_err err = SP_ERR_INIT;
	if (sp_manifest_parse((const char *)data, size, "fuzz", &m, &err) == 0) {
		sp_buf b = SP_BUF_INIT;
		sp_manifest_json(&m, &b);
		sp_buf_release(&b);
		sp_manifest_release(&m);
	}
	as_shard(data, size);
	/* the raw bytes as a record of a few plausible shapes */
	sp_seq q = SP_SEQ_INIT;
	sp_shard_rec_decode(data, size, 8, 2, 0, 0, &q, &err);
	sp_shard_rec_decode(data, size, 4, 4, 100, 7, &q, &err);
	sp_seq_release(&q);
	/* as pack's input */
	int fd = memfd_create("fuzz", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		const char *inputs[1] = { path };
		pack_in *in;
		if (pack_in_open(&in, inputs, 1, 1u << 16, &err) == 0) {
			pack_doc d;
			while (pack_in_next(in, &d, &err) == 1)
				;
			pack_in_free(in);
		}
	}
	close(fd);
	return 0;
}
