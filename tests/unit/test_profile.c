/*
 * test_profile.c - struct profile: function interning, stack counting,
 * iteration order and growth (src/stacks/profile.c).
 */
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>

#include "pyspy/stacks.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Bytes in use on the malloc heap (0 when an ASan build replaces malloc). */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static struct profile *new_profile(void)
{
	struct profile *p = profile_new();

	assert_non_null(p);
	return p;
}

static uint32_t pyfunc(struct profile *p, const char *name, const char *file)
{
	uint32_t id = profile_func(p, FUNC_PYTHON, name, file, NULL);

	assert_int_not_equal(id, FUNC_NONE);
	return id;
}

/* ------------------------------------------------------------------ */
/* Functions                                                           */

static void test_func_interning(void **state)
{
	struct profile *p = new_profile();
	char name[16], file[32];
	uint32_t a, b, c, d, e, f, g, h;
	const struct func *fn;
	(void)state;

	a = profile_func(p, FUNC_PYTHON, "run", "/srv/app/main.py", "main.py");
	/* Same name and file, from different buffers: same id. */
	snprintf(name, sizeof(name), "%s", "run");
	snprintf(file, sizeof(file), "%s", "/srv/app/main.py");
	b = profile_func(p, FUNC_PYTHON, name, file, "main.py");
	assert_int_not_equal(a, FUNC_NONE);
	assert_int_equal(a, b);
	/* The short name is not part of the identity: first one wins. */
	assert_int_equal(profile_func(p, FUNC_PYTHON, "run", "/srv/app/main.py", "other.py"), a);
	c = profile_func(p, FUNC_PYTHON, "run", "/srv/app/other.py", NULL);  /* other file */
	d = profile_func(p, FUNC_PYTHON, "walk", "/srv/app/main.py", NULL);  /* other name */
	e = profile_func(p, FUNC_LABEL, "run", "/srv/app/main.py", NULL);    /* other kind */
	f = profile_func(p, FUNC_LABEL, "thread \"MainThread\" (42)", NULL, NULL);
	g = profile_func(p, FUNC_LABEL, "thread \"MainThread\" (42)", NULL, NULL);
	h = profile_func(p, FUNC_PYTHON, "thread \"MainThread\" (42)", NULL, NULL);
	assert_int_not_equal(c, FUNC_NONE);
	assert_int_not_equal(d, FUNC_NONE);
	assert_int_not_equal(e, FUNC_NONE);
	assert_int_not_equal(f, FUNC_NONE);
	assert_int_not_equal(h, FUNC_NONE);
	assert_int_not_equal(c, a);
	assert_int_not_equal(d, a);
	assert_int_not_equal(d, c);
	assert_int_not_equal(e, a);
	assert_int_equal(f, g);
	assert_int_not_equal(h, f);
	/* NULL file and "" file are different functions. */
	assert_int_not_equal(profile_func(p, FUNC_LABEL, "thread \"MainThread\" (42)", "", NULL),
			     f);

	fn = profile_func_get(p, a);
	assert_non_null(fn);
	assert_int_equal(fn->kind, FUNC_PYTHON);
	assert_string_equal(fn->name, "run");
	assert_string_equal(fn->file, "/srv/app/main.py");
	assert_string_equal(fn->short_file, "main.py");
	/* The profile owns copies. */
	assert_ptr_not_equal(profile_func_get(p, b)->name, name);

	fn = profile_func_get(p, c);
	assert_string_equal(fn->file, "/srv/app/other.py");
	assert_string_equal(fn->short_file, "/srv/app/other.py"); /* NULL short: the file */

	fn = profile_func_get(p, f);
	assert_int_equal(fn->kind, FUNC_LABEL);
	assert_string_equal(fn->name, "thread \"MainThread\" (42)");
	assert_null(fn->file);
	assert_null(fn->short_file);

	assert_null(profile_func_get(p, FUNC_NONE));
	assert_null(profile_func_get(p, 1000));
	profile_free(p);
}

/* Ids are dense (0, 1, 2, ...) and stay valid however much the tables grow. */
static void test_func_ids_survive_growth(void **state)
{
	enum { N = 20000 };
	struct profile *p = new_profile();
	char name[32], file[32];
	uint32_t first = pyfunc(p, "first", "a.py");
	(void)state;

	assert_int_equal(first, 0);
	for (uint32_t i = 1; i < N; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		snprintf(file, sizeof(file), "m%u.py", i % 97);
		assert_int_equal(pyfunc(p, name, file), i);
	}
	for (uint32_t i = 1; i < N; i++) {
		const struct func *fn = profile_func_get(p, i);
		snprintf(name, sizeof(name), "f%u", i);
		snprintf(file, sizeof(file), "m%u.py", i % 97);
		assert_non_null(fn);
		assert_string_equal(fn->name, name);
		assert_string_equal(fn->file, file);
		/* looked up again after all that growth: the same id */
		assert_int_equal(pyfunc(p, name, file), i);
	}
	assert_string_equal(profile_func_get(p, first)->name, "first");
	assert_int_equal(pyfunc(p, "first", "a.py"), first);
	assert_null(profile_func_get(p, N));
	profile_free(p);
}

