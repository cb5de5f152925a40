/*
 * collector.c - pyspy-c collect's loop (see collect.h).
 *
 * A round: every agent that is due is polled at once (poll.c) for the
 * windows after its cursor; the answers are decoded (feed.c) and written
 * in one transaction, each agent's batch with its cursor (store_put), so
 * that a crash at any moment loses nothing and counts nothing twice: what
 * was not committed is fetched again, from the same cursor.  An agent
 * whose answer is refused (malformed, hostile) is left out of that
 * transaction and backs off; the others are written.  An agent that
 * restarted (a new instance id) is read again from its first window.
 */
#define _GNU_SOURCE
#include "pyspy/collect.h"
#include "pyspy/feed.h"
#include "pyspy/http.h"
#include "pyspy/web.h"
#include "metrics_internal.h"
#include "poll_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BACKOFF 300.0        /* seconds between polls of a failing agent */
#define WINDOWS_PER_POLL 1000    /* serve's largest ?max= */
/*
 * Windows asked in one round, over all agents: every page of a round is
 * decoded and held until the round's one transaction (about 0.2 KiB per
 * frame of a window decoded), so catching up on 1,000 agents' hour of
 * backlog asks a few windows of each per round, not all of them at once.
 */
#define WINDOWS_PER_ROUND 200
#define AGENTS_PER_ROUND 100     /* agents polled at once; the rest next round */
#define EXPIRE_EVERY 600.0       /* seconds between retention runs */
#define SIZE_EVERY 5.0           /* seconds between readings of the store's size */

struct agent_state {
	struct collect_agent a;  /* owned copy */
	char *token;
	char instance[300];
	bool known;              /* a cursor is stored */
	uint64_t since;
	int asked;               /* windows asked in this round (?max=) */
	int failures;
	double due;
	char url[600];
	struct feed_page page;
	bool have_page, refused;
	struct cm_agent_stats m; /* for /metrics; kept across SIGHUP */
};

static volatile sig_atomic_t stop_sig, hup_sig;
/* An agent to read again at once (it restarted): --once goes on for it. */
static bool again;
/* An agent failed in this run (--once ends with 1). */
static bool any_failed;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		hup_sig = 1;
	else
		stop_sig = sig;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One line per event, fit for the journal. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "pyspy-c: collect: %s\n", line);
}

static int copy_agent(struct agent_state *s, const struct collect_agent *a, char *err, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->a.addr = strdup(a->addr);
	s->a.host = strdup(a->host);
	s->a.service = strdup(a->service);
	if (!s->a.addr || !s->a.host || !s->a.service) {
		snprintf(err, cap, "out of memory");
		return -1;
	}
	if (a->token_file) {
		char token[HTTP_MAX_TOKEN + 1];
		size_t len;

		if (http_token_read(a->token_file, token, &len, err, cap))
			return -1;
		s->token = strdup(token);
		explicit_bzero(token, sizeof(token));
		if (!s->token) {
			snprintf(err, cap, "out of memory");
			return -1;
		}
	}
	return 0;
}

static void release_agent(struct agent_state *s)
{
	free(s->a.addr);
	free(s->a.host);
	free(s->a.service);
	if (s->token)
		explicit_bzero(s->token, strlen(s->token));
	free(s->token);
	feed_free(&s->page);
}

struct listed {
	const char *addr;
	size_t index;            /* --agent first, then the agents file */
};

