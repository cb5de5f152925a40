/*
 * layout_table.c - built-in CPython layouts (x86-64), one per layout.
 *
 * Values are the DWARF member offsets of each pyenv build's libpython
 * (tools/gdb_offsets.py prints them); tests/e2e/test_layout.py compares
 * this table with the DWARF of every build on the machine.  Internal
 * structs keep their layout within a minor release; that is what makes a
 * table per minor version valid for all its patch releases.
 */
#include "pyspy/pylayout.h"

#include <stddef.h>

/* Fields no version before 3.11 has. */
#define NO_IFRAME                                                         \
	.tstate_cframe = -1, .tstate_current_frame = -1,                  \
	.tstate_datastack_chunk = -1,                                     \
	.tstate_native_thread_id = -1, .cframe_current_frame = -1,        \
	.iframe_code = -1, .iframe_previous = -1, .iframe_instr = -1,     \
	.iframe_owner = -1, .iframe_size = -1, .iframe_tlbc_index = -1,   \
	.code_code_adaptive = -1, .code_firsttraceable = -1, .code_tlbc = -1

#define OBJECTS_3X                                                        \
	.object_type = 8, .var_size = 16, .bytes_sval = 32,               \
	.unicode_length = 16, .unicode_state = 32, .unicode_kind_shift = 2

/* PyTypeObject and PyDictObject keep these in every version (non-free-threaded). */
#define TYPES_DICTS                                                       \
	.type_basicsize = 32, .type_flags = 168, .type_dictoffset = 288

static const struct py_layout py27 = {
	.major = 2, .minor = 7, .family = PY_FAMILY_27,
	.runtime_interpreters_head = -1,
	.frame_localsplus = 376, .iframe_localsplus = -1, .code_argcount = 16,
	.code_kwonlyargcount = -1, .code_flags = 28, .code_nlocals = 20,
	.code_varnames = 56, .code_localsplusnames = -1, .code_localspluskinds = -1,
	.type_name = 24, .tuple_item = 24, .dict_used = 24, .long_tag = 16, .long_digits = 24,
	.runtime_gil = -1, .interp_ceval_gil = -1, .runtime_gc_collecting = -1,
	.interp_id = -1, .interp_gc_collecting = -1,
	.interp_next = 0, .interp_tstate_head = 8,
	.tstate_next = 0, .tstate_interp = 8, .tstate_frame = 16,
	.tstate_thread_id = 144,
	.frame_back = 24, .frame_code = 32, .frame_lasti = 120,
	.code_filename = 80, .code_name = 88, .code_firstlineno = 96,
	.code_linetable = 104, .code_size = 128,
	NO_IFRAME,
	/* PyStringObject: ob_size 16, ob_shash 24, ob_sstate 32, ob_sval 36 */
	.object_type = 8, .var_size = 16, .bytes_sval = 36,
	.unicode_length = -1, .unicode_state = -1,
	.unicode_ascii_size = -1, .unicode_compact_size = -1,
	TYPES_DICTS, .interp_modules = 16, .heaptype_cached_keys = -1,
	.dict_keys = -1, .dict_values = -1, .dict_mask = 32, .dict_table = 40,
	.dictkeys_size = -1, .dictkeys_nentries = -1, .dictkeys_indices = -1,
};

static const struct py_layout py36 = {
	.major = 3, .minor = 6, .family = PY_FAMILY_36,
	.runtime_interpreters_head = -1,   /* no _PyRuntime: interp_head */
	.frame_localsplus = 376, .iframe_localsplus = -1, .code_argcount = 16,
	.code_kwonlyargcount = 20, .code_flags = 32, .code_nlocals = 24,
	.code_varnames = 64, .code_localsplusnames = -1, .code_localspluskinds = -1,
	.type_name = 24, .tuple_item = 24, .dict_used = 16, .long_tag = 16, .long_digits = 24,
	.runtime_gil = -1, .interp_ceval_gil = -1, .runtime_gc_collecting = -1,
	.interp_id = -1, .interp_gc_collecting = -1,
	.interp_next = 0, .interp_tstate_head = 8,
	.tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24,
	.tstate_thread_id = 152,
	.frame_back = 24, .frame_code = 32, .frame_lasti = 120,
	.code_filename = 96, .code_name = 104, .code_firstlineno = 36,
	.code_linetable = 112, .code_size = 144,
	NO_IFRAME, OBJECTS_3X,
	.unicode_ascii_size = 48, .unicode_compact_size = 72,
	TYPES_DICTS, .interp_modules = 16, .heaptype_cached_keys = 856,
	.dict_keys = 32, .dict_values = 40, .dict_mask = -1, .dict_table = -1,
	.dictkeys_size = 8, .dictkeys_nentries = 32, .dictkeys_indices = 40,
};

