/*
 * fuzz_linetable.c - linetable_line() on any bytes, in every format.
 * Input: format (1 byte), first line (4), offset (4), then the table.
 * The table is an exact-size heap copy, so a read past it is caught.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "pyspy/linetable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	enum linetable_format fmt = (enum linetable_format)(fuzz_take(&in, 1) % 4);
	int first = (int)(int32_t)fuzz_take(&in, 4);
	uint32_t off = (uint32_t)fuzz_take(&in, 4);
	uint8_t *tbl = malloc(in.n ? in.n : 1);
	int line;

	if (!tbl)
		return 0;
	memcpy(tbl, in.p, in.n);
	line = linetable_line(fmt, tbl, in.n, first, off);
	if (line < -1)
		abort(); /* the contract: a line >= 0, or -1 */
	/* The same table at a few other offsets: lookups are independent. */
	for (uint32_t k = 0; k < 4; k++)
		(void)linetable_line(fmt, tbl, in.n, first, off / 4 * k);
	free(tbl);
	return 0;
}
