/*
 * serve_internal.h - shared by the files of src/serve only.
 *
 *   agent.c     serve_run: options -> sampler (this thread, the only one
 *               that uses ptrace) + HTTP server; the slice callback
 *   discover.c  which processes to sample (/proc scan: --pid, --match)
 *   ring.c      the store: function dictionary, slices, windows
 *   query.c     merging chunks into a profile for the output writers
 *   api.c       the HTTP handlers and the routes table
 *   pace.c      the overhead budget: the rate the sampler keeps
 *
 * Data flow: every second the sampling thread turns its live profile
 * into an immutable *slice* and adds it to the window being built; at
 * the end of a window (--window) the window is closed into an immutable
 * *window*.  Both are chunks (struct chunk), published in the store
 * under its lock and reference-counted, so an HTTP thread holds what it
 * reads however long it takes, and never sees anything change.
 */
#ifndef PYSPY_SERVE_INTERNAL_H
#define PYSPY_SERVE_INTERNAL_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "pyspy/http.h"
#include "pyspy/sampler.h"
#include "pyspy/serve.h"
#include "pyspy/stacks.h"
#include "pyspy/timeline.h"

/* Fixed ids of the live profile (interned first, in this order). */
#define SERVE_FUNC_PRUNED 0   /* "[pruned: rare stacks]" (profile.c's marker) */
#define SERVE_FUNC_PROCESS 1  /* root frame { this, serial }: never shown */

#define SERVE_SLICE_NS 1000000000ll        /* slices of one second */
#define SERVE_WINDOW_MAX_STACKS 16384      /* distinct stacks per window */
#define SERVE_MAX_BYTES (256ull << 20)     /* all chunks together */
#define SERVE_PPROF_MAX_S 60               /* /debug/pprof/profile?seconds= */
#define SERVE_DISCOVER_S 2.0               /* /proc scan period */
#define SERVE_FDICT_CHUNK 4096
#define SERVE_FDICT_CHUNKS 256             /* at most 1M functions */
/*
 * Functions (name, file) met by a long-running agent only add up: new
 * code, a deploy under a new path.  Once a window closes with more than
 * this many, the dictionary starts over (profile_renew_funcs) with only
 * what is sampled from then on; chunks keep the dictionary they name.
 */
#define SERVE_FDICT_RENEW (1u << 18)

/* A function dictionary: append-only, entries never move; shared by the
 * store (the current one) and every chunk that names its functions. */
struct fdict {
	int refs;              /* atomic */
	size_t nfuncs;         /* written by the sampling thread under the store's lock */
	struct func *fchunks[SERVE_FDICT_CHUNKS];
};

struct chunk_proc {
	pid_t pid;
	uint64_t start_time;
	int32_t serial;
	char *program;
	char python[16];
	uint64_t samples, errors, late;
	bool exited;
};

struct chunk_stack {
	int32_t proc;          /* index into procs, -1: none (pruned) */
	uint32_t n;            /* frames */
	uint64_t count;
	size_t off;            /* into frames */
};

struct chunk {
	int refs;              /* atomic */
	uint64_t seq;          /* windows: from 1; slices: 0 */
	int64_t start_ns, end_ns;  /* wall clock */
	uint64_t samples, errors, late, pruned, stopped_ns, proc_samples;
	size_t nprocs;
	struct chunk_proc *procs;
	size_t nstacks;
	struct chunk_stack *stacks;
	struct frame_ref *frames;  /* function ids of 'dict' */
	struct fdict *dict;    /* set when published (a reference) */
	size_t nfuncs;         /* the dictionary's size then: ids are below it */
	size_t bytes;          /* memory it holds */
};

void chunk_put(struct chunk *c);

/* --max-overhead: the rate the agent keeps (pace.c). */
#define PACE_EVAL_NS 5000000000ll  /* costs measured over 5 s */
#define PACE_MIN_HZ 1.0
struct pace {
	double asked, rate;    /* Hz: --rate, now */
	double budget;         /* percent; 0: off (measured, never acted on) */
	int ncpu;
	bool started;
	int64_t wall0, cpu0;
	uint64_t stopped0, samples0;
	double cpu_pct, stop_pct;  /* the last measurement */
	const char *reason;    /* why the rate is under --rate: "cpu", "stopped", "" */
	uint64_t changes;
};
void pace_init(struct pace *p, double asked, double budget, int ncpu);
/*
 * Feed the clocks (wall and the agent's CPU time, ns) and the totals of
 * stop time and process-samples; every PACE_EVAL_NS returns the rate to
 * keep.  When it changes, 'why' gets one line for the log.
 */
double pace_step(struct pace *p, int64_t wall_ns, int64_t cpu_ns, uint64_t stopped_ns,
		 uint64_t proc_samples, char *why, size_t cap);

/* What the agent was asked (for /v1/info and /metrics). */
struct store_info {
	char instance[33];     /* random hex per start */
	int64_t started_ns;    /* wall clock */
	double rate, window, retention;
	double max_overhead;   /* percent, 0: off */
	bool blocking, idle, gil, native, hide_args, subprocesses;
	const char *match;
	size_t npids;
};

