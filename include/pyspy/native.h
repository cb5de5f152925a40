/*
 * native.h - the C stacks of the target's threads, merged with their
 * Python stacks (record --native, dump --native).
 *
 * One struct native per session, opened after pyinterp_attach().  Per
 * sample, with the threads to read stopped by target_stop*():
 *
 *     native_begin_sample(n);                  once per sample
 *     for each thread to show:
 *         native_unwind(n, tid, &cs);          C stack, innermost first
 *         native_symbolise(n, &cs);            names and merge flags
 *         native_py_entries(n, s, th, &cs, entry);  which Python frames start an
 *                                              eval call, which C frames are one
 *         native_thread_stack(n, prof, &cs, py, entry, npy, out, cap, &nout);
 *         profile_add(prof, out, nout, 1);
 *
 * and native_report() once at the end.  native_thread_stack() always
 * produces a stack: when the C and Python stacks do not merge
 * consistently it gives the Python stack with a "[native merge failed]"
 * frame on top and counts the failure (native_get_stats()).
 *
 * Memory of the target is read through target_read() with a page cache:
 * pages of read-only file mappings (code, unwind tables) are kept across
 * samples, everything else (stacks) is forgotten at native_begin_sample().
 * Registers come from one PTRACE_GETREGS per thread and sample, unwind
 * tables from the target's own mapped .eh_frame_hdr, symbols and lines
 * from the mapped files (libdw), opened with target_open_mapped() so that
 * targets in containers and deleted files work.  Each address is
 * symbolised once per session: a steady-state sample does no ELF or DWARF
 * work.
 *
 * native_merge() and native_classify_name() are pure functions (no
 * process access) so the merge rules can be unit-tested on synthetic
 * stacks.
 */
#ifndef PYSPY_NATIVE_H
#define PYSPY_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pyspy/stacks.h"

struct target;
struct pyinterp;
struct py_sample;
struct py_thread_sample;

#define NATIVE_MAX_FRAMES 1024   /* C frames unwound per thread */
#define NATIVE_NOSYM UINT32_MAX

/* What a C frame is, for the merge (struct native_frame.flags). */
enum native_flag {
	/* Set by native_classify_name() from the function's name: */
	NATIVE_EVAL      = 1u << 0, /* the eval loop: one call of it runs Python
				       frames (_PyEval_EvalFrameDefault and its
				       .cold/.constprop/.isra clones; 2.7:
				       PyEval_EvalFrameEx) */
	NATIVE_EVAL_SPLIT = 1u << 1, /* with NATIVE_EVAL: a .part.N piece of the
				       eval loop, called by the eval frame just
				       outside it, which is the same call */
	NATIVE_EVAL_PART = 1u << 2, /* belongs to the eval call next to it and
				       runs no Python frame of its own: 3.14
				       tail-calling builds' _TAIL_CALL_*
				       handlers, PyEval_EvalFrame(Ex) (3.x) and
				       _PyEval_EvalFrame wrappers */
	NATIVE_SYSTEM    = 1u << 3, /* process and thread start-up code (_start,
				       __libc_start_main, start_thread, clone),
				       and any frame of the C library or the
				       dynamic loader */
	/* Set by native_symbolise() from where the code is: */
	NATIVE_INTERP    = 1u << 4, /* code of the interpreter itself: libpython,
				       or the python executable */
	NATIVE_EXACT     = 1u << 5, /* ip is the instruction being executed (the
				       innermost frame, or the one a signal
				       interrupted), not a return address */
	NATIVE_UNNAMED   = 1u << 6, /* no symbol: shown as module+0xoffset */
};

struct native_frame {
	uint64_t ip;        /* as unwound: a return address unless NATIVE_EXACT */
	uint64_t sp;        /* its stack pointer: the frame's locals are in
			       [sp, next frame's sp) */
	uint32_t sym;       /* native_sym() index; NATIVE_NOSYM until symbolised */
	uint16_t flags;     /* enum native_flag */
	uint16_t reserved;
};

