/* safetensors.c - the safetensors container (see safetensors.h): a hardened header parser (json-c)
 * and an atomic writer. Used for checkpoints (model and optimizer state) and the PyTorch test fixtures. */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "safetensors.h"
#include "spindle/buf.h"
#include "spindle/io.h"
#include "spindle/mem.h"

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int dtype_size(const char *d)
{
	static const struct { const char *n; int s; } t[] = {
		{ "F64", 8 }, { "F32", 4 }, { "F16", 2 }, { "BF16", 2 }, { "I64", 8 }, { "I32", 4 },
		{ "I16", 2 }, { "I8", 1 }, { "U8", 1 }, { "BOOL", 1 }, { "U16", 2 }, { "U32", 4 }, { "U64", 8 },
		{ "F8_E4M3", 1 }, { "F8_E5M2", 1 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strcmp(d, t[i].n))
			return t[i].s;
	return 0;
}

static int parse_entry(st_tensor *t, const char *key, json_object *v, uint64_t data_len, const char *name, sp_err *err)
{
	json_object *dt, *shape, *off;
	if (!json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, "dtype", &dt) ||
	    !json_object_object_get_ex(v, "shape", &shape) || !json_object_object_get_ex(v, "data_offsets", &off))
		SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' lacks dtype, shape or data_offsets", name, key);
	if (!json_object_is_type(dt, json_type_string) || json_object_get_string_len(dt) >= (int)sizeof t->dtype ||
	    !dtype_size(json_object_get_string(dt)))
		SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' has an unknown dtype", name, key);
	memcpy(t->dtype, json_object_get_string(dt), (size_t)json_object_get_string_len(dt) + 1);
	if (!json_object_is_type(shape, json_type_array) || json_object_array_length(shape) > ST_MAX_DIMS)
		SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' has a bad shape", name, key);
	t->n_dims = (int)json_object_array_length(shape);
	uint64_t count = 1;
	for (int i = 0; i < t->n_dims; i++) {
		json_object *d = json_object_array_get_idx(shape, (size_t)i);
		if (!json_object_is_type(d, json_type_int) || json_object_get_int64(d) < 0)
			SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' has a bad shape", name, key);
		t->shape[i] = (uint64_t)json_object_get_int64(d);
		if (t->shape[i] && count > UINT64_MAX / 16 / t->shape[i])
			SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' is impossibly large", name, key);
		count *= t->shape[i];
	}
	if (!json_object_is_type(off, json_type_array) || json_object_array_length(off) != 2)
		SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' has bad data_offsets", name, key);
	json_object *b = json_object_array_get_idx(off, 0), *e = json_object_array_get_idx(off, 1);
	if (!json_object_is_type(b, json_type_int) || !json_object_is_type(e, json_type_int) ||
	    json_object_get_int64(b) < 0 || json_object_get_int64(e) < json_object_get_int64(b))
		SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' has bad data_offsets", name, key);
	t->begin = (uint64_t)json_object_get_int64(b);
	t->end = (uint64_t)json_object_get_int64(e);
	if (t->end > data_len)
		SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' ends at byte %llu, past the end of the data (%llu bytes): file truncated?",
		         name, key, (unsigned long long)t->end, (unsigned long long)data_len);
	if (t->end - t->begin != count * (uint64_t)dtype_size(t->dtype))
		SP_RAISE(err, SP_EDATA, "%s: tensor '%.100s' has %llu bytes for its shape, not %llu", name, key,
		         (unsigned long long)(t->end - t->begin), (unsigned long long)(count * (uint64_t)dtype_size(t->dtype)));
	if (!(t->name = sp_strdup(key)))
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	return 0;
}

static int cmp_begin(const void *a, const void *b)
{
	const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return (x->end > y->end) - (x->end < y->end);
}

