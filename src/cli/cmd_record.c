/*
 * cmd_record.c - "pyspy-c record": sample a process, write its profile.
 *
 * The pipeline: target_open (attach) -> pyinterp_attach (find Python) ->
 * sampler_run (until duration, signal or exit) -> target_close (the target
 * runs free again before we spend time writing) -> output writer.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/error.h"
#include "pyspy/output.h"
#include "pyspy/pyinterp.h"
#include "pyspy/sampler.h"
#include "pyspy/stacks.h"
#include "pyspy/target.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_PID = 1, OPT_RATE, OPT_DURATION, OPT_OUTPUT, OPT_THREADS, OPT_IDLE,
	OPT_NONBLOCKING, OPT_FUNCTION, OPT_FULL_FILENAMES, OPT_VERBOSE,
};

static const struct cli_option record_options[] = {
	{ OPT_PID, 'p', "pid", "PID", "process to profile" },
	{ OPT_RATE, 'r', "rate", "HZ", "samples per second (default 100)" },
	{ OPT_DURATION, 'd', "duration", "SECONDS",
	  "stop after this long (default: until Ctrl-C or target exit)" },
	{ OPT_OUTPUT, 'o', "output", "FILE", "write the profile to FILE (default stdout)" },
	{ OPT_THREADS, 't', "threads", NULL, "add a root frame per thread" },
	{ OPT_IDLE, 'i', "idle", NULL, "keep samples of idle threads (dropped by default)" },
	{ OPT_NONBLOCKING, 0, "nonblocking", NULL, "read without stopping the target" },
	{ OPT_FUNCTION, 'F', "function", NULL, "aggregate by function, no line numbers" },
	{ OPT_FULL_FILENAMES, 0, "full-filenames", NULL, "show full file paths" },
	{ OPT_VERBOSE, 'v', "verbose", NULL, "say how the interpreter was found, and more detail" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_record_def = {
	.name = "record",
	.summary = "sample a running Python process and write folded stacks",
	.usage = "pyspy-c record --pid PID [options]",
	.options = record_options,
	.run = cmd_record,
};

struct record_args {
	pid_t pid;
	const char *output;
	bool verbose;
	bool full_filenames;
	struct sampler_opts so;
};

static int parse_number(const char *opt, const char *arg, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < min || v > max)
		return cli_error(2, "invalid value '%s' for --%s (expected a number from %g to %g)",
				 arg, opt, min, max);
	*out = v;
	return 0;
}

static int set_option(int id, const char *arg, void *ctx)
{
	struct record_args *a = ctx;
	double v;

	switch (id) {
	case OPT_PID: {
		char *end;
		long pid;
		errno = 0;
		pid = strtol(arg, &end, 10);
		if (errno || end == arg || *end || pid <= 0 || pid > INT_MAX)
			return cli_error(2, "invalid value '%s' for --pid (expected a process id)", arg);
		a->pid = (pid_t)pid;
		return 0;
	}
	case OPT_RATE:
		if (parse_number("rate", arg, 0.001, 1000000, &v))
			return 2;
		a->so.rate = v;
		return 0;
	case OPT_DURATION:
		if (parse_number("duration", arg, 0.001, 1e9, &v))
			return 2;
		a->so.duration = v;
		return 0;
	case OPT_OUTPUT:
		a->output = arg;
		return 0;
	case OPT_THREADS:
		a->so.threads = true;
		return 0;
	case OPT_IDLE:
		a->so.idle = true;
		return 0;
	case OPT_NONBLOCKING:
		a->so.blocking = false;
		return 0;
	case OPT_FUNCTION:
		a->so.function = true;
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
		    const struct profile *prof)
{
	double eff = st->elapsed > 0 ? (double)st->taken / st->elapsed : 0;

	fprintf(stderr,
		"pyspy-c: %llu samples in %.2f s (%.1f/s effective, %g/s asked); "
		"%llu late, %llu failed",
		(unsigned long long)st->taken, st->elapsed, eff, a->so.rate,
		(unsigned long long)st->late, (unsigned long long)st->failed);
	if (st->timeouts)
		fprintf(stderr, " (%llu: a thread did not stop in time)",
			(unsigned long long)st->timeouts);
	if (st->truncated)
		fprintf(stderr, "; %llu stacks cut at %d frames",
			(unsigned long long)st->truncated, PY_MAX_DEPTH);
	if (st->stack_errors)
		fprintf(stderr, "; %llu stacks lost (out of memory)",
			(unsigned long long)st->stack_errors);
	if (profile_pruned(prof))
		fprintf(stderr, "; %llu samples of rare stacks merged into '[pruned: rare stacks]' "
			"(more than %d distinct stacks)",
			(unsigned long long)profile_pruned(prof), PROFILE_DEFAULT_MAX_STACKS);
	fputc('\n', stderr);
	if (st->target_exited)
		fprintf(stderr, "pyspy-c: process %d exited; wrote the samples collected until then\n",
			(int)a->pid);
}

int cmd_record(int argc, char **argv)
{
	struct record_args a = { .so = { .rate = 100, .blocking = true } };
	struct output_opts oo = { 0 };
	struct target t;
	struct pyinterp pi;
	struct sampler_stats st;
	struct profile *prof = NULL;
	const struct output_format *fmt = output_find("folded");
	FILE *out = stdout;
	sigset_t set;
	bool help;
	int optind, rc, status = 0;

	memset(&t, 0, sizeof(t));
	memset(&pi, 0, sizeof(pi));
	if (cli_parse(&cmd_record_def, argc, argv, &optind, set_option, &a, &help))
		return help ? 0 : 2;
	if (optind < argc)
		return cli_error(2, "unexpected argument '%s' (see 'pyspy-c record --help')",
				 argv[optind]);
	if (!a.pid)
		return cli_error(2, "record needs --pid PID (see 'pyspy-c record --help')");
	oo.full_filenames = a.full_filenames;

	/* Signals that end the recording are read by the sampler, not fatal. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (a.output) {
		out = fopen(a.output, "w");
		if (!out)
			return cli_error(1, "cannot open '%s': %s", a.output, strerror(errno));
	}
	prof = profile_new();
	if (!prof) {
		status = cli_error(1, "out of memory");
		goto done;
	}
	profile_set_limit(prof, PROFILE_DEFAULT_MAX_STACKS);
	rc = target_open(&t, a.pid, a.so.blocking);
	if (rc) {
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
		goto done;
	}
	target_guard_crashes(&t);
	rc = pyinterp_attach(&pi, &t, prof);
	if (rc) {
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
		goto done;
	}
	if (a.verbose) {
		char desc[2048];
		pyinterp_describe(&pi, desc, sizeof(desc));
		fprintf(stderr, "pyspy-c: pid %d: %s\n", (int)a.pid, desc);
	}
	rc = sampler_run(&t, &pi, prof, &a.so, &st);
	/* Let the target run free before spending time on output. */
	target_close(&t);
	summary(&a, &st, prof);
	if (rc)
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
	if (fmt->write(out, prof, &oo) != 0 || fflush(out) != 0 || ferror(out))
		status = cli_error(1, "cannot write the profile to '%s': %s",
				   a.output ? a.output : "stdout", strerror(errno));
done:
	target_close(&t);
	pyinterp_release(&pi);
	profile_free(prof);
	if (out != stdout && fclose(out) != 0 && status == 0)
		status = cli_error(1, "cannot write '%s': %s", a.output, strerror(errno));
	return status;
}
