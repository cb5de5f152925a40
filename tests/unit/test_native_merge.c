/*
 * test_native_merge.c - native_merge() and native_classify_name() on
 * synthetic C/Python stack pairs of every version family.
 *
 * A C stack is written innermost first as a list of frame kinds:
 *   E  eval loop (_PyEval_EvalFrameDefault, .cold, 2.7 PyEval_EvalFrameEx)
 *   Es a .part.N piece of the eval loop (NATIVE_EVAL | NATIVE_EVAL_SPLIT)
 *   P  part of an eval call (3.14 _TAIL_CALL_*, PyEval_EvalFrameEx wrapper)
 *   I  interpreter-internal (libpython, python executable)
 *   S  start-up / C library (NATIVE_SYSTEM)
 *   SI both (the python executable's _start)
 *   X  anything else: extension module, other library
 * and a Python stack root first as a string of entry flags ("1011": frames
 * 0, 2 and 3 were entered by an eval call of their own).  The merged stack
 * is rendered root first as "p<i>" (Python frame i) and "c<i>" (C frame i).
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

#include "pyspy/native.h"

#define MAXF 64

struct pair {
	struct native_frame c[MAXF];
	size_t nc;
	uint8_t entry[MAXF];
	size_t npy;
};

static uint16_t kind_flags(const char *k)
{
	if (!strcmp(k, "E"))
		return NATIVE_EVAL;
	if (!strcmp(k, "Es"))
		return NATIVE_EVAL | NATIVE_EVAL_SPLIT;
	if (!strcmp(k, "P"))
		return NATIVE_EVAL_PART | NATIVE_INTERP;
	if (!strcmp(k, "I"))
		return NATIVE_INTERP;
	if (!strcmp(k, "S"))
		return NATIVE_SYSTEM;
	if (!strcmp(k, "SI"))
		return NATIVE_SYSTEM | NATIVE_INTERP;
	if (!strcmp(k, "X"))
		return 0;
	fail_msg("bad frame kind '%s'", k);
	return 0;
}

/* "X I E I X" (innermost first), "101" (root first). */
static void build(struct pair *p, const char *cstack, const char *py)
{
	char buf[512], *save = NULL;

	memset(p, 0, sizeof(*p));
	snprintf(buf, sizeof(buf), "%s", cstack);
	for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		assert_true(p->nc < MAXF);
		p->c[p->nc].ip = 0x1000 + p->nc;
		p->c[p->nc].sym = NATIVE_NOSYM;
		p->c[p->nc].flags = kind_flags(tok);
		p->nc++;
	}
	for (const char *s = py; *s; s++) {
		assert_true(p->npy < MAXF);
		p->entry[p->npy++] = *s == '1';
	}
}

static void render(const struct native_item *it, size_t n, char *out, size_t len)
{
	size_t pos = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && pos < len; i++)
		pos += (size_t)snprintf(out + pos, len - pos, "%s%c%u", i ? " " : "",
					it[i].kind == NATIVE_ITEM_PY ? 'p' : 'c', it[i].index);
}

/* Merge and compare with 'want' (root first); returns the merge result. */
static int merge_as(const char *cstack, bool complete, const char *py, unsigned flags,
		    const char *want)
{
	struct pair p;
	struct native_item out[2 * MAXF];
	size_t n = 99;
	char got[1024];
	int rc;

	build(&p, cstack, py);
	rc = native_merge(p.c, p.nc, complete, p.entry, p.npy, flags, out, 2 * MAXF, &n);
	if (rc < 0) {
		assert_int_equal(n, 0);
		if (want)
			fail_msg("merge of [%s] with [%s] failed (%s), wanted \"%s\"", cstack, py,
				 native_merge_strerror(rc), want);
		return rc;
	}
	render(out, n, got, sizeof(got));
	if (!want)
		fail_msg("merge of [%s] with [%s] gave \"%s\", wanted a failure", cstack, py, got);
	assert_string_equal(got, want);
	return rc;
}

/*
 * Up to 3.10 (and 2.7): <module> -> outer -> ext.call_back (C) -> middle
 * -> ext.spin (C), each Python frame its own eval call.
 */
