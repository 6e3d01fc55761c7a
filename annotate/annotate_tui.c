/* annotate_tui.c - the annotator's terminal session: plain ANSI escape sequences and termios (no
 * curses), one item at a time, keyboard only, any size from 80x24 up (smaller works, cramped).
 * Every text from the database goes through ann_text_sanitize before it reaches the terminal.
 * Long answers and next user turns are written in $EDITOR, as git does for commit messages.
 * Each answer is committed by annotate_task.c before the next item is leased.
 * This file has the session loop, the editor and the key handling per mode; the terminal is in
 * annotate_term.c, the layout and drawing in annotate_tui_draw.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include "annotate_eval.h"
#include "annotate_tui_int.h"
#include "spindle/mem.h"
#include "spindle/utf8.h"

static void set_msg(ann_tui_session *s, const char *m) { snprintf(s->msg, sizeof s->msg, "%s", m); }

/* ------------------------------------------------------------------ editor */

#define SCISSORS "# ------------------------ >8 ------------------------"

/* Opens the editor on initial text with the dialog below a scissors line; reads back what is
 * above it (trailing blank space trimmed) into out. Returns 1 if out is non-empty, 0 if empty. */
static int run_editor(ann_tui_session *s, const char *initial, size_t n_initial, const char *what, sp_buf *out)
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
	ann_term_write_all(fd, t.p ? t.p : "", t.len);
	close(fd);
	sp_buf_release(&t);

	/* As git does: the editor setting is shell text, the file its argument. */
	sp_buf cmd = SP_BUF_INIT;
	sp_buf_appendf(&cmd, "%s \"$@\"", s->o->editor && *s->o->editor ? s->o->editor : "vi");
	ann_term_raw_leave();
	pid_t pid = cmd.p ? fork() : -1;
	if (pid == 0) {
		if (s->o->in_fd != STDIN_FILENO && ann_term_tty_fd < 0) {
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
	ann_term_raw_enter();
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

static void clear_answer(ann_tui_session *s)
{
	memset(&s->ans, 0, sizeof s->ans);
	s->choice_shown = 0;
	sp_buf_reset(&s->draft);
	s->have_draft = 0;
	sp_free(s->edited_from);
	s->edited_from = NULL;
}

static int refresh_progress(ann_tui_session *s)
{
	return ann_progress_in(s->db, s->o->annotator, s->o->kind, s->o->eval_id, &s->done, &s->left, s->err);
}

static int next_item(ann_tui_session *s)
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

static int push_undo(ann_tui_session *s, int64_t id)
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
static int after_answer(ann_tui_session *s, int rc, int64_t id)
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

static int commit_pref(ann_tui_session *s)
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

static int commit_sft(ann_tui_session *s)
{
	int64_t id = 0;
	ann_sft_answer a = { s->draft.p, s->edited_from };
	return after_answer(s, ann_answer_sft(s->db, &s->it, &a, &id, s->err), id);
}

static int do_undo(ann_tui_session *s)
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

static void scroll(ann_tui_session *s, long by)
{
	long bh = ann_tui_body_height(s);
	long max = (long)s->b.lines.n - bh;
	if (max < 0)
		max = 0;
	long t = (long)s->top + by;
	if (t < 0) t = 0;
	if (t > max) t = max;
	s->top = (size_t)t;
}

static int scroll_key(ann_tui_session *s, int key)
{
	long page = ann_tui_body_height(s) > 2 ? ann_tui_body_height(s) - 1 : 1;
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

static int key_pick_pref(ann_tui_session *s, int key)
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

static int key_pref_answer(ann_tui_session *s, int key)
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
static int key_eval(ann_tui_session *s, int key)
{
	int max = s->it.kind == ANN_SBS ? 7 : 5;
	if (key < '0' || key > '9')
		return 0;
	if (key < '1' || key > '0' + max) {
		if (ann_term_tty_fd < 0)
			SP_RAISE(s->err, SP_EDATA, "keys: byte %zu: '%c' is not on the 1-%d scale", s->k.n_read, key, max);
		set_msg(s, s->it.kind == ANN_SBS ? "the scale is 1 to 7" : "the scale is 1 to 5");
		return 0;
	}
	int v = s->it.kind == ANN_SBS ? ann_sbs_score_from_key(key - '0', s->it.left_is_b) : key - '0';
	int64_t id = 0;
	int rc = ann_answer_eval(s->db, &s->it, v, &id, s->err);
	return after_answer(s, rc, id);
}

static int key_sft(ann_tui_session *s, int key)
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

static void key_inline(ann_tui_session *s, int key)
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

static int handle_key(ann_tui_session *s, int key)
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
			SP_FORWARD(ann_tui_build_body(s));
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
	ann_tui_session s;
	memset(&s, 0, sizeof s);
	s.db = db;
	s.o = o;
	s.res = res;
	s.err = err;
	s.k.fd = o->in_fd;
	ann_term_tty_fd = isatty(o->in_fd) ? o->in_fd : -1;
	ann_term_screen_fd = o->draw ? o->out_fd : -1;
	struct sigaction sa, old_int, old_term, old_hup, old_winch;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ann_term_on_fatal_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sa.sa_handler = ann_term_on_winch;
	sigaction(SIGWINCH, &sa, &old_winch);
	if (ann_term_tty_fd >= 0) {
		if (tcgetattr(ann_term_tty_fd, &ann_term_saved_tio) != 0 || ann_term_raw_enter() != 0) {
			ann_term_tty_fd = -1;
		}
	} else if (o->draw) {
		ann_term_write_all(o->out_fd, "\x1b[?1049h\x1b[?25l", 14);
	}
	ann_term_screen_size(o->draw ? o->out_fd : -1, &s.rows, &s.cols);
	int rc = next_item(&s);
	while (rc == 0 && s.mode != M_DONE) {
		if (ann_term_winch) {
			ann_term_winch = 0;
			ann_term_screen_size(o->out_fd, &s.rows, &s.cols);
			s.dirty = 1;
		}
		if (s.dirty) {
			if ((rc = ann_tui_build_body(&s)) < 0)
				break;
			s.dirty = 0;
		}
		if ((rc = ann_tui_draw(&s)) < 0)
			break;
		int key = ann_term_read_key(&s.k);
		if (key == K_WINCH)
			continue;
		rc = handle_key(&s, key);
	}
	/* Quitting with an item on screen gives it back now instead of at lease expiry. */
	if (s.have_item) {
		sp_err e2 = SP_ERR_INIT;
		ann_release(db, &s.it, rc < 0 ? &e2 : err);
	}
	if (ann_term_tty_fd >= 0)
		ann_term_raw_leave();
	else if (o->draw)
		ann_term_write_all(o->out_fd, LEAVE_SCREEN, sizeof LEAVE_SCREEN - 1);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGWINCH, &old_winch, NULL);
	ann_term_tty_fd = ann_term_screen_fd = -1;
	clear_answer(&s);
	sp_buf_release(&s.draft);
	ann_item_release(&s.it);
	ann_tui_body_release(&s.b);
	sp_buf_release(&s.frame);
	sp_free(s.undo);
	return rc;
}
