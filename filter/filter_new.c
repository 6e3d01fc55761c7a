/* filter_new.c - building and freeing a `spindle filter` filter: the config copied, the language
 * list split, the URL block lists read from their files (domains, suffixes, patterns compiled with
 * PCRE2) and the PII patterns compiled; the per-thread scratch and the result's buffers. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "filter_int.h"
#include "spindle/io.h"
#include "spindle/mem.h"

static char *lower_dup(const char *s, size_t n)
{
	char *d = sp_malloc(n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	d[n] = 0;
	return d;
}

static int push_str(char ***list, size_t *n, char *s)
{
	char **x = sp_realloc(*list, (*n + 1) * sizeof *x);
	if (!x) {
		sp_free(s);
		return SP_ENOMEM;
	}
	*list = x;
	x[(*n)++] = s;
	return 0;
}

/* Reads a list file: one entry a line, '#' comments, blank lines ignored. */
static int load_list(const char *path, int lower, char ***list, size_t *n, sp_err *err)
{
	if (!path || !*path)
		return 0;
	sp_in *in = NULL;
	sp_buf line = SP_BUF_INIT;
	int rc = sp_in_open(&in, path, err);
	while (rc == 0 && (rc = sp_in_getline(in, &line, err)) == 1) {
		rc = 0;
		char *p = line.p;
		size_t len = line.len;
		while (len && isspace((unsigned char)*p)) { p++; len--; }
		while (len && isspace((unsigned char)p[len - 1])) len--;
		if (!len || *p == '#')
			continue;
		if (lower && *p == '.') { p++; len--; }
		char *d = lower ? lower_dup(p, len) : sp_malloc(len + 1);
		if (!d) { rc = SP_ENOMEM; break; }
		if (!lower) { memcpy(d, p, len); d[len] = 0; }
		rc = push_str(list, n, d);
	}
	sp_buf_release(&line);
	sp_in_free(in);
	if (rc == SP_ENOMEM)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	if (rc < 0)
		return rc;
	if (lower && *n)
		qsort(*list, *n, sizeof **list, filter_cmp_str);
	return 0;
}

int filter_new(filter **out, const filter_config *c, sp_err *err)
{
	*out = NULL;
	filter *f = sp_calloc(1, sizeof *f);
	if (!f)
		SP_RAISE(err, SP_ENOMEM, "out of memory");
	f->c = *c;
	f->c.url_field = f->c.block_domains = f->c.block_suffixes = f->c.block_patterns = f->c.lang_keep = NULL;
	int rc = 0;
	if (!(f->c.url_field = sp_strdup(c->url_field ? c->url_field : "")) ||
	    !(f->c.block_domains = sp_strdup(c->block_domains ? c->block_domains : "")) ||
	    !(f->c.block_suffixes = sp_strdup(c->block_suffixes ? c->block_suffixes : "")) ||
	    !(f->c.block_patterns = sp_strdup(c->block_patterns ? c->block_patterns : "")) ||
	    !(f->c.lang_keep = sp_strdup(c->lang_keep ? c->lang_keep : ""))) {
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
		goto fail;
	}
	/* language list */
	for (const char *p = f->c.lang_keep; *p;) {
		size_t k = strcspn(p, ", ");
		if (k == 1 && *p == '*')
			f->any_lang = 1;
		else if (k) {
			char *d = sp_malloc(k + 1);
			if (!d || push_str(&f->langs, &f->n_langs, d)) {
				rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
				goto fail;
			}
			memcpy(d, p, k);
			d[k] = 0;
		}
		p += k;
		p += strspn(p, ", ");
	}
	if (f->n_langs)
		qsort(f->langs, f->n_langs, sizeof *f->langs, filter_cmp_str);
	if (c->lang && !f->any_lang && !f->n_langs) {
		rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "config key 'lang.keep' is empty (use * to keep any language)");
		goto fail;
	}
	if ((rc = load_list(f->c.block_domains, 1, &f->domains, &f->n_domains, err)) < 0 ||
	    (rc = load_list(f->c.block_suffixes, 1, &f->suffixes, &f->n_suffixes, err)) < 0)
		goto fail;
	char **pats = NULL;
	size_t n_pats = 0;
	if ((rc = load_list(f->c.block_patterns, 0, &pats, &n_pats, err)) < 0)
		goto fail;
	if (n_pats && !(f->url_re = sp_calloc(n_pats, sizeof *f->url_re)))
		rc = sp_err_set_(err, SP_ENOMEM, __FILE__, __LINE__, "out of memory");
	for (size_t i = 0; rc == 0 && i < n_pats; i++) {
		int ec;
		PCRE2_SIZE eo;
		f->url_re[i] = pcre2_compile((PCRE2_SPTR)pats[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
		if (!f->url_re[i]) {
			PCRE2_UCHAR msg[200];
			pcre2_get_error_message(ec, msg, sizeof msg);
			rc = sp_err_set_(err, SP_EUSAGE, __FILE__, __LINE__, "%s: pattern %zu '%s': %s at offset %zu",
			                 f->c.block_patterns, i + 1, pats[i], (char *)msg, (size_t)eo);
		} else {
			pcre2_jit_compile(f->url_re[i], PCRE2_JIT_COMPLETE);
			f->n_url_re++;
		}
	}
	for (size_t i = 0; i < n_pats; i++)
		sp_free(pats[i]);
	sp_free(pats);
	if (rc < 0)
		goto fail;
	if ((rc = filter_pii_compile(f, err)) < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	filter_free(f);
	return rc;
}

void filter_free(filter *f)
{
	if (!f)
		return;
	for (int i = 0; i < FILTER_PII_N; i++)
		pcre2_code_free(f->pii_re[i]);
	for (size_t i = 0; i < f->n_url_re; i++)
		pcre2_code_free(f->url_re[i]);
	sp_free(f->url_re);
	for (size_t i = 0; i < f->n_domains; i++) sp_free(f->domains[i]);
	for (size_t i = 0; i < f->n_suffixes; i++) sp_free(f->suffixes[i]);
	for (size_t i = 0; i < f->n_langs; i++) sp_free(f->langs[i]);
	sp_free(f->domains); sp_free(f->suffixes); sp_free(f->langs);
	filter_config_release(&f->c);
	sp_free(f);
}

const filter_config *filter_get_config(const filter *f) { return &f->c; }

filter_scratch *filter_scratch_new(const filter *f)
{
	(void)f;
	filter_scratch *s = sp_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->md = pcre2_match_data_create(32, NULL);
	if (!s->md) {
		sp_free(s);
		return NULL;
	}
	return s;
}

void filter_scratch_free(filter_scratch *s)
{
	if (!s)
		return;
	sp_buf_release(&s->clean); sp_buf_release(&s->c4); sp_buf_release(&s->lower); sp_buf_release(&s->redact);
	sp_free(s->w); sp_free(s->l); sp_free(s->gh); sp_free(s->mark); sp_free(s->cand); sp_free(s->cslot);
	filter_ht_release(&s->ht);
	pcre2_match_data_free(s->md);
	sp_free(s);
}

void filter_result_release(filter_result *r)
{
	sp_buf_release(&r->signals);
	sp_free(r->pii);
	r->pii = NULL;
	r->n_pii = r->cap_pii = 0;
}
