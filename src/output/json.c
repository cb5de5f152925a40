/*
 * json.c - the JSON writer (include/pyspy/json.h).  Strings go through
 * output_json_string(), the escaper the JSON output formats use.
 */
#include "pyspy/json.h"
#include "pyspy/output.h"

#include <inttypes.h>
#include <math.h>

void json_init(struct json *j, FILE *out)
{
	*j = (struct json){ .out = out };
}

/* Before any value: the comma that separates it from the last one. */
static void value(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->need_comma[j->depth])
		fputc(',', j->out);
	j->need_comma[j->depth] = true;
}

static void open(struct json *j, char c)
{
	if (j->depth >= JSON_MAX_DEPTH) {
		j->error = true;
		return;
	}
	value(j);
	fputc(c, j->out);
	j->need_comma[++j->depth] = false;
}

static void close_(struct json *j, char c)
{
	if (j->depth == 0) {
		j->error = true;
		return;
	}
	fputc(c, j->out);
	j->depth--;
}

void json_object(struct json *j)
{
	open(j, '{');
}

void json_object_end(struct json *j)
{
	close_(j, '}');
}

void json_array(struct json *j)
{
	open(j, '[');
}

void json_array_end(struct json *j)
{
	close_(j, ']');
}

void json_key(struct json *j, const char *key)
{
	value(j);
	output_json_string(j->out, key);
	fputc(':', j->out);
	j->after_key = true;
}

void json_string(struct json *j, const char *s)
{
	value(j);
	if (s)
		output_json_string(j->out, s);
	else
		fputs("null", j->out);
}

/* Digits by hand: a flame graph is some 200,000 numbers, and printf's parsing dominated. */
static void put_uint(FILE *out, uint64_t v, bool minus)
{
	char buf[24];
	size_t i = sizeof(buf);

	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (minus)
		buf[--i] = '-';
	fwrite(buf + i, 1, sizeof(buf) - i, out);
}

void json_uint(struct json *j, uint64_t v)
{
	value(j);
	put_uint(j->out, v, false);
}

void json_int(struct json *j, int64_t v)
{
	value(j);
	/* The magnitude as unsigned: -INT64_MIN does not fit an int64_t. */
	put_uint(j->out, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}

void json_double(struct json *j, double v)
{
	value(j);
	if (isfinite(v))
		fprintf(j->out, "%.15g", v);
	else
		fputs("null", j->out);
}

void json_bool(struct json *j, bool v)
{
	value(j);
	fputs(v ? "true" : "false", j->out);
}

void json_null(struct json *j)
{
	value(j);
	fputs("null", j->out);
}

void json_kstring(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j, s);
}

void json_kuint(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_uint(j, v);
}

void json_kint(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_int(j, v);
}

void json_kdouble(struct json *j, const char *key, double v)
{
	json_key(j, key);
	json_double(j, v);
}

void json_kbool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}
