/*
 * store_bench.c - the store's benchmark (bench/store): ingest and query
 * times of synthetic fleet windows, on SQLite or PostgreSQL.
 *
 *   store-bench --store URL [--processes N] [--hours H] [--stacks S]
 *               [--repeat-hours R]
 *   store-bench --store URL --migrate
 *
 * N processes (4 per agent, agents spread over 3 services) send one 10 s
 * window each per round, 100 Hz: 1000 samples over 50 stacks drawn with a
 * strong skew from the service's S distinct stacks (depth 12 to 45,
 * sharing prefixes), H hours ending at a fixed hour.  Each round is one
 * transaction, as the collector writes: one store_put per agent (its
 * window and cursor), then store_commit.  Then the flame graph of the
 * last 15 minutes, 24 hours and 7 days (of what exists), all processes.
 * Prints one JSON object on stdout: wall and CPU seconds (this process
 * only: a PostgreSQL server's own CPU is not in it), windows and samples
 * per second, bytes on disk per sample, query times.  With --migrate it
 * only opens an existing store as a writer (which migrates an older
 * schema) and prints the seconds that took and the bytes before and
 * after.
 *
 * --repeat-hours R: after the ingest, the hourly rows of its last hour
 * (counts, the sums per service, totals) are copied to each of the R
 * hours before the ingested range, with one INSERT ... SELECT per table:
 * a store as long as R more hours of this fleet (which is the same every
 * hour), made in minutes instead of hours of ingest, for the 7-day query.
 * Only the hourly tier is copied: an hour-aligned query reads nothing else
 * there.  The JSON says how many hours were copied.
 */
#define _GNU_SOURCE
#include "pyspy/stacks.h"
#include "pyspy/store.h"
#include "../src/store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#define PER_AGENT 4
#define SERVICES 3
#define FUNCS 3000
#define DRAWS 50
#define SAMPLES_PER_DRAW 20
#define T_END 1765004400ll          /* an hour boundary */

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct service {
	struct store_in_func funcs[FUNCS];
	struct store_in_frame **stacks;
	uint32_t *depth;
};

static void make_service(struct service *sv, int id, int nstacks)
{
	for (int f = 0; f < FUNCS; f++) {
		char name[64], file[64];
		snprintf(name, sizeof(name), "svc%d_fn_%d", id, f);
		snprintf(file, sizeof(file), "/srv/svc%d/pkg/mod_%d.py", id, f % 97);
		sv->funcs[f].name = strdup(name);
		sv->funcs[f].file = strdup(file);
		sv->funcs[f].short_file = strdup(file + 6);
	}
	sv->stacks = calloc((size_t)nstacks, sizeof(*sv->stacks));
	sv->depth = calloc((size_t)nstacks, sizeof(*sv->depth));
	for (int j = 0; j < nstacks; j++) {
		uint32_t d = 12 + (uint32_t)(next() % 34);
		sv->depth[j] = d;
		sv->stacks[j] = calloc(d, sizeof(**sv->stacks));
		/* Shallow frames shared by many stacks, deeper ones by fewer. */
		for (uint32_t k = 0; k < d; k++) {
			uint64_t branch = (uint64_t)j / (uint64_t)(nstacks / (int)(1 + k * k) + 1);
			sv->stacks[j][k].func = (uint32_t)((k * 7919 + branch * 104729) % FUNCS);
			sv->stacks[j][k].line = (int32_t)(1 + (k * 31 + branch) % 400);
		}
	}
}

/* Wall seconds of one query; *cpu: this process's CPU seconds for it. */
static double query_time(struct store_db *s, int64_t span, uint64_t *samples, size_t *nstacks,
			 double *cpu)
{
	struct store_query_info qi;
	double t = now_s(), c = (double)clock() / CLOCKS_PER_SEC;
	int err;
	struct profile *p = store_query(s, T_END - span, T_END, NULL, &qi, &err);

	t = now_s() - t;
	*cpu = (double)clock() / CLOCKS_PER_SEC - c;
	if (!p) {
		fprintf(stderr, "store-bench: %s\n", store_errmsg(s));
		exit(1);
	}
	*samples = qi.samples;
	*nstacks = profile_nstacks(p);
	profile_free(p);
	return t;
}

