/*
 * test_subinterp_merge.c - py_merge_nested(): the thread states of a thread
 * that runs a subinterpreter become one thread, outer frames first.
 *
 * Samples are built as the walk leaves them: interpreters newest first
 * (the subinterpreter's thread states, then the main interpreter's), each
 * thread's frames root first.  Addresses are made up but shaped like a
 * process's: thread stacks of 8 MiB below their pthread_t (glibc puts
 * the descriptor at the top of the stack), the main thread's stack the
 * highest mapping.
 */
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pyspy/pyinterp.h"
#include "../../src/python/python_internal.h"

#define MAIN_INTERP 0x1000ull
#define SUB_INTERP 0x2000ull
#define MIB (1ull << 20)
/* pthread_t of three threads with adjacent stacks; the main thread's */
#define PT_RUNNER 0x7f0000800000ull
#define PT_REPORTER (PT_RUNNER - 8 * MIB)
#define PT_MAIN 0x7f0001000000ull
#define MAIN_STACK 0x7ffc00000000ull

struct fixture {
	struct target t;
	struct target_thread threads[3];
	struct pyinterp pi;
	struct py_sample s;
};

static struct fixture *setup(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->threads[0] = (struct target_thread){ .tid = 10, .state = 'R' };
	f->threads[1] = (struct target_thread){ .tid = 11, .state = 'R' };
	f->threads[2] = (struct target_thread){ .tid = 12, .state = 'S' };
	f->t.threads = f->threads;
	f->t.nthreads = 3;
	f->pi.target = &f->t;
	return f;
}

static void release(struct fixture *f)
{
	py_sample_free(&f->s);
	free(f->pi.tstate_tids);
	free(f);
}

/* A thread state with n frames func = base, base+1, ... (root first). */
static struct py_thread_sample *add(struct fixture *f, uint64_t interp, uint64_t tstate,
				    pid_t tid, uint64_t pthread, uint64_t cstack, uint32_t base,
				    size_t n)
{
	struct py_sample *s = &f->s;
	struct py_thread_sample *th = &s->threads[s->nthreads++];

	if (s->cap_frames < s->nframes + n) {
		s->cap_frames = (s->nframes + n) * 2;
		s->frames = realloc(s->frames, s->cap_frames * sizeof(*s->frames));
		if (s->keep_sources)
			s->src = realloc(s->src, s->cap_frames * sizeof(*s->src));
		assert_non_null(s->frames);
	}
	memset(th, 0, sizeof(*th));
	*th = (struct py_thread_sample){ .tid = tid, .tstate = tstate, .interp = interp,
					 .thread_id = pthread, .cstack = cstack,
					 .first = s->nframes, .nframes = n };
	for (size_t i = 0; i < n; i++) {
		if (s->keep_sources)
			s->src[s->nframes] = (struct py_frame_src){ 0x5000 + base + i, 0x6000 + base + i };
		s->frames[s->nframes++] = (struct frame_ref){ base + (uint32_t)i, (int32_t)i + 1 };
	}
	return th;
}

/* th's frames are exactly funcs[0..n) (root first). */
static void expect_frames(const struct py_sample *s, const struct py_thread_sample *th,
			  const uint32_t *funcs, size_t n)
{
	assert_int_equal(th->nframes, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s->frames[th->first + i].func, funcs[i]);
}

static const struct py_thread_sample *by_tid(const struct py_sample *s, pid_t tid)
{
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	fail_msg("no thread %d", (int)tid);
	return NULL;
}

/* 3.13+: the exec's thread state is bound to the calling thread. */
static void test_by_ids(void **state)
{
	struct fixture *f = setup();
	static const uint32_t runner[] = { 200, 201, 202, 300, 301 };
	const struct py_thread_sample *th;

	(void)state;
	add(f, SUB_INTERP, 0xa3, 11, PT_RUNNER, 0, 300, 2);   /* inside the exec */
	add(f, MAIN_INTERP, 0xa1, 10, PT_MAIN, 0, 100, 1);    /* MainThread */
	add(f, MAIN_INTERP, 0xa2, 11, PT_RUNNER, 0, 200, 3);  /* sub-runner, in exec */
	assert_int_equal(py_merge_nested(&f->pi, &f->s), 0);
	assert_int_equal(f->s.nthreads, 2);
	/* the walk's order is kept for what stays */
	assert_int_equal(f->s.threads[0].tid, 10);
	th = by_tid(&f->s, 11);
	expect_frames(&f->s, th, runner, 5);
	assert_int_equal(th->tstate, 0xa2);
	assert_int_equal(th->inner_tstate, 0xa3);
	assert_true(py_thread_has_tstate(th, 0xa3) && py_thread_has_tstate(th, 0xa2));
	assert_false(py_thread_has_tstate(th, 0xa1) || py_thread_has_tstate(th, 0));
	assert_int_equal(by_tid(&f->s, 10)->inner_tstate, 0);
	release(f);
}

/*
 * A thread state left by an ended thread: its pthread_t was reused by a
 * new thread (glibc reuses them at once), its tid not: not that thread.
 * A tid unknown (0): the pthread_t decides.
 */
