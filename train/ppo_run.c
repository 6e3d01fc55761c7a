/* ppo_run.c - the PPO loop for RLHF (ppo_run.h): rollouts by pure sampling from the policy (KV cache,
 * temperature, no top-p/top-k, stop at EOS or the length limit), scores from the reward models through
 * Llama 2's gate, whiten(logit(R_c)) minus a penalty for a response without EOS as the sequence reward,
 * the reference and critic forwards, GAE, then mini-batch steps of policy and critic; checkpoints and
 * an exact resume. Every random draw derives from (seed, iteration, index), so a resumed run redraws
 * what the uninterrupted one drew. */
#include <json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ckpt.h"
#include "cli_int.h"
#include "ppo_dist.h"
#include "ppo_run.h"
#include "spindle/io.h"
#include "spindle/mem.h"

void ppo_run_opts_default(ppo_run_opts *o)
{
	memset(o, 0, sizeof *o);
	ppo_hparams_default(&o->h);
	o->iterations = 200;
	o->rollouts = 512;
	o->minibatch = 64;
	o->micro = 8;
	o->epochs = 1;
	o->max_new = 128;
	o->gen_batch = 32;
	o->lr = 1e-6f;
	o->critic_lr = 1e-6f;
	o->clip_grad = 1.0f;
	o->no_eos_penalty = 1.0f;
	o->spike_k = 4;
	o->spike_warmup = 10;
	adamw_hparams hp = ADAMW_LLAMA2;
	o->hp = hp;
	o->seed = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void shuffle(uint32_t *v, size_t n, uint64_t seed)
{
	train_rng r;
	rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint32_t)i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng_u64(&r) % i);
		uint32_t t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

static int load(model *m, const char *dir, const tok_model *tok, int want_reward, int B, sp_err *err)
{
	model_config c;
	uint64_t tid = 0;
	SP_FORWARD(ckpt_read_config(dir, &c, &tid, err));
	if (want_reward && !c.reward_head)
		SP_RAISE(err, SP_EDATA, "%s: is a language model, not a reward model (the critic starts from a reward model)", dir);
	if (!want_reward && c.reward_head)
		SP_RAISE(err, SP_EDATA, "%s: is a reward model, not a policy (a language model checkpoint is needed)", dir);
	if (tid && tid != tok_identity(tok))
		SP_RAISE(err, SP_EDATA, "%s: the model's tokenizer identity %016llx differs from the tokenizer's %016llx", dir,
		         (unsigned long long)tid, (unsigned long long)tok_identity(tok));
	if (tok_vocab_size(tok) > (uint32_t)c.vocab_size)
		SP_RAISE(err, SP_EDATA, "%s: the tokenizer has more tokens than the model", dir);
	SP_FORWARD(model_init(m, &c, B, c.max_seq_len, err));
	return ckpt_load_model(dir, m, 0, NULL, err);
}

int ppo_run_init(ppo_run *r, const ppo_run_opts *o, const char *policy_dir, const char *critic_dir, const tok_model *tok,
                 const rl_prompts *ps, reward_set *rs, sp_err *err)
{
	memset(r, 0, sizeof *r);
	r->o = *o;
	r->tok = tok;
	r->ps = ps;
	r->rs = rs;
	snprintf(r->init_from, sizeof r->init_from, "%s", policy_dir);
	int B = (int)o->micro;
	SP_FORWARD(load(&r->pol, policy_dir, tok, 0, B, err));
	SP_FORWARD(load(&r->ref, policy_dir, tok, 0, B, err));
	SP_FORWARD(load(&r->critic, critic_dir, tok, 1, B, err));
	int ctx = r->pol.cfg.max_seq_len;
	if (o->max_new >= ctx)
		SP_RAISE(err, SP_EUSAGE, "--max-new-tokens %ld leaves no room for the prompt in the policy's context of %d", o->max_new, ctx);
	if (r->critic.cfg.max_seq_len < ctx)
		SP_RAISE(err, SP_EDATA, "%s: the critic's context %d is shorter than the policy's %d", critic_dir, r->critic.cfg.max_seq_len, ctx);
	SP_FORWARD(adamw_init(&r->opt_p, r->pol.n_params, err));
	SP_FORWARD(adamw_init(&r->opt_c, r->critic.n_params, err));
	SP_FORWARD(decode_batch_init(&r->db, &r->pol, (int)(o->gen_batch < o->rollouts ? o->gen_batch : o->rollouts), ctx, err));
	SP_FORWARD(ppo_scratch_init(&r->scr, B, ctx, err));
	r->ro = sp_calloc((size_t)o->rollouts, sizeof *r->ro);
	r->rp = sp_calloc((size_t)o->rollouts, sizeof *r->rp);
	r->perm = sp_calloc(ps->n, sizeof *r->perm);
	if (!r->ro || !r->rp || !r->perm)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	shuffle(r->perm, ps->n, mix(o->seed, 0xE90C));
	r->eval_best = -INFINITY;
	r->world = 1;
	r->hi = o->rollouts;
	return 0;
}

