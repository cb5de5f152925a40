/*
 * floor.c - the cost floor the benchmark compares pyspy-c against.
 *
 * What any ptrace/process_vm_readv profiler must pay at least, measured on
 * this machine in the same run as the profiler figures:
 *
 *   read     one process_vm_readv() of 4 KiB from a running child
 *   stop1    one stop+resume round trip of one busy thread: PTRACE_SEIZE
 *            once, then PTRACE_INTERRUPT + waitpid + PTRACE_CONT, timed
 *            per round trip
 *   stopN    the same for all N threads of a process where B are busy and
 *            the rest blocked in pause(): interrupt all, wait all, continue
 *            all
 *   wake     one timer wake-up: a loop that sleeps to absolute deadlines
 *            1 ms apart (clock_nanosleep, TIMER_ABSTIME) and does nothing
 *            else; its CPU per wake-up, and how late it wakes
 *   stat     one pread() of /proc/PID/task/TID/stat (a busy thread's OS
 *            state, kept open), and the same of .../schedstat, each right
 *            after a 1 ms sleep as in a sampler (in a tight loop, with
 *            the kernel's caches warm, they cost half as much); and
 *            the same for every thread of the stopN process, all read
 *            in turn 10 ms apart (a 100 Hz sampler's idle detection)
 *
 * The children are plain C (fork, pthreads); the tracer and the children
 * can be pinned to different CPUs, as the benchmark pins the profiler and
 * its target.  Between two round trips the tracer sleeps (like a sampler
 * between ticks) so the child is really running when it is interrupted.
 *
 * Output: one JSON object on stdout.  Times in nanoseconds: median, p10,
 * p90, min, max of the wall time of each operation, and the tracer's CPU
 * time (user+sys) per operation over the whole loop and, where measured
 * per operation, its median.
 *
 * Build: gcc -O2 -o floor floor.c -lpthread   (libc only)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define MAX_THREADS 256

static char page[4096] __attribute__((aligned(4096)));
static volatile uint64_t spin_sink;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity");
}

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * cpu: the tracer's CPU of each operation, or NULL: its median is printed
 * too ("cpu_median"), which outliers (the machine busy for a moment) do not
 * move as they move the mean ("cpu_per_op").
 */
static void print_stats_cpu(const char *name, int64_t *v, int n, int64_t cpu_total, int64_t *cpu,
			    int last)
{
	int64_t cmed;

	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	if (cpu)
		qsort(cpu, (size_t)n, sizeof(*cpu), cmp_i64);
	cmed = cpu ? cpu[n / 2] : cpu_total / n;
	printf("  \"%s\": {\"n\": %d, \"median\": %lld, \"p10\": %lld, \"p90\": %lld, "
	       "\"min\": %lld, \"max\": %lld, \"cpu_per_op\": %lld, \"cpu_median\": %lld}%s\n",
	       name, n, (long long)v[n / 2], (long long)v[n / 10], (long long)v[n * 9 / 10],
	       (long long)v[0], (long long)v[n - 1], (long long)(cpu_total / n), (long long)cmed,
	       last ? "" : ",");
}

static void print_stats(const char *name, int64_t *v, int n, int64_t cpu_total, int last)
{
	print_stats_cpu(name, v, n, cpu_total, NULL, last);
}

/* ---- children ---- */

static void *busy_thread(void *arg)
{
	(void)arg;
	for (;;)
		spin_sink++;
	return NULL;
}

static void *blocked_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* A child with nthreads threads (the main one included), nbusy of them busy. */
static pid_t spawn_child(int cpu, int nthreads, int nbusy, int ready_fd[2])
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid > 0)
		return pid;
	close(ready_fd[0]);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pin(cpu);
	memset(page, 0x5a, sizeof(page));
	for (int i = 1; i < nthreads; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, i < nbusy ? busy_thread : blocked_thread, NULL) != 0)
			_exit(1);
	}
	if (write(ready_fd[1], "r", 1) != 1)
		_exit(1);
	close(ready_fd[1]);
	if (nbusy > 0)
		busy_thread(NULL);
	blocked_thread(NULL);
	_exit(0);
}

static void wait_ready(int ready_fd[2])
{
	char c;

	close(ready_fd[1]);
	if (read(ready_fd[0], &c, 1) != 1)
		die("child did not start");
	close(ready_fd[0]);
	nap_us(20000); /* let every thread get going */
}

static int list_tasks(pid_t pid, pid_t *tids, int max)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		die("opendir /proc/PID/task");
	while (n < max && (d = readdir(dir)))
		if (d->d_name[0] >= '0' && d->d_name[0] <= '9')
			tids[n++] = (pid_t)atoi(d->d_name);
	closedir(dir);
	return n;
}

