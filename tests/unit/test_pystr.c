/*
 * test_pystr.c - pystr_unicode_info(), pystr_bytes_info() and
 * pystr_to_utf8() on string headers laid out the way CPython lays them out.
 *
 * Headers are built from the built-in layouts (py_layout_for()) with the
 * state words real interpreters hold: the low bits are interned:2 kind:3
 * compact:1 ascii:1 (then ready:1 up to 3.11, statically_allocated:1 from
 * 3.12), and the upper 24 bits are padding that holds whatever was there
 * (values copied from live 3.6/3.11/3.12/3.13 objects with ctypes, e.g.
 * 0xdc26fda4 for a latin-1 str in 3.11, 0xffffff66 for an interned ASCII
 * str in 3.12).  Every buffer handed to the code under test is an
 * exact-size heap copy so that -fsanitize=address catches a read or write
 * past its end.
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
#include "pyspy/pystr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ADDR 0x7f12345678c0ull /* remote address of the test object */

/* State bits, as in Include/cpython/unicodeobject.h (3.3 - 3.13). */
#define ST_INTERNED(x) ((uint32_t)(x) & 3u)
#define ST_KIND(k)     ((uint32_t)(k) << 2)
#define ST_COMPACT     (1u << 5)
#define ST_ASCII       (1u << 6)
#define ST_BIT7        (1u << 7) /* ready (<= 3.11), statically_allocated (3.12+) */

static const struct py_layout *layout(int major, int minor)
{
	const struct py_layout *l = py_layout_for(major, minor);

	if (!l)
		fail_msg("no built-in layout for %d.%d", major, minor);
	return l;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * A str header for layout l: refcount, a type pointer, length, hash and
 * state; everything else (wstr, utf8, utf8_length) is left as garbage.
 * Returns an exact-size heap block of hdr_len bytes.
 */
static uint8_t *str_header(const struct py_layout *l, size_t hdr_len, uint32_t state,
			   uint64_t length)
{
	uint8_t *h = malloc(hdr_len ? hdr_len : 1);

	assert_non_null(h);
	memset(h, 0xa5, hdr_len);
	if (hdr_len >= 8)
		put_u64(h, 1);                          /* ob_refcnt */
	if ((size_t)l->object_type + 8 <= hdr_len)
		put_u64(h + l->object_type, 0x55555555aa00ull); /* ob_type */
	if ((size_t)l->unicode_length + 8 <= hdr_len)
		put_u64(h + l->unicode_length, length);
	if ((size_t)l->unicode_state + 4 <= hdr_len)
		put_u32(h + l->unicode_state, state);
	return h;
}

static int uinfo(const struct py_layout *l, size_t hdr_len, uint32_t state, uint64_t length,
		 struct pystr_info *out)
{
	uint8_t *h = str_header(l, hdr_len, state, length);
	int r;

	memset(out, 0x5a, sizeof(*out));
	r = pystr_unicode_info(h, hdr_len, l, ADDR, out);
	free(h);
	return r;
}

/* ------------------------------------------------------------------ */
/* Layout facts the rest of the file relies on                         */

static void test_layout_sizes(void **state)
{
	static const int v3[][2] = { {3, 6}, {3, 7}, {3, 8}, {3, 9}, {3, 10}, {3, 11} };
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(v3); i++) {
		const struct py_layout *l = layout(v3[i][0], v3[i][1]);
		assert_int_equal(l->unicode_ascii_size, 48);
		assert_int_equal(l->unicode_compact_size, 72);
		assert_int_equal(l->unicode_length, 16);
		assert_int_equal(l->unicode_state, 32);
	}
	assert_int_equal(layout(3, 12)->unicode_ascii_size, 40);
	assert_int_equal(layout(3, 12)->unicode_compact_size, 56);
	assert_int_equal(layout(3, 13)->unicode_ascii_size, 40);
	assert_int_equal(layout(3, 13)->unicode_compact_size, 56);
	assert_int_equal(layout(2, 7)->unicode_state, -1);
	assert_int_equal(layout(2, 7)->bytes_sval, 36);
}

/* ------------------------------------------------------------------ */
/* pystr_unicode_info                                                  */

struct ucase {
	const char *what;
	uint32_t state;
	int kind;
	int ascii;
};

