/*
 * timeline.c - per-thread slices of consecutive equal stacks.
 *
 * Stacks are interned in a private struct profile without a limit, so
 * their indexes never move; the bound on distinct stacks is enforced
 * here instead, before a new one is added.  Threads are found through a
 * small open-addressing table keyed by (tid, tstate).
 *
 * A slice ends where the thread's next sample would have been: at the
 * time of the process's next sample (set when that sample begins, for
 * every thread seen in the previous one), or one period after the last
 * sample of the recording.
 */
#include "pyspy/timeline.h"

#include <stdlib.h>
#include <string.h>

struct timeline {
	struct profile *stacks;     /* interned stacks; counts unused */
	struct timeline_thread *threads;
	size_t nthreads, cap_threads;
	uint32_t *thread_index;     /* slots: index + 1, 0 = empty */
	size_t thread_slots;
	size_t *seen, nseen, cap_seen;  /* threads seen in the current sample */

	int64_t period;
	uint64_t sample_no;         /* samples begun */
	int64_t now;                /* time of the current sample */
	size_t nslices, max_slices, max_stacks;
	uint64_t dropped;
	int64_t full_at;
	bool finished;
};

struct timeline *timeline_new(int64_t period_ns, size_t max_slices, size_t max_stacks)
{
	struct timeline *tl = calloc(1, sizeof(*tl));

	if (!tl)
		return NULL;
	tl->stacks = profile_new();
	if (!tl->stacks) {
		free(tl);
		return NULL;
	}
	tl->period = period_ns > 0 ? period_ns : 1;
	tl->max_slices = max_slices ? max_slices : TIMELINE_DEFAULT_MAX_SLICES;
	tl->max_stacks = max_stacks ? max_stacks : TIMELINE_DEFAULT_MAX_STACKS;
	tl->full_at = -1;
	return tl;
}

void timeline_free(struct timeline *tl)
{
	if (!tl)
		return;
	for (size_t i = 0; i < tl->nthreads; i++)
		free(tl->threads[i].slices);
	free(tl->threads);
	free(tl->thread_index);
	free(tl->seen);
	profile_free(tl->stacks);
	free(tl);
}

static void close_seen(struct timeline *tl, int64_t end)
{
	for (size_t i = 0; i < tl->nseen; i++) {
		struct timeline_thread *th = &tl->threads[tl->seen[i]];
		if (th->nslices)
			th->slices[th->nslices - 1].end = end;
	}
	tl->nseen = 0;
}

void timeline_begin_sample(struct timeline *tl, int64_t t_ns)
{
	close_seen(tl, t_ns);
	tl->sample_no++;
	tl->now = t_ns;
}

void timeline_finish(struct timeline *tl)
{
	if (tl->finished)
		return;
	close_seen(tl, tl->now + tl->period);
	tl->finished = true;
}

