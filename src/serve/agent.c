/*
 * agent.c - serve_run(): the agent's main loop.
 *
 * This thread is the sampling thread: it attaches, samples and detaches
 * (ptrace requests must come from the thread that attached), and every
 * second turns what it sampled into a slice for the store (window_end
 * below, called by the sampler between two ticks).  The HTTP server's
 * threads only read the store.  SIGINT, SIGTERM or SIGHUP end the loop;
 * every target is detached before the server stops; exit 0.
 */
#define _GNU_SOURCE
#include "serve_internal.h"
#include "pyspy/cli.h"
#include "pyspy/error.h"
#include "pyspy/native.h"
#include "pyspy/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct agent {
	const struct serve_config *c;
	struct store *store;
	struct profile *live;     /* this slice's stacks (the sampler's profile) */
	struct profile *acc;      /* the window being built */
	struct sampler_proc *wprocs;  /* its processes, by serial */
	size_t nwprocs;
	int64_t wstart;
	unsigned slices, per_window;
	struct chunk sums;        /* the window's counts */
	struct pace pace;         /* --max-overhead */
	uint64_t stopped_ns, proc_samples;  /* since the start */
	double rate_change;       /* handed to the sampler (sampler_opts.rate_change) */
	size_t renew_at;          /* SERVE_FDICT_RENEW, or PYSPY_C_FUNCS_RENEW (tests) */
};

#define WPROCS_CAP (4 * TARGET_MAX_PROCS)

static void merge_procs(struct agent *a, const struct sampler_proc *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sampler_proc *w = NULL;
		for (size_t k = 0; k < a->nwprocs && !w; k++)
			if (a->wprocs[k].serial == p[i].serial)
				w = &a->wprocs[k];
		if (!w) {
			if (a->nwprocs == WPROCS_CAP)
				continue; /* its stacks show with no process */
			w = &a->wprocs[a->nwprocs++];
			*w = p[i];
			continue;
		}
		w->samples += p[i].samples;
		w->failed += p[i].failed;
		w->late += p[i].late;
		w->exited = w->exited || p[i].exited;
	}
}

static void add_counts(struct chunk *to, const struct chunk *c)
{
	to->samples += c->samples;
	to->errors += c->errors;
	to->late += c->late;
	to->pruned += c->pruned;
	to->stopped_ns += c->stopped_ns;
	to->proc_samples += c->proc_samples;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Every slice: measure the costs and keep the rate within --max-overhead;
 * count what could not be read of the targets (for /metrics). */
static void keep_pace(struct agent *a, const struct sampler_window *w)
{
	char why[256];
	double before = a->pace.rate, rate;

	a->stopped_ns += w->stopped_ns;
	a->proc_samples += w->proc_samples;
	rate = pace_step(&a->pace, clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_PROCESS_CPUTIME_ID),
			 a->stopped_ns, a->proc_samples, why, sizeof(why));
	if (rate != before) {
		a->rate_change = rate;
		fprintf(stderr, "pyspy-c: %s\n", why);
	}
	pthread_mutex_lock(&a->store->lock);
	a->store->totals.degraded += w->degraded;
	a->store->totals.dropped += w->dropped;
	a->store->totals.rate_now = a->pace.rate;
	a->store->totals.cpu_pct = a->pace.cpu_pct;
	a->store->totals.stop_pct = a->pace.stop_pct;
	a->store->totals.rate_reason = a->pace.reason;
	a->store->totals.rate_changes = a->pace.changes;
	pthread_mutex_unlock(&a->store->lock);
}

/* The live profile's fixed functions, interned first (serve_internal.h). */
static int fixed_funcs(struct profile *live)
{
	return profile_func(live, FUNC_LABEL, "[pruned: rare stacks]", NULL, NULL) ==
			       SERVE_FUNC_PRUNED &&
		       profile_func(live, FUNC_LABEL, "[process]", NULL, NULL) == SERVE_FUNC_PROCESS ?
		       0 : -1;
}

/*
 * A window just closed (live and acc hold no stack): past the bound, the
 * function dictionary starts over, and the sampler forgets the ids it
 * holds (SAMPLER_FUNCS_RENEWED).
 */
