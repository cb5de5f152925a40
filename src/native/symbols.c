/*
 * symbols.c - names and source lines of code addresses (libdwfl).
 *
 * Each module is reported to one Dwfl the first time one of its addresses
 * is looked up, with the file opened through target_open_mapped() (or,
 * for the vdso, an in-memory copy of its image).  libdwfl then finds the
 * symbol in .symtab, else .dynsym, else a separate debug file, which our
 * find_debuginfo callback looks for:
 *   - by build-id: DIR/.build-id/xx/yyyy.debug,
 *   - by .gnu_debuglink: next to the file, in its .debug/ directory, and
 *     under DIR with the file's directory appended,
 * for DIR in the user's debug directories, the target's /usr/lib/debug
 * (through /proc/PID/root) and the host's.  A candidate is accepted when
 * its build-id matches the module's (or, without build-ids, its CRC
 * matches the debuglink's).  A PLT stub, which has no symbol, is named
 * after the function it jumps to (plt.c).
 *
 * Every address is looked up once: the result is cached by address, and
 * the strings are interned, so a steady-state sample does no ELF or
 * DWARF work.  Source lines are resolved later and only for frames that
 * are shown (native_sym_lines()).
 */
#define _GNU_SOURCE
#include "native_internal.h"
#include "pyspy/error.h"
#include "pyspy/target.h"

#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct nstr {
	char *s;
	uint64_t h;
};

static uint64_t hash_bytes(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static uint64_t hash_addr(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	a ^= a >> 33;
	return a;
}

const char *nsym_intern(struct native *n, const char *s)
{
	uint64_t h;
	size_t i;

	if (!s)
		return NULL;
	if (n->nstrs * 2 >= n->strs_slots) {
		size_t ns = n->strs_slots ? n->strs_slots * 2 : 1024;
		struct nstr *t = calloc(ns, sizeof(*t));
		if (!t)
			return NULL;
		for (size_t k = 0; k < n->strs_slots; k++) {
			if (!n->strs[k].s)
				continue;
			for (i = n->strs[k].h & (ns - 1); t[i].s; i = (i + 1) & (ns - 1))
				;
			t[i] = n->strs[k];
		}
		free(n->strs);
		n->strs = t;
		n->strs_slots = ns;
	}
	h = hash_bytes(s);
	for (i = h & (n->strs_slots - 1); n->strs[i].s; i = (i + 1) & (n->strs_slots - 1))
		if (n->strs[i].h == h && strcmp(n->strs[i].s, s) == 0)
			return n->strs[i].s;
	if (!(n->strs[i].s = strdup(s)))
		return NULL;
	n->strs[i].h = h;
	n->nstrs++;
	return n->strs[i].s;
}

static void free_strings(struct native *n)
{
	for (size_t i = 0; i < n->strs_slots; i++)
		free(n->strs[i].s);
	free(n->strs);
	n->strs = NULL;
	n->nstrs = n->strs_slots = 0;
}

/* --- separate debug files --- */

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t len)
{
	static uint32_t table[256];

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static bool file_crc_is(int fd, uint32_t want)
{
	static uint8_t buf[1 << 16];
	uint32_t crc = 0;
	ssize_t k;
	off_t off = 0;

	while ((k = pread(fd, buf, sizeof(buf), off)) > 0) {
		crc = crc32_update(crc, buf, (size_t)k);
		off += k;
	}
	return k == 0 && crc == want;
}

static void hex(const uint8_t *b, size_t n, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 2 < cap; i++, k += 2)
		snprintf(out + k, cap - k, "%02x", b[i]);
	out[k] = '\0';
}

/* The build-id of the ELF file open at fd, as hex ("" if none). */
static void fd_build_id(int fd, char *out, size_t cap)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *id;
	ssize_t len;

	out[0] = '\0';
	if (!e)
		return;
	len = dwelf_elf_gnu_build_id(e, &id);
	if (len > 0)
		hex(id, (size_t)len, out, cap);
	elf_end(e);
}

/*
 * Open 'path' if it is the debug file of m: same build-id, or without
 * build-ids the debuglink's CRC (crc_ok false: no check possible).
 */
