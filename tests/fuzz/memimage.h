/*
 * memimage.h - a saved image of what one sample read of a live Python
 * process, and the fake memory that serves it back (tests/fuzz only).
 *
 * File format (little-endian):
 *   "PYSPYMEM"  8 bytes
 *   major, minor                1 byte each
 *   runtime, interp_head_addr, code_type,
 *   gil_holder, gil_locked, gil_switches     8 bytes each
 *   then regions, to the end:  addr (8), len (4), len bytes
 * snapshot.c writes it from a live process (through target.memhook while
 * one sample, the thread names and every frame's locals are read);
 * fuzz_walk.c reads any bytes as one, and a read of the target succeeds
 * only where a region holds every byte asked for.
 */
#ifndef PYSPY_MEMIMAGE_H
#define PYSPY_MEMIMAGE_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "pyspy/pyinterp.h"
#include "pyspy/target.h"

#define MEMIMAGE_MAGIC "PYSPYMEM"
#define MEMIMAGE_HDR (8 + 2 + 6 * 8)
#define MEMIMAGE_MAX_REGIONS 4096

struct memimage_region {
	uint64_t addr;
	uint32_t len;
	const uint8_t *data;
};

struct memimage {
	struct target_memhook hook; /* first: the hook is the image */
	int major, minor;
	uint64_t runtime, interp_head_addr, code_type;
	uint64_t gil_holder, gil_locked, gil_switches;
	struct memimage_region *r;  /* sorted by address */
	size_t n;
};

static inline uint64_t memimage_le(const uint8_t *p, size_t k)
{
	uint64_t v = 0;

	for (size_t i = 0; i < k; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline int memimage_cmp(const void *a, const void *b)
{
	const struct memimage_region *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Copy [addr, addr + len) if one region holds all of it. */
static inline bool memimage_copy(const struct memimage *m, uint64_t addr, void *buf, size_t len)
{
	size_t lo = 0, hi = m->n;

	/* The last region starting at or before addr, then back over overlaps. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->r[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0;) {
		const struct memimage_region *r = &m->r[i];
		if (addr - r->addr <= r->len && len <= r->len - (addr - r->addr)) {
			memcpy(buf, r->data + (addr - r->addr), len);
			return true;
		}
		if (lo - i > 8)
			break;
	}
	return false;
}

static inline long memimage_readv(struct target_memhook *h, pid_t pid, const struct iovec *local,
				  unsigned long nlocal, const struct iovec *remote,
				  unsigned long nremote)
{
	const struct memimage *m = (const struct memimage *)h;
	long done = 0;

	(void)pid;
	/* The caller gives one local buffer per remote element. */
	for (unsigned long i = 0; i < nremote && i < nlocal; i++) {
		if (local[i].iov_len != remote[i].iov_len ||
		    !memimage_copy(m, (uint64_t)(uintptr_t)remote[i].iov_base, local[i].iov_base,
				   remote[i].iov_len)) {
			if (done)
				return done;
			errno = EFAULT;
			return -1;
		}
		done += (long)remote[i].iov_len;
	}
	return done;
}

/* Parse an image; the regions point into data.  false when it is not one. */
static inline bool memimage_parse(struct memimage *m, const uint8_t *data, size_t size)
{
	const uint8_t *p = data + MEMIMAGE_HDR, *end = data + size;

	memset(m, 0, sizeof(*m));
	m->hook.readv = memimage_readv;
	if (size < MEMIMAGE_HDR || memcmp(data, MEMIMAGE_MAGIC, 8) != 0)
		return false;
	m->major = data[8];
	m->minor = data[9];
	m->runtime = memimage_le(data + 10, 8);
	m->interp_head_addr = memimage_le(data + 18, 8);
	m->code_type = memimage_le(data + 26, 8);
	m->gil_holder = memimage_le(data + 34, 8);
	m->gil_locked = memimage_le(data + 42, 8);
	m->gil_switches = memimage_le(data + 50, 8);
	m->r = calloc(MEMIMAGE_MAX_REGIONS, sizeof(*m->r));
	if (!m->r)
		return false;
	while (end - p >= 12 && m->n < MEMIMAGE_MAX_REGIONS) {
		struct memimage_region *r = &m->r[m->n];
		r->addr = memimage_le(p, 8);
		r->len = (uint32_t)memimage_le(p + 8, 4);
		p += 12;
		if ((size_t)(end - p) < r->len)
			r->len = (uint32_t)(end - p);
		r->data = p;
		p += r->len;
		m->n++;
	}
	qsort(m->r, m->n, sizeof(*m->r), memimage_cmp);
	return true;
}

static inline void memimage_free(struct memimage *m)
{
	free(m->r);
	m->r = NULL;
}

/*
 * What a session reads of a process after attaching: one sample with the
 * GIL, every thread's name, every frame's locals (dump --locals).
 */
static inline void memimage_exercise(struct pyinterp *pi)
{
	static struct py_local locals[PY_MAX_LOCALS];
	struct py_sample *s = calloc(1, sizeof(*s));
	struct py_gil g1, g2;
	char name[128];

	if (!s)
		return;
	s->keep_sources = true;
	if (pyinterp_sample_gil(pi, s, &g1, &g2) == 0 || s->nthreads) {
		(void)pyinterp_mark_gil(pi, s, &g2);
		for (size_t i = 0; i < s->nthreads; i++) {
			const struct py_thread_sample *th = &s->threads[i];
			(void)pyinterp_thread_name(pi, th->thread_id, name, sizeof(name));
			for (size_t f = th->first; f < th->first + th->nframes && f < s->nframes; f++) {
				size_t n = 0;
				(void)pyinterp_frame_locals(pi, s, f, locals, PY_MAX_LOCALS, &n);
			}
		}
	}
	py_sample_free(s);
	free(s);
}

#endif
