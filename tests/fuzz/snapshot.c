/*
 * snapshot.c - save what one sample of a live Python process reads, as a
 * memory image for fuzz_walk (memimage.h).  Used by seed.py:
 *
 *     build-fuzz/snapshot PID OUT
 *
 * The process is stopped (every thread seized and interrupted) while it is
 * read, and let go before anything is written.
 */
#include "memimage.h"

#include <stdio.h>

#include "pyspy/error.h"
#include "pyspy/stacks.h"

struct recorder {
	struct target_memhook hook; /* first */
	FILE *out;
	size_t regions;
};

static void put_le(FILE *f, uint64_t v, size_t k)
{
	for (size_t i = 0; i < k; i++)
		fputc((int)((v >> (8 * i)) & 0xff), f);
}

static long record_readv(struct target_memhook *h, pid_t pid, const struct iovec *local,
			 unsigned long nlocal, const struct iovec *remote, unsigned long nremote)
{
	struct recorder *r = (struct recorder *)h;
	ssize_t got = process_vm_readv(pid, local, nlocal, remote, nremote, 0);
	ssize_t left = got;

	for (unsigned long i = 0; i < nlocal && left > 0; i++) {
		size_t len = (size_t)left < local[i].iov_len ? (size_t)left : local[i].iov_len;
		if (r->regions < MEMIMAGE_MAX_REGIONS && len <= UINT32_MAX) {
			put_le(r->out, (uint64_t)(uintptr_t)remote[i].iov_base, 8);
			put_le(r->out, len, 4);
			fwrite(local[i].iov_base, 1, len, r->out);
			r->regions++;
		}
		left -= (ssize_t)len;
	}
	return got;
}

int main(int argc, char **argv)
{
	static struct target t;
	static struct pyinterp pi;
	struct recorder rec = { .hook.readv = record_readv };
	struct profile *prof = profile_new();
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: snapshot PID OUT\n");
		return 2;
	}
	if (!prof || !(rec.out = fopen(argv[2], "wb"))) {
		perror(argv[2]);
		return 1;
	}
	t.sig_fd = -1;
	if ((rc = target_open(&t, (pid_t)atoi(argv[1]), true)) != 0 ||
	    (rc = pyinterp_attach(&pi, &t, prof)) != 0 || (rc = target_stop(&t, 1000)) != 0) {
		fprintf(stderr, "snapshot: %s\n", perr_detail(rc));
		target_close(&t);
		return 1;
	}
	fwrite(MEMIMAGE_MAGIC, 1, 8, rec.out);
	fputc(pi.major, rec.out);
	fputc(pi.minor, rec.out);
	put_le(rec.out, pi.runtime, 8);
	put_le(rec.out, pi.interp_head_addr, 8);
	put_le(rec.out, pi.code_type, 8);
	put_le(rec.out, pi.gil_holder, 8);
	put_le(rec.out, pi.gil_locked, 8);
	put_le(rec.out, pi.gil_switches, 8);
	/* 3.13+: fuzz_walk reads the debug offsets as attach did. */
	if (pi.major == 3 && pi.minor >= 13) {
		static uint8_t buf[4096];
		struct iovec l = { buf, sizeof(buf) }, r = { (void *)(uintptr_t)pi.runtime, sizeof(buf) };
		record_readv(&rec.hook, t.pid, &l, 1, &r, 1);
	}
	t.memhook = &rec.hook;
	memimage_exercise(&pi);
	t.memhook = NULL;
	target_close(&t); /* resumes every thread */
	pyinterp_release(&pi);
	profile_free(prof);
	if (fclose(rec.out) != 0) {
		perror(argv[2]);
		return 1;
	}
	fprintf(stderr, "snapshot: python %d.%d, %zu regions\n", pi.major, pi.minor, rec.regions);
	return 0;
}
