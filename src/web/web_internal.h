/*
 * web_internal.h - shared by the files of src/web only.
 *
 *   server.c   start and stop: the store connection, the HTTP server
 *   pages.c    the page (/) and its assets (/assets/NAME), compiled in
 *   api.c      the JSON API (/api/v1/...) and the downloads
 *
 * A few store connections, each used by one request at a time: the page
 * asks for its timeline, menus and flame graph at once, and SQLite readers
 * (WAL) and PostgreSQL connections answer them side by side.
 */
#ifndef PYSPY_WEB_INTERNAL_H
#define PYSPY_WEB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "pyspy/http.h"
#include "pyspy/store.h"
#include "pyspy/web.h"

#define WEB_CONNECTIONS 4

struct web_ctx {
	struct store_db *db[WEB_CONNECTIONS];
	bool busy[WEB_CONNECTIONS];
	pthread_mutex_t lock;     /* guards busy */
	pthread_cond_t freed;
};

/* The HTTP server's configuration (routes, headers, limits); tests/fuzz's too. */
void web_http_config(struct web_ctx *x, const struct web_config *c, struct http_config *out);

/* A connection of the pool for this request (waits for one), and back. */
struct store_db *web_db_get(struct web_ctx *x);
void web_db_put(struct web_ctx *x, struct store_db *db);

/* Handlers of pages.c and api.c, for the routes table (server.c). */
void web_page(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_asset(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_api_info(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_api_series(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_api_timeline(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_api_flamegraph(void *ctx, const struct http_request *rq, struct http_reply *r);

#endif
