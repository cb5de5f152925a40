/*
 * cmd_collect.c - "pyspy-c collect": poll every agent of the fleet and
 * keep what they sampled in a store (src/collect).
 */
#include "pyspy/cli.h"
#include "pyspy/collect.h"

#include <stdlib.h>
#include <string.h>

enum {
	OPT_STORE = 1, OPT_AGENT, OPT_AGENTS, OPT_INTERVAL, OPT_TIMEOUT, OPT_KEEP_1M,
	OPT_KEEP_10M, OPT_KEEP_1H, OPT_ONCE, OPT_VERBOSE, OPT_WEB, OPT_WEB_TOKEN_FILE, OPT_LISTEN,
	OPT_TOKEN_FILE,
};

static const struct cli_option collect_options[] = {
	{ OPT_STORE, 0, "store", "STORE", "the store: a file (or sqlite:FILE) or postgresql://...; "
	  "created if missing" },
	{ OPT_AGENT, 0, "agent", "AGENT", "an agent: HOST:PORT [service=NAME] [host=NAME] "
	  "[token=FILE] (repeat for more)" },
	{ OPT_AGENTS, 0, "agents", "FILE", "the agents, one a line as --agent; re-read on SIGHUP" },
	{ OPT_INTERVAL, 0, "interval", "SECONDS", "poll every agent this often (default 10)" },
	{ OPT_TIMEOUT, 0, "timeout", "SECONDS", "give up on an answer after this long (default 5)" },
	{ OPT_KEEP_1M, 0, "keep-minutes", "DAYS", "keep 1-minute buckets this long (default 2)" },
	{ OPT_KEEP_10M, 0, "keep-10min", "DAYS", "keep 10-minute buckets this long (default 14)" },
	{ OPT_KEEP_1H, 0, "keep-hours", "DAYS", "keep 1-hour buckets this long (default 365)" },
	{ OPT_ONCE, 0, "once", NULL, "poll every agent once, write, and exit" },
	{ OPT_VERBOSE, 'v', "verbose", NULL, "say what each round wrote" },
	{ OPT_WEB, 0, "web", "ADDR:PORT", "serve pyspy-c web's pages from this process too" },
	{ OPT_WEB_TOKEN_FILE, 0, "web-token-file", "FILE",
	  "the --web pages require this token (needed off loopback)" },
	{ OPT_LISTEN, 0, "listen", "ADDR:PORT",
	  "serve the collector's /metrics and /healthz here (also on --web)" },
	{ OPT_TOKEN_FILE, 0, "token-file", "FILE",
	  "--listen requires this bearer token (needed off loopback)" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_collect_def = {
	.name = "collect",
	.summary = "poll the fleet's agents and keep their stacks in a store",
	.usage = "pyspy-c collect --store STORE --agent HOST:PORT... | --agents FILE [options]",
	.options = collect_options,
	.run = cmd_collect,
};

struct collect_args {
	struct collect_config c;
	size_t cap;
};

static int set_option(int id, const char *arg, void *ctx)
{
	struct collect_args *a = ctx;
	struct collect_config *c = &a->c;
	char err[512];
	double v;

	switch (id) {
	case OPT_STORE:
		c->store = arg;
		return 0;
	case OPT_AGENT:
		if (c->nagents == COLLECT_MAX_AGENTS)
			return cli_error(2, "more than %d agents", COLLECT_MAX_AGENTS);
		if (c->nagents == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 8;
			struct collect_agent *na = realloc(c->agents, cap * sizeof(*na));
			if (!na)
				return cli_error(1, "out of memory");
			c->agents = na;
			a->cap = cap;
		}
		if (collect_parse_agent(arg, &c->agents[c->nagents], err, sizeof(err)))
			return cli_error(2, "bad --agent: %s", err);
		c->nagents++;
		return 0;
	case OPT_AGENTS:
		c->agents_file = arg;
		return 0;
	case OPT_INTERVAL:
		return cli_parse_number("interval", arg, 0.01, 86400, &c->interval);
	case OPT_TIMEOUT:
		return cli_parse_number("timeout", arg, 0.1, 600, &c->timeout);
	case OPT_KEEP_1M:
	case OPT_KEEP_10M:
	case OPT_KEEP_1H:
		if (cli_parse_number(id == OPT_KEEP_1M ? "keep-minutes" : id == OPT_KEEP_10M ?
				     "keep-10min" : "keep-hours", arg, 0.01, 36500, &v))
			return 2;
		c->retention[id - OPT_KEEP_1M] = (int64_t)(v * 86400);
		return 0;
	case OPT_ONCE:
		c->once = true;
		return 0;
	case OPT_VERBOSE:
		c->verbose = true;
		return 0;
	case OPT_WEB:
		c->web_listen = arg;
		return 0;
	case OPT_WEB_TOKEN_FILE:
		c->web_token_file = arg;
		return 0;
	case OPT_LISTEN:
		c->listen = arg;
		return 0;
	case OPT_TOKEN_FILE:
		c->token_file = arg;
		return 0;
	}
	return 2;
}

/* The options together: 0, or the exit status after saying what is wrong. */
static int check(const struct collect_config *c)
{
	int status;

	if (!c->store)
		return cli_error(2, "collect: --store STORE is required");
	if (!c->nagents && !c->agents_file)
		return cli_error(2, "collect: no agents (--agent HOST:PORT or --agents FILE)");
	if (c->web_token_file && !c->web_listen)
		return cli_error(2, "collect: --web-token-file needs --web ADDR:PORT");
	if (c->token_file && !c->listen)
		return cli_error(2, "collect: --token-file needs --listen ADDR:PORT");
#ifndef PYSPY_HAVE_MHD
	if (c->web_listen || c->listen)
		return cli_error(2, "collect: --%s is not in this build: it was built without "
				 "libmicrohttpd (install libmicrohttpd-dev and rebuild)",
				 c->web_listen ? "web" : "listen");
#endif
	if (c->web_listen &&
	    (status = cli_check_listen("--web", c->web_listen, "--web-token-file",
				       c->web_token_file)))
		return status;
	if (c->listen)
		return cli_check_listen("--listen", c->listen, "--token-file", c->token_file);
	return 0;
}

int cmd_collect(int argc, char **argv)
{
	struct collect_args a = { .c = { .interval = 10, .timeout = 5 } };
	bool help;
	int optind, status;

	if (cli_parse(&cmd_collect_def, argc, argv, &optind, set_option, &a, &help)) {
		collect_agents_free(a.c.agents, a.c.nagents);
		return help ? 0 : 2;
	}
	if (optind < argc)
		status = cli_error(2, "collect: unexpected argument '%s'", argv[optind]);
	else if ((status = check(&a.c)) != 0)
		;
	else
#ifdef PYSPY_HAVE_CURL
		status = collect_run(&a.c);
#else
		status = cli_error(1, "collect: this pyspy-c was built without libcurl "
				   "(install libcurl4-openssl-dev and rebuild)");
#endif
	collect_agents_free(a.c.agents, a.c.nagents);
	return status;
}
