/*
 * pyinterp.h - the Python interpreter inside a target.
 *
 * pyinterp_attach() finds the interpreter (which binary or library holds
 * it, its version, its layout, its runtime state); pyinterp_sample() then
 * walks every thread's Python stack into a struct py_sample.  All CPython
 * knowledge of the profiler is behind this header.
 */
#ifndef PYSPY_PYINTERP_H
#define PYSPY_PYINTERP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyspy/pylayout.h"
#include "pyspy/stacks.h"
#include "pyspy/target.h"

struct pyinterp;

#define PY_MAX_DEPTH 4096   /* frames kept per thread; deeper stacks are cut at the root */
#define PY_MAX_THREADS 1024 /* Python threads walked per sample */
/* Frames per sample, all threads together: what a corrupt thread list of
 * deep chains can make a walk (and a stop) cost is bounded by it. */
#define PY_MAX_SAMPLE_FRAMES (1u << 18)

struct py_thread_sample {
	pid_t tid;              /* host tid, 0 when unknown */
	uint64_t tstate;        /* its PyThreadState (the outermost, see below) */
	/*
	 * A thread inside a subinterpreter's exec has a thread state in each
	 * interpreter it entered; they are listed as one thread, frames of
	 * the outermost first.  inner_tstate is the innermost (the one that
	 * runs), 0 when the thread has one thread state.
	 */
	uint64_t inner_tstate;
	uint64_t interp;        /* its PyInterpreterState (the outermost's) */
	uint64_t cstack;        /* 3.11-3.12: tstate->cframe when it is on a C
				   stack (the newest eval call's), else 0 */
	uint64_t thread_id;     /* pthread_t as Python knows it */
	/*
	 * The interpreter the thread runs in (the innermost's, see
	 * inner_tstate): its id (3.7+; -1 when the version has none), and
	 * whether it is the main interpreter.
	 */
	int64_t interp_id;
	bool main_interp;
	/*
	 * The collector of its interpreter was running, and this thread is
	 * the one that runs it (see gc.c); only with pyinterp.read_gc.
	 */
	bool in_gc;
	bool idle;
	bool holds_gil;         /* held the GIL (valid when py_sample.gil_known) */
	bool truncated;         /* deeper than PY_MAX_DEPTH */
	bool broken;            /* its frame chain could not be followed to its
				   end (a link into nowhere, a cycle): the
				   frames read are rooted by "[broken frame
				   chain]" */
	size_t first, nframes;  /* slice of py_sample.frames, root first */
};

/* Where a sampled frame lives, for reading its locals (dump --locals). */
struct py_frame_src {
	uint64_t frame;         /* PyFrameObject or _PyInterpreterFrame */
	uint64_t code;
};

struct py_sample {
	struct py_thread_sample threads[PY_MAX_THREADS];
	size_t nthreads;
	struct frame_ref *frames;   /* owned; capacity cap_frames */
	struct py_frame_src *src;   /* parallel to frames, only with keep_sources */
	size_t nframes, cap_frames;
	bool keep_sources;
	bool gil_known;             /* threads' holds_gil set (pyinterp_mark_gil) */
	/* The collectors' state was read (threads' in_gc are valid), and
	 * how many of them were collecting. */
	bool gc_known;
	unsigned gc_running;
	/*
	 * Threads left out of this sample because what they showed could not
	 * be read (pyinterp.degrade false), or an unknown number of them
	 * (counted 1) when the thread list itself could not be followed.
	 */
	size_t dropped;
	/*
	 * Threads whose OS state (read before the sample) is not running
	 * are listed, idle, without their frames: for callers that would
	 * drop them.
	 */
	bool skip_idle;
};

#define PY_MAX_LOCALS 512
struct py_local {
	char name[64];
	char repr[160];
	bool arg;
};

/*
 * Arguments and local variables of frame 'i' of the last sample (taken
 * with s->keep_sources), while the target is still stopped.  Values are
 * short, bounded reprs: None, bool, int, float, str and bytes as Python
 * writes them (cut), other objects as their type (and length).
 */
int pyinterp_frame_locals(struct pyinterp *pi, const struct py_sample *s, size_t i,
			  struct py_local *out, size_t max, size_t *n);
/* The short repr alone, for any object. */
void pyinterp_repr(struct pyinterp *pi, uint64_t obj, char *out, size_t cap);

