/*
 * walk.c - every thread's Python stack, from the interpreter's own lists.
 *
 *   interpreters (linked by next)
 *     -> thread states (tstate_head / threads.head, linked by next)
 *        -> frames, newest first:
 *             <= 3.10  PyFrameObject      tstate->frame, f_back
 *             3.11-12  _PyInterpreterFrame tstate->cframe->current_frame, previous
 *             3.13+    _PyInterpreterFrame tstate->current_frame, previous
 *
 * Every pointer comes from a live process that keeps running in
 * non-blocking mode, so every list walk is bounded and every read checked;
 * a failed read drops the sample (-PERR_TORN), never the session.
 *
 * Frames the interpreter itself hides are hidden here too, so the stack
 * matches sys._current_frames(): 3.12+ frames owned by the C stack (entry
 * shims) or, 3.14+, by the interpreter, and 3.11+ "incomplete" frames that
 * have not yet reached their first traceable instruction.
 */
#include "pyspy/error.h"
#include "python_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_INTERPRETERS 64
#define FRAME_OWNED_BY_GENERATOR 1

static int push_frame(struct py_sample *s, uint32_t func, int line)
{
	if (s->nframes == s->cap_frames) {
		size_t ncap = s->cap_frames ? s->cap_frames * 2 : 1024;
		struct frame_ref *n = realloc(s->frames, ncap * sizeof(*n));
		if (!n)
			return -PERR_NOMEM;
		s->frames = n;
		s->cap_frames = ncap;
	}
	s->frames[s->nframes++] = (struct frame_ref){ func, line };
	return 0;
}

/* <= 3.10: a linked list of PyFrameObject. */
static int walk_frame_objects(struct pyinterp *pi, uint64_t frame, struct py_sample *s,
			      struct py_thread_sample *th)
{
	const struct py_layout *l = &pi->layout;
	size_t need = (size_t)l->frame_lasti + 4;
	uint8_t buf[256];

	if (need < (size_t)l->frame_code + 8)
		need = (size_t)l->frame_code + 8;
	if (need > sizeof(buf))
		return -PERR_VERSION;
	for (int depth = 0; frame; depth++) {
		const struct code_info *ci;
		uint64_t code, back;
		int32_t lasti;
		int64_t off;
		int rc;

		if (depth >= PY_MAX_DEPTH) {
			th->truncated = true;
			break;
		}
		if ((rc = target_read(pi->target, frame, buf, need)) != 0)
			return rc;
		if (field_u64(buf, need, l->frame_back, &back) ||
		    field_u64(buf, need, l->frame_code, &code) ||
		    field_i32(buf, need, l->frame_lasti, &lasti))
			return -PERR_TORN;
		if ((rc = code_lookup(pi, code, &ci)) != 0)
			return rc;
		/* 3.10 counts code units; earlier versions count bytes. */
		off = pi->minor == 10 && pi->major == 3 ? (int64_t)lasti * 2 : lasti;
		if ((rc = push_frame(s, ci->func, code_line(pi, ci, off))) != 0)
			return rc;
		frame = back;
	}
	return 0;
}

/*
 * Free-threaded 3.14+: a frame may run a thread-local copy of the bytecode
 * (co_tlbc->entries[tlbc_index]); its instruction pointer is relative to
 * that copy.  Index 0 is the code object's own co_code_adaptive.
 */
static int bytecode_base(struct pyinterp *pi, uint64_t code, const uint8_t *frame,
			 size_t len, uint64_t *base)
{
	const struct py_layout *l = &pi->layout;
	int32_t idx = 0;
	uint64_t arr, size;
	int rc;

	*base = code + (uint64_t)l->code_code_adaptive;
	if (l->iframe_tlbc_index < 0 || l->code_tlbc < 0)
		return 0;
	if (field_i32(frame, len, l->iframe_tlbc_index, &idx))
		return -PERR_TORN;
	if (idx == 0)
		return 0;
	/* struct _PyCodeArray { Py_ssize_t size; char *entries[]; } */
	if ((rc = target_read_ptr(pi->target, code + (uint64_t)l->code_tlbc, &arr)) != 0 ||
	    (rc = target_read_ptr(pi->target, arr, &size)) != 0)
		return rc;
	if (idx < 0 || (uint64_t)idx >= size || size > 1u << 20)
		return -PERR_TORN;
	return target_read_ptr(pi->target, arr + 8 + 8 * (uint64_t)idx, base);
}

