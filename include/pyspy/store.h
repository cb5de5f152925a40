/*
 * store.h - the fleet's history: windows of stacks from many agents, kept
 * in SQLite (embedded default) or PostgreSQL (shared), queried back as a
 * struct profile for the output writers or as a timeline of counts.
 *
 * One code path (src/store/store.c: schema, interning, rollups, queries,
 * tier choice) stands on a small backend table (src/store/backend.h), one
 * file per database library, chosen by the URL: "PATH" or "sqlite:PATH"
 * for SQLite, "postgresql://..." or "postgres://..." for PostgreSQL.
 *
 * Time in the store is the agent's: a window counts in the 1-minute
 * bucket that holds its middle.  Buckets are rolled up into 10-minute and
 * 1-hour buckets as they close; each tier has its own retention.
 *
 * Writing: store_begin(), store_put() any number of batches (each with
 * its agent's cursor), then store_commit(), all in one transaction; any
 * error rolls everything back (store_rollback), so a batch is stored with
 * its cursor or not at all.
 */
#ifndef PYSPY_STORE_H
#define PYSPY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pyspy/stacks.h"

/*
 * Errors: 0, or one of these (negative).  RETRY ones (busy, disk full,
 * I/O) leave the store as it was before the transaction: the caller may
 * keep its data and try again later.
 */
#define STORE_ERRORS(X) \
	X(STORE_EUSAGE, "bad argument") \
	X(STORE_ENOENT, "no such store") \
	X(STORE_EFOREIGN, "not a pyspy-c store") \
	X(STORE_ECORRUPT, "store is corrupt") \
	X(STORE_EVERSION, "store was written by a newer pyspy-c") \
	X(STORE_EBUSY, "store is busy") \
	X(STORE_EFULL, "disk full") \
	X(STORE_EIO, "I/O error") \
	X(STORE_ENOMEM, "out of memory") \
	X(STORE_ECURSOR, "cursor moved backwards") \
	X(STORE_EBACKEND, "backend not built") \
	X(STORE_EDB, "database error")

enum store_error {
	STORE_OK = 0,
#define STORE_ENUM_(name, text) name,
	STORE_EFIRST_ = 0,
	STORE_ERRORS(STORE_ENUM_)
#undef STORE_ENUM_
};
/* The short text of an error code (its negative or positive value). */
const char *store_strerror(int err);
/* Whether a store error may go away by itself (busy, full, I/O). */
bool store_error_retryable(int err);

/* Tiers: bucket widths in seconds, finest first. */
#define STORE_NTIERS 3
extern const int64_t store_tier_width[STORE_NTIERS];
/* Default retention per tier, in seconds: 2 days, 2 weeks, 1 year. */
extern const int64_t store_default_retention[STORE_NTIERS];

struct store_db;

struct store_options {
	bool create;             /* create the store if missing (writers) */
	bool read_only;          /* readers (query, web) */
	int64_t retention[STORE_NTIERS]; /* 0: the default */
	int64_t max_bytes;       /* SQLite: refuse to grow past this (disk
				    full, as a quota); 0: no limit */
};

/*
 * Open the store 'url'.  On failure returns NULL with *err set and the
 * message (naming the store and the reason) in errbuf.
 */
struct store_db *store_open(const char *url, const struct store_options *o, int *err,
			    char *errbuf, size_t errcap);
void store_close(struct store_db *s);
/* The last error's message ("cannot ...: reason"). */
const char *store_errmsg(const struct store_db *s);
/* "sqlite" or "postgresql". */
const char *store_backend_name(const struct store_db *s);
/* The backends this build has, one line for --version. */
void store_print_backends(FILE *out);

/*
 * Input: one batch of windows of one agent, as /v1/windows carries them
 * (pyspy-c serve).  Everything is borrowed for the call.
 */
struct store_in_func {
	const char *name, *file, *short_file;  /* file, short_file may be NULL */
	bool label;                            /* FUNC_LABEL: printed as is */
};
struct store_in_proc {
	int64_t pid;
	uint64_t start_time;                   /* the process's, for pid reuse */
	const char *program;                   /* may be NULL */
	const char *python;                    /* version, may be NULL */
	const char *thread;                    /* where kept, else NULL */
	uint64_t samples, errors, late;
};
struct store_in_frame {
	uint32_t func;                         /* index into the window's funcs */
	int32_t line;                          /* -1: none */
};
struct store_in_stack {
	int32_t proc;                          /* index into procs, -1: none */
	uint64_t count;
	uint32_t nframes;
	const struct store_in_frame *frames;   /* root first */
};
struct store_in_window {
	uint64_t seq;
	int64_t start_ns, end_ns;              /* agent's wall clock */
	uint64_t samples, errors, late, pruned;
	size_t nprocs, nfuncs, nstacks;
	const struct store_in_proc *procs;
	const struct store_in_func *funcs;
	const struct store_in_stack *stacks;
};
struct store_batch {
	const char *host, *service;            /* labels of every series */
	size_t nwindows;
	const struct store_in_window *windows;
	/* The agent's cursor after these windows, written with them
	   (agent NULL: none). */
	const char *agent, *instance;
	uint64_t last_seq;
};

int store_begin(struct store_db *s);
/* Add a batch and its cursor to the transaction; on error it is rolled back. */
int store_put(struct store_db *s, const struct store_batch *b);
/*
 * Roll closed buckets up and commit.  On error the transaction is rolled
 * back: none of its batches and cursors is stored.
 */