static const struct ucase compact_cases[] = {
	{ "ascii", ST_KIND(1) | ST_COMPACT | ST_ASCII | ST_BIT7, 1, 1 },
	{ "ascii interned", ST_INTERNED(1) | ST_KIND(1) | ST_COMPACT | ST_ASCII, 1, 1 },
	{ "ascii immortal interned", ST_INTERNED(3) | ST_KIND(1) | ST_COMPACT | ST_ASCII, 1, 1 },
	{ "ascii, padding garbage (3.12)", 0xffffff66u, 1, 1 },
	{ "ascii, padding garbage (3.11)", 0xdbc16ce5u, 1, 1 },
	{ "latin-1", ST_KIND(1) | ST_COMPACT | ST_BIT7, 1, 0 },
	{ "latin-1, padding garbage (3.11)", 0xdc26fda4u, 1, 0 },
	{ "ucs2", ST_KIND(2) | ST_COMPACT | ST_BIT7, 2, 0 },
	{ "ucs2, padding garbage", 0x785c2728u, 2, 0 },
	{ "ucs4", ST_KIND(4) | ST_COMPACT | ST_BIT7, 4, 0 },
	{ "ucs4 (3.12)", 0x30u, 4, 0 },
	{ "ucs4 interned", ST_INTERNED(2) | ST_KIND(4) | ST_COMPACT, 4, 0 },
};

static void check_compact(int major, int minor, int ascii_size, int compact_size)
{
	const struct py_layout *l = layout(major, minor);

	for (size_t i = 0; i < ARRAY_SIZE(compact_cases); i++) {
		const struct ucase *c = &compact_cases[i];
		struct pystr_info si;
		uint64_t want = ADDR + (uint64_t)(c->ascii ? ascii_size : compact_size);

		if (uinfo(l, (size_t)l->unicode_compact_size, c->state, 11, &si) != 0)
			fail_msg("%d.%d %s (state %#x): rejected", major, minor, c->what, c->state);
		if (si.data != want || si.kind != c->kind || si.nchars != 11 || si.cut != 0)
			fail_msg("%d.%d %s: data +%lld kind %d nchars %zu cut %d, want +%lld kind %d "
				 "nchars 11 cut 0", major, minor, c->what,
				 (long long)(si.data - ADDR), si.kind, si.nchars, si.cut,
				 (long long)(want - ADDR), c->kind);
	}
}

static void test_unicode_compact_311(void **state)
{
	(void)state;
	check_compact(3, 11, 48, 72);
	check_compact(3, 6, 48, 72);
	check_compact(3, 10, 48, 72);
}

static void test_unicode_compact_312(void **state)
{
	(void)state;
	check_compact(3, 12, 40, 56);
	check_compact(3, 13, 40, 56);
}

/*
 * Free-threaded 3.14 made 'interned' a whole byte: kind:3 compact:1 ascii:1
 * start at bit 8 (layout->unicode_kind_shift).
 */
static void test_unicode_kind_shift_8(void **state)
{
	struct py_layout ft = *layout(3, 13);
	struct pystr_info si;
	(void)state;

	assert_int_equal(layout(3, 13)->unicode_kind_shift, 2);
	assert_int_equal(layout(3, 6)->unicode_kind_shift, 2);
	ft.unicode_kind_shift = 8;
#define ST8(interned, kind, compact, ascii) \
	((uint32_t)(interned) | (uint32_t)(kind) << 8 | (uint32_t)(compact) << 11 | (uint32_t)(ascii) << 12)
	assert_int_equal(uinfo(&ft, 56, ST8(0, 1, 1, 1), 4, &si), 0);
	assert_true(si.data == ADDR + 40);
	assert_int_equal(si.kind, 1);
	assert_int_equal(uinfo(&ft, 56, ST8(2, 1, 1, 1) | 0xff000000u, 4, &si), 0);
	assert_true(si.data == ADDR + 40);
	assert_int_equal(uinfo(&ft, 56, ST8(0xff, 2, 1, 0), 4, &si), 0);
	assert_true(si.data == ADDR + 56);
	assert_int_equal(si.kind, 2);
	assert_int_equal(uinfo(&ft, 56, ST8(1, 4, 1, 0), 4, &si), 0);
	assert_int_equal(si.kind, 4);
	assert_int_not_equal(uinfo(&ft, 56, ST8(0, 4, 0, 0), 4, &si), 0);  /* not compact */
	assert_int_not_equal(uinfo(&ft, 56, ST8(0, 3, 1, 0), 4, &si), 0);  /* bad kind */
	assert_int_not_equal(uinfo(&ft, 56, ST8(0, 2, 1, 1), 4, &si), 0);  /* ascii, kind 2 */
	/* the 3.13 encoding of a compact ASCII str means nothing at shift 8 */
	assert_int_not_equal(uinfo(&ft, 56, ST_KIND(1) | ST_COMPACT | ST_ASCII, 4, &si), 0);
#undef ST8
}

