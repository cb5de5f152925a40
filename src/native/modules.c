/*
 * modules.c - the target's mappings, and the ELF modules among them.
 *
 * A module is a file mapped with at least one executable mapping (the
 * interpreter, libraries, extension modules), or the vdso.  Its unwind
 * table is its .eh_frame_hdr as mapped in the target: the ELF header and
 * program headers are read from the mapping at file offset 0, so nothing
 * needs the file itself, and a target in another mount namespace, or one
 * running a deleted file, unwinds the same.
 */
#include "native_internal.h"
#include "pyspy/error.h"
#include "pyspy/target.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const struct nregion *nmod_region_at(const struct native *n, uint64_t addr)
{
	size_t lo = 0, hi = n->nregions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct nregion *r = &n->regions[mid];
		if (addr < r->start)
			hi = mid;
		else if (addr >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

struct nmodule *nmod_at(struct native *n, uint64_t addr)
{
	size_t lo = 0, hi = n->nmods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct nmodule *m = n->mods[mid];
		if (addr < m->start)
			hi = mid;
		else if (addr >= m->end)
			lo = mid + 1;
		else
			return m->alive ? m : NULL;
	}
	return NULL;
}

static void free_module(struct nmodule *m)
{
	if (!m)
		return;
	free(m->path);
	free(m->debug_file);
	free(m);
}

void nmod_free_all(struct native *n)
{
	for (size_t i = 0; i < n->nmods_all; i++)
		free_module(n->mods[i]);
	free(n->mods);
	n->mods = NULL;
	n->nmods = n->nmods_all = 0;
	free(n->regions);
	n->regions = NULL;
	n->nregions = 0;
}

static bool base_has_prefix(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* The C library and the dynamic loader, whose frames below Python are start-up code. */
static bool system_module(const char *name)
{
	return base_has_prefix(name, "libc.so") || base_has_prefix(name, "libc-") ||
	       base_has_prefix(name, "ld-linux") || base_has_prefix(name, "ld-") ||
	       base_has_prefix(name, "libpthread") || base_has_prefix(name, "libdl.") ||
	       base_has_prefix(name, "ld64.so");
}

static struct nmodule *new_module(struct native *n, const char *path, uint64_t start,
				  uint64_t end, uint64_t map0_start, uint64_t map0_end,
				  bool in_memory)
{
	struct nmodule *m = calloc(1, sizeof(*m));
	const char *slash;

	if (!m || !(m->path = strdup(path))) {
		free(m);
		return NULL;
	}
	slash = strrchr(m->path, '/');
	m->name = slash ? slash + 1 : m->path;
	m->n = n;
	m->start = start;
	m->end = end;
	m->map0_start = map0_start;
	m->map0_end = map0_end;
	m->in_memory = in_memory;
	m->alive = true;
	m->system = system_module(m->name);
	if (n->interp_path && strcmp(path, n->interp_path) == 0)
		m->interp = true;
	/*
	 * A shared-library build's python executable holds nothing but main():
	 * its frames are the interpreter's too.  (Another program embedding
	 * libpython keeps its own frames.)
	 */
	if (n->exe_path && strcmp(path, n->exe_path) == 0 && base_has_prefix(m->name, "python"))
		m->interp = true;
	return m;
}

/* The existing module for the same file at the same place, if any. */
static struct nmodule *find_same(struct native *n, const char *path, uint64_t start)
{
	for (size_t i = 0; i < n->nmods_all; i++) {
		struct nmodule *m = n->mods[i];
		if (m->was_alive && !m->alive && m->start == start && strcmp(m->path, path) == 0)
			return m;
	}
	return NULL;
}

static int cmp_module(const void *a, const void *b)
{
	const struct nmodule *x = *(struct nmodule *const *)a, *y = *(struct nmodule *const *)b;

	if (x->alive != y->alive)
		return x->alive ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

struct group {
	const char *path;       /* NULL: none open */
	uint64_t start, end, map0_start, map0_end;
	bool exec, in_memory;
};

struct load {
	struct native *n;
	struct nmodule **mods;
	size_t nmods, cap;
	bool changed;
};

/* A group of mappings of one file is a module if it has code. */
static int flush_group(struct load *ld, struct group *g)
{
	struct nmodule *m;

	if (!g->path || !g->exec || !g->map0_end || ld->nmods >= ld->cap ||
	    ld->nmods >= NMAX_MODULES) {
		g->path = NULL;
		return 0;
	}
	m = find_same(ld->n, g->path, g->start);
	if (m) {
		m->alive = true;
		m->end = g->end;
	} else {
		m = new_module(ld->n, g->path, g->start, g->end, g->map0_start, g->map0_end,
			       g->in_memory);
		if (!m)
			return -PERR_NOMEM;
		ld->changed = true;
	}
	ld->mods[ld->nmods++] = m;
	g->path = NULL;
	return 0;
}

int nmod_load_maps(struct native *n)
{
	struct target *t = n->t;
	struct nregion *regions;
	struct load ld = { .n = n };
	size_t old = n->nmods_all;
	struct group g = { 0 };
	int rc;

	if ((rc = target_load_maps(t)) != 0)
		return rc;
	n->maps_loaded_ns = now_ns();
	n->maps_stale = false;
	regions = calloc(t->nmaps ? t->nmaps : 1, sizeof(*regions));
	ld.cap = old + t->nmaps + 1;
	ld.mods = calloc(ld.cap, sizeof(*ld.mods));
	if (!regions || !ld.mods) {
		free(regions);
		free(ld.mods);
		return -PERR_NOMEM;
	}
	for (size_t i = 0; i < old; i++) {
		n->mods[i]->was_alive = n->mods[i]->alive;
		n->mods[i]->alive = false;
	}

	for (size_t i = 0; i < t->nmaps; i++) {
		const struct target_map *mp = &t->maps[i];
		bool exec = mp->perms[2] == 'x';

		regions[i].start = mp->start;
		regions[i].end = mp->end;
		regions[i].flags = (exec ? NR_EXEC : 0) | (mp->perms[1] == 'w' ? NR_WRITE : 0) |
				   (mp->path ? NR_FILE : 0);
		if (!mp->path) {
			uint8_t magic[SELFMAG];
			/*
			 * Anonymous mappings (a library's .bss) do not end the
			 * group of the file before them.  One that is
			 * executable and holds an ELF image is the vdso.
			 */
			if (!exec || target_read(t, mp->start, magic, SELFMAG) != 0 ||
			    memcmp(magic, ELFMAG, SELFMAG) != 0)
				continue;
			if ((rc = flush_group(&ld, &g)) != 0)
				goto fail;
			g = (struct group){ "[vdso]", mp->start, mp->end, mp->start, mp->end,
					    true, true };
			if ((rc = flush_group(&ld, &g)) != 0)
				goto fail;
			continue;
		}
		if (g.path && strcmp(mp->path, g.path) == 0) {
			g.end = mp->end;
			g.exec |= exec;
			if (mp->offset == 0 && !g.map0_end) {
				g.map0_start = mp->start;
				g.map0_end = mp->end;
			}
			continue;
		}
		if ((rc = flush_group(&ld, &g)) != 0)
			goto fail;
		g = (struct group){ mp->path, mp->start, mp->end, 0, 0, exec, false };
		if (mp->offset == 0) {
			g.map0_start = mp->start;
			g.map0_end = mp->end;
		}
	}
	if ((rc = flush_group(&ld, &g)) != 0)
		goto fail;

	/* Modules gone from the maps are kept (dead, after the live ones) so
	   that their symbols stay valid. */
	for (size_t i = 0; i < old; i++) {
		if (!n->mods[i]->alive) {
			ld.mods[ld.nmods++] = n->mods[i];
			ld.changed |= n->mods[i]->was_alive;
		}
	}
	qsort(ld.mods, ld.nmods, sizeof(*ld.mods), cmp_module);
	free(n->mods);
	n->mods = ld.mods;
	n->nmods_all = ld.nmods;
	n->nmods = ld.nmods;
	while (n->nmods && !n->mods[n->nmods - 1]->alive)
		n->nmods--;
	free(n->regions);
	n->regions = regions;
	n->nregions = t->nmaps;
	if (ld.changed && old) {
		/* Code may now be elsewhere: forget cached pages and unwind rules. */
		nmem_flush_all(n);
		unw_flush_cache(n->as, 0, 0);
	}
	return 0;
fail:
	/* New modules are in ld.mods only; old ones stay in n->mods. */
	for (size_t i = 0; i < ld.nmods; i++) {
		bool known = false;
		for (size_t j = 0; j < old && !known; j++)
			known = n->mods[j] == ld.mods[i];
		if (!known)
			free_module(ld.mods[i]);
	}
	for (size_t i = 0; i < old; i++)
		n->mods[i]->alive = n->mods[i]->was_alive;
	free(regions);
	free(ld.mods);
	return rc;
}

/* Decode one pointer of .eh_frame_hdr: the encodings linkers use. */
static bool eh_pointer(struct native *n, uint8_t enc, uint64_t *addr, uint64_t hdr, uint64_t *out)
{
	uint64_t base = 0, v;
	uint32_t u32;

	switch (enc & 0x70) {
	case 0x00: base = 0; break;        /* absolute */
	case 0x10: base = *addr; break;    /* pcrel */
	case 0x30: base = hdr; break;      /* datarel: from the section start */
	default: return false;
	}
	switch (enc & 0x0f) {
	case 0x03: /* udata4 */
	case 0x0b: /* sdata4 */
		if (nmem_read(n, *addr, &u32, 4) != 0)
			return false;
		v = (enc & 0x0f) == 0x0b ? (uint64_t)(int64_t)(int32_t)u32 : u32;
		*addr += 4;
		break;
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		if (nmem_read(n, *addr, &v, 8) != 0)
			return false;
		*addr += 8;
		break;
	default:
		return false;
	}
	*out = base + v;
	return true;
}

bool nmod_unwind_info(struct native *n, struct nmodule *m)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[64];
	uint64_t lo = UINT64_MAX, hi = 0, first_vaddr = 0, eh_vaddr = 0, p;
	bool have_load = false, have_eh = false;
	uint8_t hdr[4];

	if (m->unwind_tried)
		return m->unwind_ok;
	m->unwind_tried = true;
	if (nmem_read(n, m->map0_start, &eh, sizeof(eh)) != 0 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64 ||
	    eh.e_phoff > m->map0_end - m->map0_start ||
	    eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr) > m->map0_end - m->map0_start)
		return false;
	if (nmem_read(n, m->map0_start + eh.e_phoff, ph, eh.e_phnum * sizeof(Elf64_Phdr)) != 0)
		return false;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD) {
			if (!have_load)
				first_vaddr = ph[i].p_vaddr - ph[i].p_offset;
			have_load = true;
			if (ph[i].p_vaddr < lo)
				lo = ph[i].p_vaddr;
			if (ph[i].p_vaddr + ph[i].p_memsz > hi)
				hi = ph[i].p_vaddr + ph[i].p_memsz;
		} else if (ph[i].p_type == PT_GNU_EH_FRAME) {
			eh_vaddr = ph[i].p_vaddr;
			have_eh = true;
		}
	}
	if (!have_load)
		return false;
	/* The mapping at file offset 0 holds the first PT_LOAD (offset 0). */
	m->bias = m->map0_start - (first_vaddr & ~(uint64_t)(NPAGE - 1));
	if (eh.e_type == ET_EXEC)
		m->bias = 0;
	m->lo = m->bias + lo;
	m->hi = m->bias + hi;
	if (!have_eh)
		return false;
	m->eh_hdr = m->bias + eh_vaddr;
	/* version, eh_frame_ptr_enc, fde_count_enc, table_enc */
	if (nmem_read(n, m->eh_hdr, hdr, 4) != 0 || hdr[0] != 1)
		return false;
	p = m->eh_hdr + 4;
	{
		uint64_t eh_frame, count;
		if (!eh_pointer(n, hdr[1], &p, m->eh_hdr, &eh_frame) ||
		    !eh_pointer(n, hdr[2], &p, m->eh_hdr, &count))
			return false;
		/* libunwind's binary search wants datarel|sdata4 entries. */
		if (hdr[3] != 0x3b || count == 0 || count > (1u << 24))
			return false;
		m->fde_count = count;
	}
	m->eh_table = p;
	m->unwind_ok = true;
	return true;
}

