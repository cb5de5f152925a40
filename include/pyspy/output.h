/*
 * output.h - writing a profile out.  One writer per format, one file per
 * writer in src/output/, chosen from the table in formats.c by name;
 * every writer reads the same struct profile (and, for the formats that
 * show time per thread, the session's struct timeline).
 */
#ifndef PYSPY_OUTPUT_H
#define PYSPY_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pyspy/stacks.h"
#include "pyspy/timeline.h"
#include "pyspy/topstats.h"

/* What a writer may want to say about the recording besides the stacks. */
struct output_opts {
	bool full_filenames;
	const struct timeline *timeline; /* per-thread timelines; NULL unless needed */
	double rate;                /* samples per second asked (0: unknown) */
	bool idle;                  /* idle samples kept: wall-clock, not CPU time */
	pid_t pid;                  /* the target, 0: unknown */
	const char *command;        /* its command line, for titles; may be NULL */
	int64_t start_realtime_ns;  /* wall-clock start of the recording, 0: unknown */
	double duration;            /* seconds recorded */
	uint64_t samples;           /* samples taken */
	uint64_t failed;            /* samples that failed */
};

struct output_format {
	const char *name;
	const char *summary;        /* one line, for --help and errors */
	int (*write)(FILE *out, const struct profile *p, const struct output_opts *o);
	bool needs_timeline;        /* reads o->timeline */
	bool binary;                /* not text: refused on a terminal */
	bool streams;               /* can be written once per --interval window */
};

/* The writer named 'name', or NULL. */
const struct output_format *output_find(const char *name);
/* The i-th writer of the table, or NULL past the end. */
const struct output_format *output_format_at(size_t i);

/* Folded stacks: "root;...;leaf COUNT" lines, sorted bytewise. */
int output_folded(FILE *out, const struct profile *p, const struct output_opts *o);

/*
 * Format one frame as folded text into buf (with ';' and newlines replaced
 * by '_').  Returns the length.
 */
size_t output_frame_text(const struct profile *p, struct frame_ref f, bool full_filenames,
			 char *buf, size_t cap);

/*
 * top's view (src/output/top.c): a title, the counts, the GIL and activity
 * of the last window, then the functions ranked by 'sort':
 *
 *   GIL: 45.00%, GC: 2.00%, Active: 100.00%, Threads: 4
 *
 *      %Own   %Total  OwnTime  TotalTime  Function (filename)
 *    60.00%   60.00%    6.00s      6.00s  busy (app.py)
 *
 * GC is the share of samples in which the garbage collector ran ("n/a"
 * when it cannot be read: 2.7, 3.6, free-threaded builds, --no-gc);
 * "Interpreters: N" follows when the process has subinterpreters.
 * Shares are of the window's samples (a function busy in two threads at
 * once shows 200%); times are samples times the period, since the start
 * or the last reset.  Every line is cut to 'width' columns; with 'height'
 * the view fills at most that many lines (the rows that do not fit are
 * left out), else every function with samples in the window is listed.
 */
struct top_view {
	const char *title;          /* first line */
	uint64_t samples;           /* since the start */
	double elapsed;             /* seconds since the start */
	uint64_t late, failed;
	uint64_t win_samples, win_active, win_gil, win_gil_known;
	uint64_t win_gc, win_gc_known;  /* samples in which a collector ran, of those read */
	unsigned threads;
	unsigned interps;           /* interpreters; shown when more than one */
	double period;              /* seconds per sample */
	enum top_sort sort;
	bool full_filenames;
	int width;                  /* columns, 0: no limit */
	int height;                 /* lines, 0: no limit (and only the
				       functions seen in the window) */
	bool ansi;                  /* a terminal: the sort column in reverse
				       video, each line cleared to its end */
	const char *status;         /* a last line (keys, a message), or NULL */
};
int output_top(FILE *out, const struct profile *p, struct top_stats *ts,
	       const struct top_view *v);
/* The name of a sort column as top shows it ("%Own", ...). */
const char *output_top_column(enum top_sort c);

/*
 * Encoders shared by the writers (src/output/encode.c).
 *
 * Text from the target (function and file names) is bytes that should be
 * UTF-8; the JSON and XML writers replace every invalid sequence by
 * U+FFFD, and every character their format cannot carry (XML 1.0 has no
 * control characters but tab, LF and CR) likewise.
 */
/* 's' as a JSON string, quotes included. */
void output_json_string(FILE *out, const char *s);
/* 's' as XML character data or attribute value (quotes escaped too). */
void output_xml_text(FILE *out, const char *s);
/* The same, for at most 'len' bytes of 's' (cut on a character boundary). */
void output_xml_text_n(FILE *out, const char *s, size_t len);
/*
 * Decode one UTF-8 character of s[0 .. len-1]: returns its code point and
 * sets *used, or returns -1 for an invalid sequence (*used = 1).
 */
long output_utf8_next(const unsigned char *s, size_t len, size_t *used);
/* Protocol-buffer base-128 varint of v into buf (10 bytes suffice). */
size_t output_pb_varint(uint8_t *buf, uint64_t v);
/* ISO 8601 UTC with milliseconds ("2026-11-21T14:05:03.120Z"). */
void output_iso_time(int64_t realtime_ns, char *buf, size_t cap);

#endif