static void test_unicode_rejects_non_compact(void **state)
{
	static const int versions[][2] = { {3, 6}, {3, 11}, {3, 12}, {3, 13} };
	static const uint32_t states[] = {
		ST_KIND(1) | ST_ASCII | ST_BIT7,    /* legacy ascii, ready */
		ST_KIND(1) | ST_BIT7,               /* legacy latin-1 */
		ST_KIND(2) | ST_BIT7,
		ST_KIND(4) | ST_BIT7,
		0,                                  /* legacy, not ready (wstr only) */
		0xffffff00u | ST_KIND(2),           /* garbage above, compact clear */
	};
	(void)state;

	for (size_t v = 0; v < ARRAY_SIZE(versions); v++) {
		const struct py_layout *l = layout(versions[v][0], versions[v][1]);
		for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
			struct pystr_info si;
			if (uinfo(l, (size_t)l->unicode_compact_size, states[i], 5, &si) == 0)
				fail_msg("%d.%d: non-compact state %#x accepted", l->major,
					 l->minor, states[i]);
		}
	}
}

static void test_unicode_rejects_bad_kind(void **state)
{
	const struct py_layout *ls[] = { layout(3, 11), layout(3, 12) };
	(void)state;

	for (size_t v = 0; v < ARRAY_SIZE(ls); v++) {
		const struct py_layout *l = ls[v];
		for (uint32_t kind = 0; kind < 8; kind++) {
			for (int ascii = 0; ascii < 2; ascii++) {
				struct pystr_info si;
				uint32_t st = ST_KIND(kind) | ST_COMPACT | (ascii ? ST_ASCII : 0);
				int ok = ascii ? kind == 1 : (kind == 1 || kind == 2 || kind == 4);
				int r = uinfo(l, (size_t)l->unicode_compact_size, st, 3, &si);

				if (ok && r != 0)
					fail_msg("%d.%d kind %u ascii %d: rejected", l->major,
						 l->minor, kind, ascii);
				if (!ok && r == 0)
					fail_msg("%d.%d kind %u ascii %d: accepted", l->major,
						 l->minor, kind, ascii);
			}
		}
	}
}

static void test_unicode_lengths(void **state)
{
	const struct py_layout *l = layout(3, 12);
	const uint32_t st = ST_KIND(2) | ST_COMPACT;
	const size_t hl = (size_t)l->unicode_compact_size;
	struct pystr_info si;
	(void)state;

	assert_int_equal(uinfo(l, hl, st, 0, &si), 0);
	assert_int_equal(si.nchars, 0);
	assert_int_equal(si.cut, 0);

	assert_int_equal(uinfo(l, hl, st, PYSTR_MAX_CHARS, &si), 0);
	assert_int_equal(si.nchars, PYSTR_MAX_CHARS);
	assert_int_equal(si.cut, 0);

	assert_int_equal(uinfo(l, hl, st, PYSTR_MAX_CHARS + 1, &si), 0);
	assert_int_equal(si.nchars, PYSTR_MAX_CHARS);
	assert_int_equal(si.cut, 1);
	assert_int_equal(si.kind, 2);

	assert_int_equal(uinfo(l, hl, st, 1000000, &si), 0);
	assert_int_equal(si.nchars, PYSTR_MAX_CHARS);
	assert_int_equal(si.cut, 1);

	/* Lengths no real object has: rejected, or cut -- never trusted. */
	static const uint64_t huge[] = {
		(1ull << 40), (1ull << 40) + 1, 1ull << 50, (uint64_t)INT64_MAX,
		(uint64_t)-1 /* Py_ssize_t -1 */, (uint64_t)INT64_MIN,
	};
	for (size_t i = 0; i < ARRAY_SIZE(huge); i++) {
		int r = uinfo(l, hl, st, huge[i], &si);
		if (r == 0 && (si.nchars > PYSTR_MAX_CHARS || !si.cut))
			fail_msg("length %llu: accepted with nchars %zu cut %d",
				 (unsigned long long)huge[i], si.nchars, si.cut);
	}
	/* Negative Py_ssize_t lengths must not be accepted at all. */
	assert_int_not_equal(uinfo(l, hl, st, (uint64_t)-1, &si), 0);
	assert_int_not_equal(uinfo(l, hl, st, (uint64_t)INT64_MIN, &si), 0);
}

