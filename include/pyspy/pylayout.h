/*
 * pylayout.h - where CPython keeps what the profiler reads, per version.
 *
 * A struct py_layout holds the offset of every field the profiler reads,
 * for one CPython layout (-1 = the version has no such field).  One table
 * per layout lives in src/python/layout_table.c, named after the first
 * version with that layout; it is selected once at attach time.  From 3.13
 * the target publishes the same facts in _Py_DebugOffsets, which then
 * overrides the table (see debug_offsets.c).  The offsets were read from
 * the DWARF of each version's libpython (tools/gdb_offsets.py) and are
 * cross-checked by the test suite.
 *
 * Logic that truly differs between versions is a switch on 'family'.
 */
#ifndef PYSPY_PYLAYOUT_H
#define PYSPY_PYLAYOUT_H

#include <stdbool.h>
#include <stdint.h>

enum py_family {
	PY_FAMILY_27,   /* 2.7: PyFrameObject chain, PyStringObject names */
	PY_FAMILY_36,   /* 3.6-3.10: PyFrameObject chain, str names */
	PY_FAMILY_311,  /* 3.11-3.12: _PyInterpreterFrame via tstate->cframe */
	PY_FAMILY_313,  /* 3.13+: _PyInterpreterFrame via tstate->current_frame */
};

struct py_layout {
	int major, minor;       /* the version the table was made for */
	enum py_family family;
	bool free_threaded;     /* 3.13t+: other object header, no GIL */

	/* _PyRuntimeState (3.7+) */
	int16_t runtime_interpreters_head;
	int16_t runtime_gil;            /* 3.7-3.11: struct _gil_runtime_state */
	int16_t runtime_gc_collecting;  /* 3.7, 3.8: int gc.collecting (one collector) */

	/* PyInterpreterState */
	int16_t interp_next;
	int16_t interp_tstate_head;     /* tstate_head, or threads.head (3.12+) */
	int16_t interp_ceval_gil;       /* 3.12+: struct _gil_runtime_state * */
	int16_t interp_id;              /* 3.7+: int64_t id (0: the main interpreter) */
	int16_t interp_gc_collecting;   /* 3.9+: int gc.collecting (a collector each) */

	/* PyThreadState */
	int16_t tstate_next;
	int16_t tstate_interp;
	int16_t tstate_frame;           /* <= 3.10: PyFrameObject * */
	int16_t tstate_cframe;          /* 3.11, 3.12: _PyCFrame * */
	int16_t tstate_current_frame;   /* 3.13+: _PyInterpreterFrame * */
	int16_t tstate_thread_id;       /* pthread_t */
	int16_t tstate_native_thread_id;/* 3.11+: OS tid (target's namespace) */
	int16_t cframe_current_frame;   /* 3.11, 3.12 */
	int16_t tstate_datastack_chunk; /* 3.11+: _PyStackChunk *, then datastack_top */

	/* PyFrameObject (<= 3.10) */
	int16_t frame_back;
	int16_t frame_code;
	int16_t frame_lasti;            /* int; bytes (<=3.9) or code units (3.10) */

	/* _PyInterpreterFrame (3.11+) */
	int16_t iframe_code;            /* f_code, f_executable (3.13+) */
	int16_t iframe_previous;
	int16_t iframe_instr;           /* prev_instr (3.11, 3.12), instr_ptr (3.13+) */
	int16_t iframe_owner;           /* char */
	int16_t iframe_tlbc_index;      /* 3.14t+: int32, which thread-local bytecode */
	int16_t iframe_size;
	uint8_t iframe_owner_hidden;    /* owners >= this are not Python frames
					   (C-stack shims, 3.12+); 0 = none */
	uint8_t stackref_tag_bits;      /* 3.14+: f_executable is a tagged
					   _PyStackRef; mask these low bits */

	/* PyCodeObject */
	int16_t code_filename;
	int16_t code_name;
	int16_t code_firstlineno;       /* int */
	int16_t code_linetable;         /* co_lnotab (<= 3.9) or co_linetable */
	int16_t code_code_adaptive;     /* 3.11+: first code unit */
	int16_t code_firsttraceable;    /* 3.11+: int */
	int16_t code_tlbc;              /* 3.14t+: _PyCodeArray *co_tlbc */
	int16_t code_size;

	/* locals (dump --locals): where values and names are */
	int16_t frame_localsplus;       /* <= 3.10: PyObject *f_localsplus[] */
	int16_t iframe_localsplus;      /* 3.11+: localsplus[] (_PyStackRef 3.14+) */
	int16_t code_argcount;          /* int */
	int16_t code_kwonlyargcount;    /* int; 3.0+ */
	int16_t code_flags;             /* int: CO_VARARGS, CO_VARKEYWORDS */
	int16_t code_nlocals;           /* <= 3.10: int */
	int16_t code_varnames;          /* <= 3.10: tuple of local names */
	int16_t code_localsplusnames;   /* 3.11+: tuple */
	int16_t code_localspluskinds;   /* 3.11+: bytes */

	/* objects */
	int16_t object_type;            /* ob_type */
	int16_t type_name;              /* const char *tp_name */
	int16_t tuple_item;             /* ob_item[] of tuples (and lists' pointer) */
	int16_t dict_used;              /* ma_used */
	int16_t long_tag;               /* 3.12+: lv_tag; before, ob_size */
	int16_t long_digits;            /* uint32 digits of 30 bits */
	int16_t var_size;               /* ob_size of PyVarObject */
	int16_t bytes_sval;             /* PyBytesObject / PyStringObject data */
	int16_t unicode_length;
	int16_t unicode_state;
	uint8_t unicode_kind_shift;     /* bit of 'kind' in state: 2, or 8 when
					   3.14t made 'interned' a whole byte */
	int16_t unicode_ascii_size;     /* sizeof(PyASCIIObject) */
	int16_t unicode_compact_size;   /* sizeof(PyCompactUnicodeObject) */

	/* thread names (threading._active): modules, dicts, instance dicts */
	int16_t interp_modules;         /* sys.modules: modules, imports.modules (3.12+) */
	int16_t type_basicsize;         /* Py_ssize_t tp_basicsize */
	int16_t type_flags;             /* unsigned long tp_flags */
	int16_t type_dictoffset;        /* Py_ssize_t tp_dictoffset */
	int16_t heaptype_cached_keys;   /* 3.6+: shared keys of instance dicts */
	int16_t dict_keys;              /* 3.6+: ma_keys */
	int16_t dict_values;            /* 3.6+: ma_values (split table) */
	int16_t dict_mask;              /* 2.7: ma_mask (slots - 1) */
	int16_t dict_table;             /* 2.7: ma_table */
	int16_t dictkeys_size;          /* dk_size (3.6-3.10), dk_log2_size (3.11+) */
	int16_t dictkeys_nentries;      /* 3.6+: dk_nentries */
	int16_t dictkeys_indices;       /* 3.6+: dk_indices[] */
};

/* The built-in table for a version, or NULL when there is none. */
const struct py_layout *py_layout_for(int major, int minor);
/* Every built-in table, for tests; NULL-terminated. */
extern const struct py_layout *const py_layouts[];

#endif
