/* main.c - pyspy-c: a sampling profiler for CPython.  See src/cli/cli.c. */
#include "pyspy/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
