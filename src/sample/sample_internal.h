/* sample_internal.h - shared between the files of the sampling stage only */
#ifndef PYSPY_SAMPLE_INTERNAL_H
#define PYSPY_SAMPLE_INTERNAL_H

#include "pyspy/sampler.h"

/* One process being sampled. */
struct sproc {
	struct target *t;
	struct pyinterp *pi;
	struct native *native;  /* its C stacks (--native), or NULL */
	bool owned;             /* a descendant opened here (t, pi, native freed here) */
	uint32_t label;         /* "process PID:"CMD"" root frame, FUNC_NONE if none */
	int32_t label_line;     /* the root frame's line: -1, or serve's serial */
	uint64_t image;         /* target_image_id() when attached */
	struct sampler_proc info; /* identity and counts of the window */
	struct py_sample *s;    /* its last sample */
	int64_t last_refresh;   /* of its thread list (non-blocking) */
	bool moved;             /* blocking: the last sample's first guess at
				   the GIL's holder was wrong (sampler.c) */
	bool unknown_thread;    /* a thread of the last sample was not listed */
	bool failed;            /* a sample of it failed (counted once) */
	int slow_stops;         /* blocking: its last stops that were slow, and */
	int quick_early;        /* quick ones since asked early (sampler.c) */
	int64_t asked_at;       /* when this tick's early stop was asked, or 0 */
	bool states_read;       /* target_read_states() done for this tick */
	bool showed_none;       /* its last sample was taken and counted no thread */
	uint64_t held_seen;     /* target.held_ns counted so far (sampler.c) */
};

/* A descendant that is not Python (yet): when to look again. */
struct procs_seen {
	pid_t pid;
	uint64_t image, start_time;
	int64_t first, next, wait;
};

/*
 * The target (p[0], not owned) and, with --subprocesses, its descendants;
 * or (serve, o->discover) only the processes discovered, all owned.
 */
struct procs {
	struct sproc *p[TARGET_MAX_PROCS];
	size_t n;
	size_t fixed;           /* p[0 .. fixed-1] are never dropped (1 or 0) */
	int32_t serial;         /* the last process serial given */
	/* Processes dropped during the current window, for its counts. */
	struct sampler_proc gone[TARGET_MAX_PROCS];
	size_t ngone;
	struct procs_seen seen[TARGET_MAX_PROCS];
	size_t nseen;
	struct profile *prof;
	const struct sampler_opts *o;
	uint64_t attached;      /* processes sampled in all, for the summary */
};

/* 't' NULL: no fixed target (serve). */
int procs_init(struct procs *ps, struct target *t, struct pyinterp *pi, struct profile *prof,
	       const struct sampler_opts *o);
/* Attach new descendants, re-attach those that exec'd (every REFRESH_NS). */
void procs_refresh(struct procs *ps, int64_t now);
/* Drop process i (it exited or failed: 'why'); p[0 .. fixed-1] cannot be dropped. */
void procs_drop(struct procs *ps, size_t i, const char *why);
/* Every process of the window into out (those dropped too); counts restart. */
size_t procs_window(struct procs *ps, struct sampler_proc *out, size_t cap);
void procs_free(struct procs *ps);
/* The profile's functions were renewed: every process forgets the ids it
 * holds (its label, its interpreter's and C stacks' caches). */
void procs_forget_funcs(struct procs *ps);

#endif
