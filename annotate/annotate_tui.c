/* annotate_tui.c - the annotator's terminal session: plain ANSI escape sequences and termios (no
 * curses), one item at a time, keyboard only, any size from 80x24 up (smaller works, cramped).
 * Every text from the database goes through ann_text_sanitize before it reaches the terminal.
 * Long answers and next user turns are written in $EDITOR, as git does for commit messages.
 * Each answer is committed by annotate_task.c before the next item is leased. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include "annotate.h"
#include "annotate_eval.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

/* ------------------------------------------------------------------ terminal */

static struct termios saved_tio;
static int tty_fd = -1, screen_fd = -1, raw_on = 0;
static volatile sig_atomic_t winch = 0;

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

#define LEAVE_SCREEN "\x1b[0m\x1b[?25h\x1b[?1049l"

static void raw_leave(void)
{
	if (!raw_on)
		return;
	if (screen_fd >= 0)
		write_all(screen_fd, LEAVE_SCREEN, sizeof LEAVE_SCREEN - 1);
	tcsetattr(tty_fd, TCSAFLUSH, &saved_tio);
	raw_on = 0;
}

static int raw_enter(void)
{
	if (tty_fd < 0)
		return 0;
	struct termios t = saved_tio;
	t.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_cflag |= CS8;
	t.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(tty_fd, TCSAFLUSH, &t) != 0)
		return -1;
	raw_on = 1;
	if (screen_fd >= 0)
		write_all(screen_fd, "\x1b[?1049h\x1b[?25l", 14);
	return 0;
}

