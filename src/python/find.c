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
#include "pyspy/pyasync.h"

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

/*
 * Which discovery methods may run: all by default.  PYSPY_C_FIND (for the
 * tests, documented in the man page) names a subset: "symbols", "section",
 * "scan", and "version-scan" to take the version from memory only.
 */
enum {
	FIND_SYMBOLS = 1,       /* _PyRuntime, interp_head in .dynsym/.symtab */
	FIND_SECTION = 2,       /* the .PyRuntime section (3.11+) */
	FIND_SCAN = 4,          /* scan writable data, validate by walking */
	FIND_ONLY_VERSION_SCAN = 8, /* tests: version from memory only */
};

static int find_methods(void)
{
	const char *env = getenv("PYSPY_C_FIND");
	int m = 0;

	if (!env || !*env)
		return FIND_SYMBOLS | FIND_SECTION | FIND_SCAN;
	if (strstr(env, "symbols"))
		m |= FIND_SYMBOLS;
	if (strstr(env, "section"))
		m |= FIND_SECTION;
	if (strstr(env, "scan"))
		m |= FIND_SCAN;
	if (strstr(env, "version-scan"))
		m |= FIND_ONLY_VERSION_SCAN;
	return m;
}

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
uint64_t py_load_bias(struct target *t, const char *path, struct elf_syms *e)
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
			c[n].bias = py_load_bias(t, m->path, c[n].syms);
			n++;
		}
	}
	return n;
}

/*
 * Does the interpreter state at 'interp' link to a thread state that links
 * back?  With 'need_frame', also walk to a thread with a Python frame whose
 * code object decodes (the scan's acceptance test).
 */
static int check_interp(struct pyinterp *pi, uint64_t interp, bool need_frame)
{
	const struct py_layout *l = &pi->layout;
	uint64_t tstate, back;
	int rc;

	if (!interp || (interp & 7))
		return -PERR_TORN;
	rc = target_read_ptr(pi->target, interp + (uint64_t)l->interp_tstate_head, &tstate);
	if (rc)
		return rc;
	if (!tstate)
		return need_frame ? -PERR_TORN : 0; /* no thread yet: nothing to contradict */
	for (int i = 0; tstate && i < 64; i++) {
		uint64_t next;

		if (tstate & 7)
			return -PERR_TORN;
		if ((rc = target_read_ptr(pi->target, tstate + (uint64_t)l->tstate_interp, &back)) != 0)
			return rc;
		if (back != interp)
			return -PERR_TORN;
		if (!need_frame)
			return 0;
		if ((rc = target_read_ptr(pi->target, tstate + (uint64_t)l->tstate_next, &next)) != 0)
			return rc;
		tstate = next;
	}
	/* Walk every thread; accept when some thread shows a decodable frame. */
	{
		struct py_sample *s = calloc(1, sizeof(*s));
		bool ok = false;

		if (!s)
			return -PERR_NOMEM;
		rc = py_walk_interp(pi, interp, s);
		for (size_t i = 0; rc == 0 && i < s->nthreads; i++)
			ok = ok || s->threads[i].nframes > 0;
		py_sample_free(s);
		free(s);
		if (rc)
			return rc;
		return ok ? 0 : -PERR_TORN;
	}
}

/*
 * The version string Py_GetVersion() wrote into its static buffer at
 * start-up ("3.6.15 (default, Oct 26 2026, ...)"), found in the module's
 * writable data.  Used when neither a symbol nor the file name tells.
 */
