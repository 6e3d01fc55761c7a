/* ckpt.c - model checkpoints in HuggingFace's layout (see ckpt.h). The optimizer and trainer state
 * files are written by trainer.c with the same helpers. */
#include <json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "ckpt.h"
#include "spindle/buf.h"
#include "spindle/io.h"
#include "spindle/mem.h"

void model_tensor_name(const model *m, int i, int layer, char *buf, size_t n)
{
	const char *f = m->ti[i].hf_name, *d = strstr(f, "%d");
	if (!d) {
		snprintf(buf, n, "%s", f);
		return;
	}
	snprintf(buf, n, "%.*s%d%s", (int)(d - f), f, layer, d + 2);
}

static void tensor_shape(const model *m, int i, uint64_t shape[2], int *n_dims)
{
	/* norms are [D]; the reward head is [1, D] like transformers' score layer */
	if (m->ti[i].rows == 1 && i != P_SCORE) {
		shape[0] = (uint64_t)m->ti[i].cols;
		*n_dims = 1;
	} else {
		shape[0] = (uint64_t)m->ti[i].rows;
		shape[1] = (uint64_t)m->ti[i].cols;
		*n_dims = 2;
	}
}

int model_add_tensors(st_writer *w, const model *m, const float *arena, const char *prefix, sp_err *err)
{
	char name[160], full[200];
	const float *p = arena;
	for (int i = 0; i < P_COUNT; i++) {
		int layers = m->ti[i].per_layer ? m->cfg.n_layers : 1, n_dims;
		uint64_t shape[2];
		tensor_shape(m, i, shape, &n_dims);
		for (int l = 0; l < layers && m->ti[i].layer_size; l++) {
			model_tensor_name(m, i, l, name, sizeof name);
			snprintf(full, sizeof full, "%s%s", prefix, name);
			SP_FORWARD(st_writer_add(w, full, p + (size_t)l * m->ti[i].layer_size, n_dims, shape, err));
		}
		p += m->ti[i].size;
	}
	return 0;
}

/* The tensor's shape must be the one the config gives it (a transposed or reshaped tensor of the
 * right size would load as garbage). */
static int check_shape(const st_tensor *t, const model *m, int i, const char *file, sp_err *err)
{
	uint64_t shape[2];
	int n_dims;
	tensor_shape(m, i, shape, &n_dims);
	if (t->n_dims == n_dims && t->shape[0] == shape[0] && (n_dims == 1 || t->shape[1] == shape[1]))
		return 0;
	char got[160] = "[", want[64];
	for (int d = 0; d < t->n_dims && strlen(got) < 120; d++)
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", d ? ", " : "", (unsigned long long)t->shape[d]);
	if (n_dims == 1)
		snprintf(want, sizeof want, "[%llu]", (unsigned long long)shape[0]);
	else
		snprintf(want, sizeof want, "[%llu, %llu]", (unsigned long long)shape[0], (unsigned long long)shape[1]);
	SP_RAISE(err, SP_EDATA, "%s: tensor '%s' has shape %s], the model's config.json gives it %s", file, t->name, got, want);
}

int model_read_tensors(const st_file *f, const model *m, float *arena, const char *prefix, int skip_missing,
                       size_t *n_missing, const char *file, sp_err *err)
{
	char name[160], full[200];
	float *p = arena;
	if (n_missing)
		*n_missing = 0;
	for (int i = 0; i < P_COUNT; i++) {
		int layers = m->ti[i].per_layer ? m->cfg.n_layers : 1;
		for (int l = 0; l < layers && m->ti[i].layer_size; l++) {
			model_tensor_name(m, i, l, name, sizeof name);
			snprintf(full, sizeof full, "%s%s", prefix, name);
			const st_tensor *t = st_find(f, full);
			if (skip_missing && !t) {
				if (n_missing)
					(*n_missing)++;
				continue;
			}
			if (t)
				SP_FORWARD(check_shape(t, m, i, file, err));
			SP_FORWARD(st_read_f32(f, full, p + (size_t)l * m->ti[i].layer_size, m->ti[i].layer_size, file, err));
		}
		p += m->ti[i].size;
	}
	return 0;
}

