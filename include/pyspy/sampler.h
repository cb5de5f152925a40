/*
 * sampler.h - the sampling loop: a steady clock with absolute deadlines,
 * one snapshot per tick, counts of everything that went wrong.
 */
#ifndef PYSPY_SAMPLER_H
#define PYSPY_SAMPLER_H

#include <stdbool.h>
#include <signal.h>
#include <stdint.h>

#include "pyspy/native.h"
#include "pyspy/pyinterp.h"
#include "pyspy/stacks.h"
#include "pyspy/target.h"
#include "pyspy/timeline.h"

/*
 * One process sampled in a window: its identity (pid and start time, so a
 * reused pid is another process), what it runs, and its counts in the
 * window.  'serial' numbers the processes of one session from 1.
 */
struct sampler_proc {
	pid_t pid;
	uint64_t start_time;       /* clock ticks after boot (/proc/PID/stat field 22) */
	int32_t serial;
	char program[512];         /* command line, arguments space-separated */
	char python[16];           /* "3.12.1" */
	uint64_t samples, failed;  /* in the window */
	uint64_t late;             /* ticks missed while it was sampled */
	bool exited;               /* dropped during the window */
	uint64_t attach_cpu_ns;    /* what attaching it cost the sampling thread: */
	uint64_t attach_ns;        /* CPU and wall time (descendants, serve) */
};

/* One window of --interval: when it started, how long, how many samples. */
struct sampler_window {
	int64_t start_realtime_ns; /* wall clock (CLOCK_REALTIME) */
	double seconds;
	uint64_t samples;          /* samples taken in it */
	uint64_t late, failed;     /* deadlines missed, samples failed in it */
	uint64_t active;           /* thread samples of threads not idle */
	uint64_t gil;              /* samples in which a thread held the GIL */
	uint64_t gil_known;        /* samples in which the GIL holder was told */
	uint64_t gc;               /* samples in which a collector ran */
	uint64_t gc_known;         /* samples in which the collectors were read */
	unsigned threads;          /* Python threads in its last sample */
	unsigned interps;          /* interpreters in its last sample */
	uint64_t stopped_ns;       /* time threads were held stopped in it */
	uint64_t proc_samples;     /* samples taken, one per process per tick */
	uint64_t degraded;         /* parts shown degraded in it (sampler_stats.degraded) */
	uint64_t dropped;          /* thread samples left out in it (sampler_stats.dropped) */
	/* Every process sampled in the window (those that left it too). */
	const struct sampler_proc *procs;
	size_t nprocs;
};

struct sampler_opts {
	double rate;         /* Hz */
	double duration;     /* seconds; 0 = until stopped */
	bool blocking;       /* stop the target for each sample */
	bool idle;           /* keep idle threads */
	bool threads;        /* a root frame per thread */
	bool function;       /* no line numbers */
	bool gil;            /* keep only samples of the thread holding the GIL */
	bool read_gil;       /* tell the GIL holder in every sample, for the
				window's 'gil' count (implied by 'gil'; with
				neither, the GIL costs no extra read) */
	/*
	 * Samples of the thread that runs the garbage collector carry a
	 * "<GC>" frame on top of the stack, unless no_gc (which also spares
	 * the read of the collectors' state).
	 */
	bool no_gc;
	/*
	 * Keep only threads running in one interpreter: the main one
	 * (interp_main), or the one whose id is interp_id.
	 */
	bool one_interp;
	bool interp_main;
	int64_t interp_id;
	struct timeline *timeline; /* also record per-thread timelines; NULL: no */
	/*
	 * Merge each thread's C stack (blocking only); NULL: Python frames
	 * only.  With 'threads', threads Python does not know are shown too.
	 */
	struct native *native;
	const struct native_options *native_opts; /* for descendants' natives */
	/*
	 * Also sample the target's descendants, present and future, each
	 * rooted by a "process PID:"COMMAND"" frame (the target's too).
	 */
	bool subprocesses;
	/* --async: running asyncio tasks' frames under their task (pyasync.h) */
	bool async;
	/*
	 * serve: no fixed target (sampler_run's t and pi are NULL): the
	 * processes to sample are those discover() lists, called every
	 * discover_every seconds, attached as descendants are with
	 * 'subprocesses'; one that exits or fails is dropped, and the
	 * session runs on with none.  Each process's stacks are rooted by
	 * the frame { proc_func, its serial } instead of a command label.
	 */
	size_t (*discover)(void *ctx, pid_t *out, size_t cap);
	void *discover_ctx;
	double discover_every;
	uint32_t proc_func;
	/* A process was attached ("attach") or dropped ("detach"), with why. */
	void (*proc_event)(void *ctx, const struct sampler_proc *p, const char *what,
			   const char *why);
	void *event_ctx;
	double interval;     /* seconds per window; 0 = one window, no callback */
	/*
	 * Called at the end of each full window, between samples (the target
	 * runs), with the profile holding that window's samples; it may
	 * write and reset the profile.  A negative PERR_* return ends the
	 * recording with that error; SAMPLER_FUNCS_RENEWED says it renewed
	 * the profile's functions (profile_renew_funcs) after resetting it:
	 * every function id the sampler holds is dropped.  The last, partial window is not passed
	 * here but left in sampler_stats.window for the caller.
	 */
	int (*window_end)(void *ctx, const struct sampler_window *w);
	void *window_ctx;
	/*
	 * If non-NULL: after each window_end, a positive *rate_change is the
	 * new rate (Hz) from the next tick on; the sampler zeroes it.
	 */
	double *rate_change;
	/*
	 * A stop signal (SIGINT, SIGTERM, SIGHUP) arrived: end the recording?
	 * NULL: yes, always.  (record -- PROGRAM lets the program decide.)
	 */
	bool (*on_signal)(void *ctx, int sig);
	void *signal_ctx;
	/*
	 * An extra descriptor to wake for (a terminal's keys, say), with
	 * 'input' non-NULL: when input_fd is readable the sampler calls
	 * input(input_ctx) between two samples.  It returns 0 to go on, 1 to
	 * end the recording normally (sampler_stats.quit), or a negative
	 * PERR_* to end it with that error.
	 */
	int input_fd;
	int (*input)(void *ctx);
	void *input_ctx;
};

