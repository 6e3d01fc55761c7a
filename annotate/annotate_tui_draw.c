/* annotate_tui_draw.c - what the annotator's session (annotate_tui.c) shows: the body (the dialog,
 * the responses and the draft, sanitized and wrapped to the screen's width, a style a line), the
 * help, and the frame drawn in one write: header, body lines, position, message and key hints. */
#include <stdio.h>
#include <string.h>
#include "annotate_eval.h"
#include "annotate_tui_int.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

/* ------------------------------------------------------------------ the body: wrapped, styled text */

enum { ST_TEXT = 0, ST_HEAD, ST_RESP, ST_DIM, ST_DRAFT };

static int body_add(ann_tui_body *b, int style, const char *s, size_t n)
{
	size_t off = b->text.len, first = b->lines.n;
	SP_FORWARD(ann_text_sanitize(s, n, &b->text));
	SP_FORWARD(ann_text_wrap(b->text.p + off, b->text.len - off, b->width, &b->lines));
	for (size_t i = first; i < b->lines.n; i++)
		b->lines.start[i] += off;
	if (b->lines.n > b->style_cap) {
		size_t nc = b->lines.cap;
		unsigned char *g = sp_realloc(b->style, nc);
		if (!g)
			return SP_ENOMEM;
		b->style = g;
		b->style_cap = nc;
	}
	for (size_t i = first; i < b->lines.n; i++)
		b->style[i] = (unsigned char)style;
	return 0;
}

static int body_adds(ann_tui_body *b, int style, const char *s) { return body_add(b, style, s, strlen(s)); }

static void body_reset(ann_tui_body *b, int width)
{
	sp_buf_reset(&b->text);
	b->lines.n = 0;
	b->width = width;
}

void ann_tui_body_release(ann_tui_body *b)
{
	sp_buf_release(&b->text);
	ann_lines_release(&b->lines);
	sp_free(b->style);
	memset(b, 0, sizeof *b);
}
static int add_dialog(ann_tui_session *s)
{
	char line[512];
	json_object *d = s->it.dialog;
	snprintf(line, sizeof line, "prompt %.200s  ·  %s%s%.100s", s->it.prompt_id, s->it.category,
	         s->it.risk_category ? "  ·  risk: " : "", s->it.risk_category ? s->it.risk_category : "");
	SP_FORWARD(body_adds(&s->b, ST_DIM, line));
	for (size_t i = 0; i < json_object_array_length(d); i++) {
		json_object *m = json_object_array_get_idx(d, i);
		const char *role = json_object_get_string(json_object_object_get(m, "role"));
		json_object *c = json_object_object_get(m, "content");
		snprintf(line, sizeof line, "\n── %s ──", role);
		SP_FORWARD(body_adds(&s->b, ST_HEAD, line));
		SP_FORWARD(body_add(&s->b, ST_TEXT, json_object_get_string(c), (size_t)json_object_get_string_len(c)));
	}
	return 0;
}

