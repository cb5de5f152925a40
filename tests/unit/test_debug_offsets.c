/*
 * test_debug_offsets.c - py_debug_offsets_apply() (src/python/debug_offsets.c)
 * on a _Py_DebugOffsets table as CPython 3.13.0 publishes it, and on every
 * kind of corruption of it.
 *
 * The table below mirrors struct _Py_DebugOffsets of 3.13
 * (Include/internal/pycore_runtime.h) member for member, filled with the
 * values of the 3.13.0 x86-64 build (gdb -batch -ex 'print
 * _PyRuntime.debug_offsets' libpython3.13.so.1.0).
 */
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pyspy/pylayout.h"
#include "../../src/python/python_internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* struct _Py_DebugOffsets of CPython 3.13, as in pycore_runtime.h. */
struct debug_offsets_313 {
	char cookie[8];
	uint64_t version;
	uint64_t free_threaded;
	struct {
		uint64_t size, finalizing, interpreters_head;
	} runtime_state;
	struct {
		uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins,
			ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
			gil_runtime_state_locked, gil_runtime_state_holder;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id,
			datastack_chunk, status;
	} thread_state;
	struct {
		uint64_t size, previous, executable, instr_ptr, localsplus, owner;
	} interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable, firstlineno, argcount,
			localsplusnames, localspluskinds, co_code_adaptive;
	} code_object;
	struct {
		uint64_t size, ob_type;
	} pyobject;
	struct {
		uint64_t size, tp_name, tp_repr, tp_flags;
	} type_object;
	struct {
		uint64_t size, ob_item, ob_size;
	} tuple_object;
	struct {
		uint64_t size, ob_item, ob_size;
	} list_object;
	struct {
		uint64_t size, ma_keys, ma_values;
	} dict_object;
	struct {
		uint64_t size, ob_fval;
	} float_object;
	struct {
		uint64_t size, lv_tag, ob_digit;
	} long_object;
	struct {
		uint64_t size, ob_size, ob_sval;
	} bytes_object;
	struct {
		uint64_t size, state, length, asciiobject_size;
	} unicode_object;
	struct {
		uint64_t size, collecting;
	} gc;
};

/* 73 words in 3.13; the code under test reads exactly these. */
_Static_assert(sizeof(struct debug_offsets_313) == 73 * 8, "3.13 _Py_DebugOffsets is 584 bytes");

#define PY_3_13_0_HEX 0x030d00f0ull /* 51183856 */

static const struct debug_offsets_313 real_313 = {
	.cookie = { 'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y' },
	.version = PY_3_13_0_HEX,
	.free_threaded = 0,
	.runtime_state = { 283320, 608, 632 },
	.interpreter_state = { 194968, 7272, 7264, 7344, 7400, 7656, 7640, 7648, 16, 7752, 0,
			       7768, 7760 },
	.thread_state = { 304, 0, 8, 16, 72, 152, 160, 232, 32 },
	.interpreter_frame = { 80, 8, 0, 56, 72, 70 },
	.code_object = { 208, 112, 120, 128, 136, 68, 52, 96, 104, 200 },
	.pyobject = { 16, 8 },
	.type_object = { 416, 24, 88, 168 },
	.tuple_object = { 32, 24, 16 },
	.list_object = { 40, 24, 16 },
	.dict_object = { 48, 32, 40 },
	.float_object = { 24, 16 },
	.long_object = { 32, 16, 24 },
	.bytes_object = { 40, 16, 32 },
	.unicode_object = { 64, 32, 16, 40 },
	.gc = { 240, 200 },
};

/* Every struct of the table: where its size is, how many fields follow. */
struct tstruct {
	const char *name;
	size_t off;       /* byte offset of its 'size' word */
	int nfields;
	int used;         /* does debug_offsets.c read any of it? */
};

#define TS(m, n, u) { #m, offsetof(struct debug_offsets_313, m), n, u }
static const struct tstruct structs[] = {
	TS(runtime_state, 2, 1),
	TS(interpreter_state, 12, 1),
	TS(thread_state, 8, 1),
	TS(interpreter_frame, 5, 1),
	TS(code_object, 9, 1),
	TS(pyobject, 1, 1),
	TS(type_object, 3, 0),
	TS(tuple_object, 2, 0),
	TS(list_object, 2, 0),
	TS(dict_object, 2, 0),
	TS(float_object, 1, 0),
	TS(long_object, 2, 0),
	TS(bytes_object, 2, 1),
	TS(unicode_object, 3, 1),
	TS(gc, 1, 1),
};
#undef TS

