/* formats.c - the table of output writers: one entry per format */
#include "pyspy/output.h"

#include <string.h>

static const struct output_format formats[] = {
	{ "folded", output_folded },
};

const struct output_format *output_find(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i].name, name) == 0)
			return &formats[i];
	return NULL;
}
