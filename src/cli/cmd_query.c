/*
 * cmd_query.c - "pyspy-c query": the profile of any time range of the
 * fleet's history, from a store that pyspy-c collect fills, through the
 * same output writers as record.
 */
#include "pyspy/cli.h"
#include "pyspy/output.h"
#include "pyspy/stacks.h"
#include "pyspy/store.h"
#include "pyspy/timearg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Exit status when the store cannot be used (missing, foreign, corrupt, newer). */
#define EXIT_STORE 8

enum {
	OPT_STORE = 1, OPT_FROM, OPT_UNTIL, OPT_SERVICE, OPT_HOST, OPT_PID, OPT_FORMAT,
	OPT_OUTPUT, OPT_FULL_FILENAMES, OPT_VERBOSE,
};

static const struct cli_option query_options[] = {
	{ OPT_STORE, 0, "store", "STORE", "the store: a file (or sqlite:FILE) or postgresql://..." },
	{ OPT_FROM, 0, "from", "TIME", "start of the range (default -1h): ISO 8601, Unix seconds, "
	  "or relative (-1h, now-15m, 30m)" },
	{ OPT_UNTIL, 0, "until", "TIME", "end of the range (default now)" },
	{ OPT_SERVICE, 0, "service", "NAME", "only this service" },
	{ OPT_HOST, 0, "host", "NAME", "only this host" },
	{ OPT_PID, 0, "pid", "PID", "only this process id" },
	{ OPT_FORMAT, 'f', "format", "FORMAT", "folded (default), svg or pprof" },
	{ OPT_OUTPUT, 'o', "output", "FILE", "write the profile to FILE (default stdout)" },
	{ OPT_FULL_FILENAMES, 0, "full-filenames", NULL, "show full file paths" },
	{ OPT_VERBOSE, 'v', "verbose", NULL, "say which tiers answered and the totals" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_query_def = {
	.name = "query",
	.summary = "write the fleet's profile of a time range from a store",
	.usage = "pyspy-c query --store STORE [--from TIME] [--until TIME] [options]",
	.options = query_options,
	.run = cmd_query,
};

struct query_args {
	const char *store, *from, *until, *format, *output;
	struct store_filter filter;
	bool full_filenames, verbose;
};

static int set_option(int id, const char *arg, void *ctx)
{
	struct query_args *a = ctx;
	pid_t pid = 0;

	switch (id) {
	case OPT_STORE:
		a->store = arg;
		return 0;
	case OPT_FROM:
		a->from = arg;
		return 0;
	case OPT_UNTIL:
		a->until = arg;
		return 0;
	case OPT_SERVICE:
		a->filter.service = arg;
		return 0;
	case OPT_HOST:
		a->filter.host = arg;
		return 0;
	case OPT_PID:
		if (cli_parse_pid(arg, &pid))
			return 2;
		a->filter.pid = pid;
		return 0;
	case OPT_FORMAT:
		a->format = arg;
		return 0;
	case OPT_OUTPUT:
		a->output = arg;
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

static int parse_time(const char *opt, const char *arg, int64_t now, int64_t *out)
{
	char err[128];

	if (timearg_parse(arg, now, out, err, sizeof(err)))
		return cli_error(2, "bad --%s '%s': %s", opt, arg, err);
	return 0;
}

static void say_plan(const struct store_query_info *qi, const char *backend)
{
	static const char *const names[] = { "1m", "10m", "1h" };

	fprintf(stderr, "pyspy-c: %s store: %llu samples, %llu errors;", backend,
		(unsigned long long)qi->samples, (unsigned long long)qi->errors);
	for (size_t i = 0; i < qi->nspans; i++) {
		char a[32], b[32];
		output_iso_time(qi->spans[i].from * 1000000000, a, sizeof(a));
		output_iso_time(qi->spans[i].until * 1000000000, b, sizeof(b));
		fprintf(stderr, " %s %s..%s%s", names[qi->spans[i].tier], a, b,
			qi->spans[i].exact ? "" : " (rounded)");
	}
	fputc('\n', stderr);
}

int cmd_query(int argc, char **argv)
{
	struct query_args a = { 0 };
	struct store_options so = { .read_only = true };
	struct store_query_info qi;
	struct output_opts oo = { 0 };
	const struct output_format *fmt;
	struct store_db *s = NULL;
	struct profile *prof = NULL;
	FILE *out = stdout;
	int64_t now = time(NULL), from, until;
	char errbuf[1024];
	bool help;
	int optind, err, status = 0;

	if (cli_parse(&cmd_query_def, argc, argv, &optind, set_option, &a, &help))
		return help ? 0 : 2;
	if (optind < argc)
		return cli_error(2, "query: unexpected argument '%s'", argv[optind]);
	if (!a.store)
		return cli_error(2, "query: --store STORE is required");
	fmt = output_find(a.format ? a.format : "folded");
	if (!fmt)
		return cli_error(2, "unknown format '%s' (expected folded, svg or pprof)",
				 a.format);
	if (fmt->needs_timeline)
		return cli_error(2, "--format %s draws each thread's timeline, which the store does "
				 "not keep (use folded, svg or pprof)", fmt->name);
	if (parse_time("from", a.from ? a.from : "-1h", now, &from) ||
	    parse_time("until", a.until ? a.until : "now", now, &until))
		return 2;
	if (from >= until)
		return cli_error(2, "--from must be before --until");
	if (fmt->binary && !a.output && isatty(STDOUT_FILENO))
		return cli_error(2, "%s output is binary: write it to a file with -o FILE, "
				 "not to a terminal", fmt->name);

	s = store_open(a.store, &so, &err, errbuf, sizeof(errbuf));
	if (!s)
		return cli_error(store_error_retryable(err) || err == -STORE_EDB ? 1 : EXIT_STORE,
				 "%s", errbuf);
	prof = store_query(s, from, until, &a.filter, &qi, &err);
	if (!prof) {
		status = cli_error(err == -STORE_ECORRUPT ? EXIT_STORE : 1, "%s", store_errmsg(s));
		goto out;
	}
	if (a.verbose)
		say_plan(&qi, store_backend_name(s));
	if (a.output) {
		out = fopen(a.output, fmt->binary ? "wb" : "w");
		if (!out) {
			out = stdout;
			status = cli_error(1, "cannot open '%s': %s", a.output, strerror(errno));
			goto out;
		}
	}
	oo.full_filenames = a.full_filenames;
	oo.start_realtime_ns = from * 1000000000;
	oo.duration = (double)(until - from);
	oo.samples = qi.samples;
	oo.failed = qi.errors;
	oo.command = "fleet";
	if (fmt->write(out, prof, &oo) != 0 || fflush(out) != 0 || ferror(out))
		status = cli_error(1, "cannot write '%s': %s", a.output ? a.output : "stdout",
				   strerror(errno));
out:
	if (out != stdout && fclose(out) != 0 && status == 0)
		status = cli_error(1, "cannot write '%s': %s", a.output, strerror(errno));
	profile_free(prof);
	store_close(s);
	return status;
}