struct native_stack {
	pid_t tid;
	size_t n;
	/*
	 * The unwind reached the thread's outermost frame.  When false, 'error'
	 * says why: 0 the depth bound, else a negative libunwind code
	 * (unw_strerror()), or -PERR_* from reading the thread.
	 */
	bool complete;
	int error;
	struct native_frame frames[NATIVE_MAX_FRAMES];  /* innermost first */
};

/* A symbolised address.  Owned by the struct native; see native_sym(). */
struct native_sym {
	const char *name;   /* function, or "module+0xoffset" */
	const char *module; /* file name of the module, no directories */
	const char *file;   /* source file (NULL without line information) */
	int line;           /* 0 without line information */
	uint16_t flags;     /* NATIVE_EVAL .. NATIVE_INTERP, NATIVE_UNNAMED */
};

struct native_options {
	bool show_internal;     /* keep the interpreter's own C frames */
	/*
	 * Extra directories searched for separate debug files, before the
	 * target's and the host's /usr/lib/debug (build-id layout
	 * DIR/.build-id/xx/yyyy.debug, and DIR/name for .gnu_debuglink).
	 * Colon-separated; NULL for none.
	 */
	const char *debug_dirs;
};

struct native;

/*
 * Start native unwinding of a target opened with target_open(.., seize)
 * and attached with pyinterp_attach() (pi may be NULL: no frame is then
 * known as the interpreter's, and 3.x eval names are assumed).  Reads
 * the target's maps.  NULL when out of memory or libunwind fails (the
 * detail is in perr_detail()).
 */
struct native *native_open(struct target *t, const struct pyinterp *pi,
			   const struct native_options *opt);
/* Release everything; NULL is fine. */
void native_close(struct native *n);
/* The profile's functions were renewed (profile_renew_funcs): drop every
 * function id cached with a symbol. */
void native_forget_funcs(struct native *n);

/*
 * Call once per sample before the first native_unwind(): forgets the
 * stack memory and registers read in the last sample, drops the state
 * of threads that exited, and rereads the maps if the last sample met
 * code in an unknown mapping (a library loaded since).
 */
void native_begin_sample(struct native *n);

/*
 * Unwind the C stack of thread 'tid' (host tid), which the caller holds
 * in a ptrace-stop (target_stop*()).  Fills out->frames, innermost first,
 * at most NATIVE_MAX_FRAMES.  Returns 0 when at least the first frame
 * was read (check out->complete), or -PERR_TORN (thread not stopped or
 * registers unreadable), -PERR_GONE.
 */
int native_unwind(struct native *n, pid_t tid, struct native_stack *out);

/*
 * Look up every frame's symbol (cached per address; lines are resolved
 * lazily, only for frames that are shown) and set its flags.  Symbol
 * indexes stay valid until the next native_begin_sample().
 */
void native_symbolise(struct native *n, struct native_stack *s);
const struct native_sym *native_sym(struct native *n, uint32_t sym);
/* The symbol with its source line resolved (DWARF work on first use). */
const struct native_sym *native_sym_lines(struct native *n, uint32_t sym);

/*
 * The Python side of the merge, for thread 'th' of sample 's':
 *   - entry[] (root first, parallel to s->frames[th->first ..]): which
 *     Python frames were entered by a call of the eval loop of their own:
 *     up to 3.10 every frame; 3.11 those with _PyInterpreterFrame.is_entry;
 *     3.12+ those whose previous frame is the entry shim the eval loop
 *     keeps on its C stack;
 *   - if cs is not NULL, NATIVE_EVAL on each of its frames that holds an
 *     eval call's own structures in its stack memory (3.11: the _PyCFrame
 *     of tstate->cframe's chain; 3.12+: the entry shims).  This finds eval
 *     calls whatever the function is called, or when it has no name at
 *     all: the .cold part of a stripped build, a copy inlined into its
 *     caller, a tail-calling build.  Up to 3.10 only names identify them.
 * 3.11+ needs the frame addresses: the sample must have been taken with
 * s->keep_sources.  Reads the target, cheaply: the frames are in the
 * sample's snapshot, shims and _PyCFrames on stack pages native_unwind()
 * has just read.  Returns 0, or -PERR_TORN when something could not be
 * read (entry[] is then all 1, and cs is left as it was).
 */
