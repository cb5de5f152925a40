/*
 * test_linetable.c - linetable_line() against hand-made tables, tables from
 * real code objects of every interpreter we have (tests/fixtures/linetables,
 * made by tests/fixtures/gen_linetables.py), tables made by encoders that
 * follow CPython's compilers, and random garbage.
 */
#include "unit.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pyspy/linetable.h"

#include "../fixtures/linetables/lt_types.h"
#include "../fixtures/linetables/all.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const enum linetable_format all_formats[] = {
	LINETABLE_LNOTAB_U, LINETABLE_LNOTAB, LINETABLE_PEP626, LINETABLE_PEP657,
};

/*
 * Run every lookup on an exact-size heap copy, so that a read past
 * tbl[len - 1] is caught when built with -fsanitize=address.
 */
static int line_at(enum linetable_format fmt, const uint8_t *tbl, size_t len,
		   int firstlineno, uint32_t offset)
{
	uint8_t *copy = NULL;
	int r;

	if (len) {
		copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, tbl, len);
	}
	r = linetable_line(fmt, copy, len, firstlineno, offset);
	free(copy);
	return r;
}

#define LINE(fmt, tbl, first, off) \
	line_at((fmt), (tbl), sizeof(tbl), (first), (off))

/* Check 'want' for every offset in [from, to). */
static void expect_range(enum linetable_format fmt, const uint8_t *tbl,
			 size_t len, int first, uint32_t from, uint32_t to,
			 int want)
{
	uint32_t off;

	for (off = from; off < to; off++) {
		int got = line_at(fmt, tbl, len, first, off);

		if (got != want)
			fail_msg("format %d offset %u: line %d, want %d",
				 (int)fmt, off, got, want);
	}
}

/* ------------------------------------------------------------------ */
/* Degenerate input                                                    */

static void test_empty_table(void **state)
{
	static const uint8_t one[1] = { 0 };

	(void)state;
	/* lnotab: no rows, every offset is on the first line (2.7 modules). */
	assert_int_equal(linetable_line(LINETABLE_LNOTAB_U, NULL, 0, 7, 0), 7);
	assert_int_equal(linetable_line(LINETABLE_LNOTAB, NULL, 0, 7, 100), 7);
	assert_int_equal(linetable_line(LINETABLE_LNOTAB, one, 0, 7, 0), 7);
	/* PEP 626/657: no range covers anything. */
	assert_int_equal(linetable_line(LINETABLE_PEP626, NULL, 0, 7, 0), -1);
	assert_int_equal(linetable_line(LINETABLE_PEP657, NULL, 0, 7, 0), -1);
	assert_int_equal(linetable_line(LINETABLE_PEP657, one, 0, 7, 0), -1);
}

static void test_bad_arguments(void **state)
{
	static const uint8_t t[] = { 0x80, 0x00 };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(all_formats); i++)
		assert_int_equal(linetable_line(all_formats[i], NULL, 4, 1, 0),
				 -1);
	assert_int_equal(linetable_line((enum linetable_format)99, t,
					sizeof(t), 1, 0), -1);
	/* A negative first line is no line. */
	assert_int_equal(LINE(LINETABLE_PEP657, t, -3, 0), -1);
	assert_int_equal(linetable_line(LINETABLE_LNOTAB, NULL, 0, -3, 0), -1);
}

/* ------------------------------------------------------------------ */
/* co_lnotab, 2.7 and 3.6-3.9                                          */

/*
 * The example of Objects/lnotab_notes.txt: rows (offset, line) (0, 1),
 * (6, 2), (50, 7), (350, 207), (361, 208); the 300-byte, 200-line jump is
 * split as CPython's assembler does: (255, 0) (45, 127) (0, 73).
 */
static const uint8_t notes_example[] = {
	6, 1, 44, 5, 255, 0, 45, 127, 0, 73, 11, 1,
};

static void check_notes_example(enum linetable_format fmt)
{
	expect_range(fmt, notes_example, sizeof(notes_example), 1, 0, 6, 1);
	expect_range(fmt, notes_example, sizeof(notes_example), 1, 6, 50, 2);
	expect_range(fmt, notes_example, sizeof(notes_example), 1, 50, 350, 7);
	expect_range(fmt, notes_example, sizeof(notes_example), 1, 350, 361,
		     207);
	/* Past the last row: still the last line, as PyCode_Addr2Line. */
	expect_range(fmt, notes_example, sizeof(notes_example), 1, 361, 400,
		     208);
	assert_int_equal(LINE(fmt, notes_example, 1, UINT32_MAX), 208);
}

