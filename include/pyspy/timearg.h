/*
 * timearg.h - a point in time as the fleet commands (query, collect) and
 * the web app take it from a user: one parser, shared.
 *
 *   1733461200                  Unix seconds
 *   2026-12-06T05:00:00Z        ISO 8601: a date, optionally a time
 *   2026-12-06 05:00            ("T" or a space; seconds and a fraction
 *   2026-12-06T06:00+01:00       optional), "Z" or an offset; none: UTC
 *   now, now-15m, -1h, 30m      relative to now ("30m": 30 minutes ago);
 *   -1h30m, now+10s             units s, m, h, d, w, combinable
 */
#ifndef PYSPY_TIMEARG_H
#define PYSPY_TIMEARG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse 's' relative to 'now' (Unix seconds) into *out (Unix seconds,
 * fractions dropped).  Returns 0, or -1 with the reason in err (a phrase
 * to follow "bad time 'S': ").
 */
int timearg_parse(const char *s, int64_t now, int64_t *out, char *err, size_t cap);

#endif