struct code_cache;
struct py_raw_frame;
struct gil_words;

struct pyinterp {
	struct target *target;
	struct profile *profile;    /* where functions are interned */
	struct py_layout layout;    /* in use (table, maybe from debug offsets) */
	int major, minor, micro;
	uint32_t version_hex;       /* PY_VERSION_HEX read from the target, 0: unknown */
	char module[4096];          /* binary or library holding the interpreter */
	bool shared;                /* interpreter in a libpython, not the executable */
	bool debug_build;           /* a Py_DEBUG build */
	const char *found_by;       /* which method found the interpreter */
	const char *version_by;     /* which method found the version */
	uint64_t runtime;           /* _PyRuntime, 0 when the version has none */
	uint64_t interp_head_addr;  /* address holding the first PyInterpreterState * */
	uint64_t code_type;         /* &PyCode_Type, 0 when unknown */
	uint64_t str_type;          /* &PyUnicode_Type (2.7: &PyString_Type), 0 when unknown */
	int tid_offset;             /* offset of the tid in glibc's struct pthread, -1 */
	uint64_t tid_offset_next;   /* sample_no from which to look for it again */
	/* The GIL's words (0 when there is no GIL or it cannot be found). */
	uint64_t gil_holder, gil_locked, gil_switches;
	uint64_t last_holder;       /* the GIL's holder at the end of the last
				       pyinterp_sample_gil(), 0: unknown */
	struct gil_words *gil_tail; /* during pyinterp_sample_gil(): the read
				       of the GIL after the walk, which may
				       travel with the walk's last read */
	uint64_t gil_tail_at;       /* target->reads once it did */
	unsigned ninterps;          /* interpreters seen in the last sample */
	/*
	 * Read the collectors' state each sample, and mark the thread that
	 * runs a collection (py_thread_sample.in_gc).  On by default.
	 */
	bool read_gc;
	/* Thread state -> host tid, as of the last sample. */
	struct { uint64_t tstate; pid_t tid; } *tstate_tids;
	size_t ntstate_tids;
	struct py_claim *claims;       /* scratch: thread states by thread */
	uint64_t threads_listed;    /* sample_no of the last listing of the threads */
	bool full_filenames;
	struct code_cache *codes;
	/* threading._active of each interpreter, for thread names */
#define PY_NAME_DICTS 8
	uint64_t names_active[PY_NAME_DICTS];
	size_t nnames_active;
	uint64_t sample_no;         /* counts pyinterp_sample() calls */
	/*
	 * What the target's memory did not give and was shown degraded
	 * instead of failing the sample: a code object's name, file or line
	 * table, a frame, the rest of a frame chain, the rest of a thread
	 * list.  Counted since attach.
	 */
	uint64_t degraded;
	/*
	 * What to do with what cannot be read.  A thread is shown degraded
	 * ("<unknown>", no line, "[unreadable frame]", a cut chain, counted in
	 * 'degraded') only when the target is stopped while it is walked
	 * (degrade_ok, set by the caller) and the same thread state could not
	 * be read in the degrade_after - 1 samples just before either: then it
	 * is corrupt, not caught in the middle of a change (a thread stopped
	 * while it builds a frame, an interpreter still starting).  Otherwise
	 * the thread is left out of the sample, counted in py_sample.dropped.
	 * A thread or interpreter list that cannot be followed is cut where it
	 * breaks either way.  'degrade' is the walk's own: the current
	 * thread's verdict.
	 */
	bool degrade_ok;
	unsigned degrade_after;
	bool degrade;
#define PY_STRIKES 64
	struct { uint64_t tstate, sample; unsigned count; } strikes[PY_STRIKES];
	struct py_raw_frame *raw;   /* scratch for one thread's frames */
	uint8_t *hdrs;              /* scratch for code headers */
	char diag[1024];            /* notes for --verbose (cross-checks) */
	/* --async: each sample's running tasks (pyasync.h); set by the caller */
	bool async;
	struct py_async *async_state;
};

/*
 * Find the interpreter in an opened target.  Errors: -PERR_NOTPY (no
 * interpreter), -PERR_VERSION (found, but no layout for its version),
 * -PERR_GONE, -PERR_PERM.  The detail is in perr_detail().
 */
