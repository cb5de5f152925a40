/*
 * pprof.c - the profile.proto format of pprof (github.com/google/pprof,
 * proto/profile.proto), gzipped, as "go tool pprof" reads it.
 *
 * Two sample types: samples/count and cpu/nanoseconds (wall/nanoseconds
 * with --idle), the second being the count times the period; period_type
 * is the time type and period is 1e9 / rate.  One Function per profile
 * function (name, file), one Location per (function, line), one Sample
 * per distinct stack with its locations leaf first, as pprof wants them.
 * Thread roots and markers are functions without a file.  One mapping,
 * "[python]", says that functions, files and lines are all known, so pprof
 * does not try to symbolize anything.  Functions get no system_name: pprof
 * would then treat the name as a C++ symbol to simplify, and cut
 * "<module>" down to nothing.
 *
 * The encoding is written by hand: a message is a sequence of
 * (field << 3 | wire type) tags followed by a varint or a length-
 * delimited body; nested messages are encoded into a scratch buffer
 * first so their length is known.
 */
#define _GNU_SOURCE
#include "pyspy/cli.h"
#include "pyspy/output.h"
#include "output_internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define WIRE_VARINT 0
#define WIRE_LEN 2

struct pb {
	uint8_t *data;
	size_t len, cap;
	bool oom;
};

static void pb_reserve(struct pb *b, size_t more)
{
	size_t cap;
	uint8_t *d;

	if (b->oom || b->len + more <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d) {
		b->oom = true;
		return;
	}
	b->data = d;
	b->cap = cap;
}

static void pb_raw_varint(struct pb *b, uint64_t v)
{
	pb_reserve(b, 10);
	if (!b->oom)
		b->len += output_pb_varint(b->data + b->len, v);
}

static void pb_uint(struct pb *b, unsigned field, uint64_t v)
{
	pb_raw_varint(b, (uint64_t)field << 3 | WIRE_VARINT);
	pb_raw_varint(b, v);
}

