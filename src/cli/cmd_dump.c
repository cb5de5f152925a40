/*
 * cmd_dump.c - "pyspy-c dump": every thread's Python stack, once.
 *
 * The target is stopped once, for as short a time as possible: the
 * threads' OS states are read before the stop, the GIL and the stacks
 * (with --locals the frames' values, with --native the C stacks, unwound
 * and merged) during it, and everything is printed after the target runs
 * again.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/error.h"
#include "pyspy/native.h"
#include "pyspy/output.h"
#include "pyspy/pyasync.h"
#include "pyspy/pyinterp.h"
#include "pyspy/stacks.h"
#include "pyspy/target.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

enum {
	OPT_PID = 1, OPT_LOCALS, OPT_JSON, OPT_NONBLOCKING, OPT_FULL_FILENAMES, OPT_VERBOSE,
	OPT_NATIVE, OPT_NATIVE_ALL, OPT_SUBPROCESSES, OPT_INTERPRETER, OPT_CORE, OPT_EXECUTABLE,
	OPT_SYSROOT, OPT_ASYNC,
};

static const struct cli_option dump_options[] = {
	{ OPT_PID, 'p', "pid", "PID", "process to dump" },
	{ OPT_CORE, 0, "core", "FILE", "dump a core file instead of a process (gzip'd too)" },
	{ OPT_EXECUTABLE, 0, "executable", "EXE", "with --core: the program the core was made from" },
	{ OPT_SYSROOT, 0, "sysroot", "DIR",
	  "with --core: find the files the core maps under DIR (a container's root)" },
	{ OPT_LOCALS, 'l', "locals", NULL, "show each frame's arguments and local variables" },
	{ OPT_JSON, 'j', "json", NULL, "write JSON instead of text" },
	{ OPT_NONBLOCKING, 0, "nonblocking", NULL, "read without stopping the target" },
	{ OPT_NATIVE, 'n', "native", NULL, "merge C stacks (extensions, libraries) with Python frames" },
	{ OPT_NATIVE_ALL, 0, "native-all", NULL,
	  "--native, also showing the interpreter's own C frames" },
	{ OPT_SUBPROCESSES, 's', "subprocesses", NULL, "also dump the child processes" },
	{ OPT_INTERPRETER, 0, "interpreter", "ID",
	  "only threads running in interpreter ID ('main' or its id)" },
	{ OPT_ASYNC, 0, "async", NULL,
	  "asyncio: running tasks in the stacks, then every task and who awaits it (3.8+)" },
	{ OPT_FULL_FILENAMES, 0, "full-filenames", NULL, "show full file paths" },
	{ OPT_VERBOSE, 'v', "verbose", NULL, "say how the interpreter was found, and how long the target was stopped" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_dump_def = {
	.name = "dump",
	.summary = "print the Python stack of every thread of a process, once",
	.usage = "pyspy-c dump --pid PID | --core FILE [options]",
	.options = dump_options,
	.run = cmd_dump,
};

struct dump_args {
	pid_t pid;
	const char *core, *executable, *sysroot;
	bool locals, json, blocking, full_filenames, verbose, native, native_all, subprocesses;
	bool one_interp, interp_main;   /* --interpreter */
	int64_t interp_id;
	bool async;
};

