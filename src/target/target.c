/*
 * target.c - opening a process, its thread table, and why attaching fails.
 */
#define _GNU_SOURCE
#include "pyspy/target.h"
#include "pyspy/error.h"
#include "target_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Read a small /proc file into buf (NUL-terminated); returns length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Value of "Key:" in /proc/.../status, or NULL. Points into buf. */
static char *status_field(char *buf, const char *key)
{
	size_t klen = strlen(key);
	char *p = buf;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			p[strcspn(p, "\n")] = '\0';
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static pid_t read_nstid(pid_t pid, pid_t tid)
{
	char path[64], buf[4096], *v, *last;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return tid;
	v = status_field(buf, "NSpid");
	if (!v)
		return tid;
	/* NSpid lists the id in each namespace, outermost first. */
	last = strrchr(v, '\t');
	if (!last)
		last = strrchr(v, ' ');
	return (pid_t)atoi(last ? last + 1 : v);
}

/*
 * Threads are looked up by tid many times per sample: through a small
 * hash index, rebuilt whenever the table changes shape (a thread exits,
 * the table grows).
 */
static size_t tid_slot(pid_t tid, size_t nslots)
{
	return (size_t)(((uint32_t)tid * 0x9E3779B1u) >> 7) & (nslots - 1);
}

static void tid_insert(struct target *t, size_t i)
{
	size_t s = tid_slot(t->threads[i].tid, t->tid_nslots);

	while (t->tid_slots[s])
		s = (s + 1) & (t->tid_nslots - 1);
	t->tid_slots[s] = (uint32_t)i + 1;
}

static void tid_rebuild(struct target *t)
{
	size_t nslots = 64;
	uint32_t *slots;

	while (nslots < t->cap_threads * 2)
		nslots *= 2;
	if (nslots != t->tid_nslots) {
		slots = calloc(nslots, sizeof(*slots));
		if (!slots) {
			/* Without an index, look-ups scan the table. */
			free(t->tid_slots);
			t->tid_slots = NULL;
			t->tid_nslots = 0;
			return;
		}
		free(t->tid_slots);
		t->tid_slots = slots;
		t->tid_nslots = nslots;
	} else {
		memset(t->tid_slots, 0, nslots * sizeof(*t->tid_slots));
	}
	for (size_t i = 0; i < t->nthreads; i++)
		tid_insert(t, i);
}

struct target_thread *target_thread_by_tid(struct target *t, pid_t tid)
{
	if (!t->tid_slots) {
		for (size_t i = 0; i < t->nthreads; i++)
			if (t->threads[i].tid == tid)
				return &t->threads[i];
		return NULL;
	}
	for (size_t s = tid_slot(tid, t->tid_nslots); t->tid_slots[s];
	     s = (s + 1) & (t->tid_nslots - 1))
		if (t->threads[t->tid_slots[s] - 1].tid == tid)
			return &t->threads[t->tid_slots[s] - 1];
	return NULL;
}

struct target_thread *target_add_thread(struct target *t, pid_t tid)
{
	struct target_thread *th;
	char path[64];

	if (t->nthreads == t->cap_threads) {
		size_t ncap = t->cap_threads ? t->cap_threads * 2 : 16;
		struct target_thread *n;
		if (ncap > TARGET_MAX_THREADS)
			ncap = TARGET_MAX_THREADS;
		if (ncap <= t->cap_threads)
			return NULL;
		n = realloc(t->threads, ncap * sizeof(*n));
		if (!n)
			return NULL;
		t->threads = n;
		t->cap_threads = ncap;
	}
	th = &t->threads[t->nthreads++];
	memset(th, 0, sizeof(*th));
	th->tid = tid;
	if (t->tid_nslots < t->cap_threads * 2)
		tid_rebuild(t);
	else
		tid_insert(t, t->nthreads - 1);
	th->state = '?';
	th->stat_fd = th->sched_fd = -1;
	th->nstid = tid;
	if (t->core)
		return th; /* no /proc for a core */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)t->pid, (int)tid);
	th->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)t->pid, (int)tid);
	th->sched_fd = open(path, O_RDONLY | O_CLOEXEC);
	th->nstid = t->pidns_differs ? read_nstid(t->pid, tid) : tid;
	return th;
}

