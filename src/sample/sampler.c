/*
 * sampler.c - the sampling loop.
 *
 * Ticks fall on absolute deadlines (start + k * period), so the rate does
 * not drift with the cost of each sample.  When the loop falls behind by
 * more than a period, the missed deadlines are counted as late and skipped
 * rather than made up in a burst (a burst would sample the same instant
 * several times and distort the profile).
 *
 * Between ticks the loop sleeps in ppoll() on a signalfd, so a ptrace event
 * of the target (a signal to re-inject, a new thread) is handled at once
 * and Ctrl-C ends the recording at once.
 *
 * A sleep ends some tens of microseconds after its deadline (timer slack,
 * the timer interrupt, the wake-up; more in a virtual machine), which at
 * 10-20 kHz is most of a period.  So the loop learns how late its
 * wake-ups are, and when less time than that is left it does not sleep:
 * it looks at the signalfd without waiting and spins on the clock until
 * the deadline.  Spinning pays only while this CPU is otherwise free: a
 * spinning task loses the scheduler's preference for tasks that wake up,
 * and on a busy CPU is preempted for whole time slices.  So a spin that
 * ends late counts against spinning, and after a few the loop sleeps
 * again, trying one spin now and then.  Timer slack is cut to a
 * twentieth of the period (the default, 50 us, is kept at low rates,
 * where a coarser wake-up is cheaper and does not matter).
 */
#define _GNU_SOURCE
#include "pyspy/sampler.h"
#include "pyspy/error.h"
#include "sample_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define STOP_TIMEOUT_MS 100
/* Stops slower than this (moving average) are asked at the start of a tick. */
#define EARLY_STOP_NS 500000
#define EARLY_AFTER 3        /* slow stops in a row */
#define EARLY_RETRY 64       /* quick stops after an early ask: try without */
#define MAX_LABELS 4096
#define REFRESH_NS 100000000 /* 100 ms */
#define MAX_SPIN_NS 200000   /* never spin longer than this */
#define DEFAULT_SLACK_NS 50000

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Thread root frames, interned once per thread, when the thread is first
 * seen, while the target is still stopped: a short-lived thread may be
 * gone from threading._active (or gone altogether) a moment later.  The
 * name is the Python one (threading) if it can be read, else the OS one;
 * a thread not yet known to threading (caught before it registered
 * itself) is looked up again at the next samples, then a few times a
 * second or more apart.
 */
#define NAME_TRIES 8
#define NAME_QUICK_TRIES 4
#define NAME_RETRY_NS 1000000000

struct labels {
	pid_t tid[MAX_LABELS];
	uint64_t id[MAX_LABELS];
	int64_t interp[MAX_LABELS];     /* interp_key() */
	uint32_t func[MAX_LABELS];
	uint8_t tries[MAX_LABELS];      /* failed Python name look-ups */
	int64_t tried_at[MAX_LABELS];
	size_t n;
	size_t next;                    /* when full, the entry to reuse (the
					   oldest: threads come and go) */
};

/*
 * The interpreter a thread label names: none while the process has one
 * interpreter (INTERP_NONE), else the thread's (INTERP_MAIN for the main
 * one, its id, or INTERP_UNKNOWN before 3.7, which has no ids).
 */
#define INTERP_NONE (-3)
#define INTERP_MAIN (-2)
#define INTERP_UNKNOWN (-1)

static int64_t interp_key(const struct pyinterp *pi, const struct py_thread_sample *th)
{
	/* A thread that runs no Python (--native --threads) is in none. */
	if ((pi->ninterps < 2 && th->main_interp) || !th->tstate)
		return INTERP_NONE;
	return th->main_interp ? INTERP_MAIN : th->interp_id < 0 ? INTERP_UNKNOWN : th->interp_id;
}

static uint32_t label_func(struct pyinterp *pi, struct target *t, struct profile *prof,
			   const struct py_thread_sample *th, int64_t interp, bool *python_name)
{
	char name[128], text[240], in[40] = "";

	*python_name = th->thread_id &&
		       pyinterp_thread_name(pi, th->thread_id, name, sizeof(name)) == 0;
	if (!*python_name && th->tid)
		target_thread_comm(t, th->tid, name, sizeof(name));
	if (interp == INTERP_MAIN)
		snprintf(in, sizeof(in), " [interp main]");
	else if (interp == INTERP_UNKNOWN)
		snprintf(in, sizeof(in), " [interp ?]");
	else if (interp >= 0)
		snprintf(in, sizeof(in), " [interp %lld]", (long long)interp);
	if (th->tid)
		snprintf(text, sizeof(text), "thread \"%s\" (%d)%s", name, (int)th->tid, in);
	else
		snprintf(text, sizeof(text), "thread (0x%llx)%s", (unsigned long long)th->thread_id,
			 in);
	return profile_func(prof, FUNC_LABEL, text, NULL, NULL);
}