#define SAMPLER_FUNCS_RENEWED 1

struct sampler_stats {
	uint64_t ticks;      /* deadlines reached */
	uint64_t taken;      /* samples recorded */
	uint64_t late;       /* deadlines missed because the loop fell behind */
	uint64_t failed;     /* samples dropped: torn memory, stop timeouts */
	uint64_t timeouts;   /* of which: a thread did not stop in time */
	uint64_t torn;       /* of which: the stacks changed while being read */
	uint64_t other_failed; /* of which: any other error, the last one: */
	int other_error;     /* its PERR_* code */
	uint64_t failed_processes; /* processes with at least one failed sample */
	uint64_t truncated;  /* thread stacks cut at PY_MAX_DEPTH */
	uint64_t rewalks;    /* selective stops widened to the GIL's new holder */
	uint64_t full_stops; /* selective stops redone with every thread stopped */
	uint64_t stack_errors; /* stacks dropped: profile out of memory */
	uint64_t degraded;   /* parts of stopped targets that could not be read,
				shown degraded (pyinterp.degraded) */
	uint64_t dropped;    /* thread samples left out: a running target's
				thread that could not be read (py_sample.dropped) */
	uint64_t active;     /* thread samples of threads not idle */
	uint64_t unchanged;  /* process samples taken without a read: the last
				showed only idle threads, none has run since */
	uint64_t gil;        /* samples in which a thread held the GIL */
	uint64_t gil_known;  /* samples in which the GIL holder was told */
	uint64_t gc;         /* samples in which a collector ran */
	uint64_t gc_known;   /* samples in which the collectors were read */
	unsigned threads;    /* Python threads in the last sample */
	unsigned interps;    /* interpreters in the last sample */
	double elapsed;      /* seconds */
	int64_t start_realtime_ns; /* wall clock at the start */
	struct sampler_window window; /* the last window (the whole recording
					 without an interval) */
	uint64_t processes;  /* processes sampled (1 without subprocesses) */
	unsigned nprocs;     /* processes sampled now */
	uint64_t stopped_ns; /* time threads were held stopped, over all samples */
	uint64_t proc_samples; /* samples taken, one per process per tick */
	bool target_exited;
	bool quit;           /* the input callback ended it */
	int stop_signal;     /* SIGINT/SIGTERM/SIGHUP that ended it, or 0 */
};

/*
 * Sample until the duration ends, a stop signal arrives, or the target
 * exits.  SIGINT, SIGTERM, SIGHUP and SIGCHLD must be blocked by the caller
 * (they are read through a signalfd).  Returns 0, or a negative PERR_* for
 * errors that end the session (the stats are filled either way).
 */
int sampler_run(struct target *t, struct pyinterp *pi, struct profile *prof,
		const struct sampler_opts *o, struct sampler_stats *st);

/*
 * The signals sampler_run reads, into set: SIGINT, SIGTERM and SIGHUP end
 * the recording, SIGCHLD notes the target's exit, and SIGTSTP, SIGTTIN and
 * SIGTTOU suspend the profiler between two samples only.
 */
void sampler_signals(sigset_t *set);

#endif
