/*
 * fuzz_native.c - what --native hands libdw and libunwind, on any ELF
 * file: the file is mapped into a fake target (as an executable mapping
 * with no file, so the native stage treats it as the vdso: it reads the
 * image from the target's memory and gives libdwfl a copy), with one
 * thread whose registers point into it and a stack from the input.  Then,
 * as a sample of `record --native` does: the maps are read, the thread is
 * unwound by libunwind (our accessors: the .eh_frame_hdr as mapped, the
 * page cache, the saved registers), every frame and a few more addresses
 * of the image are symbolised by libdwfl (symbol tables, the PLT, the
 * unwind tables for unnamed code) and their source lines read from the
 * DWARF (line tables, inlined scopes, DW_AT_call_file/line).
 *
 * Input, so that the ELF file starts at byte 0 (seeds are whole files):
 *   the ELF image, then the stack (n bytes), then rip's offset in the
 *   image (4 bytes) and n (2 bytes, at most STACK_MAX), little-endian.
 * Seeds: small extension modules of the pyenv interpreters (with their
 * DWARF), small libraries of the machine, the vdso, and a program built
 * with inlined calls (seed.py), each with return addresses on its stack.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "memimage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pyspy/native.h"
#include "pyspy/target.h"
#include "target/core_internal.h"

#define BASE 0x7f1200000000ull
#define STACK 0x7ffd00000000ull
#define STACK_MAX 16384
#define TID 4242
#define PAGE 4096
#define IMAGE_MAX (1u << 20)   /* what the native stage copies of a vdso */

static struct native_stack cs, extra;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct target t;
	struct target_core core;
	struct core_thread th;
	struct target_map maps[2];
	struct memimage m;
	struct memimage_region regions[2];
	struct native *n;
	uint8_t *image = NULL, *stack = NULL;
	size_t len, ilen, slen, nstack;
	uint64_t rip_off;

	if (size < 6 + 64)
		return 0;
	rip_off = memimage_le(data + size - 6, 4);
	nstack = memimage_le(data + size - 2, 2) % (STACK_MAX + 1);
	if (nstack > size - 6 - 64)
		nstack = size - 6 - 64;
	len = size - 6 - nstack;
	if (len > IMAGE_MAX)
		return 0;
	/* Mappings are whole pages: the image and the stack padded with zeros. */
	ilen = (len + PAGE - 1) / PAGE * PAGE;
	slen = (nstack + PAGE - 1) / PAGE * PAGE + PAGE;
	image = calloc(1, ilen);
	stack = calloc(1, slen);
	if (!image || !stack)
		goto out;
	memcpy(image, data, len);
	memcpy(stack, data + len, nstack);

	memset(&m, 0, sizeof(m));
	m.hook.readv = memimage_readv;
	regions[0] = (struct memimage_region){ BASE, (uint32_t)ilen, image };
	regions[1] = (struct memimage_region){ STACK, (uint32_t)slen, stack };
	m.r = regions;
	m.n = 2;
	maps[0] = (struct target_map){ BASE, BASE + ilen, 0, "r-xp", NULL };
	maps[1] = (struct target_map){ STACK, STACK + slen, 0, "rw-p", NULL };

	/* A core's thread: its registers are the saved ones, never ptrace's. */
	memset(&th, 0, sizeof(th));
	th.tid = TID;
	th.regs.rip = BASE + rip_off % ilen;
	th.regs.rsp = STACK;
	th.regs.rbp = STACK + memimage_le(data + len, nstack >= 8 ? 8 : nstack) % slen;
	th.regs.rax = 1;
	th.regs.orig_rax = (unsigned long long)-1;
	memset(&core, 0, sizeof(core));
	core.fd = -1;
	core.threads = &th;
	core.nthreads = 1;

	memset(&t, 0, sizeof(t));
	t.pid = 1 << 22; /* above pid_max: nothing of /proc is ever this process */
	t.sig_fd = -1;
	t.memhook = &m.hook;
	t.core = &core;
	t.maps = maps;
	t.nmaps = 2;

	n = native_open(&t, NULL, &(struct native_options){ .debug_dirs = "/nonexistent" });
	if (!n)
		goto out;
	native_begin_sample(n);
	if (native_unwind(n, TID, &cs) == 0) {
		native_symbolise(n, &cs);
		for (size_t i = 0; i < cs.n; i++)
			if (native_sym(n, cs.frames[i].sym))
				(void)native_sym_lines(n, cs.frames[i].sym);
	}
	/* Addresses across the image, whatever the unwinder made of it. */
	extra.tid = TID;
	extra.n = 0;
	for (uint64_t k = 0; k < 16; k++) {
		uint64_t off = k < 8 ? ilen * k / 8 : (rip_off + (k - 8) * 0x31) % ilen;
		extra.frames[extra.n++] = (struct native_frame){ .ip = BASE + off,
								 .sym = NATIVE_NOSYM };
	}
	extra.frames[extra.n++] = (struct native_frame){ .ip = STACK, .sym = NATIVE_NOSYM };
	native_symbolise(n, &extra);
	for (size_t i = 0; i < extra.n; i++)
		if (native_sym(n, extra.frames[i].sym))
			(void)native_sym_lines(n, extra.frames[i].sym);
	if (getenv("FUZZ_NATIVE_SHOW")) {
		/* What a seed exercises: the unwound frames and the names found. */
		fprintf(stderr, "unwound %zu frames (complete %d, error %d)\n", cs.n, cs.complete,
			cs.error);
		for (int k = 0; k < 2; k++) {
			const struct native_stack *st = k ? &extra : &cs;
			for (size_t i = 0; i < st->n; i++) {
				const struct native_sym *y = native_sym(n, st->frames[i].sym);
				fprintf(stderr, "  %s %#" PRIx64 " %s %s:%d\n", k ? "addr" : "frame",
					(uint64_t)(st->frames[i].ip - BASE), y ? y->name : "?",
					y && y->file ? y->file : "-", y ? y->line : 0);
			}
		}
	}
	native_close(n);
out:
	free(image);
	free(stack);
	return 0;
}
