/*
 * folded.c - folded stacks, the format of flamegraph.pl and py-spy's "raw":
 *
 *     <module> (app.py:10);main (app.py:5);work (app.py:2) 42
 *
 * One line per distinct stack, root first, sorted bytewise so the output
 * of a given profile is always the same.  Frame text never contains ';'
 * or a newline (flamegraph.pl's separators), which are replaced by '_'.
 */
#define _GNU_SOURCE
#include "pyspy/output.h"
#include "output_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t put(char *buf, size_t cap, size_t pos, const char *s)
{
	for (; s && *s && pos + 1 < cap; s++)
		buf[pos++] = (*s == ';' || *s == '\n' || *s == '\r') ? '_' : *s;
	if (cap)
		buf[pos < cap ? pos : cap - 1] = '\0';
	return pos;
}

size_t output_frame_text(const struct profile *p, struct frame_ref f, bool full_filenames,
			 char *buf, size_t cap)
{
	const struct func *fn = profile_func_get(p, f.func);
	char num[16];
	size_t pos = 0;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	if (!fn)
		return put(buf, cap, 0, "?");
	pos = put(buf, cap, pos, fn->name);
	if (fn->kind == FUNC_LABEL)
		return pos;
	pos = put(buf, cap, pos, " (");
	pos = put(buf, cap, pos, full_filenames ? fn->file : fn->short_file);
	if (f.line >= 0) {
		snprintf(num, sizeof(num), ":%d", (int)f.line);
		pos = put(buf, cap, pos, num);
	}
	return put(buf, cap, pos, ")");
}

/*
 * The lines are never built whole: with many distinct stacks they would
 * take several times the memory of the profile itself (the peak of a
 * recording would come after it, while writing).  Each distinct frame's
 * text is made once; lines are sorted as (stack, count) pairs by a
 * comparison that reads their text frame by frame, skipping frames both
 * have alike, and printed from those texts.
 */
struct fold {
	const struct profile *p;
	struct frame_map map;       /* frame -> index of its text */
	char **text;
	size_t *len;
	size_t cap;
	bool full;
};

struct line {
	size_t stack;
	uint64_t count;
};

/* Index of the text of frame f, made if new; -1 when out of memory. */
static long frame_text(struct fold *fo, struct frame_ref f)
{
	long i = frame_map_get(&fo->map, f);
	char buf[8192];

	if (i < 0 || ((size_t)i < fo->cap && fo->text[i]))
		return i;
	if ((size_t)i >= fo->cap) {
		size_t cap = fo->cap ? fo->cap * 2 : 256;
		char **t = realloc(fo->text, cap * sizeof(*t));
		size_t *l;
		if (!t)
			return -1;
		fo->text = t;
		l = realloc(fo->len, cap * sizeof(*l));
		if (!l)
			return -1;
		fo->len = l;
		memset(fo->text + fo->cap, 0, (cap - fo->cap) * sizeof(*t));
		fo->cap = cap;
	}
	fo->len[i] = output_frame_text(fo->p, f, fo->full, buf, sizeof(buf));
	fo->text[i] = strdup(buf);
	return fo->text[i] ? i : -1;
}

/* A line read byte by byte: frame texts, ';' between them, then 'tail'. */
enum cursor_state { AT_FRAME, IN_TEXT, IN_SEP, IN_TAIL, AT_END };

struct cursor {
	struct fold *fo;
	const struct frame_ref *f;
	size_t n, k;               /* frames (at least one); the one being read */
	enum cursor_state state;
	const char *s;             /* the segment being read */
	size_t len, pos;
	char tail[24];             /* " COUNT", or "" */
};

static void cursor_init(struct cursor *c, struct fold *fo, const struct line *l, bool count)
{
	uint64_t n;

	profile_stack(fo->p, l->stack, &c->f, &c->n, &n);
	c->fo = fo;
	c->k = 0;
	c->state = AT_FRAME;
	c->s = "";
	c->len = c->pos = 0;
	if (count)
		snprintf(c->tail, sizeof(c->tail), " %" PRIu64, l->count);
	else
		c->tail[0] = '\0';
}

static void cursor_enter(struct cursor *c, enum cursor_state st, const char *s, size_t len)
{
	c->state = st;
	c->s = s;
	c->len = len;
	c->pos = 0;
}