void target_remove_thread(struct target *t, struct target_thread *th)
{
	size_t i = (size_t)(th - t->threads);

	if (th->stat_fd >= 0)
		close(th->stat_fd);
	if (th->sched_fd >= 0)
		close(th->sched_fd);
	t->threads[i] = t->threads[--t->nthreads];
	tid_rebuild(t);
}

/* List /proc/PID/task; call fn for each tid. Returns count or -1. */
static int list_tasks(pid_t pid, pid_t *out, int max)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) && n < max) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		out[n++] = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return n;
}

int target_refresh_threads(struct target *t)
{
	static pid_t tids[TARGET_MAX_THREADS];
	int n;

	if (t->core)
		return 0; /* a core's threads are those it has */
	n = list_tasks(t->pid, tids, TARGET_MAX_THREADS);
	if (n < 0) {
		t->gone = true;
		return -PERR_GONE;
	}
	if (t->traced) {
		/* Traced threads are tracked through ptrace events. */
		for (int i = 0; i < n; i++)
			if (!target_thread_by_tid(t, tids[i]))
				target_seize_thread(t, tids[i]);
		return 0;
	}
	/* Forget threads that are gone, add new ones. */
	for (size_t i = 0; i < t->nthreads;) {
		bool found = false;
		for (int j = 0; j < n && !found; j++)
			found = tids[j] == t->threads[i].tid;
		if (found)
			i++;
		else
			target_remove_thread(t, &t->threads[i]);
	}
	for (int i = 0; i < n; i++)
		if (!target_thread_by_tid(t, tids[i]))
			target_add_thread(t, tids[i]);
	return 0;
}

int64_t target_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t target_thread_run_ns(struct target *t, pid_t tid)
{
	const struct target_thread *th = target_thread_by_tid(t, tid);
	char path[96], buf[128];
	ssize_t n;

	/* Through the descriptor kept open for the thread: no open() per call. */
	if (th && th->sched_fd >= 0) {
		if ((n = pread(th->sched_fd, buf, sizeof(buf) - 1, 0)) <= 0)
			return 0;
		buf[n] = '\0';
		return strtoull(buf, NULL, 10);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)t->pid, (int)tid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

/*
 * A thread our last stop woke from its sleep (see target_thread.woken)
 * and that is runnable now counts as asleep unless it has run for at
 * least half the time since we let it go: going back into its system
 * call takes microseconds, real work runs.
 */
static char woken_state(struct target *t, struct target_thread *th, char state)
{
	uint64_t ran;
	int64_t since;

	th->woken = false;
	if (state != 'R')
		return state;
	ran = target_thread_run_ns(t, th->tid);
	since = target_now_ns() - th->woken_at;
	if (ran && th->woken_run && ran >= th->woken_run && since > 0 &&
	    (ran - th->woken_run) * 2 < (uint64_t)since)
		return 'S';
	return state;
}

/* The run count of /proc/.../schedstat ("run_ns wait_ns runs"); 0 on failure. */
static uint64_t read_runs(int fd)
{
	char buf[96];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	uint64_t v = 0;

	while (n > 0 && (buf[n - 1] < '0' || buf[n - 1] > '9'))
		n--;
	for (ssize_t i = n, m = 1; i > 0 && n - i < 18 && buf[i - 1] >= '0' && buf[i - 1] <= '9';
	     i--, m *= 10)
		v += (uint64_t)(buf[i - 1] - '0') * (uint64_t)m;
	return v;
}

void target_read_states(struct target *t)
{
	char buf[512];

	t->none_ran = false;
	if (t->core)
		return; /* read from the core's registers when opened */
	t->none_ran = t->nthreads > 0;
	for (size_t i = 0; i < t->nthreads; i++) {
		struct target_thread *th = &t->threads[i];
		bool idle = th->state != 'R' && th->state != '?';
		ssize_t n;
		char *p;

		/*
		 * Not running last time, and not given a CPU since: still not
		 * running (or, woken meanwhile, still waiting for a CPU).  The
		 * count compared must be read before the state that said "not
		 * running" (a thread that got a CPU in between and kept it
		 * would be missed otherwise): a thread that was running last
		 * time has no such count until its next read.
		 */
		if (idle && th->sched_fd >= 0) {
			uint64_t runs = read_runs(th->sched_fd);
			bool same = runs && runs == th->runs;
			th->runs = runs;
			if (same) {
				th->woken = false; /* it did not even run: asleep */
				continue;
			}
		} else {
			th->runs = 0;
		}
		t->none_ran = false;
		th->state = '?';
		if (th->stat_fd < 0)
			continue;
		n = pread(th->stat_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* The command name may contain ')' and spaces: use the last one. */
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2])
			th->state = p[2];
		if (th->woken)
			th->state = woken_state(t, th, th->state);
	}
}