int pyinterp_attach(struct pyinterp *pi, struct target *t, struct profile *prof);
void pyinterp_release(struct pyinterp *pi);
/* The profile's functions were renewed (profile_renew_funcs): drop every
 * function id cached (decoded code objects are decoded again). */
void pyinterp_forget_funcs(struct pyinterp *pi);

/*
 * Walk every thread's stack.  The target must be stopped for a consistent
 * snapshot (or not, in non-blocking mode, where torn reads are detected
 * and reported as -PERR_TORN).  Thread states in t->threads must be
 * current for idle detection.
 */
int pyinterp_sample(struct pyinterp *pi, struct py_sample *s);
void py_sample_free(struct py_sample *s);

/*
 * The GIL, as far as stopping threads is concerned.  'switches' counts
 * changes of holder (it does not move when the same thread takes the GIL
 * again), which is what makes a selective stop checkable: stop the
 * running threads and the last holder; if 'switches' did not move by the
 * end of the walk, no other thread ran Python meanwhile.
 */
struct py_gil {
	bool known;             /* false: no GIL (free-threaded), or not found */
	bool no_switch_count;   /* 2.7: 'holder' is the current holder, and a
				   walk is consistent only if it holds the GIL
				   from start to end */
	int32_t locked;
	uint64_t holder;        /* PyThreadState * of the (last) holder */
	uint64_t switches;
};
int pyinterp_gil(struct pyinterp *pi, struct py_gil *g);
/*
 * pyinterp_sample(), reading the GIL just before the first read of the
 * walk ('before') and after its last ('after'), in the same system call
 * when the walk needs no other (the usual case, see target_snap_prefetch).
 * With the holder in 'before' stopped and the switch count the same in
 * both, no thread ran Python during the walk.  Both are !known when the
 * interpreter has no GIL (or it could not be found).
 */
int pyinterp_sample_gil(struct pyinterp *pi, struct py_sample *s, struct py_gil *before,
			struct py_gil *after);
/*
 * Mark the thread holding the GIL in the sample just walked (holds_gil),
 * from 'g', a read of the GIL the caller made while the target was in the
 * state walked (the sampler's own consistency check: no extra cost), or,
 * with g NULL, from a read made now.  s->gil_known says whether it could
 * be told (not on free-threaded builds, nor when the GIL was not found).
 */
int pyinterp_mark_gil(struct pyinterp *pi, struct py_sample *s, const struct py_gil *g);
/*
 * 0 when the GIL holder can be told in every sample; else -PERR_UNAVAILABLE
 * with the reason (a free-threaded build has no GIL; the GIL was not found).
 */
int pyinterp_gil_available(const struct pyinterp *pi);
/* Whether thread state 'tstate' is one of th's (see inner_tstate). */
bool py_thread_has_tstate(const struct py_thread_sample *th, uint64_t tstate);

/*
 * 0 when the collectors' state can be read (the version has it in its
 * layout, and it has a GIL to tell which thread runs a collection); else
 * -PERR_UNAVAILABLE with the reason.
 */
int pyinterp_gc_available(const struct pyinterp *pi);

/* Host tid of a thread state seen in the last sample, 0 if unknown. */
pid_t pyinterp_tstate_tid(const struct pyinterp *pi, uint64_t tstate);

/*
 * The Python name of a thread (threading.Thread.name) by its thread_id,
 * into buf.  Returns 0, or a negative PERR_* when it cannot be told (a
 * thread threading does not know, a free-threaded build, a torn read):
 * then show the OS name.  Reads a few dozen small objects of the target,
 * which may be running: for labels made once per thread, not per sample.
 */
int pyinterp_thread_name(struct pyinterp *pi, uint64_t thread_id, char *buf, size_t len);

/* One line describing what was found, for --verbose. */
void pyinterp_describe(const struct pyinterp *pi, char *buf, size_t len);
/*
 * The version as the interpreter itself reports it: the first word of
 * its sys.version ("2.7.18", "3.15.0rc1"), read from the target's sys
 * module; when that cannot be read, from its version number (3.11+:
 * "3.15.0rc1" from PY_VERSION_HEX) or what was found ("3.9").  Returns
 * true when it is sys.version's.
 */
bool pyinterp_version(struct pyinterp *pi, char *buf, size_t len);

#endif