#define STACK_310 \
	"X I E I I X I I E I E I I I S S SI"
/*   0 1 2 3 4 5 6 7 8 9 10 ...      spin, cfunction_vectorcall, eval(middle),
 *   _PyFunction_Vectorcall, PyObject_CallObject, call_back, cfunction_call,
 *   _PyObject_MakeTpCall, eval(outer), function_code_fastcall, eval(<module>),
 *   PyEval_EvalCode, run_mod, Py_RunMain, __libc_start_call_main,
 *   __libc_start_main, _start */

static void test_310_one_to_one(void **state)
{
	(void)state;
	assert_int_equal(merge_as(STACK_310, true, "111", 0, "p0 p1 c5 p2 c0"), NATIVE_MERGED);
}

static void test_310_show_internal(void **state)
{
	(void)state;
	assert_int_equal(merge_as(STACK_310, true, "111", NATIVE_MERGE_SHOW_INTERNAL,
				  "c16 c15 c14 c13 c12 c11 p0 c9 p1 c7 c6 c5 c4 c3 p2 c1 c0"),
			 NATIVE_MERGED);
}

/* 2.7 differs only in the name of the eval loop (see test_classify_27). */
static void test_27_recursion(void **state)
{
	(void)state;
	/* f -> f -> f -> time.sleep (libc nanosleep) */
	assert_int_equal(merge_as("S I E I E I E I E I S", true, "1111", 0, "p0 p1 p2 p3 c0"),
			 NATIVE_MERGED);
}

/*
 * 3.11: <module> calls outer without a new eval call (is_entry only on
 * <module> and on middle, which call_back entered through C).
 */
static void test_311_runs(void **state)
{
	(void)state;
	assert_int_equal(merge_as("X I E I X I E I I S S", true, "101", 0, "p0 p1 c4 p2 c0"),
			 NATIVE_MERGED);
}

/* 3.12+: longer runs, and runs split by two C levels. */
static void test_312_runs(void **state)
{
	(void)state;
	/* a b c (one eval call) -> C ext -> d e (one eval call) -> C leaf */
	assert_int_equal(merge_as("X E I X I E I", true, "10010", 0, "p0 p1 p2 c3 p3 p4 c0"),
			 NATIVE_MERGED);
	/* the whole stack in one eval call, the leaf in the interpreter */
	assert_int_equal(merge_as("I I E I I", true, "10000", 0, "p0 p1 p2 p3 p4"), NATIVE_MERGED);
	assert_int_equal(merge_as("I I E I I", true, "10000", NATIVE_MERGE_SHOW_INTERNAL,
				  "c4 c3 p0 p1 p2 p3 p4 c1 c0"),
			 NATIVE_MERGED);
}

/* 3.14 tail-calling builds: _TAIL_CALL_* handlers inside each eval call. */
static void test_314_tail_calls(void **state)
{
	(void)state;
	assert_int_equal(merge_as("X I P E I X I P E I I S", true, "101", 0, "p0 p1 c5 p2 c0"),
			 NATIVE_MERGED);
	assert_int_equal(merge_as("X I P E I X I P E I I S", true, "101",
				  NATIVE_MERGE_SHOW_INTERNAL,
				  "c11 c10 c9 p0 p1 c7 c6 c5 c4 p2 c2 c1 c0"),
			 NATIVE_MERGED);
}

/* .cold replaces its eval frame; a .part piece and its head are one call. */
static void test_cold_and_part(void **state)
{
	(void)state;
	/* the eval call of middle is in its .cold part (just one frame) */
	assert_int_equal(merge_as("X E I X I E I", true, "11", 0, "p0 c3 p1 c0"), NATIVE_MERGED);
	/* middle's eval call is a .part body called by the head */
	assert_int_equal(merge_as("X Es E I X I E I", true, "11", 0, "p0 c4 p1 c0"), NATIVE_MERGED);
	/* two separate .part calls are two calls */
	assert_int_equal(merge_as("X Es E I X I Es E I", true, "11", 0, "p0 c4 p1 c0"),
			 NATIVE_MERGED);
	/* a head followed by a head is two calls */
	assert_int_equal(merge_as("X E E I", true, "11", 0, "p0 p1 c0"), NATIVE_MERGED);
}