pid_t target_host_tid(struct target *t, pid_t nstid)
{
	if (!t->pidns_differs)
		return nstid;
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].nstid == nstid)
			return t->threads[i].tid;
	return 0;
}

void target_thread_comm(struct target *t, pid_t tid, char *buf, size_t len)
{
	char path[64];
	char tmp[64];

	if (t->core) {
		target_core_comm(t, tid, buf, len);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)t->pid, (int)tid);
	if (read_small(path, tmp, sizeof(tmp)) < 0) {
		snprintf(buf, len, "?");
		return;
	}
	tmp[strcspn(tmp, "\n")] = '\0';
	snprintf(buf, len, "%s", tmp);
}

int target_pid_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = len > 1 ? read_small(path, buf, len - 1) : -1;
	/* Trailing NULs (one per argument end) go, the others become spaces. */
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	if (n <= 0) {
		snprintf(buf, len, "?");
		return -1;
	}
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return 0;
}

void target_cmdline(struct target *t, char *buf, size_t len)
{
	if (t->core)
		target_core_cmdline(t, buf, len);
	else
		target_pid_cmdline(t->pid, buf, len);
}

/* Append the children of 'pid' that out[0 .. *n) does not hold yet. */
static void add_children(pid_t pid, pid_t root, pid_t *out, size_t *n, size_t cap)
{
	static pid_t tids[TARGET_MAX_THREADS];
	int nt = list_tasks(pid, tids, TARGET_MAX_THREADS);

	for (int i = 0; i < nt && *n < cap; i++) {
		char path[96], buf[4096], *p = buf, *end;
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tids[i]);
		len = read_small(path, buf, sizeof(buf) - 1);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		while (*n < cap) {
			long child = strtol(p, &end, 10);
			bool seen = child == root;
			if (end == p)
				break;
			p = end;
			for (size_t k = 0; k < *n && !seen; k++)
				seen = out[k] == child;
			if (!seen && child > 0)
				out[(*n)++] = (pid_t)child;
		}
	}
}

size_t target_descendants(pid_t root, pid_t *out, size_t cap)
{
	size_t n = 0;

	/* Breadth first: out[] is also the queue; each pid is looked into once. */
	add_children(root, root, out, &n, cap);
	for (size_t next = 0; next < n; next++)
		add_children(out[next], root, out, &n, cap);
	return n;
}

