/*
 * fuzz_timearg.c - the one parser of times a user or a web page gives
 * (query --from/--until; ISO 8601, Unix seconds, -1h, now-15m), and the
 * collector's agents file, on any text.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "pyspy/collect.h"
#include "pyspy/timearg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char err[256];
	int64_t t;
	struct collect_agent *agents = NULL;
	size_t n = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)timearg_parse(text, 1796500000ll, &t, err, sizeof(err));
	if (collect_parse_agents(text, &agents, &n, err, sizeof(err)) == 0)
		collect_agents_free(agents, n);
	free(text);
	return 0;
}