static uint32_t thread_label(struct labels *lb, struct pyinterp *pi, struct target *t,
			     struct profile *prof, const struct py_thread_sample *th)
{
	int64_t interp = interp_key(pi, th);
	bool named;
	uint32_t f;

	for (size_t i = 0; i < lb->n; i++) {
		if (lb->tid[i] != th->tid || lb->id[i] != th->thread_id || lb->interp[i] != interp)
			continue;
		if (lb->tries[i] && lb->tries[i] < NAME_TRIES &&
		    (lb->tries[i] < NAME_QUICK_TRIES ||
		     now_ns() - lb->tried_at[i] >= NAME_RETRY_NS)) {
			f = label_func(pi, t, prof, th, interp, &named);
			lb->tries[i] = named ? 0 : lb->tries[i] + 1;
			lb->tried_at[i] = now_ns();
			if (f != FUNC_NONE)
				lb->func[i] = f;
		}
		return lb->func[i];
	}
	f = label_func(pi, t, prof, th, interp, &named);
	if (f != FUNC_NONE) {
		/*
		 * Under thread churn the table fills: reuse the oldest entry
		 * rather than naming every later thread again at every sample,
		 * while the target is stopped.
		 */
		size_t i = lb->n < MAX_LABELS ? lb->n++ : lb->next++ % MAX_LABELS;
		lb->tid[i] = th->tid;
		lb->id[i] = th->thread_id;
		lb->interp[i] = interp;
		lb->func[i] = f;
		/* Threads Python does not know (thread_id 0) have no Python name. */
		lb->tries[i] = !named && th->thread_id;
		lb->tried_at[i] = now_ns();
	}
	return f;
}

/* Host tid of a thread we hold stopped, else 0 (its C stack cannot be read). */
static pid_t stopped_tid(struct target *t, pid_t tid)
{
	const struct target_thread *tt = tid ? target_thread_by_tid(t, tid) : NULL;

	return tt && tt->stopped ? tid : 0;
}

static bool python_knows(const struct py_sample *s, pid_t tid)
{
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return true;
	return false;
}

/*
 * Count one thread's stack: 'th' is a Python thread of sample 's', or,
 * with --native --threads, a thread Python does not know (th->nframes 0,
 * no thread state).
 */
static void record_thread(struct sproc *p, struct profile *prof, const struct sampler_opts *o,
			  const struct py_thread_sample *th, bool python, struct labels *lb,
			  struct sampler_stats *st)
{
	static struct frame_ref buf[NATIVE_STACK_CAP + 3];
	struct target *t = p->t;
	const struct py_sample *s = p->s;
	uint32_t label = FUNC_NONE;
	size_t n = 0, root, m = 0;

	if (th->truncated)
		st->truncated++;
	if (p->label != FUNC_NONE)
		buf[n++] = (struct frame_ref){ p->label, p->label_line };
	/* The timeline names its threads even without --threads. */
	if (o->threads || o->timeline)
		label = thread_label(lb, p->pi, t, prof, th);
	if (o->threads && label != FUNC_NONE)
		buf[n++] = (struct frame_ref){ label, -1 };
	root = n;
	if (p->native) {
		if (native_collect(p->native, prof, s, python ? th : NULL,
				   stopped_tid(t, th->tid), buf + n, NATIVE_STACK_CAP, &m) ==
		    -PERR_NOMEM) {
			st->stack_errors++;
			return;
		}
	} else {
		m = th->nframes < PY_MAX_DEPTH ? th->nframes : PY_MAX_DEPTH;
		memcpy(buf + n, s->frames + th->first, m * sizeof(*buf));
	}
	if (m == 0)
		return;
	if (o->function)
		for (size_t k = n; k < n + m; k++)
			buf[k].line = -1;
	n += m;
	/* The collector runs on top of what the thread was doing. */
	if (python && th->in_gc && !o->no_gc &&
	    (buf[n] = (struct frame_ref){ profile_func(prof, FUNC_LABEL, FUNC_GC_LABEL, NULL, NULL), -1 })
			    .func != FUNC_NONE)
		n++;
	if (profile_add(prof, buf, n, 1) != 0)
		st->stack_errors++;
	/* Failures are counted by the timeline itself and reported. */
	if (o->timeline)
		timeline_add(o->timeline, th->tid, th->tstate, th->thread_id, label, buf + root,
			     n - root);
}

