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
#include "pyspy/pyasync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INTERPRETERS 64
#define FRAME_OWNED_BY_GENERATOR 1
#define TSTATE_MAX_BYTES 16384 /* more than a PyThreadState */

/* The GIL's words as read from the target: where, and into what. */
struct gil_words {
	struct target_iov v[3];
	size_t n;
	uint8_t buf[24];
	uint64_t holder, switches;
	int32_t locked;
};

static int push_frame(struct py_sample *s, uint32_t func, int line, uint64_t frame,
		      uint64_t code)
{
	if (s->nframes == s->cap_frames) {
		size_t ncap = s->cap_frames ? s->cap_frames * 2 : 1024;
		struct frame_ref *n = realloc(s->frames, ncap * sizeof(*n));
		struct py_frame_src *src;
		if (!n)
			return -PERR_NOMEM;
		s->frames = n;
		if (s->keep_sources) {
			src = realloc(s->src, ncap * sizeof(*src));
			if (!src)
				return -PERR_NOMEM;
			s->src = src;
		}
		s->cap_frames = ncap;
	}
	if (s->keep_sources && s->src)
		s->src[s->nframes] = (struct py_frame_src){ frame, code };
	s->frames[s->nframes++] = (struct frame_ref){ func, line };
	return 0;
}

/* Errors that end the sample whatever the walk could still read. */
static bool fatal(int rc)
{
	return rc == -PERR_GONE || rc == -PERR_PERM || rc == -PERR_NOMEM || rc == -PERR_VERSION;
}

/*
 * Addresses met in one chain (frames, thread states), to stop at the
 * first one met twice: a cycle in a corrupt target is cut where it closes.
 * Open addressing; a new generation empties it.
 */
#define SEEN_SLOTS 16384 /* > 2 * PY_MAX_DEPTH, > 2 * PY_MAX_THREADS */
static struct { uint64_t addr; uint32_t gen; } seen_tab[SEEN_SLOTS];
static uint32_t seen_gen;

static void seen_reset(void)
{
	if (++seen_gen == 0) {
		memset(seen_tab, 0, sizeof(seen_tab));
		seen_gen = 1;
	}
}

/* Note addr; true if it was met before in this generation. */
static bool seen_before(uint64_t addr)
{
	size_t i = (size_t)((addr >> 3) * 0x9E3779B97F4A7C15ull >> 50) % SEEN_SLOTS;

	for (size_t k = 0; k < SEEN_SLOTS; k++, i = (i + 1) % SEEN_SLOTS) {
		if (seen_tab[i].gen != seen_gen) {
			seen_tab[i].addr = addr;
			seen_tab[i].gen = seen_gen;
			return false;
		}
		if (seen_tab[i].addr == addr)
			return true;
	}
	return true; /* full: a chain longer than any bound met */
}

/*
 * A part of a stopped target that cannot be read: count it, and say
 * whether to go on with what could be read (pyinterp.degrade: the thread
 * was unreadable in the samples before too) or to leave the thread out.
 */
static int degraded(struct pyinterp *pi, int rc)
{
	if (fatal(rc) || !pi->degrade)
		return rc ? rc : -PERR_TORN;
	pi->degraded++;
	return 0;
}

static int push_label(struct pyinterp *pi, struct py_sample *s, const char *text)
{
	uint32_t f = profile_func(pi->profile, FUNC_LABEL, text, NULL, NULL);

	return f == FUNC_NONE ? -PERR_NOMEM : push_frame(s, f, -1, 0, 0);
}

/* Whether the OS state read before the sample says the thread was not running. */
static bool thread_idle(struct target *t, pid_t tid)
{
	const struct target_thread *tt = tid ? target_thread_by_tid(t, tid) : NULL;

	return tt && tt->state != 'R' && tt->state != '?';
}

/* Reverse frames [first, first+n) so the root comes first. */
static void reverse(struct py_sample *s, size_t first, size_t n)
{
	struct frame_ref *f;

	if (n < 2)
		return; /* nothing to turn (and no frames array yet, maybe) */
	f = s->frames + first;

	for (size_t i = 0; i < n / 2; i++) {
		struct frame_ref tmp = f[i];
		f[i] = f[n - 1 - i];
		f[n - 1 - i] = tmp;
	}
	if (s->keep_sources && s->src) {
		struct py_frame_src *r = s->src + first;
		for (size_t i = 0; i < n / 2; i++) {
			struct py_frame_src tmp = r[i];
			r[i] = r[n - 1 - i];
			r[n - 1 - i] = tmp;
		}
	}
}

/* A frame as found in the chain, before its code object is decoded. */
struct py_raw_frame {
	uint64_t addr;      /* the frame itself */
	uint64_t code;      /* code object (tag bits removed) */
	uint64_t instr;     /* 3.11+: instruction pointer */
	int32_t lasti;      /* <= 3.10: f_lasti */
	int32_t tlbc;       /* 3.14t: thread-local bytecode index */
	uint8_t owner;      /* 3.11+ */
	bool header;        /* code header copied into pi->hdrs[i] */
};

static int ensure_scratch(struct pyinterp *pi)
{
	if (!pi->raw)
		pi->raw = calloc(PY_MAX_DEPTH, sizeof(*pi->raw));
	if (!pi->hdrs)
		pi->hdrs = calloc(PY_MAX_DEPTH, CODE_HDR_MAX);
	return pi->raw && pi->hdrs ? 0 : -PERR_NOMEM;
}

/* <= 3.10: a linked list of PyFrameObject, one read per frame. */
static int chain_frame_objects(struct pyinterp *pi, uint64_t frame, size_t *n, size_t max,
			       struct py_thread_sample *th)
{
	const struct py_layout *l = &pi->layout;
	size_t need = (size_t)l->frame_lasti + 4;
	uint8_t buf[256];

