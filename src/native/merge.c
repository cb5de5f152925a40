/*
 * merge.c - C frames and Python frames into one stack (pure functions).
 *
 * Every Python frame runs inside a call of the interpreter's eval loop,
 * so the C stack shows where the Python frames go: each eval call is
 * replaced by the Python frames it runs.
 *
 *   up to 3.10   one eval call per Python frame
 *   3.11+        a Python-to-Python call stays in the same eval call, so
 *                one eval call runs a run of frames that ends (going
 *                outwards) at the frame the call was entered with: 3.11
 *                marks it is_entry, 3.12+ links it to a shim frame the
 *                eval loop keeps on its C stack
 *
 * The caller says which Python frames are such entry frames (up to 3.10:
 * all of them), so the rules here are the same for every version.
 */
#include "pyspy/native.h"

#include <stdlib.h>
#include <string.h>

/* Does frame i start a new eval call?  (Not the head of a .part piece.) */
static bool starts_call(const struct native_frame *c, size_t i)
{
	if (!(c[i].flags & NATIVE_EVAL))
		return false;
	/*
	 * GCC's partial inlining splits a function into a head and a
	 * "name.part.N" body the head calls: the head's frame, just outside
	 * the body's, is the same eval call.
	 */
	if (i > 0 && (c[i - 1].flags & (NATIVE_EVAL | NATIVE_EVAL_SPLIT)) ==
			     (NATIVE_EVAL | NATIVE_EVAL_SPLIT) &&
	    !(c[i].flags & NATIVE_EVAL_SPLIT))
		return false;
	return true;
}

static bool is_eval_head(const struct native_frame *c, size_t i)
{
	return (c[i].flags & NATIVE_EVAL) && !starts_call(c, i);
}

static int push(struct native_item *out, size_t cap, size_t *n, uint32_t kind, size_t index)
{
	if (*n >= cap)
		return -1;
	out[*n].kind = kind;
	out[*n].index = (uint32_t)index;
	(*n)++;
	return 0;
}

int native_merge(const struct native_frame *c, size_t nc, bool c_complete,
		 const uint8_t *entry, size_t npy, unsigned flags,
		 struct native_item *out, size_t cap, size_t *nout)
{
	bool show = flags & NATIVE_MERGE_SHOW_INTERNAL;
	size_t left = npy;      /* Python frames not yet placed: [0, left) */
	size_t calls = 0;       /* eval calls on the C stack */
	size_t runs = 0;        /* runs of Python frames, one per eval call */
	size_t outermost = 0;   /* index of the outermost eval call + 1, 0 if none */
	bool skip_first = false;
	size_t n = 0;
	int rc = NATIVE_MERGED;

	*nout = 0;
	if ((nc && !c) || (npy && !entry) || (cap && !out) || npy > UINT32_MAX ||
	    nc > UINT32_MAX)
		return NATIVE_ERR_INPUT;
	for (size_t i = 0; i < nc; i++) {
		if (starts_call(c, i)) {
			calls++;
			outermost = i + 1;
		}
	}
	/* The root frame ends the outermost run whatever its flag says. */
	for (size_t i = 0; i < npy; i++)
		runs += i == 0 || entry[i];

	if (calls == runs + 1) {
		/*
		 * One eval call too many: the innermost one is entering or
		 * leaving its first frame (the interpreter links the frame in
		 * and out inside the call), so it has nothing to show yet.
		 */
		skip_first = true;
	} else if (calls > runs) {
		return NATIVE_ERR_MORE_EVAL;
	} else if (calls < runs) {
		/*
		 * Python frames without an eval call.  If the unwind was cut
		 * short after eval calls were found, the frames left over are
		 * the root part of a stack that did merge; otherwise the two
		 * stacks disagree.
		 */
		if (c_complete || calls == 0)
			return NATIVE_ERR_FEWER_EVAL;
		rc = NATIVE_MERGED_PARTIAL;
	}

	/*
	 * Start-up code (_start, start_thread, clone) at the root is hidden:
	 * what is outside the outermost eval call or, in a thread that runs
	 * no Python, outside its outermost frame that is not start-up code.
	 * A thread that is all start-up code (not started yet) shows it.
	 */
	if (!outermost) {
		for (size_t i = nc; i-- > 0;)
			if (!(c[i].flags & NATIVE_SYSTEM)) {
				outermost = i + 1;
				break;
			}
		if (!outermost)
			outermost = nc;
	}

	/* Built innermost first, reversed at the end. */
	for (size_t i = 0; i < nc; i++) {
		uint16_t f = c[i].flags;
		bool root = i >= outermost;

		if (starts_call(c, i)) {
			if (skip_first) {
				skip_first = false;
				continue;
			}
			if (left == 0)
				return NATIVE_ERR_MORE_EVAL; /* not reached: counted above */
			do {
				left--;
				if (push(out, cap, &n, NATIVE_ITEM_PY, left))
					return NATIVE_ERR_NO_ROOM;
			} while (left > 0 && !entry[left]);
			continue;
		}
		if (is_eval_head(c, i))
			continue;
		if (!show && (f & (NATIVE_INTERP | NATIVE_EVAL_PART)))
			continue;
		if (!show && root && (f & NATIVE_SYSTEM))
			continue;
		if (push(out, cap, &n, NATIVE_ITEM_C, i))
			return NATIVE_ERR_NO_ROOM;
	}
	while (left > 0)
		if (push(out, cap, &n, NATIVE_ITEM_PY, --left))
			return NATIVE_ERR_NO_ROOM;

