/*
 * debug_offsets.c - _Py_DebugOffsets, the layout a 3.13+ target publishes.
 *
 * From 3.13, _PyRuntime begins with a _Py_DebugOffsets table: the cookie
 * "xdebugpy", the version as PY_VERSION_HEX, whether the build is
 * free-threaded, then for each struct its size and the offsets of the
 * fields debuggers need.  It is remote memory, so it is validated before
 * use: cookie, plausible version, every struct size bounded, every field
 * inside its struct.  Only then does it override the layout; differences
 * with the built-in table are noted for --verbose.
 *
 * The table itself grows with each minor version.  Each form below is the
 * list of its uint64_t words, in order, as Include/internal/
 * pycore_runtime.h (3.13) and pycore_debug_offsets.h (3.14, 3.15) declare
 * them; "group.size" words give the size of the struct the group's other
 * words are offsets into, except the few that are sizes (is_size_word).  A version newer than every known form is read
 * with the newest form: new releases have so far only appended fields or
 * inserted them inside groups, and the validation plus the live checks of
 * the interpreter walk (back pointers, code object types) refuse a table
 * that does not fit.
 */
#include "pyspy/error.h"
#include "python_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const struct form {
	int minor;
	const char *words;
} forms[] = {
	{ 13, "cookie version free_threaded "
	      "runtime_state.size runtime_state.finalizing runtime_state.interpreters_head "
	      "interpreter_state.size interpreter_state.id interpreter_state.next "
	      "interpreter_state.threads_head interpreter_state.gc interpreter_state.imports_modules "
	      "interpreter_state.sysdict interpreter_state.builtins interpreter_state.ceval_gil "
	      "interpreter_state.gil_runtime_state interpreter_state.gil_runtime_state_enabled "
	      "interpreter_state.gil_runtime_state_locked interpreter_state.gil_runtime_state_holder "
	      "thread_state.size thread_state.prev thread_state.next thread_state.interp "
	      "thread_state.current_frame thread_state.thread_id thread_state.native_thread_id "
	      "thread_state.datastack_chunk thread_state.status "
	      "interpreter_frame.size interpreter_frame.previous interpreter_frame.executable "
	      "interpreter_frame.instr_ptr interpreter_frame.localsplus interpreter_frame.owner "
	      "code_object.size code_object.filename code_object.name code_object.qualname "
	      "code_object.linetable code_object.firstlineno code_object.argcount "
	      "code_object.localsplusnames code_object.localspluskinds code_object.co_code_adaptive "
	      "pyobject.size pyobject.ob_type "
	      "type_object.size type_object.tp_name type_object.tp_repr type_object.tp_flags "
	      "tuple_object.size tuple_object.ob_item tuple_object.ob_size "
	      "list_object.size list_object.ob_item list_object.ob_size "
	      "dict_object.size dict_object.ma_keys dict_object.ma_values "
	      "float_object.size float_object.ob_fval "
	      "long_object.size long_object.lv_tag long_object.ob_digit "
	      "bytes_object.size bytes_object.ob_size bytes_object.ob_sval "
	      "unicode_object.size unicode_object.state unicode_object.length "
	      "unicode_object.asciiobject_size "
	      "gc.size gc.collecting" },
	{ 14, "cookie version free_threaded "
	      "runtime_state.size runtime_state.finalizing runtime_state.interpreters_head "
	      "interpreter_state.size interpreter_state.id interpreter_state.next "
	      "interpreter_state.threads_head interpreter_state.threads_main interpreter_state.gc "
	      "interpreter_state.imports_modules interpreter_state.sysdict interpreter_state.builtins "
	      "interpreter_state.ceval_gil interpreter_state.gil_runtime_state "
	      "interpreter_state.gil_runtime_state_enabled interpreter_state.gil_runtime_state_locked "
	      "interpreter_state.gil_runtime_state_holder interpreter_state.code_object_generation "
	      "interpreter_state.tlbc_generation "
	      "thread_state.size thread_state.prev thread_state.next thread_state.interp "
	      "thread_state.current_frame thread_state.thread_id thread_state.native_thread_id "
	      "thread_state.datastack_chunk thread_state.status "
	      "interpreter_frame.size interpreter_frame.previous interpreter_frame.executable "
	      "interpreter_frame.instr_ptr interpreter_frame.localsplus interpreter_frame.owner "
	      "interpreter_frame.stackpointer interpreter_frame.tlbc_index "
	      "code_object.size code_object.filename code_object.name code_object.qualname "
	      "code_object.linetable code_object.firstlineno code_object.argcount "
	      "code_object.localsplusnames code_object.localspluskinds code_object.co_code_adaptive "
	      "code_object.co_tlbc "
	      "pyobject.size pyobject.ob_type "
	      "type_object.size type_object.tp_name type_object.tp_repr type_object.tp_flags "
	      "tuple_object.size tuple_object.ob_item tuple_object.ob_size "
	      "list_object.size list_object.ob_item list_object.ob_size "
	      "set_object.size set_object.used set_object.table set_object.mask "
	      "dict_object.size dict_object.ma_keys dict_object.ma_values "
	      "float_object.size float_object.ob_fval "
	      "long_object.size long_object.lv_tag long_object.ob_digit "
	      "bytes_object.size bytes_object.ob_size bytes_object.ob_sval "
	      "unicode_object.size unicode_object.state unicode_object.length "
	      "unicode_object.asciiobject_size "
	      "gc.size gc.collecting "
	      "gen_object.size gen_object.gi_name gen_object.gi_iframe gen_object.gi_frame_state "
	      "llist_node.next llist_node.prev "
	      "debugger_support.eval_breaker debugger_support.remote_debugger_support "
	      "debugger_support.remote_debugging_enabled debugger_support.debugger_pending_call "
	      "debugger_support.debugger_script_path debugger_support.debugger_script_path_size" },
	{ 15, "cookie version free_threaded "
	      "runtime_state.size runtime_state.finalizing runtime_state.interpreters_head "
	      "interpreter_state.size interpreter_state.id interpreter_state.next "
	      "interpreter_state.threads_head interpreter_state.threads_main interpreter_state.gc "
	      "interpreter_state.imports_modules interpreter_state.sysdict interpreter_state.builtins "
	      "interpreter_state.ceval_gil interpreter_state.gil_runtime_state "
	      "interpreter_state.gil_runtime_state_enabled interpreter_state.gil_runtime_state_locked "
	      "interpreter_state.gil_runtime_state_holder interpreter_state.code_object_generation "
	      "interpreter_state.tlbc_generation "
	      "thread_state.size thread_state.prev thread_state.next thread_state.interp "
	      "thread_state.current_frame thread_state.base_frame thread_state.last_profiled_frame "
	      "thread_state.last_profiled_frame_seq thread_state.thread_id "
	      "thread_state.native_thread_id thread_state.datastack_chunk thread_state.status "
	      "thread_state.holds_gil thread_state.gil_requested thread_state.current_exception "
	      "thread_state.exc_state "
	      "err_stackitem.exc_value "
	      "interpreter_frame.size interpreter_frame.previous interpreter_frame.executable "
	      "interpreter_frame.instr_ptr interpreter_frame.localsplus interpreter_frame.owner "
	      "interpreter_frame.stackpointer interpreter_frame.tlbc_index "
	      "code_object.size code_object.filename code_object.name code_object.qualname "
	      "code_object.linetable code_object.firstlineno code_object.argcount "
	      "code_object.localsplusnames code_object.localspluskinds code_object.co_code_adaptive "
	      "code_object.co_tlbc "
	      "pyobject.size pyobject.ob_type "
	      "type_object.size type_object.tp_name type_object.tp_repr type_object.tp_flags "
	      "type_object.tp_basicsize type_object.tp_dictoffset "
	      "heap_type_object.size heap_type_object.ht_cached_keys "
	      "tuple_object.size tuple_object.ob_item tuple_object.ob_size "
	      "list_object.size list_object.ob_item list_object.ob_size "
	      "set_object.size set_object.used set_object.table set_object.mask "
	      "dict_object.size dict_object.ma_keys dict_object.ma_values "
	      "float_object.size float_object.ob_fval "
	      "long_object.size long_object.lv_tag long_object.ob_digit "
	      "bytes_object.size bytes_object.ob_size bytes_object.ob_sval "
	      "unicode_object.size unicode_object.state unicode_object.length "
	      "unicode_object.asciiobject_size unicode_object.compactunicodeobject_size "
	      "gc.size gc.collecting gc.frame gc.generation_stats_size gc.generation_stats "
	      "gen_object.size gen_object.gi_name gen_object.gi_iframe gen_object.gi_frame_state "
	      "llist_node.next llist_node.prev "
	      "debugger_support.eval_breaker debugger_support.remote_debugger_support "
	      "debugger_support.remote_debugging_enabled debugger_support.debugger_pending_call "
	      "debugger_support.debugger_script_path debugger_support.debugger_script_path_size" },
};