/* Whether a Python thread of the sample is counted. */
static bool counted(const struct sproc *p, const struct sampler_opts *o,
		    const struct py_thread_sample *th)
{
	/*
	 * Without --native a thread with no Python frame has nothing to show;
	 * with it, its C stack, if it has an OS thread (a thread state of a
	 * thread not started yet, or finished, has none).
	 */
	if (o->one_interp && (o->interp_main ? !th->main_interp
					     : th->main_interp || th->interp_id != o->interp_id))
		return false;
	return !((th->nframes == 0 && (!p->native || !th->tid)) || (th->idle && !o->idle) ||
		 (o->gil && !th->holds_gil));
}

/* Whether no thread of the last sample was counted. */
static bool none_counted(const struct sproc *p, const struct sampler_opts *o)
{
	for (size_t i = 0; i < p->s->nthreads; i++)
		if (counted(p, o, &p->s->threads[i]))
			return false;
	return true;
}

static int record_sample(struct sproc *p, struct profile *prof, const struct sampler_opts *o,
			 struct labels *lb, struct sampler_stats *st)
{
	struct target *t = p->t;
	struct py_sample *s = p->s;

	if (p->native)
		native_begin_sample(p->native);
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct py_thread_sample *th = &s->threads[i];

		if (counted(p, o, th))
			record_thread(p, prof, o, th, true, lb, st);
	}
	if (!p->native || !o->threads)
		return 0;
	for (size_t i = 0; i < t->nthreads; i++) {
		const struct target_thread *tt = &t->threads[i];
		struct py_thread_sample th = { .tid = tt->tid, .idle = tt->state != 'R' };

		if ((th.idle && !o->idle) || o->gil || o->one_interp || !tt->stopped ||
		    python_knows(s, tt->tid))
			continue;
		record_thread(p, prof, o, &th, false, lb, st);
	}
	return 0;
}

/*
 * Blocking mode: stop what must stop for a consistent snapshot, and walk.
 *
 * With a GIL only its holder can change Python frames, and a thread can
 * only start running Python by taking the GIL, which moves its switch
 * count unless that thread was the last holder.  So it is enough to stop
 * the GIL's (last) holder: if the holder read just before the walk is a
 * thread we hold stopped and the switch count read just after it is the
 * same, no thread ran Python meanwhile.  Both GIL reads travel in the
 * walk's own system call (pyinterp_sample_gil), and the thread to stop is
 * the holder of the last sample, unread, as long as the holder stays the
 * same from sample to sample.  When it moved since the last sample
 * (threads taking turns), the GIL is read first, and the running threads
 * (OS state R) are stopped with its holder: while the GIL changes hands,
 * the next holder is a thread just woken, and a wrong guess costs a
 * second stop and walk.  If no stopped thread turns out to be the holder, or the GIL
 * changed hands during the walk, the holder read after the walk is
 * stopped too and the walk done again (up to SELECTIVE_ROUNDS walks), and
 * only then is everything stopped: stopping everything wakes every
 * sleeping thread out of its system call (some, such as a Python lock
 * wait, then run for a moment), so it is the last resort, as it is when
 * the holder is not known.
 * Threads asleep are left alone, which also spares them the interrupted
 * system call a stop costs; so are, as long as the holder stays, running
 * threads without the GIL (in C code), whose Python frames cannot change.
 * 2.7 keeps no switch count: there the walk counts as consistent only if
 * the same thread held the GIL before and after it (a stopped holder
 * cannot release it).  Free-threaded builds, subinterpreters and thread
 * states of unknown tid get a full stop.  With --native the C stacks of
 * running threads are read too, so they are stopped as well.
 */
#define SELECTIVE_ROUNDS 3

/*
 * Walk every thread of a stopped (or, non-blocking, running) target; with
 * want_gil, mark the GIL's holder from the read that travels with the walk.
 */
static int walk_all(struct pyinterp *pi, struct py_sample *s, bool want_gil)
{
	struct py_gil g1, g2;
	int rc;

	if (!want_gil)
		return pyinterp_sample(pi, s);
	rc = pyinterp_sample_gil(pi, s, &g1, &g2);
	if (rc == 0)
		pyinterp_mark_gil(pi, s, &g2);
	return rc;
}

static bool consistent(struct target *t, struct pyinterp *pi, const struct py_gil *g1,
		       const struct py_gil *g2)
{
	pid_t holder = pyinterp_tstate_tid(pi, g1->holder);
	const struct target_thread *tt = holder ? target_thread_by_tid(t, holder) : NULL;

	if (!g1->known || !g2->known || !tt || !tt->stopped || pi->ninterps > 1)
		return false;
	if (g1->no_switch_count)
		return g1->locked && g2->locked && g2->holder == g1->holder;
	return g2->switches == g1->switches;
}

