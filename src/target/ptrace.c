/*
 * ptrace.c - stopping and resuming the target's threads.
 *
 * Threads are seized once with PTRACE_SEIZE (never PTRACE_ATTACH, which
 * sends a SIGSTOP the target would see) and PTRACE_O_TRACECLONE, so every
 * thread the target creates is traced from birth and none is missed
 * between two listings of /proc/PID/task.
 *
 * Every ptrace-stop is classified (see handle_status):
 *   - our PTRACE_INTERRUPT, or the first stop of a new thread
 *     (PTRACE_EVENT_STOP + SIGTRAP): held while we hold the target for a
 *     sample (t->holding), else resumed;
 *   - group-stop (PTRACE_EVENT_STOP + a stop signal): the user stopped the
 *     process; we PTRACE_LISTEN so it stays stopped exactly as without us;
 *   - signal-delivery-stop: the signal is remembered and re-injected when
 *     the thread resumes, so the target receives every signal;
 *   - PTRACE_EVENT_CLONE: the new thread is adopted.
 * The target is never left stopped by us: target_resume() continues every
 * thread we hold, and target_close() detaches with any pending signal.
 */
#define _GNU_SOURCE
#include "pyspy/target.h"
#include "pyspy/error.h"
#include "target_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* glibc's <sys/ptrace.h> has these since 2.18; keep the build portable. */
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

/*
 * Every target whose threads we trace.  One profiler may trace several
 * processes (record --subprocesses), and waitpid(-1) reports the events of
 * all of them: each is handled by the target that owns the thread.
 */
static struct target *traced[TARGET_MAX_PROCS];
static size_t ntraced;

void target_register(struct target *t)
{
	for (size_t i = 0; i < ntraced; i++)
		if (traced[i] == t)
			return;
	if (ntraced < TARGET_MAX_PROCS)
		traced[ntraced++] = t;
}

void target_unregister(struct target *t)
{
	for (size_t i = 0; i < ntraced; i++)
		if (traced[i] == t) {
			traced[i] = traced[--ntraced];
			return;
		}
}

/* The thread group (process) id of a thread, from /proc; 0 if gone. */
static pid_t tgid_of(pid_t tid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nTgid:");
	return p ? (pid_t)atoi(p + 6) : 0;
}

/* The traced target a reported thread belongs to ('t' when unknown). */
static struct target *owner_of(struct target *t, pid_t tid)
{
	pid_t tgid;

	if (target_thread_by_tid(t, tid) || ntraced <= 1)
		return t;
	for (size_t i = 0; i < ntraced; i++)
		if (traced[i] != t && target_thread_by_tid(traced[i], tid))
			return traced[i];
	/* A new thread whose creator's clone event is not seen yet. */
	tgid = tgid_of(tid);
	for (size_t i = 0; tgid && i < ntraced; i++)
		if (traced[i]->pid == tgid)
			return traced[i];
	return t;
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

int target_seize_thread(struct target *t, pid_t tid)
{
	struct target_thread *th = target_thread_by_tid(t, tid);

	if (th && th->seized)
		return 0;
	if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)PTRACE_O_TRACECLONE) != 0) {
		if (errno == ESRCH)
			return -PERR_GONE;
		return -PERR_PERM;
	}
	if (!th)
		th = target_add_thread(t, tid);
	if (!th) {
		/* Table full: do not keep a thread we cannot track. */
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return -PERR_NOMEM;
	}
	th->seized = true;
	return 0;
}

static void resume_thread(struct target *t, struct target_thread *th)
{
	int sig = th->pending_sig;

	th->pending_sig = 0;
	th->stopped = false;
	/* It was asleep before we stopped it: note how much it runs from now. */
	if (th->state != 'R' && th->state != '?') {
		th->woken = true;
		th->woken_at = target_now_ns();
		th->woken_run = target_thread_run_ns(t, th->tid);
	}
	/* ESRCH: the thread exited meanwhile; its exit status comes next. */
	ptrace(PTRACE_CONT, th->tid, 0, (void *)(long)sig);
	if (th->redirect_sig) {
		syscall(SYS_tgkill, t->pid, th->tid, th->redirect_sig);
		th->redirect_sig = 0;
	}
}

/*
 * Would the main thread take 'sig' if we were not there?  Not if it blocks
 * it, is exiting, or already has a signal of its own pending (the kernel's
 * wants_signal() rule, minus the "not stopped" part that is our doing).
 */
