/*
 * linetable.h - map a bytecode offset to a source line, for every line-table
 * format CPython has used.  Pure functions over bytes already copied out of
 * the target: no remote access, no allocation.
 *
 * Formats (the version that introduced each):
 *   LINETABLE_LNOTAB_U  2.7      co_lnotab, (addr_incr, line_incr) byte pairs,
 *                                line increments unsigned
 *   LINETABLE_LNOTAB    3.6-3.9  co_lnotab, line increments signed (int8)
 *   LINETABLE_PEP626    3.10     co_linetable, (addr_delta, line_delta) pairs,
 *                                line_delta -128 = no line
 *   LINETABLE_PEP657    3.11+    co_linetable location table (varint entries)
 *
 * Offsets are always given in BYTES from the start of the bytecode; callers
 * convert from the unit their frame stores (3.10 f_lasti counts code units,
 * 3.11+ instruction pointers are code-unit pointers).
 */
#ifndef PYSPY_LINETABLE_H
#define PYSPY_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

enum linetable_format {
	LINETABLE_LNOTAB_U,
	LINETABLE_LNOTAB,
	LINETABLE_PEP626,
	LINETABLE_PEP657,
};

/*
 * Line of the instruction at byte offset 'offset', starting from
 * 'firstlineno'.  Returns the line (>= 0), or -1 when the table gives the
 * instruction no line (PEP 626/657 "no location") or, for PEP 626/657, the
 * offset lies past the table.  co_lnotab does not know the code length:
 * like CPython, offsets past it get the last line.  Malformed tables
 * (truncated varints, etc.) never read past tbl[len - 1] and return -1.
 * Negative offsets (a frame before its first instruction) are the
 * caller's to handle: CPython reports co_firstlineno for them.
 */
int linetable_line(enum linetable_format fmt, const uint8_t *tbl, size_t len,
		   int firstlineno, uint32_t offset);

#endif
