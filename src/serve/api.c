/*
 * api.c - the agent's HTTP endpoints: one handler per route, and the
 * routes table at the end (adding an endpoint is a handler and a row).
 * The dispatcher (src/http) has checked method, Host, token and the
 * query's shape; handlers check values and answer 400 with a one-line
 * reason.  Every JSON body goes through the one writer (pyspy/json.h).
 *
 * Times in the API are wall-clock: unix seconds in parameters (negative:
 * relative to now), RFC 3339 UTC and unix nanoseconds in answers.
 */
#define _GNU_SOURCE
#include "serve_internal.h"
#include "pyspy/cli.h"
#include "pyspy/json.h"
#include "pyspy/output.h"
#include "pyspy/prom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SECONDS 60
#define WINDOWS_MAX 1000     /* windows per /v1/windows answer */
#define WAIT_STEP_NS 100000000ll

static int64_t now_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool stopping(struct store *st)
{
	bool s;

	pthread_mutex_lock(&st->lock);
	s = st->stopping;
	pthread_mutex_unlock(&st->lock);
	return s;
}

static void put_all(struct chunk **c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		chunk_put(c[i]);
	free(c);
}

/*
 * Whether glibc's regcomp() would build a tree of more than 'limit' nodes
 * for the extended regular expression re: it copies what '+' and '{m,n}'
 * repeat (x+ is x x*, x{3} is x x x), so nested repetitions multiply,
 * "a++++++++..." doubling per '+', and 256 bytes from the net could ask
 * for more memory than the machine has.  An estimate from above: each
 * atom, group and bracket expression counts its size, a repetition
 * multiplies the size of what it repeats.
 */
#define REGEX_MAX_NODES 4096
#define REGEX_MAX_DEPTH 64

static bool regex_too_big(const char *re, double limit)
{
	double size[REGEX_MAX_DEPTH + 1] = { 0 }; /* per open group: its size so far */
	double last[REGEX_MAX_DEPTH + 1] = { 0 }; /* the size of its last item */
	int d = 0;

	for (const char *p = re; *p; p++) {
		double item = 1;

		switch (*p) {
		case '(':
			if (d == REGEX_MAX_DEPTH)
				return true;
			d++;
			size[d] = last[d] = 0;
			continue;
		case ')':
			if (d == 0)
				break; /* an ordinary character */
			item = size[d] + 1;
			d--;
			break;
		case '|':
			last[d] = 0;
			continue;
		case '*':
		case '?':
			size[d] += 1;
			last[d] += 1;
			continue;
		case '+':
			size[d] += last[d] + 1;
			last[d] = 2 * last[d] + 1;
			if (size[d] > limit)
				return true;
			continue;
		case '{': {
			/* {m}, {m,}, {m,n}: up to max(m, n) copies (m + 1 for "{m,}") */
			char *end;
			double m = strtod(p + 1, &end), n = m;
			if (end == p + 1 || m < 0)
				break; /* not an interval: an ordinary '{' */
			if (*end == ',') {
				const char *q = end + 1;
				n = *q == '}' ? m + 1 : strtod(q, &end);
			}
			if (n < m)
				n = m;
			size[d] += last[d] * (n > 1 ? n - 1 : 0) + 1;
			last[d] = last[d] * (n > 1 ? n : 1) + 1;
			if (size[d] > limit)
				return true;
			continue;
		}
		case '[':
			/* a bracket expression is one node: skip to its end */
			if (p[1] == '^')
				p++;
			if (p[1] == ']')
				p++;
			while (p[1] && p[1] != ']')
				p++;
			if (p[1])
				p++;
			break;
		case '\\':
			if (p[1])
				p++;
			break;
		default:
			break;
		}
		size[d] += item;
		last[d] = item;
		if (size[d] > limit)
			return true;
	}
	while (d > 0) {
		size[d - 1] += size[d];
		d--;
	}
	return size[0] > limit;
}

