/* fuzz_safetensors.c - the safetensors header parser (train/safetensors.c) on arbitrary bytes:
 * it must reject or accept without reading outside the input, and every accepted tensor's byte
 * range must lie inside the data section. */
#include <stdint.h>
#include <stdlib.h>
#include "../../train/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	st_file f = ST_FILE_INIT;
	if (st_parse(&f, data, size, "fuzz", NULL) == 0) {
		for (size_t i = 0; i < f.n; i++)
			if (f.t[i].end > size - f.data_start || f.t[i].begin > f.t[i].end)
				abort();
	}
	st_release(&f);
	return 0;
}