static int try_debug(struct nmodule *m, const char *path, uint32_t crc, bool use_crc)
{
	char id[sizeof(m->build_id)];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (m->build_id[0]) {
		fd_build_id(fd, id, sizeof(id));
		if (strcmp(id, m->build_id) == 0)
			return fd;
	} else if (use_crc && file_crc_is(fd, crc)) {
		return fd;
	}
	close(fd);
	return -1;
}

static int found(struct nmodule *m, int fd, const char *path, char **name_out)
{
	free(m->debug_file);
	m->debug_file = strdup(path);
	if (name_out)
		*name_out = strdup(path);
	return fd;
}

static int find_debuginfo(Dwfl_Module *dm, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink,
			  GElf_Word crc, char **debuginfo_file_name)
{
	struct nmodule *m = *userdata;
	struct native *n;
	char roots[2][4096], dir[4096], path[8192 + 4096];
	const char *slash;
	int fd;

	(void)dm;
	(void)modname;
	(void)base;
	(void)file_name;
	if (!m)
		return -1;
	n = m->n;
	target_root(n->t, roots[0], sizeof(roots[0]));
	roots[1][0] = '\0';

	if (m->debug_file) {
		/*
		 * A second call: the debug file's .gnu_debugaltlink (dwz), an
		 * absolute path or one relative to the debug file.
		 */
		if (!debuglink)
			return -1;
		for (int r = 0; r < 2; r++) {
			if (debuglink[0] == '/')
				snprintf(path, sizeof(path), "%s%s", roots[r], debuglink);
			else
				continue;
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
				return debuginfo_file_name ? (*debuginfo_file_name = strdup(path), fd) : fd;
		}
		return -1;
	}

	/* By build-id. */
	if (strlen(m->build_id) > 2) {
		for (char **d = n->debug_dirs; d && *d; d++) {
			snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", *d, m->build_id,
				 m->build_id + 2);
			if ((fd = try_debug(m, path, 0, false)) >= 0)
				return found(m, fd, path, debuginfo_file_name);
		}
		for (int r = 0; r < 2; r++) {
			snprintf(path, sizeof(path), "%s/usr/lib/debug/.build-id/%.2s/%s.debug",
				 roots[r], m->build_id, m->build_id + 2);
			if ((fd = try_debug(m, path, 0, false)) >= 0)
				return found(m, fd, path, debuginfo_file_name);
		}
	}
	/* By .gnu_debuglink. */
	if (!debuglink || !*debuglink || strchr(debuglink, '/'))
		return -1;
	slash = strrchr(m->path, '/');
	if (!slash || m->in_memory)
		return -1;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - m->path), m->path);
	for (char **d = n->debug_dirs; d && *d; d++) {
		snprintf(path, sizeof(path), "%s/%s", *d, debuglink);
		if ((fd = try_debug(m, path, crc, true)) >= 0)
			return found(m, fd, path, debuginfo_file_name);
	}
	for (int r = 0; r < 2; r++) {
		const char *fmt[] = { "%s%s/%s", "%s%s/.debug/%s", "%s/usr/lib/debug%s/%s" };
		for (size_t k = 0; k < sizeof(fmt) / sizeof(fmt[0]); k++) {
			snprintf(path, sizeof(path), fmt[k], roots[r], dir, debuglink);
			/* Never the file itself (a debuglink naming its own file). */
			if (k == 0 && strcmp(debuglink, m->name) == 0)
				continue;
			if ((fd = try_debug(m, path, crc, true)) >= 0)
				return found(m, fd, path, debuginfo_file_name);
		}
	}
	return -1;
}