/* pid= and match= (and processes=1): the filter of a stacks query. */
static int parse_filter(const struct http_request *rq, struct http_reply *r,
			struct query_filter *f, regex_t *re)
{
	const char *m = http_param(rq, "match");
	const char *bp = http_param(rq, "processes");
	double pid;

	memset(f, 0, sizeof(*f));
	if (http_param_number(rq, r, "pid", 1, 4194304, 0, &pid))
		return -1;
	if (pid != floor(pid)) {
		http_reply_text(r, 400, "bad value for 'pid': expected a process id");
		return -1;
	}
	f->pid = (pid_t)pid;
	if (bp && strcmp(bp, "0") != 0 && strcmp(bp, "1") != 0) {
		http_reply_text(r, 400, "bad value for 'processes': expected 0 or 1");
		return -1;
	}
	f->by_process = bp && strcmp(bp, "1") == 0;
	if (m) {
		/* glibc's back-references can take exponential time: not from the net. */
		for (const char *q = m; *q; q++)
			if (q[0] == '\\' && q[1] >= '1' && q[1] <= '9') {
				http_reply_text(r, 400, "bad value for 'match': back-references are "
						"not allowed");
				return -1;
			}
		if (regex_too_big(m, REGEX_MAX_NODES)) {
			http_reply_text(r, 400, "bad value for 'match': too many repetitions (the "
					"expression would take more than %d nodes)", REGEX_MAX_NODES);
			return -1;
		}
		if (regcomp(re, m, REG_EXTENDED | REG_NOSUB) != 0) {
			http_reply_text(r, 400, "bad value for 'match': not an extended regular "
					"expression");
			return -1;
		}
		f->match = re;
	}
	return 0;
}

/* Merge the chunks of [from, until) and write them with 'fmt'. */
static void write_stacks(struct serve_ctx *x, struct http_reply *r, const struct output_format *fmt,
			 int64_t from, int64_t until, bool slices_only,
			 struct query_filter *f, bool full_filenames)
{
	struct store *st = x->store;
	size_t n, nfuncs;
	struct chunk **c = store_collect(st, from, until, slices_only, &n, &nfuncs);
	struct output_opts oo = { .full_filenames = full_filenames, .rate = st->info.rate,
				  .idle = st->info.idle, .command = "pyspy-c serve" };
	struct profile *p;
	int64_t first = 0, covered = 0;

	if (!c) {
		http_reply_text(r, 503, "out of memory");
		return;
	}
	if (fmt->needs_timeline &&
	    !(f->timeline = timeline_new((int64_t)(1e9 / st->info.rate), 0, 0))) {
		put_all(c, n);
		http_reply_text(r, 503, "out of memory");
		return;
	}
	oo.timeline = f->timeline;
	for (size_t i = 0; i < n; i++) {
		if (!first || c[i]->start_ns < first)
			first = c[i]->start_ns;
		covered += c[i]->end_ns - c[i]->start_ns;
	}
	p = query_merge(c, n, nfuncs, f, &oo.samples, &oo.failed);
	put_all(c, n);
	if (!p) {
		if (f->too_many)
			http_reply_text(r, 400, "too many samples for %s (more than %d): ask for a "
					"shorter interval, or use folded or pprof", fmt->name,
					QUERY_TIMELINE_MAX);
		else
			http_reply_text(r, 503, "out of memory");
		timeline_free(f->timeline);
		return;
	}
	oo.start_realtime_ns = first ? first : from;
	oo.duration = (double)covered / 1e9;
	if (fmt->write(r->body, p, &oo) != 0)
		http_reply_text(r, 500, "cannot write the %s output", fmt->name);
	else if (fmt->binary)
		r->type = "application/octet-stream";
	else if (strcmp(fmt->name, "svg") == 0)
		r->type = "image/svg+xml";
	else if (strcmp(fmt->name, "folded") == 0)
		r->type = "text/plain; charset=utf-8";
	else
		r->type = "application/json";
	profile_free(p);
	timeline_free(f->timeline);
	f->timeline = NULL;
}

