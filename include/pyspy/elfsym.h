/*
 * elfsym.h - symbols and sections of an ELF file of the target (libelf).
 *
 * Used once at attach time to find the interpreter; never on the sampling
 * path.  The file is opened by the caller (through /proc/PID/root).
 */
#ifndef PYSPY_ELFSYM_H
#define PYSPY_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

struct elf_syms;

/* Parse the ELF file open at fd (fd stays the caller's).  NULL if not ELF. */
struct elf_syms *elfsym_open(int fd);
void elfsym_close(struct elf_syms *e);

/* Link-time address of a symbol, searching .dynsym then .symtab; 0 if absent. */
uint64_t elfsym_lookup(struct elf_syms *e, const char *name);
/* Link-time address and size of a section; 0 if absent. */
uint64_t elfsym_section(struct elf_syms *e, const char *name, uint64_t *size);
/* Lowest p_vaddr of the PT_LOAD segments, rounded down to its alignment. */
uint64_t elfsym_base_vaddr(struct elf_syms *e);
/* 1 if the file has a .symtab (not stripped). */
int elfsym_has_symtab(struct elf_syms *e);
/*
 * Copy up to 'len' bytes of the file contents at link-time address 'vaddr'
 * (from the PT_LOAD segment holding it); returns bytes copied.
 */
size_t elfsym_read(struct elf_syms *e, uint64_t vaddr, void *buf, size_t len);

#endif
