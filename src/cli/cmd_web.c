/*
 * cmd_web.c - "pyspy-c web": the fleet's history in a browser (src/web).
 * Only the command line lives here; a build without libmicrohttpd says so
 * and exits 2, as serve does.
 */
#include "pyspy/cli.h"
#include "pyspy/web.h"

enum { OPT_STORE = 1, OPT_LISTEN, OPT_TOKEN_FILE };

static const struct cli_option web_options[] = {
	{ OPT_STORE, 0, "store", "STORE", "the store: a file (or sqlite:FILE) or postgresql://..." },
	{ OPT_LISTEN, 0, "listen", "ADDR:PORT", "HTTP address (default " WEB_DEFAULT_LISTEN ")" },
	{ OPT_TOKEN_FILE, 0, "token-file", "FILE",
	  "require this token, as a bearer header or a cookie (needed off loopback)" },
	{ 0, 0, NULL, NULL, NULL },
};

const struct cli_command cmd_web_def = {
	.name = "web",
	.summary = "serve the fleet's flame graphs and timeline from a store to a browser",
	.usage = "pyspy-c web --store STORE [--listen ADDR:PORT] [--token-file FILE]",
	.options = web_options,
	.run = cmd_web,
};

static int set_option(int id, const char *arg, void *ctx)
{
	struct web_config *c = ctx;

	switch (id) {
	case OPT_STORE:
		c->store = arg;
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

int cmd_web(int argc, char **argv)
{
	struct web_config c = { .listen = WEB_DEFAULT_LISTEN };
	bool help;
	int optind;

	if (cli_parse(&cmd_web_def, argc, argv, &optind, set_option, &c, &help))
		return help ? 0 : 2;
	if (optind < argc)
		return cli_error(2, "web: unexpected argument '%s'", argv[optind]);
	if (!c.store)
		return cli_error(2, "web: --store STORE is required");
#ifdef PYSPY_HAVE_MHD
	int status = cli_check_listen("--listen", c.listen, "--token-file", c.token_file);
	if (status)
		return status;
	return web_run(&c);
#else
	return cli_error(2, "web is not in this build: it was built without libmicrohttpd "
			 "(install libmicrohttpd-dev and rebuild)");
#endif
}
