/* fuzz_extract_html.c - fuzz target: bytes as an HTTP response (headers, chunking, Content-Encoding)
 * and as an HTML page through the charset detection, libxml2 parse and text walk of `spindle extract`. */
#include <stdint.h>
#include <string.h>
#include "../../filter/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		extract_global_init();
		init = 1;
	}
	extract_opts o = EXTRACT_OPTS_DEFAULT;
	extract_result res = EXTRACT_RESULT_INIT;
	sp_buf scratch = SP_BUF_INIT, dec = SP_BUF_INIT, tmp = SP_BUF_INIT;
	sp_err err = SP_ERR_INIT;
	const char *p = (const char *)data, *ct = NULL, *payload = p;
	size_t ct_len = 0, payload_len = size;
	extract_http_resp h;
	if (extract_http(p, size, &h, &scratch, &err) == 0) {
		ct = h.ctype;
		ct_len = h.ctype_len;
		payload = h.payload;
		payload_len = h.payload_len;
		const char *why, *dp;
		size_t dn;
		/* Content-Encoding too (a small output cap keeps bombs cheap) */
		if (h.coding_len && extract_decode(h.coding, h.coding_len, payload, payload_len, 1 << 20, &dec, &tmp, &dp, &dn,
		                                   &why) == 0) {
			payload = dp;
			payload_len = dn;
		}
	}
	extract_not_html(ct, ct_len, payload, payload_len);
	extract_html(&o, payload, payload_len, ct, ct_len, &res, &err);
	extract_result_release(&res);
	sp_buf_release(&scratch);
	sp_buf_release(&dec);
	sp_buf_release(&tmp);
	return 0;
}
