/*
 * test_feed.c - the bounded JSON parser (src/util/jsonparse.c) and the
 * decoder of an agent's /v1/windows answer (src/collect/feed.c), down to
 * the store: a page of pyspy-c serve's format, put into an SQLite store,
 * queried back as folded stacks.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pyspy/feed.h"
#include "pyspy/jsonparse.h"
#include "pyspy/store.h"
#include "store_fixture.h"

static const struct jp_limits lim = { 8, 1000, 1000 };

static void test_json_values(void **state)
{
	const char *text = " {\"a\": [1, -2, 3.5, 1e3, 99999999999999999999, true, false, null],"
			   " \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\\u0000x\","
			   " \"o\": {}, \"e\": []} ";
	struct jp_value v;
	const struct jp_value *a, *s;
	char err[128];
	(void)state;

	assert_int_equal(jp_parse(text, strlen(text), &lim, &v, err, sizeof(err)), 0);
	assert_int_equal(v.type, JP_OBJECT);
	a = jp_get(&v, "a");
	assert_non_null(a);
	assert_int_equal(a->n, 8);
	assert_true(a->items[0].is_int && a->items[0].i == 1);
	assert_true(a->items[1].is_int && a->items[1].i == -2);
	assert_false(a->items[2].is_int);
	assert_true(a->items[2].num == 3.5);
	assert_false(a->items[3].is_int);
	assert_true(a->items[3].num == 1000);
	assert_false(a->items[4].is_int);   /* does not fit int64 */
	assert_true(a->items[5].type == JP_BOOL && a->items[5].b);
	assert_true(a->items[6].type == JP_BOOL && !a->items[6].b);
	assert_int_equal(a->items[7].type, JP_NULL);
	s = jp_get(&v, "s");
	assert_non_null(s);
	/* \u0000 is no text: U+FFFD. */
	assert_string_equal(s->str, "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx");
	assert_int_equal(jp_get(&v, "o")->type, JP_OBJECT);
	assert_int_equal(jp_get(&v, "e")->n, 0);
	assert_null(jp_get(&v, "missing"));
	jp_free(&v);
}

static void test_json_errors(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{ "", "expected a value" },
		{ "{", "expected a key" },
		{ "[1,]", "expected a value" },
		{ "[1 2]", "expected ','" },
		{ "{\"a\" 1}", "expected ':'" },
		{ "\"abc", "not closed" },
		{ "\"a\x01\"", "control character" },
		{ "\"\\x\"", "unknown escape" },
		{ "\"\\u12\"", "cut short" },
		{ "\"\\u12zz\"", "hexadecimal" },
		{ "012", "leading zero" },
		{ "1.", "decimal point" },
		{ "1e", "exponent" },
		{ "[1] x", "text after" },
		{ "[[[[[[[[[1]]]]]]]]]", "nested too deep" },
		{ "tru", "expected a value" },
		{ "nul", "expected a value" },
	};
	struct jp_value v;
	char err[128];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (jp_parse(cases[i].text, strlen(cases[i].text), &lim, &v, err, sizeof(err)) == 0 ||
		    !strstr(err, cases[i].why))
			fail_msg("'%s': '%s', want '%s'", cases[i].text, err, cases[i].why);
		assert_int_equal(v.type, JP_NULL);
	}
	/* Too many values, a too long string. */
	{
		char big[5000];
		size_t n = 0;
		big[n++] = '[';
		for (int k = 0; k < 1200; k++)
			n += (size_t)sprintf(big + n, k ? ",1" : "1");
		big[n++] = ']';
		assert_int_equal(jp_parse(big, n, &lim, &v, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "too many values"));
		memset(big, 'a', sizeof(big));
		big[0] = '"';
		big[2000] = '"';
		assert_int_equal(jp_parse(big, 2001, &lim, &v, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "too long"));
	}
}