int ppo_run_set_comm(ppo_run *r, dist_comm *c, sp_err *err)
{
	r->comm = c;
	r->rank = c ? dist_comm_rank(c) : 0;
	r->world = c ? dist_comm_world(c) : 1;
	long N = r->o.rollouts, GB = r->db.B, nc = (N + GB - 1) / GB;
	if (nc < r->world)
		SP_RAISE(err, SP_EUSAGE, "--rollouts %ld in sampling chunks of %ld (--gen-batch) make %ld chunk%s, fewer than the %d ranks: "
		         "each rank samples whole chunks (give at least %ld rollouts, or a smaller --gen-batch)",
		         N, GB, nc, nc == 1 ? "" : "s", r->world, GB * (r->world - 1) + 1);
	ppo_dist_block(N, GB, r->rank, r->world, &r->lo, &r->hi);
	return 0;
}

void ppo_run_release(ppo_run *r)
{
	for (long i = 0; i < r->n_ro; i++)
		ppo_rollout_release(&r->ro[i]);
	sp_free(r->ro), sp_free(r->rp), sp_free(r->perm);
	ppo_scratch_release(&r->scr);
	decode_batch_release(&r->db);
	adamw_release(&r->opt_p);
	adamw_release(&r->opt_c);
	model_release(&r->pol), model_release(&r->ref), model_release(&r->critic);
	sp_buf_release(&r->line);
	memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- checkpoints */

static int save_model_opt(const char *dir, const model *m, const adamw_state *opt, const tok_model *tok, sp_err *err)
{
	char path[4096];
	st_writer w = ST_WRITER_INIT;
	SP_FORWARD(sp_mkdir_p(dir, err));
	snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
	int rc = model_add_tensors(&w, m, opt->m, "m.", err);
	rc = rc ? rc : model_add_tensors(&w, m, opt->v, "v.", err);
	rc = rc ? rc : st_write(&w, path, err);
	st_writer_release(&w);
	return rc ? rc : ckpt_save_model(dir, m, tok_identity(tok), tok_bos_id(tok), tok_eos_id(tok), err);
}

static int load_opt(const char *dir, model *m, adamw_state *opt, sp_err *err)
{
	char path[4096];
	st_file f = ST_FILE_INIT;
	SP_FORWARD(ckpt_load_model(dir, m, 0, NULL, err));
	snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
	SP_FORWARD(st_open(&f, path, err));
	int rc = model_read_tensors(&f, m, opt->m, "m.", 0, NULL, path, err);
	rc = rc ? rc : model_read_tensors(&f, m, opt->v, "v.", 0, NULL, path, err);
	st_release(&f);
	return rc;
}

int ppo_run_save(ppo_run *r, const char *dir, sp_err *err)
{
	char path[4096];
	SP_FORWARD(save_model_opt(dir, &r->pol, &r->opt_p, r->tok, err));
	snprintf(path, sizeof path, "%s/critic", dir);
	SP_FORWARD(save_model_opt(path, &r->critic, &r->opt_c, r->tok, err));
	/* floats as C99 hex literals: exact, so a resumed run judges spikes identically */
	sp_buf s = SP_BUF_INIT;
	sp_buf_appendf(&s, "{\n  \"iteration\": %ld,\n  \"adam_t\": %llu,\n  \"critic_adam_t\": %llu,\n"
	               "  \"cursor\": {\"epoch\": %llu, \"index\": %llu},\n"
	               "  \"spike\": {\"mean\": \"%a\", \"var\": \"%a\", \"n\": %ld, \"count\": %ld},\n"
	               "  \"eval\": {\"best\": \"%a\", \"bad\": %ld},\n  \"init_from\": ",
	               r->iter, (unsigned long long)r->opt_p.t, (unsigned long long)r->opt_c.t, (unsigned long long)r->epoch,
	               (unsigned long long)r->index, r->spike_mean, r->spike_var, r->spike_n, r->n_spikes, r->eval_best, r->eval_bad);
	sp_buf_append_json_str(&s, r->init_from, strlen(r->init_from));
	int rc = sp_buf_appends(&s, "\n}\n");
	if (rc < 0) {
		sp_buf_release(&s);
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	}
	snprintf(path, sizeof path, "%s/ppo_state.json", dir);
	rc = sp_write_file_atomic(path, s.p, s.len, err);
	sp_buf_release(&s);
	return rc;
}

static int get_u64(json_object *o, const char *k, uint64_t *v, const char *path, sp_err *err)
{
	json_object *x;
	if (!json_object_object_get_ex(o, k, &x) || !json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0)
		SP_RAISE(err, SP_EDATA, "%s: lacks a valid '%s'", path, k);
	*v = (uint64_t)json_object_get_int64(x);
	return 0;
}

int ppo_run_resume(ppo_run *r, const char *dir, sp_err *err)
{
	char path[4096];
	sp_buf s = SP_BUF_INIT;
	snprintf(path, sizeof path, "%s/ppo_state.json", dir);
	SP_FORWARD(sp_read_file(path, &s, err));
	json_object *o = json_tokener_parse(s.p ? s.p : ""), *cur = NULL, *sp = NULL, *x;
	sp_buf_release(&s);
	uint64_t it = 0, at = 0, ct = 0, ep = 0, ix = 0, sn = 0, sc = 0;
	int rc = o && json_object_is_type(o, json_type_object) ? 0 : sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: not a JSON object (incomplete checkpoint?)", path);
	rc = rc ? rc : get_u64(o, "iteration", &it, path, err);
	rc = rc ? rc : get_u64(o, "adam_t", &at, path, err);
	rc = rc ? rc : get_u64(o, "critic_adam_t", &ct, path, err);
	if (rc == 0 && (!json_object_object_get_ex(o, "cursor", &cur) || !json_object_object_get_ex(o, "spike", &sp)))
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: lacks cursor or spike", path);
	rc = rc ? rc : get_u64(cur, "epoch", &ep, path, err);
	rc = rc ? rc : get_u64(cur, "index", &ix, path, err);
	rc = rc ? rc : get_u64(sp, "n", &sn, path, err);
	rc = rc ? rc : get_u64(sp, "count", &sc, path, err);
	if (rc == 0 && ix > r->ps->n)
		rc = sp_err_set_(err, SP_EDATA, __FILE__, __LINE__, "%s: the cursor is past the prompt set (another prompt file?)", path);
	if (rc == 0) {
		r->iter = (long)it;
		r->opt_p.t = at;
		r->opt_c.t = ct;
		r->epoch = ep;
		r->index = ix;
		r->spike_n = (long)sn;
		r->n_spikes = (long)sc;
		if (json_object_object_get_ex(sp, "mean", &x))
			r->spike_mean = strtod(json_object_get_string(x), NULL);
		if (json_object_object_get_ex(sp, "var", &x))
			r->spike_var = strtod(json_object_get_string(x), NULL);
		json_object *ev;
		if (json_object_object_get_ex(o, "eval", &ev)) {
			if (json_object_object_get_ex(ev, "best", &x))
				r->eval_best = strtod(json_object_get_string(x), NULL);
			if (json_object_object_get_ex(ev, "bad", &x))
				r->eval_bad = (long)json_object_get_int64(x);
		}
		shuffle(r->perm, r->ps->n, mix(r->o.seed, 0xE90C + r->epoch));
	}
	json_object_put(o);
	SP_FORWARD(rc);
	SP_FORWARD(load_opt(dir, &r->pol, &r->opt_p, err));
	snprintf(path, sizeof path, "%s/critic", dir);
	return load_opt(path, &r->critic, &r->opt_c, err);
}

/* ---------------------------------------------------------------- one iteration */

static size_t next_prompt(ppo_run *r)
{
	if (r->index >= r->ps->n) {
		r->epoch++;
		r->index = 0;
		shuffle(r->perm, r->ps->n, mix(r->o.seed, 0xE90C + r->epoch));
	}
	return r->perm[r->index++];
}

static double var_of(const double *x, size_t n)
{
	double m = 0, v = 0;
	for (size_t i = 0; i < n; i++)
		m += x[i];
	m /= (double)(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		v += (x[i] - m) * (x[i] - m);
	return v / (double)(n ? n : 1);
}

/* Samples one response for each of the nb <= db.B prompts pp[] on the batched decoder: row b of seqb
 * (ctx tokens each) gets the prompt's end (ps0[b] tokens: room is left for max_new) and the sampled
 * tokens, the EOS included when it was sampled; len[b] is the total, state[b] 1 = stopped at EOS, 2 = at
 * the length limit. Row b draws from a generator seeded by mix(seed0, first + b). */
static int sample_chunk(ppo_run *r, const rl_prompt *const *pp, int nb, uint64_t seed0, uint64_t first, int32_t *seqb,
                        int *ps0, int *len, int *state, sp_err *err)
{
	const ppo_run_opts *o = &r->o;
	int ctx = r->pol.cfg.max_seq_len, rc = 0;
	int32_t eos = tok_eos_id(r->tok);
	tok_ids *pr = sp_calloc((size_t)nb, sizeof *pr), *out = sp_calloc((size_t)nb, sizeof *out);
	const tok_ids **prp = sp_calloc((size_t)nb, sizeof *prp);
	int *stopped = sp_calloc((size_t)nb, sizeof *stopped);
	train_rng *g = sp_calloc((size_t)nb, sizeof *g);
	if (!pr || !out || !prp || !stopped || !g)
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (int b = 0; rc == 0 && b < nb; b++) {
		size_t keep = (size_t)(ctx - o->max_new), start = pp[b]->ids.n > keep ? pp[b]->ids.n - keep : 0;
		for (size_t k = start; rc == 0 && k < pp[b]->ids.n; k++)
			if (tok_ids_push(&pr[b], pp[b]->ids.v[k]) < 0)
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		prp[b] = &pr[b];
		rng_seed(&g[b], mix(seed0, first + (uint64_t)b));
	}
	rc = rc ? rc : decode_batch_generate(&r->db, &r->pol, prp, nb, o->max_new, o->h.temperature, 0, 1.0f, eos, g, out, stopped, err);
	for (int b = 0; rc == 0 && b < nb; b++) {
		int32_t *row = seqb + (size_t)b * ctx;
		ps0[b] = (int)pr[b].n;
		for (size_t k = 0; k < pr[b].n; k++)
			row[k] = (int32_t)pr[b].v[k];
		for (size_t k = 0; k < out[b].n; k++)
			row[pr[b].n + k] = (int32_t)out[b].v[k];
		len[b] = (int)(pr[b].n + out[b].n);
		if (stopped[b])
			row[len[b]++] = eos;
		state[b] = stopped[b] ? 1 : 2;
	}
	for (int b = 0; pr && out && b < nb; b++)
		tok_ids_release(&pr[b]), tok_ids_release(&out[b]);
	sp_free(pr), sp_free(out), sp_free(prp), sp_free(stopped), sp_free(g);
	return rc;
}

/* rank 0's doubles: the mean of the n values gathered from every rank (in order, as one process sums
 * them), sent to every rank */
static int gathered_mean(ppo_run *r, const double *mine, size_t n_mine, size_t n, double *mean, sp_err *err)
{
	sp_buf all = SP_BUF_INIT;
	int rc = dist_comm_gather(r->comm, mine, n_mine * sizeof *mine, &all, err);
	if (rc == 0 && r->rank == 0) {
		const double *x = (const double *)(void *)all.p;
		double s = 0;
		for (size_t i = 0; i < n && (i + 1) * sizeof *x <= all.len; i++)
			s += x[i];
		*mean = n ? s / (double)n : NAN;
	}
	sp_buf_release(&all);
	return rc ? rc : dist_comm_bcast(r->comm, mean, sizeof *mean, err);
}

int ppo_run_eval(ppo_run *r, const rl_prompts *ev, double *mean, sp_err *err)
{
	int ctx = r->pol.cfg.max_seq_len, GB = r->db.B, rc = 0;
	int32_t eos = tok_eos_id(r->tok);
	long lo, hi;
	ppo_dist_block((long)ev->n, GB, r->rank, r->world, &lo, &hi);   /* this rank's prompts */
	size_t n = (size_t)(hi - lo);
	const rl_prompt **pp = sp_calloc((size_t)GB, sizeof *pp);
	int *len = sp_calloc((size_t)GB, sizeof *len), *state = sp_calloc((size_t)GB, sizeof *state), *ps0 = sp_calloc((size_t)GB, sizeof *ps0);
	int32_t *seqb = sp_malloc((size_t)GB * ctx * sizeof *seqb);
	tok_ids *seqs = sp_calloc(n + 1, sizeof *seqs);
	const tok_ids **sp = sp_calloc(n + 1, sizeof *sp);
	int *safe = sp_calloc(n + 1, sizeof *safe);
	double *rc_ = sp_calloc(n + 1, sizeof *rc_);
	if (!pp || !len || !state || !ps0 || !seqb || !seqs || !sp || !safe || !rc_)
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (size_t i0 = 0; rc == 0 && i0 < n; i0 += (size_t)GB) {
		int nb = n - i0 < (size_t)GB ? (int)(n - i0) : GB;
		for (int b = 0; b < nb; b++)
			pp[b] = &ev->v[(size_t)lo + i0 + (size_t)b];
		/* the same streams at every evaluation: differences come from the policy, not the draws */
		rc = sample_chunk(r, pp, nb, mix(r->o.seed ^ 0xE7A1u, 0), (uint64_t)lo + i0, seqb, ps0, len, state, err);
		for (int b = 0; rc == 0 && b < nb; b++) {
			size_t i = i0 + (size_t)b;
			for (int k = 0; k < len[b]; k++)
				tok_ids_push(&seqs[i], (uint32_t)seqb[(size_t)b * ctx + k]);
			if (state[b] != 1)
				tok_ids_push(&seqs[i], (uint32_t)eos);
			sp[i] = &seqs[i];
			safe[i] = ev->v[(size_t)lo + i].safety;
		}
	}
	rc = rc ? rc : reward_set_score(r->rs, sp, safe, n, NULL, NULL, rc_, err);
	/* (a rank that failed stops the job: dist_comm_close aborts it, the others' waits end) */
	rc = rc ? rc : gathered_mean(r, rc_, n, ev->n, mean, err);
	for (size_t i = 0; seqs && i < n; i++)
		tok_ids_release(&seqs[i]);
	sp_free(pp), sp_free(len), sp_free(state), sp_free(ps0), sp_free(seqb), sp_free(seqs), sp_free(sp), sp_free(safe), sp_free(rc_);
	return rc;
}

/* what every rank learns of every rollout once they are scored */
typedef struct ro_rec {
	double r_h, r_s, r_c;
	int32_t L, stopped;
} ro_rec;

/* The per-token arrays of rollouts [lo, hi) (logp_old, logp_ref, entropy, values, adv before
 * whitening, ret), gathered on rank 0, give the advantages' whitening (sent to every rank) and the
 * log's kl, entropy and explained variance, summed in the order of one process. */
static int batch_token_stats(ppo_run *r, const ro_rec *rec, long ntok, double *kl, double *ent, double *ev, sp_err *err)
{
	const ppo_run_opts *o = &r->o;
	long N = o->rollouts;
	sp_buf mine = SP_BUF_INIT, all = SP_BUF_INIT;
	double *ev_a = NULL, *ev_b = NULL, w[3] = { 0, 0, 1 };   /* has, mean, inv */
	float *adv = NULL;
	int rc = 0;
	for (long i = 0; rc == 0 && i < r->n_ro; i++) {
		const ppo_rollout *x = &r->ro[i];
		size_t b = (size_t)x->L * sizeof(float);
		if (sp_buf_append(&mine, x->logp_old, b) < 0 || sp_buf_append(&mine, x->logp_ref, b) < 0 ||
		    sp_buf_append(&mine, x->entropy, b) < 0 || sp_buf_append(&mine, x->values, b) < 0 ||
		    sp_buf_append(&mine, x->adv, b) < 0 || sp_buf_append(&mine, x->ret, b) < 0)
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	}
	static const char none;
	rc = rc ? rc : dist_comm_gather(r->comm, mine.len ? mine.p : &none, mine.len, &all, err);
	if (rc == 0 && r->rank == 0) {
		if (all.len != (size_t)ntok * 6 * sizeof(float))
			rc = sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "the ranks' rollouts hold %zu bytes of per-token values, not %ld tokens' worth",
			                 all.len, ntok);
		ev_a = sp_calloc((size_t)ntok + 1, sizeof *ev_a), ev_b = sp_calloc((size_t)ntok + 1, sizeof *ev_b);
		adv = sp_calloc((size_t)ntok + 1, sizeof *adv);
		if (rc == 0 && (!ev_a || !ev_b || !adv))
			rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		size_t k = 0;
		const float *f = (const float *)(void *)all.p;
		for (long i = 0; rc == 0 && i < N; i++) {
			size_t L = (size_t)rec[i].L;
			const float *lo_ = f, *lr = f + L, *en = f + 2 * L, *va = f + 3 * L, *ad = f + 4 * L, *re = f + 5 * L;
			for (size_t j = 0; j < L; j++, k++) {
				*kl += lo_[j] - lr[j];
				*ent += en[j];
				ev_a[k] = re[j];
				ev_b[k] = (double)re[j] - va[j];
				adv[k] = ad[j];
			}
			f += 6 * L;
		}
		if (rc == 0) {
			double vr = var_of(ev_a, (size_t)ntok);
			*ev = vr > 0 ? 1 - var_of(ev_b, (size_t)ntok) / vr : NAN;
			w[0] = ppo_whiten_moments(adv, (size_t)ntok, o->h.whiten_eps, &w[1], &w[2]);
		}
	}
	rc = rc ? rc : dist_comm_bcast(r->comm, w, sizeof w, err);
	if (rc == 0 && w[0] != 0)
		ppo_whiten_apply(r->rp, (int)r->n_ro, w[1], w[2]);
	sp_buf_release(&mine), sp_buf_release(&all);
	sp_free(ev_a), sp_free(ev_b), sp_free(adv);
	return rc;
}

int ppo_run_iteration(ppo_run *r, FILE *log, sp_err *err)
{
	const ppo_run_opts *o = &r->o;
	int ctx = r->pol.cfg.max_seq_len, N = (int)o->rollouts, lo = (int)r->lo, hi = (int)r->hi, n = hi - lo, rc = 0;
	int32_t eos = tok_eos_id(r->tok);
	double t0 = now_s();
	tok_ids *seqs = NULL;
	const tok_ids **sp = NULL;
	double *rh = NULL, *rsf = NULL, *rcb = NULL;
	int *safe = NULL;
	ro_rec *rec = NULL;
	sp_buf recs = SP_BUF_INIT;
	for (long i = 0; i < r->n_ro; i++)
		ppo_rollout_release(&r->ro[i]);
	r->n_ro = 0;
	/* rollouts: pure sampling, so the log-probs (and the KL estimate) are the sampling distribution's;
	 * gen_batch rollouts at a time. Every rank moves the prompt cursor over all N rollouts and samples
	 * its own [lo, hi): whole chunks, drawn as one process draws them. This rank's rollout i (global
	 * lo + i) is r->ro[i]. */
	long gen_tokens = 0, no_eos = 0;
	int GB = r->db.B;
	const rl_prompt **pp = sp_calloc((size_t)GB, sizeof *pp);
	int *len = sp_calloc((size_t)GB, sizeof *len), *state = sp_calloc((size_t)GB, sizeof *state);
	int *ps0 = sp_calloc((size_t)GB, sizeof *ps0);
	int32_t *seqb = sp_malloc((size_t)GB * ctx * sizeof *seqb);
	size_t *pidx = sp_malloc((size_t)N * sizeof *pidx);
	if (!pp || !len || !state || !ps0 || !seqb || !pidx)
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (int i = 0; rc == 0 && i < N; i++)
		pidx[i] = next_prompt(r);
	for (int i0 = lo; rc == 0 && i0 < hi; i0 += GB) {
		int nb = hi - i0 < GB ? hi - i0 : GB;
		for (int b = 0; b < nb; b++)
			pp[b] = &r->ps->v[pidx[i0 + b]];
		rc = sample_chunk(r, pp, nb, mix(o->seed, (uint64_t)r->iter), (uint64_t)i0, seqb, ps0, len, state, err);
		for (int b = 0; rc == 0 && b < nb; b++) {
			int i = i0 - lo + b, L = len[b] - ps0[b];
			rc = ppo_rollout_init(&r->ro[i], seqb + (size_t)b * ctx, ps0[b], L, err);
			if (rc == 0) {
				r->ro[i].stopped = state[b] == 1;
				r->ro[i].prompt = (int)(pp[b] - r->ps->v);
				r->rp[i] = &r->ro[i];
				r->n_ro++;
			}
		}
	}
	sp_free(pp), sp_free(len), sp_free(state), sp_free(ps0), sp_free(seqb), sp_free(pidx);
	double t1 = now_s();
	/* scores: the reward models read the response with its EOS (added when the policy never emitted one) */
	seqs = sp_calloc((size_t)n + 1, sizeof *seqs);
	sp = sp_calloc((size_t)n + 1, sizeof *sp);
	rh = sp_calloc((size_t)n + 1, sizeof *rh), rsf = sp_calloc((size_t)n + 1, sizeof *rsf), rcb = sp_calloc((size_t)n + 1, sizeof *rcb);
	safe = sp_calloc((size_t)n + 1, sizeof *safe);
	rec = sp_calloc((size_t)n + 1, sizeof *rec);
	float *wz = sp_calloc((size_t)N, sizeof *wz);
	if (rc == 0 && (!seqs || !sp || !rh || !rsf || !rcb || !safe || !rec || !wz))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (int i = 0; rc == 0 && i < n; i++) {
		ppo_rollout *x = &r->ro[i];
		for (int k = 0; k < x->P + x->L; k++)
			tok_ids_push(&seqs[i], (uint32_t)x->tok[k]);
		if (!x->stopped)
			tok_ids_push(&seqs[i], (uint32_t)eos);
		sp[i] = &seqs[i];
		safe[i] = r->ps->v[x->prompt].safety;
	}
	rc = rc ? rc : reward_set_score(r->rs, sp, safe, (size_t)n, rh, rsf, rcb, err);
	for (int i = 0; rc == 0 && i < n; i++) {
		ppo_rollout *x = &r->ro[i];
		x->r_h = rh[i], x->r_s = rsf[i], x->r_c = rcb[i];
		rec[i].r_h = rh[i], rec[i].r_s = rsf[i], rec[i].r_c = rcb[i];
		rec[i].L = x->L, rec[i].stopped = x->stopped;
	}
	/* every rank learns every rollout's scores and length: the rewards are whitened over the batch */
	rc = rc ? rc : ppo_dist_allgather(r->comm, rec, (size_t)n * sizeof *rec, &recs, err);
	if (rc == 0 && recs.len != (size_t)N * sizeof *rec)
		rc = sp_err_set_(err, SP_EIO, __FILE__, __LINE__, "the ranks sent %zu rollouts' scores, not %d", recs.len / sizeof *rec, N);
	const ro_rec *all = (const ro_rec *)(void *)recs.p;
	double mean_c = 0, mean_h = 0, mean_s = 0;
	long ntok = 0;
	for (int i = 0; rc == 0 && i < N; i++) {
		wz[i] = (float)reward_logit(all[i].r_c);
		mean_c += all[i].r_c, mean_h += all[i].r_h, mean_s += all[i].r_s;
		gen_tokens += all[i].L - all[i].stopped;
		no_eos += !all[i].stopped;
		ntok += all[i].L;
	}
	if (rc == 0) {
		/* R~_c = whiten(logit(R_c)) over the batch, then the no-EOS penalty */
		reward_whiten(wz, (size_t)N, o->h.whiten_eps);
		for (int i = 0; i < n; i++)
			r->ro[i].score = wz[lo + i] - (r->ro[i].stopped ? 0 : o->no_eos_penalty);
		r->reward_mean = mean_c / N;
	}
	double t2 = now_s();
	double kl = 0, ent = 0, ev = NAN;
	if (rc == 0) {
		ppo_eval_policy(&r->pol, r->rp, n, o->h.temperature, 0, &r->scr);
		ppo_eval_policy(&r->ref, r->rp, n, o->h.temperature, 1, &r->scr);
		ppo_eval_critic(&r->critic, r->rp, n, &r->scr);
		ppo_rewards_gae(r->rp, n, &o->h);
		/* the advantages whitened over every action of the batch (ppo_prepare's sums, across ranks) */
		rc = batch_token_stats(r, all, ntok, &kl, &ent, &ev, err);
	}
	double t3 = now_s();
	/* epochs of mini-batch steps: every rank walks the same mini-batches and adds the gradient of its
	 * own rollouts in each, scaled by the whole mini-batch's token count; the sums over ranks are
	 * every rank's gradients, clipped and stepped alike */
	ppo_stats acc = { 0 };
	double gn_p = 0, gn_c = 0;
	long steps = 0, spikes = 0;
	uint32_t *order = rc == 0 ? sp_malloc((size_t)N * sizeof *order) : NULL;
	ppo_rollout **mb = rc == 0 ? sp_malloc((size_t)N * sizeof *mb) : NULL;
	if (rc == 0 && (!order || !mb))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (long e = 0; rc == 0 && e < o->epochs; e++) {
		shuffle(order, (size_t)N, mix(mix(o->seed ^ 0x5EED, (uint64_t)r->iter), (uint64_t)e));
		for (int m0 = 0; rc == 0 && m0 < N; m0 += (int)o->minibatch) {
			int nm = N - m0 < (int)o->minibatch ? N - m0 : (int)o->minibatch, k = 0;
			long mtok = 0;
			for (int i = 0; i < nm; i++) {
				int g = (int)order[m0 + i];
				mtok += all[g].L;
				if (g >= lo && g < hi)
					mb[k++] = &r->ro[g - lo];
			}
			ppo_stats st;
			ppo_minibatch_part(&r->pol, &r->critic, mb, k, mtok, &o->h, &r->scr, &st);
			if (r->comm && r->world > 1) {
				double x[5] = { st.pg_loss, st.v_loss, st.clip_frac, st.approx_kl, st.ratio_mean };
				rc = dist_comm_sum_floats(r->comm, r->pol.grads, r->pol.n_params, err);
				rc = rc ? rc : dist_comm_sum_floats(r->comm, r->critic.grads, r->critic.n_params, err);
				rc = rc ? rc : dist_comm_sum_doubles(r->comm, x, 5, err);
				if (rc)
					break;
				st.pg_loss = x[0], st.v_loss = x[1], st.clip_frac = x[2], st.approx_kl = x[3], st.ratio_mean = x[4];
			}
			float gp = adamw_clip(r->pol.grads, r->pol.n_params, o->clip_grad);
			float gc = adamw_clip(r->critic.grads, r->critic.n_params, o->clip_grad);
			/* spike detection on the policy's gradient norm (its loss hovers around 0 by design) */
			int spike = 0;
			if (o->spike_k > 0 && r->spike_n >= o->spike_warmup &&
			    gp > r->spike_mean + o->spike_k * sqrt(r->spike_var > 0 ? r->spike_var : 0))
				spike = 1;
			if (spike) {
				spikes++;
				r->n_spikes++;
			} else {
				/* Welford-style running mean and variance of accepted norms */
				r->spike_n++;
				double d = gp - r->spike_mean;
				r->spike_mean += d / (double)r->spike_n;
				r->spike_var += (d * (gp - r->spike_mean) - r->spike_var) / (double)r->spike_n;
			}
			if (!(spike && o->skip_spikes)) {
				adamw_update(&r->opt_p, &r->pol, o->lr, &o->hp);
				adamw_update(&r->opt_c, &r->critic, o->critic_lr, &o->hp);
			}
			acc.pg_loss += st.pg_loss, acc.v_loss += st.v_loss, acc.clip_frac += st.clip_frac;
			acc.approx_kl += st.approx_kl, acc.ratio_mean += st.ratio_mean;
			gn_p += gp, gn_c += gc;
			steps++;
		}
	}
	double t4 = now_s();
	r->iter++;
	double ev_reward = NAN;
	if (rc == 0 && r->eval_ps && r->eval_every > 0 && r->iter % r->eval_every == 0) {
		rc = ppo_run_eval(r, r->eval_ps, &ev_reward, err);
		if (rc == 0 && ev_reward > r->eval_best) {
			r->eval_best = ev_reward;
			r->eval_bad = 0;
			if (r->best_dir[0] && r->rank == 0)   /* the ranks hold the same policy */
				rc = ckpt_save_model(r->best_dir, &r->pol, tok_identity(r->tok), tok_bos_id(r->tok), tok_eos_id(r->tok), err);
		} else if (rc == 0) {
			r->eval_bad++;
		}
		if (rc == 0 && r->patience > 0 && r->eval_bad >= r->patience)
			r->stop = 1;
	}
	if (rc == 0 && log) {
		double ns = steps ? (double)steps : 1;
		sp_buf *l = &r->line;
		sp_buf_reset(l);
		sp_buf_appendf(l, "{\"iteration\":%ld,\"reward\":%.6g", r->iter, mean_c / N);
		if (r->rs->has_h)
			sp_buf_appendf(l, ",\"reward_helpful\":%.6g", mean_h / N);
		if (r->rs->has_s)
			sp_buf_appendf(l, ",\"reward_safety\":%.6g", mean_s / N);
		sp_buf_appendf(l, ",\"kl\":%.6g,\"entropy\":%.6g,\"clip_frac\":%.6g,\"approx_kl\":%.6g,\"ratio\":%.6g,"
		               "\"pg_loss\":%.6g,\"value_loss\":%.6g,\"explained_variance\":%.6g,\"response_length\":%.6g,"
		               "\"no_eos\":%.6g,\"grad_norm\":%.6g,\"critic_grad_norm\":%.6g,\"spikes\":%ld,\"steps\":%ld,",
		               kl / N, ntok ? ent / (double)ntok : 0.0, acc.clip_frac / ns, acc.approx_kl / ns, acc.ratio_mean / ns,
		               acc.pg_loss / ns, acc.v_loss / ns, isnan(ev) ? 0.0 : ev, (double)gen_tokens / N, (double)no_eos / N,
		               gn_p / ns, gn_c / ns, spikes, steps);
		if (!isnan(ev_reward))
			sp_buf_appendf(l, "\"eval_reward\":%.6g,\"eval_best\":%.6g,", ev_reward, r->eval_best);
		sp_buf_appendf(l, "\"cursor\":{\"epoch\":%llu,\"index\":%llu},"
		               "\"time\":{\"generate\":%.4f,\"score\":%.4f,\"forward\":%.4f,\"train\":%.4f},\"tokens_per_s\":%.1f}",
		               (unsigned long long)r->epoch, (unsigned long long)r->index,
		               t1 - t0, t2 - t1, t3 - t2, t4 - t3, (double)gen_tokens / (t4 - t0 > 0 ? t4 - t0 : 1e-9));
		fprintf(log, "%s\n", l->p);
		fflush(log);
	}
	for (int i = 0; seqs && i < n; i++)
		tok_ids_release(&seqs[i]);
	sp_free(seqs), sp_free(sp), sp_free(rh), sp_free(rsf), sp_free(rcb), sp_free(safe), sp_free(wz), sp_free(rec);
	sp_free(order), sp_free(mb);
	sp_buf_release(&recs);
	return rc;
}