	if (need < (size_t)l->frame_code + 8)
		need = (size_t)l->frame_code + 8;
	if (need > sizeof(buf))
		return -PERR_VERSION;
	seen_reset();
	for (*n = 0; frame; (*n)++) {
		struct py_raw_frame *r = &pi->raw[*n];
		uint64_t back;
		int rc;

		if (*n >= max) {
			th->truncated = true;
			break;
		}
		memset(r, 0, sizeof(*r));
		if (seen_before(frame))
			rc = -PERR_TORN; /* a cycle */
		else if ((rc = target_read(pi->target, frame, buf, need)) == 0 &&
			 (field_u64(buf, need, l->frame_back, &back) ||
			  field_u64(buf, need, l->frame_code, &r->code) ||
			  field_i32(buf, need, l->frame_lasti, &r->lasti)))
			rc = -PERR_TORN;
		if (rc) {
			th->broken = true;
			return degraded(pi, rc);
		}
		r->addr = frame;
		frame = back;
	}
	return 0;
}

/*
 * 3.11+: frames of a thread live in its data-stack chunks (except those
 * of generators and, 3.12+, the entry shims on the C stack).  Copying the
 * used part of each chunk once makes the walk below read from memory.
 * The next sample prefetches the chunk with some room above its top, so
 * that a stack a little deeper next time is still inside it.
 */
#define MAX_CHUNKS 16
#define MAX_CHUNK_BYTES (256u << 10)
#define CHUNK_SLACK 1024

static void snapshot_chunks(struct pyinterp *pi, const uint8_t *ts, size_t len)
{
	const struct py_layout *l = &pi->layout;
	uint64_t chunk, top, hdr[3];

	if (l->tstate_datastack_chunk < 0 ||
	    field_u64(ts, len, l->tstate_datastack_chunk, &chunk) ||
	    field_u64(ts, len, l->tstate_datastack_chunk + 8, &top))
		return;
	for (int i = 0; chunk && i < MAX_CHUNKS; i++) {
		if (top <= chunk || top - chunk > MAX_CHUNK_BYTES ||
		    target_snap_add(pi->target, chunk, top - chunk) != 0)
			return;
		/* _PyStackChunk: previous, size (bytes), top (index into data, at 24) */
		if (target_read(pi->target, chunk, hdr, sizeof(hdr)) != 0)
			return;
		if (hdr[1] >= top - chunk)
			target_memo_note(pi->target, chunk,
					 top - chunk + CHUNK_SLACK < hdr[1] ? top - chunk + CHUNK_SLACK
									    : hdr[1]);
		if (!hdr[0])
			return;
		chunk = hdr[0];
		if (target_read(pi->target, chunk, hdr, sizeof(hdr)) != 0 || hdr[2] > MAX_CHUNK_BYTES)
			return;
		top = chunk + 24 + hdr[2] * 8;
	}
}

static int chain_interpreter_frames(struct pyinterp *pi, uint64_t frame, size_t *n, size_t max,
				    struct py_thread_sample *th)
{
	const struct py_layout *l = &pi->layout;
	size_t need = (size_t)l->iframe_size;
	uint64_t tag_mask = ~(uint64_t)l->stackref_tag_bits;
	uint8_t buf[512];

	if (need > sizeof(buf) || need < (size_t)l->iframe_owner + 1)
		return -PERR_VERSION;
	seen_reset();
	for (*n = 0; frame;) {
		struct py_raw_frame *r = &pi->raw[*n];
		uint64_t prev;
		int rc;

		if (*n >= max) {
			th->truncated = true;
			break;
		}
		memset(r, 0, sizeof(*r));
		if (seen_before(frame))
			rc = -PERR_TORN; /* a cycle */
		else if ((rc = target_read(pi->target, frame, buf, need)) == 0 &&
			 (field_u64(buf, need, l->iframe_code, &r->code) ||
			  field_u64(buf, need, l->iframe_previous, &prev) ||
			  field_u64(buf, need, l->iframe_instr, &r->instr) ||
			  (l->iframe_tlbc_index >= 0 &&
			   field_i32(buf, need, l->iframe_tlbc_index, &r->tlbc))))
			rc = -PERR_TORN;
		if (rc) {
			th->broken = true;
			return degraded(pi, rc);
		}
		r->addr = frame;
		r->owner = buf[l->iframe_owner];
		r->code &= tag_mask;
		frame = prev;
		/* Entry shims on the C stack (3.12+), interpreter-owned frames (3.14+). */
		if (l->iframe_owner_hidden && r->owner >= l->iframe_owner_hidden)
			continue;
		(*n)++;
	}
	return 0;
}

/*
 * Copy the headers of every code object not yet validated this sample.
 * When some must come from the target (the stack has code the prefetch
 * did not have), the GIL's "after" read, if one is due, travels in the
 * same call: it still comes after every frame read.
 */
static int read_code_headers(struct pyinterp *pi, size_t n)
{
	struct target_iov iov[64 + 3];
	size_t hlen = code_header_len(pi), k = 0;
	size_t idx[64];
	bool remote = false;

	for (size_t i = 0; i <= n; i++) {
		if (i < n) {
			struct py_raw_frame *r = &pi->raw[i];
			/* Recursion: the same code as the frame before is read once. */
			r->header = !code_fresh(pi, r->code) &&
				    !(i > 0 && pi->raw[i - 1].code == r->code);
			if (!r->header)
				continue;
			iov[k] = (struct target_iov){ r->code, pi->hdrs + i * CODE_HDR_MAX, hlen, 0 };
			remote = remote || !target_snap_has(pi->target, r->code, hlen);
			idx[k++] = i;
		}
		if (k == 64 || (i == n && k)) {
			struct gil_words *g = i == n && remote ? pi->gil_tail : NULL;
			size_t ng = 0;
			if (g)
				for (; ng < g->n; ng++)
					iov[k + ng] = g->v[ng];
			target_readv(pi->target, iov, k + ng);
			if (g) {
				for (size_t j = 0; j < ng; j++)
					g->v[j] = iov[k + j];
				pi->gil_tail_at = pi->target->reads;
			}
			for (size_t j = 0; j < k; j++) {
				if (iov[j].rc == -PERR_GONE || iov[j].rc == -PERR_PERM)
					return iov[j].rc;
				if (iov[j].rc)
					pi->raw[idx[j]].header = false;
			}
			k = 0;
			remote = false;
		}
	}
	return 0;
}

