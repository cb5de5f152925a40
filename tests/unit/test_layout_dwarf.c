/*
 * test_layout_dwarf.c - the built-in layout tables (src/python/layout_table.c)
 * against the DWARF of every pyenv CPython build on the machine.
 *
 * For each /root/.pyenv/versions/X/lib/libpython*.so.1.0 (globbed when the
 * test runs; $PYENV_ROOT replaces /root/.pyenv when set), the struct types
 * the profiler reads are looked up with libdw, the offset of every member
 * struct py_layout holds is computed (following nested members such as
 * interpreters.head), and compared with py_layout_for(major, minor) field
 * by field: a field the DWARF does not have must be -1 in the table.  The
 * mapping from table fields to DWARF members is that of tools/gdb_offsets.py;
 * the version ranges are those of the comments in include/pyspy/pylayout.h
 * (e.g. tstate_frame is the PyFrameObject chain of <= 3.10: 3.11 still has
 * a PyFrameObject with f_back, which the profiler does not use).
 *
 * The fields that are not offsets are derived from the DWARF too: family
 * (which frame pointer struct _ts has), free_threaded (ob_tid in the object
 * header), iframe_owner_hidden (enum _frameowner), stackref_tag_bits (0 while
 * f_executable is a pointer), unicode_kind_shift (bit offset of state.kind).
 * Every other built-in table must disagree with a build's DWARF, so the
 * comparison is known to be able to fail.  PYSPY_LAYOUT_VERBOSE=1 prints
 * every field with the DWARF member it came from (these agree with
 * tools/gdb_offsets.py on all 197 values both give for the 9 pyenv builds).
 *
 * No pyenv build at all is a failure (the version matrix must not shrink
 * silently) unless PYSPY_ALLOW_NO_PYENV=1, which turns it into a skip.
 */
#include "unit.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pyspy/pylayout.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* The types looked up                                                 */

enum dtype {
	T_NONE, /* an unused alternative */
	T_RUNTIME, T_IS, T_TS, T_CFRAME, T_FRAME, T_IFRAME, T_CODE, T_OBJECT,
	T_BYTES, T_STRING, T_ASCII, T_COMPACT, T_FRAMEOWNER, T_TYPE, T_TUPLE, T_DICT,
	T_LONG, T_HEAPTYPE, T_DICTKEYS, T_NTYPES
};

enum dkind { K_STRUCT, K_TYPEDEF, K_ENUM };

static const struct {
	const char *name;  /* as written in C */
	enum dkind kind;
	const char *tag;   /* the name alone */
} type_names[T_NTYPES] = {
	[T_RUNTIME] = { "struct pyruntimestate", K_STRUCT, "pyruntimestate" },
	[T_IS] = { "struct _is", K_STRUCT, "_is" },
	[T_TS] = { "struct _ts", K_STRUCT, "_ts" },
	[T_CFRAME] = { "struct _PyCFrame", K_STRUCT, "_PyCFrame" },
	[T_FRAME] = { "struct _frame", K_STRUCT, "_frame" },
	[T_IFRAME] = { "struct _PyInterpreterFrame", K_STRUCT, "_PyInterpreterFrame" },
	[T_CODE] = { "PyCodeObject", K_TYPEDEF, "PyCodeObject" },
	[T_OBJECT] = { "struct _object", K_STRUCT, "_object" },
	[T_BYTES] = { "PyBytesObject", K_TYPEDEF, "PyBytesObject" },
	[T_STRING] = { "PyStringObject", K_TYPEDEF, "PyStringObject" },
	[T_ASCII] = { "PyASCIIObject", K_TYPEDEF, "PyASCIIObject" },
	[T_COMPACT] = { "PyCompactUnicodeObject", K_TYPEDEF, "PyCompactUnicodeObject" },
	[T_FRAMEOWNER] = { "enum _frameowner", K_ENUM, "_frameowner" },
	[T_TYPE] = { "struct _typeobject", K_STRUCT, "_typeobject" },
	[T_TUPLE] = { "PyTupleObject", K_TYPEDEF, "PyTupleObject" },
	[T_DICT] = { "PyDictObject", K_TYPEDEF, "PyDictObject" },
	[T_LONG] = { "struct _longobject", K_STRUCT, "_longobject" },
	[T_HEAPTYPE] = { "PyHeapTypeObject", K_TYPEDEF, "PyHeapTypeObject" },
	[T_DICTKEYS] = { "struct _dictkeysobject", K_STRUCT, "_dictkeysobject" },
};

