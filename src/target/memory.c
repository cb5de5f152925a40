/*
 * memory.c - reading the target's memory.
 *
 * One process_vm_readv() per request: it needs no stop, costs a few
 * microseconds, and fails cleanly (EFAULT) on unmapped addresses, which is
 * how torn or garbage pointers in a live target show up.
 */
#define _GNU_SOURCE
#include "pyspy/target.h"
#include "pyspy/error.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

int target_read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (addr < 4096 || addr + len < addr)
		return -PERR_TORN;
	n = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0)
		return -PERR_TORN;
	switch (errno) {
	case ESRCH:
		t->gone = true;
		return -PERR_GONE;
	case EPERM:
		return perr_set(PERR_PERM, "cannot read the memory of pid %d: %s",
				(int)t->pid, strerror(errno));
	case ENOMEM:
		return -PERR_NOMEM;
	default:
		return -PERR_TORN;
	}
}

int target_read_ptr(struct target *t, uint64_t addr, uint64_t *out)
{
	return target_read(t, addr, out, sizeof(*out));
}
