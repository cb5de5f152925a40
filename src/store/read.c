/*
 * read.c - reading the store back: the profile of a time range (for the
 * output writers, pyspy-c query and the web app) and the timeline of
 * sample counts.  Both follow store_plan(): one statement per span.
 *
 * A profile's counts are added up here, by stack id in a hash map, as the
 * rows stream in, not by the database: a day of a 100-process fleet is
 * millions of rows, and SQLite's GROUP BY sorts them first (measured: 1.3 s
 * against 0.4 s for the scan alone).  Then the distinct stacks, and their
 * frames, are read by id, a few thousand per statement.  A query that
 * names no host and no pid reads the sums per service (service_counts),
 * not the counts of each process.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

/* The filter's bind parameters ($4 service, $5 host, $6 pid). */
#define FILTER_SQL \
	" AND ($4 IS NULL OR s.service = $4) AND ($5 IS NULL OR s.host = $5)" \
	" AND ($6 IS NULL OR s.pid = $6)"

static void filter_params(const struct store_filter *f, struct sql_val *p)
{
	p[0] = f && f->service ? SQL_T(f->service) : SQL_NULL_AS(SQL_TEXT);
	p[1] = f && f->host ? SQL_T(f->host) : SQL_NULL_AS(SQL_TEXT);
	p[2] = f && f->pid > 0 ? SQL_I(f->pid) : SQL_NULL_AS(SQL_INT);
}

/* A stack row of the query, kept until its frames are known. */
struct qstack {
	uint8_t *blob;
	size_t len;
	uint64_t count;
};

struct qctx {
	struct store_db *s;
	struct profile *prof;
	struct idmap agg;         /* stack id -> index into agg_id, agg_count */
	int64_t *agg_id;
	uint64_t *agg_count;
	size_t nagg, capagg;
	struct idmap frames;      /* store frame id -> func << 32 | line (profile's) */
	struct idmap wanted;      /* frame ids not resolved yet */
	int64_t *want;
	size_t nwant, capwant;
	struct qstack *st;
	size_t nst, capst;
	struct frame_ref *buf;
	int64_t *ids;
	uint64_t samples, errors;
};

/* Ids (of frames, of stacks) per statement when resolving them. */
#define FRAMES_PER_QUERY 2000

/* A (stack id, count) row of the counts: added up by stack. */
static int count_row(void *ctx, const struct sql_val *c, int n)
{
	struct qctx *q = ctx;
	int64_t idx;

	if (n != 2 || c[0].t != SQL_INT || c[1].t != SQL_INT || c[1].i < 0)
		return -STORE_ECORRUPT;
	if (idmap_get(&q->agg, &c[0].i, sizeof(c[0].i), &idx)) {
		q->agg_count[idx] += (uint64_t)c[1].i;
		return 0;
	}
	if (q->nagg == q->capagg) {
		size_t cap = q->capagg ? q->capagg * 2 : 1024;
		int64_t *ni = realloc(q->agg_id, cap * sizeof(*ni));
		uint64_t *nc;
		if (!ni)
			return -STORE_ENOMEM;
		q->agg_id = ni;
		nc = realloc(q->agg_count, cap * sizeof(*nc));
		if (!nc)
			return -STORE_ENOMEM;
		q->agg_count = nc;
		q->capagg = cap;
	}
	if (idmap_put(&q->agg, &c[0].i, sizeof(c[0].i), (int64_t)q->nagg))
		return -STORE_ENOMEM;
	q->agg_id[q->nagg] = c[0].i;
	q->agg_count[q->nagg++] = (uint64_t)c[1].i;
	return 0;
}