static int find_elf_none(Dwfl_Module *dm, void **userdata, const char *modname, Dwarf_Addr base,
			 char **file_name, Elf **elfp)
{
	(void)dm;
	(void)userdata;
	(void)modname;
	(void)base;
	(void)file_name;
	(void)elfp;
	return -1; /* every module is reported with its file open */
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = find_elf_none,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

int nsym_init(struct native *n)
{
	elf_version(EV_CURRENT);
	n->dwfl = dwfl_begin(&callbacks);
	if (!n->dwfl)
		return perr_set(PERR_RUNTIME, "cannot start libdwfl: %s", dwfl_errmsg(-1));
	return 0;
}

void nsym_flush(struct native *n)
{
	n->nsyms = 0;
	if (n->sym_slots)
		memset(n->sym_slots, 0, n->nslots * sizeof(*n->sym_slots));
	free_strings(n);
	n->syms_full = false;
}

void nsym_release(struct native *n)
{
	free_strings(n);
	free(n->syms);
	free(n->sym_slots);
	n->syms = NULL;
	n->sym_slots = NULL;
	n->nsyms = n->cap_syms = n->nslots = 0;
	if (n->dwfl)
		dwfl_end(n->dwfl);
	n->dwfl = NULL;
}

/* What the main file has, for the report (before libdwfl looks further). */
static void scan_file(struct nmodule *m, int fd)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	const void *id;
	ssize_t len;
	GElf_Word crc;
	const char *link;

	if (!e)
		return;
	if ((len = dwelf_elf_gnu_build_id(e, &id)) > 0)
		hex(id, (size_t)len, m->build_id, sizeof(m->build_id));
	if ((link = dwelf_elf_gnu_debuglink(e, &crc)) != NULL)
		snprintf(m->debuglink, sizeof(m->debuglink), "%s", link);
	if (elf_getshdrstrndx(e, &shstrndx) == 0) {
		while ((scn = elf_nextscn(e, scn)) != NULL) {
			GElf_Shdr sh;
			const char *name;
			if (!gelf_getshdr(scn, &sh))
				continue;
			name = elf_strptr(e, shstrndx, sh.sh_name);
			if (sh.sh_type == SHT_SYMTAB)
				m->has_symtab = true;
			if (name && (strcmp(name, ".debug_info") == 0 ||
				     strcmp(name, ".zdebug_info") == 0))
				m->has_debuginfo = true;
		}
	}
	elf_end(e);
}