/*
 * Free-threaded 3.14+: a frame may run a thread-local copy of the bytecode
 * (co_tlbc->entries[tlbc_index]); its instruction pointer is relative to
 * that copy.  Index 0 is the code object's own co_code_adaptive.
 */
static int bytecode_base(struct pyinterp *pi, const struct py_raw_frame *r, uint64_t *base)
{
	const struct py_layout *l = &pi->layout;
	uint64_t arr, size;
	int rc;

	*base = r->code + (uint64_t)l->code_code_adaptive;
	if (l->iframe_tlbc_index < 0 || l->code_tlbc < 0 || r->tlbc == 0)
		return 0;
	/* struct _PyCodeArray { Py_ssize_t size; char *entries[]; } */
	if ((rc = target_read_ptr(pi->target, r->code + (uint64_t)l->code_tlbc, &arr)) != 0 ||
	    (rc = target_read_ptr(pi->target, arr, &size)) != 0)
		return rc;
	if (r->tlbc < 0 || (uint64_t)r->tlbc >= size || size > 1u << 20)
		return -PERR_TORN;
	return target_read_ptr(pi->target, arr + 8 + 8 * (uint64_t)r->tlbc, base);
}

/*
 * Decode the raw frames (newest first) into s, root first; a chain that
 * broke (th->broken) is rooted by a marker.  A frame whose code object
 * cannot be read is "[unreadable frame]" (pyinterp.degrade).
 */
static int resolve_frames(struct pyinterp *pi, size_t n, struct py_sample *s,
			  const struct py_thread_sample *th)
{
	const struct py_layout *l = &pi->layout;
	size_t first = s->nframes;
	int rc;

	if ((rc = read_code_headers(pi, n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const struct py_raw_frame *r = &pi->raw[i];
		const struct code_info *ci = code_fresh(pi, r->code);
		int64_t off;

		if (!ci) {
			if (!r->header)
				rc = code_lookup(pi, r->code, &ci);
			else
				rc = code_resolve(pi, r->code, pi->hdrs + i * CODE_HDR_MAX,
						  code_header_len(pi), &ci);
			if (rc) {
				if ((rc = degraded(pi, rc)) != 0 ||
				    (rc = push_label(pi, s, "[unreadable frame]")) != 0)
					return rc;
				continue;
			}
		}
		if (l->family >= PY_FAMILY_311) {
			uint64_t base;
			if ((rc = bytecode_base(pi, r, &base)) != 0) {
				/* The line is what is lost. */
				if ((rc = degraded(pi, rc)) != 0 ||
				    (rc = push_frame(s, ci->func, -1, r->addr, r->code)) != 0)
					return rc;
				continue;
			}
			off = (int64_t)(r->instr - base);
			/* Not started yet: the interpreter does not show it either. */
			if (r->owner != FRAME_OWNED_BY_GENERATOR &&
			    off < (int64_t)ci->firsttraceable * 2)
				continue;
		} else {
			/* 3.10 counts code units; earlier versions count bytes. */
			off = pi->major == 3 && pi->minor == 10 ? (int64_t)r->lasti * 2 : r->lasti;
		}
		if ((rc = push_frame(s, ci->func, code_line(pi, ci, off), r->addr, r->code)) != 0)
			return rc;
	}
	if (th->broken && (rc = push_label(pi, s, "[broken frame chain]")) != 0)
		return rc;
	reverse(s, first, s->nframes - first);
	return 0;
}

/*
 * A thread state's pthread_t is, with glibc, the address of the thread's
 * struct pthread, which holds the kernel tid at an offset that depends on
 * the glibc build.  Before 3.8 that tid is the only way to a thread state's
 * OS thread; later it finds the thread of a state whose native_thread_id
 * is not one of the process (see tstate_tid()) without stopping anything.
 * Found once: the offset at which the struct of every thread state (up to
 * 8) holds a tid of one of the target's threads, and from 3.8 the very tid
 * its state was mapped to.  A failed search is tried again now and then.
 */
#define PTHREAD_SCAN 2048
#define TID_OFFSET_RETRY 100 /* samples */

static bool known_tid(struct target *t, int32_t v)
{
	if (v <= 0)
		return false;
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].nstid == v)
			return true;
	return false;
}

static bool find_tid_offset(struct pyinterp *pi, const struct py_sample *s)
{
	static uint8_t blocks[8][PTHREAD_SCAN];
	struct target *t = pi->target;
	bool native = pi->layout.tstate_native_thread_id >= 0;
	int32_t want[8];
	size_t nb = 0;

	if (pi->sample_no < pi->tid_offset_next)
		return false;
	pi->tid_offset_next = pi->sample_no + TID_OFFSET_RETRY;
	if (t->nthreads == 0)
		target_refresh_threads(t);
	for (size_t i = 0; i < s->nthreads && nb < 8; i++) {
		const struct py_thread_sample *th = &s->threads[i];
		const struct target_thread *tt = th->tid ? target_thread_by_tid(t, th->tid) : NULL;

		if (!th->thread_id || (native && !tt))
			continue;
		want[nb] = tt ? tt->nstid : 0;
		if (target_read(t, th->thread_id, blocks[nb], PTHREAD_SCAN) == 0)
			nb++;
	}
	for (int off = 0; nb && off + 4 <= PTHREAD_SCAN; off += 4) {
		bool all = true;
		for (size_t i = 0; i < nb && all; i++) {
			int32_t v;
			memcpy(&v, blocks[i] + off, 4);
			all = native ? v == want[i] : known_tid(t, v);
		}
		if (all) {
			pi->tid_offset = off;
			return true;
		}
	}
	return false;
}

/* The tid glibc keeps in the struct pthread at 'pthread_id' (as the target sees it), or 0. */
static pid_t tid_in_pthread(struct pyinterp *pi, uint64_t pthread_id)
{
	int32_t v;

	if (pi->tid_offset < 0 || !pthread_id ||
	    target_read(pi->target, pthread_id + (uint64_t)pi->tid_offset, &v, sizeof(v)) != 0)
		return 0;
	return v;
}

