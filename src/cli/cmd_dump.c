/*
 * cmd_dump.c - "pyspy-c dump": every thread's Python stack, once.
 *
 * The target is stopped once, for as short a time as possible: the
 * threads' OS states and the GIL are read before the stop, the stacks (and
 * with --locals the frames' values) during it, and everything is printed
 * after the target runs again.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/error.h"
#include "pyspy/output.h"
#include "pyspy/pyinterp.h"
#include "pyspy/stacks.h"
#include "pyspy/target.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	OPT_PID = 1, OPT_LOCALS, OPT_JSON, OPT_NONBLOCKING, OPT_FULL_FILENAMES, OPT_VERBOSE,
};

static const struct cli_option dump_options[] = {
	{ OPT_PID, 'p', "pid", "PID", "process to dump" },
	{ OPT_LOCALS, 'l', "locals", NULL, "show each frame's arguments and local variables" },
	{ OPT_JSON, 'j', "json", NULL, "write JSON instead of text" },
	{ OPT_NONBLOCKING, 0, "nonblocking", NULL, "read without stopping the target" },
	{ OPT_FULL_FILENAMES, 0, "full-filenames", NULL, "show full file paths" },
	{ OPT_VERBOSE, 'v', "verbose", NULL, "say how the interpreter was found, and how long the target was stopped" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_dump_def = {
	.name = "dump",
	.summary = "print the Python stack of every thread of a process, once",
	.usage = "pyspy-c dump --pid PID [options]",
	.options = dump_options,
	.run = cmd_dump,
};

struct dump_args {
	pid_t pid;
	bool locals, json, blocking, full_filenames, verbose;
};

static int set_option(int id, const char *arg, void *ctx)
{
	struct dump_args *a = ctx;

	switch (id) {
	case OPT_PID:
		return cli_parse_pid(arg, &a->pid);
	case OPT_LOCALS:
		a->locals = true;
		return 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_NONBLOCKING:
		a->blocking = false;
		return 0;
	case OPT_FULL_FILENAMES:
		a->full_filenames = true;
		return 0;
	case OPT_VERBOSE:
		a->verbose = true;
		return 0;
	}
	return 2;
}

/* Locals of every frame, gathered while the target is stopped. */
struct frame_locals {
	struct py_local *v;
	size_t n;
};

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct dump {
	struct dump_args *a;
	struct target *t;
	struct pyinterp *pi;
	struct py_sample *s;
	struct frame_locals *fl;
	uint64_t gil_holder;
	bool gil_locked;
	char cmdline[1024];
};

/* The Python name if it can be read, else the OS name. */
static void thread_name(const struct dump *d, const struct py_thread_sample *th, char *buf,
			size_t len)
{
	if (pyinterp_thread_name(d->pi, th->thread_id, buf, len) == 0)
		return;
	if (th->tid)
		target_thread_comm(d->t, th->tid, buf, len);
	else
		snprintf(buf, len, "?");
}

static void print_text(const struct dump *d, FILE *out)
{
	char ver[32], frame[8192], name[128];

	if (d->pi->micro >= 0)
		snprintf(ver, sizeof(ver), "%d.%d.%d", d->pi->major, d->pi->minor, d->pi->micro);
	else
		snprintf(ver, sizeof(ver), "%d.%d", d->pi->major, d->pi->minor);
	fprintf(out, "Process %d: %s\nPython %s (%s)\n", (int)d->t->pid, d->cmdline, ver,
		d->pi->module);
	for (size_t i = 0; i < d->s->nthreads; i++) {
		const struct py_thread_sample *th = &d->s->threads[i];
		bool gil = d->gil_locked && th->tstate == d->gil_holder;

		thread_name(d, th, name, sizeof(name));
		fprintf(out, "\nThread %d (%s%s): \"%s\"\n", (int)th->tid,
			th->idle ? "idle" : "active", gil ? ", gil" : "", name);
		if (!th->nframes)
			fprintf(out, "    (no Python frames)\n");
		for (size_t k = th->nframes; k-- > 0;) {
			size_t fi = th->first + k;
			output_frame_text(d->pi->profile, d->s->frames[fi], d->a->full_filenames,
					  frame, sizeof(frame));
			fprintf(out, "    %s\n", frame);
			if (!d->fl)
				continue;
			for (int pass = 0; pass < 2; pass++) {
				bool header = false;
				for (size_t v = 0; v < d->fl[fi].n; v++) {
					const struct py_local *lo = &d->fl[fi].v[v];
					if (lo->arg != (pass == 0))
						continue;
					if (!header)
						fprintf(out, "        %s:\n", pass == 0 ? "Arguments" : "Locals");
					header = true;
					fprintf(out, "            %s: %s\n", lo->name, lo->repr);
				}
			}
		}
	}
}