/* A header shorter than the fields read is rejected, never over-read. */
static void test_unicode_short_header(void **state)
{
	const struct py_layout *ls[] = { layout(3, 11), layout(3, 12) };
	(void)state;

	for (size_t v = 0; v < ARRAY_SIZE(ls); v++) {
		const struct py_layout *l = ls[v];
		size_t need = (size_t)l->unicode_state + 4; /* the last field read */
		for (size_t hl = 0; hl < need; hl++) {
			struct pystr_info si;
			if (uinfo(l, hl, ST_KIND(1) | ST_COMPACT | ST_ASCII, 3, &si) == 0)
				fail_msg("%d.%d: %zu-byte header accepted", l->major, l->minor, hl);
		}
	}
}

static void test_unicode_rejects_27(void **state)
{
	const struct py_layout *l = layout(2, 7);
	struct pystr_info si;
	uint8_t hdr[128];
	(void)state;

	memset(hdr, 0, sizeof(hdr));
	put_u64(hdr + 16, 3);
	put_u32(hdr + 32, ST_KIND(1) | ST_COMPACT | ST_ASCII);
	assert_int_not_equal(pystr_unicode_info(hdr, sizeof(hdr), l, ADDR, &si), 0);
}

/* ------------------------------------------------------------------ */
/* pystr_bytes_info                                                    */

static int binfo(const struct py_layout *l, size_t hdr_len, int64_t size, size_t max,
		 struct pystr_info *out)
{
	uint8_t *h = malloc(hdr_len ? hdr_len : 1);
	int r;

	assert_non_null(h);
	memset(h, 0xa5, hdr_len);
	if ((size_t)l->var_size + 8 <= hdr_len)
		put_u64(h + l->var_size, (uint64_t)size);
	memset(out, 0x5a, sizeof(*out));
	r = pystr_bytes_info(h, hdr_len, l, ADDR, max, out);
	free(h);
	return r;
}

static void test_bytes_3x(void **state)
{
	const struct py_layout *ls[] = { layout(3, 6), layout(3, 11), layout(3, 12), layout(3, 13) };
	(void)state;

	for (size_t v = 0; v < ARRAY_SIZE(ls); v++) {
		const struct py_layout *l = ls[v];
		const size_t hl = (size_t)l->bytes_sval; /* what code.c copies */
		struct pystr_info si;

		assert_int_equal(l->var_size, 16);
		assert_int_equal(l->bytes_sval, 32);
		assert_int_equal(binfo(l, hl, 7, 100, &si), 0);
		assert_true(si.data == ADDR + 32);
		assert_int_equal(si.kind, 1);
		assert_int_equal(si.nchars, 7);
		assert_int_equal(si.cut, 0);

		assert_int_equal(binfo(l, hl, 0, 100, &si), 0);
		assert_int_equal(si.nchars, 0);
		assert_int_equal(si.cut, 0);

		assert_int_equal(binfo(l, hl, 100, 100, &si), 0);
		assert_int_equal(si.nchars, 100);
		assert_int_equal(si.cut, 0);

		assert_int_equal(binfo(l, hl, 101, 100, &si), 0);
		assert_int_equal(si.nchars, 100);
		assert_int_equal(si.cut, 1);

		assert_int_equal(binfo(l, hl, 5, 0, &si), 0);
		assert_int_equal(si.nchars, 0);
		assert_int_equal(si.cut, 1);

		assert_int_not_equal(binfo(l, hl, -1, 100, &si), 0);
		assert_int_not_equal(binfo(l, hl, INT64_MIN, 100, &si), 0);
		assert_int_not_equal(binfo(l, hl, INT64_MAX, 100, &si), 0);
		assert_int_not_equal(binfo(l, hl, (int64_t)(1ull << 41), 100, &si), 0);
		for (size_t short_len = 0; short_len < (size_t)l->var_size + 8; short_len++)
			if (binfo(l, short_len, 3, 100, &si) == 0)
				fail_msg("%d.%d: %zu-byte bytes header accepted", l->major,
					 l->minor, short_len);
	}
}