/* A page as pyspy-c serve writes it (src/serve/api.c, json_window). */
static const char page_text[] =
	"{\"format\":\"pyspy-c.windows.v1\",\"instance\":\"0123abcd\",\"rate\":100,\"idle\":false,"
	"\"oldest_seq\":1,\"newest_seq\":2,\"gap\":false,\"next_since\":2,\"windows\":["
	"{\"seq\":1,\"start\":\"2025-12-06T06:00:00.000Z\",\"end\":\"2025-12-06T06:00:10.000Z\","
	"\"start_ns\":1765000800000000000,\"end_ns\":1765000810000000000,\"samples\":30,"
	"\"errors\":1,\"late\":0,\"pruned\":2,\"processes\":["
	"{\"pid\":41,\"start_time\":777,\"program\":\"python3 app.py\",\"python\":\"3.12.1\","
	"\"samples\":28,\"errors\":1,\"late\":0,\"exited\":false}],"
	"\"functions\":[{\"name\":\"main\",\"file\":\"/srv/app.py\",\"short_file\":\"app.py\","
	"\"kind\":\"code\"},{\"name\":\"<script>alert(1)</script>\",\"file\":\"/srv/x\\\"y.py\","
	"\"short_file\":\"x\\\"y.py\",\"kind\":\"code\"},{\"name\":\"[pruned: rare stacks]\","
	"\"file\":null,\"short_file\":null,\"kind\":\"label\"}],"
	"\"stacks\":[{\"process\":0,\"count\":20,\"frames\":[[0,3],[1,7]]},"
	"{\"process\":0,\"count\":8,\"frames\":[[0,4]]},"
	"{\"process\":null,\"count\":2,\"frames\":[[2,null]]}]},"
	"{\"seq\":2,\"start\":\"2025-12-06T06:00:10.000Z\",\"end\":\"2025-12-06T06:00:20.000Z\","
	"\"start_ns\":1765000810000000000,\"end_ns\":1765000820000000000,\"samples\":5,"
	"\"errors\":0,\"late\":1,\"pruned\":0,\"processes\":["
	"{\"pid\":41,\"start_time\":777,\"program\":\"python3 app.py\",\"python\":\"3.12.1\","
	"\"samples\":5,\"errors\":0,\"late\":1,\"exited\":true}],"
	"\"functions\":[{\"name\":\"main\",\"file\":\"/srv/app.py\",\"short_file\":\"app.py\","
	"\"kind\":\"code\"}],"
	"\"stacks\":[{\"process\":0,\"count\":5,\"frames\":[[0,3]]}]}]}\n";

static void test_feed_decode(void **state)
{
	struct feed_page pg;
	char err[256] = "";
	(void)state;

	if (feed_decode(page_text, strlen(page_text), &pg, err, sizeof(err)))
		fail_msg("feed_decode: %s", err);
	assert_string_equal(pg.instance, "0123abcd");
	assert_int_equal(pg.next_since, 2);
	assert_false(pg.gap);
	assert_int_equal(pg.nwindows, 2);
	assert_int_equal(pg.windows[0].seq, 1);
	assert_int_equal(pg.windows[0].start_ns, 1765000800000000000ll);
	assert_int_equal(pg.windows[0].nprocs, 1);
	assert_int_equal(pg.windows[0].procs[0].pid, 41);
	assert_int_equal(pg.windows[0].procs[0].start_time, 777);
	assert_string_equal(pg.windows[0].procs[0].python, "3.12.1");
	assert_int_equal(pg.windows[0].nfuncs, 3);
	assert_true(pg.windows[0].funcs[2].label);
	assert_null(pg.windows[0].funcs[2].file);
	assert_int_equal(pg.windows[0].nstacks, 3);
	assert_int_equal(pg.windows[0].stacks[0].nframes, 2);
	assert_int_equal(pg.windows[0].stacks[0].frames[1].func, 1);
	assert_int_equal(pg.windows[0].stacks[0].frames[1].line, 7);
	assert_int_equal(pg.windows[0].stacks[2].proc, -1);
	assert_int_equal(pg.windows[0].stacks[2].frames[0].line, -1);
	assert_int_equal(pg.windows[1].procs[0].late, 1);
	feed_free(&pg);
}