/*
 * The host tid of thread 'nstid' (as the target sees it) if it is a thread
 * of the process, else 0.  Not traced, the process's list of threads may
 * be older than the thread: it is listed again, once per sample.
 */
static pid_t host_thread(struct pyinterp *pi, pid_t nstid)
{
	struct target *t = pi->target;
	pid_t tid;

	if (nstid <= 0)
		return 0;
	tid = target_host_tid(t, nstid);
	if (tid > 0 && target_thread_by_tid(t, tid))
		return tid;
	if (t->traced || pi->threads_listed == pi->sample_no)
		return 0;
	pi->threads_listed = pi->sample_no;
	if (target_refresh_threads(t) != 0)
		return 0;
	tid = target_host_tid(t, nstid);
	return tid > 0 && target_thread_by_tid(t, tid) ? tid : 0;
}

/* The thread whose pthread_t is 'pthread_id', or 0. */
static pid_t thread_of_pthread(struct pyinterp *pi, uint64_t pthread_id)
{
	struct target *t = pi->target;
	pid_t tid;

	if (!pthread_id)
		return 0;
	if ((tid = host_thread(pi, tid_in_pthread(pi, pthread_id))) != 0)
		return tid;
	for (size_t i = 0; i < t->nthreads; i++) {
		uint64_t tp;
		if (target_thread_pointer(t, t->threads[i].tid, &tp) == 0 && tp == pthread_id)
			return t->threads[i].tid;
	}
	return 0;
}

/*
 * Which OS thread a thread state is.  3.8+ records native_thread_id, and
 * every version thread_id, the pthread_t; neither is taken on trust:
 *  - a state made for a thread not started yet holds 0 (3.12+) or, up to
 *    3.11, the ids of the thread that created it, until the new thread
 *    binds it;
 *  - a process forked after the interpreter started, without
 *    PyOS_AfterFork_Child (uWSGI's workers), keeps its parent's
 *    native_thread_id in its main thread's state;
 *  - a state may outlive its thread.
 * So a tid counts only if it is a thread of the process; failing that,
 * the thread is the one whose pthread_t is thread_id: the tid in glibc's
 * struct pthread (before 3.8, once its offset is known), or its thread
 * pointer (read once while it is stopped).  States that still claim one
 * thread together are settled by settle_claims().
 */
static pid_t tstate_tid(struct pyinterp *pi, uint64_t native, uint64_t pthread_id)
{
	pid_t tid = native <= INT32_MAX ? host_thread(pi, (pid_t)native) : 0;

	return tid ? tid : thread_of_pthread(pi, pthread_id);
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
			l->tstate_native_thread_id,
			/* datastack_chunk, then datastack_top */
			(int16_t)(l->tstate_datastack_chunk >= 0 ? l->tstate_datastack_chunk + 8 : -1) };
	int16_t max = 0;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i] > max)
			max = f[i];
	return (size_t)max + 8;
}

struct py_claim {
	pid_t tid;
	uint32_t i;         /* index in py_sample.threads */
};

static int cmp_claim(const void *a, const void *b)
{
	const struct py_claim *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Several states claiming one thread: a state made for a thread not
 * started yet still holds its creator's ids (up to 3.11), or the thread
 * runs in several interpreters.  The states with frames keep it; of those
 * without, one keeps it if no state with frames claims it (the oldest:
 * each interpreter lists its newest state first); the others have no OS
 * thread.
 */
static void settle_claims(struct pyinterp *pi, struct py_sample *s)
{
	struct py_claim *c;
	size_t n = 0;

	if (s->nthreads < 2)
		return;
	if (!pi->claims && !(pi->claims = calloc(PY_MAX_THREADS, sizeof(*pi->claims))))
		return;
	c = pi->claims;
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid)
			c[n++] = (struct py_claim){ s->threads[i].tid, (uint32_t)i };
	qsort(c, n, sizeof(*c), cmp_claim);
	for (size_t a = 0, b; a < n; a = b) {
		bool frames = false, kept = false;

		for (b = a; b < n && c[b].tid == c[a].tid; b++)
			frames = frames || s->threads[c[b].i].nframes;
		if (b - a < 2)
			continue;
		for (size_t k = b; k-- > a;) {
			struct py_thread_sample *th = &s->threads[c[k].i];
			if (th->nframes)
				continue;
			if (frames || kept)
				th->tid = 0;
			kept = true;
		}
	}
}

/*
 * A process with one thread, which no state claims, and one state with a
 * pthread_t but no thread (its thread pointer cannot be read yet): the
 * state is that thread's.  (A child forked without PyOS_AfterFork_Child,
 * walked before any of its threads was stopped.)
 */
static void only_thread(struct pyinterp *pi, struct py_sample *s)
{
	struct target *t = pi->target;
	struct py_thread_sample *lone = NULL;

	if (t->nthreads != 1)
		return;
	for (size_t i = 0; i < s->nthreads; i++) {
		struct py_thread_sample *th = &s->threads[i];
		if (th->tid == t->threads[0].tid)
			return;
		if (!th->tid && th->thread_id) {
			if (lone)
				return;
			lone = th;
		}
	}
	if (lone)
		lone->tid = t->threads[0].tid;
}

/* Map each thread to its OS thread and its idle state. */
static void resolve_threads(struct pyinterp *pi, struct py_sample *s)
{
	bool native = pi->layout.tstate_native_thread_id >= 0, lost = false, found = false;

	for (size_t i = 0; i < s->nthreads; i++)
		lost = lost || (!s->threads[i].tid && s->threads[i].thread_id);
	if (lost && pi->tid_offset < 0)
		found = find_tid_offset(pi, s);
	/*
	 * Before 3.8 the walk looks for the thread only for idle detection;
	 * later it did all it could, unless the offset was found just now.
	 */
	for (size_t i = 0; lost && (!native || found) && i < s->nthreads; i++)
		if (!s->threads[i].tid)
			s->threads[i].tid = thread_of_pthread(pi, s->threads[i].thread_id);
	settle_claims(pi, s);
	only_thread(pi, s);
	for (size_t i = 0; i < s->nthreads; i++)
		s->threads[i].idle = thread_idle(pi->target, s->threads[i].tid);
	/* Remember which thread state is which thread, for the next stop. */
	if (!pi->tstate_tids)
		pi->tstate_tids = calloc(PY_MAX_THREADS, sizeof(*pi->tstate_tids));
	pi->ntstate_tids = 0;
	for (size_t i = 0; pi->tstate_tids && i < s->nthreads; i++) {
		pi->tstate_tids[i].tstate = s->threads[i].tstate;
		pi->tstate_tids[i].tid = s->threads[i].tid;
		pi->ntstate_tids++;
	}
}

