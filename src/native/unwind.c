/*
 * unwind.c - C stacks of stopped threads with libunwind (remote API).
 *
 * One libunwind address space per session, caching unwind rules for the
 * whole session (a steady-state step finds its rule by instruction
 * address without reading any table; see nunw_init() for why the cache
 * is libunwind's "per-thread" one), and one state per target thread,
 * kept across samples.  The accessors are our own, not
 * libunwind-ptrace's _UPT_accessors, for three reasons:
 *   - memory: _UPT_access_mem reads one word per PTRACE_PEEKDATA; ours
 *     go through the page cache of mem.c (process_vm_readv);
 *   - unwind tables: _UPT_find_proc_info opens the file named in
 *     /proc/PID/maps in *our* mount namespace, which is the wrong file (or
 *     none) for a target in a container or chroot, and maps it whole;
 *     ours reads the .eh_frame_hdr the target has mapped (modules.c), and
 *     _UPT_get_dyn_info_list_addr, which libunwind calls on every cache
 *     miss and which scans every mapped file, is replaced by "none";
 *   - registers: _UPT_access_reg costs one PTRACE_PEEKUSER per register;
 *     ours reads them all with one PTRACE_GETREGS per sample (x86-64;
 *     other architectures use _UPT_access_reg).
 * Floating-point registers (never needed to unwind) are left to _UPT.
 */
#define _GNU_SOURCE
#include "native_internal.h"
#include "pyspy/error.h"
#include "pyspy/target.h"

#include <libunwind-ptrace.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>

/* libunwind's table search, exported for libunwind-ptrace but not declared. */
#define native_search_unwind_table UNW_OBJ(dwarf_search_unwind_table)
extern int native_search_unwind_table(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
				      unw_proc_info_t *pi, int need_unwind_info, void *arg);

static int acc_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			      int need_unwind_info, void *arg)
{
	struct nthread *th = arg;
	struct nmodule *m = nmod_at(th->n, ip);
	unw_dyn_info_t di;

	if (!m || !nmod_unwind_info(th->n, m))
		return -UNW_ENOINFO;
	memset(&di, 0, sizeof(di));
	di.start_ip = m->lo;
	di.end_ip = m->hi;
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.gp = 0;
	di.u.rti.name_ptr = 0;
	/* datarel entries are relative to the start of .eh_frame_hdr */
	di.u.rti.segbase = m->eh_hdr;
	di.u.rti.table_data = m->eh_table;
	/* two 32-bit words per entry, counted in unw_word_t */
	di.u.rti.table_len = m->fde_count * 8 / sizeof(unw_word_t);
	return native_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
}

/*
 * libunwind's DWARF code keeps the unwind info of tables it searched
 * itself; put_unwind_info is only called for dynamically registered
 * procedures, which get_dyn_info_list_addr below says there are none of.
 */
static void acc_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	(void)as;
	(void)pi;
	(void)arg;
}

static int acc_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	(void)as;
	(void)addr;
	(void)arg;
	return -UNW_ENOINFO;
}

static int acc_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
			  void *arg)
{
	struct nthread *th = arg;

	(void)as;
	if (write)
		return -UNW_EINVAL; /* never change the target */
	return nmem_read(th->n, addr, val, sizeof(*val)) == 0 ? 0 : -UNW_EINVAL;
}

static int acc_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write,
			  void *arg)
{
	struct nthread *th = arg;

	if (write)
		return -UNW_EREADONLYREG;
#if defined(__x86_64__)
	(void)as;
	if (!th->regs_ok)
		return -UNW_EBADREG;
	switch (reg) {
	case UNW_X86_64_RAX: *val = th->regs.rax; return 0;
	case UNW_X86_64_RDX: *val = th->regs.rdx; return 0;
	case UNW_X86_64_RCX: *val = th->regs.rcx; return 0;
	case UNW_X86_64_RBX: *val = th->regs.rbx; return 0;
	case UNW_X86_64_RSI: *val = th->regs.rsi; return 0;
	case UNW_X86_64_RDI: *val = th->regs.rdi; return 0;
	case UNW_X86_64_RBP: *val = th->regs.rbp; return 0;
	case UNW_X86_64_RSP: *val = th->regs.rsp; return 0;
	case UNW_X86_64_R8:  *val = th->regs.r8;  return 0;
	case UNW_X86_64_R9:  *val = th->regs.r9;  return 0;
	case UNW_X86_64_R10: *val = th->regs.r10; return 0;
	case UNW_X86_64_R11: *val = th->regs.r11; return 0;
	case UNW_X86_64_R12: *val = th->regs.r12; return 0;
	case UNW_X86_64_R13: *val = th->regs.r13; return 0;
	case UNW_X86_64_R14: *val = th->regs.r14; return 0;
	case UNW_X86_64_R15: *val = th->regs.r15; return 0;
	case UNW_X86_64_RIP: *val = th->regs.rip; return 0;
	default: return -UNW_EBADREG;
	}
#else
	return _UPT_access_reg(as, reg, val, write, th->upt);
#endif
}

