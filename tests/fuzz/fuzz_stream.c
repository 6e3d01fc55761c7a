/* fuzz_stream.c - fuzz target: arbitrary bytes as an input stream (plain, zstd or gzip by magic),
 * read line by line. Exercises the decompressors' error paths and the line splitter. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include "spindle/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return 0;
	}
	sp_in *in;
	sp_err err = SP_ERR_INIT;
	if (sp_in_open_fd(&in, fd, "fuzz", &err) == 0) {
		sp_buf line = SP_BUF_INIT;
		while (sp_in_getline(in, &line, &err) > 0)
			;
		sp_buf_release(&line);
		sp_in_free(in);
	}
	close(fd);
	return 0;
}
