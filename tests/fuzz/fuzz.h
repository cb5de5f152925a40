/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: a cursor over
 * the fuzzer's input that never reads past its end.
 */
#ifndef PYSPY_FUZZ_H
#define PYSPY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* The next k bytes as a little-endian number (zeros past the end). */
static inline uint64_t fuzz_take(struct fuzz_in *in, size_t k)
{
	uint64_t v = 0;

	for (size_t i = 0; i < k; i++)
		if (in->n) {
			v |= (uint64_t)in->p[0] << (8 * i);
			in->p++;
			in->n--;
		}
	return v;
}

#endif
