/*
 * test_folded.c - the folded-stacks writer (src/output/folded.c).
 *
 * Every output produced here goes through check_folded(), a strict parser
 * of what flamegraph.pl accepts: each line is frames separated by ';' (no
 * empty frame), one space, a positive integer, a newline; no trailing
 * spaces, no CR, and the lines in bytewise order.
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

#include "pyspy/output.h"
#include "pyspy/stacks.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* A strict folded-format parser                                       */

/*
 * Check one line (without its '\n').  Returns NULL when valid, else why
 * not; *count gets the sample count.
 */
static const char *folded_line_error(const char *line, size_t len, uint64_t *count)
{
	const char *sp, *p;
	uint64_t c = 0;

	if (len == 0)
		return "empty line";
	if (memchr(line, '\r', len) || memchr(line, '\n', len) || memchr(line, '\0', len))
		return "CR, LF or NUL inside the line";
	sp = NULL;
	for (p = line + len; p > line; p--)
		if (p[-1] == ' ') {
			sp = p - 1;
			break;
		}
	if (!sp)
		return "no space before the count";
	p = sp + 1;
	if (p == line + len)
		return "no count (trailing space)";
	if (*p == '0')
		return "count not a positive integer";
	for (; p < line + len; p++) {
		if (*p < '0' || *p > '9')
			return "count not a positive integer";
		if (c > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return "count overflows";
		c = c * 10 + (uint64_t)(*p - '0');
	}
	if (sp == line)
		return "no stack";
	if (sp[-1] == ' ')
		return "more than one space before the count (trailing space)";
	/* frames: ';'-separated, none empty */
	if (line[0] == ';' || sp[-1] == ';')
		return "empty frame";
	for (p = line; p < sp - 1; p++)
		if (p[0] == ';' && p[1] == ';')
			return "empty frame";
	*count = c;
	return NULL;
}

struct folded {
	char **lines;     /* without the count */
	uint64_t *counts;
	size_t n;
	uint64_t total;
};

static void folded_free(struct folded *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->lines[i]);
	free(f->lines);
	free(f->counts);
	memset(f, 0, sizeof(*f));
}

/* Parse and check a whole output; fails the test on the first bad line. */
static void check_folded(const char *text, size_t len, struct folded *f)
{
	const char *p = text, *end = text + len, *prev = NULL;
	size_t prev_len = 0;

	memset(f, 0, sizeof(*f));
	if (len && text[len - 1] != '\n')
		fail_msg("output does not end with a newline");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = (size_t)(nl - p);
		uint64_t count = 0;
		const char *why = folded_line_error(p, ll, &count);
		const char *sp;

		if (why)
			fail_msg("line %zu \"%.*s\": %s", f->n + 1, (int)ll, p, why);
		if (prev) {
			size_t m = prev_len < ll ? prev_len : ll;
			int c = memcmp(prev, p, m);
			if (c > 0 || (c == 0 && prev_len >= ll))
				fail_msg("lines not in bytewise order:\n  \"%.*s\"\n  \"%.*s\"",
					 (int)prev_len, prev, (int)ll, p);
		}
		sp = p + ll;
		while (sp[-1] != ' ')
			sp--;
		f->lines = realloc(f->lines, (f->n + 1) * sizeof(*f->lines));
		f->counts = realloc(f->counts, (f->n + 1) * sizeof(*f->counts));
		assert_non_null(f->lines);
		assert_non_null(f->counts);
		f->lines[f->n] = strndup(p, (size_t)(sp - 1 - p));
		assert_non_null(f->lines[f->n]);
		f->counts[f->n] = count;
		f->total += count;
		f->n++;
		prev = p;
		prev_len = ll;
		p = nl + 1;
	}
}

/* The folded output of p, checked; returns the text (free it). */
static char *fold(const struct profile *p, bool full, struct folded *f)
{
	struct output_opts o = { .full_filenames = full };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(output_folded(out, p, &o), 0);
	assert_int_equal(fclose(out), 0);
	assert_non_null(buf);
	check_folded(buf, len, f);
	return buf;
}

static void expect_output(const struct profile *p, bool full, const char *want)
{
	struct folded f;
	char *got = fold(p, full, &f);

	if (strcmp(got, want) != 0)
		fail_msg("folded output (full_filenames=%d):\n%s\nwant:\n%s", (int)full, got, want);
	free(got);
	folded_free(&f);
}

static struct profile *new_profile(void)
{
	struct profile *p = profile_new();

