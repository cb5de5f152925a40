/*
 * cmd_record.c - "pyspy-c record": sample a process, write its profile.
 *
 * The pipeline: target_open (attach) -> pyinterp_attach (find Python) ->
 * sampler_run (until duration, signal or exit) -> target_close (the target
 * runs free again before we spend time writing) -> output writer, chosen
 * by --format from the table in src/output/formats.c.
 *
 * With --interval the folded writer runs once per window while sampling
 * (called back by the sampler between two samples), each block headed by
 * a "# window" comment line and flushed, and the profile starts afresh;
 * the last, partial window is written after detaching.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/error.h"
#include "pyspy/native.h"
#include "pyspy/output.h"
#include "pyspy/pyasync.h"
#include "pyspy/pyinterp.h"
#include "pyspy/sampler.h"
#include "pyspy/stacks.h"
#include "pyspy/target.h"
#include "pyspy/timeline.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_OUTPUT = CLI_OPT_OWN, OPT_THREADS, OPT_FUNCTION, OPT_FULL_FILENAMES, OPT_VERBOSE,
	OPT_FORMAT, OPT_INTERVAL, OPT_QUIET, OPT_NATIVE, OPT_NATIVE_ALL, OPT_SUBPROCESSES,
	OPT_ASYNC,
};

static const struct cli_option record_options[] = {
	{ CLI_OPT_PID, 'p', "pid", "PID", "process to profile" },
	{ CLI_OPT_RATE, 'r', "rate", "HZ", "samples per second (default 100)" },
	{ CLI_OPT_DURATION, 'd', "duration", "SECONDS",
	  "stop after this long (default: until Ctrl-C or target exit)" },
	{ OPT_OUTPUT, 'o', "output", "FILE", "write the profile to FILE (default stdout)" },
	{ OPT_FORMAT, 'f', "format", "FORMAT",
	  "folded, speedscope, chrometrace, svg or pprof (default folded)" },
	{ OPT_INTERVAL, 0, "interval", "SECONDS",
	  "write a folded block every SECONDS while recording" },
	{ OPT_SUBPROCESSES, 's', "subprocesses", NULL,
	  "also profile child processes, present and future" },
	{ OPT_THREADS, 't', "threads", NULL, "add a root frame per thread" },
	{ CLI_OPT_IDLE, 'i', "idle", NULL, "keep samples of idle threads (dropped by default)" },
	{ CLI_OPT_GIL, 'g', "gil", NULL, "keep only samples of the thread holding the GIL" },
	{ CLI_OPT_NONBLOCKING, 0, "nonblocking", NULL, "read without stopping the target" },
	{ CLI_OPT_NO_GC, 0, "no-gc", NULL, "no <GC> frame on samples taken while the garbage collector runs" },
	{ CLI_OPT_INTERPRETER, 0, "interpreter", "ID",
	  "keep only threads running in interpreter ID ('main' or its id)" },
	{ OPT_NATIVE, 'n', "native", NULL, "merge C stacks (extensions, libraries) with Python frames" },
	{ OPT_NATIVE_ALL, 0, "native-all", NULL,
	  "--native, also showing the interpreter's own C frames" },
	{ OPT_ASYNC, 0, "async", NULL,
	  "asyncio: a running task's frames under 'task \"NAME\"' instead of the event loop's (3.8+)" },
	{ OPT_FUNCTION, 'F', "function", NULL, "aggregate by function, no line numbers" },
	{ OPT_FULL_FILENAMES, 0, "full-filenames", NULL, "show full file paths" },
	{ OPT_VERBOSE, 'v', "verbose", NULL, "say how the interpreter was found, and more detail" },
	{ OPT_QUIET, 'q', "quiet", NULL, "no summary on stderr at the end (errors still)" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_record_def = {
	.name = "record",
	.summary = "sample a running Python process and write its profile",
	.usage = "pyspy-c record [options] --pid PID\n"
		 "       pyspy-c record [options] -- PROGRAM [ARGS...]",
	.options = record_options,
	.run = cmd_record,
};

struct record_args {
	pid_t pid;
	const char *output;
	const char *format;
	bool verbose;
	bool quiet;
	bool full_filenames;
	bool native, native_all;
	struct sampler_opts so;
};

static int set_option(int id, const char *arg, void *ctx)
{
	struct record_args *a = ctx;
	int rc = cli_sampler_option(id, arg, &a->pid, &a->so);
	double v;

	if (rc >= 0)
		return rc;
	switch (id) {
	case OPT_OUTPUT:
		a->output = arg;
		return 0;
	case OPT_FORMAT:
		a->format = arg;
		return 0;
	case OPT_INTERVAL:
		if (cli_parse_number("interval", arg, 0.01, 1e9, &v))
			return 2;
		a->so.interval = v;
		return 0;
	case OPT_QUIET:
		a->quiet = true;
		return 0;
	case OPT_THREADS:
		a->so.threads = true;
		return 0;
	case OPT_SUBPROCESSES:
		a->so.subprocesses = true;
		return 0;
	case OPT_ASYNC:
		a->so.async = true;
		return 0;
	case OPT_FUNCTION:
		a->so.function = true;
		return 0;
	case OPT_NATIVE_ALL:
		a->native_all = true;
		/* fall through */
	case OPT_NATIVE:
		a->native = true;
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

