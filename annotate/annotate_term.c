/* annotate_term.c - the terminal under the annotator's session (annotate_tui.c): raw mode with
 * termios and the alternate screen, left again on a fatal signal, the window size, SIGWINCH, and
 * keys read from the terminal or a keys file with the ANSI escape sequences decoded. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include "annotate_tui_int.h"

/* ------------------------------------------------------------------ terminal */

struct termios ann_term_saved_tio;
int ann_term_tty_fd = -1, ann_term_screen_fd = -1;
volatile sig_atomic_t ann_term_winch = 0;
static int raw_on = 0;

void ann_term_write_all(int fd, const char *p, size_t n)
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

void ann_term_raw_leave(void)
{
	if (!raw_on)
		return;
	if (ann_term_screen_fd >= 0)
		ann_term_write_all(ann_term_screen_fd, LEAVE_SCREEN, sizeof LEAVE_SCREEN - 1);
	tcsetattr(ann_term_tty_fd, TCSAFLUSH, &ann_term_saved_tio);
	raw_on = 0;
}

int ann_term_raw_enter(void)
{
	if (ann_term_tty_fd < 0)
		return 0;
	struct termios t = ann_term_saved_tio;
	t.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_cflag |= CS8;
	t.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(ann_term_tty_fd, TCSAFLUSH, &t) != 0)
		return -1;
	raw_on = 1;
	if (ann_term_screen_fd >= 0)
		ann_term_write_all(ann_term_screen_fd, "\x1b[?1049h\x1b[?25l", 14);
	return 0;
}

void ann_term_on_fatal_signal(int sig)
{
	/* Async-signal-safe: write() and tcsetattr() only. The lease of the item on screen stays
	 * and expires; every answer before it is already committed. */
	ann_term_raw_leave();
	signal(sig, SIG_DFL);
	raise(sig);
}

void ann_term_on_winch(int sig) { (void)sig; ann_term_winch = 1; }

void ann_term_screen_size(int fd, int *rows, int *cols)
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

static int rd_byte(ann_term_keyin *k, int timeout_ms)
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
			if (ann_term_winch)
				return -3;
			continue;
		}
		return K_EOF;
	}
}

static void unread(ann_term_keyin *k, int c)
{
	if (c >= 0 && k->n_push < (int)sizeof k->push)
		k->push[k->n_push++] = (unsigned char)c;
}

int ann_term_read_key(ann_term_keyin *k)
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