/* Open 'url' as a writer: an older schema is migrated. */
static int migrate_store(const char *url)
{
	struct store_options o = { 0 };
	char errbuf[1024];
	uint64_t before = 0, after = 0;
	double t, cpu;
	int err;
	struct store_db *s;
	struct stat st;

	/* An SQLite file's size before (a reader cannot open an older schema). */
	if (stat(url, &st) == 0)
		before = (uint64_t)st.st_size;
	t = now_s();
	cpu = (double)clock() / CLOCKS_PER_SEC;
	s = store_open(url, &o, &err, errbuf, sizeof(errbuf));
	t = now_s() - t;
	cpu = (double)clock() / CLOCKS_PER_SEC - cpu;
	if (!s) {
		fprintf(stderr, "store-bench: %s\n", errbuf);
		return 1;
	}
	store_size(s, &after);
	store_close(s);
	printf("{\"store\": \"%s\", \"migrate_wall_s\": %.2f, \"migrate_cpu_s\": %.2f, "
	       "\"file_bytes_before\": %llu, \"bytes_after\": %llu}\n", url, t, cpu,
	       (unsigned long long)before, (unsigned long long)after);
	return 0;
}

/* --repeat-hours: the last hour ingested (before 'end') copied to the 'n' hours before 'start'. */
static int repeat_hours(struct store_db *s, int64_t start, int64_t end, int n)
{
	static const char *const tables[] = {
		"counts (tier, bucket, series, stack, count) SELECT c.tier, c.bucket - %lld"
		" - k.n * 3600, c.series, c.stack, c.count FROM counts c",
		"service_counts (tier, bucket, series, stack, count) SELECT c.tier,"
		" c.bucket - %lld - k.n * 3600, c.series, c.stack, c.count FROM service_counts c",
		"totals (tier, bucket, series, samples, errors, late, stacked) SELECT c.tier,"
		" c.bucket - %lld - k.n * 3600, c.series, c.samples, c.errors, c.late, c.stacked"
		" FROM totals c",
	};
	int64_t src = end - 3600;
	/* Static, one each: the backends cache prepared statements by the text's address. */
	static char sql[3][1024];
	char into[512];
	int rc = store_begin(s);

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]) && rc == 0; i++) {
		snprintf(into, sizeof(into), tables[i], (long long)(src - start));
		snprintf(sql[i], sizeof(sql[i]), "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT"
			 " n + 1 FROM k WHERE n < %d) INSERT INTO %s, k WHERE c.tier = 2 AND"
			 " c.bucket = %lld", n, into, (long long)src);
		rc = store_exec(s, sql[i], NULL, 0, NULL, NULL);
	}
	if (rc == 0)
		rc = store_commit(s);
	if (rc)
		fprintf(stderr, "store-bench: --repeat-hours: %s\n", store_errmsg(s));
	return rc;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	int processes = 100, stacks = 2000;
	double hours = 1;
	int repeat = 0;
	struct store_options o = { .create = true };
	struct service sv[SERVICES];
	char errbuf[1024];
	int err;

	bool migrate = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--migrate") == 0)
			migrate = true;
		else if (i + 1 == argc)
			url = NULL, processes = 0;   /* an option without its value */
		else if (strcmp(argv[i], "--store") == 0)
			url = argv[++i];
		else if (strcmp(argv[i], "--processes") == 0)
			processes = atoi(argv[++i]);
		else if (strcmp(argv[i], "--hours") == 0)
			hours = atof(argv[++i]);
		else if (strcmp(argv[i], "--stacks") == 0)
			stacks = atoi(argv[++i]);
		else if (strcmp(argv[i], "--repeat-hours") == 0)
			repeat = atoi(argv[++i]);
	}
	if (!url || processes < PER_AGENT || hours < 1 || stacks < 10 || repeat < 0) {
		fprintf(stderr, "usage: store-bench --store URL [--processes N] [--hours H] "
			"[--stacks S] [--repeat-hours R]\n       store-bench --store URL --migrate\n");
		return 2;
	}
	if (migrate)
		return migrate_store(url);
	for (int i = 0; i < SERVICES; i++)
		make_service(&sv[i], i, stacks);

	struct store_db *s = store_open(url, &o, &err, errbuf, sizeof(errbuf));
	if (!s) {
		fprintf(stderr, "store-bench: %s\n", errbuf);
		return 1;
	}
	int agents = processes / PER_AGENT;
	int64_t rounds = (int64_t)(hours * 360), t0 = T_END - rounds * 10;
	struct store_in_proc procs[PER_AGENT];
	struct store_in_stack st[PER_AGENT * DRAWS];
	struct store_in_window w;
	uint64_t samples = 0;
	double t_ingest = now_s(), cpu0 = (double)clock() / CLOCKS_PER_SEC;

	for (int64_t r = 0; r < rounds; r++) {
		if (store_begin(s)) {
			fprintf(stderr, "store-bench: %s\n", store_errmsg(s));
			return 1;
		}
		for (int a = 0; a < agents; a++) {
			struct service *v = &sv[a % SERVICES];
			char host[32], service[32], agent[40];
			struct store_batch b = { host, service, 1, &w, agent, "bench", (uint64_t)r + 1 };

			snprintf(host, sizeof(host), "host%d", a);
			snprintf(service, sizeof(service), "service%d", a % SERVICES);
			snprintf(agent, sizeof(agent), "host%d:16384", a);
			memset(&w, 0, sizeof(w));
			w.seq = (uint64_t)r + 1;
			w.start_ns = (t0 + r * 10) * 1000000000;
			w.end_ns = w.start_ns + 10000000000ll;
			w.funcs = v->funcs;
			w.nfuncs = FUNCS;
			w.procs = procs;
			w.nprocs = PER_AGENT;
			w.stacks = st;
			for (int p = 0; p < PER_AGENT; p++) {
				procs[p] = (struct store_in_proc){ .pid = 1000 + p, .start_time = 42,
								   .program = "gunicorn: worker",
								   .python = "3.11.2",
								   .samples = DRAWS * SAMPLES_PER_DRAW };
				for (int d = 0; d < DRAWS; d++) {
					double u = (double)(next() % 1000000) / 1e6;
					int j = (int)(stacks * u * u * u);
					st[p * DRAWS + d] = (struct store_in_stack){
						p, SAMPLES_PER_DRAW, v->depth[j], v->stacks[j] };
				}
			}
			w.nstacks = PER_AGENT * DRAWS;
			samples += PER_AGENT * DRAWS * SAMPLES_PER_DRAW;
			if (store_put(s, &b)) {
				fprintf(stderr, "store-bench: %s\n", store_errmsg(s));
				return 1;
			}
		}
		if (store_commit(s)) {
			fprintf(stderr, "store-bench: %s\n", store_errmsg(s));
			return 1;
		}
	}
	t_ingest = now_s() - t_ingest;
	double cpu = (double)clock() / CLOCKS_PER_SEC - cpu0;
	uint64_t bytes = 0, q_samples[3];
	size_t q_stacks[3];
	double q[3], qcpu[3];
	static const int64_t spans[3] = { 900, 86400, 7 * 86400 };

	double t_repeat = now_s();
	if (repeat && repeat_hours(s, T_END - rounds * 10, T_END, repeat))
		return 1;
	t_repeat = now_s() - t_repeat;
	if (store_size(s, &bytes)) {
		fprintf(stderr, "store-bench: %s\n", store_errmsg(s));
		return 1;
	}
	for (int i = 0; i < 3; i++)
		q[i] = query_time(s, spans[i], &q_samples[i], &q_stacks[i], &qcpu[i]);
	printf("{\"backend\": \"%s\", \"processes\": %d, \"agents\": %d, \"hours\": %g, "
	       "\"stacks_per_service\": %d, \"windows\": %lld, \"samples\": %llu, "
	       "\"ingest_s\": %.3f, \"ingest_cpu_s\": %.3f, \"agent_windows_per_s\": %.1f, "
	       "\"samples_per_s\": %.0f, \"bytes\": %llu, \"bytes_per_sample\": %.3f, "
	       "\"query_15m_s\": %.4f, \"query_24h_s\": %.4f, \"query_7d_s\": %.4f, "
	       "\"query_cpu_s\": [%.4f, %.4f, %.4f], "
	       "\"query_samples\": [%llu, %llu, %llu], \"query_stacks\": [%zu, %zu, %zu], "
	       "\"repeated_hours\": %d, \"repeat_s\": %.1f}\n",
	       store_backend_name(s), processes, agents, hours, stacks,
	       (long long)(rounds * agents), (unsigned long long)samples, t_ingest, cpu,
	       (double)(rounds * agents) / t_ingest, (double)samples / t_ingest,
	       (unsigned long long)bytes, (double)bytes / (double)samples, q[0], q[1], q[2], qcpu[0], qcpu[1], qcpu[2],
	       (unsigned long long)q_samples[0], (unsigned long long)q_samples[1],
	       (unsigned long long)q_samples[2], q_stacks[0], q_stacks[1], q_stacks[2], repeat,
	       t_repeat);
	store_close(s);
	return 0;
}