int st_parse(st_file *f, const uint8_t *bytes, size_t n, const char *name, sp_err *err)
{
	f->t = NULL;
	f->n = 0;
	f->checkpoint[0] = 0;
	if (n < 8)
		SP_RAISE(err, SP_EDATA, "%s: not a safetensors file (%zu bytes, truncated)", name, n);
	uint64_t hlen = le64(bytes);
	if (hlen > ST_MAX_HEADER || hlen > n - 8)
		SP_RAISE(err, SP_EDATA, "%s: safetensors header length %llu does not fit the %zu-byte file (truncated or not safetensors)",
		         name, (unsigned long long)hlen, n);
	if (hlen < 2 || bytes[8] != '{')
		SP_RAISE(err, SP_EDATA, "%s: safetensors header is not a JSON object", name);
	json_tokener *tok = json_tokener_new_ex(64);
	if (!tok)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *root = json_tokener_parse_ex(tok, (const char *)bytes + 8, (int)hlen);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = tok->char_offset;
	json_tokener_free(tok);
	int rc = 0;
	if (!root || jerr != json_tokener_success) {
		json_object_put(root);
		SP_RAISE(err, SP_EDATA, "%s: safetensors header is not valid JSON (%s)", name,
		         jerr == json_tokener_continue ? "truncated" : json_tokener_error_desc(jerr));
	}
	for (size_t i = used; i < hlen; i++)
		if (bytes[8 + i] != ' ') {
			json_object_put(root);
			SP_RAISE(err, SP_EDATA, "%s: junk after the safetensors header", name);
		}
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		SP_RAISE(err, SP_EDATA, "%s: safetensors header is not a JSON object", name);
	}
	size_t cap = (size_t)json_object_object_length(root);
	f->t = sp_calloc(cap ? cap : 1, sizeof *f->t);
	if (!f->t) {
		json_object_put(root);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	uint64_t data_len = n - 8 - hlen;
	json_object_object_foreach(root, key, val) {
		if (!strcmp(key, "__metadata__")) {
			if (!json_object_is_type(val, json_type_object)) {
				rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: __metadata__ is not an object", name);
				break;
			}
			json_object *ck;
			if (json_object_object_get_ex(val, "spindle_checkpoint", &ck) && json_object_is_type(ck, json_type_string) &&
			    (size_t)json_object_get_string_len(ck) < sizeof f->checkpoint)
				memcpy(f->checkpoint, json_object_get_string(ck), (size_t)json_object_get_string_len(ck) + 1);
			continue;
		}
		if ((rc = parse_entry(&f->t[f->n], key, val, data_len, name, err)) < 0)
			break;
		f->n++;
	}
	json_object_put(root);
	if (rc < 0) {
		for (size_t i = 0; i < f->n; i++)
			sp_free(f->t[i].name);
		sp_free(f->t);
		f->t = NULL;
		f->n = 0;
		return rc;
	}
	/* every byte of the data belongs to at most one tensor */
	st_tensor **by = f->n ? sp_malloc(f->n * sizeof *by) : NULL;
	if (f->n && !by)
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (size_t i = 0; by && i < f->n; i++)
		by[i] = &f->t[i];
	if (by)
		qsort(by, f->n, sizeof *by, cmp_begin);
	const st_tensor *last = NULL; /* the non-empty tensor reaching furthest so far */
	for (size_t i = 0; rc == 0 && by && i < f->n; i++) {
		if (by[i]->end == by[i]->begin)
			continue;
		if (last && by[i]->begin < last->end)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: tensors '%.100s' and '%.100s' overlap (data bytes %llu..%llu and %llu..%llu)",
			                 name, last->name, by[i]->name, (unsigned long long)last->begin, (unsigned long long)last->end,
			                 (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end);
		if (!last || by[i]->end > last->end)
			last = by[i];
	}
	sp_free(by);
	if (rc < 0) {
		for (size_t i = 0; i < f->n; i++)
			sp_free(f->t[i].name);
		sp_free(f->t);
		f->t = NULL;
		f->n = 0;
		return rc;
	}
	f->data_start = 8 + (size_t)hlen;
	return 0;
}

int st_open(st_file *f, const char *path, sp_err *err)
{
	sp_buf b = SP_BUF_INIT;
	memset(f, 0, sizeof *f);
	SP_FORWARD(sp_read_file(path, &b, err));
	int rc = st_parse(f, (const uint8_t *)b.p, b.len, path, err);
	if (rc < 0) {
		sp_buf_release(&b);
		return rc;
	}
	f->n_bytes = b.len;
	f->bytes = (uint8_t *)sp_buf_detach(&b, NULL);
	return 0;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

/* IEEE half to float, exactly (normals, subnormals, infinities, NaN). */
static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1F, m = h & 0x3FF, bits;
	if (e == 0x1F) {
		bits = sign | 0x7F800000u | (m << 13);
	} else if (e) {
		bits = sign | ((e + 112) << 23) | (m << 13);
	} else if (m) { /* subnormal: normalise */
		e = 113;
		while (!(m & 0x400)) {
			m <<= 1;
			e--;
		}
		bits = sign | (e << 23) | ((m & 0x3FF) << 13);
	} else {
		bits = sign;
	}
	float x;
	memcpy(&x, &bits, sizeof x);
	return x;
}