static void test_lnotab_notes_example(void **state)
{
	(void)state;
	check_notes_example(LINETABLE_LNOTAB_U);
	check_notes_example(LINETABLE_LNOTAB);
}

static void test_lnotab_signedness(void **state)
{
	/* 3.6 made the line increment a signed byte. */
	static const uint8_t t[] = { 4, 0xff, 4, 0x80 };

	(void)state;
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 500, 0), 500);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 500, 4), 499);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 500, 8), 371);
	assert_int_equal(LINE(LINETABLE_LNOTAB_U, t, 500, 4), 755);
	assert_int_equal(LINE(LINETABLE_LNOTAB_U, t, 500, 8), 883);
}

static void test_lnotab_break_rule(void **state)
{
	/*
	 * The row applies from its own address on ("addr > target" breaks);
	 * several rows at one address all apply, so a split -300 jump lands
	 * in one go.
	 */
	static const uint8_t t[] = {
		2, 1, 0, 1,			/* offset 2: +2 */
		4, 0x80, 0, 0x80, 0, 0xd4,	/* offset 6: -128 -128 -44 */
	};

	(void)state;
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 400, 1), 400);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 400, 2), 402);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 400, 5), 402);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 400, 6), 102);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 400, 1000), 102);
}

static void test_lnotab_huge_deltas(void **state)
{
	uint8_t t[2 * 1000];
	size_t i;

	(void)state;
	/* 1000 rows of (255, 255): unsigned lines only grow. */
	memset(t, 255, sizeof(t));
	assert_int_equal(LINE(LINETABLE_LNOTAB_U, t, 0, 254), 0);
	assert_int_equal(LINE(LINETABLE_LNOTAB_U, t, 0, 255), 255);
	assert_int_equal(LINE(LINETABLE_LNOTAB_U, t, 0, 255 * 1000 - 1),
			 255 * 999);
	assert_int_equal(LINE(LINETABLE_LNOTAB_U, t, 0, UINT32_MAX),
			 255 * 1000);
	/* ...signed, (255, -1) each. */
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 5000, UINT32_MAX), 4000);
	/* Lines that would pass INT_MAX are not lines. */
	assert_int_equal(LINE(LINETABLE_LNOTAB_U, t, INT_MAX - 1000,
			      UINT32_MAX), -1);
	/* Lines that go below zero are not lines either. */
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 10, UINT32_MAX), -1);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 10, 255 * 5), 5);
	/* Address-only rows: (255, 0) x 999 then (0, 3). */
	for (i = 0; i < ARRAY_SIZE(t); i += 2) {
		t[i] = 255;
		t[i + 1] = 0;
	}
	t[ARRAY_SIZE(t) - 2] = 0;
	t[ARRAY_SIZE(t) - 1] = 3;
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 1, 255 * 999 - 1), 1);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 1, 255 * 999), 4);
}

static void test_lnotab_odd_length(void **state)
{
	/* CPython reads size / 2 rows: a trailing odd byte is ignored. */
	static const uint8_t t[] = { 2, 1, 0 };

	(void)state;
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 1, 0), 1);
	assert_int_equal(LINE(LINETABLE_LNOTAB, t, 1, 2), 2);
	assert_int_equal(LINE(LINETABLE_LNOTAB_U, t, 1, 100), 2);
}

/* ------------------------------------------------------------------ */
/* co_linetable, 3.10 (PEP 626)                                        */

static void test_pep626_ranges(void **state)
{
	static const uint8_t t[] = {
		4, 1,		/* [0, 4)   11 */
		2, 0x80,	/* [4, 6)   no line, running line stays 11 */
		6, 2,		/* [6, 12)  13 */
		0, 5,		/* zero width: running line 18 */
		4, 0xfd,	/* [12, 16) 15 */
	};

	(void)state;
	expect_range(LINETABLE_PEP626, t, sizeof(t), 10, 0, 4, 11);
	expect_range(LINETABLE_PEP626, t, sizeof(t), 10, 4, 6, -1);
	expect_range(LINETABLE_PEP626, t, sizeof(t), 10, 6, 12, 13);
	expect_range(LINETABLE_PEP626, t, sizeof(t), 10, 12, 16, 15);
	/* Past the last range. */
	expect_range(LINETABLE_PEP626, t, sizeof(t), 10, 16, 40, -1);
	assert_int_equal(LINE(LINETABLE_PEP626, t, 10, UINT32_MAX), -1);
}