/*
 * The fields debug_offsets.c reads (struct, index after 'size'), i.e. those
 * that end up in struct py_layout.  Index 1 is the first field.
 */
static const struct {
	size_t s;        /* index into structs[] */
	int idx;
	const char *name;
} used_fields[] = {
	{ 0, 2, "runtime_state.interpreters_head" },
	{ 1, 2, "interpreter_state.next" },
	{ 1, 1, "interpreter_state.id" },
	{ 1, 3, "interpreter_state.threads_head" },
	{ 1, 4, "interpreter_state.gc" },
	{ 2, 2, "thread_state.next" },
	{ 2, 3, "thread_state.interp" },
	{ 2, 4, "thread_state.current_frame" },
	{ 2, 5, "thread_state.thread_id" },
	{ 2, 6, "thread_state.native_thread_id" },
	{ 2, 7, "thread_state.datastack_chunk" },
	{ 3, 1, "interpreter_frame.previous" },
	{ 3, 2, "interpreter_frame.executable" },
	{ 3, 3, "interpreter_frame.instr_ptr" },
	{ 3, 5, "interpreter_frame.owner" },
	{ 4, 1, "code_object.filename" },
	{ 4, 2, "code_object.name" },
	{ 4, 4, "code_object.linetable" },
	{ 4, 5, "code_object.firstlineno" },
	{ 4, 9, "code_object.co_code_adaptive" },
	{ 5, 1, "pyobject.ob_type" },
	{ 12, 1, "bytes_object.ob_size" },
	{ 12, 2, "bytes_object.ob_sval" },
	{ 13, 1, "unicode_object.state" },
	{ 13, 2, "unicode_object.length" },
	{ 14, 1, "gc.collecting" },
};

/* Every field of struct py_layout, to compare layouts field by field. */
#define LAYOUT_FIELDS(X)                                                       \
	X(runtime_interpreters_head) X(interp_next) X(interp_tstate_head)     \
	X(tstate_next) X(tstate_interp) X(tstate_frame) X(tstate_cframe)      \
	X(tstate_current_frame) X(tstate_thread_id) X(tstate_native_thread_id) \
	X(cframe_current_frame) X(tstate_datastack_chunk) X(frame_back) X(frame_code) X(frame_lasti)    \
	X(iframe_code) X(iframe_previous) X(iframe_instr) X(iframe_owner)     \
	X(iframe_size) X(code_filename) X(code_name) X(code_firstlineno)      \
	X(code_linetable) X(code_code_adaptive) X(code_firsttraceable)        \
	X(code_size) X(object_type) X(var_size) X(bytes_sval)                 \
	X(unicode_length) X(unicode_state) X(unicode_ascii_size)              \
	X(unicode_compact_size) X(major) X(minor) X(family) X(free_threaded)  \
	X(iframe_tlbc_index) X(code_tlbc) X(iframe_owner_hidden)              \
	X(stackref_tag_bits) X(unicode_kind_shift)                            \
	X(interp_id) X(interp_gc_collecting) X(runtime_gc_collecting)

/* "" when equal, else the differing fields (static buffer). */
static const char *layout_diff(const struct py_layout *a, const struct py_layout *b)
{
	static char out[1024];
	size_t n = 0;

	out[0] = '\0';
#define CMP(f)                                                                   \
	if (a->f != b->f && n < sizeof(out))                                     \
		n += (size_t)snprintf(out + n, sizeof(out) - n, " %s: %d vs %d", #f, \
				      (int)a->f, (int)b->f);
	LAYOUT_FIELDS(CMP)
#undef CMP
	return out;
}

#define assert_layout_equal(a, b)                                                \
	do {                                                                     \
		const char *d_ = layout_diff((a), (b));                          \
		if (d_[0])                                                       \
			fail_msg("layouts differ:%s", d_);                       \
	} while (0)

static uint64_t *word(struct debug_offsets_313 *t, size_t byte_off)
{
	return (uint64_t *)((char *)t + byte_off);
}

static const struct py_layout *builtin_313(void)
{
	const struct py_layout *l = py_layout_for(3, 13);

	assert_non_null(l);
	return l;
}