static int renew_funcs(struct agent *a)
{
	size_t n = profile_nfuncs(a->live);
	struct profile *old;

	if (n <= a->renew_at || !(old = profile_renew_funcs(a->live)))
		return 0;
	profile_free(old);
	if (fixed_funcs(a->live) != 0 || store_renew_funcs(a->store) != 0) {
		fprintf(stderr, "pyspy-c: error: cannot renew the function dictionary: out of "
				"memory\n");
		return -PERR_NOMEM;
	}
	fprintf(stderr, "pyspy-c: function dictionary started over after %zu functions (the "
			"bound is %zu)\n", n, a->renew_at);
	return SAMPLER_FUNCS_RENEWED;
}

static int window_end(void *ctx, const struct sampler_window *w)
{
	struct agent *a = ctx;
	struct chunk *slice, *window = NULL;
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	uint64_t count;
	size_t n;

	if (store_sync_funcs(a->store, a->live) != 0)
		fprintf(stderr, "pyspy-c: error: cannot copy function names: out of memory\n");
	slice = chunk_from_profile(a->live, w->procs, w->nprocs, a->c->hide_args);
	if (slice) {
		slice->start_ns = w->start_realtime_ns;
		slice->end_ns = w->start_realtime_ns + (int64_t)(w->seconds * 1e9 + 0.5);
		slice->samples = w->samples;
		slice->errors = w->failed;
		slice->late = w->late;
		slice->pruned = profile_pruned(a->live);
		slice->stopped_ns = w->stopped_ns;
		slice->proc_samples = w->proc_samples;
		add_counts(&a->sums, slice);
	}
	if (a->slices++ == 0)
		a->wstart = w->start_realtime_ns;
	while (profile_next(a->live, &it, &fr, &n, &count))
		profile_add(a->acc, fr, n, count);
	merge_procs(a, w->procs, w->nprocs);
	profile_reset(a->live);
	if (a->slices == a->per_window) {
		window = chunk_from_profile(a->acc, a->wprocs, a->nwprocs, a->c->hide_args);
		if (window) {
			add_counts(window, &a->sums);
			window->pruned += profile_pruned(a->acc);
			window->start_ns = a->wstart;
			window->end_ns = w->start_realtime_ns + (int64_t)(w->seconds * 1e9 + 0.5);
		}
		profile_reset(a->acc);
		a->nwprocs = 0;
		a->slices = 0;
		memset(&a->sums, 0, sizeof(a->sums));
	}
	if (!slice || (a->slices == 0 && !window))
		fprintf(stderr, "pyspy-c: error: out of memory: a window is lost\n");
	store_publish(a->store, slice, window, w->procs, w->nprocs);
	keep_pace(a, w);
	return a->slices == 0 ? renew_funcs(a) : 0;
}

