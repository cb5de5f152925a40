/*
 * launch.c - record -- PROGRAM ARGS: start the program, profile it from
 * its start, and end with its exit status.
 *
 * The program is our child and stays in our process group, so the
 * terminal's Ctrl-C reaches it as it would without us.  It is attached
 * like any other target as soon as it has exec'd, while its interpreter
 * is not there yet (libraries still loading, Py_Initialize not done): the
 * interpreter is looked for again, with a growing pause, until it is
 * found or LAUNCH_FIND_MS have passed.  Meanwhile ptrace events are
 * handled, so a signal sent to the starting program is delivered.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/error.h"
#include "pyspy/pyinterp.h"
#include "pyspy/sampler.h"
#include "pyspy/target.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define LAUNCH_FIND_MS 5000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int launch_attach(char *const argv[], bool seize, struct target *t, struct pyinterp *pi,
		  struct profile *prof, pid_t *pid)
{
	int64_t deadline;
	long pause_us = 200;
	int rc;

	*pid = target_spawn(argv);
	if (*pid < 0) {
		rc = *pid;
		*pid = 0;
		return rc;
	}
	rc = target_open(t, *pid, seize);
	t->spawned = true;
	if (rc == -PERR_NOPROC)
		return perr_set(PERR_GONE, "'%s' exited before its Python interpreter could be "
				"found: no samples", argv[0]);
	if (rc)
		return rc;
	deadline = now_ms() + LAUNCH_FIND_MS;
	for (;;) {
		struct timespec ts = { 0, pause_us * 1000 };

		rc = pyinterp_attach(pi, t, prof);
		if (rc == 0)
			return 0;
		pyinterp_release(pi);
		if (rc != -PERR_NOTPY)
			return rc;
		target_poll(t);
		if (t->gone || target_reload(t) != 0)
			return perr_set(PERR_GONE, "'%s' exited before its Python interpreter could "
					"be found: no samples", argv[0]);
		if (now_ms() >= deadline)
			return perr_set(PERR_NOTPY, "'%s' (pid %d) does not look like a Python "
					"program: no Python interpreter found in it after %d s",
					argv[0], (int)*pid, LAUNCH_FIND_MS / 1000);
		nanosleep(&ts, NULL);
		target_poll(t);
		/* Python starts in tens of ms: look often at first. */
		if (pause_us < (now_ms() - (deadline - LAUNCH_FIND_MS) < 1000 ? 2000 : 50000))
			pause_us *= 2;
	}
}

bool launch_on_signal(void *ctx, int sig)
{
	struct launch_signals *ls = ctx;

	/* A second stop signal ends the recording whatever the program does. */
	if (ls->seen++)
		return true;
	/* The terminal's Ctrl-C has reached the program already; a SIGTERM or
	 * SIGHUP sent to us is passed on.  The program decides when to end. */
	if (sig != SIGINT)
		kill(ls->pid, sig);
	return false;
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

const char *launch_exit_how(int status, char *buf, size_t len)
{
	const char *name;

	if (status < 0 || len == 0)
		return "";
	if (WIFEXITED(status)) {
		snprintf(buf, len, " (status %d)", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		name = sigabbrev_np(WTERMSIG(status));
		if (name)
			snprintf(buf, len, " (killed by SIG%s)", name);
		else
			snprintf(buf, len, " (killed by signal %d)", WTERMSIG(status));
	} else {
		return "";
	}
	return buf;
}

int launch_wait(pid_t pid, int status)
{
	sigset_t set;
	siginfo_t si;
	struct timespec ts = { 0, 100000000 };

	if (status >= 0)
		return exit_code(status);
	/* The stop signals and SIGCHLD are blocked: take them one by one. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG | __WALL);
		int sig;

		if (r == pid)
			return exit_code(status);
		if (r < 0 && errno != EINTR)
			return 1; /* reaped elsewhere: unknown */
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGHUP)
			kill(pid, sig);
	}
}

int cli_target_args(const char *cmd, int argc, char **argv, int optind, pid_t pid,
		    char ***program)
{
	*program = NULL;
	if (optind < argc && strcmp(argv[optind - 1], "--") == 0)
		*program = argv + optind;
	else if (optind < argc)
		return cli_error(2, "unexpected argument '%s' (to run a program, put it after "
				 "'--'; see 'pyspy-c %s --help')", argv[optind], cmd);
	if (pid && *program)
		return cli_error(2, "give either --pid PID or a program after '--', not both");
	if (!pid && !*program)
		return cli_error(2, "%s needs --pid PID or a program to run after '--' "
				 "(see 'pyspy-c %s --help')", cmd, cmd);
	return 0;
}

int cli_launch_or_attach(char **program, pid_t *pid, struct target *t, struct pyinterp *pi,
			 struct profile *prof, struct sampler_opts *so,
			 struct launch_signals *signals)
{
	int rc;

	if (!program)
		return cli_attach(t, pi, *pid, so->blocking, prof, so->gil);
	rc = launch_attach(program, so->blocking, t, pi, prof, pid);
	if (*pid)
		target_guard_crashes(t);
	if (rc == 0 && so->gil)
		rc = pyinterp_gil_available(pi);
	if (rc == -PERR_GONE) {
		cli_error(0, "%s", perr_detail(rc));
		return -1;
	}
	if (rc)
		return cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
	so->on_signal = launch_on_signal;
	so->signal_ctx = signals;
	signals->pid = *pid;
	return 0;
}