#define NFORMS (sizeof(forms) / sizeof(forms[0]))
#define MAX_WORDS 160
#define MAX_STRUCT (16u << 20)

/* The fields pyspy-c takes from the table, and where they go. */
static const struct use {
	const char *word;
	size_t dst;      /* offsetof(struct py_layout, ...) */
	unsigned width;  /* bytes the field occupies in its struct */
} uses[] = {
#define U(w, f, n) { w, offsetof(struct py_layout, f), n }
	U("runtime_state.interpreters_head", runtime_interpreters_head, 8),
	U("interpreter_state.next", interp_next, 8),
	U("interpreter_state.threads_head", interp_tstate_head, 8),
	U("interpreter_state.ceval_gil", interp_ceval_gil, 8),
	U("interpreter_state.id", interp_id, 8),
	U("thread_state.next", tstate_next, 8),
	U("thread_state.interp", tstate_interp, 8),
	U("thread_state.current_frame", tstate_current_frame, 8),
	U("thread_state.thread_id", tstate_thread_id, 8),
	U("thread_state.native_thread_id", tstate_native_thread_id, 8),
	/* datastack_top follows datastack_chunk in every version so far */
	U("thread_state.datastack_chunk", tstate_datastack_chunk, 16),
	U("interpreter_frame.previous", iframe_previous, 8),
	U("interpreter_frame.executable", iframe_code, 8),
	U("interpreter_frame.instr_ptr", iframe_instr, 8),
	U("interpreter_frame.owner", iframe_owner, 1),
	U("code_object.filename", code_filename, 8),
	U("code_object.name", code_name, 8),
	U("code_object.linetable", code_linetable, 8),
	U("code_object.firstlineno", code_firstlineno, 4),
	U("code_object.co_code_adaptive", code_code_adaptive, 2),
	U("pyobject.ob_type", object_type, 8),
	U("type_object.tp_name", type_name, 8),
	U("tuple_object.ob_item", tuple_item, 8),
	U("long_object.lv_tag", long_tag, 8),
	U("long_object.ob_digit", long_digits, 4),
	U("interpreter_frame.localsplus", iframe_localsplus, 8),
	U("code_object.argcount", code_argcount, 4),
	U("code_object.localsplusnames", code_localsplusnames, 8),
	U("code_object.localspluskinds", code_localspluskinds, 8),
	U("bytes_object.ob_size", var_size, 8),
	U("bytes_object.ob_sval", bytes_sval, 1),
	U("unicode_object.state", unicode_state, 4),
	U("unicode_object.length", unicode_length, 8),
	U("interpreter_state.imports_modules", interp_modules, 8),
	U("type_object.tp_flags", type_flags, 8),
	U("dict_object.ma_keys", dict_keys, 8),
	U("dict_object.ma_values", dict_values, 8),
#undef U
};

