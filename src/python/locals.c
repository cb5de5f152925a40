/*
 * locals.c - arguments and local variables of a frame, as short reprs.
 *
 * Only for one-shot dumps (dump --locals), never on the sampling path: a
 * frame's values are read while the target is stopped, and each object
 * is shown by its type's tp_name: None, bool, int, float, str and bytes
 * as Python would write them (cut to a bounded length), containers as
 * their type and length, anything else as "<type object at 0x...>".
 *
 * Where the values and names are:
 *   <= 3.10  f_localsplus[0 .. co_nlocals), names in co_varnames; the
 *            first argcount + kwonlyargcount (+ *args, **kw) are arguments
 *   3.11+    localsplus[], names in co_localsplusnames, kinds in
 *            co_localspluskinds (hidden comprehension slots skipped, cells
 *            dereferenced); 3.14+ marks arguments in the kinds and tags
 *            the values (_PyStackRef)
 */
#include "pyspy/error.h"
#include "python_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CO_VARARGS 0x4
#define CO_VARKEYWORDS 0x8
#define CO_FAST_ARG 0x0e   /* 3.14+: ARG_POS | ARG_KW | ARG_VAR */
#define CO_FAST_HIDDEN 0x10
#define REPR_CHARS 60

/*
 * Type names and variable names repeat across frames and threads: cache
 * them by address for the duration of one snapshot (sample_no), when
 * nothing can have been freed and reused.
 */
#define NAME_SLOTS 1024
static struct name_slot {
	uint64_t addr, sample;
	char text[64];
} names_cache[NAME_SLOTS];

static struct name_slot *name_slot(struct pyinterp *pi, uint64_t addr, bool *hit)
{
	struct name_slot *e = &names_cache[(addr >> 4) % NAME_SLOTS];

	*hit = e->addr == addr && e->sample == pi->sample_no;
	e->addr = addr;
	e->sample = pi->sample_no;
	return e;
}

static int read_i64(struct pyinterp *pi, uint64_t addr, int64_t *v)
{
	return target_read(pi->target, addr, v, sizeof(*v));
}

/* tp_name of the object's type, e.g. "int", cached by type. */
static int type_name(struct pyinterp *pi, uint64_t obj, char *out, size_t cap)
{
	struct name_slot *e;
	uint64_t type;
	bool hit;
	int rc;

	if ((rc = target_read_ptr(pi->target, obj + (uint64_t)pi->layout.object_type, &type)) != 0)
		return rc;
	e = name_slot(pi, type, &hit);
	if (hit) {
		snprintf(out, cap, "%s", e->text);
		return 0;
	}
	e->addr = 0;
	if ((rc = py_type_name(pi, obj, out, cap)) != 0)
		return rc;
	snprintf(e->text, sizeof(e->text), "%s", out);
	e->addr = type;
	return 0;
}

/* Value of an int (PyLong; 2.7 PyInt) if it fits 60 bits. */
static int read_int(struct pyinterp *pi, uint64_t obj, const char *tname, char *out, size_t cap)
{
	const struct py_layout *l = &pi->layout;
	uint64_t mag;
	int64_t size;
	bool neg;

	if (py_read_int(pi, obj, pi->major == 2 && strcmp(tname, "int") == 0, &neg, &mag) == 0) {
		snprintf(out, cap, "%s%" PRIu64, neg ? "-" : "", mag);
		return 0;
	}
	if (read_i64(pi, obj + (uint64_t)l->long_tag, &size) != 0)
		return -PERR_TORN;
	snprintf(out, cap, "<int of %zu digits>", (size_t)(pi->major == 3 && pi->minor >= 12 ?
		 (uint64_t)size >> 3 : size < 0 ? (uint64_t)0 - (uint64_t)size : (uint64_t)size));
	return 0;
}

/* 'text' as a Python literal: quoted, escaped, cut with "..." */
static void quote(const char *text, size_t len, bool cut, bool bytes, char *out, size_t cap)
{
	/* Python's choice: single quotes, unless the text has ' and no ". */
	char q = memchr(text, '\'', len) && !memchr(text, '"', len) ? '"' : '\'';
	size_t o = 0;

	if (cap < 8)
		return;
	if (bytes)
		out[o++] = 'b';
	out[o++] = q;
	for (size_t i = 0; i < len && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == (unsigned char)q || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
		} else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	if (cut)
		o += (size_t)snprintf(out + o, cap - o, "...");
	if (o + 2 <= cap)
		out[o++] = q;
	out[o < cap ? o : cap - 1] = '\0';
}

