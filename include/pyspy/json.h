/*
 * json.h - the one JSON writer of the HTTP endpoints (and anything else
 * that writes JSON for tools): objects, arrays and values written in
 * order to a FILE *, commas placed by the writer, every string escaped
 * (text from targets and command lines is untrusted: invalid UTF-8
 * becomes U+FFFD, controls are escaped).  Nesting is bounded by
 * JSON_MAX_DEPTH; deeper begins are ignored and counted as an error.
 */
#ifndef PYSPY_JSON_H
#define PYSPY_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *out;
	int depth;
	bool need_comma[JSON_MAX_DEPTH + 1];
	bool after_key;
	bool error;        /* a misuse (too deep); the output is not valid */
};

void json_init(struct json *j, FILE *out);
void json_object(struct json *j);       /* { */
void json_object_end(struct json *j);   /* } */
void json_array(struct json *j);        /* [ */
void json_array_end(struct json *j);    /* ] */
/* A member's name; its value comes next. */
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);  /* NULL: null */
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_double(struct json *j, double v);       /* not finite: null */
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Shorthands for a member: key then value. */
void json_kstring(struct json *j, const char *key, const char *s);
void json_kuint(struct json *j, const char *key, uint64_t v);
void json_kint(struct json *j, const char *key, int64_t v);
void json_kdouble(struct json *j, const char *key, double v);
void json_kbool(struct json *j, const char *key, bool v);

#endif