/* The vdso has no file: give libdwfl a copy of its image. */
static int image_fd(struct native *n, struct nmodule *m)
{
	size_t len = (size_t)(m->map0_end - m->map0_start);
	void *buf;
	int fd;

	if (len == 0 || len > (1u << 20) || !(buf = malloc(len)))
		return -1;
	if (target_read(n->t, m->map0_start, buf, len) != 0) {
		free(buf);
		return -1;
	}
	fd = memfd_create("pyspy-vdso", MFD_CLOEXEC);
	if (fd >= 0 && (write(fd, buf, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0)) {
		close(fd);
		fd = -1;
	}
	free(buf);
	return fd;
}

static Dwfl_Module *module_dwfl(struct native *n, struct nmodule *m)
{
	struct target_map tm;
	Dwfl_Module *dm;
	void **ud;
	int fd;

	if (m->dw_tried)
		return m->dw;
	m->dw_tried = true;
	nmod_unwind_info(n, m); /* computes the load bias */
	if (m->in_memory) {
		fd = image_fd(n, m);
	} else {
		tm = (struct target_map){ .start = m->map0_start, .end = m->map0_end,
					  .path = m->path };
		fd = target_open_mapped(n->t, &tm);
	}
	if (fd < 0)
		return NULL;
	scan_file(m, fd);
	dwfl_report_begin_add(n->dwfl);
	/* ET_DYN: base is the load bias; ET_EXEC: ignored.  fd is libdwfl's now. */
	dm = dwfl_report_elf(n->dwfl, m->path, m->path, fd, m->bias, true);
	dwfl_report_end(n->dwfl, NULL, NULL);
	if (!dm)
		return NULL;
	dwfl_module_info(dm, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	*ud = m;
	m->dw = dm;
	return dm;
}

static uint32_t *slot_for(struct native *n, uint64_t pc)
{
	size_t i;

	for (i = hash_addr(pc) & (n->nslots - 1); n->sym_slots[i];
	     i = (i + 1) & (n->nslots - 1))
		if (n->syms[n->sym_slots[i] - 1].pc == pc)
			return &n->sym_slots[i];
	return &n->sym_slots[i];
}

static int grow(struct native *n)
{
	if (n->nsyms == n->cap_syms) {
		size_t ncap = n->cap_syms ? n->cap_syms * 2 : 1024;
		struct nsym *ns = realloc(n->syms, ncap * sizeof(*ns));
		if (!ns)
			return -1;
		n->syms = ns;
		n->cap_syms = ncap;
	}
	if ((n->nsyms + 1) * 2 > n->nslots) {
		size_t nslots = n->nslots ? n->nslots * 2 : 2048;
		uint32_t *old = n->sym_slots;
		size_t oldn = n->nslots;
		n->sym_slots = calloc(nslots, sizeof(*n->sym_slots));
		if (!n->sym_slots) {
			n->sym_slots = old;
			return -1;
		}
		n->nslots = nslots;
		for (size_t i = 0; i < oldn; i++)
			if (old[i])
				*slot_for(n, n->syms[old[i] - 1].pc) = old[i];
		free(old);
	}
	return 0;
}

/*
 * A name for an address with no symbol: "libfoo.so+0x1234", the address
 * in the file of the start of its function when the unwind tables know
 * it (so that the samples of one function add up), else of pc itself.
 */
static const char *unnamed(struct native *n, struct nmodule *m, uint64_t pc)
{
	char buf[512];

	if (m) {
		uint64_t at = nmod_function_start(n, m, pc);
		snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, m->name,
			 (at ? at : pc) - (m->unwind_tried && m->hi ? m->bias : m->start));
	} else
		snprintf(buf, sizeof(buf), "[unknown code 0x%" PRIx64 "]", pc);
	return nsym_intern(n, buf);
}

static const char *symbol_name(struct nmodule *m, Dwfl_Module *dm, uint64_t pc)
{
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name;

	if (!dm)
		return NULL;
	name = dwfl_module_addrinfo(dm, pc, &off, &sym, NULL, NULL, NULL);
	if (!name || !*name)
		return NULL;
	/*
	 * A stripped file keeps only its exported symbols: an address in a
	 * static function would get the name of the symbol before it.  Only
	 * a symbol that contains the address names it.
	 */
	if (sym.st_size ? off >= sym.st_size : off > 0)
		return NULL;
	(void)m;
	return name;
}

uint32_t nsym_lookup(struct native *n, uint64_t pc)
{
	struct nmodule *m;
	struct nsym *s;
	uint32_t *slot;
	const char *name;
	char vbuf[512];
	unsigned cls;

	if (!n->nslots && grow(n) != 0)
		return NATIVE_NOSYM;
	slot = slot_for(n, pc);
	if (*slot)
		return *slot - 1;
	if (grow(n) != 0)
		return NATIVE_NOSYM;
	slot = slot_for(n, pc);
	n->st.syms++;
	m = nmod_at(n, pc);
	s = &n->syms[n->nsyms];
	memset(s, 0, sizeof(*s));
	s->pc = pc;
	s->mod = m;
	s->func = FUNC_NONE;
	name = symbol_name(m, m ? module_dwfl(n, m) : NULL, pc);
	if (name && strchr(name, '@')) {
		/* Versioned names from .symtab: "__libc_start_main@@GLIBC_2.34". */
		snprintf(vbuf, sizeof(vbuf), "%.*s", (int)(strchr(name, '@') - name), name);
		name = vbuf[0] ? vbuf : name;
	}
	if (!name && m && m->dw) {
		/* A PLT stub: no symbol, named after the function it jumps to. */
		GElf_Addr bias;
		Elf *e = dwfl_module_getelf(m->dw, &bias);
		name = native_plt_name(e, pc - bias, vbuf, sizeof(vbuf));
	}
	if (name) {
		s->sym.name = nsym_intern(n, name);
	} else {
		s->sym.name = unnamed(n, m, pc);
		s->sym.flags |= NATIVE_UNNAMED;
	}
	if (!s->sym.name)
		return NATIVE_NOSYM;
	s->sym.module = m ? nsym_intern(n, m->name) : NULL;
	cls = name ? native_classify_name(name, n->py_major) : 0;
	/* Only the interpreter's own code can be its eval loop. */
	if (m && !m->interp && n->interp_path)
		cls &= ~(unsigned)(NATIVE_EVAL | NATIVE_EVAL_SPLIT | NATIVE_EVAL_PART);
	s->sym.flags |= (uint16_t)cls;
	if (m && m->system)
		s->sym.flags |= NATIVE_SYSTEM;
	if (m && m->interp)
		s->sym.flags |= NATIVE_INTERP;
	*slot = (uint32_t)++n->nsyms;
	if (n->nsyms >= NMAX_SYMS)
		n->syms_full = true;
	return (uint32_t)(n->nsyms - 1);
}

/*
 * The outermost DW_TAG_inlined_subroutine under 'parent' that holds pc
 * (pc relative to the module's DWARF): the DIEs holding pc are followed
 * down from the CU, looking also into DIEs that hold functions without
 * holding code themselves (namespaces, classes).  Bounded in depth and in
 * the DIEs looked at, for a file's DWARF may be anything.  Our own walk,
 * not dwarf_getscopes(): that one leaks the scopes it has collected when
 * it fails half way (libdw of elfutils 0.188, on corrupt DWARF; found by
 * tests/fuzz/fuzz_native.c), and collects more than this needs.
 * Returns 1 found, 0 not under parent, -1 the bound was met.
 */
#define INLINE_MAX_DEPTH 64
#define INLINE_MAX_DIES 100000u

static int outermost_inline(Dwarf_Die *parent, Dwarf_Addr pc, int depth, unsigned *budget,
			    Dwarf_Die *out)
{
	Dwarf_Die c;

	if (depth >= INLINE_MAX_DEPTH || dwarf_child(parent, &c) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&c), rc;

		if (*budget == 0)
			return -1;
		(*budget)--;
		if (dwarf_haspc(&c, pc) == 1) {
			if (tag == DW_TAG_inlined_subroutine) {
				*out = c;
				return 1;
			}
			/* The one DIE here that holds pc: what we look for is inside. */
			return outermost_inline(&c, pc, depth + 1, budget, out);
		}
		if (tag == DW_TAG_namespace || tag == DW_TAG_class_type ||
		    tag == DW_TAG_structure_type || tag == DW_TAG_union_type ||
		    tag == DW_TAG_module) {
			rc = outermost_inline(&c, pc, depth + 1, budget, out);
			if (rc != 0)
				return rc;
		}
	} while (dwarf_siblingof(&c, &c) == 0);
	return 0;
}