static const struct py_layout py37 = {
	.major = 3, .minor = 7, .family = PY_FAMILY_36,
	.runtime_interpreters_head = 24,
	.frame_localsplus = 360, .iframe_localsplus = -1, .code_argcount = 16,
	.code_kwonlyargcount = 20, .code_flags = 32, .code_nlocals = 24,
	.code_varnames = 64, .code_localsplusnames = -1, .code_localspluskinds = -1,
	.type_name = 24, .tuple_item = 24, .dict_used = 16, .long_tag = 16, .long_digits = 24,
	.runtime_gil = 1264, .interp_ceval_gil = -1, .runtime_gc_collecting = 632,
	.interp_id = 16, .interp_gc_collecting = -1,
	.interp_next = 0, .interp_tstate_head = 8,
	.tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24,
	.tstate_thread_id = 176,
	.frame_back = 24, .frame_code = 32, .frame_lasti = 104,
	.code_filename = 96, .code_name = 104, .code_firstlineno = 36,
	.code_linetable = 112, .code_size = 144,
	NO_IFRAME, OBJECTS_3X,
	.unicode_ascii_size = 48, .unicode_compact_size = 72,
	TYPES_DICTS, .interp_modules = 40, .heaptype_cached_keys = 856,
	.dict_keys = 32, .dict_values = 40, .dict_mask = -1, .dict_table = -1,
	.dictkeys_size = 8, .dictkeys_nentries = 32, .dictkeys_indices = 40,
};

/* 3.8: positional-only args moved the code fields. */
static const struct py_layout py38 = {
	.major = 3, .minor = 8, .family = PY_FAMILY_36,
	.runtime_interpreters_head = 32,
	.frame_localsplus = 360, .iframe_localsplus = -1, .code_argcount = 16,
	.code_kwonlyargcount = 24, .code_flags = 36, .code_nlocals = 28,
	.code_varnames = 72, .code_localsplusnames = -1, .code_localspluskinds = -1,
	.type_name = 24, .tuple_item = 24, .dict_used = 16, .long_tag = 16, .long_digits = 24,
	.runtime_gil = 1152, .interp_ceval_gil = -1, .runtime_gc_collecting = 544,
	.interp_id = 16, .interp_gc_collecting = -1,
	.interp_next = 0, .interp_tstate_head = 8,
	.tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24,
	.tstate_thread_id = 176,
	.frame_back = 24, .frame_code = 32, .frame_lasti = 104,
	.code_filename = 104, .code_name = 112, .code_firstlineno = 40,
	.code_linetable = 120, .code_size = 176,
	NO_IFRAME, OBJECTS_3X,
	.unicode_ascii_size = 48, .unicode_compact_size = 72,
	TYPES_DICTS, .interp_modules = 56, .heaptype_cached_keys = 872,
	.dict_keys = 32, .dict_values = 40, .dict_mask = -1, .dict_table = -1,
	.dictkeys_size = 8, .dictkeys_nentries = 32, .dictkeys_indices = 40,
};

/* 3.9: as 3.8 but for the GIL, which moved within _PyRuntime. */
static const struct py_layout py39 = {
	.major = 3, .minor = 9, .family = PY_FAMILY_36,
	.runtime_interpreters_head = 32,
	.frame_localsplus = 360, .iframe_localsplus = -1, .code_argcount = 16,
	.code_kwonlyargcount = 24, .code_flags = 36, .code_nlocals = 28,
	.code_varnames = 72, .code_localsplusnames = -1, .code_localspluskinds = -1,
	.type_name = 24, .tuple_item = 24, .dict_used = 16, .long_tag = 16, .long_digits = 24,
	.runtime_gil = 352, .interp_ceval_gil = -1, .runtime_gc_collecting = -1,
	.interp_id = 24, .interp_gc_collecting = 816,
	.interp_next = 0, .interp_tstate_head = 8,
	.tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24,
	.tstate_thread_id = 176,
	.frame_back = 24, .frame_code = 32, .frame_lasti = 104,
	.code_filename = 104, .code_name = 112, .code_firstlineno = 40,
	.code_linetable = 120, .code_size = 176,
	NO_IFRAME, OBJECTS_3X,
	.unicode_ascii_size = 48, .unicode_compact_size = 72,
	TYPES_DICTS, .interp_modules = 856, .heaptype_cached_keys = 864,
	.dict_keys = 32, .dict_values = 40, .dict_mask = -1, .dict_table = -1,
	.dictkeys_size = 8, .dictkeys_nentries = 32, .dictkeys_indices = 40,
};

