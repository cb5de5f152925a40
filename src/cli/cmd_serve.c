/*
 * cmd_serve.c - "pyspy-c serve": the per-host agent (src/serve).
 *
 * Only the command line lives here; the option table is compiled in every
 * build, so --help and the completions are the same with or without the
 * fleet libraries, and a build without libmicrohttpd says so and exits 2.
 */
#include "pyspy/cli.h"
#include "pyspy/serve.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

#ifdef PYSPY_HAVE_MHD
#include <microhttpd.h>
#endif

enum {
	OPT_MATCH = CLI_OPT_OWN, OPT_SUBPROCESSES, OPT_NATIVE, OPT_NATIVE_ALL, OPT_WINDOW,
	OPT_RETENTION, OPT_LISTEN, OPT_TOKEN_FILE, OPT_HIDE_ARGS, OPT_MAX_OVERHEAD,
};

static const struct cli_option serve_options[] = {
	{ CLI_OPT_PID, 'p', "pid", "PID", "a process to profile (repeat for more)" },
	{ OPT_MATCH, 'm', "match", "REGEX",
	  "profile every process whose command line matches REGEX" },
	{ OPT_SUBPROCESSES, 's', "subprocesses", NULL, "and their child processes" },
	{ CLI_OPT_RATE, 'r', "rate", "HZ", "samples per second per process (default 100)" },
	{ CLI_OPT_IDLE, 'i', "idle", NULL, "keep samples of idle threads (dropped by default)" },
	{ CLI_OPT_GIL, 'g', "gil", NULL, "keep only samples of the thread holding the GIL" },
	{ CLI_OPT_NONBLOCKING, 0, "nonblocking", NULL, "read without stopping the targets" },
	{ OPT_NATIVE, 'n', "native", NULL, "merge C stacks (extensions, libraries) with Python frames" },
	{ OPT_NATIVE_ALL, 0, "native-all", NULL,
	  "--native, also showing the interpreter's own C frames" },
	{ OPT_MAX_OVERHEAD, 0, "max-overhead", "PERCENT",
	  "lower the rate when the agent's CPU or the targets' stop time pass PERCENT "
	  "(default 1; 0: never)" },
	{ OPT_WINDOW, 0, "window", "SECONDS", "seconds per window (default 10)" },
	{ OPT_RETENTION, 0, "retention", "SECONDS", "keep windows this long (default 3600)" },
	{ OPT_LISTEN, 0, "listen", "ADDR:PORT", "HTTP address (default " SERVE_DEFAULT_LISTEN ")" },
	{ OPT_TOKEN_FILE, 0, "token-file", "FILE",
	  "require this bearer token (needed off loopback)" },
	{ OPT_HIDE_ARGS, 0, "hide-args", NULL, "show programs without their arguments" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_serve_def = {
	.name = "serve",
	.summary = "profile matching processes continuously and serve their stacks over HTTP",
	.usage = "pyspy-c serve [options] [--pid PID]... [--match REGEX]",
	.options = serve_options,
	.run = cmd_serve,
};

void cli_print_fleet(FILE *out)
{
#ifdef PYSPY_HAVE_MHD
	fprintf(out, "fleet: serve (libmicrohttpd %s)\n", MHD_get_version());
#else
	fprintf(out, "fleet: none (built without libmicrohttpd: no serve)\n");
#endif
}

static int set_option(int id, const char *arg, void *ctx)
{
	struct serve_config *c = ctx;
	pid_t pid = 0;
	int rc;
	double v;

	if (id == CLI_OPT_DURATION)
		return 2;
	rc = cli_sampler_option(id, arg, &pid, &c->so);
	if (rc > 0)
		return rc;
	if (rc == 0) {
		if (id != CLI_OPT_PID)
			return 0;
		if (c->npids == SERVE_MAX_PIDS)
			return cli_error(2, "too many --pid options (at most %d)", SERVE_MAX_PIDS);
		c->pids[c->npids++] = pid;
		return 0;
	}
	switch (id) {
	case OPT_MATCH: {
		regex_t re;
		char msg[200];
		int err = regcomp(&re, arg, REG_EXTENDED | REG_NOSUB);
		if (err) {
			regerror(err, &re, msg, sizeof(msg));
			return cli_error(2, "invalid value '%s' for --match: %s", arg, msg);
		}
		regfree(&re);
		c->match = arg;
		return 0;
	}
	case OPT_SUBPROCESSES:
		c->subprocesses = true;
		return 0;
	case OPT_NATIVE_ALL:
		c->native_all = true;
		/* fall through */
	case OPT_NATIVE:
		c->native = true;
		return 0;
	case OPT_WINDOW:
		if (cli_parse_number("window", arg, 1, 3600, &v))
			return 2;
		if (v != (double)(long)v)
			return cli_error(2, "invalid value '%s' for --window (expected whole seconds)",
					 arg);
		c->window = v;
		return 0;
	case OPT_RETENTION:
		if (cli_parse_number("retention", arg, 1, 30 * 86400, &v))
			return 2;
		c->retention = v;
		return 0;
	case OPT_MAX_OVERHEAD:
		if (cli_parse_number("max-overhead", arg, 0, 100, &v))
			return 2;
		c->max_overhead = v;
		return 0;
	case OPT_LISTEN:
		c->listen = arg;
		return 0;
	case OPT_TOKEN_FILE:
		c->token_file = arg;
		return 0;
	case OPT_HIDE_ARGS:
		c->hide_args = true;
		return 0;
	}
	return 2;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_config c = {
		.so = { .rate = 100, .blocking = true },
		.window = 10,
		.retention = 3600,
		.max_overhead = 1,
		.listen = SERVE_DEFAULT_LISTEN,
	};
	bool help;
	int optind;

	if (cli_parse(&cmd_serve_def, argc, argv, &optind, set_option, &c, &help))
		return help ? 0 : 2;
	if (optind < argc)
		return cli_error(2, "unexpected argument '%s' (serve takes no program; see "
				 "'pyspy-c serve --help')", argv[optind]);
	if (c.native && !c.so.blocking)
		return cli_error(2, "--native reads the C stacks of stopped threads: it cannot be "
				 "used with --nonblocking");
	if (c.retention < c.window)
		return cli_error(2, "--retention (%g s) is shorter than one --window (%g s)",
				 c.retention, c.window);
#ifdef PYSPY_HAVE_MHD
	int status = cli_check_listen("--listen", c.listen, "--token-file", c.token_file);
	if (status)
		return status;
	return serve_run(&c);
#else
	return cli_error(2, "serve is not in this build: it was built without libmicrohttpd "
			 "(install libmicrohttpd-dev and rebuild)");
#endif
}
