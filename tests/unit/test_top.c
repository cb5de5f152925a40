/*
 * test_top.c - top's per-function counts (src/stacks/topstats.c), its text
 * view (src/output/top.c), and the GIL facts --gil relies on
 * (src/python/walk.c): which thread holds it, and when --gil is refused.
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

#include "pyspy/error.h"
#include "pyspy/output.h"
#include "pyspy/pyinterp.h"
#include "pyspy/stacks.h"
#include "pyspy/topstats.h"

struct fixture {
	struct profile *p;
	struct top_stats *ts;
	uint32_t mod, main_, work, rec, leaf, label;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->p = profile_new();
	f->ts = top_stats_new();
	assert_non_null(f->p);
	assert_non_null(f->ts);
	f->mod = profile_func(f->p, FUNC_PYTHON, "<module>", "/srv/app.py", "app.py");
	f->main_ = profile_func(f->p, FUNC_PYTHON, "main", "/srv/app.py", "app.py");
	f->work = profile_func(f->p, FUNC_PYTHON, "work", "/srv/lib/work.py", "lib/work.py");
	f->rec = profile_func(f->p, FUNC_PYTHON, "recurse", "/srv/app.py", "app.py");
	f->leaf = profile_func(f->p, FUNC_PYTHON, "leaf_with_a_rather_long_name_for_cutting",
			       "/srv/app.py", "app.py");
	f->label = profile_func(f->p, FUNC_LABEL, "thread \"t\" (1)", NULL, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	top_stats_free(f->ts);
	profile_free(f->p);
	free(f);
	return 0;
}

static void add(struct fixture *f, const uint32_t *funcs, size_t n, uint64_t count)
{
	struct frame_ref fr[16];

	for (size_t i = 0; i < n; i++)
		fr[i] = (struct frame_ref){ funcs[i], -1 };
	assert_int_equal(profile_add(f->p, fr, n, count), 0);
}

static const struct top_entry *find(struct fixture *f, uint32_t func)
{
	const struct top_entry *const *rows;
	size_t n = top_stats_sorted(f->ts, TOP_SORT_OWN, &rows);

	for (size_t i = 0; i < n; i++)
		if (rows[i]->func == func)
			return rows[i];
	return NULL;
}

/* Own counts the leaf, total every function once per stack, labels none. */
static void test_own_and_total(void **state)
{
	struct fixture *f = *state;
	uint32_t s1[] = { f->label, f->mod, f->main_, f->work };
	uint32_t s2[] = { f->mod, f->main_, f->rec, f->rec, f->rec, f->leaf };
	uint32_t s3[] = { f->mod, f->main_ };
	const struct top_entry *e;

	add(f, s1, 4, 7);
	add(f, s2, 6, 2);
	add(f, s3, 2, 1);
	assert_int_equal(top_stats_add_window(f->ts, f->p), 0);

	e = find(f, f->work);
	assert_non_null(e);
	assert_int_equal(e->own, 7);
	assert_int_equal(e->total, 7);
	e = find(f, f->rec);
	assert_non_null(e);
	assert_int_equal(e->own, 0);
	assert_int_equal(e->total, 2);      /* recursion counts once */
	e = find(f, f->main_);
	assert_int_equal(e->own, 1);
	assert_int_equal(e->total, 10);
	assert_int_equal(e->total_sum, 10);
	assert_null(find(f, f->label));     /* a thread root is no function */
}

/* A new window replaces the window counts and adds to the sums; reset zeroes the sums. */
static void test_windows_and_reset(void **state)
{
	struct fixture *f = *state;
	uint32_t s1[] = { f->mod, f->work };
	uint32_t s2[] = { f->mod, f->leaf };
	const struct top_entry *e;

	add(f, s1, 2, 5);
	assert_int_equal(top_stats_add_window(f->ts, f->p), 0);
	profile_reset(f->p);
	add(f, s2, 2, 3);
	assert_int_equal(top_stats_add_window(f->ts, f->p), 0);

	e = find(f, f->work);
	assert_non_null(e); /* seen before: still listed */
	assert_int_equal(e->own, 0);
	assert_int_equal(e->own_sum, 5);
	e = find(f, f->mod);
	assert_int_equal(e->total, 3);
	assert_int_equal(e->total_sum, 8);

	top_stats_reset_sums(f->ts);
	e = find(f, f->mod);
	assert_int_equal(e->total_sum, 0);
	assert_int_equal(e->total, 3);      /* the window stays */
	assert_null(find(f, f->work));      /* nothing left of it */
}

