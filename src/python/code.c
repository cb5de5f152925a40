/*
 * code.c - code objects: names, file, line table; cached by address.
 *
 * A code object is immutable while it lives, so its decoded names and
 * line table are cached by address (4-way set-associative: a set's entry
 * validated longest ago makes room).  An address can be reused after the
 * object is freed, so every look-up re-reads the object's header (one
 * small read) and compares the pointers it holds (type, name, filename,
 * line table, first line) with the cached ones before trusting the entry.
 */
#include "pyspy/error.h"
#include "pyspy/linetable.h"
#include "pyspy/pystr.h"
#include "python_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_WAYS 4
#define CACHE_SET_BITS 10
#define CACHE_SETS (1u << CACHE_SET_BITS)   /* 4096 entries, 4-way */
#define MAX_LINETABLE (1u << 20)
/* A code object's name or file longer than this is not one CPython made. */
#define MAX_CODE_STRING (1u << 16)
#define SHORT_SLOTS 64                      /* shortened file names kept */

struct code_entry {
	uint64_t addr;
	bool valid;             /* info decoded from addr's object, cacheable */
	uint64_t checked;       /* sample in which it was last validated */
	uint64_t key[5];        /* type, filename, name, linetable, firstlineno */
	struct code_info info;  /* info.linetable is owned by the entry */
};

struct code_cache {
	struct code_entry sets[CACHE_SETS][CACHE_WAYS];
	/* co_filename -> its short form: one walk of the directories per file */
	struct { uint64_t hash; char *file, *short_file; } shorts[SHORT_SLOTS];
};

struct code_cache *code_cache_new(void)
{
	return calloc(1, sizeof(struct code_cache));
}

void code_cache_clear(struct code_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CACHE_SETS; i++)
		for (size_t w = 0; w < CACHE_WAYS; w++)
			free((void *)c->sets[i][w].info.linetable);
	for (size_t i = 0; i < SHORT_SLOTS; i++) {
		free(c->shorts[i].file);
		free(c->shorts[i].short_file);
	}
	memset(c, 0, sizeof(*c));
}

void code_cache_free(struct code_cache *c)
{
	code_cache_clear(c);
	free(c);
}

static struct code_entry *set_of(struct pyinterp *pi, uint64_t addr)
{
	unsigned set = (unsigned)((addr >> 4) * 0x9E3779B97F4A7C15ull >> (64 - CACHE_SET_BITS));

	return pi->codes->sets[set];
}

/* The entry holding addr, or NULL. */
static struct code_entry *entry_of(struct pyinterp *pi, uint64_t addr)
{
	struct code_entry *set = set_of(pi, addr);

	for (size_t w = 0; w < CACHE_WAYS; w++)
		if (set[w].addr == addr && set[w].valid)
			return &set[w];
	return NULL;
}

/* Where to decode addr: its own entry, else the one validated longest ago. */
static struct code_entry *victim_of(struct pyinterp *pi, uint64_t addr)
{
	struct code_entry *set = set_of(pi, addr), *v = &set[0];

	for (size_t w = 0; w < CACHE_WAYS; w++) {
		if (set[w].addr == addr)
			return &set[w];
		if (set[w].checked < v->checked)
			v = &set[w];
	}
	return v;
}

static int read_bytes_object(struct pyinterp *pi, uint64_t addr, uint8_t **out, size_t *len)
{
	const struct py_layout *l = &pi->layout;
	uint8_t hdr[64];
	struct pystr_info si;
	uint8_t *buf;
	int rc;

	rc = target_read(pi->target, addr, hdr, (size_t)l->bytes_sval);
	if (rc)
		return rc;
	if (pystr_bytes_info(hdr, (size_t)l->bytes_sval, l, addr, MAX_LINETABLE, &si) != 0 ||
	    si.cut)
		return -PERR_TORN;
	buf = malloc(si.nchars ? si.nchars : 1);
	if (!buf)
		return -PERR_NOMEM;
	rc = target_read(pi->target, si.data, buf, si.nchars);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = si.nchars;
	return 0;
}