int st_read_f32(const st_file *f, const char *name, float *dst, size_t n, const char *file, sp_err *err)
{
	const st_tensor *t = st_find(f, name);
	if (!t)
		SP_RAISE(err, SP_ENOTFOUND, "%s: no tensor '%s'", file, name);
	int f32 = !strcmp(t->dtype, "F32"), bf16 = !strcmp(t->dtype, "BF16"), f16 = !strcmp(t->dtype, "F16");
	int f64 = !strcmp(t->dtype, "F64");
	if (!f32 && !bf16 && !f16 && !f64)
		SP_RAISE(err, SP_EDATA, "%s: tensor '%s' is %s; F32, BF16, F16 and F64 tensors are read", file, name, t->dtype);
	size_t es = (size_t)dtype_size(t->dtype);
	if (t->end - t->begin != n * es)
		SP_RAISE(err, SP_EDATA, "%s: tensor '%s' has %llu values, the model needs %zu", file, name,
		         (unsigned long long)((t->end - t->begin) / es), n);
	/* half and double checkpoints (as HuggingFace publishes Llama) are widened/narrowed to float32 */
	const uint8_t *src = f->bytes + f->data_start + t->begin;
	if (f32) {
		memcpy(dst, src, n * sizeof(float));
	} else if (bf16) {
		for (size_t i = 0; i < n; i++) {
			uint32_t b = (uint32_t)src[2 * i] << 16 | (uint32_t)src[2 * i + 1] << 24;
			memcpy(&dst[i], &b, sizeof b);
		}
	} else if (f16) {
		for (size_t i = 0; i < n; i++)
			dst[i] = half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
	} else {
		for (size_t i = 0; i < n; i++) {
			double d;
			memcpy(&d, src + 8 * i, sizeof d);
			dst[i] = (float)d;
		}
	}
	return 0;
}

void st_release(st_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		sp_free(f->t[i].name);
	sp_free(f->t);
	sp_free(f->bytes);
	memset(f, 0, sizeof *f);
}

int st_writer_add(st_writer *w, const char *name, const float *data, int n_dims, const uint64_t *shape, sp_err *err)
{
	if (strlen(name) >= sizeof w->e[0].name || n_dims > ST_MAX_DIMS)
		SP_RAISE(err, SP_EUSAGE, "tensor name '%s' too long", name);
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		st_entry *e = sp_realloc(w->e, cap * sizeof *e);
		if (!e)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		w->e = e;
		w->cap = cap;
	}
	st_entry *e = &w->e[w->n++];
	memcpy(e->name, name, strlen(name) + 1);
	e->n_dims = n_dims;
	for (int i = 0; i < n_dims; i++)
		e->shape[i] = shape[i];
	e->data = data;
	return 0;
}

static uint64_t entry_count(const st_entry *e)
{
	uint64_t c = 1;
	for (int i = 0; i < e->n_dims; i++)
		c *= e->shape[i];
	return c;
}

int st_write(const st_writer *w, const char *path, sp_err *err)
{
	sp_buf h = SP_BUF_INIT;
	int rc = sp_buf_appends(&h, "{\"__metadata__\":{\"format\":\"pt\"");
	if (rc == 0 && w->checkpoint)
		rc = sp_buf_appendf(&h, ",\"spindle_checkpoint\":\"%.63s\"", w->checkpoint);
	rc = rc ? rc : sp_buf_appendc(&h, '}');
	uint64_t off = 0;
	for (size_t i = 0; rc == 0 && i < w->n; i++) {
		const st_entry *e = &w->e[i];
		uint64_t bytes = entry_count(e) * 4;
		rc = sp_buf_appendf(&h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", e->name);
		for (int d = 0; rc == 0 && d < e->n_dims; d++)
			rc = sp_buf_appendf(&h, "%s%llu", d ? "," : "", (unsigned long long)e->shape[d]);
		if (rc == 0)
			rc = sp_buf_appendf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
			                    (unsigned long long)(off + bytes));
		off += bytes;
	}
	rc = rc ? rc : sp_buf_appendc(&h, '}');
	while (rc == 0 && h.len % 8)  /* the data starts 8-byte aligned */
		rc = sp_buf_appendc(&h, ' ');
	if (rc < 0) {
		sp_buf_release(&h);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	uint8_t len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
	sp_out *out = NULL;
	rc = sp_out_open(&out, path, SP_OUT_NO_ZSTD, err);
	rc = rc ? rc : sp_out_write(out, len, 8, err);
	rc = rc ? rc : sp_out_write(out, h.p, h.len, err);
	for (size_t i = 0; rc == 0 && i < w->n; i++)
		rc = sp_out_write(out, w->e[i].data, entry_count(&w->e[i]) * 4, err);
	rc = rc ? rc : sp_out_commit(out, err);
	sp_out_free(out);
	sp_buf_release(&h);
	return rc;
}

void st_writer_release(st_writer *w)
{
	sp_free(w->e);
	memset(w, 0, sizeof *w);
}