/* Each column sorts, largest first. */
static void test_sort_columns(void **state)
{
	struct fixture *f = *state;
	uint32_t a[] = { f->mod, f->work }, b[] = { f->mod, f->main_, f->leaf };
	const struct top_entry *const *rows;

	add(f, a, 2, 10);
	assert_int_equal(top_stats_add_window(f->ts, f->p), 0);
	profile_reset(f->p);
	add(f, b, 3, 4);
	assert_int_equal(top_stats_add_window(f->ts, f->p), 0);

	assert_int_equal(top_stats_sorted(f->ts, TOP_SORT_OWN, &rows), 4);
	assert_int_equal(rows[0]->func, f->leaf);     /* own 4 in this window */
	assert_int_equal(top_stats_sorted(f->ts, TOP_SORT_TOTAL, &rows), 4);
	/* A tie of 4: the next columns decide (OwnTime, then TotalTime). */
	assert_int_equal(rows[0]->func, f->leaf);
	assert_int_equal(rows[1]->func, f->mod);
	assert_int_equal(top_stats_sorted(f->ts, TOP_SORT_OWN_SUM, &rows), 4);
	assert_int_equal(rows[0]->func, f->work);     /* 10 since the start */
	assert_int_equal(top_stats_sorted(f->ts, TOP_SORT_TOTAL_SUM, &rows), 4);
	assert_int_equal(rows[0]->func, f->mod);      /* 14 */
	assert_int_equal(rows[1]->func, f->work);     /* 10 */
}

static char *render(struct fixture *f, const struct top_view *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	assert_int_equal(output_top(m, f->p, f->ts, v), 0);
	fclose(m);
	return buf;
}

/* The plain table: header, this window's functions, exact numbers. */
static void test_view_plain(void **state)
{
	struct fixture *f = *state;
	uint32_t a[] = { f->mod, f->work }, b[] = { f->mod, f->main_ };
	struct top_view v = { .title = "pyspy-c top: pid 42", .samples = 300, .elapsed = 3,
			      .win_samples = 100, .win_active = 150, .win_gil = 45,
			      .win_gil_known = 100, .win_gc = 2, .win_gc_known = 100,
			      .threads = 3, .interps = 2, .period = 0.01 };
	char *text;

	add(f, a, 2, 60);
	add(f, b, 2, 40);
	assert_int_equal(top_stats_add_window(f->ts, f->p), 0);
	text = render(f, &v);
	assert_string_equal(text,
		"pyspy-c top: pid 42\n"
		"Samples: 300 in 3.0 s, 0 late, 0 failed\n"
		"GIL: 45.00%, GC: 2.00%, Active: 150.00%, Threads: 3, Interpreters: 2\n"
		"\n"
		"    %Own  %Total  OwnTime TotalTime  Function (filename)\n"
		"  60.00%  60.00%    0.60s     0.60s  work (lib/work.py)\n"
		"  40.00%  40.00%    0.40s     0.40s  main (app.py)\n"
		"   0.00% 100.00%    0.00s     1.00s  <module> (app.py)\n");
	free(text);
	v.win_gil_known = 0;
	v.win_gc_known = 0;
	v.interps = 1;
	v.full_filenames = true;
	text = render(f, &v);
	assert_non_null(strstr(text, "GIL: n/a, GC: n/a, Active: 150.00%, Threads: 3\n"));
	assert_non_null(strstr(text, "work (/srv/lib/work.py)\n"));
	free(text);
}