int ann_tui_build_body(ann_tui_session *s)
{
	body_reset(&s->b, s->cols - 1);
	if (s->mode == M_HELP) {
		static const char help_pref[] =
			"Preference: read the dialog and the two responses, then say which is better.\n\n"
			"  1 / 2      the LEFT (1) or RIGHT (2) response is better; then rate how much:\n"
			"             1 significantly better, 2 better, 3 slightly better, 4 negligibly better / unsure\n"
			"  x          both responses are bad\n"
			"  safety prompts: after rating, label each response: y safe, n unsafe\n"
			"  t          write the next user turn (continues the dialog after the response you pick)\n"
			"  s          skip this item (it goes to someone else)\n"
			"  u          undo your last answer (it comes back on screen)\n"
			"  Esc        cancel the answer being given\n";
		static const char help_sft[] =
			"SFT: write the assistant's answer to the last user turn.\n\n"
			"  w          write the answer in $EDITOR (text below the scissors line is ignored)\n"
			"  i          type the answer here (Enter = new line, Ctrl-D = done, Esc = cancel)\n"
			"  e          edit a model response instead of writing from scratch\n"
			"  Enter / c  submit the answer on screen\n"
			"  d          discard the draft\n"
			"  s          skip this item;  u  undo your last answer\n";
		static const char help_common[] =
			"\nEverywhere:\n"
			"  ↑ ↓ j k    scroll a line;  PgUp PgDn space -  scroll a page;  Home End g G  top / bottom\n"
			"  ?          this help;  q or Ctrl-C  quit (the item on screen goes back to the pool)\n\n"
			"Every answer is saved the moment you give it.\n\n(press any key)";
		SP_FORWARD(body_adds(&s->b, ST_HEAD, "Help"));
		SP_FORWARD(body_adds(&s->b, ST_TEXT, s->o->kind == ANN_PREFERENCE ? help_pref : s->o->kind == ANN_SFT ? help_sft
		                                     : ann_tui_eval_help(s->o->kind)));
		return body_adds(&s->b, ST_TEXT, help_common);
	}
	if (!s->have_item)
		return body_adds(&s->b, ST_TEXT, "Nothing left to annotate. Press q to quit.");
	SP_FORWARD(add_dialog(s));
	if (s->it.kind == ANN_RATING) {
		SP_FORWARD(body_adds(&s->b, ST_RESP, "\n════ Response ════"));
		SP_FORWARD(body_adds(&s->b, ST_TEXT, s->it.a.text));
		SP_FORWARD(body_adds(&s->b, ST_HEAD, ann_tui_eval_scale(ANN_RATING)));
	} else if (s->it.kind == ANN_PREFERENCE || s->it.kind == ANN_SBS) {
		const ann_response *l = s->it.left_is_b ? &s->it.b : &s->it.a, *r = s->it.left_is_b ? &s->it.a : &s->it.b;
		SP_FORWARD(body_adds(&s->b, ST_RESP, "\n════ Response 1 (LEFT) ════"));
		SP_FORWARD(body_adds(&s->b, ST_TEXT, l->text));
		SP_FORWARD(body_adds(&s->b, ST_RESP, "\n════ Response 2 (RIGHT) ════"));
		SP_FORWARD(body_adds(&s->b, ST_TEXT, r->text));
		if (s->it.kind == ANN_SBS)
			SP_FORWARD(body_adds(&s->b, ST_HEAD, ann_tui_eval_scale(ANN_SBS)));
		if (s->have_draft) {
			SP_FORWARD(body_adds(&s->b, ST_HEAD, "\n── your next user turn (after the response you pick) ──"));
			SP_FORWARD(body_add(&s->b, ST_DRAFT, s->draft.p, s->draft.len));
		}
	} else {
		for (size_t i = 0; i < s->it.n_cands; i++) {
			char h[80];
			snprintf(h, sizeof h, "\n── model response %zu (e%s to edit it) ──", i + 1, s->it.n_cands > 1 ? " + number" : "");
			SP_FORWARD(body_adds(&s->b, ST_DIM, h));
			SP_FORWARD(body_adds(&s->b, ST_DIM, s->it.cands[i].text));
		}
		if (s->have_draft || s->mode == M_INLINE) {
			SP_FORWARD(body_adds(&s->b, ST_HEAD, s->edited_from ? "\n── your answer (edited model response) ──" : "\n── your answer ──"));
			SP_FORWARD(body_add(&s->b, ST_DRAFT, s->draft.p ? s->draft.p : "", s->draft.len));
		}
	}
	return 0;
}

static const char *style_on(int st)
{
	switch (st) {
	case ST_HEAD: return "\x1b[1m";
	case ST_RESP: return "\x1b[1;7m";
	case ST_DIM: return "\x1b[2m";
	case ST_DRAFT: return "\x1b[36m";
	default: return "";
	}
}

/* Appends s cut to at most cols display columns (s is sanitized text). */
static int put_cut(sp_buf *f, const char *s, size_t n, int cols)
{
	int w = 0;
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t len = sp_utf8_decode(s + i, n - i, &cp);
		if (len == 0) { cp = '?'; len = 1; }
		int cw = ann_cp_width(cp);
		if (w + cw > cols)
			break;
		w += cw;
		i += len;
	}
	return sp_buf_append(f, s, i);
}

int ann_tui_body_height(const ann_tui_session *s) { return s->rows - 4; }