static void test_pep626_malformed(void **state)
{
	static const uint8_t trailing_empty[] = { 2, 1, 0, 1 };
	static const uint8_t odd[] = { 2, 1, 2 };
	static const uint8_t all_none[] = { 254, 0x80, 254, 0x80 };
	static const uint8_t negative[] = { 2, 0xf0 };
	uint8_t big[2 * 600];
	size_t i;

	(void)state;
	/* A zero-width range at the end (CPython asserts on it). */
	assert_int_equal(LINE(LINETABLE_PEP626, trailing_empty, 1, 0), 2);
	assert_int_equal(LINE(LINETABLE_PEP626, trailing_empty, 1, 2), -1);
	/* Odd length: the lone last byte is no range. */
	assert_int_equal(LINE(LINETABLE_PEP626, odd, 1, 1), 2);
	assert_int_equal(LINE(LINETABLE_PEP626, odd, 1, 2), -1);
	expect_range(LINETABLE_PEP626, all_none, sizeof(all_none), 1, 0, 600,
		     -1);
	assert_int_equal(LINE(LINETABLE_PEP626, negative, 5, 0), -1);
	/* Huge deltas: 600 rows of (255, 127). */
	for (i = 0; i < ARRAY_SIZE(big); i += 2) {
		big[i] = 255;
		big[i + 1] = 127;
	}
	assert_int_equal(LINE(LINETABLE_PEP626, big, 0, 0), 127);
	assert_int_equal(LINE(LINETABLE_PEP626, big, 0, 255 * 600 - 1),
			 127 * 600);
	assert_int_equal(LINE(LINETABLE_PEP626, big, 0, 255 * 600), -1);
	assert_int_equal(LINE(LINETABLE_PEP626, big, INT_MAX - 200, 255), -1);
}

/* ------------------------------------------------------------------ */
/* co_linetable, 3.11+ (PEP 657 location table)                        */

#define HDR(code, units) ((uint8_t)(0x80 | ((code) << 3) | ((units) - 1)))

static void test_pep657_forms(void **state)
{
	static const uint8_t t[] = {
		HDR(13, 1), 0x00,		/* [0, 2)   no columns, +0 */
		HDR(11, 3), 4, 9,		/* [2, 8)   one line, +1 */
		HDR(15, 2),			/* [8, 12)  no location */
		HDR(0, 1), 0x15,		/* [12, 14) short form, +0 */
		HDR(14, 8), 0x07, 0x00,		/* [14, 30) long, -3, */
			0x49, 0x03, 0x53, 0x03,	/*   cols 201 and 211 */
		HDR(13, 1), 0x70, 0x12,		/* [30, 32) +600 (2 chunks) */
		HDR(12, 1), 1, 2,		/* [32, 34) one line, +2 */
		HDR(9, 1), 0x11,		/* [34, 36) short form, +0 */
	};

	(void)state;
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 0, 2, 5);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 2, 8, 6);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 8, 12, -1);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 12, 14, 6);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 14, 30, 3);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 30, 32, 603);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 32, 34, 605);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 34, 36, 605);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 5, 36, 50, -1);
	assert_int_equal(LINE(LINETABLE_PEP657, t, 5, UINT32_MAX), -1);
}

static void test_pep657_no_location(void **state)
{
	/* Code 15 entries: no line, and the running line is unchanged. */
	static const uint8_t t[] = {
		HDR(15, 8), HDR(15, 1), HDR(10, 1), 0, 1, HDR(15, 2),
		HDR(13, 1), 0x02,
	};

	(void)state;
	expect_range(LINETABLE_PEP657, t, sizeof(t), 42, 0, 18, -1);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 42, 18, 20, 42);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 42, 20, 24, -1);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 42, 24, 26, 43);
	expect_range(LINETABLE_PEP657, t, sizeof(t), 42, 26, 30, -1);
}