static int listed_by_addr(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Each agent once: polled twice, its windows would be counted twice (said, -1). */
static int listed_twice(const struct collect_config *c, const struct collect_agent *fa, size_t nf)
{
	size_t total = c->nagents + nf;
	struct listed *v = malloc((total ? total : 1) * sizeof(*v));
	int rc = 0;

	if (!v) {
		say("out of memory");
		return -1;
	}
	for (size_t i = 0; i < total; i++)
		v[i] = (struct listed){ i < c->nagents ? c->agents[i].addr : fa[i - c->nagents].addr,
					i };
	qsort(v, total, sizeof(*v), listed_by_addr);
	for (size_t i = 1; i < total && rc == 0; i++)
		if (strcmp(v[i - 1].addr, v[i].addr) == 0) {
			say("agent '%s' listed twice (%s and %s)", v[i].addr,
			    v[i - 1].index < c->nagents ? "--agent" : "the agents file",
			    v[i].index < c->nagents ? "--agent" : "the agents file");
			rc = -1;
		}
	free(v);
	return rc;
}

/* The agents of the command line and the agents file; cursors from the store. */
static int load_agents(const struct collect_config *c, struct store_db *db,
		       struct agent_state **out, size_t *n)
{
	struct collect_agent *fa = NULL;
	size_t nf = 0, total;
	struct agent_state *st;
	char err[512];

	if (c->agents_file) {
		FILE *f = fopen(c->agents_file, "r");
		char *text = NULL;
		size_t len = 0;
		int rc;

		if (!f) {
			say("cannot open '%s': %s", c->agents_file, strerror(errno));
			return -1;
		}
		text = calloc(1, 1 << 22);
		len = text ? fread(text, 1, (1 << 22) - 1, f) : 0;
		fclose(f);
		rc = text ? collect_parse_agents(text, &fa, &nf, err, sizeof(err)) : -1;
		free(text);
		if (rc) {
			say("bad agents file '%s': %s", c->agents_file, text ? err : "out of memory");
			return -1;
		}
		(void)len;
	}
	total = c->nagents + nf;
	if (listed_twice(c, fa, nf)) {
		collect_agents_free(fa, nf);
		return -1;
	}
	st = calloc(total ? total : 1, sizeof(*st));
	if (!st)
		return -1;
	for (size_t i = 0; i < total; i++) {
		const struct collect_agent *a = i < c->nagents ? &c->agents[i] : &fa[i - c->nagents];
		if (copy_agent(&st[i], a, err, sizeof(err))) {
			say("agent %s: %s", a->addr, err);
			for (size_t k = 0; k <= i; k++)
				release_agent(&st[k]);
			free(st);
			collect_agents_free(fa, nf);
			return -1;
		}
		if (store_cursor(db, st[i].a.addr, &st[i].known, st[i].instance,
				 sizeof(st[i].instance), &st[i].since)) {
			say("%s", store_errmsg(db));
			for (size_t k = 0; k <= i; k++)
				release_agent(&st[k]);
			free(st);
			collect_agents_free(fa, nf);
			return -1;
		}
	}
	collect_agents_free(fa, nf);
	*out = st;
	*n = total;
	return 0;
}

static void failed(struct agent_state *s, double now, double interval, const char *why,
		   enum collect_reason reason)
{
	double wait = interval;

	s->failures++;
	any_failed = true;
	for (int i = 1; i < s->failures && wait < MAX_BACKOFF; i++)
		wait *= 2;
	s->due = now + (wait < MAX_BACKOFF ? wait : MAX_BACKOFF);
	s->m.up = false;
	s->m.failures = s->failures;
	s->m.backoff = s->due - now;
	s->m.errors[reason]++;
	say("agent %s: %s (failure %d, next try in %.0f s)", s->a.addr, why, s->failures,
	    s->due - now);
}

/* Decode an answer; false when it must not be written (said why). */
static bool take_answer(struct agent_state *s, struct poll_res *r, double now, double interval)
{
	char err[512];

	if (!r->ok) {
		failed(s, now, interval, r->err, r->reason);
		return false;
	}
	if (feed_decode(r->body, r->len, &s->page, err, sizeof(err))) {
		failed(s, now, interval, err, CR_MALFORMED);
		feed_free(&s->page);
		return false;
	}
	if (s->known && strcmp(s->page.instance, s->instance) != 0 && s->since > 0) {
		/* A restarted agent numbers its windows afresh: read it from the start. */
		say("agent %s: new instance %s (was %s): reading it from its first window",
		    s->a.addr, s->page.instance, s->instance);
		s->since = 0;
		snprintf(s->instance, sizeof(s->instance), "%s", s->page.instance);
		s->due = now;
		again = true;
		feed_free(&s->page);
		return false;
	}
	if (s->page.gap)
		say("agent %s: windows after %llu were gone before they were read (the collector "
		    "was away longer than the agent's retention)", s->a.addr,
		    (unsigned long long)s->since);
	s->have_page = true;
	return true;
}

/* One transaction with every decoded page; a refused page is left out. */
static int write_pages(struct store_db *db, struct agent_state *st, size_t n, double now,
		       double interval, uint64_t *windows)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		int rc = store_begin(db);
		size_t bad = n;

		*windows = 0;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct agent_state *s = &st[i];
			struct store_batch b = { s->a.host, s->a.service, s->page.nwindows,
						 s->page.windows, s->a.addr, s->page.instance,
						 s->page.next_since };
			if (!s->have_page || s->refused)
				continue;
			rc = store_put(db, &b);
			if (rc == -STORE_EUSAGE)
				bad = i;
			*windows += s->page.nwindows;
		}
		if (rc == 0)
			rc = store_commit(db);
		if (rc == 0)
			return 0;
		if (bad < n) {
			st[bad].refused = true;
			failed(&st[bad], now, interval, store_errmsg(db), CR_REFUSED);
			continue;
		}
		say("%s", store_errmsg(db));
		return rc;
	}
	return -STORE_EDB;
}

