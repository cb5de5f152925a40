/*
 * metrics.c - the collector's own health as Prometheus text (see
 * metrics_internal.h): what was published last, written under the lock
 * the polling thread publishes under.
 */
#define _GNU_SOURCE
#include "metrics_internal.h"
#include "pyspy/cli.h"
#include "pyspy/prom.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cm_agent {
	char addr[CM_LABEL_MAX + 1], service[CM_LABEL_MAX + 1], host[CM_LABEL_MAX + 1];
	struct cm_agent_stats st;
};

struct collect_metrics {
	pthread_mutex_t lock;        /* guards all below */
	char backend[32];
	double started;              /* wall clock, seconds */
	struct cm_totals t;
	struct cm_agent *agents;
	size_t n, cap;
};

static const char *const reason_names[CR_N] = {
#define CR_NAME_(name, text) text,
	COLLECT_REASONS(CR_NAME_)
#undef CR_NAME_
};

struct collect_metrics *cm_new(const char *backend)
{
	struct collect_metrics *m = calloc(1, sizeof(*m));
	struct timespec ts;

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	snprintf(m->backend, sizeof(m->backend), "%s", backend);
	clock_gettime(CLOCK_REALTIME, &ts);
	m->started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return m;
}

void cm_free(struct collect_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->agents);
	free(m);
}

int cm_publish_begin(struct collect_metrics *m, size_t n)
{
	pthread_mutex_lock(&m->lock);
	m->n = 0;
	if (n > m->cap) {
		struct cm_agent *a = realloc(m->agents, n * sizeof(*a));
		if (!a)
			return -1;
		m->agents = a;
		m->cap = n;
	}
	m->n = n;
	return 0;
}

void cm_publish_agent(struct collect_metrics *m, size_t i, const char *addr,
		      const char *service, const char *host, const struct cm_agent_stats *st)
{
	struct cm_agent *a;

	if (i >= m->n)
		return;
	a = &m->agents[i];
	snprintf(a->addr, sizeof(a->addr), "%s", addr);
	snprintf(a->service, sizeof(a->service), "%s", service);
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->st = *st;
}

void cm_publish_end(struct collect_metrics *m, const struct cm_totals *t)
{
	m->t = *t;
	pthread_mutex_unlock(&m->lock);
}

/* name{agent="...",service="...",host="..."[,reason="..."]} value */
static void agent_sample(FILE *out, const char *name, const struct cm_agent *a,
			 const char *reason, double v)
{
	fprintf(out, "%s{agent=", name);
	prom_label_value(out, a->addr);
	fputs(",service=", out);
	prom_label_value(out, a->service);
	fputs(",host=", out);
	prom_label_value(out, a->host);
	if (reason)
		fprintf(out, ",reason=\"%s\"", reason);
	fprintf(out, "} %.15g\n", v);
}

/* One per-agent metric: its head, then a sample per agent (NaN from 'get': none). */
static void agent_metric(FILE *out, const struct collect_metrics *m, const char *name,
			 const char *type, const char *help,
			 double (*get)(const struct cm_agent *a, int64_t now_ns), int64_t now_ns)
{
	prom_head(out, name, type, help);
	for (size_t i = 0; i < m->n; i++) {
		double v = get(&m->agents[i], now_ns);
		if (!isnan(v))
			agent_sample(out, name, &m->agents[i], NULL, v);
	}
}

static double get_up(const struct cm_agent *a, int64_t now_ns)
{
	(void)now_ns;
	return a->st.up;
}

static double get_last_success(const struct cm_agent *a, int64_t now_ns)
{
	(void)now_ns;
	return (double)a->st.last_success_ns / 1e9;
}

static double get_lag(const struct cm_agent *a, int64_t now_ns)
{
	if (!a->st.newest_end_ns)
		return NAN;
	return (double)(now_ns - a->st.newest_end_ns) / 1e9;
}

static double get_failures(const struct cm_agent *a, int64_t now_ns)
{
	(void)now_ns;
	return a->st.failures;
}

static double get_backoff(const struct cm_agent *a, int64_t now_ns)
{
	(void)now_ns;
	return a->st.backoff;
}

static double get_windows(const struct cm_agent *a, int64_t now_ns)
{
	(void)now_ns;
	return (double)a->st.windows;
}

static double get_samples(const struct cm_agent *a, int64_t now_ns)
{
	(void)now_ns;
	return (double)a->st.samples;
}

