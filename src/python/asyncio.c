/*
 * asyncio.c - asyncio tasks read out of the target (--async).
 *
 * A task is a C _asyncio.Task object (TaskObj, Modules/_asynciomodule.c):
 * its name (a str, or an int n for "Task-n" until someone asks), its
 * coroutine, its state, and what it waits for.  Its await chain starts at
 * its coroutine; a coroutine suspended in an await keeps what it awaits
 * on top of its frame's value stack (genobject.c, _PyGen_yf): while that
 * is a coroutine of the same type, the chain goes on.
 *
 * Where the tasks are:
 *   3.14+    the _asyncio module links every pending task into a list in
 *            its thread's state (_PyThreadStateImpl.asyncio_tasks_head;
 *            the interpreter's for threads that ended), keeps each
 *            thread's running task there (asyncio_running_task), and
 *            records who awaits a task (task_awaited_by: one future, or a
 *            set).  Its AsyncioDebug ELF section publishes the offsets,
 *            the generator and set ones are in _Py_DebugOffsets.
 *   3.8-3.13 asyncio.tasks' registries, which are the C module's own
 *            objects: _scheduled_tasks (3.12+; before, _all_tasks: a
 *            WeakSet), _eager_tasks (3.12+, a set), _current_tasks (loop
 *            -> running task).  Who awaits whom: a
 *            task whose _fut_waiter is a task, or a gather's future (its
 *            _children), or that sits in a TaskGroup's __aexit__ (the
 *            group's _tasks).  Offsets from the DWARF of those versions'
 *            _asyncio modules and libpython (gdb: ptype /o TaskObj,
 *            PyCoroObject, _PyInterpreterFrame, PyFrameObject).  Up to
 *            3.10 a coroutine's frame is a PyFrameObject of its own
 *            (cr_frame), from 3.11 it lives inside the coroutine.
 * Every list, set and chain is bounded; what cannot be read is counted,
 * or cuts the chain, never more.
 *
 * record --async: the running task's frames are found on its thread's
 * stack by the address of its coroutine's frame, and the event loop's
 * frames below it are replaced by one 'task "NAME"' frame.
 */
#include "pyspy/pyasync.h"
#include "pyspy/elfsym.h"
#include "pyspy/error.h"
#include "python_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK_MAX_BYTES 512
#define GEN_MAX_BYTES 1024
#define MAX_SET_SLOTS (1u << 20) /* a set of PY_MAX_TASKS tasks has up to 2^18 */
#define SET_CHUNK 512
#define MAX_LIST_ITEMS PY_MAX_TASKS
#define RETRY_SAMPLES 200      /* look again for asyncio after so many samples */

struct py_async {
	bool ready;             /* offsets known */
	bool tried;
	uint64_t retry_at;      /* sample_no */
	bool section;           /* 3.14+: from AsyncioDebug */
	/* TaskObj */
	int task_size, task_name, task_coro, task_state, task_fut_waiter;
	int task_awaited_by, task_is_task, task_awaited_by_is_set, task_node;
	/* coroutine objects and their frames */
	bool frame_objects;     /* <= 3.10: cr_frame is a PyFrameObject */
	int gen_frame_state, gen_iframe;
	int f_valuestack, f_stacktop, f_stackdepth, f_state; /* <= 3.10 */
	int8_t live_max;        /* frame states up to this have a frame */
	int8_t susp_lo, susp_hi; /* suspended (in an await) */
	int frame_stacktop;     /* 3.12, 3.13: int, slots above localsplus */
	int frame_stackpointer; /* 3.14+: _PyStackRef * */
	int await_slot;         /* what is awaited: stack top minus this - 1 */
	/* sets */
	int set_used, set_mask, set_table;
	/* 3.14+ */
	int ts_running_task, ts_tasks_head, interp_tasks_head;
	/* 3.12, 3.13: the registries, found once */
	uint64_t current_tasks;
	uint64_t lookup_at;     /* sample_no to look it up again */
#define TASK_TYPES 8
	uint64_t task_types[TASK_TYPES]; /* _asyncio.Task and subclasses, once met */
	size_t ntask_types;
};

/* ---- small readers ---------------------------------------------------- */

static uint64_t tag_mask(const struct pyinterp *pi)
{
	return ~(uint64_t)pi->layout.stackref_tag_bits;
}

static int rd_u64(const uint8_t *b, size_t len, int off, uint64_t *v)
{
	return field_u64(b, len, off, v) ? -PERR_TORN : 0;
}

/* PyTypeObject.tp_base of 3.8-3.13 (x86-64; DWARF), to tell Task subclasses */
#define TYPE_TP_BASE 256
#define MAX_BASES 8

/* Whether obj is a C task: an _asyncio.Task, or of a subclass of it. */
static bool is_task(struct pyinterp *pi, uint64_t obj)
{
	struct py_async *a = pi->async_state;
	const struct py_layout *l = &pi->layout;
	uint64_t type, t, name;
	char text[16];

	if (!obj || target_read_ptr(pi->target, obj + (uint64_t)l->object_type, &type))
		return false;
	for (size_t i = 0; i < a->ntask_types; i++)
		if (a->task_types[i] == type)
			return true;
	t = type;
	for (int depth = 0; t && depth < MAX_BASES; depth++) {
		memset(text, 0, sizeof(text));
		if (target_read_ptr(pi->target, t + (uint64_t)l->type_name, &name) != 0 ||
		    target_read(pi->target, name, text, sizeof(text) - 1) != 0)
			return false;
		if (strcmp(text, "_asyncio.Task") == 0) {
			if (a->ntask_types < TASK_TYPES)
				a->task_types[a->ntask_types++] = type;
			return true;
		}
		if (target_read_ptr(pi->target, t + TYPE_TP_BASE, &t) != 0)
			return false;
	}
	return false;
}

