/* python_internal.h - shared between the files of the python stage only */
#ifndef PYSPY_PYTHON_INTERNAL_H
#define PYSPY_PYTHON_INTERNAL_H

#include "pyspy/pyinterp.h"

#include <string.h>

/* Bounds-checked field access into a struct copied from the target. */
static inline int field_u64(const uint8_t *buf, size_t len, int off, uint64_t *out)
{
	if (off < 0 || (size_t)off + 8 > len)
		return -1;
	memcpy(out, buf + off, 8);
	return 0;
}

static inline int field_i32(const uint8_t *buf, size_t len, int off, int32_t *out)
{
	if (off < 0 || (size_t)off + 4 > len)
		return -1;
	memcpy(out, buf + off, 4);
	return 0;
}

/* A decoded code object. */
struct code_info {
	uint32_t func;          /* interned (name, file) */
	int firstlineno;
	int firsttraceable;     /* 3.11+: first code unit a frame counts from */
	const uint8_t *linetable;
	size_t linetable_len;
	/* The last offset asked of code_line() and its line: a frame that
	 * stays where it was costs no decoding of the table. */
	int64_t last_offset;
	int last_line;
	/* Fields the target's memory did not give (a corrupt or dying code
	 * object): shown as "<unknown>", or without lines. */
	bool degraded;
	bool no_lines;
};

#define CODE_HDR_MAX 512

struct code_cache *code_cache_new(void);
void code_cache_free(struct code_cache *c);
/* Empty it (what it held is decoded again when next seen). */
void code_cache_clear(struct code_cache *c);
/*
 * Decode the code object at 'addr' (cached; the cached entry is checked
 * once per sample against the object's current header, so a reused
 * address is noticed).  Returns 0, -PERR_TORN when it is not a valid code
 * object, or another read error.  The result is valid until the next
 * look-up (entries share slots).
 */
int code_lookup(struct pyinterp *pi, uint64_t addr, const struct code_info **out);
/* The entry for addr if already validated during this sample, else NULL. */
const struct code_info *code_fresh(struct pyinterp *pi, uint64_t addr);
/* Validate (or decode) against a header the caller copied this sample. */
int code_resolve(struct pyinterp *pi, uint64_t addr, const uint8_t *hdr, size_t hlen,
		 const struct code_info **out);
/* Bytes of a code object's header to copy for code_resolve(). */
size_t code_header_len(const struct pyinterp *pi);
/* Line of a byte offset into the code's bytecode (-1 when none). */
int code_line(const struct pyinterp *pi, const struct code_info *ci, int64_t byte_offset);

/*
 * Read a pure-Python string (str, or 2.7 str/unicode) at 'addr' into out
 * as UTF-8.  Returns 0 or a negative PERR_*.
 */
int py_read_string(struct pyinterp *pi, uint64_t addr, char *out, size_t cap);

/*
 * Objects (objects.c), for thread names and dumps: off the sampling path,
 * bounded, every failure "not found" (a negative PERR_*).
 */
/* tp_name of obj's type, e.g. "int". */
int py_type_name(struct pyinterp *pi, uint64_t obj, char *out, size_t cap);
/* An int's sign and magnitude (2.7: 'is_int27' for PyIntObject); up to 60 bits. */
int py_read_int(struct pyinterp *pi, uint64_t obj, bool is_int27, bool *neg, uint64_t *mag);
/* dict[key] for an ASCII str key. */
int py_dict_get_str(struct pyinterp *pi, uint64_t dict, const char *key, uint64_t *value);
/* fn(ctx, key, value) for each item, until it returns non-zero (1: stop, <0: error). */
int py_dict_each(struct pyinterp *pi, uint64_t dict,
		 int (*fn)(void *ctx, uint64_t key, uint64_t value), void *ctx);
/* obj.name, from the instance's dict or values (no descriptors, no class attributes). */
int py_object_attr(struct pyinterp *pi, uint64_t obj, const char *name, uint64_t *value);
/* The dict of the module sys.modules[module] of the interpreter state 'interp'. */
int py_module_dict(struct pyinterp *pi, uint64_t interp, const char *module, uint64_t *dict);
/* sys.modules[module].name of the interpreter state 'interp'. */
int py_module_attr(struct pyinterp *pi, uint64_t interp, const char *module, const char *name,
		   uint64_t *value);

/*
 * After a walk of several interpreters (3.11+): the thread states of one
 * OS thread that runs a subinterpreter become one thread, the outer one's
 * frames first (walk.c says how they are paired).  Needs the threads'
 * tids, interp, cstack and thread_id; sets inner_tstate.
 */
int py_merge_nested(struct pyinterp *pi, struct py_sample *s);

/*
 * After a walk (gc.c): read whether the collector of each interpreter
 * walked ('interps', n of them) runs, and mark the thread that runs it;
 * sets s->gc_known and s->gc_running.
 */
void py_gc_mark(struct pyinterp *pi, struct py_sample *s, const uint64_t *interps, size_t n);

/* Walk the threads of one interpreter state into s (appending). */
int py_walk_interp(struct pyinterp *pi, uint64_t interp, struct py_sample *s);

/* _Py_DebugOffsets (3.13+): validate the copied table and apply it. */
int py_debug_offsets_apply(const uint8_t *buf, size_t len, struct py_layout *l,
			   uint64_t *version_hex, char *diag, size_t dlen);
#define PY_DEBUG_OFFSETS_MAX 4096 /* bytes to copy from the start of _PyRuntime */
struct elf_syms;
/* Load bias of a file the target maps: where its lowest PT_LOAD landed (0: not mapped). */
uint64_t py_load_bias(struct target *t, const char *path, struct elf_syms *e);
/* One word of a _Py_DebugOffsets copy, by name ("gen_object.gi_iframe"). */
int py_debug_offsets_word(const uint8_t *buf, size_t len, const char *word, uint64_t *out);

#endif