static int acc_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			    void *arg)
{
	struct nthread *th = arg;

	if (write)
		return -UNW_EREADONLYREG;
	return _UPT_access_fpreg(as, reg, val, 0, th->upt);
}

static int acc_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as;
	(void)c;
	(void)arg;
	return -UNW_EINVAL; /* we only look */
}

static int acc_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			     unw_word_t *off, void *arg)
{
	/* Names come from symbols.c; libunwind does not need them to unwind. */
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)off;
	(void)arg;
	return -UNW_ENOINFO;
}

int nunw_init(struct native *n)
{
	n->acc = (unw_accessors_t){
		.find_proc_info = acc_find_proc_info,
		.put_unwind_info = acc_put_unwind_info,
		.get_dyn_info_list_addr = acc_get_dyn_info_list_addr,
		.access_mem = acc_access_mem,
		.access_reg = acc_access_reg,
		.access_fpreg = acc_access_fpreg,
		.resume = acc_resume,
		.get_proc_name = acc_get_proc_name,
	};
	n->as = unw_create_addr_space(&n->acc, 0);
	if (!n->as)
		return perr_set(PERR_RUNTIME, "cannot create a libunwind address space");
	/*
	 * Cache unwind rules by instruction address for the whole session.
	 * (libunwind guards this cache with a mutex and blocks all signals
	 * around every access: two sigprocmask() calls per frame, about half
	 * the cost of a step here.  Its lock-free per-thread cache would do,
	 * as we unwind from one thread, but Debian's libunwind 1.6 is built
	 * without it and silently uses the global one.)
	 */
	unw_set_caching_policy(n->as, UNW_CACHE_GLOBAL);
	unw_set_cache_size(n->as, 4096, 0);
	return 0;
}

static void free_thread(struct nthread *th)
{
	if (th->upt)
		_UPT_destroy(th->upt);
	free(th);
}

void nunw_release(struct native *n)
{
	for (size_t i = 0; i < n->nthreads; i++)
		free_thread(n->threads[i]);
	free(n->threads);
	n->threads = NULL;
	n->nthreads = n->cap_threads = 0;
	if (n->as)
		unw_destroy_addr_space(n->as);
	n->as = NULL;
}

/* Forget the state of threads that are no longer in the target. */
void nunw_prune_threads(struct native *n)
{
	size_t k = 0;

	for (size_t i = 0; i < n->nthreads; i++) {
		struct nthread *th = n->threads[i];
		if (!target_thread_by_tid(n->t, th->tid)) {
			free_thread(th);
			continue;
		}
		th->regs_ok = false;
		n->threads[k++] = th;
	}
	n->nthreads = k;
}

static struct nthread *thread_get(struct native *n, pid_t tid)
{
	struct nthread *th;

	for (size_t i = 0; i < n->nthreads; i++)
		if (n->threads[i]->tid == tid)
			return n->threads[i];
	if (n->nthreads == n->cap_threads) {
		size_t ncap = n->cap_threads ? n->cap_threads * 2 : 16;
		struct nthread **nt;
		if (ncap > TARGET_MAX_THREADS * 2)
			return NULL;
		nt = realloc(n->threads, ncap * sizeof(*nt));
		if (!nt)
			return NULL;
		n->threads = nt;
		n->cap_threads = ncap;
	}
	th = calloc(1, sizeof(*th));
	if (!th)
		return NULL;
	th->n = n;
	th->tid = tid;
	th->upt = _UPT_create(tid);
	if (!th->upt) {
		free(th);
		return NULL;
	}
	n->threads[n->nthreads++] = th;
	return th;
}

static int read_registers(struct nthread *th)
{
#if defined(__x86_64__)
	if (th->n->t->core) {
		/* A core file: the registers it saved. */
		th->regs_ok = target_core_regs(th->n->t, th->tid, &th->regs, sizeof(th->regs)) == 0;
		return th->regs_ok ? 0 : -PERR_TORN;
	}
	if (ptrace(PTRACE_GETREGS, th->tid, 0, &th->regs) != 0) {
		th->regs_ok = false;
		return -PERR_TORN; /* ESRCH: not in a ptrace-stop */
	}
#endif
	th->regs_ok = true;
	return 0;
}