struct table {
	const struct form *form;
	const char *names[MAX_WORDS];
	size_t lens[MAX_WORDS];
	size_t n;
	uint64_t w[MAX_WORDS];
};

static void split(struct table *t)
{
	const char *p = t->form->words;

	t->n = 0;
	while (*p && t->n < MAX_WORDS) {
		size_t len = strcspn(p, " ");
		t->names[t->n] = p;
		t->lens[t->n++] = len;
		p += len;
		while (*p == ' ')
			p++;
	}
}

static int word_index(const struct table *t, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < t->n; i++)
		if (t->lens[i] == len && memcmp(t->names[i], name, len) == 0)
			return (int)i;
	return -1;
}

/* The word giving the size of the struct that word i is an offset into. */
static int size_index(const struct table *t, size_t i)
{
	const char *dot = memchr(t->names[i], '.', t->lens[i]);
	size_t glen;
	char name[64];

	if (!dot)
		return -1;
	glen = (size_t)(dot - t->names[i]);
	if (glen + 6 > sizeof(name))
		return -1;
	memcpy(name, t->names[i], glen);
	memcpy(name + glen, ".size", 6);
	return word_index(t, name);
}

static void note(char *diag, size_t dlen, const char *what)
{
	size_t used = strnlen(diag, dlen);

	if (used + 3 < dlen)
		snprintf(diag + used, dlen - used, "%s%s", used ? "; " : "", what);
}

