/*
 * timeline.h - per-thread timelines of sampled stacks, for the writers
 * that show time (speedscope's per-thread profiles, Chrome trace slices).
 *
 * Per sample and per thread the sampler hands over the thread's stack
 * (without any thread root frame) and the time; consecutive samples of a
 * thread in the same stack merge into one slice as they arrive, so memory
 * grows with the number of stack changes, not with the number of samples.
 * Stacks are interned here (ids stable for the whole recording); their
 * frames refer to functions of the session's struct profile.
 *
 * Both slices and distinct stacks are bounded.  When a bound is reached
 * the timeline stops growing: later samples are counted as dropped, never
 * lost silently (timeline_dropped(), timeline_full_at()).
 */
#ifndef PYSPY_TIMELINE_H
#define PYSPY_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyspy/stacks.h"

#define TIMELINE_DEFAULT_MAX_SLICES (1u << 21)  /* 48 MiB of slices */
#define TIMELINE_DEFAULT_MAX_STACKS (1u << 16)

struct timeline_slice {
	uint32_t stack;     /* id for timeline_stack() */
	uint32_t samples;   /* consecutive samples merged into this slice */
	int64_t start;      /* ns since the recording started: first sample */
	int64_t end;        /* the next sample of the process (or one period
			       after the last sample of the recording) */
};

struct timeline_thread {
	pid_t tid;          /* host tid, 0 when unknown */
	uint64_t tstate;    /* PyThreadState address */
	uint64_t thread_id; /* pthread_t as Python knows it */
	uint32_t label;     /* FUNC_LABEL function naming the thread, or FUNC_NONE */
	struct timeline_slice *slices;  /* in time order, never overlapping */
	size_t nslices, cap;
	uint64_t last_sample;           /* sample it was last seen in (from 1), 0 */
};

struct timeline;

/* A timeline for samples 'period_ns' apart; bounds of 0 mean the defaults. */
struct timeline *timeline_new(int64_t period_ns, size_t max_slices, size_t max_stacks);
void timeline_free(struct timeline *tl);

/* A sample starts at 't_ns' (ns since the recording started, increasing). */
void timeline_begin_sample(struct timeline *tl, int64_t t_ns);
/*
 * A thread was in stack 'frames' (root first) in the current sample.  A
 * timeline thread is a (tid, tstate) pair; a thread that runs a
 * subinterpreter comes as one, under its outermost thread state.
 * 'thread_id' is kept for display; 'label' names the thread (FUNC_NONE:
 * unknown).  Returns 0, or -1 when the sample could not be kept (bound
 * reached, out of memory, the same thread twice in one sample: counted).
 */
int timeline_add(struct timeline *tl, pid_t tid, uint64_t tstate, uint64_t thread_id,
		 uint32_t label, const struct frame_ref *frames, size_t n);
/* The recording ended: close the open slices. */
void timeline_finish(struct timeline *tl);

size_t timeline_nthreads(const struct timeline *tl);
const struct timeline_thread *timeline_thread(const struct timeline *tl, size_t i);
/* The frames of stack 'id' (root first); false for an unknown id. */
bool timeline_stack(const struct timeline *tl, uint32_t id, const struct frame_ref **frames,
		    size_t *n);
size_t timeline_nstacks(const struct timeline *tl);
int64_t timeline_period(const struct timeline *tl);
/* Samples taken (timeline_begin_sample calls), and the time of the last. */
uint64_t timeline_samples(const struct timeline *tl);
int64_t timeline_last_time(const struct timeline *tl);

/* Thread samples not kept because a bound was reached or memory ran out. */
uint64_t timeline_dropped(const struct timeline *tl);
/* When the first one was dropped (ns since the start), or -1. */
int64_t timeline_full_at(const struct timeline *tl);

#endif
