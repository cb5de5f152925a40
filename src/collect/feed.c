/*
 * feed.c - decoding an agent's /v1/windows answer (see feed.h).
 *
 * The JSON tree is kept, and the store's input structures point into its
 * strings; all of them live in one allocation per page ('mem'), sized in
 * a first pass over the tree, so a page costs two frees.
 */
#include "pyspy/feed.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct jp_limits limits = {
	.max_depth = 16,
	.max_values = 1u << 25,
	.max_string = 1u << 16,
};

static int bad(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* An unsigned integer member (missing: *out = 0 when optional). */
static bool get_uint(const struct jp_value *o, const char *k, bool optional, uint64_t *out)
{
	const struct jp_value *v = jp_get(o, k);

	*out = 0;
	if (!v)
		return optional;
	if (v->type != JP_NUMBER || !v->is_int || v->i < 0)
		return false;
	*out = (uint64_t)v->i;
	return true;
}

/* A string member, or NULL for null or missing when allowed. */
static bool get_str(const struct jp_value *o, const char *k, bool nullable, const char **out)
{
	const struct jp_value *v = jp_get(o, k);

	*out = NULL;
	if (!v || v->type == JP_NULL)
		return nullable;
	if (v->type != JP_STRING)
		return false;
	*out = v->str;
	return true;
}

static const struct jp_value *get_array(const struct jp_value *o, const char *k)
{
	const struct jp_value *v = jp_get(o, k);

	return v && v->type == JP_ARRAY ? v : NULL;
}

static int window(const struct jp_value *w, size_t wi, struct store_in_window *out,
		  struct store_in_proc **procs, struct store_in_func **funcs,
		  struct store_in_stack **stacks, struct store_in_frame **frames, char *err,
		  size_t cap)
{
	const struct jp_value *pa = get_array(w, "processes"), *fa = get_array(w, "functions"),
			      *sa = get_array(w, "stacks"), *v;
	uint64_t seq;

	if (w->type != JP_OBJECT)
		return bad(err, cap, "window %zu is not an object", wi);
	if (!get_uint(w, "seq", false, &seq) || seq == 0)
		return bad(err, cap, "window %zu: no sequence number", wi);
	if (!pa || !fa || !sa)
		return bad(err, cap, "window %llu: processes, functions or stacks missing",
			   (unsigned long long)seq);
	memset(out, 0, sizeof(*out));
	out->seq = seq;
	if (!(v = jp_get(w, "start_ns")) || v->type != JP_NUMBER || !v->is_int || v->i < 0)
		return bad(err, cap, "window %llu: bad start_ns", (unsigned long long)seq);
	out->start_ns = v->i;
	if (!(v = jp_get(w, "end_ns")) || v->type != JP_NUMBER || !v->is_int || v->i < out->start_ns)
		return bad(err, cap, "window %llu: bad end_ns", (unsigned long long)seq);
	out->end_ns = v->i;
	if (!get_uint(w, "samples", true, &out->samples) ||
	    !get_uint(w, "errors", true, &out->errors) || !get_uint(w, "late", true, &out->late) ||
	    !get_uint(w, "pruned", true, &out->pruned))
		return bad(err, cap, "window %llu: bad counts", (unsigned long long)seq);

	out->procs = *procs;
	out->nprocs = pa->n;
	for (size_t i = 0; i < pa->n; i++) {
		const struct jp_value *p = &pa->items[i];
		struct store_in_proc *pr = &(*procs)[i];
		const struct jp_value *pid = jp_get(p, "pid");

		if (p->type != JP_OBJECT || !pid || pid->type != JP_NUMBER || !pid->is_int ||
		    pid->i < 0 || pid->i > INT32_MAX || !get_uint(p, "start_time", true, &pr->start_time) ||
		    !get_str(p, "program", true, &pr->program) ||
		    !get_str(p, "python", true, &pr->python) ||
		    !get_str(p, "thread", true, &pr->thread) ||
		    !get_uint(p, "samples", true, &pr->samples) ||
		    !get_uint(p, "errors", true, &pr->errors) || !get_uint(p, "late", true, &pr->late))
			return bad(err, cap, "window %llu: process %zu is malformed",
				   (unsigned long long)seq, i);
		pr->pid = pid->i;
	}
	*procs += pa->n;

	out->funcs = *funcs;
	out->nfuncs = fa->n;
	for (size_t i = 0; i < fa->n; i++) {
		const struct jp_value *f = &fa->items[i];
		struct store_in_func *fn = &(*funcs)[i];
		const char *kind;

		if (f->type != JP_OBJECT || !get_str(f, "name", false, &fn->name) ||
		    !get_str(f, "file", true, &fn->file) ||
		    !get_str(f, "short_file", true, &fn->short_file) ||
		    !get_str(f, "kind", true, &kind) ||
		    (kind && strcmp(kind, "label") != 0 && strcmp(kind, "code") != 0))
			return bad(err, cap, "window %llu: function %zu is malformed",
				   (unsigned long long)seq, i);
		fn->label = kind && strcmp(kind, "label") == 0;
	}
	*funcs += fa->n;

	out->stacks = *stacks;
	out->nstacks = sa->n;
	for (size_t i = 0; i < sa->n; i++) {
		const struct jp_value *s = &sa->items[i], *proc = jp_get(s, "process");
		const struct jp_value *fr = get_array(s, "frames");
		struct store_in_stack *st = &(*stacks)[i];

		if (s->type != JP_OBJECT || !fr || !get_uint(s, "count", false, &st->count) ||
		    !proc || (proc->type != JP_NULL && (proc->type != JP_NUMBER || !proc->is_int ||
							proc->i < 0 || (uint64_t)proc->i >= pa->n)))
			return bad(err, cap, "window %llu: stack %zu is malformed",
				   (unsigned long long)seq, i);
		st->proc = proc->type == JP_NULL ? -1 : (int32_t)proc->i;
		st->nframes = (uint32_t)fr->n;
		st->frames = *frames;
		for (size_t k = 0; k < fr->n; k++) {
			const struct jp_value *pair = &fr->items[k];
			struct store_in_frame *f = &(*frames)[k];

			if (pair->type != JP_ARRAY || pair->n != 2 ||
			    pair->items[0].type != JP_NUMBER || !pair->items[0].is_int ||
			    pair->items[0].i < 0 || (uint64_t)pair->items[0].i >= fa->n ||
			    (pair->items[1].type != JP_NULL &&
			     (pair->items[1].type != JP_NUMBER || !pair->items[1].is_int ||
			      pair->items[1].i < 0 || pair->items[1].i > INT32_MAX)))
				return bad(err, cap, "window %llu: stack %zu: frame %zu is malformed",
					   (unsigned long long)seq, i, k);
			f->func = (uint32_t)pair->items[0].i;
			f->line = pair->items[1].type == JP_NULL ? -1 : (int32_t)pair->items[1].i;
		}
		*frames += fr->n;
	}
	*stacks += sa->n;
	return 0;
}

int feed_decode(const char *text, size_t len, struct feed_page *page, char *err, size_t cap)
{
	const struct jp_value *ws, *gap;
	const char *format;
	size_t np = 0, nf = 0, ns = 0, nfr = 0, bytes;
	struct store_in_proc *procs;
	struct store_in_func *funcs;
	struct store_in_stack *stacks;
	struct store_in_frame *frames;
	char jerr[128];
	uint64_t last = 0;

	memset(page, 0, sizeof(*page));
	if (jp_parse(text, len, &limits, &page->doc, jerr, sizeof(jerr)))
		return bad(err, cap, "not JSON: %s", jerr);
	if (page->doc.type != JP_OBJECT || !get_str(&page->doc, "format", false, &format) ||
	    strcmp(format, FEED_FORMAT) != 0)
		return bad(err, cap, "not a %s answer", FEED_FORMAT);
	if (!get_str(&page->doc, "instance", false, &page->instance) || !*page->instance ||
	    strlen(page->instance) > 256)
		return bad(err, cap, "no agent instance id");
	if (!get_uint(&page->doc, "oldest_seq", true, &page->oldest_seq) ||
	    !get_uint(&page->doc, "newest_seq", true, &page->newest_seq) ||
	    !get_uint(&page->doc, "next_since", false, &page->next_since))
		return bad(err, cap, "bad sequence numbers");
	gap = jp_get(&page->doc, "gap");
	page->gap = gap && gap->type == JP_BOOL && gap->b;
	{
		const struct jp_value *r = jp_get(&page->doc, "rate");
		page->rate = r && r->type == JP_NUMBER ? r->num : 0;
	}
	ws = get_array(&page->doc, "windows");
	if (!ws)
		return bad(err, cap, "no windows array");
	/* Sizes first, so that everything fits in one allocation. */
	for (size_t i = 0; i < ws->n; i++) {
		const struct jp_value *w = &ws->items[i], *pa = get_array(w, "processes"),
				      *fa = get_array(w, "functions"), *sa = get_array(w, "stacks");
		if (!pa || !fa || !sa)
			return bad(err, cap, "window %zu: processes, functions or stacks missing", i);
		np += pa->n;
		nf += fa->n;
		ns += sa->n;
		for (size_t k = 0; k < sa->n; k++) {
			const struct jp_value *fr = get_array(&sa->items[k], "frames");
			nfr += fr ? fr->n : 0;
		}
	}
	bytes = ws->n * sizeof(struct store_in_window) + np * sizeof(*procs) + nf * sizeof(*funcs) +
		ns * sizeof(*stacks) + nfr * sizeof(*frames);
	page->mem = calloc(1, bytes ? bytes : 1);
	if (!page->mem)
		return bad(err, cap, "out of memory");
	page->windows = page->mem;
	procs = (struct store_in_proc *)(page->windows + ws->n);
	funcs = (struct store_in_func *)(procs + np);
	stacks = (struct store_in_stack *)(funcs + nf);
	frames = (struct store_in_frame *)(stacks + ns);
	for (size_t i = 0; i < ws->n; i++) {
		if (window(&ws->items[i], i, &page->windows[i], &procs, &funcs, &stacks, &frames, err,
			   cap))
			return -1;
		if (page->windows[i].seq <= last)
			return bad(err, cap, "window %llu: sequence numbers not increasing",
				   (unsigned long long)page->windows[i].seq);
		last = page->windows[i].seq;
	}
	page->nwindows = ws->n;
	if (ws->n && page->next_since != last)
		return bad(err, cap, "next_since %llu is not the last window's %llu",
			   (unsigned long long)page->next_since, (unsigned long long)last);
	return 0;
}

void feed_free(struct feed_page *page)
{
	jp_free(&page->doc);
	free(page->mem);
	memset(page, 0, sizeof(*page));
}
