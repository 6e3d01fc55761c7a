/* trainer.c - the training loop and resumable checkpoints (see trainer.h). */
#include <dirent.h>
#include <errno.h>
#include <json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ckpt.h"
#include "device.h"
#include "dist.h"
#include "trainer.h"
#include "spindle/hash.h"
#include "spindle/io.h"
#include "spindle/mem.h"

void train_opts_default(train_opts *o)
{
	memset(o, 0, sizeof *o);
	adamw_hparams hp = ADAMW_LLAMA2;
	o->mode = TRAIN_LM;
	o->steps = 100;
	o->warmup = -1;            /* -1: 2% of the steps, at least 1 (cli resolves) */
	o->batch = 8;
	o->accum = 1;
	o->lr = 3e-4f;
	o->min_lr_ratio = 0.1f;
	o->clip = 1.0f;
	o->hp = hp;
	o->seed = 1337;
	o->spike_k = 4.0f;
	o->spike_warmup = 20;
	o->bos = o->eos = -1;
}

int trainer_init(trainer *t, const train_opts *o, const model_config *cfg, train_data *d, FILE *log, sp_err *err)
{
	memset(t, 0, sizeof *t);
	t->o = *o;
	if (t->o.warmup < 0)
		t->o.warmup = o->steps / 50 > 0 ? o->steps / 50 : 1;
	t->data = d;
	t->log = log;
	int rows = o->mode == TRAIN_RM || o->mode == TRAIN_HOOK ? 2 * o->batch : o->batch;
	/* device_acts: the host model holds parameters for checkpoints only (a 1 x 1 activation block) */
	SP_FORWARD(model_init(&t->m, cfg, o->device_acts ? 1 : rows, o->device_acts ? 1 : d->seq_len, err));
	model_init_weights(&t->m, o->seed);
	rng_seed(&t->rng, o->seed ^ 0x5EEDull);
	int rc = adamw_init(&t->opt, t->m.n_params, err);
	rc = rc ? rc : train_batch_alloc(&t->batch, rows, d->seq_len, err);
	if (rc == 0 && o->accum > 1 && !o->device_acts && !(t->acc = sp_malloc(t->m.n_params * sizeof(float))))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory for the accumulated gradient");
	if (rc < 0)
		trainer_release(t);
	return rc;
}

void trainer_release(trainer *t)
{
	model_release(&t->m);
	adamw_release(&t->opt);
	train_batch_release(&t->batch);
	sp_buf_release(&t->line);
	sp_buf_release(&t->prov);
	sp_free(t->acc);
	t->acc = NULL;
	grad_plan_release(&t->plan);
}

/* CPU ranks sum gradients, so each scales by the global micro-batch count; NCCL averages over ranks */
int trainer_grad_divisor(const trainer *t)
{
	return t->dev ? t->o.accum : t->o.accum * dist_comm_world(t->comm);
}

/* acc <- grads (first micro-batch) or acc + grads: micro-batch gradients added in order */
static void accumulate(float *acc, const float *g, size_t n, int first)
{
	if (first) {
		memcpy(acc, g, n * sizeof *g);
		return;
	}
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		acc[i] += g[i];
}

/* ---------------------------------------------------------------- the overlapped exchange (issue 18)
 * On the last micro-batch of a step, each bucket of the gradient (grad_plan.h) starts its sum over
 * the ranks as soon as the backward has finished it, and the exchange moves on at every later stage
 * while the backward computes earlier layers; the step then waits for what is left. The earlier
 * micro-batches' sum joins each bucket just before it starts (acc + g, as accumulate adds), so the
 * bits are those of the exchange after the backward. */
static int overlap_on(const trainer *t)
{
	return t->comm && !t->dev && dist_comm_world(t->comm) > 1 && t->o.bucket_mb > 0 &&
	       (t->o.mode != TRAIN_HOOK || (t->hook && t->hook->one_backward));
}