struct dwarf_types {
	Dwarf *dw;
	int fd;
	bool found[T_NTYPES];
	Dwarf_Die die[T_NTYPES];         /* the complete struct type */
	char alias[T_NTYPES][64];        /* typedef of a struct declared only: its tag */
};

/* Follow typedefs and qualifiers to the type itself. */
static bool strip_type(Dwarf_Die *die)
{
	for (int guard = 0; guard < 32; guard++) {
		int tag = dwarf_tag(die);
		Dwarf_Attribute a;

		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type &&
		    tag != DW_TAG_volatile_type && tag != DW_TAG_restrict_type &&
		    tag != DW_TAG_atomic_type)
			return true;
		if (!dwarf_attr_integrate(die, DW_AT_type, &a) || !dwarf_formref_die(&a, die))
			return false;
	}
	return false;
}

static bool is_struct(int tag)
{
	return tag == DW_TAG_structure_type || tag == DW_TAG_union_type;
}

static bool complete(Dwarf_Die *die)
{
	return !dwarf_hasattr(die, DW_AT_declaration) && dwarf_hasattr(die, DW_AT_byte_size);
}

/* Look at one top-level DIE of a CU. */
static void consider(struct dwarf_types *t, Dwarf_Die *die)
{
	int tag = dwarf_tag(die);
	const char *name;

	if (tag != DW_TAG_typedef && tag != DW_TAG_structure_type &&
	    tag != DW_TAG_enumeration_type)
		return;
	name = dwarf_diename(die);
	if (!name)
		return;
	for (int i = T_NONE + 1; i < T_NTYPES; i++) {
		enum dkind k = type_names[i].kind;

		if (t->found[i])
			continue;
		if (tag == DW_TAG_enumeration_type) {
			if (k == K_ENUM && strcmp(name, type_names[i].tag) == 0 &&
			    !dwarf_hasattr(die, DW_AT_declaration)) {
				t->die[i] = *die;
				t->found[i] = true;
			}
		} else if (tag == DW_TAG_structure_type) {
			if ((k == K_STRUCT && strcmp(name, type_names[i].tag) == 0) ||
			    (k == K_TYPEDEF && strcmp(name, t->alias[i]) == 0)) {
				if (complete(die)) {
					t->die[i] = *die;
					t->found[i] = true;
				}
			}
		} else if (k == K_TYPEDEF && strcmp(name, type_names[i].tag) == 0) {
			Dwarf_Die target = *die;
			if (!strip_type(&target) || !is_struct(dwarf_tag(&target)))
				continue;
			if (complete(&target)) {
				t->die[i] = target;
				t->found[i] = true;
			} else if (dwarf_diename(&target)) {
				/* typedef struct X T; with X defined elsewhere */
				snprintf(t->alias[i], sizeof(t->alias[i]), "%s",
					 dwarf_diename(&target));
			}
		}
	}
}

static bool all_found(const struct dwarf_types *t)
{
	for (int i = T_NONE + 1; i < T_NTYPES; i++)
		if (!t->found[i])
			return false;
	return true;
}

/*
 * Scan the top-level DIEs of each CU (types at file scope are there) until
 * every type is found.  Returns 0, or -1 when the file has no DWARF.
 */