static void proc_event(void *ctx, const struct sampler_proc *p, const char *what,
		       const char *why)
{
	struct agent *a = ctx;
	char prog[256];

	snprintf(prog, sizeof(prog), "%.255s", p->program);
	if (a->c->hide_args)
		prog[strcspn(prog, " ")] = '\0';
	/* One line: a command line may hold newlines and escapes. */
	for (char *q = prog; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = ' ';
	/* One line per event, fit for the journal. */
	pthread_mutex_lock(&a->store->lock);
	if (strcmp(what, "attach") == 0) {
		a->store->totals.attached++;
		a->store->totals.attach_cpu_ns += p->attach_cpu_ns;
		a->store->totals.attach_ns += p->attach_ns;
	} else if (strcmp(what, "detach") == 0) {
		a->store->totals.detached++;
	} else {
		a->store->totals.attach_errors++;
	}
	pthread_mutex_unlock(&a->store->lock);
	if (strcmp(what, "attach") == 0)
		fprintf(stderr, "pyspy-c: attach pid %d (python %s): %s\n", (int)p->pid, p->python,
			prog);
	else if (strcmp(what, "detach") == 0)
		fprintf(stderr, "pyspy-c: detach pid %d: %s\n", (int)p->pid, why ? why : "");
	else if (why && strncmp(why, "cannot ", 7) == 0)
		fprintf(stderr, "pyspy-c: %s\n", why);
	else
		fprintf(stderr, "pyspy-c: cannot attach to pid %d: %s\n", (int)p->pid,
			why ? why : "error");
}

int serve_run(const struct serve_config *c)
{
	struct store *store = calloc(1, sizeof(*store));
	struct agent a = { .c = c };
	struct discover d;
	struct serve_ctx sctx = { .c = c };
	struct http_server *http = NULL;
	struct http_config hc;
	struct sampler_opts so = c->so;
	struct native_options nopts = { .show_internal = c->native_all,
					.debug_dirs = getenv("PYSPY_C_DEBUG_DIRS") };
	struct sampler_stats st;
	char err[512];
	int status = 0, rc;
	bool have_d = false;

	if (!store || store_init(store, c) != 0) {
		status = cli_error(1, "cannot set up the agent: out of memory");
		goto out;
	}
	if (discover_init(&d, c) != 0) {
		status = cli_error(2, "invalid value '%s' for --match", c->match);
		goto out;
	}
	have_d = true;
	a.store = store;
	{
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		pace_init(&a.pace, c->so.rate, c->max_overhead, ncpu > 0 ? (int)ncpu : 1);
		store->totals.rate_now = c->so.rate;
		store->totals.rate_reason = "";
	}
	a.per_window = (unsigned)c->window;
	a.renew_at = SERVE_FDICT_RENEW;
	{
		const char *e = getenv("PYSPY_C_FUNCS_RENEW");
		unsigned long v = e ? strtoul(e, NULL, 10) : 0;
		if (v >= 2 && v < SERVE_FDICT_RENEW)
			a.renew_at = v;
	}
	a.live = profile_new();
	a.acc = profile_new();
	a.wprocs = calloc(WPROCS_CAP, sizeof(*a.wprocs));
	if (!a.live || !a.acc || !a.wprocs || fixed_funcs(a.live) != 0) {
		status = cli_error(1, "cannot set up the agent: out of memory");
		goto out;
	}
	profile_set_limit(a.live, PROFILE_DEFAULT_MAX_STACKS);
	profile_set_limit(a.acc, SERVE_WINDOW_MAX_STACKS);

	/* Blocked here, so every HTTP thread inherits the mask: the sampler
	 * reads them through its signalfd. */
	cli_block_stop_signals();
	sctx.store = store;
	serve_http_config(&sctx, c, &hc);
	http = http_start(&hc, err, sizeof(err));
	if (!http) {
		status = cli_error(strncmp(err, "invalid value", 13) == 0 ||
				   strncmp(err, "refusing", 8) == 0 ? 2 : 1, "%s", err);
		goto out;
	}
	sctx.http = http;
	target_guard_crashes(NULL);
	so.discover = discover_scan;
	so.discover_ctx = &d;
	so.discover_every = SERVE_DISCOVER_S;
	so.proc_func = SERVE_FUNC_PROCESS;
	so.proc_event = proc_event;
	so.event_ctx = &a;
	so.interval = (double)SERVE_SLICE_NS / 1e9;
	so.window_end = window_end;
	so.window_ctx = &a;
	so.rate_change = &a.rate_change;
	if (c->native)
		so.native_opts = &nopts;
	rc = sampler_run(NULL, NULL, a.live, &so, &st);
	if (rc)
		status = cli_error(perr_exit_status(rc), "%s", perr_detail(rc));
	/* sampler_run detached every target before returning. */
	fprintf(stderr, "pyspy-c: stopping%s%s: detached from every process\n",
		st.stop_signal ? " on " : "", st.stop_signal ? strsignal(st.stop_signal) : "");
	pthread_mutex_lock(&store->lock);
	store->stopping = true;
	pthread_mutex_unlock(&store->lock);
out:
	http_stop(http);
	if (have_d)
		discover_release(&d);
	profile_free(a.live);
	profile_free(a.acc);
	free(a.wprocs);
	if (store) {
		store_release(store);
		free(store);
	}
	return status;
}
