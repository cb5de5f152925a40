/*
 * find.c - finding the interpreter in a target: which file holds it, its
 * version, its layout, and where its list of interpreters starts.
 *
 * Candidates are the executable and any mapped libpython (shared builds,
 * embedders).  For each, symbols are looked up in the file (opened through
 * /proc/PID/map_files, so containers and deleted files work):
 *   _PyRuntime (3.7+)        the runtime state; interpreters.head in it
 *   interp_head (2.7, 3.6)   static list head, in .symtab only
 *   Py_Version (3.11+)       the version, read from the target's memory
 * and, for 3.13+, the _Py_DebugOffsets table at the start of _PyRuntime,
 * which gives the version and layout from the target itself.  Without
 * Py_Version the version comes from the file name (libpython3.9.so,
 * python3.9).  A candidate is accepted only after the interpreter state it
 * points to links to a thread state that points back to it.
 */
#define _GNU_SOURCE
#include "pyspy/elfsym.h"
#include "pyspy/error.h"
#include "python_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct candidate {
	const struct target_map *map;   /* first mapping of the file */
	uint64_t bias;
	struct elf_syms *syms;
	bool is_exe;
};

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* "python3.9", "libpython3.9.so.1.0", "libpython2.7.so" -> 3, 9 */
static bool version_from_name(const char *path, int *major, int *minor)
{
	const char *b = base_name(path), *p;

	p = strstr(b, "python");
	if (!p)
		return false;
	p += 6;
	if (!isdigit((unsigned char)p[0]) || p[1] != '.' || !isdigit((unsigned char)p[2]))
		return false;
	*major = p[0] - '0';
	*minor = atoi(p + 2);
	return true;
}

/* Load bias of a mapped file: where its lowest PT_LOAD landed. */
static uint64_t load_bias(struct target *t, const char *path, struct elf_syms *e)
{
	uint64_t lowest = UINT64_MAX;

	for (size_t i = 0; i < t->nmaps; i++) {
		const struct target_map *m = &t->maps[i];
		if (m->path && strcmp(m->path, path) == 0 && m->offset == 0 && m->start < lowest)
			lowest = m->start;
	}
	if (lowest == UINT64_MAX)
		return 0;
	return lowest - elfsym_base_vaddr(e);
}

static bool is_libpython(const char *path)
{
	return strncmp(base_name(path), "libpython", 9) == 0;
}

/* Distinct files worth looking into: the executable, then libpythons. */
static size_t collect(struct target *t, struct candidate *c, size_t max)
{
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < t->nmaps && n < max; i++) {
			const struct target_map *m = &t->maps[i];
			bool dup = false;
			int fd;

			if (!m->path)
				continue;
			if (pass == 0 ? strcmp(m->path, t->exe) != 0 : !is_libpython(m->path))
				continue;
			for (size_t j = 0; j < n && !dup; j++)
				dup = strcmp(c[j].map->path, m->path) == 0;
			if (dup)
				continue;
			fd = target_open_mapped(t, m);
			if (fd < 0)
				continue;
			c[n].syms = elfsym_open(fd);
			close(fd);
			if (!c[n].syms)
				continue;
			c[n].map = m;
			c[n].is_exe = pass == 0;
			c[n].bias = load_bias(t, m->path, c[n].syms);
			n++;
		}
	}
	return n;
}

/* Does the interpreter state at 'interp' link to a thread state that links back? */
static int check_interp(struct pyinterp *pi, uint64_t interp)
{
	const struct py_layout *l = &pi->layout;
	uint64_t tstate, back;
	int rc;

	if (!interp)
		return -PERR_TORN;
	rc = target_read_ptr(pi->target, interp + (uint64_t)l->interp_tstate_head, &tstate);
	if (rc)
		return rc;
	if (!tstate)
		return 0; /* no thread yet (or finalizing): nothing to contradict */
	rc = target_read_ptr(pi->target, tstate + (uint64_t)l->tstate_interp, &back);
	if (rc)
		return rc;
	return back == interp ? 0 : -PERR_TORN;
}

