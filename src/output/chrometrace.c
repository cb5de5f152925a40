/*
 * chrometrace.c - Chrome's Trace Event Format (JSON object form), as
 * Perfetto and chrome://tracing open it: one track per thread, one
 * complete ("X") event per frame activation.
 *
 * A frame at depth d stays one slice for as long as consecutive samples
 * of its thread keep the same frames at depths 0..d, with no gap between
 * them (a sample where the thread was idle or absent ends every slice).
 * Events are written in order of start time, parents before children, so
 * a reader needs no sorting; timestamps are whole microseconds since the
 * start of the recording, its wall-clock start is in otherData.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/output.h"
#include "output_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct walk {
	const struct timeline *tl;
	const struct timeline_thread *th;
	size_t *end_idx;      /* per depth: last slice of the open frame */
	size_t cap;
};

static size_t slice_frames(const struct walk *w, size_t i, const struct frame_ref **fr)
{
	size_t n = 0;

	if (!timeline_stack(w->tl, w->th->slices[i].stack, fr, &n))
		*fr = NULL;
	return n;
}

/*
 * Whole microseconds: readers add ts and dur in floating point, and with
 * decimal fractions a slice could end a hair after its next sibling or its
 * parent starts or ends (fatal to readers that replay begin/end events).
 * Both ends of every slice are rounded the same way, so slices that touch
 * still touch and children stay inside their parents.
 */
static int64_t usec(int64_t ns)
{
	return (ns + 500) / 1000;
}

static void write_event(FILE *out, const struct profile *p, const struct output_opts *o,
			pid_t tid, struct frame_ref f, int64_t start, int64_t end,
			uint64_t samples)
{
	char text[8192];

	output_frame_text(p, f, o->full_filenames, text, sizeof(text));
	fputs(",\n{\"ph\":\"X\",\"cat\":\"python\",\"name\":", out);
	output_json_string(out, text);
	fprintf(out, ",\"pid\":%d,\"tid\":%d,\"ts\":%" PRId64 ",\"dur\":%" PRId64
		",\"args\":{\"samples\":%" PRIu64 "}}",
		(int)o->pid, (int)tid, usec(start), usec(end) - usec(start), samples);
}

/* Every slice of one thread, as nested X events in time order. */
static int write_thread(FILE *out, const struct profile *p, const struct output_opts *o,
			struct walk *w, pid_t tid)
{
	const struct timeline_thread *th = w->th;
	size_t open = 0;   /* depths open after the previous slice */

	for (size_t i = 0; i < th->nslices; i++) {
		const struct frame_ref *fr;
		size_t n = slice_frames(w, i, &fr), k = 0;

		if (n > w->cap) {
			size_t *e = realloc(w->end_idx, n * sizeof(*e));
			if (!e)
				return -1;
			w->end_idx = e;
			w->cap = n;
		}
		/* Frames still open here match this stack by construction. */
		while (k < open && k < n && w->end_idx[k] >= i)
			k++;
		for (size_t d = k; d < n; d++) {
			size_t j = i, limit = d ? w->end_idx[d - 1] : th->nslices - 1;
			uint64_t samples = th->slices[i].samples;

			while (j + 1 <= limit) {
				const struct frame_ref *nf;
				size_t nn = slice_frames(w, j + 1, &nf);
				/* Depth 0 has no parent to bound it: stop at a gap. */
				if (d == 0 && th->slices[j + 1].start != th->slices[j].end)
					break;
				if (nn <= d || nf[d].func != fr[d].func || nf[d].line != fr[d].line)
					break;
				j++;
				samples += th->slices[j].samples;
			}
			w->end_idx[d] = j;
			write_event(out, p, o, tid, fr[d], th->slices[i].start, th->slices[j].end,
				    samples);
		}
		open = n;
	}
	return 0;
}

static int write_chrometrace(FILE *out, const struct profile *p, const struct output_opts *o)
{
	const struct timeline *tl = o->timeline;
	struct walk w = { .tl = tl };
	char name[512], start[40];
	size_t *order;
	int rc = 0;

	if (!tl)
		return -1;
	fputs("{\"traceEvents\":[\n{\"ph\":\"M\",\"name\":\"process_name\",", out);
	if (o->command && *o->command)
		snprintf(name, sizeof(name), "%s", o->command);
	else
		snprintf(name, sizeof(name), "pid %d", (int)o->pid);
	fprintf(out, "\"pid\":%d,\"tid\":0,\"args\":{\"name\":", (int)o->pid);
	output_json_string(out, name);
	fputs("}}", out);
	order = output_thread_order(tl);
	if (!order)
		return -1;
	for (size_t t = 0; t < timeline_nthreads(tl); t++) {
		const struct timeline_thread *th = timeline_thread(tl, order[t]);
		/* A thread whose OS id is unknown still needs a track of its own. */
		pid_t tid = th->tid ? th->tid : (pid_t)(1000000000 + order[t]);

		output_thread_name(p, th, name, sizeof(name));
		fprintf(out, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,"
			"\"args\":{\"name\":", (int)o->pid, (int)tid);
		output_json_string(out, name);
		fprintf(out, "}},\n{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%d,"
			"\"tid\":%d,\"args\":{\"sort_index\":%zu}}", (int)o->pid, (int)tid, t);
		w.th = th;
		if (write_thread(out, p, o, &w, tid) != 0) {
			rc = -1;
			break;
		}
	}
	output_iso_time(o->start_realtime_ns, start, sizeof(start));
	fprintf(out, "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"exporter\":\"pyspy-c "
		PYSPY_VERSION "\",\"start\":\"%s\",\"rate_hz\":%g,\"period_us\":%.3f,"
		"\"samples\":%" PRIu64 ",\"time\":\"%s\"}}\n",
		start, o->rate, (double)timeline_period(tl) / 1e3, o->samples,
		o->idle ? "wall" : "cpu");
	free(w.end_idx);
	free(order);
	return rc || ferror(out) ? -1 : 0;
}

const struct output_format output_format_chrometrace = {
	.name = "chrometrace",
	.summary = "Chrome Trace Event JSON, a timeline per thread",
	.write = write_chrometrace,
	.needs_timeline = true,
};