int ckpt_write_config(const char *dir, const model_config *c, uint64_t tokenizer_id, int bos, int eos, sp_err *err)
{
	sp_buf b = SP_BUF_INIT;
	char path[4096];
	int rc = sp_buf_appendf(&b,
		"{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"llama\",\n  \"hidden_size\": %d,\n"
		"  \"intermediate_size\": %d,\n  \"num_attention_heads\": %d,\n  \"num_hidden_layers\": %d,\n"
		"  \"num_key_value_heads\": %d,\n  \"vocab_size\": %d,\n  \"max_position_embeddings\": %d,\n"
		"  \"rms_norm_eps\": %.9g,\n  \"rope_theta\": %.9g,\n  \"hidden_act\": \"silu\",\n"
		"  \"tie_word_embeddings\": false,\n  \"attention_bias\": false,\n  \"initializer_range\": 0.02,\n"
		"  \"torch_dtype\": \"float32\",\n",
		c->reward_head ? "LlamaForSequenceClassification" : "LlamaForCausalLM", c->dim, c->hidden_dim,
		c->n_heads, c->n_layers, c->n_kv_heads, c->vocab_size, c->max_seq_len, (double)c->norm_eps,
		(double)c->rope_theta);
	if (rc == 0 && bos >= 0)
		rc = sp_buf_appendf(&b, "  \"bos_token_id\": %d,\n", bos);
	if (rc == 0 && eos >= 0)
		rc = sp_buf_appendf(&b, "  \"eos_token_id\": %d,\n", eos);
	if (rc == 0 && c->reward_head)
		rc = sp_buf_appends(&b, "  \"num_labels\": 1,\n");
	if (rc == 0)
		rc = sp_buf_appendf(&b, "  \"spindle_tokenizer_id\": \"%016llx\"\n}\n", (unsigned long long)tokenizer_id);
	if (rc < 0) {
		sp_buf_release(&b);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	snprintf(path, sizeof path, "%s/config.json", dir);
	rc = sp_write_file_atomic(path, b.p, b.len, err);
	sp_buf_release(&b);
	return rc;
}

static int get_int(json_object *o, const char *k, int *v, int required, const char *path, sp_err *err)
{
	json_object *x;
	if (!json_object_object_get_ex(o, k, &x)) {
		if (required)
			SP_RAISE(err, SP_EDATA, "%s: no '%s'", path, k);
		return 0;
	}
	if (!json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0 || json_object_get_int64(x) > (1 << 30))
		SP_RAISE(err, SP_EDATA, "%s: '%s' is not a valid size", path, k);
	*v = (int)json_object_get_int64(x);
	return 0;
}

int ckpt_read_config(const char *dir, model_config *c, uint64_t *tokenizer_id, sp_err *err)
{
	char path[4096];
	sp_buf b = SP_BUF_INIT;
	snprintf(path, sizeof path, "%s/config.json", dir);
	SP_FORWARD(sp_read_file(path, &b, err));
	json_object *o = json_tokener_parse(b.p ? b.p : "");
	sp_buf_release(&b);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		SP_RAISE(err, SP_EDATA, "%s: not a JSON object", path);
	}
	memset(c, 0, sizeof *c);
	c->norm_eps = 1e-5f;
	c->rope_theta = 10000.0f;
	c->n_kv_heads = -1;
	int rc = get_int(o, "hidden_size", &c->dim, 1, path, err);
	rc = rc ? rc : get_int(o, "intermediate_size", &c->hidden_dim, 1, path, err);
	rc = rc ? rc : get_int(o, "num_attention_heads", &c->n_heads, 1, path, err);
	rc = rc ? rc : get_int(o, "num_hidden_layers", &c->n_layers, 1, path, err);
	rc = rc ? rc : get_int(o, "num_key_value_heads", &c->n_kv_heads, 0, path, err);
	rc = rc ? rc : get_int(o, "vocab_size", &c->vocab_size, 1, path, err);
	rc = rc ? rc : get_int(o, "max_position_embeddings", &c->max_seq_len, 1, path, err);
	if (c->n_kv_heads < 0)
		c->n_kv_heads = c->n_heads;
	json_object *x;
	if (json_object_object_get_ex(o, "rms_norm_eps", &x))
		c->norm_eps = (float)json_object_get_double(x);
	if (json_object_object_get_ex(o, "rope_theta", &x))
		c->rope_theta = (float)json_object_get_double(x);
	if (json_object_object_get_ex(o, "architectures", &x) && json_object_is_type(x, json_type_array) &&
	    json_object_array_length(x) > 0 &&
	    strstr(json_object_get_string(json_object_array_get_idx(x, 0)), "SequenceClassification"))
		c->reward_head = 1;
	if (tokenizer_id) {
		*tokenizer_id = 0;
		if (json_object_object_get_ex(o, "spindle_tokenizer_id", &x))
			*tokenizer_id = strtoull(json_object_get_string(x), NULL, 16);
	}
	json_object_put(o);
	if (rc < 0)
		return rc;
	if (model_config_check(c, err) < 0)
		return sp_err_locate(err, path, 0);
	return 0;
}

