/*
 * jsonparse.c - a bounded JSON tree parser (see jsonparse.h).  Recursive
 * descent; the recursion is bounded by max_depth.
 */
#include "pyspy/jsonparse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p, *start, *end;
	const struct jp_limits *lim;
	size_t values;
	char *err;
	size_t cap;
};

static int fail(struct parser *ps, const char *msg)
{
	snprintf(ps->err, ps->cap, "at byte %zu: %s", (size_t)(ps->p - ps->start), msg);
	return -1;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
				   *ps->p == '\r'))
		ps->p++;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static int hex4(struct parser *ps, unsigned *out)
{
	*out = 0;
	if (ps->end - ps->p < 4)
		return fail(ps, "a \\u escape is cut short");
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;
		*out <<= 4;
		if (c >= '0' && c <= '9')
			*out |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*out |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*out |= (unsigned)(c - 'A' + 10);
		else
			return fail(ps, "a \\u escape is not hexadecimal");
	}
	return 0;
}

static size_t put_utf8(char *b, unsigned cp)
{
	if (cp < 0x80) {
		b[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	b[0] = (char)(0xf0 | cp >> 18);
	b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	b[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at ps->p (after the quote): malloc'ed, decoded. */
static int string(struct parser *ps, char **out, size_t *outlen)
{
	const char *q = ps->p;
	size_t raw = 0, len = 0;
	char *b;

	/* Its raw length bounds the decoded one (an escape never grows). */
	while (q < ps->end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
		raw++;
	}
	if (q >= ps->end)
		return fail(ps, "a string is not closed");
	if ((size_t)(q - ps->p) > ps->lim->max_string)
		return fail(ps, "a string is too long");
	b = malloc((size_t)(q - ps->p) + 1);
	if (!b)
		return fail(ps, "out of memory");
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;
		unsigned cp, lo;

		if (c < 0x20) {
			free(b);
			return fail(ps, "a control character in a string");
		}
		if (c != '\\') {
			b[len++] = (char)c;
			continue;
		}
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"': case '\\': case '/':
			b[len++] = (char)c;
			break;
		case 'b': b[len++] = '\b'; break;
		case 'f': b[len++] = '\f'; break;
		case 'n': b[len++] = '\n'; break;
		case 'r': b[len++] = '\r'; break;
		case 't': b[len++] = '\t'; break;
		case 'u':
			if (hex4(ps, &cp)) {
				free(b);
				return -1;
			}
			if (cp >= 0xd800 && cp < 0xdc00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
			    ps->p[1] == 'u') {
				const char *save = ps->p;
				ps->p += 2;
				if (hex4(ps, &lo)) {
					free(b);
					return -1;
				}
				if (lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				else
					ps->p = save;
			}
			if (cp == 0 || (cp >= 0xd800 && cp < 0xe000))
				cp = 0xfffd;   /* NUL or a lone surrogate: not text */
			/* "\uXXXX" is 6 raw bytes, at most 4 decoded: room enough. */
			len += put_utf8(b + len, cp);
			break;
		default:
			free(b);
			return fail(ps, "an unknown escape in a string");
		}
	}
	ps->p++;
	b[len] = '\0';
	(void)raw;
	*out = b;
	*outlen = len;
	return 0;
}

static int number(struct parser *ps, struct jp_value *v)
{
	const char *s = ps->p;
	char buf[64], *endp;
	bool integer = true;
	size_t n;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return fail(ps, "expected a value");
	if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')
		return fail(ps, "a number with a leading zero");
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		integer = false;
		ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return fail(ps, "expected digits after the decimal point");
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		integer = false;
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return fail(ps, "expected digits in an exponent");
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	n = (size_t)(ps->p - s);
	if (n >= sizeof(buf))
		return fail(ps, "a number is too long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	v->type = JP_NUMBER;
	v->num = strtod(buf, &endp);
	if (integer) {
		errno = 0;
		v->i = strtoll(buf, &endp, 10);
		v->is_int = errno == 0;
	}
	return 0;
}

static int value(struct parser *ps, struct jp_value *v, unsigned depth);

static int container(struct parser *ps, struct jp_value *v, unsigned depth, bool object)
{
	size_t cap = 0;
	char close = object ? '}' : ']';

	if (depth >= ps->lim->max_depth)
		return fail(ps, "nested too deep");
	v->type = object ? JP_OBJECT : JP_ARRAY;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		size_t klen;

		if (object) {
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, "expected a key");
			ps->p++;
			if (string(ps, &key, &klen))
				return -1;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				free(key);
				return fail(ps, "expected ':' after a key");
			}
			ps->p++;
		}
		if (v->n == cap) {
			/* From 2: most arrays of a windows page are frames [func, line]. */
			size_t nc = cap ? cap * 2 : 2;
			struct jp_value *ni = realloc(v->items, nc * sizeof(*ni));
			char **nk = object ? realloc(v->keys, nc * sizeof(*nk)) : NULL;
			if (ni)
				v->items = ni;
			if (nk)
				v->keys = nk;
			if (!ni || (object && !nk)) {
				free(key);
				return fail(ps, "out of memory");
			}
			cap = nc;
		}
		memset(&v->items[v->n], 0, sizeof(v->items[0]));
		if (object)
			v->keys[v->n] = key;
		v->n++;
		if (value(ps, &v->items[v->n - 1], depth + 1))
			return -1;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			return 0;
		}
		return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int value(struct parser *ps, struct jp_value *v, unsigned depth)
{
	skip_ws(ps);
	if (++ps->values > ps->lim->max_values)
		return fail(ps, "too many values");
	if (ps->p >= ps->end)
		return fail(ps, "expected a value");
	switch (*ps->p) {
	case '{':
		return container(ps, v, depth, true);
	case '[':
		return container(ps, v, depth, false);
	case '"':
		ps->p++;
		v->type = JP_STRING;
		return string(ps, &v->str, &v->len);
	case 't':
	case 'f':
		v->type = JP_BOOL;
		v->b = *ps->p == 't';
		if (literal(ps, v->b ? "true" : "false"))
			return 0;
		return fail(ps, "expected a value");
	case 'n':
		v->type = JP_NULL;
		if (literal(ps, "null"))
			return 0;
		return fail(ps, "expected a value");
	}
	return number(ps, v);
}

void jp_free(struct jp_value *v)
{
	if (!v)
		return;
	if (v->type == JP_ARRAY || v->type == JP_OBJECT) {
		for (size_t i = 0; i < v->n; i++) {
			jp_free(&v->items[i]);
			if (v->keys)
				free(v->keys[i]);
		}
		free(v->items);
		free(v->keys);
	}
	if (v->type == JP_STRING)
		free(v->str);
	memset(v, 0, sizeof(*v));
}

int jp_parse(const char *text, size_t len, const struct jp_limits *lim, struct jp_value *root,
	     char *err, size_t cap)
{
	struct parser ps = { text, text, text + len, lim, 0, err, cap };

	memset(root, 0, sizeof(*root));
	if (value(&ps, root, 0) == 0) {
		skip_ws(&ps);
		if (ps.p == ps.end)
			return 0;
		fail(&ps, "text after the value");
	}
	jp_free(root);
	return -1;
}

const struct jp_value *jp_get(const struct jp_value *obj, const char *key)
{
	if (!obj || obj->type != JP_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}
