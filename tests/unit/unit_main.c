/*
 * unit_main.c - run every C unit-test group; exit 1 if any test failed.
 *
 * cmocka prints its usual per-group report ("[  PASSED  ] N test(s).",
 * "[  FAILED  ] ..."); this only adds up the failures.
 */
#include "unit.h"

#include <stdio.h>

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
	{ "json", unit_json },
};

int main(void)
{
	size_t i;
	int failed = 0;

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