/* Extension and library frames are kept wherever they are. */
static void test_extension_frames_kept(void **state)
{
	(void)state;
	/* leaf libc frame (memcpy), ext between Python frames, ext at the root (embedder) */
	assert_int_equal(merge_as("S X I E I X S X I E I X S", true, "11", 0,
				  "c11 p0 c7 c6 c5 p1 c1 c0"),
			 NATIVE_MERGED);
}

/* A thread Python does not know: the C stack as it is. */
static void test_native_thread(void **state)
{
	(void)state;
	/* start-up code at the root is hidden, unless it is all there is */
	assert_int_equal(merge_as("X X S S", true, "", 0, "c1 c0"), NATIVE_MERGED);
	assert_int_equal(merge_as("X I S", true, "", 0, "c0"), NATIVE_MERGED);
	assert_int_equal(merge_as("X S X S", true, "", 0, "c2 c1 c0"), NATIVE_MERGED);
	assert_int_equal(merge_as("S S", true, "", 0, "c1 c0"), NATIVE_MERGED);
	assert_int_equal(merge_as("", true, "", 0, ""), NATIVE_MERGED);
}

/* The innermost eval call entering or leaving its frame takes none. */
static void test_eval_entering(void **state)
{
	(void)state;
	assert_int_equal(merge_as("I E I E I E I", true, "11", 0, "p0 p1"), NATIVE_MERGED);
	/* a thread starting: one eval call, no Python frame yet */
	assert_int_equal(merge_as("I E I S", true, "", 0, ""), NATIVE_MERGED);
	assert_int_equal(merge_as("I E I X", true, "", 0, "c3"), NATIVE_MERGED);
	/* 3.11+: a run of three, and an eval call entering its first frame */
	assert_int_equal(merge_as("X E I X E I", true, "100", 0, "p0 p1 p2 c3 c0"),
			 NATIVE_MERGED);
}

static void test_too_many_eval(void **state)
{
	(void)state;
	assert_true(merge_as("I E I E I E I", true, "1", 0, NULL) == NATIVE_ERR_MORE_EVAL);
	assert_true(merge_as("E E E", true, "", 0, NULL) == NATIVE_ERR_MORE_EVAL);
	/* 3.11+: runs fewer than eval calls by two */
	assert_true(merge_as("E X E X E", true, "100", 0, NULL) == NATIVE_ERR_MORE_EVAL);
	assert_true(merge_as("E X E X E", false, "100", 0, NULL) == NATIVE_ERR_MORE_EVAL);
}

static void test_too_few_eval(void **state)
{
	(void)state;
	assert_true(merge_as("X I E I S", true, "111", 0, NULL) == NATIVE_ERR_FEWER_EVAL);
	/* no eval call at all: the unwind went wrong */
	assert_true(merge_as("X X X", true, "1", 0, NULL) == NATIVE_ERR_FEWER_EVAL);
	assert_true(merge_as("X X X", false, "1", 0, NULL) == NATIVE_ERR_FEWER_EVAL);
	/* nothing unwound */
	assert_true(merge_as("", false, "11", 0, NULL) == NATIVE_ERR_FEWER_EVAL);
	assert_true(merge_as("", true, "1", 0, NULL) == NATIVE_ERR_FEWER_EVAL);
	/* 3.11+: three runs, two eval calls */
	assert_true(merge_as("E X E I S", true, "10101", 0, NULL) == NATIVE_ERR_FEWER_EVAL);
}

/* The C stack cut short (depth bound, unwinding error) after a match. */
static void test_partial(void **state)
{
	(void)state;
	assert_int_equal(merge_as("X I E I X I E", false, "1111", 0, "p0 p1 p2 c4 p3 c0"),
			 NATIVE_MERGED_PARTIAL);
	assert_int_equal(merge_as("X E", false, "10101", 0, "p0 p1 p2 p3 p4 c0"),
			 NATIVE_MERGED_PARTIAL);
}

