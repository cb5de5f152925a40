/* native_internal.h - shared between the files of the native stage only */
#ifndef PYSPY_NATIVE_INTERNAL_H
#define PYSPY_NATIVE_INTERNAL_H

#include "pyspy/native.h"
#include "pyspy/pylayout.h"

#include <elfutils/libdwfl.h>
#include <libunwind.h>
#include <sys/user.h>

#define NPAGE 4096u
#define NVOL_PAGES 128u        /* stack pages, forgotten every sample */
#define NPERS_PAGES 1024u      /* pages of read-only file mappings, kept */
#define NREADAHEAD 8u          /* stack pages read in one call */
#define NMAX_MODULES 4096u
#define NMAX_SYMS (1u << 16)   /* addresses cached before the cache restarts */

/* A mapping of the target (copied from its maps). */
enum { NR_EXEC = 1, NR_WRITE = 2, NR_FILE = 4 };
struct nregion {
	uint64_t start, end;
	uint8_t flags;
};

/* A mapped ELF file (or the vdso): unwind tables and symbols. */
struct nmodule {
	struct native *n;
	char *path;             /* as the target sees it; "[vdso]" */
	const char *name;       /* the file name part of path */
	uint64_t start, end;    /* span of its mappings */
	uint64_t map0_start, map0_end; /* the mapping at file offset 0 */
	bool in_memory;         /* no file: the image is read from memory (vdso) */
	bool interp, system;    /* the interpreter's code; C library or loader */
	bool alive;             /* still mapped (maps reloads) */
	bool was_alive;         /* before the reload in progress */
	/* unwind tables: .eh_frame_hdr as mapped */
	bool unwind_tried, unwind_ok;
	uint64_t bias, lo, hi;  /* load bias, code range */
	uint64_t eh_hdr, eh_table, fde_count;
	/* symbols */
	bool dw_tried;
	Dwfl_Module *dw;
	bool has_symtab, has_debuginfo; /* in the file itself */
	char build_id[41];
	char debuglink[128];
	char *debug_file;       /* separate debug file found, as opened */
	/* statistics for the report */
	uint64_t frames, unnamed;
};

struct nthread {
	struct native *n;
	pid_t tid;
	void *upt;              /* _UPT_create(tid): fallback accessors */
	bool seen;
	bool regs_ok;
#if defined(__x86_64__)
	struct user_regs_struct regs; /* one PTRACE_GETREGS per sample */
#endif
};

struct npage {
	uint64_t addr;
	uint64_t gen;
	uint8_t data[NPAGE];
};

struct nsym {
	uint64_t pc;            /* the address looked up */
	struct native_sym sym;
	struct nmodule *mod;    /* NULL: in no module */
	bool lines_done;
	uint32_t func;          /* interned in func_prof */
	const struct profile *func_prof;
};

struct nstr;

struct native {
	struct target *t;
	int py_major, py_minor;
	bool has_layout;
	struct py_layout layout; /* the interpreter's, for entry frames */
	char *interp_path;      /* the module holding the interpreter */
	char *exe_path;
	bool show_internal;
	char **debug_dirs;      /* NULL-terminated */
	/* libunwind */
	unw_addr_space_t as;
	unw_accessors_t acc;
	struct nthread **threads;
	size_t nthreads, cap_threads;
	/* maps */
	struct nregion *regions;
	size_t nregions;
	struct nmodule **mods;  /* live ones first, sorted by address */
	size_t nmods, nmods_all;
	bool maps_stale;
	int64_t maps_loaded_ns;
	/* memory */
	uint64_t sample_gen, pers_gen;
	struct npage *vol, *pers;
	struct npage *last_page;  /* the page of the last read */
	/* symbols */
	Dwfl *dwfl;
	struct nsym *syms;
	size_t nsyms, cap_syms;
	uint32_t *sym_slots;    /* open addressing: index + 1, 0 empty */
	size_t nslots;
	struct nstr *strs;
	size_t nstrs, strs_slots;
	bool syms_full;
	/* merge */
	uint32_t marker_func;
	const struct profile *marker_prof;
	struct native_item *items;
	struct native_stack *scratch; /* native_collect()'s C stack */
	uint8_t *entry;               /* and its entry flags */
	struct native_stats st;
};

/* mem.c */
int nmem_read(struct native *n, uint64_t addr, void *buf, size_t len);
void nmem_new_sample(struct native *n);
void nmem_flush_all(struct native *n);

/* modules.c */
int nmod_load_maps(struct native *n);
const struct nregion *nmod_region_at(const struct native *n, uint64_t addr);
struct nmodule *nmod_at(struct native *n, uint64_t addr);
/* Read the module's .eh_frame_hdr as mapped; false when it has none. */
bool nmod_unwind_info(struct native *n, struct nmodule *m);
/* Start of the function that contains pc, by the unwind tables; 0: none. */
uint64_t nmod_function_start(struct native *n, struct nmodule *m, uint64_t pc);
void nmod_free_all(struct native *n);

/* symbols.c */
int nsym_init(struct native *n);
void nsym_release(struct native *n);
/* Index of the symbol of 'pc', creating it; NATIVE_NOSYM when out of memory. */
uint32_t nsym_lookup(struct native *n, uint64_t pc);
void nsym_lines(struct native *n, struct nsym *s);
/* Forget every cached address (the next sample starts again). */
void nsym_flush(struct native *n);
const char *nsym_intern(struct native *n, const char *s);

/* unwind.c */
int nunw_init(struct native *n);
void nunw_release(struct native *n);
void nunw_prune_threads(struct native *n);

#endif
