/*
 * serve.h - the agent: "pyspy-c serve" samples every matching Python
 * process around the clock in one sampling thread, keeps the stacks in a
 * ring of windows, and vends them over HTTP (src/serve, on src/http).
 */
#ifndef PYSPY_SERVE_H
#define PYSPY_SERVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "pyspy/sampler.h"

#define SERVE_MAX_PIDS 64
#define SERVE_DEFAULT_LISTEN "127.0.0.1:16384"

struct serve_config {
	pid_t pids[SERVE_MAX_PIDS];  /* --pid, repeated */
	size_t npids;
	const char *match;           /* --match REGEX, or NULL */
	bool subprocesses;           /* their descendants too */
	bool hide_args;              /* program names only, no arguments */
	bool native, native_all;
	struct sampler_opts so;      /* rate, blocking, idle, gil */
	double window;               /* seconds per window (whole seconds) */
	double retention;            /* seconds of windows kept */
	double max_overhead;         /* percent of the host's CPU and of each
					target's time stopped; 0: no limit */
	const char *listen;          /* ADDR:PORT */
	const char *token_file;      /* bearer token, or NULL */
};

/* Run the agent until SIGINT or SIGTERM; returns the exit status. */
int serve_run(const struct serve_config *c);

#endif
