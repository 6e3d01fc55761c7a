/* fuzz_warc.c - fuzz target: bytes as a WARC file (plain or gzip, by their magic) through the
 * record reader, which must skip damaged records and never read out of bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../filter/extract.h"
#include "spindle/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/spindle-fuzz-warc-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	size_t done = 0;
	while (done < size) {
		ssize_t w = write(fd, data + done, size - done);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	close(fd);
	warc_reader *r = NULL;
	warc_record rec = WARC_RECORD_INIT;
	sp_buf all = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	int is_warc = 0;
	if (warc_open(&r, path, &is_warc, &err) == 0) {
		if (!is_warc) {
			warc_slurp(r, &all, &err);
		} else {
			for (int i = 0; i < 1000; i++) {
				int rc = warc_next(r, &rec, 1 << 20, &err);
				if (rc == 0 || (rc < 0 && rc != SP_EDATA))
					break;
			}
		}
		warc_close(r);
	}
	warc_record_release(&rec);
	sp_buf_release(&all);
	unlink(path);
	return 0;
}
