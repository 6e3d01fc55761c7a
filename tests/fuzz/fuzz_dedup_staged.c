/* fuzz_dedup_staged.c - fuzz target for the staged dedup files (schemas/dedup-staged.md): arbitrary
 * bytes through the structure checker as they are, and again with a correct checksum appended so
 * the count and length checks behind it are reached; and through the file verifier of each kind. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../../dedup/dedup_staged.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_err err = SP_ERR_INIT;
	dd_staged_check_mem(data, size, "fuzz", &err);
	/* the same bytes with their checksum: the structure walk gets past the checksum */
	uint8_t *p = malloc(size + 8);
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	uint64_t sum = dd_staged_sum(p, size);
	memcpy(p + size, &sum, 8);
	dd_staged_check_mem(p, size + 8, "fuzz", &err);
	/* the verifier reads a file */
	int fd = memfd_create("fuzz", 0);
	if (fd >= 0 && write(fd, p, size + 8) == (ssize_t)(size + 8)) {
		static const char *const magics[] = { "SPDDSIG1", "SPDDBKT1", "SPDDEDG1", "SPDDRMV1", "SPDDCNT1" };
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		for (int i = 0; i < 5; i++) {
			uint64_t end;
			if (dd_staged_verify(path, magics[i], &end, &err) == 0 && end != size)
				abort(); /* a verified file's data ends where its checksum begins */
		}
	}
	if (fd >= 0)
		close(fd);
	free(p);
	return 0;
}
