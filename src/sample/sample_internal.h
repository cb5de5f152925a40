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
	uint64_t image;         /* target_image_id() when attached */
	struct py_sample *s;    /* its last sample */
	int64_t last_refresh;   /* of its thread list (non-blocking) */
	bool moved;             /* blocking: the last sample's first guess at
				   the GIL's holder was wrong (sampler.c) */
	bool unknown_thread;    /* a thread of the last sample was not listed */
	bool failed;            /* a sample of it failed (counted once) */
};

/* A descendant that is not Python (yet): when to look again. */
struct procs_seen {
	pid_t pid;
	uint64_t image;
	int64_t first, next, wait;
};

/* The target (p[0], not owned) and, with --subprocesses, its descendants. */
struct procs {
	struct sproc *p[TARGET_MAX_PROCS];
	size_t n;
	struct procs_seen seen[TARGET_MAX_PROCS];
	size_t nseen;
	struct profile *prof;
	const struct sampler_opts *o;
	uint64_t attached;      /* processes sampled in all, for the summary */
};

int procs_init(struct procs *ps, struct target *t, struct pyinterp *pi, struct profile *prof,
	       const struct sampler_opts *o);
/* Attach new descendants, re-attach those that exec'd (every REFRESH_NS). */
void procs_refresh(struct procs *ps, int64_t now);
/* Drop descendant i (it exited); p[0] cannot be dropped. */
void procs_drop(struct procs *ps, size_t i);
void procs_free(struct procs *ps);

#endif