static void test_stale_and_unknown_tid(void **state)
{
	struct fixture *f = setup();
	static const uint32_t runner[] = { 200, 400 };

	(void)state;
	add(f, SUB_INTERP, 0xb1, 99, PT_RUNNER, 0, 300, 2);   /* tid 99 ended */
	add(f, SUB_INTERP, 0xb2, 0, PT_RUNNER, 0, 400, 1);    /* tid unknown */
	add(f, MAIN_INTERP, 0xa2, 11, PT_RUNNER, 0, 200, 1);
	assert_int_equal(py_merge_nested(&f->pi, &f->s), 0);
	assert_int_equal(f->s.nthreads, 2);
	assert_int_equal(f->s.threads[0].tid, 99);
	expect_frames(&f->s, by_tid(&f->s, 11), runner, 2);
	/* same interpreter, same ids: not a subinterpreter, left alone */
	release(f);
	f = setup();
	add(f, MAIN_INTERP, 0xc1, 11, PT_RUNNER, 0, 300, 2);
	add(f, MAIN_INTERP, 0xc2, 11, PT_RUNNER, 0, 200, 1);
	assert_int_equal(py_merge_nested(&f->pi, &f->s), 0);
	assert_int_equal(f->s.nthreads, 2);
	release(f);
}

/*
 * 3.11-3.12: run_string runs the subinterpreter on its first thread state,
 * which carries the ids of the thread that created it (the main thread).
 * The C stack tells: its cframe is on the sub-runner's stack.  The
 * reporter's stack lies just below the sub-runner's: the subinterpreter's
 * cframe is the nearest above the reporter's, yet not on its stack.
 */
static void test_by_c_stack(void **state)
{
	struct fixture *f = setup();
	static const uint32_t runner[] = { 200, 201, 300, 301, 302 };
	static const uint32_t main_frames[] = { 100 };
	static const uint32_t reporter[] = { 500, 501 };
	const struct py_thread_sample *th;

	(void)state;
	f->s.keep_sources = true;
	/* the main thread sleeps: by its ids the lent thread state looks idle */
	f->threads[0].state = 'S';
	add(f, SUB_INTERP, 0xd1, 10, PT_MAIN, PT_RUNNER - 0x9000, 300, 3)->idle = true;
	add(f, MAIN_INTERP, 0xa1, 10, PT_MAIN, MAIN_STACK - 0x3000, 100, 1);
	add(f, MAIN_INTERP, 0xa2, 11, PT_RUNNER, PT_RUNNER - 0x2000, 200, 2);
	add(f, MAIN_INTERP, 0xa4, 12, PT_REPORTER, PT_REPORTER - 0x2000, 500, 2);
	f->pi.tstate_tids = calloc(4, sizeof(*f->pi.tstate_tids));
	for (size_t i = 0; i < 4; i++) {
		f->pi.tstate_tids[i].tstate = f->s.threads[i].tstate;
		f->pi.tstate_tids[i].tid = f->s.threads[i].tid;
	}
	f->pi.ntstate_tids = 4;
	assert_int_equal(py_merge_nested(&f->pi, &f->s), 0);
	assert_int_equal(f->s.nthreads, 3);
	th = by_tid(&f->s, 11);
	expect_frames(&f->s, th, runner, 5);
	assert_int_equal(th->inner_tstate, 0xd1);
	assert_false(th->idle);
	/* sources travel with the frames (dump --locals, --native) */
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(f->s.src[th->first + i].frame, 0x5000 + runner[i]);
	expect_frames(&f->s, by_tid(&f->s, 10), main_frames, 1);
	expect_frames(&f->s, by_tid(&f->s, 12), reporter, 2);
	/* the lent thread state is now known as the sub-runner's */
	assert_int_equal(pyinterp_tstate_tid(&f->pi, 0xd1), 11);
	release(f);
}

/* Too deep together: cut at the root, the subinterpreter's frames kept. */
static void test_depth(void **state)
{
	struct fixture *f = setup();
	const struct py_thread_sample *th;

	(void)state;
	add(f, SUB_INTERP, 0xa3, 11, PT_RUNNER, 0, 50000, 3);
	add(f, MAIN_INTERP, 0xa2, 11, PT_RUNNER, 0, 1000, PY_MAX_DEPTH - 1);
	assert_int_equal(py_merge_nested(&f->pi, &f->s), 0);
	assert_int_equal(f->s.nthreads, 1);
	th = &f->s.threads[0];
	assert_int_equal(th->nframes, PY_MAX_DEPTH);
	assert_true(th->truncated);
	assert_int_equal(f->s.frames[th->first].func, 1002);
	assert_int_equal(f->s.frames[th->first + PY_MAX_DEPTH - 1].func, 50002);
	release(f);
}

int unit_subinterp_merge(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_ids),
		cmocka_unit_test(test_stale_and_unknown_tid),
		cmocka_unit_test(test_by_c_stack),
		cmocka_unit_test(test_depth),
	};
	return cmocka_run_group_tests_name("subinterp_merge", tests, NULL, NULL);
}