/* ------------------------------------------------------------------ */
/* Stacks                                                              */

static void test_empty_profile(void **state)
{
	struct profile *p = new_profile();
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	size_t n;
	uint64_t count;
	(void)state;

	assert_int_equal(profile_nstacks(p), 0);
	assert_int_equal(profile_total(p), 0);
	assert_false(profile_next(p, &it, &fr, &n, &count));
	profile_free(p);
	profile_free(NULL);
}

static void expect_stack(const struct profile *p, struct profile_iter *it,
			 const struct frame_ref *want, size_t wn, uint64_t wcount)
{
	const struct frame_ref *fr;
	size_t n;
	uint64_t count;

	assert_true(profile_next(p, it, &fr, &n, &count));
	assert_int_equal(n, wn);
	assert_int_equal(count, wcount);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(fr[i].func, want[i].func);
		assert_int_equal(fr[i].line, want[i].line);
	}
}

static void test_add_and_merge(void **state)
{
	struct profile *p = new_profile();
	uint32_t m = pyfunc(p, "<module>", "app.py");
	uint32_t r = pyfunc(p, "run", "app.py");
	uint32_t w = pyfunc(p, "work", "lib.py");
	struct frame_ref s1[] = { { m, 10 }, { r, 5 }, { w, 2 } };
	struct frame_ref s2[] = { { m, 10 }, { r, 5 }, { w, 3 } };   /* other line */
	struct frame_ref s3[] = { { m, 10 }, { r, 5 } };             /* prefix */
	struct frame_ref s4[] = { { m, 10 }, { w, 5 }, { r, 2 } };   /* other order */
	struct frame_ref s5[] = { { m, 10 }, { r, -1 }, { w, 2 } };  /* no line */
	struct frame_ref copy[3];
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	size_t n;
	uint64_t count;
	(void)state;

	assert_int_equal(profile_add(p, s1, 3, 1), 0);
	memcpy(copy, s1, sizeof(copy));           /* same content, other memory */
	assert_int_equal(profile_add(p, copy, 3, 1), 0);
	assert_int_equal(profile_add(p, s1, 3, 5), 0);
	assert_int_equal(profile_nstacks(p), 1);
	assert_int_equal(profile_total(p), 7);

	/* The profile keeps its own copy of the frames. */
	copy[2].line = 99;
	assert_int_equal(profile_add(p, s2, 3, 2), 0);
	assert_int_equal(profile_add(p, s3, 2, 3), 0);
	assert_int_equal(profile_add(p, s4, 3, 4), 0);
	assert_int_equal(profile_add(p, s5, 3, 1), 0);
	assert_int_equal(profile_add(p, s3, 2, 1), 0);
	assert_int_equal(profile_add(p, s1, 3, 1), 0);
	assert_int_equal(profile_nstacks(p), 5);
	assert_int_equal(profile_total(p), 7 + 2 + 3 + 4 + 1 + 1 + 1);

	/* Insertion order, counts summed. */
	expect_stack(p, &it, s1, 3, 8);
	expect_stack(p, &it, s2, 3, 2);
	expect_stack(p, &it, s3, 2, 4);
	expect_stack(p, &it, s4, 3, 4);
	expect_stack(p, &it, s5, 3, 1);
	assert_false(profile_next(p, &it, &fr, &n, &count));
	assert_false(profile_next(p, &it, &fr, &n, &count));   /* stays at the end */

	/* A fresh iterator starts over. */
	it = (struct profile_iter){ 0 };
	expect_stack(p, &it, s1, 3, 8);
	profile_free(p);
}