static int read_string(struct pyinterp *pi, uint64_t addr, char *out, size_t cap,
		       uint64_t max_length, uint64_t want_type)
{
	const struct py_layout *l = &pi->layout;
	uint8_t hdr[128];
	static uint8_t data[PYSTR_MAX_CHARS * 4];
	struct pystr_info si;
	size_t hlen;
	int rc;

	if (pi->layout.family == PY_FAMILY_27) {
		hlen = (size_t)l->bytes_sval;
		rc = target_read(pi->target, addr, hdr, hlen);
		if (rc)
			return rc;
		if (pystr_bytes_info(hdr, hlen, l, addr, PYSTR_MAX_CHARS, &si) != 0)
			return -PERR_TORN;
	} else {
		hlen = (size_t)l->unicode_compact_size;
		if (hlen > sizeof(hdr))
			return -PERR_TORN;
		rc = target_read(pi->target, addr, hdr, hlen);
		if (rc)
			return rc;
		if (pystr_unicode_info(hdr, hlen, l, addr, &si) != 0)
			return -PERR_TORN;
	}
	if (si.length > max_length)
		return -PERR_TORN;
	if (want_type) {
		uint64_t type;
		if (field_u64(hdr, hlen, l->object_type, &type) || type != want_type)
			return -PERR_TORN; /* another kind of object */
	}
	rc = target_read(pi->target, si.data, data, si.nchars * (size_t)si.kind);
	if (rc)
		return rc;
	if (pi->layout.family == PY_FAMILY_27) {
		/* 2.7 str is bytes, normally UTF-8 already: copy, minus NULs. */
		size_t n = si.nchars < cap - 1 ? si.nchars : cap - 1;
		for (size_t i = 0; i < n; i++)
			out[i] = data[i] ? (char)data[i] : '?';
		out[n] = '\0';
	} else {
		pystr_to_utf8(data, si.nchars, si.kind, out, cap);
	}
	/* A name cut at PYSTR_MAX_CHARS says so. */
	if (si.cut) {
		size_t len = strlen(out);
		if (len + 4 > cap)
			len = cap - 4;
		memcpy(out + len, "...", 4);
	}
	return 0;
}

int py_read_string(struct pyinterp *pi, uint64_t addr, char *out, size_t cap)
{
	return read_string(pi, addr, out, cap, UINT64_MAX, 0);
}

/*
 * A code object's name or file.  One that cannot be read (a pointer into
 * nowhere, an object that is no string, a length no code object has) is
 * "<unknown>" when the target is stopped (pyinterp.degrade): the frame
 * keeps what else it has.  Running, it may be a code object being freed:
 * the read fails and the thread is left out of the sample.
 */
static int read_code_string(struct pyinterp *pi, uint64_t addr, char *out, size_t cap,
			    bool *degraded)
{
	int rc = read_string(pi, addr, out, cap, MAX_CODE_STRING, pi->str_type);

	if (rc == -PERR_GONE || rc == -PERR_PERM || rc == -PERR_NOMEM || (rc && !pi->degrade))
		return rc;
	if (rc) {
		snprintf(out, cap, "<unknown>");
		*degraded = true;
	}
	return 0;
}

/* "pkg/mod.py" for ".../site-packages/pkg/mod.py": drop the non-package dirs. */
static void short_filename_walk(struct pyinterp *pi, const char *file, char *out, size_t cap)
{
	char dir[4096], probe[4096 + 16];
	const char *cut = NULL;

	snprintf(out, cap, "%s", file);
	if (file[0] != '/' || strlen(file) >= sizeof(dir))
		return;
	snprintf(dir, sizeof(dir), "%s", file);
	for (int depth = 0; depth < 64; depth++) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			break;
		*slash = '\0';
		cut = file + (slash - dir) + 1;
		snprintf(probe, sizeof(probe), "%s/__init__.py", dir);
		if (dir[0] == '\0' || !target_file_exists(pi->target, probe))
			break;
	}
	if (cut)
		snprintf(out, cap, "%s", cut);
}

