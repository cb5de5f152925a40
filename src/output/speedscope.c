/*
 * speedscope.c - speedscope's file format (https://www.speedscope.app/
 * file-format-schema.json), one "sampled" profile per thread.
 *
 * Frames are shared by all profiles: one per (function, line), with the
 * function's name, its file and the line.  Each profile lists the
 * thread's timeline slices in time order, one sample (a stack of frame
 * indexes, root first) per slice, weighted by the slice's samples times
 * the sampling period, in milliseconds: so speedscope's "time order"
 * view follows the recording, and its totals are sample counts times
 * the period.
 *
 * Without a timeline (the fleet's store keeps counts, not time order:
 * pyspy-c web's download) one profile holds each distinct stack once,
 * weighted by its samples (unit "none").
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/output.h"
#include "output_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void write_frame(FILE *out, const struct profile *p, struct frame_ref f, bool full)
{
	const struct func *fn = profile_func_get(p, f.func);

	fputs("{\"name\":", out);
	output_json_string(out, fn ? fn->name : "?");
	if (fn && fn->kind == FUNC_PYTHON) {
		fputs(",\"file\":", out);
		output_json_string(out, full ? fn->file : fn->short_file);
		if (f.line >= 0)
			fprintf(out, ",\"line\":%d", (int)f.line);
	}
	fputc('}', out);
}

/* Frame indexes of one stack (root first) appended to l, grown as needed. */
struct idx_list {
	uint32_t *v;
	size_t n, cap;
};

static int push_stack(struct frame_map *fm, struct idx_list *l, const struct frame_ref *fr,
		      size_t n)
{
	if (l->n + n > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		uint32_t *nv;
		while (cap < l->n + n)
			cap *= 2;
		nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	for (size_t k = 0; k < n; k++) {
		long fi = frame_map_get(fm, fr[k]);
		if (fi < 0)
			return -1;
		l->v[l->n++] = (uint32_t)fi;
	}
	return 0;
}

static void write_head(FILE *out, const char *name)
{
	fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n", out);
	fputs("\"exporter\":\"pyspy-c " PYSPY_VERSION "\",\n\"name\":", out);
	output_json_string(out, name);
	fputs(",\n\"activeProfileIndex\":0,\n\"shared\":{\"frames\":[\n", out);
}

/* No timeline: one profile of the distinct stacks, weighted by their counts. */
static int write_counts(FILE *out, const struct profile *p, const struct output_opts *o)
{
	struct frame_map fm = { 0 };
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	size_t n, ns = profile_nstacks(p), k = 0;
	uint64_t count, total = 0;
	struct idx_list idx = { 0 };
	size_t *off = calloc(ns + 1, sizeof(*off));
	int rc = -1;

	if (!off)
		goto out;
	while (profile_next(p, &it, &fr, &n, &count) && k < ns) {
		off[k++] = idx.n;
		if (push_stack(&fm, &idx, fr, n))
			goto out;
	}
	off[k] = idx.n;
	write_head(out, o->command && *o->command ? o->command : "pyspy-c");
	for (size_t i = 0; i < fm.n; i++) {
		if (i)
			fputs(",\n", out);
		write_frame(out, p, fm.keys[i], o->full_filenames);
	}
	fputs("]},\n\"profiles\":[\n{\"type\":\"sampled\",\"name\":\"all samples\","
	      "\"unit\":\"none\",\n\"samples\":[", out);
	for (size_t s = 0; s < k; s++) {
		fputs(s ? ",[" : "[", out);
		for (size_t i = off[s]; i < off[s + 1]; i++)
			fprintf(out, i > off[s] ? ",%u" : "%u", idx.v[i]);
		fputc(']', out);
	}
	fputs("],\n\"weights\":[", out);
	it.pos = 0;
	for (size_t s = 0; s < k && profile_next(p, &it, &fr, &n, &count); s++) {
		total += count;
		fprintf(out, s ? ",%" PRIu64 : "%" PRIu64, count);
	}
	fprintf(out, "],\n\"startValue\":0,\"endValue\":%" PRIu64 "}]}\n", total);
	rc = ferror(out) ? -1 : 0;
out:
	frame_map_free(&fm);
	free(idx.v);
	free(off);
	return rc;
}

static int write_speedscope(FILE *out, const struct profile *p, const struct output_opts *o)
{
	const struct timeline *tl = o->timeline;
	double period_ms;
	struct frame_map fm = { 0 };
	long *stack_frames = NULL;   /* per timeline stack: offset into 'idx' */
	struct idx_list idx = { 0 }; /* frame indexes of every stack, root first */
	size_t nstacks, *order = NULL;
	char name[512];
	int rc = -1;

	if (!tl)
		return write_counts(out, p, o);
	period_ms = (double)timeline_period(tl) / 1e6;
	nstacks = timeline_nstacks(tl);
	stack_frames = calloc(nstacks + 1, sizeof(*stack_frames));
	order = output_thread_order(tl);
	if (!stack_frames || !order)
		goto out;
	/* Frame indexes of each stack, computed once. */
	for (size_t s = 0; s < nstacks; s++) {
		const struct frame_ref *fr;
		size_t n;

		stack_frames[s] = (long)idx.n;
		if (timeline_stack(tl, (uint32_t)s, &fr, &n) && push_stack(&fm, &idx, fr, n))
			goto out;
	}
	stack_frames[nstacks] = (long)idx.n;

	if (o->command && *o->command)
		snprintf(name, sizeof(name), "%s (pid %d)", o->command, (int)o->pid);
	else
		snprintf(name, sizeof(name), "pid %d", (int)o->pid);
	write_head(out, name);
	for (size_t i = 0; i < fm.n; i++) {
		if (i)
			fputs(",\n", out);
		write_frame(out, p, fm.keys[i], o->full_filenames);
	}
	fputs("]},\n\"profiles\":[", out);
	for (size_t t = 0; t < timeline_nthreads(tl); t++) {
		const struct timeline_thread *th = timeline_thread(tl, order[t]);
		double start = th->nslices ? (double)th->slices[0].start / 1e6 : 0, total = 0;

		output_thread_name(p, th, name, sizeof(name));
		fputs(t ? ",\n{" : "\n{", out);
		fputs("\"type\":\"sampled\",\"name\":", out);
		output_json_string(out, name);
		fputs(",\"unit\":\"milliseconds\",\n\"samples\":[", out);
		for (size_t i = 0; i < th->nslices; i++) {
			uint32_t s = th->slices[i].stack;
			fputs(i ? ",[" : "[", out);
			for (long k = stack_frames[s]; k < stack_frames[s + 1]; k++)
				fprintf(out, k > stack_frames[s] ? ",%u" : "%u", idx.v[k]);
			fputc(']', out);
		}
		fputs("],\n\"weights\":[", out);
		for (size_t i = 0; i < th->nslices; i++) {
			double w = th->slices[i].samples * period_ms;
			total += w;
			fprintf(out, i ? ",%.9g" : "%.9g", w);
		}
		fprintf(out, "],\n\"startValue\":%.3f,\"endValue\":%.3f}", start, start + total);
	}
	fputs("]}\n", out);
	rc = ferror(out) ? -1 : 0;
out:
	frame_map_free(&fm);
	free(stack_frames);
	free(idx.v);
	free(order);
	return rc;
}

const struct output_format output_format_speedscope = {
	.name = "speedscope",
	.summary = "speedscope JSON, one profile per thread",
	.write = write_speedscope,
	.needs_timeline = true,
};