/* fn(ctx, key) for each key of a set, until fn returns non-zero. */
static int set_each(struct pyinterp *pi, uint64_t set, int (*fn)(void *ctx, uint64_t key),
		    void *ctx)
{
	struct py_async *a = pi->async_state;
	static uint64_t ent[2 * SET_CHUNK];
	uint8_t hdr[64];
	uint64_t used, mask, table;
	int rc;

	if (a->set_table + 8 > (int)sizeof(hdr) || a->set_used + 8 > (int)sizeof(hdr) ||
	    a->set_mask + 8 > (int)sizeof(hdr))
		return -PERR_VERSION;
	if ((rc = target_read(pi->target, set, hdr, sizeof(hdr))) != 0)
		return rc;
	memcpy(&used, hdr + a->set_used, 8);
	memcpy(&mask, hdr + a->set_mask, 8);
	memcpy(&table, hdr + a->set_table, 8);
	if (mask >= MAX_SET_SLOTS || used > mask + 1 || !table)
		return -PERR_TORN;
	for (uint64_t i = 0; i <= mask; i += SET_CHUNK) {
		uint64_t n = mask + 1 - i < SET_CHUNK ? mask + 1 - i : SET_CHUNK;
		if ((rc = target_read(pi->target, table + i * 16, ent, n * 16)) != 0)
			return rc;
		for (uint64_t k = 0; k < n; k++) {
			/* free slots have no key, dummies hash -1 */
			if (!ent[2 * k] || ent[2 * k + 1] == UINT64_MAX)
				continue;
			if ((rc = fn(ctx, ent[2 * k])) != 0)
				return rc < 0 ? rc : 0;
		}
	}
	return 0;
}

/* ---- the offsets -------------------------------------------------------- */

/* 3.14+: the AsyncioDebug section of the _asyncio module (or the binary, 3.15). */
static int find_section(struct pyinterp *pi, uint64_t w[13])
{
	struct target *t = pi->target;
	int rc = -PERR_NOTPY;

	target_load_maps(t);
	for (size_t i = 0; i < t->nmaps && rc; i++) {
		const struct target_map *m = &t->maps[i];
		const char *base;
		struct elf_syms *e;
		uint64_t addr, size = 0, bias;
		bool dup = false;
		int fd;

		if (!m->path || m->offset != 0)
			continue;
		base = strrchr(m->path, '/');
		base = base ? base + 1 : m->path;
		if (strncmp(base, "_asyncio", 8) != 0 && strcmp(m->path, pi->module) != 0 &&
		    strcmp(m->path, t->exe) != 0)
			continue;
		for (size_t j = 0; j < i && !dup; j++)
			dup = t->maps[j].path && t->maps[j].offset == 0 &&
			      strcmp(t->maps[j].path, m->path) == 0;
		if (dup || (fd = target_open_mapped(t, m)) < 0)
			continue;
		e = elfsym_open(fd);
		close(fd);
		if (!e)
			continue;
		addr = elfsym_section(e, ".AsyncioDebug", &size);
		bias = py_load_bias(t, m->path, e);
		elfsym_close(e);
		if (!addr || size < 13 * 8)
			continue;
		rc = target_read(t, addr + bias, w, 13 * 8);
	}
	return rc;
}

static bool inside(uint64_t off, uint64_t width, uint64_t size)
{
	return size <= (1u << 20) && off + width <= size;
}

static int setup_section(struct pyinterp *pi, struct py_async *a)
{
	uint8_t dbg[PY_DEBUG_OFFSETS_MAX];
	uint64_t w[13], gi_iframe, gi_state, sp, used, mask, table;
	int rc;

	/* task: size name awaited_by is_task awaited_by_is_set coro node;
	 * interpreter: size tasks_head; thread: size running_loop running_task tasks_head */
	if ((rc = find_section(pi, w)) != 0)
		return rc;
	if (w[0] > TASK_MAX_BYTES || !inside(w[1], 8, w[0]) || !inside(w[2], 8, w[0]) ||
	    !inside(w[3], 1, w[0]) || !inside(w[4], 1, w[0]) || !inside(w[5], 8, w[0]) ||
	    !inside(w[6], 16, w[0]) || !inside(w[8], 16, w[7]) || !inside(w[10], 8, w[9]) ||
	    !inside(w[11], 8, w[9]) || !inside(w[12], 16, w[9]))
		return perr_set(PERR_VERSION, "--async: corrupt AsyncioDebug offsets in pid %d",
				(int)pi->target->pid);
	if ((rc = target_read(pi->target, pi->runtime, dbg, sizeof(dbg))) != 0)
		return rc;
	if (py_debug_offsets_word(dbg, sizeof(dbg), "gen_object.gi_iframe", &gi_iframe) ||
	    py_debug_offsets_word(dbg, sizeof(dbg), "gen_object.gi_frame_state", &gi_state) ||
	    py_debug_offsets_word(dbg, sizeof(dbg), "interpreter_frame.stackpointer", &sp) ||
	    py_debug_offsets_word(dbg, sizeof(dbg), "set_object.used", &used) ||
	    py_debug_offsets_word(dbg, sizeof(dbg), "set_object.mask", &mask) ||
	    py_debug_offsets_word(dbg, sizeof(dbg), "set_object.table", &table) ||
	    gi_iframe > 512 || gi_state > 512 || sp + 8 > (uint64_t)pi->layout.iframe_size ||
	    used > 56 || mask > 56 || table > 56)
		return perr_set(PERR_VERSION, "--async: _Py_DebugOffsets of pid %d lack the "
				"coroutine offsets", (int)pi->target->pid);
	a->section = true;
	a->task_size = (int)w[0];
	a->task_name = (int)w[1];
	a->task_awaited_by = (int)w[2];
	a->task_is_task = (int)w[3];
	a->task_awaited_by_is_set = (int)w[4];
	a->task_coro = (int)w[5];
	a->task_node = (int)w[6];
	a->interp_tasks_head = (int)w[8];
	a->ts_running_task = (int)w[11];
	a->ts_tasks_head = (int)w[12];
	/* FutureObj_HEAD: ..., awaited_by, fut_state state, char is_task, ... */
	a->task_state = w[3] == w[2] + 12 ? (int)w[3] - 4 : -1;
	a->task_fut_waiter = -1;
	a->gen_iframe = (int)gi_iframe;
	a->gen_frame_state = (int)gi_state;
	a->frame_stacktop = -1;
	a->frame_stackpointer = (int)sp;
	a->set_used = (int)used;
	a->set_mask = (int)mask;
	a->set_table = (int)table;
	/* Include/internal/pycore_frame.h, enum _framestate */
	if (pi->minor == 14) {
		a->live_max = 0;        /* EXECUTING; COMPLETED 1, CLEARED 4 */
		a->susp_lo = -2;        /* SUSPENDED, SUSPENDED_YIELD_FROM */
		a->susp_hi = -1;
	} else {
		a->live_max = 4;        /* 3.15: CREATED 0 ... EXECUTING 4, CLEARED 5 */
		a->susp_lo = 1;         /* SUSPENDED, _YIELD_FROM, _YIELD_FROM_LOCKED */
		a->susp_hi = 3;
	}
	/* 3.15 keeps one more value above the awaited object while suspended. */
	a->await_slot = pi->minor >= 15 ? 2 : 1;
	return 0;
}

