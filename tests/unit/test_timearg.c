/*
 * test_timearg.c - parsing times from users (src/util/timearg.c).
 */
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pyspy/timearg.h"

#define NOW 1765000000ll /* 2025-12-06T05:46:40Z */

static void test_good(void **state)
{
	static const struct {
		const char *in;
		int64_t want;
	} cases[] = {
		{ "now", NOW },
		{ "1733461200", 1733461200 },
		{ "1733461200.75", 1733461200 },
		{ "0", 0 },
		{ "-1h", NOW - 3600 },
		{ "now-15m", NOW - 900 },
		{ "now+10s", NOW + 10 },
		{ "+2d", NOW + 2 * 86400 },
		{ "30m", NOW - 1800 },
		{ "-1h30m", NOW - 5400 },
		{ "1w", NOW - 7 * 86400 },
		{ "-90s", NOW - 90 },
		{ "2026-12-06T05:00:00Z", 1796533200 },
		{ "2026-12-06T05:00:00", 1796533200 },
		{ "2026-12-06 05:00", 1796533200 },
		{ "2026-12-06t05:00:00.123z", 1796533200 },
		{ "2026-12-06T06:00:00+01:00", 1796533200 },
		{ "2026-12-06T06:30+0130", 1796533200 },
		{ "2026-12-06T00:00:00-05:00", 1796533200 },
		{ "2026-12-06", 1796515200 },
		{ "2024-02-29", 1709164800 },
		{ "1970-01-01T00:00:00Z", 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = -1;
		char err[128] = "";
		int rc = timearg_parse(cases[i].in, NOW, &t, err, sizeof(err));
		if (rc != 0 || t != cases[i].want)
			fail_msg("'%s': rc %d (%s), got %lld, want %lld", cases[i].in, rc, err,
				 (long long)t, (long long)cases[i].want);
	}
}

static void test_bad(void **state)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "", "empty" },
		{ "yesterday", "expected a date" },
		{ "-1", "needs a unit" },
		{ "-1y", "unknown unit" },
		{ "now-", "missing" },
		{ "nowish", "expected now" },
		{ "-h", "expected a number" },
		{ "2026-13-01", "no such date" },
		{ "2025-02-29", "no such date" },
		{ "2026-12-06T24:00", "no such time" },
		{ "2026-12-06T05", "HH:MM" },
		{ "2026-12-06T05:00:00+25:00", "no such offset" },
		{ "2026-12-06T05:00:00 UTC", "unexpected text" },
		{ "1969-12-31", "no such date" },
		{ "-999999999999h", "too far" },
		{ "99999999999999", "out of range" },
		{ "12.", "unit" },
		{ "12abc", "unknown unit" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 0;
		char err[128] = "";
		int rc = timearg_parse(cases[i].in, NOW, &t, err, sizeof(err));
		if (rc != -1 || !strstr(err, cases[i].why))
			fail_msg("'%s': rc %d, message '%s', want one with '%s'", cases[i].in, rc, err,
				 cases[i].why);
	}
}

int unit_timearg(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests_name("timearg", tests, NULL, NULL);
}
