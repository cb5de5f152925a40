/*
 * pages.c - the page and its assets, from the table the build generates
 * out of web/ (web_assets.h): nothing is read from the disk at run time,
 * and only names in the table can be served.
 */
#include "web_internal.h"
#include "web_assets.h"

#include <string.h>

static const struct web_asset *find(const char *name)
{
	size_t lo = 0, hi = web_nassets;

	/* The table is sorted by name (tools/embed_assets.c). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(web_assets[mid].name, name);
		if (c == 0)
			return &web_assets[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void serve(struct http_reply *r, const struct web_asset *a)
{
	r->type = a->type;
	r->data = a->data;
	r->len = a->len;
	/* Revalidated on every load: a new build's page is never mixed with old
	 * scripts (the answers are small and local). */
	r->cache = "no-cache";
}

/* GET /: the app; its state is in the page's own query string. */
void web_page(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	const struct web_asset *a = find("index.html");

	(void)ctx;
	(void)rq;
	if (!a) {
		http_reply_text(r, 404, "this build has no web/index.html");
		return;
	}
	serve(r, a);
}

/* GET /assets/NAME */
void web_asset(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	const char *name = http_path(rq) + strlen("/assets/");
	const struct web_asset *a = find(name);

	(void)ctx;
	if (!a || strcmp(name, "README.md") == 0) {
		http_reply_text(r, 404, "no such asset");
		return;
	}
	serve(r, a);
}