/* Words that are sizes of other structs, not offsets into their group's. */
static bool is_size_word(const struct table *t, size_t i)
{
	static const char *const sizes[] = {
		"unicode_object.asciiobject_size", "unicode_object.compactunicodeobject_size",
		"gc.generation_stats_size",
	};

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		if (strlen(sizes[k]) == t->lens[i] && memcmp(sizes[k], t->names[i], t->lens[i]) == 0)
			return true;
	return false;
}

/* Every size plausible, every offset inside its struct. */
static int validate(const struct table *t, char *diag, size_t dlen)
{
	char msg[160];

	for (size_t i = 3; i < t->n; i++) {
		int si = size_index(t, i);
		uint64_t size;

		if (si < 0)
			continue; /* groups without a size (offsets into other structs) */
		if ((size_t)si != i && is_size_word(t, i))
			continue;
		size = t->w[si];
		if ((size_t)si == i) {
			if (size == 0 || size > MAX_STRUCT) {
				snprintf(msg, sizeof(msg), "%.*s = %llu is not a plausible size",
					 (int)t->lens[i], t->names[i], (unsigned long long)size);
				note(diag, dlen, msg);
				return -1;
			}
			continue;
		}
		if (t->w[i] >= size) {
			snprintf(msg, sizeof(msg), "%.*s = %llu lies outside its struct (size %llu)",
				 (int)t->lens[i], t->names[i], (unsigned long long)t->w[i],
				 (unsigned long long)size);
			note(diag, dlen, msg);
			return -1;
		}
	}
	return 0;
}

static int16_t *slot(struct py_layout *l, size_t dst)
{
	return (int16_t *)((char *)l + dst);
}

/* Set a layout field, noting a disagreement with the built-in table. */
static void set(struct py_layout *l, const char *name, int16_t *field, int64_t value,
		bool have_table, char *diag, size_t dlen)
{
	char msg[160];

	if (have_table && *field >= 0 && *field != value) {
		snprintf(msg, sizeof(msg), "%s: built-in table %d, target %lld (using the target's)",
			 name, *field, (long long)value);
		note(diag, dlen, msg);
	}
	(void)l;
	*field = (int16_t)value;
}

static int get(const struct table *t, const char *name, uint64_t *out)
{
	int i = word_index(t, name);

	if (i < 0)
		return -1;
	*out = t->w[i];
	return 0;
}