/* The threads a selective stop takes: the GIL's holder, and with --native
 * or after a move every thread that may be running. */
static size_t stop_list(const struct sproc *p, pid_t holder, pid_t *tids)
{
	const struct target *t = p->t;
	size_t n = 0;

	tids[n++] = holder;
	for (size_t i = 0; (p->native || p->moved) && i < t->nthreads && n < TARGET_MAX_THREADS;
	     i++)
		if ((t->threads[i].state == 'R' || t->threads[i].state == '?') &&
		    t->threads[i].tid != holder)
			tids[n++] = t->threads[i].tid;
	return n;
}

/* The thread that holds the GIL as far as we know, or 0: stop them all. */
static pid_t first_holder(struct sproc *p, const struct sampler_opts *o)
{
	struct pyinterp *pi = p->pi;
	struct py_gil g;
	pid_t holder = pyinterp_tstate_tid(pi, pi->last_holder);

	if (p->moved && holder && pyinterp_gil(pi, &g) == 0 && g.known)
		holder = pyinterp_tstate_tid(pi, g.holder);
	/* --native --idle shows the C stacks of sleeping threads too: they
	 * must be stopped to be unwound. */
	if ((p->native && o->idle) || pi->ninterps > 1)
		return 0;
	return holder;
}

static int stop_for_sample(struct sproc *p, const struct sampler_opts *o,
			   struct sampler_stats *st)
{
	bool want_gil = o->gil || o->read_gil;
	struct target *t = p->t;
	struct pyinterp *pi = p->pi;
	struct py_sample *s = p->s;
	static pid_t tids[TARGET_MAX_THREADS];
	struct py_gil g1, g2;
	uint64_t last = pi->last_holder;
	pid_t holder = first_holder(p, o);
	int rc;

	if (!holder)
		goto full;
	for (int round = 0; round < SELECTIVE_ROUNDS && holder; round++) {
		size_t n;

		if (round)
			st->rewalks++;
		n = stop_list(p, holder, tids);
		rc = target_stop_tids(t, tids, n, STOP_TIMEOUT_MS);
		if (rc)
			return rc;
		rc = pyinterp_sample_gil(pi, s, &g1, &g2);
		if (rc == -PERR_GONE || rc == -PERR_PERM)
			return rc;
		if (rc == 0 && consistent(t, pi, &g1, &g2)) {
			if (want_gil)
				pyinterp_mark_gil(pi, s, &g2);
			/* The holder changed since the last sample: it may again. */
			p->moved = g1.holder != last;
			return 0;
		}
		/*
		 * Another thread held the GIL, before the walk or after it (it
		 * took the GIL meanwhile): stop it as well and walk again.
		 */
		if (!g2.known || !(holder = pyinterp_tstate_tid(pi, g2.holder)))
			break;
	}
	st->full_stops++;
	p->moved = true;
full:
	rc = target_stop(t, STOP_TIMEOUT_MS);
	if (rc)
		return rc;
	/* Reads the GIL too, so that the next sample knows its holder. */
	rc = pyinterp_sample_gil(pi, s, &g1, &g2);
	if (rc == 0 && want_gil)
		pyinterp_mark_gil(pi, s, &g2);
	return rc;
}

/* The counts of a window (top's header): activity and the GIL. */
static void count_sample(struct sampler_stats *st, const struct py_sample *s)
{
	bool gil = false;

	for (size_t i = 0; i < s->nthreads; i++) {
		if (s->threads[i].nframes && !s->threads[i].idle)
			st->active++;
		gil = gil || s->threads[i].holds_gil;
	}
	st->gil += s->gil_known && gil;
	st->gil_known += s->gil_known;
	st->gc += s->gc_known && s->gc_running;
	st->gc_known += s->gc_known;
	st->threads = (unsigned)s->nthreads;
}

/* A failed sample of process p, counted with its reason. */
static void count_failure(struct sampler_stats *st, struct sproc *p, int rc)
{
	st->failed++;
	if (rc == -PERR_TIMEOUT) {
		st->timeouts++;
	} else if (rc == -PERR_TORN) {
		st->torn++;
	} else {
		st->other_failed++;
		st->other_error = rc;
	}
	if (!p->failed) {
		p->failed = true;
		st->failed_processes++;
	}
}

/*
 * Whether process p's stops are slow.  A stop waits for the
 * thread to get a CPU and enter the kernel: on a busy host that can take
 * milliseconds, and waited for one process after another the tick falls
 * behind (ten busy targets on two cores: most ticks missed).  Processes
 * whose last EARLY_AFTER stops each took over EARLY_STOP_NS are asked to
 * stop at the start of the tick (ask_early), so that their waits overlap;
 * quick ones are not, since an early ask holds a target stopped while the
 * others are sampled (one slow stop now and then is no reason).
 * 'early': the wait measured is what was left after an early ask.
 */
