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

/* The one place that reads the target's memory (see target.memhook). */
static ssize_t vm_readv(struct target *t, const struct iovec *local, unsigned long nlocal,
			const struct iovec *remote, unsigned long nremote)
{
	if (t->memhook)
		return t->memhook->readv(t->memhook, t->pid, local, nlocal, remote, nremote);
	return process_vm_readv(t->pid, local, nlocal, remote, nremote, 0);
}

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
			k++;
		}
		if (!k)
			continue;
		t->reads++;
		got = vm_readv(t, local_iov, k, remote_iov, k);
		if (got == (ssize_t)want) {
			for (size_t j = 0; j < k; j++) {
				v[i + j].rc = 0;
				memo_read(t, NULL, v[i + j].addr, v[i + j].len);
			}
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
				memo_read(t, NULL, v[i + j].addr, v[i + j].len);
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

/* By address: a quicksort without a comparison function (libc's qsort cost as much as the walk). */
static void sort_memo(struct memo_region *a, size_t n)
{
	while (n > 12) {
		uint64_t x = a[0].addr, y = a[n / 2].addr, z = a[n - 1].addr, p;
		size_t i = 0, j = n - 1;

		p = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
		for (;;) {
			struct memo_region tmp;
			while (a[i].addr < p)
				i++;
			while (a[j].addr > p)
				j--;
			if (i >= j)
				break;
			tmp = a[i], a[i] = a[j], a[j] = tmp;
			i++, j--;
		}
		/* [0, i) <= p <= [i, n): recurse into the smaller part. */
		if (i < n - i) {
			sort_memo(a, i);
			a += i, n -= i;
		} else {
			sort_memo(a + i, n - i);
			n = i;
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct memo_region x = a[i];
		size_t j = i;
		while (j > 0 && a[j - 1].addr > x.addr) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
}

/*
 * The prefetch sends one iovec per run of regions on the same or adjacent
 * pages, not one per region: the kernel pins the pages of every iovec
 * anew, about 0.4 us each, while the bytes in between cost next to
 * nothing (measured: 160 iovecs of 248 bytes 64 us, one iovec over the
 * same 80 KiB 7 us).  Every page of a run holds some region that was
 * read last time, so reading the gaps cannot fault where the regions do
 * not.  Each region still is a region of the snapshot, in its run's copy.
 */
unsigned target_snap_prefetch(struct target *t, struct target_iov *head, size_t nhead,
			      struct target_iov *tail, size_t ntail)
{
	static struct target_iov v[TARGET_MEMO_REGIONS + 16];
	static struct memo_region m[TARGET_MEMO_REGIONS], last[TARGET_MEMO_REGIONS];
	static size_t run_of[TARGET_MEMO_REGIONS], last_n = SIZE_MAX;
	struct target_snap *s = snap_get(t);
	size_t n = 0, nm, first, nruns, placed = 0;
	uint64_t reads = t->reads;
	bool recording;

	if (!s || nhead + ntail > 16)
		return 0;
	target_snap_clear(t);
	/* What is prefetched is noted again only when the walk reads it. */
	recording = s->recording;
	s->recording = false;
	nm = s->nmemo[s->memo_cur];
	/* The same notes as last time (a stack that did not move): sorted already. */
	if (nm != last_n || memcmp(last, s->memo[s->memo_cur], nm * sizeof(*m)) != 0) {
		memcpy(last, s->memo[s->memo_cur], nm * sizeof(*m));
		last_n = nm;
		memcpy(m, last, nm * sizeof(*m));
		sort_memo(m, nm);
	}
	for (size_t i = 0; i < nhead; i++)
		v[n++] = head[i];
	first = n;
	for (size_t i = 0; i < nm; i++) {
		uint64_t end = m[i].addr + m[i].len;
		struct target_iov *run = n > first ? &v[n - 1] : NULL;
		uint64_t run_end = run ? run->addr + run->len : 0;
		long off;

		if (run && (m[i].addr >> 12) <= ((run_end - 1) >> 12) + 1) {
			/* Same or next page as the run: extend it (regions may overlap). */
			if (end > run_end) {
				if (end - run_end > TARGET_SNAP_BYTES - s->used)
					break;
				run->len += end - run_end;
				s->used += end - run_end;
			}
			run_of[placed++] = n - 1;
			continue;
		}
		s->used = (s->used + 7) & ~(size_t)7;
		if ((off = snap_room(s, m[i].len)) < 0)
			break;
		/* Reserve the space now; the regions count once it is read. */
		v[n++] = (struct target_iov){ m[i].addr, s->data + off, m[i].len, 0 };
		s->used += m[i].len;
		run_of[placed++] = n - 1;
	}
	nruns = n - first;
	nm = placed;
	for (size_t i = 0; i < ntail; i++)
		v[n++] = tail[i];
	if (n)
		target_readv(t, v, n);
	for (size_t i = 0; i < nm; i++) {
		const struct target_iov *run = &v[run_of[i]];
		if (run->rc == 0 && s->n < TARGET_SNAP_REGIONS) {
			s->r[s->n] = (struct snap_region){ m[i].addr, m[i].len,
				(uint32_t)((uint8_t *)run->buf - s->data + (m[i].addr - run->addr)),
				true, false };
			snap_index(s);
		}
	}
	s->used = (s->used + 7) & ~(size_t)7;
	for (size_t i = 0; i < nhead; i++)
		head[i] = v[i];
	for (size_t i = 0; i < ntail; i++)
		tail[i] = v[first + nruns + i];
	s->recording = recording;
	return (unsigned)(t->reads - reads);
}

int target_read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct snap_region *hit = snap_find(t, addr, len);
	int rc;

	if (hit) {
		memo_read(t, hit, addr, len);
		memcpy(buf, t->snap->data + hit->off + (addr - hit->addr), len);
		return 0;
	}
	/* Only what could be read is noted: the prefetch reads runs of pages. */
	if ((rc = read_remote(t, addr, buf, len)) == 0)
		memo_read(t, NULL, addr, len);
	return rc;
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
	n = vm_readv(t, &local, 1, &remote, 1);
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
