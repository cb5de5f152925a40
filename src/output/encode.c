/*
 * encode.c - the small encoders the writers share: UTF-8 checking, JSON
 * strings, XML text, protobuf varints, ISO 8601 times.
 *
 * Names come from the target's memory and are not trusted to be UTF-8;
 * a JSON or SVG file with one bad byte is rejected whole by its reader,
 * so every invalid sequence becomes U+FFFD here.
 */
#define _GNU_SOURCE
#include "pyspy/output.h"
#include "output_internal.h"

#include <inttypes.h>
#include <stdlib.h>

#include <string.h>
#include <time.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

long output_utf8_next(const unsigned char *s, size_t len, size_t *used)
{
	unsigned char c = s[0];
	size_t need;
	long cp, min;

	*used = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3, cp = c & 0x07, min = 0x10000;
	} else {
		return -1;   /* continuation byte, overlong lead (c0, c1), or > f4 */
	}
	if (len < need + 1)
		return -1;
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;   /* overlong, out of range, or a UTF-16 surrogate */
	*used = need + 1;
	return cp;
}

void output_json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	const unsigned char *run = p;   /* characters written as they are, from here to p */
	size_t len = strlen((const char *)p);

	fputc('"', out);
	while (len) {
		size_t used;
		long cp = output_utf8_next(p, len, &used);

		if (cp >= 0x20 && cp != '"' && cp != '\\' && cp != 0x7f && cp != 0x2028 &&
		    cp != 0x2029) {
			/* One write per run, not per character (a flame graph's
			   JSON is megabytes of names). */
			p += used;
			len -= used;
			continue;
		}
		fwrite(run, 1, (size_t)(p - run), out);
		if (cp < 0) {
			fputs(REPLACEMENT, out);
		} else if (cp == '"' || cp == '\\') {
			fputc('\\', out);
			fputc((int)cp, out);
		} else if (cp == '\n') {
			fputs("\\n", out);
		} else if (cp == '\t') {
			fputs("\\t", out);
		} else if (cp == '\r') {
			fputs("\\r", out);
		} else {
			/* controls, DEL; U+2028 and U+2029: valid JSON, but not
			   valid JavaScript before ES2019 */
			fprintf(out, "\\u%04lx", cp);
		}
		p += used;
		len -= used;
		run = p;
	}
	fwrite(run, 1, (size_t)(p - run), out);
	fputc('"', out);
}

void output_xml_text_n(FILE *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	if (!s)
		len = 0;
	while (len) {
		size_t used;
		long cp = output_utf8_next(p, len, &used);

		if (cp < 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
		    cp == 0xfffe || cp == 0xffff)
			fputs(REPLACEMENT, out);   /* not allowed in XML 1.0, even escaped */
		else if (cp == '&')
			fputs("&amp;", out);
		else if (cp == '<')
			fputs("&lt;", out);
		else if (cp == '>')
			fputs("&gt;", out);
		else if (cp == '"')
			fputs("&quot;", out);
		else if (cp == '\'')
			fputs("&#39;", out);
		else if (cp == '\n' || cp == '\r' || cp == '\t')
			fprintf(out, "&#%ld;", cp);  /* kept through attribute normalisation */
		else
			fwrite(p, 1, used, out);
		p += used;
		len -= used;
	}
}

void output_xml_text(FILE *out, const char *s)
{
	output_xml_text_n(out, s, s ? strlen(s) : 0);
}

size_t output_pb_varint(uint8_t *buf, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		buf[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t)v;
	return n;
}

void output_iso_time(int64_t realtime_ns, char *buf, size_t cap)
{
	time_t sec = (time_t)(realtime_ns / 1000000000);
	int ms = (int)(realtime_ns % 1000000000 / 1000000);
	struct tm tm;
	char day[32];

	if (realtime_ns < 0 || !gmtime_r(&sec, &tm)) {
		snprintf(buf, cap, "1970-01-01T00:00:00.000Z");
		return;
	}
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%03dZ", day, ms);
}

static uint64_t frame_hash(struct frame_ref f)
{
	uint64_t h = ((uint64_t)f.func << 32 | (uint32_t)f.line) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

static int frame_map_grow(struct frame_map *m)
{
	size_t nslots = m->nslots ? m->nslots * 2 : 1024;
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		size_t s = frame_hash(m->keys[i]) & (nslots - 1);
		while (slots[s])
			s = (s + 1) & (nslots - 1);
		slots[s] = (uint32_t)i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = nslots;
	return 0;
}

/* The frame's index, added if new; -1 when out of memory. */
long frame_map_get(struct frame_map *m, struct frame_ref f)
{
	size_t s;

	if (m->n * 2 >= m->nslots && frame_map_grow(m))
		return -1;
	for (s = frame_hash(f) & (m->nslots - 1); m->slots[s]; s = (s + 1) & (m->nslots - 1)) {
		struct frame_ref k = m->keys[m->slots[s] - 1];
		if (k.func == f.func && k.line == f.line)
			return (long)(m->slots[s] - 1);
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		struct frame_ref *k = realloc(m->keys, cap * sizeof(*k));
		if (!k)
			return -1;
		m->keys = k;
		m->cap = cap;
	}
	m->keys[m->n] = f;
	m->slots[s] = (uint32_t)m->n + 1;
	return (long)m->n++;
}

void frame_map_free(struct frame_map *m)
{
	free(m->keys);
	free(m->slots);
}

void output_thread_name(const struct profile *p, const struct timeline_thread *th, char *buf,
			size_t cap)
{
	const struct func *f = th->label != FUNC_NONE ? profile_func_get(p, th->label) : NULL;

	if (f && f->name)
		snprintf(buf, cap, "%s", f->name);
	else if (th->tid)
		snprintf(buf, cap, "thread (%d)", (int)th->tid);
	else
		snprintf(buf, cap, "thread (0x%" PRIx64 ")", th->thread_id);
}


static int cmp_thread(const void *a, const void *b, void *ctx)
{
	const struct timeline_thread *x = timeline_thread(ctx, *(const size_t *)a);
	const struct timeline_thread *y = timeline_thread(ctx, *(const size_t *)b);
	uint64_t kx = x->tid ? (uint64_t)x->tid : UINT64_MAX;
	uint64_t ky = y->tid ? (uint64_t)y->tid : UINT64_MAX;

	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (x->thread_id != y->thread_id)
		return x->thread_id < y->thread_id ? -1 : 1;
	if (x->tstate != y->tstate)
		return x->tstate < y->tstate ? -1 : 1;
	return 0;
}

size_t *output_thread_order(const struct timeline *tl)
{
	size_t n = timeline_nthreads(tl);
	size_t *order = malloc((n ? n : 1) * sizeof(*order));

	if (!order)
		return NULL;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_thread, (void *)tl);
	return order;
}