/* A (stack id, frames) row of stacks: kept with its count until its frames are known. */
static int stack_row(void *ctx, const struct sql_val *c, int n)
{
	struct qctx *q = ctx;
	struct qstack *st;
	int64_t idx;
	long nf;
	int64_t v;

	if (n != 2 || c[0].t != SQL_INT || c[1].t != SQL_BLOB ||
	    !idmap_get(&q->agg, &c[0].i, sizeof(c[0].i), &idx))
		return -STORE_ECORRUPT;
	c++;   /* the frames, as c[0]; the count from the sum */
	nf = store_unpack_ids(c[0].p, c[0].n, q->ids, STORE_MAX_DEPTH);
	if (nf < 0)
		return -STORE_ECORRUPT;
	if (q->nst == q->capst) {
		size_t cap = q->capst ? q->capst * 2 : 1024;
		struct qstack *ns = realloc(q->st, cap * sizeof(*ns));
		if (!ns)
			return -STORE_ENOMEM;
		q->st = ns;
		q->capst = cap;
	}
	st = &q->st[q->nst];
	st->blob = malloc(c[0].n ? c[0].n : 1);
	if (!st->blob)
		return -STORE_ENOMEM;
	memcpy(st->blob, c[0].p, c[0].n);
	st->len = c[0].n;
	st->count = q->agg_count[idx];
	q->nst++;
	for (long i = 0; i < nf; i++) {
		if (idmap_get(&q->wanted, &q->ids[i], sizeof(q->ids[i]), &v))
			continue;
		if (q->nwant == q->capwant) {
			size_t cap = q->capwant ? q->capwant * 2 : 1024;
			int64_t *nw = realloc(q->want, cap * sizeof(*nw));
			if (!nw)
				return -STORE_ENOMEM;
			q->want = nw;
			q->capwant = cap;
		}
		if (idmap_put(&q->wanted, &q->ids[i], sizeof(q->ids[i]), 1))
			return -STORE_ENOMEM;
		q->want[q->nwant++] = q->ids[i];
	}
	return 0;
}

static int frame_row(void *ctx, const struct sql_val *c, int n)
{
	struct qctx *q = ctx;
	uint32_t fn;
	int32_t line;

	if (n != 6 || c[0].t != SQL_INT || c[1].t != SQL_INT || c[2].t != SQL_INT ||
	    c[3].t != SQL_TEXT || c[4].t != SQL_TEXT || c[5].t != SQL_TEXT)
		return -STORE_ECORRUPT;
	fn = profile_func(q->prof, c[2].i == FUNC_LABEL ? FUNC_LABEL : FUNC_PYTHON, c[3].p,
			  *(const char *)c[4].p ? c[4].p : NULL,
			  *(const char *)c[5].p ? c[5].p : NULL);
	if (fn == FUNC_NONE)
		return -STORE_ENOMEM;
	line = c[1].i < 0 || c[1].i > INT32_MAX ? -1 : (int32_t)c[1].i;
	if (idmap_put(&q->frames, &c[0].i, sizeof(c[0].i),
		      (int64_t)((uint64_t)fn << 32 | (uint32_t)line)))
		return -STORE_ENOMEM;
	return 0;
}

int store_by_ids(struct store_db *s, char **sql, const char *head, const int64_t *ids, size_t n,
		  sql_row_fn row, void *ctx)
{
	char *list;
	int rc = 0;

	if (!*sql) {
		size_t len = strlen(head) + strlen(s->be->ids_sql) + 2;
		if (!(*sql = malloc(len)))
			return -STORE_ENOMEM;
		snprintf(*sql, len, "%s%s)", head, s->be->ids_sql);
	}
	list = malloc(FRAMES_PER_QUERY * 21 + 1);
	if (!list)
		return -STORE_ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i += FRAMES_PER_QUERY) {
		size_t len = 0;
		for (size_t k = i; k < n && k < i + FRAMES_PER_QUERY; k++)
			len += (size_t)sprintf(list + len, k > i ? ",%lld" : "%lld", (long long)ids[k]);
		list[len] = '\0';
		rc = store_exec(s, *sql, (struct sql_val[]){ SQL_T(list) }, 1, row, ctx);
	}
	free(list);
	return rc;
}