	assert_non_null(p);
	return p;
}

static uint32_t func(struct profile *p, enum func_kind k, const char *name, const char *file,
		     const char *short_file)
{
	uint32_t id = profile_func(p, k, name, file, short_file);

	assert_int_not_equal(id, FUNC_NONE);
	return id;
}

static void add(struct profile *p, const struct frame_ref *fr, size_t n, uint64_t w)
{
	assert_int_equal(profile_add(p, fr, n, w), 0);
}

/* ------------------------------------------------------------------ */
/* The parser itself: it must be able to fail                          */

static void test_parser_rejects(void **state)
{
	static const char *const bad[] = {
		"", " 1", "a", "a ", "a 0", "a 01", "a -1", "a 1.5", "a 1 ", "a  1",
		"a; 1", ";a 1", "a;;b 1", "a\r 1", "a 1\r", "a\t1", "a 18446744073709551616",
	};
	static const char *const good[] = {
		"a 1", "a;b 7", "x (f.py:1);y (g.py:2) 18446744073709551615", "a b 3",
		"thread \"Main Thread\" (12) 4",
	};
	uint64_t c;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (!folded_line_error(bad[i], strlen(bad[i]), &c))
			fail_msg("parser accepted \"%s\"", bad[i]);
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		const char *why = folded_line_error(good[i], strlen(good[i]), &c);
		if (why)
			fail_msg("parser rejected \"%s\": %s", good[i], why);
	}
	assert_true(folded_line_error("a;b 7", 5, &c) == NULL && c == 7);
}

/* ------------------------------------------------------------------ */
/* The writer                                                          */

static void test_format_and_order(void **state)
{
	struct profile *p = new_profile();
	uint32_t m = func(p, FUNC_PYTHON, "<module>", "/srv/app/app.py", "app.py");
	uint32_t r = func(p, FUNC_PYTHON, "run", "/srv/app/app.py", "app.py");
	uint32_t d = func(p, FUNC_PYTHON, "decode", "/usr/lib/python3.11/json/decoder.py",
			  "json/decoder.py");
	struct frame_ref s1[] = { { m, 10 }, { r, 5 }, { d, 337 } };
	struct frame_ref s2[] = { { m, 10 }, { r, 6 } };
	struct frame_ref s3[] = { { m, 12 } };
	struct frame_ref s4[] = { { m, 10 }, { r, 5 } };
	(void)state;

	/* added out of order: printed sorted */
	add(p, s3, 1, 4);
	add(p, s1, 3, 42);
	add(p, s2, 2, 1);
	add(p, s1, 3, 1);
	add(p, s4, 2, 5000000000ull);
	expect_output(p, false,
		      "<module> (app.py:10);run (app.py:5) 5000000000\n"
		      "<module> (app.py:10);run (app.py:5);decode (json/decoder.py:337) 43\n"
		      "<module> (app.py:10);run (app.py:6) 1\n"
		      "<module> (app.py:12) 4\n");
	expect_output(p, true,
		      "<module> (/srv/app/app.py:10);run (/srv/app/app.py:5) 5000000000\n"
		      "<module> (/srv/app/app.py:10);run (/srv/app/app.py:5);"
		      "decode (/usr/lib/python3.11/json/decoder.py:337) 43\n"
		      "<module> (/srv/app/app.py:10);run (/srv/app/app.py:6) 1\n"
		      "<module> (/srv/app/app.py:12) 4\n");
	assert_ptr_equal(output_find("folded")->write, output_folded);
	assert_null(output_find("Folded"));
	assert_null(output_find("speedscope-nope"));
	profile_free(p);
}

static void test_bytewise_order(void **state)
{
	struct profile *p = new_profile();
	static const char *const names[] = {
		"z", "\xc3\xa9t\xc3\xa9", "Z", "_", "a", "<module>", "~", "\x7f", "\xe2\x82\xac",
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct frame_ref fr = { func(p, FUNC_PYTHON, names[i], "m.py", NULL), 1 };
		add(p, &fr, 1, i + 1);
	}
	/* unsigned byte order: UTF-8 after ASCII, DEL after '~' */
	expect_output(p, false,
		      "<module> (m.py:1) 6\n"
		      "Z (m.py:1) 3\n"
		      "_ (m.py:1) 4\n"
		      "a (m.py:1) 5\n"
		      "z (m.py:1) 1\n"
		      "~ (m.py:1) 7\n"
		      "\x7f (m.py:1) 8\n"
		      "\xc3\xa9t\xc3\xa9 (m.py:1) 2\n"
		      "\xe2\x82\xac (m.py:1) 9\n");
	profile_free(p);
}

