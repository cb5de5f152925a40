/*
 * linetable.c - bytecode offset -> source line, for every line-table format
 * CPython has used (see include/pyspy/linetable.h).
 *
 * The tables come from a process we do not trust, so every loop is bounded
 * by 'len', no byte at or past tbl[len] is ever read, arithmetic is done in
 * 64 bits so it cannot overflow, and anything malformed gives -1.
 *
 * The semantics follow CPython's own decoders:
 *   2.7          Objects/codeobject.c PyCode_Addr2Line (unsigned line incr)
 *   3.6 - 3.9    Objects/codeobject.c PyCode_Addr2Line, Objects/lnotab_notes.txt
 *   3.10         Objects/codeobject.c _PyCode_CheckLineNumber / advance()
 *   3.11+        Objects/codeobject.c advance() / get_line_delta(),
 *                InternalDocs/locations.md (Objects/locations.md in older trees)
 */
#include "pyspy/linetable.h"

#include <limits.h>
#include <stdbool.h>

/*
 * No real table comes anywhere near this (co_code itself is capped at
 * INT_MAX bytes and a table is a small fraction of it); refusing bigger ones
 * keeps the 64-bit accumulators below can never overflow (2^30 * 2^32).
 */
#define LINETABLE_MAX_LEN	((size_t)1 << 30)

/* 3.11+: a varint is at most 6 chunks of 6 bits in CPython's 32-bit reader. */
#define VARINT_MAX_CHUNKS	6

/* A computed line outside [0, INT_MAX] cannot be real: report "no line". */
static int line_result(int64_t line)
{
	if (line < 0 || line > INT_MAX)
		return -1;
	return (int)line;
}

/*
 * co_lnotab, 2.7 and 3.6-3.9: (addr_incr, line_incr) byte pairs.  CPython's
 * loop is
 *
 *	addr += addr_incr; if (addr > addrq) break; line += line_incr;
 *
 * i.e. a pair's line increment applies from its address on, and the break is
 * strictly "addr > target": an instruction exactly at a row's address already
 * has that row's line.  Until 3.6 the increment was unsigned; 3.6 made it a
 * signed byte (lnotab_notes.txt) so that lines may go backwards.  The table
 * has no end marker and does not know the code size: every offset past the
 * last row keeps the last line (CPython does the same), so this format never
 * reports "past the table".  A trailing odd byte is ignored, as CPython's
 * size / 2 does.
 */
static int lnotab_line(const uint8_t *tbl, size_t len, int firstlineno,
		       uint32_t offset, bool signed_incr)
{
	uint64_t addr = 0;
	int64_t line = firstlineno;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		addr += tbl[i];
		if (addr > offset)
			break;
		if (signed_incr)
			line += (int8_t)tbl[i + 1];
		else
			line += tbl[i + 1];
	}
	return line_result(line);
}

/*
 * co_linetable, 3.10 (PEP 626): (addr_delta, line_delta) byte pairs, each
 * describing the half-open byte range [end, end + addr_delta) that follows
 * the previous one, starting at 0.  line_delta is a signed byte; -128 means
 * "this range has no line" and leaves the running line alone.  Zero-width
 * ranges only carry line deltas (CPython's NextAddressRange skips them).
 * An offset inside a range gets that range's line; one at its end belongs
 * to the next range; one past the last range gets -1 (_PyCode_CheckLineNumber
 * returns -1 when it runs off the table).
 */
static int pep626_line(const uint8_t *tbl, size_t len, int firstlineno,
		       uint32_t offset)
{
	uint64_t end = 0;
	int64_t line = firstlineno;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		int ldelta = (int8_t)tbl[i + 1];

		end += tbl[i];
		if (ldelta != -128)
			line += ldelta;
		if (offset < end)
			return ldelta == -128 ? -1 : line_result(line);
	}
	return -1;
}