static int set_option(int id, const char *arg, void *ctx)
{
	struct dump_args *a = ctx;

	switch (id) {
	case OPT_PID:
		return cli_parse_pid(arg, &a->pid);
	case OPT_CORE:
		a->core = arg;
		return 0;
	case OPT_EXECUTABLE:
		a->executable = arg;
		return 0;
	case OPT_SYSROOT:
		a->sysroot = arg;
		return 0;
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
	case OPT_SUBPROCESSES:
		a->subprocesses = true;
		return 0;
	case OPT_INTERPRETER:
		a->one_interp = true;
		return cli_parse_interpreter(arg, &a->interp_main, &a->interp_id);
	case OPT_ASYNC:
		a->async = true;
		return 0;
	case OPT_NATIVE_ALL:
		a->native_all = true;
		/* fall through */
	case OPT_NATIVE:
		a->native = true;
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
	if (!s) {
		fputs("null", out);
		return;
	}
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

/*
 * One thread as dumped: its frames root first, each with the index of its
 * Python frame in the sample (for locals), or -1 for a C frame.
 */
struct dthread {
	pid_t tid;
	const struct py_thread_sample *th; /* NULL: a thread Python does not know */
	bool idle;
	struct frame_ref *frames;
	long *pyidx;
	size_t n;
	bool own;                          /* frames/pyidx allocated here */
};

struct dump {
	struct dump_args *a;
	struct target *t;
	struct pyinterp *pi;
	struct py_sample *s;
	struct native *native;
	struct frame_locals *fl;
	struct dthread *threads;
	size_t nthreads;
	uint64_t gil_holder;
	bool gil_locked;
	char cmdline[1024];
	char version[64];           /* sys.version's first word */
	struct py_tasks tasks;      /* --async */
};

static bool holds_gil(const struct dump *d, const struct dthread *dt)
{
	return dt->th && d->gil_locked && py_thread_has_tstate(dt->th, d->gil_holder);
}

/*
 * ", interp main" or ", interp ID" when the process has several
 * interpreters (or the thread runs in one that is not the main one).
 */
static void interp_text(const struct dump *d, const struct dthread *dt, char *buf, size_t cap)
{
	const struct py_thread_sample *th = dt->th;

	buf[0] = '\0';
	if (!th || (d->pi->ninterps < 2 && th->main_interp))
		return;
	if (th->main_interp)
		snprintf(buf, cap, "main");
	else if (th->interp_id >= 0)
		snprintf(buf, cap, "%lld", (long long)th->interp_id);
	else
		snprintf(buf, cap, "?");
}

static bool wanted(const struct dump_args *a, const struct py_thread_sample *th)
{
	if (!a->one_interp)
		return true;
	return a->interp_main ? th->main_interp : !th->main_interp && th->interp_id == a->interp_id;
}

/* The Python name if it can be read, else the OS name. */
static void thread_name(const struct dump *d, const struct dthread *dt, char *name, size_t cap)
{
	if (dt->th && pyinterp_thread_name(d->pi, dt->th->thread_id, name, cap) == 0)
		return;
	if (dt->tid)
		target_thread_comm(d->t, dt->tid, name, cap);
	else
		snprintf(name, cap, "?");
}

static void print_locals(const struct dump *d, long fi, FILE *out)
{
	if (!d->fl || fi < 0)
		return;
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

static void print_text(const struct dump *d, FILE *out)
{
	char frame[8192], name[128], in[32];

	fprintf(out, "Process %d: %s\nPython %s (%s)\n", (int)d->t->pid, d->cmdline, d->version,
		d->pi->module);
	for (size_t i = 0; i < d->nthreads; i++) {
		const struct dthread *dt = &d->threads[i];

		thread_name(d, dt, name, sizeof(name));
		interp_text(d, dt, in, sizeof(in));
		fprintf(out, "\nThread %d (%s%s%s%s%s%s): \"%s\"\n", (int)dt->tid,
			dt->idle ? "idle" : "active", holds_gil(d, dt) ? ", gil" : "",
			dt->th && dt->th->in_gc ? ", gc" : "", dt->th ? "" : ", native only",
			in[0] ? ", interp " : "", in, name);
		if (!dt->n)
			fprintf(out, "    (no %s frames)\n", d->native ? "readable" : "Python");
		for (size_t k = dt->n; k-- > 0;) {
			output_frame_text(d->pi->profile, dt->frames[k], d->a->full_filenames, frame,
					  sizeof(frame));
			fprintf(out, "    %s\n", frame);
			print_locals(d, dt->pyidx[k], out);
		}
	}
}

static void print_json(const struct dump *d, FILE *out)
{
	fprintf(out, "{\"pid\": %d, \"command\": ", (int)d->t->pid);
	json_string(out, d->cmdline);
	fprintf(out, ", \"python\": ");
	json_string(out, d->version);
	fprintf(out, ", \"threads\": [");
	for (size_t i = 0; i < d->nthreads; i++) {
		const struct dthread *dt = &d->threads[i];
		char name[128], in[32];

		thread_name(d, dt, name, sizeof(name));
		interp_text(d, dt, in, sizeof(in));
		fprintf(out, "%s\n  {\"tid\": %d, \"thread_id\": %llu, \"name\": ", i ? "," : "",
			(int)dt->tid, dt->th ? (unsigned long long)dt->th->thread_id : 0ull);
		json_string(out, name);
		fprintf(out, ", \"active\": %s, \"gil\": %s, \"gc\": %s, \"python\": %s, ",
			dt->idle ? "false" : "true", holds_gil(d, dt) ? "true" : "false",
			dt->th && dt->th->in_gc ? "true" : "false", dt->th ? "true" : "false");
		/* The interpreter it runs in: "main", its id, or null (not Python). */
		fprintf(out, "\"interpreter\": ");
		if (dt->th && dt->th->main_interp)
			fprintf(out, "\"main\"");
		else if (dt->th && dt->th->interp_id >= 0)
			fprintf(out, "\"%lld\"", (long long)dt->th->interp_id);
		else
			fprintf(out, "null");
		fprintf(out, ", \"frames\": [");
		for (size_t k = dt->n; k-- > 0;) {
			struct frame_ref fr = dt->frames[k];
			const struct func *fn = profile_func_get(d->pi->profile, fr.func);
			long fi = dt->pyidx[k];

			fprintf(out, "%s\n    {\"function\": ", k + 1 == dt->n ? "" : ",");
			json_string(out, fn ? fn->name : "?");
			fprintf(out, ", \"file\": ");
			json_string(out, fn ? fn->file : NULL);
			fprintf(out, ", \"short_file\": ");
			json_string(out, fn ? fn->short_file : NULL);
			fprintf(out, ", \"line\": %d, \"kind\": \"%s\"", (int)fr.line,
				fi >= 0 ? "python" : "native");
			if (d->fl && fi >= 0) {
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
	fprintf(out, "\n]");
	if (d->a->async) {
		fprintf(out, ", \"tasks\": ");
		dump_tasks_json(&d->tasks, d->pi->profile, out);
	}
	fprintf(out, "}\n");
}

static bool python_knows(const struct py_sample *s, pid_t tid)
{
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return true;
	return false;
}

/*
 * A thread's merged C and Python stack, copied out; its Python frames are
 * found in order among the merged ones (the merge keeps their order, and
 * C frames are never the same functions).  While the target is stopped.
 */
static int native_thread(struct dump *d, struct dthread *dt, struct frame_ref *buf)
{
	const struct target_thread *tt = dt->tid ? target_thread_by_tid(d->t, dt->tid) : NULL;
	size_t n = 0, j = 0;

	if (native_collect(d->native, d->pi->profile, d->s, dt->th,
			   tt && tt->stopped ? dt->tid : 0, buf, NATIVE_STACK_CAP, &n) == -PERR_NOMEM)
		return -PERR_NOMEM;
	dt->frames = malloc((n ? n : 1) * sizeof(*dt->frames));
	dt->pyidx = malloc((n ? n : 1) * sizeof(*dt->pyidx));
	dt->own = true;
	if (!dt->frames || !dt->pyidx)
		return -PERR_NOMEM;
	memcpy(dt->frames, buf, n * sizeof(*buf));
	dt->n = n;
	for (size_t k = 0; k < n; k++) {
		const struct frame_ref *py = dt->th && j < dt->th->nframes
						     ? &d->s->frames[dt->th->first + j]
						     : NULL;
		dt->pyidx[k] = -1;
		if (py && py->func == buf[k].func && py->line == buf[k].line)
			dt->pyidx[k] = (long)(dt->th->first + j++);
	}
	return 0;
}

/* The threads to print, from the sample (and with --native, the C stacks). */
static int collect_threads(struct dump *d)
{
	static struct frame_ref buf[NATIVE_STACK_CAP];
	size_t cap = d->s->nthreads + (d->native ? d->t->nthreads : 0);

	d->threads = calloc(cap ? cap : 1, sizeof(*d->threads));
	if (!d->threads)
		return -PERR_NOMEM;
	if (d->native)
		native_begin_sample(d->native);
	for (size_t i = 0; i < d->s->nthreads; i++) {
		const struct py_thread_sample *th = &d->s->threads[i];
		struct dthread *dt;

		/* A thread state of a thread not started yet, or ended: nothing runs. */
		if ((!th->tid && !th->nframes) || !wanted(d->a, th))
			continue;
		dt = &d->threads[d->nthreads++];
		*dt = (struct dthread){ .tid = th->tid, .th = th, .idle = th->idle };
		if (d->native) {
			if (native_thread(d, dt, buf) != 0)
				return -PERR_NOMEM;
			continue;
		}
		dt->frames = d->s->frames + th->first;
		dt->n = th->nframes;
		dt->pyidx = malloc((th->nframes ? th->nframes : 1) * sizeof(*dt->pyidx));
		dt->own = false;
		if (!dt->pyidx)
			return -PERR_NOMEM;
		for (size_t k = 0; k < th->nframes; k++)
			dt->pyidx[k] = (long)(th->first + k);
	}
	for (size_t i = 0; d->native && i < d->t->nthreads; i++) {
		const struct target_thread *tt = &d->t->threads[i];
		struct dthread *dt;

		if (python_knows(d->s, tt->tid) || d->a->one_interp)
			continue;
		dt = &d->threads[d->nthreads++];
		*dt = (struct dthread){ .tid = tt->tid, .idle = tt->state != 'R' };
		if (native_thread(d, dt, buf) != 0)
			return -PERR_NOMEM;
	}
	return 0;
}

static void free_threads(struct dump *d)
{
	for (size_t i = 0; i < d->nthreads; i++) {
		if (d->threads[i].own)
			free(d->threads[i].frames);
		free(d->threads[i].pyidx);
	}
	free(d->threads);
}

/* Stop, walk (and read locals, unwind C stacks), resume; returns the stop time in ns. */
static int snapshot(struct dump *d, int64_t *stopped_ns)
{
	struct py_gil g;
	uint64_t degraded;
	int64_t t0;
	int rc;

	/*
	 * Decode the code objects and names before stopping anything: the
	 * stopped walk then mostly hits the caches.
	 */
	if (d->a->blocking) {
		d->pi->degrade_ok = false;
		pyinterp_sample(d->pi, d->s);
	}
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
	/*
	 * Stopped, a thread that cannot be read is corrupt, or was stopped in
	 * the middle of a change: let it run a moment and look again; what
	 * still cannot be read is shown degraded, and counted.
	 */
	d->pi->degrade_ok = (d->a->blocking && target_all_seized(d->t)) || d->t->core;
	/* A core is read once: what it lacks is shown degraded at once. */
	d->pi->degrade_after = d->t->core ? 1 : 2;
	degraded = d->pi->degraded;
	rc = pyinterp_sample(d->pi, d->s);
	/* A core does not change: looking again cannot help. */
	if (rc == 0 && d->pi->degrade_ok && d->s->dropped && !d->t->core) {
		target_resume(d->t);
		usleep(20000);
		if ((rc = target_stop(d->t, 1000)) != 0) {
			target_resume(d->t);
			return rc == -PERR_TIMEOUT
				       ? perr_set(PERR_RUNTIME, "pid %d: a thread did not stop "
						  "within 1 s", (int)d->t->pid)
				       : rc;
		}
		rc = pyinterp_sample(d->pi, d->s);
	}
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
	if (rc == 0 && d->a->async)
		rc = pyinterp_tasks(d->pi, d->s, &d->tasks);
	if (rc == 0)
		rc = collect_threads(d);
	if (d->a->blocking)
		target_resume(d->t);
	*stopped_ns = d->a->blocking ? now_ns() - t0 : 0;
	if (rc == -PERR_TORN && d->t->core)
		return perr_set(PERR_RUNTIME, "core '%s': its stacks cannot be read (an incomplete "
				"or corrupt core?)", d->a->core);
	if (rc == -PERR_TORN)
		return perr_set(PERR_RUNTIME, "pid %d: the stacks changed while being read "
				"(try again, or without --nonblocking)", (int)d->t->pid);
	if (rc == 0 && d->pi->degraded > degraded)
		fprintf(stderr, "pyspy-c: pid %d: %llu parts of its stacks could not be read and "
			"are shown degraded ('<unknown>', no line, '[unreadable frame]', "
			"'[broken frame chain]')\n", (int)d->t->pid,
			(unsigned long long)(d->pi->degraded - degraded));
	if (rc == 0 && d->s->dropped)
		fprintf(stderr, "pyspy-c: pid %d: %zu threads could not be read while running and "
			"are left out (try again, or without --nonblocking)\n", (int)d->t->pid,
			d->s->dropped);
	if (rc == -PERR_NOMEM)
		return perr_set(PERR_NOMEM, "out of memory");
	return rc;
}

/*
 * Dump one process: attach, snapshot, detach, print.  'child': a
 * descendant found by --subprocesses, read first and seized only once it
 * proves to be Python (one that is not is skipped quietly: returns 0 and
 * prints nothing, *printed false).  'sep' is written before the dump.
 * Returns the exit status.
 */
/*
 * stdout closed by its reader (dump | head): a normal way to stop reading,
 * so no message and exit status 0; -1 tells the caller to stop writing.
 */
static int write_failed(void)
{
	if (errno == EPIPE)
		return -1;
	return cli_error(1, "cannot write the dump: %s", strerror(errno));
}

static int dump_process(struct dump_args *a, pid_t pid, bool child, const char *sep,
			bool *printed)
{
	struct dump d = { .a = a };
	struct target t;
	struct pyinterp pi;
	struct py_sample *s = calloc(1, sizeof(*s));
	struct profile *prof = profile_new();
	int64_t stopped = 0;
	size_t nstopped = 0;
	int rc, status = 0;

	*printed = false;
	memset(&t, 0, sizeof(t));
	memset(&pi, 0, sizeof(pi));
	if (!s || !prof) {
		status = cli_error(1, "out of memory");
		goto done;
	}
	if (a->core) {
		rc = target_open_core(&t, a->core, a->executable, a->sysroot, stderr);
		if (rc == 0)
			rc = pyinterp_attach(&pi, &t, prof);
	} else {
		rc = target_open(&t, pid, a->blocking && !child);
		if (rc == 0) {
			target_guard_crashes(&t);
			rc = pyinterp_attach(&pi, &t, prof);
		}
	}
	if (rc == 0 && child && a->blocking)
		rc = target_seize_listed(&t);
	if (rc && child)
		goto done; /* not Python, or gone: not ours to report */
	if (rc) {
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
		goto done;
	}
	pi.full_filenames = a->full_filenames;
	if (a->async && (rc = pyinterp_async_check(&pi)) != 0) {
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
		goto done;
	}
	pi.async = a->async;
	/* Locals, and from 3.11 the native merge, need the frames' addresses. */
	s->keep_sources = a->locals || a->native;
	if (a->native) {
		struct native_options no = { .show_internal = a->native_all,
					     .debug_dirs = getenv("PYSPY_C_DEBUG_DIRS") };
		d.native = native_open(&t, &pi, &no);
		if (!d.native) {
			status = cli_error(1, "cannot start native unwinding: %s",
					   perr_detail(-PERR_RUNTIME));
			goto done;
		}
	}
	d.t = &t;
	d.pi = &pi;
	d.s = s;
	target_cmdline(&t, d.cmdline, sizeof(d.cmdline));
	rc = snapshot(&d, &stopped);
	nstopped = t.nthreads;
	/* Read while still attached, but after the target runs again. */
	pyinterp_version(&pi, d.version, sizeof(d.version));
	/* Thread names are read while printing: a core stays open until then. */
	if (!t.core)
		target_close(&t);
	if (a->verbose) {
		char desc[2048];
		pyinterp_describe(&pi, desc, sizeof(desc));
		fprintf(stderr, "pyspy-c: pid %d: %s\n", (int)(a->core ? t.pid : pid), desc);
		if (a->blocking)
			fprintf(stderr, "pyspy-c: pid %d stopped for %.0f us (%zu threads)\n",
				(int)pid, (double)stopped / 1e3, nstopped);
	}
	if (d.native)
		native_report(d.native, stderr, a->verbose);
	if (rc) {
		status = cli_error(perr_exit_status(rc) ? perr_exit_status(rc) : 1, "%s",
				   perr_detail(rc));
		goto done;
	}
	fputs(sep, stdout);
	if (a->json)
		print_json(&d, stdout);
	else
		print_text(&d, stdout);
	if (a->async && !a->json && dump_tasks_text(&d.tasks, pi.profile, a->full_filenames, stdout))
		status = cli_error(1, "out of memory");
	*printed = true;
	if (fflush(stdout) != 0 || ferror(stdout))
		status = write_failed();
done:
	target_close(&t);
	native_close(d.native);
	free_threads(&d);
	if (d.fl) {
		for (size_t i = 0; s && i < s->nframes; i++)
			free(d.fl[i].v);
		free(d.fl);
	}
	py_tasks_free(&d.tasks);
	pyinterp_release(&pi);
	if (s)
		py_sample_free(s);
	free(s);
	profile_free(prof);
	return status;
}

int cmd_dump(int argc, char **argv)
{
	struct dump_args a = { .blocking = true };
	static pid_t kids[TARGET_MAX_PROCS];
	size_t nkids;
	bool help, printed;
	int optind, status;

	if (cli_parse(&cmd_dump_def, argc, argv, &optind, set_option, &a, &help))
		return help ? 0 : 2;
	if (optind < argc)
		return cli_error(2, "unexpected argument '%s' (see 'pyspy-c dump --help')",
				 argv[optind]);
	if (!a.pid && !a.core)
		return cli_error(2, "dump needs --pid PID or --core FILE (see 'pyspy-c dump --help')");
	if (a.pid && a.core)
		return cli_error(2, "dump takes --pid or --core, not both");
	if (!a.core && (a.executable || a.sysroot))
		return cli_error(2, "--%s is for --core", a.executable ? "executable" : "sysroot");
	if (a.core && a.subprocesses)
		return cli_error(2, "--subprocesses cannot be used with --core");
	/* A core is as stopped as it will ever be: nothing to stop. */
	if (a.core)
		a.blocking = false;
	if (a.native && a.async)
		return cli_error(2, "--async cannot be used with --native: the C stacks are not "
				 "merged with a task's frames");
	if (a.native && !a.blocking && !a.core)
		return cli_error(2, "--native reads the C stacks of stopped threads: it cannot "
				 "be used with --nonblocking");
	/* A Ctrl-C while the target is stopped must not leave it stopped. */
	cli_block_stop_signals();

	/* With --subprocesses, --json writes an array: one object per process. */
	if (a.subprocesses && a.json)
		fputs("[\n", stdout);
	status = dump_process(&a, a.pid, false, "", &printed);
	if (status || !a.subprocesses)
		return status < 0 ? 0 : status;
	/* The descendants as they are now, each stopped on its own. */
	nkids = target_descendants(a.pid, kids, TARGET_MAX_PROCS);
	for (size_t i = 0; i < nkids && status == 0; i++)
		status = dump_process(&a, kids[i], true, a.json ? ",\n" : "\n", &printed);
	if (status < 0)
		return 0;  /* stdout closed */
	if (a.json) {
		fputs("]\n", stdout);
		if ((fflush(stdout) != 0 || ferror(stdout)) && (status = write_failed()) < 0)
			return 0;
	}
	return status;
}
