/*
 * mem.c - the target's memory as the unwinder reads it: a page cache.
 *
 * libunwind asks for one word at a time (saved registers on the stack,
 * entries of the unwind tables, CFI instructions).  Every word goes
 * through a 4 KiB page cache over target_read() (process_vm_readv):
 *   - pages of read-only file mappings (code, .eh_frame, .eh_frame_hdr)
 *     do not change, and are kept across samples (until the maps change);
 *   - every other page (stacks) is valid for the current sample only.
 * Stack pages are read NREADAHEAD at a time towards higher addresses,
 * the direction in which unwinding walks a stack.  Both caches are
 * direct-mapped by page number, so a lookup is one comparison.
 */
#include "native_internal.h"
#include "pyspy/error.h"
#include "pyspy/target.h"

#include <stdlib.h>
#include <string.h>

/*
 * Generations say which pages are valid: volatile ones carry the sample's
 * number, persistent ones PERS_TAG + the maps' number, so the two never
 * meet, and 0 (an empty slot) never matches either.
 */
#define PERS_TAG (1ull << 63)

void nmem_new_sample(struct native *n)
{
	n->sample_gen++;
}

void nmem_flush_all(struct native *n)
{
	n->sample_gen++;
	n->pers_gen++;
	n->last_page = NULL;
}

static bool persistent(const struct nregion *r)
{
	return r && (r->flags & (NR_FILE | NR_WRITE)) == NR_FILE;
}

static struct npage *slot(struct native *n, uint64_t page, bool pers)
{
	uint64_t i = page / NPAGE;

	return pers ? &n->pers[i % NPERS_PAGES] : &n->vol[i % NVOL_PAGES];
}

/* Read volatile pages [page, page + count * NPAGE) in one call. */
static int fill_volatile(struct native *n, uint64_t page, unsigned count)
{
	static uint8_t buf[NREADAHEAD * NPAGE];
	int rc;

	n->st.page_reads++;
	rc = target_read(n->t, page, buf, (size_t)count * NPAGE);
	if (rc && count > 1) {
		/* The run crosses into something unreadable: just the one page. */
		count = 1;
		n->st.page_reads++;
		rc = target_read(n->t, page, buf, NPAGE);
	}
	if (rc)
		return rc;
	for (unsigned i = 0; i < count; i++) {
		struct npage *p = slot(n, page + (uint64_t)i * NPAGE, false);
		p->addr = page + (uint64_t)i * NPAGE;
		p->gen = n->sample_gen;
		memcpy(p->data, buf + (size_t)i * NPAGE, NPAGE);
	}
	return 0;
}

static const uint8_t *page_data(struct native *n, uint64_t page)
{
	const struct nregion *r;
	struct npage *p;
	uint64_t gen;
	bool pers;

	/* Unwinding reads word after word of the same stack page. */
	p = n->last_page;
	if (p && p->addr == page && (p->gen == n->sample_gen || p->gen == n->pers_gen + PERS_TAG))
		return p->data;
	r = nmod_region_at(n, page);
	pers = persistent(r);
	p = slot(n, page, pers);
	gen = pers ? n->pers_gen + PERS_TAG : n->sample_gen;
	if (p->gen == gen && p->addr == page) {
		n->last_page = p;
		return p->data;
	}
	if (pers) {
		n->st.page_reads++;
		if (target_read(n->t, page, p->data, NPAGE) != 0) {
			p->gen = 0;
			return NULL;
		}
		p->addr = page;
		p->gen = gen;
		n->last_page = p;
		return p->data;
	} else {
		unsigned count = NREADAHEAD;
		if (!r)
			count = 1;
		else if ((r->end - page) / NPAGE < count)
			count = (unsigned)((r->end - page) / NPAGE);
		if (count == 0)
			count = 1;
		if (fill_volatile(n, page, count) != 0)
			return NULL;
		n->last_page = p;
		return p->data;
	}
}

int nmem_read(struct native *n, uint64_t addr, void *buf, size_t len)
{
	uint8_t *out = buf;

	if (addr + len < addr || addr < NPAGE)
		return -PERR_TORN;
	while (len) {
		uint64_t page = addr & ~(uint64_t)(NPAGE - 1);
		size_t off = (size_t)(addr - page), k = NPAGE - off;
		const uint8_t *d = page_data(n, page);

		if (!d)
			return -PERR_TORN;
		if (k > len)
			k = len;
		memcpy(out, d + off, k);
		out += k;
		addr += k;
		len -= k;
	}
	return 0;
}
