/*
 * metrics_internal.h - the collector's own health (src/collect/metrics.c),
 * shared by the files of src/collect only.
 *
 * The polling thread counts in its own agent states and publishes a copy
 * of everything (every agent's labels and counters, the totals) under one
 * lock at the end of each round; the HTTP threads answer /metrics from
 * that copy under the same lock.  A scrape sees one round's state whole,
 * never half of one, and never a label the polling thread has freed
 * (SIGHUP): the copy owns its labels.
 */
#ifndef PYSPY_METRICS_INTERNAL_H
#define PYSPY_METRICS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pyspy/http.h"

/* Why a poll failed: the reason label of pyspyc_collect_agent_errors_total. */
#define COLLECT_REASONS(X) \
	X(CR_CONNECT, "connect")       /* no connection: refused, unreachable, unknown name */ \
	X(CR_TIMEOUT, "timeout")       /* no whole answer within --timeout */ \
	X(CR_STATUS, "status")         /* an answer other than 200 (401: a wrong token) */ \
	X(CR_TOO_LARGE, "too_large")   /* an answer past COLLECT_MAX_RESPONSE */ \
	X(CR_MALFORMED, "malformed")   /* not pyspy-c.windows.v1, or values out of bounds */ \
	X(CR_REFUSED, "refused")       /* decoded, but the store refused its windows */ \
	X(CR_OTHER, "other")           /* any other transfer error */
enum collect_reason {
#define CR_ENUM_(name, text) name,
	COLLECT_REASONS(CR_ENUM_)
#undef CR_ENUM_
	CR_N
};

/* One agent's counters, kept by the polling thread (and across SIGHUP). */
struct cm_agent_stats {
	bool up;                     /* its last poll succeeded (and was written) */
	int failures;                /* consecutive failed polls */
	double backoff;              /* seconds from its last failure to its next try */
	int64_t last_success_ns;     /* wall clock of its last good poll; 0: none yet */
	int64_t newest_end_ns;       /* end of the newest window written; 0: none yet */
	uint64_t windows, samples;   /* written */
	uint64_t errors[CR_N];
};

/* The collector's totals since it started. */
struct cm_totals {
	uint64_t rounds;
	double round_seconds;        /* the last round's */
	double round_seconds_total;
	uint64_t windows, samples, rows;   /* written (rows: counts and totals upserted) */
	uint64_t write_errors;       /* transactions that failed */
	bool have_store_bytes;
	uint64_t store_bytes;
};

/* Label values are at most this long (agents.c: an address, a label). */
#define CM_LABEL_MAX 300

struct collect_metrics;

/* 'backend' ("sqlite", "postgresql") is copied.  NULL when out of memory. */
struct collect_metrics *cm_new(const char *backend);
void cm_free(struct collect_metrics *m);

/*
 * Publish (the polling thread): cm_publish_begin takes the lock and makes
 * room for n agents (out of memory: none, and -1), cm_publish_agent
 * copies agent i, cm_publish_end sets the totals and lets go.
 */
int cm_publish_begin(struct collect_metrics *m, size_t n);
void cm_publish_agent(struct collect_metrics *m, size_t i, const char *addr,
		      const char *service, const char *host, const struct cm_agent_stats *st);
void cm_publish_end(struct collect_metrics *m, const struct cm_totals *t);

/*
 * The Prometheus text (format 0.0.4) of what was published last, at wall
 * clock 'now_ns' (lag is now minus the newest window's end), with the
 * process's CPU time and resident bytes as given.
 */
void cm_write(struct collect_metrics *m, FILE *out, int64_t now_ns, double cpu_seconds,
	      uint64_t resident_bytes);

/* Handlers of /metrics and /healthz; ctx: the collect_metrics. */
void cm_http_metrics(void *ctx, const struct http_request *rq, struct http_reply *r);
void cm_http_healthz(void *ctx, const struct http_request *rq, struct http_reply *r);

#endif
