/* error.c - error codes, their exit status, and the detail of the last one */
#include "pyspy/error.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
	int status;
	const char *desc;
} errors[PERR__COUNT] = {
#define PERR_ROW(name, st, d) [PERR_##name] = { .status = st, .desc = d },
	PYSPY_ERRORS(PERR_ROW)
#undef PERR_ROW
};

static char detail[512];

static int index_of(int err)
{
	if (err < 0)
		err = -err;
	return err < PERR__COUNT ? err : PERR_RUNTIME;
}

int perr_exit_status(int err)
{
	return errors[index_of(err)].status;
}

const char *perr_desc(int err)
{
	return errors[index_of(err)].desc;
}

int perr_set(enum perr code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return -(int)code;
}

const char *perr_detail(int err)
{
	return detail[0] ? detail : perr_desc(err);
}

void perr_clear(void)
{
	detail[0] = '\0';
}