/*
 * Apply 'len' bytes of 'table' (an exact-size heap copy, so ASan sees any
 * read past 'len') to a copy of 'start'; 'diag' gets the notes.
 */
static int apply(const void *table, size_t len, const struct py_layout *start,
		 struct py_layout *out, char *diag, size_t dlen, uint64_t *vh)
{
	uint8_t *buf = malloc(len ? len : 1);
	int r;

	assert_non_null(buf);
	memcpy(buf, table, len);
	*out = *start;
	r = py_debug_offsets_apply(buf, len, out, vh, diag, dlen);
	free(buf);
	return r;
}

/* Must be rejected, leaving the layout exactly as it was. */
static void expect_rejected(const struct debug_offsets_313 *t, size_t len, const char *what)
{
	const struct py_layout *l = builtin_313();
	struct py_layout got;
	char diag[512];
	uint64_t vh = 0;

	if (apply(t, len, l, &got, diag, sizeof(diag), &vh) == 0)
		fail_msg("%s: accepted (diag: %s)", what, diag);
	if (layout_diff(&got, l)[0])
		fail_msg("%s: rejected, but the layout was changed:%s", what, layout_diff(&got, l));
	if (!memchr(diag, '\0', sizeof(diag)))
		fail_msg("%s: diag not terminated", what);
}

/* ------------------------------------------------------------------ */

static void test_real_313_applies(void **state)
{
	const struct py_layout *l = builtin_313();
	struct py_layout got;
	char diag[512];
	uint64_t vh = 0;
	(void)state;

	/* The same table in the 4096 bytes find.c copies, and alone. */
	uint8_t *big = calloc(1, PY_DEBUG_OFFSETS_MAX);
	assert_non_null(big);
	memcpy(big, &real_313, sizeof(real_313));
	memset(big + sizeof(real_313), 0xee, PY_DEBUG_OFFSETS_MAX - sizeof(real_313));
	assert_int_equal(apply(big, PY_DEBUG_OFFSETS_MAX, l, &got, diag, sizeof(diag), &vh), 0);
	free(big);
	assert_layout_equal(&got, l);
	assert_string_equal(diag, "");
	assert_int_equal(vh, PY_3_13_0_HEX);

	vh = 0;
	assert_int_equal(apply(&real_313, sizeof(real_313), l, &got, diag, sizeof(diag), &vh), 0);
	assert_layout_equal(&got, l);
	assert_string_equal(diag, "");
	assert_int_equal(vh, PY_3_13_0_HEX);

	/* Other 3.13 releases: accepted, the version reported. */
	struct debug_offsets_313 t = real_313;
	t.version = 0x030d07f0ull; /* 3.13.7 */
	assert_int_equal(apply(&t, sizeof(t), l, &got, diag, sizeof(diag), &vh), 0);
	assert_int_equal(vh, 0x030d07f0ull);
	assert_layout_equal(&got, l);
}

/* Starting from a layout that knows none of it, the table alone fills it in. */
static void test_fills_unknown_fields(void **state)
{
	const struct py_layout *l = builtin_313();
	struct py_layout blank = *l, got;
	char diag[512];
	uint64_t vh;
	(void)state;

	blank.runtime_interpreters_head = blank.interp_next = blank.interp_tstate_head = -1;
	blank.tstate_next = blank.tstate_interp = blank.tstate_current_frame = -1;
	blank.tstate_thread_id = blank.tstate_native_thread_id = -1;
	blank.tstate_datastack_chunk = -1;
	blank.iframe_code = blank.iframe_previous = blank.iframe_instr = -1;
	blank.iframe_owner = blank.iframe_size = -1;
	blank.code_filename = blank.code_name = blank.code_firstlineno = -1;
	blank.code_linetable = blank.code_code_adaptive = blank.code_size = -1;
	blank.object_type = blank.var_size = blank.bytes_sval = -1;
	blank.unicode_length = blank.unicode_state = -1;
	blank.unicode_ascii_size = blank.unicode_compact_size = -1;
	blank.code_firsttraceable = -1;
	/* what the table does not say, apply() knows from the version */
	blank.family = PY_FAMILY_36;
	blank.tstate_frame = blank.tstate_cframe = blank.cframe_current_frame = 5;
	blank.frame_back = blank.frame_code = blank.frame_lasti = 5;
	blank.free_threaded = true;
	blank.iframe_tlbc_index = blank.code_tlbc = 5;
	blank.iframe_owner_hidden = 9;
	blank.stackref_tag_bits = 9;
	blank.unicode_kind_shift = 9;
	assert_int_equal(apply(&real_313, sizeof(real_313), &blank, &got, diag, sizeof(diag),
			       &vh), 0);
	assert_string_equal(diag, "");
	assert_layout_equal(&got, l);
}