/* TaskObj of each version's _asyncio (DWARF of the pyenv builds: gdb ptype /o TaskObj) */
static const struct {
	int minor, size, state, fut_waiter, coro, name;
} task_tables[] = {
	{ 8, 144, 72, 104, 112, 120 },
	{ 9, 184, 80, 144, 152, 160 },
	{ 10, 192, 88, 152, 160, 168 },
	{ 11, 176, 88, 128, 136, 144 },
	{ 12, 176, 88, 128, 136, 144 },
	{ 13, 144, 96, 112, 120, 128 },
};

static void setup_table(struct pyinterp *pi, struct py_async *a)
{
	for (size_t i = 0; i < sizeof(task_tables) / sizeof(task_tables[0]); i++) {
		if (task_tables[i].minor != pi->minor)
			continue;
		a->task_size = task_tables[i].size;
		a->task_state = task_tables[i].state;
		a->task_fut_waiter = task_tables[i].fut_waiter;
		a->task_coro = task_tables[i].coro;
		a->task_name = task_tables[i].name;
	}
	a->task_awaited_by = a->task_is_task = a->task_awaited_by_is_set = a->task_node = -1;
	a->frame_stacktop = a->frame_stackpointer = -1;
	a->f_valuestack = a->f_stacktop = a->f_stackdepth = a->f_state = -1;
	a->await_slot = 1;
	a->live_max = 0;
	a->susp_lo = a->susp_hi = -1;   /* 3.10-3.12: SUSPENDED; CREATED -2 */
	if (pi->minor <= 10) {
		/* PyCoroObject.cr_frame; PyFrameObject: f_valuestack, then
		 * f_stacktop (3.8, 3.9: NULL while it runs) or f_stackdepth and
		 * f_state (3.10) */
		a->frame_objects = true;
		a->gen_iframe = 16;
		a->f_valuestack = 64;
		if (pi->minor == 10) {
			a->f_stackdepth = 80;
			a->f_state = 108;
		} else {
			a->f_stacktop = 72;
		}
	} else {
		/* PyCoroObject: cr_frame_state, cr_iframe; _PyInterpreterFrame.stacktop */
		a->gen_frame_state = pi->minor == 11 ? 75 : 67;
		a->gen_iframe = pi->minor == 11 ? 80 : 72;
		a->frame_stacktop = 64;
		if (pi->minor == 13)
			a->susp_lo = -2;        /* SUSPENDED, SUSPENDED_YIELD_FROM */
	}
	/* PySetObject: fill, used, mask, table */
	a->set_used = 24;
	a->set_mask = 32;
	a->set_table = 40;
	a->ts_running_task = a->ts_tasks_head = a->interp_tasks_head = -1;
}

int pyinterp_async_check(struct pyinterp *pi)
{
	if (pi->major == 3 && pi->minor >= 8 && pi->minor <= 15 && !pi->layout.free_threaded)
		return 0;
	return perr_set(PERR_VERSION, "--async: pid %d runs Python %d.%d%s, whose asyncio tasks "
			"pyspy-c cannot read (supported: 3.8 to 3.15, not free-threaded)",
			(int)pi->target->pid, pi->major, pi->minor,
			pi->layout.free_threaded ? "t" : "");
}

/* The offsets, once asyncio is there; 0, or -PERR_NOTPY while it is not (yet). */
static int ready(struct pyinterp *pi)
{
	struct py_async *a = pi->async_state;
	int rc;

	if (!a && !(a = pi->async_state = calloc(1, sizeof(*a))))
		return -PERR_NOMEM;
	if (a->ready)
		return 0;
	if (a->tried && pi->sample_no < a->retry_at)
		return -PERR_NOTPY;
	a->tried = true;
	a->retry_at = pi->sample_no + RETRY_SAMPLES;
	if (pi->minor >= 14) {
		if ((rc = setup_section(pi, a)) != 0)
			return rc == -PERR_VERSION || rc == -PERR_GONE || rc == -PERR_PERM ? rc
											: -PERR_NOTPY;
	} else {
		setup_table(pi, a);
	}
	a->ready = true;
	return 0;
}

