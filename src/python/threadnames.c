/*
 * threadnames.c - a thread's name as Python knows it.
 *
 * The threading module keeps every Thread it started or met (the main
 * thread, dummies for threads it did not start) in threading._active, a
 * dict from thread ident to Thread; the ident is the thread's pthread_t,
 * which its thread state keeps as thread_id, and the name is the Thread's
 * _name attribute (_Thread__name in 2.7, mangled).  The module is found in
 * sys.modules of each interpreter.  The _active dicts found are kept and
 * checked to still be dicts at each use (the module's lifetime is the
 * interpreter's); a thread missing from them (not yet registered, or not
 * started by threading and never asking for its current_thread()) has no
 * Python name, and the caller shows the OS name instead.
 */
#include "pyspy/error.h"
#include "python_internal.h"

#include <stdio.h>
#include <string.h>

/* Find threading._active of every interpreter; returns how many. */
static size_t find_active(struct pyinterp *pi)
{
	const struct py_layout *l = &pi->layout;
	uint64_t interp, active;
	size_t n = 0;

	if (l->interp_modules < 0 ||
	    target_read_ptr(pi->target, pi->interp_head_addr, &interp) != 0)
		return 0;
	for (int i = 0; interp && i < 8 && n < PY_NAME_DICTS; i++) {
		uint64_t next = 0;
		if (py_module_attr(pi, interp, "threading", "_active", &active) == 0)
			pi->names_active[n++] = active;
		if (target_read_ptr(pi->target, interp + (uint64_t)l->interp_next, &next) != 0)
			break;
		interp = next;
	}
	return n;
}

struct find_thread {
	struct pyinterp *pi;
	uint64_t ident, thread;
};

static int match_ident(void *ctx, uint64_t key, uint64_t value)
{
	struct find_thread *f = ctx;
	char type[16];
	uint64_t mag;
	bool neg;

	if (py_type_name(f->pi, key, type, sizeof(type)) != 0 ||
	    (strcmp(type, "int") != 0 && strcmp(type, "long") != 0))
		return 0;
	if (py_read_int(f->pi, key, f->pi->major == 2 && strcmp(type, "int") == 0, &neg, &mag) != 0 ||
	    neg || mag != f->ident)
		return 0;
	f->thread = value;
	return 1;
}

int pyinterp_thread_name(struct pyinterp *pi, uint64_t thread_id, char *buf, size_t len)
{
	struct find_thread f = { pi, thread_id, 0 };
	char type[16];
	uint64_t name;
	int rc;

	if (pi->layout.free_threaded)
		return -PERR_VERSION;
	if (!thread_id || len == 0)
		return -PERR_TORN;
	/* Found once, kept while they are dicts (none yet: threading not imported yet). */
	for (size_t i = 0; i < pi->nnames_active; i++)
		if (py_type_name(pi, pi->names_active[i], type, sizeof(type)) != 0 ||
		    strcmp(type, "dict") != 0)
			pi->nnames_active = 0;
	if (!pi->nnames_active)
		pi->nnames_active = find_active(pi);
	for (size_t i = 0; i < pi->nnames_active && !f.thread; i++)
		py_dict_each(pi, pi->names_active[i], match_ident, &f);
	if (!f.thread)
		return -PERR_TORN;
	rc = py_object_attr(pi, f.thread, pi->major == 2 ? "_Thread__name" : "_name", &name);
	if (rc)
		return rc;
	if (py_type_name(pi, name, type, sizeof(type)) != 0 || strcmp(type, "str") != 0)
		return -PERR_TORN;
	return py_read_string(pi, name, buf, len);
}