pid_t pyinterp_tstate_tid(const struct pyinterp *pi, uint64_t tstate)
{
	for (size_t i = 0; i < pi->ntstate_tids; i++)
		if (pi->tstate_tids[i].tstate == tstate)
			return pi->tstate_tids[i].tid;
	return 0;
}

/* The reads that give the GIL's state; 0 of them when it is not known. */
static size_t gil_iovs(struct pyinterp *pi, struct gil_words *w)
{
	w->n = 0;
	if (!pi->gil_holder || pi->layout.free_threaded)
		return 0;
	if (pi->layout.family == PY_FAMILY_27) {
		/* _PyThreadState_Current: set while a thread holds the lock. */
		w->v[w->n++] = (struct target_iov){ pi->gil_holder, &w->holder, 8, 0 };
	} else if (pi->gil_locked == pi->gil_holder + 8 && pi->gil_switches == pi->gil_holder + 16) {
		/* 3.7+: one struct, one element. */
		w->v[w->n++] = (struct target_iov){ pi->gil_holder, w->buf, sizeof(w->buf), 0 };
	} else {
		/* 3.6: three static variables. */
		w->v[w->n++] = (struct target_iov){ pi->gil_holder, &w->holder, 8, 0 };
		w->v[w->n++] = (struct target_iov){ pi->gil_locked, &w->locked, 4, 0 };
		w->v[w->n++] = (struct target_iov){ pi->gil_switches, &w->switches, 8, 0 };
	}
	return w->n;
}

static int gil_parse(struct pyinterp *pi, struct gil_words *w, struct py_gil *g)
{
	memset(g, 0, sizeof(*g));
	if (!w->n)
		return 0;
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].rc)
			return w->v[i].rc;
	if (pi->layout.family == PY_FAMILY_27) {
		g->holder = w->holder;
		g->locked = g->holder != 0;
		g->no_switch_count = true;
	} else if (w->n == 1) {
		memcpy(&g->holder, w->buf, 8);
		memcpy(&g->locked, w->buf + 8, 4);
		memcpy(&g->switches, w->buf + 16, 8);
	} else {
		g->holder = w->holder;
		g->locked = w->locked;
		g->switches = w->switches;
	}
	g->known = true;
	return 0;
}

int pyinterp_gil(struct pyinterp *pi, struct py_gil *g)
{
	struct gil_words w;

	if (gil_iovs(pi, &w))
		target_readv(pi->target, w.v, w.n);
	return gil_parse(pi, &w, g);
}

int pyinterp_mark_gil(struct pyinterp *pi, struct py_sample *s, const struct py_gil *g)
{
	struct py_gil now;
	int rc;

	s->gil_known = false;
	if (!g) {
		if ((rc = pyinterp_gil(pi, &now)) != 0)
			return rc;
		g = &now;
	}
	if (!g->known)
		return 0;
	for (size_t i = 0; i < s->nthreads; i++)
		s->threads[i].holds_gil = g->locked == 1 &&
					  py_thread_has_tstate(&s->threads[i], g->holder);
	s->gil_known = true;
	return 0;
}

int pyinterp_gil_available(const struct pyinterp *pi)
{
	char ver[32];

	snprintf(ver, sizeof(ver), "%d.%d%s", pi->major, pi->minor,
		 pi->layout.free_threaded ? "t" : "");
	if (pi->layout.free_threaded)
		return perr_set(PERR_UNAVAILABLE, "--gil: python %s in pid %d is a free-threaded "
				"build: it has no GIL", ver, (int)pi->target->pid);
	if (!pi->gil_holder)
		return perr_set(PERR_UNAVAILABLE, "--gil: cannot find the GIL of python %s in "
				"pid %d (run with --verbose for how the interpreter was found)",
				ver, (int)pi->target->pid);
	return 0;
}

static int walk_threads(struct pyinterp *pi, uint64_t interp, uint64_t tstate,
			struct py_sample *s, bool main);

/* The interpreter's next and first thread state, in one read. */
static int read_interp(struct pyinterp *pi, uint64_t interp, uint64_t *next, uint64_t *tstate)
{
	const struct py_layout *l = &pi->layout;
	int lo = l->interp_next < l->interp_tstate_head ? l->interp_next : l->interp_tstate_head;
	int hi = l->interp_next > l->interp_tstate_head ? l->interp_next : l->interp_tstate_head;
	uint8_t buf[256];
	size_t len = (size_t)(hi - lo) + 8;
	int rc;

	if (lo < 0)
		return -PERR_VERSION;
	if (len > sizeof(buf)) {
		/* Far apart (3.13: ~7 KiB into the struct): two reads in one call. */
		struct target_iov v[2] = {
			{ interp + (uint64_t)l->interp_next, next, 8, 0 },
			{ interp + (uint64_t)l->interp_tstate_head, tstate, 8, 0 },
		};
		target_readv(pi->target, v, 2);
		return v[0].rc ? v[0].rc : v[1].rc;
	}
	if ((rc = target_read(pi->target, interp + (uint64_t)lo, buf, len)) != 0)
		return rc;
	memcpy(next, buf + (l->interp_next - lo), 8);
	memcpy(tstate, buf + (l->interp_tstate_head - lo), 8);
	return 0;
}

int py_walk_interp(struct pyinterp *pi, uint64_t interp, struct py_sample *s)
{
	uint64_t next, tstate;
	int rc = read_interp(pi, interp, &next, &tstate);

	return rc ? rc : walk_threads(pi, interp, tstate, s, true);
}

