/*
 * test_output_formats.c - the encoders the writers share (UTF-8 checking,
 * JSON strings, XML text, protobuf varints, ISO times), the per-thread
 * timeline (src/stacks/timeline.c), the table of formats, and the
 * writers on small made-up profiles: pprof decoded back from its gzip and
 * protobuf bytes, Chrome-trace slices, speedscope weights, SVG escaping.
 * The real consumers read real recordings in tests/formats.
 */
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "pyspy/output.h"
#include "pyspy/stacks.h"
#include "pyspy/timeline.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Run an encoder that writes to a FILE into a string (free it). */
#define CAPTURE(buf, len, call)                                  \
	do {                                                     \
		FILE *out_ = open_memstream(&(buf), &(len));     \
		assert_non_null(out_);                           \
		call;                                            \
		assert_int_equal(fclose(out_), 0);               \
	} while (0)

static char *json(const char *s)
{
	char *buf = NULL;
	size_t len = 0;

	CAPTURE(buf, len, output_json_string(out_, s));
	return buf;
}

static char *xml(const char *s)
{
	char *buf = NULL;
	size_t len = 0;

	CAPTURE(buf, len, output_xml_text(out_, s));
	return buf;
}

static void expect_str(char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("got  \"%s\"\nwant \"%s\"", got, want);
	free(got);
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

static void test_utf8(void **state)
{
	static const struct {
		const char *s;
		long cp;
		size_t used;
	} cases[] = {
		{ "A", 'A', 1 },
		{ "\xc3\xa9", 0xe9, 2 },
		{ "\xe2\x82\xac", 0x20ac, 3 },
		{ "\xf0\x9f\x94\xa5", 0x1f525, 4 },
		{ "\xf4\x8f\xbf\xbf", 0x10ffff, 4 },
		{ "\x80", -1, 1 },               /* lone continuation byte */
		{ "\xc0\x80", -1, 1 },           /* overlong NUL */
		{ "\xc1\xbf", -1, 1 },           /* overlong */
		{ "\xe0\x80\x80", -1, 1 },       /* overlong */
		{ "\xf0\x80\x80\x80", -1, 1 },   /* overlong */
		{ "\xed\xa0\x80", -1, 1 },       /* UTF-16 surrogate */
		{ "\xf4\x90\x80\x80", -1, 1 },   /* above U+10FFFF */
		{ "\xf8\x88\x80\x80\x80", -1, 1 },
		{ "\xc3", -1, 1 },               /* cut short */
		{ "\xe2\x82", -1, 1 },
		{ "\xe2(\xac", -1, 1 },          /* not a continuation */
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t used = 99;
		long cp = output_utf8_next((const unsigned char *)cases[i].s, strlen(cases[i].s),
					   &used);
		if (cp != cases[i].cp || used != cases[i].used)
			fail_msg("case %zu: got %ld/%zu, want %ld/%zu", i, cp, used, cases[i].cp,
				 cases[i].used);
	}
}

static void test_json_string(void **state)
{
	(void)state;
	expect_str(json("plain <module>"), "\"plain <module>\"");
	expect_str(json("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
	expect_str(json("tab\there\nnl\rcr"), "\"tab\\there\\nnl\\rcr\"");
	expect_str(json("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
	expect_str(json("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
	expect_str(json("line\xe2\x80\xa8sep"), "\"line\\u2028sep\"");
	/* invalid UTF-8: one U+FFFD per bad byte, the rest kept */
	expect_str(json("a\xff" "b\xc3"), "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\"");
	expect_str(json("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	expect_str(json(""), "\"\"");
	expect_str(json(NULL), "\"\"");
}

static void test_xml_text(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	(void)state;

	expect_str(xml("<module> & \"q\" 'a'"),
		   "&lt;module&gt; &amp; &quot;q&quot; &#39;a&#39;");
	expect_str(xml("]]>"), "]]&gt;");
	/* control characters are not allowed in XML 1.0, even as references */
	expect_str(xml("a\x01" "b\x1b" "c"), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
	expect_str(xml("t\tn\nr\r"), "t&#9;n&#10;r&#13;");
	expect_str(xml("\xef\xbf\xbe"), "\xef\xbf\xbd");          /* U+FFFE */
	expect_str(xml("ok\xc3\xa9\xff"), "ok\xc3\xa9\xef\xbf\xbd");
	expect_str(xml(NULL), "");
	/* a length cut inside a character never emits half of it */
	CAPTURE(buf, len, output_xml_text_n(out_, "\xc3\xa9\xc3\xa9", 3));
	expect_str(buf, "\xc3\xa9\xef\xbf\xbd");
}

static void test_pb_varint(void **state)
{
	static const struct {
		uint64_t v;
		size_t n;
		uint8_t bytes[10];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 1, 1, { 0x01 } },
		{ 127, 1, { 0x7f } },
		{ 128, 2, { 0x80, 0x01 } },
		{ 150, 2, { 0x96, 0x01 } },
		{ 300, 2, { 0xac, 0x02 } },
		{ 16383, 2, { 0xff, 0x7f } },
		{ 16384, 3, { 0x80, 0x80, 0x01 } },
		{ 5000000, 4, { 0xc0, 0x96, 0xb1, 0x02 } },  /* 0x4c4b40 */
		{ UINT64_MAX, 10, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 } },
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t buf[16];
		size_t n;

		memset(buf, 0xee, sizeof(buf));
		n = output_pb_varint(buf, cases[i].v);
		assert_int_equal(n, cases[i].n);
		assert_memory_equal(buf, cases[i].bytes, n);
		assert_int_equal(buf[n], 0xee);
	}
}

static void test_iso_time(void **state)
{
	char buf[40];
	(void)state;

	output_iso_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	/* 2026-11-21T14:05:03.120Z */
	output_iso_time(1795269903120999999LL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-21T14:05:03.120Z");
	output_iso_time(-5, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
}

static void test_format_table(void **state)
{
	static const char *const names[] = { "folded", "speedscope", "chrometrace", "svg", "pprof" };
	const struct output_format *f;
	size_t n = 0;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		f = output_find(names[i]);
		assert_non_null(f);
		assert_string_equal(f->name, names[i]);
		assert_non_null(f->write);
		assert_non_null(f->summary);
	}
	while ((f = output_format_at(n)))
		assert_ptr_equal(output_find(f->name), f), n++;
	assert_int_equal(n, ARRAY_SIZE(names));
	assert_true(output_find("folded")->streams);
	assert_false(output_find("svg")->streams);
	assert_true(output_find("pprof")->binary);
	assert_false(output_find("svg")->binary);
	assert_true(output_find("speedscope")->needs_timeline);
	assert_true(output_find("chrometrace")->needs_timeline);
	assert_false(output_find("pprof")->needs_timeline);
	assert_null(output_find("SVG"));
	assert_null(output_find(""));
}

/* ------------------------------------------------------------------ */
/* Timeline                                                            */

#define MS 1000000LL

static struct profile *funcs(uint32_t *a, uint32_t *b, uint32_t *c)
{
	struct profile *p = profile_new();

	assert_non_null(p);
	*a = profile_func(p, FUNC_PYTHON, "a_outer", "/srv/app.py", "app.py");
	*b = profile_func(p, FUNC_PYTHON, "b_inner", "/srv/app.py", "app.py");
	*c = profile_func(p, FUNC_PYTHON, "c<&>", "/srv/app.py", "app.py");
	return p;
}

/*
 * Thread 10: [a b] [a b] [a c] (idle) [a c]; thread 11: [a] [a] at 10 ms
 * steps from 0.  Returns the timeline, finished.
 */
static struct timeline *sample_timeline(uint32_t a, uint32_t b, uint32_t c, uint32_t label)
{
	struct timeline *tl = timeline_new(10 * MS, 0, 0);
	struct frame_ref ab[] = { { a, 1 }, { b, 2 } }, ac[] = { { a, 1 }, { c, 3 } };
	struct frame_ref aa[] = { { a, 7 } };

	assert_non_null(tl);
	timeline_begin_sample(tl, 0);
	assert_int_equal(timeline_add(tl, 10, 0x1000, 100, label, ab, 2), 0);
	assert_int_equal(timeline_add(tl, 11, 0x2000, 101, FUNC_NONE, aa, 1), 0);
	timeline_begin_sample(tl, 10 * MS);
	assert_int_equal(timeline_add(tl, 10, 0x1000, 100, label, ab, 2), 0);
	assert_int_equal(timeline_add(tl, 11, 0x2000, 101, FUNC_NONE, aa, 1), 0);
	timeline_begin_sample(tl, 21 * MS);
	assert_int_equal(timeline_add(tl, 10, 0x1000, 100, label, ac, 2), 0);
	timeline_begin_sample(tl, 30 * MS);   /* thread 10 idle */
	timeline_begin_sample(tl, 40 * MS);
	assert_int_equal(timeline_add(tl, 10, 0x1000, 100, label, ac, 2), 0);
	timeline_finish(tl);
	return tl;
}

static void test_timeline_merges(void **state)
{
	uint32_t a, b, c;
	struct profile *p = funcs(&a, &b, &c);
	uint32_t label = profile_func(p, FUNC_LABEL, "thread \"main\" (10)", NULL, NULL);
	struct timeline *tl = sample_timeline(a, b, c, label);
	const struct timeline_thread *t0, *t1;
	const struct frame_ref *fr;
	size_t n;
	(void)state;

	assert_int_equal(timeline_nthreads(tl), 2);
	assert_int_equal(timeline_samples(tl), 5);
	t0 = timeline_thread(tl, 0);
	t1 = timeline_thread(tl, 1);
	assert_int_equal(t0->tid, 10);
	assert_int_equal(t0->label, label);
	assert_int_equal(t1->label, FUNC_NONE);
	/* [a b] x2 merged; [a c]; gap; [a c] again as a new slice */
	assert_int_equal(t0->nslices, 3);
	assert_int_equal(t0->slices[0].samples, 2);
	assert_int_equal(t0->slices[0].start, 0);
	assert_int_equal(t0->slices[0].end, 21 * MS);     /* the next sample */
	assert_int_equal(t0->slices[1].samples, 1);
	assert_int_equal(t0->slices[1].start, 21 * MS);
	assert_int_equal(t0->slices[1].end, 30 * MS);
	assert_int_equal(t0->slices[2].start, 40 * MS);
	assert_int_equal(t0->slices[2].end, 50 * MS);     /* one period after the last */
	assert_int_equal(t0->slices[1].stack, t0->slices[2].stack);
	assert_int_not_equal(t0->slices[0].stack, t0->slices[1].stack);
	assert_true(timeline_stack(tl, t0->slices[1].stack, &fr, &n));
	assert_int_equal(n, 2);
	assert_int_equal(fr[1].func, c);
	assert_int_equal(t1->nslices, 1);
	assert_int_equal(t1->slices[0].samples, 2);
	assert_int_equal(t1->slices[0].end, 21 * MS);
	assert_false(timeline_stack(tl, 99, &fr, &n));
	assert_int_equal(timeline_dropped(tl), 0);
	assert_int_equal(timeline_full_at(tl), -1);
	timeline_free(tl);
	profile_free(p);
}

static void test_timeline_bounds(void **state)
{
	struct frame_ref s[3] = { { 1, 1 }, { 1, 2 }, { 1, 3 } };
	struct timeline *tl = timeline_new(MS, 2, 2);   /* 2 slices, 2 stacks */
	(void)state;

	assert_non_null(tl);
	timeline_begin_sample(tl, 0);
	assert_int_equal(timeline_add(tl, 1, 0x10, 1, FUNC_NONE, &s[0], 1), 0);
	timeline_begin_sample(tl, MS);
	assert_int_equal(timeline_add(tl, 1, 0x10, 1, FUNC_NONE, &s[1], 1), 0);
	timeline_begin_sample(tl, 2 * MS);
	assert_int_equal(timeline_add(tl, 1, 0x10, 1, FUNC_NONE, &s[2], 1), -1);   /* 3rd stack */
	assert_int_equal(timeline_full_at(tl), 2 * MS);
	timeline_begin_sample(tl, 3 * MS);
	/* once full, even a known stack is dropped: no holes in the middle */
	assert_int_equal(timeline_add(tl, 1, 0x10, 1, FUNC_NONE, &s[1], 1), -1);
	assert_int_equal(timeline_dropped(tl), 2);
	timeline_finish(tl);
	assert_int_equal(timeline_thread(tl, 0)->nslices, 2);
	timeline_free(tl);

	/* the slice bound alone */
	tl = timeline_new(MS, 1, 0);
	assert_non_null(tl);
	timeline_begin_sample(tl, 0);
	assert_int_equal(timeline_add(tl, 1, 0x10, 1, FUNC_NONE, &s[0], 1), 0);
	timeline_begin_sample(tl, MS);
	assert_int_equal(timeline_add(tl, 1, 0x10, 1, FUNC_NONE, &s[0], 1), 0);    /* merges */
	timeline_begin_sample(tl, 2 * MS);
	assert_int_equal(timeline_add(tl, 1, 0x10, 1, FUNC_NONE, &s[1], 1), -1);
	assert_int_equal(timeline_dropped(tl), 1);
	timeline_free(tl);
}

/* One OS thread in two interpreters: two timelines; one twice: dropped. */
static void test_timeline_same_thread_twice(void **state)
{
	struct frame_ref s = { 1, 1 }, t = { 2, 1 };
	struct timeline *tl = timeline_new(MS, 0, 0);
	(void)state;

	assert_non_null(tl);
	timeline_begin_sample(tl, 0);
	assert_int_equal(timeline_add(tl, 7, 0xa000, 7, FUNC_NONE, &s, 1), 0);
	assert_int_equal(timeline_add(tl, 7, 0xb000, 7, FUNC_NONE, &t, 1), 0);
	assert_int_equal(timeline_add(tl, 7, 0xa000, 7, FUNC_NONE, &t, 1), -1);
	timeline_finish(tl);
	assert_int_equal(timeline_nthreads(tl), 2);
	assert_int_equal(timeline_thread(tl, 0)->nslices, 1);
	assert_int_equal(timeline_thread(tl, 1)->nslices, 1);
	assert_int_equal(timeline_dropped(tl), 1);
	timeline_free(tl);
}

static void test_timeline_many_threads(void **state)
{
	struct frame_ref s = { 1, 1 };
	struct timeline *tl = timeline_new(MS, 0, 0);
	(void)state;

	assert_non_null(tl);
	for (int k = 0; k < 3; k++) {
		timeline_begin_sample(tl, k * MS);
		for (pid_t t = 1; t <= 500; t++)
			assert_int_equal(timeline_add(tl, t, (uint64_t)t * 0x100, (uint64_t)t * 7, FUNC_NONE, &s, 1), 0);
	}
	timeline_finish(tl);
	assert_int_equal(timeline_nthreads(tl), 500);
	for (size_t i = 0; i < 500; i++) {
		const struct timeline_thread *th = timeline_thread(tl, i);
		assert_int_equal(th->nslices, 1);
		assert_int_equal(th->slices[0].samples, 3);
	}
	assert_int_equal(timeline_nstacks(tl), 1);
	timeline_free(tl);
}

/* ------------------------------------------------------------------ */
/* Writers                                                             */

static char *write_format(const char *name, const struct profile *p, const struct output_opts *o,
			  size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0;
	const struct output_format *f = output_find(name);

	assert_non_null(f);
	CAPTURE(buf, len, assert_int_equal(f->write(out_, p, o), 0));
	if (lenp)
		*lenp = len;
	return buf;
}

static void expect_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" not found in:\n%.4000s", needle, hay);
}

static void test_chrometrace_slices(void **state)
{
	uint32_t a, b, c;
	struct profile *p = funcs(&a, &b, &c);
	struct timeline *tl = sample_timeline(a, b, c, FUNC_NONE);
	struct output_opts o = { .timeline = tl, .rate = 100, .pid = 10, .command = "py \"x\"" };
	char *out = write_format("chrometrace", p, &o, NULL);
	const char *a0, *b0, *c0, *a1;
	(void)state;

	/* a_outer:1 spans both stacks of thread 10 up to the idle sample */
	a0 = strstr(out, "\"name\":\"a_outer (app.py:1)\",\"pid\":10,\"tid\":10,\"ts\":0,"
			 "\"dur\":30000,\"args\":{\"samples\":3}}");
	b0 = strstr(out, "\"name\":\"b_inner (app.py:2)\",\"pid\":10,\"tid\":10,\"ts\":0,"
			 "\"dur\":21000,\"args\":{\"samples\":2}}");
	c0 = strstr(out, "\"name\":\"c<&> (app.py:3)\",\"pid\":10,\"tid\":10,\"ts\":21000,"
			 "\"dur\":9000,\"args\":{\"samples\":1}}");
	a1 = strstr(out, "\"name\":\"a_outer (app.py:1)\",\"pid\":10,\"tid\":10,\"ts\":40000,"
			 "\"dur\":10000,\"args\":{\"samples\":1}}");
	if (!a0 || !b0 || !c0 || !a1)
		fail_msg("slices missing:\n%s", out);
	/* in start order, parents first */
	assert_true(a0 < b0 && b0 < c0 && c0 < a1);
	expect_contains(out, "\"tid\":11,\"ts\":0,\"dur\":21000,\"args\":{\"samples\":2}}");
	expect_contains(out, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":10,\"tid\":10,"
			"\"args\":{\"name\":\"thread (10)\"}}");
	expect_contains(out, "\"args\":{\"name\":\"py \\\"x\\\"\"}");
	free(out);
	timeline_free(tl);
	profile_free(p);
}

static void test_speedscope_weights(void **state)
{
	uint32_t a, b, c;
	struct profile *p = funcs(&a, &b, &c);
	uint32_t label = profile_func(p, FUNC_LABEL, "thread \"main\" (10)", NULL, NULL);
	struct timeline *tl = sample_timeline(a, b, c, label);
	struct output_opts o = { .timeline = tl, .rate = 100, .pid = 10 };
	char *out = write_format("speedscope", p, &o, NULL);
	(void)state;

	/* frames in order of first use by the stacks: [a b], [a:7], [a c] */
	expect_contains(out, "{\"name\":\"a_outer\",\"file\":\"app.py\",\"line\":1},\n"
			"{\"name\":\"b_inner\",\"file\":\"app.py\",\"line\":2},\n"
			"{\"name\":\"a_outer\",\"file\":\"app.py\",\"line\":7},\n"
			"{\"name\":\"c<&>\",\"file\":\"app.py\",\"line\":3}]");
	/* one sample per slice, weighted by its samples x 10 ms */
	expect_contains(out, "\"name\":\"thread \\\"main\\\" (10)\",\"unit\":\"milliseconds\",\n"
			"\"samples\":[[0,1],[0,3],[0,3]],\n\"weights\":[20,10,10],\n"
			"\"startValue\":0.000,\"endValue\":40.000}");
	expect_contains(out, "\"name\":\"thread (11)\",\"unit\":\"milliseconds\",\n"
			"\"samples\":[[2]],\n\"weights\":[20]");
	free(out);
	timeline_free(tl);
	profile_free(p);
}

static void test_timeline_writers_need_timeline(void **state)
{
	struct profile *p = profile_new();
	struct output_opts o = { .rate = 100 };
	FILE *out = fopen("/dev/null", "w");
	(void)state;

	assert_non_null(out);
	assert_int_not_equal(output_find("chrometrace")->write(out, p, &o), 0);
	fclose(out);
	profile_free(p);
}

/* speedscope without a timeline (the store's counts): one profile, weights = counts. */
static void test_speedscope_counts(void **state)
{
	uint32_t a, b, c;
	struct profile *p = funcs(&a, &b, &c);
	struct frame_ref s1[] = { { a, 1 }, { c, 3 } }, s2[] = { { a, 1 }, { b, 2 } };
	struct output_opts o = { .command = "fleet" };
	char *out = NULL;
	size_t len = 0;
	int rc;
	(void)state;

	assert_int_equal(profile_add(p, s1, 2, 7), 0);
	assert_int_equal(profile_add(p, s2, 2, 5), 0);
	CAPTURE(out, len, rc = output_find("speedscope")->write(out_, p, &o));
	assert_int_equal(rc, 0);
	expect_contains(out, "\"name\":\"fleet\"");
	expect_contains(out, "{\"name\":\"a_outer\",\"file\":\"app.py\",\"line\":1},\n"
			"{\"name\":\"c<&>\",\"file\":\"app.py\",\"line\":3},\n"
			"{\"name\":\"b_inner\",\"file\":\"app.py\",\"line\":2}]");
	expect_contains(out, "\"unit\":\"none\",\n\"samples\":[[0,1],[0,2]],\n"
			"\"weights\":[7,5],\n\"startValue\":0,\"endValue\":12}]}");
	free(out);
	profile_free(p);
}

static void test_svg_escapes_and_totals(void **state)
{
	uint32_t a, b, c;
	struct profile *p = funcs(&a, &b, &c);
	struct frame_ref s1[] = { { a, 1 }, { c, 3 } }, s2[] = { { a, 1 }, { b, 2 } };
	struct output_opts o = { .rate = 100, .pid = 42, .command = "python <app> & co",
				 .samples = 7 };
	char *out;
	(void)state;

	assert_int_equal(profile_add(p, s1, 2, 5), 0);
	assert_int_equal(profile_add(p, s2, 2, 2), 0);
	out = write_format("svg", p, &o, NULL);
	expect_contains(out, "<title>all&#10;7 samples, 100.00%</title>");
	expect_contains(out, "<title>c&lt;&amp;&gt; (app.py:3)&#10;5 samples, 71.43%</title>");
	expect_contains(out, "pyspy-c: python &lt;app&gt; &amp; co</text>");
	assert_null(strstr(out, "c<&>"));
	assert_null(strstr(out, "python <app>"));
	/* children in text order: b_inner before c<&> */
	assert_true(strstr(out, "b_inner (app.py:2)&#10;") < strstr(out, "c&lt;&amp;&gt;"));
	/* nothing from outside */
	assert_null(strstr(out, "href"));
	assert_null(strstr(out, "url("));
	free(out);
	profile_free(p);
}

/* Minimal protobuf reader for the pprof test. */
struct pbr {
	const uint8_t *p, *end;
};

static uint64_t pbr_varint(struct pbr *r)
{
	uint64_t v = 0;
	int shift = 0;

	while (r->p < r->end) {
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
	}
	fail_msg("truncated varint");
	return 0;
}

/* Next field: returns false at the end; *sub is set for length-delimited. */
static bool pbr_field(struct pbr *r, unsigned *field, uint64_t *v, struct pbr *sub)
{
	uint64_t key;

	if (r->p >= r->end)
		return false;
	key = pbr_varint(r);
	*field = (unsigned)(key >> 3);
	switch (key & 7) {
	case 0:
		*v = pbr_varint(r);
		return true;
	case 2:
		*v = pbr_varint(r);
		assert_true(*v <= (uint64_t)(r->end - r->p));
		sub->p = r->p;
		sub->end = r->p + *v;
		r->p += *v;
		return true;
	}
	fail_msg("unexpected wire type %u", (unsigned)(key & 7));
	return false;
}

static void test_pprof_decodes(void **state)
{
	uint32_t a, b, c;
	struct profile *p = funcs(&a, &b, &c);
	uint32_t lab = profile_func(p, FUNC_LABEL, "thread \"t\" (5)", NULL, NULL);
	struct frame_ref s1[] = { { lab, -1 }, { a, 1 }, { c, 3 } }, s2[] = { { a, 1 }, { b, 2 } };
	struct output_opts o = { .rate = 250, .pid = 42, .idle = true, .duration = 1.5,
				 .start_realtime_ns = 1795269903120000000LL };
	char *gz, *strings[64];
	size_t gzlen, nstr = 0, nsamples = 0, nlocs = 0, nfuncs = 0;
	uint8_t raw[1 << 16];
	uLongf rawlen = sizeof(raw);
	z_stream z;
	struct pbr r, sub;
	unsigned field;
	uint64_t v, period = 0, total = 0, ns_total = 0, duration = 0, time_nanos = 0;
	(void)state;

	assert_int_equal(profile_add(p, s1, 3, 5), 0);
	assert_int_equal(profile_add(p, s2, 2, 2), 0);
	gz = write_format("pprof", p, &o, &gzlen);
	assert_true(gzlen > 18);
	assert_int_equal((uint8_t)gz[0], 0x1f);
	assert_int_equal((uint8_t)gz[1], 0x8b);
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)gz;
	z.avail_in = (uInt)gzlen;
	z.next_out = raw;
	z.avail_out = (uInt)rawlen;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	rawlen = z.total_out;
	inflateEnd(&z);

	r = (struct pbr){ raw, raw + rawlen };
	while (pbr_field(&r, &field, &v, &sub)) {
		switch (field) {
		case 2: {   /* Sample */
			struct pbr s2r;
			unsigned f2;
			uint64_t v2;
			nsamples++;
			while (pbr_field(&sub, &f2, &v2, &s2r)) {
				if (f2 == 2) {   /* packed values: count, ns */
					uint64_t cnt = pbr_varint(&s2r), ns = pbr_varint(&s2r);
					assert_int_equal(ns, cnt * 4000000);
					total += cnt;
					ns_total += ns;
				}
			}
			break;
		}
		case 4:
			nlocs++;
			break;
		case 5:
			nfuncs++;
			break;
		case 6:
			assert_true(nstr < ARRAY_SIZE(strings));
			strings[nstr] = strndup((const char *)sub.p, (size_t)v);
			nstr++;
			break;
		case 9:
			time_nanos = v;
			break;
		case 10:
			duration = v;
			break;
		case 12:
			period = v;
			break;
		}
	}
	assert_int_equal(nsamples, 2);
	assert_int_equal(total, 7);
	assert_int_equal(ns_total, 7 * 4000000ull);
	assert_int_equal(period, 4000000);      /* 1e9 / 250 Hz */
	assert_int_equal(duration, 1500000000ull);
	assert_int_equal(time_nanos, 1795269903120000000ull);
	assert_int_equal(nlocs, 4);             /* label, a:1, c:3, b:2 */
	assert_int_equal(nfuncs, 4);
	assert_true(nstr > 0);
	assert_string_equal(strings[0], "");
	{
		static const char *const want[] = { "samples", "count", "wall", "nanoseconds",
						    "a_outer", "b_inner", "c<&>", "app.py",
						    "thread \"t\" (5)", "[python]" };
		for (size_t w = 0; w < ARRAY_SIZE(want); w++) {
			bool found = false;
			for (size_t i = 0; i < nstr; i++)
				found = found || strcmp(strings[i], want[w]) == 0;
			if (!found)
				fail_msg("string \"%s\" not in the string table", want[w]);
		}
	}
	for (size_t i = 0; i < nstr; i++)
		free(strings[i]);
	free(gz);
	profile_free(p);
}

int unit_output_formats(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_xml_text),
		cmocka_unit_test(test_pb_varint),
		cmocka_unit_test(test_iso_time),
		cmocka_unit_test(test_format_table),
		cmocka_unit_test(test_timeline_merges),
		cmocka_unit_test(test_timeline_bounds),
		cmocka_unit_test(test_timeline_same_thread_twice),
		cmocka_unit_test(test_timeline_many_threads),
		cmocka_unit_test(test_chrometrace_slices),
		cmocka_unit_test(test_speedscope_weights),
		cmocka_unit_test(test_timeline_writers_need_timeline),
		cmocka_unit_test(test_speedscope_counts),
		cmocka_unit_test(test_svg_escapes_and_totals),
		cmocka_unit_test(test_pprof_decodes),
	};

	return cmocka_run_group_tests_name("output_formats", tests, NULL, NULL);
}
