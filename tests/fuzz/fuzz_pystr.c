/*
 * fuzz_pystr.c - decoding of string and bytes headers and their characters
 * for every built-in layout.  Input: layout index (1 byte), kind for the
 * UTF-8 encoder (1), then a header and characters.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "pyspy/pylayout.h"
#include "pyspy/pystr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t nlayouts = 0;
	const struct py_layout *l;
	struct pystr_info si;
	int kind = 1 << (fuzz_take(&in, 1) % 3);
	uint8_t *buf;
	char out[PYSTR_MAX_CHARS * 4 + 8];
	size_t nchars;

	while (py_layouts[nlayouts])
		nlayouts++;
	l = py_layouts[fuzz_take(&in, 1) % nlayouts];
	buf = malloc(in.n ? in.n : 1);
	if (!buf)
		return 0;
	memcpy(buf, in.p, in.n);
	if (pystr_unicode_info(buf, in.n, l, 0x10000, &si) == 0 &&
	    (si.nchars > PYSTR_MAX_CHARS || (si.kind != 1 && si.kind != 2 && si.kind != 4)))
		abort();
	if (pystr_bytes_info(buf, in.n, l, 0x10000, 256, &si) == 0 && si.nchars > 256)
		abort();
	/* Characters: whatever is left, in the kind chosen. */
	nchars = in.n / (size_t)kind;
	if (nchars > PYSTR_MAX_CHARS)
		nchars = PYSTR_MAX_CHARS;
	if (pystr_to_utf8(buf, nchars, kind, out, sizeof(out)) >= sizeof(out))
		abort();
	(void)pystr_to_utf8(buf, nchars, kind, out, 7); /* a small buffer cuts cleanly */
	free(buf);
	return 0;
}
