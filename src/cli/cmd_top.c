/*
 * cmd_top.c - "pyspy-c top": a live view of the functions a process
 * spends its time in, refreshed every --delay seconds.
 *
 * The same pipeline as record (target_open -> pyinterp_attach ->
 * sampler_run), by function, with the sampler's window callback at every
 * refresh: the window's profile is folded into per-function counts
 * (src/stacks/topstats.c), shown (src/output/top.c), and reset.  On a
 * terminal the view fills the screen and keys change it (the sampler
 * wakes for them through its input hook); otherwise a plain table is
 * written per window.  Every way out detaches first, then puts the
 * terminal back, then says why it ended.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/error.h"
#include "pyspy/output.h"
#include "pyspy/pyinterp.h"
#include "pyspy/sampler.h"
#include "pyspy/stacks.h"
#include "pyspy/target.h"
#include "pyspy/term.h"
#include "pyspy/topstats.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_DELAY = CLI_OPT_OWN, OPT_FULL_FILENAMES };

static const struct cli_option top_options[] = {
	{ CLI_OPT_PID, 'p', "pid", "PID", "process to watch" },
	{ CLI_OPT_RATE, 'r', "rate", "HZ", "samples per second (default 100)" },
	{ OPT_DELAY, 0, "delay", "SECONDS", "refresh the view every SECONDS (default 1)" },
	{ CLI_OPT_DURATION, 'd', "duration", "SECONDS",
	  "stop after this long (default: until q, Ctrl-C or target exit)" },
	{ CLI_OPT_IDLE, 'i', "idle", NULL, "count samples of idle threads too" },
	{ CLI_OPT_GIL, 'g', "gil", NULL, "count only samples of the thread holding the GIL" },
	{ CLI_OPT_NONBLOCKING, 0, "nonblocking", NULL, "read without stopping the target" },
	{ CLI_OPT_NO_GC, 0, "no-gc", NULL, "no <GC> row for the garbage collector's share" },
	{ CLI_OPT_INTERPRETER, 0, "interpreter", "ID",
	  "count only threads running in interpreter ID ('main' or its id)" },
	{ OPT_FULL_FILENAMES, 0, "full-filenames", NULL, "show full file paths" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_top_def = {
	.name = "top",
	.summary = "show live which functions a running Python process spends its time in",
	.usage = "pyspy-c top [options] --pid PID\n"
		 "       pyspy-c top [options] -- PROGRAM [ARGS...]",
	.options = top_options,
	.run = cmd_top,
};

struct top_args {
	pid_t pid;
	double delay;
	bool full_filenames;
	struct sampler_opts so;
};

static int set_option(int id, const char *arg, void *ctx)
{
	struct top_args *a = ctx;
	int rc = cli_sampler_option(id, arg, &a->pid, &a->so);

	if (rc >= 0)
		return rc;
	switch (id) {
	case OPT_DELAY:
		return cli_parse_number("delay", arg, 0.01, 1e9, &a->delay);
	case OPT_FULL_FILENAMES:
		a->full_filenames = true;
		return 0;
	}
	return 2;
}

/* The session, as the window and key callbacks see it. */
struct top {
	struct profile *prof;
	struct top_stats *ts;
	struct top_view v;
	bool screen;            /* full-screen view on a terminal */
	bool keys;              /* keys read from stdin */
	bool closed;            /* stdout's reader went away (top | head) */
	char title[512];
	char status[160];
};

static void set_status(struct top *tp)
{
	snprintf(tp->status, sizeof(tp->status),
		 "Sort (1-4, < >): %s   r: reset times   q: quit",
		 output_top_column(tp->v.sort));
}

