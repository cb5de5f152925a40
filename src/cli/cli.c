/*
 * cli.c - the command table: "pyspy-c COMMAND [options]".
 * Adding a command is one file in src/cli/ and one line here.
 */
#include "pyspy/cli.h"
#include "pyspy/store.h"

#include <string.h>

static const struct cli_command *const commands[] = {
	&cmd_record_def,
	&cmd_top_def,
	&cmd_dump_def,
	&cmd_serve_def,
	&cmd_query_def,
	&cmd_collect_def,
	&cmd_web_def,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: pyspy-c COMMAND [options]\n\n"
		     "A sampling profiler for CPython: attaches to a running process and\n"
		     "writes where it spends its time.\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "\n  pyspy-c COMMAND -h, --help   options of a command\n"
		     "  pyspy-c help [COMMAND]       the same\n"
		     "  pyspy-c -V, --version        print the version\n"
		     "  pyspy-c -h, --help           this help\n");
}

static void list_options(const struct cli_command *c)
{
	for (const struct cli_option *o = c->options; o->id; o++) {
		if (o->short_name)
			printf("-%c ", o->short_name);
		printf("--%s%s\n", o->long_name, o->arg ? "=" : "");
	}
	printf("-h --help\n");
}

int cli_main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (!name) {
		usage(stderr);
		return 2;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("pyspy-c %s\n", PYSPY_VERSION);
		cli_print_fleet(stdout);
		store_print_backends(stdout);
		return 0;
	}
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(name, "help") == 0) {
		if (argc > 2) {
			for (size_t i = 0; i < NCOMMANDS; i++)
				if (strcmp(argv[2], commands[i]->name) == 0) {
					cli_print_help(commands[i], stdout);
					return 0;
				}
			return cli_error(2, "unknown command '%s'", argv[2]);
		}
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(name, commands[i]->name) != 0)
			continue;
		if (argc > 2 && strcmp(argv[2], "--list-options") == 0) {
			list_options(commands[i]);
			return 0;
		}
		return commands[i]->run(argc - 1, argv + 1);
	}
	return cli_error(2, "unknown command '%s' (see 'pyspy-c --help')", name);
}