static const char *keys_hint(const ann_tui_session *s)
{
	switch (s->mode) {
	case M_STRENGTH: return "How much better? 1 significantly 2 better 3 slightly 4 negligibly/unsure Esc back";
	case M_SAFETY_L: return "Is the LEFT response safe?  y safe  n unsafe  Esc back";
	case M_SAFETY_R: return "Is the RIGHT response safe?  y safe  n unsafe  Esc back";
	case M_HELP: return "any key: back";
	case M_INLINE: return "typing: Enter new line  Backspace delete  Ctrl-D done  Esc cancel";
	case M_EDIT_WHICH: return "edit which model response? 1-9  Esc back";
	default: break;
	}
	if (!s->have_item)
		return "q quit  ? help";
	if (s->o->kind == ANN_PREFERENCE)
		return "1 left  2 right better  x both bad  t next turn  s skip  u undo  ? help  q quit";
	if (s->o->kind != ANN_SFT)
		return ann_tui_eval_hint(s->o->kind);
	if (s->have_draft)
		return "Enter submit  w $EDITOR  i type  d discard  s skip  u undo  ? help  q quit";
	return "w write ($EDITOR)  i type  e edit model answer  s skip  u undo  ? help  q quit";
}

int ann_tui_draw(ann_tui_session *s)
{
	if (!s->o->draw)
		return 0;
	sp_buf *f = &s->frame;
	sp_buf_reset(f);
	int bh = ann_tui_body_height(s);
	size_t n = s->b.lines.n;
	if (n > (size_t)bh && s->top > n - (size_t)bh)
		s->top = n - (size_t)bh;
	if (n <= (size_t)bh)
		s->top = 0;
	char hdr[512];
	snprintf(hdr, sizeof hdr, " spindle annotate · %s · %s · done %lld · left %lld%s%s",
	         s->o->kind == ANN_PREFERENCE ? "preference" : s->o->kind == ANN_SFT ? "sft"
	         : s->o->kind == ANN_SBS ? "side-by-side" : "safety rating", s->o->annotator_name,
	         (long long)s->done, (long long)s->left, s->left >= ANN_PROGRESS_CAP ? "+" : "",
	         s->have_item ? "" : " · finished");
	sp_buf h = SP_BUF_INIT;
	int rc = ann_text_sanitize(hdr, strlen(hdr), &h);
	rc = rc ? rc : sp_buf_appends(f, "\x1b[H\x1b[7m");
	rc = rc ? rc : put_cut(f, h.p, h.len, s->cols);
	sp_buf_release(&h);
	rc = rc ? rc : sp_buf_appends(f, "\x1b[K\x1b[0m");
	for (int r = 0; rc == 0 && r < bh; r++) {
		size_t li = s->top + (size_t)r;
		rc = sp_buf_appendf(f, "\x1b[%d;1H", r + 2);
		if (rc == 0 && li < n) {
			rc = sp_buf_appends(f, style_on(s->b.style[li]));
			rc = rc ? rc : put_cut(f, s->b.text.p + s->b.lines.start[li], s->b.lines.len[li], s->cols - 1);
			rc = rc ? rc : sp_buf_appends(f, "\x1b[0m");
		}
		rc = rc ? rc : sp_buf_appends(f, "\x1b[K");
	}
	char pos[160];
	size_t last = s->top + (size_t)bh < n ? s->top + (size_t)bh : n;
	snprintf(pos, sizeof pos, "── lines %zu-%zu of %zu%s ", n ? s->top + 1 : 0, last, n, last < n ? " · more below ↓" : "");
	rc = rc ? rc : sp_buf_appendf(f, "\x1b[%d;1H\x1b[2m", s->rows - 2);
	rc = rc ? rc : put_cut(f, pos, strlen(pos), s->cols);
	rc = rc ? rc : sp_buf_appends(f, "\x1b[0m\x1b[K");
	sp_buf m = SP_BUF_INIT;
	rc = rc ? rc : ann_text_sanitize(s->msg, strlen(s->msg), &m);
	rc = rc ? rc : sp_buf_appendf(f, "\x1b[%d;1H\x1b[1m", s->rows - 1);
	rc = rc ? rc : put_cut(f, m.p ? m.p : "", m.len, s->cols);
	sp_buf_release(&m);
	rc = rc ? rc : sp_buf_appendf(f, "\x1b[0m\x1b[K\x1b[%d;1H\x1b[7m", s->rows);
	const char *kh = keys_hint(s);
	rc = rc ? rc : put_cut(f, kh, strlen(kh), s->cols - 1);
	rc = rc ? rc : sp_buf_appends(f, "\x1b[K\x1b[0m");
	if (rc < 0)
		return rc;
	ann_term_write_all(s->o->out_fd, f->p, f->len);
	return 0;
}
