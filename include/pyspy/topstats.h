/*
 * topstats.h - functions ranked by their share of the samples, for top.
 *
 * Each window of samples (a struct profile, as the sampler hands it over)
 * is folded into one entry per function: 'own' counts the samples in
 * which the function was the leaf (running itself), 'total' those in
 * which it was anywhere on the stack (itself or its callees; a recursive
 * function counts once per sample).  The counts of the last window are
 * kept apart from the sums since the start (or the last reset).  Memory
 * grows with the number of distinct functions only.
 */
#ifndef PYSPY_TOPSTATS_H
#define PYSPY_TOPSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "pyspy/stacks.h"

struct top_entry {
	uint32_t func;          /* profile function id */
	uint64_t own, total;    /* samples in the last window */
	uint64_t own_sum, total_sum; /* since the start or the last reset */
};

/* Sort columns, in the order top shows them. */
enum top_sort {
	TOP_SORT_OWN,           /* %Own: own samples of the last window */
	TOP_SORT_TOTAL,         /* %Total */
	TOP_SORT_OWN_SUM,       /* OwnTime */
	TOP_SORT_TOTAL_SUM,     /* TotalTime */
	TOP_SORT__COUNT
};

struct top_stats;

struct top_stats *top_stats_new(void);
void top_stats_free(struct top_stats *ts);

/*
 * Make the stacks of 'prof' the last window (the previous window's counts
 * are forgotten, the sums grow).  Label frames (thread roots) are not
 * functions and are skipped.  Returns 0, or -PERR_NOMEM (the stats then
 * hold part of the window).
 */
int top_stats_add_window(struct top_stats *ts, const struct profile *prof);
/* Zero the sums (the 'r' key); the last window stays. */
void top_stats_reset_sums(struct top_stats *ts);

/*
 * The entries with any sample since the start or the reset, sorted by
 * column 'by', largest first (ties: the next columns, then the function
 * id).  The array is owned by ts and valid until the next call.
 */
size_t top_stats_sorted(struct top_stats *ts, enum top_sort by,
			const struct top_entry *const **rows);

#endif