static void note_stop_wait(struct sproc *p, int64_t took, bool early)
{
	if (took > EARLY_STOP_NS) {
		p->slow_stops += p->slow_stops < EARLY_AFTER;
		p->quick_early = 0;
	} else if (!early) {
		p->slow_stops = 0;
	} else if (++p->quick_early >= EARLY_RETRY) {
		/* Stopped in time each time it was asked early: try without. */
		p->slow_stops = 0;
		p->quick_early = 0;
	}
}

/*
 * The time this sample held p's threads stopped: from their stop to the
 * resume (target.held_ns; the wait for a thread to reach its stop is not
 * in it, it runs or waits for a CPU until then).  Asked early, it stopped
 * while other processes were sampled, at a moment not seen: counted from
 * the ask.
 */
static void note_held(struct sproc *p, struct sampler_stats *st, int64_t asked)
{
	uint64_t held = p->t->held_ns - p->held_seen;

	p->held_seen = p->t->held_ns;
	if (asked && now_ns() - asked > (int64_t)held)
		held = (uint64_t)(now_ns() - asked);
	st->stopped_ns += held;
}

/* Whether every thread of t was asleep (S or D) at its last state read. */
static bool all_asleep(const struct target *t)
{
	if (!t->nthreads)
		return false;
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].state != 'S' && t->threads[i].state != 'D')
			return false;
	return true;
}

/*
 * One process, one tick: stop (if blocking), walk, resume, record.
 * Returns 1 when a sample was taken, 0 when it failed (counted), or a
 * negative PERR_*: -PERR_GONE when the process is gone.
 */
static int take_sample(struct sproc *p, struct profile *prof, const struct sampler_opts *o,
		       struct labels *lb, struct sampler_stats *st)
{
	struct target *t = p->t;
	struct py_sample *s = p->s;
	uint64_t degraded = p->pi->degraded;
	int64_t asked_at = 0;
	int rc = 0;

	/*
	 * Stopped, what the target does not give three samples in a row is
	 * corrupt, and shown degraded; before that, or running, it may be
	 * changing: the thread is left out.
	 */
	p->pi->degrade_ok = o->blocking && target_all_seized(t);
	p->pi->read_gc = !o->no_gc;
	p->pi->degrade_after = 3;
	/*
	 * Untraced threads are not reported to us: list them now and then
	 * (every REFRESH_NS), and at once when a thread of the last sample
	 * was missing from the list.
	 */
	if (!o->blocking && (now_ns() - p->last_refresh >= REFRESH_NS || p->unknown_thread)) {
		target_refresh_threads(t);
		p->last_refresh = now_ns();
	}
	/* The OS state must be read before the stop, which changes it; with
	 * --idle nothing depends on it (with --native, which threads to stop
	 * and show does). */
	bool states = (!o->idle || o->native || o->native_opts);
	bool stop;

