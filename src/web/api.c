/*
 * api.c - the web app's JSON API (/api/v1/...) and its downloads, over
 * the store's queries (the same as pyspy-c query).  The dispatcher
 * (src/http) has checked method, Host, token and the names of the query's
 * parameters; handlers check the values (400 naming the parameter) and
 * answer 503 with the store's one-line reason when it fails.  Every JSON
 * body goes through pyspy/json.h: frame names come from the profiled
 * programs and are escaped there.
 */
#define _GNU_SOURCE
#include "web_internal.h"
#include "pyspy/cli.h"
#include "pyspy/json.h"
#include "pyspy/output.h"
#include "pyspy/timearg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_RANGE 3600
#define MAX_PIDS 1000

static const char *const tier_names[STORE_NTIERS] = { "1m", "10m", "1h" };

/* ------------------------------------------------------------------ */
/* parameters */

static int param_time(const struct http_request *rq, struct http_reply *r, const char *name,
		      int64_t now, int64_t def, int64_t *out)
{
	const char *v = http_param(rq, name);
	char err[160];

	if (!v) {
		*out = def;
		return 0;
	}
	if (timearg_parse(v, now, out, err, sizeof(err))) {
		http_reply_text(r, 400, "bad value for '%s': %s", name, err);
		return -1;
	}
	return 0;
}

/* from and until (default the last hour), from before until. */
static int param_range(const struct http_request *rq, struct http_reply *r, int64_t now,
		       int64_t *from, int64_t *until)
{
	if (param_time(rq, r, "from", now, now - DEFAULT_RANGE, from) ||
	    param_time(rq, r, "until", now, now, until))
		return -1;
	if (*from >= *until) {
		http_reply_text(r, 400, "bad value for 'from': it must be before 'until'");
		return -1;
	}
	return 0;
}

/* service, host (empty: any), pid. */
static int param_filter(const struct http_request *rq, struct http_reply *r,
			struct store_filter *f)
{
	const char *s = http_param(rq, "service"), *h = http_param(rq, "host");
	double pid;

	memset(f, 0, sizeof(*f));
	f->service = s && *s ? s : NULL;
	f->host = h && *h ? h : NULL;
	if (http_param(rq, "pid") && !*http_param(rq, "pid"))
		return 0;
	if (http_param_number(rq, r, "pid", 1, 2147483647, 0, &pid) ||
	    pid != (double)(int64_t)pid) {
		http_reply_text(r, 400, "bad value for 'pid': expected a process id");
		return -1;
	}
	f->pid = (int64_t)pid;
	return 0;
}

static int param_flag(const struct http_request *rq, struct http_reply *r, const char *name,
		      bool *out)
{
	const char *v = http_param(rq, name);

	*out = false;
	if (!v)
		return 0;
	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
		http_reply_text(r, 400, "bad value for '%s': expected 0 or 1", name);
		return -1;
	}
	*out = v[0] == '1';
	return 0;
}

static void store_failed(struct web_ctx *x, struct http_reply *r)
{
	const char *msg = store_errmsg(x->db);

	http_reply_text(r, 503, "%s", msg && *msg ? msg : "cannot read the store");
}

static void json_begin(struct http_reply *r, struct json *j)
{
	r->type = "application/json";
	json_init(j, r->body);
}

static void json_end(struct http_reply *r, struct json *j)
{
	fputc('\n', r->body);
	if (j->error)
		http_reply_text(r, 500, "cannot write the answer");
}

/* ------------------------------------------------------------------ */
/* GET /api/v1/info */

