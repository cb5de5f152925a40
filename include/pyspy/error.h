/*
 * error.h - error codes shared by every stage, and the exit status each maps to.
 *
 * Functions return 0 or a negative PERR_* code; the detail for the user is
 * formatted once with perr_set() where the error is first understood, and
 * printed by the command that gives up (one line, "pyspy-c: <detail>").
 */
#ifndef PYSPY_ERROR_H
#define PYSPY_ERROR_H

/* X(name, exit status, short description) -- the one list of errors. */
#define PYSPY_ERRORS(X)                                                  \
	X(OK,      0, "success")                                         \
	X(RUNTIME, 1, "runtime error")                                   \
	X(USAGE,   2, "usage error")                                     \
	X(NOPROC,  3, "no such process")                                 \
	X(PERM,    4, "permission denied")                               \
	X(NOTPY,   5, "not a python process")                            \
	X(VERSION, 6, "unsupported python version")                      \
	X(UNAVAILABLE, 7, "not available for this target")  /* --gil: no GIL */ \
	X(NOEXEC, 126, "program cannot be run")  /* record -- PROGRAM, as env(1) */ \
	X(NOTFOUND, 127, "program not found")     /* record -- PROGRAM, as env(1) */ \
	X(NOMEM,   1, "out of memory")                                   \
	X(TORN,    1, "inconsistent target memory")  /* drop one sample */ \
	X(GONE,    0, "target exited")               /* end the session */ \
	X(TIMEOUT, 1, "target did not stop in time") /* drop one sample */

enum perr {
#define PERR_ENUM(name, status, desc) PERR_##name,
	PYSPY_ERRORS(PERR_ENUM)
#undef PERR_ENUM
	PERR__COUNT
};

/* Exit status for an error code (positive or negative). */
int perr_exit_status(int err);
/* Short description of an error code (positive or negative). */
const char *perr_desc(int err);

/*
 * Record the detail of the error being returned; returns -code so that
 * "return perr_set(PERR_PERM, "...", ...)" reads naturally.  The detail is
 * kept until the next perr_set().
 */
int perr_set(enum perr code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The last detail, or the short description of 'err' if none was set. */
const char *perr_detail(int err);
void perr_clear(void);

#endif