int py_debug_offsets_apply(const uint8_t *buf, size_t len, struct py_layout *l,
			   uint64_t *version_hex, char *diag, size_t dlen)
{
	struct table t;
	struct py_layout n;
	bool have_table;
	uint64_t version, ft, v;
	int major, minor;
	char copy[512];

	if (dlen)
		diag[0] = '\0';
	if (len < 24 || memcmp(buf, "xdebugpy", 8) != 0)
		return perr_set(PERR_NOTPY, "no _Py_DebugOffsets cookie at _PyRuntime");
	memcpy(&version, buf + 8, 8);
	memcpy(&ft, buf + 16, 8);
	major = (int)((version >> 24) & 0xff);
	minor = (int)((version >> 16) & 0xff);
	if (major != 3 || minor < 13 || minor > 99 || (version >> 32) != 0)
		return perr_set(PERR_VERSION, "implausible version 0x%llx in _Py_DebugOffsets",
				(unsigned long long)version);
	*version_hex = version;
	/* Cross-check only against a table made for this very version. */
	have_table = l->major == major && l->minor == minor;
	if (ft > 1)
		return perr_set(PERR_VERSION, "corrupt _Py_DebugOffsets (free_threaded = %llu)",
				(unsigned long long)ft);

	t.form = &forms[NFORMS - 1];
	for (size_t i = 0; i < NFORMS; i++)
		if (forms[i].minor == minor)
			t.form = &forms[i];
	split(&t);
	if (len < t.n * 8)
		return perr_set(PERR_VERSION, "_Py_DebugOffsets table cut short (%zu bytes)", len);
	memcpy(t.w, buf, t.n * 8);
	if (validate(&t, diag, dlen) != 0) {
		snprintf(copy, sizeof(copy), "%s", diag);
		return perr_set(PERR_VERSION, "corrupt _Py_DebugOffsets in the target: %s", copy);
	}

	n = *l;
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		int wi = word_index(&t, uses[i].word), si;
		if (wi < 0)
			return perr_set(PERR_VERSION, "_Py_DebugOffsets lacks %s", uses[i].word);
		si = size_index(&t, (size_t)wi);
		if (t.w[wi] > INT16_MAX || (si >= 0 && t.w[wi] + uses[i].width > t.w[si])) {
			snprintf(copy, sizeof(copy), "corrupt _Py_DebugOffsets in the target: "
				 "%s = %llu", uses[i].word, (unsigned long long)t.w[wi]);
			return perr_set(PERR_VERSION, "%s", copy);
		}
		set(&n, uses[i].word, slot(&n, uses[i].dst), (int64_t)t.w[wi], have_table,
		    diag, dlen);
	}
	/* Struct sizes read whole, bounded to what one read should copy. */
	if (get(&t, "interpreter_frame.size", &v) || v > 4096 || v < (uint64_t)n.iframe_owner + 1)
		return perr_set(PERR_VERSION, "implausible _PyInterpreterFrame size in _Py_DebugOffsets");
	set(&n, "interpreter_frame.size", &n.iframe_size, (int64_t)v, have_table, diag, dlen);
	if (get(&t, "code_object.size", &v) || v > 4096 || v < (uint64_t)n.code_code_adaptive)
		return perr_set(PERR_VERSION, "implausible code object size in _Py_DebugOffsets");
	set(&n, "code_object.size", &n.code_size, (int64_t)v, have_table, diag, dlen);
	if (get(&t, "unicode_object.asciiobject_size", &v) || v < 16 || v > 256)
		return perr_set(PERR_VERSION, "implausible PyASCIIObject size in _Py_DebugOffsets");
	set(&n, "unicode.ascii_size", &n.unicode_ascii_size, (int64_t)v, have_table, diag, dlen);
	/* PyCompactUnicodeObject adds utf8_length and utf8 (3.12+). */
	if (get(&t, "unicode_object.compactunicodeobject_size", &v) != 0)
		v = (uint64_t)n.unicode_ascii_size + 16;
	if (v < (uint64_t)n.unicode_ascii_size || v > 256)
		return perr_set(PERR_VERSION, "implausible PyCompactUnicodeObject size");
	set(&n, "unicode.compact_size", &n.unicode_compact_size, (int64_t)v, have_table, diag, dlen);

	/*
	 * Thread names read instance dicts: 3.15 publishes where; before, the
	 * basic size and dict offset have not moved since 2.7, and a heap
	 * type's cached keys follow PyTypeObject, the five method suites
	 * (as_async of 4 pointers since 3.10, as_number 36, as_mapping 3,
	 * as_sequence 10, as_buffer 2) and ht_name, ht_slots, ht_qualname.
	 */
	if (get(&t, "heap_type_object.ht_cached_keys", &v) == 0) {
		uint64_t b, d;
		if (get(&t, "type_object.tp_basicsize", &b) || get(&t, "type_object.tp_dictoffset", &d) ||
		    v > 4096 || b > 4096 || d > 4096)
			return perr_set(PERR_VERSION, "implausible type offsets in _Py_DebugOffsets");
		set(&n, "heap_type.ht_cached_keys", &n.heaptype_cached_keys, (int64_t)v, have_table,
		    diag, dlen);
		set(&n, "type.tp_basicsize", &n.type_basicsize, (int64_t)b, have_table, diag, dlen);
		set(&n, "type.tp_dictoffset", &n.type_dictoffset, (int64_t)d, have_table, diag, dlen);
	} else if (get(&t, "type_object.size", &v) == 0 && v <= 2048) {
		set(&n, "heap_type.ht_cached_keys", &n.heaptype_cached_keys,
		    (int64_t)v + (4 + 36 + 3 + 10 + 2 + 3) * 8, have_table, diag, dlen);
	}
	/* The collector's flag: an int in the interpreter's gc state. */
	{
		uint64_t g, c, gs, is;
		if (get(&t, "interpreter_state.gc", &g) || get(&t, "gc.collecting", &c) ||
		    get(&t, "gc.size", &gs) || get(&t, "interpreter_state.size", &is) ||
		    c + 4 > gs || g + gs > is || g + c > INT16_MAX)
			return perr_set(PERR_VERSION, "implausible gc offsets in _Py_DebugOffsets");
		set(&n, "interpreter_state.gc + gc.collecting", &n.interp_gc_collecting,
		    (int64_t)(g + c), have_table, diag, dlen);
	}
	n.runtime_gc_collecting = -1;
	n.free_threaded = ft == 1;
	n.iframe_tlbc_index = -1;
	n.code_tlbc = -1;
	if (n.free_threaded && get(&t, "interpreter_frame.tlbc_index", &v) == 0) {
		uint64_t c;
		if (get(&t, "code_object.co_tlbc", &c) != 0 || v > 4096 || c > 4096)
			return perr_set(PERR_VERSION, "implausible thread-local bytecode offsets");
		n.iframe_tlbc_index = (int16_t)v;
		n.code_tlbc = (int16_t)c;
	}
	/*
	 * Not in the table: _co_firsttraceable.  From 3.13 it is followed by
	 * co_extra and then (3.14t+) co_tlbc, then co_code_adaptive, on every
	 * 64-bit build (Include/cpython/code.h, _PyCode_DEF).
	 */
	v = (uint64_t)(n.code_tlbc > 0 ? n.code_tlbc : n.code_code_adaptive);
	if (v < 16 + (uint64_t)n.code_firstlineno + 4)
		return perr_set(PERR_VERSION, "implausible co_code_adaptive offset in _Py_DebugOffsets");
	set(&n, "code._co_firsttraceable", &n.code_firsttraceable, (int64_t)v - 16, have_table,
	    diag, dlen);
	/* 3.14 made f_executable a _PyStackRef with up to two tag bits. */
	n.stackref_tag_bits = minor >= 14 ? 3 : 0;
	/* 3.12, 3.13: FRAME_OWNED_BY_CSTACK = 3; 3.14+: FRAME_OWNED_BY_INTERPRETER = 3 and up. */
	n.iframe_owner_hidden = 3;
	/* 3.14t made PyASCIIObject.state.interned a whole byte. */
	n.unicode_kind_shift = n.free_threaded && minor >= 14 ? 8 : 2;
	n.family = PY_FAMILY_313;
	n.runtime_gil = -1;
	n.frame_localsplus = n.code_nlocals = n.code_varnames = -1;
	/*
	 * Not in the table: co_flags and co_kwonlyargcount sit 4 before and 8
	 * after co_argcount in every version from 3.11 (Include/cpython/
	 * code.h); 3.14 also marks arguments in co_localspluskinds.
	 */
	n.code_flags = (int16_t)(n.code_argcount - 4);
	n.code_kwonlyargcount = (int16_t)(n.code_argcount + 8);
	n.tstate_frame = n.tstate_cframe = n.cframe_current_frame = -1;
	n.frame_back = n.frame_code = n.frame_lasti = -1;
	n.major = major;
	n.minor = minor;
	*l = n;
	return 0;
}

int py_debug_offsets_word(const uint8_t *buf, size_t len, const char *word, uint64_t *out)
{
	struct table t;
	uint64_t version;
	int minor;

	if (len < 24 || memcmp(buf, "xdebugpy", 8) != 0)
		return -PERR_VERSION;
	memcpy(&version, buf + 8, 8);
	minor = (int)((version >> 16) & 0xff);
	t.form = &forms[NFORMS - 1];
	for (size_t i = 0; i < NFORMS; i++)
		if (forms[i].minor == minor)
			t.form = &forms[i];
	split(&t);
	if (len < t.n * 8)
		return -PERR_VERSION;
	memcpy(t.w, buf, t.n * 8);
	return get(&t, word, out) == 0 ? 0 : -PERR_VERSION;
}