/* The root frame closes the outermost run even without its flag. */
static void test_root_without_entry_flag(void **state)
{
	(void)state;
	assert_int_equal(merge_as("X E I E I", true, "001", 0, "p0 p1 p2 c0"), NATIVE_MERGED);
}

static void test_bad_input(void **state)
{
	struct native_frame c[2] = { { .flags = NATIVE_EVAL }, { .flags = 0 } };
	struct native_item out[8];
	uint8_t entry[2] = { 1, 1 };
	size_t n = 5;

	(void)state;
	assert_int_equal(native_merge(NULL, 2, true, entry, 2, 0, out, 8, &n), NATIVE_ERR_INPUT);
	assert_int_equal(n, 0);
	assert_int_equal(native_merge(c, 2, true, NULL, 2, 0, out, 8, &n), NATIVE_ERR_INPUT);
	assert_int_equal(native_merge(c, 2, true, entry, 1, 0, NULL, 8, &n), NATIVE_ERR_INPUT);
	/* too small an output */
	assert_int_equal(native_merge(c, 2, true, entry, 1, 0, out, 1, &n), NATIVE_ERR_NO_ROOM);
	assert_int_equal(n, 0);
	assert_int_equal(native_merge(c, 2, true, entry, 1, 0, out, 2, &n), NATIVE_MERGED);
	assert_int_equal(n, 2);
	/* empty everything */
	assert_int_equal(native_merge(NULL, 0, false, NULL, 0, 0, NULL, 0, &n), NATIVE_MERGED);
	assert_int_equal(n, 0);
}

/* Garbage flags and sizes: a result, never a crash or an overrun. */
static void test_garbage(void **state)
{
	struct native_frame c[MAXF];
	struct native_item out[2 * MAXF + 1];
	uint8_t entry[MAXF];
	uint32_t seed = 12345;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t nc, npy, n = 0, cap;
		int rc;

		seed = seed * 1103515245u + 12345u;
		nc = (seed >> 8) % MAXF;
		seed = seed * 1103515245u + 12345u;
		npy = (seed >> 8) % MAXF;
		seed = seed * 1103515245u + 12345u;
		cap = (seed >> 8) % (2 * MAXF);
		for (size_t i = 0; i < nc; i++) {
			seed = seed * 1103515245u + 12345u;
			c[i].flags = (uint16_t)(seed >> 12);
			c[i].ip = seed;
		}
		for (size_t i = 0; i < npy; i++) {
			seed = seed * 1103515245u + 12345u;
			entry[i] = (uint8_t)(seed >> 20);
		}
		out[cap].kind = 0xdead;
		rc = native_merge(c, nc, seed & 1, entry, npy, seed & 2 ? NATIVE_MERGE_SHOW_INTERNAL : 0,
				  out, cap, &n);
		assert_int_equal(out[cap].kind, 0xdead);
		if (rc < 0) {
			assert_int_equal(n, 0);
			continue;
		}
		assert_true(n <= cap && n <= nc + npy);
		/* Every Python frame exactly once, root first, in order. */
		size_t want = 0;
		for (size_t i = 0; i < n; i++) {
			if (out[i].kind == NATIVE_ITEM_PY) {
				assert_int_equal(out[i].index, want);
				want++;
			} else {
				assert_int_equal(out[i].kind, NATIVE_ITEM_C);
				assert_true(out[i].index < nc);
			}
		}
		assert_int_equal(want, npy);
	}
}

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(native_classify_name("_PyEval_EvalFrameDefault", 3), NATIVE_EVAL);
	assert_int_equal(native_classify_name("_PyEval_EvalFrameDefault.cold", 3), NATIVE_EVAL);
	assert_int_equal(native_classify_name("_PyEval_EvalFrameDefault.constprop.0", 3),
			 NATIVE_EVAL);
	assert_int_equal(native_classify_name("_PyEval_EvalFrameDefault.isra.0", 3), NATIVE_EVAL);
	assert_int_equal(native_classify_name("_PyEval_EvalFrameDefault.lto_priv.0", 3),
			 NATIVE_EVAL);
	assert_int_equal(native_classify_name("_PyEval_EvalFrameDefault.part.0", 3),
			 NATIVE_EVAL | NATIVE_EVAL_SPLIT);
	assert_int_equal(native_classify_name("_PyEval_EvalFrameDefault.part.0.cold", 3),
			 NATIVE_EVAL | NATIVE_EVAL_SPLIT);
	/* wrappers: no Python frame of their own */
	assert_int_equal(native_classify_name("PyEval_EvalFrameEx", 3), NATIVE_EVAL_PART);
	assert_int_equal(native_classify_name("PyEval_EvalFrame", 3), NATIVE_EVAL_PART);
	assert_int_equal(native_classify_name("_PyEval_EvalFrame", 3), NATIVE_EVAL_PART);
	assert_int_equal(native_classify_name("_PyEval_EvalFrame.constprop.0", 3), NATIVE_EVAL_PART);
	/* names that only look alike */
	assert_int_equal(native_classify_name("_PyEvalFramePushAndInit", 3), 0);
	assert_int_equal(native_classify_name("_PyEvalFrameClearAndPop", 3), 0);
	assert_int_equal(native_classify_name("_PyEval_EvalFrameDefaultX", 3), 0);
	assert_int_equal(native_classify_name("x_PyEval_EvalFrameDefault", 3), 0);
	assert_int_equal(native_classify_name("_PyEval_EvalCode", 3), 0);
	assert_int_equal(native_classify_name("_PyInterpreterState_SetEvalFrameFunc", 3), 0);
	assert_int_equal(native_classify_name("", 3), 0);
	assert_int_equal(native_classify_name(NULL, 3), 0);
	/* start-up code */
	assert_int_equal(native_classify_name("_start", 3), NATIVE_SYSTEM);
	assert_int_equal(native_classify_name("__libc_start_main", 3), NATIVE_SYSTEM);
	assert_int_equal(native_classify_name("__libc_start_call_main", 3), NATIVE_SYSTEM);
	assert_int_equal(native_classify_name("start_thread", 3), NATIVE_SYSTEM);
	assert_int_equal(native_classify_name("clone3", 3), NATIVE_SYSTEM);
	assert_int_equal(native_classify_name("main", 3), 0);
}