/* From an agent's answer to folded stacks out of the store. */
static void test_feed_to_store(void **state)
{
	char dir[] = "/tmp/pyspy-feed-XXXXXX", path[64], err[1024], *folded;
	struct store_options o = { .create = true };
	struct store_query_info qi;
	struct feed_page pg;
	struct store_db *s;
	struct profile *p;
	int e;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f.db", dir);
	s = store_open(path, &o, &e, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(feed_decode(page_text, strlen(page_text), &pg, err, sizeof(err)), 0);
	{
		struct store_batch b = { "web-1", "web", pg.nwindows, pg.windows, "web-1:16384",
					 pg.instance, pg.next_since };
		assert_int_equal(store_begin(s), 0);
		assert_int_equal(store_put(s, &b), 0);
		assert_int_equal(store_commit(s), 0);
	}
	feed_free(&pg);
	p = store_query(s, 1765000800, 1765000860, NULL, &qi, &e);
	assert_non_null(p);
	assert_int_equal(qi.samples, 33);
	assert_int_equal(qi.errors, 1);
	folded = fx_folded(p);
	assert_string_equal(folded, "[pruned: rare stacks] 2\n"
				    "main (app.py:3) 5\n"
				    "main (app.py:3);<script>alert(1)</script> (x\"y.py:7) 20\n"
				    "main (app.py:4) 8\n");
	free(folded);
	profile_free(p);
	{
		bool found;
		char inst[64];
		uint64_t seq;
		assert_int_equal(store_cursor(s, "web-1:16384", &found, inst, sizeof(inst), &seq), 0);
		assert_true(found);
		assert_string_equal(inst, "0123abcd");
		assert_int_equal(seq, 2);
	}
	store_close(s);
	unlink(path);
	snprintf(path, sizeof(path), "%s/f.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/f.db-shm", dir);
	unlink(path);
	rmdir(dir);
}

/* Replace the first 'from' of the page by 'to', and decode. */
static void expect_refused(const char *from, const char *to, const char *why)
{
	const char *at = strstr(page_text, from);
	char *text, err[256] = "";
	struct feed_page pg;
	int rc;

	if (!at)
		fail_msg("'%s' is not in the page", from);
	assert_true(asprintf(&text, "%.*s%s%s", (int)(at - page_text), page_text, to,
			     at + strlen(from)) > 0);
	rc = feed_decode(text, strlen(text), &pg, err, sizeof(err));
	feed_free(&pg);
	free(text);
	if (rc == 0 || !strstr(err, why))
		fail_msg("'%s' -> '%s': %d '%s', want '%s'", from, to, rc, err, why);
}

static void test_feed_refused(void **state)
{
	(void)state;
	expect_refused("pyspy-c.windows.v1", "pyspy-c.windows.v2", "not a pyspy-c.windows.v1");
	expect_refused("\"instance\":\"0123abcd\"", "\"instance\":\"\"", "instance");
	expect_refused("\"next_since\":2", "\"next_since\":7", "next_since");
	expect_refused("\"seq\":2", "\"seq\":1", "not increasing");
	expect_refused("\"seq\":1", "\"seq\":0", "no sequence number");
	expect_refused("[[0,3],[1,7]]", "[[0,3],[9,7]]", "frame 1 is malformed");
	expect_refused("[[0,3],[1,7]]", "[[0,3],[1,-7]]", "frame 1 is malformed");
	expect_refused("[[0,3],[1,7]]", "[[0,3],[1]]", "frame 1 is malformed");
	expect_refused("{\"process\":0,\"count\":20", "{\"process\":3,\"count\":20",
		       "stack 0 is malformed");
	expect_refused("\"count\":20", "\"count\":-20", "stack 0 is malformed");
	expect_refused("\"pid\":41", "\"pid\":\"41\"", "process 0 is malformed");
	expect_refused("\"kind\":\"label\"", "\"kind\":\"other\"", "function 2 is malformed");
	expect_refused("\"end_ns\":1765000810000000000", "\"end_ns\":1", "bad end_ns");
	expect_refused("\"windows\":[", "\"windowz\":[", "no windows array");
	expect_refused("]}]}\n", "]}]", "not JSON");
}

/* Every prefix of a valid page: refused cleanly (ASan watches the reads). */
static void test_feed_prefixes(void **state)
{
	size_t len = strlen(page_text);
	(void)state;

	for (size_t n = 0; n + 1 < len; n++) {
		char *copy = malloc(n ? n : 1), err[256];
		struct feed_page pg;
		memcpy(copy, page_text, n);
		assert_int_equal(feed_decode(copy, n, &pg, err, sizeof(err)), -1);
		feed_free(&pg);
		free(copy);
	}
}

int unit_feed(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_values),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_feed_decode),
		cmocka_unit_test(test_feed_to_store),
		cmocka_unit_test(test_feed_refused),
		cmocka_unit_test(test_feed_prefixes),
	};
	return cmocka_run_group_tests_name("feed", tests, NULL, NULL);
}