/* 3.10: co_linetable (PEP 626), f_lasti counts code units. */
static const struct py_layout py310 = {
	.major = 3, .minor = 10, .family = PY_FAMILY_36,
	.runtime_interpreters_head = 32,
	.frame_localsplus = 352, .iframe_localsplus = -1, .code_argcount = 16,
	.code_kwonlyargcount = 24, .code_flags = 36, .code_nlocals = 28,
	.code_varnames = 72, .code_localsplusnames = -1, .code_localspluskinds = -1,
	.type_name = 24, .tuple_item = 24, .dict_used = 16, .long_tag = 16, .long_digits = 24,
	.runtime_gil = 352, .interp_ceval_gil = -1, .runtime_gc_collecting = -1,
	.interp_id = 24, .interp_gc_collecting = 816,
	.interp_next = 0, .interp_tstate_head = 8,
	.tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24,
	.tstate_thread_id = 176,
	.frame_back = 24, .frame_code = 32, .frame_lasti = 96,
	.code_filename = 104, .code_name = 112, .code_firstlineno = 40,
	.code_linetable = 120, .code_size = 176,
	NO_IFRAME, OBJECTS_3X,
	.unicode_ascii_size = 48, .unicode_compact_size = 72,
	TYPES_DICTS, .interp_modules = 856, .heaptype_cached_keys = 872,
	.dict_keys = 32, .dict_values = 40, .dict_mask = -1, .dict_table = -1,
	.dictkeys_size = 8, .dictkeys_nentries = 32, .dictkeys_indices = 40,
};

static const struct py_layout py311 = {
	.major = 3, .minor = 11, .family = PY_FAMILY_311,
	.runtime_interpreters_head = 40,
	.frame_localsplus = -1, .iframe_localsplus = 72, .code_argcount = 56,
	.code_kwonlyargcount = 64, .code_flags = 48, .code_nlocals = -1,
	.code_varnames = -1, .code_localsplusnames = 96, .code_localspluskinds = 104,
	.type_name = 24, .tuple_item = 24, .dict_used = 16, .long_tag = 16, .long_digits = 24,
	.runtime_gil = 360, .interp_ceval_gil = -1, .runtime_gc_collecting = -1,
	.interp_id = 48, .interp_gc_collecting = 848,
	.interp_next = 0, .interp_tstate_head = 16,
	.tstate_next = 8, .tstate_interp = 16, .tstate_frame = -1,
	.tstate_cframe = 56, .tstate_current_frame = -1,
	.tstate_thread_id = 152, .tstate_native_thread_id = 160,
	.cframe_current_frame = 8, .tstate_datastack_chunk = 296,
	.frame_back = -1, .frame_code = -1, .frame_lasti = -1,
	.iframe_code = 32, .iframe_previous = 48, .iframe_instr = 56,
	.iframe_owner = 69, .iframe_size = 80, .iframe_tlbc_index = -1,
	.code_filename = 112, .code_name = 120, .code_firstlineno = 72,
	.code_linetable = 136, .code_code_adaptive = 184,
	.code_firsttraceable = 168, .code_tlbc = -1, .code_size = 192,
	OBJECTS_3X,
	.unicode_ascii_size = 48, .unicode_compact_size = 72,
	TYPES_DICTS, .interp_modules = 888, .heaptype_cached_keys = 872,
	.dict_keys = 32, .dict_values = 40, .dict_mask = -1, .dict_table = -1,
	.dictkeys_size = 8, .dictkeys_nentries = 24, .dictkeys_indices = 32,
};