static void summary(const struct record_args *a, const struct sampler_stats *st,
		    uint64_t pruned, const struct timeline *tl, const char *format, int exit_status)
{
	double eff = st->elapsed > 0 ? (double)st->taken / st->elapsed : 0;
	char how[48];

	fprintf(stderr,
		"pyspy-c: %llu samples in %.2f s (%.1f/s effective, %g/s asked); "
		"%llu late, %llu failed",
		(unsigned long long)st->taken, st->elapsed, eff, a->so.rate,
		(unsigned long long)st->late, (unsigned long long)st->failed);
	if (st->failed) {
		/* Why, by reason; with several processes, in how many. */
		const struct { uint64_t n; const char *why; } reasons[] = {
			{ st->timeouts, "a thread did not stop in time" },
			{ st->torn, "the stacks changed while being read" },
			{ st->other_failed, perr_desc(st->other_error) },
		};
		const char *sep = " (";
		for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
			if (!reasons[i].n)
				continue;
			fprintf(stderr, "%s%llu: %s", sep, (unsigned long long)reasons[i].n,
				reasons[i].why);
			sep = ", ";
		}
		if (a->so.subprocesses)
			fprintf(stderr, "; in %llu of the processes",
				(unsigned long long)st->failed_processes);
		fputc(')', stderr);
	}
	if (st->truncated)
		fprintf(stderr, "; %llu stacks cut at %d frames",
			(unsigned long long)st->truncated, PY_MAX_DEPTH);
	if (st->stack_errors)
		fprintf(stderr, "; %llu stacks lost (out of memory)",
			(unsigned long long)st->stack_errors);
	if (st->degraded)
		fprintf(stderr, "; %llu degraded (names, files, lines, frames or chains the "
			"target's memory did not give: '<unknown>', '[unreadable frame]', "
			"'[broken frame chain]')", (unsigned long long)st->degraded);
	if (st->dropped)
		fprintf(stderr, "; %llu thread samples left out (a thread that could not be "
			"read while it ran)", (unsigned long long)st->dropped);
	if (pruned)
		fprintf(stderr, "; %llu samples of rare stacks merged into '[pruned: rare stacks]' "
			"(more than %d distinct stacks)",
			(unsigned long long)pruned, PROFILE_DEFAULT_MAX_STACKS);
	if (tl && timeline_dropped(tl) && timeline_full_at(tl) >= 0)
		fprintf(stderr, "; timeline full after %.1f s (%u slices or %u stacks, or out of "
			"memory): %llu thread samples from then on are missing from the %s output",
			(double)timeline_full_at(tl) / 1e9, TIMELINE_DEFAULT_MAX_SLICES,
			TIMELINE_DEFAULT_MAX_STACKS, (unsigned long long)timeline_dropped(tl),
			format);
	else if (tl && timeline_dropped(tl))
		fprintf(stderr, "; %llu thread samples missing from the %s output (a thread state "
			"seen twice in one sample)", (unsigned long long)timeline_dropped(tl), format);
	if (a->so.subprocesses)
		fprintf(stderr, "; %llu processes", (unsigned long long)st->processes);
	fputc('\n', stderr);
	if (a->verbose && a->so.blocking)
		fprintf(stderr, "pyspy-c: stops: %llu walks widened to a new GIL holder, %llu with "
			"every thread stopped\n", (unsigned long long)st->rewalks,
			(unsigned long long)st->full_stops);
	if (a->verbose && st->unchanged)
		fprintf(stderr, "pyspy-c: %llu process samples taken without a read (only idle "
			"threads in the last, none has run since)\n", (unsigned long long)st->unchanged);
	if (st->target_exited)
		fprintf(stderr, "pyspy-c: process %d exited%s; wrote the samples collected until "
			"then\n", (int)a->pid, launch_exit_how(exit_status, how, sizeof(how)));
}