static void test_pep657_truncated_varint(void **state)
{
	static const uint8_t missing[] = { HDR(13, 1) };
	static const uint8_t cut[] = { HDR(13, 1), 0x41 };
	static const uint8_t cut_long[] = { HDR(14, 1), 0x7f, 0x7f };
	static const uint8_t into_header[] = { HDR(13, 1), 0x41, HDR(13, 1),
					       0x00 };
	static const uint8_t too_long[] = { HDR(13, 1), 0x40, 0x40, 0x40, 0x40,
					    0x40, 0x40, 0x00 };
	static const uint8_t later[] = { HDR(10, 1), 0, 1, HDR(14, 1), 0x41 };

	(void)state;
	assert_int_equal(LINE(LINETABLE_PEP657, missing, 1, 0), -1);
	assert_int_equal(LINE(LINETABLE_PEP657, cut, 1, 0), -1);
	assert_int_equal(LINE(LINETABLE_PEP657, cut_long, 1, 0), -1);
	assert_int_equal(LINE(LINETABLE_PEP657, into_header, 1, 0), -1);
	assert_int_equal(LINE(LINETABLE_PEP657, into_header, 1, 2), -1);
	assert_int_equal(LINE(LINETABLE_PEP657, too_long, 1, 0), -1);
	/* Only the entry holding the offset, or one before it, matters. */
	assert_int_equal(LINE(LINETABLE_PEP657, later, 1, 0), 1);
	assert_int_equal(LINE(LINETABLE_PEP657, later, 1, 2), -1);
}

static void test_pep657_malformed(void **state)
{
	static const uint8_t no_header[] = { 0x05, HDR(13, 1), 0x00 };
	/* Stray non-header bytes after an entry are skipped, as CPython. */
	static const uint8_t stray[] = { HDR(13, 1), 0x02, 0x05, 0x06,
					 HDR(11, 1), 0, 1 };
	/* A long form cut after its line delta still has a line. */
	static const uint8_t short_long[] = { HDR(14, 2), 0x04 };
	static const uint8_t negative[] = { HDR(13, 1), 0x0b };
	/* 6-chunk varint: delta 2^30 (u = 2^31). */
	static const uint8_t huge[] = { HDR(13, 1), 0x40, 0x40, 0x40, 0x40,
					0x40, 0x02 };

	(void)state;
	assert_int_equal(LINE(LINETABLE_PEP657, no_header, 1, 0), -1);
	assert_int_equal(LINE(LINETABLE_PEP657, stray, 1, 0), 2);
	assert_int_equal(LINE(LINETABLE_PEP657, stray, 1, 2), 3);
	assert_int_equal(LINE(LINETABLE_PEP657, stray, 1, 4), -1);
	expect_range(LINETABLE_PEP657, short_long, sizeof(short_long), 1, 0, 4,
		     3);
	assert_int_equal(LINE(LINETABLE_PEP657, negative, 3, 0), -1);
	assert_int_equal(LINE(LINETABLE_PEP657, huge, 0, 0), 1 << 30);
	assert_int_equal(LINE(LINETABLE_PEP657, huge, INT_MAX - (1 << 30), 0),
			 INT_MAX);
	assert_int_equal(LINE(LINETABLE_PEP657, huge, INT_MAX - (1 << 30) + 1,
			      0), -1);
}

/* ------------------------------------------------------------------ */
/* Vectors from real code objects                                      */

static char pair_src(const struct lt_case *c, size_t i)
{
	size_t n = strlen(c->src);

	if (n == c->npairs)
		return c->src[i];
	if (n == 0)
		return '?';
	return i + 1 == c->npairs && n > 1 ? c->src[1] : c->src[0];
}

