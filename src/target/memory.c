/*
 * memory.c - reading the target's memory.
 *
 * Every read is a process_vm_readv(): it needs no stop, costs about a
 * microsecond whatever the size (up to a few KiB), and fails cleanly
 * (EFAULT) on unmapped addresses, which is how torn or garbage pointers in
 * a live target show up.  Since the call, not the bytes, is what costs,
 * reads are batched (one iovec per region) and a sample's walk is served
 * from a snapshot filled, as far as possible, by one call at its start
 * (target_snap_prefetch(): the regions the last sample needed).
 */
#define _GNU_SOURCE
#include "pyspy/target.h"
#include "pyspy/error.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* Elements per process_vm_readv (the kernel takes up to UIO_MAXIOV, 1024). */
#define READV_BATCH 1024

struct snap_region {
	uint64_t addr;
	uint32_t len, off;  /* off: into data */
	bool spec;          /* prefetched: noted again (once) when a read uses it */
	bool noted;
};

struct memo_region {
	uint64_t addr;
	uint32_t len;
};

/* Regions by start address: open addressing, a slot is empty unless of this generation. */
#define SNAP_SLOTS (2 * TARGET_SNAP_REGIONS)
struct snap_slot {
	uint32_t gen;
	uint16_t region;
};

struct target_snap {
	struct snap_region r[TARGET_SNAP_REGIONS];
	struct snap_slot slots[SNAP_SLOTS];
	uint32_t gen;
	size_t n, used, last;  /* last: the region of the last hit */
	/* Regions noted in the last recording [memo_prev] and this one. */
	struct memo_region memo[2][TARGET_MEMO_REGIONS];
	size_t nmemo[2], memo_bytes;
	int memo_cur;
	bool recording;
	uint8_t data[TARGET_SNAP_BYTES];
};

static struct iovec local_iov[READV_BATCH], remote_iov[READV_BATCH];

static struct target_snap *snap_get(struct target *t)
{
	if (!t->snap) {
		t->snap = calloc(1, sizeof(*t->snap));
		if (t->snap)
			t->snap->gen = 1; /* slots of generation 0 are empty */
	}
	return t->snap;
}

static bool contains(const struct snap_region *r, uint64_t addr, size_t len)
{
	return addr >= r->addr && addr - r->addr <= r->len && len <= r->len - (addr - r->addr);
}

static size_t slot_of(uint64_t addr)
{
	return (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 40) & (SNAP_SLOTS - 1);
}

/*
 * Most reads start where a region starts (a thread state, a code header,
 * a frame on the C stack) or fall in the region of the last hit (frames
 * in one data-stack chunk): those are found at once; others by a scan.
 */
static struct snap_region *snap_find(const struct target *t, uint64_t addr, size_t len)
{
	struct target_snap *s = t->snap;

	if (!s || !s->n)
		return NULL;
	if (contains(&s->r[s->last], addr, len))
		return &s->r[s->last];
	for (size_t k = slot_of(addr); s->slots[k].gen == s->gen; k = (k + 1) & (SNAP_SLOTS - 1)) {
		struct snap_region *r = &s->r[s->slots[k].region];
		if (r->addr == addr && len <= r->len) {
			s->last = s->slots[k].region;
			return r;
		}
	}
	for (size_t i = 0; i < s->n; i++)
		if (contains(&s->r[i], addr, len)) {
			s->last = i;
			return &s->r[i];
		}
	return NULL;
}

/* Region n (just filled in) joins the snapshot. */
static void snap_index(struct target_snap *s)
{
	size_t k = slot_of(s->r[s->n].addr);

	while (s->slots[k].gen == s->gen)
		k = (k + 1) & (SNAP_SLOTS - 1);
	s->slots[k] = (struct snap_slot){ s->gen, (uint16_t)s->n };
	s->n++;
}

bool target_snap_has(const struct target *t, uint64_t addr, size_t len)
{
	return snap_find(t, addr, len) != NULL;
}

void target_memo_note(struct target *t, uint64_t addr, size_t len)
{
	struct target_snap *s = t->snap;
	struct memo_region *m;
	size_t n;

	if (!s || !s->recording || len == 0 || len > TARGET_MEMO_BYTES)
		return;
	m = s->memo[s->memo_cur];
	n = s->nmemo[s->memo_cur];
	/* The same region again (a word read twice, say): once is enough. */
	for (size_t i = n > 2 ? n - 2 : 0; i < n; i++)
		if (addr >= m[i].addr && addr + len <= m[i].addr + m[i].len)
			return;
	if (n == TARGET_MEMO_REGIONS || s->memo_bytes + len > TARGET_MEMO_BYTES)
		return;
	m[n] = (struct memo_region){ addr, (uint32_t)len };
	s->nmemo[s->memo_cur]++;
	s->memo_bytes += len;
}

void target_memo_begin(struct target *t)
{
	struct target_snap *s = snap_get(t);

	if (!s)
		return;
	s->memo_cur ^= 1;
	s->nmemo[s->memo_cur] = 0;
	s->memo_bytes = 0;
	s->recording = true;
}

void target_memo_end(struct target *t)
{
	if (t->snap)
		t->snap->recording = false;
}

bool target_memo_pause(struct target *t)
{
	bool was = t->snap && t->snap->recording;

	if (was)
		t->snap->recording = false;
	return was;
}

void target_memo_resume(struct target *t, bool was)
{
	if (t->snap)
		t->snap->recording = was;
}

/*
 * A read served from region r of the snapshot, or by the target (r NULL):
 * note what the next sample should prefetch for it.
 */
