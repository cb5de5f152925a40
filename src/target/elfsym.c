/*
 * elfsym.c - symbol and section look-up with libelf's gelf_* API.
 *
 * Only a handful of names are looked up, once, at attach time, so each
 * look-up is a linear scan of .dynsym and then .symtab: indexing (sorting)
 * a libpython .symtab of tens of thousands of names first cost more than
 * all the look-ups together and dominated the time to the first sample.
 */
#include "pyspy/elfsym.h"

#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct symtab {
	Elf_Data *data;
	size_t count;
	size_t strndx;      /* section holding the names */
};

struct elf_syms {
	Elf *elf;
	struct symtab tabs[2];  /* .dynsym first: preferred on duplicates */
	int has_symtab;
};

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
		struct symtab *t;

		if (!gelf_getshdr(scn, &sh) || sh.sh_entsize == 0 ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		t = &e->tabs[sh.sh_type == SHT_DYNSYM ? 0 : 1];
		t->data = elf_getdata(scn, NULL);
		t->count = sh.sh_size / sh.sh_entsize;
		t->strndx = sh.sh_link;
		if (t->count > 10000000)
			t->data = NULL;
		if (sh.sh_type == SHT_SYMTAB)
			e->has_symtab = 1;
	}
	return e;
}

void elfsym_close(struct elf_syms *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	free(e);
}

uint64_t elfsym_lookup(struct elf_syms *e, const char *name)
{
	for (int k = 0; k < 2; k++) {
		const struct symtab *t = &e->tabs[k];

		for (size_t i = 0; t->data && i < t->count; i++) {
			GElf_Sym s;
			const char *n;
			int type;

			if (!gelf_getsym(t->data, (int)i, &s) || s.st_value == 0 ||
			    s.st_shndx == SHN_UNDEF || s.st_name == 0)
				continue;
			n = elf_strptr(e->elf, t->strndx, s.st_name);
			if (!n || n[0] != name[0] || strcmp(n, name) != 0)
				continue;
			type = GELF_ST_TYPE(s.st_info);
			if (type == STT_OBJECT || type == STT_FUNC || type == STT_NOTYPE ||
			    type == STT_TLS)
				return s.st_value;
		}
	}
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