/* Kill the child and reap it; traced threads are reaped one by one first. */
static void kill_child(pid_t pid)
{
	int status;
	pid_t w;

	kill(pid, SIGKILL);
	for (;;) {
		w = waitpid(-1, &status, __WALL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 || (w == pid && (WIFEXITED(status) || WIFSIGNALED(status))))
			break;
	}
}

/* ---- measurements ---- */

static void measure_read(int cpu, int n, int last)
{
	int fds[2];
	pid_t pid;
	char local[4096];
	int64_t *v = calloc((size_t)n, sizeof(*v)), c0 = 0;

	if (!v || pipe(fds))
		die("setup");
	pid = spawn_child(cpu, 1, 1, fds);
	wait_ready(fds);
	for (int i = 0; i < 1000 + n; i++) {
		struct iovec l = { local, sizeof(local) }, r = { page, sizeof(page) };
		int64_t t0 = now_ns();
		if (i == 1000)
			c0 = cpu_ns();
		if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(page))
			die("process_vm_readv");
		if (i >= 1000)
			v[i - 1000] = now_ns() - t0;
	}
	print_stats("read_4k", v, n, cpu_ns() - c0, last);
	if (local[0] != 0x5a)
		fprintf(stderr, "floor: read returned wrong data\n");
	kill_child(pid);
	free(v);
}

/*
 * A sampler must wake up for every sample: what one wake-up costs on this
 * machine, with nothing else done.  Timer slack as a sampler at 1 kHz has
 * it (the default).  The wall time is how late each wake-up came.
 */
static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void measure_wake(int n, int last)
{
	int64_t *v = calloc((size_t)n, sizeof(*v)), *cpu = calloc((size_t)n, sizeof(*cpu));
	int64_t c0 = 0, next;

	if (!v || !cpu)
		die("setup");
	next = now_ns() + 1000000;
	for (int i = -50; i < n; i++) {
		struct timespec ts = { next / 1000000000, next % 1000000000 };
		int64_t t0;
		if (i == 0)
			c0 = cpu_ns();
		t0 = thread_cpu_ns();
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (i >= 0) {
			v[i] = now_ns() - next;
			cpu[i] = thread_cpu_ns() - t0;
		}
		next += 1000000;
	}
	print_stats_cpu("wake", v, n, cpu_ns() - c0, cpu, last);
	free(v);
	free(cpu);
}

/* One pread of a /proc file of a busy child's thread, kept open, after a sleep. */
static void measure_proc(int cpu, int n, int last)
{
	static const char *const files[] = { "stat", "schedstat" };
	int fds[2];
	pid_t pid;
	char path[64], buf[1024];
	int64_t *v = calloc((size_t)n, sizeof(*v));

	if (!v || pipe(fds))
		die("setup");
	pid = spawn_child(cpu, 1, 1, fds);
	wait_ready(fds);
	for (int f = 0; f < 2; f++) {
		int64_t c0;
		int fd;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)pid, files[f]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(path);
		c0 = 0;
		for (int i = 0; i < n; i++) {
			int64_t t0;
			nap_us(1000);
			t0 = now_ns();
			if (pread(fd, buf, sizeof(buf), 0) <= 0)
				die("pread");
			v[i] = now_ns() - t0;
			c0 += v[i];
		}
		/* CPU per read: its wall time (it does not block), the naps left out. */
		print_stats(f ? "schedstat" : "stat", v, n, c0, last && f == 1);
		close(fd);
	}
	kill_child(pid);
	free(v);
}

/*
 * The same for all threads of a process (nbusy busy, the rest in pause()),
 * read in turn 10 ms apart: per read, the median over the rounds.
 */
