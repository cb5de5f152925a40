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
#include "pyspy/web.h"
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
#define EXPIRE_EVERY 600.0       /* seconds between retention runs */

struct agent_state {
	struct collect_agent a;  /* owned copy */
	char *token;
	char instance[300];
	bool known;              /* a cursor is stored */
	uint64_t since;
	int failures;
	double due;
	char url[600];
	struct feed_page page;
	bool have_page, refused;
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

/* The first line of a token file that only its owner can read. */
static char *read_token(const char *path, char *err, size_t cap)
{
	char buf[600];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, cap, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
		close(fd);
		snprintf(err, cap, "'%s' can be read by others: chmod 600 it", path);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(err, cap, "'%s' is empty", path);
		return NULL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
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
	if (a->token_file && !(s->token = read_token(a->token_file, err, cap)))
		return -1;
	return 0;
}

static void release_agent(struct agent_state *s)
{
	free(s->a.addr);
	free(s->a.host);
	free(s->a.service);
	free(s->token);
	feed_free(&s->page);
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

static void failed(struct agent_state *s, double now, double interval, const char *why)
{
	double wait = interval;

	s->failures++;
	any_failed = true;
	for (int i = 1; i < s->failures && wait < MAX_BACKOFF; i++)
		wait *= 2;
	s->due = now + (wait < MAX_BACKOFF ? wait : MAX_BACKOFF);
	say("agent %s: %s (failure %d, next try in %.0f s)", s->a.addr, why, s->failures,
	    s->due - now);
}

/* Decode an answer; false when it must not be written (said why). */
static bool take_answer(struct agent_state *s, struct poll_res *r, double now, double interval)
{
	char err[512];

	if (!r->ok) {
		failed(s, now, interval, r->err);
		return false;
	}
	if (feed_decode(r->body, r->len, &s->page, err, sizeof(err))) {
		failed(s, now, interval, err);
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
			failed(&st[bad], now, interval, store_errmsg(db));
			continue;
		}
		say("%s", store_errmsg(db));
		return rc;
	}
	return -STORE_EDB;
}

int collect_run(const struct collect_config *c)
{
	struct store_options so = { .create = true };
	struct store_db *db;
	struct web_server *web = NULL;
	struct agent_state *st = NULL;
	size_t n = 0;
	char err[1024];
	int e, status = 0;
	double next_expire = 0;
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
		web = web_start(&(struct web_config){ c->store, c->web_listen, c->web_token_file },
				&ws, err, sizeof(err));
		if (!web) {
			fprintf(stderr, "pyspy-c: --web: %s\n", err);
			status = ws;
			goto out;
		}
#endif
	}
	say("%zu agents, store '%s' (%s)", n, c->store, store_backend_name(db));
	for (int round = 0; !stop_sig; round++) {
		double now = mono(), wake;
		struct poll_req *rq = calloc(n ? n : 1, sizeof(*rq));
		struct poll_res *rs = calloc(n ? n : 1, sizeof(*rs));
		size_t *idx = calloc(n ? n : 1, sizeof(*idx)), nr = 0;
		uint64_t windows = 0;

		if (!rq || !rs || !idx) {
			free(rq), free(rs), free(idx);
			status = 1;
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct agent_state *s = &st[i];
			s->have_page = s->refused = false;
			if (s->due > now || (c->once && round > 0 && s->since != 0))
				continue;
			snprintf(s->url, sizeof(s->url), "http://%s/v1/windows?since=%llu&max=%d",
				 s->a.addr, (unsigned long long)s->since, WINDOWS_PER_POLL);
			rq[nr] = (struct poll_req){ s->url, s->token };
			idx[nr++] = i;
		}
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
			for (size_t i = 0; i < n; i++) {
				struct agent_state *s = &st[i];
				if (!s->have_page || s->refused)
					continue;
				if (s->failures)
					say("agent %s: answering again", s->a.addr);
				s->failures = 0;
				s->known = true;
				snprintf(s->instance, sizeof(s->instance), "%s", s->page.instance);
				s->since = s->page.next_since;
				/* More windows waiting: come back at once. */
				if (s->page.nwindows >= WINDOWS_PER_POLL)
					s->due = now;
			}
			if (c->verbose && windows)
				say("%llu windows written", (unsigned long long)windows);
		} else {
			status = 1;
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
		/* --once: one round, and one more for agents found restarted. */
		if (c->once && (!again || round > 0))
			break;
		again = false;
		if (hup_sig) {
			struct agent_state *fresh;
			size_t nfresh;
			hup_sig = 0;
			if (load_agents(c, db, &fresh, &nfresh) == 0) {
				for (size_t i = 0; i < n; i++)
					release_agent(&st[i]);
				free(st);
				st = fresh;
				n = nfresh;
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
#endif
	for (size_t i = 0; i < n; i++)
		release_agent(&st[i]);
	free(st);
	poll_cleanup();
	store_close(db);
	return status;
}