/* Whether thread state 'tstate' is already in this sample (a cycle). */
static bool in_list(const struct py_sample *s, uint64_t tstate)
{
	/* Thread lists are short: a cycle is found among the last few. */
	for (size_t i = s->nthreads, k = 0; i-- > 0 && k < PY_MAX_THREADS; k++)
		if (s->threads[i].tstate == tstate)
			return true;
	return false;
}

/* How many samples in a row just before this one could not read 'tstate'. */
static unsigned strikes(const struct pyinterp *pi, uint64_t tstate)
{
	for (size_t i = 0; i < PY_STRIKES; i++)
		if (pi->strikes[i].tstate == tstate && pi->strikes[i].sample + 1 == pi->sample_no)
			return pi->strikes[i].count;
	return 0;
}

/* This sample could not read 'tstate' either. */
static void strike(struct pyinterp *pi, uint64_t tstate)
{
	unsigned n = strikes(pi, tstate);
	size_t slot = PY_STRIKES;

	/* Its own entry, else one no longer current (not struck in this
	 * sample or the one before), else (more unreadable threads than
	 * entries) one taken at random: that thread starts counting again. */
	for (size_t i = 0; i < PY_STRIKES && slot == PY_STRIKES; i++)
		if (pi->strikes[i].tstate == tstate)
			slot = i;
	for (size_t i = 0; i < PY_STRIKES && slot == PY_STRIKES; i++)
		if (pi->strikes[i].sample + 1 < pi->sample_no || !pi->strikes[i].tstate)
			slot = i;
	if (slot == PY_STRIKES)
		slot = (size_t)((tstate >> 4) % PY_STRIKES);
	pi->strikes[slot].tstate = tstate;
	pi->strikes[slot].sample = pi->sample_no;
	pi->strikes[slot].count = n + 1;
}

/* A thread or interpreter list that cannot be followed: keep what was read. */
static int list_broken(struct pyinterp *pi, struct py_sample *s, int rc)
{
	if (fatal(rc))
		return rc;
	if (pi->degrade_ok)
		pi->degraded++;
	else
		s->dropped++;
	return 0;
}

/*
 * 'main': the main interpreter (the last listed).  3.11-3.12 thread
 * states of other interpreters may carry another thread's ids (see
 * merge_nested): their idle state is not known before the merge, so their
 * frames are read whatever the ids say.
 */
static int walk_threads(struct pyinterp *pi, uint64_t interp, uint64_t tstate,
			struct py_sample *s, bool main)
{
	const struct py_layout *l = &pi->layout;
	size_t span = tstate_span(l);
	uint8_t ts[4096];
	bool skip_idle = s->skip_idle && (main || l->family != PY_FAMILY_311);
	size_t visited = 0; /* thread states met, those left out included */
	int rc;

	if (span > sizeof(ts))
		return -PERR_VERSION;
	if ((rc = ensure_scratch(pi)) != 0)
		return rc;
	while (tstate) {
		struct py_thread_sample *th;
		uint64_t frame, next, native = 0, pthread_id = 0, back, cframe, was_degraded;
		size_t n, max;

		/*
		 * A thread state that cannot be read, or that is not of this
		 * interpreter, or a list longer than any process has (a cycle):
		 * the threads read so far are the sample's, the rest is lost.
		 */
		rc = 0;
		if (s->nthreads >= PY_MAX_THREADS || ++visited > PY_MAX_THREADS ||
		    in_list(s, tstate))
			rc = -PERR_TORN;
		else if ((rc = target_read(pi->target, tstate, ts, span)) == 0 &&
			 (field_u64(ts, span, l->tstate_next, &next) ||
			  field_u64(ts, span, l->tstate_interp, &back) ||
			  field_u64(ts, span, l->tstate_thread_id, &pthread_id) || back != interp))
			rc = -PERR_TORN;
		if (rc)
			return list_broken(pi, s, rc);
		if (l->tstate_native_thread_id >= 0)
			field_u64(ts, span, l->tstate_native_thread_id, &native);

		th = &s->threads[s->nthreads++];
		memset(th, 0, sizeof(*th));
		th->thread_id = pthread_id;
		th->tstate = tstate;
		th->interp = interp;
		th->first = s->nframes;
		/* Not running, tstate->cframe is its own root_cframe. */
		if (l->family == PY_FAMILY_311 && !field_u64(ts, span, l->tstate_cframe, &cframe) &&
		    (cframe < tstate || cframe - tstate >= TSTATE_MAX_BYTES))
			th->cstack = cframe;
		if (l->tstate_native_thread_id >= 0 || skip_idle)
			th->tid = tstate_tid(pi, native, pthread_id);
		tstate = next;
		/* Idle before the sample: its frames would only be dropped. */
		if (skip_idle && thread_idle(pi->target, th->tid)) {
			th->idle = true;
			continue;
		}
		n = 0;
		/* Degraded only once it is sure that it is not a passing state. */
		pi->degrade = pi->degrade_ok && strikes(pi, th->tstate) + 1 >= pi->degrade_after;
		was_degraded = pi->degraded;
		/* Every thread as deep as can be: the sample's bound cuts them. */
		max = s->nframes < PY_MAX_SAMPLE_FRAMES ? PY_MAX_SAMPLE_FRAMES - s->nframes : 0;
		if (max > PY_MAX_DEPTH)
			max = PY_MAX_DEPTH;
		if ((rc = first_frame(pi, ts, span, &frame)) != 0) {
			th->broken = true;
			rc = degraded(pi, rc);
		} else if (l->family >= PY_FAMILY_311) {
			snapshot_chunks(pi, ts, span);
			rc = chain_interpreter_frames(pi, frame, &n, max, th);
		} else {
			rc = chain_frame_objects(pi, frame, &n, max, th);
		}
		if (rc == 0)
			rc = resolve_frames(pi, n, s, th);
		if (rc && fatal(rc))
			return rc;
		if (rc) {
			/* What it showed cannot be trusted: leave it out. */
			if (pi->degrade_ok)
				strike(pi, th->tstate);
			s->nframes = th->first;
			s->nthreads--;
			s->dropped++;
			continue;
		}
		th->nframes = s->nframes - th->first;
		/* Still unreadable: it stays known as such for the next sample. */
		if (pi->degraded != was_degraded)
			strike(pi, th->tstate);
	}
	pi->degrade = false;
	return 0;
}

