/*
 * plan.c - which tier answers which part of a time range.
 *
 * The one place a tier is chosen.  A range is first rounded out to whole
 * minutes (the finest bucket).  Then the coarsest tier that holds a whole
 * aligned part of it answers that part (a 24-hour query is mostly hours),
 * and the edges left over go to finer tiers, recursively: the answer is
 * exact, and reads few rows.  A tier holds [kept_from, rolled_until):
 * older buckets may be expired, newer ones are not complete yet.  An edge
 * that no finer tier holds any more (older than the 1-minute retention)
 * is answered by the finest tier that has it, rounded out to its
 * buckets, and marked inexact.
 *
 * A timeline wants buckets, not the fewest rows: it plans with a
 * coarsest tier (store_timeline_tier), the finest that keeps the points
 * to a chart's worth; finer tiers still answer what that one does not
 * hold yet, coarser ones only what it no longer holds.
 */
#include "pyspy/store.h"

static int64_t floor_to(int64_t t, int64_t w)
{
	int64_t r = t % w;
	return r < 0 ? t - r - w : t - r;
}

static int64_t ceil_to(int64_t t, int64_t w)
{
	int64_t f = floor_to(t, w);
	return f == t ? t : f + w;
}

struct planner {
	const struct store_tier_state *tiers;
	int coarsest;
	int64_t from, until;     /* the whole (rounded) range */
	struct store_span *out;
	size_t n;
};

static void emit(struct planner *p, int tier, int64_t from, int64_t until, bool exact)
{
	if (from >= until || p->n >= STORE_MAX_SPANS)
		return;
	p->out[p->n++] = (struct store_span){ tier, from, until, exact };
}

static void plan(struct planner *p, int64_t a, int64_t b, int top)
{
	if (a >= b)
		return;
	for (int t = top; t >= 0; t--) {
		const struct store_tier_state *ts = &p->tiers[t];
		int64_t lo = a > ts->kept_from ? a : ts->kept_from;
		int64_t hi = b < ts->rolled_until ? b : ts->rolled_until;

		lo = ceil_to(lo, ts->width);
		hi = floor_to(hi, ts->width);
		if (lo < hi) {
			plan(p, a, lo, t - 1);
			emit(p, t, lo, hi, true);
			plan(p, hi, b, t - 1);
			return;
		}
	}
	/*
	 * No tier holds a whole bucket of [a, b) any more: the finest one
	 * that still has its buckets answers, rounded out (but never into a
	 * neighbour span, whose edges are aligned to coarser buckets).
	 */
	for (int t = 0; t < STORE_NTIERS; t++) {
		const struct store_tier_state *ts = &p->tiers[t];
		int64_t lo = a == p->from ? floor_to(a, ts->width) : ceil_to(a, ts->width);
		int64_t hi = b == p->until ? ceil_to(b, ts->width) : floor_to(b, ts->width);

		if (lo < ts->kept_from || (hi > ts->rolled_until && b != p->until))
			continue;
		if (lo < hi)
			emit(p, t, lo, hi, false);
		return;
	}
}

size_t store_plan(int64_t from, int64_t until, const struct store_tier_state tiers[STORE_NTIERS],
		  int coarsest, struct store_span out[STORE_MAX_SPANS])
{
	struct planner p = { tiers, coarsest, floor_to(from, 60), ceil_to(until, 60), out, 0 };

	if (from >= until)
		return 0;
	plan(&p, p.from, p.until, coarsest < STORE_NTIERS ? coarsest : STORE_NTIERS - 1);
	return p.n;
}

int store_timeline_tier(int64_t from, int64_t until)
{
	for (int t = 0; t < STORE_NTIERS - 1; t++)
		if ((until - from) / store_tier_width[t] <= STORE_TIMELINE_POINTS)
			return t;
	return STORE_NTIERS - 1;
}