static int start_buckets(trainer *t, int upto_stage, sp_err *err)
{
	model *m = &t->m;
	for (; t->next_bucket < t->plan.n_buckets && t->plan.buckets[t->next_bucket].last_stage <= upto_stage; t->next_bucket++) {
		const grad_bucket *b = &t->plan.buckets[t->next_bucket];
		const grad_seg *seg = t->plan.segs + b->seg_lo;
		if (t->acc)
			for (int s = 0; s < b->n_segs; s++) {
				float *g = m->grads + seg[s].off;
				const float *a = t->acc + seg[s].off;
				size_t n = seg[s].n;
#pragma omp parallel for schedule(static) if (n > 65536)
				for (size_t i = 0; i < n; i++)
					g[i] = a[i] + g[i];
			}
		SP_FORWARD(dist_comm_sum_start(t->comm, t->next_bucket, m->grads, seg, b->n_segs, err));
	}
	return 0;
}

static void on_grad_ready(void *ctx, int stage)
{
	trainer *t = ctx;
	if (t->overlap_failed)
		return;
	if ((stage >= 0 && start_buckets(t, stage, &t->overlap_err) < 0) || dist_comm_sum_poll(t->comm, &t->overlap_err) < 0)
		t->overlap_failed = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int params_finite(const model *m)
{
	for (size_t i = 0; i < m->n_params; i++)
		if (!isfinite(m->params[i]))
			return 0;
	return 1;
}

int trainer_step(trainer *t, sp_err *err)
{
	const train_opts *o = &t->o;
	model *m = &t->m;
	train_batch *b = &t->batch;
	double t0 = now_s(), loss_sum = 0, comm0 = dist_comm_wait_s(t->comm);
	long correct = 0, pairs = 0;
	uint64_t tokens = 0;
	/* the gradient's divisor: all micro-batches of all ranks (a device's NCCL group averages instead) */
	int world = dist_comm_world(t->comm), gacc = trainer_grad_divisor(t);
	const train_hook *hook = o->mode == TRAIN_HOOK ? t->hook : NULL;
	if (o->mode == TRAIN_HOOK && (!hook || t->dev || hook->n_sums < 0 || hook->n_sums > TRAIN_HOOK_MAX_SUMS ||
	                              (hook->n_sums && !hook->sums)))
		SP_RAISE(err, SP_EUSAGE, "this training mode runs on the CPU with its hook (at most %d statistics)",
		         TRAIN_HOOK_MAX_SUMS);
	if (hook && hook->n_sums)
		memset(hook->sums, 0, (size_t)hook->n_sums * sizeof *hook->sums);
	float lr = lr_schedule(t->step, o->warmup, o->steps, o->lr, o->min_lr_ratio);
	sp_buf_reset(&t->prov);
	sp_buf_appendc(&t->prov, '[');
	train_device *dev = t->dev;
	if (dev)
		dev->ops->zero_grad(dev->ctx);
	else
		model_zero_grad(m);
	int overlap = overlap_on(t);
	if (overlap && !t->plan.n_buckets) {
		size_t cap = (size_t)((double)o->bucket_mb * 1048576.0 / sizeof(float));
		SP_FORWARD(grad_plan_init(&t->plan, m->ti, m->cfg.n_layers, cap ? cap : 1, err));
	}
	for (int a = 0; a < o->accum; a++) {
		int last = a == o->accum - 1;
		SP_FORWARD(t->data->next(t->data->ctx, b, err));
		if (overlap && last) {
			t->next_bucket = 0;
			t->overlap_failed = 0;
			m->grad_ready = on_grad_ready;
			m->grad_ready_ctx = t;
		}
		if (dev && last && o->bucket_mb > 0 && dev->ops->overlap_next)
			dev->ops->overlap_next(dev->ctx);
		if (a && t->acc && !dev)
			model_zero_grad(m);
		if (a)
			sp_buf_appendc(&t->prov, ',');
		/* each micro-batch's provenance is an array: splice its elements in */
		if (b->provenance.len > 2)
			sp_buf_append(&t->prov, b->provenance.p + 1, b->provenance.len - 2);
		model_batch mb = train_batch_view(b);
		if (o->mode == TRAIN_HOOK) {
			double l;
			SP_FORWARD(hook->micro(hook->ctx, t, b, &l, err));
			loss_sum += l;
			for (int i = 0; i < b->B; i++)
				tokens += (uint64_t)b->last[i] + 1;
		} else if (o->mode == TRAIN_RM) {
			int P = b->B / 2;
			float rc[512], rr[512], dc[512], dr[512], dre[1024];
			if (P > 512)
				SP_RAISE(err, SP_EUSAGE, "at most 512 pairs per micro-batch");
			const float *rw = m->rewards;
			if (dev) /* (a device model's host twin has no activations: rewards come into dre) */
				dev->ops->forward(dev->ctx, &mb, NULL, NULL, (float *)(rw = dre));
			else
				model_forward(m, &mb, NULL, NULL);
			for (int i = 0; i < P; i++) {
				rc[i] = rw[2 * i];
				rr[i] = rw[2 * i + 1];
				correct += rc[i] > rr[i];
			}
			pairs += P;
			loss_sum += rm_loss(rc, rr, b->margin, P, dc, dr);
			for (int i = 0; i < P; i++) {
				dre[2 * i] = dc[i] / (float)gacc;
				dre[2 * i + 1] = dr[i] / (float)gacc;
			}
			if (dev)
				dev->ops->backward(dev->ctx, &mb, 0, dre);
			else
				model_backward(m, &mb, 0, dre);
			for (int i = 0; i < b->B; i++)
				tokens += (uint64_t)b->last[i] + 1;
		} else {
			float loss;
			size_t n;
			if (dev)
				dev->ops->forward(dev->ctx, &mb, &loss, &n, NULL);
			else
				model_forward(m, &mb, &loss, &n);
			if (n == 0)
				loss = 0;
			loss_sum += loss;
			if (n && dev)
				dev->ops->backward(dev->ctx, &mb, 1.0f / ((float)n * (float)gacc), NULL);
			else if (n)
				model_backward(m, &mb, 1.0f / ((float)n * (float)gacc), NULL);
			tokens += (uint64_t)b->B * b->T;
		}
		if (overlap && last) {
			/* the buckets the backward did not reach (a micro-batch with no counted target runs
			 * none) start now; then the step waits for every bucket's sum */
			m->grad_ready = NULL;
			if (t->overlap_failed) {
				if (err)
					*err = t->overlap_err;
				return t->overlap_err.code;
			}
			SP_FORWARD(start_buckets(t, t->plan.n_stages, err));
			t->buckets_early = t->plan.n_buckets - dist_comm_sum_pending(t->comm);
			SP_FORWARD(dist_comm_sum_wait(t->comm, err));
		} else if (t->acc && !dev) {
			accumulate(t->acc, m->grads, m->n_params, a == 0);
		}
	}
	sp_buf_appendc(&t->prov, ']');
	if (t->acc && !dev && !overlap)
		memcpy(m->grads, t->acc, m->n_params * sizeof(float));
	if (t->comm) { /* data-parallel ranks log, and judge spikes on, the sums over ranks: they must agree */
		double sums[4 + TRAIN_HOOK_MAX_SUMS] = { loss_sum, (double)correct, (double)pairs, (double)tokens };
		int nh = hook ? hook->n_sums : 0;  /* (and the hook's statistics, for rank 0's log) */
		if (nh)
			memcpy(sums + 4, hook->sums, (size_t)nh * sizeof *sums);
		SP_FORWARD(dist_comm_sum_doubles(t->comm, sums, 4 + nh, err));
		loss_sum = sums[0];
		correct = (long)sums[1];
		pairs = (long)sums[2];
		tokens = (uint64_t)sums[3];
		if (nh)
			memcpy(hook->sums, sums + 4, (size_t)nh * sizeof *sums);
		if (!dev && !overlap)
			SP_FORWARD(dist_comm_sum_floats(t->comm, m->grads, m->n_params, err));
	}
	float loss = (float)(loss_sum / (o->accum * world));
	if (dev && !t->comm) /* (ranks without MPI: the NCCL group's mean) */
		loss = train_device_mean(dev, loss);
	float norm, gscale = 1.0f;
	if (dev) { /* the device scales the gradients inside AdamW, as adamw_clip would have */
		norm = dev->ops->grad_norm(dev->ctx);
		if (o->clip > 0 && norm > o->clip)
			gscale = o->clip / (norm + 1e-6f);
	} else {
		norm = adamw_clip(m->grads, m->n_params, o->clip);
	}
	/* spike: judged against an exponential moving mean and variance of earlier steps' losses */
	double sd = sqrt(t->spike_var);
	int spike = o->spike_k > 0 && t->spike_n >= o->spike_warmup && loss > t->spike_mean + o->spike_k * sd;
	int skipped = spike && o->skip_spikes;
	int finite = isfinite(loss) && isfinite(norm);
	if (!skipped && finite && dev)
		dev->ops->update(dev->ctx, lr, &o->hp, ++t->opt.t, gscale);
	else if (!skipped && finite)
		adamw_update(&t->opt, m, lr, &o->hp);
	if (!spike && finite) {
		double alpha = t->spike_n < 10 ? 1.0 / (double)(t->spike_n + 1) : 0.05, dlt = loss - t->spike_mean;
		t->spike_mean += alpha * dlt;
		t->spike_var = (1 - alpha) * (t->spike_var + alpha * dlt * dlt);
		t->spike_n++;
	}
	/* a non-finite step is skipped (above); when the weights themselves are no longer finite, every
	 * later step would be too: stop instead of training on (and saving) garbage */
	if (!finite && !dev && !params_finite(m))
		SP_RAISE(err, SP_EDATA, "step %ld: loss %g, and the weights hold non-finite values (diverged: lower --lr or "
		         "use --clip); stopping without saving", t->step + 1, (double)loss);
	t->step++;
	t->tokens += tokens;
	t->last_loss = loss;
	if (t->comm && world > 1 && (spike || o->log_batches)) {
		/* the whole step's provenance, in rank order (as one process would list it), on rank 0 */
		sp_buf all = SP_BUF_INIT;
		int rank = dist_comm_rank(t->comm), rc = 0;
		if (rank > 0)
			rc = sp_buf_appendc(&all, ',');
		rc = rc ? rc : sp_buf_append(&all, t->prov.p + 1, t->prov.len - 2);
		sp_buf_reset(&t->prov);
		rc = rc ? rc : sp_buf_appendc(&t->prov, '[');
		if (rc < 0) {
			sp_buf_release(&all);
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		}
		rc = dist_comm_gather(t->comm, all.p, all.len, &t->prov, err);
		sp_buf_release(&all);
		SP_FORWARD(rc);
		sp_buf_appendc(&t->prov, ']');
	}
	double dt = now_s() - t0;
	if (!t->log && !t->on_log)
		return 0;
	sp_buf *l = &t->line;
	sp_buf_reset(l);
	if (spike) {
		t->n_spikes++;
		sp_buf_appendf(l, "{\"event\":\"spike\",\"step\":%ld,\"loss\":%.6g,\"mean\":%.6g,\"std\":%.6g,\"k\":%g,\"skipped\":%s,\"batch\":",
		               t->step, (double)loss, t->spike_mean, sd, (double)o->spike_k, skipped ? "true" : "false");
		sp_buf_append(l, t->prov.p, t->prov.len);
		sp_buf_appends(l, "}\n");
	}
	sp_buf_appendf(l, "{\"step\":%ld,\"loss\":%.6g,\"lr\":%.6g,\"grad_norm\":%.6g,\"tokens\":%llu,\"tokens_per_s\":%.1f",
	               t->step, (double)loss, (double)lr, (double)norm, (unsigned long long)t->tokens, (double)tokens / dt);
	if (o->mode == TRAIN_RM)
		sp_buf_appendf(l, ",\"accuracy\":%.4f", pairs ? (double)correct / (double)pairs : 0.0);
	if (hook && hook->log)
		hook->log(hook->ctx, l);
	if (spike)
		sp_buf_appendf(l, ",\"spike\":true,\"skipped\":%s", skipped ? "true" : "false");
	if (!finite)
		sp_buf_appends(l, ",\"non_finite\":true");
	if (t->comm && world > 1)
		sp_buf_appendf(l, ",\"ranks\":%d,\"comm_s\":%.4f", world, dist_comm_wait_s(t->comm) - comm0);
	if (overlap)
		sp_buf_appendf(l, ",\"buckets\":%d,\"buckets_early\":%d", t->plan.n_buckets, t->buckets_early);
	if (o->log_batches) {
		sp_buf_appends(l, ",\"batch\":");
		sp_buf_append(l, t->prov.p, t->prov.len);
	}
	sp_buf_appends(l, ",\"cursor\":");
	t->data->tell(t->data->ctx, l);
	sp_buf_appends(l, "}\n");
	if (t->on_log) {
		t->on_log(t->log_ctx, l->p, l->len);
	} else {
		fwrite(l->p, 1, l->len, t->log);
		fflush(t->log);
	}
	return 0;
}

/* ---------------------------------------------------------------- checkpoints */

/* A checkpoint is four files renamed into place one by one, so a kill can leave files of two saves.
 * Each save has an id ("STEP-HASH" of weights, RNG and AdamW step) stamped into both safetensors
 * files' __metadata__ and into trainer_state.json (written last). Before a save replaces them, the model and optimizer files are
 * hard-linked to .NAME.prev (removed once the state is written): resume takes, for each, the file
 * whose stamp is the state's, and refuses by name when neither is. The temporary files of a killed
 * save (.NAME.tmp.PID.SEQ, see lib/io.c) are removed when their process is gone. */
static const char *const ckpt_files[] = { "model.safetensors", "optimizer.safetensors", "config.json", "trainer_state.json" };

static void remove_stale_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		for (size_t i = 0; i < sizeof ckpt_files / sizeof *ckpt_files; i++) {
			size_t n = strlen(ckpt_files[i]);
			if (e->d_name[0] != '.' || strncmp(e->d_name + 1, ckpt_files[i], n) || strncmp(e->d_name + 1 + n, ".tmp.", 5))
				continue;
			char *end;
			long pid = strtol(e->d_name + 1 + n + 5, &end, 10);
			if (*end != '.' || pid <= 0 || (pid != (long)getpid() && !(kill((pid_t)pid, 0) < 0 && errno == ESRCH)))
				continue; /* another live process's save: not ours to remove */
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
	}
	if (d)
		closedir(d);
}