/* GET /: folded stacks of the last ?seconds=N (default 60). */
static void h_root(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct serve_ctx *x = ctx;
	struct query_filter f;
	regex_t re;
	double seconds;
	int64_t now = now_realtime();

	if (http_param_number(rq, r, "seconds", 1, x->c->retention, DEFAULT_SECONDS, &seconds) ||
	    parse_filter(rq, r, &f, &re))
		return;
	write_stacks(x, r, output_find("folded"), now - (int64_t)(seconds * 1e9), now, false, &f,
		     false);
	if (f.match)
		regfree(&re);
}

/* A time parameter: unix seconds, or negative: seconds before now. */
static int param_time(const struct http_request *rq, struct http_reply *r, const char *name,
		      int64_t now, int64_t def, int64_t *out)
{
	double v;

	if (!http_param(rq, name)) {
		*out = def;
		return 0;
	}
	if (http_param_number(rq, r, name, -1e9, 1e11, 0, &v))
		return -1;
	*out = v < 0 ? now + (int64_t)(v * 1e9) : (int64_t)(v * 1e9);
	return 0;
}

/* GET /stacks?from=&until=&format=&pid=&match=&processes=&full_filenames= */
static void h_stacks(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct serve_ctx *x = ctx;
	const char *name = http_param(rq, "format");
	const char *ff = http_param(rq, "full_filenames");
	const struct output_format *fmt = output_find(name ? name : "folded");
	struct query_filter f;
	regex_t re;
	int64_t now = now_realtime(), from, until;

	if (!fmt || strcmp(fmt->name, "chrometrace") == 0) {
		/* A Chrome trace is a timeline of each thread; the agent keeps counts. */
		http_reply_text(r, 400, "bad value for 'format': expected folded, speedscope, svg "
				"or pprof");
		return;
	}
	if (ff && strcmp(ff, "0") != 0 && strcmp(ff, "1") != 0) {
		http_reply_text(r, 400, "bad value for 'full_filenames': expected 0 or 1");
		return;
	}
	if (param_time(rq, r, "from", now, now - DEFAULT_SECONDS * 1000000000ll, &from) ||
	    param_time(rq, r, "until", now, now, &until))
		return;
	if (from >= until) {
		http_reply_text(r, 400, "'from' must be before 'until'");
		return;
	}
	if (parse_filter(rq, r, &f, &re))
		return;
	if (fmt->binary)
		r->filename = "profile.pb.gz";
	write_stacks(x, r, fmt, from, until, false, &f, ff && strcmp(ff, "1") == 0);
	if (f.match)
		regfree(&re);
}

/*
 * GET /debug/pprof/profile?seconds=N: Go's net/http/pprof convention: the
 * NEXT N seconds (default 30), gzip'd profile.proto.  Built from the
 * one-second slices, so N seconds ask for N slices.
 */
static void h_pprof(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct serve_ctx *x = ctx;
	struct query_filter f = { 0 };
	double seconds;
	int64_t t0 = now_realtime(), end;

	if (http_param_number(rq, r, "seconds", 1, SERVE_PPROF_MAX_S, 30, &seconds))
		return;
	end = t0 + (int64_t)(seconds * 1e9);
	/* Until the slice that holds the end has closed too (bounded). */
	while (!stopping(x->store)) {
		int64_t now = now_realtime();
		if ((now >= end && store_newest_end(x->store) >= end - SERVE_SLICE_NS / 2) ||
		    now >= end + 3 * SERVE_SLICE_NS)
			break;
		nanosleep(&(struct timespec){ 0, WAIT_STEP_NS }, NULL);
	}
	r->filename = "profile";
	write_stacks(x, r, output_find("pprof"), t0, end, true, &f, false);
}

static void json_time(struct json *j, const char *key, int64_t ns)
{
	char buf[40];

	output_iso_time(ns, buf, sizeof(buf));
	json_kstring(j, key, buf);
}

static void json_proc(struct json *j, const struct chunk_proc *p, bool counts)
{
	json_object(j);
	json_kint(j, "pid", p->pid);
	json_kuint(j, "start_time", p->start_time);
	json_kstring(j, "program", p->program);
	json_kstring(j, "python", p->python);
	if (counts) {
		json_kuint(j, "samples", p->samples);
		json_kuint(j, "errors", p->errors);
		json_kuint(j, "late", p->late);
		json_kbool(j, "exited", p->exited);
	}
	json_object_end(j);
}