/* 3.11+: a linked list of _PyInterpreterFrame. */
static int walk_interpreter_frames(struct pyinterp *pi, uint64_t frame, struct py_sample *s,
				   struct py_thread_sample *th)
{
	const struct py_layout *l = &pi->layout;
	size_t need = (size_t)l->iframe_size;
	uint64_t tag_mask = ~(uint64_t)l->stackref_tag_bits;
	uint8_t buf[512];

	if (need > sizeof(buf) || need < (size_t)l->iframe_owner + 1)
		return -PERR_VERSION;
	for (int depth = 0; frame; depth++) {
		const struct code_info *ci;
		uint64_t code, prev, instr, base;
		int64_t off;
		int owner, rc;

		if (depth >= PY_MAX_DEPTH) {
			th->truncated = true;
			break;
		}
		if ((rc = target_read(pi->target, frame, buf, need)) != 0)
			return rc;
		if (field_u64(buf, need, l->iframe_code, &code) ||
		    field_u64(buf, need, l->iframe_previous, &prev) ||
		    field_u64(buf, need, l->iframe_instr, &instr))
			return -PERR_TORN;
		owner = buf[l->iframe_owner];
		frame = prev;
		/* Entry shims on the C stack (3.12+), interpreter-owned frames (3.14+). */
		if (l->iframe_owner_hidden && owner >= l->iframe_owner_hidden)
			continue;
		code &= tag_mask;
		if ((rc = code_lookup(pi, code, &ci)) != 0)
			return rc;
		if ((rc = bytecode_base(pi, code, buf, need, &base)) != 0)
			return rc;
		off = (int64_t)(instr - base);
		/* Not started yet: the interpreter does not show it either. */
		if (owner != FRAME_OWNED_BY_GENERATOR && off < (int64_t)ci->firsttraceable * 2)
			continue;
		if ((rc = push_frame(s, ci->func, code_line(pi, ci, off))) != 0)
			return rc;
	}
	return 0;
}

/*
 * Before 3.11 a thread state knows only its pthread_t, which glibc makes
 * the address of the thread's struct pthread; the kernel tid is a field of
 * that struct at an offset that depends on the glibc build.  Find it once:
 * the offset at which every thread state's struct holds a tid of one of
 * the target's threads.
 */
#define PTHREAD_SCAN 2048

static bool known_tid(struct target *t, int32_t v)
{
	if (v <= 0)
		return false;
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].nstid == v)
			return true;
	return false;
}

static void find_tid_offset(struct pyinterp *pi, const uint64_t *ids, size_t n)
{
	static uint8_t blocks[8][PTHREAD_SCAN];
	size_t nb = n < 8 ? n : 8;

	if (nb == 0)
		return;
	if (pi->target->nthreads == 0)
		target_refresh_threads(pi->target);
	for (size_t i = 0; i < nb; i++)
		if (target_read(pi->target, ids[i], blocks[i], PTHREAD_SCAN) != 0)
			return;
	for (int off = 0; off + 4 <= PTHREAD_SCAN; off += 4) {
		bool all = true;
		for (size_t i = 0; i < nb && all; i++) {
			int32_t v;
			memcpy(&v, blocks[i] + off, 4);
			all = known_tid(pi->target, v);
		}
		if (all) {
			pi->tid_offset = off;
			return;
		}
	}
}

static pid_t tid_of(struct pyinterp *pi, uint64_t pthread_id)
{
	int32_t v;

	if (pi->tid_offset < 0 || !pthread_id)
		return 0;
	if (target_read(pi->target, pthread_id + (uint64_t)pi->tid_offset, &v, sizeof(v)) != 0)
		return 0;
	return target_host_tid(pi->target, v);
}

static int first_frame(struct pyinterp *pi, const uint8_t *ts, size_t len, uint64_t *frame)
{
	const struct py_layout *l = &pi->layout;
	uint64_t cframe;

	switch (l->family) {
	case PY_FAMILY_27:
	case PY_FAMILY_36:
		return field_u64(ts, len, l->tstate_frame, frame) ? -PERR_TORN : 0;
	case PY_FAMILY_311:
		if (field_u64(ts, len, l->tstate_cframe, &cframe))
			return -PERR_TORN;
		if (!cframe) {
			*frame = 0;
			return 0;
		}
		return target_read_ptr(pi->target, cframe + (uint64_t)l->cframe_current_frame, frame);
	case PY_FAMILY_313:
		return field_u64(ts, len, l->tstate_current_frame, frame) ? -PERR_TORN : 0;
	}
	return -PERR_VERSION;
}

