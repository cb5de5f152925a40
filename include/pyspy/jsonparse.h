/*
 * jsonparse.h - reading JSON from the network (the collector reads the
 * agents' /v1/windows): a small tree parser with bounds, for input that
 * may be hostile.  Nesting, the number of values and string lengths are
 * bounded by the caller's limits; errors are a message, never a crash.
 */
#ifndef PYSPY_JSONPARSE_H
#define PYSPY_JSONPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jp_type { JP_NULL, JP_BOOL, JP_NUMBER, JP_STRING, JP_ARRAY, JP_OBJECT };

struct jp_value {
	enum jp_type type;
	bool b;
	bool is_int;             /* a number written as an integer that fits int64 */
	int64_t i;
	double num;
	char *str;               /* JP_STRING: UTF-8, NUL-terminated (no NUL inside) */
	size_t len;
	size_t n;                /* JP_ARRAY, JP_OBJECT: number of items */
	struct jp_value *items;
	char **keys;             /* JP_OBJECT: the key of each item */
};

struct jp_limits {
	unsigned max_depth;      /* nesting of arrays and objects */
	size_t max_values;       /* values in the document */
	size_t max_string;       /* bytes of one string, decoded */
};

/*
 * Parse text[0 .. len-1] (one JSON value, whitespace around it) into
 * *root.  Returns 0, or -1 with the reason in err ("at byte N: ...");
 * *root is then empty.  Free with jp_free().
 */
int jp_parse(const char *text, size_t len, const struct jp_limits *lim, struct jp_value *root,
	     char *err, size_t cap);
void jp_free(struct jp_value *v);
/* The item of object 'obj' named 'key', or NULL (also when obj is no object). */
const struct jp_value *jp_get(const struct jp_value *obj, const char *key);

#endif
