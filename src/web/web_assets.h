/*
 * web_assets.h - the web app's files, compiled in: the table that the
 * build generates from web/ (tools/embed_assets.c -> BUILD/gen/web_assets.c),
 * sorted by name, ended by a row with a NULL name.
 */
#ifndef PYSPY_WEB_ASSETS_H
#define PYSPY_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char *name;          /* path below web/: "index.html", "app.js" */
	const char *type;          /* Content-Type, by extension */
	const unsigned char *data;
	size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_nassets;

#endif