static void repr(struct pyinterp *pi, uint64_t obj, char *out, size_t cap, int depth)
{
	const struct py_layout *l = &pi->layout;
	char tname[64], text[REPR_CHARS * 4 + 8];
	int64_t n;

	if (!obj) {
		snprintf(out, cap, "<NULL>");
		return;
	}
	if (type_name(pi, obj, tname, sizeof(tname)) != 0) {
		snprintf(out, cap, "<unreadable object at 0x%" PRIx64 ">", obj);
		return;
	}
	if (strcmp(tname, "NoneType") == 0) {
		snprintf(out, cap, "None");
	} else if (strcmp(tname, "bool") == 0) {
		char v[32];
		if (read_int(pi, obj, "int", v, sizeof(v)) == 0)
			snprintf(out, cap, "%s", strcmp(v, "0") ? "True" : "False");
		else
			snprintf(out, cap, "<bool>");
	} else if (strcmp(tname, "int") == 0 || strcmp(tname, "long") == 0) {
		if (read_int(pi, obj, tname, out, cap) != 0)
			snprintf(out, cap, "<%s>", tname);
	} else if (strcmp(tname, "float") == 0) {
		double d;
		if (target_read(pi->target, obj + 16, &d, sizeof(d)) == 0)
			snprintf(out, cap, "%.17g", d);
		else
			snprintf(out, cap, "<float>");
	} else if (strcmp(tname, "str") == 0 && pi->major == 3) {
		if (py_read_string(pi, obj, text, sizeof(text)) == 0) {
			size_t len = strlen(text);
			quote(text, len > REPR_CHARS ? REPR_CHARS : len, len > REPR_CHARS, false, out, cap);
		} else {
			snprintf(out, cap, "<str>");
		}
	} else if (strcmp(tname, "bytes") == 0 || (pi->major == 2 && strcmp(tname, "str") == 0)) {
		if (read_i64(pi, obj + (uint64_t)l->var_size, &n) == 0 && n >= 0) {
			size_t len = n > REPR_CHARS ? REPR_CHARS : (size_t)n;
			if (target_read(pi->target, obj + (uint64_t)l->bytes_sval, text, len) == 0) {
				quote(text, len, n > REPR_CHARS, pi->major == 3, out, cap);
				return;
			}
		}
		snprintf(out, cap, "<%s>", tname);
	} else if (strcmp(tname, "cell") == 0 && depth == 0) {
		uint64_t ref;
		if (target_read_ptr(pi->target, obj + 16, &ref) == 0 && ref)
			repr(pi, ref, out, cap, depth + 1);
		else
			snprintf(out, cap, "<empty cell>");
	} else if (strcmp(tname, "list") == 0 || strcmp(tname, "tuple") == 0) {
		if (read_i64(pi, obj + (uint64_t)l->var_size, &n) == 0 && n >= 0)
			snprintf(out, cap, "<%s of %" PRId64 ">", tname, n);
		else
			snprintf(out, cap, "<%s>", tname);
	} else if (strcmp(tname, "dict") == 0) {
		if (read_i64(pi, obj + (uint64_t)l->dict_used, &n) == 0 && n >= 0)
			snprintf(out, cap, "<dict of %" PRId64 ">", n);
		else
			snprintf(out, cap, "<dict>");
	} else if (strcmp(tname, "set") == 0 || strcmp(tname, "frozenset") == 0) {
		/* PySetObject: fill, then used, after the object header */
		if (read_i64(pi, obj + (uint64_t)l->object_type + 16, &n) == 0 && n >= 0)
			snprintf(out, cap, "<%s of %" PRId64 ">", tname, n);
		else
			snprintf(out, cap, "<%s>", tname);
	} else {
		snprintf(out, cap, "<%s object at 0x%" PRIx64 ">", tname, obj);
	}
}

void pyinterp_repr(struct pyinterp *pi, uint64_t obj, char *out, size_t cap)
{
	repr(pi, obj, out, cap, 0);
}

