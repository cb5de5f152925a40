/*
 * fuzz_elfsym.c - the ELF reader on any file: libelf parses it, our code
 * looks up the symbols and sections the interpreter search uses and copies
 * bytes by address.  The input is written to a memfd (elfsym_open takes a
 * file descriptor, as for a file of the target).
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pyspy/elfsym.h"

static const char *const names[] = {
	"_PyRuntime", "_Py_DebugOffsets", "interp_head", "Py_GetVersion",
	"PyCode_Type", "_PyThreadState_Current", "", NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct elf_syms *e;
	uint8_t buf[64];

	if (fd < 0 && (fd = memfd_create("fuzz-elf", 0)) < 0)
		abort();
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	e = elfsym_open(fd);
	if (!e)
		return 0;
	for (size_t i = 0; names[i]; i++) {
		uint64_t a = elfsym_lookup(e, names[i]);
		if (a)
			(void)elfsym_read(e, a, buf, sizeof(buf));
	}
	for (const char *const *s = (const char *const[]){ ".PyRuntime", ".data", ".bss",
							   ".gnu_debuglink", NULL }; *s; s++) {
		uint64_t sz = 0, a = elfsym_section(e, *s, &sz);
		if (a)
			(void)elfsym_read(e, a, buf, sz < sizeof(buf) ? sz : sizeof(buf));
	}
	(void)elfsym_base_vaddr(e);
	(void)elfsym_has_symtab(e);
	(void)elfsym_read(e, UINT64_MAX - 8, buf, sizeof(buf));
	elfsym_close(e);
	return 0;
}