static bool main_wants(pid_t pid, int sig)
{
	char path[64], buf[4096], *p;
	unsigned long long blocked = 0, pending = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (!(p = strstr(buf, "State:")))
		return false;
	p += 6 + strspn(p + 6, " \t");
	if (*p == 'Z' || *p == 'X' || *p == 'x')
		return false;
	if (!(p = strstr(buf, "SigPnd:")) || sscanf(p + 7, "%llx", &pending) != 1 || pending)
		return false;
	if (!(p = strstr(buf, "SigBlk:")) || sscanf(p + 7, "%llx", &blocked) != 1)
		return false;
	return sig >= 1 && sig <= 64 && !((blocked >> (sig - 1)) & 1);
}

/*
 * The kernel gives a process-directed signal (kill(), sigqueue(), the
 * terminal, SIGCHLD) to the main thread when that thread can take it, and
 * a main thread waiting in pause() or sigwait() relies on that.  Profiling
 * can move it to another thread: the main thread cannot take a signal
 * while we hold it in a ptrace-stop, and a thread we interrupt passes
 * through the kernel's signal-dequeue path and may take the process's
 * shared pending signal first.  So when such a signal lands on another
 * thread while the main thread would have taken it, withhold it from that
 * thread and send it to the main thread (at once, or when we let it go).
 */
static bool redirect_to_main(struct target *t, struct target_thread *th, int sig)
{
	struct target_thread *main_th = target_thread_by_tid(t, t->pid);
	siginfo_t si;

	if (th->tid == t->pid || !main_th || main_th->redirect_sig)
		return false;
	if (ptrace(PTRACE_GETSIGINFO, th->tid, 0, &si) != 0)
		return false;
	if (si.si_code != SI_USER && si.si_code != SI_QUEUE && si.si_code != SI_KERNEL &&
	    sig != SIGCHLD)
		return false; /* thread-directed (tgkill, faults, timers) */
	if (!main_wants(t->pid, sig))
		return false;
	t->signals_redirected++;
	if (main_th->stopped || main_th->expect_stop) {
		main_th->redirect_sig = sig;  /* sent by resume_thread() */
		return true;
	}
	return syscall(SYS_tgkill, t->pid, t->pid, sig) == 0;
}

static int64_t now_ns(void);

/* A thread reached the stop we asked for: held until target_resume(). */
static void hold(struct target *t, struct target_thread *th)
{
	th->stopped = true;
	th->expect_stop = false;
	if (!t->held_since)
		t->held_since = now_ns();
}

static void handle_status(struct target *t, pid_t tid, int status)
{
	struct target_thread *th = target_thread_by_tid(t, tid);
	int sig, event;

	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		/* Our own child (spawned): this is its exit status. */
		if (tid == t->pid)
			t->exit_status = status;
		if (th)
			target_remove_thread(t, th);
		if (tid == t->pid || t->nthreads == 0)
			t->gone = true;
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	if (!th) {
		/*
		 * A new thread can report its first stop before its creator's
		 * PTRACE_EVENT_CLONE is seen: adopt it here.
		 */
		th = target_add_thread(t, tid);
		if (!th) {
			ptrace(PTRACE_DETACH, tid, 0, 0);
			return;
		}
		th->seized = true;
	}
	sig = WSTOPSIG(status);
	event = (unsigned)status >> 16;

	if (event == PTRACE_EVENT_STOP) {
		th->starting = false;
		if (is_stop_signal(sig)) {
			/* Group-stop: somebody stopped the process on purpose. */
			th->expect_stop = false;
			ptrace(PTRACE_LISTEN, tid, 0, 0);
			return;
		}
		if (t->holding) {
			hold(t, th);
		} else {
			th->expect_stop = false;
			resume_thread(t, th);
		}
		return;
	}
	if (event == PTRACE_EVENT_CLONE) {
		unsigned long msg = 0;
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) == 0 && msg) {
			struct target_thread *nt = target_thread_by_tid(t, (pid_t)msg);
			if (!nt) {
				nt = target_add_thread(t, (pid_t)msg);
				if (nt) {
					nt->seized = true;
					nt->starting = true;
				} else {
					/* Untrackable (table full): let it run untraced. */
					ptrace(PTRACE_DETACH, (pid_t)msg, 0, 0);
				}
			}
		}
		/* Our interrupt may still be queued; it will be seen later. */
		if (t->holding && th->expect_stop) {
			hold(t, th);
		} else {
			resume_thread(t, th);
		}
		return;
	}
	if (event != 0) {
		/* Other events (exec, exit) are not requested; just go on. */
		resume_thread(t, th);
		return;
	}
	/* Signal-delivery-stop: hand the signal back to the thread. */
	t->signals_forwarded++;
	th->pending_sig = redirect_to_main(t, th, sig) ? 0 : sig;
	if (t->holding && th->expect_stop) {
		hold(t, th);
	} else {
		resume_thread(t, th);
	}
}

