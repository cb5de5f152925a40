/*
 * core.c - a core dump as the target: its memory, maps and threads.
 *
 * A Linux core file (the kernel's, or gdb's gcore) is an ELF file of type
 * ET_CORE: one PT_LOAD segment per mapping of the process, and PT_NOTE
 * segments with, among others,
 *   NT_PRSTATUS   one per thread: its id and general registers
 *   NT_PRPSINFO   the process id, its command name and the start of its
 *                 command line
 *   NT_AUXV       the auxiliary vector (AT_ENTRY: where the program starts)
 *   NT_FILE       every file mapping: range, offset in pages, path.
 * Memory the process never wrote in file mappings (code, read-only data,
 * unwind tables) is left out of the core (coredump_filter 0x33; only the
 * first page of an ELF file is kept, for its build-id): those reads are
 * served from the mapped files, found at their paths under --sysroot, the
 * main program at --executable when given.
 *
 * The core serves the target's memory through target.memhook, so the
 * interpreter finder, the walker and the native unwinder read it as they
 * read a live process.  It is untrusted input: every count, size and
 * offset is checked against the file before use.
 *
 * gzip'd cores are decompressed (zlib) into an unlinked temporary file.
 */
#define _GNU_SOURCE
#include "pyspy/target.h"
#include "pyspy/error.h"
#include "target_internal.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <unistd.h>
#include <zlib.h>

#define CORE_MAX_PHDRS (1u << 20)
#define CORE_MAX_NOTES_BYTES (256u << 20)
#define CORE_MAX_FILES (1u << 20)
#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
#define CORE_MAX_WARNINGS 8