static void test_real_version(void **state)
{
	const struct lt_version *v = *state;
	size_t ci, i, checked = 0, bad = 0;

	assert_non_null(v);
	assert_true(v->ncases > 0);
	for (ci = 0; ci < v->ncases; ci++) {
		const struct lt_case *c = &v->cases[ci];
		uint32_t off;

		for (i = 0; i < c->npairs; i++) {
			uint32_t o = (uint32_t)c->pairs[2 * i];
			int want = c->pairs[2 * i + 1];
			int got = line_at(c->fmt, c->tbl, c->len,
					  c->firstlineno, o);

			checked++;
			if (got != want && bad++ < 10)
				print_error("%s %s offset %u (%c): line %d, "
					    "want %d\n", v->version, c->name,
					    o, pair_src(c, i), got, want);
		}
		/*
		 * The generator checked with the interpreter's own
		 * PyCode_Addr2Line that every byte inside an instruction (its
		 * argument bytes, 3.11+ inline caches, odd bytes) has the
		 * line of the instruction: check those bytes too.
		 */
		if (c->npairs < 2 || pair_src(c, c->npairs - 1) != 'A')
			continue;
		for (i = 0; i + 1 < c->npairs; i++) {
			uint32_t end = (uint32_t)c->pairs[2 * (i + 1)];
			int want = c->pairs[2 * i + 1];

			for (off = (uint32_t)c->pairs[2 * i] + 1; off < end;
			     off++) {
				int got = line_at(c->fmt, c->tbl, c->len,
						  c->firstlineno, off);

				checked++;
				if (got != want && bad++ < 10)
					print_error("%s %s byte %u: line %d, "
						    "want %d\n", v->version,
						    c->name, off, got, want);
			}
		}
	}
	print_message("CPython %s: %zu code objects, %zu lookups, %zu wrong\n",
		      v->version, v->ncases, checked, bad);
	if (bad)
		fail_msg("CPython %s: %zu of %zu lookups wrong", v->version,
			 bad, checked);
}

/* ------------------------------------------------------------------ */
/* Tables from encoders that follow CPython's compilers                */

/* xorshift64*: fixed seeds, the same numbers on every machine. */
static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

/* Uniform-ish in [lo, hi]. */
static int rnd_range(int lo, int hi)
{
	return lo + (int)(rnd() % (uint32_t)(hi - lo + 1));
}

#define MAX_SPANS 48
#define TBL_CAP 8192

/* Byte range [start, end) with line 'line' (-1: none). */
struct span {
	uint32_t start, end;
	int line;
};

struct model {
	struct span s[MAX_SPANS];
	int n;
	uint8_t tbl[TBL_CAP];
	size_t len;
	int first;
};

static void put(struct model *m, int b)
{
	assert_true(m->len < TBL_CAP);
	m->tbl[m->len++] = (uint8_t)b;
}

static void put_varint(struct model *m, uint32_t v)
{
	while (v >= 64) {
		put(m, 0x40 | (v & 63));
		v >>= 6;
	}
	put(m, (int)v);
}

static void put_svarint(struct model *m, int v)
{
	put_varint(m, v < 0 ? ((uint32_t)-v << 1) | 1 : (uint32_t)v << 1);
}

/* Random spans; 'none' allows no-line spans, 'down' negative deltas. */
static void random_spans(struct model *m, int unit, int none, int down)
{
	uint32_t at = 0;
	int line, i;

	m->first = rnd_range(0, 2000);
	m->n = rnd_range(1, MAX_SPANS);
	m->len = 0;
	line = m->first;
	for (i = 0; i < m->n; i++) {
		int big = rnd() % 8 == 0;
		uint32_t size = (uint32_t)rnd_range(1, big ? 400 : 6) * unit;

		if (none && rnd() % 6 == 0) {
			m->s[i].line = -1;
		} else {
			int d = big ? rnd_range(down ? -700 : 0, 700)
				    : rnd_range(down ? -3 : 0, 3);

			if (line + d < 1)
				d = 1 - line;
			line += d;
			m->s[i].line = line;
		}
		m->s[i].start = at;
		m->s[i].end = at + size;
		at += size;
	}
}

/*
 * co_lnotab as 2.7's and 3.6-3.9's assemble_lnotab write it: one row per
 * line change, addresses split into 255 steps first, then lines into +127 /
 * -128 (signed) or +255 (unsigned) steps at the same address.
 */
static void encode_lnotab(struct model *m, int is_signed)
{
	uint32_t addr = 0;
	int line = m->first, i;

	for (i = 0; i < m->n; i++) {
		int dl = m->s[i].line - line;
		uint32_t da = m->s[i].start - addr;

		if (dl == 0)
			continue;
		while (da > 255) {
			put(m, 255);
			put(m, 0);
			da -= 255;
		}
		while (dl > (is_signed ? 127 : 255)) {
			put(m, (int)da);
			put(m, is_signed ? 127 : 255);
			da = 0;
			dl -= is_signed ? 127 : 255;
		}
		while (dl < -128) {
			put(m, (int)da);
			put(m, 0x80);
			da = 0;
			dl += 128;
		}
		put(m, (int)da);
		put(m, dl & 0xff);
		addr = m->s[i].start;
		line = m->s[i].line;
	}
}

