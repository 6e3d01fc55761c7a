/* safetensors.h - reading and writing safetensors files (HuggingFace's tensor container: a u64
 * header length, a JSON header naming each tensor's dtype, shape and byte range, then the bytes).
 * The trainer is float32: it writes F32, and reads F32, BF16, F16 and F64 tensors (converted to
 * float32, as HuggingFace publishes Llama checkpoints in half precision); anything else is reported.
 * The header parser treats the file as hostile: every length, offset and shape is checked before use.
 * Ownership: st_file is caller storage (ST_FILE_INIT) released with st_release; tensor names and
 * data are owned by it. */
#ifndef SPINDLE_TRAIN_SAFETENSORS_H
#define SPINDLE_TRAIN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "spindle/err.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20)

typedef struct st_tensor {
	char *name;
	char dtype[8];
	int n_dims;
	uint64_t shape[ST_MAX_DIMS];
	uint64_t begin, end;    /* byte range within the data section */
} st_tensor;

typedef struct st_file {
	st_tensor *t;
	size_t n;
	uint8_t *bytes;         /* the whole file */
	size_t n_bytes;
	size_t data_start;      /* 8 + header length */
	char checkpoint[64];    /* __metadata__.spindle_checkpoint (the trainer's stamp), "" if none */
} st_file;

#define ST_FILE_INIT { NULL, 0, NULL, 0, 0, "" }

/* Parses the header of a safetensors image bytes[0..n): fills f->t, f->n, f->data_start (does not
 * take bytes). Returns 0 or SP_EDATA with a message (name is used in it), SP_ENOMEM. */
int st_parse(st_file *f, const uint8_t *bytes, size_t n, const char *name, sp_err *err);
/* Reads path and parses it; f owns the bytes. */
int st_open(st_file *f, const char *path, sp_err *err);
const st_tensor *st_find(const st_file *f, const char *name);
/* Copies tensor name (n values of F32, BF16, F16 or F64) into dst as float32. SP_ENOTFOUND or
 * SP_EDATA (shape/dtype). */
int st_read_f32(const st_file *f, const char *name, float *dst, size_t n, const char *file, sp_err *err);
void st_release(st_file *f);

/* Writer: collect tensors (borrowed pointers, must stay valid until st_write), then write atomically. */
typedef struct st_entry { char name[128]; int n_dims; uint64_t shape[ST_MAX_DIMS]; const float *data; } st_entry;
typedef struct st_writer {
	st_entry *e;
	size_t n, cap;
	const char *checkpoint; /* NULL, or a stamp (at most 63 of [0-9a-z-]) written as __metadata__.spindle_checkpoint */
} st_writer;
#define ST_WRITER_INIT { NULL, 0, 0, NULL }
int st_writer_add(st_writer *w, const char *name, const float *data, int n_dims, const uint64_t *shape, sp_err *err);
int st_write(const st_writer *w, const char *path, sp_err *err);
void st_writer_release(st_writer *w);

#endif