/*
 * 3.11+ varint: 6-bit chunks, least significant first, bit 6 (0x40) set on
 * every chunk but the last.  Bytes inside an entry never have bit 7 set (that
 * marks the next entry's header), so one that does means the varint was cut
 * short: malformed.  So is running off the table or needing more chunks than
 * CPython's 32-bit reader can hold.
 */
static int read_varint(const uint8_t *tbl, size_t len, size_t *pos,
		       uint32_t *val)
{
	uint32_t v = 0;
	unsigned int shift = 0;
	int n;

	for (n = 0; n < VARINT_MAX_CHUNKS; n++) {
		uint8_t b;

		if (*pos >= len)
			return -1;
		b = tbl[(*pos)++];
		if (b & 0x80)
			return -1;
		v |= (uint32_t)(b & 0x3f) << shift;
		shift += 6;
		if (!(b & 0x40)) {
			*val = v;
			return 0;
		}
	}
	return -1;
}

/* Signed varint: the low bit is the sign, the magnitude is the rest. */
static int read_svarint(const uint8_t *tbl, size_t len, size_t *pos,
			int64_t *val)
{
	uint32_t u;

	if (read_varint(tbl, len, pos, &u) < 0)
		return -1;
	*val = (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
	return 0;
}

/*
 * co_linetable, 3.11+ (PEP 657 location table).  Each entry starts with a
 * header byte 1ccccnnn: it covers n + 1 code units (2 bytes each) and 'c'
 * says how the location is stored:
 *   15      no location: the line is -1, the running line is unchanged
 *   14      long form: svarint line delta, varint end-line delta, varint
 *           column + 1, varint end column + 1
 *   13      no columns: svarint line delta
 *   10-12   one-line form: line delta c - 10, then column and end column bytes
 *   0-9     short form: same line, one byte of column bits
 * Only the line delta matters here; like CPython's advance() we then skip to
 * the next byte with bit 7 set rather than decode the columns, so a table
 * CPython accepts is accepted here too.  Ranges are half-open like 3.10: an
 * offset inside an entry (e.g. on an inline cache unit, or an odd byte) gets
 * that entry's line, and an offset past the last entry gets -1.
 */
static int pep657_line(const uint8_t *tbl, size_t len, int firstlineno,
		       uint32_t offset)
{
	uint64_t end = 0;
	int64_t line = firstlineno;
	size_t i = 0;

	while (i < len) {
		uint8_t hdr = tbl[i++];
		unsigned int code = (hdr >> 3) & 0x0f;
		int64_t ldelta = 0;
		bool noline = false;

		/* Every entry starts with a header; anything else is garbage. */
		if (!(hdr & 0x80))
			return -1;
		end += ((uint64_t)(hdr & 0x07) + 1) * 2;

		switch (code) {
		case 15:
			noline = true;
			break;
		case 14:
		case 13:
			if (read_svarint(tbl, len, &i, &ldelta) < 0)
				return -1;
			break;
		case 12:
		case 11:
		case 10:
			ldelta = code - 10;
			break;
		default:
			break;
		}
		line += ldelta;

		while (i < len && !(tbl[i] & 0x80))
			i++;

		if (offset < end)
			return noline ? -1 : line_result(line);
	}
	return -1;
}

int linetable_line(enum linetable_format fmt, const uint8_t *tbl, size_t len,
		   int firstlineno, uint32_t offset)
{
	if (len > 0 && tbl == NULL)
		return -1;
	if (len > LINETABLE_MAX_LEN)
		return -1;

	switch (fmt) {
	case LINETABLE_LNOTAB_U:
		return lnotab_line(tbl, len, firstlineno, offset, false);
	case LINETABLE_LNOTAB:
		return lnotab_line(tbl, len, firstlineno, offset, true);
	case LINETABLE_PEP626:
		return pep626_line(tbl, len, firstlineno, offset);
	case LINETABLE_PEP657:
		return pep657_line(tbl, len, firstlineno, offset);
	}
	return -1;
}
