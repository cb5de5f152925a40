/*
 * web.h - pyspy-c web: the fleet's history in a browser (src/web).  The
 * page and its assets are compiled in from web/; the JSON API the page
 * uses (/api/v1/...) reads a store through the same queries as pyspy-c
 * query.  Served by "pyspy-c web" and, from the collector's process, by
 * "pyspy-c collect --web": one read-only store connection of its own.
 */
#ifndef PYSPY_WEB_H
#define PYSPY_WEB_H

#include <stdbool.h>
#include <stddef.h>

#define WEB_DEFAULT_LISTEN "127.0.0.1:4110"

struct http_route;

struct web_config {
	const char *store;        /* the store's URL, as store_open takes it */
	const char *listen;       /* ADDR:PORT */
	const char *token_file;   /* required off loopback */
	/* The options they came from, for messages (NULL: --listen, --token-file). */
	const char *listen_opt, *token_opt;
	/* Routes served besides the pages (collect --web: /metrics), each
	   with its own ctx; borrowed until web_stop. */
	const struct http_route *extra_routes;
	size_t nextra_routes;
};

struct web_server;

/*
 * Open the store read-only and start serving.  On failure returns NULL
 * with the reason in err and *status the exit status it calls for (2
 * usage, 8 a store that cannot be used, 1 otherwise).
 */
struct web_server *web_start(const struct web_config *c, int *status, char *err, size_t cap);
void web_stop(struct web_server *w);
/* pyspy-c web: serve until SIGINT or SIGTERM; the exit status. */
int web_run(const struct web_config *c);

#endif