/*
 * co_linetable as 3.10's assemble_line_range writes it: line deltas beyond
 * a signed byte go out as zero-width rows first, ranges longer than 254
 * bytes in 254-byte rows, no-line ranges as -128 rows.
 */
static void encode_pep626(struct model *m)
{
	int line = m->first, i;

	for (i = 0; i < m->n; i++) {
		uint32_t size = m->s[i].end - m->s[i].start;
		int dl = 0;

		if (m->s[i].line >= 0) {
			dl = m->s[i].line - line;
			line = m->s[i].line;
			while (dl > 127) {
				put(m, 0);
				put(m, 127);
				dl -= 127;
			}
			while (dl < -127) {
				put(m, 0);
				put(m, -127 & 0xff);
				dl += 127;
			}
		}
		while (size > 254) {
			put(m, 254);
			put(m, m->s[i].line < 0 ? 0x80 : dl & 0xff);
			dl = 0;
			size -= 254;
		}
		put(m, (int)size);
		put(m, m->s[i].line < 0 ? 0x80 : dl & 0xff);
	}
}

/*
 * co_linetable as 3.11+'s write_location_info_entry writes it: at most 8
 * code units per entry, the form picked from those that can hold the
 * location (here at random among them, with random columns).
 */
static void encode_pep657(struct model *m)
{
	int line = m->first, i;

	for (i = 0; i < m->n; i++) {
		uint32_t units = (m->s[i].end - m->s[i].start) / 2;
		int dl = m->s[i].line >= 0 ? m->s[i].line - line : 0;

		if (m->s[i].line >= 0)
			line = m->s[i].line;
		while (units > 0) {
			int n = units > 8 ? 8 : (int)units;
			int form = rnd_range(0, 3);
			int col = rnd_range(0, 79);

			units -= (uint32_t)n;
			if (m->s[i].line < 0) {
				put(m, HDR(15, n));
				continue;
			}
			if (form == 3 && dl == 0) {
				put(m, HDR(col >> 3, n));
				put(m, ((col & 7) << 4) | rnd_range(0, 15));
			} else if (form == 2 && dl >= 0 && dl <= 2) {
				put(m, HDR(10 + dl, n));
				put(m, col);
				put(m, rnd_range(col, 127));
			} else if (form == 1) {
				put(m, HDR(13, n));
				put_svarint(m, dl);
			} else {
				put(m, HDR(14, n));
				put_svarint(m, dl);
				put_varint(m, (uint32_t)rnd_range(0, 300));
				put_varint(m, (uint32_t)rnd_range(0, 5000));
				put_varint(m, (uint32_t)rnd_range(0, 5000));
			}
			dl = 0;
		}
	}
}

static void check_model(const struct model *m, enum linetable_format fmt,
			int iter)
{
	uint32_t end = m->s[m->n - 1].end, off;
	int i = 0, last = m->first, k;

	/* The lnotab formats keep the last line past the end. */
	for (k = 0; k < m->n; k++)
		if (m->s[k].line >= 0)
			last = m->s[k].line;

	for (off = 0; off < end + 8; off++) {
		int want, got;

		while (i < m->n && m->s[i].end <= off)
			i++;
		if (i < m->n)
			want = m->s[i].line;
		else if (fmt == LINETABLE_LNOTAB || fmt == LINETABLE_LNOTAB_U)
			want = last;
		else
			want = -1;
		got = line_at(fmt, m->tbl, m->len, m->first, off);
		if (got != want)
			fail_msg("format %d iteration %d offset %u: line %d, "
				 "want %d", (int)fmt, iter, off, got, want);
	}
}

