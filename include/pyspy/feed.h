/*
 * feed.h - an agent's /v1/windows answer ("pyspy-c.windows.v1", written
 * by pyspy-c serve) decoded into the store's input (struct store_batch's
 * windows).  The collector's reader of what agents send: every field is
 * checked, and a malformed, oversized or hostile answer is refused whole
 * with a message, before anything reaches the store.
 */
#ifndef PYSPY_FEED_H
#define PYSPY_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyspy/jsonparse.h"
#include "pyspy/store.h"

#define FEED_FORMAT "pyspy-c.windows.v1"

struct feed_page {
	const char *instance;          /* the agent's instance id */
	double rate;
	uint64_t oldest_seq, newest_seq, next_since;
	bool gap;                      /* windows after 'since' were gone already */
	size_t nwindows;
	struct store_in_window *windows;   /* oldest first, seq increasing */
	/* What the above points into. */
	struct jp_value doc;
	void *mem;
};

/* Decode text[0 .. len-1]; 0, or -1 with the reason in err.  feed_free() either way. */
int feed_decode(const char *text, size_t len, struct feed_page *page, char *err, size_t cap);
void feed_free(struct feed_page *page);

#endif