/*
 * A thread that runs a subinterpreter (concurrent.interpreters' exec,
 * 3.13's _interpreters.exec, 3.12's _xxsubinterpreters.run_string) has a
 * thread state in the interpreter that called exec and one in the
 * subinterpreter: the inner one runs, the outer one waits in the exec
 * call.  They are one thread, whose stack is the outer frames, then the
 * inner ones, listed once under the outer thread state's ids.
 *
 * Which thread states are one thread:
 * - 3.13+: the exec makes a thread state bound to the calling thread, so
 *   the same tid, and the same pthread_t when both are known (a pthread_t
 *   is reused as soon as its thread ends, a tid much later: a thread
 *   state left by an ended thread must not join a new one).  The outer is
 *   the older: interpreters are listed newest first, and so are the
 *   thread states of each (both are pushed on the head of their list),
 *   so the walk meets the outermost last.
 * - 3.11, 3.12: run_string reuses the subinterpreter's first thread
 *   state, bound to the thread that created the interpreter, whatever
 *   thread runs it: its ids lie.  But tstate->cframe is the newest eval
 *   call's, on the C stack of the thread that runs it, and that stack
 *   tells the thread: the C library puts a thread's descriptor, its
 *   pthread_t, at the top of the thread's stack (glibc, musl), which
 *   grows down from there, so the thread is the one whose pthread_t is
 *   the nearest above the cframe (none above: the main thread, whose
 *   stack is the highest mapping).  Two thread states of different
 *   interpreters on one stack are one thread, the outer one's eval call
 *   above the inner one's.  A thread state not running (cframe inside
 *   itself) goes by its ids, and adds no frames.
 * Older versions are left as they are.
 */
#define MAIN_STACK UINT64_MAX

static bool same_os_thread(const struct py_thread_sample *a, const struct py_thread_sample *b)
{
	if (a->tid && b->tid)
		return a->tid == b->tid &&
		       (!a->thread_id || !b->thread_id || a->thread_id == b->thread_id);
	return a->thread_id && a->thread_id == b->thread_id;
}

/* Whose stack the cframe at 'c' is on: a pthread_t, or MAIN_STACK. */
static uint64_t stack_owner(const struct py_sample *s, uint64_t c)
{
	uint64_t best = MAIN_STACK;

	for (size_t j = 0; j < s->nthreads; j++) {
		uint64_t p = s->threads[j].thread_id;
		if (p > c && p < best)
			best = p;
	}
	return best;
}

/* The thread state i runs inside of (its outer), or -1; owner[]: stack_owner(). */
static long outer_of(const struct py_sample *s, const uint64_t *owner, size_t i)
{
	const struct py_thread_sample *th = &s->threads[i];
	long best = -1;

	if (th->cstack) {
		for (size_t j = 0; j < s->nthreads; j++) {
			const struct py_thread_sample *o = &s->threads[j];
			if (!o->cstack || owner[j] != owner[i] || o->interp == th->interp ||
			    o->cstack <= th->cstack)
				continue;
			if (best < 0 || o->cstack < s->threads[best].cstack)
				best = (long)j;
		}
		return best;
	}
	for (size_t j = i + 1; j < s->nthreads; j++)
		if (s->threads[j].interp != th->interp && same_os_thread(th, &s->threads[j]))
			return (long)j;
	return -1;
}

/* Append th's frames to s, leaving out the first *skip (the root side). */
static int append_frames(struct py_sample *s, const struct py_thread_sample *th, size_t *skip)
{
	for (size_t i = 0; i < th->nframes; i++) {
		size_t k = th->first + i;
		struct py_frame_src src = { 0, 0 };
		int rc;

		if (*skip) {
			(*skip)--;
			continue;
		}
		if (s->keep_sources && s->src)
			src = s->src[k];
		if ((rc = push_frame(s, s->frames[k].func, s->frames[k].line, src.frame,
				     src.code)) != 0)
			return rc;
	}
	return 0;
}

/* Thread state -> tid, as merging found it. */
static void note_tid(struct pyinterp *pi, uint64_t tstate, pid_t tid)
{
	for (size_t i = 0; i < pi->ntstate_tids; i++)
		if (pi->tstate_tids[i].tstate == tstate)
			pi->tstate_tids[i].tid = tid;
}

/* Stack the members of group 'g' (outer first) into one thread, g[0]. */
static int merge_group(struct pyinterp *pi, struct py_sample *s, const size_t *g, size_t ng)
{
	struct py_thread_sample *th = &s->threads[g[0]];
	size_t total = 0, first = s->nframes, skip;
	int rc;

	for (size_t k = 0; k < ng; k++)
		total += s->threads[g[k]].nframes;
	/* Too deep: cut at the root, as one thread state's stack is. */
	skip = total > PY_MAX_DEPTH ? total - PY_MAX_DEPTH : 0;
	th->truncated = th->truncated || skip;
	for (size_t k = 0; k < ng; k++) {
		const struct py_thread_sample *in = &s->threads[g[k]];

		if ((rc = append_frames(s, in, &skip)) != 0)
			return rc;
		th->truncated = th->truncated || in->truncated;
		if (k && (in->nframes || !th->inner_tstate)) {
			th->inner_tstate = in->tstate;
			th->interp_id = in->interp_id;
			th->main_interp = in->main_interp;
		}
		if (!th->tid)
			th->tid = in->tid;
		if (!th->thread_id)
			th->thread_id = in->thread_id;
	}
	for (size_t k = 1; k < ng; k++)
		note_tid(pi, s->threads[g[k]].tstate, th->tid);
	th->first = first;
	th->nframes = s->nframes - first;
	/* The outer thread state's ids are the thread's (an inner's may lie). */
	th->idle = thread_idle(pi->target, th->tid);
	return 0;
}

