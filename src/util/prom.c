/*
 * prom.c - the Prometheus text format (see prom.h).
 */
#include "pyspy/prom.h"

#include <sys/resource.h>
#include <unistd.h>

void prom_head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_metric(FILE *out, const char *name, const char *type, const char *help, double v)
{
	prom_head(out, name, type, help);
	fprintf(out, "%s %.15g\n", name, v);
}

void prom_label_value(FILE *out, const char *v)
{
	fputc('"', out);
	for (const char *p = v; *p; p++) {
		if (*p == '\n') {
			fputs("\\n", out);
			continue;
		}
		if (*p == '\\' || *p == '"')
			fputc('\\', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

void prom_self_usage(double *cpu_seconds, uint64_t *resident_bytes)
{
	unsigned long long size = 0, rss = 0;
	struct rusage ru;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%llu %llu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	*resident_bytes = rss * (uint64_t)sysconf(_SC_PAGESIZE);
	getrusage(RUSAGE_SELF, &ru);
	*cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