void target_poll(struct target *t)
{
	int status;
	pid_t tid;

	if (!t->traced) {
		/* A program we started but do not trace: notice its exit. */
		if (t->spawned && !t->gone && waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->exit_status = status;
			t->gone = true;
		}
		return;
	}
	for (int i = 0; i < 100000; i++) {
		tid = waitpid(-1, &status, __WALL | WNOHANG);
		if (tid <= 0)
			break;
		handle_status(owner_of(t, tid), tid, status);
	}
}

void target_await_exit(struct target *t, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	const struct timespec ms = { 0, 1000000 };

	/*
	 * Every event, not the leader's only: the kernel reports the leader's
	 * end once the other threads are reaped, and traced threads are reaped
	 * by us.
	 */
	while (t->traced && !t->core && t->exit_status < 0 && now_ns() < deadline) {
		target_poll(t);
		if (t->exit_status < 0)
			nanosleep(&ms, NULL);
	}
}

static bool all_stopped(struct target *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		struct target_thread *th = &t->threads[i];
		if (th->seized && !th->stopped && !th->starting && th->expect_stop)
			return false;
	}
	return true;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Waiting for the stops.  A blocking waitpid() is the cheapest way to
 * sleep until a thread stops (measured: a wake-up through SIGCHLD and
 * sigtimedwait(), then waitpid(WNOHANG), costs several microseconds
 * more), but it has no timeout: an interval timer bounds it, its SIGALRM
 * interrupting the wait (the handler does nothing and is installed
 * without SA_RESTART).  The timer is disarmed before returning, so no
 * SIGALRM reaches the rest of the program.
 */
static void on_alarm(int sig)
{
	(void)sig;
}

static void set_alarm(int64_t ns)
{
	static bool installed;
	struct itimerval it = { { 0, 0 }, { 0, 0 } };

	if (!installed) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_alarm;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		installed = true;
	}
	if (ns > 0) {
		it.it_value.tv_sec = ns / 1000000000;
		it.it_value.tv_usec = (ns % 1000000000) / 1000;
		if (!it.it_value.tv_sec && !it.it_value.tv_usec)
			it.it_value.tv_usec = 1;
	}
	setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * Handle the target's events until done(t), the process is gone, or the
 * deadline passes (-PERR_TIMEOUT).
 */
static int wait_until(struct target *t, int64_t deadline, bool (*done)(struct target *))
{
	bool armed = false;
	int rc = 0;

	while (!t->gone && !done(t)) {
		int status;
		pid_t tid;

		if (!armed) {
			set_alarm(deadline - now_ns());
			armed = true;
		}
		tid = waitpid(-1, &status, __WALL);
		if (tid > 0) {
			handle_status(owner_of(t, tid), tid, status);
			continue;
		}
		if (errno == ECHILD) {
			t->gone = true;
			break;
		}
		if (errno != EINTR)
			continue;
		if (now_ns() >= deadline) {
			rc = -PERR_TIMEOUT;
			break;
		}
		armed = false; /* woken early (the timer is one-shot): arm it again */
	}
	if (armed)
		set_alarm(0);
	return rc;
}

void target_interrupt_tids(struct target *t, const pid_t *tids, size_t n)
{
	if (!t->traced)
		return;
	/*
	 * Events pending from before (a signal-delivery-stop) are handled by
	 * the wait (stop_threads) like any other; a thread we interrupt while
	 * it is in one reports that stop, which then counts as ours.
	 */
	t->holding = true;
	for (size_t i = 0; i < t->nthreads; i++) {
		struct target_thread *th = &t->threads[i];
		bool want = !tids;
		for (size_t k = 0; k < n && !want; k++)
			want = tids[k] == th->tid;
		if (!want || !th->seized || th->stopped || th->starting || th->expect_stop)
			continue;
		if (ptrace(PTRACE_INTERRUPT, th->tid, 0, 0) == 0)
			th->expect_stop = true;
	}
}

static int stop_threads(struct target *t, const pid_t *tids, size_t n, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	int rc;

	if (!t->traced)
		return 0;
	target_interrupt_tids(t, tids, n);
	rc = wait_until(t, deadline, all_stopped);
	return t->gone ? -PERR_GONE : rc;
}

