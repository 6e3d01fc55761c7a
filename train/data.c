/* data.c - the train_batch storage shared by every data source (see data.h). */
#include <json.h>
#include <string.h>
#include "data.h"
#include "spindle/mem.h"

int train_batch_alloc(train_batch *b, int B, int T, sp_err *err)
{
	train_batch_release(b);
	size_t n = (size_t)B * T;
	b->B = B;
	b->T = T;
	b->inputs = sp_calloc(n, sizeof(int32_t));
	b->targets = sp_calloc(n, sizeof(int32_t));
	b->pos = sp_calloc(n, sizeof(int32_t));
	b->seg = sp_calloc(n, sizeof(int32_t));
	b->last = sp_calloc((size_t)B, sizeof(int32_t));
	b->margin = sp_calloc((size_t)B, sizeof(float));
	b->rating = sp_calloc((size_t)B, sizeof(int32_t));
	b->item = sp_calloc((size_t)B, sizeof(uint32_t));
	if (!b->inputs || !b->targets || !b->pos || !b->seg || !b->last || !b->margin || !b->rating || !b->item) {
		train_batch_release(b);
		SP_RAISE(err, SP_ENOMEM, "out of memory for a %dx%d batch", B, T);
	}
	return 0;
}

void train_batch_release(train_batch *b)
{
	sp_free(b->inputs);
	sp_free(b->targets);
	sp_free(b->pos);
	sp_free(b->seg);
	sp_free(b->last);
	sp_free(b->margin);
	sp_free(b->rating);
	sp_free(b->item);
	sp_buf_release(&b->provenance);
	memset(b, 0, sizeof *b);
}

model_batch train_batch_view(const train_batch *b)
{
	model_batch m = { b->B, b->T, b->inputs, b->targets, b->pos, b->use_seg ? b->seg : NULL, b->last };
	return m;
}

int data_cursor_tell(sp_buf *out, uint64_t epoch, uint64_t index)
{
	return sp_buf_appendf(out, "{\"epoch\":%llu,\"index\":%llu}", (unsigned long long)epoch, (unsigned long long)index);
}

int data_cursor_seek(const char *cursor, uint64_t max_index, const char *what, uint64_t *epoch, uint64_t *index,
                     sp_err *err)
{
	json_object *o = json_tokener_parse(cursor), *e, *i;
	if (!o || !json_object_object_get_ex(o, "epoch", &e) || !json_object_object_get_ex(o, "index", &i) ||
	    json_object_get_int64(i) < 0 || (uint64_t)json_object_get_int64(i) > max_index) {
		json_object_put(o);
		SP_RAISE(err, SP_EDATA, "bad %s cursor %.200s", what, cursor);
	}
	*epoch = (uint64_t)json_object_get_int64(e);
	*index = (uint64_t)json_object_get_int64(i);
	json_object_put(o);
	return 0;
}
