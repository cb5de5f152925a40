/*
 * rusage.c - run a command as a fresh process and report its own peak RSS
 * and CPU time.
 *
 * Why: the kernel keeps a process's ru_maxrss across exec, and a process
 * started by the (large) Python driver begins with the driver's RSS as its
 * maximum (exec records the high-water mark of the memory it leaves, which
 * for a fork or vfork child is the driver's).  A process forked by this
 * small program starts from a fresh maximum, so wait4() here gives the
 * command's own peak.
 *
 * usage: rusage COMMAND [ARG...]
 * On stderr: "rusage: pid PID" once the command is started, then whatever
 * the command writes there, then at its end one line
 *   "rusage: status S cpu_us U maxrss_kb M"
 * (S: the raw wait status).  Exit status: the command's (128+N if killed
 * by signal N).  The command gets SIGKILL if this program dies first, and
 * SIGTERM/SIGINT/SIGHUP sent here are passed on to it.
 *
 * Build: gcc -O2 -o rusage rusage.c   (libc only)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void pass_on(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct rusage ru;
	pid_t parent = getpid();
	int status;

	if (argc < 2) {
		fprintf(stderr, "usage: rusage COMMAND [ARG...]\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pass_on;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	child = fork();
	if (child < 0) {
		perror("rusage: fork");
		return 1;
	}
	if (child == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "rusage: cannot run %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	fprintf(stderr, "rusage: pid %d\n", (int)child);
	fflush(stderr);
	while (wait4(child, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("rusage: wait4");
			return 1;
		}
	}
	fprintf(stderr, "rusage: status %d cpu_us %lld maxrss_kb %ld\n", status,
		(long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
			ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
		ru.ru_maxrss);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