/* An int64 field that proto3 leaves out when 0. */
static void pb_int_nz(struct pb *b, unsigned field, int64_t v)
{
	if (v)
		pb_uint(b, field, (uint64_t)v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *data, size_t len)
{
	pb_raw_varint(b, (uint64_t)field << 3 | WIRE_LEN);
	pb_raw_varint(b, len);
	pb_reserve(b, len);
	if (!b->oom && len) {
		memcpy(b->data + b->len, data, len);
		b->len += len;
	}
}

/* Append 'msg' as field 'field' of b, and empty msg for reuse. */
static void pb_message(struct pb *b, unsigned field, struct pb *msg)
{
	if (msg->oom)
		b->oom = true;
	pb_bytes(b, field, msg->data, msg->len);
	msg->len = 0;
}

/* The string table: string -> index, index 0 being "". */
struct strtab {
	char **strs;
	size_t n, cap;
	uint32_t *slots;
	size_t nslots;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static int strtab_grow(struct strtab *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 256;
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		size_t s = str_hash(t->strs[i]) & (nslots - 1);
		while (slots[s])
			s = (s + 1) & (nslots - 1);
		slots[s] = (uint32_t)i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* The index of 's', added if new; -1 when out of memory. */
static int64_t strtab_get(struct strtab *t, const char *s)
{
	size_t slot;

	if (!s)
		s = "";
	if (t->n * 2 >= t->nslots && strtab_grow(t))
		return -1;
	for (slot = str_hash(s) & (t->nslots - 1); t->slots[slot];
	     slot = (slot + 1) & (t->nslots - 1))
		if (strcmp(t->strs[t->slots[slot] - 1], s) == 0)
			return t->slots[slot] - 1;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		char **n = realloc(t->strs, cap * sizeof(*n));
		if (!n)
			return -1;
		t->strs = n;
		t->cap = cap;
	}
	t->strs[t->n] = strdup(s);
	if (!t->strs[t->n])
		return -1;
	t->slots[slot] = (uint32_t)t->n + 1;
	return (int64_t)t->n++;
}

static void strtab_free(struct strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->strs[i]);
	free(t->strs);
	free(t->slots);
}

/* profile.proto field numbers */
enum {
	PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10, PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	VALUETYPE_TYPE = 1, VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2,
	MAPPING_ID = 1, MAPPING_FILENAME = 5, MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8, MAPPING_HAS_LINE_NUMBERS = 9,
	LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1, LINE_LINE = 2,
	FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_FILENAME = 4,
};

static void value_type(struct pb *b, unsigned field, struct pb *tmp, int64_t type,
		       int64_t unit)
{
	pb_int_nz(tmp, VALUETYPE_TYPE, type);
	pb_int_nz(tmp, VALUETYPE_UNIT, unit);
	pb_message(b, field, tmp);
}

/* Encode the whole profile into b. */
static int encode(struct pb *b, const struct profile *p, const struct output_opts *o)
{
	struct strtab st = { 0 };
	struct frame_map locs = { 0 };
	struct pb msg = { 0 }, sub = { 0 }, packed = { 0 };
	struct profile_iter it = { 0 };
	const struct frame_ref *frames;
	size_t n;
	uint64_t count;
	int64_t period = o->rate > 0 ? (int64_t)(1e9 / o->rate + 0.5) : 0;
	int64_t s_samples, s_count, s_time, s_ns;
	bool *func_done = NULL;
	size_t nfuncs = 0;
	char comment[1024];
	int rc = -1;

	if (strtab_get(&st, "") != 0)
		goto out;
	s_samples = strtab_get(&st, "samples");
	s_count = strtab_get(&st, "count");
	s_time = strtab_get(&st, o->idle ? "wall" : "cpu");
	s_ns = strtab_get(&st, "nanoseconds");
	if (s_samples < 0 || s_count < 0 || s_time < 0 || s_ns < 0)
		goto out;
	value_type(b, PROFILE_SAMPLE_TYPE, &msg, s_samples, s_count);
	value_type(b, PROFILE_SAMPLE_TYPE, &msg, s_time, s_ns);

	/* Samples: locations leaf first, values [count, count * period]. */
	while (profile_next(p, &it, &frames, &n, &count)) {
		if (n == 0 || count == 0)
			continue;
		for (size_t k = n; k-- > 0;) {
			long id = frame_map_get(&locs, frames[k]);
			if (id < 0)
				goto out;
			pb_raw_varint(&packed, (uint64_t)id + 1);
		}
		pb_message(&msg, SAMPLE_LOCATION_ID, &packed);
		pb_raw_varint(&packed, count);
		pb_raw_varint(&packed, count * (uint64_t)period);
		pb_message(&msg, SAMPLE_VALUE, &packed);
		pb_message(b, PROFILE_SAMPLE, &msg);
	}

	{
		int64_t name = strtab_get(&st, "[python]");
		if (name < 0)
			goto out;
		pb_uint(&msg, MAPPING_ID, 1);
		pb_uint(&msg, MAPPING_FILENAME, (uint64_t)name);
		pb_uint(&msg, MAPPING_HAS_FUNCTIONS, 1);
		pb_uint(&msg, MAPPING_HAS_FILENAMES, 1);
		pb_uint(&msg, MAPPING_HAS_LINE_NUMBERS, 1);
		pb_message(b, PROFILE_MAPPING, &msg);
	}

	/* Locations: one line each; function ids are profile ids + 1. */
	for (size_t i = 0; i < locs.n; i++) {
		struct frame_ref f = locs.keys[i];
		pb_uint(&msg, LOCATION_ID, i + 1);
		pb_uint(&msg, LOCATION_MAPPING_ID, 1);
		pb_uint(&sub, LINE_FUNCTION_ID, (uint64_t)f.func + 1);
		pb_int_nz(&sub, LINE_LINE, f.line > 0 ? f.line : 0);
		pb_message(&msg, LOCATION_LINE, &sub);
		pb_message(b, PROFILE_LOCATION, &msg);
		if (f.func + 1 > nfuncs)
			nfuncs = f.func + 1;
	}

	/* Functions: each one a location uses, once. */
	func_done = calloc(nfuncs ? nfuncs : 1, sizeof(*func_done));
	if (!func_done)
		goto out;
	for (size_t i = 0; i < locs.n; i++) {
		uint32_t id = locs.keys[i].func;
		const struct func *fn = profile_func_get(p, id);
		int64_t name, file;

		if (func_done[id])
			continue;
		func_done[id] = true;
		name = strtab_get(&st, fn && fn->name ? fn->name : "?");
		file = strtab_get(&st, fn && fn->kind == FUNC_PYTHON
					       ? (o->full_filenames ? fn->file : fn->short_file)
					       : "");
		if (name < 0 || file < 0)
			goto out;
		pb_uint(&msg, FUNCTION_ID, (uint64_t)id + 1);
		pb_int_nz(&msg, FUNCTION_NAME, name);
		pb_int_nz(&msg, FUNCTION_FILENAME, file);
		pb_message(b, PROFILE_FUNCTION, &msg);
	}

	pb_int_nz(b, PROFILE_TIME_NANOS, o->start_realtime_ns);
	pb_int_nz(b, PROFILE_DURATION_NANOS, (int64_t)(o->duration * 1e9));
	value_type(b, PROFILE_PERIOD_TYPE, &msg, s_time, s_ns);
	pb_int_nz(b, PROFILE_PERIOD, period);
	snprintf(comment, sizeof(comment), "pyspy-c " PYSPY_VERSION ": pid %d%s%s", (int)o->pid,
		 o->command ? ": " : "", o->command ? o->command : "");
	{
		int64_t c = strtab_get(&st, comment);
		if (c < 0)
			goto out;
		pb_uint(b, PROFILE_COMMENT, (uint64_t)c);
	}
	/* The string table last: every string is known by now. */
	for (size_t i = 0; i < st.n; i++)
		pb_bytes(b, PROFILE_STRING_TABLE, st.strs[i], strlen(st.strs[i]));
	rc = b->oom || msg.oom || sub.oom || packed.oom ? -1 : 0;
out:
	free(func_done);
	free(msg.data);
	free(sub.data);
	free(packed.data);
	frame_map_free(&locs);
	strtab_free(&st);
	return rc;
}

/* gzip 'data' to out. */
static int gzip_write(FILE *out, const uint8_t *data, size_t len)
{
	z_stream z;
	uint8_t buf[65536];
	int zrc, rc = 0;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip header and trailer instead of zlib's */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		zrc = deflate(&z, Z_FINISH);
		if (zrc == Z_STREAM_ERROR) {
			rc = -1;
			break;
		}
		if (fwrite(buf, 1, sizeof(buf) - z.avail_out, out) != sizeof(buf) - z.avail_out) {
			rc = -1;
			break;
		}
	} while (zrc != Z_STREAM_END);
	deflateEnd(&z);
	return rc;
}

static int write_pprof(FILE *out, const struct profile *p, const struct output_opts *o)
{
	struct pb b = { 0 };
	int rc = encode(&b, p, o);

	/* uInt is 32 bits: a profile over 4 GiB would need chunked input. */
	if (rc == 0 && b.len > UINT32_MAX)
		rc = -1;
	if (rc == 0)
		rc = gzip_write(out, b.data, b.len);
	free(b.data);
	return rc;
}

const struct output_format output_format_pprof = {
	.name = "pprof",
	.summary = "gzipped profile.proto, as go tool pprof reads it",
	.write = write_pprof,
	.binary = true,
};