/*
 * glibc's clone() and clone3() wrappers end their unwind information just
 * before the system call (in the child the stack is a new one), so a
 * parent stopped there (at our PTRACE_EVENT_CLONE stop, or on the
 * instructions after the call) unwinds no further than the wrapper.  They
 * keep nothing on the stack: the return address is at the stack pointer.
 * The child runs the same instructions on its new stack, with rax 0 (the
 * parent's is the new thread's id, or -ENOSYS inside the call); it has no
 * caller.  Returns whether th's registers now are the caller's.
 */
static bool step_out_of_clone(struct native *n, struct nthread *th, const struct native_frame *f)
{
#if defined(__x86_64__)
	static const char *const wrappers[] = { "clone", "clone3", "__clone", "__clone3",
						"__GI___clone", "__GI___clone3" };
	uint32_t s = nsym_lookup(n, f->ip);
	const char *name = s < n->nsyms ? n->syms[s].sym.name : NULL;
	bool wrapper = false;
	uint64_t ret;

	for (size_t i = 0; name && i < sizeof(wrappers) / sizeof(wrappers[0]); i++)
		wrapper = wrapper || strcmp(name, wrappers[i]) == 0;
	if (!wrapper || !th->regs_ok || th->regs.rax == 0 || th->regs.rsp != f->sp ||
	    th->regs.rip != f->ip || nmem_read(n, f->sp, &ret, sizeof(ret)) != 0)
		return false;
	th->regs.rip = ret;
	th->regs.rsp += 8;
	return true;
#else
	(void)n;
	(void)th;
	(void)f;
	return false;
#endif
}

int native_unwind(struct native *n, pid_t tid, struct native_stack *out)
{
	struct nthread *th;
	unw_cursor_t cur;
	uint64_t prev_sp = 0, prev_ip = 0;
	int rc;

	out->tid = tid;
	out->n = 0;
	out->complete = false;
	out->error = 0;
	n->st.unwinds++;
	if (!(th = thread_get(n, tid))) {
		n->st.unwind_errors++;
		out->error = -PERR_NOMEM;
		return -PERR_NOMEM;
	}
	/* Registers of the thread as stopped now (ESRCH: it is not stopped). */
	if ((rc = read_registers(th)) != 0 || (rc = unw_init_remote(&cur, n->as, th)) < 0) {
		n->st.unwind_errors++;
		out->error = rc;
		return -PERR_TORN;
	}
	for (;;) {
		unw_word_t ip, sp;
		const struct nregion *r;

		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || unw_get_reg(&cur, UNW_REG_SP, &sp) < 0) {
			out->error = -UNW_EBADREG;
			break;
		}
		if (ip == 0) {
			out->complete = out->n > 0;
			break;
		}
		/* Callers live at higher addresses; anything else is garbage. */
		if (out->n && (sp < prev_sp || (sp == prev_sp && ip == prev_ip))) {
			out->error = -UNW_EBADFRAME;
			break;
		}
		r = nmod_region_at(n, ip);
		if (!r || !(r->flags & NR_EXEC)) {
			/* Code we do not know of: a library loaded since, or garbage. */
			n->maps_stale = true;
			out->error = -UNW_EBADFRAME;
			break;
		}
		if (out->n == NATIVE_MAX_FRAMES)
			break;
		out->frames[out->n].ip = ip;
		out->frames[out->n].sp = sp;
		out->frames[out->n].sym = NATIVE_NOSYM;
		out->frames[out->n].flags = out->n == 0 ? NATIVE_EXACT : 0;
		out->frames[out->n].reserved = 0;
		out->n++;
		prev_sp = sp;
		prev_ip = ip;
		rc = unw_step(&cur);
		if (rc <= 0 && out->n == 1 && step_out_of_clone(n, th, &out->frames[0]) &&
		    unw_init_remote(&cur, n->as, th) >= 0)
			continue;
		if (rc == 0) {
			out->complete = true;
			break;
		}
		if (rc < 0) {
			out->error = rc;
			break;
		}
	}
	n->st.frames += out->n;
	if (!out->complete)
		n->st.unwinds_cut++;
	if (out->n == 0) {
		n->st.unwind_errors++;
		return -PERR_TORN;
	}
	return 0;
}