static size_t tstate_span(const struct py_layout *l)
{
	int16_t f[] = { l->tstate_next, l->tstate_interp, l->tstate_frame, l->tstate_cframe,
			l->tstate_current_frame, l->tstate_thread_id,
			l->tstate_native_thread_id };
	int16_t max = 0;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i] > max)
			max = f[i];
	return (size_t)max + 8;
}

/* Reverse frames[first, first+n) so the root comes first. */
static void reverse(struct frame_ref *f, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		struct frame_ref tmp = f[i];
		f[i] = f[n - 1 - i];
		f[n - 1 - i] = tmp;
	}
}

/* Map each thread to its OS thread and its idle state. */
static void resolve_threads(struct pyinterp *pi, struct py_sample *s)
{
	uint64_t ids[8];
	size_t n = 0;

	if (pi->layout.tstate_native_thread_id < 0 && pi->tid_offset < 0) {
		for (size_t i = 0; i < s->nthreads && n < 8; i++)
			if (s->threads[i].thread_id)
				ids[n++] = s->threads[i].thread_id;
		find_tid_offset(pi, ids, n);
	}
	for (size_t i = 0; i < s->nthreads; i++) {
		struct py_thread_sample *th = &s->threads[i];
		struct target_thread *tt;

		if (!th->tid)
			th->tid = tid_of(pi, th->thread_id);
		tt = th->tid ? target_thread_by_tid(pi->target, th->tid) : NULL;
		th->idle = tt && tt->state != 'R' && tt->state != '?';
	}
}

int py_walk_interp(struct pyinterp *pi, uint64_t interp, struct py_sample *s)
{
	const struct py_layout *l = &pi->layout;
	size_t span = tstate_span(l);
	uint8_t ts[4096];
	uint64_t tstate;
	int rc;

	if (span > sizeof(ts))
		return -PERR_VERSION;
	if ((rc = target_read_ptr(pi->target, interp + (uint64_t)l->interp_tstate_head,
				  &tstate)) != 0)
		return rc;
	while (tstate) {
		struct py_thread_sample *th;
		uint64_t frame, next, native = 0, pthread_id = 0, back;

		if (s->nthreads >= PY_MAX_THREADS)
			return -PERR_TORN; /* a cycle, or an absurd process */
		if ((rc = target_read(pi->target, tstate, ts, span)) != 0)
			return rc;
		if (field_u64(ts, span, l->tstate_next, &next) ||
		    field_u64(ts, span, l->tstate_interp, &back) ||
		    field_u64(ts, span, l->tstate_thread_id, &pthread_id))
			return -PERR_TORN;
		if (back != interp)
			return -PERR_TORN;
		if (l->tstate_native_thread_id >= 0)
			field_u64(ts, span, l->tstate_native_thread_id, &native);
		if ((rc = first_frame(pi, ts, span, &frame)) != 0)
			return rc;

		th = &s->threads[s->nthreads++];
		memset(th, 0, sizeof(*th));
		th->thread_id = pthread_id;
		th->first = s->nframes;
		if (l->family >= PY_FAMILY_311)
			rc = walk_interpreter_frames(pi, frame, s, th);
		else
			rc = walk_frame_objects(pi, frame, s, th);
		if (rc)
			return rc;
		th->nframes = s->nframes - th->first;
		reverse(s->frames + th->first, th->nframes);
		if (l->tstate_native_thread_id >= 0)
			th->tid = target_host_tid(pi->target, (pid_t)native);
		tstate = next;
	}
	return 0;
}

int pyinterp_sample(struct pyinterp *pi, struct py_sample *s)
{
	uint64_t interp;
	int rc;

	s->nthreads = 0;
	s->nframes = 0;
	if ((rc = target_read_ptr(pi->target, pi->interp_head_addr, &interp)) != 0)
		return rc;
	for (int ni = 0; interp && ni < MAX_INTERPRETERS; ni++) {
		uint64_t next;

		if ((rc = target_read_ptr(pi->target, interp + (uint64_t)pi->layout.interp_next,
					  &next)) != 0 ||
		    (rc = py_walk_interp(pi, interp, s)) != 0)
			return rc;
		interp = next;
	}
	resolve_threads(pi, s);
	return 0;
}

void py_sample_free(struct py_sample *s)
{
	free(s->frames);
	s->frames = NULL;
	s->nframes = s->cap_frames = 0;
}