/* link: .NAME.prev becomes the current model and optimizer files; else the .prev files are removed. */
static void keep_prev(const char *dir, int link_them)
{
	for (int i = 0; i < 2; i++) {
		char cur[4096], prev[4096];
		snprintf(cur, sizeof cur, "%s/%s", dir, ckpt_files[i]);
		snprintf(prev, sizeof prev, "%s/.%s.prev", dir, ckpt_files[i]);
		unlink(prev);
		if (link_them && link(cur, prev) < 0 && errno != ENOENT)
			unlink(prev); /* no hard links here: an interrupted save is then refused, not recovered */
	}
}

int trainer_save(trainer *t, const char *dir, sp_err *err)
{
	char path[4096], stamp[48];
	st_writer w = ST_WRITER_INIT;
	if (t->dev)
		t->dev->ops->pull(t->dev->ctx, &t->m, &t->opt);
	if (!params_finite(&t->m))
		SP_RAISE(err, SP_EDATA, "step %ld: the weights hold non-finite values (the run diverged); refusing to save them "
		         "over %s", t->step, dir);
	SP_FORWARD(sp_mkdir_p(dir, err));
	remove_stale_temps(dir);
	/* the id is a function of what is saved (step, weights, RNG, AdamW step), so a resumed run writes
	 * the same bytes as an uninterrupted one, and saves of different runs or steps differ */
	uint64_t h = sp_hash64(t->m.params, t->m.n_params * sizeof(float), (uint64_t)t->step);
	h = sp_hash64(t->rng.s, sizeof t->rng.s, h ^ t->opt.t);
	snprintf(stamp, sizeof stamp, "%ld-%016llx", t->step, (unsigned long long)h);
	w.checkpoint = stamp;
	keep_prev(dir, 1);
	snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
	int rc = model_add_tensors(&w, &t->m, t->opt.m, "m.", err);
	rc = rc ? rc : model_add_tensors(&w, &t->m, t->opt.v, "v.", err);
	rc = rc ? rc : st_write(&w, path, err);
	st_writer_release(&w);
	rc = rc ? rc : ckpt_save_model_stamped(dir, &t->m, t->o.tokenizer_id, t->o.bos, t->o.eos, stamp, err);
	if (rc < 0)
		return rc;
	/* floats as C99 hex literals ("%a"): exact, so a resumed run judges spikes identically */
	sp_buf s = SP_BUF_INIT;
	sp_buf_appendf(&s, "{\n  \"checkpoint\": \"%s\",\n  \"step\": %ld,\n  \"adam_t\": %llu,\n  \"tokens\": %llu,\n  \"mode\": \"%s\",\n"
	               "  \"rng\": [\"%016llx\", \"%016llx\", \"%016llx\", \"%016llx\"],\n"
	               "  \"spike\": {\"mean\": \"%a\", \"var\": \"%a\", \"n\": %ld, \"count\": %ld},\n  \"cursor\": ",
	               stamp, t->step, (unsigned long long)t->opt.t, (unsigned long long)t->tokens,
	               t->o.mode == TRAIN_HOOK && t->hook ? t->hook->name : t->o.mode == TRAIN_RM ? "rm" : "lm", (unsigned long long)t->rng.s[0],
	               (unsigned long long)t->rng.s[1], (unsigned long long)t->rng.s[2], (unsigned long long)t->rng.s[3],
	               t->spike_mean, t->spike_var, t->spike_n, t->n_spikes);
	t->data->tell(t->data->ctx, &s);
	rc = sp_buf_appends(&s, "\n}\n");
	if (rc < 0) {
		sp_buf_release(&s);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	snprintf(path, sizeof path, "%s/trainer_state.json", dir);
	rc = sp_write_file_atomic(path, s.p, s.len, err);
	sp_buf_release(&s);
	if (rc == 0)
		keep_prev(dir, 0);
	return rc;
}

static int state_u64(json_object *o, const char *k, uint64_t *v, const char *path, sp_err *err)
{
	json_object *x;
	if (!json_object_object_get_ex(o, k, &x) || !json_object_is_type(x, json_type_int))
		SP_RAISE(err, SP_EDATA, "%s: no integer '%s'", path, k);
	*v = (uint64_t)json_object_get_int64(x);
	return 0;
}

/* Opens dir/name, or its .prev twin when only that one is from the save stamp names (a save was
 * interrupted after replacing it); path receives the file read. Neither: a mixed checkpoint. */
static int open_stamped(st_file *f, const char *dir, const char *name, const char *stamp, char *path, size_t n, sp_err *err)
{
	snprintf(path, n, "%s/.%s.prev", dir, name);
	if (*stamp && access(path, F_OK) == 0) {
		sp_err e2 = SP_ERR_INIT;
		if (st_open(f, path, &e2) == 0 && !strcmp(f->checkpoint, stamp)) {
			/* put it back in place, so the folder is one checkpoint again before the next save */
			char cur[4096];
			snprintf(cur, sizeof cur, "%s/%s", dir, name);
			if (rename(path, cur) == 0)
				snprintf(path, n, "%s", cur);
			return 0;
		}
		st_release(f);
	}
	snprintf(path, n, "%s/%s", dir, name);
	SP_FORWARD(st_open(f, path, err));
	if (*stamp && strcmp(f->checkpoint, stamp)) {
		char other[64];
		snprintf(other, sizeof other, "%s", *f->checkpoint ? f->checkpoint : "(none)");
		st_release(f);
		SP_RAISE(err, SP_EDATA, "%s: mixed checkpoint: this file is from save '%s', trainer_state.json from save '%s' "
		         "(a save was interrupted between its files); refusing to resume (rerun without --resume, or --init-from)",
		         path, other, stamp);
	}
	return 0;
}

int trainer_resume(trainer *t, const char *dir, sp_err *err)
{
	char path[4096];
	sp_buf s = SP_BUF_INIT;
	snprintf(path, sizeof path, "%s/trainer_state.json", dir);
	SP_FORWARD(sp_read_file(path, &s, err));
	json_object *o = json_tokener_parse(s.p ? s.p : "");
	sp_buf_release(&s);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		SP_RAISE(err, SP_EDATA, "%s: not a JSON object (incomplete checkpoint?)", path);
	}
	uint64_t step = 0, adam_t = 0, tokens = 0;
	int rc = state_u64(o, "step", &step, path, err);
	rc = rc ? rc : state_u64(o, "adam_t", &adam_t, path, err);
	rc = rc ? rc : state_u64(o, "tokens", &tokens, path, err);
	json_object *rng, *spike, *cursor, *x;
	if (rc == 0 && (!json_object_object_get_ex(o, "rng", &rng) || json_object_array_length(rng) != 4 ||
	                !json_object_object_get_ex(o, "spike", &spike) || !json_object_object_get_ex(o, "cursor", &cursor)))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: lacks rng, spike or cursor", path);
	if (rc == 0) {
		for (int i = 0; i < 4; i++)
			t->rng.s[i] = strtoull(json_object_get_string(json_object_array_get_idx(rng, (size_t)i)), NULL, 16);
		if (json_object_object_get_ex(spike, "mean", &x))
			t->spike_mean = strtod(json_object_get_string(x), NULL);
		if (json_object_object_get_ex(spike, "var", &x))
			t->spike_var = strtod(json_object_get_string(x), NULL);
		if (json_object_object_get_ex(spike, "n", &x))
			t->spike_n = (long)json_object_get_int64(x);
		if (json_object_object_get_ex(spike, "count", &x))
			t->n_spikes = (long)json_object_get_int64(x);
		t->step = (long)step;
		t->opt.t = adam_t;
		t->tokens = tokens;
		rc = t->data->seek(t->data->ctx, json_object_to_json_string_ext(cursor, JSON_C_TO_STRING_PLAIN), err);
	}
	/* the id of the save the state belongs to (absent in checkpoints of older spindles) */
	char stamp[64] = "";
	if (rc == 0 && json_object_object_get_ex(o, "checkpoint", &x)) {
		if (!json_object_is_type(x, json_type_string) || (size_t)json_object_get_string_len(x) >= sizeof stamp)
			rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: bad 'checkpoint' id", path);
		else
			memcpy(stamp, json_object_get_string(x), (size_t)json_object_get_string_len(x) + 1);
	}
	json_object_put(o);
	if (rc < 0)
		return rc;
	remove_stale_temps(dir);
	st_file f = ST_FILE_INIT;
	SP_FORWARD(open_stamped(&f, dir, ckpt_files[0], stamp, path, sizeof path, err));
	rc = model_read_tensors(&f, &t->m, t->m.params, "", 0, NULL, path, err);
	st_release(&f);
	if (rc < 0)
		return rc;
	SP_FORWARD(open_stamped(&f, dir, ckpt_files[1], stamp, path, sizeof path, err));
	rc = model_read_tensors(&f, &t->m, t->opt.m, "m.", 0, NULL, path, err);
	rc = rc ? rc : model_read_tensors(&f, &t->m, t->opt.v, "v.", 0, NULL, path, err);
	st_release(&f);
	if (rc == 0 && t->dev)
		t->dev->ops->push(t->dev->ctx, &t->m, &t->opt);
	return rc;
}