/* The screen: cut to width and height, the status on the last line, unended. */
static void test_view_screen(void **state)
{
	struct fixture *f = *state;
	uint32_t a[] = { f->mod, f->work }, b[] = { f->mod, f->main_ },
		 c[] = { f->mod, f->leaf };
	struct top_view v = { .title = "a title longer than the screen is wide, to be cut",
			      .win_samples = 10, .period = 0.01, .width = 40, .height = 7,
			      .status = "q: quit and a status too long for it" };
	char *text, *p;
	int lines = 0;

	add(f, a, 2, 5);
	add(f, b, 2, 3);
	add(f, c, 2, 2);
	assert_int_equal(top_stats_add_window(f->ts, f->p), 0);
	text = render(f, &v);
	for (p = text; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 6);            /* 7 lines, the last not ended */
	assert_true(strncmp(text, "a title longer than the screen is wide, ", 40) == 0);
	assert_true(text[40] == '\n');
	assert_non_null(strstr(text, "  50.00%  50.00%    0.05s     0.05s  wor\n"));
	assert_null(strstr(text, "main"));     /* no room left for it */
	p = strrchr(text, '\n') + 1;
	assert_string_equal(p, "q: quit and a status too long for it");
	free(text);
	/* A screen smaller than the header: never more lines than it has. */
	for (int h = 1; h <= 7; h++) {
		v.height = h;
		text = render(f, &v);
		lines = 0;
		for (p = text; *p; p++)
			lines += *p == '\n';
		assert_int_equal(lines, h - 1);
		if (h > 1)
			assert_string_equal(strrchr(text, '\n') + 1, "q: quit and a status too long for it");
		free(text);
	}
	/* ANSI: the sort column in reverse video, lines cleared to their end. */
	v.ansi = true;
	v.sort = TOP_SORT_TOTAL;
	v.width = 0;
	text = render(f, &v);
	assert_non_null(strstr(text, "  \033[7m%Total\033[0m"));
	assert_non_null(strstr(text, "\033[K\n"));
	free(text);
}

/* The holder is the thread state the locked GIL names; none when unlocked or unknown. */
static void test_mark_gil(void **state)
{
	static struct py_sample s;
	struct pyinterp pi = { 0 };
	struct py_gil g = { .known = true, .locked = 1, .holder = 0x2000 };
	(void)state;

	s.nthreads = 3;
	for (size_t i = 0; i < 3; i++)
		s.threads[i].tstate = 0x1000 * (i + 1);
	assert_int_equal(pyinterp_mark_gil(&pi, &s, &g), 0);
	assert_true(s.gil_known);
	assert_false(s.threads[0].holds_gil);
	assert_true(s.threads[1].holds_gil);
	assert_false(s.threads[2].holds_gil);
	g.locked = 0; /* released: the last holder holds nothing */
	assert_int_equal(pyinterp_mark_gil(&pi, &s, &g), 0);
	assert_true(s.gil_known);
	assert_false(s.threads[1].holds_gil);
	g.known = false; /* free-threaded, or not found */
	assert_int_equal(pyinterp_mark_gil(&pi, &s, &g), 0);
	assert_false(s.gil_known);
}

/* --gil: refused, exit 7, on a free-threaded build and when the GIL was not found. */
static void test_gil_refused(void **state)
{
	struct target t = { .pid = 4242 };
	struct pyinterp pi = { .target = &t, .major = 3, .minor = 14 };
	int rc;
	(void)state;

	pi.layout.free_threaded = true;
	rc = pyinterp_gil_available(&pi);
	assert_int_equal(rc, -PERR_UNAVAILABLE);
	assert_int_equal(perr_exit_status(rc), 7);
	assert_string_equal(perr_detail(rc),
			    "--gil: python 3.14t in pid 4242 is a free-threaded build: it has no GIL");
	pi.layout.free_threaded = false;
	rc = pyinterp_gil_available(&pi);
	assert_int_equal(perr_exit_status(rc), 7);
	assert_non_null(strstr(perr_detail(rc), "cannot find the GIL of python 3.14 in pid 4242"));
	pi.gil_holder = 0x7f0000001000;
	assert_int_equal(pyinterp_gil_available(&pi), 0);
}

int unit_top(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_own_and_total, setup, teardown),
		cmocka_unit_test_setup_teardown(test_windows_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sort_columns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_screen, setup, teardown),
		cmocka_unit_test(test_mark_gil),
		cmocka_unit_test(test_gil_refused),
	};
	return cmocka_run_group_tests_name("top", tests, NULL, NULL);
}
