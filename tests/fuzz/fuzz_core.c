/*
 * fuzz_core.c - a core file (dump --core) from any bytes: the ELF header,
 * segment table and notes (threads and registers, the process's names,
 * the auxiliary vector, the NT_FILE table of mapped files), then what the
 * dump reads of a core's target: memory at the segments, the entry point
 * and the threads' stacks (served from the core, or from the files the
 * NT_FILE table names, as found on this machine), the command line (found
 * on the stack), the threads' registers and names.  The input is written
 * to a memfd and opened by its /proc/self/fd path, as a core file would be.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/user.h>
#include <unistd.h>

#include "pyspy/target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static FILE *devnull;
	struct target t;
	struct user_regs_struct regs;
	uint8_t buf[256];
	char text[512];

	if (fd < 0) {
		if ((fd = memfd_create("fuzz-core", 0)) < 0 || !(devnull = fopen("/dev/null", "w")))
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (target_open_core(&t, path, NULL, "/nonexistent-sysroot", devnull) != 0)
		return 0;
	for (size_t i = 0; i < t.nmaps; i++) {
		const struct target_map *m = &t.maps[i];
		(void)target_read(&t, m->start, buf, sizeof(buf));
		(void)target_read(&t, m->end - 8, buf, 16); /* across the end */
		if (m->path) {
			int f = target_open_mapped(&t, m);
			if (f >= 0)
				close(f);
		}
	}
	for (size_t i = 0; i < t.nthreads; i++) {
		if (target_core_regs(&t, t.threads[i].tid, &regs, sizeof(regs)) == 0)
			(void)target_read(&t, regs.rsp, buf, sizeof(buf));
		target_thread_comm(&t, t.threads[i].tid, text, sizeof(text));
	}
	target_cmdline(&t, text, sizeof(text));
	target_root(&t, text, sizeof(text));
	(void)target_file_exists(&t, "/usr/lib/x");
	target_close(&t);
	return 0;
}