static int try_candidate(struct pyinterp *pi, struct candidate *c)
{
	struct target *t = pi->target;
	uint64_t runtime = elfsym_lookup(c->syms, "_PyRuntime");
	uint64_t head = elfsym_lookup(c->syms, "interp_head");
	uint64_t pyversion = elfsym_lookup(c->syms, "Py_Version");
	uint64_t code_type = elfsym_lookup(c->syms, "PyCode_Type");
	uint64_t version_hex = 0, interp = 0;
	const struct py_layout *table;
	int major = 0, minor = 0, rc;

	if (!runtime && !head)
		return -PERR_NOTPY;
	if (runtime)
		runtime += c->bias;
	if (head)
		head += c->bias;

	/* Version: the target's own word first, then the file's name. */
	if (runtime) {
		uint8_t magic[8];
		if (target_read(t, runtime, magic, sizeof(magic)) == 0 &&
		    memcmp(magic, "xdebugpy", 8) == 0) {
			uint64_t v;
			if (target_read(t, runtime + 8, &v, sizeof(v)) == 0) {
				version_hex = v;
				pi->version_by = "_Py_DebugOffsets";
			}
		}
	}
	if (!version_hex && pyversion) {
		uint32_t v;
		if (target_read(t, pyversion + c->bias, &v, sizeof(v)) == 0) {
			version_hex = v;
			pi->version_by = "Py_Version";
		}
	}
	if (version_hex) {
		major = (int)(version_hex >> 24) & 0xff;
		minor = (int)(version_hex >> 16) & 0xff;
		pi->micro = (int)(version_hex >> 8) & 0xff;
	} else if (version_from_name(c->map->path, &major, &minor) ||
		   (c->is_exe && version_from_name(t->exe, &major, &minor))) {
		pi->version_by = "file name";
		pi->micro = -1;
	} else {
		return perr_set(PERR_VERSION,
				"found a Python interpreter in '%s' but could not tell its version",
				c->map->path);
	}
	pi->major = major;
	pi->minor = minor;

	table = py_layout_for(major, minor);
	if (major == 3 && minor >= 13 && runtime) {
		/* 3.13+: the target's own table; ours cross-checks it if we have one. */
		uint8_t buf[PY_DEBUG_OFFSETS_MAX];
		struct py_layout l = table ? *table : *py_layout_for(3, 13);
		uint64_t vh = 0;
		if ((rc = target_read(t, runtime, buf, sizeof(buf))) != 0)
			return rc;
		rc = py_debug_offsets_apply(buf, sizeof(buf), &l, &vh, pi->diag, sizeof(pi->diag));
		if (rc)
			return rc;
		pi->layout = l;
	} else if (table) {
		pi->layout = *table;
	} else {
		if (pi->micro >= 0)
			return perr_set(PERR_VERSION,
					"pid %d runs Python %d.%d.%d, which this pyspy-c does not support "
					"(supported: 2.7 and 3.6 or later)",
					(int)t->pid, major, minor, pi->micro);
		return perr_set(PERR_VERSION,
				"pid %d runs Python %d.%d, which this pyspy-c does not support "
				"(supported: 2.7 and 3.6 or later)", (int)t->pid, major, minor);
	}

	if (runtime && pi->layout.runtime_interpreters_head >= 0) {
		pi->runtime = runtime;
		pi->interp_head_addr = runtime + (uint64_t)pi->layout.runtime_interpreters_head;
		pi->found_by = "symbol _PyRuntime";
	} else if (head) {
		pi->interp_head_addr = head;
		pi->found_by = "symbol interp_head";
	} else {
		return perr_set(PERR_NOTPY, "no interpreter list found in '%s' (stripped 2.7/3.6?)",
				c->map->path);
	}
	pi->code_type = code_type ? code_type + c->bias : 0;
	rc = target_read_ptr(t, pi->interp_head_addr, &interp);
	if (rc)
		return rc;
	rc = check_interp(pi, interp);
	if (rc == -PERR_TORN)
		return perr_set(PERR_NOTPY, "the interpreter state found in '%s' does not validate",
				c->map->path);
	if (rc)
		return rc;
	snprintf(pi->module, sizeof(pi->module), "%s", c->map->path);
	pi->shared = !c->is_exe;
	return 0;
}

int pyinterp_attach(struct pyinterp *pi, struct target *t, struct profile *prof)
{
	struct candidate c[16];
	size_t n;
	int rc = -PERR_NOTPY;

	memset(pi, 0, sizeof(*pi));
	pi->target = t;
	pi->profile = prof;
	pi->tid_offset = -1;
	perr_clear();
	n = collect(t, c, 16);
	for (size_t i = 0; i < n; i++) {
		int r = try_candidate(pi, &c[i]);
		if (r == -PERR_TORN)
			r = perr_set(PERR_NOTPY, "pid %d: could not read a consistent interpreter "
				     "state from '%s'", (int)t->pid, c[i].map->path);
		if (r == 0) {
			rc = 0;
			break;
		}
		/* Keep the most telling error: version problems over "not found". */
		if (rc == -PERR_NOTPY || r == -PERR_VERSION || r == -PERR_GONE)
			rc = r;
		if (r == -PERR_GONE || r == -PERR_PERM)
			break;
	}
	for (size_t i = 0; i < n; i++)
		elfsym_close(c[i].syms);
	if (rc == -PERR_NOTPY && perr_detail(rc) == perr_desc(rc))
		perr_set(PERR_NOTPY, "pid %d ('%s') does not look like a Python process: "
			 "no Python interpreter found in its executable or libraries",
			 (int)t->pid, base_name(t->exe));
	if (rc == -PERR_GONE)
		perr_set(PERR_NOPROC, "pid %d exited", (int)t->pid);
	if (rc)
		return rc;
	pi->codes = code_cache_new();
	if (!pi->codes)
		return -PERR_NOMEM;
	return 0;
}

void pyinterp_release(struct pyinterp *pi)
{
	if (!pi)
		return;
	code_cache_free(pi->codes);
	pi->codes = NULL;
}

void pyinterp_describe(const struct pyinterp *pi, char *buf, size_t len)
{
	char ver[32];

	if (pi->micro >= 0)
		snprintf(ver, sizeof(ver), "%d.%d.%d", pi->major, pi->minor, pi->micro);
	else
		snprintf(ver, sizeof(ver), "%d.%d", pi->major, pi->minor);
	snprintf(buf, len,
		 "python %s (%s build, version from %s) in '%s', interpreter found by %s%s%s",
		 ver, pi->shared ? "shared" : "static", pi->version_by, pi->module,
		 pi->found_by, pi->diag[0] ? "; layout notes: " : "", pi->diag);
}