/* The folded writer, once per --interval window. */
struct stream {
	FILE *out;
	const char *name;         /* for messages */
	struct profile *prof;
	const struct output_opts *oo;
	uint64_t pruned;          /* over all windows */
};

static int write_block(struct stream *s, const struct sampler_window *w)
{
	char start[40];

	output_iso_time(w->start_realtime_ns, start, sizeof(start));
	fprintf(s->out, "# window start=%s seconds=%.3f samples=%llu\n", start, w->seconds,
		(unsigned long long)w->samples);
	if (output_folded(s->out, s->prof, s->oo) != 0 || fflush(s->out) != 0 || ferror(s->out))
		return perr_set(PERR_RUNTIME, "cannot write the profile to '%s': %s", s->name,
				strerror(errno));
	s->pruned += profile_pruned(s->prof);
	profile_reset(s->prof);
	return 0;
}

static int window_end(void *ctx, const struct sampler_window *w)
{
	return write_block(ctx, w);
}

/* The target's command line, NULs as spaces; NULL if it cannot be read. */
static char *read_command(pid_t pid)
{
	char path[64], *buf = malloc(4096);
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, 4095) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return buf;
}

static int unknown_format(const char *name)
{
	char list[256] = "";
	const struct output_format *f;

	for (size_t i = 0; (f = output_format_at(i)); i++) {
		if (i)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, f->name, sizeof(list) - strlen(list) - 1);
	}
	return cli_error(2, "unknown format '%s' (expected one of: %s)", name, list);
}

