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

#include <inttypes.h>
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

struct line {
	char *text;
	uint64_t count;
};

static int cmp_line(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->text, ((const struct line *)b)->text);
}

int output_folded(FILE *out, const struct profile *p, const struct output_opts *o)
{
	size_t n = profile_nstacks(p), k = 0;
	struct line *lines = calloc(n ? n : 1, sizeof(*lines));
	struct profile_iter it = { 0 };
	const struct frame_ref *frames;
	size_t nf;
	uint64_t count;
	char frame[8192];
	int rc = 0;

	if (!lines)
		return -1;
	while (profile_next(p, &it, &frames, &nf, &count)) {
		size_t cap = 256, len = 0;
		char *text = malloc(cap);

		if (!text) {
			rc = -1;
			goto out;
		}
		text[0] = '\0';
		for (size_t i = 0; i < nf; i++) {
			size_t fl = output_frame_text(p, frames[i], o->full_filenames,
						      frame, sizeof(frame));
			if (len + fl + 2 > cap) {
				char *nt;
				while (len + fl + 2 > cap)
					cap *= 2;
				nt = realloc(text, cap);
				if (!nt) {
					free(text);
					rc = -1;
					goto out;
				}
				text = nt;
			}
			if (i)
				text[len++] = ';';
			memcpy(text + len, frame, fl + 1);
			len += fl;
		}
		if (nf == 0 || count == 0) {
			free(text);
			continue;
		}
		lines[k].text = text;
		lines[k].count = count;
		k++;
	}
	/* Identical text from distinct stacks (e.g. labels) must merge. */
	qsort(lines, k, sizeof(*lines), cmp_line);
	{
		size_t m = 0;
		for (size_t i = 0; i < k; i++) {
			if (m && strcmp(lines[m - 1].text, lines[i].text) == 0) {
				lines[m - 1].count += lines[i].count;
				free(lines[i].text);
				continue;
			}
			lines[m++] = lines[i];
		}
		k = m;
	}
	/* The contract sorts whole lines, count included ("x 1 3" < "x 9"). */
	for (size_t i = 0; i < k; i++) {
		char *full;
		if (asprintf(&full, "%s %" PRIu64, lines[i].text, lines[i].count) < 0) {
			rc = -1;
			goto out;
		}
		free(lines[i].text);
		lines[i].text = full;
	}
	qsort(lines, k, sizeof(*lines), cmp_line);
	for (size_t i = 0; i < k; i++)
		if (fprintf(out, "%s\n", lines[i].text) < 0)
			rc = -1;
out:
	for (size_t i = 0; i < k; i++)
		free(lines[i].text);
	free(lines);
	return rc;
}

const struct output_format output_format_folded = {
	.name = "folded",
	.summary = "folded stacks, as flamegraph.pl reads them",
	.write = output_folded,
	.streams = true,
};
