/*
 * output.h - writing a profile out.  One writer per format, chosen from a
 * table by name; every writer reads the same struct profile.
 */
#ifndef PYSPY_OUTPUT_H
#define PYSPY_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "pyspy/stacks.h"

struct output_opts {
	bool full_filenames;
};

struct output_format {
	const char *name;
	int (*write)(FILE *out, const struct profile *p, const struct output_opts *o);
};

/* The writer named 'name', or NULL. */
const struct output_format *output_find(const char *name);

/* Folded stacks: "root;...;leaf COUNT" lines, sorted bytewise. */
int output_folded(FILE *out, const struct profile *p, const struct output_opts *o);

/*
 * Format one frame as folded text into buf (with ';' and newlines replaced
 * by '_').  Returns the length.
 */
size_t output_frame_text(const struct profile *p, struct frame_ref f, bool full_filenames,
			 char *buf, size_t cap);

#endif
