/*
 * options.c - the one option parser: getopt-like, driven by a command's
 * option table, which also prints --help.
 */
#include "pyspy/cli.h"
#include "pyspy/error.h"
#include "pyspy/http.h"
#include "pyspy/pyinterp.h"
#include "pyspy/sampler.h"
#include "pyspy/target.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_error(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("pyspy-c: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static const struct cli_option help_option = {
	-1, 'h', "help", NULL, "show this help and exit"
};

void cli_print_help(const struct cli_command *cmd, FILE *out)
{
	fprintf(out, "usage: %s\n\n%s\n\noptions:\n", cmd->usage, cmd->summary);
	for (const struct cli_option *o = cmd->options;; o++) {
		char left[64];
		const struct cli_option *opt = o->id ? o : &help_option;

		if (opt->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", opt->short_name,
				 opt->long_name, opt->arg ? " " : "", opt->arg ? opt->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", opt->long_name,
				 opt->arg ? " " : "", opt->arg ? opt->arg : "");
		fprintf(out, "  %-26s %s\n", left, opt->help);
		if (!o->id)
			break;
	}
}

static const struct cli_option *find_long(const struct cli_option *opts, const char *name,
					  size_t len)
{
	for (const struct cli_option *o = opts; o->id; o++)
		if (strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
			return o;
	return NULL;
}

static const struct cli_option *find_short(const struct cli_option *opts, char c)
{
	for (const struct cli_option *o = opts; o->id; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, int *optind,
	      int (*set)(int id, const char *arg, void *ctx), void *ctx, bool *help_shown)
{
	int i;

	*help_shown = false;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct cli_option *o = NULL;
		const char *val = NULL;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cli_print_help(cmd, stdout);
			*help_shown = true;
			return 1;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
			o = find_long(cmd->options, a + 2, len);
			if (!o)
				return cli_error(2, "unknown option '%s' (see 'pyspy-c %s --help')",
						 a, cmd->name);
			if (eq && !o->arg)
				return cli_error(2, "option '--%s' takes no argument", o->long_name);
			val = eq ? eq + 1 : NULL;
		} else {
			/* Short options; flags may be grouped: -ti */
			for (const char *p = a + 1; *p; p++) {
				o = find_short(cmd->options, *p);
				if (!o)
					return cli_error(2, "unknown option '-%c' (see 'pyspy-c %s --help')",
							 *p, cmd->name);
				if (o->arg) {
					val = p[1] ? p + 1 : NULL;
					break;
				}
				if (set(o->id, NULL, ctx))
					return 2;
				o = NULL;
			}
			if (!o)
				continue;
		}
		if (o->arg && !val) {
			if (i + 1 >= argc)
				return cli_error(2, "option '--%s' needs an argument %s",
						 o->long_name, o->arg);
			val = argv[++i];
		}
		if (set(o->id, val, ctx))
			return 2;
	}
	*optind = i;
	return 0;
}

int cli_parse_pid(const char *arg, pid_t *out)
{
	char *end;
	long pid;

	/* Not silently the last one: one process (and its children) per run. */
	if (*out)
		return cli_error(2, "--pid given more than once (%d, then '%s'): give one "
				 "process; --subprocesses adds its child processes", (int)*out, arg);

	errno = 0;
	pid = strtol(arg, &end, 10);
	if (errno || end == arg || *end || pid <= 0 || pid > INT_MAX)
		return cli_error(2, "invalid value '%s' for --pid (expected a process id)", arg);
	*out = (pid_t)pid;
	return 0;
}

int cli_parse_number(const char *opt, const char *arg, double min, double max, double *out)
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

int cli_check_listen(const char *listen_opt, const char *listen, const char *token_opt,
		     const char *token_file)
{
	struct http_listen l;
	char err[512];
	int status = http_listen_check(listen, token_file, listen_opt, token_opt, &l, err,
				       sizeof(err));

	http_listen_release(&l);
	return status ? cli_error(status, "%s", err) : 0;
}

void cli_block_stop_signals(void)
{
	sigset_t set;

	sampler_signals(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int cli_attach(struct target *t, struct pyinterp *pi, pid_t pid, bool blocking,
	       struct profile *prof, bool gil)
{
	int rc = target_open(t, pid, blocking);

	if (rc == 0) {
		target_guard_crashes(t);
		rc = pyinterp_attach(pi, t, prof);
	}
	if (rc == 0 && gil)
		rc = pyinterp_gil_available(pi);
	return rc ? cli_error(perr_exit_status(rc), "%s", perr_detail(rc)) : 0;
}

int cli_sampler_option(int id, const char *arg, pid_t *pid, struct sampler_opts *so)
{
	switch (id) {
	case CLI_OPT_PID:
		return cli_parse_pid(arg, pid);
	case CLI_OPT_RATE:
		return cli_parse_number("rate", arg, 0.001, 1000000, &so->rate);
	case CLI_OPT_DURATION:
		return cli_parse_number("duration", arg, 0.001, 1e9, &so->duration);
	case CLI_OPT_IDLE:
		so->idle = true;
		return 0;
	case CLI_OPT_GIL:
		so->gil = true;
		return 0;
	case CLI_OPT_NONBLOCKING:
		so->blocking = false;
		return 0;
	case CLI_OPT_NO_GC:
		so->no_gc = true;
		return 0;
	case CLI_OPT_INTERPRETER:
		so->one_interp = true;
		return cli_parse_interpreter(arg, &so->interp_main, &so->interp_id);
	}
	return -1;
}

int cli_parse_interpreter(const char *arg, bool *main, int64_t *id)
{
	char *end;
	long long v;

	*main = strcmp(arg, "main") == 0;
	if (*main)
		return 0;
	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || v < 0)
		return cli_error(2, "invalid value '%s' for --interpreter (expected 'main' or an "
				 "interpreter id, 0 or more)", arg);
	*id = v;
	return 0;
}