	if (states && !p->states_read)
		target_read_states(t);
	p->states_read = false;
	/*
	 * Its last sample showed nothing (every thread idle, dropped) and no
	 * thread of it has run since: its memory is as that sample read it,
	 * and this one would show nothing again.  Taken without a read (a
	 * pool's waiting workers, sampled all day by an agent).
	 */
	if (states && !o->idle && !p->native && p->showed_none && t->none_ran &&
	    !p->unknown_thread && !p->asked_at) {
		st->unchanged++;
		return 1;
	}
	p->showed_none = false;
	/*
	 * Blocking, but every thread asleep (in a system call, not runnable)
	 * at the read just done: their frames do not change while they sleep,
	 * and a stop would only wake them.  Read as --nonblocking does (a
	 * thread that wakes meanwhile makes the read torn, or is left out);
	 * with --native, or when asked to stop early, stop as usual.
	 */
	stop = o->blocking && (p->asked_at || p->native || !states || !all_asleep(t));
	if (o->blocking && !stop) {
		p->pi->degrade_ok = false;
		rc = walk_all(p->pi, s, o->gil || o->read_gil);
		/* A thread whose OS thread is not known yet (2.7 to 3.7 learn it
		 * from a stopped thread): take the sample stopped after all. */
		for (size_t i = 0; rc == 0 && i < s->nthreads && !stop; i++)
			stop = !s->threads[i].tid && s->threads[i].thread_id;
		if (stop)
			p->pi->degrade_ok = target_all_seized(t);
	}
	if (stop) {
		int64_t asked = p->asked_at, t0 = now_ns();

		asked_at = asked;
		p->asked_at = 0;
		rc = stop_for_sample(p, o, st);
		note_stop_wait(p, now_ns() - t0, asked != 0);
		if (rc) {
			target_resume(t);
			note_held(p, st, asked_at);
			if (rc == -PERR_GONE)
				return rc;
			count_failure(st, p, rc);
			return 0;
		}
	} else if (!o->blocking) {
		rc = walk_all(p->pi, s, o->gil || o->read_gil);
	}
	/* Threads first seen are named before the target runs on (see labels). */
	if (rc == 0 && (o->threads || o->timeline))
		for (size_t i = 0; i < s->nthreads; i++)
			if (counted(p, o, &s->threads[i]))
				thread_label(lb, p->pi, t, prof, &s->threads[i]);
	/*
	 * C stacks are read from the stopped threads while recording: with
	 * --native the target runs again only after that.
	 */
	if (stop && (rc || !p->native)) {
		target_resume(t);
		note_held(p, st, asked_at);
	}
	if (rc == -PERR_GONE || t->gone)
		return -PERR_GONE;
	if (rc == -PERR_PERM || rc == -PERR_VERSION)
		return rc;
	if (rc) {
		count_failure(st, p, rc);
		return 0;
	}
	st->degraded += p->pi->degraded - degraded;
	st->dropped += s->dropped;
	count_sample(st, s);
	st->interps = p->pi->ninterps;
	p->unknown_thread = false;
	for (size_t i = 0; i < s->nthreads; i++)
		if (!s->threads[i].tid && s->threads[i].thread_id)
			p->unknown_thread = true;
	rc = record_sample(p, prof, o, lb, st);
	p->showed_none = rc == 0 && !p->native && none_counted(p, o);
	if (stop && p->native) {
		target_resume(t);
		note_held(p, st, asked_at);
	}
	return rc ? rc : 1;
}

static void ask_early(struct procs *ps, const struct sampler_opts *o)
{
	static pid_t tids[TARGET_MAX_THREADS];
	int64_t now = now_ns();

	for (size_t i = 0; i < ps->n; i++) {
		struct sproc *p = ps->p[i];
		pid_t holder;
		size_t n = 0;

		if (p->slow_stops < EARLY_AFTER || !p->t->traced || p->t->gone)
			continue;
		if (!o->idle || o->native || o->native_opts) {
			target_read_states(p->t);
			p->states_read = true;
		}
		holder = first_holder(p, o);
		if (holder)
			n = stop_list(p, holder, tids);
		target_interrupt_tids(p->t, n ? tids : NULL, n);
		p->asked_at = now;
	}
}

/* Processes asked early whose turn did not come (the tick ended): let them go. */
static void release_early(struct procs *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->p[i]->asked_at) {
			target_resume(ps->p[i]->t);
			ps->p[i]->asked_at = 0;
			ps->p[i]->states_read = false;
		}
}

/* One tick over every process; the target's exit ends the recording. */
static int take_samples(struct procs *ps, struct profile *prof, const struct sampler_opts *o,
			struct labels *lb, struct sampler_stats *st, int64_t when)
{
	bool taken = false;

	if (o->timeline)
		timeline_begin_sample(o->timeline, when);
	if (o->blocking && ps->n > 1)
		ask_early(ps, o);
	for (size_t i = 0; i < ps->n;) {
		struct sproc *p = ps->p[i];
		int rc = take_sample(p, prof, o, lb, st);
		/* serve: a process that fails is dropped, never the session. */
		if (i >= ps->fixed && (rc == -PERR_GONE || (rc < 0 && o->discover))) {
			procs_drop(ps, i, rc == -PERR_GONE ? "exited" : perr_detail(rc));
			continue;
		}
		if (rc < 0) {
			release_early(ps);
			return rc;
		}
		taken |= rc == 1;
		p->info.samples += rc == 1;
		p->info.failed += rc == 0;
		st->proc_samples += rc == 1;
		i++;
	}
	if (taken)
		st->taken++;
	return 0;
}

/* The counts of st since 'mark', as a window of 'ns' nanoseconds. */
static void window_of(const struct sampler_stats *st, const struct sampler_stats *mark,
		      int64_t start_realtime_ns, int64_t ns, struct sampler_window *w)
{
	*w = (struct sampler_window){
		.start_realtime_ns = start_realtime_ns,
		.seconds = (double)ns / 1e9,
		.samples = st->taken - mark->taken,
		.late = st->late - mark->late,
		.failed = st->failed - mark->failed,
		.active = st->active - mark->active,
		.gil = st->gil - mark->gil,
		.gil_known = st->gil_known - mark->gil_known,
		.gc = st->gc - mark->gc,
		.gc_known = st->gc_known - mark->gc_known,
		.threads = st->threads,
		.interps = st->interps,
		.stopped_ns = st->stopped_ns - mark->stopped_ns,
		.proc_samples = st->proc_samples - mark->proc_samples,
		.degraded = st->degraded - mark->degraded,
		.dropped = st->dropped - mark->dropped,
	};
}

