/*
 * maps.c - the target's memory map and files.
 *
 * Files are opened as the target sees them, through /proc/PID/root, so a
 * target in a container or chroot is read from the host without setns().
 */
#define _GNU_SOURCE
#include "pyspy/target.h"
#include "pyspy/error.h"
#include "target_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MAPS 65536

static void free_maps(struct target *t)
{
	for (size_t i = 0; i < t->nmaps; i++)
		free(t->maps[i].path);
	free(t->maps);
	t->maps = NULL;
	t->nmaps = 0;
}

int target_load_maps(struct target *t)
{
	char path[64], line[4096 + 256];
	struct target_map *maps = NULL;
	size_t n = 0, cap = 0;
	FILE *f;

	if (t->core)
		return 0; /* a core's maps are those it has */
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT || errno == ESRCH)
			return perr_set(PERR_NOPROC, "no such process: %d", (int)t->pid);
		return perr_set(PERR_PERM, "cannot read '%s': %s", path, strerror(errno));
	}
	while (fgets(line, sizeof(line), f) && n < MAX_MAPS) {
		struct target_map m = { 0 };
		int pathpos = 0;
		char *p;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*s %*s %n",
			   &m.start, &m.end, m.perms, &m.offset, &pathpos) < 4)
			continue;
		p = line + pathpos;
		p[strcspn(p, "\n")] = '\0';
		if (*p == '/') {
			/* "(deleted)" is appended to unlinked files; keep the path. */
			char *del = strstr(p, " (deleted)");
			if (del && del[10] == '\0')
				*del = '\0';
			m.path = strdup(p);
			if (!m.path)
				goto nomem;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct target_map *nm = realloc(maps, ncap * sizeof(*nm));
			if (!nm) {
				free(m.path);
				goto nomem;
			}
			maps = nm;
			cap = ncap;
		}
		maps[n++] = m;
	}
	fclose(f);
	free_maps(t);
	t->maps = maps;
	t->nmaps = n;
	return 0;
nomem:
	fclose(f);
	for (size_t i = 0; i < n; i++)
		free(maps[i].path);
	free(maps);
	return -PERR_NOMEM;
}

int target_open_mapped(struct target *t, const struct target_map *m)
{
	char buf[4096 + 64];
	int fd;

	if (t->core)
		return target_core_open_file(t, m->path);
	snprintf(buf, sizeof(buf), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 (int)t->pid, m->start, m->end);
	fd = open(buf, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || !m->path)
		return fd;
	snprintf(buf, sizeof(buf), "/proc/%d/root%s", (int)t->pid, m->path);
	return open(buf, O_RDONLY | O_CLOEXEC);
}

bool target_file_exists(struct target *t, const char *path)
{
	char root[4096], buf[8192 + 64];

	if (!path || path[0] != '/')
		return false;
	target_root(t, root, sizeof(root));
	if (snprintf(buf, sizeof(buf), "%s%s", root, path) >= (int)sizeof(buf))
		return false;
	return access(buf, F_OK) == 0;
}

void target_root(struct target *t, char *buf, size_t len)
{
	if (t->core)
		target_core_root(t, buf, len);
	else
		snprintf(buf, len, "/proc/%d/root", (int)t->pid);
}

void target_maps_release(struct target *t)
{
	free_maps(t);
}