static int find_types(const char *path, struct dwarf_types *t, char *err, size_t errlen)
{
	Dwarf_Off off = 0, next;
	size_t hsize;
	int ncu = 0;

	memset(t, 0, sizeof(*t));
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0) {
		snprintf(err, errlen, "cannot open %s", path);
		return -1;
	}
	t->dw = dwarf_begin(t->fd, DWARF_C_READ);
	if (!t->dw) {
		snprintf(err, errlen, "%s has no DWARF: %s", path, dwarf_errmsg(-1));
		close(t->fd);
		return -1;
	}
	while (!all_found(t) && dwarf_nextcu(t->dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, child;

		if (dwarf_offdie(t->dw, off + hsize, &cu) && dwarf_child(&cu, &child) == 0) {
			do
				consider(t, &child);
			while (dwarf_siblingof(&child, &child) == 0);
		}
		off = next;
		ncu++;
	}
	if (ncu == 0) {
		snprintf(err, errlen, "%s: no compilation units in its DWARF", path);
		return -1;
	}
	return 0;
}

static void close_types(struct dwarf_types *t)
{
	if (t->dw)
		dwarf_end(t->dw);
	if (t->fd >= 0)
		close(t->fd);
}

static bool member_offset(Dwarf_Die *m, int64_t *off)
{
	Dwarf_Attribute a;
	Dwarf_Word v;
	Dwarf_Op *expr;
	size_t n;

	if (!dwarf_attr_integrate(m, DW_AT_data_member_location, &a)) {
		*off = 0; /* union members (and bitfields with data_bit_offset) */
		return true;
	}
	if (dwarf_formudata(&a, &v) == 0) {
		*off = (int64_t)v;
		return true;
	}
	if (dwarf_getlocation(&a, &expr, &n) == 0 && n == 1 && expr[0].atom == DW_OP_plus_uconst) {
		*off = (int64_t)expr[0].number;
		return true;
	}
	return false;
}

/*
 * Find member 'name' of the struct/union 'st' (also inside anonymous
 * struct/union members); *off gets its byte offset, *member its DIE.
 */