static void test_empty_stack(void **state)
{
	struct profile *p = new_profile();
	uint32_t m = pyfunc(p, "<module>", "app.py");
	struct frame_ref one[] = { { m, 1 } };
	struct profile_iter it = { 0 };
	(void)state;

	/*
	 * An empty stack is a stack of its own and merges with itself.  (Built
	 * with -fsanitize=undefined, this shows profile_add() calling memcmp()
	 * with a NULL arena when only empty stacks were added.)
	 */
	assert_int_equal(profile_add(p, NULL, 0, 1), 0);
	assert_int_equal(profile_add(p, one, 0, 2), 0);
	assert_int_equal(profile_nstacks(p), 1);
	assert_int_equal(profile_add(p, one, 1, 1), 0);
	assert_int_equal(profile_add(p, NULL, 0, 1), 0);
	assert_int_equal(profile_nstacks(p), 2);
	assert_int_equal(profile_total(p), 5);
	expect_stack(p, &it, NULL, 0, 4);
	expect_stack(p, &it, one, 1, 1);
	profile_free(p);
}

/* Frames whose bytes hash alike are still told apart by content. */
static void test_distinct_similar_stacks(void **state)
{
	struct profile *p = new_profile();
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	size_t n, seen = 0;
	uint64_t count;
	(void)state;

	for (uint32_t f = 0; f < 4; f++)
		pyfunc(p, f == 0 ? "a" : f == 1 ? "b" : f == 2 ? "c" : "d", "x.py");
	/* every stack of depth 1..3 over 4 functions x 3 lines */
	for (size_t depth = 1; depth <= 3; depth++) {
		size_t combos = 1;
		for (size_t d = 0; d < depth; d++)
			combos *= 12;
		for (size_t c = 0; c < combos; c++) {
			struct frame_ref s[3];
			size_t x = c;
			for (size_t d = 0; d < depth; d++) {
				s[d].func = (uint32_t)(x % 4);
				s[d].line = (int32_t)((x / 4) % 3) - 1;   /* -1, 0, 1 */
				x /= 12;
			}
			assert_int_equal(profile_add(p, s, depth, depth), 0);
		}
	}
	assert_int_equal(profile_nstacks(p), 12 + 144 + 1728);
	assert_int_equal(profile_total(p), 12 * 1 + 144 * 2 + 1728 * 3);
	while (profile_next(p, &it, &fr, &n, &count)) {
		assert_int_equal(count, n);
		seen++;
	}
	assert_int_equal(seen, 12 + 144 + 1728);
	profile_free(p);
}

/* 100,000 distinct stacks: all kept, all findable, memory bounded. */
static void test_many_stacks(void **state)
{
	enum { N = 100000, DEPTH_MAX = 8 };
	struct profile *p = new_profile();
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	size_t n, k = 0;
	uint64_t count;
	uint32_t funcs[16];
	char name[16];
	(void)state;

	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "fn%d", i);
		funcs[i] = pyfunc(p, name, "big.py");
	}
#define STACK_OF(i, s, depth)                                                   \
	do {                                                                    \
		depth = 1 + (size_t)(i) % DEPTH_MAX;                            \
		for (size_t d_ = 0; d_ < depth; d_++) {                         \
			s[d_].func = funcs[((i) >> d_) & 15];                   \
			s[d_].line = (int32_t)(d_ + 1 == depth ? (i) : d_);     \
		}                                                               \
	} while (0)

	size_t heap0 = heap_in_use(), heap1, heap2;
	for (uint32_t i = 0; i < N; i++) {
		struct frame_ref s[DEPTH_MAX];
		size_t depth;
		STACK_OF(i, s, depth);
		assert_int_equal(profile_add(p, s, depth, 1), 0);
	}
	assert_int_equal(profile_nstacks(p), N);
	heap1 = heap_in_use();
	/*
	 * 100k stacks of 4.5 frames (8 bytes each) plus a 32-byte entry and
	 * index slots: about 8 MB with doubling; allow 3x that.
	 */
	if (heap1 > heap0 && heap1 - heap0 > (size_t)24 << 20)
		fail_msg("100k stacks took %zu MB", (heap1 - heap0) >> 20);
	/* Every stack again: found, not added. */
	for (uint32_t i = 0; i < N; i++) {
		struct frame_ref s[DEPTH_MAX];
		size_t depth;
		STACK_OF(i, s, depth);
		assert_int_equal(profile_add(p, s, depth, 2), 0);
	}
	assert_int_equal(profile_nstacks(p), N);
	assert_int_equal(profile_total(p), 3ull * N);
	heap2 = heap_in_use();
	if (heap2 != heap1)
		fail_msg("counting known stacks changed the heap: %zu -> %zu", heap1, heap2);
	/* Iteration gives them back in insertion order, with their frames. */
	while (profile_next(p, &it, &fr, &n, &count)) {
		struct frame_ref s[DEPTH_MAX];
		size_t depth;
		STACK_OF(k, s, depth);
		if (n != depth || count != 3 || memcmp(fr, s, depth * sizeof(*s)) != 0)
			fail_msg("stack %zu: depth %zu count %llu", k, n,
				 (unsigned long long)count);
		k++;
	}
	assert_int_equal(k, N);
