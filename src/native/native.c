/*
 * native.c - the native stage's session: open and close, per-sample
 * work, the Python side of the merge, and the end-of-run report.
 */
#include "native_internal.h"
#include "pyspy/error.h"
#include "pyspy/pyinterp.h"
#include "pyspy/target.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAPS_RELOAD_NS 200000000 /* at most every 200 ms */

_Static_assert(NATIVE_STACK_CAP == NATIVE_MAX_FRAMES + PY_MAX_DEPTH + 1,
	       "NATIVE_STACK_CAP must follow PY_MAX_DEPTH");

static char **split_dirs(const char *s)
{
	size_t n = 1;
	char **v, *copy, *save = NULL;

	if (!s || !*s)
		return calloc(1, sizeof(char *));
	for (const char *p = s; *p; p++)
		n += *p == ':';
	v = calloc(n + 1, sizeof(*v));
	copy = strdup(s);
	if (!v || !copy) {
		free(v);
		free(copy);
		return NULL;
	}
	n = 0;
	for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
		if (!(v[n++] = strdup(tok)))
			break;
	free(copy);
	return v;
}

struct native *native_open(struct target *t, const struct pyinterp *pi,
			   const struct native_options *opt)
{
	struct native *n = calloc(1, sizeof(*n));

	if (!n) {
		perr_set(PERR_NOMEM, "out of memory");
		return NULL;
	}
	n->t = t;
	n->py_major = pi ? pi->major : 3;
	n->py_minor = pi ? pi->minor : 0;
	if (pi) {
		n->layout = pi->layout;
		n->has_layout = true;
	}
	n->show_internal = opt && opt->show_internal;
	n->marker_func = FUNC_NONE;
	n->sample_gen = n->pers_gen = 1;
	if (pi && pi->module[0] && !(n->interp_path = strdup(pi->module)))
		goto nomem;
	if (t->exe[0] && !(n->exe_path = strdup(t->exe)))
		goto nomem;
	if (!(n->debug_dirs = split_dirs(opt ? opt->debug_dirs : NULL)))
		goto nomem;
	n->vol = calloc(NVOL_PAGES, sizeof(*n->vol));
	n->pers = calloc(NPERS_PAGES, sizeof(*n->pers));
	n->items = calloc(NATIVE_MAX_FRAMES + PY_MAX_DEPTH + 1, sizeof(*n->items));
	n->scratch = calloc(1, sizeof(*n->scratch));
	n->entry = calloc(PY_MAX_DEPTH, 1);
	if (!n->vol || !n->pers || !n->items || !n->scratch || !n->entry)
		goto nomem;
	if (nunw_init(n) != 0 || nsym_init(n) != 0 || nmod_load_maps(n) != 0) {
		native_close(n);
		return NULL;
	}
	return n;
nomem:
	native_close(n);
	perr_set(PERR_NOMEM, "out of memory");
	return NULL;
}

void native_forget_funcs(struct native *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nsyms; i++)
		n->syms[i].func = FUNC_NONE;
	n->marker_func = FUNC_NONE;
}