void sampler_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
	/* Job control: suspended only between samples (drain_signals). */
	sigaddset(set, SIGTSTP);
	sigaddset(set, SIGTTIN);
	sigaddset(set, SIGTTOU);
}

static int make_signalfd(void)
{
	sigset_t set;

	sampler_signals(&set);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/*
 * Drain the signalfd; returns a stop signal seen, or 0.  Ctrl-Z (SIGTSTP,
 * or SIGTTIN/SIGTTOU) suspends the profiler here, between two samples,
 * with every thread of the target running: delivered at any other moment
 * it could freeze a thread held for a sample as long as we stay suspended.
 * (SIGSTOP cannot be caught; it can still do that.)
 */
static int drain_signals(int fd, struct procs *ps)
{
	struct signalfd_siginfo si;
	bool suspend = false;
	int stop = 0;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (si.ssi_signo == SIGTSTP || si.ssi_signo == SIGTTIN || si.ssi_signo == SIGTTOU)
			suspend = true;
		else
			stop = (int)si.ssi_signo;
	}
	/* Events of every traced process go to their owner (ptrace.c). */
	for (size_t i = 0; i < ps->n; i++)
		target_poll(ps->p[i]->t);
	if (suspend && !stop) {
		/*
		 * Nothing is held between samples; make sure, and let the
		 * interrupts of a stop that timed out arrive first: one that
		 * came while we are suspended would hold its thread until
		 * SIGCONT.
		 */
		for (size_t i = 0; i < ps->n; i++)
			target_settle(ps->p[i]->t, 1000);
		raise(SIGSTOP);
	}
	return stop;
}

