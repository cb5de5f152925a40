/*
 * spawn.c - starting the program to profile (record -- PROGRAM ARGS).
 *
 * The child execs the program directly; a close-on-exec pipe tells the
 * parent whether the exec worked (EOF) or why it failed (errno), so a
 * mistyped program name is one clear error and not a profile of nothing.
 * The child is traced like any other target (PTRACE_SEIZE after exec):
 * nothing about it changes, and it stays in our process group so the
 * terminal's signals reach it.
 */
#define _GNU_SOURCE
#include "pyspy/target.h"
#include "pyspy/error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t target_spawn(char *const argv[])
{
	int fds[2], err = 0;
	sigset_t none;
	pid_t pid;
	ssize_t n;

	if (!argv || !argv[0])
		return perr_set(PERR_USAGE, "no program given after '--'");
	if (pipe2(fds, O_CLOEXEC) != 0)
		return perr_set(PERR_RUNTIME, "cannot create a pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return perr_set(PERR_RUNTIME, "cannot fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* The program gets the signal dispositions and mask it would
		 * have had without us, not the profiler's. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		close(fds[0]);
		execvp(argv[0], argv);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	close(fds[1]);
	do
		n = read(fds[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	/* Exit statuses as env(1), timeout(1) and the shells give them. */
	if (n == (ssize_t)sizeof(err)) {
		waitpid(pid, NULL, 0);
		if (err == ENOENT && !strchr(argv[0], '/'))
			return perr_set(PERR_NOTFOUND, "cannot run '%s': command not found in PATH",
					argv[0]);
		return perr_set(err == ENOENT ? PERR_NOTFOUND : PERR_NOEXEC, "cannot run '%s': %s",
				argv[0], strerror(err));
	}
	return pid;
}

int target_reap(pid_t pid, int timeout_ms)
{
	struct timespec ts = { 0, 1000000 };
	int status;

	for (int i = 0; i <= timeout_ms; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG | __WALL);
		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		nanosleep(&ts, NULL);
	}
	return -1;
}