static void test_function_mode(void **state)
{
	struct profile *p = new_profile();
	uint32_t m = func(p, FUNC_PYTHON, "<module>", "/tmp/x/app.py", "app.py");
	uint32_t w = func(p, FUNC_PYTHON, "work", "/tmp/x/app.py", "app.py");
	struct frame_ref s1[] = { { m, -1 }, { w, -1 } };
	struct frame_ref s2[] = { { m, -1 } };
	struct frame_ref s3[] = { { m, 0 } };
	(void)state;

	add(p, s1, 2, 3);
	add(p, s2, 1, 2);
	add(p, s3, 1, 1);
	expect_output(p, false,
		      "<module> (app.py) 2\n"
		      "<module> (app.py);work (app.py) 3\n"
		      "<module> (app.py:0) 1\n");
	expect_output(p, true,
		      "<module> (/tmp/x/app.py) 2\n"
		      "<module> (/tmp/x/app.py);work (/tmp/x/app.py) 3\n"
		      "<module> (/tmp/x/app.py:0) 1\n");
	profile_free(p);
}

static void test_labels(void **state)
{
	struct profile *p = new_profile();
	uint32_t t1 = func(p, FUNC_LABEL, "thread \"MainThread\" (4242)", NULL, NULL);
	uint32_t t2 = func(p, FUNC_LABEL, "thread (0x7f00aa)", NULL, NULL);
	uint32_t m = func(p, FUNC_PYTHON, "<module>", "/a/b.py", "b.py");
	/* a label's line is never printed */
	struct frame_ref s1[] = { { t1, -1 }, { m, 3 } };
	struct frame_ref s2[] = { { t2, 17 }, { m, 3 } };
	(void)state;

	add(p, s1, 2, 2);
	add(p, s2, 2, 1);
	expect_output(p, false,
		      "thread \"MainThread\" (4242);<module> (b.py:3) 2\n"
		      "thread (0x7f00aa);<module> (b.py:3) 1\n");
	expect_output(p, true,
		      "thread \"MainThread\" (4242);<module> (/a/b.py:3) 2\n"
		      "thread (0x7f00aa);<module> (/a/b.py:3) 1\n");
	profile_free(p);
}

static void test_separators_replaced(void **state)
{
	struct profile *p = new_profile();
	uint32_t f = func(p, FUNC_PYTHON, "a;b\nc\rd", "/x;y/m\n.py", "m\n;.py");
	uint32_t t = func(p, FUNC_LABEL, "thread \"w;1\n\" (7)", NULL, NULL);
	struct frame_ref s[] = { { t, -1 }, { f, 1 } };
	(void)state;

	add(p, s, 2, 9);
	expect_output(p, false, "thread \"w_1_\" (7);a_b_c_d (m__.py:1) 9\n");
	expect_output(p, true, "thread \"w_1_\" (7);a_b_c_d (/x_y/m_.py:1) 9\n");
	profile_free(p);
}

/* Distinct stacks that print the same must come out as one line. */
static void test_identical_text_merged(void **state)
{
	struct profile *p = new_profile();
	/* same short name, different files */
	uint32_t a = func(p, FUNC_PYTHON, "f", "/one/pkg/mod.py", "pkg/mod.py");
	uint32_t b = func(p, FUNC_PYTHON, "f", "/two/pkg/mod.py", "pkg/mod.py");
	/* names that differ only by a separator */
	uint32_t c = func(p, FUNC_PYTHON, "g;h", "/one/pkg/mod.py", "pkg/mod.py");
	uint32_t d = func(p, FUNC_PYTHON, "g_h", "/one/pkg/mod.py", "pkg/mod.py");
	/* a label that reads like a Python frame */
	uint32_t l = func(p, FUNC_LABEL, "f (pkg/mod.py:1)", NULL, NULL);
	struct frame_ref s[][1] = { { { a, 1 } }, { { b, 1 } }, { { l, -1 } },
				    { { c, 2 } }, { { d, 2 } } };
	struct folded f;
	char *text;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(s); i++)
		add(p, s[i], 1, 10 + i);
	assert_int_equal(profile_nstacks(p), 5);
	expect_output(p, false,
		      "f (pkg/mod.py:1) 33\n"
		      "g_h (pkg/mod.py:2) 27\n");
	text = fold(p, true, &f);
	assert_int_equal(f.n, 4);
	assert_int_equal(f.total, 10 + 11 + 12 + 13 + 14);
	assert_string_equal(text,
			    "f (/one/pkg/mod.py:1) 10\n"
			    "f (/two/pkg/mod.py:1) 11\n"
			    "f (pkg/mod.py:1) 12\n"
			    "g_h (/one/pkg/mod.py:2) 27\n");
	free(text);
	folded_free(&f);
	profile_free(p);
}

