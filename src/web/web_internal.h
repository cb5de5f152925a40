/*
 * web_internal.h - shared by the files of src/web only.
 *
 *   server.c   start and stop: the store connection, the HTTP server
 *   pages.c    the page (/) and its assets (/assets/NAME), compiled in
 *   api.c      the JSON API (/api/v1/...) and the downloads
 *
 * One store connection serves every request, one at a time (a mutex):
 * HTTP threads never share it unlocked.
 */
#ifndef PYSPY_WEB_INTERNAL_H
#define PYSPY_WEB_INTERNAL_H

#include <pthread.h>

#include "pyspy/http.h"
#include "pyspy/store.h"
#include "pyspy/web.h"

struct web_ctx {
	struct store_db *db;
	pthread_mutex_t lock;     /* held around every use of db */
};

/* Handlers of pages.c and api.c, for the routes table (server.c). */
void web_page(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_asset(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_api_info(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_api_series(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_api_timeline(void *ctx, const struct http_request *rq, struct http_reply *r);
void web_api_flamegraph(void *ctx, const struct http_request *rq, struct http_reply *r);

#endif