	for (size_t i = 0; i < n / 2; i++) {
		struct native_item t = out[i];
		out[i] = out[n - 1 - i];
		out[n - 1 - i] = t;
	}
	*nout = n;
	return rc;
}

const char *native_merge_strerror(int rc)
{
	switch (rc) {
	case NATIVE_MERGED:
		return "merged";
	case NATIVE_MERGED_PARTIAL:
		return "merged, C stack cut short";
	case NATIVE_ERR_MORE_EVAL:
		return "more eval calls than Python frames";
	case NATIVE_ERR_FEWER_EVAL:
		return "Python frames without an eval call";
	case NATIVE_ERR_NO_ROOM:
		return "merged stack too deep";
	case NATIVE_ERR_INPUT:
		return "invalid input";
	case NATIVE_ERR_NO_STACK:
		return "no C stack for the thread";
	}
	return "unknown merge result";
}

/* Exact match of 'base' with the part of 'name' before its first '.'. */
static bool base_is(const char *name, size_t baselen, const char *base)
{
	return strlen(base) == baselen && memcmp(name, base, baselen) == 0;
}

unsigned native_classify_name(const char *name, int py_major)
{
	static const char *const startup[] = {
		"_start", "__libc_start_main", "__libc_start_call_main", "__libc_start_main_impl",
		"start_thread", "clone", "clone3", "__clone", "__clone3", "__clone_internal",
		"__GI___clone", "__GI___clone3", "__GI___clone_internal",
	};
	size_t baselen;
	const char *suffix;

	if (!name || !*name)
		return 0;
	/*
	 * Compilers name the pieces of a function "name.cold", "name.part.0",
	 * "name.constprop.0", "name.isra.0", "name.lto_priv.0", "name.llvm.123":
	 * all are the function itself.
	 */
	suffix = strchr(name, '.');
	baselen = suffix ? (size_t)(suffix - name) : strlen(name);

	if (base_is(name, baselen, "_PyEval_EvalFrameDefault") ||
	    (py_major == 2 && base_is(name, baselen, "PyEval_EvalFrameEx")))
		return NATIVE_EVAL | (suffix && strstr(suffix, ".part.") ? NATIVE_EVAL_SPLIT : 0);
	/*
	 * 3.14 tail-calling builds (Py_TAIL_CALL_INTERP): every instruction
	 * and label is a function _TAIL_CALL_<NAME> (Python/ceval_macros.h
	 * TARGET()); they tail-call one another, and the first is called by
	 * _PyEval_EvalFrameDefault, so they sit just inside it.
	 */
	if (strncmp(name, "_TAIL_CALL_", 11) == 0 ||
	    base_is(name, baselen, "PyEval_EvalFrameEx") ||
	    base_is(name, baselen, "PyEval_EvalFrame") ||
	    base_is(name, baselen, "_PyEval_EvalFrame"))
		return NATIVE_EVAL_PART;
	for (size_t i = 0; i < sizeof(startup) / sizeof(startup[0]); i++)
		if (base_is(name, baselen, startup[i]))
			return NATIVE_SYSTEM;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The outermost frame's extent is unknown: assume at most this much. */
#define LAST_FRAME_BYTES (64u << 10)

size_t native_mark_anchors(struct native_frame *c, size_t nc, const uint64_t *anchors,
			   size_t na)
{
	uint64_t sorted[NATIVE_MAX_FRAMES];
	size_t marked = 0;

	if (!c || !anchors)
		return 0;
	/* One eval call takes at least one C frame: more anchors cannot all match. */
	if (na > NATIVE_MAX_FRAMES)
		na = NATIVE_MAX_FRAMES;
	memcpy(sorted, anchors, na * sizeof(*sorted));
	qsort(sorted, na, sizeof(*sorted), cmp_u64);
	for (size_t i = 0; i < nc; i++) {
		uint64_t lo = c[i].sp, hi;
		size_t a = 0, b = na;

		if (i + 1 < nc)
			hi = c[i + 1].sp;
		else
			hi = lo + LAST_FRAME_BYTES < lo ? UINT64_MAX : lo + LAST_FRAME_BYTES;
		if (hi <= lo)
			continue;
		/* first anchor >= lo */
		while (a < b) {
			size_t mid = a + (b - a) / 2;
			if (sorted[mid] < lo)
				a = mid + 1;
			else
				b = mid;
		}
		if (a < na && sorted[a] < hi) {
			if (!(c[i].flags & NATIVE_EVAL))
				marked++;
			c[i].flags |= NATIVE_EVAL;
		}
	}
	return marked;
}
