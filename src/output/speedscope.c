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

static int write_speedscope(FILE *out, const struct profile *p, const struct output_opts *o)
{
	const struct timeline *tl = o->timeline;
	double period_ms;
	struct frame_map fm = { 0 };
	long *stack_frames = NULL;   /* per timeline stack: offset into 'idx' */
	uint32_t *idx = NULL;        /* frame indexes of every stack, root first */
	size_t nidx = 0, capidx = 0, nstacks, *order = NULL;
	char name[512];
	int rc = -1;

	if (!tl)
		return -1;
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

		stack_frames[s] = (long)nidx;
		if (!timeline_stack(tl, (uint32_t)s, &fr, &n))
			continue;
		if (nidx + n > capidx) {
			size_t cap = capidx ? capidx : 4096;
			uint32_t *ni;
			while (cap < nidx + n)
				cap *= 2;
			ni = realloc(idx, cap * sizeof(*ni));
			if (!ni)
				goto out;
			idx = ni;
			capidx = cap;
		}
		for (size_t k = 0; k < n; k++) {
			long fi = frame_map_get(&fm, fr[k]);
			if (fi < 0)
				goto out;
			idx[nidx++] = (uint32_t)fi;
		}
	}
	stack_frames[nstacks] = (long)nidx;

	fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n", out);
	fputs("\"exporter\":\"pyspy-c " PYSPY_VERSION "\",\n\"name\":", out);
	if (o->command && *o->command)
		snprintf(name, sizeof(name), "%s (pid %d)", o->command, (int)o->pid);
	else
		snprintf(name, sizeof(name), "pid %d", (int)o->pid);
	output_json_string(out, name);
	fputs(",\n\"activeProfileIndex\":0,\n\"shared\":{\"frames\":[\n", out);
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
				fprintf(out, k > stack_frames[s] ? ",%u" : "%u", idx[k]);
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
	free(idx);
	free(order);
	return rc;
}

const struct output_format output_format_speedscope = {
	.name = "speedscope",
	.summary = "speedscope JSON, one profile per thread",
	.write = write_speedscope,
	.needs_timeline = true,
};