void py_async_release(struct pyinterp *pi)
{
	free(pi->async_state);
	pi->async_state = NULL;
}

/* ---- tasks -------------------------------------------------------------- */

struct task_raw {
	uint64_t name, coro, fut_waiter, awaited_by;
	int32_t state;
	uint8_t is_set;
};

static int read_task(struct pyinterp *pi, uint64_t task, struct task_raw *r)
{
	struct py_async *a = pi->async_state;
	uint8_t buf[TASK_MAX_BYTES];
	size_t len = (size_t)a->task_size;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = target_read(pi->target, task, buf, len)) != 0)
		return rc;
	if (rd_u64(buf, len, a->task_name, &r->name) || rd_u64(buf, len, a->task_coro, &r->coro))
		return -PERR_TORN;
	r->name &= tag_mask(pi);
	r->coro &= tag_mask(pi);
	r->state = -1;
	if (a->task_state >= 0)
		field_i32(buf, len, a->task_state, &r->state);
	if (a->task_fut_waiter >= 0)
		field_u64(buf, len, a->task_fut_waiter, &r->fut_waiter);
	if (a->task_awaited_by >= 0) {
		field_u64(buf, len, a->task_awaited_by, &r->awaited_by);
		r->is_set = buf[a->task_awaited_by_is_set];
	}
	return 0;
}