/* Resolve every wanted frame id. */
static int resolve_frames(struct qctx *q)
{
	return store_by_ids(q->s, &q->s->sql_frames, "SELECT f.id, f.line, fn.kind, fn.name, fn.file,"
		      " fn.short_file FROM frames f JOIN funcs fn ON fn.id = f.func WHERE f.id IN (",
		      q->want, q->nwant, frame_row, q);
}

/* The frames of every stack counted. */
static int resolve_stacks(struct qctx *q)
{
	return store_by_ids(q->s, &q->s->sql_stacks, "SELECT id, frames FROM stacks WHERE id IN (",
		      q->agg_id, q->nagg, stack_row, q);
}

/* Every kept stack into the profile, its frames resolved. */
static int add_stacks(struct qctx *q)
{
	for (size_t i = 0; i < q->nst; i++) {
		long nf = store_unpack_ids(q->st[i].blob, q->st[i].len, q->ids, STORE_MAX_DEPTH);
		int64_t v;

		for (long k = 0; k < nf; k++) {
			if (!idmap_get(&q->frames, &q->ids[k], sizeof(q->ids[k]), &v))
				return -STORE_ECORRUPT;
			q->buf[k].func = (uint32_t)((uint64_t)v >> 32);
			q->buf[k].line = (int32_t)(uint32_t)v;
		}
		if (q->st[i].count && profile_add(q->prof, q->buf, (size_t)nf, q->st[i].count))
			return -STORE_ENOMEM;
	}
	return 0;
}

static int totals_row(void *ctx, const struct sql_val *c, int n)
{
	struct qctx *q = ctx;

	if (n != 2)
		return -STORE_ECORRUPT;
	/* SUM over no rows is NULL. */
	if (c[0].t == SQL_INT)
		q->samples += (uint64_t)c[0].i;
	if (c[1].t == SQL_INT)
		q->errors += (uint64_t)c[1].i;
	return 0;
}

static int read_failed(struct store_db *s, int rc)
{
	if (rc == -STORE_ECORRUPT && !s->err[0])
		store_fail(s, rc, "cannot read '%s': a stack or frame is malformed", s->url);
	else if (rc == -STORE_ENOMEM)
		store_fail(s, rc, "cannot read '%s': out of memory", s->url);
	return rc;
}

