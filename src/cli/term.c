/*
 * term.c - raw keys and the alternate screen for top, always undone.
 */
#include "pyspy/term.h"

#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define ENTER "\033[?1049h\033[?25l\033[H\033[2J"
#define LEAVE "\033[0m\033[?25h\033[?1049l"

static struct termios saved;
static int term_in = -1, term_out = -1;
static volatile sig_atomic_t have_saved, active;

static const int crash_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
static struct sigaction previous[sizeof(crash_sigs) / sizeof(crash_sigs[0])];

static void write_all(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = write(fd, s, len);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

int term_enter(int in_fd, int out_fd, bool keys)
{
	term_in = in_fd;
	term_out = out_fd;
	if (keys) {
		struct termios raw;

		if (tcgetattr(in_fd, &saved) != 0)
			return -1;
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
		raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
		/* Reads return what is there, or 0: poll() says when to read. */
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(in_fd, TCSANOW, &raw) != 0)
			return -1;
		have_saved = 1;
	}
	active = 1;
	write_all(out_fd, ENTER);
	return 0;
}

void term_leave(void)
{
	if (active) {
		write_all(term_out, LEAVE);
		active = 0;
	}
	if (have_saved) {
		tcsetattr(term_in, TCSANOW, &saved);
		have_saved = 0;
	}
}

void term_size(int *rows, int *cols)
{
	struct winsize ws;

	*rows = 24;
	*cols = 80;
	if (term_out >= 0 && ioctl(term_out, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static void crash_handler(int sig)
{
	term_leave();
	for (size_t i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++) {
		void (*h)(int) = previous[i].sa_handler;
		if (crash_sigs[i] != sig)
			continue;
		sigaction(sig, &previous[i], NULL);
		if (h != SIG_DFL && h != SIG_IGN && !(previous[i].sa_flags & SA_SIGINFO))
			h(sig);
	}
	/* Blocked while we run: delivered, with the default action, on return. */
	signal(sig, SIG_DFL);
	raise(sig);
}

void term_guard_crashes(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = crash_handler;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++)
		sigaction(crash_sigs[i], &sa, &previous[i]);
}