/* For tests: PYSPY_C_ALSO_FOLDED=FILE writes the same profile as folded too. */
static int also_folded(const struct profile *prof, const struct output_opts *oo)
{
	const char *path = getenv("PYSPY_C_ALSO_FOLDED");
	FILE *f;
	int rc;

	if (!path || !*path)
		return 0;
	f = fopen(path, "w");
	if (!f)
		return cli_error(1, "cannot open '%s': %s", path, strerror(errno));
	rc = output_folded(f, prof, oo);
	if (fclose(f) != 0 || rc != 0)
		return cli_error(1, "cannot write '%s': %s", path, strerror(errno));
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct record_args a = { .so = { .rate = 100, .blocking = true } };
	struct output_opts oo = { 0 };
	struct target t;
	struct pyinterp pi;
	struct sampler_stats st;
	struct profile *prof = NULL;
	struct timeline *tl = NULL;
	const struct output_format *fmt;
	struct stream stream = { 0 };
	char *command = NULL;
	struct outfile of = { 0 };
	FILE *out = stdout;
	struct native_options native_opts;
	char **program = NULL;
	bool launched_early_exit = false;
	struct launch_signals signals = { 0 };
	int exit_status = -1;
	bool help;
	int optind, rc, status = 0;

	memset(&t, 0, sizeof(t));
	memset(&pi, 0, sizeof(pi));
	if (cli_parse(&cmd_record_def, argc, argv, &optind, set_option, &a, &help))
		return help ? 0 : 2;
	if (cli_target_args("record", argc, argv, optind, a.pid, &program))
		return 2;
	fmt = output_find(a.format ? a.format : "folded");
	if (!fmt)
		return unknown_format(a.format);
	if (a.so.interval > 0 && !fmt->streams)
		return cli_error(2, "--interval writes folded blocks: it cannot be used with "
				 "--format %s", fmt->name);
	if (a.native && a.so.async)
		return cli_error(2, "--async cannot be used with --native: the C stacks are not "
				 "merged with a task's frames");
	if (a.native && !a.so.blocking)
		return cli_error(2, "--native reads the C stacks of stopped threads: it cannot be "
				 "used with --nonblocking");
	if (fmt->binary && !a.output && isatty(STDOUT_FILENO))
		return cli_error(2, "%s output is binary: write it to a file with -o FILE, "
				 "not to a terminal", fmt->name);
	oo.full_filenames = a.full_filenames;

	/* Signals that end the recording are read by the sampler, not fatal. */
	cli_block_stop_signals();

	/*
	 * -o FILE: a whole profile replaces FILE at the end, or FILE stays as
	 * it was.  A --interval stream is written in place as it goes (to be
	 * followed), from when the target is attached.
	 */
	if (a.output && a.so.interval <= 0) {
		if (outfile_open(&of, a.output, fmt->binary, false))
			return 1;
		out = of.f;
	}
	prof = profile_new();
	if (!prof) {
		status = cli_error(1, "out of memory");
		goto done;
	}
	profile_set_limit(prof, PROFILE_DEFAULT_MAX_STACKS);
	if (fmt->needs_timeline) {
		tl = timeline_new((int64_t)(1e9 / a.so.rate), 0, 0);
		if (!tl) {
			status = cli_error(1, "out of memory");
			goto done;
		}
		a.so.timeline = tl;
	}
	status = cli_launch_or_attach(program, &a.pid, &t, &pi, prof, &a.so, &signals);
	/* A program that ran to its end before Python was up: end as it did,
	 * with an empty profile. */
	launched_early_exit = status == -1;
	if (launched_early_exit)
		status = 0;
	else if (status)
		goto done;
	if (a.output && a.so.interval > 0) {
		if (outfile_open(&of, a.output, fmt->binary, true)) {
			status = 1;
			goto done;
		}
		out = of.f;
	}
	if (a.so.async && !launched_early_exit && (rc = pyinterp_async_check(&pi)) != 0) {
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
		goto done;
	}
	pi.async = a.so.async;
	command = read_command(a.pid);
	if (a.verbose) {
		char desc[2048];
		pyinterp_describe(&pi, desc, sizeof(desc));
		fprintf(stderr, "pyspy-c: pid %d: %s\n", (int)a.pid, desc);
	}
	if (a.native) {
		native_opts = (struct native_options){ .show_internal = a.native_all,
						       .debug_dirs = getenv("PYSPY_C_DEBUG_DIRS") };
		a.so.native_opts = &native_opts;
		a.so.native = native_open(&t, &pi, &native_opts);
		if (!a.so.native) {
			status = cli_error(1, "cannot start native unwinding: %s",
					   perr_detail(-PERR_RUNTIME));
			goto done;
		}
	}
	stream = (struct stream){ .out = out, .name = a.output ? a.output : "stdout",
				  .prof = prof, .oo = &oo };
	if (a.so.interval > 0) {
		a.so.window_end = window_end;
		a.so.window_ctx = &stream;
	}
	if (launched_early_exit) {
		memset(&st, 0, sizeof(st));
		rc = 0;
	} else {
		rc = sampler_run(&t, &pi, prof, &a.so, &st);
	}
	/* Let the target run free before spending time on output. */
	exit_status = t.exit_status;
	target_close(&t);
	oo.timeline = tl;
	oo.rate = a.so.rate;
	oo.idle = a.so.idle;
	oo.pid = a.pid;
	oo.command = command;
	oo.start_realtime_ns = st.start_realtime_ns;
	oo.duration = st.elapsed;
	oo.samples = st.taken;
	oo.failed = st.failed;
	if (!a.quiet && !launched_early_exit) {
		summary(&a, &st, stream.pruned + profile_pruned(prof), tl, fmt->name,
				exit_status);
		if (a.so.native)
			native_report(a.so.native, stderr, a.verbose);
	}
	if (rc)
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
	if (a.so.interval > 0) {
		/* After a write error the stream is broken: no last block. */
		if (rc == 0 && (rc = write_block(&stream, &st.window)) != 0)
			status = cli_error(1, "%s", perr_detail(rc));
		else if (a.output && outfile_commit(&of) != 0)
			status = 1;
	} else {
		/* The samples taken are written even if sampling ended in error. */
		if (fmt->write(out, prof, &oo) != 0 || fflush(out) != 0 || ferror(out))
			status = cli_error(1, "cannot write the profile to '%s': %s",
					   a.output ? a.output : "stdout", strerror(errno));
		else if (a.output && outfile_commit(&of) != 0)
			status = 1;
		if (also_folded(prof, &oo) != 0)
			status = 1;
	}
done:
	if (t.pid && t.spawned)
		exit_status = t.exit_status;
	target_close(&t);
	/*
	 * A program we started: wait for its end (it may go on after the
	 * recording), and end as it did, unless pyspy-c itself failed.
	 */
	if (program && a.pid) {
		int code = launch_wait(a.pid, exit_status);
		if (status == 0)
			status = code;
	}
	native_close(a.so.native);
	pyinterp_release(&pi);
	timeline_free(tl);
	profile_free(prof);
	free(command);
	outfile_abort(&of);  /* after a failure: FILE stays as it was */
	return status;
}