void native_close(struct native *n)
{
	if (!n)
		return;
	nunw_release(n);
	nsym_release(n);
	nmod_free_all(n);
	for (char **d = n->debug_dirs; d && *d; d++)
		free(*d);
	free(n->debug_dirs);
	free(n->interp_path);
	free(n->exe_path);
	free(n->vol);
	free(n->pers);
	free(n->items);
	free(n->scratch);
	free(n->entry);
	free(n);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void native_begin_sample(struct native *n)
{
	nmem_new_sample(n);
	nunw_prune_threads(n);
	if (n->syms_full)
		nsym_flush(n);
	if (n->maps_stale && now_ns() - n->maps_loaded_ns >= MAPS_RELOAD_NS)
		nmod_load_maps(n);
}

void native_symbolise(struct native *n, struct native_stack *s)
{
	bool after_signal = false;

	for (size_t i = 0; i < s->n; i++) {
		struct native_frame *f = &s->frames[i];
		bool exact = i == 0 || after_signal;
		uint64_t pc = exact ? f->ip : f->ip - 1;
		const struct nsym *sym;

		/*
		 * A return address may be the first byte after the call's
		 * function (a call to a function that does not return): look
		 * up the call instruction.  The frame a signal interrupted
		 * holds the interrupted instruction itself.
		 */
		f->sym = nsym_lookup(n, pc);
		f->flags = exact ? NATIVE_EXACT : 0;
		if (f->sym == NATIVE_NOSYM) {
			after_signal = false;
			continue;
		}
		sym = &n->syms[f->sym];
		f->flags |= sym->sym.flags;
		if (sym->mod) {
			sym->mod->frames++;
			if (sym->sym.flags & NATIVE_UNNAMED)
				sym->mod->unnamed++;
		}
		if (sym->sym.flags & NATIVE_UNNAMED)
			n->st.unnamed++;
		after_signal = strcmp(sym->sym.name, "__restore_rt") == 0;
	}
}

const struct native_sym *native_sym(struct native *n, uint32_t sym)
{
	if (sym >= n->nsyms)
		return NULL;
	return &n->syms[sym].sym;
}

const struct native_sym *native_sym_lines(struct native *n, uint32_t sym)
{
	if (sym >= n->nsyms)
		return NULL;
	nsym_lines(n, &n->syms[sym]);
	return &n->syms[sym].sym;
}

/* --- the Python side: which frames an eval call was entered with --- */

#define MAX_ANCHORS NATIVE_MAX_FRAMES

/* 3.11: the chain of _PyCFrame structs, one per eval call, on the C stack. */
static int cframe_anchors(struct native *n, const struct py_layout *l, uint64_t tstate,
			  uint64_t *anchors, size_t *na)
{
	uint64_t cf = 0;
	int rc;

	if (l->tstate_cframe < 0 || l->cframe_current_frame < 0)
		return 0;
	if ((rc = target_read(n->t, tstate + (uint64_t)l->tstate_cframe, &cf, 8)) != 0)
		return rc;
	/*
	 * struct _PyCFrame: 3.11 {use_tracing; current_frame; previous},
	 * 3.12 {current_frame; previous}: 'previous' follows current_frame.
	 */
	while (cf && *na < MAX_ANCHORS) {
		anchors[(*na)++] = cf;
		if (nmem_read(n, cf + (uint64_t)l->cframe_current_frame + 8, &cf, 8) != 0 &&
		    target_read(n->t, cf + (uint64_t)l->cframe_current_frame + 8, &cf, 8) != 0)
			return -PERR_TORN;
	}
	return 0;
}

int native_py_entries(struct native *n, const struct py_sample *s,
		      const struct py_thread_sample *th, struct native_stack *cs,
		      uint8_t *entry)
{
	const struct py_layout *l = n->has_layout ? &n->layout : NULL;
	size_t count = th->nframes, na = 0;
	uint64_t anchors[MAX_ANCHORS];
	bool v311;
	int rc = 0;

	memset(entry, 1, count);
	if (!l || l->family < PY_FAMILY_311)
		return 0; /* one eval call per frame, known by name only */
	if (!s->keep_sources || !s->src || th->first + count > s->nframes)
		return -PERR_TORN;
	v311 = l->family == PY_FAMILY_311 && n->py_minor == 11;
	for (size_t i = 0; i < count; i++) {
		uint64_t frame = s->src[th->first + i].frame, prev = 0;
		uint8_t b = 0;

		if (v311) {
			/* 3.11: bool is_entry, the byte before 'owner'. */
			if ((rc = target_read(n->t, frame + (uint64_t)(l->iframe_owner - 1), &b, 1)))
				goto torn;
			entry[i] = b != 0;
			continue;
		}
		/*
		 * 3.12+: the eval loop links the frame it was called with to an
		 * entry frame of its own, a local variable owned by the C stack
		 * (3.12, 3.13: FRAME_OWNED_BY_CSTACK) or the interpreter (3.14+:
		 * FRAME_OWNED_BY_INTERPRETER); the walk hides those.
		 */
		if ((rc = target_read(n->t, frame + (uint64_t)l->iframe_previous, &prev, 8)) != 0)
			goto torn;
		if (!prev) {
			entry[i] = 1;
			continue;
		}
		if (nmem_read(n, prev + (uint64_t)l->iframe_owner, &b, 1) != 0 &&
		    (rc = target_read(n->t, prev + (uint64_t)l->iframe_owner, &b, 1)) != 0)
			goto torn;
		entry[i] = l->iframe_owner_hidden && b >= l->iframe_owner_hidden;
		if (entry[i] && na < MAX_ANCHORS)
			anchors[na++] = prev;
	}
	if (v311 && cs && (rc = cframe_anchors(n, l, th->tstate, anchors, &na)) != 0)
		goto torn;
	if (cs)
		native_mark_anchors(cs->frames, cs->n, anchors, na);
	return 0;
torn:
	memset(entry, 1, count);
	return rc ? rc : -PERR_TORN;
}

/* --- one thread's merged stack --- */

struct frame_ref native_frame_ref(struct native *n, struct profile *prof,
				  const struct native_frame *f)
{
	struct nsym *s;
	struct frame_ref r = { FUNC_NONE, -1 };

	if (f->sym >= n->nsyms)
		return r;
	s = &n->syms[f->sym];
	if (s->func_prof != prof || s->func == FUNC_NONE) {
		const char *file;
		nsym_lines(n, s);
		file = s->sym.file;
		if (file) {
			const char *slash = strrchr(file, '/');
			s->func = profile_func(prof, FUNC_PYTHON, s->sym.name, file,
					       slash ? slash + 1 : file);
		} else if (s->mod) {
			/* No line information: "name (module)", the module
			 * as a file name (a full path with --full-filenames). */
			s->func = profile_func(prof, FUNC_PYTHON, s->sym.name, s->mod->path,
					       s->sym.module);
		} else {
			s->func = profile_func(prof, FUNC_LABEL, s->sym.name, NULL, NULL);
		}
		s->func_prof = prof;
	}
	r.func = s->func;
	r.line = s->sym.file ? s->sym.line : -1;
	return r;
}

static uint32_t marker(struct native *n, struct profile *prof)
{
	if (n->marker_prof != prof || n->marker_func == FUNC_NONE) {
		n->marker_func = profile_func(prof, FUNC_LABEL, "[native merge failed]", NULL, NULL);
		n->marker_prof = prof;
	}
	return n->marker_func;
}

int native_thread_stack(struct native *n, struct profile *prof, const struct native_stack *c,
			const struct frame_ref *py, const uint8_t *entry, size_t npy,
			struct frame_ref *out, size_t cap, size_t *nout)
{
	size_t nitems = 0, k = 0;
	int rc;

	*nout = 0;
	n->st.stacks++;
	if (npy > PY_MAX_DEPTH)
		npy = PY_MAX_DEPTH; /* cannot happen with a struct py_sample */
	if (!c || c->n == 0)
		rc = NATIVE_ERR_NO_STACK;
	else
		rc = native_merge(c->frames, c->n, c->complete, entry, npy,
				  n->show_internal ? NATIVE_MERGE_SHOW_INTERNAL : 0, n->items,
				  NATIVE_MAX_FRAMES + PY_MAX_DEPTH + 1, &nitems);
	if (rc >= 0 && nitems <= cap) {
		for (size_t i = 0; i < nitems; i++) {
			const struct native_item *it = &n->items[i];
			struct frame_ref r = it->kind == NATIVE_ITEM_PY
						     ? py[it->index]
						     : native_frame_ref(n, prof, &c->frames[it->index]);
			if (r.func == FUNC_NONE)
				return -PERR_NOMEM;
			out[k++] = r;
		}
		*nout = k;
		if (rc == NATIVE_MERGED)
			n->st.merged++;
		else
			n->st.partial++;
		return rc;
	}
	if (rc >= 0)
		rc = NATIVE_ERR_NO_ROOM;
	/* Keep the Python stack, marked, and count it. */
	n->st.failed++;
	if (rc == NATIVE_ERR_MORE_EVAL)
		n->st.failed_more_eval++;
	else if (rc == NATIVE_ERR_FEWER_EVAL)
		n->st.failed_fewer_eval++;
	else if (rc == NATIVE_ERR_NO_STACK)
		n->st.failed_no_stack++;
	for (size_t i = 0; i < npy && k + 1 < cap; i++)
		out[k++] = py[i];
	if (k < cap) {
		uint32_t m = marker(n, prof);
		if (m == FUNC_NONE)
			return -PERR_NOMEM;
		out[k++] = (struct frame_ref){ m, -1 };
	}
	*nout = k;
	return rc;
}

int native_collect(struct native *n, struct profile *prof, const struct py_sample *s,
		   const struct py_thread_sample *th, pid_t tid, struct frame_ref *out,
		   size_t cap, size_t *nout)
{
	struct native_stack *cs = n->scratch;
	bool unwound;

	/*
	 * A thread state whose thread has not started, or has ended: there is
	 * no C stack, and no merge to fail.  Its Python frames, as without
	 * --native.
	 */
	if (th && !th->tid) {
		size_t m = th->nframes < cap ? th->nframes : cap;
		memcpy(out, s->frames + th->first, m * sizeof(*out));
		*nout = m;
		n->st.no_thread += m > 0;
		return 0;
	}
	unwound = tid > 0 && native_unwind(n, tid, cs) == 0;
	if (unwound)
		native_symbolise(n, cs);
	if (!th)
		return native_thread_stack(n, prof, unwound ? cs : NULL, NULL, NULL, 0, out, cap,
					   nout);
	/* Unreadable entry flags are all 1: the merge then fails visibly. */
	native_py_entries(n, s, th, unwound ? cs : NULL, n->entry);
	return native_thread_stack(n, prof, unwound ? cs : NULL, s->frames + th->first, n->entry,
				   th->nframes, out, cap, nout);
}

void native_get_stats(const struct native *n, struct native_stats *st)
{
	*st = n->st;
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

void native_report(const struct native *n, FILE *f, bool verbose)
{
	const struct native_stats *st = &n->st;

	if (st->stacks && (verbose || st->failed || st->partial)) {
		fprintf(f, "pyspy-c: native: %" PRIu64 " of %" PRIu64 " stacks merged (%.1f%%)", st->merged,
			st->stacks, pct(st->merged, st->stacks));
		if (st->partial)
			fprintf(f, ", %" PRIu64 " with the C stack cut short", st->partial);
		fputc('\n', f);
		if (st->failed)
			fprintf(f,
				"pyspy-c: native: %" PRIu64 " stacks kept as Python only with "
				"\"[native merge failed]\": %" PRIu64 " more eval calls than Python "
				"frames, %" PRIu64 " Python frames without an eval call, %" PRIu64
				" threads not unwound\n",
				st->failed, st->failed_more_eval, st->failed_fewer_eval,
				st->failed_no_stack);
	}
	if (st->no_thread && verbose)
		fprintf(f, "pyspy-c: native: %" PRIu64 " stacks of thread states without an OS "
			   "thread (not started yet, or ended) kept as Python frames only\n",
			st->no_thread);
	if (verbose)
		fprintf(f,
			"pyspy-c: native: %" PRIu64 " unwinds (%" PRIu64 " cut short, %" PRIu64
			" failed), %" PRIu64 " frames, %" PRIu64 " addresses symbolised, %" PRIu64
			" page reads\n",
			st->unwinds, st->unwinds_cut, st->unwind_errors, st->frames, st->syms,
			st->page_reads);
	for (size_t i = 0; i < n->nmods_all; i++) {
		const struct nmodule *m = n->mods[i];
		if (!m->unnamed)
			continue;
		fprintf(f, "pyspy-c: native: could not resolve %" PRIu64 " of %" PRIu64
			   " frames in %s (%.0f%%): ",
			m->unnamed, m->frames, m->path, pct(m->unnamed, m->frames));
		if (!m->dw)
			fprintf(f, "file could not be read\n");
		else if (m->has_symtab || m->debug_file)
			fprintf(f, "code without a symbol%s%s\n", m->debug_file ? " in " : "",
				m->debug_file ? m->debug_file : "");
		else
			fprintf(f, "stripped (.dynsym only), no debug file found%s%s%s%s%s\n",
				m->build_id[0] ? " for build-id " : "", m->build_id,
				m->debuglink[0] ? " or debuglink '" : "", m->debuglink,
				m->debuglink[0] ? "'" : "");
	}
}
