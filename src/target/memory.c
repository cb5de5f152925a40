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
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

struct snap_region {
	uint64_t addr;
	size_t len, off;    /* off: into data */
};

struct target_snap {
	struct snap_region r[TARGET_SNAP_REGIONS];
	size_t n, used;
	uint8_t data[TARGET_SNAP_BYTES];
};

static const uint8_t *snap_find(const struct target *t, uint64_t addr, size_t len)
{
	const struct target_snap *s = t->snap;

	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct snap_region *r = &s->r[i];
		if (addr >= r->addr && addr - r->addr <= r->len && len <= r->len - (addr - r->addr))
			return s->data + r->off + (addr - r->addr);
	}
	return NULL;
}

void target_snap_clear(struct target *t)
{
	if (t->snap) {
		t->snap->n = 0;
		t->snap->used = 0;
	}
}

static int errno_to_perr(struct target *t)
{
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

static int read_remote(struct target *t, uint64_t addr, void *buf, size_t len);

int target_snap_add(struct target *t, uint64_t addr, size_t len)
{
	struct target_snap *s;
	int rc;

	if (!t->snap) {
		t->snap = calloc(1, sizeof(*t->snap));
		if (!t->snap)
			return -PERR_NOMEM;
	}
	s = t->snap;
	if (snap_find(t, addr, len))
		return 0;
	if (s->n == TARGET_SNAP_REGIONS || len > TARGET_SNAP_BYTES - s->used)
		return -PERR_NOMEM; /* caller falls back to plain reads */
	rc = read_remote(t, addr, s->data + s->used, len);
	if (rc)
		return rc;
	s->r[s->n++] = (struct snap_region){ addr, len, s->used };
	s->used += (len + 7) & ~(size_t)7;
	if (s->used > TARGET_SNAP_BYTES)
		s->used = TARGET_SNAP_BYTES;
	return 0;
}

size_t target_readv(struct target *t, struct target_iov *v, size_t n)
{
	struct iovec local[64], remote[64];
	size_t failed = 0;

	for (size_t i = 0; i < n;) {
		size_t k = 0, want = 0;
		ssize_t got;

		/* Elements the snapshot holds cost nothing; batch the rest. */
		while (i + k < n && k < 64) {
			struct target_iov *e = &v[i + k];
			const uint8_t *hit = snap_find(t, e->addr, e->len);
			if (hit || e->addr < 4096 || e->addr + e->len < e->addr) {
				if (k)
					break;
				if (hit)
					memcpy(e->buf, hit, e->len), e->rc = 0;
				else
					e->rc = -PERR_TORN, failed++;
				i++;
				continue;
			}
			local[k].iov_base = e->buf;
			local[k].iov_len = e->len;
			remote[k].iov_base = (void *)(uintptr_t)e->addr;
			remote[k].iov_len = e->len;
			want += e->len;
			k++;
		}
		if (!k)
			continue;
		t->reads++;
		got = process_vm_readv(t->pid, local, k, remote, k, 0);
		if (got == (ssize_t)want) {
			for (size_t j = 0; j < k; j++)
				v[i + j].rc = 0;
			i += k;
			continue;
		}
		/*
		 * The call stops at the first element it cannot read: those
		 * before it are complete, it failed, and the rest are retried.
		 */
		if (got < 0) {
			int rc = errno_to_perr(t);
			if (rc == -PERR_GONE || rc == -PERR_PERM) {
				for (size_t j = i; j < n; j++)
					v[j].rc = rc;
				return failed + (n - i);
			}
			got = 0;
		}
		for (size_t j = 0; j < k; j++) {
			if ((size_t)got >= v[i + j].len) {
				v[i + j].rc = 0;
				got -= (ssize_t)v[i + j].len;
				continue;
			}
			v[i + j].rc = -PERR_TORN;
			failed++;
			i += j + 1;
			goto next;
		}
		i += k;
next:;
	}
	return failed;
}

int target_read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	const uint8_t *hit = snap_find(t, addr, len);

	if (hit) {
		memcpy(buf, hit, len);
		return 0;
	}
	return read_remote(t, addr, buf, len);
}

static int read_remote(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (addr < 4096 || addr + len < addr)
		return -PERR_TORN;
	t->reads++;
	n = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0)
		return -PERR_TORN;
	return errno_to_perr(t);
}

int target_read_ptr(struct target *t, uint64_t addr, uint64_t *out)
{
	return target_read(t, addr, out, sizeof(*out));
}
