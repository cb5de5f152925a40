/*
 * test_store_plan.c - choosing the tiers that answer a query
 * (src/store/plan.c, pure).
 */
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pyspy/store.h"

#define H 3600
#define M 60

struct want {
	int tier;
	int64_t from, until;
	bool exact;
};

static void check_top(const struct store_tier_state t[STORE_NTIERS], int top, int64_t from,
			 int64_t until, const struct want *w, size_t nw)
{
	struct store_span s[STORE_MAX_SPANS];
	size_t n = store_plan(from, until, t, top, s);

	if (n != nw) {
		for (size_t i = 0; i < n; i++)
			print_message("span %zu: tier %d [%lld, %lld) %s\n", i, s[i].tier,
				      (long long)s[i].from, (long long)s[i].until,
				      s[i].exact ? "exact" : "rounded");
		fail_msg("[%lld, %lld): %zu spans, want %zu", (long long)from, (long long)until, n, nw);
	}
	for (size_t i = 0; i < n; i++)
		if (s[i].tier != w[i].tier || s[i].from != w[i].from || s[i].until != w[i].until ||
		    s[i].exact != w[i].exact)
			fail_msg("[%lld, %lld) span %zu: tier %d [%lld, %lld) %d, want tier %d "
				 "[%lld, %lld) %d", (long long)from, (long long)until, i, s[i].tier,
				 (long long)s[i].from, (long long)s[i].until, s[i].exact, w[i].tier,
				 (long long)w[i].from, (long long)w[i].until, w[i].exact);
}

static void check(const struct store_tier_state t[STORE_NTIERS], int64_t from, int64_t until,
		  const struct want *w, size_t nw)
{
	check_top(t, STORE_NTIERS - 1, from, until, w, nw);
}

/* Nothing rolled up yet: minutes answer everything, rounded out to minutes. */
static void test_fresh(void **state)
{
	const struct store_tier_state t[] = { { 60, 0, INT64_MAX }, { 600, 0, 0 }, { 3600, 0, 0 } };
	const struct want w[] = { { 0, 960, 5040, true } };
	(void)state;

	check(t, 1000, 5000, w, 1);
	check(t, 5000, 5000, NULL, 0);
	check(t, 5000, 4000, NULL, 0);
}

/* Everything rolled: hours in the middle, ten minutes then minutes at the edges. */
static void test_coarsest(void **state)
{
	const struct store_tier_state t[] = { { 60, 0, INT64_MAX }, { 600, 0, 100 * H },
					      { 3600, 0, 100 * H } };
	const struct want w[] = {
		{ 0, 10 * H + 7 * M, 10 * H + 10 * M, true },
		{ 1, 10 * H + 10 * M, 11 * H, true },
		{ 2, 11 * H, 20 * H, true },
		{ 1, 20 * H, 20 * H + 10 * M, true },
		{ 0, 20 * H + 10 * M, 20 * H + 13 * M, true },
	};
	const struct want aligned[] = { { 2, 10 * H, 34 * H, true } };
	(void)state;

	check(t, 10 * H + 7 * M + 5, 20 * H + 12 * M + 30, w, 5);
	check(t, 10 * H, 34 * H, aligned, 1);
}

/* The newest part is not rolled up yet: finer tiers answer it. */
static void test_partial_rollup(void **state)
{
	const struct store_tier_state t[] = { { 60, 0, INT64_MAX }, { 600, 0, 15 * H + 20 * M },
					      { 3600, 0, 15 * H } };
	const struct want w[] = {
		{ 2, 10 * H, 15 * H, true },
		{ 1, 15 * H, 15 * H + 20 * M, true },
		{ 0, 15 * H + 20 * M, 16 * H, true },
	};
	(void)state;

	check(t, 10 * H, 16 * H, w, 3);
}

/* Minutes expired: the edges are rounded out to ten minutes, and said so. */
static void test_expired(void **state)
{
	const struct store_tier_state t[] = { { 60, 12 * H, INT64_MAX }, { 600, 0, 100 * H },
					      { 3600, 0, 100 * H } };
	const struct want w[] = {
		{ 1, 10 * H, 10 * H + 10 * M, false },
		{ 1, 10 * H + 10 * M, 11 * H, true },
		{ 1, 11 * H, 11 * H + 10 * M, false },
	};
	const struct want recent[] = { { 0, 12 * H, 12 * H + 3 * M, true } };
	/* Across the edge of the minutes' retention (an hour boundary). */
	const struct want across[] = {
		{ 1, 11 * H + 50 * M, 12 * H, true },
		{ 0, 12 * H, 12 * H + 5 * M, true },
	};
	(void)state;

	check(t, 10 * H + 5 * M + 10, 11 * H + M, w, 3);
	check(t, 12 * H, 12 * H + 3 * M, recent, 1);
	check(t, 11 * H + 50 * M, 12 * H + 5 * M, across, 2);
}

/* Nothing holds it any more: no span. */
static void test_all_expired(void **state)
{
	const struct store_tier_state t[] = { { 60, 50 * H, INT64_MAX }, { 600, 50 * H, 100 * H },
					      { 3600, 50 * H, 100 * H } };
	(void)state;

	check(t, 10 * H, 11 * H, NULL, 0);
}

/* A timeline of a week uses ten-minute buckets, not hours. */
static void test_timeline_tier(void **state)
{
	const struct store_tier_state t[] = { { 60, 0, INT64_MAX }, { 600, 0, 1000 * H },
					      { 3600, 0, 1000 * H } };
	const struct want w[] = {
		{ 0, 10 * H + 5 * M, 10 * H + 10 * M, true },
		{ 1, 10 * H + 10 * M, 178 * H, true },
		{ 0, 178 * H, 178 * H + 3 * M, true },
	};
	(void)state;

	assert_int_equal(store_timeline_tier(0, 15 * M), 0);
	assert_int_equal(store_timeline_tier(0, 24 * H), 0);
	assert_int_equal(store_timeline_tier(0, 7 * 24 * H), 1);
	assert_int_equal(store_timeline_tier(0, 30 * 24 * H), 2);
	/* Ten-minute buckets, minutes only at the edges; never hours. */
	check_top(t, 1, 10 * H + 5 * M, 178 * H + 3 * M, w, 3);
}

int unit_store_plan(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh),
		cmocka_unit_test(test_coarsest),
		cmocka_unit_test(test_partial_rollup),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_all_expired),
		cmocka_unit_test(test_timeline_tier),
	};
	return cmocka_run_group_tests_name("store_plan", tests, NULL, NULL);
}
