/*
 * topstats.c - per-function own and total counts over windows of samples.
 *
 * Function ids are small dense integers (the profile interns them), so an
 * array indexed by id finds a function's entry; a second array stamped
 * with the stack number counts a recursive function once per stack.
 */
#include "pyspy/topstats.h"
#include "pyspy/error.h"

#include <stdlib.h>
#include <string.h>

struct top_stats {
	struct top_entry *e;
	size_t n, cap;
	uint32_t *slot;         /* func id -> index in e, plus one; 0 = none */
	uint64_t *stamp;        /* func id -> last stack that counted it */
	size_t nslots;
	const struct top_entry **sorted;
	size_t cap_sorted;
};

struct top_stats *top_stats_new(void)
{
	return calloc(1, sizeof(struct top_stats));
}

void top_stats_free(struct top_stats *ts)
{
	if (!ts)
		return;
	free(ts->e);
	free(ts->slot);
	free(ts->stamp);
	free(ts->sorted);
	free(ts);
}

static struct top_entry *entry(struct top_stats *ts, uint32_t func)
{
	if (func >= ts->nslots) {
		size_t n = ts->nslots ? ts->nslots : 256;
		uint32_t *slot;
		uint64_t *stamp;

		while (n <= func)
			n *= 2;
		slot = realloc(ts->slot, n * sizeof(*slot));
		if (!slot)
			return NULL;
		ts->slot = slot;
		stamp = realloc(ts->stamp, n * sizeof(*stamp));
		if (!stamp)
			return NULL;
		ts->stamp = stamp;
		memset(slot + ts->nslots, 0, (n - ts->nslots) * sizeof(*slot));
		memset(stamp + ts->nslots, 0, (n - ts->nslots) * sizeof(*stamp));
		ts->nslots = n;
	}
	if (!ts->slot[func]) {
		if (ts->n == ts->cap) {
			size_t ncap = ts->cap ? ts->cap * 2 : 256;
			struct top_entry *e = realloc(ts->e, ncap * sizeof(*e));
			if (!e)
				return NULL;
			ts->e = e;
			ts->cap = ncap;
		}
		ts->e[ts->n] = (struct top_entry){ .func = func };
		ts->slot[func] = (uint32_t)++ts->n;
	}
	return &ts->e[ts->slot[func] - 1];
}

int top_stats_add_window(struct top_stats *ts, const struct profile *prof)
{
	struct profile_iter it = { 0 };
	const struct frame_ref *frames;
	uint64_t count, stack = 0;
	size_t n;

	for (size_t i = 0; i < ts->n; i++)
		ts->e[i].own = ts->e[i].total = 0;
	while (profile_next(prof, &it, &frames, &n, &count)) {
		const struct frame_ref *leaf = NULL;

		stack++;
		for (size_t k = 0; k < n; k++) {
			const struct func *fn = profile_func_get(prof, frames[k].func);
			struct top_entry *e;

			if (!fn || (fn->kind != FUNC_PYTHON &&
				    (fn->kind != FUNC_LABEL || strcmp(fn->name, FUNC_GC_LABEL) != 0)))
				continue;
			leaf = &frames[k];
			if (!(e = entry(ts, frames[k].func)))
				return -PERR_NOMEM;
			/* Stamps start at 1 per window; reset them with the counts. */
			if (ts->stamp[frames[k].func] == stack)
				continue;
			ts->stamp[frames[k].func] = stack;
			e->total += count;
			e->total_sum += count;
		}
		if (leaf) {
			struct top_entry *e = entry(ts, leaf->func);
			e->own += count;
			e->own_sum += count;
		}
	}
	if (ts->nslots)
		memset(ts->stamp, 0, ts->nslots * sizeof(*ts->stamp));
	return 0;
}

void top_stats_reset_sums(struct top_stats *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		ts->e[i].own_sum = ts->e[i].total_sum = 0;
}

static uint64_t column(const struct top_entry *e, int c)
{
	switch (c % TOP_SORT__COUNT) {
	case TOP_SORT_OWN:
		return e->own;
	case TOP_SORT_TOTAL:
		return e->total;
	case TOP_SORT_OWN_SUM:
		return e->own_sum;
	default:
		return e->total_sum;
	}
}

static enum top_sort sort_by;

static int compare(const void *pa, const void *pb)
{
	const struct top_entry *a = *(const struct top_entry *const *)pa;
	const struct top_entry *b = *(const struct top_entry *const *)pb;

	for (int c = 0; c < TOP_SORT__COUNT; c++) {
		uint64_t x = column(a, (int)sort_by + c), y = column(b, (int)sort_by + c);
		if (x != y)
			return x > y ? -1 : 1;
	}
	return a->func < b->func ? -1 : a->func > b->func;
}

size_t top_stats_sorted(struct top_stats *ts, enum top_sort by,
			const struct top_entry *const **rows)
{
	size_t n = 0;

	if (ts->cap_sorted < ts->n) {
		const struct top_entry **s = realloc(ts->sorted, ts->n * sizeof(*s));
		if (!s) {
			*rows = NULL;
			return 0;
		}
		ts->sorted = s;
		ts->cap_sorted = ts->n;
	}
	for (size_t i = 0; i < ts->n; i++)
		if (ts->e[i].total_sum || ts->e[i].total)
			ts->sorted[n++] = &ts->e[i];
	sort_by = by;
	if (n) /* none yet: sorted may still be NULL, which qsort must not get */
		qsort(ts->sorted, n, sizeof(*ts->sorted), compare);
	*rows = ts->sorted;
	return n;
}
