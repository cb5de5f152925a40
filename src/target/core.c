/*
 * core.c - a core dump as the target: its memory, maps and threads.
 *
 * The core (read by corefile.c) serves the target's memory through
 * target.memhook, so the interpreter finder, the walker and the native
 * unwinder read it as they read a live process.  Memory the process never
 * wrote in file mappings (code, read-only data, unwind tables) is left out
 * of a core (coredump_filter 0x33 keeps only the first page of an ELF
 * file, for its build-id; gcore does the same): those reads are served
 * from the mapped files, found at their paths under --sysroot, the main
 * program at --executable when given.
 */
#define _GNU_SOURCE
#include "core_internal.h"
#include "pyspy/error.h"
#include "target_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * Copy what can be read at addr into buf, up to len bytes, stopping at the
 * end of the piece of memory that holds addr.  Returns the bytes copied
 * (0: none can be read there).
 */
static size_t read_piece(struct target_core *c, uint64_t addr, uint8_t *buf, size_t len)
{
	const struct core_seg *s = core_seg_at(c, addr);
	const struct core_fmap *f;
	const struct core_image *im;
	uint64_t end, foff;
	size_t n;

	if (s && addr - s->start < s->filesz) {
		n = (size_t)(s->filesz - (addr - s->start) < len ? s->filesz - (addr - s->start) : len);
		return core_pread(c, buf, n, s->off + (addr - s->start)) == 0 ? n : 0;
	}
	/* Not saved in the core: the file mapped there, as it is on disk. */
	if (!(f = core_fmap_at(c, addr)) || (im = &c->imgs[f->img])->fd < 0)
		return 0;
	end = f->end;
	if (s && s->end < end)
		end = s->end;
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
 * Whether each file is the one the process had mapped: long enough for
 * its mappings, and its first page as the core saved it (the kernel keeps
 * the first page of every ELF file mapping, which holds its headers and
 * build-id note).  One pass over the mappings.
 */
static void check_images(struct target_core *c)
{
	static uint8_t a[4096], b[4096];

	for (size_t i = 0; i < c->nfmaps; i++) {
		const struct core_fmap *f = &c->fmaps[i];
		struct core_image *im = &c->imgs[f->img];
		const struct core_seg *s;
		size_t n;

		if (im->fd < 0 || im->changed)
			continue;
		/* The last page of a mapping may run past the end of the file. */
		if (f->off >= im->size + 4096 || f->end - f->start > im->size + 4096 - f->off) {
			im->changed = "it is shorter than the process had it mapped";
			continue;
		}
		s = core_seg_at(c, f->start);
		if (f->off != 0 || !s || s->start != f->start || (s->flags & PF_W) || !s->filesz)
			continue;
		n = s->filesz < sizeof(a) ? (size_t)s->filesz : sizeof(a);
		if (n > im->size) {
			im->changed = "it is shorter than the process had it mapped";
			continue;
		}
		if (core_pread(c, a, n, s->off) != 0 || pread(im->fd, b, n, 0) != (ssize_t)n)
			continue;
		if (memcmp(a, b, n) != 0)
			im->changed = "its headers differ from those the core saved";
	}
}

/*
 * Open a file named by the core (or the user) only if it is a regular
 * file: a FIFO would block, a device could act on being opened.  -1 with
 * errno (EISDIR, ENXIO for what is not a regular file).
 */
static int open_regular(const char *path)
{
	struct stat st;
	int fd;

	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : ENXIO;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		errno = ENXIO;
		return -1;
	}
	return fd;
}