/* Every agent's counters and the totals to /metrics, at once. */
static void publish(struct collect_metrics *cm, const struct cm_totals *t,
		    const struct agent_state *st, size_t n)
{
	cm_publish_begin(cm, n);   /* out of memory: no agents this time */
	for (size_t i = 0; i < n; i++)
		cm_publish_agent(cm, i, st[i].a.addr, st[i].a.service, st[i].a.host, &st[i].m);
	cm_publish_end(cm, t);
}

/* SIGHUP: the counters of the agents still listed go on; their polling starts afresh. */
static int state_by_addr(const void *a, const void *b)
{
	return strcmp((*(const struct agent_state *const *)a)->a.addr,
		      (*(const struct agent_state *const *)b)->a.addr);
}

/* The counters of the agents still listed (old sorted once: n log n for a fleet). */
static void carry_stats(struct agent_state *fresh, size_t nfresh, const struct agent_state *old,
			size_t nold)
{
	const struct agent_state **sorted = malloc((nold ? nold : 1) * sizeof(*sorted));

	if (!sorted)
		return;   /* counters start over: only /metrics notices */
	for (size_t k = 0; k < nold; k++)
		sorted[k] = &old[k];
	qsort(sorted, nold, sizeof(*sorted), state_by_addr);
	for (size_t i = 0; i < nfresh; i++) {
		const struct agent_state *key = &fresh[i], **hit;

		hit = bsearch(&key, sorted, nold, sizeof(*sorted), state_by_addr);
		if (hit) {
			fresh[i].m = (*hit)->m;
			fresh[i].m.failures = 0;
			fresh[i].m.backoff = 0;
		}
	}
	free(sorted);
}

/* An agent's page was committed: count it. */
static void written(struct agent_state *s, int64_t wall, struct cm_totals *t)
{
	uint64_t samples = 0;

	for (size_t i = 0; i < s->page.nwindows; i++) {
		const struct store_in_window *w = &s->page.windows[i];
		samples += w->samples;
		if (w->end_ns > s->m.newest_end_ns)
			s->m.newest_end_ns = w->end_ns;
	}
	s->m.up = true;
	s->m.failures = 0;
	s->m.backoff = 0;
	s->m.last_success_ns = wall;
	s->m.windows += s->page.nwindows;
	s->m.samples += samples;
	t->windows += s->page.nwindows;
	t->samples += samples;
}

#ifdef PYSPY_HAVE_MHD
/* --listen: /metrics and /healthz, without the pages of --web. */
static struct http_server *start_listen(const struct collect_config *c,
					const struct http_route *routes, size_t nroutes,
					char *err, size_t cap)
{
	return http_start(&(struct http_config){ .listen = c->listen, .token_file = c->token_file,
						 .routes = routes, .nroutes = nroutes,
						 .help = "see /metrics, or man pyspy-c" },
			  err, cap);
}
#endif