/* The next byte (0-255), or -1 at the end. */
static int cursor_next(struct cursor *c)
{
	for (;;) {
		long i;

		if (c->pos < c->len)
			return (unsigned char)c->s[c->pos++];
		switch (c->state) {
		case AT_FRAME:
			i = frame_text(c->fo, c->f[c->k]);
			if (i < 0)
				cursor_enter(c, IN_TEXT, "?", 1);
			else
				cursor_enter(c, IN_TEXT, c->fo->text[i], c->fo->len[i]);
			break;
		case IN_TEXT:
			if (c->k + 1 < c->n)
				cursor_enter(c, IN_SEP, ";", 1);
			else
				cursor_enter(c, IN_TAIL, c->tail, strlen(c->tail));
			break;
		case IN_SEP:
			c->k++;
			cursor_enter(c, AT_FRAME, "", 0);
			break;
		case IN_TAIL:
		case AT_END:
			c->state = AT_END;
			return -1;
		}
	}
}

static int compare(struct fold *fo, const struct line *a, const struct line *b, bool count)
{
	struct cursor x, y;

	cursor_init(&x, fo, a, count);
	cursor_init(&y, fo, b, count);
	for (;;) {
		int cx, cy;

		/* The same frame prints the same text: skip it in both. */
		if (x.state == AT_FRAME && y.state == AT_FRAME &&
		    x.f[x.k].func == y.f[y.k].func && x.f[x.k].line == y.f[y.k].line) {
			if (x.k + 1 < x.n && y.k + 1 < y.n) {
				x.k++, y.k++;   /* and the ';' after it */
				continue;
			}
			cursor_enter(&x, IN_TEXT, "", 0);
			cursor_enter(&y, IN_TEXT, "", 0);
		}
		cx = cursor_next(&x);
		cy = cursor_next(&y);
		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx < 0)
			return 0;
	}
}

static int cmp_text(const void *a, const void *b, void *ctx)
{
	return compare(ctx, a, b, false);
}

static int cmp_line(const void *a, const void *b, void *ctx)
{
	return compare(ctx, a, b, true);
}

int output_folded(FILE *out, const struct profile *p, const struct output_opts *o)
{
	size_t n = profile_nstacks(p), k = 0;
	struct line *lines = calloc(n ? n : 1, sizeof(*lines));
	struct fold fo = { .p = p, .full = o->full_filenames };
	int rc = 0;

	if (!lines)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct frame_ref *frames;
		size_t nf;
		uint64_t count;

		if (!profile_stack(p, i, &frames, &nf, &count) || nf == 0 || count == 0)
			continue;
		for (size_t j = 0; j < nf; j++)
			if (frame_text(&fo, frames[j]) < 0) {
				rc = -1;
				goto out;
			}
		lines[k++] = (struct line){ i, count };
	}
	/* Identical text from distinct stacks (e.g. labels) must merge. */
	qsort_r(lines, k, sizeof(*lines), cmp_text, &fo);
	{
		size_t m = 0;
		for (size_t i = 0; i < k; i++) {
			if (m && compare(&fo, &lines[m - 1], &lines[i], false) == 0) {
				lines[m - 1].count += lines[i].count;
				continue;
			}
			lines[m++] = lines[i];
		}
		k = m;
	}
	/* The contract sorts whole lines, count included ("x 1 3" < "x 9"). */
	qsort_r(lines, k, sizeof(*lines), cmp_line, &fo);
	for (size_t i = 0; i < k && rc == 0; i++) {
		const struct frame_ref *frames;
		size_t nf;
		uint64_t count;

		profile_stack(p, lines[i].stack, &frames, &nf, &count);
		for (size_t j = 0; j < nf; j++) {
			long t = frame_text(&fo, frames[j]);
			if (j)
				putc(';', out);
			fwrite(fo.text[t], 1, fo.len[t], out);
		}
		if (fprintf(out, " %" PRIu64 "\n", lines[i].count) < 0)
			rc = -1;
	}
out:
	for (size_t i = 0; i < fo.cap; i++)
		free(fo.text[i]);
	free(fo.text);
	free(fo.len);
	frame_map_free(&fo.map);
	free(lines);
	return rc;
}

const struct output_format output_format_folded = {
	.name = "folded",
	.summary = "folded stacks, as flamegraph.pl reads them",
	.write = output_folded,
	.streams = true,
};