static const char *exe_path(const struct target_core *c)
{
	const struct core_fmap *f = c->entry ? core_fmap_at(c, c->entry) : NULL;

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
		struct stat st;
		int err;

		if (is_main && exe)
			snprintf(buf, sizeof(buf), "%s", exe);
		else
			snprintf(buf, sizeof(buf), "%s%s", c->sysroot, im->path);
		im->fd = open_regular(buf);
		/*
		 * Not under the sysroot: as named (gdb's gcore of a process in
		 * a chroot names its files as the host sees them).
		 */
		if (im->fd < 0 && c->sysroot[0] && !(is_main && exe) && im->path[0] == '/' &&
		    (im->fd = open_regular(im->path)) >= 0)
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
			snprintf(buf, sizeof(buf), "%s%s", err == ENXIO ? "not a regular file" : strerror(err),
				 is_main ? " (give the program with --executable)"
					 : c->sysroot[0] ? "" : " (a core from a container? see --sysroot)");
			warn_line(warn, &nwarn, "cannot open '%s', which the core maps: %s", im->local,
				  buf);
			continue;
		}
		im->size = (uint64_t)st.st_size;
	}
	check_images(c);
	for (size_t i = 0; i < c->nimgs; i++)
		if (c->imgs[i].changed)
			warn_line(warn, &nwarn, "'%s' has changed since the core was made: %s",
				  c->imgs[i].local, c->imgs[i].changed);
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
static uint32_t fmap_flags(struct target_core *c, const struct core_fmap *f)
{
	struct core_image *im = &c->imgs[f->img];

	if (im->nloads < 0) {
		Elf64_Ehdr eh;
		Elf64_Phdr ph[64];
		ssize_t got;

		im->nloads = 0;
		if (im->fd < 0 || pread(im->fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
		    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
		    eh.e_phentsize != sizeof(ph[0]))
			return PF_R;
		got = pread(im->fd, ph, (eh.e_phnum < 64 ? eh.e_phnum : 64) * sizeof(ph[0]),
			    (off_t)eh.e_phoff);
		for (ssize_t i = 0; got > 0 && i < got / (ssize_t)sizeof(ph[0]) && im->nloads < 16; i++)
			if (ph[i].p_type == PT_LOAD) {
				im->loads[im->nloads].off = ph[i].p_offset & ~(uint64_t)4095;
				im->loads[im->nloads++].flags = ph[i].p_flags & (PF_R | PF_W | PF_X);
			}
	}
	for (int i = 0; i < im->nloads; i++)
		if (im->loads[i].off == f->off)
			return im->loads[i].flags;
	return PF_R;
}

static int map_cmp(const void *a, const void *b)
{
	const struct target_map *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
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
			m->start = c->segs[i].start;
			m->end = c->segs[i].end;
			fl = c->segs[i].flags;
		} else {
			f = &c->fmaps[i - c->nsegs];
			if (core_seg_at(c, f->start))
				continue;
			m->start = f->start;
			m->end = f->end;
			fl = fmap_flags(c, f);
		}
		m->perms[0] = fl & PF_R ? 'r' : '-';
		m->perms[1] = fl & PF_W ? 'w' : '-';
		m->perms[2] = fl & PF_X ? 'x' : '-';
		m->perms[3] = 'p';
		if ((f = core_fmap_at(c, m->start)) != NULL) {
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
	qsort(t->maps, n, sizeof(*t->maps), map_cmp);
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
	fd = open_regular(path);
	if (fd < 0 && errno == ENXIO)
		return perr_set(PERR_RUNTIME, "cannot read core '%s': not a regular file", path);
	if (fd < 0)
		return perr_set(PERR_NOPROC, "cannot open core '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		close(fd);
		return perr_set(PERR_RUNTIME, "cannot read core '%s': %s", path, strerror(errno));
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
		if ((rc = core_gunzip(path, fd)) < 0)
			goto fail;
		close(fd);
		c->fd = fd = rc;
		if (fstat(fd, &st) != 0) {
			rc = perr_set(PERR_RUNTIME, "cannot decompress '%s': %s", path, strerror(errno));
			goto fail;
		}
	}
	c->size = (uint64_t)st.st_size;
	if ((rc = core_parse(c, &pid)) != 0)
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
		th->state = REG_SYSCALL(c->threads[i].regs) >= 0 ? 'S' : 'R';
		th->tp = REG_TP(c->threads[i].regs);
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
	const struct core_seg *s = core_seg_at(c, sp);
	uint64_t at, word, argv[64];
	size_t n = 0, pos = 0, nwords;
	static uint8_t stack[1 << 16];

	if (!s || c->auxv_len < 32 || !len)
		return -1;
	/* The top of the stack: the vector lies in its last pages. */
	nwords = (size_t)(s->filesz < sizeof(stack) ? s->filesz : sizeof(stack));
	at = s->start + s->filesz - nwords;
	if (core_pread(c, stack, nwords, s->off + (at - s->start)) != 0)
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