static void memo_read(struct target *t, struct snap_region *r, uint64_t addr, size_t len)
{
	if (!t->snap || !t->snap->recording)
		return;
	if (!r) {
		target_memo_note(t, addr, len);
	} else if (r->spec && !r->noted) {
		r->noted = true;
		target_memo_note(t, r->addr, r->len);
	}
}

void target_snap_clear(struct target *t)
{
	if (t->snap) {
		t->snap->n = 0;
		t->snap->used = 0;
		t->snap->last = 0;
		/* Every slot of an older generation is empty. */
		if (++t->snap->gen == 0) {
			memset(t->snap->slots, 0, sizeof(t->snap->slots));
			t->snap->gen = 1;
		}
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

/* Room in the snapshot for len bytes: their offset, or -1. */
static long snap_room(struct target_snap *s, size_t len)
{
	if (s->n == TARGET_SNAP_REGIONS || len > TARGET_SNAP_BYTES - s->used)
		return -1;
	return (long)s->used;
}

static void snap_keep(struct target_snap *s, uint64_t addr, size_t len, bool spec)
{
	s->r[s->n] = (struct snap_region){ addr, (uint32_t)len, (uint32_t)s->used, spec, false };
	snap_index(s);
	s->used += (len + 7) & ~(size_t)7;
	if (s->used > TARGET_SNAP_BYTES)
		s->used = TARGET_SNAP_BYTES;
}

int target_snap_add(struct target *t, uint64_t addr, size_t len)
{
	struct target_snap *s = snap_get(t);
	struct snap_region *hit;
	long off;
	int rc;

	if (!s)
		return -PERR_NOMEM;
	/* The caller notes what it wants prefetched (target_memo_note). */
	if ((hit = snap_find(t, addr, len)) != NULL) {
		hit->noted = true;
		return 0;
	}
	if ((off = snap_room(s, len)) < 0)
		return -PERR_NOMEM; /* caller falls back to plain reads */
	rc = read_remote(t, addr, s->data + off, len);
	if (rc)
		return rc;
	snap_keep(s, addr, len, false);
	return 0;
}

size_t target_readv(struct target *t, struct target_iov *v, size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n;) {
		size_t k = 0, want = 0;
		ssize_t got;

		/* Elements the snapshot holds cost nothing; batch the rest. */
		while (i + k < n && k < READV_BATCH) {
			struct target_iov *e = &v[i + k];
			struct snap_region *hit = snap_find(t, e->addr, e->len);
			if (hit || e->addr < 4096 || e->addr + e->len < e->addr) {
				if (k)
					break;
				if (hit) {
					memcpy(e->buf, t->snap->data + hit->off + (e->addr - hit->addr),
					       e->len);
					e->rc = 0;
					memo_read(t, hit, e->addr, e->len);
				} else {
					e->rc = -PERR_TORN, failed++;
				}
				i++;
				continue;
			}
			local_iov[k].iov_base = e->buf;
			local_iov[k].iov_len = e->len;
			remote_iov[k].iov_base = (void *)(uintptr_t)e->addr;
			remote_iov[k].iov_len = e->len;
			want += e->len;
			memo_read(t, NULL, e->addr, e->len);
			k++;
		}
		if (!k)
			continue;
		t->reads++;
		got = process_vm_readv(t->pid, local_iov, k, remote_iov, k, 0);
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

unsigned target_snap_prefetch(struct target *t, struct target_iov *head, size_t nhead,
			      struct target_iov *tail, size_t ntail)
{
	static struct target_iov v[TARGET_MEMO_REGIONS + 16];
	struct target_snap *s = snap_get(t);
	const struct memo_region *m;
	size_t n = 0, nm, first;
	uint64_t reads = t->reads;
	bool recording;

	if (!s || nhead + ntail > 16)
		return 0;
	target_snap_clear(t);
	/* What is prefetched is noted again only when the walk reads it. */
	recording = s->recording;
	s->recording = false;
	m = s->memo[s->memo_cur];
	nm = s->nmemo[s->memo_cur];
	for (size_t i = 0; i < nhead; i++)
		v[n++] = head[i];
	first = n;
	for (size_t i = 0; i < nm; i++) {
		long off = snap_room(s, m[i].len);
		if (off < 0)
			break;
		/* Reserve the space now; the region counts once it is read. */
		v[n++] = (struct target_iov){ m[i].addr, s->data + off, m[i].len, 0 };
		s->used += (m[i].len + 7) & ~(size_t)7;
	}
	nm = n - first;
	for (size_t i = 0; i < ntail; i++)
		v[n++] = tail[i];
	if (n)
		target_readv(t, v, n);
	for (size_t i = 0; i < nm; i++) {
		const struct target_iov *e = &v[first + i];
		if (e->rc == 0) {
			s->r[s->n] = (struct snap_region){ e->addr, (uint32_t)e->len,
				(uint32_t)((uint8_t *)e->buf - s->data), true, false };
			snap_index(s);
		}
	}
	/* Space of regions that failed stays reserved: used is where the last ended. */
	if (nm)
		s->used = (size_t)((uint8_t *)v[first + nm - 1].buf - s->data) +
			  ((v[first + nm - 1].len + 7) & ~(size_t)7);
	for (size_t i = 0; i < nhead; i++)
		head[i] = v[i];
	for (size_t i = 0; i < ntail; i++)
		tail[i] = v[first + nm + i];
	s->recording = recording;
	return (unsigned)(t->reads - reads);
}

int target_read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct snap_region *hit = snap_find(t, addr, len);

	memo_read(t, hit, addr, len);
	if (hit) {
		memcpy(buf, t->snap->data + hit->off + (addr - hit->addr), len);
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