struct profile *store_query(struct store_db *s, int64_t from, int64_t until,
			    const struct store_filter *f, struct store_query_info *info, int *err)
{
	/*
	 * [by process][filtered]: a filter that names no host and no pid is
	 * answered by the sums per service (service_counts: a day of a
	 * 100-process fleet is 30 times fewer rows); without a filter the
	 * series need not be read at all.
	 */
#define COUNTS_SQL(table) \
	{ "SELECT c.stack, c.count FROM " table " c" \
	  " WHERE c.tier = $1 AND c.bucket >= $2 AND c.bucket < $3", \
	  "SELECT c.stack, c.count FROM " table " c JOIN series s ON s.id = c.series" \
	  " WHERE c.tier = $1 AND c.bucket >= $2 AND c.bucket < $3" FILTER_SQL }
	static const char *const counts[2][2] = {
		COUNTS_SQL("service_counts"), COUNTS_SQL("counts"),
	};
#undef COUNTS_SQL
	bool by_process = f && (f->host || f->pid > 0);
	bool filtered = f && (f->service || f->host || f->pid > 0);
	static const char totals[] =
		"SELECT CAST(SUM(t.samples) AS BIGINT), CAST(SUM(t.errors) AS BIGINT)"
		" FROM totals t JOIN series s ON s.id = t.series"
		" WHERE t.tier = $1 AND t.bucket >= $2 AND t.bucket < $3" FILTER_SQL;
	struct store_query_info local;
	struct qctx q = { .s = s };
	bool snapshot = false;
	int rc;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	s->err[0] = '\0';
	idmap_init(&q.frames);
	idmap_init(&q.wanted);
	idmap_init(&q.agg);
	q.prof = profile_new();
	q.buf = malloc(STORE_MAX_DEPTH * sizeof(*q.buf));
	q.ids = malloc(STORE_MAX_DEPTH * sizeof(*q.ids));
	if (!q.prof || !q.buf || !q.ids) {
		rc = store_fail(s, -STORE_ENOMEM, "cannot read '%s': out of memory", s->url);
		goto out;
	}
	/* One snapshot: a prune (prune.c) committing meanwhile takes no stack counted. */
	if (!s->in_tx) {
		if ((rc = s->be->begin_read(s)))
			goto out;
		snapshot = true;
	}
	if ((rc = store_load_tiers(s)))
		goto out;
	info->nspans = store_plan(from, until, s->tiers, STORE_NTIERS - 1, info->spans);
	info->exact = true;
	info->by_process = by_process;
	for (size_t i = 0; i < info->nspans; i++) {
		const struct store_span *sp = &info->spans[i];
		struct sql_val p[6] = { SQL_I(sp->tier), SQL_I(sp->from), SQL_I(sp->until) };

		filter_params(f, p + 3);
		if (!sp->exact)
			info->exact = false;
		if ((rc = store_exec(s, counts[by_process][filtered], p, filtered ? 6 : 3,
				     count_row, &q)) ||
		    (rc = store_exec(s, totals, p, 6, totals_row, &q)))
			goto out;
	}
	if ((rc = resolve_stacks(&q)))
		goto out;
	if (q.nst != q.nagg) {
		rc = store_fail(s, -STORE_ECORRUPT, "cannot read '%s': a counted stack is missing",
				s->url);
		goto out;
	}
	if ((rc = resolve_frames(&q)) || (rc = add_stacks(&q)))
		goto out;
	info->samples = q.samples;
	info->errors = q.errors;
out:
	if (snapshot)
		s->be->rollback(s);   /* read only: nothing to keep */
	idmap_release(&q.frames);
	idmap_release(&q.wanted);
	idmap_release(&q.agg);
	free(q.agg_id);
	free(q.agg_count);
	for (size_t i = 0; i < q.nst; i++)
		free(q.st[i].blob);
	free(q.st);
	free(q.want);
	free(q.buf);
	free(q.ids);
	*err = rc;
	if (rc) {
		read_failed(s, rc);
		profile_free(q.prof);
		return NULL;
	}
	return q.prof;
}

struct tctx {
	struct store_point *p;
	size_t n, cap;
	int64_t width;
};

static int point_row(void *ctx, const struct sql_val *c, int n)
{
	struct tctx *t = ctx;
	struct store_point *pt;

	if (n != 5 || c[0].t != SQL_INT || c[1].t != SQL_TEXT)
		return -STORE_ECORRUPT;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct store_point *p = realloc(t->p, cap * sizeof(*p));
		if (!p)
			return -STORE_ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	pt = &t->p[t->n];
	pt->group = strdup(c[1].p);
	if (!pt->group)
		return -STORE_ENOMEM;
	pt->bucket = c[0].i;
	pt->width = t->width;
	pt->samples = c[2].t == SQL_INT ? (uint64_t)c[2].i : 0;
	pt->errors = c[3].t == SQL_INT ? (uint64_t)c[3].i : 0;
	pt->stacked = c[4].t == SQL_INT ? (uint64_t)c[4].i : 0;
	t->n++;
	return 0;
}