static bool find_member(Dwarf_Die *st, const char *name, int64_t *off, Dwarf_Die *member)
{
	Dwarf_Die m;

	if (dwarf_child(st, &m) != 0)
		return false;
	do {
		const char *mn;
		int64_t mo;

		if (dwarf_tag(&m) != DW_TAG_member || !member_offset(&m, &mo))
			continue;
		mn = dwarf_diename(&m);
		if (mn && strcmp(mn, name) == 0) {
			*off = mo;
			*member = m;
			return true;
		}
		if (!mn) {
			Dwarf_Attribute a;
			Dwarf_Die inner;
			int64_t io;
			if (dwarf_attr_integrate(&m, DW_AT_type, &a) && dwarf_formref_die(&a, &inner) &&
			    strip_type(&inner) && is_struct(dwarf_tag(&inner)) &&
			    find_member(&inner, name, &io, member)) {
				*off = mo + io;
				return true;
			}
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return false;
}

static bool member_type(Dwarf_Die *member, Dwarf_Die *type)
{
	Dwarf_Attribute a;

	return dwarf_attr_integrate(member, DW_AT_type, &a) && dwarf_formref_die(&a, type);
}

/*
 * Resolve a dotted member path ("interpreters.head") of type i: returns its
 * byte offset (or -1 when absent) and, if 'last' is given, the last member.
 */
static int64_t path_member(struct dwarf_types *t, enum dtype i, const char *path, Dwarf_Die *last)
{
	char buf[128], *save = NULL, *part;
	Dwarf_Die cur, m;
	int64_t total = 0;

	if (!t->found[i])
		return -1;
	cur = t->die[i];
	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		int64_t mo;

		if (!strip_type(&cur) || !is_struct(dwarf_tag(&cur)))
			return -1;
		if (!find_member(&cur, part, &mo, &m) || !member_type(&m, &cur))
			return -1;
		total += mo;
	}
	if (last)
		*last = m;
	return total;
}

static int64_t path_offset(struct dwarf_types *t, enum dtype i, const char *path)
{
	return path_member(t, i, path, NULL);
}

/* Bit offset of a bitfield member from the start of its struct (little-endian). */
static int64_t bit_offset(Dwarf_Die *m)
{
	Dwarf_Attribute a;
	Dwarf_Word v, bo, bs;
	int64_t byte_off;
	int bsz;

	if (dwarf_attr_integrate(m, DW_AT_data_bit_offset, &a) && dwarf_formudata(&a, &v) == 0)
		return (int64_t)v;          /* DWARF 4+ */
	if (!member_offset(m, &byte_off))
		return -1;
	if (dwarf_attr_integrate(m, DW_AT_bit_offset, &a) && dwarf_formudata(&a, &bo) == 0 &&
	    dwarf_attr_integrate(m, DW_AT_bit_size, &a) && dwarf_formudata(&a, &bs) == 0 &&
	    (bsz = dwarf_bytesize(m)) > 0)
		/* DWARF 2/3: counted from the most significant bit of the storage unit */
		return byte_off * 8 + (int64_t)bsz * 8 - (int64_t)bo - (int64_t)bs;
	return byte_off * 8;
}

static int64_t type_size(struct dwarf_types *t, enum dtype i)
{
	Dwarf_Word size;

	if (!t->found[i] || dwarf_aggregate_size(&t->die[i], &size) != 0)
		return -1;
	return (int64_t)size;
}

/* The smallest value among the named enumerators of enum type i, or -1. */
static int64_t enum_min(struct dwarf_types *t, enum dtype i, const char *const *names, size_t n)
{
	Dwarf_Die e;
	int64_t best = -1;

	if (!t->found[i] || dwarf_child(&t->die[i], &e) != 0)
		return -1;
	do {
		const char *en = dwarf_diename(&e);
		Dwarf_Attribute a;
		Dwarf_Sword v;

		if (dwarf_tag(&e) != DW_TAG_enumerator || !en)
			continue;
		for (size_t k = 0; k < n; k++)
			if (strcmp(en, names[k]) == 0 &&
			    dwarf_attr_integrate(&e, DW_AT_const_value, &a) &&
			    dwarf_formsdata(&a, &v) == 0 && (best < 0 || v < best))
				best = v;
	} while (dwarf_siblingof(&e, &e) == 0);
	return best;
}

/* ------------------------------------------------------------------ */
/* struct py_layout <-> DWARF                                          */

#define V(maj, min) ((maj) * 100 + (min))
#define ANY 0, 9999
#define R(lo, hi) lo, hi

struct alt {
	enum dtype type;
	const char *path;    /* NULL: sizeof(type) */
};

/* The int16_t offsets of struct py_layout. */
static const struct fieldmap {
	const char *field;
	size_t offset;       /* in struct py_layout */
	int from, to;        /* versions the field is defined for (pylayout.h) */
	struct alt alts[3];  /* first one the DWARF has wins */
} fields[] = {
#define F(f, range, ...) { #f, offsetof(struct py_layout, f), range, { __VA_ARGS__ } }
	F(runtime_interpreters_head, ANY, { T_RUNTIME, "interpreters.head" }),
	F(runtime_gil, R(V(3, 7), V(3, 11)), { T_RUNTIME, "ceval.gil" }),
	F(interp_ceval_gil, R(V(3, 12), 9999), { T_IS, "ceval.gil" }),
	F(runtime_gc_collecting, R(V(3, 7), V(3, 8)), { T_RUNTIME, "gc.collecting" }),
	F(interp_id, R(V(3, 7), 9999), { T_IS, "id" }),
	F(interp_gc_collecting, R(V(3, 9), 9999), { T_IS, "gc.collecting" }),
	F(interp_next, ANY, { T_IS, "next" }),
	F(interp_tstate_head, ANY, { T_IS, "tstate_head" }, { T_IS, "threads.head" }),
	F(tstate_next, ANY, { T_TS, "next" }),
	F(tstate_interp, ANY, { T_TS, "interp" }),
	F(tstate_frame, R(0, V(3, 10)), { T_TS, "frame" }),
	F(tstate_cframe, R(V(3, 11), V(3, 12)), { T_TS, "cframe" }),
	F(tstate_current_frame, R(V(3, 13), 9999), { T_TS, "current_frame" }),
	F(tstate_thread_id, ANY, { T_TS, "thread_id" }),
	F(tstate_native_thread_id, R(V(3, 11), 9999), { T_TS, "native_thread_id" }),
	F(cframe_current_frame, R(V(3, 11), V(3, 12)), { T_CFRAME, "current_frame" }),
	F(tstate_datastack_chunk, R(V(3, 11), 9999), { T_TS, "datastack_chunk" }),
	F(frame_back, R(0, V(3, 10)), { T_FRAME, "f_back" }),
	F(frame_code, R(0, V(3, 10)), { T_FRAME, "f_code" }),
	F(frame_lasti, R(0, V(3, 10)), { T_FRAME, "f_lasti" }),
	F(iframe_code, R(V(3, 11), 9999), { T_IFRAME, "f_code" }, { T_IFRAME, "f_executable" }),
	F(iframe_previous, R(V(3, 11), 9999), { T_IFRAME, "previous" }),
	F(iframe_instr, R(V(3, 11), 9999), { T_IFRAME, "prev_instr" }, { T_IFRAME, "instr_ptr" }),
	F(iframe_owner, R(V(3, 11), 9999), { T_IFRAME, "owner" }),
	F(iframe_tlbc_index, R(V(3, 14), 9999), { T_IFRAME, "tlbc_index" }),
	F(iframe_size, R(V(3, 11), 9999), { T_IFRAME, NULL }),
	F(code_filename, ANY, { T_CODE, "co_filename" }),
	F(code_name, ANY, { T_CODE, "co_name" }),
	F(code_firstlineno, ANY, { T_CODE, "co_firstlineno" }),
	F(code_linetable, ANY, { T_CODE, "co_linetable" }, { T_CODE, "co_lnotab" }),
	F(code_code_adaptive, R(V(3, 11), 9999), { T_CODE, "co_code_adaptive" }),
	F(code_firsttraceable, R(V(3, 11), 9999), { T_CODE, "_co_firsttraceable" }),
	F(code_tlbc, R(V(3, 14), 9999), { T_CODE, "co_tlbc" }),
	F(code_size, ANY, { T_CODE, NULL }),
	F(frame_localsplus, R(0, V(3, 10)), { T_FRAME, "f_localsplus" }),
	F(iframe_localsplus, R(V(3, 11), 9999), { T_IFRAME, "localsplus" }),
	F(code_argcount, ANY, { T_CODE, "co_argcount" }),
	F(code_kwonlyargcount, R(V(3, 0), 9999), { T_CODE, "co_kwonlyargcount" }),
	F(code_flags, ANY, { T_CODE, "co_flags" }),
	F(code_nlocals, R(0, V(3, 10)), { T_CODE, "co_nlocals" }),
	F(code_varnames, R(0, V(3, 10)), { T_CODE, "co_varnames" }),
	F(code_localsplusnames, R(V(3, 11), 9999), { T_CODE, "co_localsplusnames" }),
	F(code_localspluskinds, R(V(3, 11), 9999), { T_CODE, "co_localspluskinds" }),
	F(object_type, ANY, { T_OBJECT, "ob_type" }),
	F(type_name, ANY, { T_TYPE, "tp_name" }),
	F(tuple_item, ANY, { T_TUPLE, "ob_item" }),
	F(dict_used, ANY, { T_DICT, "ma_used" }),
	F(long_tag, ANY, { T_LONG, "long_value.lv_tag" }, { T_LONG, "ob_base.ob_size" },
	  { T_LONG, "ob_size" }),
	F(long_digits, ANY, { T_LONG, "long_value.ob_digit" }, { T_LONG, "ob_digit" }),
	F(var_size, ANY, { T_BYTES, "ob_base.ob_size" }, { T_STRING, "ob_size" }),
	F(bytes_sval, ANY, { T_BYTES, "ob_sval" }, { T_STRING, "ob_sval" }),
	F(unicode_length, ANY, { T_ASCII, "length" }),
	F(unicode_state, ANY, { T_ASCII, "state" }),
	F(unicode_ascii_size, ANY, { T_ASCII, NULL }),
	F(unicode_compact_size, ANY, { T_COMPACT, NULL }),
	F(interp_modules, ANY, { T_IS, "imports.modules" }, { T_IS, "modules" }),
	F(type_basicsize, ANY, { T_TYPE, "tp_basicsize" }),
	F(type_flags, ANY, { T_TYPE, "tp_flags" }),
	F(type_dictoffset, ANY, { T_TYPE, "tp_dictoffset" }),
	F(heaptype_cached_keys, R(V(3, 0), 9999), { T_HEAPTYPE, "ht_cached_keys" }),
	F(dict_keys, R(V(3, 0), 9999), { T_DICT, "ma_keys" }),
	F(dict_values, R(V(3, 0), 9999), { T_DICT, "ma_values" }),
	F(dict_mask, R(0, V(2, 99)), { T_DICT, "ma_mask" }),
	F(dict_table, R(0, V(2, 99)), { T_DICT, "ma_table" }),
	F(dictkeys_size, R(V(3, 0), 9999), { T_DICTKEYS, "dk_log2_size" },
	  { T_DICTKEYS, "dk_size" }),
	F(dictkeys_nentries, R(V(3, 0), 9999), { T_DICTKEYS, "dk_nentries" }),
	F(dictkeys_indices, R(V(3, 0), 9999), { T_DICTKEYS, "dk_indices" }),
#undef F
};

/*
 * The other fields of struct py_layout are checked one by one below
 * (family, free_threaded, iframe_owner_hidden, stackref_tag_bits,
 * unicode_kind_shift); major and minor name the table.
 */
#define OTHER_FIELDS 5
#define PY_LAYOUT_SIZE 152 /* sizeof(struct py_layout) when this map was written */

static int16_t table_value(const struct py_layout *l, const struct fieldmap *f)
{
	int16_t v;

	memcpy(&v, (const char *)l + f->offset, sizeof(v));
	return v;
}

static int64_t dwarf_value(struct dwarf_types *t, const struct fieldmap *f, const char **how)
{
	static char desc[128];

	for (size_t a = 0; a < ARRAY_SIZE(f->alts); a++) {
		const struct alt *alt = &f->alts[a];
		int64_t v;

		if (alt->type == T_NONE)
			break;
		v = alt->path ? path_offset(t, alt->type, alt->path) : type_size(t, alt->type);
		if (v >= 0) {
			if (alt->path)
				snprintf(desc, sizeof(desc), "%s.%s", type_names[alt->type].name,
					 alt->path);
			else
				snprintf(desc, sizeof(desc), "sizeof(%s)",
					 type_names[alt->type].name);
			*how = desc;
			return v;
		}
	}
	*how = "absent in DWARF";
	return -1;
}

struct build {
	char path[512];
	int major, minor;
};

struct report {
	char text[8192];
	size_t used;
	int bad, match;
};

static void check(struct report *r, const struct build *b, const char *field, long long table,
		  long long dwarf, const char *how)
{
	if (table == dwarf) {
		r->match++;
		return;
	}
	r->bad++;
	if (r->used < sizeof(r->text))
		r->used += (size_t)snprintf(r->text + r->used, sizeof(r->text) - r->used,
					    "\n  %d.%d %s: table %lld, DWARF %lld (%s)", b->major,
					    b->minor, field, table, dwarf, how);
}

/* The fields that are not plain offsets, as the DWARF implies them. */
static void check_others(struct report *r, const struct build *b, const struct py_layout *l,
			 struct dwarf_types *t)
{
	static const char *const hidden[] = { "FRAME_OWNED_BY_CSTACK",
					       "FRAME_OWNED_BY_INTERPRETER" };
	Dwarf_Die m, mt;
	int64_t v;
	int fam;

	/* family: which frame chain the thread state leads to */
	if (path_offset(t, T_TS, "current_frame") >= 0)
		fam = PY_FAMILY_313;
	else if (path_offset(t, T_TS, "cframe") >= 0 &&
		 path_offset(t, T_CFRAME, "current_frame") >= 0)
		fam = PY_FAMILY_311;
	else if (path_offset(t, T_TS, "frame") >= 0)
		fam = t->found[T_STRING] ? PY_FAMILY_27 : PY_FAMILY_36;
	else
		fam = -1;
	check(r, b, "family", (long long)l->family, fam,
	      "from struct _ts: current_frame / cframe / frame, and PyStringObject");

	/* free_threaded: the object header has ob_tid */
	check(r, b, "free_threaded", l->free_threaded, path_offset(t, T_OBJECT, "ob_tid") >= 0,
	      "struct _object.ob_tid present");

	/* iframe_owner_hidden: the first owner value that is not a Python frame */
	v = enum_min(t, T_FRAMEOWNER, hidden, ARRAY_SIZE(hidden));
	check(r, b, "iframe_owner_hidden", l->iframe_owner_hidden, v < 0 ? 0 : v,
	      "enum _frameowner: FRAME_OWNED_BY_CSTACK / _INTERPRETER, 0 if none");

	/* stackref_tag_bits: nonzero exactly when f_executable is not a pointer */
	v = 0;
	if (path_member(t, T_IFRAME, "f_executable", &m) >= 0 && member_type(&m, &mt) &&
	    strip_type(&mt) && dwarf_tag(&mt) != DW_TAG_pointer_type)
		v = l->stackref_tag_bits ? l->stackref_tag_bits : 1;
	check(r, b, "stackref_tag_bits", l->stackref_tag_bits, v,
	      "0 when _PyInterpreterFrame.f_executable is a pointer");

	/* unicode_kind_shift: the bit of 'kind' in PyASCIIObject.state */
	v = 0;
	if (path_member(t, T_ASCII, "state.kind", &m) >= 0)
		v = bit_offset(&m);
	check(r, b, "unicode_kind_shift", l->unicode_kind_shift, v,
	      "bit offset of PyASCIIObject.state.kind, 0 if none");
}

/* Compare table l with the DWARF types of build b; returns the mismatches, described in r. */
static int compare(const struct build *b, const struct py_layout *l, struct dwarf_types *t,
		   struct report *r, bool verbose)
{
	int ver = V(b->major, b->minor);

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct fieldmap *f = &fields[i];
		const char *how;
		int64_t dv;

		if (ver < f->from || ver > f->to) {
			dv = -1;
			how = "not used by this version (pylayout.h)";
		} else {
			dv = dwarf_value(t, f, &how);
		}
		if (verbose)
			print_message("  %d.%d %-26s table %5d DWARF %5lld  %s\n", b->major,
				      b->minor, f->field, table_value(l, f), (long long)dv, how);
		check(r, b, f->field, table_value(l, f), dv, how);
	}
	check_others(r, b, l, t);
	return r->bad;
}