/* Counts since the start, for /metrics. */
struct store_totals {
	uint64_t samples, proc_samples, errors, late, pruned, stopped_ns;
	uint64_t degraded, dropped;  /* of a target that lies: parts shown degraded,
					thread samples left out (sampler_stats) */
	uint64_t windows_closed, windows_evicted, slices_evicted, evicted_for_memory;
	uint64_t attached, detached, attach_errors;
	uint64_t attach_cpu_ns, attach_ns;  /* spent attaching, over all attaches */
	size_t nwindows, nslices, bytes, nfuncs;
	uint64_t func_renewals;  /* the dictionary started over (SERVE_FDICT_RENEW) */
	size_t targets;
	/* The overhead budget's last state (pace.c). */
	double rate_now, cpu_pct, stop_pct;
	const char *rate_reason;
	uint64_t rate_changes;
};

struct store {
	pthread_mutex_t lock;
	struct store_info info;
	struct fdict *dict;    /* the current function dictionary */
	/* Slices (the last slice_keep_ns) and windows, oldest first. */
	struct chunk **slices;
	size_t nslices, cap_slices;
	int64_t slice_keep_ns;
	int64_t base_ns;       /* the first slice's start: windows start at
				  base + k * window, exactly */
	struct chunk **windows;
	size_t nwindows, cap_windows;
	uint64_t next_seq;
	struct store_totals totals;
	/* The processes sampled at the end of the last slice. */
	struct chunk_proc *targets;
	size_t ntargets;
	bool stopping;         /* the agent is shutting down: waits end */
};

int store_init(struct store *st, const struct serve_config *c);
void store_release(struct store *st);
/* The sampling thread: mirror the live profile's new functions. */
int store_sync_funcs(struct store *st, const struct profile *live);
/* The sampling thread: the live profile's functions were renewed, start a
 * new dictionary (the chunks published so far keep theirs).  -1: out of
 * memory (nothing changed). */
int store_renew_funcs(struct store *st);
/* The sampling thread: a closed slice (and window, or NULL); the store owns them. */
void store_publish(struct store *st, struct chunk *slice, struct chunk *window,
		   const struct sampler_proc *now, size_t nnow);
/* Function 'id' of a published chunk's frames, NULL if it names none. */
const struct func *chunk_func(const struct chunk *c, uint32_t id);

/*
 * The chunks that cover [from_ns, until_ns): windows for the part the
 * slices no longer cover, slices after; each chunk counted if its middle
 * falls in the range.  slices_only: from slices alone (a pprof scrape).
 * Returns a malloc'ed array of references (chunk_put each), *n set;
 * *nfuncs the largest of their dictionaries' sizes (ids are below it).
 */
struct chunk **store_collect(struct store *st, int64_t from_ns, int64_t until_ns,
			     bool slices_only, size_t *n, size_t *nfuncs);
/* Windows with seq > since, oldest first, at most max (references). */
struct chunk **store_windows_since(struct store *st, uint64_t since, size_t max, size_t *n,
				   size_t *nfuncs, uint64_t *oldest, uint64_t *newest);
/* The newest slice's end (0: none yet). */
int64_t store_newest_end(struct store *st);
void store_totals(struct store *st, struct store_totals *out);
/* A copy of the targets list (free with store_targets_free). */
struct chunk_proc *store_targets(struct store *st, size_t *n);
void store_targets_free(struct chunk_proc *p, size_t n);

/*
 * Building chunks (sampling thread).  chunk_from_profile() copies the
 * stacks of 'prof' (rooted by { SERVE_FUNC_PROCESS, serial }) with the
 * processes of 'procs' (matched by serial).
 */
struct chunk *chunk_from_profile(const struct profile *prof, const struct sampler_proc *procs,
				 size_t nprocs, bool hide_args);

/*
 * Query (HTTP threads): merge the chunks' stacks that pass the filter
 * into a new profile (the writers' input).  'by_process' roots each
 * stack with "process PID:"PROGRAM"".
 */
struct query_filter {
	pid_t pid;             /* 0: any */
	regex_t *match;        /* on the program, or NULL */
	bool by_process;
	/*
	 * Also fill this timeline (speedscope), one timeline thread per
	 * process: each stack's samples in a row, one period apart, the
	 * chunks in time order; at most QUERY_TIMELINE_MAX samples (else the
	 * query fails with *too_many set).
	 */
	struct timeline *timeline;
	bool too_many;
};
#define QUERY_TIMELINE_MAX 5000000
struct profile *query_merge(struct chunk **c, size_t n, size_t nfuncs, struct query_filter *f,
			    uint64_t *samples, uint64_t *failed);

/* discover.c: the /proc scan (ctx: struct discover). */
struct discover {
	const struct serve_config *c;
	regex_t re;
	bool have_re;
};
int discover_init(struct discover *d, const struct serve_config *c);
void discover_release(struct discover *d);
size_t discover_scan(void *ctx, pid_t *out, size_t cap);

/* api.c: the routes. */
struct serve_ctx {
	struct store *store;
	struct http_server *http;
	const struct serve_config *c;
};
/* The HTTP server's configuration (tests/fuzz's too). */
void serve_http_config(struct serve_ctx *x, const struct serve_config *c, struct http_config *out);

#endif