int native_py_entries(struct native *n, const struct py_sample *s,
		      const struct py_thread_sample *th, struct native_stack *cs,
		      uint8_t *entry);

/*
 * Set NATIVE_EVAL on every frame of c whose stack memory [sp, next sp)
 * holds one of the addresses 'anchors' (any order).  Returns how many
 * frames were marked.  PURE; used by native_py_entries().
 */
size_t native_mark_anchors(struct native_frame *c, size_t nc, const uint64_t *anchors,
			   size_t na);

/* The merge. */

/* One frame of a merged stack: a Python frame or a C frame, by index. */
enum native_item_kind { NATIVE_ITEM_PY, NATIVE_ITEM_C };
struct native_item {
	uint32_t kind;      /* enum native_item_kind */
	uint32_t index;     /* into the Python frames (root first) or the C
			       frames (innermost first) given to native_merge() */
};

#define NATIVE_MERGE_SHOW_INTERNAL 1u

/* native_merge() results: >= 0 merged, < 0 failed. */
#define NATIVE_MERGED          0  /* consistent */
#define NATIVE_MERGED_PARTIAL  1  /* the C unwind stopped early (depth bound or an
				     unwinding error) after at least one eval call
				     matched: the Python frames outside it follow
				     without their C frames */
#define NATIVE_ERR_MORE_EVAL  -1  /* more eval calls than Python frames can fill */
#define NATIVE_ERR_FEWER_EVAL -2  /* Python frames left over with a complete C stack,
				     or no eval call at all */
#define NATIVE_ERR_NO_ROOM    -3  /* 'cap' too small */
#define NATIVE_ERR_INPUT      -4  /* NULL arrays with nonzero counts */
#define NATIVE_ERR_NO_STACK   -5  /* no C stack for the thread (unknown tid,
				     unwinding failed at once): used by
				     native_thread_stack() */

/*
 * Merge a C stack with a Python stack.  PURE: no process access.
 *   c, nc        C frames, innermost first, flags set (only 'flags' is read)
 *   c_complete   the C unwind reached the thread's outermost frame
 *   entry, npy   one byte per Python frame, ROOT FIRST as in struct
 *                py_sample: nonzero when the frame was entered by an eval
 *                call of its own (native_py_entries())
 *   flags        NATIVE_MERGE_SHOW_INTERNAL
 *   out, cap     the merged stack, ROOT FIRST (as profile_add() takes it)
 *
 * Rules, walking the C stack from the innermost frame out:
 *   - each eval call (an NATIVE_EVAL frame, with the .part piece it calls
 *     and the NATIVE_EVAL_PART frames next to it) takes the innermost
 *     Python frames left up to and including the next entry frame: one
 *     frame up to 3.10, a run from 3.11;
 *   - with exactly one eval call more than runs of Python frames, the
 *     innermost eval call takes none (it is entering or leaving its
 *     frame); more eval calls than that fail the merge
 *     (NATIVE_ERR_MORE_EVAL);
 *   - Python frames left once the C stack is done fail the merge
 *     (NATIVE_ERR_FEWER_EVAL), unless the unwind was cut short after a
 *     matched eval call (NATIVE_MERGED_PARTIAL: they are kept);
 *   - NATIVE_INTERP and NATIVE_EVAL_PART frames are hidden, and so are
 *     NATIVE_SYSTEM frames outside the outermost eval call (start-up
 *     code; in a thread without one, outside its outermost frame that
 *     is not start-up code), unless NATIVE_MERGE_SHOW_INTERNAL; every
 *     other frame (extension modules, libraries) is kept.
 */
int native_merge(const struct native_frame *c, size_t nc, bool c_complete,
		 const uint8_t *entry, size_t npy, unsigned flags,
		 struct native_item *out, size_t cap, size_t *nout);

