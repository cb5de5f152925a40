/*
 * poll_internal.h - one round of HTTP GETs, all at once (src/collect/poll.c,
 * on libcurl's multi interface; shared by the files of src/collect only).
 */
#ifndef PYSPY_POLL_INTERNAL_H
#define PYSPY_POLL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics_internal.h"

struct poll_req {
	const char *url;
	const char *token;       /* bearer token, or NULL */
};

struct poll_res {
	bool ok;                 /* an answer with status 200 */
	long status;             /* HTTP status, 0: none */
	char *body;              /* malloc'ed, NUL-terminated */
	size_t len;
	double seconds;          /* how long the request took */
	char err[256];           /* why not ok */
	enum collect_reason reason;  /* why not ok, for the metrics */
};

int poll_init(void);
void poll_cleanup(void);
/*
 * GET every request concurrently, each bounded by 'timeout' seconds and
 * max_bytes of answer; returns when all are done (at most 'timeout'
 * after the start).  res[i] for rq[i]; release each with poll_res_release.
 * Returns 0, or -1 when the round could not run at all (res[*].err says).
 */
int poll_round(const struct poll_req *rq, size_t n, double timeout, size_t max_bytes,
	       struct poll_res *res);
void poll_res_release(struct poll_res *r);

#endif