/* 2.7 PyStringObject: ob_size 16, ob_shash 24, ob_sstate 32, ob_sval 36. */
static void test_bytes_27_string(void **state)
{
	const struct py_layout *l = layout(2, 7);
	uint8_t obj[64];
	uint8_t *h;
	struct pystr_info si;
	char out[32];
	(void)state;

	memset(obj, 0, sizeof(obj));
	put_u64(obj, 3);                       /* ob_refcnt */
	put_u64(obj + 8, 0x600000ull);         /* ob_type = &PyString_Type */
	put_u64(obj + 16, 5);                  /* ob_size */
	put_u64(obj + 24, (uint64_t)-1);       /* ob_shash: not computed */
	put_u32(obj + 32, 1);                  /* ob_sstate: SSTATE_INTERNED_MORTAL */
	memcpy(obj + 36, "hello", 6);          /* ob_sval, NUL-terminated */

	h = malloc(36);
	assert_non_null(h);
	memcpy(h, obj, 36);
	assert_int_equal(pystr_bytes_info(h, 36, l, ADDR, PYSTR_MAX_CHARS, &si), 0);
	free(h);
	assert_true(si.data == ADDR + 36);
	assert_int_equal(si.kind, 1);
	assert_int_equal(si.nchars, 5);
	assert_int_equal(si.cut, 0);
	assert_int_equal(pystr_to_utf8(obj + (si.data - ADDR), si.nchars, si.kind, out,
				       sizeof(out)), 5);
	assert_string_equal(out, "hello");

	put_u64(obj + 16, PYSTR_MAX_CHARS + 10);
	assert_int_equal(pystr_bytes_info(obj, 36, l, ADDR, PYSTR_MAX_CHARS, &si), 0);
	assert_int_equal(si.nchars, PYSTR_MAX_CHARS);
	assert_int_equal(si.cut, 1);
	put_u64(obj + 16, (uint64_t)-5);
	assert_int_not_equal(pystr_bytes_info(obj, 36, l, ADDR, PYSTR_MAX_CHARS, &si), 0);
}

/* ------------------------------------------------------------------ */
/* pystr_to_utf8                                                       */

/*
 * Encode through an exact-size heap input and an output of cap bytes
 * followed by guard bytes; check the guard and the NUL.
 */
static size_t enc(const void *chars, size_t nchars, int kind, char *out, size_t cap)
{
	size_t in_len = nchars * (size_t)kind;
	uint8_t *in = malloc(in_len ? in_len : 1);
	char *o = malloc(cap + 16);
	size_t r;

	assert_non_null(in);
	assert_non_null(o);
	memcpy(in, chars, in_len);
	memset(o, '#', cap + 16);
	r = pystr_to_utf8(in, nchars, kind, o, cap);
	for (size_t i = cap; i < cap + 16; i++)
		if (o[i] != '#')
			fail_msg("cap %zu: byte %zu written past the end", cap, i);
	if (cap == 0) {
		assert_int_equal(r, 0);
	} else {
		if (r >= cap)
			fail_msg("cap %zu: returned length %zu", cap, r);
		if (o[r] != '\0')
			fail_msg("cap %zu: not NUL-terminated at %zu", cap, r);
		memcpy(out, o, r + 1);
	}
	free(o);
	free(in);
	return r;
}

