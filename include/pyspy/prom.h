/*
 * prom.h - the Prometheus text format (0.0.4) as every /metrics of
 * pyspy-c writes it (serve, collect): one metric with its HELP and TYPE
 * lines, escaped label values, and the process's own CPU and memory.
 * Pure but for prom_self_usage (getrusage, /proc/self/statm).
 */
#ifndef PYSPY_PROM_H
#define PYSPY_PROM_H

#include <stdint.h>
#include <stdio.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP name help" and "# TYPE name type" (type: gauge, counter). */
void prom_head(FILE *out, const char *name, const char *type, const char *help);
/* The head and one sample without labels. */
void prom_metric(FILE *out, const char *name, const char *type, const char *help, double v);
/* A label value as the format quotes it: '\\', '"' and newline escaped. */
void prom_label_value(FILE *out, const char *v);
/* CPU time of this process (user and system, seconds) and its resident bytes. */
void prom_self_usage(double *cpu_seconds, uint64_t *resident_bytes);

#endif
