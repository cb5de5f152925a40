/*
 * debug_offsets.c - _Py_DebugOffsets, the layout a 3.13+ target publishes.
 *
 * From 3.13, _PyRuntime begins with a _Py_DebugOffsets table (cookie
 * "xdebugpy", the version as PY_VERSION_HEX, then for each struct its size
 * and the offsets of the fields debuggers need).  It is remote memory, so
 * it is validated before use: the cookie, a plausible version, every
 * struct size bounded, every field offset inside its struct.  Only then
 * does it override the built-in layout; differences with the built-in
 * table are noted for --verbose.
 *
 * The table's own layout is versioned by the 'version' it carries; this
 * file reads the 3.13 form (Include/internal/pycore_runtime.h in 3.13).
 */
#include "pyspy/error.h"
#include "python_internal.h"

#include <stdio.h>
#include <string.h>

/* Word indexes in the 3.13 table (each entry is a uint64_t). */
enum {
	W13_COOKIE = 0, W13_VERSION = 1, W13_FREE_THREADED = 2,
	W13_RT = 3,      /* size, finalizing, interpreters_head */
	W13_IS = 6,      /* size, id, next, threads_head, gc, imports_modules,
			    sysdict, builtins, ceval_gil, gil_runtime_state,
			    gil_enabled, gil_locked, gil_holder */
	W13_TS = 19,     /* size, prev, next, interp, current_frame, thread_id,
			    native_thread_id, datastack_chunk, status */
	W13_IF = 28,     /* size, previous, executable, instr_ptr, localsplus, owner */
	W13_CODE = 34,   /* size, filename, name, qualname, linetable, firstlineno,
			    argcount, localsplusnames, localspluskinds, co_code_adaptive */
	W13_OBJ = 44,    /* size, ob_type */
	W13_TYPE = 46,   /* size, tp_name, tp_repr, tp_flags */
	W13_TUPLE = 50,  /* size, ob_item, ob_size */
	W13_LIST = 53,   /* size, ob_item, ob_size */
	W13_DICT = 56,   /* size, ma_keys, ma_values */
	W13_FLOAT = 59,  /* size, ob_fval */
	W13_LONG = 61,   /* size, lv_tag, ob_digit */
	W13_BYTES = 64,  /* size, ob_size, ob_sval */
	W13_STR = 67,    /* size, state, length, asciiobject_size */
	W13_GC = 71,     /* size, collecting */
	W13_END = 73,
};

#define MAX_STRUCT (1u << 20)

struct checker {
	const uint64_t *w;
	int bad;
	char *diag;
	size_t dlen;
};

static void note(struct checker *c, const char *what)
{
	size_t used = strlen(c->diag);
	if (used + 2 < c->dlen)
		snprintf(c->diag + used, c->dlen - used, "%s%s", used ? "; " : "", what);
}

/* Offset of a field of the struct whose size is at word 'base'; checked. */
static int16_t field(struct checker *c, int base, int idx, unsigned width, const char *name)
{
	uint64_t size = c->w[base], off = c->w[base + idx];
	char msg[128];

	if (size == 0 || size > MAX_STRUCT || off + width > size || off > INT16_MAX) {
		snprintf(msg, sizeof(msg), "debug offset %s = %llu outside its struct (size %llu)",
			 name, (unsigned long long)off, (unsigned long long)size);
		note(c, msg);
		c->bad = 1;
		return -1;
	}
	return (int16_t)off;
}

static void cross(struct checker *c, const char *name, int16_t *slot, int16_t value)
{
	char msg[160];

	if (value < 0)
		return;
	if (*slot >= 0 && *slot != value) {
		snprintf(msg, sizeof(msg), "%s: built-in table %d, target %d (using the target's)",
			 name, *slot, value);
		note(c, msg);
	}
	*slot = value;
}