static void test_utf8_latin1(void **state)
{
	static const uint8_t s[] = { 'c', 'a', 'f', 0xe9, 0x7f, 0x80, 0xff };
	char out[64];
	(void)state;

	assert_int_equal(enc(s, sizeof(s), 1, out, sizeof(out)), 10);
	assert_memory_equal(out, "caf\xc3\xa9\x7f\xc2\x80\xc3\xbf", 11);
	assert_int_equal(enc("", 0, 1, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void test_utf8_ucs2(void **state)
{
	static const uint16_t s[] = { 0x41, 0x7ff, 0x800, 0x20ac, 0xfffe, 0xffff };
	char out[64];
	(void)state;

	assert_int_equal(enc(s, ARRAY_SIZE(s), 2, out, sizeof(out)), 1 + 2 + 3 + 3 + 3 + 3);
	assert_string_equal(out, "A\xdf\xbf\xe0\xa0\x80\xe2\x82\xac\xef\xbf\xbe\xef\xbf\xbf");
}

static void test_utf8_ucs4(void **state)
{
	static const uint32_t s[] = { 0x1f600, 0x10000, 0x10ffff, 0x62 };
	char out[64];
	(void)state;

	assert_int_equal(enc(s, ARRAY_SIZE(s), 4, out, sizeof(out)), 13);
	assert_string_equal(out, "\xf0\x9f\x98\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf" "b");
}

static void test_utf8_invalid_code_points(void **state)
{
	static const uint16_t s2[] = { 'a', 0xd800, 0xdbff, 0xdc80, 0xdfff, 'b' };
	static const uint32_t s4[] = { 0xd800, 0xdfff, 0x110000, 0x7fffffff, 0xffffffff, 'z' };
	char out[64];
	(void)state;

	/* surrogateescape'd bytes and lone surrogates: U+FFFD each */
	assert_int_equal(enc(s2, ARRAY_SIZE(s2), 2, out, sizeof(out)), 14);
	assert_string_equal(out, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b");
	assert_int_equal(enc(s4, ARRAY_SIZE(s4), 4, out, sizeof(out)), 16);
	assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				 "z");
}

/* Small caps: never past cap, never half a character, always NUL-terminated. */
static void test_utf8_small_caps(void **state)
{
	static const uint32_t s4[] = { 0x1f600, 'x' };   /* 4 bytes, then 1 */
	static const uint16_t s2[] = { 0x20ac };          /* 3 bytes */
	static const uint8_t s1[] = { 'a', 0xe9 };        /* 1 byte, then 2 */
	char out[16];
	(void)state;

	for (size_t cap = 0; cap <= 6; cap++) {
		size_t r4 = enc(s4, 2, 4, out, cap);
		size_t want4 = cap >= 6 ? 5 : cap >= 5 ? 4 : 0;
		if (r4 != want4)
			fail_msg("U+1F600 x, cap %zu: %zu bytes, want %zu", cap, r4, want4);
		if (cap && r4)
			assert_memory_equal(out, "\xf0\x9f\x98\x80x", r4);

		size_t r2 = enc(s2, 1, 2, out, cap);
		size_t want2 = cap >= 4 ? 3 : 0;
		if (r2 != want2)
			fail_msg("U+20AC, cap %zu: %zu bytes, want %zu", cap, r2, want2);

		size_t r1 = enc(s1, 2, 1, out, cap);
		size_t want1 = cap >= 4 ? 3 : cap >= 2 ? 1 : 0;
		if (r1 != want1)
			fail_msg("a U+00E9, cap %zu: %zu bytes, want %zu", cap, r1, want1);
		if (cap >= 2)
			assert_int_equal(out[0], 'a');
	}
}

/* Decode UTF-8 strictly; returns the number of code points, -1 if invalid. */
static long decode_utf8(const unsigned char *s, size_t n, uint32_t *cps, size_t max)
{
	size_t i = 0, k = 0;

	while (i < n) {
		uint32_t c;
		int len;
		if (s[i] < 0x80) { c = s[i]; len = 1; }
		else if ((s[i] & 0xe0) == 0xc0) { c = s[i] & 0x1f; len = 2; }
		else if ((s[i] & 0xf0) == 0xe0) { c = s[i] & 0x0f; len = 3; }
		else if ((s[i] & 0xf8) == 0xf0) { c = s[i] & 0x07; len = 4; }
		else return -1;
		if (i + (size_t)len > n)
			return -1;
		for (int j = 1; j < len; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return -1;
			c = c << 6 | (s[i + j] & 0x3f);
		}
		/* overlong, surrogate, out of range */
		if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
		    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
			return -1;
		if (k >= max)
			return -1;
		cps[k++] = c;
		i += (size_t)len;
	}
	return (long)k;
}

/* Random code points of each kind: the output decodes back to the input. */
static void test_utf8_random_roundtrip(void **state)
{
	enum { N = 300 };
	uint32_t seed = 12345;
	(void)state;

	for (int round = 0; round < 300; round++) {
		int kind = round % 3 == 0 ? 1 : round % 3 == 1 ? 2 : 4;
		uint8_t raw[N * 4];
		uint32_t want[N], got[N];
		char out[N * 4 + 1];
		size_t n = (size_t)(round % N) + 1;

		for (size_t i = 0; i < n; i++) {
			uint32_t c;
			seed = seed * 1103515245u + 12345u;
			c = seed >> 8;
			if (kind == 1)
				c &= 0xff;
			else if (kind == 2)
				c &= 0xffff;
			else
				c = (round & 4) ? c % 0x110000 : c;
			if (kind == 1)
				raw[i] = (uint8_t)c;
			else if (kind == 2)
				memcpy(raw + 2 * i, &(uint16_t){ (uint16_t)c }, 2);
			else
				memcpy(raw + 4 * i, &c, 4);
			want[i] = ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) ? 0xfffd : c;
		}
		size_t len = enc(raw, n, kind, out, sizeof(out));
		/* Decode all len bytes: a U+0000 is kept as a NUL byte inside. */
		long k = decode_utf8((const unsigned char *)out, len, got, N);
		if (k < 0)
			fail_msg("round %d: output is not valid UTF-8", round);
		for (long i = 0; i < k; i++)
			if (got[i] != want[i])
				fail_msg("round %d kind %d char %ld: U+%04X, want U+%04X", round,
					 kind, i, got[i], want[i]);
		if ((size_t)k != n)
			fail_msg("round %d: %ld of %zu characters", round, k, n);
	}
}

/* The whole path: a copied object -> info -> UTF-8, for 3.11 and 3.12 layouts. */
static void test_end_to_end(void **state)
{
	static const struct {
		int minor;
		uint32_t state;
		int kind;
		const void *chars;
		size_t n;
		const char *utf8;
	} cases[] = {
		{ 11, 0xe4, 1, "abc", 3, "abc" },
		{ 11, 0xdc26fda4u, 1, "caf\xe9x", 5, "caf\xc3\xa9x" },
		{ 11, 0xdc26fda8u, 2, "\xac\x20\x31\x00", 2, "\xe2\x82\xac" "1" },
		{ 11, 0xb0, 4, "\x00\xf6\x01\x00", 1, "\xf0\x9f\x98\x80" },
		{ 12, 0xffffff66u, 1, "zzq_interned", 12, "zzq_interned" },
		{ 12, 0xce836c24u, 1, "caf\xe9x", 5, "caf\xc3\xa9x" },
		{ 12, 0x785c2728u, 2, "\xac\x20\x31\x00", 2, "\xe2\x82\xac" "1" },
		{ 12, 0x30, 4, "\x00\xf6\x01\x00", 1, "\xf0\x9f\x98\x80" },
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct py_layout *l = layout(3, cases[i].minor);
		uint8_t obj[256];
		struct pystr_info si;
		char out[64];
		size_t off;

		memset(obj, 0xcc, sizeof(obj));
		put_u64(obj + l->unicode_length, cases[i].n);
		put_u32(obj + l->unicode_state, cases[i].state);
		off = (cases[i].state & ST_ASCII) ? (size_t)l->unicode_ascii_size
						  : (size_t)l->unicode_compact_size;
		memcpy(obj + off, cases[i].chars, cases[i].n * (size_t)cases[i].kind);
		assert_int_equal(pystr_unicode_info(obj, (size_t)l->unicode_compact_size, l,
						    ADDR, &si), 0);
		assert_true(si.data == ADDR + off);
		pystr_to_utf8(obj + (si.data - ADDR), si.nchars, si.kind, out, sizeof(out));
		if (strcmp(out, cases[i].utf8) != 0)
			fail_msg("3.%d case %zu: got \"%s\", want \"%s\"", cases[i].minor, i, out,
				 cases[i].utf8);
	}
}

int unit_pystr(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_sizes),
		cmocka_unit_test(test_unicode_compact_311),
		cmocka_unit_test(test_unicode_compact_312),
		cmocka_unit_test(test_unicode_kind_shift_8),
		cmocka_unit_test(test_unicode_rejects_non_compact),
		cmocka_unit_test(test_unicode_rejects_bad_kind),
		cmocka_unit_test(test_unicode_lengths),
		cmocka_unit_test(test_unicode_short_header),
		cmocka_unit_test(test_unicode_rejects_27),
		cmocka_unit_test(test_bytes_3x),
		cmocka_unit_test(test_bytes_27_string),
		cmocka_unit_test(test_utf8_latin1),
		cmocka_unit_test(test_utf8_ucs2),
		cmocka_unit_test(test_utf8_ucs4),
		cmocka_unit_test(test_utf8_invalid_code_points),
		cmocka_unit_test(test_utf8_small_caps),
		cmocka_unit_test(test_utf8_random_roundtrip),
		cmocka_unit_test(test_end_to_end),
	};

	return cmocka_run_group_tests_name("pystr", tests, NULL, NULL);
}