/*
 * A 3.13+ target with no built-in table of its own gets the 3.13 table as
 * a start (find.c): the target's table must then give exactly the 3.13
 * layout from the 3.12 one too, and without noting differences, which
 * are only noted against a table made for the same version.
 */
static void test_over_another_version(void **state)
{
	const struct py_layout *l = builtin_313(), *l312 = py_layout_for(3, 12);
	struct py_layout got;
	char diag[512];
	uint64_t vh;
	(void)state;

	assert_non_null(l312);
	assert_int_equal(apply(&real_313, sizeof(real_313), l312, &got, diag, sizeof(diag), &vh),
			 0);
	assert_layout_equal(&got, l);
	assert_string_equal(diag, "");
}

/* A plausible difference from the built-in table wins and is noted. */
static void test_harmless_difference(void **state)
{
	const struct py_layout *l = builtin_313();
	struct debug_offsets_313 t = real_313;
	struct py_layout got;
	char diag[512];
	uint64_t vh;
	(void)state;

	t.thread_state.native_thread_id = 168;
	t.code_object.size = 216;
	t.code_object.co_code_adaptive = 208;
	assert_int_equal(apply(&t, sizeof(t), l, &got, diag, sizeof(diag), &vh), 0);
	assert_int_equal(got.tstate_native_thread_id, 168);
	assert_int_equal(got.code_code_adaptive, 208);
	assert_int_equal(got.code_size, 216);
	if (!strstr(diag, "native_thread_id") || !strstr(diag, "160") || !strstr(diag, "168"))
		fail_msg("diag does not note native_thread_id 160 -> 168: \"%s\"", diag);
	if (!strstr(diag, "co_code_adaptive"))
		fail_msg("diag does not note co_code_adaptive: \"%s\"", diag);
	/* everything else untouched */
	got.tstate_native_thread_id = l->tstate_native_thread_id;
	got.code_code_adaptive = l->code_code_adaptive;
	got.code_size = l->code_size;
	/* _co_firsttraceable is not in the table: it sits 16 bytes before co_code_adaptive */
	assert_int_equal(got.code_firsttraceable, 208 - 16);
	got.code_firsttraceable = l->code_firsttraceable;
	assert_layout_equal(&got, l);

	/* A tiny diag buffer is never overrun. */
	for (size_t dlen = 1; dlen < 12; dlen++) {
		char *small = malloc(dlen);
		assert_non_null(small);
		assert_int_equal(apply(&t, sizeof(t), l, &got, small, dlen, &vh), 0);
		assert_true(strlen(small) < dlen);
		free(small);
	}
}

static void test_bad_cookie(void **state)
{
	static const char *const cookies[] = { "xdebugpx", "XDEBUGPY", "\0debugpy", "ydebugpy",
					      "        " };
	struct debug_offsets_313 t;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cookies); i++) {
		t = real_313;
		memcpy(t.cookie, cookies[i], 8);
		expect_rejected(&t, sizeof(t), cookies[i]);
	}
	t = real_313;
	memset(&t, 0, sizeof(t));
	expect_rejected(&t, sizeof(t), "all zero");
}

static void test_bad_versions(void **state)
{
	static const struct {
		uint64_t v;
		const char *what;
	} versions[] = {
		{ 0x020712f0, "2.7.18" }, { 0x030c01f0, "3.12.1" }, { 0x030b07f0, "3.11.7" },
		{ 0x03c800f0, "3.200" }, { 0x030e00a1, "3.14.0a1 (a longer table form)" },
		{ 0x031000f0, "3.16 (read with the newest form, longer)" },
		{ 0x1030d00f0ull, "3.13 with bits above 32" },
		{ 0x040000f0, "4.0" }, { 0, "0" }, { UINT64_MAX, "all ones" },
		{ 0x0000000030d00f0ull << 8, "3.13 shifted" },
	};
	struct debug_offsets_313 t;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(versions); i++) {
		t = real_313;
		t.version = versions[i].v;
		expect_rejected(&t, sizeof(t), versions[i].what);
	}
}