static void test_classify_27(void **state)
{
	(void)state;
	assert_int_equal(native_classify_name("PyEval_EvalFrameEx", 2), NATIVE_EVAL);
	assert_int_equal(native_classify_name("PyEval_EvalFrameEx.cold", 2), NATIVE_EVAL);
	assert_int_equal(native_classify_name("PyEval_EvalFrame", 2), NATIVE_EVAL_PART);
	assert_int_equal(native_classify_name("PyEval_EvalCodeEx", 2), 0);
}

/* 3.14 tail-calling builds: Python/generated_cases.c.h TARGET(op) and LABEL(name). */
static void test_classify_314_tail_calls(void **state)
{
	static const char *const names[] = {
		"_TAIL_CALL_BINARY_OP", "_TAIL_CALL_CALL_PY_EXACT_ARGS", "_TAIL_CALL_start_frame",
		"_TAIL_CALL_error", "_TAIL_CALL_pop_2_error", "_TAIL_CALL_exit_unwind",
		"_TAIL_CALL_RESUME_CHECK", "_TAIL_CALL_CALL.cold",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(native_classify_name(names[i], 3), NATIVE_EVAL_PART);
	assert_int_equal(native_classify_name("_TAIL_CAL_X", 3), 0);
}

int unit_native_merge(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_310_one_to_one),
		cmocka_unit_test(test_310_show_internal),
		cmocka_unit_test(test_27_recursion),
		cmocka_unit_test(test_311_runs),
		cmocka_unit_test(test_312_runs),
		cmocka_unit_test(test_314_tail_calls),
		cmocka_unit_test(test_cold_and_part),
		cmocka_unit_test(test_extension_frames_kept),
		cmocka_unit_test(test_native_thread),
		cmocka_unit_test(test_eval_entering),
		cmocka_unit_test(test_too_many_eval),
		cmocka_unit_test(test_too_few_eval),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_root_without_entry_flag),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_classify_27),
		cmocka_unit_test(test_classify_314_tail_calls),
	};

	return cmocka_run_group_tests_name("native_merge", tests, NULL, NULL);
}