/* Open the DWARF of b and check that the types every version has are there. */
static int open_build(const struct build *b, struct dwarf_types *t, char *err, size_t errlen)
{
	static const enum dtype always[] = { T_IS, T_TS, T_CODE, T_OBJECT };

	if (find_types(b->path, t, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(always); i++)
		if (!t->found[always[i]]) {
			snprintf(err, errlen, "%s: %s not found in the DWARF (lookup broken?)",
				 b->path, type_names[always[i]].name);
			close_types(t);
			return -1;
		}
	return 0;
}

static void test_build(void **state)
{
	const struct build *b = *state;
	const struct py_layout *l = py_layout_for(b->major, b->minor);
	static struct report r;
	struct dwarf_types t;
	char table[32] = "", err[700];
	int others = 0, caught = 0;

	if (!l)
		fail_msg("no built-in layout for %d.%d, found at %s", b->major, b->minor, b->path);
	if (l->major != b->major || l->minor > b->minor)
		fail_msg("py_layout_for(%d, %d) gave the %d.%d table", b->major, b->minor, l->major,
			 l->minor);
	if (open_build(b, &t, err, sizeof(err)) != 0)
		fail_msg("%s", err);

	/*
	 * The comparison must be able to fail: every other built-in table
	 * that differs from this one must disagree with this DWARF.
	 */
	for (size_t i = 0; py_layouts[i]; i++) {
		struct report other;
		if (py_layouts[i] == l)
			continue;
		others++;
		if (compare(b, py_layouts[i], &t, &other, false) > 0)
			caught++;
		else
			print_error("the %d.%d table also matches the DWARF of %s\n",
				    py_layouts[i]->major, py_layouts[i]->minor, b->path);
	}

	/* PYSPY_LAYOUT_VERBOSE=1: every field, with the DWARF member it came from */
	compare(b, l, &t, &r, getenv("PYSPY_LAYOUT_VERBOSE") != NULL);
	close_types(&t);
	assert_int_equal(caught, others);
	if (r.bad) {
		print_error("layout %d.%d vs DWARF of %s: %d mismatch(es):%s\n", b->major,
			    b->minor, b->path, r.bad, r.text);
		fail_msg("layout %d.%d: %d field(s) differ from the DWARF of %s", b->major,
			 b->minor, r.bad, b->path);
	}
	if (l->minor != b->minor)
		snprintf(table, sizeof(table), " (the %d.%d table)", l->major, l->minor);
	print_message("layout %d.%d%s vs DWARF of %s: %d fields match\n", b->major, b->minor,
		      table, b->path, r.match);
	assert_int_equal(r.match, (int)ARRAY_SIZE(fields) + OTHER_FIELDS);
}

static void test_no_pyenv(void **state)
{
	const char *allow = getenv("PYSPY_ALLOW_NO_PYENV");
	(void)state;

	if (allow && strcmp(allow, "1") == 0) {
		print_message("SKIPPED: no pyenv builds\n");
		skip();
	}
	fail_msg("no pyenv build found (%s/versions/*/lib/libpython*.so.1.0): the layout "
		 "tables cannot be checked; set PYSPY_ALLOW_NO_PYENV=1 to skip",
		 getenv("PYENV_ROOT") ? getenv("PYENV_ROOT") : "/root/.pyenv");
}

/* The map covers each int16_t slot of struct py_layout once, and no more. */
static void test_field_map_complete(void **state)
{
	(void)state;
	if (sizeof(struct py_layout) != PY_LAYOUT_SIZE)
		fail_msg("struct py_layout is %zu bytes, was %d: a field was added or removed; "
			 "update the map in test_layout_dwarf.c (and PY_LAYOUT_SIZE)",
			 sizeof(struct py_layout), PY_LAYOUT_SIZE);
	assert_int_equal(ARRAY_SIZE(fields), 67);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		for (size_t j = i + 1; j < ARRAY_SIZE(fields); j++)
			if (fields[i].offset == fields[j].offset)
				fail_msg("%s and %s map the same slot", fields[i].field,
					 fields[j].field);
}

int unit_layout_dwarf(void)
{
	enum { MAX_BUILDS = 64 };
	static struct build builds[MAX_BUILDS];
	static struct CMUnitTest tests[MAX_BUILDS + 2];
	static char names[MAX_BUILDS][64];
	const char *root = getenv("PYENV_ROOT");
	char pattern[512];
	glob_t g;
	size_t n = 0, nb = 0;

	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_field_map_complete);
	snprintf(pattern, sizeof(pattern), "%s/versions/*/lib/libpython*.so.1.0",
		 root && root[0] ? root : "/root/.pyenv");
	if (glob(pattern, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc && nb < MAX_BUILDS; i++) {
			const char *base = strrchr(g.gl_pathv[i], '/');
			struct build *b = &builds[nb];
			const char *v = strstr(g.gl_pathv[i], "/versions/");
			int vl = 0;

			base = base ? base + 1 : g.gl_pathv[i];
			if (sscanf(base, "libpython%d.%d", &b->major, &b->minor) != 2)
				continue;
			snprintf(b->path, sizeof(b->path), "%s", g.gl_pathv[i]);
			/* name the test after the build's directory */
			if (v) {
				v += strlen("/versions/");
				vl = (int)strcspn(v, "/");
			}
			snprintf(names[nb], sizeof(names[nb]), "test_layout_%.*s", vl, v ? v : "");
			tests[n++] = (struct CMUnitTest){ names[nb], test_build, NULL, NULL, b };
			nb++;
		}
		globfree(&g);
	}
	if (nb == 0)
		tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_no_pyenv);
	return _cmocka_run_group_tests("layout_dwarf", tests, n, NULL, NULL);
}