static void test_free_threaded(void **state)
{
	static const uint64_t values[] = { 2, 7, 256, UINT64_MAX };
	const struct py_layout *l = builtin_313();
	struct debug_offsets_313 t;
	struct py_layout got;
	char what[64], diag[512];
	uint64_t vh;
	(void)state;

	/* 1: a free-threaded build, read through its own table */
	t = real_313;
	t.free_threaded = 1;
	assert_int_equal(apply(&t, sizeof(t), l, &got, diag, sizeof(diag), &vh), 0);
	assert_true(got.free_threaded);
	assert_int_equal(got.unicode_kind_shift, 2);   /* 3.14t moved it, not 3.13t */
	assert_int_equal(got.iframe_tlbc_index, -1);
	assert_int_equal(got.code_tlbc, -1);
	got.free_threaded = false;
	assert_layout_equal(&got, l);

	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		t = real_313;
		t.free_threaded = values[i];
		snprintf(what, sizeof(what), "free_threaded = %llu", (unsigned long long)values[i]);
		expect_rejected(&t, sizeof(t), what);
	}
}

static void test_truncated(void **state)
{
	static const size_t lens[] = { 0, 1, 7, 8, 16, 23, 24, 100, 583 };
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		char what[32];
		snprintf(what, sizeof(what), "%zu bytes", lens[i]);
		expect_rejected(&real_313, lens[i], what);
	}
}

/* Sizes of 0 or 1 << 40 for each struct (used: those the profiler reads from). */
static void check_sizes(int want_used)
{
	static const uint64_t bad_sizes[] = { 0, 1ull << 40, UINT64_MAX };
	struct debug_offsets_313 t;
	char what[96];

	for (size_t s = 0; s < ARRAY_SIZE(structs); s++) {
		if (structs[s].used != want_used)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(bad_sizes); k++) {
			t = real_313;
			*word(&t, structs[s].off) = bad_sizes[k];
			snprintf(what, sizeof(what), "%s.size = %llu", structs[s].name,
				 (unsigned long long)bad_sizes[k]);
			expect_rejected(&t, sizeof(t), what);
		}
	}
}

static void test_struct_sizes_used(void **state)
{
	(void)state;
	check_sizes(1);
}

/* Each field read, moved to its struct's end, past it, or far away. */
static void test_field_offsets_used(void **state)
{
	struct debug_offsets_313 t;
	char what[128];
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(used_fields); i++) {
		const struct tstruct *s = &structs[used_fields[i].s];
		size_t off = s->off + 8 * (size_t)used_fields[i].idx;
		uint64_t size = *word((struct debug_offsets_313 *)&real_313, s->off);
		const uint64_t bad[] = { size, size + 1, 1ull << 40, UINT64_MAX, UINT64_MAX - 3 };

		for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
			t = real_313;
			*word(&t, off) = bad[k];
			snprintf(what, sizeof(what), "%s = %llu (struct size %llu)",
				 used_fields[i].name, (unsigned long long)bad[k],
				 (unsigned long long)size);
			expect_rejected(&t, sizeof(t), what);
		}
		/* A field that straddles the end of its struct. */
		t = real_313;
		*word(&t, off) = size - 1;
		snprintf(what, sizeof(what), "%s = size - 1", used_fields[i].name);
		if (!strstr(used_fields[i].name, "owner") && !strstr(used_fields[i].name, "sval"))
			expect_rejected(&t, sizeof(t), what);
	}
}

/*
 * _co_firsttraceable is not in the table: apply() puts it 16 bytes before
 * co_code_adaptive.  A co_code_adaptive below 16 (inside the object
 * header) cannot be right, and must not yield a negative offset other
 * than -1 ("absent") nor one outside the code object.
 */
static void test_small_co_code_adaptive(void **state)
{
	static const uint64_t values[] = { 0, 4, 14, 15 };
	const struct py_layout *l = builtin_313();
	struct debug_offsets_313 t;
	struct py_layout got;
	char diag[512];
	uint64_t vh;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		t = real_313;
		t.code_object.co_code_adaptive = values[i];
		if (apply(&t, sizeof(t), l, &got, diag, sizeof(diag), &vh) != 0)
			continue; /* rejected: fine */
		if (got.code_firsttraceable != -1 &&
		    (got.code_firsttraceable < 0 ||
		     (uint64_t)got.code_firsttraceable + 4 > t.code_object.size))
			fail_msg("co_code_adaptive = %llu accepted, giving code_firsttraceable %d",
				 (unsigned long long)values[i], got.code_firsttraceable);
	}
}

