/*
 * core_internal.h - a core file's parts, shared by core.c (the target:
 * memory, files, threads) and corefile.c (reading the file: ELF header,
 * segments, notes).  The target stage only.
 */
#ifndef PYSPY_CORE_INTERNAL_H
#define PYSPY_CORE_INTERNAL_H

#include "pyspy/target.h"

#include <elf.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define CORE_MAX_PHDRS (1u << 20)
#define CORE_MAX_NOTES_BYTES (256u << 20)
#define CORE_MAX_FILES (1u << 18)   /* mappings: vm.max_map_count is 65530 by default */
#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
#define CORE_MAX_WARNINGS 8

/*
 * What is read of a thread's registers besides unwinding: whether it was
 * in a system call (its number, else -1), and its thread pointer.  x86-64
 * only, so far: elsewhere every core is refused as another machine's.
 */
#if defined(__x86_64__)
#define CORE_MACHINE EM_X86_64
#define REG_SYSCALL(r) ((int64_t)(r).orig_rax)
#define REG_TP(r) ((r).fs_base)
#else
#define CORE_MACHINE (-1)
#define REG_SYSCALL(r) ((void)(r), (int64_t)-1)
#define REG_TP(r) ((void)(r), (uint64_t)0)
#endif

/* Both begin with their range [start, end), which core_seg_at() and core_fmap_at() search. */
struct core_seg {
	uint64_t start, end, filesz, off;
	uint32_t flags;
};

/* A file mapping of NT_FILE. */
struct core_fmap {
	uint64_t start, end, off;   /* off in bytes */
	size_t img;                 /* index into images */
};

/* A file the process had mapped, as found on this machine. */
struct core_image {
	char *path;                 /* as the process saw it */
	char *local;                /* where we opened it */
	int fd;                     /* -1: missing */
	uint64_t size;
	const char *changed;        /* why it is not the file the process mapped, or NULL */
	/* Its PT_LOAD segments (file offset rounded to pages, flags), read once. */
	struct { uint64_t off; uint32_t flags; } loads[16];
	int nloads;                 /* -1: not read yet */
};

struct core_thread {
	pid_t tid;
	struct user_regs_struct regs;
};

struct target_core {
	struct target_memhook hook; /* first: the readers get this pointer */
	int fd;
	uint64_t size;
	struct core_seg *segs;      /* by address */
	size_t nsegs;
	struct core_fmap *fmaps;    /* by address */
	size_t nfmaps;
	struct core_image *imgs;
	size_t nimgs;
	struct core_thread *threads;
	size_t nthreads;
	uint64_t entry;             /* AT_ENTRY, 0 if unknown */
	uint8_t *auxv;              /* NT_AUXV, as saved */
	uint32_t auxv_len;
	pid_t pid;                  /* NT_PRPSINFO's, 0 if none */
	char fname[17];
	char psargs[81];
	char sysroot[PATH_MAX];
	char *path;                 /* the core, as named */
};

/* pread() exactly len bytes of the core at off; 0 or -1 (past its end, a read error). */
int core_pread(struct target_core *c, void *buf, size_t len, uint64_t off);
/*
 * A gzip'd core decompressed into an unlinked file in $TMPDIR (or /tmp):
 * cores are as big as the process was, too big for memory.  Returns the
 * new fd, or a negative PERR_* with its message set.
 */
int core_gunzip(const char *path, int fd);
/*
 * Read the ELF header, the segments and the notes of c->fd (c->size
 * bytes) into c: segments and NT_FILE mappings sorted by address,
 * threads, command name and line, AT_ENTRY.  The process id into *pid.
 * 0, or a negative PERR_* with its message set ("cannot read core ...").
 */
int core_parse(struct target_core *c, pid_t *pid);
/* The segment, or the NT_FILE mapping, that holds addr; NULL if none. */
const struct core_seg *core_seg_at(const struct target_core *c, uint64_t addr);
const struct core_fmap *core_fmap_at(const struct target_core *c, uint64_t addr);

#endif