int sampler_run(struct target *t, struct pyinterp *pi, struct profile *prof,
		const struct sampler_opts *o, struct sampler_stats *st)
{
	int64_t period = (int64_t)(1e9 / o->rate);
	int64_t start, next, end, realtime0, last_procs = 0;
	int64_t interval = o->interval > 0 ? (int64_t)(o->interval * 1e9) : 0;
	int64_t window_start, window_end;
	struct sampler_stats mark; /* the counts when the window began */
	int64_t late_ns = 0;        /* how late a wake-up usually is (moving average) */
	int64_t spin_late_ns = 0;   /* how late a spin ends (moving average) */
	uint64_t spin_probe = 0;
	int64_t refresh_ns = o->discover && o->discover_every > 0 ?
				     (int64_t)(o->discover_every * 1e9) : REFRESH_NS;
	struct procs *ps = calloc(1, sizeof(*ps));
	struct labels *lb = calloc(1, sizeof(*lb));
	struct sampler_proc *wprocs = calloc(2 * TARGET_MAX_PROCS, sizeof(*wprocs));
	int sfd = make_signalfd(), rc = 0;
	struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
				 { .fd = o->input ? o->input_fd : -1, .events = POLLIN } };

	memset(st, 0, sizeof(*st));
	mark = *st;
	if (!ps || !lb || !wprocs || sfd < 0 || procs_init(ps, t, pi, prof, o) != 0) {
		rc = perr_set(PERR_RUNTIME, "cannot set up the sampler: %s", strerror(errno));
		goto out;
	}
	if (period < 1000)
		period = 1000;
	if (period / 20 < DEFAULT_SLACK_NS)
		prctl(PR_SET_TIMERSLACK, (unsigned long)(period / 20 > 1 ? period / 20 : 1), 0, 0, 0);
	/* 3.11+ needs the frames' addresses to find the eval calls. */
	if (o->native && t)
		ps->p[0]->s->keep_sources = true;
	/* Samples of idle threads are dropped: their frames need not be read. */
	if (t)
		ps->p[0]->s->skip_idle = !o->idle;
	/*
	 * Learn which thread state is which thread with one walk that stops
	 * nothing, so that even the first sample stops only what must stop
	 * (a full stop wakes every sleeping thread out of its system call).
	 */
	if (t && (o->blocking || o->threads || o->timeline)) {
		struct py_sample *s0 = ps->p[0]->s;
		struct py_gil g1, g2;
		target_read_states(t);
		if (pyinterp_sample_gil(pi, s0, &g1, &g2) == 0 && (o->threads || o->timeline))
			for (size_t i = 0; i < s0->nthreads; i++)
				if (s0->threads[i].nframes)
					thread_label(lb, pi, t, prof, &s0->threads[i]);
	}
	if (o->subprocesses || o->discover)
		procs_refresh(ps, now_ns());
	start = now_ns();
	realtime0 = realtime_ns();
	st->start_realtime_ns = realtime0;
	next = start;
	end = o->duration > 0 ? start + (int64_t)(o->duration * 1e9) : INT64_MAX;
	window_start = start;
	window_end = interval > 0 ? start + interval : INT64_MAX;
	for (;;) {
		int64_t now = now_ns(), wait;
		struct timespec ts;
		bool spin;
		int polled;

		if (now >= end)
			break;
		if (now >= window_end) {
			struct sampler_window w;
			window_of(st, &mark, realtime0 + (window_start - start),
				  window_end - window_start, &w);
			w.procs = wprocs;
			w.nprocs = procs_window(ps, wprocs, 2 * TARGET_MAX_PROCS);
			window_start = window_end;
			window_end += interval;
			mark = *st;
			if (o->window_end) {
				rc = o->window_end(o->window_ctx, &w);
				if (rc == SAMPLER_FUNCS_RENEWED) {
					memset(lb, 0, sizeof(*lb));
					procs_forget_funcs(ps);
					rc = 0;
				}
				if (rc)
					break;
			}
			if (o->rate_change && *o->rate_change > 0) {
				period = (int64_t)(1e9 / *o->rate_change);
				if (period < 1000)
					period = 1000;
				*o->rate_change = 0;
			}
			continue;
		}
		/*
		 * One ppoll per tick: it sleeps until the deadline and wakes for
		 * ptrace events and stop signals; when the loop is behind, it
		 * returns at once but still sees a pending Ctrl-C.
		 */
		wait = next - now;
		if (wait < 0)
			wait = 0;
		if (now + wait > end)
			wait = end - now;
		if (now + wait > window_end)
			wait = window_end - now;
		spin = wait > 0 && wait <= late_ns && wait <= MAX_SPIN_NS && now + wait == next &&
		       (spin_late_ns < period / 4 || ++spin_probe % 256 == 0);
		if (spin)
			wait = 0;
		ts.tv_sec = wait / 1000000000;
		ts.tv_nsec = wait % 1000000000;
		if ((polled = ppoll(pfd, o->input ? 2 : 1, &ts, NULL)) > 0) {
			if (pfd[0].revents) {
				int sig = drain_signals(sfd, ps);
				if (sig && (!o->on_signal || o->on_signal(o->signal_ctx, sig))) {
					st->stop_signal = sig;
					break;
				}
			}
			if (pfd[1].revents && (rc = o->input(o->input_ctx)) != 0) {
				st->quit = rc > 0;
				rc = rc > 0 ? 0 : rc;
				break;
			}
		}
		if (t && t->gone) {
			st->target_exited = true;
			break;
		}
		now = now_ns();
		/* A sleep to the deadline that ran out: how late did it end? */
		if (polled == 0 && wait > 0 && now >= next)
			late_ns += (now - next - late_ns) / 8;
		if (spin && polled == 0) {
			while (now < next)
				now = now_ns();
			spin_late_ns += (now - next - spin_late_ns) / 4;
		}
		if (now < next)
			continue; /* woken early by an event */
		/* Behind by whole periods: count them, do not burst. */
		if (now - next >= period) {
			int64_t missed = (now - next) / period;
			st->late += (uint64_t)missed;
			for (size_t i = 0; i < ps->n; i++)
				ps->p[i]->info.late += (uint64_t)missed;
			next += missed * period;
		}
		next += period;
		st->ticks++;
		if ((o->subprocesses || o->discover) && now - last_procs >= refresh_ns) {
			procs_refresh(ps, now);
			last_procs = now;
			st->nprocs = (unsigned)ps->n;
		}
		rc = take_samples(ps, prof, o, lb, st, now - start);
		if (rc == -PERR_GONE) {
			rc = 0;
			st->target_exited = true;
			break;
		}
		if (rc)
			break;
	}
	{
		int64_t stop = now_ns();
		st->elapsed = (double)(stop - start) / 1e9;
		window_of(st, &mark, realtime0 + (window_start - start), stop - window_start,
			  &st->window);
	}
	/* Gone: how it ended, for the caller's message (target.exit_status). */
	if (st->target_exited && t)
		target_await_exit(t, 200);
	if (o->timeline)
		timeline_finish(o->timeline);
out:
	if (sfd >= 0)
		close(sfd);
	if (ps) {
		st->processes = ps->attached;
		procs_free(ps);
	}
	free(ps);
	free(lb);
	free(wprocs);
	return rc;
}