/* Struct sizes read whole must stay small enough to copy in one read. */
static void test_implausible_whole_sizes(void **state)
{
	struct debug_offsets_313 t;
	(void)state;

	t = real_313;
	t.interpreter_frame.size = 5000;
	expect_rejected(&t, sizeof(t), "interpreter_frame.size = 5000");
	t = real_313;
	t.code_object.size = 5000;
	expect_rejected(&t, sizeof(t), "code_object.size = 5000");
}

static void test_implausible_ascii_size(void **state)
{
	static const uint64_t bad[] = { 0, 8, 15, 257, 1ull << 40, UINT64_MAX };
	struct debug_offsets_313 t;
	char what[64];
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		t = real_313;
		t.unicode_object.asciiobject_size = bad[i];
		snprintf(what, sizeof(what), "asciiobject_size = %llu", (unsigned long long)bad[i]);
		expect_rejected(&t, sizeof(t), what);
	}
}

/*
 * The header of debug_offsets.c promises "every struct size bounded, every
 * field inside its struct" for the whole table, also the parts the profiler
 * does not read (type, tuple, list, dict, float, long objects, gc, and the
 * unread fields of the others): a table with any of them corrupt is not
 * the table CPython wrote.  Every case is tried; all failures are listed.
 * (validate() takes every word whose name ends in "_size" for a size and
 * skips it, which also skips the offsets tuple_object.ob_size and
 * list_object.ob_size.)
 */
static int rejected_quietly(const struct debug_offsets_313 *t)
{
	const struct py_layout *l = builtin_313();
	struct py_layout got;
	char diag[512];
	uint64_t vh;

	return apply(t, sizeof(*t), l, &got, diag, sizeof(diag), &vh) != 0 &&
	       !layout_diff(&got, l)[0];
}

static void test_unused_parts_checked(void **state)
{
	static const uint64_t bad_sizes[] = { 0, 1ull << 40 };
	struct debug_offsets_313 t;
	char missed[2048] = "";
	size_t used = 0;
	int nmissed = 0;
	(void)state;

	for (size_t s = 0; s < ARRAY_SIZE(structs); s++) {
		for (size_t k = 0; k < ARRAY_SIZE(bad_sizes); k++) {
			t = real_313;
			*word(&t, structs[s].off) = bad_sizes[k];
			if (!rejected_quietly(&t)) {
				nmissed++;
				if (used < sizeof(missed))
					used += (size_t)snprintf(missed + used, sizeof(missed) - used,
								 " %s.size=%llu;", structs[s].name,
								 (unsigned long long)bad_sizes[k]);
			}
		}
		for (int idx = 1; idx <= structs[s].nfields; idx++) {
			/* asciiobject_size is a size, checked on its own */
			if (strcmp(structs[s].name, "unicode_object") == 0 && idx == 3)
				continue;
			t = real_313;
			*word(&t, structs[s].off + 8 * (size_t)idx) = 1ull << 40;
			if (!rejected_quietly(&t)) {
				nmissed++;
				if (used < sizeof(missed))
					used += (size_t)snprintf(missed + used, sizeof(missed) - used,
								 " %s word %d = 1<<40;",
								 structs[s].name, idx);
			}
		}
	}
	if (nmissed)
		fail_msg("%d corrupt table(s) accepted:%s", nmissed, missed);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* 10,000 random buffers, raw and behind a valid cookie/version prefix. */
static void test_random_buffers(void **state)
{
	struct debug_offsets_313 t;
	char what[64];
	(void)state;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 10000; i++) {
		uint64_t *w = (uint64_t *)&t;
		int prefix = i % 4;   /* 0 raw, 1 cookie, 2 + version, 3 + free_threaded 0 */
		for (size_t k = 0; k < sizeof(t) / 8; k++)
			w[k] = rnd();
		if (prefix >= 1)
			memcpy(t.cookie, "xdebugpy", 8);
		if (prefix >= 2)
			t.version = PY_3_13_0_HEX;
		if (prefix >= 3)
			t.free_threaded = 0;
		snprintf(what, sizeof(what), "random buffer %d (prefix %d)", i, prefix);
		expect_rejected(&t, sizeof(t), what);
		expect_rejected(&t, (size_t)(rnd() % sizeof(t)), what);
	}
}