int py_debug_offsets_apply(const uint8_t *buf, size_t len, struct py_layout *l,
			   uint64_t *version_hex, char *diag, size_t dlen)
{
	uint64_t w[W13_END];
	struct checker c = { w, 0, diag, dlen };
	struct py_layout n = *l;
	int major, minor;

	if (dlen)
		diag[0] = '\0';
	if (len < sizeof(w))
		return perr_set(PERR_VERSION, "debug offsets table too short");
	memcpy(w, buf, sizeof(w));
	if (memcmp(buf, "xdebugpy", 8) != 0)
		return perr_set(PERR_NOTPY, "no _Py_DebugOffsets cookie at _PyRuntime");
	major = (int)((w[W13_VERSION] >> 24) & 0xff);
	minor = (int)((w[W13_VERSION] >> 16) & 0xff);
	if (major != 3 || minor < 13 || minor > 99)
		return perr_set(PERR_VERSION, "implausible version 0x%llx in _Py_DebugOffsets",
				(unsigned long long)w[W13_VERSION]);
	*version_hex = w[W13_VERSION];
	if (minor != 13)
		return perr_set(PERR_VERSION,
				"_Py_DebugOffsets of Python %d.%d has a form this build cannot read",
				major, minor);
	if (w[W13_FREE_THREADED] > 1)
		return perr_set(PERR_VERSION, "corrupt _Py_DebugOffsets (free_threaded = %llu)",
				(unsigned long long)w[W13_FREE_THREADED]);
	if (w[W13_FREE_THREADED])
		return perr_set(PERR_VERSION,
				"free-threaded Python %d.%d is not supported yet", major, minor);

	cross(&c, "runtime.interpreters_head", &n.runtime_interpreters_head,
	      field(&c, W13_RT, 2, 8, "runtime_state.interpreters_head"));
	cross(&c, "interp.next", &n.interp_next, field(&c, W13_IS, 2, 8, "interpreter_state.next"));
	cross(&c, "interp.threads_head", &n.interp_tstate_head,
	      field(&c, W13_IS, 3, 8, "interpreter_state.threads_head"));
	cross(&c, "tstate.next", &n.tstate_next, field(&c, W13_TS, 2, 8, "thread_state.next"));
	cross(&c, "tstate.interp", &n.tstate_interp, field(&c, W13_TS, 3, 8, "thread_state.interp"));
	cross(&c, "tstate.current_frame", &n.tstate_current_frame,
	      field(&c, W13_TS, 4, 8, "thread_state.current_frame"));
	cross(&c, "tstate.thread_id", &n.tstate_thread_id,
	      field(&c, W13_TS, 5, 8, "thread_state.thread_id"));
	cross(&c, "tstate.native_thread_id", &n.tstate_native_thread_id,
	      field(&c, W13_TS, 6, 8, "thread_state.native_thread_id"));
	cross(&c, "iframe.previous", &n.iframe_previous,
	      field(&c, W13_IF, 1, 8, "interpreter_frame.previous"));
	cross(&c, "iframe.executable", &n.iframe_code,
	      field(&c, W13_IF, 2, 8, "interpreter_frame.executable"));
	cross(&c, "iframe.instr_ptr", &n.iframe_instr,
	      field(&c, W13_IF, 3, 8, "interpreter_frame.instr_ptr"));
	cross(&c, "iframe.owner", &n.iframe_owner, field(&c, W13_IF, 5, 1, "interpreter_frame.owner"));
	if (w[W13_IF] > 0 && w[W13_IF] <= 4096)
		cross(&c, "iframe.size", &n.iframe_size, (int16_t)w[W13_IF]);
	cross(&c, "code.filename", &n.code_filename, field(&c, W13_CODE, 1, 8, "code_object.filename"));
	cross(&c, "code.name", &n.code_name, field(&c, W13_CODE, 2, 8, "code_object.name"));
	cross(&c, "code.linetable", &n.code_linetable, field(&c, W13_CODE, 4, 8, "code_object.linetable"));
	cross(&c, "code.firstlineno", &n.code_firstlineno,
	      field(&c, W13_CODE, 5, 4, "code_object.firstlineno"));
	cross(&c, "code.co_code_adaptive", &n.code_code_adaptive,
	      field(&c, W13_CODE, 9, 2, "code_object.co_code_adaptive"));
	if (w[W13_CODE] > 0 && w[W13_CODE] <= 4096)
		cross(&c, "code.size", &n.code_size, (int16_t)w[W13_CODE]);
	cross(&c, "object.ob_type", &n.object_type, field(&c, W13_OBJ, 1, 8, "pyobject.ob_type"));
	cross(&c, "bytes.ob_size", &n.var_size, field(&c, W13_BYTES, 1, 8, "bytes_object.ob_size"));
	cross(&c, "bytes.ob_sval", &n.bytes_sval, field(&c, W13_BYTES, 2, 1, "bytes_object.ob_sval"));
	cross(&c, "unicode.state", &n.unicode_state, field(&c, W13_STR, 1, 4, "unicode_object.state"));
	cross(&c, "unicode.length", &n.unicode_length, field(&c, W13_STR, 2, 8, "unicode_object.length"));
	if (w[W13_STR + 3] >= 16 && w[W13_STR + 3] <= 256) {
		/* PyCompactUnicodeObject adds utf8_length and utf8 (3.12+). */
		cross(&c, "unicode.ascii_size", &n.unicode_ascii_size, (int16_t)w[W13_STR + 3]);
		cross(&c, "unicode.compact_size", &n.unicode_compact_size,
		      (int16_t)(w[W13_STR + 3] + 16));
	} else {
		note(&c, "implausible unicode_object.asciiobject_size");
		c.bad = 1;
	}
	if (c.bad) {
		char copy[512];
		snprintf(copy, sizeof(copy), "%s", diag);
		return perr_set(PERR_VERSION, "corrupt _Py_DebugOffsets in the target: %s", copy);
	}
	n.major = major;
	n.minor = minor;
	*l = n;
	return 0;
}