static void json_window(struct json *j, const struct chunk *c, uint32_t *map, uint32_t *used)
{
	size_t nfuncs = c->nfuncs;
	size_t nused = 0;

	json_object(j);
	json_kuint(j, "seq", c->seq);
	json_time(j, "start", c->start_ns);
	json_time(j, "end", c->end_ns);
	json_kint(j, "start_ns", c->start_ns);
	json_kint(j, "end_ns", c->end_ns);
	json_kuint(j, "samples", c->samples);
	json_kuint(j, "errors", c->errors);
	json_kuint(j, "late", c->late);
	json_kuint(j, "pruned", c->pruned);
	json_key(j, "processes");
	json_array(j);
	for (size_t i = 0; i < c->nprocs; i++)
		json_proc(j, &c->procs[i], true);
	json_array_end(j);
	/* Functions this window uses, numbered from 0 in order of first use. */
	for (size_t i = 0; i < c->nstacks; i++)
		for (uint32_t k = 0; k < c->stacks[i].n; k++) {
			uint32_t id = c->frames[c->stacks[i].off + k].func;
			if (id < nfuncs && map[id] == FUNC_NONE) {
				map[id] = (uint32_t)nused;
				used[nused++] = id;
			}
		}
	json_key(j, "functions");
	json_array(j);
	for (size_t i = 0; i < nused; i++) {
		const struct func *fn = chunk_func(c, used[i]);
		json_object(j);
		json_kstring(j, "name", fn->name);
		json_kstring(j, "file", fn->file);
		json_kstring(j, "short_file", fn->short_file);
		json_kstring(j, "kind", fn->kind == FUNC_LABEL ? "label" : "code");
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "stacks");
	json_array(j);
	for (size_t i = 0; i < c->nstacks; i++) {
		const struct chunk_stack *s = &c->stacks[i];
		json_object(j);
		if (s->proc >= 0)
			json_kint(j, "process", s->proc);
		else
			json_kstring(j, "process", NULL);
		json_kuint(j, "count", s->count);
		json_key(j, "frames");
		json_array(j);
		for (uint32_t k = 0; k < s->n; k++) {
			struct frame_ref fr = c->frames[s->off + k];
			json_array(j);
			json_uint(j, fr.func < nfuncs ? map[fr.func] : 0);
			if (fr.line >= 0)
				json_int(j, fr.line);
			else
				json_null(j);
			json_array_end(j);
		}
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
	for (size_t i = 0; i < nused; i++)
		map[used[i]] = FUNC_NONE;
}

/* GET /v1/windows?since=SEQ&max=N: closed windows after SEQ, oldest first. */
static void h_windows(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct serve_ctx *x = ctx;
	struct store *st = x->store;
	double since, max;
	size_t n, nfuncs;
	uint64_t oldest, newest;
	struct chunk **c;
	uint32_t *map, *used;
	struct json j;

	if (http_param_number(rq, r, "since", 0, 1e18, 0, &since) ||
	    http_param_number(rq, r, "max", 1, WINDOWS_MAX, 100, &max))
		return;
	if (since != floor(since) || max != floor(max)) {
		http_reply_text(r, 400, "bad value: 'since' and 'max' are whole numbers");
		return;
	}
	c = store_windows_since(st, (uint64_t)since, (size_t)max, &n, &nfuncs, &oldest, &newest);
	map = malloc((nfuncs ? nfuncs : 1) * sizeof(*map));
	used = malloc((nfuncs ? nfuncs : 1) * sizeof(*used));
	if (!c || !map || !used) {
		http_reply_text(r, 503, "out of memory");
		goto out;
	}
	memset(map, 0xff, (nfuncs ? nfuncs : 1) * sizeof(*map));
	r->type = "application/json";
	json_init(&j, r->body);
	json_object(&j);
	json_kstring(&j, "format", "pyspy-c.windows.v1");
	json_kstring(&j, "instance", st->info.instance);
	json_kdouble(&j, "rate", st->info.rate);
	json_kbool(&j, "idle", st->info.idle);
	json_kuint(&j, "oldest_seq", oldest);
	json_kuint(&j, "newest_seq", newest);
	/* Windows after 'since' that are gone already (retention, memory). */
	json_kbool(&j, "gap", oldest > 0 && (uint64_t)since + 1 < oldest);
	json_kuint(&j, "next_since", n ? c[n - 1]->seq : (uint64_t)since > newest ? newest :
					 (uint64_t)since);
	json_key(&j, "windows");
	json_array(&j);
	for (size_t i = 0; i < n; i++)
		json_window(&j, c[i], map, used);
	json_array_end(&j);
	json_object_end(&j);
	fputc('\n', r->body);
out:
	if (c)
		put_all(c, n);
	free(map);
	free(used);
}

/* GET /v1/info: what this agent is and can do. */
static void h_info(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct serve_ctx *x = ctx;
	const struct store_info *in = &x->store->info;
	struct json j;

	(void)rq;
	r->type = "application/json";
	json_init(&j, r->body);
	json_object(&j);
	json_kstring(&j, "program", "pyspy-c");
	json_kstring(&j, "version", PYSPY_VERSION);
	json_kstring(&j, "api", "v1");
	json_kstring(&j, "instance", in->instance);
	json_time(&j, "started", in->started_ns);
	json_key(&j, "capabilities");
	json_array(&j);
	json_string(&j, "windows.v1");
	json_string(&j, "stacks");
	json_string(&j, "pprof");
	json_string(&j, "metrics");
	json_string(&j, "targets");
	json_array_end(&j);
	json_key(&j, "formats");
	json_array(&j);
	for (size_t i = 0; output_format_at(i); i++)
		if (strcmp(output_format_at(i)->name, "chrometrace") != 0)
			json_string(&j, output_format_at(i)->name);
	json_array_end(&j);
	json_kdouble(&j, "rate", in->rate);
	json_kdouble(&j, "max_overhead_percent", in->max_overhead);
	json_kdouble(&j, "window_seconds", in->window);
	json_kdouble(&j, "retention_seconds", in->retention);
	json_kdouble(&j, "slice_seconds", (double)SERVE_SLICE_NS / 1e9);
	json_kuint(&j, "pprof_max_seconds", SERVE_PPROF_MAX_S);
	json_kbool(&j, "blocking", in->blocking);
	json_kbool(&j, "idle", in->idle);
	json_kbool(&j, "gil", in->gil);
	json_kbool(&j, "native", in->native);
	json_kbool(&j, "hide_args", in->hide_args);
	json_kbool(&j, "subprocesses", in->subprocesses);
	json_kstring(&j, "match", in->match);
	json_kuint(&j, "pids", in->npids);
	json_object_end(&j);
	fputc('\n', r->body);
}

/* GET /targets: the processes sampled now. */
static void h_targets(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct serve_ctx *x = ctx;
	size_t n;
	struct chunk_proc *t = store_targets(x->store, &n);
	struct json j;

	(void)rq;
	r->type = "application/json";
	json_init(&j, r->body);
	json_object(&j);
	json_kstring(&j, "instance", x->store->info.instance);
	json_key(&j, "targets");
	json_array(&j);
	for (size_t i = 0; t && i < n; i++)
		json_proc(&j, &t[i], false);
	json_array_end(&j);
	json_object_end(&j);
	fputc('\n', r->body);
	store_targets_free(t, n);
}

static void h_healthz(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	(void)ctx;
	(void)rq;
	fputs("ok\n", r->body);
}

/* GET /metrics: Prometheus text format 0.0.4. */
static void h_metrics(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct serve_ctx *x = ctx;
	struct store_totals t;
	struct http_counts hc;
	FILE *o = r->body;
	uint64_t rss;
	double cpu;

	(void)rq;
	store_totals(x->store, &t);
	http_counts(x->http, &hc);
	prom_self_usage(&cpu, &rss);
	r->type = PROM_CONTENT_TYPE;
	fprintf(o, "# HELP pyspyc_info The agent: version and instance id (random per start).\n"
		   "# TYPE pyspyc_info gauge\npyspyc_info{version=\"%s\",instance=\"%s\"} 1\n",
		PYSPY_VERSION, x->store->info.instance);
	prom_metric(o, "pyspyc_start_time_seconds", "gauge", "When the agent started (unix time).",
		    (double)x->store->info.started_ns / 1e9);
	prom_metric(o, "pyspyc_ticks_sampled_total", "counter",
		    "Ticks in which at least one process was sampled.", (double)t.samples);
	prom_metric(o, "pyspyc_samples_total", "counter",
		    "Samples taken, one per process per tick.", (double)t.proc_samples);
	prom_metric(o, "pyspyc_sample_errors_total", "counter",
		    "Samples that failed (torn memory, a thread that did not stop in time).",
		    (double)t.errors);
	prom_metric(o, "pyspyc_degraded_total", "counter",
		    "Parts of samples that could not be read and were shown degraded (a name, a "
		    "file, a line, the rest of a frame chain of a target that lies).",
		    (double)t.degraded);
	prom_metric(o, "pyspyc_thread_samples_dropped_total", "counter",
		    "Thread samples left out: a thread of a running target (--nonblocking) that "
		    "could not be read.", (double)t.dropped);
	prom_metric(o, "pyspyc_late_ticks_total", "counter",
		    "Ticks missed because the sampling thread fell behind.", (double)t.late);
	prom_metric(o, "pyspyc_rate_hz", "gauge",
		    "Samples per second per process now (under --rate when over --max-overhead).",
		    t.rate_now);
	prom_metric(o, "pyspyc_rate_asked_hz", "gauge",
		    "Samples per second per process asked (--rate).",
		    x->store->info.rate);
	prom_metric(o, "pyspyc_max_overhead_percent", "gauge",
		    "The overhead budget (--max-overhead; 0: none).", x->store->info.max_overhead);
	prom_metric(o, "pyspyc_overhead_cpu_percent", "gauge",
		    "The agent's CPU time in percent of the host's, over the last 5 s.", t.cpu_pct);
	prom_metric(o, "pyspyc_overhead_stopped_percent", "gauge",
		    "Percent of the time a target is held stopped, on average, over the last 5 s.",
		    t.stop_pct);
	fprintf(o, "# HELP pyspyc_rate_limited Whether the rate is under --rate, and which cost "
		   "passed the budget.\n# TYPE pyspyc_rate_limited gauge\n"
		   "pyspyc_rate_limited{reason=\"cpu\"} %d\npyspyc_rate_limited{reason=\"stopped\"} %d\n",
		t.rate_reason && strcmp(t.rate_reason, "cpu") == 0,
		t.rate_reason && strcmp(t.rate_reason, "stopped") == 0);
	prom_metric(o, "pyspyc_rate_changes_total", "counter",
		    "Times the overhead budget changed the rate.", (double)t.rate_changes);
	prom_metric(o, "pyspyc_targets", "gauge", "Processes sampled now.", (double)t.targets);
	prom_metric(o, "pyspyc_attaches_total", "counter", "Processes attached to.",
		    (double)t.attached);
	prom_metric(o, "pyspyc_detaches_total", "counter", "Processes dropped (exited or failed).",
		    (double)t.detached);
	prom_metric(o, "pyspyc_attach_errors_total", "counter",
		    "Processes that could not be attached to (other than not Python).",
		    (double)t.attach_errors);
	prom_metric(o, "pyspyc_attach_cpu_seconds_total", "counter",
		    "CPU time of the sampling thread spent attaching (divide by "
		    "pyspyc_attaches_total for the cost of one).", (double)t.attach_cpu_ns / 1e9);
	prom_metric(o, "pyspyc_attach_seconds_total", "counter",
		    "Wall time from finding a process to having attached to it, over all attaches.",
		    (double)t.attach_ns / 1e9);
	prom_metric(o, "pyspyc_stop_seconds_total", "counter",
		    "Time target threads were held stopped, over all samples (divide by "
		    "pyspyc_samples_total for the stop time per sample).",
		    (double)t.stopped_ns / 1e9);
	prom_metric(o, "pyspyc_windows", "gauge", "Closed windows kept.", (double)t.nwindows);
	prom_metric(o, "pyspyc_windows_closed_total", "counter", "Windows closed.",
		    (double)t.windows_closed);
	prom_metric(o, "pyspyc_windows_evicted_total", "counter",
		    "Windows dropped (older than the retention, or for memory).",
		    (double)t.windows_evicted);
	prom_metric(o, "pyspyc_windows_evicted_memory_total", "counter",
		    "Windows dropped before their time to keep the memory bound.",
		    (double)t.evicted_for_memory);
	prom_metric(o, "pyspyc_slices", "gauge", "One-second slices kept.", (double)t.nslices);
	prom_metric(o, "pyspyc_store_bytes", "gauge", "Memory held by windows and slices.",
		    (double)t.bytes);
	prom_metric(o, "pyspyc_store_max_bytes", "gauge", "The bound on pyspyc_store_bytes.",
		    (double)SERVE_MAX_BYTES);
	prom_metric(o, "pyspyc_window_max_stacks", "gauge",
		    "The bound on distinct stacks per window (and per slice).",
		    (double)SERVE_WINDOW_MAX_STACKS);
	prom_metric(o, "pyspyc_pruned_samples_total", "counter",
		    "Samples of rare stacks merged into '[pruned: rare stacks]' by the bound.",
		    (double)t.pruned);
	prom_metric(o, "pyspyc_functions", "gauge",
		    "Distinct functions in the dictionary (since it last started over).",
		    (double)t.nfuncs);
	prom_metric(o, "pyspyc_function_dictionary_renewals_total", "counter",
		    "Times the function dictionary started over, past its bound (see the next).",
		    (double)t.func_renewals);
	prom_metric(o, "pyspyc_function_dictionary_max", "gauge",
		    "The dictionary starts over when a window closes with more functions than "
		    "this.", (double)SERVE_FDICT_RENEW);
	prom_metric(o, "pyspyc_cpu_seconds_total", "counter",
		    "CPU time of the agent (user and system).",
		    cpu);
	prom_metric(o, "pyspyc_resident_bytes", "gauge", "Resident memory of the agent.",
		    (double)rss);
	fprintf(o, "# HELP pyspyc_http_requests_total HTTP requests answered, by status class.\n"
		   "# TYPE pyspyc_http_requests_total counter\n"
		   "pyspyc_http_requests_total{code=\"2xx\"} %llu\n"
		   "pyspyc_http_requests_total{code=\"4xx\"} %llu\n"
		   "pyspyc_http_requests_total{code=\"5xx\"} %llu\n",
		(unsigned long long)hc.status_2xx, (unsigned long long)hc.status_4xx,
		(unsigned long long)hc.status_5xx);
}

static const struct http_route serve_routes[] = {
	{ "/", h_root, "seconds,pid,match,processes", NULL },
	{ "/stacks", h_stacks, "from,until,format,pid,match,processes,full_filenames", NULL },
	{ "/v1/windows", h_windows, "since,max", NULL },
	{ "/v1/info", h_info, "", NULL },
	{ "/targets", h_targets, "", NULL },
	{ "/metrics", h_metrics, "", NULL },
	{ "/healthz", h_healthz, "", NULL },
	{ "/debug/pprof/profile", h_pprof, "seconds", NULL },
};
static const size_t serve_nroutes = sizeof(serve_routes) / sizeof(serve_routes[0]);

void serve_http_config(struct serve_ctx *x, const struct serve_config *c, struct http_config *out)
{
	*out = (struct http_config){ .listen = c->listen, .token_file = c->token_file,
				     .routes = serve_routes, .nroutes = serve_nroutes, .ctx = x };
}
