/*
 * test_agents.c - the collector's agents file (src/collect/agents.c).
 */
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pyspy/collect.h"

static void test_agents_file(void **state)
{
	const char *text = "# the fleet\n"
			   "web-1.internal:16384 service=web token=/etc/pyspy-c/web.token\n"
			   "\n"
			   "  10.0.0.7:16384   host=batch-7 service=batch  # a comment\r\n"
			   "[::1]:9000\n";
	struct collect_agent *a;
	size_t n;
	char err[256];
	(void)state;

	assert_int_equal(collect_parse_agents(text, &a, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(a[0].addr, "web-1.internal:16384");
	assert_string_equal(a[0].host, "web-1.internal");
	assert_string_equal(a[0].service, "web");
	assert_string_equal(a[0].token_file, "/etc/pyspy-c/web.token");
	assert_string_equal(a[1].addr, "10.0.0.7:16384");
	assert_string_equal(a[1].host, "batch-7");
	assert_string_equal(a[1].service, "batch");
	assert_null(a[1].token_file);
	assert_string_equal(a[2].addr, "[::1]:9000");
	assert_string_equal(a[2].host, "[::1]");
	assert_string_equal(a[2].service, "default");
	collect_agents_free(a, n);
}

static void test_agents_refused(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{ "web-1\n", "line 1: not HOST:PORT: 'web-1'" },
		{ "a:1\nb:0\n", "line 2: not HOST:PORT" },
		{ "a:70000\n", "not HOST:PORT" },
		{ "a:1 colour=red\n", "unknown label" },
		{ "a:1 service=\n", "bad value" },
		{ "a:1 service=x service=y\n", "given twice" },
		{ "a:1\n# again\na:1\n", "line 3: agent 'a:1' listed twice" },
		{ "a/b:1\n", "not HOST:PORT" },
	};
	struct collect_agent *a;
	size_t n;
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (collect_parse_agents(cases[i].text, &a, &n, err, sizeof(err)) == 0 ||
		    !strstr(err, cases[i].why))
			fail_msg("'%s': '%s', want '%s'", cases[i].text, err, cases[i].why);
		assert_null(a);
		assert_int_equal(n, 0);
	}
}

int unit_agents(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agents_file),
		cmocka_unit_test(test_agents_refused),
	};
	return cmocka_run_group_tests_name("agents", tests, NULL, NULL);
}
