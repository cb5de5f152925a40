/*
 * output_internal.h - helpers shared by the writers of src/output only.
 */
#ifndef PYSPY_OUTPUT_INTERNAL_H
#define PYSPY_OUTPUT_INTERNAL_H

#include "pyspy/output.h"

/* (function, line) -> dense index from 0, in order of first use. */
struct frame_map {
	struct frame_ref *keys;   /* keys[index] */
	uint32_t *slots;          /* index + 1, 0 = empty */
	size_t n, cap, nslots;
};

/* The frame's index, added if new; -1 when out of memory. */
long frame_map_get(struct frame_map *m, struct frame_ref f);
void frame_map_free(struct frame_map *m);

/* A thread's display name: its label ("thread "NAME" (TID)") or its id. */
void output_thread_name(const struct profile *p, const struct timeline_thread *th, char *buf,
			size_t cap);

/*
 * The timeline's threads in display order: by OS thread id (the main
 * thread's is the process id, the lowest), unknown ids last.  Returns a
 * malloc'ed array of timeline_nthreads() indexes, or NULL.
 */
size_t *output_thread_order(const struct timeline *tl);

#endif
