/*
 * fuzz_debug_offsets.c - validation of a _Py_DebugOffsets table (3.13+)
 * copied from the start of _PyRuntime: any bytes are either refused or
 * give a layout whose offsets the reads of the walk can use.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "pyspy/pylayout.h"
#include "python/python_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	struct py_layout l;
	uint64_t vh = 0;
	char diag[256];
	const struct py_layout *base = py_layout_for(3, 13);

	if (size > PY_DEBUG_OFFSETS_MAX)
		size = PY_DEBUG_OFFSETS_MAX;
	buf = malloc(size ? size : 1);
	if (!buf || !base) {
		free(buf);
		return 0;
	}
	memcpy(buf, data, size);
	l = *base;
	(void)py_debug_offsets_apply(buf, size, &l, &vh, diag, sizeof(diag));
	if (!memchr(diag, 0, sizeof(diag)))
		abort();
	free(buf);
	return 0;
}