/* Empty stacks and stacks counted zero times print nothing. */
static void test_nothing_to_print(void **state)
{
	struct profile *p = new_profile();
	uint32_t m = func(p, FUNC_PYTHON, "<module>", "a.py", NULL);
	struct frame_ref s[] = { { m, 1 } };
	(void)state;

	expect_output(p, false, "");
	add(p, NULL, 0, 5);
	add(p, s, 1, 0);
	expect_output(p, false, "");
	add(p, s, 1, 1);
	expect_output(p, false, "<module> (a.py:1) 1\n");
	profile_free(p);
}

/* A frame id the profile does not know prints as "?". */
static void test_unknown_func(void **state)
{
	struct profile *p = new_profile();
	struct frame_ref s[] = { { 12345, 1 } };
	(void)state;

	add(p, s, 1, 2);
	expect_output(p, false, "? 2\n");
	profile_free(p);
}

static void test_frame_text_caps(void **state)
{
	struct profile *p = new_profile();
	uint32_t f = func(p, FUNC_PYTHON, "\xc3\xa9t\xc3\xa9;x", "/a/mod.py", "mod.py");
	const char *full = "\xc3\xa9t\xc3\xa9_x (mod.py:123)";
	size_t flen = strlen(full);
	(void)state;

	for (size_t cap = 0; cap <= flen + 2; cap++) {
		char *buf = malloc(cap + 8);
		size_t r;

		assert_non_null(buf);
		memset(buf, '#', cap + 8);
		r = output_frame_text(p, (struct frame_ref){ f, 123 }, false, buf, cap);
		for (size_t i = cap; i < cap + 8; i++)
			if (buf[i] != '#')
				fail_msg("cap %zu: wrote byte %zu", cap, i);
		if (cap == 0) {
			assert_int_equal(r, 0);
		} else {
			size_t want = cap - 1 < flen ? cap - 1 : flen;
			if (r != want || strlen(buf) != want || memcmp(buf, full, want) != 0)
				fail_msg("cap %zu: \"%s\" (%zu), want %zu bytes of \"%s\"", cap,
					 buf, r, want, full);
		}
		free(buf);
	}
	profile_free(p);
}

/* Deep stacks and very long names: lines grow as needed, stay valid. */
static void test_deep_and_long(void **state)
{
	enum { DEPTH = 3000 };
	struct profile *p = new_profile();
	static struct frame_ref s[DEPTH];
	char *longname = malloc(20000);
	struct folded f;
	char *text;
	uint32_t a = func(p, FUNC_PYTHON, "a", "a.py", NULL);
	uint32_t lf;
	(void)state;

	assert_non_null(longname);
	memset(longname, 'n', 19999);
	longname[19999] = '\0';
	lf = func(p, FUNC_PYTHON, longname, "l.py", NULL);
	for (size_t i = 0; i < DEPTH; i++)
		s[i] = (struct frame_ref){ a, (int32_t)i };
	add(p, s, DEPTH, 1);
	s[1] = (struct frame_ref){ lf, 1 };
	add(p, s, 2, 3);
	text = fold(p, false, &f);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.total, 4);
	/* first line: 3000 frames */
	{
		const char *q = f.lines[0];
		for (size_t i = 0; i < DEPTH; i++) {
			char want[32];
			int w = snprintf(want, sizeof(want), "a (a.py:%zu)", i);
			if (strncmp(q, want, (size_t)w) != 0)
				fail_msg("frame %zu: \"%.20s\"", i, q);
			q += w;
			if (i + 1 < DEPTH)
				assert_int_equal(*q++, ';');
		}
		assert_int_equal(*q, '\0');
	}
	/* second line: the long frame is cut, but the line stays well formed */
	assert_true(strncmp(f.lines[1], "a (a.py:0);nnnn", 15) == 0);
	assert_true(strlen(f.lines[1]) < 11 + 8192);
	free(text);
	folded_free(&f);
	free(longname);
	profile_free(p);
}