/* Items of a tuple (names), bounded. */
static int read_tuple(struct pyinterp *pi, uint64_t tuple, uint64_t *items, size_t max, size_t *n)
{
	const struct py_layout *l = &pi->layout;
	int64_t size;
	int rc;

	if ((rc = read_i64(pi, tuple + (uint64_t)l->var_size, &size)) != 0)
		return rc;
	if (size < 0 || size > 65536)
		return -PERR_TORN;
	*n = (size_t)size < max ? (size_t)size : max;
	return *n ? target_read(pi->target, tuple + (uint64_t)l->tuple_item, items, *n * 8) : 0;
}

int pyinterp_frame_locals(struct pyinterp *pi, const struct py_sample *s, size_t i,
			  struct py_local *out, size_t max, size_t *n)
{
	const struct py_layout *l = &pi->layout;
	static uint64_t names[PY_MAX_LOCALS], values[PY_MAX_LOCALS];
	uint8_t hdr[CODE_HDR_MAX], kinds[PY_MAX_LOCALS];
	size_t hlen = code_header_len(pi), count = 0, nargs = 0;
	uint64_t code, frame, tuple = 0, kinds_obj = 0, base;
	int32_t argc = 0, kwonly = 0, flags = 0, nlocals = 0;
	bool modern = l->family >= PY_FAMILY_311;
	int rc;

	*n = 0;
	if (!s->keep_sources || !s->src || i >= s->nframes)
		return -PERR_RUNTIME;
	code = s->src[i].code;
	frame = s->src[i].frame;
	if ((rc = target_read(pi->target, code, hdr, hlen)) != 0)
		return rc;
	field_i32(hdr, hlen, l->code_argcount, &argc);
	field_i32(hdr, hlen, l->code_kwonlyargcount, &kwonly);
	field_i32(hdr, hlen, l->code_flags, &flags);
	if (modern) {
		if (field_u64(hdr, hlen, l->code_localsplusnames, &tuple) ||
		    field_u64(hdr, hlen, l->code_localspluskinds, &kinds_obj))
			return -PERR_TORN;
	} else if (field_u64(hdr, hlen, l->code_varnames, &tuple) ||
		   field_i32(hdr, hlen, l->code_nlocals, &nlocals)) {
		return -PERR_TORN;
	}
	if ((rc = read_tuple(pi, tuple, names, PY_MAX_LOCALS, &count)) != 0)
		return rc;
	if (!modern && (size_t)nlocals < count)
		count = nlocals < 0 ? 0 : (size_t)nlocals;
	if (modern && count &&
	    (rc = target_read(pi->target, kinds_obj + (uint64_t)l->bytes_sval, kinds, count)) != 0)
		return rc;
	base = frame + (uint64_t)(modern ? l->iframe_localsplus : l->frame_localsplus);
	if (count && (rc = target_read(pi->target, base, values, count * 8)) != 0)
		return rc;
	nargs = (size_t)(argc > 0 ? argc : 0) + (size_t)(kwonly > 0 ? kwonly : 0) +
		!!(flags & CO_VARARGS) + !!(flags & CO_VARKEYWORDS);
	for (size_t k = 0; k < count && *n < max; k++) {
		struct py_local *lo = &out[*n];
		uint64_t v = values[k] & ~(uint64_t)l->stackref_tag_bits;

		if (modern && (kinds[k] & CO_FAST_HIDDEN))
			continue;
		if (!v)
			continue; /* unbound: not yet assigned, or deleted */
		{
			bool hit;
			struct name_slot *e = name_slot(pi, names[k], &hit);
			if (!hit) {
				e->addr = 0;
				if (py_read_string(pi, names[k], e->text, sizeof(e->text)) != 0)
					snprintf(e->text, sizeof(e->text), "?");
				e->addr = names[k];
			}
			snprintf(lo->name, sizeof(lo->name), "%s", e->text);
		}
		lo->arg = pi->minor >= 14 && pi->major == 3 ? (kinds[k] & CO_FAST_ARG) != 0 : k < nargs;
		repr(pi, v, lo->repr, sizeof(lo->repr), 0);
		(*n)++;
	}
	return 0;
}