int collect_run(const struct collect_config *c)
{
	struct store_options so = { .create = true };
	struct store_db *db;
	struct web_server *web = NULL;
	struct http_server *http = NULL;
	struct collect_metrics *cm = NULL;
	struct cm_totals tot = { 0 };
	/* The collector's own health, on --web's listener and on --listen's. */
	struct http_route routes[] = {
		{ "/metrics", cm_http_metrics, "", NULL },
		{ "/healthz", cm_http_healthz, "", NULL },
	};
	struct agent_state *st = NULL;
	size_t n = 0;
	char err[1024];
	int e, status = 0;
	double next_expire = 0, next_size = 0;
	size_t first = 0; /* the agent the next round starts from */
	struct sigaction sa = { .sa_handler = on_signal };

	memcpy(so.retention, c->retention, sizeof(so.retention));
	db = store_open(c->store, &so, &e, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "pyspy-c: %s\n", err);
		return e == -STORE_EBUSY || e == -STORE_EIO || e == -STORE_EDB ? 1 : 8;
	}
	if (poll_init()) {
		store_close(db);
		fprintf(stderr, "pyspy-c: cannot initialise libcurl\n");
		return 1;
	}
	cm = cm_new(store_backend_name(db));
	if (!cm) {
		fprintf(stderr, "pyspy-c: collect: out of memory\n");
		status = 1;
		goto out;
	}
	routes[0].ctx = routes[1].ctx = cm;
	if (load_agents(c, db, &st, &n)) {
		status = 2;
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (c->web_listen) {
#ifdef PYSPY_HAVE_MHD
		/* Its own read-only connection (the store exists now): a reader
		 * that never holds up this loop's writes. */
		int ws;
		web = web_start(&(struct web_config){ .store = c->store, .listen = c->web_listen,
						      .token_file = c->web_token_file,
						      .listen_opt = "--web",
						      .token_opt = "--web-token-file",
						      .extra_routes = routes,
						      .nextra_routes = 2 },
				&ws, err, sizeof(err));
		if (!web) {
			fprintf(stderr, "pyspy-c: %s\n", err);
			status = ws;
			goto out;
		}
#endif
	}
	if (c->listen) {
#ifdef PYSPY_HAVE_MHD
		http = start_listen(c, routes, 2, err, sizeof(err));
		if (!http) {
			fprintf(stderr, "pyspy-c: %s\n", err);
			status = 1;
			goto out;
		}
#endif
	}
	publish(cm, &tot, st, n);
	say("%zu agents, store '%s' (%s)", n, c->store, store_backend_name(db));
	for (int round = 0; !stop_sig; round++) {
		double now = mono(), wake, started = now;
		struct poll_req *rq = calloc(n ? n : 1, sizeof(*rq));
		struct poll_res *rs = calloc(n ? n : 1, sizeof(*rs));
		size_t *idx = calloc(n ? n : 1, sizeof(*idx)), nr = 0;
		uint64_t windows = 0;

		if (!rq || !rs || !idx) {
			free(rq), free(rs), free(idx);
			status = 1;
			break;
		}
		size_t ndue = 0, cap = c->once ? n : AGENTS_PER_ROUND, last = first;
		int per;

		for (size_t i = 0; i < n; i++) {
			st[i].have_page = st[i].refused = false;
			ndue += !(st[i].due > now || (c->once && round > 0 && st[i].since != 0));
		}
		if (ndue > cap)
			ndue = cap;
		/* (--once: one round, as much as an agent gives at once.) */
		per = c->once ? WINDOWS_PER_POLL : ndue ? (int)(WINDOWS_PER_ROUND / ndue) : 1;
		per = per < 1 ? 1 : per > WINDOWS_PER_POLL ? WINDOWS_PER_POLL : per;
		/* From where the last round stopped: agents left over go first. */
		for (size_t k = 0; k < n && nr < cap; k++) {
			size_t i = (first + k) % n;
			struct agent_state *s = &st[i];
			if (s->due > now || (c->once && round > 0 && s->since != 0))
				continue;
			last = i;
			s->asked = per;
			snprintf(s->url, sizeof(s->url), "http://%s/v1/windows?since=%llu&max=%d",
				 s->a.addr, (unsigned long long)s->since, per);
			rq[nr] = (struct poll_req){ s->url, s->token };
			idx[nr++] = i;
		}
		/* A round left due agents out: the next one starts after the last polled. */
		first = nr == cap && n ? (last + 1) % n : 0;
		if (nr)
			poll_round(rq, nr, c->timeout, COLLECT_MAX_RESPONSE, rs);
		now = mono();
		for (size_t k = 0; k < nr; k++) {
			struct agent_state *s = &st[idx[k]];
			if (take_answer(s, &rs[k], now, c->interval)) {
				/* Next poll one interval after this one was due. */
				s->due = s->due + c->interval > now ? s->due + c->interval : now;
			}
			poll_res_release(&rs[k]);
		}
		free(rq), free(rs), free(idx);
		if (write_pages(db, st, n, now, c->interval, &windows) == 0) {
			int64_t wall = wall_ns();
			tot.rows += store_tx_rows(db);
			for (size_t i = 0; i < n; i++) {
				struct agent_state *s = &st[i];
				if (!s->have_page || s->refused)
					continue;
				if (s->failures)
					say("agent %s: answering again", s->a.addr);
				written(s, wall, &tot);
				s->failures = 0;
				s->known = true;
				snprintf(s->instance, sizeof(s->instance), "%s", s->page.instance);
				s->since = s->page.next_since;
				/* More windows waiting: come back at once. */
				if (s->page.nwindows >= (size_t)s->asked)
					s->due = now;
			}
			if (c->verbose && windows)
				say("%llu windows written", (unsigned long long)windows);
		} else {
			status = 1;
			tot.write_errors++;
		}
		for (size_t i = 0; i < n; i++)
			feed_free(&st[i].page);
		if (now >= next_expire) {
			uint64_t deleted = 0;
			if (store_expire(db, time(NULL), &deleted))
				say("%s", store_errmsg(db));
			else if (deleted && c->verbose)
				say("retention: %llu rows deleted", (unsigned long long)deleted);
			next_expire = now + EXPIRE_EVERY;
		}
		if (now >= next_size) {
			tot.have_store_bytes = store_size(db, &tot.store_bytes) == 0;
			next_size = now + SIZE_EVERY;
		}
		tot.rounds++;
		tot.round_seconds = mono() - started;
		tot.round_seconds_total += tot.round_seconds;
		publish(cm, &tot, st, n);
		/* --once: one round, and one more for agents found restarted. */
		if (c->once && (!again || round > 0))
			break;
		again = false;
		if (hup_sig) {
			struct agent_state *fresh;
			size_t nfresh;
			hup_sig = 0;
			if (load_agents(c, db, &fresh, &nfresh) == 0) {
				carry_stats(fresh, nfresh, st, n);
				for (size_t i = 0; i < n; i++)
					release_agent(&st[i]);
				free(st);
				st = fresh;
				n = nfresh;
				publish(cm, &tot, st, n);
				say("SIGHUP: %zu agents", n);
			}
		}
		wake = now + c->interval;
		for (size_t i = 0; i < n; i++)
			if (st[i].due < wake)
				wake = st[i].due;
		while (!stop_sig && !hup_sig && mono() < wake) {
			double left = wake - mono();
			struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
			if (left <= 0)
				break;
			nanosleep(&ts, NULL);
		}
	}
	if (stop_sig)
		say("stopping (signal %d)", (int)stop_sig);
	if (c->once && any_failed && status == 0)
		status = 1;
out:
#ifdef PYSPY_HAVE_MHD
	web_stop(web);
	http_stop(http);
#endif
	cm_free(cm);
	for (size_t i = 0; i < n; i++)
		release_agent(&st[i]);
	free(st);
	poll_cleanup();
	store_close(db);
	return status;
}