static void test_encoded_roundtrip(void **state)
{
	static struct model m;
	int iter;

	(void)state;
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (iter = 0; iter < 300; iter++) {
		random_spans(&m, 1, 0, 0);	/* 2.7: any size, lines grow */
		encode_lnotab(&m, 0);
		check_model(&m, LINETABLE_LNOTAB_U, iter);

		random_spans(&m, 2, 0, 1);
		encode_lnotab(&m, 1);
		check_model(&m, LINETABLE_LNOTAB, iter);

		random_spans(&m, 2, 1, 1);
		encode_pep626(&m);
		check_model(&m, LINETABLE_PEP626, iter);

		random_spans(&m, 2, 1, 1);
		encode_pep657(&m);
		check_model(&m, LINETABLE_PEP657, iter);
	}
}

/* ------------------------------------------------------------------ */
/* Garbage                                                             */

static void test_fuzz_random_bytes(void **state)
{
	uint32_t offsets[8];
	int firsts[5];
	int iter;

	(void)state;
	rng_state = 0x5eed1234abcdef01ULL;
	for (iter = 0; iter < 10000; iter++) {
		size_t len = rnd() % 4 == 0 ? rnd() % 1024 : rnd() % 48;
		uint8_t *buf = malloc(len ? len : 1);
		size_t i, f, o;

		assert_non_null(buf);
		for (i = 0; i < len; i++) {
			buf[i] = (uint8_t)rnd();
			/* Bias towards header-ish bytes for PEP 657. */
			if (iter % 3 == 0 && rnd() % 2)
				buf[i] |= 0x80;
		}
		offsets[0] = 0;
		offsets[1] = 1;
		offsets[2] = rnd() % 64;
		offsets[3] = rnd() % 1024;
		offsets[4] = rnd() % 65536;
		offsets[5] = rnd();
		offsets[6] = UINT32_MAX;
		offsets[7] = (uint32_t)len * 2;
		firsts[0] = 0;
		firsts[1] = 1;
		firsts[2] = (int)(rnd() % 100000);
		firsts[3] = INT_MAX;
		firsts[4] = -1 - (int)(rnd() % 1000);

		for (f = 0; f < ARRAY_SIZE(all_formats); f++) {
			for (o = 0; o < ARRAY_SIZE(offsets); o++) {
				int first = firsts[(o + (size_t)iter) %
						   ARRAY_SIZE(firsts)];
				int r = linetable_line(all_formats[f], buf,
						       len, first, offsets[o]);

				if (r < -1)
					fail_msg("iteration %d format %zu: %d",
						 iter, f, r);
				assert_int_equal(r, linetable_line(
					all_formats[f], buf, len, first,
					offsets[o]));
			}
		}
		free(buf);
	}
}

/* ------------------------------------------------------------------ */

static const struct CMUnitTest fixed_tests[] = {
	cmocka_unit_test(test_empty_table),
	cmocka_unit_test(test_bad_arguments),
	cmocka_unit_test(test_lnotab_notes_example),
	cmocka_unit_test(test_lnotab_signedness),
	cmocka_unit_test(test_lnotab_break_rule),
	cmocka_unit_test(test_lnotab_huge_deltas),
	cmocka_unit_test(test_lnotab_odd_length),
	cmocka_unit_test(test_pep626_ranges),
	cmocka_unit_test(test_pep626_malformed),
	cmocka_unit_test(test_pep657_forms),
	cmocka_unit_test(test_pep657_no_location),
	cmocka_unit_test(test_pep657_truncated_varint),
	cmocka_unit_test(test_pep657_malformed),
	cmocka_unit_test(test_encoded_roundtrip),
	cmocka_unit_test(test_fuzz_random_bytes),
};

int unit_linetable(void)
{
	/* One test per interpreter version found in the fixtures. */
	static struct CMUnitTest tests[ARRAY_SIZE(fixed_tests) +
				       ARRAY_SIZE(lt_versions)];
	static char names[ARRAY_SIZE(lt_versions)][40];
	size_t i, n = 0;

	for (i = 0; i < ARRAY_SIZE(fixed_tests); i++)
		tests[n++] = fixed_tests[i];
	for (i = 0; i < ARRAY_SIZE(lt_versions); i++) {
		snprintf(names[i], sizeof(names[i]), "test_real_cpython_%s",
			 lt_versions[i].version);
		tests[n].name = names[i];
		tests[n].test_func = test_real_version;
		tests[n].setup_func = NULL;
		tests[n].teardown_func = NULL;
		tests[n].initial_state = (void *)&lt_versions[i];
		n++;
	}
	return cmocka_run_group_tests_name("linetable", tests, NULL, NULL);
}