/* A task's name: a str, or the number n of "Task-n" (3.12+ names lazily). */
static void task_name(struct pyinterp *pi, uint64_t name, char *out, size_t cap)
{
	char type[32];
	uint64_t mag;
	bool neg;

	snprintf(out, cap, "?");
	if (!name || py_type_name(pi, name, type, sizeof(type)) != 0)
		return;
	if (strcmp(type, "str") == 0) {
		if (py_read_string(pi, name, out, cap) != 0)
			snprintf(out, cap, "?");
		/* Text from the target: no line breaks or escapes in a dump's lines. */
		for (char *c = out; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '_';
	} else if (strcmp(type, "int") == 0 && py_read_int(pi, name, false, &neg, &mag) == 0) {
		snprintf(out, cap, "Task-%s%llu", neg ? "-" : "", (unsigned long long)mag);
	}
}

/* One link of an await chain: a coroutine's frame, and what it awaits. */
struct link {
	uint32_t func;
	int line;
	uint64_t coro;
	uint64_t frame;         /* its frame's address */
	uint64_t local0;        /* its first local (self of a method), 0 if none */
};

/*
 * 3.11+: the coroutine's frame lives inside it (gi_iframe).  Fills *ln;
 * *next: what it awaits (0: nothing, or not known).  Returns 0, 1 when it
 * has no frame (finished), or a negative PERR_*.
 */
static int link_iframe(struct pyinterp *pi, uint64_t coro, struct link *ln, uint64_t *next)
{
	struct py_async *a = pi->async_state;
	const struct py_layout *l = &pi->layout;
	size_t len = (size_t)a->gen_iframe + (size_t)l->iframe_size;
	uint8_t buf[GEN_MAX_BYTES];
	const uint8_t *f = buf + a->gen_iframe;
	const struct code_info *ci;
	uint64_t code, instr, slot;
	int8_t state;
	int rc;

	*next = 0;
	if (len > sizeof(buf) || (size_t)a->gen_frame_state >= len)
		return -PERR_VERSION;
	if ((rc = target_read(pi->target, coro, buf, len)) != 0)
		return rc;
	if (rd_u64(f, (size_t)l->iframe_size, l->iframe_code, &code) ||
	    rd_u64(f, (size_t)l->iframe_size, l->iframe_instr, &instr))
		return -PERR_TORN;
	state = (int8_t)buf[a->gen_frame_state];
	if (a->live_max == 0 ? state > 0 : (state < 0 || state > a->live_max))
		return 1; /* finished: no frame */
	code &= tag_mask(pi);
	if ((rc = code_lookup(pi, code, &ci)) != 0)
		return rc;
	ln->func = ci->func;
	ln->line = code_line(pi, ci, (int64_t)(instr - code - (uint64_t)l->code_code_adaptive));
	ln->frame = coro + (uint64_t)a->gen_iframe;
	ln->local0 = 0;
	if (l->iframe_localsplus >= 0 &&
	    target_read_ptr(pi->target, ln->frame + (uint64_t)l->iframe_localsplus, &ln->local0) == 0)
		ln->local0 &= tag_mask(pi);
	if (state < a->susp_lo || state > a->susp_hi)
		return 0;
	/* What it awaits: on top of its value stack. */
	if (a->frame_stacktop >= 0) {
		int32_t top;
		if (field_i32(f, (size_t)l->iframe_size, a->frame_stacktop, &top) ||
		    top < a->await_slot || top > (1 << 16))
			return 0;
		slot = ln->frame + (uint64_t)l->iframe_localsplus + 8 * (uint64_t)(top - a->await_slot);
	} else {
		uint64_t sp;
		if (rd_u64(f, (size_t)l->iframe_size, a->frame_stackpointer, &sp) ||
		    sp < ln->frame + (uint64_t)l->iframe_localsplus + 8 * (uint64_t)a->await_slot)
			return 0;
		slot = sp - 8 * (uint64_t)a->await_slot;
	}
	if (target_read_ptr(pi->target, slot, next) == 0)
		*next &= tag_mask(pi);
	return 0;
}

/* <= 3.10: the coroutine points to a PyFrameObject (cr_frame), NULL once finished. */
static int link_frame_object(struct pyinterp *pi, uint64_t coro, struct link *ln,
			     uint64_t *next)
{
	struct py_async *a = pi->async_state;
	const struct py_layout *l = &pi->layout;
	const struct code_info *ci;
	uint8_t buf[128];
	uint64_t frame, code, stack, top = 0, slot = 0;
	int32_t lasti, depth;
	int rc;

	*next = 0;
	if ((rc = target_read_ptr(pi->target, coro + (uint64_t)a->gen_iframe, &frame)) != 0)
		return rc;
	if (!frame)
		return 1;
	if ((rc = target_read(pi->target, frame, buf, sizeof(buf))) != 0)
		return rc;
	if (rd_u64(buf, sizeof(buf), l->frame_code, &code) ||
	    field_i32(buf, sizeof(buf), l->frame_lasti, &lasti) ||
	    rd_u64(buf, sizeof(buf), a->f_valuestack, &stack))
		return -PERR_TORN;
	if ((rc = code_lookup(pi, code, &ci)) != 0)
		return rc;
	ln->func = ci->func;
	/* 3.10 counts code units; earlier versions count bytes. */
	ln->line = code_line(pi, ci, pi->minor == 10 ? (int64_t)lasti * 2 : lasti);
	ln->frame = frame;
	ln->local0 = 0;
	if (l->frame_localsplus >= 0)
		target_read_ptr(pi->target, frame + (uint64_t)l->frame_localsplus, &ln->local0);
	if (lasti < 0)
		return 0; /* not started */
	if (a->f_stacktop >= 0) {
		/* 3.8, 3.9: f_stacktop is NULL while the frame runs. */
		if (rd_u64(buf, sizeof(buf), a->f_stacktop, &top) || !top || top <= stack ||
		    top - stack > (1u << 20))
			return 0;
		slot = top - 8;
	} else {
		if (field_i32(buf, sizeof(buf), a->f_stackdepth, &depth) ||
		    (int8_t)buf[a->f_state] != a->susp_lo || depth < 1 || depth > (1 << 16))
			return 0;
		slot = stack + 8 * (uint64_t)(depth - 1);
	}
	target_read_ptr(pi->target, slot, next);
	return 0;
}

/* The address of a coroutine's frame, as thread stacks hold it; 0 if none. */
static uint64_t coro_frame(struct pyinterp *pi, uint64_t coro)
{
	struct py_async *a = pi->async_state;
	uint64_t frame = 0;

	if (!coro)
		return 0;
	if (!a->frame_objects)
		return coro + (uint64_t)a->gen_iframe;
	if (target_read_ptr(pi->target, coro + (uint64_t)a->gen_iframe, &frame) != 0)
		return 0;
	return frame;
}

/*
 * The await chain of 'coro' into links[], outermost first: the coroutine,
 * then while it is suspended in an await of a coroutine of the same type,
 * that one (what _PyGen_yf() gives inside the target).  Returns the
 * number of links; *cut when it stopped short (too deep, a loop,
 * unreadable).
 */
static size_t coro_chain(struct pyinterp *pi, uint64_t coro, struct link *links, size_t max,
			 bool *cut)
{
	const struct py_layout *l = &pi->layout;
	size_t n = 0;
	uint64_t type, next, next_type;
	int rc;

	*cut = false;
	while (coro) {
		if (n == max)
			goto cut;
		for (size_t i = 0; i < n; i++)
			if (links[i].coro == coro)
				goto cut; /* a loop */
		if (target_read_ptr(pi->target, coro + (uint64_t)l->object_type, &type) != 0)
			goto cut;
		rc = pi->async_state->frame_objects ? link_frame_object(pi, coro, &links[n], &next)
						    : link_iframe(pi, coro, &links[n], &next);
		if (rc == 1)
			return n;
		if (rc)
			goto cut;
		links[n++].coro = coro;
		/* A future, an iterator, no coroutine: the chain ends. */
		if (!next || target_read_ptr(pi->target, next + (uint64_t)l->object_type,
					     &next_type) != 0 || next_type != type)
			return n;
		coro = next;
	}
	return n;
cut:
	*cut = true;
	return n;
}

/* ---- the list of tasks ------------------------------------------------ */

struct lister {
	struct pyinterp *pi;
	struct py_tasks *out;
};

static int add_task(struct py_tasks *t, uint64_t addr)
{
	struct py_task *n;

	if (t->ntasks >= PY_MAX_TASKS) {
		t->more++;
		return 0;
	}
	if (t->ntasks == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		if (!(n = realloc(t->tasks, ncap * sizeof(*n))))
			return -PERR_NOMEM;
		t->tasks = n;
		t->cap = ncap;
	}
	memset(&t->tasks[t->ntasks], 0, sizeof(t->tasks[0]));
	t->tasks[t->ntasks++].addr = addr;
	return 0;
}

static int add_frames(struct py_tasks *t, const struct link *links, size_t n)
{
	if (t->nframes + n > t->cap_frames) {
		size_t ncap = t->cap_frames ? t->cap_frames : 256;
		struct frame_ref *f;
		while (ncap < t->nframes + n)
			ncap *= 2;
		if (!(f = realloc(t->frames, ncap * sizeof(*f))))
			return -PERR_NOMEM;
		t->frames = f;
		t->cap_frames = ncap;
	}
	for (size_t i = 0; i < n; i++)
		t->frames[t->nframes++] = (struct frame_ref){ links[i].func, links[i].line };
	return 0;
}

static int add_edge(struct py_tasks *t, size_t awaiter, size_t awaited)
{
	if (awaiter == awaited)
		return 0;
	/* Duplicates are dropped at the end (uniq_edges). */
	if (t->nedges >= (size_t)PY_MAX_TASKS * 16)
		return 0;
	if (t->nedges == t->cap_edges) {
		size_t ncap = t->cap_edges ? t->cap_edges * 2 : 64;
		struct py_task_edge *e = realloc(t->edges, ncap * sizeof(*e));
		if (!e)
			return -PERR_NOMEM;
		t->edges = e;
		t->cap_edges = ncap;
	}
	t->edges[t->nedges++] = (struct py_task_edge){ (uint32_t)awaiter, (uint32_t)awaited };
	return 0;
}

static int cmp_edge(const void *x, const void *y)
{
	const struct py_task_edge *a = x, *b = y;

	if (a->awaiter != b->awaiter)
		return a->awaiter < b->awaiter ? -1 : 1;
	return a->awaited < b->awaited ? -1 : a->awaited > b->awaited;
}

static void uniq_edges(struct py_tasks *t)
{
	size_t kept = 0;

	if (!t->nedges)
		return;
	qsort(t->edges, t->nedges, sizeof(*t->edges), cmp_edge);
	for (size_t i = 0; i < t->nedges; i++)
		if (!kept || cmp_edge(&t->edges[kept - 1], &t->edges[i]) != 0)
			t->edges[kept++] = t->edges[i];
	t->nedges = kept;
}

static int cmp_task(const void *x, const void *y)
{
	const struct py_task *a = x, *b = y;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Index of the task at addr, or -1. */
static long task_index(const struct py_tasks *t, uint64_t addr)
{
	size_t lo = 0, hi = t->ntasks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->tasks[mid].addr == addr)
			return (long)mid;
		if (t->tasks[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* 3.14+: the tasks linked from 'head' (an llist_node sentinel). */
static int list_linked(struct pyinterp *pi, struct py_tasks *t, uint64_t head)
{
	struct py_async *a = pi->async_state;
	uint64_t node;
	int rc;

	if ((rc = target_read_ptr(pi->target, head, &node)) != 0)
		return rc == -PERR_GONE || rc == -PERR_PERM ? rc : 0;
	for (size_t k = 0; node && node != head; k++) {
		if (k > PY_MAX_TASKS * 4) {
			t->unreadable++; /* a loop that misses its head */
			return 0;
		}
		if ((rc = add_task(t, node - (uint64_t)a->task_node)) != 0)
			return rc;
		if (target_read_ptr(pi->target, node, &node) != 0) {
			t->unreadable++;
			return 0;
		}
	}
	return 0;
}

static int weak_item(void *ctx, uint64_t ref)
{
	struct lister *ls = ctx;
	uint64_t obj;

	/* PyWeakReference: ob_base, wr_object */
	if (target_read_ptr(ls->pi->target, ref + 16, &obj) != 0)
		return 0;
	if (is_task(ls->pi, obj))
		return add_task(ls->out, obj);
	return 0;
}

static int set_item(void *ctx, uint64_t obj)
{
	struct lister *ls = ctx;

	return is_task(ls->pi, obj) ? add_task(ls->out, obj) : 0;
}

static int dict_value_task(void *ctx, uint64_t key, uint64_t value)
{
	(void)key;
	return set_item(ctx, value);
}

/* 3.12, 3.13: asyncio.tasks' registries of the main interpreter. */
static int list_registries(struct pyinterp *pi, uint64_t interp, struct py_tasks *t)
{
	struct lister ls = { pi, t };
	uint64_t ws, data, eager, cur;
	int rc;

	/* 3.12+ _scheduled_tasks, before _all_tasks: a WeakSet, its .data a set of refs */
	if ((py_module_attr(pi, interp, "asyncio.tasks", "_scheduled_tasks", &ws) == 0 ||
	     py_module_attr(pi, interp, "asyncio.tasks", "_all_tasks", &ws) == 0) &&
	    py_object_attr(pi, ws, "data", &data) == 0 &&
	    (rc = set_each(pi, data, weak_item, &ls)) != 0) {
		if (rc == -PERR_NOMEM || rc == -PERR_GONE || rc == -PERR_PERM)
			return rc;
		t->unreadable++; /* the registry itself */
	}
	if (py_module_attr(pi, interp, "asyncio.tasks", "_eager_tasks", &eager) == 0 &&
	    (rc = set_each(pi, eager, set_item, &ls)) != 0) {
		if (rc == -PERR_NOMEM || rc == -PERR_GONE || rc == -PERR_PERM)
			return rc;
		t->unreadable++;
	}
	if (py_module_attr(pi, interp, "asyncio.tasks", "_current_tasks", &cur) == 0) {
		pi->async_state->current_tasks = cur;
		if (py_dict_each(pi, cur, dict_value_task, &ls) == -PERR_NOMEM)
			return -PERR_NOMEM;
	}
	return 0;
}

/* ---- who awaits whom ---------------------------------------------------- */

struct edger {
	struct pyinterp *pi;
	struct py_tasks *t;
	size_t self;            /* the awaiter (sets of awaiters: the awaited) */
	bool awaiters;          /* items are awaiters of 'self' */
};

static int edge_item(void *ctx, uint64_t obj)
{
	struct edger *e = ctx;
	long k = task_index(e->t, obj);

	if (k < 0)
		return 0;
	return e->awaiters ? add_edge(e->t, (size_t)k, e->self) : add_edge(e->t, e->self, (size_t)k);
}

static int list_items(struct pyinterp *pi, uint64_t list, struct edger *e)
{
	const struct py_layout *l = &pi->layout;
	uint64_t size, items, v[64];
	int rc;

	if (target_read_ptr(pi->target, list + (uint64_t)l->var_size, &size) != 0 ||
	    target_read_ptr(pi->target, list + (uint64_t)l->tuple_item, &items) != 0 ||
	    size > MAX_LIST_ITEMS)
		return 0;
	for (uint64_t i = 0; i < size; i += 64) {
		uint64_t n = size - i < 64 ? size - i : 64;
		if (target_read(pi->target, items + 8 * i, v, 8 * n) != 0)
			return 0;
		for (uint64_t k = 0; k < n; k++)
			if ((rc = edge_item(e, v[k])) != 0)
				return rc;
	}
	return 0;
}

static bool func_named(struct pyinterp *pi, uint32_t func, const char *a, const char *b)
{
	const struct func *fn = profile_func_get(pi->profile, func);

	return fn && fn->name && (strcmp(fn->name, a) == 0 || strcmp(fn->name, b) == 0);
}

/* 3.12, 3.13: what task i waits for, from its side. */
static int awaits_of(struct pyinterp *pi, struct py_tasks *t, size_t i, const struct task_raw *r,
		     const struct link *links, size_t n)
{
	struct edger e = { pi, t, i, false };
	char type[64];
	uint64_t v;
	int rc;

	if (r->fut_waiter && (rc = edge_item(&e, r->fut_waiter)) != 0)
		return rc;
	if (r->fut_waiter && task_index(t, r->fut_waiter) < 0 &&
	    py_type_name(pi, r->fut_waiter, type, sizeof(type)) == 0 &&
	    strcmp(type, "_GatheringFuture") == 0 &&
	    py_object_attr(pi, r->fut_waiter, "_children", &v) == 0 &&
	    (rc = list_items(pi, v, &e)) != 0)
		return rc;
	/* async with TaskGroup(): its __aexit__ (3.13: then _aexit) waits for the group's tasks. */
	for (size_t k = 0; k < n; k++) {
		if (!links[k].local0 || !func_named(pi, links[k].func, "__aexit__", "_aexit") ||
		    py_type_name(pi, links[k].local0, type, sizeof(type)) != 0 ||
		    strcmp(type, "TaskGroup") != 0)
			continue;
		if (py_object_attr(pi, links[k].local0, "_tasks", &v) == 0 &&
		    (rc = set_each(pi, v, edge_item, &e)) != 0 && rc == -PERR_NOMEM)
			return rc;
		break;
	}
	return 0;
}

/* 3.14+: who awaits task i, as the task records it. */
static int awaited_by_of(struct pyinterp *pi, struct py_tasks *t, size_t i,
			 const struct task_raw *r)
{
	struct edger e = { pi, t, i, true };
	int rc;

	if (!r->awaited_by)
		return 0;
	if (r->is_set)
		return (rc = set_each(pi, r->awaited_by, edge_item, &e)) == -PERR_NOMEM ? rc : 0;
	return edge_item(&e, r->awaited_by);
}

/* ---- running tasks -------------------------------------------------------- */

/* The thread of s whose stack holds the frame at 'iframe', or NULL; *at its index. */
static struct py_thread_sample *thread_with_frame(struct py_sample *s, uint64_t iframe, size_t *at)
{
	if (!s->src)
		return NULL;
	for (size_t i = 0; i < s->nthreads; i++) {
		struct py_thread_sample *th = &s->threads[i];
		for (size_t k = 0; k < th->nframes; k++)
			if (s->src[th->first + k].frame == iframe) {
				*at = k;
				return th;
			}
	}
	return NULL;
}

/* The running task of a thread state (3.14+), 0 if none. */
static uint64_t running_of(struct pyinterp *pi, uint64_t tstate)
{
	uint64_t task = 0;

	if (!tstate || target_read_ptr(pi->target, tstate + (uint64_t)pi->async_state->ts_running_task,
				       &task) != 0)
		return 0;
	return task & tag_mask(pi);
}

/*
 * Put 'task "NAME"' in place of the frames below the task's coroutine
 * frame (the event loop's), which is frame k of th.
 */
static int relabel(struct pyinterp *pi, struct py_sample *s, struct py_thread_sample *th,
		   size_t k, const char *name)
{
	char text[192];
	uint32_t f;

	if (k == 0)
		return 0; /* nothing below it to replace */
	snprintf(text, sizeof(text), "task \"%s\"", name);
	if ((f = profile_func(pi->profile, FUNC_LABEL, text, NULL, NULL)) == FUNC_NONE)
		return -PERR_NOMEM;
	th->first += k - 1;
	th->nframes -= k - 1;
	s->frames[th->first] = (struct frame_ref){ f, -1 };
	s->src[th->first] = (struct py_frame_src){ 0, 0 };
	return 0;
}

/* Relabel the thread running 'task', if its frame is on a stack. */
static int relabel_task(struct pyinterp *pi, struct py_sample *s, uint64_t task)
{
	struct py_thread_sample *th;
	struct task_raw r;
	char name[128];
	size_t k;

	if (!task || read_task(pi, task, &r) != 0 || !r.coro)
		return 0;
	th = thread_with_frame(s, coro_frame(pi, r.coro), &k);
	if (!th)
		return 0;
	task_name(pi, r.name, name, sizeof(name));
	return relabel(pi, s, th, k, name);
}

static int current_item(void *ctx, uint64_t key, uint64_t value)
{
	void **c = ctx;
	int rc;

	(void)key;
	rc = relabel_task(c[0], c[1], value);
	return rc == -PERR_NOMEM ? rc : 0;
}

int py_async_sample(struct pyinterp *pi, struct py_sample *s)
{
	struct py_async *a;
	int rc;

	if (!s->nthreads || !s->src)
		return 0;
	if ((rc = ready(pi)) != 0)
		return rc == -PERR_GONE || rc == -PERR_PERM || rc == -PERR_NOMEM ? rc : 0;
	a = pi->async_state;
	if (a->section) {
		for (size_t i = 0; i < s->nthreads; i++) {
			const struct py_thread_sample *th = &s->threads[i];
			uint64_t task = running_of(pi, th->inner_tstate ? th->inner_tstate : th->tstate);
			if (task && (rc = relabel_task(pi, s, task)) != 0)
				return rc;
		}
		return 0;
	}
	if (!a->current_tasks) {
		if (pi->sample_no < a->lookup_at)
			return 0;
		a->lookup_at = pi->sample_no + RETRY_SAMPLES;
		if (py_module_attr(pi, s->threads[s->nthreads - 1].interp, "asyncio.tasks",
				   "_current_tasks", &a->current_tasks) != 0)
			a->current_tasks = 0;
	}
	if (a->current_tasks) {
		void *c[2] = { pi, s };
		rc = py_dict_each(pi, a->current_tasks, current_item, c);
		if (rc == -PERR_NOMEM)
			return rc;
		if (rc)
			a->current_tasks = 0; /* look it up again */
	}
	return 0;
}

/* ---- the whole list ------------------------------------------------------- */

static int mark_running(const struct py_sample *s, struct py_tasks *out);

int pyinterp_tasks(struct pyinterp *pi, const struct py_sample *s, struct py_tasks *out)
{
	static struct link links[PY_MAX_AWAIT_DEPTH];
	struct py_async *a;
	size_t kept = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s->nthreads)
		return 0;
	if ((rc = ready(pi)) != 0)
		return rc == -PERR_NOTPY ? 0 : rc;
	a = pi->async_state;
	if (a->section) {
		for (size_t i = 0; i < s->nthreads; i++) {
			const struct py_thread_sample *th = &s->threads[i];
			if ((rc = list_linked(pi, out, th->tstate + (uint64_t)a->ts_tasks_head)) ||
			    (th->inner_tstate &&
			     (rc = list_linked(pi, out, th->inner_tstate + (uint64_t)a->ts_tasks_head))))
				return rc;
			if ((i + 1 == s->nthreads || s->threads[i + 1].interp != th->interp) &&
			    (rc = list_linked(pi, out, th->interp + (uint64_t)a->interp_tasks_head)))
				return rc;
		}
	} else if ((rc = list_registries(pi, s->threads[s->nthreads - 1].interp, out)) != 0) {
		return rc;
	}
	if (!out->ntasks)
		return 0;
	/* Once each, sorted by address. */
	qsort(out->tasks, out->ntasks, sizeof(*out->tasks), cmp_task);
	for (size_t i = 0; i < out->ntasks; i++)
		if (!kept || out->tasks[kept - 1].addr != out->tasks[i].addr)
			out->tasks[kept++] = out->tasks[i];
	out->ntasks = kept;

	for (size_t i = 0; i < out->ntasks; i++) {
		struct py_task *tk = &out->tasks[i];
		struct task_raw r;
		size_t n;

		if (read_task(pi, tk->addr, &r) != 0) {
			out->unreadable++;
			tk->chain_cut = true;
			snprintf(tk->name, sizeof(tk->name), "?");
			continue;
		}
		task_name(pi, r.name, tk->name, sizeof(tk->name));
		tk->coro = r.coro;
		tk->frame = coro_frame(pi, r.coro);
		tk->state = r.state == 1 ? PY_TASK_CANCELLED : r.state == 2 ? PY_TASK_FINISHED
									   : PY_TASK_PENDING;
		n = r.coro ? coro_chain(pi, r.coro, links, PY_MAX_AWAIT_DEPTH, &tk->chain_cut) : 0;
		tk->first = out->nframes;
		tk->nframes = n;
		if ((rc = add_frames(out, links, n)) != 0)
			return rc;
		rc = a->section ? awaited_by_of(pi, out, i, &r) : awaits_of(pi, out, i, &r, links, n);
		if (rc == -PERR_NOMEM)
			return rc;
	}
	uniq_edges(out);
	return mark_running(s, out);
}

struct frame_at {
	uint64_t frame;
	pid_t tid;
};

static int cmp_frame_at(const void *x, const void *y)
{
	const struct frame_at *a = x, *b = y;

	return a->frame < b->frame ? -1 : a->frame > b->frame;
}

/* Running: the tasks whose coroutine frame is on a thread's stack. */
static int mark_running(const struct py_sample *s, struct py_tasks *out)
{
	struct frame_at *fa;
	size_t n = 0;

	if (!s->src || !s->nframes)
		return 0;
	if (!(fa = calloc(s->nframes, sizeof(*fa))))
		return -PERR_NOMEM;
	for (size_t j = 0; j < s->nthreads; j++) {
		const struct py_thread_sample *th = &s->threads[j];
		for (size_t k = 0; k < th->nframes && th->first + k < s->nframes; k++)
			fa[n++] = (struct frame_at){ s->src[th->first + k].frame, th->tid };
	}
	qsort(fa, n, sizeof(*fa), cmp_frame_at);
	for (size_t i = 0; i < out->ntasks; i++) {
		struct py_task *tk = &out->tasks[i];
		struct frame_at key = { tk->frame, 0 }, *hit;

		if (!tk->frame)
			continue;
		hit = bsearch(&key, fa, n, sizeof(*fa), cmp_frame_at);
		if (hit) {
			tk->state = PY_TASK_RUNNING;
			tk->tid = hit->tid;
		}
	}
	free(fa);
	return 0;
}

void py_tasks_free(struct py_tasks *t)
{
	free(t->tasks);
	free(t->frames);
	free(t->edges);
	memset(t, 0, sizeof(*t));
}

const char *py_task_state_name(enum py_task_state st)
{
	switch (st) {
	case PY_TASK_PENDING:
		return "pending";
	case PY_TASK_CANCELLED:
		return "cancelled";
	case PY_TASK_FINISHED:
		return "finished";
	case PY_TASK_RUNNING:
		return "running";
	}
	return "?";
}
