/*
 * gc.c - whether the cycle collector runs, and on which thread.
 *
 * CPython sets gcstate->collecting for the whole of a collection, the
 * gc.callbacks it calls before and after included (Modules/gcmodule.c up
 * to 3.12, Python/gc.c from 3.13: collecting = 1, collect, collecting = 0):
 *   3.7, 3.8  one collector for the runtime, _PyRuntime.gc
 *   3.9+      one per interpreter, interp->gc (3.13+: located through
 *             _Py_DebugOffsets, interpreter_state.gc + gc.collecting)
 * 2.7 and 3.6 keep the flag in a static variable of gcmodule.c, which a
 * stripped libpython does not name: not read there.
 *
 * The collection runs on the thread that started it (an allocation past
 * the threshold, gc.collect(), or from 3.12 the eval breaker of the thread
 * that saw it scheduled), which holds its interpreter's GIL throughout,
 * except while a finalizer or callback releases it.  So the thread is the
 * GIL's holder: the runtime's GIL up to 3.11, the interpreter's own
 * (interp->ceval.gil) from 3.12.  A holder that is not a thread state of
 * the collecting interpreter (3.12+ subinterpreters sharing the main GIL,
 * or a finalizer that let another thread run) is not marked.  Free-threaded
 * builds have no GIL to tell the thread: not read there.
 */
#include "pyspy/error.h"
#include "python_internal.h"

#include <stdio.h>

static bool readable(const struct pyinterp *pi)
{
	const struct py_layout *l = &pi->layout;

	return !l->free_threaded && pi->gil_holder &&
	       ((l->runtime_gc_collecting >= 0 && pi->runtime) || l->interp_gc_collecting >= 0);
}

int pyinterp_gc_available(const struct pyinterp *pi)
{
	const struct py_layout *l = &pi->layout;

	if (readable(pi))
		return 0;
	if (l->free_threaded)
		return perr_set(PERR_UNAVAILABLE, "python %d.%dt is a free-threaded build: no GIL "
				"tells which thread collects", pi->major, pi->minor);
	if (!((l->runtime_gc_collecting >= 0 && pi->runtime) || l->interp_gc_collecting >= 0))
		return perr_set(PERR_UNAVAILABLE, "python %d.%d keeps the collector's state where "
				"it cannot be read", pi->major, pi->minor);
	return perr_set(PERR_UNAVAILABLE, "the GIL of python %d.%d was not found",
			pi->major, pi->minor);
}

/* The GIL's last holder for a collection in 'interp' (0: runtime-wide). */
static int gil_holder(struct pyinterp *pi, uint64_t interp, uint64_t *holder)
{
	const struct py_layout *l = &pi->layout;
	uint64_t base;
	int rc;

	if (l->interp_ceval_gil < 0 || !interp)
		return target_read_ptr(pi->target, pi->gil_holder, holder);
	/* struct _gil_runtime_state: interval, then last_holder (find.c). */
	if ((rc = target_read_ptr(pi->target, interp + (uint64_t)l->interp_ceval_gil, &base)) != 0)
		return rc;
	return base ? target_read_ptr(pi->target, base + 8, holder) : -PERR_TORN;
}

/* Mark the thread that runs the collection of 'interp' (0: the runtime's). */
static void mark(struct pyinterp *pi, struct py_sample *s, uint64_t interp)
{
	uint64_t holder, back;

	if (gil_holder(pi, interp, &holder) != 0 || !holder)
		return;
	if (interp && (target_read_ptr(pi->target, holder + (uint64_t)pi->layout.tstate_interp,
				       &back) != 0 || back != interp))
		return;
	for (size_t i = 0; i < s->nthreads; i++)
		if (py_thread_has_tstate(&s->threads[i], holder)) {
			s->threads[i].in_gc = true;
			return;
		}
}

static bool collecting(struct pyinterp *pi, uint64_t addr, int *err)
{
	int32_t v;

	if ((*err = target_read(pi->target, addr, &v, sizeof(v))) != 0)
		return false;
	return v != 0;
}

void py_gc_mark(struct pyinterp *pi, struct py_sample *s, const uint64_t *interps, size_t n)
{
	const struct py_layout *l = &pi->layout;
	int err = 0;

	s->gc_known = false;
	s->gc_running = 0;
	if (!pi->read_gc || !readable(pi))
		return;
	if (l->runtime_gc_collecting >= 0) {
		if (collecting(pi, pi->runtime + (uint64_t)l->runtime_gc_collecting, &err)) {
			s->gc_running++;
			mark(pi, s, 0);
		}
	} else {
		for (size_t i = 0; i < n && !err; i++)
			if (collecting(pi, interps[i] + (uint64_t)l->interp_gc_collecting, &err)) {
				s->gc_running++;
				mark(pi, s, interps[i]);
			}
	}
	s->gc_known = err == 0;
}