void cm_write(struct collect_metrics *m, FILE *o, int64_t now_ns, double cpu_seconds,
	      uint64_t resident_bytes)
{
	size_t up = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++)
		up += m->agents[i].st.up;
	prom_head(o, "pyspyc_collect_info", "gauge", "The collector: version and store backend.");
	fprintf(o, "pyspyc_collect_info{version=\"%s\",backend=", PYSPY_VERSION);
	prom_label_value(o, m->backend);
	fputs("} 1\n", o);
	prom_metric(o, "pyspyc_collect_start_time_seconds", "gauge",
		    "When the collector started (unix time).", m->started);
	prom_metric(o, "pyspyc_collect_agents", "gauge",
		    "Agents configured (--agent and the agents file).", (double)m->n);
	prom_metric(o, "pyspyc_collect_agents_up", "gauge",
		    "Agents whose last poll succeeded.", (double)up);
	agent_metric(o, m, "pyspyc_collect_agent_up", "gauge",
		     "Whether the agent's last poll succeeded and was written (1) or not (0).",
		     get_up, now_ns);
	agent_metric(o, m, "pyspyc_collect_agent_last_success_time_seconds", "gauge",
		     "When the agent last answered and its windows were written (unix time; "
		     "0: not since the collector started).", get_last_success, now_ns);
	agent_metric(o, m, "pyspyc_collect_agent_lag_seconds", "gauge",
		     "Now minus the end of the newest window of the agent written (absent "
		     "until one is written).", get_lag, now_ns);
	agent_metric(o, m, "pyspyc_collect_agent_consecutive_failures", "gauge",
		     "Failed polls of the agent since its last good one.", get_failures, now_ns);
	agent_metric(o, m, "pyspyc_collect_agent_backoff_seconds", "gauge",
		     "Seconds from the agent's last failure to its next try (0: not failing).",
		     get_backoff, now_ns);
	prom_head(o, "pyspyc_collect_agent_errors_total", "counter",
		  "Failed polls of the agent, by reason.");
	for (size_t i = 0; i < m->n; i++)
		for (int r = 0; r < CR_N; r++)
			agent_sample(o, "pyspyc_collect_agent_errors_total", &m->agents[i],
				     reason_names[r], (double)m->agents[i].st.errors[r]);
	agent_metric(o, m, "pyspyc_collect_agent_windows_written_total", "counter",
		     "Windows of the agent written to the store.", get_windows, now_ns);
	agent_metric(o, m, "pyspyc_collect_agent_samples_written_total", "counter",
		     "Samples of the agent written to the store.", get_samples, now_ns);
	prom_metric(o, "pyspyc_collect_windows_written_total", "counter",
		    "Windows written to the store.", (double)m->t.windows);
	prom_metric(o, "pyspyc_collect_samples_written_total", "counter",
		    "Samples written to the store.", (double)m->t.samples);
	prom_metric(o, "pyspyc_collect_rows_written_total", "counter",
		    "Rows of counts, their sums per service and totals inserted or updated in "
		    "the store (1-minute buckets and the rolled-up ones still open).",
		    (double)m->t.rows);
	prom_metric(o, "pyspyc_collect_write_errors_total", "counter",
		    "Rounds whose transaction could not be written.", (double)m->t.write_errors);
	prom_metric(o, "pyspyc_collect_rounds_total", "counter",
		    "Rounds run: polls of the agents due, and their write.", (double)m->t.rounds);
	prom_metric(o, "pyspyc_collect_round_duration_seconds", "gauge",
		    "How long the last round took (polls, decoding, the write).",
		    m->t.round_seconds);
	prom_metric(o, "pyspyc_collect_round_seconds_total", "counter",
		    "Time spent in rounds, over all of them.", m->t.round_seconds_total);
	if (m->t.have_store_bytes)
		prom_metric(o, "pyspyc_collect_store_bytes", "gauge",
			    "Size of the store (SQLite: page_count x page_size, the WAL not "
			    "counted; PostgreSQL: pg_database_size).", (double)m->t.store_bytes);
	pthread_mutex_unlock(&m->lock);
	prom_metric(o, "pyspyc_collect_cpu_seconds_total", "counter",
		    "CPU time of the collector (user and system).", cpu_seconds);
	prom_metric(o, "pyspyc_collect_resident_bytes", "gauge",
		    "Resident memory of the collector.", (double)resident_bytes);
}

void cm_http_metrics(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct timespec ts;
	uint64_t rss;
	double cpu;

	(void)rq;
	prom_self_usage(&cpu, &rss);
	clock_gettime(CLOCK_REALTIME, &ts);
	r->type = PROM_CONTENT_TYPE;
	cm_write(ctx, r->body, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, cpu, rss);
}

void cm_http_healthz(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	(void)ctx;
	(void)rq;
	fputs("ok\n", r->body);
}
