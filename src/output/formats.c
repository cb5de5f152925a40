/*
 * formats.c - the table of output writers.  Each writer lives in its own
 * file and exports one struct output_format named output_format_NAME;
 * adding a format is that file and one X() line below.
 */
#include "pyspy/output.h"

#include <string.h>

#define OUTPUT_FORMATS(X) \
	X(folded)         \
	X(speedscope)     \
	X(chrometrace)    \
	X(svg)            \
	X(pprof)

#define DECLARE(name) extern const struct output_format output_format_##name;
OUTPUT_FORMATS(DECLARE)
#undef DECLARE

static const struct output_format *const formats[] = {
#define ENTRY(name) &output_format_##name,
	OUTPUT_FORMATS(ENTRY)
#undef ENTRY
};

const struct output_format *output_find(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i]->name, name) == 0)
			return formats[i];
	return NULL;
}

const struct output_format *output_format_at(size_t i)
{
	return i < sizeof(formats) / sizeof(formats[0]) ? formats[i] : NULL;
}