struct core_seg {
	uint64_t vaddr, memsz, filesz, off;
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

/* ---- the file ------------------------------------------------------------ */

static int core_pread(struct target_core *c, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	if (off > c->size || len > c->size - off)
		return -1;
	while (done < len) {
		ssize_t n = pread(c->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/*
 * A gzip'd core is decompressed into an unlinked file in $TMPDIR (or
 * /tmp): cores are as big as the process was, too big for memory.
 * Returns the fd, or a negative PERR_*.
 */
static int gunzip(const char *path, int fd)
{
	const char *dir = getenv("TMPDIR");
	static char buf[1 << 16];
	int out, dfd = dup(fd);
	gzFile gz;
	int rc = 0;

	if (!dir || !*dir)
		dir = "/tmp";
	out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out < 0) {
		if (dfd >= 0)
			close(dfd);
		return perr_set(PERR_RUNTIME, "cannot decompress '%s': cannot create a file in '%s': %s",
				path, dir, strerror(errno));
	}
	if (dfd < 0 || !(gz = gzdopen(dfd, "rb"))) {
		if (dfd >= 0)
			close(dfd);
		close(out);
		return perr_set(PERR_NOMEM, "out of memory");
	}
	for (;;) {
		int n = gzread(gz, buf, sizeof(buf));
		int err;
		const char *msg;

		if (n > 0) {
			if (write(out, buf, (size_t)n) != n) {
				rc = perr_set(PERR_RUNTIME, "cannot decompress '%s' into '%s': %s",
					      path, dir, strerror(errno));
				break;
			}
			continue;
		}
		msg = gzerror(gz, &err);
		if (n < 0 || (err != Z_OK && err != Z_STREAM_END))
			rc = perr_set(PERR_RUNTIME, "cannot read '%s': corrupt gzip data (%s)",
				      path, msg && *msg ? msg : "read error");
		break;
	}
	gzclose(gz);
	if (rc) {
		close(out);
		return rc;
	}
	return out;
}

/* ---- notes ---------------------------------------------------------------- */

static int bad(struct target_core *c, const char *what)
{
	return perr_set(PERR_RUNTIME, "cannot read core '%s': %s", c->path, what);
}

static int add_thread(struct target_core *c, const uint8_t *d, uint32_t len)
{
	struct elf_prstatus st;
	struct core_thread *nt;

	if (len < sizeof(st))
		return bad(c, "an NT_PRSTATUS note is too short");
	if (c->nthreads == TARGET_MAX_THREADS)
		return bad(c, "more threads than pyspy-c reads (4096)");
	memcpy(&st, d, sizeof(st));
	if (st.pr_pid <= 0)
		return bad(c, "an NT_PRSTATUS note has no thread id");
	nt = realloc(c->threads, (c->nthreads + 1) * sizeof(*nt));
	if (!nt)
		return -PERR_NOMEM;
	c->threads = nt;
	nt[c->nthreads].tid = st.pr_pid;
	_Static_assert(sizeof(st.pr_reg) == sizeof(nt->regs), "elf_gregset_t is user_regs_struct");
	memcpy(&nt[c->nthreads].regs, &st.pr_reg, sizeof(nt->regs));
	c->nthreads++;
	return 0;
}

static int note_file(struct target_core *c, const uint8_t *d, uint32_t len)
{
	uint64_t count, page, pos;
	const char *names, *end = (const char *)d + len;

	if (c->nfmaps)
		return bad(c, "two NT_FILE notes");
	if (len < 16)
		return bad(c, "the NT_FILE note is too short");
	memcpy(&count, d, 8);
	memcpy(&page, d + 8, 8);
	if (count > CORE_MAX_FILES || count * 24 > len - 16)
		return bad(c, "the NT_FILE note counts more mappings than it holds");
	if (page == 0 || page > (1u << 30) || (page & (page - 1)))
		return bad(c, "the NT_FILE note has a bad page size");
	c->fmaps = calloc(count ? count : 1, sizeof(*c->fmaps));
	if (!c->fmaps)
		return -PERR_NOMEM;
	names = (const char *)d + 16 + count * 24;
	for (pos = 0; pos < count; pos++) {
		const uint8_t *e = d + 16 + pos * 24;
		struct core_fmap *f = &c->fmaps[pos];
		size_t nlen = strnlen(names, (size_t)(end - names)), k;
		uint64_t pgoff;

		if (names + nlen == end)
			return bad(c, "the NT_FILE note's file names are cut");
		memcpy(&f->start, e, 8);
		memcpy(&f->end, e + 8, 8);
		memcpy(&pgoff, e + 16, 8);
		if (f->end <= f->start || pgoff > UINT64_MAX / page)
			return bad(c, "the NT_FILE note has a bad mapping");
		f->off = pgoff * page;
		/* Paths repeat (a library maps several segments): one image each. */
		for (k = c->nimgs; k-- > 0;)
			if (strcmp(c->imgs[k].path, names) == 0)
				break;
		if (k == (size_t)-1) {
			struct core_image *ni = realloc(c->imgs, (c->nimgs + 1) * sizeof(*ni));
			if (!ni)
				return -PERR_NOMEM;
			c->imgs = ni;
			k = c->nimgs;
			ni[k] = (struct core_image){ .fd = -1 };
			c->nimgs++;
			if (!(ni[k].path = strdup(names)))
				return -PERR_NOMEM;
		}
		f->img = k;
		names += nlen + 1;
	}
	c->nfmaps = count;
	return 0;
}

static int parse_notes(struct target_core *c, const uint8_t *p, size_t len)
{
	size_t pos = 0;
	int rc;

	while (len - pos >= 12) {
		uint32_t namesz, descsz, type;
		size_t nsz, dsz;
		const uint8_t *name, *desc;

		memcpy(&namesz, p + pos, 4);
		memcpy(&descsz, p + pos + 4, 4);
		memcpy(&type, p + pos + 8, 4);
		pos += 12;
		/* Core notes are 4-byte aligned, on 64-bit systems too. */
		nsz = ((size_t)namesz + 3) & ~(size_t)3;
		dsz = ((size_t)descsz + 3) & ~(size_t)3;
		if (nsz > len - pos || descsz > len - pos - nsz)
			return bad(c, "a note runs past its segment");
		name = p + pos;
		desc = p + pos + nsz;
		pos += nsz + (dsz <= len - pos - nsz ? dsz : len - pos - nsz);
		if (namesz != 5 || memcmp(name, "CORE", 5) != 0)
			continue;
		switch (type) {
		case NT_PRSTATUS:
			if ((rc = add_thread(c, desc, descsz)) != 0)
				return rc;
			break;
		case NT_PRPSINFO: {
			struct elf_prpsinfo ps;
			if (descsz < sizeof(ps))
				return bad(c, "the NT_PRPSINFO note is too short");
			memcpy(&ps, desc, sizeof(ps));
			c->pid = ps.pr_pid > 0 ? ps.pr_pid : 0;
			memcpy(c->fname, ps.pr_fname, sizeof(ps.pr_fname));
			c->fname[sizeof(ps.pr_fname)] = '\0';
			memcpy(c->psargs, ps.pr_psargs, sizeof(ps.pr_psargs));
			c->psargs[sizeof(ps.pr_psargs)] = '\0';
			break;
		}
		case NT_AUXV:
			free(c->auxv);
			c->auxv_len = descsz > 4096 ? 4096 : descsz;
			if (!(c->auxv = malloc(c->auxv_len ? c->auxv_len : 1)))
				return -PERR_NOMEM;
			memcpy(c->auxv, desc, c->auxv_len);
			for (size_t i = 0; i + 16 <= descsz; i += 16) {
				uint64_t k, v;
				memcpy(&k, desc + i, 8);
				memcpy(&v, desc + i + 8, 8);
				if (k == AT_ENTRY)
					c->entry = v;
				if (k == AT_NULL)
					break;
			}
			break;
		case NT_FILE:
			if ((rc = note_file(c, desc, descsz)) != 0)
				return rc;
			break;
		}
	}
	return 0;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct core_seg *x = a, *y = b;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int fmap_cmp(const void *a, const void *b)
{
	const struct core_fmap *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The ELF header, segments and notes.  Returns the process id or a negative PERR_*. */
static int parse(struct target_core *c, pid_t *pid)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	uint64_t nph, notes = 0;
	int rc = 0;

	if (core_pread(c, &eh, sizeof(eh), 0) != 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return bad(c, "not an ELF file");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return bad(c, "not an x86-64 core (only x86-64 cores can be read)");
	if (eh.e_type != ET_CORE)
		return bad(c, "an ELF file, but not a core dump");
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return bad(c, "bad program header size");
	nph = eh.e_phnum;
	if (nph == PN_XNUM) {
		/* More than 65534 segments: the count is in section header 0. */
		Elf64_Shdr sh;
		if (eh.e_shoff == 0 || core_pread(c, &sh, sizeof(sh), eh.e_shoff) != 0)
			return bad(c, "the segment count is missing");
		nph = sh.sh_info;
	}
	if (nph == 0 || nph > CORE_MAX_PHDRS)
		return bad(c, "bad number of segments");
	ph = calloc(nph, sizeof(*ph));
	c->segs = calloc(nph, sizeof(*c->segs));
	if (!ph || !c->segs) {
		rc = -PERR_NOMEM;
		goto out;
	}
	if (core_pread(c, ph, nph * sizeof(*ph), eh.e_phoff) != 0) {
		rc = bad(c, "the file is truncated (its segment table is cut)");
		goto out;
	}
	for (uint64_t i = 0; i < nph && rc == 0; i++) {
		if (ph[i].p_type == PT_NOTE) {
			uint8_t *buf;
			if (ph[i].p_filesz > CORE_MAX_NOTES_BYTES - notes) {
				rc = bad(c, "its notes are too big");
				break;
			}
			notes += ph[i].p_filesz;
			if (!(buf = malloc(ph[i].p_filesz ? ph[i].p_filesz : 1))) {
				rc = -PERR_NOMEM;
				break;
			}
			if (core_pread(c, buf, ph[i].p_filesz, ph[i].p_offset) != 0)
				rc = bad(c, "the file is truncated (its notes are cut)");
			else
				rc = parse_notes(c, buf, ph[i].p_filesz);
			free(buf);
		} else if (ph[i].p_type == PT_LOAD && ph[i].p_memsz) {
			struct core_seg *s = &c->segs[c->nsegs];
			if (ph[i].p_vaddr + ph[i].p_memsz < ph[i].p_vaddr ||
			    ph[i].p_filesz > ph[i].p_memsz) {
				rc = bad(c, "a segment has a bad size");
				break;
			}
			if (ph[i].p_offset > c->size || ph[i].p_filesz > c->size - ph[i].p_offset) {
				rc = perr_set(PERR_RUNTIME, "cannot read core '%s': the file is "
					      "truncated (%llu bytes; its memory needs %llu)", c->path,
					      (unsigned long long)c->size,
					      (unsigned long long)(ph[i].p_offset + ph[i].p_filesz));
				break;
			}
			*s = (struct core_seg){ ph[i].p_vaddr, ph[i].p_memsz, ph[i].p_filesz,
						ph[i].p_offset, ph[i].p_flags };
			c->nsegs++;
		}
	}
	if (rc)
		goto out;
	if (!c->nthreads) {
		rc = bad(c, "it has no threads (no NT_PRSTATUS note)");
		goto out;
	}
	qsort(c->segs, c->nsegs, sizeof(*c->segs), seg_cmp);
	qsort(c->fmaps, c->nfmaps, sizeof(*c->fmaps), fmap_cmp);
	for (size_t i = 1; i < c->nsegs; i++)
		if (c->segs[i].vaddr < c->segs[i - 1].vaddr + c->segs[i - 1].memsz) {
			rc = bad(c, "two segments overlap");
			goto out;
		}
	/* The kernel lists the thread that dumped first, not the main one. */
	*pid = c->pid ? c->pid : c->threads[0].tid;
out:
	free(ph);
	return rc;
}

/* ---- memory --------------------------------------------------------------- */

static const struct core_seg *seg_at(const struct target_core *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct core_seg *s = &c->segs[mid];
		if (addr < s->vaddr)
			hi = mid;
		else if (addr - s->vaddr >= s->memsz)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

static const struct core_fmap *fmap_at(const struct target_core *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nfmaps;

	/* NT_FILE mappings do not overlap (they are the process's mappings). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct core_fmap *f = &c->fmaps[mid];
		if (addr < f->start)
			hi = mid;
		else if (addr >= f->end)
			lo = mid + 1;
		else
			return f;
	}
	return NULL;
}

/*
 * Copy what can be read at addr into buf, up to len bytes, stopping at the
 * end of the piece of memory that holds addr.  Returns the bytes copied
 * (0: none can be read there).
 */
static size_t read_piece(struct target_core *c, uint64_t addr, uint8_t *buf, size_t len)
{
	const struct core_seg *s = seg_at(c, addr);
	const struct core_fmap *f;
	const struct core_image *im;
	uint64_t end, foff;
	size_t n;

	if (s && addr - s->vaddr < s->filesz) {
		n = (size_t)(s->filesz - (addr - s->vaddr) < len ? s->filesz - (addr - s->vaddr) : len);
		return core_pread(c, buf, n, s->off + (addr - s->vaddr)) == 0 ? n : 0;
	}
	/* Not saved in the core: the file mapped there, as it is on disk. */
	if (!(f = fmap_at(c, addr)) || (im = &c->imgs[f->img])->fd < 0)
		return 0;
	end = f->end;
	if (s && s->vaddr + s->memsz < end)
		end = s->vaddr + s->memsz;
	n = (size_t)(end - addr < len ? end - addr : len);
	if (f->off > UINT64_MAX - (addr - f->start))
		return 0;
	foff = f->off + (addr - f->start);
	/* Past the end of the file: zeros, as the kernel maps them (the last page). */
	if (foff >= im->size) {
		if (foff - im->size >= 4096)
			return 0;
		memset(buf, 0, n);
		return n;
	}
	if (im->size - foff < n) {
		size_t have = (size_t)(im->size - foff);
		memset(buf + have, 0, n - have);
		n = have;
		if (pread(im->fd, buf, n, (off_t)foff) != (ssize_t)n)
			return 0;
		return (size_t)(end - addr < len ? end - addr : len);
	}
	return pread(im->fd, buf, n, (off_t)foff) == (ssize_t)n ? n : 0;
}

static size_t read_mem(struct target_core *c, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t n;
		if (addr + done < addr)
			break;
		n = read_piece(c, addr + done, (uint8_t *)buf + done, len - done);
		if (!n)
			break;
		done += n;
	}
	return done;
}

/* As process_vm_readv(), one local buffer per remote element. */
static long core_readv(struct target_memhook *h, pid_t pid, const struct iovec *local,
		       unsigned long nlocal, const struct iovec *remote, unsigned long nremote)
{
	struct target_core *c = (struct target_core *)h;
	long done = 0;

	(void)pid;
	for (unsigned long i = 0; i < nremote && i < nlocal; i++) {
		size_t len = local[i].iov_len < remote[i].iov_len ? local[i].iov_len
								  : remote[i].iov_len;
		size_t n = read_mem(c, (uint64_t)(uintptr_t)remote[i].iov_base, local[i].iov_base,
				    len);
		done += (long)n;
		if (n < remote[i].iov_len) {
			if (done)
				return done;
			errno = EFAULT;
			return -1;
		}
	}
	return done;
}

/* ---- files ---------------------------------------------------------------- */

/* A path from the core, its control characters escaped: one line whatever it holds. */
static const char *printable(const char *s, char *buf, size_t cap)
{
	size_t n = 0;

	for (; *s && n + 5 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
		else
			buf[n++] = (char)ch;
	}
	buf[n] = '\0';
	return buf;
}

static void warn_line(FILE *warn, unsigned *nwarn, const char *fmt, const char *a, const char *b)
{
	char pa[1024];

	if (!warn)
		return;
	if (++*nwarn <= CORE_MAX_WARNINGS) {
		fputs("pyspy-c: ", warn);
		fprintf(warn, fmt, printable(a, pa, sizeof(pa)), b);
		fputc('\n', warn);
	}
}

/*
 * Whether a file is the one the process had mapped: long enough for its
 * mappings, and its first page as the core saved it (the kernel keeps the
 * first page of every ELF file mapping, which holds its headers and
 * build-id note).
 */
static const char *image_differs(struct target_core *c, size_t img)
{
	struct core_image *im = &c->imgs[img];
	static uint8_t a[4096], b[4096];

	for (size_t i = 0; i < c->nfmaps; i++) {
		const struct core_fmap *f = &c->fmaps[i];
		const struct core_seg *s;
		size_t n;

		if (f->img != img)
			continue;
		/* The last page of a mapping may run past the end of the file. */
		if (f->off >= im->size + 4096 || f->end - f->start > im->size + 4096 - f->off)
			return "it is shorter than the process had it mapped";
		s = seg_at(c, f->start);
		if (f->off != 0 || !s || s->vaddr != f->start || (s->flags & PF_W) || !s->filesz)
			continue;
		n = s->filesz < sizeof(a) ? (size_t)s->filesz : sizeof(a);
		if (n > im->size)
			return "it is shorter than the process had it mapped";
		if (core_pread(c, a, n, s->off) != 0 || pread(im->fd, b, n, 0) != (ssize_t)n)
			continue;
		if (memcmp(a, b, n) != 0)
			return "its headers differ from those the core saved";
	}
	return NULL;
}

static const char *exe_path(const struct target_core *c)
{
	const struct core_fmap *f = c->entry ? fmap_at(c, c->entry) : NULL;

	if (f)
		return c->imgs[f->img].path;
	/* Without AT_ENTRY: the kernel lists the program's mappings first. */
	return c->nfmaps ? c->imgs[c->fmaps[0].img].path : NULL;
}

static int open_images(struct target_core *c, const char *exe, FILE *warn)
{
	const char *main = exe_path(c);
	unsigned nwarn = 0;
	char buf[PATH_MAX * 2];

	for (size_t i = 0; i < c->nimgs; i++) {
		struct core_image *im = &c->imgs[i];
		bool is_main = main && strcmp(im->path, main) == 0;
		const char *why;
		struct stat st;
		int err;

		if (is_main && exe)
			snprintf(buf, sizeof(buf), "%s", exe);
		else
			snprintf(buf, sizeof(buf), "%s%s", c->sysroot, im->path);
		im->fd = open(buf, O_RDONLY | O_CLOEXEC);
		/*
		 * Not under the sysroot: as named (gdb's gcore of a process in
		 * a chroot names its files as the host sees them).
		 */
		if (im->fd < 0 && c->sysroot[0] && !(is_main && exe) && im->path[0] == '/' &&
		    (im->fd = open(im->path, O_RDONLY | O_CLOEXEC)) >= 0)
			snprintf(buf, sizeof(buf), "%s", im->path);
		err = errno;
		if (!(im->local = strdup(buf)))
			return -PERR_NOMEM;
		if (im->fd < 0 || fstat(im->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			if (im->fd >= 0) {
				close(im->fd);
				im->fd = -1;
				err = EISDIR;
			}
			/* The special files of /dev, /memfd:, SysV shm: never on disk. */
			if (strncmp(im->path, "/dev/", 5) == 0 || im->path[0] != '/')
				continue;
			snprintf(buf, sizeof(buf), "%s%s", strerror(err),
				 is_main ? " (give the program with --executable)"
					 : c->sysroot[0] ? "" : " (a core from a container? see --sysroot)");
			warn_line(warn, &nwarn, "cannot open '%s', which the core maps: %s", im->local,
				  buf);
			continue;
		}
		im->size = (uint64_t)st.st_size;
		if ((why = image_differs(c, i)) != NULL) {
			warn_line(warn, &nwarn, "'%s' has changed since the core was made: %s",
				  im->local, why);
		}
	}
	if (warn && nwarn > CORE_MAX_WARNINGS)
		fprintf(warn, "pyspy-c: ... and %u more files missing or changed\n",
			nwarn - CORE_MAX_WARNINGS);
	return 0;
}

/* ---- the target ----------------------------------------------------------- */

/*
 * The permissions of a file mapping the core left out (gdb writes no
 * segment for it): those of the file's own PT_LOAD mapped at that
 * offset, so that code is known as code (the native unwinder needs it).
 */
static uint32_t fmap_flags(const struct target_core *c, const struct core_fmap *f)
{
	const struct core_image *im = &c->imgs[f->img];
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (im->fd < 0 || pread(im->fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph) || eh.e_phnum > 4096)
		return PF_R;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (pread(im->fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			break;
		if (ph.p_type == PT_LOAD && (ph.p_offset & ~(uint64_t)4095) == f->off)
			return ph.p_flags & (PF_R | PF_W | PF_X);
	}
	return PF_R;
}

static int build_maps(struct target *t, struct target_core *c)
{
	size_t n = 0;

	t->maps = calloc(c->nsegs + c->nfmaps + 1, sizeof(*t->maps));
	if (!t->maps)
		return -PERR_NOMEM;
	/* Every segment, named by the file mapped there; then mappings with no segment. */
	for (size_t i = 0; i < c->nsegs + c->nfmaps; i++) {
		struct target_map *m = &t->maps[n];
		const struct core_fmap *f;
		uint32_t fl;

		if (i < c->nsegs) {
			m->start = c->segs[i].vaddr;
			m->end = c->segs[i].vaddr + c->segs[i].memsz;
			fl = c->segs[i].flags;
		} else {
			f = &c->fmaps[i - c->nsegs];
			if (seg_at(c, f->start))
				continue;
			m->start = f->start;
			m->end = f->end;
			fl = fmap_flags(c, f);
		}
		m->perms[0] = fl & PF_R ? 'r' : '-';
		m->perms[1] = fl & PF_W ? 'w' : '-';
		m->perms[2] = fl & PF_X ? 'x' : '-';
		m->perms[3] = 'p';
		if ((f = fmap_at(c, m->start)) != NULL) {
			m->offset = f->off + (m->start - f->start);
			if (!(m->path = strdup(c->imgs[f->img].path)))
				return -PERR_NOMEM;
			if (m->end > f->end)
				m->end = f->end;
		}
		n++;
		t->nmaps = n;
	}
	/* In address order, as /proc/PID/maps lists them. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && t->maps[j].start < t->maps[j - 1].start; j--) {
			struct target_map tmp = t->maps[j];
			t->maps[j] = t->maps[j - 1];
			t->maps[j - 1] = tmp;
		}
	return 0;
}

static void core_free(struct target_core *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < c->nimgs; i++) {
		if (c->imgs[i].fd >= 0)
			close(c->imgs[i].fd);
		free(c->imgs[i].path);
		free(c->imgs[i].local);
	}
	free(c->imgs);
	free(c->segs);
	free(c->fmaps);
	free(c->threads);
	free(c->auxv);
	free(c->path);
	free(c);
}

void target_core_release(struct target *t)
{
	core_free(t->core);
	t->core = NULL;
	t->memhook = NULL;
}

int target_open_core(struct target *t, const char *path, const char *exe, const char *sysroot,
		     FILE *warn)
{
	struct target_core *c;
	unsigned char magic[2];
	struct stat st;
	const char *main;
	pid_t pid = 0;
	int fd, rc;

	memset(t, 0, sizeof(*t));
	t->sig_fd = -1;
	t->exit_status = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return perr_set(PERR_NOPROC, "cannot open core '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return perr_set(PERR_RUNTIME, "cannot read core '%s': not a regular file", path);
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return -PERR_NOMEM;
	}
	c->hook.readv = core_readv;
	c->fd = fd;
	t->core = c;
	if (!(c->path = strdup(path))) {
		rc = -PERR_NOMEM;
		goto fail;
	}
	if (sysroot) {
		/* Without its trailing slashes ("/" is no sysroot at all). */
		size_t l = strlen(sysroot);
		while (l > 0 && sysroot[l - 1] == '/')
			l--;
		if (l >= sizeof(c->sysroot)) {
			rc = perr_set(PERR_USAGE, "--sysroot: path too long");
			goto fail;
		}
		memcpy(c->sysroot, sysroot, l);
	}
	if (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		if ((rc = gunzip(path, fd)) < 0)
			goto fail;
		close(fd);
		c->fd = fd = rc;
		if (fstat(fd, &st) != 0) {
			rc = perr_set(PERR_RUNTIME, "cannot decompress '%s': %s", path, strerror(errno));
			goto fail;
		}
	}
	c->size = (uint64_t)st.st_size;
	if ((rc = parse(c, &pid)) != 0)
		goto fail;
	if ((rc = open_images(c, exe, warn)) != 0)
		goto fail;
	t->pid = pid;
	t->memhook = &c->hook;
	if ((main = exe_path(c)) != NULL)
		snprintf(t->exe, sizeof(t->exe), "%s", main);
	if ((rc = build_maps(t, c)) != 0)
		goto fail;
	for (size_t i = 0; i < c->nthreads; i++) {
		struct target_thread *th = target_add_thread(t, c->threads[i].tid);
		if (!th) {
			rc = -PERR_NOMEM;
			goto fail;
		}
		/*
		 * Every thread is as stopped as it will ever be.  One stopped
		 * inside a system call (orig_rax is its number; -1 outside
		 * one) was waiting: idle, as a live sleeping thread is.
		 */
		th->stopped = true;
		th->state = (int64_t)c->threads[i].regs.orig_rax >= 0 ? 'S' : 'R';
		th->tp = c->threads[i].regs.fs_base;
	}
	return 0;
fail:
	if (rc == -PERR_NOMEM)
		perr_set(PERR_NOMEM, "out of memory");
	target_close(t);
	return rc;
}

int target_core_regs(struct target *t, pid_t tid, void *regs, size_t len)
{
	struct target_core *c = t->core;

	if (!c || len != sizeof(struct user_regs_struct))
		return -PERR_UNAVAILABLE;
	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == tid) {
			memcpy(regs, &c->threads[i].regs, len);
			return 0;
		}
	return -PERR_UNAVAILABLE;
}

int target_core_open_file(struct target *t, const char *path)
{
	struct target_core *c = t->core;

	for (size_t i = 0; path && i < c->nimgs; i++)
		if (strcmp(c->imgs[i].path, path) == 0)
			return c->imgs[i].fd < 0 ? -1 : open(c->imgs[i].local, O_RDONLY | O_CLOEXEC);
	return -1;
}

void target_core_root(struct target *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s", t->core->sysroot);
}

/*
 * The whole command line, from the process's stack: the kernel put
 * argc, argv[], NULL, envp[], NULL and the auxiliary vector there, in
 * that order, and the core saved the vector (NT_AUXV) too.  Found by
 * looking for the vector in the stack's segment, then walking back over
 * envp and argv.  (NT_PRPSINFO keeps 80 bytes of it, gdb only the
 * program's name.)  Returns 0, or -1 if it cannot be found.
 */
static int cmdline_from_stack(struct target_core *c, uint64_t sp, char *buf, size_t len)
{
	const struct core_seg *s = seg_at(c, sp);
	uint64_t at, word, argv[64];
	size_t n = 0, pos = 0, nwords;
	static uint8_t stack[1 << 16];

	if (!s || c->auxv_len < 32 || !len)
		return -1;
	/* The top of the stack: the vector lies in its last pages. */
	nwords = (size_t)(s->filesz < sizeof(stack) ? s->filesz : sizeof(stack));
	at = s->vaddr + s->filesz - nwords;
	if (core_pread(c, stack, nwords, s->off + (at - s->vaddr)) != 0)
		return -1;
	for (pos = 0; pos + c->auxv_len <= nwords; pos += 8)
		if (memcmp(stack + pos, c->auxv, c->auxv_len) == 0)
			break;
	if (pos + c->auxv_len > nwords || pos < 16)
		return -1;
	/* Back over envp (pos - 8 is its NULL) to argv's NULL. */
	pos -= 16;
	for (;; pos -= 8) {
		memcpy(&word, stack + pos, 8);
		if (!word)
			break;
		if (pos < 16)
			return -1;
	}
	/* Back over argv to argc, which equals the count. */
	while (pos >= 8 && n < 64) {
		pos -= 8;
		memcpy(&word, stack + pos, 8);
		if (word == n)
			break;
		argv[n++] = word;
	}
	if (word != n || !n)
		return -1;
	buf[0] = '\0';
	for (size_t i = n, used = 0; i-- > 0 && used + 1 < len;) {
		char arg[1024];
		size_t got = read_mem(c, argv[i], arg, sizeof(arg) - 1);
		arg[got] = '\0';
		if (!got || strnlen(arg, got) == got)
			return -1;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "", arg);
	}
	return 0;
}

void target_core_cmdline(struct target *t, char *buf, size_t len)
{
	struct target_core *c = t->core;
	size_t n;

	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == t->pid && cmdline_from_stack(c, c->threads[i].regs.rsp, buf, len) == 0)
			return;
	snprintf(buf, len, "%s", c->psargs[0] ? c->psargs : c->fname);
	/* The kernel separates the arguments with NULs, gdb with spaces. */
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
}

void target_core_comm(struct target *t, pid_t tid, char *buf, size_t len)
{
	/* The core keeps the process's name only: the main thread's. */
	snprintf(buf, len, "%s", tid == t->pid && t->core->fname[0] ? t->core->fname : "?");
}