int store_commit(struct store_db *s);
void store_rollback(struct store_db *s);
/*
 * Rows of counts and totals the puts of the transaction wrote (inserted
 * or added to), over every tier; counted from store_begin, so after a
 * store_commit it says what was committed.
 */
uint64_t store_tx_rows(const struct store_db *s);
/*
 * The cursor of 'agent': *found false if none.  'instance' gets the
 * agent's instance id (at most cap bytes with the NUL).
 */
int store_cursor(struct store_db *s, const char *agent, bool *found, char *instance,
		 size_t cap, uint64_t *last_seq);

/* Query: which series count.  NULL / 0: any. */
struct store_filter {
	const char *service, *host;
	int64_t pid;
};

/*
 * The plan of a query: [from, until) cut into spans, each answered by one
 * tier.  This is the one place tiers are chosen (pure, unit tested).
 */
struct store_tier_state {
	int64_t width;          /* seconds per bucket */
	int64_t kept_from;      /* buckets before this may be expired */
	int64_t rolled_until;   /* buckets before this are complete (tier 0: INT64_MAX) */
};
struct store_span {
	int tier;
	int64_t from, until;    /* bucket-aligned */
	bool exact;             /* false: rounded out to the tier's buckets
				   because no finer tier still holds them */
};
#define STORE_MAX_SPANS (4 * STORE_NTIERS)
/*
 * Spans for [from, until) (seconds; from and until are first rounded out
 * to whole minutes): the coarsest tier that answers each part exactly,
 * finer tiers at the edges; no tier coarser than 'coarsest' unless the
 * finer ones have expired (STORE_NTIERS - 1: the fewest rows; a timeline:
 * store_timeline_tier).  Returns the number of spans (0: empty range).
 */
size_t store_plan(int64_t from, int64_t until, const struct store_tier_state tiers[STORE_NTIERS],
		  int coarsest, struct store_span out[STORE_MAX_SPANS]);
/* The tier a timeline of [from, until) uses: the finest with at most this many buckets. */
#define STORE_TIMELINE_POINTS 1500
int store_timeline_tier(int64_t from, int64_t until);

struct store_query_info {
	uint64_t samples, errors; /* totals of the matching series */
	size_t nspans;
	struct store_span spans[STORE_MAX_SPANS];
	bool exact;
	bool by_process;          /* read from the counts of each process (a host or
				     pid filter), else from the sums per service */
};
/*
 * The profile of [from, until) (Unix seconds) for the series passing
 * 'f'.  Returns a new profile (profile_free) or NULL with *err set.
 */
struct profile *store_query(struct store_db *s, int64_t from, int64_t until,
			    const struct store_filter *f, struct store_query_info *info, int *err);

/* Timeline: sample counts per bucket, grouped by service or host. */
enum store_group { STORE_BY_SERVICE, STORE_BY_HOST };
struct store_point {
	int64_t bucket;          /* start, Unix seconds */
	int64_t width;           /* seconds */
	char *group;             /* service or host */
	uint64_t samples, errors;
	uint64_t stacked;        /* samples with a stack (idle ones have none) */
};
/*
 * Points of [from, until) in bucket order, from the tier the plan gives
 * (several tiers if the range needs them).  *out is malloc'ed (free with
 * store_points_free).  Returns 0 or an error.
 */
int store_timeline(struct store_db *s, int64_t from, int64_t until, const struct store_filter *f,
		   enum store_group by, struct store_point **out, size_t *n);
void store_points_free(struct store_point *p, size_t n);

/*
 * The filter choices of [from, until) for the series passing 'f': one row
 * per (service, host, pid, program) with its samples, most samples with a
 * stack first (the web app's menus).  *out is malloc'ed (store_series_free).
 */
struct store_series_row {
	char *service, *host;
	char *program;           /* "" when the agent did not know it */
	int64_t pid;             /* 0: samples of no process (pruned stacks) */
	uint64_t samples;        /* taken */
	uint64_t stacked;        /* with a stack (idle ones have none): the order */
};
int store_series(struct store_db *s, int64_t from, int64_t until, const struct store_filter *f,
		 struct store_series_row **out, size_t *n);
void store_series_free(struct store_series_row *r, size_t n);
/*
 * The time the store holds data for: [*first, *last) in Unix seconds,
 * bucket bounds over every tier; *found false when it is empty.
 */
int store_extent(struct store_db *s, int64_t *first, int64_t *last, bool *found);

/*
 * Roll up every bucket that closed (its end at or before the newest data
 * stored); store_commit does this too.  In its own transaction when none
 * is open.
 */
int store_rollup(struct store_db *s);
/*
 * Delete buckets older than each tier's retention before 'now' (Unix
 * seconds), in their own transaction, and the stacks, frames, functions
 * and series no kept bucket uses any more (at most once a day of
 * retention).  *deleted: rows removed (may be NULL).
 */
int store_expire(struct store_db *s, int64_t now, uint64_t *deleted);

/* Bytes the store takes on disk (SQLite: its file; PostgreSQL: its database). */
int store_size(struct store_db *s, uint64_t *bytes);

/* Tier states as store_plan takes them (for the web app's "bucket size"). */
int store_tiers(struct store_db *s, struct store_tier_state out[STORE_NTIERS]);

#endif
