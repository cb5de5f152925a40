/*
 * test_json.c - the JSON writer of the HTTP endpoints (src/output/json.c):
 * commas and nesting placed by the writer, every string escaped
 * (untrusted text: quotes, controls, invalid UTF-8), the depth bound.
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

#include "pyspy/json.h"

struct buf {
	char *text;
	size_t len;
	FILE *f;
};

static void open_buf(struct buf *b, struct json *j)
{
	b->text = NULL;
	b->f = open_memstream(&b->text, &b->len);
	assert_non_null(b->f);
	json_init(j, b->f);
}

static void close_buf(struct buf *b)
{
	assert_int_equal(fclose(b->f), 0);
}

static void test_nesting_and_commas(void **state)
{
	struct buf b;
	struct json j;

	(void)state;
	open_buf(&b, &j);
	json_object(&j);
	json_kstring(&j, "a", "x");
	json_kuint(&j, "b", 18446744073709551615ull);
	json_kint(&j, "c", -5);
	json_key(&j, "d");
	json_array(&j);
	json_array(&j);
	json_uint(&j, 1);
	json_null(&j);
	json_int(&j, INT64_MIN);
	json_int(&j, INT64_MAX);
	json_int(&j, 0);
	json_uint(&j, 0);
	json_array_end(&j);
	json_object(&j);
	json_object_end(&j);
	json_bool(&j, true);
	json_array_end(&j);
	json_kdouble(&j, "e", 0.5);
	json_kdouble(&j, "f", 1.0 / 0.0);
	json_kstring(&j, "g", NULL);
	json_object_end(&j);
	close_buf(&b);
	assert_false(j.error);
	assert_string_equal(b.text, "{\"a\":\"x\",\"b\":18446744073709551615,\"c\":-5,"
				    "\"d\":[[1,null,-9223372036854775808,9223372036854775807,0,0],{},true],\"e\":0.5,\"f\":null,\"g\":null}");
	free(b.text);
}

static void test_untrusted_strings(void **state)
{
	struct buf b;
	struct json j;

	(void)state;
	open_buf(&b, &j);
	json_array(&j);
	json_string(&j, "q\"b\\s/\n\t\r\x01\x7f");
	json_string(&j, "bad \xff\xfe utf-8 \xc3");
	json_string(&j, "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	json_string(&j, "\xe2\x80\xa8");
	json_array_end(&j);
	close_buf(&b);
	assert_string_equal(b.text, "[\"q\\\"b\\\\s/\\n\\t\\r\\u0001\\u007f\","
				    "\"bad \xef\xbf\xbd\xef\xbf\xbd utf-8 \xef\xbf\xbd\","
				    "\"ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
				    "\"\\u2028\"]");
	free(b.text);
}

static void test_keys_are_escaped(void **state)
{
	struct buf b;
	struct json j;

	(void)state;
	open_buf(&b, &j);
	json_object(&j);
	json_kbool(&j, "k\"", false);
	json_object_end(&j);
	close_buf(&b);
	assert_string_equal(b.text, "{\"k\\\"\":false}");
	free(b.text);
}

static void test_depth_bound(void **state)
{
	struct buf b;
	struct json j;

	(void)state;
	open_buf(&b, &j);
	for (int i = 0; i < JSON_MAX_DEPTH + 3; i++)
		json_array(&j);
	close_buf(&b);
	assert_true(j.error);
	assert_int_equal(strlen(b.text), JSON_MAX_DEPTH);
	free(b.text);
	open_buf(&b, &j);
	json_array_end(&j);
	close_buf(&b);
	assert_true(j.error);
	assert_string_equal(b.text, "");
	free(b.text);
}

int unit_json(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_untrusted_strings),
		cmocka_unit_test(test_keys_are_escaped),
		cmocka_unit_test(test_depth_bound),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
