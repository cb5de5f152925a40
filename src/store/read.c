/*
 * read.c - reading the store back: the profile of a time range (for the
 * output writers, pyspy-c query and the web app) and the timeline of
 * sample counts.  Both follow store_plan(): one statement per span.
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

struct qctx {
	struct store_db *s;
	struct profile *prof;
	struct idmap frames;      /* store frame id -> func << 32 | line (profile's) */
	struct frame_ref *buf;
	int64_t *ids;
	uint64_t samples, errors;
	int err;
};

struct frame_info {
	struct profile *prof;
	struct frame_ref ref;
	bool found;
};

static int frame_row(void *ctx, const struct sql_val *c, int n)
{
	struct frame_info *x = ctx;
	uint32_t fn;

	if (n != 5 || c[0].t != SQL_INT || c[1].t != SQL_INT || c[2].t != SQL_TEXT ||
	    c[3].t != SQL_TEXT || c[4].t != SQL_TEXT)
		return -STORE_ECORRUPT;
	fn = profile_func(x->prof, c[1].i == FUNC_LABEL ? FUNC_LABEL : FUNC_PYTHON, c[2].p,
			  *(const char *)c[3].p ? c[3].p : NULL,
			  *(const char *)c[4].p ? c[4].p : NULL);
	if (fn == FUNC_NONE)
		return -STORE_ENOMEM;
	x->ref.func = fn;
	x->ref.line = c[0].i < 0 || c[0].i > INT32_MAX ? -1 : (int32_t)c[0].i;
	x->found = true;
	return 0;
}

static int frame_ref(struct qctx *q, int64_t id, struct frame_ref *out)
{
	static const char sql[] = "SELECT f.line, fn.kind, fn.name, fn.file, fn.short_file"
				  " FROM frames f JOIN funcs fn ON fn.id = f.func WHERE f.id = $1";
	struct frame_info x = { q->prof, { 0, 0 }, false };
	int64_t v;
	int rc;

	if (idmap_get(&q->frames, &id, sizeof(id), &v)) {
		out->func = (uint32_t)(v >> 32);
		out->line = (int32_t)(uint32_t)v;
		return 0;
	}
	rc = store_exec(q->s, sql, (struct sql_val[]){ SQL_I(id) }, 1, frame_row, &x);
	if (rc)
		return rc;
	if (!x.found)
		return -STORE_ECORRUPT;
	v = (int64_t)((uint64_t)x.ref.func << 32 | (uint32_t)x.ref.line);
	if (idmap_put(&q->frames, &id, sizeof(id), v))
		return -STORE_ENOMEM;
	*out = x.ref;
	return 0;
}

static int stack_row(void *ctx, const struct sql_val *c, int n)
{
	struct qctx *q = ctx;
	long nf;
	int rc;

	if (n != 2 || c[0].t != SQL_BLOB || c[1].t != SQL_INT || c[1].i < 0)
		return -STORE_ECORRUPT;
	nf = store_unpack_ids(c[0].p, c[0].n, q->ids, STORE_MAX_DEPTH);
	if (nf < 0)
		return -STORE_ECORRUPT;
	for (long i = 0; i < nf; i++)
		if ((rc = frame_ref(q, q->ids[i], &q->buf[i])))
			return rc;
	if (c[1].i && profile_add(q->prof, q->buf, (size_t)nf, (uint64_t)c[1].i))
		return -STORE_ENOMEM;
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
	static const char stacks[] =
		"SELECT st.frames, CAST(SUM(c.count) AS BIGINT) FROM counts c"
		" JOIN series s ON s.id = c.series JOIN stacks st ON st.id = c.stack"
		" WHERE c.tier = $1 AND c.bucket >= $2 AND c.bucket < $3" FILTER_SQL
		" GROUP BY st.id, st.frames";
	static const char totals[] =
		"SELECT CAST(SUM(t.samples) AS BIGINT), CAST(SUM(t.errors) AS BIGINT)"
		" FROM totals t JOIN series s ON s.id = t.series"
		" WHERE t.tier = $1 AND t.bucket >= $2 AND t.bucket < $3" FILTER_SQL;
	struct store_query_info local;
	struct qctx q = { .s = s };
	int rc;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	s->err[0] = '\0';
	idmap_init(&q.frames);
	q.prof = profile_new();
	q.buf = malloc(STORE_MAX_DEPTH * sizeof(*q.buf));
	q.ids = malloc(STORE_MAX_DEPTH * sizeof(*q.ids));
	if (!q.prof || !q.buf || !q.ids) {
		rc = store_fail(s, -STORE_ENOMEM, "cannot read '%s': out of memory", s->url);
		goto out;
	}
	if ((rc = store_load_tiers(s)))
		goto out;
	info->nspans = store_plan(from, until, s->tiers, STORE_NTIERS - 1, info->spans);
	info->exact = true;
	for (size_t i = 0; i < info->nspans; i++) {
		const struct store_span *sp = &info->spans[i];
		struct sql_val p[6] = { SQL_I(sp->tier), SQL_I(sp->from), SQL_I(sp->until) };

		filter_params(f, p + 3);
		if (!sp->exact)
			info->exact = false;
		if ((rc = store_exec(s, stacks, p, 6, stack_row, &q)) ||
		    (rc = store_exec(s, totals, p, 6, totals_row, &q)))
			goto out;
	}
	info->samples = q.samples;
	info->errors = q.errors;
out:
	idmap_release(&q.frames);
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

	if (n != 4 || c[0].t != SQL_INT || c[1].t != SQL_TEXT)
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
	t->n++;
	return 0;
}

int store_timeline(struct store_db *s, int64_t from, int64_t until, const struct store_filter *f,
		   enum store_group by, struct store_point **out, size_t *n)
{
#define TIMELINE_SQL(col) \
	"SELECT t.bucket, s." col ", CAST(SUM(t.samples) AS BIGINT), CAST(SUM(t.errors) AS BIGINT)" \
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
