/*
 * plt.c - names of PLT stubs: "memcpy@plt" instead of "libfoo.so+0x1a2b0".
 *
 * A call to a function of another module (and, in a shared libpython
 * built without -fno-semantic-interposition, to one of its own exported
 * functions) goes through a stub in .plt, .plt.sec or .plt.got.  Stubs have
 * no symbol, yet a thread stopped in one is common (a busy loop calling
 * _Py_NewReference shows it in a few samples in a hundred).  The stub's
 * name is the name of the function it jumps to, found as objdump finds it:
 *   - the stub's first instruction, the indirect jump "jmp *DISP(%rip)"
 *     (ff 25, possibly behind endbr64 and a bnd prefix), names a slot of
 *     the GOT;
 *   - the dynamic relocation (.rela.plt for lazily bound calls, .rela.dyn
 *     for .plt.got) that fills that slot names the symbol; an IRELATIVE
 *     one names none, but its addend is an ifunc's resolver, which the
 *     ifunc symbol of that address names (objdump says "*ABS*+0x...").
 * The first entry of a lazy .plt (the resolver trampoline) and the
 * entries of an IBT .plt whose jumps live in .plt.sec have no such jump:
 * they stay unnamed.  x86-64 only; elsewhere every stub stays unnamed.
 *
 * The file is the target's (untrusted): every read goes through libelf's
 * bounds-checked accessors, and the stub bytes are checked to lie inside
 * the section's data.
 */
#include "native_internal.h"

#include <gelf.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
/* The GOT slot an x86-64 PLT entry jumps through, or 0. */
static uint64_t stub_got_slot(Elf *e, uint64_t addr)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(e, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;
		const uint8_t *p;
		const char *name;
		uint64_t ent, start, off, i;
		int32_t disp;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR) || addr < sh.sh_addr ||
		    addr - sh.sh_addr >= sh.sh_size)
			continue;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (!name || strncmp(name, ".plt", 4) != 0)
			return 0;
		ent = sh.sh_entsize >= 8 && sh.sh_entsize <= 32 ? sh.sh_entsize : 16;
		off = (addr - sh.sh_addr) / ent * ent;
		start = sh.sh_addr + off;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size < off + ent)
			return 0;
		p = (const uint8_t *)d->d_buf + off;
		/* [endbr64] [bnd] jmp *DISP(%rip): the stub's first instruction */
		i = 0;
		if (ent >= 4 && memcmp(p, "\xf3\x0f\x1e\xfa", 4) == 0)
			i = 4;
		if (i < ent && p[i] == 0xf2)
			i++;
		if (i + 6 > ent || p[i] != 0xff || p[i + 1] != 0x25)
			return 0;
		memcpy(&disp, p + i + 2, sizeof(disp));
		return start + i + 6 + (uint64_t)(int64_t)disp;
	}
	return 0;
}

/*
 * An IRELATIVE slot (a call, inside the C library, of one of its own
 * ifuncs: memcpy, strlen, ...) is filled with what the resolver at
 * 'resolver' returns: the name is that of the ifunc symbol there.
 */
static const char *ifunc_at(Elf *e, const GElf_Shdr *symsh, Elf_Data *symd, uint64_t resolver)
{
	size_t n = symsh->sh_entsize ? symsh->sh_size / symsh->sh_entsize : 0;

	for (size_t i = 1; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		if (!gelf_getsym(symd, (int)i, &sym))
			break;
		if (GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC || sym.st_value != resolver)
			continue;
		name = elf_strptr(e, symsh->sh_link, sym.st_name);
		if (name && *name)
			return name;
	}
	return NULL;
}

/* The symbol a dynamic relocation of slot puts there, or NULL. */
static const char *slot_symbol(Elf *e, uint64_t slot)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh, symsh;
		Elf_Data *d, *symd;
		Elf_Scn *symscn;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Rela r;
			GElf_Sym sym;
			const char *name;
			if (!gelf_getrela(d, (int)i, &r))
				break;
			if (r.r_offset != slot)
				continue;
			if (!(symscn = elf_getscn(e, sh.sh_link)) || !gelf_getshdr(symscn, &symsh) ||
			    !(symd = elf_getdata(symscn, NULL)))
				return NULL;
			if (GELF_R_SYM(r.r_info) == 0) {
				if (GELF_R_TYPE(r.r_info) != R_X86_64_IRELATIVE)
					return NULL;
				return ifunc_at(e, &symsh, symd, (uint64_t)r.r_addend);
			}
			if (!gelf_getsym(symd, (int)GELF_R_SYM(r.r_info), &sym))
				return NULL;
			name = elf_strptr(e, symsh.sh_link, sym.st_name);
			return name && *name ? name : NULL;
		}
	}
	return NULL;
}
#endif

const char *native_plt_name(Elf *e, uint64_t addr, char *buf, size_t cap)
{
#if defined(__x86_64__)
	const char *name;
	uint64_t slot;

	if (!e || cap == 0 || (slot = stub_got_slot(e, addr)) == 0 ||
	    !(name = slot_symbol(e, slot)))
		return NULL;
	snprintf(buf, cap, "%s@plt", name);
	return buf;
#else
	(void)e;
	(void)addr;
	(void)buf;
	(void)cap;
	return NULL;
#endif
}