int py_merge_nested(struct pyinterp *pi, struct py_sample *s)
{
	static long outer[PY_MAX_THREADS];
	static size_t depth[PY_MAX_THREADS], root[PY_MAX_THREADS], g[PY_MAX_THREADS];
	static uint64_t owner[PY_MAX_THREADS];
	size_t kept = 0;
	int rc;

	for (size_t i = 0; i < s->nthreads; i++)
		owner[i] = s->threads[i].cstack ? stack_owner(s, s->threads[i].cstack) : 0;
	for (size_t i = 0; i < s->nthreads; i++)
		outer[i] = outer_of(s, owner, i);
	for (size_t i = 0; i < s->nthreads; i++) {
		size_t r = i, d = 0;
		/* Links go to a higher cframe or a later thread state: no cycle. */
		while (outer[r] >= 0 && d < s->nthreads) {
			r = (size_t)outer[r];
			d++;
		}
		root[i] = r;
		depth[i] = d;
	}
	for (size_t r = 0; r < s->nthreads; r++) {
		size_t ng = 0, nmem = 0;

		for (size_t i = 0; outer[r] < 0 && i < s->nthreads; i++)
			nmem += root[i] == r;
		if (nmem < 2)
			continue;
		/* Outer to inner: by depth, then as the walk met them, last first. */
		for (size_t d = 0; d < s->nthreads; d++) {
			size_t before = ng;
			for (size_t i = s->nthreads; i-- > 0;)
				if (root[i] == r && depth[i] == d)
					g[ng++] = i;
			if (ng == before)
				break;
		}
		if (ng > 1 && (rc = merge_group(pi, s, g, ng)) != 0)
			return rc;
	}
	for (size_t i = 0; i < s->nthreads; i++)
		if (outer[i] < 0)
			s->threads[kept++] = s->threads[i];
	s->nthreads = kept;
	return 0;
}

bool py_thread_has_tstate(const struct py_thread_sample *th, uint64_t tstate)
{
	return tstate && (th->tstate == tstate || th->inner_tstate == tstate);
}

/* The interpreter's id (3.7+), -1 when the version has none or it cannot be read. */
static int64_t interp_id(struct pyinterp *pi, uint64_t interp)
{
	int64_t id;

	if (pi->layout.interp_id < 0 ||
	    target_read(pi->target, interp + (uint64_t)pi->layout.interp_id, &id, sizeof(id)) != 0 ||
	    id < 0)
		return -1;
	return id;
}

static int walk_all(struct pyinterp *pi, struct py_sample *s)
{
	static uint64_t interps[MAX_INTERPRETERS];
	uint64_t interp;
	int rc;

	if ((rc = target_read_ptr(pi->target, pi->interp_head_addr, &interp)) != 0)
		return rc;
	pi->ninterps = 0;
	for (int ni = 0; interp && ni < MAX_INTERPRETERS; ni++) {
		uint64_t next, tstate;
		size_t first = s->nthreads;
		int64_t id;

		/* An interpreter that cannot be read ends the list there. */
		if ((rc = read_interp(pi, interp, &next, &tstate)) != 0) {
			if ((rc = list_broken(pi, s, rc)) != 0)
				return rc;
			break;
		}
		if ((rc = walk_threads(pi, interp, tstate, s, next == 0)) != 0)
			return rc;
		id = interp_id(pi, interp);
		for (size_t i = first; i < s->nthreads; i++) {
			s->threads[i].interp_id = id;
			s->threads[i].main_interp = next == 0;
		}
		interps[pi->ninterps++] = interp;
		if (next == interp)
			break; /* a cycle of one; longer ones stop at MAX_INTERPRETERS */
		interp = next;
	}
	resolve_threads(pi, s);
	if (pi->ninterps > 1 && pi->layout.family >= PY_FAMILY_311 &&
	    (rc = py_merge_nested(pi, s)) != 0)
		return rc;
	py_gc_mark(pi, s, interps, pi->ninterps);
	return 0;
}

static int sample(struct pyinterp *pi, struct py_sample *s, struct py_gil *before,
		  struct py_gil *after)
{
	struct gil_words w1, w2;
	uint64_t reads;
	int rc, rc1 = 0, rc2 = 0;

	s->nthreads = 0;
	s->nframes = 0;
	s->dropped = 0;
	s->gil_known = false;
	pi->sample_no++;
	/* --async finds a task's frames by their addresses. */
	if (pi->async && !s->keep_sources) {
		s->keep_sources = true;
		s->cap_frames = 0;
	}
	if (!before || !gil_iovs(pi, &w1) || !gil_iovs(pi, &w2))
		w1.n = w2.n = 0;
	pi->gil_tail = w2.n ? &w2 : NULL;
	pi->gil_tail_at = 0;
	/*
	 * What the last sample read, in one system call (between two reads
	 * of the GIL when asked); then note what this one reads.
	 */
	target_snap_prefetch(pi->target, w1.v, w1.n, w2.v, w2.n);
	reads = pi->target->reads;
	target_memo_begin(pi->target);
	rc = walk_all(pi, s);
	if (rc == 0 && pi->async)
		rc = py_async_sample(pi, s);
	target_memo_end(pi->target);
	pi->gil_tail = NULL;
	if (!before)
		return rc;
	rc1 = gil_parse(pi, &w1, before);
	/* Unless the GIL was read after the walk's last read, read it again. */
	if (pi->target->reads == reads || pi->target->reads == pi->gil_tail_at)
		rc2 = gil_parse(pi, &w2, after);
	else
		rc2 = pyinterp_gil(pi, after);
	pi->last_holder = rc2 == 0 && after->known ? after->holder : 0;
	return rc ? rc : rc1 ? rc1 : rc2;
}

int pyinterp_sample(struct pyinterp *pi, struct py_sample *s)
{
	return sample(pi, s, NULL, NULL);
}

int pyinterp_sample_gil(struct pyinterp *pi, struct py_sample *s, struct py_gil *before,
			struct py_gil *after)
{
	return sample(pi, s, before, after);
}

void py_sample_free(struct py_sample *s)
{
	free(s->frames);
	free(s->src);
	s->src = NULL;
	s->frames = NULL;
	s->nframes = s->cap_frames = 0;
}
