/*
 * fuzz_feed.c - the collector's reader of what agents send: any bytes as
 * a /v1/windows answer (the JSON parser, then every field of the
 * pyspy-c.windows.v1 format), refused whole or decoded, never a crash.
 * Seeds: answers of a real agent (seed.py).
 */
#include "fuzz.h"

#include <stdlib.h>

#include "pyspy/feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed_page page;
	char err[256];
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	memset(&page, 0, sizeof(page));
	if (feed_decode(text, size, &page, err, sizeof(err)) != 0 && !memchr(err, 0, sizeof(err)))
		abort();
	feed_free(&page);
	free(text);
	return 0;
}
