/*
 * pystr.c - CPython string objects to UTF-8.
 *
 * Since 3.3 (PEP 393) a str is "compact": its characters follow the
 * header, 1, 2 or 4 bytes each ('kind').  ASCII-only strings use the
 * shorter PyASCIIObject header, others PyCompactUnicodeObject; both sizes
 * shrank in 3.12 when the wstr fields went away, so they come from the
 * layout.  The state bitfield has kept interned:2, kind:3, compact:1,
 * ascii:1 in its low bits from 3.3 on; free-threaded 3.14 made 'interned'
 * a whole byte, which moves the rest up to bit 8 (unicode_kind_shift).
 */
#include "pyspy/pystr.h"

#include <string.h>

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

int pystr_unicode_info(const uint8_t *hdr, size_t hdr_len, const struct py_layout *l,
		       uint64_t addr, struct pystr_info *out)
{
	uint32_t state;
	uint64_t len;
	int kind, compact, ascii;

	if (l->unicode_state < 0 || l->unicode_length < 0 ||
	    (size_t)l->unicode_state + 4 > hdr_len ||
	    (size_t)l->unicode_length + 8 > hdr_len)
		return -1;
	state = get_u32(hdr + l->unicode_state);
	len = get_u64(hdr + l->unicode_length);
	kind = (state >> l->unicode_kind_shift) & 7;
	compact = (state >> (l->unicode_kind_shift + 3)) & 1;
	ascii = (state >> (l->unicode_kind_shift + 4)) & 1;
	if (!compact || (kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1))
		return -1;
	if (len > ((uint64_t)1 << 40))
		return -1;
	out->data = addr + (uint64_t)(ascii ? l->unicode_ascii_size : l->unicode_compact_size);
	out->kind = kind;
	out->cut = len > PYSTR_MAX_CHARS;
	out->nchars = out->cut ? PYSTR_MAX_CHARS : (size_t)len;
	out->length = len;
	return 0;
}

int pystr_bytes_info(const uint8_t *hdr, size_t hdr_len, const struct py_layout *l,
		     uint64_t addr, size_t max, struct pystr_info *out)
{
	int64_t len;

	if (l->var_size < 0 || (size_t)l->var_size + 8 > hdr_len)
		return -1;
	memcpy(&len, hdr + l->var_size, sizeof(len));
	if (len < 0 || (uint64_t)len > ((uint64_t)1 << 40))
		return -1;
	out->data = addr + (uint64_t)l->bytes_sval;
	out->kind = 1;
	out->cut = (uint64_t)len > max;
	out->nchars = out->cut ? max : (size_t)len;
	out->length = (uint64_t)len;
	return 0;
}

static size_t put_utf8(uint32_t c, char *out, size_t room)
{
	if (c >= 0xd800 && c <= 0xdfff)
		c = 0xfffd; /* lone surrogates (surrogateescape'd bytes) */
	if (c > 0x10ffff)
		c = 0xfffd;
	if (c < 0x80) {
		if (room < 1)
			return 0;
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		if (room < 2)
			return 0;
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		if (room < 3)
			return 0;
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	if (room < 4)
		return 0;
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

size_t pystr_to_utf8(const uint8_t *data, size_t nchars, int kind, char *out, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < nchars; i++) {
		uint32_t c;
		size_t w;

		if (kind == 1)
			c = data[i];
		else if (kind == 2)
			c = (uint32_t)data[2 * i] | (uint32_t)data[2 * i + 1] << 8;
		else
			c = get_u32(data + 4 * i);
		w = put_utf8(c, out + o, cap - 1 - o);
		if (w == 0)
			break;
		o += w;
	}
	out[o] = '\0';
	return o;
}