#undef STACK_OF
	profile_free(p);
}

/* Many samples of few stacks cost nothing: memory grows with distinct stacks only. */
static void test_many_samples_no_growth(void **state)
{
	struct profile *p = new_profile();
	uint32_t a = pyfunc(p, "a", "a.py"), b = pyfunc(p, "b", "b.py");
	struct frame_ref s1[] = { { a, 1 }, { b, 2 } }, s2[] = { { b, 2 }, { a, 1 } };
	struct profile_iter it = { 0 };
	(void)state;

	size_t heap0;

	assert_int_equal(profile_add(p, s1, 2, 0), 0);
	assert_int_equal(profile_add(p, s2, 2, 0), 0);
	heap0 = heap_in_use();
	for (int i = 0; i < 1000000; i++)
		assert_int_equal(profile_add(p, (i & 1) ? s1 : s2, 2, 1), 0);
	if (heap_in_use() != heap0)
		fail_msg("1M samples of 2 known stacks grew the heap: %zu -> %zu", heap0,
			 heap_in_use());
	assert_int_equal(profile_add(p, s1, 2, UINT32_MAX), 0);
	assert_int_equal(profile_nstacks(p), 2);
	assert_int_equal(profile_total(p), 1000000ull + UINT32_MAX);
	expect_stack(p, &it, s1, 2, 500000ull + UINT32_MAX);
	expect_stack(p, &it, s2, 2, 500000);
	profile_free(p);
}


/* The bound on distinct stacks: rarest pruned, totals exact, loss visible. */
static void test_prune_rarest(void **state)
{
	struct profile *p = profile_new();
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	size_t n, nstacks = 0;
	uint64_t count, total = 0, marker = 0, expect_total = 0;
	uint32_t f;
	bool kept_hot = false;

	(void)state;
	assert_non_null(p);
	profile_set_limit(p, 8);
	f = profile_func(p, FUNC_PYTHON, "hot", "/x.py", "x.py");
	for (int rep = 0; rep < 3; rep++) {
		struct frame_ref hot = { f, 1 };
		assert_int_equal(profile_add(p, &hot, 1, 100), 0);
		expect_total += 100;
		for (int i = 0; i < 40; i++) {
			struct frame_ref cold = { f, 1000 + rep * 100 + i };
			assert_int_equal(profile_add(p, &cold, 1, 1), 0);
			expect_total += 1;
		}
	}
	assert_true(profile_nstacks(p) <= 9);
	assert_true(profile_prunings(p) >= 1);
	while (profile_next(p, &it, &fr, &n, &count)) {
		const struct func *fn = profile_func_get(p, fr[0].func);
		nstacks++;
		total += count;
		if (fn->kind == FUNC_LABEL && strcmp(fn->name, "[pruned: rare stacks]") == 0)
			marker = count;
		if (fr[0].func == f && fr[0].line == 1 && count == 300)
			kept_hot = true;
	}
	assert_int_equal(total, expect_total);
	assert_int_equal(profile_total(p), expect_total);
	assert_int_equal(marker, profile_pruned(p));
	assert_true(marker > 0);
	assert_true(kept_hot);
	profile_free(p);
}

/* profile_reset forgets counts, keeps functions, and works again after. */
static void test_reset(void **state)
{
	struct profile *p = profile_new();
	struct frame_ref a;
	uint32_t f;

	(void)state;
	f = profile_func(p, FUNC_PYTHON, "a", "/a.py", "a.py");
	a = (struct frame_ref){ f, 3 };
	assert_int_equal(profile_add(p, &a, 1, 5), 0);
	profile_reset(p);
	assert_int_equal(profile_nstacks(p), 0);
	assert_int_equal(profile_total(p), 0);
	assert_int_equal(profile_func(p, FUNC_PYTHON, "a", "/a.py", "a.py"), f);
	assert_int_equal(profile_add(p, &a, 1, 2), 0);
	assert_int_equal(profile_nstacks(p), 1);
	assert_int_equal(profile_total(p), 2);
	profile_free(p);
}

int unit_profile(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prune_rarest),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_func_interning),
		cmocka_unit_test(test_func_ids_survive_growth),
		cmocka_unit_test(test_empty_profile),
		cmocka_unit_test(test_add_and_merge),
		cmocka_unit_test(test_empty_stack),
		cmocka_unit_test(test_distinct_similar_stacks),
		cmocka_unit_test(test_many_stacks),
		cmocka_unit_test(test_many_samples_no_growth),
	};

	return cmocka_run_group_tests_name("profile", tests, NULL, NULL);
}
