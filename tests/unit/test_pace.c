/*
 * test_pace.c - the agent's overhead budget (src/serve/pace.c), with
 * made-up clocks: the rate goes down in proportion when a cost passes the
 * budget, comes back by steps when both are well under it, and never
 * leaves [PACE_MIN_HZ, --rate].
 */
#include "unit.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#ifdef PYSPY_HAVE_MHD
#include "../../src/serve/serve_internal.h"

#define S 1000000000ll

struct clock {
	int64_t wall, cpu;
	uint64_t stopped, samples;
};

/* Advance 5 s in which the agent used cpu_pct of a 2-CPU host and each of
 * 'procs' targets was stopped stop_us per sample at rate 'hz'. */
static double step(struct pace *p, struct clock *c, double cpu_pct, double stop_us, int procs,
		   char *why, size_t cap)
{
	uint64_t n = (uint64_t)(p->rate * 5 * procs);

	c->wall += 5 * S;
	c->cpu += (int64_t)(cpu_pct / 100 * 2 * 5 * S);
	c->samples += n;
	c->stopped += (uint64_t)(stop_us * 1000 * (double)n);
	return pace_step(p, c->wall, c->cpu, c->stopped, c->samples, why, cap);
}

static void test_cpu_over_budget(void **state)
{
	struct pace p;
	struct clock c = { 100 * S, 3 * S, 0, 0 };
	char why[256];

	(void)state;
	pace_init(&p, 100, 1, 2);
	assert_true(pace_step(&p, c.wall, c.cpu, 0, 0, why, sizeof(why)) == 100);
	/* Under 5 s: nothing measured yet. */
	c.wall += S;
	assert_true(pace_step(&p, c.wall, c.cpu, 0, 0, why, sizeof(why)) == 100);
	c.wall -= S;
	/* 4% of the host against a 1% budget: a quarter, less a 10% margin. */
	assert_true(step(&p, &c, 4, 20, 10, why, sizeof(why)) == 22.5);
	assert_string_equal(p.reason, "cpu");
	assert_non_null(strstr(why, "rate 100 -> 22 Hz: agent CPU 4.00% of the host"));
	assert_non_null(strstr(why, "(over)"));
	assert_int_equal(p.changes, 1);
	/* Now at 0.9%: under the budget but not under half: stays. */
	assert_true(step(&p, &c, 0.9, 20, 10, why, sizeof(why)) == 22.5);
	assert_string_equal(why, "");
	/* At 0.2%: up by half at most, and no further than the budget allows. */
	assert_true(step(&p, &c, 0.2, 20, 10, why, sizeof(why)) == 22.5 * 1.5);
	assert_non_null(strstr(why, "rate 22 -> 34 Hz"));
	/* Far under: back to --rate, never above. */
	for (int i = 0; i < 10; i++)
		step(&p, &c, 0.01, 20, 10, why, sizeof(why));
	assert_true(p.rate == 100);
	assert_string_equal(p.reason, "");
}

static void test_stopped_over_budget(void **state)
{
	struct pace p;
	struct clock c = { 0 };
	char why[256];

	(void)state;
	pace_init(&p, 100, 1, 2);
	pace_step(&p, 0, 0, 0, 0, NULL, 0);
	/* 300 us per stop at 100 Hz: each target stopped 3% of the time. */
	step(&p, &c, 0.1, 300, 4, why, sizeof(why));
	assert_true(p.rate > 29.99 && p.rate < 30.01);
	assert_string_equal(p.reason, "stopped");
	assert_true(p.stop_pct > 2.99 && p.stop_pct < 3.01);
	assert_non_null(strstr(why, "targets stopped 3.00% of the time, budget 1%"));
}

static void test_floor_and_off(void **state)
{
	struct pace p;
	struct clock c = { 0 };
	char why[256];

	(void)state;
	/* Costs that do not scale with the rate: never under PACE_MIN_HZ. */
	pace_init(&p, 100, 1, 2);
	pace_step(&p, 0, 0, 0, 0, NULL, 0);
	for (int i = 0; i < 10; i++)
		step(&p, &c, 50, 0, 1, why, sizeof(why));
	assert_true(p.rate == PACE_MIN_HZ);
	/* Budget 0: measured, never acted on. */
	pace_init(&p, 100, 0, 2);
	memset(&c, 0, sizeof(c));
	pace_step(&p, 0, 0, 0, 0, NULL, 0);
	assert_true(step(&p, &c, 50, 5000, 1, why, sizeof(why)) == 100);
	assert_true(p.cpu_pct > 49.9 && p.cpu_pct < 50.1);
	assert_int_equal(p.changes, 0);
	/* Nonblocking: nothing stopped, no samples at all: no division by zero. */
	pace_init(&p, 100, 1, 0);
	pace_step(&p, 0, 0, 0, 0, NULL, 0);
	assert_true(pace_step(&p, 5 * S, 0, 0, 0, why, sizeof(why)) == 100);
	assert_true(p.stop_pct == 0 && p.cpu_pct == 0);
}

int unit_pace(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_over_budget),
		cmocka_unit_test(test_stopped_over_budget),
		cmocka_unit_test(test_floor_and_off),
	};
	return cmocka_run_group_tests_name("pace", tests, NULL, NULL);
}
#else
int unit_pace(void)
{
	fprintf(stderr, "pace: not built (no libmicrohttpd: no serve)\n");
	return 0;
}
#endif