/*
 * The start of the function that contains pc: the greatest initial
 * location <= pc in the module's .eh_frame_hdr search table, provided its
 * FDE covers pc.  (The range is checked when the FDE's pc_begin is
 * pcrel|sdata4, as x86-64 toolchains write it and as the table entry
 * confirms; else the entry is taken as it is.)  This names code without a
 * symbol, in a stripped file, by its function instead of by instruction.
 * At most log2(fde_count) + 2 reads, of pages kept across samples.
 */
uint64_t nmod_function_start(struct native *n, struct nmodule *m, uint64_t pc)
{
	uint64_t lo = 0, hi, start, fde;
	int32_t e[2];
	uint32_t w[4]; /* length, CIE pointer, pc_begin, pc_range */

	if (!nmod_unwind_info(n, m))
		return 0;
	hi = m->fde_count;
	while (lo < hi) { /* the first entry that starts after pc */
		uint64_t mid = lo + (hi - lo) / 2;
		if (nmem_read(n, m->eh_table + mid * 8, e, sizeof(e)) != 0)
			return 0;
		if (m->eh_hdr + (uint64_t)(int64_t)e[0] <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || nmem_read(n, m->eh_table + (lo - 1) * 8, e, sizeof(e)) != 0)
		return 0;
	start = m->eh_hdr + (uint64_t)(int64_t)e[0];
	fde = m->eh_hdr + (uint64_t)(int64_t)e[1];
	if (nmem_read(n, fde, w, sizeof(w)) == 0 && w[0] != 0xffffffffu &&
	    fde + 8 + (uint64_t)(int64_t)(int32_t)w[2] == start && pc - start >= w[3])
		return 0;
	return start;
}