/* Draw the screen in one write, from the top left, clearing what is left. */
static int render(struct top *tp)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int rc;

	if (!tp->screen) {
		tp->v.width = tp->v.height = 0;
		tp->v.status = NULL;
		rc = output_top(stdout, tp->prof, tp->ts, &tp->v);
		fputc('\n', stdout);
		if (rc != 0 || fflush(stdout) != 0 || ferror(stdout)) {
			/* A reader that stops reading ends top, as 'q' would. */
			tp->closed = errno == EPIPE;
			return perr_set(PERR_RUNTIME, "cannot write to stdout: %s", strerror(errno));
		}
		return 0;
	}
	m = open_memstream(&buf, &len);
	if (!m)
		return perr_set(PERR_NOMEM, "out of memory");
	term_size(&tp->v.height, &tp->v.width);
	set_status(tp);
	tp->v.status = tp->status;
	tp->v.ansi = true;
	fputs("\033[H", m);
	rc = output_top(m, tp->prof, tp->ts, &tp->v);
	fputs("\033[J", m);
	if (fclose(m) != 0 || rc != 0) {
		free(buf);
		return perr_set(PERR_NOMEM, "out of memory");
	}
	/* A terminal that went away ends the session through SIGHUP. */
	for (size_t off = 0; off < len;) {
		ssize_t n = write(STDOUT_FILENO, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(buf);
	return 0;
}

static int window_end(void *ctx, const struct sampler_window *w)
{
	struct top *tp = ctx;
	int rc = top_stats_add_window(tp->ts, tp->prof);

	profile_reset(tp->prof);
	if (rc)
		return perr_set(PERR_NOMEM, "out of memory");
	tp->v.samples += w->samples;
	tp->v.elapsed += w->seconds;
	tp->v.late += w->late;
	tp->v.failed += w->failed;
	tp->v.win_samples = w->samples;
	tp->v.win_active = w->active;
	tp->v.win_gil = w->gil;
	tp->v.win_gil_known = w->gil_known;
	tp->v.win_gc = w->gc;
	tp->v.win_gc_known = w->gc_known;
	tp->v.threads = w->threads;
	tp->v.interps = w->interps;
	return render(tp);
}

/* Keys: 1-4 choose the sort column, < > move it, r resets, q quits. */
static int on_key(void *ctx)
{
	struct top *tp = ctx;
	unsigned char buf[64];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : 1;
	if (n == 0)
		return 1; /* the terminal hung up */
	for (ssize_t i = 0; i < n; i++) {
		int c = buf[i];

		/* Arrow keys: ESC [ C (right), ESC [ D (left). */
		if (c == 0x1b && i + 2 < n && buf[i + 1] == '[') {
			c = buf[i + 2] == 'C' ? '>' : buf[i + 2] == 'D' ? '<' : 0;
			i += 2;
		}
		if (c == 'q' || c == 'Q' || c == 0x03 /* Ctrl-C */)
			return 1;
		if (c >= '1' && c < '1' + TOP_SORT__COUNT)
			tp->v.sort = (enum top_sort)(c - '1');
		else if (c == '<' || c == ',')
			tp->v.sort = (enum top_sort)((tp->v.sort + TOP_SORT__COUNT - 1) %
						     TOP_SORT__COUNT);
		else if (c == '>' || c == '.')
			tp->v.sort = (enum top_sort)((tp->v.sort + 1) % TOP_SORT__COUNT);
		else if (c == 'r' || c == 'R')
			top_stats_reset_sums(tp->ts);
	}
	return render(tp);
}

int cmd_top(int argc, char **argv)
{
	struct top_args a = { .delay = 1, .so = { .rate = 100, .blocking = true } };
	struct top tp = { 0 };
	struct target t;
	struct pyinterp pi;
	struct sampler_stats st;
	char command[256], version[32];
	char **program = NULL;
	struct launch_signals signals = { 0 };
	int exit_status = -1;
	char how[48];
	bool help;
	int optind, rc, status = 0;

	memset(&t, 0, sizeof(t));
	memset(&pi, 0, sizeof(pi));
	if (cli_parse(&cmd_top_def, argc, argv, &optind, set_option, &a, &help))
		return help ? 0 : 2;
	if (cli_target_args("top", argc, argv, optind, a.pid, &program))
		return 2;
	cli_block_stop_signals();

	tp.prof = profile_new();
	tp.ts = top_stats_new();
	if (!tp.prof || !tp.ts) {
		status = cli_error(1, "out of memory");
		goto done;
	}
	profile_set_limit(tp.prof, PROFILE_DEFAULT_MAX_STACKS);
	status = cli_launch_or_attach(program, &a.pid, &t, &pi, tp.prof, &a.so, &signals);
	if (status == -1) {
		status = 0; /* nothing to show: the program ended; end as it did */
		goto done;
	}
	if (status)
		goto done;

	target_cmdline(&t, command, sizeof(command));
	if (pi.micro >= 0)
		snprintf(version, sizeof(version), "%d.%d.%d", pi.major, pi.minor, pi.micro);
	else
		snprintf(version, sizeof(version), "%d.%d", pi.major, pi.minor);
	snprintf(tp.title, sizeof(tp.title), "pyspy-c top: pid %d, python %s%s%s%s: %s",
		 (int)a.pid, version, pi.layout.free_threaded ? "t" : "",
		 a.so.idle ? " (idle too)" : "", a.so.gil ? " (GIL holder only)" : "", command);
	tp.v.title = tp.title;
	tp.v.period = 1 / a.so.rate;
	tp.v.full_filenames = a.full_filenames;
	tp.v.win_gil_known = 0;
	tp.screen = isatty(STDOUT_FILENO);
	tp.keys = tp.screen && isatty(STDIN_FILENO);

	a.so.function = true;
	a.so.read_gil = true;
	a.so.interval = a.delay;
	a.so.window_end = window_end;
	a.so.window_ctx = &tp;
	if (tp.keys) {
		a.so.input_fd = STDIN_FILENO;
		a.so.input = on_key;
		a.so.input_ctx = &tp;
	}
	if (tp.screen) {
		if (term_enter(STDIN_FILENO, STDOUT_FILENO, tp.keys) != 0) {
			status = cli_error(1, "cannot set up the terminal: %s", strerror(errno));
			goto done;
		}
		term_guard_crashes();
		render(&tp); /* the frame, until the first window */
	}
	rc = sampler_run(&t, &pi, tp.prof, &a.so, &st);
	if (tp.closed) {
		rc = 0;
		st.quit = true;
	}
	exit_status = t.exit_status;
	target_close(&t);
	term_leave();
	/*
	 * A program we started, still running when the view is quit: the keys
	 * went to the view (the terminal was raw), so it gets the SIGINT a
	 * Ctrl-C would have sent it; then it is waited for.
	 */
	if (program && a.pid && exit_status < 0 && st.quit)
		kill(a.pid, SIGINT);
	/* The plain table: the last, partial window too. */
	if (!tp.screen && rc == 0 && !tp.closed && st.window.samples &&
	    window_end(&tp, &st.window) != 0 && !tp.closed)
		status = cli_error(1, "%s", perr_detail(-PERR_RUNTIME));
	if (rc)
		status = cli_error(perr_exit_status(rc) ? perr_exit_status(rc) : 1, "%s",
				   perr_detail(rc));
	else if (st.target_exited)
		fprintf(stderr, "pyspy-c: process %d exited%s\n", (int)a.pid,
			launch_exit_how(exit_status, how, sizeof(how)));
done:
	if (t.pid && t.spawned && exit_status < 0)
		exit_status = t.exit_status;
	target_close(&t);
	term_leave();
	if (program && a.pid) {
		int code = launch_wait(a.pid, exit_status);
		if (status == 0)
			status = code;
	}
	pyinterp_release(&pi);
	top_stats_free(tp.ts);
	profile_free(tp.prof);
	return status;
}
