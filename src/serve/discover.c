/*
 * discover.c - which processes the agent samples: those given with
 * --pid, and every process whose command line (arguments joined by
 * spaces) matches --match, read from /proc at each scan; with
 * --subprocesses their descendants too.  The sampler (procs.c) decides
 * what is new, what is Python, and what is a reused pid.
 */
#define _GNU_SOURCE
#include "serve_internal.h"
#include "pyspy/target.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int discover_init(struct discover *d, const struct serve_config *c)
{
	memset(d, 0, sizeof(*d));
	d->c = c;
	if (c->match) {
		if (regcomp(&d->re, c->match, REG_EXTENDED | REG_NOSUB) != 0)
			return -1;
		d->have_re = true;
	}
	return 0;
}

void discover_release(struct discover *d)
{
	if (d->have_re)
		regfree(&d->re);
	d->have_re = false;
}

static bool cmdline_matches(const regex_t *re, pid_t pid)
{
	char buf[4096];

	return target_pid_cmdline(pid, buf, sizeof(buf)) == 0 &&
	       regexec(re, buf, 0, NULL, 0) == 0;
}

static size_t add(pid_t *out, size_t n, size_t cap, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (out[i] == pid)
			return n;
	if (n < cap)
		out[n++] = pid;
	return n;
}

size_t discover_scan(void *ctx, pid_t *out, size_t cap)
{
	struct discover *d = ctx;
	pid_t self = getpid();
	size_t n = 0, roots;
	DIR *dir;
	struct dirent *e;

	for (size_t i = 0; i < d->c->npids; i++)
		if (kill(d->c->pids[i], 0) == 0 || errno == EPERM)
			n = add(out, n, cap, d->c->pids[i]);
	if (d->have_re && (dir = opendir("/proc"))) {
		while ((e = readdir(dir)) && n < cap) {
			char *end;
			long pid;
			if (!isdigit((unsigned char)e->d_name[0]))
				continue;
			pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 0 || pid == self)
				continue;
			if (cmdline_matches(&d->re, (pid_t)pid))
				n = add(out, n, cap, (pid_t)pid);
		}
		closedir(dir);
	}
	roots = n;
	if (d->c->subprocesses) {
		static pid_t kids[TARGET_MAX_PROCS];
		for (size_t i = 0; i < roots && n < cap; i++) {
			size_t m = target_descendants(out[i], kids, TARGET_MAX_PROCS);
			for (size_t k = 0; k < m; k++)
				n = add(out, n, cap, kids[k]);
		}
	}
	return n;
}
