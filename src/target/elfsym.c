/*
 * elfsym.c - symbol and section look-up with libelf's gelf_* API.
 *
 * Symbol tables are indexed once into a sorted array of (name, value) so
 * that the handful of look-ups at attach time are binary searches, even in
 * a libpython whose .symtab holds tens of thousands of symbols.
 */
#include "pyspy/elfsym.h"

#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sym {
	const char *name;
	uint64_t value;
	int dyn;            /* from .dynsym: preferred on duplicates */
};

struct elf_syms {
	Elf *elf;
	struct sym *syms;
	size_t nsyms;
	int has_symtab;
};

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : y->dyn - x->dyn;
}

static void index_symtab(struct elf_syms *e, Elf_Scn *scn, GElf_Shdr *sh, int dyn)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count, base;
	struct sym *n;

	if (!data || sh->sh_entsize == 0)
		return;
	count = sh->sh_size / sh->sh_entsize;
	if (count > 10000000)
		return;
	n = realloc(e->syms, (e->nsyms + count) * sizeof(*n));
	if (!n)
		return;
	e->syms = n;
	base = e->nsyms;
	for (size_t i = 0; i < count; i++) {
		GElf_Sym s;
		const char *name;
		int type;

		if (!gelf_getsym(data, (int)i, &s) || s.st_value == 0 ||
		    s.st_shndx == SHN_UNDEF)
			continue;
		type = GELF_ST_TYPE(s.st_info);
		if (type != STT_OBJECT && type != STT_FUNC && type != STT_NOTYPE &&
		    type != STT_TLS)
			continue;
		name = elf_strptr(e->elf, sh->sh_link, s.st_name);
		if (!name || !*name)
			continue;
		e->syms[base++] = (struct sym){ name, s.st_value, dyn };
	}
	e->nsyms = base;
}

struct elf_syms *elfsym_open(int fd)
{
	struct elf_syms *e;
	Elf_Scn *scn = NULL;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF) {
		elfsym_close(e);
		return NULL;
	}
	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM)
			index_symtab(e, scn, &sh, 1);
		else if (sh.sh_type == SHT_SYMTAB) {
			index_symtab(e, scn, &sh, 0);
			e->has_symtab = 1;
		}
	}
	qsort(e->syms, e->nsyms, sizeof(*e->syms), cmp_sym);
	return e;
}

void elfsym_close(struct elf_syms *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	free(e->syms);
	free(e);
}

uint64_t elfsym_lookup(struct elf_syms *e, const char *name)
{
	size_t lo = 0, hi = e->nsyms;

	/* Lower bound: the first entry with this name is the .dynsym one. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(e->syms[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < e->nsyms && strcmp(e->syms[lo].name, name) == 0)
		return e->syms[lo].value;
	return 0;
}

uint64_t elfsym_section(struct elf_syms *e, const char *name, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(e->elf, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *n;
		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (n && strcmp(n, name) == 0) {
			if (size)
				*size = sh.sh_size;
			return sh.sh_addr;
		}
	}
	return 0;
}

uint64_t elfsym_base_vaddr(struct elf_syms *e)
{
	size_t n;
	uint64_t best = UINT64_MAX;

	if (elf_getphdrnum(e->elf, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (ph.p_vaddr - ph.p_offset < best)
			best = ph.p_vaddr - ph.p_offset;
	}
	return best == UINT64_MAX ? 0 : best;
}

int elfsym_has_symtab(struct elf_syms *e)
{
	return e->has_symtab;
}

size_t elfsym_read(struct elf_syms *e, uint64_t vaddr, void *buf, size_t len)
{
	size_t n, fsize;
	char *image = elf_rawfile(e->elf, &fsize);

	if (!image || elf_getphdrnum(e->elf, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		uint64_t off, avail;
		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr < ph.p_vaddr || vaddr >= ph.p_vaddr + ph.p_filesz)
			continue;
		off = ph.p_offset + (vaddr - ph.p_vaddr);
		if (off >= fsize)
			return 0;
		avail = ph.p_vaddr + ph.p_filesz - vaddr;
		if (avail > fsize - off)
			avail = fsize - off;
		if (len > avail)
			len = avail;
		memcpy(buf, image + off, len);
		return len;
	}
	return 0;
}