bool target_all_seized(const struct target *t)
{
	if (!t->traced || !t->nthreads)
		return false;
	for (size_t i = 0; i < t->nthreads; i++)
		if (!t->threads[i].seized)
			return false;
	return true;
}

/* Whether no interrupt we sent is still on its way to some thread. */
static bool no_interrupt_pending(struct target *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		const struct target_thread *th = &t->threads[i];
		if (th->seized && !th->stopped && th->expect_stop)
			return false;
	}
	return true;
}

int target_settle(struct target *t, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;

	if (!t->traced)
		return 0;
	target_resume(t);
	/* Not holding: each late stop is let go as it comes (handle_status). */
	return wait_until(t, deadline, no_interrupt_pending);
}

int target_stop(struct target *t, int timeout_ms)
{
	return stop_threads(t, NULL, 0, timeout_ms);
}

int target_stop_tids(struct target *t, const pid_t *tids, size_t n, int timeout_ms)
{
	return stop_threads(t, tids, n, timeout_ms);
}

void target_resume(struct target *t)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t chld;

	if (!t->traced)
		return;
	for (size_t i = 0; i < t->nthreads; i++) {
		struct target_thread *th = &t->threads[i];
		if (th->stopped)
			resume_thread(t, th);
	}
	t->holding = false;
	if (t->held_since) {
		t->held_ns += (uint64_t)(now_ns() - t->held_since);
		t->held_since = 0;
	}
	/*
	 * Our own stops left a SIGCHLD pending, which would wake the
	 * sampler's wait at once for nothing: take it, then handle every
	 * event now (stops that raced with the resume, a signal to pass
	 * on).  An event after this poll raises SIGCHLD anew.
	 */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigtimedwait(&chld, NULL, &zero);
	target_poll(t);
}

int target_thread_pointer(struct target *t, pid_t tid, uint64_t *tp)
{
	struct target_thread *th = target_thread_by_tid(t, tid);

	if (!th)
		return -PERR_UNAVAILABLE;
	if (!th->tp) {
#if defined(__x86_64__)
		long v;

		if (!th->stopped)
			return -PERR_UNAVAILABLE;
		errno = 0;
		v = ptrace(PTRACE_PEEKUSER, tid, (void *)offsetof(struct user, regs.fs_base), NULL);
		if (errno)
			return -PERR_TORN;
		th->tp = (uint64_t)v;
#else
		return -PERR_UNAVAILABLE;
#endif
	}
	*tp = th->tp;
	return 0;
}

void target_detach_all(struct target *t)
{
	if (!t->traced)
		return;
	/*
	 * PTRACE_DETACH needs the thread in a ptrace-stop: stop everything,
	 * then detach each thread handing back any signal we hold for it.
	 */
	target_stop(t, 200);
	for (size_t i = 0; i < t->nthreads; i++) {
		struct target_thread *th = &t->threads[i];
		if (!th->seized)
			continue;
		if (ptrace(PTRACE_DETACH, th->tid, 0, (void *)(long)th->pending_sig) != 0 &&
		    th->stopped) {
			/* Should not happen; never leave it stopped. */
			ptrace(PTRACE_CONT, th->tid, 0, (void *)(long)th->pending_sig);
		}
		if (th->redirect_sig)
			syscall(SYS_tgkill, t->pid, th->tid, th->redirect_sig);
		th->redirect_sig = 0;
		th->seized = th->stopped = false;
		th->pending_sig = 0;
	}
	t->holding = false;
	t->traced = false;
	target_unregister(t);
}

/*
 * Crash guard: if the profiler itself faults, detach from every thread of
 * every traced target,
 * handing back held signals, before dying.  Only async-signal-safe calls.
 * (On SIGKILL the kernel detaches for us; a signal held at that instant is
 * the one thing that can be lost, which the short hold time makes rare.)
 */
static void crash_handler(int sig)
{
	for (size_t k = 0; k < ntraced; k++) {
		struct target *t = traced[k];
		if (!t->traced)
			continue;
		for (size_t i = 0; i < t->nthreads; i++) {
			struct target_thread *th = &t->threads[i];
			if (!th->seized)
				continue;
			if (th->stopped)
				ptrace(PTRACE_DETACH, th->tid, 0, (void *)(long)th->pending_sig);
			if (th->redirect_sig)
				syscall(SYS_tgkill, t->pid, th->tid, th->redirect_sig);
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void target_guard_crashes(struct target *t)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa;

	if (t && t->traced)
		target_register(t);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = crash_handler;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}