static void print_json(const struct dump *d, FILE *out)
{
	fprintf(out, "{\"pid\": %d, \"command\": ", (int)d->t->pid);
	json_string(out, d->cmdline);
	fprintf(out, ", \"python\": \"%d.%d", d->pi->major, d->pi->minor);
	if (d->pi->micro >= 0)
		fprintf(out, ".%d", d->pi->micro);
	fprintf(out, "\", \"threads\": [");
	for (size_t i = 0; i < d->s->nthreads; i++) {
		const struct py_thread_sample *th = &d->s->threads[i];
		char name[128];

		thread_name(d, th, name, sizeof(name));
		fprintf(out, "%s\n  {\"tid\": %d, \"thread_id\": %llu, \"name\": ", i ? "," : "",
			(int)th->tid, (unsigned long long)th->thread_id);
		json_string(out, name);
		fprintf(out, ", \"active\": %s, \"gil\": %s, \"frames\": [",
			th->idle ? "false" : "true",
			d->gil_locked && th->tstate == d->gil_holder ? "true" : "false");
		for (size_t k = th->nframes; k-- > 0;) {
			size_t fi = th->first + k;
			struct frame_ref fr = d->s->frames[fi];
			const struct func *fn = profile_func_get(d->pi->profile, fr.func);

			fprintf(out, "%s\n    {\"function\": ", k + 1 == th->nframes ? "" : ",");
			json_string(out, fn ? fn->name : "?");
			fprintf(out, ", \"file\": ");
			json_string(out, fn ? fn->file : "?");
			fprintf(out, ", \"short_file\": ");
			json_string(out, fn ? fn->short_file : "?");
			fprintf(out, ", \"line\": %d", (int)fr.line);
			if (d->fl) {
				fprintf(out, ", \"locals\": [");
				for (size_t v = 0; v < d->fl[fi].n; v++) {
					const struct py_local *lo = &d->fl[fi].v[v];
					fprintf(out, "%s{\"name\": ", v ? ", " : "");
					json_string(out, lo->name);
					fprintf(out, ", \"repr\": ");
					json_string(out, lo->repr);
					fprintf(out, ", \"arg\": %s}", lo->arg ? "true" : "false");
				}
				fprintf(out, "]");
			}
			fprintf(out, "}");
		}
		fprintf(out, "]}");
	}
	fprintf(out, "\n]}\n");
}