int ckpt_save_model(const char *dir, const model *m, uint64_t tokenizer_id, int bos, int eos, sp_err *err)
{
	return ckpt_save_model_stamped(dir, m, tokenizer_id, bos, eos, NULL, err);
}

int ckpt_save_model_stamped(const char *dir, const model *m, uint64_t tokenizer_id, int bos, int eos, const char *stamp,
                            sp_err *err)
{
	char path[4096];
	st_writer w = ST_WRITER_INIT;
	w.checkpoint = stamp;
	SP_FORWARD(sp_mkdir_p(dir, err));
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	int rc = model_add_tensors(&w, m, m->params, "", err);
	rc = rc ? rc : st_write(&w, path, err);
	st_writer_release(&w);
	return rc ? rc : ckpt_write_config(dir, &m->cfg, tokenizer_id, bos, eos, err);
}

/* A checkpoint split over several files (HuggingFace's model.safetensors.index.json: "weight_map"
 * from tensor name to file name): every tensor the model needs must be mapped (unless skip_missing);
 * each file is opened once and holds its share. */
static int load_sharded(const char *dir, const char *index, model *m, int skip_missing, size_t *n_missing, sp_err *err)
{
	sp_buf text = SP_BUF_INIT;
	SP_FORWARD(sp_read_file(index, &text, err));
	json_object *root = json_tokener_parse(text.p ? text.p : ""), *map = NULL;
	sp_buf_release(&text);
	if (!root || !json_object_object_get_ex(root, "weight_map", &map) || !json_object_is_type(map, json_type_object)) {
		json_object_put(root);
		SP_RAISE(err, SP_EDATA, "%s: not a safetensors index (no \"weight_map\" object)", index);
	}
	/* the files, in first-mention order; each must be a plain name in dir */
	const char *files[4096];
	size_t n_files = 0, need = 0, mapped = 0;
	int rc = 0;
	json_object_object_foreach(map, key, val) {
		(void)key;
		const char *fn = json_object_is_type(val, json_type_string) ? json_object_get_string(val) : NULL;
		if (!fn || !*fn || strchr(fn, '/') || !strcmp(fn, "..")) {
			sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: tensor '%.100s' maps to a bad file name", index, key);
			rc = SP_EDATA;
			break;
		}
		size_t k = 0;
		while (k < n_files && strcmp(files[k], fn))
			k++;
		if (k == n_files) {
			if (n_files == sizeof files / sizeof *files) {
				sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: too many files", index);
				rc = SP_EDATA;
				break;
			}
			files[n_files++] = fn;
		}
	}
	/* every tensor the model needs is in the map (or counted missing) */
	char name[160];
	for (int i = 0; rc == 0 && i < P_COUNT; i++) {
		int layers = m->ti[i].per_layer ? m->cfg.n_layers : 1;
		for (int l = 0; l < layers && m->ti[i].layer_size; l++) {
			model_tensor_name(m, i, l, name, sizeof name);
			need++;
			json_object *v;
			if (json_object_object_get_ex(map, name, &v)) {
				mapped++;
			} else if (!skip_missing) {
				sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: no tensor '%s' in the weight map", index, name);
				rc = SP_EDATA;
				break;
			}
		}
	}
	size_t found = 0;
	for (size_t k = 0; rc == 0 && k < n_files; k++) {
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", dir, files[k]);
		st_file f = ST_FILE_INIT;
		size_t absent = 0;
		if ((rc = st_open(&f, p, err)) == 0)
			rc = model_read_tensors(&f, m, m->params, "", 1, &absent, p, err);
		found += need - absent;
		st_release(&f);
	}
	if (rc == 0 && found != mapped) {
		sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: the index maps %zu of the model's tensors, its files hold %zu",
		            index, mapped, found);
		rc = SP_EDATA;
	}
	json_object_put(root);
	if (rc == 0 && n_missing)
		*n_missing = need - mapped;
	return rc;
}

int ckpt_load_model(const char *path, model *m, int skip_missing, size_t *n_missing, sp_err *err)
{
	char p[4096];
	size_t n = strlen(path);
	if (n > 12 && !strcmp(path + n - 12, ".safetensors")) {
		snprintf(p, sizeof p, "%s", path);
	} else {
		snprintf(p, sizeof p, "%s/model.safetensors", path);
		char idx[4096];
		snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", path);
		if (access(p, F_OK) != 0 && access(idx, F_OK) == 0)
			return load_sharded(path, idx, m, skip_missing, n_missing, err);
	}
	st_file f = ST_FILE_INIT;
	SP_FORWARD(st_open(&f, p, err));
	int rc = model_read_tensors(&f, m, m->params, "", skip_missing, n_missing, p, err);
	st_release(&f);
	return rc;
}
