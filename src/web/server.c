/*
 * server.c - starting and stopping pyspy-c web (web.h): a read-only store
 * connection of its own (an SQLite reader never blocks the collector's
 * writes: WAL), the HTTP server with the routes table, and every
 * response's security headers.
 */
#define _GNU_SOURCE
#include "web_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The page loads nothing but its own files: no inline script or style, no
 * framing, no plugins; frame names it shows are text, never markup. */
#define WEB_CSP "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " \
		"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

static const char *const headers[] = {
	"Content-Security-Policy", WEB_CSP,
	"Referrer-Policy", "no-referrer",
	NULL,
};

/* The page's own state (its query string): any names, read by its script. */
static const struct http_route routes[] = {
	{ "/", web_page, "*", NULL },
	{ "/assets/", web_asset, "", NULL },
	{ "/api/v1/info", web_api_info, "", NULL },
	{ "/api/v1/series", web_api_series, "from,until,service,host,pid", NULL },
	{ "/api/v1/timeline", web_api_timeline, "from,until,group,service,host,pid", NULL },
	{ "/api/v1/flamegraph", web_api_flamegraph,
	  "from,until,service,host,pid,full_filenames,format", NULL },
};

void web_http_config(struct web_ctx *x, const struct web_config *c, struct http_config *out)
{
	*out = (struct http_config){
		.listen = c->listen, .token_file = c->token_file,
		.listen_opt = c->listen_opt, .token_opt = c->token_opt,
		.routes = routes, .nroutes = sizeof(routes) / sizeof(routes[0]),
		.ctx = x, .headers = headers,
		.help = "see /api/v1/info, or man pyspy-c",
		.token_cookie = true,
		/* the page's URL: its view, zoom path, search */
		.max_params = 24, .max_param_len = 4096,
		.memory_per_conn = 65536,
	};
}

struct web_server {
	struct web_ctx ctx;
	struct http_server *http;
	struct http_route *routes;   /* routes[] and the config's extra routes */
};

struct store_db *web_db_get(struct web_ctx *x)
{
	struct store_db *db = NULL;

	pthread_mutex_lock(&x->lock);
	while (!db) {
		for (int i = 0; i < WEB_CONNECTIONS && !db; i++)
			if (!x->busy[i]) {
				x->busy[i] = true;
				db = x->db[i];
			}
		if (!db)
			pthread_cond_wait(&x->freed, &x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	return db;
}

void web_db_put(struct web_ctx *x, struct store_db *db)
{
	pthread_mutex_lock(&x->lock);
	for (int i = 0; i < WEB_CONNECTIONS; i++)
		if (x->db[i] == db)
			x->busy[i] = false;
	pthread_cond_signal(&x->freed);
	pthread_mutex_unlock(&x->lock);
}

struct web_server *web_start(const struct web_config *c, int *status, char *err, size_t cap)
{
	struct store_options so = { .read_only = true };
	struct web_server *w = calloc(1, sizeof(*w));
	size_t nroutes = sizeof(routes) / sizeof(routes[0]);
	struct http_config hc;
	int e;

	if (!w) {
		snprintf(err, cap, "out of memory");
		*status = 1;
		return NULL;
	}
	pthread_mutex_init(&w->ctx.lock, NULL);
	pthread_cond_init(&w->ctx.freed, NULL);
	for (int i = 0; i < WEB_CONNECTIONS; i++) {
		w->ctx.db[i] = store_open(c->store, &so, &e, err, cap);
		if (!w->ctx.db[i]) {
			*status = store_error_retryable(e) || e == -STORE_EDB ? 1 : 8;
			goto fail;
		}
	}
	w->routes = calloc(nroutes + c->nextra_routes, sizeof(*w->routes));
	if (!w->routes) {
		snprintf(err, cap, "out of memory");
		*status = 1;
		goto fail;
	}
	memcpy(w->routes, routes, sizeof(routes));
	if (c->nextra_routes)
		memcpy(w->routes + nroutes, c->extra_routes,
		       c->nextra_routes * sizeof(*w->routes));
	web_http_config(&w->ctx, c, &hc);
	hc.routes = w->routes;
	hc.nroutes = nroutes + c->nextra_routes;
	w->http = http_start(&hc, err, cap);
	if (!w->http) {
		*status = strncmp(err, "invalid value", 13) == 0 ||
			  strncmp(err, "refusing", 8) == 0 ? 2 : 1;
		goto fail;
	}
	return w;
fail:
	web_stop(w);
	return NULL;
}

void web_stop(struct web_server *w)
{
	if (!w)
		return;
	http_stop(w->http);
	for (int i = 0; i < WEB_CONNECTIONS; i++)
		store_close(w->ctx.db[i]);
	pthread_cond_destroy(&w->ctx.freed);
	pthread_mutex_destroy(&w->ctx.lock);
	free(w->routes);
	free(w);
}

int web_run(const struct web_config *c)
{
	struct web_server *w;
	sigset_t set;
	char err[1024];
	int status = 0, sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	w = web_start(c, &status, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "pyspy-c: %s\n", err);
		return status;
	}
	fprintf(stderr, "pyspy-c: web: store '%s' (%s)\n", c->store,
		store_backend_name(w->ctx.db[0]));
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "pyspy-c: web: stopping on %s\n", strsignal(sig));
	web_stop(w);
	return 0;
}
