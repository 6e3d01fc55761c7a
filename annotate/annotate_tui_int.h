/* annotate_tui_int.h - what the annotator's terminal session shares between its files:
 * annotate_term.c (raw mode, keys), annotate_tui_draw.c (layout, drawing) and annotate_tui.c (the
 * session loop and key handling). Not a public header: the CLI and tests use annotate.h. */
#ifndef SPINDLE_ANNOTATE_TUI_INT_H
#define SPINDLE_ANNOTATE_TUI_INT_H

#include <signal.h>
#include <termios.h>
#include "annotate.h"

/* ------------------------------------------------------------------ annotate_term.c */

/* The terminal's settings before raw mode; the input when it is a terminal (else -1); the output
 * when drawing (else -1); set by SIGWINCH. */
extern struct termios ann_term_saved_tio;
extern int ann_term_tty_fd, ann_term_screen_fd;
extern volatile sig_atomic_t ann_term_winch;

#define LEAVE_SCREEN "\x1b[0m\x1b[?25h\x1b[?1049l"

void ann_term_write_all(int fd, const char *p, size_t n);
void ann_term_raw_leave(void);
int ann_term_raw_enter(void);
void ann_term_on_fatal_signal(int sig);
void ann_term_on_winch(int sig);
void ann_term_screen_size(int fd, int *rows, int *cols);

enum { K_EOF = -1, K_UP = 1000, K_DOWN, K_PGUP, K_PGDN, K_HOME, K_END, K_LEFT, K_RIGHT, K_WINCH };
#define K_ESC 27
#define K_CTRL(c) ((c) & 0x1f)

typedef struct ann_term_keyin { int fd; unsigned char push[16]; int n_push; size_t n_read; } ann_term_keyin;

int ann_term_read_key(ann_term_keyin *k);

/* ------------------------------------------------------------------ annotate_tui_draw.c */

typedef struct ann_tui_body {
	sp_buf text;              /* sanitized text of every segment, back to back */
	ann_lines lines;          /* wrapped lines into text */
	unsigned char *style;     /* per line */
	size_t style_cap;
	int width;
} ann_tui_body;

void ann_tui_body_release(ann_tui_body *b);

/* ------------------------------------------------------------------ session state */

enum { M_PICK, M_STRENGTH, M_SAFETY_L, M_SAFETY_R, M_HELP, M_INLINE, M_EDIT_WHICH, M_DONE };

typedef struct ann_tui_session {
	ann_db *db;
	const ann_session_opts *o;
	ann_session_result *res;
	ann_item it;
	int have_item;
	int mode;
	ann_tui_body b;
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
	ann_term_keyin k;
	sp_err *err;
} ann_tui_session;

int ann_tui_build_body(ann_tui_session *s);
int ann_tui_body_height(const ann_tui_session *s);
int ann_tui_draw(ann_tui_session *s);

#endif
