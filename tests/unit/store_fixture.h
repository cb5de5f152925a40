/*
 * store_fixture.h - synthetic fleet windows for the store tests, and the
 * profile they should add up to (tests/unit/store_fixture.c).
 *
 * Two agents: "h1:1" (host h1, service web, pids 100 and 101, Python
 * 3.12) and "h2:1" (host h2, service worker, pid 200, Python 3.11, plus
 * one pruned-stack sample per window that belongs to no process).
 * Window i (from 1) of each agent spans [t0 + 10 (i - 1), t0 + 10 i)
 * seconds; process p's stack is main;handle;work_K with
 * K = (i + p) % 3, counted 10 + p % 7 + i % 5 times.
 */
#ifndef PYSPY_TEST_STORE_FIXTURE_H
#define PYSPY_TEST_STORE_FIXTURE_H

#include <stdint.h>
#include <stdio.h>

#include "pyspy/stacks.h"
#include "pyspy/store.h"

#define FX_AGENTS 2
extern const char *const fx_agent_name[FX_AGENTS];

/*
 * Put windows first..last (inclusive, from 1) of 'agent' starting at t0,
 * in one transaction with the cursor (instance "fx-AGENT", last = last).
 * Returns what store_begin, store_put or store_commit returned.
 */
int fx_put(struct store_db *s, int agent, int64_t t0, int first, int last);
/* The same windows as another agent: host 'host' (also its cursor's name). */
int fx_put_as(struct store_db *s, int agent, const char *host, int64_t t0, int first, int last);
/* Both agents' windows 1..n, committed every 'per_tx' windows. */
int fx_fill(struct store_db *s, int64_t t0, int n, int per_tx);
/*
 * The profile windows 1..n starting at t0 add up to for a query of
 * [from, until) (whole minutes, a window in the minute of its middle)
 * with filter f.  *samples gets the processes' sample totals.
 */
struct profile *fx_expected(int64_t t0, int n, int64_t from, int64_t until,
			    const struct store_filter *f, uint64_t *samples);
/* Folded text of p (malloc'ed). */
char *fx_folded(const struct profile *p);
/* run-unit --write-store PATH T0 N: a fixture store for the e2e tests. */
int fx_write_store(const char *path, int64_t t0, int n);

#endif
