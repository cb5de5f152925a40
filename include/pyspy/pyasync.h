/*
 * pyasync.h - asyncio tasks of a target (record --async, dump --async).
 *
 * Read from the target's memory, never by running code in it:
 *  - 3.14+: the tasks the _asyncio module links into each thread state
 *    (and the interpreter, for threads that ended), the thread's running
 *    task, each task's awaited_by, with the offsets the module publishes
 *    in its AsyncioDebug section and _Py_DebugOffsets;
 *  - 3.8 to 3.13: the registries of asyncio.tasks (_scheduled_tasks or
 *    _all_tasks, _eager_tasks, _current_tasks), the C Task objects by the
 *    layout of those versions, and who awaits whom from each task's _fut_waiter
 *    (a task, a gather's children) and the TaskGroups of its chain.
 * A task's await chain is its coroutine, then what each coroutine awaits
 * while that is a coroutine too (cr_await), outermost first.
 */
#ifndef PYSPY_PYASYNC_H
#define PYSPY_PYASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyspy/stacks.h"

struct pyinterp;
struct py_sample;

#define PY_MAX_TASKS 65536      /* tasks listed by a dump; the rest are counted */
#define PY_MAX_AWAIT_DEPTH 256  /* coroutines per await chain */

enum py_task_state {
	PY_TASK_PENDING,    /* waiting */
	PY_TASK_CANCELLED,
	PY_TASK_FINISHED,
	PY_TASK_RUNNING,    /* the running task of a thread */
};

struct py_task {
	uint64_t addr;
	uint64_t coro;          /* its coroutine, 0 if none or unreadable */
	uint64_t frame;         /* that coroutine's frame, 0 if none */
	char name[128];
	enum py_task_state state;
	pid_t tid;              /* running: its thread (0 if unknown) */
	size_t first, nframes;  /* its await chain in py_tasks.frames, outermost first */
	bool chain_cut;         /* deeper than PY_MAX_AWAIT_DEPTH, a loop, or unreadable */
};

struct py_task_edge {
	uint32_t awaiter, awaited;  /* indexes into py_tasks.tasks */
};

struct py_tasks {
	struct py_task *tasks;
	size_t ntasks, cap;
	struct frame_ref *frames;
	size_t nframes, cap_frames;
	struct py_task_edge *edges;
	size_t nedges, cap_edges;
	size_t more;            /* tasks beyond PY_MAX_TASKS, not listed */
	size_t unreadable;      /* tasks that could not be read */
};

/*
 * 0 when --async can read this target's tasks; else -PERR_VERSION (a
 * version without the view, a free-threaded build) with the reason.
 */
int pyinterp_async_check(struct pyinterp *pi);
/*
 * Every task of the sample's interpreters, while the target is stopped
 * (after pyinterp_sample() with pi->async on).  Returns 0 (no task: an
 * empty list, also when asyncio is not loaded) or a negative PERR_*.
 */
int pyinterp_tasks(struct pyinterp *pi, const struct py_sample *s, struct py_tasks *out);
void py_tasks_free(struct py_tasks *t);
const char *py_task_state_name(enum py_task_state st);

/* From walk.c's pyinterp_sample(), when pi->async: see asyncio.c. */
int py_async_sample(struct pyinterp *pi, struct py_sample *s);
void py_async_release(struct pyinterp *pi);

#endif
