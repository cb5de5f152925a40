/*
 * timearg.c - parsing a time from a user (see timearg.h).  Pure: 'now' is
 * an argument, so the tests fix it.
 */
#define _GNU_SOURCE
#include "pyspy/timearg.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A relative amount is at most this far (100 years), a year 1970..9999. */
#define MAX_SPAN (100ll * 366 * 86400)

static int failf(char *err, size_t cap, const char *msg)
{
	snprintf(err, cap, "%s", msg);
	return -1;
}

/* n digits (exactly) at *p into *v. */
static bool digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

/* "1h30m": a sum of amounts with units; *secs. */
static int span(const char *p, int64_t *secs, char *err, size_t cap)
{
	int64_t total = 0;

	if (!*p)
		return failf(err, cap, "an amount is missing after the sign");
	while (*p) {
		int64_t n = 0, unit;
		if (!isdigit((unsigned char)*p))
			return failf(err, cap, "expected a number of s, m, h, d or w");
		while (isdigit((unsigned char)*p)) {
			n = n * 10 + (*p++ - '0');
			if (n > MAX_SPAN)
				return failf(err, cap, "too far from now (at most 100 years)");
		}
		switch (*p) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		case '\0':
			return failf(err, cap, "a relative time needs a unit (s, m, h, d, w)");
		default:
			return failf(err, cap, "unknown unit (s, m, h, d, w)");
		}
		p++;
		total += n * unit;
		if (total > MAX_SPAN)
			return failf(err, cap, "too far from now (at most 100 years)");
	}
	*secs = total;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

static int iso(const char *p, int64_t *out, char *err, size_t cap)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	struct tm tm = { 0 };

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return failf(err, cap, "expected YYYY-MM-DD");
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return failf(err, cap, "no such date");
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return failf(err, cap, "expected HH:MM after the date");
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return failf(err, cap, "expected SS after HH:MM:");
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return failf(err, cap, "expected digits after the decimal point");
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return failf(err, cap, "no such time of day");
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, 2, &oh))
			return failf(err, cap, "expected an offset +HH:MM");
		if (*p == ':')
			p++;
		if (*p && !digits(&p, 2, &om))
			return failf(err, cap, "expected an offset +HH:MM");
		if (oh > 23 || om > 59)
			return failf(err, cap, "no such offset");
	}
	if (*p)
		return failf(err, cap, "unexpected text after the time");
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
	return 0;
}

int timearg_parse(const char *s, int64_t now, int64_t *out, char *err, size_t cap)
{
	const char *p = s;
	int64_t secs;
	size_t n;

	if (!s || !*s)
		return failf(err, cap, "empty");
	if (strlen(s) > 64)
		return failf(err, cap, "too long");
	if (strncmp(p, "now", 3) == 0) {
		p += 3;
		if (!*p) {
			*out = now;
			return 0;
		}
		if (*p != '-' && *p != '+')
			return failf(err, cap, "expected now, now-AMOUNT or now+AMOUNT");
	}
	if (*p == '-' || *p == '+') {
		int sign = *p == '-' ? -1 : 1;
		if (span(p + 1, &secs, err, cap))
			return -1;
		*out = now + sign * secs;
		return 0;
	}
	n = strspn(p, "0123456789");
	if (n == 0)
		return failf(err, cap, "expected a date (2026-12-06T14:00:00Z), Unix seconds "
			     "or a relative time (-1h, now-15m)");
	if (p[n] == '-' && n == 4)
		return iso(p, out, err, cap);
	if (!p[n] || (p[n] == '.' && p[n + 1] && strspn(p + n + 1, "0123456789") ==
		      strlen(p + n + 1))) {
		if (n > 12)
			return failf(err, cap, "Unix seconds out of range");
		secs = 0;
		for (size_t i = 0; i < n; i++)
			secs = secs * 10 + (p[i] - '0');
		*out = secs;
		return 0;
	}
	/* "30m": that long ago. */
	if (span(p, &secs, err, cap))
		return -1;
	*out = now - secs;
	return 0;
}