void web_api_info(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct web_ctx *x = ctx;
	struct store_tier_state tiers[STORE_NTIERS];
	int64_t first, last;
	bool found;
	struct json j;
	int rc;

	(void)rq;
	pthread_mutex_lock(&x->lock);
	rc = store_extent(x->db, &first, &last, &found);
	if (rc == 0)
		rc = store_tiers(x->db, tiers);
	if (rc) {
		store_failed(x, r);
		pthread_mutex_unlock(&x->lock);
		return;
	}
	json_begin(r, &j);
	json_object(&j);
	json_kstring(&j, "version", "pyspy-c " PYSPY_VERSION);
	json_kstring(&j, "store", store_backend_name(x->db));
	pthread_mutex_unlock(&x->lock);
	json_kint(&j, "now", (int64_t)time(NULL));
	json_key(&j, "first");
	found ? json_int(&j, first) : json_null(&j);
	json_key(&j, "last");
	found ? json_int(&j, last) : json_null(&j);
	json_key(&j, "tiers");
	json_array(&j);
	for (int t = 0; t < STORE_NTIERS; t++) {
		json_object(&j);
		json_kstring(&j, "name", tier_names[t]);
		json_kint(&j, "width", store_tier_width[t]);
		/* The collector's retention is its option; the default is what we know. */
		json_kint(&j, "retention", store_default_retention[t]);
		json_kint(&j, "kept_from", tiers[t].kept_from);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_kint(&j, "timeline_points", STORE_TIMELINE_POINTS);
	json_object_end(&j);
	json_end(r, &j);
}

/* ------------------------------------------------------------------ */
/* GET /api/v1/series */

struct named {
	const char *name;
	uint64_t samples;
};

static int named_by_name(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static int named_by_samples(const void *a, const void *b)
{
	const struct named *x = a, *y = b;

	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Sum v[0..n-1] by name (in place), most samples first; returns the count. */
static size_t sum_by_name(struct named *v, size_t n)
{
	size_t k = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), named_by_name);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i].name, v[k].name) == 0)
			v[k].samples += v[i].samples;
		else
			v[++k] = v[i];
	}
	qsort(v, k + 1, sizeof(*v), named_by_samples);
	return k + 1;
}

static void json_named(struct json *j, const char *key, const struct named *v, size_t n)
{
	json_key(j, key);
	json_array(j);
	for (size_t i = 0; i < n; i++) {
		json_object(j);
		json_kstring(j, "name", v[i].name);
		json_kuint(j, "samples", v[i].samples);
		json_object_end(j);
	}
	json_array_end(j);
}