static void measure_proc_group(int cpu, int nthreads, int nbusy, int rounds, int last)
{
	static const char *const files[] = { "stat", "schedstat" };
	static const char *const names[] = { "stat_group", "schedstat_group" };
	int fds[2], pfd[2][MAX_THREADS], nt;
	pid_t pid, tids[MAX_THREADS];
	char path[64], buf[1024];
	int64_t *v = calloc((size_t)rounds, sizeof(*v));

	if (!v || pipe(fds))
		die("setup");
	pid = spawn_child(cpu, nthreads, nbusy, fds);
	wait_ready(fds);
	nt = list_tasks(pid, tids, MAX_THREADS);
	for (int f = 0; f < 2; f++)
		for (int i = 0; i < nt; i++) {
			snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tids[i],
				 files[f]);
			if ((pfd[f][i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
				die(path);
		}
	for (int f = 0; f < 2; f++) {
		int64_t total = 0;
		for (int r = 0; r < rounds; r++) {
			int64_t t0;
			nap_us(10000);
			t0 = now_ns();
			for (int i = 0; i < nt; i++)
				if (pread(pfd[f][i], buf, sizeof(buf), 0) <= 0)
					die("pread");
			v[r] = (now_ns() - t0) / nt;
			total += v[r];
		}
		print_stats(names[f], v, rounds, total, last && f == 1);
	}
	for (int f = 0; f < 2; f++)
		for (int i = 0; i < nt; i++)
			close(pfd[f][i]);
	kill_child(pid);
	free(v);
}

static void measure_stop(const char *name, int cpu, int nthreads, int nbusy, int n, long gap_us,
			 int last)
{
	int fds[2], nt;
	pid_t pid, tids[MAX_THREADS];
	int64_t *v = calloc((size_t)n, sizeof(*v)), *cpu_v = calloc((size_t)n, sizeof(*cpu_v));
	int64_t cpu_total = 0;

	if (!v || !cpu_v || pipe(fds))
		die("setup");
	pid = spawn_child(cpu, nthreads, nbusy, fds);
	wait_ready(fds);
	nt = list_tasks(pid, tids, MAX_THREADS);
	if (nt != nthreads)
		fprintf(stderr, "floor: expected %d threads, found %d\n", nthreads, nt);
	for (int i = 0; i < nt; i++)
		if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) != 0)
			die("PTRACE_SEIZE");
	for (int i = -20; i < n; i++) {
		int64_t t0, c0;

		nap_us(gap_us);
		c0 = thread_cpu_ns();
		t0 = now_ns();
		for (int k = 0; k < nt; k++)
			if (ptrace(PTRACE_INTERRUPT, tids[k], 0, 0) != 0)
				die("PTRACE_INTERRUPT");
		for (int k = 0; k < nt; k++) {
			int status;
			pid_t w = waitpid(-1, &status, __WALL);
			if (w < 0)
				die("waitpid");
			if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP) {
				fprintf(stderr, "floor: unexpected stop 0x%x of %d\n", status, (int)w);
				kill_child(pid);
				exit(1);
			}
		}
		for (int k = 0; k < nt; k++)
			if (ptrace(PTRACE_CONT, tids[k], 0, 0) != 0)
				die("PTRACE_CONT");
		if (i >= 0) {
			v[i] = now_ns() - t0;
			cpu_v[i] = thread_cpu_ns() - c0;
			cpu_total += cpu_v[i];
		}
	}
	printf("  \"%s_threads\": %d,\n  \"%s_busy\": %d,\n  \"%s_stopped\": %d,\n", name,
	       nthreads, name, nbusy, name, nt);
	print_stats_cpu(name, v, n, cpu_total, cpu_v, last);
	kill_child(pid);
	free(v);
	free(cpu_v);
}

int main(int argc, char **argv)
{
	int tracer_cpu = -1, target_cpu = -1, reads = 20000, stops = 2000;
	int group_threads = 50, group_busy = 4;
	long gap_us = 500;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i];
		int v = atoi(argv[i + 1]);
		if (!strcmp(o, "--tracer-cpu"))
			tracer_cpu = v;
		else if (!strcmp(o, "--target-cpu"))
			target_cpu = v;
		else if (!strcmp(o, "--reads"))
			reads = v;
		else if (!strcmp(o, "--stops"))
			stops = v;
		else if (!strcmp(o, "--threads"))
			group_threads = v;
		else if (!strcmp(o, "--busy"))
			group_busy = v;
		else if (!strcmp(o, "--gap-us"))
			gap_us = v;
		else {
			fprintf(stderr, "usage: floor [--tracer-cpu C] [--target-cpu C] [--reads N] "
					"[--stops N] [--threads N] [--busy B] [--gap-us US]\n");
			return 2;
		}
	}
	if (reads < 10 || stops < 10 || group_threads < 1 || group_threads > MAX_THREADS ||
	    group_busy < 0 || group_busy > group_threads) {
		fprintf(stderr, "floor: bad arguments\n");
		return 2;
	}
	pin(tracer_cpu);
	printf("{\n  \"tracer_cpu\": %d,\n  \"target_cpu\": %d,\n  \"gap_us\": %ld,\n", tracer_cpu,
	       target_cpu, gap_us);
	fflush(stdout);
	measure_read(target_cpu, reads, 0);
	measure_stop("stop1", target_cpu, 1, 1, stops, gap_us, 0);
	measure_stop("stopN", target_cpu, group_threads, group_busy, stops / 4, gap_us, 0);
	measure_wake(stops, 0);
	measure_proc(target_cpu, stops, 0);
	measure_proc_group(target_cpu, group_threads, group_busy, stops / 8 > 20 ? stops / 8 : 20, 1);
	printf("}\n");
	fflush(stdout);
	return 0;
}