/* The same, remembered per file: a new function of a known file costs no look-up. */
static void short_filename(struct pyinterp *pi, const char *file, char *out, size_t cap)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t slot;
	char *f, *sf;

	for (const char *c = file; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
	slot = h % SHORT_SLOTS;
	if (pi->codes->shorts[slot].file && pi->codes->shorts[slot].hash == h &&
	    strcmp(pi->codes->shorts[slot].file, file) == 0) {
		snprintf(out, cap, "%s", pi->codes->shorts[slot].short_file);
		return;
	}
	short_filename_walk(pi, file, out, cap);
	f = strdup(file);
	sf = strdup(out);
	if (!f || !sf) {
		free(f);
		free(sf);
		return;
	}
	free(pi->codes->shorts[slot].file);
	free(pi->codes->shorts[slot].short_file);
	pi->codes->shorts[slot].hash = h;
	pi->codes->shorts[slot].file = f;
	pi->codes->shorts[slot].short_file = sf;
}

static int decode(struct pyinterp *pi, uint64_t addr, const uint8_t *hdr, size_t hlen,
		  struct code_entry *e)
{
	const struct py_layout *l = &pi->layout;
	static char name[PYSTR_MAX_CHARS * 4 + 1], file[PYSTR_MAX_CHARS * 4 + 1];
	static char shortf[PYSTR_MAX_CHARS * 4 + 1];
	uint64_t p_file, p_name, p_table;
	int32_t first = 0, traceable = 0;
	uint8_t *table = NULL;
	size_t tlen = 0;
	uint32_t func;
	bool paused, degraded = false, no_lines = false;
	int rc;

	if (field_u64(hdr, hlen, l->code_filename, &p_file) ||
	    field_u64(hdr, hlen, l->code_name, &p_name) ||
	    field_u64(hdr, hlen, l->code_linetable, &p_table) ||
	    field_i32(hdr, hlen, l->code_firstlineno, &first))
		return -PERR_TORN;
	if (l->code_firsttraceable >= 0 &&
	    field_i32(hdr, hlen, l->code_firsttraceable, &traceable))
		return -PERR_TORN;
	/* Decoded once: what it reads is not worth prefetching every sample. */
	paused = target_memo_pause(pi->target);
	if ((rc = read_code_string(pi, p_name, name, sizeof(name), &degraded)) == 0 &&
	    (rc = read_code_string(pi, p_file, file, sizeof(file), &degraded)) == 0) {
		rc = read_bytes_object(pi, p_table, &table, &tlen);
		/* A line table that cannot be read: the frame has no line. */
		if (rc && rc != -PERR_GONE && rc != -PERR_PERM && rc != -PERR_NOMEM &&
		    pi->degrade) {
			rc = 0;
			degraded = no_lines = true;
		}
	}
	target_memo_resume(pi->target, paused);
	if (rc)
		return rc;
	if (degraded)
		pi->degraded++;
	if (strcmp(file, "<unknown>") == 0)
		snprintf(shortf, sizeof(shortf), "%s", file);
	else
		short_filename(pi, file, shortf, sizeof(shortf));
	func = profile_func(pi->profile, FUNC_PYTHON, name, file, shortf);
	if (func == FUNC_NONE) {
		free(table);
		return -PERR_NOMEM;
	}
	free((void *)e->info.linetable);
	memset(e, 0, sizeof(*e));
	e->addr = addr;
	/*
	 * A degraded decode is kept like any other: the strings and table
	 * of a code object do not change while it lives, and one reused
	 * for another object changes the pointers of the key.
	 */
	e->valid = true;
	field_u64(hdr, hlen, l->object_type, &e->key[0]);
	e->key[1] = p_file;
	e->key[2] = p_name;
	e->key[3] = p_table;
	e->key[4] = (uint64_t)(uint32_t)first;
	e->info.func = func;
	e->info.firstlineno = first;
	e->info.firsttraceable = traceable;
	e->info.linetable = table;
	e->info.linetable_len = tlen;
	e->info.last_offset = -1;
	e->info.degraded = degraded;
	e->info.no_lines = no_lines;
	return 0;
}