/* Random names with every byte value: each line still passes the parser. */
static void test_random_names(void **state)
{
	struct profile *p = new_profile();
	uint32_t ids[200];
	uint32_t seed = 777;
	uint64_t total = 0;
	struct folded f;
	char *text;
	(void)state;

#define RND() (seed = seed * 1103515245u + 12345u, seed >> 8)
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		char name[24], file[24];
		size_t nl = RND() % 20, fl = RND() % 20;
		for (size_t k = 0; k < nl; k++)
			name[k] = (char)(1 + RND() % 255);
		for (size_t k = 0; k < fl; k++)
			file[k] = (char)(1 + RND() % 255);
		name[nl] = '\0';
		file[fl] = '\0';
		ids[i] = func(p, FUNC_PYTHON, name, file, NULL);
	}
	for (int i = 0; i < 5000; i++) {
		struct frame_ref s[12];
		size_t n = 1 + RND() % 12;
		uint64_t w = 1 + RND() % 1000;
		for (size_t k = 0; k < n; k++)
			s[k] = (struct frame_ref){ ids[RND() % ARRAY_SIZE(ids)],
						   (int32_t)(RND() % 5) - 1 };
		add(p, s, n, w);
		total += w;
	}
#undef RND
	assert_int_equal(profile_total(p), total);
	text = fold(p, false, &f);
	assert_int_equal(f.total, total);
	free(text);
	folded_free(&f);
	text = fold(p, true, &f);
	assert_int_equal(f.total, total);
	free(text);
	folded_free(&f);
	profile_free(p);
}

/*
 * The contract says "lines sorted bytewise".  folded.c sorts on the stack
 * text and then appends " COUNT", which is not the same order when one
 * stack's text is a prefix of another's and the longer one goes on with a
 * byte below '0'..'9' after a space, or with a control byte: here "x 9"
 * is printed before "x 1 3".
 */
static void test_sorted_as_whole_lines(void **state)
{
	struct profile *p = new_profile();
	struct frame_ref a = { func(p, FUNC_LABEL, "x", NULL, NULL), -1 };
	struct frame_ref b = { func(p, FUNC_LABEL, "x 1", NULL, NULL), -1 };
	struct frame_ref c = { func(p, FUNC_LABEL, "y", NULL, NULL), -1 };
	struct frame_ref d = { func(p, FUNC_LABEL, "y\tz", NULL, NULL), -1 };
	(void)state;

	add(p, &a, 1, 9);
	add(p, &b, 1, 3);
	add(p, &c, 1, 1);
	add(p, &d, 1, 1);
	/* what `LC_ALL=C sort` gives */
	expect_output(p, false, "x 1 3\nx 9\ny\tz 1\ny 1\n");
	profile_free(p);
}

/*
 * The writer sorts and merges without building its lines: it must give
 * exactly what building every line, sorting, merging equal text and
 * sorting again with the counts gives.  Names are chosen so that texts
 * are often prefixes of one another ("f", "f ", "f (", labels that read
 * like frames, names with ';' and spaces).
 */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *reference_folded(const struct profile *p, bool full)
{
	size_t n = profile_nstacks(p), k = 0, len = 0;
	char **lines = calloc(n + 1, sizeof(*lines)), *out;
	uint64_t *counts = calloc(n + 1, sizeof(*counts));
	const struct frame_ref *fr;
	size_t nf;
	uint64_t c;

	assert_non_null(lines);
	assert_non_null(counts);
	for (size_t i = 0; profile_stack(p, i, &fr, &nf, &c); i++) {
		char *t = calloc(1, nf * 8200 + 1), buf[8192];
		if (!nf || !c) {
			free(t);
			continue;
		}
		for (size_t j = 0; j < nf; j++) {
			if (j)
				strcat(t, ";");
			output_frame_text(p, fr[j], full, buf, sizeof(buf));
			strcat(t, buf);
		}
		lines[k] = t;
		counts[k++] = c;
	}
	/* sort by text (carrying counts along), merge equal text */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char *t = lines[j]; uint64_t u = counts[j];
			lines[j] = lines[j - 1], counts[j] = counts[j - 1];
			lines[j - 1] = t, counts[j - 1] = u;
		}
	{
		size_t m = 0;
		for (size_t i = 0; i < k; i++) {
			if (m && strcmp(lines[m - 1], lines[i]) == 0) {
				counts[m - 1] += counts[i];
				free(lines[i]);
				continue;
			}
			lines[m] = lines[i], counts[m++] = counts[i];
		}
		k = m;
	}
	for (size_t i = 0; i < k; i++) {
		char *t = malloc(strlen(lines[i]) + 32);
		sprintf(t, "%s %llu", lines[i], (unsigned long long)counts[i]);
		free(lines[i]);
		lines[i] = t;
		len += strlen(t) + 1;
	}
	qsort(lines, k, sizeof(*lines), cmp_str);
	out = calloc(1, len + 1);
	for (size_t i = 0; i < k; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
		free(lines[i]);
	}
	free(lines);
	free(counts);
	return out;
}