static uint64_t thread_hash(pid_t tid, uint64_t tstate)
{
	uint64_t h = (uint64_t)(uint32_t)tid * 0x9e3779b97f4a7c15ull ^ tstate;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static int grow_thread_index(struct timeline *tl)
{
	size_t slots = tl->thread_slots ? tl->thread_slots * 2 : 64;
	uint32_t *idx = calloc(slots, sizeof(*idx));

	if (!idx)
		return -1;
	for (size_t i = 0; i < tl->nthreads; i++) {
		size_t s = thread_hash(tl->threads[i].tid, tl->threads[i].tstate) & (slots - 1);
		while (idx[s])
			s = (s + 1) & (slots - 1);
		idx[s] = (uint32_t)i + 1;
	}
	free(tl->thread_index);
	tl->thread_index = idx;
	tl->thread_slots = slots;
	return 0;
}

/* The thread's index, created if new; -1 when out of memory. */
static long find_thread(struct timeline *tl, pid_t tid, uint64_t tstate, uint64_t thread_id)
{
	size_t s;

	if (tl->nthreads * 2 >= tl->thread_slots && grow_thread_index(tl))
		return -1;
	for (s = thread_hash(tid, tstate) & (tl->thread_slots - 1); tl->thread_index[s];
	     s = (s + 1) & (tl->thread_slots - 1)) {
		uint32_t i = tl->thread_index[s] - 1;
		if (tl->threads[i].tid == tid && tl->threads[i].tstate == tstate)
			return (long)i;
	}
	if (tl->nthreads == tl->cap_threads) {
		size_t cap = tl->cap_threads ? tl->cap_threads * 2 : 16;
		struct timeline_thread *n = realloc(tl->threads, cap * sizeof(*n));
		if (!n)
			return -1;
		tl->threads = n;
		tl->cap_threads = cap;
	}
	tl->threads[tl->nthreads] = (struct timeline_thread){
		.tid = tid, .tstate = tstate, .thread_id = thread_id, .label = FUNC_NONE,
	};
	tl->thread_index[s] = (uint32_t)tl->nthreads + 1;
	return (long)tl->nthreads++;
}

static int drop(struct timeline *tl)
{
	if (tl->full_at < 0)
		tl->full_at = tl->now;
	tl->dropped++;
	return -1;
}

int timeline_add(struct timeline *tl, pid_t tid, uint64_t tstate, uint64_t thread_id,
		 uint32_t label, const struct frame_ref *frames, size_t n)
{
	struct timeline_thread *th;
	struct timeline_slice *last;
	long ti, stack;

	if (tl->full_at >= 0)
		return drop(tl);   /* once full, stay full: no holes in the middle */
	ti = find_thread(tl, tid, tstate, thread_id);
	if (ti < 0)
		return drop(tl);
	th = &tl->threads[ti];
	/* Twice in one sample would make overlapping slices: keep the first. */
	if (th->nslices && th->last_sample == tl->sample_no) {
		tl->dropped++;
		return -1;
	}
	if (label != FUNC_NONE)
		th->label = label;
	stack = profile_find(tl->stacks, frames, n);
	if (stack < 0) {
		if (profile_nstacks(tl->stacks) >= tl->max_stacks)
			return drop(tl);
		stack = profile_add_index(tl->stacks, frames, n, 1);
		if (stack < 0)
			return drop(tl);
	}
	if (tl->nseen == tl->cap_seen) {
		size_t cap = tl->cap_seen ? tl->cap_seen * 2 : 64;
		size_t *s = realloc(tl->seen, cap * sizeof(*s));
		if (!s)
			return drop(tl);
		tl->seen = s;
		tl->cap_seen = cap;
	}
	last = th->nslices ? &th->slices[th->nslices - 1] : NULL;
	/* Seen in the previous sample, in the same stack: the slice goes on. */
	if (last && th->last_sample + 1 == tl->sample_no && last->stack == (uint32_t)stack &&
	    last->samples < UINT32_MAX) {
		last->samples++;
		last->end = tl->now + tl->period;
	} else {
		if (tl->nslices >= tl->max_slices)
			return drop(tl);
		if (th->nslices == th->cap) {
			size_t cap = th->cap ? th->cap * 2 : 64;
			struct timeline_slice *s = realloc(th->slices, cap * sizeof(*s));
			if (!s)
				return drop(tl);
			th->slices = s;
			th->cap = cap;
		}
		th->slices[th->nslices++] = (struct timeline_slice){
			.stack = (uint32_t)stack, .samples = 1,
			.start = tl->now, .end = tl->now + tl->period,
		};
		tl->nslices++;
	}
	th->last_sample = tl->sample_no;
	tl->seen[tl->nseen++] = (size_t)ti;
	return 0;
}

size_t timeline_nthreads(const struct timeline *tl)
{
	return tl->nthreads;
}

const struct timeline_thread *timeline_thread(const struct timeline *tl, size_t i)
{
	return i < tl->nthreads ? &tl->threads[i] : NULL;
}

bool timeline_stack(const struct timeline *tl, uint32_t id, const struct frame_ref **frames,
		    size_t *n)
{
	uint64_t count;

	return profile_stack(tl->stacks, id, frames, n, &count);
}

size_t timeline_nstacks(const struct timeline *tl)
{
	return profile_nstacks(tl->stacks);
}

int64_t timeline_period(const struct timeline *tl)
{
	return tl->period;
}

uint64_t timeline_samples(const struct timeline *tl)
{
	return tl->sample_no;
}

int64_t timeline_last_time(const struct timeline *tl)
{
	return tl->now;
}

uint64_t timeline_dropped(const struct timeline *tl)
{
	return tl->dropped;
}

int64_t timeline_full_at(const struct timeline *tl)
{
	return tl->full_at;
}
