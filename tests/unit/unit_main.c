/*
 * unit_main.c - run every C unit-test group; exit 1 if any test failed.
 *
 * cmocka prints its usual per-group report ("[  PASSED  ] N test(s).",
 * "[  FAILED  ] ..."); this only adds up the failures.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_fixture.h"

static const struct {
	const char *name;
	int (*run)(void);
} groups[] = {
	{ "linetable", unit_linetable },
	{ "pystr", unit_pystr },
	{ "profile", unit_profile },
	{ "folded", unit_folded },
	{ "debug_offsets", unit_debug_offsets },
	{ "layout_dwarf", unit_layout_dwarf },
	{ "output_formats", unit_output_formats },
	{ "native_merge", unit_native_merge },
	{ "top", unit_top },
	{ "plt", unit_plt },
	{ "subinterp_merge", unit_subinterp_merge },
	{ "timearg", unit_timearg },
	{ "pace", unit_pace },
	{ "store_plan", unit_store_plan },
	{ "store_sqlite", unit_store_sqlite },
	{ "store_postgres", unit_store_postgres },
	{ "feed", unit_feed },
	{ "agents", unit_agents },
	{ "json", unit_json },
	{ "collect_metrics", unit_collect_metrics },
};

int main(int argc, char **argv)
{
	size_t i;
	int failed = 0;

	/* For the e2e tests of pyspy-c query: a store of known content. */
	if (argc == 5 && strcmp(argv[1], "--write-store") == 0)
		return fx_write_store(argv[2], strtoll(argv[3], NULL, 10), atoi(argv[4]));
	if (argc > 1) {
		fprintf(stderr, "usage: run-unit [--write-store PATH T0 WINDOWS]\n");
		return 2;
	}

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		int n = groups[i].run();

		if (n != 0) {
			fprintf(stderr, "run-unit: group %s: %d failed\n",
				groups[i].name, n);
			failed += n > 0 ? n : 1;
		}
	}
	if (failed) {
		fprintf(stderr, "run-unit: %d test(s) failed\n", failed);
		return 1;
	}
	return 0;
}