/*
 * NATIVE_EVAL, NATIVE_EVAL_SPLIT, NATIVE_EVAL_PART or NATIVE_SYSTEM for a
 * function name, 0 for anything else.  'py_major' is 2 or 3 (2.7's
 * PyEval_EvalFrameEx is the eval loop itself, 3.x's a wrapper).  PURE.
 */
unsigned native_classify_name(const char *name, int py_major);
/*
 * The name of the PLT stub at file address 'addr' of ELF file 'e'
 * ("memcpy@plt", written to buf), or NULL when addr is not in a stub whose
 * target can be named.  Reads only the file (see src/native/plt.c).
 */
struct Elf;
const char *native_plt_name(struct Elf *e, uint64_t addr, char *buf, size_t cap);
/* Short text for a native_merge() result. */
const char *native_merge_strerror(int rc);

/*
 * Everything for one thread: merge its C stack 'c' (NULL when it could
 * not be unwound) with its Python frames 'py' (root first, as in struct
 * py_sample, with 'entry' from native_py_entries(); NULL/0 for a thread
 * Python does not know), interning C frames in 'prof'.  Writes the stack
 * root first into out (cap >= npy + 1 always suffices for the failure
 * case).  On a failed merge the result is the Python frames plus a
 * "[native merge failed]" frame on top, and the failure is counted.
 * Returns the native_merge() result (the failure is already handled), or
 * -PERR_NOMEM.
 */
int native_thread_stack(struct native *n, struct profile *prof, const struct native_stack *c,
			const struct frame_ref *py, const uint8_t *entry, size_t npy,
			struct frame_ref *out, size_t cap, size_t *nout);

/*
 * The whole per-thread sequence of a sample, as record and dump use it:
 * unwind thread 'tid' (held stopped by the caller; 0 when unknown: no C
 * stack), symbolise, find the eval calls of Python thread 'th' of sample
 * 's' (th NULL: a thread Python does not know) and merge, into out (root
 * first; cap >= NATIVE_STACK_CAP always suffices).  Same results as
 * native_thread_stack(), except for a thread state without an OS thread
 * (th->tid 0): its Python frames only, returning NATIVE_MERGED, counted
 * apart (native_stats.no_thread).
 */
#define NATIVE_STACK_CAP (NATIVE_MAX_FRAMES + 4096 + 1) /* PY_MAX_DEPTH + 1 */
int native_collect(struct native *n, struct profile *prof, const struct py_sample *s,
		   const struct py_thread_sample *th, pid_t tid, struct frame_ref *out,
		   size_t cap, size_t *nout);

/* The frame_ref for C frame 'f' (FUNC_NONE when out of memory). */
struct frame_ref native_frame_ref(struct native *n, struct profile *prof,
				  const struct native_frame *f);

/* Counters, for the summary and --verbose. */
struct native_stats {
	uint64_t stacks;            /* native_thread_stack() calls */
	uint64_t merged;            /* NATIVE_MERGED */
	uint64_t partial;           /* NATIVE_MERGED_PARTIAL */
	uint64_t failed;            /* kept as Python + "[native merge failed]" */
	uint64_t failed_more_eval, failed_fewer_eval, failed_no_stack;
	uint64_t no_thread;         /* Python frames of a thread state without an OS thread */
	uint64_t unwinds;           /* native_unwind() calls */
	uint64_t unwind_errors;     /* could not even start */
	uint64_t unwinds_cut;       /* stopped before the outermost frame */
	uint64_t frames;            /* C frames unwound */
	uint64_t unnamed;           /* of which without a symbol */
	uint64_t syms;              /* addresses symbolised (cache misses) */
	uint64_t page_reads;        /* target_read() calls for stack/code pages */
};
void native_get_stats(const struct native *n, struct native_stats *st);

/*
 * End-of-run lines for stderr: how many stacks merged, how many were kept
 * with "[native merge failed]" and why, and which modules had frames
 * that could not be resolved (no symbol table, no debug file found),
 * naming the build-id and debuglink looked for.  Prints nothing when
 * there is nothing to say and 'verbose' is false.
 */
void native_report(const struct native *n, FILE *f, bool verbose);

#endif