/* Stop, walk (and read locals), resume; returns the stop time in ns. */
static int snapshot(struct dump *d, int64_t *stopped_ns)
{
	struct py_gil g;
	int64_t t0;
	int rc;

	/*
	 * Decode the code objects and names before stopping anything: the
	 * stopped walk then mostly hits the caches.
	 */
	if (d->a->blocking)
		pyinterp_sample(d->pi, d->s);
	target_read_states(d->t);
	t0 = now_ns();
	if (d->a->blocking && (rc = target_stop(d->t, 1000)) != 0) {
		target_resume(d->t);
		return rc == -PERR_TIMEOUT
			       ? perr_set(PERR_RUNTIME, "pid %d: a thread did not stop within 1 s",
					  (int)d->t->pid)
			       : rc;
	}
	if (pyinterp_gil(d->pi, &g) == 0 && g.known) {
		d->gil_holder = g.holder;
		d->gil_locked = g.locked == 1;
	}
	rc = pyinterp_sample(d->pi, d->s);
	if (rc == 0 && d->a->locals) {
		d->fl = calloc(d->s->nframes ? d->s->nframes : 1, sizeof(*d->fl));
		for (size_t i = 0; d->fl && i < d->s->nframes; i++) {
			d->fl[i].v = calloc(PY_MAX_LOCALS, sizeof(*d->fl[i].v));
			if (!d->fl[i].v ||
			    pyinterp_frame_locals(d->pi, d->s, i, d->fl[i].v, PY_MAX_LOCALS,
						  &d->fl[i].n) != 0)
				d->fl[i].n = 0;
		}
	}
	if (d->a->blocking)
		target_resume(d->t);
	*stopped_ns = d->a->blocking ? now_ns() - t0 : 0;
	if (rc == -PERR_TORN)
		return perr_set(PERR_RUNTIME, "pid %d: the stacks changed while being read "
				"(try again, or without --nonblocking)", (int)d->t->pid);
	return rc;
}

int cmd_dump(int argc, char **argv)
{
	struct dump_args a = { .blocking = true };
	struct dump d = { .a = &a };
	struct target t;
	struct pyinterp pi;
	struct py_sample *s = calloc(1, sizeof(*s));
	struct profile *prof = profile_new();
	int64_t stopped = 0;
	bool help;
	int optind, rc, status = 0;

	memset(&t, 0, sizeof(t));
	memset(&pi, 0, sizeof(pi));
	if (!s || !prof) {
		status = cli_error(1, "out of memory");
		goto done;
	}
	if (cli_parse(&cmd_dump_def, argc, argv, &optind, set_option, &a, &help)) {
		status = help ? 0 : 2;
		goto done;
	}
	if (optind < argc) {
		status = cli_error(2, "unexpected argument '%s' (see 'pyspy-c dump --help')",
				   argv[optind]);
		goto done;
	}
	if (!a.pid) {
		status = cli_error(2, "dump needs --pid PID (see 'pyspy-c dump --help')");
		goto done;
	}
	/* A Ctrl-C while the target is stopped must not leave it stopped. */
	cli_block_stop_signals();

	rc = target_open(&t, a.pid, a.blocking);
	if (rc == 0) {
		target_guard_crashes(&t);
		rc = pyinterp_attach(&pi, &t, prof);
	}
	if (rc) {
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
		goto done;
	}
	pi.full_filenames = a.full_filenames;
	s->keep_sources = a.locals;
	d.t = &t;
	d.pi = &pi;
	d.s = s;
	target_cmdline(&t, d.cmdline, sizeof(d.cmdline));
	rc = snapshot(&d, &stopped);
	target_close(&t);
	if (a.verbose) {
		char desc[2048];
		pyinterp_describe(&pi, desc, sizeof(desc));
		fprintf(stderr, "pyspy-c: pid %d: %s\n", (int)a.pid, desc);
		if (a.blocking)
			fprintf(stderr, "pyspy-c: target stopped for %.0f us (%zu threads)\n",
				(double)stopped / 1e3, s->nthreads);
	}
	if (rc) {
		status = cli_error(perr_exit_status(rc) ? perr_exit_status(rc) : 1, "%s",
				   perr_detail(rc));
		goto done;
	}
	if (a.json)
		print_json(&d, stdout);
	else
		print_text(&d, stdout);
	if (fflush(stdout) != 0)
		status = cli_error(1, "cannot write the dump: %s", strerror(errno));
done:
	target_close(&t);
	if (d.fl) {
		for (size_t i = 0; s && i < s->nframes; i++)
			free(d.fl[i].v);
		free(d.fl);
	}
	pyinterp_release(&pi);
	if (s)
		py_sample_free(s);
	free(s);
	profile_free(prof);
	return status;
}