int store_timeline(struct store_db *s, int64_t from, int64_t until, const struct store_filter *f,
		   enum store_group by, struct store_point **out, size_t *n)
{
#define TIMELINE_SQL(col) \
	"SELECT t.bucket, s." col ", CAST(SUM(t.samples) AS BIGINT), CAST(SUM(t.errors) AS BIGINT)," \
	" CAST(SUM(t.stacked) AS BIGINT)" \
	" FROM totals t JOIN series s ON s.id = t.series" \
	" WHERE t.tier = $1 AND t.bucket >= $2 AND t.bucket < $3" FILTER_SQL \
	" GROUP BY t.bucket, s." col " ORDER BY t.bucket, s." col
	static const char *const sql[] = { TIMELINE_SQL("service"), TIMELINE_SQL("host") };
#undef TIMELINE_SQL
	struct store_span spans[STORE_MAX_SPANS];
	struct tctx t = { 0 };
	size_t ns;
	int rc;

	*out = NULL;
	*n = 0;
	s->err[0] = '\0';
	if ((rc = store_load_tiers(s)))
		return rc;
	ns = store_plan(from, until, s->tiers, store_timeline_tier(from, until), spans);
	/* Spans come out in time order: the points do too. */
	for (size_t i = 0; i < ns; i++) {
		struct sql_val p[6] = { SQL_I(spans[i].tier), SQL_I(spans[i].from),
					SQL_I(spans[i].until) };
		filter_params(f, p + 3);
		t.width = store_tier_width[spans[i].tier];
		if ((rc = store_exec(s, sql[by == STORE_BY_HOST], p, 6, point_row, &t))) {
			store_points_free(t.p, t.n);
			return read_failed(s, rc);
		}
	}
	*out = t.p;
	*n = t.n;
	return 0;
}

void store_points_free(struct store_point *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].group);
	free(p);
}

/* ------------------------------------------------------------------ */
/* the filter choices of a range, and the extent of the data */

struct sctx {
	struct store_series_row *r;
	size_t n, cap;
	struct idmap index;       /* service \0 host \0 program \0 pid -> row */
	char *key;
	size_t keycap;
};

static int series_row(void *ctx, const struct sql_val *c, int n)
{
	struct sctx *t = ctx;
	struct store_series_row *row;
	size_t ls, lh, lp, klen;
	int64_t idx;

	if (n != 6 || c[0].t != SQL_TEXT || c[1].t != SQL_TEXT || c[2].t != SQL_INT ||
	    c[3].t != SQL_TEXT)
		return -STORE_ECORRUPT;
	ls = strlen(c[0].p), lh = strlen(c[1].p), lp = strlen(c[3].p);
	klen = ls + lh + lp + 3 + sizeof(int64_t);
	if (klen > t->keycap) {
		char *k = realloc(t->key, klen);
		if (!k)
			return -STORE_ENOMEM;
		t->key = k;
		t->keycap = klen;
	}
	memcpy(t->key, c[0].p, ls + 1);
	memcpy(t->key + ls + 1, c[1].p, lh + 1);
	memcpy(t->key + ls + lh + 2, c[3].p, lp + 1);
	memcpy(t->key + ls + lh + lp + 3, &c[2].i, sizeof(int64_t));
	if (idmap_get(&t->index, t->key, klen, &idx)) {
		t->r[idx].samples += c[4].t == SQL_INT && c[4].i > 0 ? (uint64_t)c[4].i : 0;
		t->r[idx].stacked += c[5].t == SQL_INT && c[5].i > 0 ? (uint64_t)c[5].i : 0;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct store_series_row *r = realloc(t->r, cap * sizeof(*r));
		if (!r)
			return -STORE_ENOMEM;
		t->r = r;
		t->cap = cap;
	}
	row = &t->r[t->n];
	memset(row, 0, sizeof(*row));
	row->service = strdup(c[0].p);
	row->host = strdup(c[1].p);
	row->program = strdup(c[3].p);
	t->n++;   /* freed with the others if a copy failed */
	if (!row->service || !row->host || !row->program ||
	    idmap_put(&t->index, t->key, klen, (int64_t)(t->n - 1)))
		return -STORE_ENOMEM;
	row->pid = c[2].i;
	row->samples = c[4].t == SQL_INT && c[4].i > 0 ? (uint64_t)c[4].i : 0;
	row->stacked = c[5].t == SQL_INT && c[5].i > 0 ? (uint64_t)c[5].i : 0;
	return 0;
}

