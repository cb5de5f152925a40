/*
 * collect.h - the collector: polls every agent's /v1/windows (pyspy-c
 * serve) concurrently and writes what they sampled to a store, each
 * agent's cursor in the same transaction as its windows.
 *
 *   agents.c     the agents file (pure)
 *   feed.c       an agent's answer -> the store's input (feed.h)
 *   poll.c       one round of HTTP requests (libcurl multi): the only
 *                file that includes <curl/curl.h>
 *   metrics.c    the collector's own health: /metrics, /healthz
 *   collector.c  the loop: rounds, backoff, transactions, retention
 */
#ifndef PYSPY_COLLECT_H
#define PYSPY_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyspy/store.h"

/* One agent: "HOST:PORT [service=NAME] [host=NAME] [token=FILE]". */
struct collect_agent {
	char *addr;               /* HOST:PORT, as polled */
	char *host, *service;     /* labels of its series */
	char *token_file;         /* bearer token, or NULL */
};

/*
 * Parse an agents file: one agent a line, '#' starts a comment.  The host
 * label defaults to HOST, the service to "default".  Returns 0 with a
 * malloc'ed array (collect_agents_free), or -1 with "line N: reason".
 */
int collect_parse_agents(const char *text, struct collect_agent **out, size_t *n, char *err,
			 size_t cap);
/* One agent from the command line (--agent HOST:PORT): the same syntax. */
int collect_parse_agent(const char *spec, struct collect_agent *out, char *err, size_t cap);
void collect_agents_free(struct collect_agent *a, size_t n);

#define COLLECT_MAX_AGENTS 10000
#define COLLECT_MAX_RESPONSE (256u << 20)   /* bytes of one answer */

struct collect_config {
	const char *store;
	struct collect_agent *agents;   /* --agent, repeated */
	size_t nagents;
	const char *agents_file;        /* re-read on SIGHUP */
	double interval;                /* seconds between rounds */
	double timeout;                 /* seconds for one request */
	int64_t retention[STORE_NTIERS];
	bool once;                      /* one round, then exit */
	bool verbose;
	const char *web_listen;         /* --web ADDR:PORT: serve pyspy-c web too */
	const char *web_token_file;
	/* --listen ADDR:PORT: serve /metrics and /healthz (also on --web's). */
	const char *listen;
	const char *token_file;
};

/* Run until SIGINT or SIGTERM (or one round with 'once'); the exit status. */
int collect_run(const struct collect_config *c);

#endif