static void on_fatal_signal(int sig)
{
	/* Async-signal-safe: write() and tcsetattr() only. The lease of the item on screen stays
	 * and expires; every answer before it is already committed. */
	raw_leave();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_winch(int sig) { (void)sig; winch = 1; }

static void screen_size(int fd, int *rows, int *cols)
{
	struct winsize ws;
	*rows = 24;
	*cols = 80;
	if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
	if (*rows < 6) *rows = 6;
	if (*cols < 20) *cols = 20;
}

/* ------------------------------------------------------------------ keys */

enum { K_EOF = -1, K_UP = 1000, K_DOWN, K_PGUP, K_PGDN, K_HOME, K_END, K_LEFT, K_RIGHT, K_WINCH };
#define K_ESC 27
#define K_CTRL(c) ((c) & 0x1f)

typedef struct keyin { int fd; unsigned char push[16]; int n_push; size_t n_read; } keyin;

static int rd_byte(keyin *k, int timeout_ms)
{
	if (k->n_push > 0) {
		int c = k->push[0];
		memmove(k->push, k->push + 1, (size_t)--k->n_push);
		return c;
	}
	if (timeout_ms >= 0) {
		struct pollfd p = { k->fd, POLLIN, 0 };
		int r = poll(&p, 1, timeout_ms);
		if (r <= 0)
			return -2; /* timeout */
	}
	unsigned char c;
	for (;;) {
		ssize_t r = read(k->fd, &c, 1);
		if (r == 1) {
			k->n_read++;
			return c;
		}
		if (r < 0 && errno == EINTR) {
			if (winch)
				return -3;
			continue;
		}
		return K_EOF;
	}
}

static void unread(keyin *k, int c)
{
	if (c >= 0 && k->n_push < (int)sizeof k->push)
		k->push[k->n_push++] = (unsigned char)c;
}

static int read_key(keyin *k)
{
	int c = rd_byte(k, -1);
	if (c == -3)
		return K_WINCH;
	if (c != K_ESC)
		return c;
	int c2 = rd_byte(k, 50);
	if (c2 != '[' && c2 != 'O') {
		unread(k, c2 < 0 ? -1 : c2);
		return K_ESC;
	}
	int c3 = rd_byte(k, 50);
	switch (c3) {
	case 'A': return K_UP;
	case 'B': return K_DOWN;
	case 'C': return K_RIGHT;
	case 'D': return K_LEFT;
	case 'H': return K_HOME;
	case 'F': return K_END;
	default: break;
	}
	if (c3 >= '0' && c3 <= '9') {
		int num = c3 - '0', c4;
		while ((c4 = rd_byte(k, 50)) >= '0' && c4 <= '9')
			num = num * 10 + (c4 - '0');
		if (c4 == '~') {
			switch (num) {
			case 1: case 7: return K_HOME;
			case 4: case 8: return K_END;
			case 5: return K_PGUP;
			case 6: return K_PGDN;
			default: return 0;
			}
		}
		/* Unknown sequence: drop the rest of it. */
		while (c4 >= 0 && !(c4 >= 0x40 && c4 <= 0x7e))
			c4 = rd_byte(k, 50);
		return 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ the body: wrapped, styled text */

enum { ST_TEXT = 0, ST_HEAD, ST_RESP, ST_DIM, ST_DRAFT };

typedef struct body {
	sp_buf text;              /* sanitized text of every segment, back to back */
	ann_lines lines;          /* wrapped lines into text */
	unsigned char *style;     /* per line */
	size_t style_cap;
	int width;
} body;

static int body_add(body *b, int style, const char *s, size_t n)
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

static int body_adds(body *b, int style, const char *s) { return body_add(b, style, s, strlen(s)); }

static void body_reset(body *b, int width)
{
	sp_buf_reset(&b->text);
	b->lines.n = 0;
	b->width = width;
}

static void body_release(body *b)
{
	sp_buf_release(&b->text);
	ann_lines_release(&b->lines);
	sp_free(b->style);
	memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------ session state */

enum { M_PICK, M_STRENGTH, M_SAFETY_L, M_SAFETY_R, M_HELP, M_INLINE, M_EDIT_WHICH, M_DONE };

typedef struct session {
	ann_db *db;
	const ann_session_opts *o;
	ann_session_result *res;
	ann_item it;
	int have_item;
	int mode;
	body b;
	size_t top;               /* first body line shown */
	int rows, cols;
	int dirty;                /* body must be rebuilt */
	int64_t done, left;
	char msg[640];
	/* the answer being built */
	ann_pref_answer ans;
	int choice_shown;         /* 1 left, 2 right, 3 both bad */
	sp_buf draft;             /* sft answer or next user turn */
	int have_draft;
	char *edited_from;
	int64_t *undo;            /* this session's answers, newest last */
	size_t n_undo, cap_undo;
	sp_buf frame;
	keyin k;
	sp_err *err;
} session;


static void set_msg(session *s, const char *m) { snprintf(s->msg, sizeof s->msg, "%s", m); }

static int add_dialog(session *s)
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

static int build_body(session *s)
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

static int body_height(const session *s) { return s->rows - 4; }

static const char *keys_hint(const session *s)
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

static int draw(session *s)
{
	if (!s->o->draw)
		return 0;
	sp_buf *f = &s->frame;
	sp_buf_reset(f);
	int bh = body_height(s);
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
	write_all(s->o->out_fd, f->p, f->len);
	return 0;
}

/* ------------------------------------------------------------------ editor */

#define SCISSORS "# ------------------------ >8 ------------------------"

/* Opens the editor on initial text with the dialog below a scissors line; reads back what is
 * above it (trailing blank space trimmed) into out. Returns 1 if out is non-empty, 0 if empty. */
static int run_editor(session *s, const char *initial, size_t n_initial, const char *what, sp_buf *out)
{
	char path[] = "/tmp/spindle-annotate-XXXXXX.txt";
	const char *tmpdir = getenv("TMPDIR");
	char pbuf[512];
	if (tmpdir && *tmpdir && strlen(tmpdir) < 400) {
		snprintf(pbuf, sizeof pbuf, "%s/spindle-annotate-XXXXXX.txt", tmpdir);
	} else {
		snprintf(pbuf, sizeof pbuf, "%s", path);
	}
	int fd = mkstemps(pbuf, 4);
	if (fd < 0) {
		set_msg(s, "cannot create a temporary file for the editor");
		return -1;
	}
	sp_buf t = SP_BUF_INIT;
	sp_buf_append(&t, initial, n_initial);
	if (n_initial && initial[n_initial - 1] != '\n')
		sp_buf_appendc(&t, '\n');
	sp_buf_appendf(&t, "%s\n# Write %s above this line; everything below it is ignored.\n"
	                   "# Save and quit to use it; leave it empty to cancel.\n#\n", SCISSORS, what);
	json_object *d = s->it.dialog;
	for (size_t i = 0; d && i < json_object_array_length(d); i++) {
		json_object *m = json_object_array_get_idx(d, i);
		sp_buf_appendf(&t, "# [%s]\n", json_object_get_string(json_object_object_get(m, "role")));
		const char *c = json_object_get_string(json_object_object_get(m, "content"));
		size_t cl = strlen(c);
		if (cl > 20000) cl = 20000;
		sp_buf_appends(&t, "# ");
		for (size_t j = 0; j < cl; j++) {
			sp_buf_appendc(&t, c[j]);
			if (c[j] == '\n')
				sp_buf_appends(&t, "# ");
		}
		sp_buf_appendc(&t, '\n');
	}
	write_all(fd, t.p ? t.p : "", t.len);
	close(fd);
	sp_buf_release(&t);

	/* As git does: the editor setting is shell text, the file its argument. */
	sp_buf cmd = SP_BUF_INIT;
	sp_buf_appendf(&cmd, "%s \"$@\"", s->o->editor && *s->o->editor ? s->o->editor : "vi");
	raw_leave();
	pid_t pid = cmd.p ? fork() : -1;
	if (pid == 0) {
		if (s->o->in_fd != STDIN_FILENO && tty_fd < 0) {
			int nul = open("/dev/null", O_RDONLY);
			if (nul >= 0) dup2(nul, STDIN_FILENO);
		}
		execl("/bin/sh", "sh", "-c", cmd.p, "sh", pbuf, (char *)NULL);
		_exit(127);
	}
	sp_buf_release(&cmd);
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	raw_enter();
	s->dirty = 1;
	int ret = 0;
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		set_msg(s, "the editor failed; nothing changed");
		ret = -1;
	} else {
		sp_buf got = SP_BUF_INIT;
		sp_err e = SP_ERR_INIT;
		if (sp_read_file(pbuf, &got, &e) < 0) {
			set_msg(s, "cannot read the editor's file back");
			ret = -1;
		} else {
			size_t len = got.len;
			const char *cut = got.p ? strstr(got.p, SCISSORS) : NULL;
			if (cut) {
				len = (size_t)(cut - got.p);
			} else {
				/* No scissors: drop trailing '#' comment lines only. */
			}
			while (len > 0 && (got.p[len - 1] == '\n' || got.p[len - 1] == ' ' || got.p[len - 1] == '\t' || got.p[len - 1] == '\r'))
				len--;
			size_t bad;
			if (len && !sp_utf8_valid(got.p, len, &bad)) {
				set_msg(s, "the text is not valid UTF-8; nothing changed");
				ret = -1;
			} else {
				sp_buf_reset(out);
				sp_buf_append(out, got.p ? got.p : "", len);
				ret = len > 0;
			}
		}
		sp_buf_release(&got);
	}
	unlink(pbuf);
	return ret;
}

/* ------------------------------------------------------------------ actions */

static void clear_answer(session *s)
{
	memset(&s->ans, 0, sizeof s->ans);
	s->choice_shown = 0;
	sp_buf_reset(&s->draft);
	s->have_draft = 0;
	sp_free(s->edited_from);
	s->edited_from = NULL;
}

static int refresh_progress(session *s)
{
	return ann_progress_in(s->db, s->o->annotator, s->o->kind, s->o->eval_id, &s->done, &s->left, s->err);
}

static int next_item(session *s)
{
	clear_answer(s);
	ann_item_release(&s->it);
	s->have_item = 0;
	s->top = 0;
	s->dirty = 1;
	s->mode = M_PICK;
	if (s->o->max_items > 0 && s->res->answered >= s->o->max_items) {
		s->mode = M_DONE;
		return 0;
	}
	int rc = ann_lease_next_in(s->db, s->o->annotator, s->o->kind, s->o->eval_id, &s->it, s->err);
	if (rc < 0)
		return rc;
	s->have_item = rc == 1;
	return refresh_progress(s);
}

static int push_undo(session *s, int64_t id)
{
	if (s->n_undo == s->cap_undo) {
		size_t nc = s->cap_undo ? s->cap_undo * 2 : 16;
		int64_t *g = sp_realloc(s->undo, nc * sizeof *g);
		if (!g)
			return SP_ENOMEM;
		s->undo = g;
		s->cap_undo = nc;
	}
	s->undo[s->n_undo++] = id;
	return 0;
}

/* After an answer call: a lost lease is not fatal (the item went to others); other errors are. */
static int after_answer(session *s, int rc, int64_t id)
{
	if (rc == SP_ENOTFOUND) {
		s->res->lost_leases++;
		set_msg(s, s->err->msg);
		return next_item(s);
	}
	if (rc == SP_EDATA) {
		set_msg(s, s->err->msg);
		return 0;
	}
	if (rc < 0)
		return rc;
	s->res->answered++;
	SP_FORWARD(push_undo(s, id));
	char m[128];
	snprintf(m, sizeof m, "saved answer #%lld", (long long)id);
	set_msg(s, m);
	return next_item(s);
}

static int commit_pref(session *s)
{
	int64_t id = 0;
	char *np = NULL;
	s->ans.next_turn = s->have_draft ? s->draft.p : NULL;
	int rc = ann_answer_preference(s->db, &s->it, &s->ans, &id, &np, s->err);
	rc = after_answer(s, rc, id);
	if (rc == 0 && np) {
		char m[300];
		snprintf(m, sizeof m, "saved answer #%lld; the next turn is new prompt %.200s", (long long)id, np);
		set_msg(s, m);
	}
	sp_free(np);
	return rc;
}

static int commit_sft(session *s)
{
	int64_t id = 0;
	ann_sft_answer a = { s->draft.p, s->edited_from };
	return after_answer(s, ann_answer_sft(s->db, &s->it, &a, &id, s->err), id);
}

static int do_undo(session *s)
{
	if (s->n_undo == 0) {
		set_msg(s, "nothing to undo in this session");
		return 0;
	}
	int64_t id = s->undo[s->n_undo - 1];
	ann_item it = ANN_ITEM_INIT;
	int rc = ann_undo(s->db, s->o->annotator, id, s->have_item ? &s->it : NULL, &it, s->err);
	if (rc == SP_ENOTFOUND) {
		s->n_undo--;
		set_msg(s, s->err->msg);
		return 0;
	}
	if (rc < 0)
		return rc;
	s->n_undo--;
	s->res->undone++;
	s->res->answered--;
	clear_answer(s);
	ann_item_release(&s->it);
	s->it = it;
	s->have_item = 1;
	s->mode = M_PICK;
	s->top = 0;
	s->dirty = 1;
	char m[128];
	snprintf(m, sizeof m, "undid answer #%lld: answer this item again", (long long)id);
	set_msg(s, m);
	return refresh_progress(s);
}

static void scroll(session *s, long by)
{
	long bh = body_height(s);
	long max = (long)s->b.lines.n - bh;
	if (max < 0)
		max = 0;
	long t = (long)s->top + by;
	if (t < 0) t = 0;
	if (t > max) t = max;
	s->top = (size_t)t;
}

static int scroll_key(session *s, int key)
{
	long page = body_height(s) > 2 ? body_height(s) - 1 : 1;
	switch (key) {
	case K_UP: case 'k': scroll(s, -1); return 1;
	case K_DOWN: case 'j': scroll(s, 1); return 1;
	case K_PGUP: case '-': case K_CTRL('b'): scroll(s, -page); return 1;
	case K_PGDN: case ' ': case K_CTRL('f'): scroll(s, page); return 1;
	case K_HOME: case 'g': s->top = 0; return 1;
	case K_END: case 'G': scroll(s, (long)s->b.lines.n); return 1;
	default: return 0;
	}
}

static int key_pick_pref(session *s, int key)
{
	switch (key) {
	case '1': case '2':
		s->choice_shown = key - '0';
		/* Shown left = 1. Translate to stored a/b. */
		s->ans.choice = ((key == '1') != s->it.left_is_b) ? ANN_CHOICE_A : ANN_CHOICE_B;
		s->mode = M_STRENGTH;
		set_msg(s, key == '1' ? "LEFT is better" : "RIGHT is better");
		return 0;
	case 'x':
		s->choice_shown = 3;
		s->ans.choice = ANN_CHOICE_BOTH_BAD;
		s->ans.level = -1;
		if (strcmp(s->it.category, "safety") == 0) {
			s->mode = M_SAFETY_L;
			set_msg(s, "both bad");
			return 0;
		}
		return commit_pref(s);
	case 't': {
		int r = run_editor(s, s->draft.p ? s->draft.p : "", s->draft.len, "the next USER turn", &s->draft);
		if (r >= 0)
			s->have_draft = r == 1;
		s->dirty = 1;
		return 0;
	}
	default:
		return 0;
	}
}

static int key_pref_answer(session *s, int key)
{
	if (key == K_ESC) {
		s->mode = M_PICK;
		s->ans.choice = 0;
		set_msg(s, "cancelled");
		return 0;
	}
	if (s->mode == M_STRENGTH && key >= '1' && key <= '4') {
		s->ans.level = 3 - (key - '1');
		if (strcmp(s->it.category, "safety") == 0) {
			s->mode = M_SAFETY_L;
			return 0;
		}
		return commit_pref(s);
	}
	if ((s->mode == M_SAFETY_L || s->mode == M_SAFETY_R) && (key == 'y' || key == 'n')) {
		int v = key == 'y' ? ANN_SAFE : ANN_UNSAFE;
		int is_a = (s->mode == M_SAFETY_L) != s->it.left_is_b;
		if (is_a)
			s->ans.safety_a = v;
		else
			s->ans.safety_b = v;
		if (s->mode == M_SAFETY_L) {
			s->mode = M_SAFETY_R;
			return 0;
		}
		return commit_pref(s);
	}
	return 0;
}

/* Evaluation items: one key gives the answer. A digit off the scale is ignored on a terminal and
 * refused from a keys file (a script with a bad rating must not pass silently). */
static int key_eval(session *s, int key)
{
	int max = s->it.kind == ANN_SBS ? 7 : 5;
	if (key < '0' || key > '9')
		return 0;
	if (key < '1' || key > '0' + max) {
		if (tty_fd < 0)
			SP_RAISE(s->err, SP_EDATA, "keys: byte %zu: '%c' is not on the 1-%d scale", s->k.n_read, key, max);
		set_msg(s, s->it.kind == ANN_SBS ? "the scale is 1 to 7" : "the scale is 1 to 5");
		return 0;
	}
	int v = s->it.kind == ANN_SBS ? ann_sbs_score_from_key(key - '0', s->it.left_is_b) : key - '0';
	int64_t id = 0;
	int rc = ann_answer_eval(s->db, &s->it, v, &id, s->err);
	return after_answer(s, rc, id);
}

static int key_sft(session *s, int key)
{
	switch (key) {
	case 'w': {
		int r = run_editor(s, s->draft.p ? s->draft.p : "", s->draft.len, "the ASSISTANT's answer", &s->draft);
		if (r >= 0)
			s->have_draft = r == 1;
		return 0;
	}
	case 'i':
		s->mode = M_INLINE;
		s->dirty = 1;
		return 0;
	case 'e':
		if (s->it.n_cands == 0) {
			set_msg(s, "no model response to edit for this prompt");
			return 0;
		}
		if (s->it.n_cands == 1)
			return key_sft(s, 0x100 + 1);
		s->mode = M_EDIT_WHICH;
		return 0;
	case '\r': case '\n': case 'c':
		if (!s->have_draft) {
			set_msg(s, "no answer yet: w to write one");
			return 0;
		}
		return commit_sft(s);
	case 'd':
		clear_answer(s);
		s->dirty = 1;
		set_msg(s, "draft discarded");
		return 0;
	default:
		if (key > 0x100 && key <= 0x100 + (int)s->it.n_cands) {
			const ann_response *r = &s->it.cands[key - 0x101];
			sp_buf tmp = SP_BUF_INIT;
			int got = run_editor(s, r->text, strlen(r->text), "the ASSISTANT's answer (edit the model's response)", &tmp);
			if (got == 1) {
				sp_buf_reset(&s->draft);
				sp_buf_append(&s->draft, tmp.p, tmp.len);
				s->have_draft = 1;
				sp_free(s->edited_from);
				s->edited_from = sp_strdup(r->id);
			}
			sp_buf_release(&tmp);
			s->mode = M_PICK;
			s->dirty = 1;
		}
		return 0;
	}
}

static void key_inline(session *s, int key)
{
	if (key == K_ESC) {
		s->mode = M_PICK;
		clear_answer(s);
		set_msg(s, "typing cancelled");
	} else if (key == K_CTRL('d')) {
		s->mode = M_PICK;
		size_t bad;
		if (s->draft.len && !sp_utf8_valid(s->draft.p, s->draft.len, &bad)) {
			set_msg(s, "the text is not valid UTF-8");
			clear_answer(s);
		} else {
			s->have_draft = s->draft.len > 0;
		}
	} else if (key == 127 || key == 8) {
		while (s->draft.len > 0) {
			unsigned char c = (unsigned char)s->draft.p[--s->draft.len];
			if ((c & 0xC0) != 0x80)
				break;
		}
		if (s->draft.p)
			s->draft.p[s->draft.len] = 0;
	} else if (key == '\r' || key == '\n') {
		sp_buf_appendc(&s->draft, '\n');
	} else if (key >= 0x20 && key < 0x100 && key != 0x7f) {
		sp_buf_appendc(&s->draft, (char)key);
	}
	s->dirty = 1;
	scroll(s, (long)s->b.lines.n);
}

static int handle_key(session *s, int key)
{
	if (key == K_EOF) {
		s->mode = M_DONE;
		return 0;
	}
	if (s->mode == M_HELP) {
		s->mode = M_PICK;
		s->dirty = 1;
		return 0;
	}
	if (s->mode == M_INLINE) {
		key_inline(s, key);
		if (s->dirty) {
			SP_FORWARD(build_body(s));
			s->dirty = 0;
			scroll(s, (long)s->b.lines.n);
		}
		return 0;
	}
	if (scroll_key(s, key))
		return 0;
	if (s->mode == M_STRENGTH || s->mode == M_SAFETY_L || s->mode == M_SAFETY_R)
		return key_pref_answer(s, key);
	if (s->mode == M_EDIT_WHICH) {
		s->mode = M_PICK;
		if (key >= '1' && key <= '9')
			return key_sft(s, 0x100 + (key - '0'));
		return 0;
	}
	switch (key) {
	case '?':
		s->mode = M_HELP;
		s->top = 0;
		s->dirty = 1;
		return 0;
	case 'q': case K_CTRL('c'): case K_CTRL('d'): case K_EOF:
		s->mode = M_DONE;
		return 0;
	case 'u':
		return do_undo(s);
	case 's':
		if (!s->have_item)
			return 0;
		SP_FORWARD(ann_skip(s->db, &s->it, s->err));
		s->res->skipped++;
		set_msg(s, "skipped");
		return next_item(s);
	default:
		break;
	}
	if (!s->have_item)
		return 0;
	s->msg[0] = 0;
	return s->o->kind == ANN_PREFERENCE ? key_pick_pref(s, key) : s->o->kind == ANN_SFT ? key_sft(s, key) : key_eval(s, key);
}

int ann_session_run(ann_db *db, const ann_session_opts *o, ann_session_result *res, sp_err *err)
{
	memset(res, 0, sizeof *res);
	session s;
	memset(&s, 0, sizeof s);
	s.db = db;
	s.o = o;
	s.res = res;
	s.err = err;
	s.k.fd = o->in_fd;
	tty_fd = isatty(o->in_fd) ? o->in_fd : -1;
	screen_fd = o->draw ? o->out_fd : -1;
	struct sigaction sa, old_int, old_term, old_hup, old_winch;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, &old_winch);
	if (tty_fd >= 0) {
		if (tcgetattr(tty_fd, &saved_tio) != 0 || raw_enter() != 0) {
			tty_fd = -1;
		}
	} else if (o->draw) {
		write_all(o->out_fd, "\x1b[?1049h\x1b[?25l", 14);
	}
	screen_size(o->draw ? o->out_fd : -1, &s.rows, &s.cols);
	int rc = next_item(&s);
	while (rc == 0 && s.mode != M_DONE) {
		if (winch) {
			winch = 0;
			screen_size(o->out_fd, &s.rows, &s.cols);
			s.dirty = 1;
		}
		if (s.dirty) {
			if ((rc = build_body(&s)) < 0)
				break;
			s.dirty = 0;
		}
		if ((rc = draw(&s)) < 0)
			break;
		int key = read_key(&s.k);
		if (key == K_WINCH)
			continue;
		rc = handle_key(&s, key);
	}
	/* Quitting with an item on screen gives it back now instead of at lease expiry. */
	if (s.have_item) {
		sp_err e2 = SP_ERR_INIT;
		ann_release(db, &s.it, rc < 0 ? &e2 : err);
	}
	if (tty_fd >= 0)
		raw_leave();
	else if (o->draw)
		write_all(o->out_fd, LEAVE_SCREEN, sizeof LEAVE_SCREEN - 1);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGWINCH, &old_winch, NULL);
	tty_fd = screen_fd = -1;
	clear_answer(&s);
	sp_buf_release(&s.draft);
	ann_item_release(&s.it);
	body_release(&s.b);
	sp_buf_release(&s.frame);
	sp_free(s.undo);
	return rc;
}