int target_stat_ids(pid_t pid, uint64_t *image, uint64_t *start_time)
{
	char path[64], buf[1024], *p;
	unsigned long long v[3] = { 0, 0, 0 }, start = 0;
	ssize_t n;

	*image = *start_time = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_small(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Field 22: starttime; 26-28: startcode, endcode, startstack; field 3
	 * follows ") " (the name in parentheses may hold anything). */
	p = strrchr(buf, ')');
	for (int field = 3; p && field <= 28; field++) {
		p = strchr(p + 1, ' ');
		if (p && field == 22)
			start = strtoull(p + 1, NULL, 10);
		if (p && field >= 26)
			v[field - 26] = strtoull(p + 1, NULL, 10);
	}
	if (!p)
		return -1;
	*image = v[0] * 0x9e3779b97f4a7c15ull ^ v[1] * 0xc2b2ae3d27d4eb4full ^ v[2];
	*start_time = start;
	return 0;
}

uint64_t target_image_id(pid_t pid)
{
	uint64_t image, start;

	return target_stat_ids(pid, &image, &start) == 0 ? image : 0;
}

static bool same_pidns(pid_t pid)
{
	char a[64], b[64], pa[64];
	ssize_t na, nb;

	snprintf(pa, sizeof(pa), "/proc/%d/ns/pid", (int)pid);
	na = readlink(pa, a, sizeof(a) - 1);
	nb = readlink("/proc/self/ns/pid", b, sizeof(b) - 1);
	if (na < 0 || nb < 0)
		return true;
	return na == nb && memcmp(a, b, (size_t)na) == 0;
}

/* Whether this process holds CAP_SYS_PTRACE (bit 19 of CapEff). */
static bool have_cap_sys_ptrace(void)
{
	char buf[4096], *v;

	if (read_small("/proc/self/status", buf, sizeof(buf)) < 0 ||
	    (v = status_field(buf, "CapEff")) == NULL)
		return false;
	return (strtoull(v, NULL, 16) >> 19) & 1;
}

/* Compose the "why" of a refused attach. */
static int explain_perm(pid_t pid, int err)
{
	char path[64], buf[4096], scope[16] = "", comm[64] = "?";
	char *tracer;
	int tpid = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof(buf)) >= 0 &&
	    (tracer = status_field(buf, "TracerPid")) != NULL)
		tpid = atoi(tracer);
	if (tpid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/comm", tpid);
		if (read_small(path, comm, sizeof(comm)) >= 0)
			comm[strcspn(comm, "\n")] = '\0';
		return perr_set(PERR_PERM,
				"cannot attach to pid %d: it is already traced by pid %d (%s); "
				"only one tracer can attach at a time", (int)pid, tpid, comm);
	}
	if (read_small("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope)) >= 0)
		scope[strcspn(scope, "\n")] = '\0';
	if (strcmp(scope, "3") == 0)
		return perr_set(PERR_PERM,
				"cannot attach to pid %d: %s; ptrace is disabled on this system "
				"(kernel.yama.ptrace_scope = 3, reboot needed to lower it)",
				(int)pid, strerror(err));
	if (have_cap_sys_ptrace())
		return perr_set(PERR_PERM,
				"cannot attach to pid %d: %s, although pyspy-c has CAP_SYS_PTRACE: "
				"a security module (AppArmor, SELinux), a sandbox, or a user "
				"namespace pyspy-c is not privileged in protects it",
				(int)pid, strerror(err));
	return perr_set(PERR_PERM,
			"cannot attach to pid %d: %s; run as root or with CAP_SYS_PTRACE%s%s%s",
			(int)pid, strerror(err),
			scope[0] && strcmp(scope, "0") != 0 ? " (kernel.yama.ptrace_scope = " : "",
			scope[0] && strcmp(scope, "0") != 0 ? scope : "",
			scope[0] && strcmp(scope, "0") != 0 ? ")" : "");
}

/* Seize every thread, repeating until no new thread appears. */
/* The tracer of thread 'tid' (0: none), or -1 when it cannot be read. */
static int tracer_of(pid_t pid, pid_t tid)
{
	char path[96], buf[4096], *v;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	if (read_small(path, buf, sizeof(buf)) < 0 || (v = status_field(buf, "TracerPid")) == NULL)
		return -1;
	return atoi(v);
}

/* Whether thread 'tid' has ended (gone, or a zombie not yet reaped): not seizable. */
static bool thread_ending(pid_t pid, pid_t tid)
{
	char path[96], buf[4096], *v;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return true;
	v = status_field(buf, "State");
	return v && (v[0] == 'Z' || v[0] == 'X');
}

/*
 * Whether thread 'tid' is traced by a tracer that is going away (or is
 * not traced any more): a pyspy-c that just ended (dump after dump)
 * releases its threads as it exits, a moment after its parent saw it end.
 */
static bool tracer_leaving(pid_t pid, pid_t tid)
{
	char path[64], buf[4096], *v;
	int tracer = tracer_of(pid, tid);

	if (tracer <= 0)
		return tracer == 0;
	snprintf(path, sizeof(path), "/proc/%d/status", tracer);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return true;
	v = status_field(buf, "State");
	return v && (v[0] == 'Z' || v[0] == 'X');
}

#define SEIZE_RETRIES 50      /* x 10 ms: a leaving tracer's release */

static int seize_all(struct target *t, bool listed_too)
{
	static pid_t tids[TARGET_MAX_THREADS];

	t->traced = true;
	target_register(t);
	for (int round = 0; round < 100; round++) {
		int n = list_tasks(t->pid, tids, TARGET_MAX_THREADS), added = 0;
		if (n <= 0)
			return perr_set(PERR_NOPROC, "no such process: %d", (int)t->pid);
		for (int i = 0; i < n; i++) {
			const struct target_thread *have = target_thread_by_tid(t, tids[i]);
			int rc;
			if (have && (have->seized || !listed_too))
				continue;
			rc = target_seize_thread(t, tids[i]);
			/*
			 * Already ours: a thread another seized thread made
			 * meanwhile is traced from its start (TRACECLONE); its
			 * first stop adopts it (ptrace.c).  Or it has just
			 * ended: nothing to seize.
			 */
			if (rc == -PERR_PERM && (tracer_of(t->pid, tids[i]) == (int)getpid() ||
						 thread_ending(t->pid, tids[i])))
				continue;
			for (int k = 0; rc == -PERR_PERM && k < SEIZE_RETRIES &&
					tracer_leaving(t->pid, tids[i]); k++) {
				usleep(10000);
				rc = target_seize_thread(t, tids[i]);
			}
			if (rc == -PERR_PERM) {
				int e = errno;
				if (t->nthreads == 0)
					t->traced = false;
				return explain_perm(t->pid, e);
			}
			if (rc == 0)
				added++;
		}
		if (!added)
			return 0;
	}
	return 0;
}

int target_reload(struct target *t)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)t->pid);
	n = readlink(path, t->exe, sizeof(t->exe) - 1);
	if (n < 0) {
		if (errno == ENOENT)
			return perr_set(PERR_NOPROC, "no such process: %d", (int)t->pid);
		if (errno == EACCES || errno == EPERM)
			return explain_perm(t->pid, errno);
		return perr_set(PERR_RUNTIME, "cannot read '%s': %s", path, strerror(errno));
	}
	t->exe[n] = '\0';
	{
		char *del = strstr(t->exe, " (deleted)");
		if (del && del[10] == '\0')
			*del = '\0';
	}
	return target_load_maps(t);
}

