/*
 * term.h - top's full-screen terminal: keys read one by one, the
 * alternate screen, and the terminal put back as it was on every way out
 * (normal end, error, a signal read by the sampler, a crash of the
 * profiler; only SIGKILL leaves it to the shell's `reset`).
 *
 * One terminal per process: the state is kept here, so that the crash
 * handler can restore it.
 */
#ifndef PYSPY_TERM_H
#define PYSPY_TERM_H

#include <stdbool.h>

/*
 * Switch 'out_fd' to the alternate screen with the cursor hidden and, with
 * 'keys', 'in_fd' to raw input (no echo, no line editing, no signals from
 * Ctrl-C or Ctrl-Z: they arrive as bytes).  Returns 0 or -1 (errno set).
 */
int term_enter(int in_fd, int out_fd, bool keys);
/* Put the terminal back; idempotent and async-signal-safe. */
void term_leave(void);
/* The screen size (24 x 80 when unknown). */
void term_size(int *rows, int *cols);
/*
 * Restore the terminal first when the profiler crashes, then run the crash
 * handlers installed before (target_guard_crashes(): detach the target).
 */
void term_guard_crashes(void);

#endif
