/*
 * pystr.h - decoding CPython string objects copied out of the target.
 * Pure functions: bytes in, UTF-8 out, every length bounded.
 */
#ifndef PYSPY_PYSTR_H
#define PYSPY_PYSTR_H

#include <stddef.h>
#include <stdint.h>

#include "pyspy/pylayout.h"

#define PYSTR_MAX_CHARS 4096  /* longer names are cut (and marked "...") */

struct pystr_info {
	uint64_t data;     /* remote address of the characters */
	size_t nchars;     /* characters to read (bounded by PYSTR_MAX_CHARS) */
	int kind;          /* bytes per character: 1, 2 or 4 */
	int cut;           /* the string was longer than nchars */
	uint64_t length;   /* characters (bytes) the header claims */
};

/*
 * From the copied header of a str object at remote address 'addr' (hdr_len
 * bytes, at least layout->unicode_compact_size), find its characters.
 * 2.7 (PyStringObject) and bytes objects use pystr_bytes_info().
 * Returns 0, or -1 when the header is not a compact string we can read.
 */
int pystr_unicode_info(const uint8_t *hdr, size_t hdr_len, const struct py_layout *l,
		       uint64_t addr, struct pystr_info *out);
/* Same for a PyBytesObject / 2.7 PyStringObject; max bounds the length. */
int pystr_bytes_info(const uint8_t *hdr, size_t hdr_len, const struct py_layout *l,
		     uint64_t addr, size_t max, struct pystr_info *out);

/*
 * Encode nchars characters of 'kind' bytes each as UTF-8 into out (always
 * NUL-terminated, at most cap bytes).  Invalid code points become U+FFFD.
 * Returns the length written, excluding the NUL.
 */
size_t pystr_to_utf8(const uint8_t *data, size_t nchars, int kind, char *out, size_t cap);

#endif