/*
 * Two /proc files stay open per thread (stat, schedstat): a target with a
 * few hundred threads would exhaust the usual soft limit of 1024
 * descriptors, and a thread whose files cannot be opened has no known
 * state.  Raise the soft limit to the hard one, once.
 */
static void raise_fd_limit(void)
{
	static bool done;
	struct rlimit rl;

	if (done)
		return;
	done = true;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int target_open(struct target *t, pid_t pid, bool seize)
{
	sigset_t set;
	uint64_t probe;
	int rc;

	raise_fd_limit();
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->sig_fd = -1;
	t->exit_status = -1;
	if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH))
		return perr_set(PERR_NOPROC, "no such process: %d", (int)pid);
	rc = target_reload(t);
	if (rc)
		return rc;
	t->pidns_differs = !same_pidns(pid);
	/* Can we read its memory at all?  Probe the first mapping. */
	if (t->nmaps && target_read(t, t->maps[0].start, &probe, sizeof(probe)) == -PERR_PERM)
		return explain_perm(pid, EPERM);

	/* ptrace stops are reported with SIGCHLD, which we wait for. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	if (seize) {
		rc = seize_all(t, false);
		if (rc)
			return rc;
	} else {
		rc = target_refresh_threads(t);
		if (rc)
			return perr_set(PERR_NOPROC, "no such process: %d", (int)pid);
	}
	return 0;
}

int target_seize_listed(struct target *t)
{
	/* Threads already listed are seized in place (target_seize_thread). */
	return t->traced ? 0 : seize_all(t, true);
}

void target_close(struct target *t)
{
	if (!t)
		return;
	target_detach_all(t);
	target_unregister(t);
	for (size_t i = 0; i < t->nthreads; i++) {
		if (t->threads[i].stat_fd >= 0)
			close(t->threads[i].stat_fd);
		if (t->threads[i].sched_fd >= 0)
			close(t->threads[i].sched_fd);
	}
	free(t->threads);
	t->threads = NULL;
	free(t->tid_slots);
	t->tid_slots = NULL;
	t->tid_nslots = 0;
	free(t->snap);
	t->snap = NULL;
	t->nthreads = t->cap_threads = 0;
	target_maps_release(t);
	target_core_release(t);
}