static void test_matches_reference(void **state)
{
	static const char *const names[] = {
		"f", "f ", "f (", "f (a.py", "f (a.py:1)", "f;g", "f g", "g", "g\t", "",
		"f (a.py:1);g (a.py:2)", "f (a.py:12)", "\xc3\xa9", "~",
		/* labels whose text reads like another line and its count */
		"x", "x 1", "x 1 0", "x 2 1", "x 10",
	};
	static const char *const files[] = { "a.py", "a.py:1", "b", "a", "a.py:1)" };
	uint32_t seed = 4242;
	(void)state;

#define RND() (seed = seed * 1103515245u + 12345u, seed >> 8)
	for (int round = 0; round < 40; round++) {
		struct profile *p = new_profile();
		uint32_t ids[96];
		size_t nid = 0;

		for (size_t i = 0; i < ARRAY_SIZE(names); i++)
			for (size_t j = 0; j < ARRAY_SIZE(files) && nid < ARRAY_SIZE(ids); j++)
				if (RND() % 3 == 0) {
					/* A label is printed as is: one that ends in a
					 * blank or is empty would make an invalid line. */
					size_t nl = strlen(names[i]);
					bool label = RND() % 4 == 0 && nl &&
						     names[i][nl - 1] != ' ' && names[i][nl - 1] != '\t';
					ids[nid++] = func(p, label ? FUNC_LABEL : FUNC_PYTHON,
							  names[i], files[j], files[(j + 1) % 5]);
				}
		if (!nid)
			ids[nid++] = func(p, FUNC_PYTHON, "f", "a.py", NULL);
		for (int i = 0; i < 300; i++) {
			struct frame_ref s[6];
			size_t n = 1 + RND() % 6;
			for (size_t k = 0; k < n; k++)
				s[k] = (struct frame_ref){ ids[RND() % nid], (int32_t)(RND() % 14) - 1 };
			add(p, s, n, RND() % 5 ? 1 + RND() % 20 : 1 + RND() % 3);
		}
		for (int full = 0; full < 2; full++) {
			struct folded f;
			char *want = reference_folded(p, full);
			char *got = fold(p, full, &f);
			if (strcmp(got, want) != 0)
				fail_msg("round %d full %d: output differs from the reference\n%s\n"
					 "want:\n%s", round, full, got, want);
			free(got);
			free(want);
			folded_free(&f);
		}
		profile_free(p);
	}
#undef RND
}

/* Writing to a stream that fails is reported. */
static void test_write_error(void **state)
{
	struct profile *p = new_profile();
	struct frame_ref s = { func(p, FUNC_PYTHON, "f", "a.py", NULL), 1 };
	struct output_opts o = { .full_filenames = false };
	char small[4];
	FILE *out;
	(void)state;

	add(p, &s, 1, 1);
	out = fopen("/dev/full", "w");
	if (out) {
		setvbuf(out, NULL, _IONBF, 0);
		assert_int_not_equal(output_folded(out, p, &o), 0);
		fclose(out);
	}
	out = fmemopen(small, sizeof(small), "w");
	assert_non_null(out);
	setvbuf(out, NULL, _IONBF, 0);
	assert_int_not_equal(output_folded(out, p, &o), 0);
	fclose(out);
	profile_free(p);
}

int unit_folded(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_rejects),
		cmocka_unit_test(test_format_and_order),
		cmocka_unit_test(test_bytewise_order),
		cmocka_unit_test(test_function_mode),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_separators_replaced),
		cmocka_unit_test(test_identical_text_merged),
		cmocka_unit_test(test_nothing_to_print),
		cmocka_unit_test(test_unknown_func),
		cmocka_unit_test(test_frame_text_caps),
		cmocka_unit_test(test_deep_and_long),
		cmocka_unit_test(test_random_names),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_sorted_as_whole_lines),
		cmocka_unit_test(test_matches_reference),
	};

	return cmocka_run_group_tests_name("folded", tests, NULL, NULL);
}