static bool scan_version(struct pyinterp *pi, const struct candidate *c, int *major, int *minor)
{
	struct target *t = pi->target;
	static uint8_t buf[1 << 20];

	for (size_t i = 0; i < t->nmaps; i++) {
		const struct target_map *m = &t->maps[i];
		bool ours = m->path && strcmp(m->path, c->map->path) == 0;
		/* .bss continues in the anonymous mapping right after the file's. */
		bool bss = !m->path && i > 0 && t->maps[i - 1].path &&
			   strcmp(t->maps[i - 1].path, c->map->path) == 0 &&
			   t->maps[i - 1].end == m->start;

		if ((!ours && !bss) || m->perms[0] != 'r' || m->perms[1] != 'w')
			continue;
		for (uint64_t a = m->start; a < m->end && a < m->start + (64u << 20);
		     a += sizeof(buf) - 64) {
			size_t len = m->end - a < sizeof(buf) ? (size_t)(m->end - a) : sizeof(buf);
			if (target_read(t, a, buf, len) != 0)
				break;
			for (size_t k = 1; k + 12 < len; k++) {
				const uint8_t *p = buf + k;
				size_t j = 2;
				if ((p[0] != '2' && p[0] != '3') || p[1] != '.' || p[-1] != 0)
					continue;
				while (j < 5 && isdigit(p[j]))
					j++;
				if (j == 2 || p[j] != '.' || !isdigit(p[j + 1]))
					continue;
				j++;
				while (j < 9 && (isalnum(p[j]) || p[j] == '+'))
					j++;
				if (p[j] != ' ' || p[j + 1] != '(')
					continue;
				*major = p[0] - '0';
				*minor = atoi((const char *)p + 2);
				return true;
			}
			if (len < sizeof(buf))
				break;
		}
	}
	return false;
}

/* Find the interpreter by scanning the module's writable data for a
 * pointer to an interpreter state that walks (last resort). */
static int scan_interp(struct pyinterp *pi, const struct candidate *c)
{
	struct target *t = pi->target;
	static uint64_t words[1 << 17];

	for (size_t i = 0; i < t->nmaps; i++) {
		const struct target_map *m = &t->maps[i];
		bool ours = m->path && strcmp(m->path, c->map->path) == 0;
		bool bss = !m->path && i > 0 && t->maps[i - 1].path &&
			   strcmp(t->maps[i - 1].path, c->map->path) == 0 &&
			   t->maps[i - 1].end == m->start;

		if ((!ours && !bss) || m->perms[0] != 'r' || m->perms[1] != 'w')
			continue;
		for (uint64_t a = m->start; a < m->end && a < m->start + (64u << 20);
		     a += sizeof(words)) {
			size_t len = m->end - a < sizeof(words) ? (size_t)(m->end - a) : sizeof(words);
			if (target_read(t, a, words, len) != 0)
				break;
			for (size_t k = 0; k < len / 8; k++) {
				uint64_t w = words[k];
				if (w < 4096 || (w & 7) || w == a + 8 * k)
					continue;
				if (check_interp(pi, w, true) == 0) {
					pi->interp_head_addr = a + 8 * k;
					return 0;
				}
			}
		}
	}
	return -PERR_NOTPY;
}

/*
 * Where the GIL's last_holder, locked and switch_number live.  Every GIL
 * build from 3.7 to 3.15 has them at 8, 16 and 24 in struct
 * _gil_runtime_state; 3.6 has them as static variables of ceval.c (in
 * .symtab only); 2.7's older lock keeps no switch count, so for it only
 * the current holder (_PyThreadState_Current) is known.
 */
static void find_gil(struct pyinterp *pi, const struct candidate *c, uint64_t interp)
{
	const struct py_layout *l = &pi->layout;
	uint64_t base = 0;
	int32_t locked;

	pi->gil_holder = pi->gil_locked = pi->gil_switches = 0;
	if (l->free_threaded)
		return;
	if (l->family == PY_FAMILY_27) {
		/* The old lock has no holder field: the current thread state
		 * (exported) is set exactly while a thread holds it. */
		uint64_t cur = elfsym_lookup(c->syms, "_PyThreadState_Current");
		if (cur)
			pi->gil_holder = cur + c->bias;
		return;
	}
	if (l->runtime_gil >= 0 && pi->runtime) {
		base = pi->runtime + (uint64_t)l->runtime_gil;
	} else if (l->interp_ceval_gil >= 0) {
		/*
		 * 3.12+: each interpreter may have a GIL of its own; the one
		 * followed is the main interpreter's, the last listed (new
		 * interpreters are pushed on the head of the list).
		 */
		for (int i = 0; i < 64; i++) {
			uint64_t next;
			if (target_read_ptr(pi->target, interp + (uint64_t)l->interp_next, &next) != 0 ||
			    !next)
				break;
			interp = next;
		}
		if (target_read_ptr(pi->target, interp + (uint64_t)l->interp_ceval_gil, &base) != 0)
			base = 0;
	} else {
		uint64_t h = elfsym_lookup(c->syms, "gil_last_holder");
		uint64_t k = elfsym_lookup(c->syms, "gil_locked");
		uint64_t n = elfsym_lookup(c->syms, "gil_switch_number");
		if (h && k && n) {
			pi->gil_holder = h + c->bias;
			pi->gil_locked = k + c->bias;
			pi->gil_switches = n + c->bias;
		}
	}
	if (base) {
		pi->gil_holder = base + 8;
		pi->gil_locked = base + 16;
		pi->gil_switches = base + 24;
	}
	/* Sanity: 'locked' is 0, 1, or -1 before the GIL is created. */
	if (pi->gil_locked &&
	    (target_read(pi->target, pi->gil_locked, &locked, 4) != 0 || locked < -1 || locked > 1))
		pi->gil_holder = pi->gil_locked = pi->gil_switches = 0;
}