size_t code_header_len(const struct pyinterp *pi)
{
	size_t hlen = (size_t)pi->layout.code_size;
	return hlen > CODE_HDR_MAX ? CODE_HDR_MAX : hlen;
}

const struct code_info *code_fresh(struct pyinterp *pi, uint64_t addr)
{
	struct code_entry *e = entry_of(pi, addr);

	if (e && e->checked == pi->sample_no)
		return &e->info;
	return NULL;
}

int code_resolve(struct pyinterp *pi, uint64_t addr, const uint8_t *hdr, size_t hlen,
		 const struct code_info **out)
{
	const struct py_layout *l = &pi->layout;
	struct code_entry *e = victim_of(pi, addr);
	uint64_t type, p_file, p_name, p_table;
	int32_t first;
	int rc;

	if (field_u64(hdr, hlen, l->object_type, &type) ||
	    field_u64(hdr, hlen, l->code_filename, &p_file) ||
	    field_u64(hdr, hlen, l->code_name, &p_name) ||
	    field_u64(hdr, hlen, l->code_linetable, &p_table) ||
	    field_i32(hdr, hlen, l->code_firstlineno, &first))
		return -PERR_TORN;
	/* Not a code object (torn read, or a shim frame's executable). */
	if (pi->code_type && type != pi->code_type)
		return -PERR_TORN;
	if (!(e->addr == addr && e->valid && e->key[0] == type && e->key[1] == p_file &&
	      e->key[2] == p_name && e->key[3] == p_table &&
	      e->key[4] == (uint64_t)(uint32_t)first)) {
		rc = decode(pi, addr, hdr, hlen, e);
		if (rc) {
			e->addr = 0;
			return rc;
		}
	}
	e->checked = pi->sample_no;
	*out = &e->info;
	return 0;
}

int code_lookup(struct pyinterp *pi, uint64_t addr, const struct code_info **out)
{
	uint8_t hdr[CODE_HDR_MAX];
	size_t hlen = code_header_len(pi);
	int rc;

	if ((*out = code_fresh(pi, addr)) != NULL)
		return 0;
	rc = target_read(pi->target, addr, hdr, hlen);
	if (rc)
		return rc;
	return code_resolve(pi, addr, hdr, hlen, out);
}

int code_line(const struct pyinterp *pi, const struct code_info *ci, int64_t byte_offset)
{
	/* The entry is ours: the one-line memo may change behind const. */
	struct code_info *memo = (struct code_info *)ci;
	enum linetable_format fmt;
	int line;

	if (ci->no_lines)
		return -1;
	/* A frame that has not run an instruction yet reports its first line. */
	if (byte_offset < 0)
		return ci->firstlineno;
	if (byte_offset == ci->last_offset)
		return ci->last_line;
	switch (pi->layout.family) {
	case PY_FAMILY_27:
		fmt = LINETABLE_LNOTAB_U;
		break;
	case PY_FAMILY_36:
		fmt = pi->minor >= 10 ? LINETABLE_PEP626 : LINETABLE_LNOTAB;
		break;
	default:
		fmt = LINETABLE_PEP657;
		break;
	}
	if (byte_offset > UINT32_MAX)
		return -1;
	line = linetable_line(fmt, ci->linetable, ci->linetable_len, ci->firstlineno,
			      (uint32_t)byte_offset);
	memo->last_offset = byte_offset;
	memo->last_line = line;
	return line;
}