void web_api_series(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct web_ctx *x = ctx;
	struct store_series_row *rows = NULL;
	struct named *sv = NULL, *hv = NULL;
	struct store_filter f;
	int64_t now = time(NULL), from, until;
	size_t n = 0, ns, nh, npids = 0;
	struct json j;
	int rc;

	if (param_range(rq, r, now, &from, &until) || param_filter(rq, r, &f))
		return;
	pthread_mutex_lock(&x->lock);
	rc = store_series(x->db, from, until, &f, &rows, &n);
	if (rc)
		store_failed(x, r);
	pthread_mutex_unlock(&x->lock);
	if (rc)
		return;
	sv = calloc(n ? n : 1, sizeof(*sv));
	hv = calloc(n ? n : 1, sizeof(*hv));
	if (!sv || !hv) {
		http_reply_text(r, 503, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		sv[i] = (struct named){ rows[i].service, rows[i].samples };
		hv[i] = (struct named){ rows[i].host, rows[i].samples };
	}
	ns = sum_by_name(sv, n);
	nh = sum_by_name(hv, n);
	json_begin(r, &j);
	json_object(&j);
	json_kint(&j, "from", from);
	json_kint(&j, "until", until);
	json_named(&j, "services", sv, ns);
	json_named(&j, "hosts", hv, nh);
	json_key(&j, "pids");
	json_array(&j);
	/* rows come most samples first; pid 0 holds samples of no process. */
	for (size_t i = 0; i < n && npids < MAX_PIDS; i++) {
		if (rows[i].pid <= 0)
			continue;
		json_object(&j);
		json_kint(&j, "pid", rows[i].pid);
		json_kstring(&j, "host", rows[i].host);
		json_kstring(&j, "service", rows[i].service);
		json_kstring(&j, "program", *rows[i].program ? rows[i].program : NULL);
		json_kuint(&j, "samples", rows[i].samples);
		json_object_end(&j);
		npids++;
	}
	json_array_end(&j);
	json_object_end(&j);
	json_end(r, &j);
out:
	free(sv);
	free(hv);
	store_series_free(rows, n);
}

/* ------------------------------------------------------------------ */
/* GET /api/v1/timeline */

struct tpoint {
	int64_t bucket;
	size_t group;
	uint64_t samples, errors;
};

static int tpoint_cmp(const void *a, const void *b)
{
	const struct tpoint *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->group < y->group ? -1 : x->group > y->group;
}

static size_t group_of(const struct named *g, size_t ng, const char *name)
{
	size_t lo = 0, hi = ng;

	/* g is sorted by name here. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(g[mid].name, name);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

void web_api_timeline(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	struct web_ctx *x = ctx;
	const char *gs = http_param(rq, "group");
	struct store_point *pts = NULL;
	struct named *g = NULL;
	struct tpoint *tp = NULL;
	size_t *rank = NULL;
	struct store_filter f;
	int64_t now = time(NULL), from, until, width;
	size_t n = 0, ng = 0, np = 0;
	enum store_group by;
	int tier, rc;
	struct json j;

	if (param_range(rq, r, now, &from, &until) || param_filter(rq, r, &f))
		return;
	if (gs && strcmp(gs, "service") != 0 && strcmp(gs, "host") != 0) {
		http_reply_text(r, 400, "bad value for 'group': expected service or host");
		return;
	}
	by = gs && strcmp(gs, "host") == 0 ? STORE_BY_HOST : STORE_BY_SERVICE;
	tier = store_timeline_tier(from, until);
	width = store_tier_width[tier];
	pthread_mutex_lock(&x->lock);
	rc = store_timeline(x->db, from, until, &f, by, &pts, &n);
	if (rc)
		store_failed(x, r);
	pthread_mutex_unlock(&x->lock);
	if (rc)
		return;
	g = calloc(n ? n : 1, sizeof(*g));
	tp = calloc(n ? n : 1, sizeof(*tp));
	rank = calloc(n ? n : 1, sizeof(*rank));
	if (!g || !tp || !rank) {
		http_reply_text(r, 503, "out of memory");
		goto out;
	}
	/* Groups: sorted by name to number the points, listed most samples first. */
	for (size_t i = 0; i < n; i++)
		g[i] = (struct named){ pts[i].group, pts[i].samples };
	if (n) {
		qsort(g, n, sizeof(*g), named_by_name);
		for (size_t i = 1; i < n; i++) {
			if (strcmp(g[i].name, g[ng].name) == 0)
				g[ng].samples += g[i].samples;
			else
				g[++ng] = g[i];
		}
		ng++;
	}
	{
		struct named *order = calloc(ng ? ng : 1, sizeof(*order));
		if (!order) {
			http_reply_text(r, 503, "out of memory");
			goto out;
		}
		memcpy(order, g, ng * sizeof(*g));
		qsort(order, ng, sizeof(*order), named_by_samples);
		for (size_t i = 0; i < ng; i++)
			rank[group_of(g, ng, order[i].name)] = i;
		memcpy(g, order, ng * sizeof(*g));
		free(order);
	}
	/* Every point into the timeline tier's buckets: a range that needed a
	 * finer tier at its edges comes out at one width. */
	{
		struct named *byname = calloc(ng ? ng : 1, sizeof(*byname));
		if (!byname) {
			http_reply_text(r, 503, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < ng; i++)
			byname[i] = g[i];
		qsort(byname, ng, sizeof(*byname), named_by_name);
		for (size_t i = 0; i < n; i++) {
			int64_t b = pts[i].bucket - ((pts[i].bucket % width) + width) % width;
			tp[i] = (struct tpoint){ b, rank[group_of(byname, ng, pts[i].group)],
						 pts[i].samples, pts[i].errors };
		}
		free(byname);
	}
	if (n) {
		qsort(tp, n, sizeof(*tp), tpoint_cmp);
		for (size_t i = 1; i < n; i++) {
			if (tp[i].bucket == tp[np].bucket && tp[i].group == tp[np].group) {
				tp[np].samples += tp[i].samples;
				tp[np].errors += tp[i].errors;
			} else {
				tp[++np] = tp[i];
			}
		}
		np++;
	}
	json_begin(r, &j);
	json_object(&j);
	json_kint(&j, "from", from);
	json_kint(&j, "until", until);
	json_kint(&j, "width", width);
	json_kstring(&j, "tier", tier_names[tier]);
	json_kstring(&j, "group", by == STORE_BY_HOST ? "host" : "service");
	json_key(&j, "groups");
	json_array(&j);
	for (size_t i = 0; i < ng; i++)
		json_string(&j, g[i].name);
	json_array_end(&j);
	json_key(&j, "points");
	json_array(&j);
	for (size_t i = 0; i < np; i++) {
		json_array(&j);
		json_int(&j, tp[i].bucket);
		json_uint(&j, tp[i].group);
		json_uint(&j, tp[i].samples);
		json_uint(&j, tp[i].errors);
		json_array_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_end(r, &j);
out:
	free(g);
	free(tp);
	free(rank);
	store_points_free(pts, n);
}

/* ------------------------------------------------------------------ */
/* GET /api/v1/flamegraph */

/* (func, line) -> frame index: open addressing over 64-bit keys. */
struct fmap {
	uint64_t *keys;      /* key + 1; 0: empty */
	uint32_t *vals;
	size_t cap, n;
	uint64_t *order;     /* keys by index */
};

static uint64_t fkey(struct frame_ref f)
{
	return (uint64_t)f.func << 32 | (uint32_t)f.line;
}

static size_t fslot(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k & (cap - 1);
}

static long fmap_get(struct fmap *m, struct frame_ref f)
{
	uint64_t k = fkey(f);
	size_t s;

	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		uint64_t *nk = calloc(cap, sizeof(*nk));
		uint32_t *nv = calloc(cap, sizeof(*nv));
		uint64_t *no = realloc(m->order, cap / 2 * sizeof(*no));
		if (!nk || !nv || !no) {
			free(nk);
			free(nv);
			if (no)
				m->order = no;
			return -1;
		}
		m->order = no;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->keys[i])
				continue;
			s = fslot(m->keys[i] - 1, cap);
			while (nk[s])
				s = (s + 1) & (cap - 1);
			nk[s] = m->keys[i];
			nv[s] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		m->keys = nk;
		m->vals = nv;
		m->cap = cap;
	}
	for (s = fslot(k, m->cap); m->keys[s]; s = (s + 1) & (m->cap - 1))
		if (m->keys[s] == k + 1)
			return m->vals[s];
	m->keys[s] = k + 1;
	m->vals[s] = (uint32_t)m->n;
	m->order[m->n] = k;
	return (long)m->n++;
}

static void fmap_free(struct fmap *m)
{
	free(m->keys);
	free(m->vals);
	free(m->order);
}

static int write_flame_json(struct http_reply *r, const struct profile *p, int64_t from,
			    int64_t until, const struct store_query_info *qi, bool full)
{
	struct fmap m = { 0 };
	struct profile_iter it = { 0 };
	const struct frame_ref *fr;
	size_t n;
	uint64_t count;
	long *idx = NULL;
	size_t capidx = 0;
	struct json j;
	int rc = -1;

	/* Number the frames first: "frames" comes before "stacks". */
	while (profile_next(p, &it, &fr, &n, &count))
		for (size_t i = 0; i < n; i++)
			if (fmap_get(&m, fr[i]) < 0)
				goto out;
	json_begin(r, &j);
	json_object(&j);
	json_kint(&j, "from", from);
	json_kint(&j, "until", until);
	json_kuint(&j, "samples", qi->samples);
	json_kuint(&j, "errors", qi->errors);
	json_kbool(&j, "exact", qi->exact);
	json_key(&j, "spans");
	json_array(&j);
	for (size_t i = 0; i < qi->nspans; i++) {
		json_object(&j);
		json_kstring(&j, "tier", tier_names[qi->spans[i].tier]);
		json_kint(&j, "from", qi->spans[i].from);
		json_kint(&j, "until", qi->spans[i].until);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "frames");
	json_array(&j);
	for (size_t i = 0; i < m.n; i++) {
		uint32_t fn = (uint32_t)(m.order[i] >> 32);
		int32_t line = (int32_t)(uint32_t)m.order[i];
		const struct func *f = profile_func_get(p, fn);
		bool label = !f || f->kind == FUNC_LABEL;

		json_array(&j);
		json_string(&j, f ? f->name : "?");
		json_string(&j, label ? "" : full ? f->file : f->short_file ? f->short_file : f->file);
		json_int(&j, label ? -1 : line);
		json_array_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "stacks");
	json_array(&j);
	it.pos = 0;
	while (profile_next(p, &it, &fr, &n, &count)) {
		if (n > capidx) {
			long *ni = realloc(idx, n * sizeof(*ni));
			if (!ni)
				goto out;
			idx = ni;
			capidx = n;
		}
		for (size_t i = 0; i < n; i++)
			idx[i] = fmap_get(&m, fr[i]);
		json_array(&j);
		json_uint(&j, count);
		json_array(&j);
		for (size_t i = 0; i < n; i++)
			json_int(&j, idx[i]);
		json_array_end(&j);
		json_array_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_end(r, &j);
	rc = 0;
out:
	fmap_free(&m);
	free(idx);
	return rc;
}

static const struct {
	const char *name, *ext, *type;
} downloads[] = {
	{ "folded", "txt", "text/plain; charset=utf-8" },
	{ "pprof", "pb.gz", "application/octet-stream" },
	{ "speedscope", "speedscope.json", "application/json" },
};

void web_api_flamegraph(void *ctx, const struct http_request *rq, struct http_reply *r)
{
	/* The reply's file name is read after the handler returns, on this thread. */
	static __thread char filename[96];
	struct web_ctx *x = ctx;
	const char *format = http_param(rq, "format");
	struct store_query_info qi;
	struct store_filter f;
	struct profile *p;
	int64_t now = time(NULL), from, until;
	bool full;
	int err;
	int dl = -1;

	if (format && *format && strcmp(format, "json") != 0) {
		for (size_t i = 0; i < sizeof(downloads) / sizeof(downloads[0]); i++)
			if (strcmp(format, downloads[i].name) == 0)
				dl = (int)i;
		if (dl < 0) {
			http_reply_text(r, 400, "bad value for 'format': expected json, folded, "
					"pprof or speedscope");
			return;
		}
	}
	if (param_range(rq, r, now, &from, &until) || param_filter(rq, r, &f) ||
	    param_flag(rq, r, "full_filenames", &full))
		return;
	pthread_mutex_lock(&x->lock);
	p = store_query(x->db, from, until, &f, &qi, &err);
	if (!p)
		store_failed(x, r);
	pthread_mutex_unlock(&x->lock);
	if (!p)
		return;
	if (dl < 0) {
		if (write_flame_json(r, p, from, until, &qi, full))
			http_reply_text(r, 503, "out of memory");
	} else {
		const struct output_format *fmt = output_find(downloads[dl].name);
		struct output_opts oo = {
			.full_filenames = full, .start_realtime_ns = from * 1000000000,
			.duration = (double)(until - from), .samples = qi.samples,
			.failed = qi.errors, .command = "fleet",
		};
		if (!fmt || fmt->write(r->body, p, &oo) != 0) {
			http_reply_text(r, 500, "cannot write the %s output", downloads[dl].name);
		} else {
			r->type = downloads[dl].type;
			snprintf(filename, sizeof(filename), "pyspy-c-%" PRId64 "-%" PRId64 ".%s",
				 from, until, downloads[dl].ext);
			r->filename = filename;
		}
	}
	profile_free(p);
}
