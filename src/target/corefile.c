/*
 * corefile.c - reading a core file: its ELF header, segments and notes.
 *
 * A Linux core (the kernel's, or gdb's gcore) is an ELF file of type
 * ET_CORE: one PT_LOAD segment per mapping of the process (gdb leaves out
 * those it does not save), and PT_NOTE segments with, among others,
 *   NT_PRSTATUS   one per thread: its id and general registers (the
 *                 kernel lists the thread that dumped first)
 *   NT_PRPSINFO   the process id, its command name and the first 80
 *                 bytes of its command line
 *   NT_AUXV       the auxiliary vector (AT_ENTRY: where the program starts)
 *   NT_FILE       every file mapping: range, offset in pages, path.
 * The file is untrusted input: every count, size and offset is checked
 * against the file before use, and a core that does not add up is one
 * error, "cannot read core 'FILE': REASON".
 */
#define _GNU_SOURCE
#include "core_internal.h"
#include "pyspy/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <unistd.h>
#include <zlib.h>

/* ---- the file ------------------------------------------------------------ */

int core_pread(struct target_core *c, void *buf, size_t len, uint64_t off)
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

int core_gunzip(const char *path, int fd)
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
		/*
		 * Paths repeat (a library maps its segments one after the
		 * other): one image each.  Only the last few are compared, so
		 * that a table of distinct names costs no quadratic time.
		 */
		for (k = c->nimgs; k-- > 0 && k + 8 >= c->nimgs;)
			if (strcmp(c->imgs[k].path, names) == 0)
				break;
		if (k + 8 < c->nimgs)
			k = (size_t)-1;
		if (k == (size_t)-1) {
			struct core_image *ni = realloc(c->imgs, (c->nimgs + 1) * sizeof(*ni));
			if (!ni)
				return -PERR_NOMEM;
			c->imgs = ni;
			k = c->nimgs;
			ni[k] = (struct core_image){ .fd = -1, .nloads = -1 };
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
	return x->start < y->start ? -1 : x->start > y->start;
}

static int fmap_cmp(const void *a, const void *b)
{
	const struct core_fmap *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The ELF header, segments and notes.  Returns the process id or a negative PERR_*. */
int core_parse(struct target_core *c, pid_t *pid)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	uint64_t nph, notes = 0;
	int rc = 0;

	if (core_pread(c, &eh, sizeof(eh), 0) != 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return bad(c, "not an ELF file");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != CORE_MACHINE)
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
			*s = (struct core_seg){ ph[i].p_vaddr, ph[i].p_vaddr + ph[i].p_memsz,
						ph[i].p_filesz, ph[i].p_offset, ph[i].p_flags };
			c->nsegs++;
		}
	}
	if (rc)
		goto out;
	if (!c->nthreads) {
		rc = bad(c, "it has no threads (no NT_PRSTATUS note)");
		goto out;
	}
	if (c->nsegs)
		qsort(c->segs, c->nsegs, sizeof(*c->segs), seg_cmp);
	if (c->nfmaps)
		qsort(c->fmaps, c->nfmaps, sizeof(*c->fmaps), fmap_cmp);
	for (size_t i = 1; i < c->nsegs; i++)
		if (c->segs[i].start < c->segs[i - 1].end) {
			rc = bad(c, "two segments overlap");
			goto out;
		}
	for (size_t i = 1; i < c->nfmaps; i++)
		if (c->fmaps[i].start < c->fmaps[i - 1].end) {
			rc = bad(c, "two mappings of its NT_FILE note overlap");
			goto out;
		}
	/* The kernel lists the thread that dumped first, not the main one. */
	*pid = c->pid ? c->pid : c->threads[0].tid;
out:
	free(ph);
	return rc;
}

/* ---- memory --------------------------------------------------------------- */

/*
 * The element of a sorted array of ranges that do not overlap (each
 * beginning with uint64_t start, end) that holds addr: its index, or n.
 */
static size_t range_find(const void *base, size_t n, size_t stride, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t r[2];

		memcpy(r, (const char *)base + mid * stride, sizeof(r));
		if (addr < r[0])
			hi = mid;
		else if (addr >= r[1])
			lo = mid + 1;
		else
			return mid;
	}
	return n;
}

const struct core_seg *core_seg_at(const struct target_core *c, uint64_t addr)
{
	size_t i = range_find(c->segs, c->nsegs, sizeof(*c->segs), addr);

	return i < c->nsegs ? &c->segs[i] : NULL;
}

/* NT_FILE mappings do not overlap: they are the process's mappings (checked when read). */
const struct core_fmap *core_fmap_at(const struct target_core *c, uint64_t addr)
{
	size_t i = range_find(c->fmaps, c->nfmaps, sizeof(*c->fmaps), addr);

	return i < c->nfmaps ? &c->fmaps[i] : NULL;
}
