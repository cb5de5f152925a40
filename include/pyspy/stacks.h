/*
 * stacks.h - interned functions, frames and stacks, and their counts.
 *
 * A function is (name, file) and gets a small id once per session; a frame
 * is (function id, line); a stack is an array of frame ids, root first.  A
 * profile maps each distinct stack to its sample count.  Everything is
 * owned by the struct profile and freed by profile_free().  Memory grows
 * with the number of distinct stacks only, never with the number of
 * samples.
 */
#ifndef PYSPY_STACKS_H
#define PYSPY_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUNC_NONE UINT32_MAX
/* The label on top of a stack sampled while the garbage collector ran:
 * top counts it as a function of its own. */
#define FUNC_GC_LABEL "<GC>"

enum func_kind {
	FUNC_PYTHON,    /* code with a file: "name (file:line)", "name (file)";
			   Python functions, and with --native C functions
			   (file: the source file, else the module) */
	FUNC_LABEL,     /* printed as is: thread roots, markers */
};

struct func {
	enum func_kind kind;
	char *name;
	char *file;       /* full path as the interpreter has it */
	char *short_file; /* below the package root */
};

struct frame_ref {
	uint32_t func;
	int32_t line;     /* -1: no line (function mode, labels) */
};

struct profile;

struct profile *profile_new(void);
void profile_free(struct profile *p);

/* Intern a function; returns its id, or FUNC_NONE when out of memory. */
uint32_t profile_func(struct profile *p, enum func_kind kind, const char *name,
		      const char *file, const char *short_file);
const struct func *profile_func_get(const struct profile *p, uint32_t id);
size_t profile_nfuncs(const struct profile *p);
/*
 * Start the function table over, in a profile that holds no stack (just
 * reset): its functions move to a new profile, returned, where
 * profile_func_get() still finds them by their old ids until it is
 * freed; ids in p start from 0 again.  NULL when out of memory (nothing
 * changed).  What a long-running sampler does when the names it has seen
 * over days would otherwise grow without bound.
 */
struct profile *profile_renew_funcs(struct profile *p);

/* Count one sample of 'frames' (root first, n of them) 'weight' times. */
int profile_add(struct profile *p, const struct frame_ref *frames, size_t n,
		uint64_t weight);
/*
 * The same, returning the stack's index (as profile_stack() takes it), or
 * -1 when out of memory.  Indexes are stable until the profile is pruned
 * or reset (a profile without a limit never prunes).
 */
long profile_add_index(struct profile *p, const struct frame_ref *frames, size_t n,
		       uint64_t weight);
/* The index of stack 'frames' if the profile has it, else -1. */
long profile_find(const struct profile *p, const struct frame_ref *frames, size_t n);
/* Stack number 'index' (0 .. profile_nstacks() - 1); false if out of range. */
bool profile_stack(const struct profile *p, size_t index, const struct frame_ref **frames,
		   size_t *n, uint64_t *count);

/* Iterate over distinct stacks: returns false at the end. */
struct profile_iter {
	size_t pos;
};
bool profile_next(const struct profile *p, struct profile_iter *it,
		  const struct frame_ref **frames, size_t *n, uint64_t *count);

size_t profile_nstacks(const struct profile *p);
uint64_t profile_total(const struct profile *p);

/*
 * Keep at most max_stacks distinct stacks (0: no bound).  When a new stack
 * would exceed it, the rarest quarter or more are dropped and their
 * samples counted on one "[pruned: rare stacks]" stack; totals stay exact.
 */
#define PROFILE_DEFAULT_MAX_STACKS 16384
void profile_set_limit(struct profile *p, size_t max_stacks);
/* Samples moved to the pruned stack, and how many times pruning ran. */
uint64_t profile_pruned(const struct profile *p);
uint64_t profile_prunings(const struct profile *p);
/* Forget every stack and count (for windowed output); functions stay. */
void profile_reset(struct profile *p);

#endif