/* 3.12: threads.head, f_code first in the frame, PyASCIIObject lost wstr. */
static const struct py_layout py312 = {
	.major = 3, .minor = 12, .family = PY_FAMILY_311,
	.runtime_interpreters_head = 40,
	.frame_localsplus = -1, .iframe_localsplus = 72, .code_argcount = 52,
	.code_kwonlyargcount = 60, .code_flags = 48, .code_nlocals = -1,
	.code_varnames = -1, .code_localsplusnames = 96, .code_localspluskinds = 104,
	.type_name = 24, .tuple_item = 24, .dict_used = 16, .long_tag = 16, .long_digits = 24,
	.runtime_gil = -1, .interp_ceval_gil = 384, .runtime_gc_collecting = -1,
	.interp_id = 8, .interp_gc_collecting = 312,
	.interp_next = 0, .interp_tstate_head = 72,
	.tstate_next = 8, .tstate_interp = 16, .tstate_frame = -1,
	.tstate_cframe = 56, .tstate_current_frame = -1,
	.tstate_thread_id = 136, .tstate_native_thread_id = 144,
	.cframe_current_frame = 0, .tstate_datastack_chunk = 232,
	.frame_back = -1, .frame_code = -1, .frame_lasti = -1,
	.iframe_code = 0, .iframe_previous = 8, .iframe_instr = 56,
	.iframe_owner = 70, .iframe_size = 80, .iframe_tlbc_index = -1,
	.iframe_owner_hidden = 3, /* FRAME_OWNED_BY_CSTACK */
	.code_filename = 112, .code_name = 120, .code_firstlineno = 68,
	.code_linetable = 136, .code_code_adaptive = 192,
	.code_firsttraceable = 176, .code_tlbc = -1, .code_size = 200,
	OBJECTS_3X,
	.unicode_ascii_size = 40, .unicode_compact_size = 56,
	TYPES_DICTS, .interp_modules = 944, .heaptype_cached_keys = 880,
	.dict_keys = 32, .dict_values = 40, .dict_mask = -1, .dict_table = -1,
	.dictkeys_size = 8, .dictkeys_nentries = 24, .dictkeys_indices = 32,
};

/* 3.13: _Py_DebugOffsets at the start of _PyRuntime overrides this. */
static const struct py_layout py313 = {
	.major = 3, .minor = 13, .family = PY_FAMILY_313,
	.runtime_interpreters_head = 632,
	.frame_localsplus = -1, .iframe_localsplus = 72, .code_argcount = 52,
	.code_kwonlyargcount = 60, .code_flags = 48, .code_nlocals = -1,
	.code_varnames = -1, .code_localsplusnames = 96, .code_localspluskinds = 104,
	.type_name = 24, .tuple_item = 24, .dict_used = 16, .long_tag = 16, .long_digits = 24,
	.runtime_gil = -1, .interp_ceval_gil = 16, .runtime_gc_collecting = -1,
	.interp_id = 7272, .interp_gc_collecting = 7600,
	.interp_next = 7264, .interp_tstate_head = 7344,
	.tstate_next = 8, .tstate_interp = 16, .tstate_frame = -1,
	.tstate_cframe = -1, .tstate_current_frame = 72,
	.tstate_thread_id = 152, .tstate_native_thread_id = 160,
	.cframe_current_frame = -1, .tstate_datastack_chunk = 232,
	.frame_back = -1, .frame_code = -1, .frame_lasti = -1,
	.iframe_code = 0, .iframe_previous = 8, .iframe_instr = 56,
	.iframe_owner = 70, .iframe_size = 80, .iframe_tlbc_index = -1,
	.iframe_owner_hidden = 3, /* FRAME_OWNED_BY_CSTACK */
	.code_filename = 112, .code_name = 120, .code_firstlineno = 68,
	.code_linetable = 136, .code_code_adaptive = 200,
	.code_firsttraceable = 184, .code_tlbc = -1, .code_size = 208,
	OBJECTS_3X,
	.unicode_ascii_size = 40, .unicode_compact_size = 56,
	TYPES_DICTS, .interp_modules = 7656, .heaptype_cached_keys = 880,
	.dict_keys = 32, .dict_values = 40, .dict_mask = -1, .dict_table = -1,
	.dictkeys_size = 8, .dictkeys_nentries = 24, .dictkeys_indices = 32,
};

const struct py_layout *const py_layouts[] = {
	&py27, &py36, &py37, &py38, &py39, &py310, &py311, &py312, &py313, NULL,
};

const struct py_layout *py_layout_for(int major, int minor)
{
	for (size_t i = 0; py_layouts[i]; i++)
		if (py_layouts[i]->major == major && py_layouts[i]->minor == minor)
			return py_layouts[i];
	return NULL;
}