/*
 * Mutations of the real table (a few words set to small random values):
 * whatever the verdict, no crash, and an accepted table only ever gives
 * offsets inside the structs it declares.
 */
static void test_mutated_tables(void **state)
{
	const struct py_layout *l = builtin_313();
	struct debug_offsets_313 t;
	struct py_layout got;
	char diag[512];
	uint64_t vh;
	int accepted = 0, rejected = 0;
	(void)state;

	rng_state = 12345;
	for (int i = 0; i < 10000; i++) {
		uint64_t *w = (uint64_t *)&t;
		t = real_313;
		for (int m = 0; m < 1 + i % 3; m++) {
			size_t k = 3 + rnd() % (sizeof(t) / 8 - 3);
			w[k] = rnd() % 512;
		}
		if (apply(&t, sizeof(t), l, &got, diag, sizeof(diag), &vh) != 0) {
			if (layout_diff(&got, l)[0])
				fail_msg("mutation %d: rejected but layout changed", i);
			rejected++;
			continue;
		}
		accepted++;
#define INSIDE(field, sz, width)                                                     \
	if (got.field < 0 || (uint64_t)got.field + (width) > (sz))                   \
		fail_msg("mutation %d: %s = %d outside a struct of %llu bytes", i,   \
			 #field, got.field, (unsigned long long)(sz));
		INSIDE(runtime_interpreters_head, t.runtime_state.size, 8);
		INSIDE(interp_next, t.interpreter_state.size, 8);
		INSIDE(interp_tstate_head, t.interpreter_state.size, 8);
		INSIDE(tstate_next, t.thread_state.size, 8);
		INSIDE(tstate_interp, t.thread_state.size, 8);
		INSIDE(tstate_current_frame, t.thread_state.size, 8);
		INSIDE(tstate_thread_id, t.thread_state.size, 8);
		INSIDE(tstate_native_thread_id, t.thread_state.size, 8);
		INSIDE(iframe_previous, t.interpreter_frame.size, 8);
		INSIDE(iframe_code, t.interpreter_frame.size, 8);
		INSIDE(iframe_instr, t.interpreter_frame.size, 8);
		INSIDE(iframe_owner, t.interpreter_frame.size, 1);
		INSIDE(code_filename, t.code_object.size, 8);
		INSIDE(code_name, t.code_object.size, 8);
		INSIDE(code_linetable, t.code_object.size, 8);
		INSIDE(code_firstlineno, t.code_object.size, 4);
		INSIDE(code_code_adaptive, t.code_object.size, 2);
		INSIDE(object_type, t.pyobject.size, 8);
		INSIDE(var_size, t.bytes_object.size, 8);
		INSIDE(bytes_sval, t.bytes_object.size, 1);
		INSIDE(unicode_state, t.unicode_object.size, 4);
		INSIDE(unicode_length, t.unicode_object.size, 8);
		INSIDE(tstate_datastack_chunk, t.thread_state.size, 16);
#undef INSIDE
		assert_int_equal(got.major, 3);
		assert_int_equal(got.minor, 13);
	}
	print_message("mutated tables: %d accepted, %d rejected\n", accepted, rejected);
	assert_true(accepted > 0);
	assert_true(rejected > 0);
}

int unit_debug_offsets(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_313_applies),
		cmocka_unit_test(test_fills_unknown_fields),
		cmocka_unit_test(test_over_another_version),
		cmocka_unit_test(test_harmless_difference),
		cmocka_unit_test(test_bad_cookie),
		cmocka_unit_test(test_bad_versions),
		cmocka_unit_test(test_free_threaded),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_struct_sizes_used),
		cmocka_unit_test(test_field_offsets_used),
		cmocka_unit_test(test_implausible_whole_sizes),
		cmocka_unit_test(test_small_co_code_adaptive),
		cmocka_unit_test(test_implausible_ascii_size),
		cmocka_unit_test(test_random_buffers),
		cmocka_unit_test(test_mutated_tables),
		cmocka_unit_test(test_unused_parts_checked),
	};

	return cmocka_run_group_tests_name("debug_offsets", tests, NULL, NULL);
}
