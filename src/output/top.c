/*
 * top.c - the text of top's view: a header and functions ranked by their
 * share of the samples.  The same text serves the full-screen terminal
 * view (cut to the screen, with a few ANSI attributes) and the plain
 * table written once per interval when the output is not a terminal.
 */
#include "pyspy/output.h"

#include <stdio.h>
#include <string.h>

static const char *const columns[TOP_SORT__COUNT] = {
	[TOP_SORT_OWN] = "%Own",
	[TOP_SORT_TOTAL] = "%Total",
	[TOP_SORT_OWN_SUM] = "OwnTime",
	[TOP_SORT_TOTAL_SUM] = "TotalTime",
};
/* Width of each column, a space before each. */
static const int widths[TOP_SORT__COUNT] = { 8, 8, 9, 10 };

const char *output_top_column(enum top_sort c)
{
	return (unsigned)c < TOP_SORT__COUNT ? columns[c] : "?";
}

/* One output line, cut to the view's width (in characters, not bytes). */
struct line {
	FILE *out;
	const struct top_view *v;
	int used;               /* columns written */
	int limit;              /* columns allowed, 0: no limit */
	int lines;              /* lines that may still be ended, -1: no limit */
};

static void put_n(struct line *l, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i]) {
		size_t used;
		if ((l->limit && l->used >= l->limit) || l->lines == 0)
			return;
		if (output_utf8_next((const unsigned char *)s + i, len - i, &used) < 0 ||
		    (unsigned char)s[i] < 0x20) {
			fputc('?', l->out); /* nothing that moves the cursor */
			used = 1;
		} else {
			fwrite(s + i, 1, used, l->out);
		}
		i += used;
		l->used++;
	}
}

static void put(struct line *l, const char *s)
{
	put_n(l, s, strlen(s));
}

static void end_line(struct line *l)
{
	if (l->lines == 0)
		return;
	if (l->lines > 0)
		l->lines--;
	if (l->v->ansi)
		fputs("\033[K", l->out);
	fputc('\n', l->out);
	l->used = 0;
}

static void percent(char *buf, size_t cap, uint64_t n, uint64_t of)
{
	snprintf(buf, cap, "%.2f%%", of ? 100.0 * (double)n / (double)of : 0.0);
}

static void seconds(char *buf, size_t cap, double s)
{
	if (s < 10000)
		snprintf(buf, cap, "%.2fs", s);
	else
		snprintf(buf, cap, "%.0fs", s);
}

static void header(struct line *l)
{
	const struct top_view *v = l->v;
	char buf[256], gil[32], gc[32], active[32], interps[32] = "";

	put(l, v->title ? v->title : "");
	end_line(l);
	snprintf(buf, sizeof(buf), "Samples: %llu in %.1f s, %llu late, %llu failed",
		 (unsigned long long)v->samples, v->elapsed, (unsigned long long)v->late,
		 (unsigned long long)v->failed);
	put(l, buf);
	end_line(l);
	if (v->win_gil_known)
		percent(gil, sizeof(gil), v->win_gil, v->win_gil_known);
	else
		snprintf(gil, sizeof(gil), "n/a");
	if (v->win_gc_known)
		percent(gc, sizeof(gc), v->win_gc, v->win_gc_known);
	else
		snprintf(gc, sizeof(gc), "n/a");
	if (v->interps > 1)
		snprintf(interps, sizeof(interps), ", Interpreters: %u", v->interps);
	percent(active, sizeof(active), v->win_active, v->win_samples);
	snprintf(buf, sizeof(buf), "GIL: %s, GC: %s, Active: %s, Threads: %u%s", gil, gc, active,
		 v->threads, interps);
	put(l, buf);
	end_line(l);
	end_line(l);
	for (int c = 0; c < TOP_SORT__COUNT; c++) {
		snprintf(buf, sizeof(buf), "%*s", widths[c], columns[c]);
		if (v->ansi && c == (int)v->sort) {
			/* Reverse video for the sort column (no width of its own). */
			put_n(l, buf, (size_t)(widths[c] - (int)strlen(columns[c])));
			fputs("\033[7m", l->out);
			put(l, columns[c]);
			fputs("\033[0m", l->out);
		} else {
			put(l, buf);
		}
	}
	put(l, "  Function (filename)");
	end_line(l);
}

static void row(struct line *l, const struct profile *p, const struct top_entry *e)
{
	const struct top_view *v = l->v;
	const struct func *fn = profile_func_get(p, e->func);
	char buf[128], own[32], total[32], t1[32], t2[32];

	percent(own, sizeof(own), e->own, v->win_samples);
	percent(total, sizeof(total), e->total, v->win_samples);
	seconds(t1, sizeof(t1), (double)e->own_sum * v->period);
	seconds(t2, sizeof(t2), (double)e->total_sum * v->period);
	snprintf(buf, sizeof(buf), "%*s%*s%*s%*s  ", widths[0], own, widths[1], total, widths[2],
		 t1, widths[3], t2);
	put(l, buf);
	if (!fn) {
		put(l, "?");
		return;
	}
	put(l, fn->name);
	if (fn->kind == FUNC_LABEL)
		return;
	put(l, " (");
	put(l, v->full_filenames || !fn->short_file ? (fn->file ? fn->file : "?") : fn->short_file);
	put(l, ")");
}

int output_top(FILE *out, const struct profile *p, struct top_stats *ts,
	       const struct top_view *v)
{
	const struct top_entry *const *rows;
	/* On a screen, the status takes the last line, which is not ended. */
	bool status = v->height && v->status && v->height > 1;
	struct line l = { out, v, 0, v->width, v->height ? v->height - 1 : -1 };
	size_t n = top_stats_sorted(ts, v->sort, &rows);

	header(&l);
	for (size_t i = 0; i < n && l.lines != 0; i++) {
		if (!v->height && !rows[i]->total)
			continue; /* the plain table: this window's functions */
		row(&l, p, rows[i]);
		end_line(&l);
	}
	if (status) {
		/* Pad to the last line. */
		while (l.lines > 0)
			end_line(&l);
		l.lines = 1;
		/* Nothing in the last column: some terminals would scroll. */
		if (l.limit > 1)
			l.limit--;
		put(&l, v->status);
		if (v->ansi)
			fputs("\033[K", out);
	}
	return ferror(out) ? -1 : 0;
}