static int try_candidate(struct pyinterp *pi, struct candidate *c, int methods)
{
	struct target *t = pi->target;
	bool syms = methods & FIND_SYMBOLS;
	uint64_t runtime = syms ? elfsym_lookup(c->syms, "_PyRuntime") : 0;
	uint64_t head = syms ? elfsym_lookup(c->syms, "interp_head") : 0;
	uint64_t pyversion = elfsym_lookup(c->syms, "Py_Version");
	uint64_t code_type = elfsym_lookup(c->syms, "PyCode_Type");
	uint64_t version_hex = 0, interp = 0, section_size = 0;
	const struct py_layout *table;
	int major = 0, minor = 0, rc;

	if (runtime) {
		runtime += c->bias;
		pi->found_by = "symbol _PyRuntime";
	} else if ((methods & FIND_SECTION) &&
		   (runtime = elfsym_section(c->syms, ".PyRuntime", &section_size)) != 0) {
		runtime += c->bias;
		pi->found_by = "section .PyRuntime";
	}
	if (head)
		head += c->bias;
	/* Not a Python binary at all: no sign of CPython in its symbols. */
	if (!runtime && !head && !pyversion && !code_type &&
	    !elfsym_lookup(c->syms, "Py_Initialize") && !is_libpython(c->map->path))
		return -PERR_NOTPY;

	/* Version: the target's own word first, then names, then its memory. */
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
	if (methods & FIND_ONLY_VERSION_SCAN)
		version_hex = 0, pyversion = 0;
	if (!version_hex && pyversion) {
		uint32_t v;
		if (target_read(t, pyversion + c->bias, &v, sizeof(v)) == 0) {
			version_hex = v;
			pi->version_by = "Py_Version";
		}
	}
	pi->micro = -1;
	if (version_hex) {
		major = (int)(version_hex >> 24) & 0xff;
		minor = (int)(version_hex >> 16) & 0xff;
		pi->micro = (int)(version_hex >> 8) & 0xff;
		pi->version_hex = (uint32_t)version_hex;
	} else if (!(methods & FIND_ONLY_VERSION_SCAN) &&
		   (version_from_name(c->map->path, &major, &minor) ||
		    (c->is_exe && version_from_name(t->exe, &major, &minor)))) {
		pi->version_by = "file name";
	} else if (scan_version(pi, c, &major, &minor)) {
		pi->version_by = "version string in memory";
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
	pi->code_type = code_type ? code_type + c->bias : 0;
	{
		/* Code objects' names and files are str (2.7: PyString) objects. */
		uint64_t str_type = elfsym_lookup(c->syms, major == 2 ? "PyString_Type"
								      : "PyUnicode_Type");
		pi->str_type = str_type ? str_type + c->bias : 0;
	}

	if (runtime && pi->layout.runtime_interpreters_head >= 0) {
		pi->runtime = runtime;
		pi->interp_head_addr = runtime + (uint64_t)pi->layout.runtime_interpreters_head;
	} else if (head) {
		pi->interp_head_addr = head;
		pi->found_by = "symbol interp_head";
	} else if (methods & FIND_SCAN) {
		rc = scan_interp(pi, c);
		if (rc)
			return perr_set(PERR_NOTPY, "no interpreter state found in the data of '%s'",
					c->map->path);
		pi->found_by = "scan of writable data";
	} else {
		return perr_set(PERR_NOTPY, "no interpreter list found in '%s'", c->map->path);
	}
	rc = target_read_ptr(t, pi->interp_head_addr, &interp);
	if (rc)
		return rc;
	rc = check_interp(pi, interp, false);
	if (rc == -PERR_TORN)
		return perr_set(PERR_NOTPY, "the interpreter state found in '%s' does not validate",
				c->map->path);
	if (rc)
		return rc;
	find_gil(pi, c, interp);
	snprintf(pi->module, sizeof(pi->module), "%s", c->map->path);
	pi->shared = !c->is_exe;
	pi->debug_build = elfsym_lookup(c->syms, "_Py_NegativeRefcount") != 0;
	return 0;
}

int pyinterp_attach(struct pyinterp *pi, struct target *t, struct profile *prof)
{
	struct candidate c[16];
	size_t n;
	int rc = -PERR_NOTPY, methods = find_methods();

	memset(pi, 0, sizeof(*pi));
	pi->target = t;
	pi->profile = prof;
	pi->tid_offset = -1;
	pi->read_gc = true;
	perr_clear();
	n = collect(t, c, 16);
	/* The code cache is needed to validate candidates by walking them. */
	pi->codes = code_cache_new();
	if (!pi->codes)
		return -PERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		int r = try_candidate(pi, &c[i], methods);
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
	return rc;
}

void pyinterp_forget_funcs(struct pyinterp *pi)
{
	if (pi)
		code_cache_clear(pi->codes);
}

void pyinterp_release(struct pyinterp *pi)
{
	if (!pi)
		return;
	code_cache_free(pi->codes);
	pi->codes = NULL;
	free(pi->raw);
	free(pi->hdrs);
	free(pi->tstate_tids);
	free(pi->claims);
	pi->raw = NULL;
	pi->hdrs = NULL;
	pi->tstate_tids = NULL;
	pi->claims = NULL;
	py_async_release(pi);
}

bool pyinterp_version(struct pyinterp *pi, char *buf, size_t len)
{
	static const char *const levels[16] = { [0xa] = "a", [0xb] = "b", [0xc] = "rc" };
	char text[256];
	uint64_t interp, version;
	unsigned level = (pi->version_hex >> 4) & 0xf;
	size_t n;

	if (len == 0)
		return false;
	if (target_read_ptr(pi->target, pi->interp_head_addr, &interp) == 0 && interp &&
	    py_module_attr(pi, interp, "sys", "version", &version) == 0 &&
	    py_read_string(pi, version, text, sizeof(text)) == 0 &&
	    (n = strcspn(text, " \t\n")) > 0 && isdigit((unsigned char)text[0])) {
		snprintf(buf, len, "%.*s", (int)n, text);
		return true;
	}
	if (pi->version_hex && levels[level])
		snprintf(buf, len, "%d.%d.%d%s%u", pi->major, pi->minor, pi->micro, levels[level],
			 pi->version_hex & 0xf);
	else if (pi->micro >= 0)
		snprintf(buf, len, "%d.%d.%d", pi->major, pi->minor, pi->micro);
	else
		snprintf(buf, len, "%d.%d", pi->major, pi->minor);
	return false;
}

void pyinterp_describe(const struct pyinterp *pi, char *buf, size_t len)
{
	char ver[32];

	if (pi->micro >= 0)
		snprintf(ver, sizeof(ver), "%d.%d.%d", pi->major, pi->minor, pi->micro);
	else
		snprintf(ver, sizeof(ver), "%d.%d", pi->major, pi->minor);
	snprintf(buf, len,
		 "python %s (%s%s%s build, version from %s, layout from %s) in '%s', "
		 "interpreter found by %s%s%s",
		 ver, pi->shared ? "shared" : "static",
		 pi->layout.free_threaded ? ", free-threaded" : "",
		 pi->debug_build ? ", debug" : "", pi->version_by,
		 pi->major == 3 && pi->minor >= 13 ? "_Py_DebugOffsets" : "built-in table",
		 pi->module, pi->found_by, pi->diag[0] ? "; layout notes: " : "", pi->diag);
}