/*
 * The line of an address, in the function its symbol names: when the
 * address is in code inlined into that function, the line of the call
 * of the outermost inlined function (DW_AT_call_line), not a line of a
 * header the reader cannot place.
 */
void nsym_lines(struct native *n, struct nsym *s)
{
	Dwfl_Module *dm;
	Dwfl_Line *dl;
	Dwarf_Addr bias;
	Dwarf_Die *cu, in;
	const char *file;
	int line = 0;
	unsigned budget = INLINE_MAX_DIES;

	if (s->lines_done)
		return;
	s->lines_done = true;
	if (!s->mod || !(dm = s->mod->dw) || (s->sym.flags & NATIVE_UNNAMED))
		return;
	dl = dwfl_module_getsrc(dm, s->pc);
	if (!dl || !(file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL)) || line <= 0)
		return;
	cu = dwfl_module_addrdie(dm, s->pc, &bias);
	if (cu && outermost_inline(cu, s->pc - bias, 0, &budget, &in) == 1) {
		/* the outermost inlined call: a line of the named function */
		Dwarf_Attribute a;
		Dwarf_Word cl, cf;
		Dwarf_Files *files;
		size_t nfiles;
		const char *f;
		if (dwarf_formudata(dwarf_attr(&in, DW_AT_call_line, &a), &cl) == 0 &&
		    dwarf_formudata(dwarf_attr(&in, DW_AT_call_file, &a), &cf) == 0 &&
		    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && cf < nfiles &&
		    (f = dwarf_filesrc(files, cf, NULL, NULL)) != NULL && cl > 0 &&
		    cl < (1u << 30)) {
			file = f;
			line = (int)cl;
		}
	}
	s->sym.file = nsym_intern(n, file);
	s->sym.line = s->sym.file ? line : 0;
}