static int by_samples(const void *a, const void *b)
{
	const struct store_series_row *x = a, *y = b;
	int c;

	if (x->stacked != y->stacked)
		return x->stacked > y->stacked ? -1 : 1;
	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	if ((c = strcmp(x->service, y->service)) || (c = strcmp(x->host, y->host)))
		return c;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

int store_series(struct store_db *s, int64_t from, int64_t until, const struct store_filter *f,
		 struct store_series_row **out, size_t *n)
{
	static const char sql[] =
		"SELECT s.service, s.host, s.pid, s.program, CAST(SUM(t.samples) AS BIGINT),"
		" CAST(SUM(t.stacked) AS BIGINT) FROM totals t JOIN series s ON s.id = t.series"
		" WHERE t.tier = $1 AND t.bucket >= $2 AND t.bucket < $3" FILTER_SQL
		" GROUP BY s.service, s.host, s.pid, s.program";
	struct store_span spans[STORE_MAX_SPANS];
	struct sctx t = { 0 };
	size_t ns;
	int rc = 0;

	*out = NULL;
	*n = 0;
	s->err[0] = '\0';
	idmap_init(&t.index);
	if ((rc = store_load_tiers(s)))
		goto out;
	ns = store_plan(from, until, s->tiers, STORE_NTIERS - 1, spans);
	for (size_t i = 0; i < ns && rc == 0; i++) {
		struct sql_val p[6] = { SQL_I(spans[i].tier), SQL_I(spans[i].from),
					SQL_I(spans[i].until) };
		filter_params(f, p + 3);
		rc = store_exec(s, sql, p, 6, series_row, &t);
	}
out:
	idmap_release(&t.index);
	free(t.key);
	if (rc) {
		store_series_free(t.r, t.n);
		return read_failed(s, rc);
	}
	if (t.n)
		qsort(t.r, t.n, sizeof(*t.r), by_samples);
	*out = t.r;
	*n = t.n;
	return 0;
}

void store_series_free(struct store_series_row *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].service);
		free(r[i].host);
		free(r[i].program);
	}
	free(r);
}

static int extent_row(void *ctx, const struct sql_val *c, int n)
{
	int64_t *v = ctx;

	if (n != 1 || (c[0].t != SQL_INT && c[0].t != SQL_NULL))
		return -STORE_ECORRUPT;
	*v = c[0].t == SQL_INT ? c[0].i : INT64_MIN;
	return 0;
}

int store_extent(struct store_db *s, int64_t *first, int64_t *last, bool *found)
{
	/* Two statements, not one: MIN or MAX alone on an index's prefix is one
	 * lookup (SQLite only does that for a lone MIN or MAX). */
	static const char lo[] = "SELECT MIN(bucket) FROM totals WHERE tier = $1";
	static const char hi[] = "SELECT MAX(bucket) FROM totals WHERE tier = $1";
	int rc;

	*found = false;
	*first = *last = 0;
	s->err[0] = '\0';
	for (int t = 0; t < STORE_NTIERS; t++) {
		struct sql_val p[1] = { SQL_I(t) };
		int64_t a = INT64_MIN, b = INT64_MIN;

		if ((rc = store_exec(s, lo, p, 1, extent_row, &a)) ||
		    (rc = store_exec(s, hi, p, 1, extent_row, &b)))
			return read_failed(s, rc);
		if (a == INT64_MIN || b == INT64_MIN)
			continue;
		b += store_tier_width[t];
		if (!*found || a < *first)
			*first = a;
		if (!*found || b > *last)
			*last = b;
		*found = true;
	}
	return 0;
}
