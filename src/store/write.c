/*
 * write.c - store_put: a batch of windows into the open transaction.
 *
 * Functions, frames, stacks and series are interned (found by a hash of
 * their content, inserted when new; ids cached across transactions and
 * forgotten on a rollback).  The batch's counts are added up in memory
 * per (tier, bucket, series, stack) first, then written with one upsert
 * each; every count goes to its process's series in counts and to its
 * service's aggregate series in service_counts.  A window counts in the
 * 1-minute bucket that holds its middle; when the coarser bucket of that
 * time was rolled up already (a late window), it is added to that tier
 * directly as well, so every tier stays the sum of the finer one.
 * Every stack and series a window uses is stamped with the end of its
 * day (last_used), at most once a day per writer, for prune.c.
 */
#include "pyspy/output.h"
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct one_id {
	int64_t id;
	bool found;
};

static int id_row(void *ctx, const struct sql_val *c, int n)
{
	struct one_id *x = ctx;

	if (n < 1 || c[0].t != SQL_INT)
		return -STORE_ECORRUPT;
	x->id = c[0].i;
	x->found = true;
	return 0;
}

/* Look up with 'sel', else insert with 'ins' (RETURNING id), else look up again. */
static int intern(struct store_db *s, struct idmap *cache, const void *key, size_t klen,
		  const char *sel, const struct sql_val *sp, int sn,
		  const char *ins, const struct sql_val *ip, int in, int64_t *id)
{
	struct one_id x = { 0, false };
	int rc;

	if (idmap_get(cache, key, klen, id))
		return 0;
	rc = store_exec(s, sel, sp, sn, id_row, &x);
	if (rc == 0 && !x.found)
		rc = store_exec(s, ins, ip, in, id_row, &x);
	if (rc == 0 && !x.found)   /* another writer inserted it meanwhile */
		rc = store_exec(s, sel, sp, sn, id_row, &x);
	if (rc)
		return rc;
	if (!x.found)
		return store_fail(s, -STORE_EDB, "cannot write '%s': a row vanished", s->url);
	if (cache->n >= STORE_CACHE_MAX)
		idmap_clear(cache);
	if (idmap_put(cache, key, klen, x.id))
		return store_fail(s, -STORE_ENOMEM, "cannot write '%s': out of memory", s->url);
	*id = x.id;
	return 0;
}

/*
 * Text as the store keeps it: NULL is "", invalid UTF-8 becomes U+FFFD
 * (PostgreSQL refuses it, and it is what the writers show anyway).
 * Returns t itself or a copy in *buf (freed by the caller); NULL when
 * longer than STORE_MAX_TEXT (with 'cut': cut there instead) or out of
 * memory.
 */
static const char *clean_text_cut(const char *t, char **buf, bool cut)
{
	const unsigned char *u = (const unsigned char *)t;
	size_t len, used, out = 0;
	bool valid = true;
	char *b;

	*buf = NULL;
	if (!t)
		return "";
	len = strlen(t);
	if (len > STORE_MAX_TEXT && !cut)
		return NULL;
	if (len > STORE_MAX_TEXT) {
		len = STORE_MAX_TEXT;
		valid = false;   /* a copy, cut (a character cut in two: U+FFFD) */
	}
	for (size_t i = 0; i < len; i += used)
		if (output_utf8_next(u + i, len - i, &used) < 0)
			valid = false;
	if (valid)
		return t;
	b = malloc(len * 3 + 1);
	if (!b)
		return NULL;
	for (size_t i = 0; i < len; i += used) {
		if (output_utf8_next(u + i, len - i, &used) < 0) {
			memcpy(b + out, "\xef\xbf\xbd", 3);
			out += 3;
		} else {
			memcpy(b + out, t + i, used);
			out += used;
		}
	}
	b[out] = '\0';
	*buf = b;
	return b;
}

static const char *clean_text(const char *t, char **buf)
{
	return clean_text_cut(t, buf, false);
}

/* Bad input from an agent: refuse the batch. */
static int bad(struct store_db *s, const char *what)
{
	return store_fail(s, -STORE_EUSAGE, "cannot store a window: %s", what);
}

static int intern_func(struct store_db *s, const struct store_in_func *f, int64_t *id)
{
	static const char sel[] = "SELECT id FROM funcs WHERE hash = $1 AND kind = $2 AND name = $3"
				  " AND file = $4 AND short_file = $5";
	static const char ins[] = "INSERT INTO funcs (hash, kind, name, file, short_file)"
				  " VALUES ($1, $2, $3, $4, $5) RETURNING id";
	char *b1, *b2, *b3, *key = NULL;
	const char *name = clean_text(f->name, &b1), *file = clean_text(f->file, &b2),
		   *shortf = clean_text(f->short_file, &b3);
	size_t ln, lf, ls, klen;
	int rc;

	if (!f->name || !name || !file || !shortf) {
		rc = bad(s, "a function name or file is missing or longer than 4096 bytes");
		goto out;
	}
	ln = strlen(name), lf = strlen(file), ls = strlen(shortf);
	klen = 1 + ln + 1 + lf + 1 + ls + 1;
	key = malloc(klen);
	if (!key) {
		rc = store_fail(s, -STORE_ENOMEM, "cannot write '%s': out of memory", s->url);
		goto out;
	}
	key[0] = f->label ? 'L' : 'P';
	memcpy(key + 1, name, ln + 1);
	memcpy(key + 2 + ln, file, lf + 1);
	memcpy(key + 3 + ln + lf, shortf, ls + 1);
	{
		struct sql_val p[] = { SQL_I(store_hash(key, klen, 0)),
				       SQL_I(f->label ? FUNC_LABEL : FUNC_PYTHON),
				       SQL_T(name), SQL_T(file), SQL_T(shortf) };
		rc = intern(s, &s->funcs, key, klen, sel, p, 5, ins, p, 5, id);
	}
out:
	free(key);
	free(b1);
	free(b2);
	free(b3);
	return rc;
}

static int intern_frame(struct store_db *s, int64_t func, int32_t line, int64_t *id)
{
	static const char sel[] = "SELECT id FROM frames WHERE func = $1 AND line = $2";
	static const char ins[] = "INSERT INTO frames (func, line) VALUES ($1, $2)"
				  " ON CONFLICT (func, line) DO NOTHING RETURNING id";
	uint8_t key[12];
	struct sql_val p[] = { SQL_I(func), SQL_I(line) };

	memcpy(key, &func, 8);
	memcpy(key + 8, &line, 4);
	return intern(s, &s->frames, key, sizeof(key), sel, p, 2, ins, p, 2, id);
}

static int intern_stack(struct store_db *s, const int64_t *frames, size_t n, uint8_t *buf,
			size_t cap, int64_t *id)
{
	static const char sel[] = "SELECT id FROM stacks WHERE hash = $1 AND frames = $2";
	static const char ins[] = "INSERT INTO stacks (hash, frames) VALUES ($1, $2) RETURNING id";
	size_t len = store_pack_ids(frames, n, buf, cap);
	struct sql_val p[] = { SQL_I(store_hash(buf, len, 0)), SQL_B(buf, len) };

	return intern(s, &s->stacks, buf, len, sel, p, 2, ins, p, 2, id);
}

/* A series by its labels, cleaned already. */
static int intern_labels(struct store_db *s, const char *host, const char *service,
			 const char *thread, const char *program, const char *python, int64_t pid,
			 int64_t start, int64_t *id)
{
	static const char sel[] = "SELECT id FROM series WHERE hash = $1 AND host = $2"
				  " AND service = $3 AND pid = $4 AND start_time = $5 AND thread = $6";
	static const char ins[] = "INSERT INTO series (hash, host, service, pid, start_time, thread,"
				  " program, python) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
				  " RETURNING id";
	size_t lh = strlen(host), ls = strlen(service), lt = strlen(thread);
	size_t klen = lh + ls + lt + 3 + 16;
	char *key = malloc(klen);
	int rc;

	if (!key)
		return store_fail(s, -STORE_ENOMEM, "cannot write '%s': out of memory", s->url);
	memcpy(key, host, lh + 1);
	memcpy(key + lh + 1, service, ls + 1);
	memcpy(key + lh + ls + 2, thread, lt + 1);
	memcpy(key + lh + ls + lt + 3, &pid, 8);
	memcpy(key + lh + ls + lt + 11, &start, 8);
	{
		struct sql_val p[] = { SQL_I(store_hash(key, klen, 0)), SQL_T(host), SQL_T(service),
				       SQL_I(pid), SQL_I(start), SQL_T(thread), SQL_T(program),
				       SQL_T(python) };
		rc = intern(s, &s->series, key, klen, sel, p, 6, ins, p, 8, id);
	}
	free(key);
	return rc;
}

static int intern_series(struct store_db *s, const struct store_batch *b,
			 const struct store_in_proc *pr, int64_t *id)
{
	static const struct store_in_proc none = { 0 };
	char *b1, *b2, *b3, *b4, *b5;
	const char *host, *service, *thread, *program, *python;
	int rc;

	if (!pr)
		pr = &none;
	host = clean_text(b->host, &b1);
	service = clean_text(b->service, &b2);
	thread = clean_text(pr->thread, &b3);
	/* A command line may be long: it is only shown, so it is cut. */
	program = clean_text_cut(pr->program, &b4, true);
	python = clean_text(pr->python, &b5);
	if (!host || !service || !thread || !program || !python)
		rc = bad(s, "a label, program or thread name is longer than 4096 bytes");
	else if (pr->pid < 0 || pr->pid > INT32_MAX || pr->start_time > INT64_MAX)
		rc = bad(s, "a process id or start time is out of range");
	else
		rc = intern_labels(s, host, service, thread, program, python, pr->pid,
				   (int64_t)pr->start_time, id);
	free(b1);
	free(b2);
	free(b3);
	free(b4);
	free(b5);
	return rc;
}

int store_service_series(struct store_db *s, const char *service, int64_t *id)
{
	char *buf;
	const char *name = clean_text(service, &buf);
	int rc;

	if (!name)
		rc = bad(s, "a label is longer than 4096 bytes");
	else
		rc = intern_labels(s, "", name, "", "", "", -1, 0, id);
	free(buf);
	return rc;
}

/*
 * Stamp last_used of a stack or series with the end of the day of 'sec'
 * (prune.c keeps what a kept bucket may use); skipped when this writer
 * stamped that day or a later one already.
 */
enum used_kind { USED_STACK, USED_SERIES };
static int touch(struct store_db *s, enum used_kind kind, int64_t id, int64_t sec)
{
	static const char *const sql[] = {
		[USED_STACK] = "UPDATE stacks SET last_used = $1 WHERE id = $2 AND last_used < $1",
		[USED_SERIES] = "UPDATE series SET last_used = $1 WHERE id = $2 AND last_used < $1",
	};
	int64_t r = sec % STORE_DAY, stamp = sec - (r < 0 ? r + STORE_DAY : r) + STORE_DAY, had;
	uint8_t key[9];
	int rc;

	key[0] = (uint8_t)kind;
	memcpy(key + 1, &id, 8);
	if (idmap_get(&s->used, key, sizeof(key), &had) && had >= stamp)
		return 0;
	rc = store_exec(s, sql[kind], (struct sql_val[]){ SQL_I(stamp), SQL_I(id) }, 2, NULL, NULL);
	if (rc)
		return rc;
	if (s->used.n >= STORE_CACHE_MAX)
		idmap_clear(&s->used);
	if (idmap_put(&s->used, key, sizeof(key), stamp))
		return store_fail(s, -STORE_ENOMEM, "cannot write '%s': out of memory", s->url);
	return 0;
}

/* The batch's counts and totals, added up before they are written. */
enum row_kind { ROW_COUNTS, ROW_SERVICE, ROW_TOTALS };
struct agg_row {
	int tier;
	enum row_kind kind;              /* the table */
	int64_t bucket, series, stack;   /* ROW_SERVICE: the service's series; ROW_TOTALS: stack -1 */
	uint64_t count, errors, late;
	uint64_t stacked;                /* totals: samples with a stack */
};
struct agg {
	struct idmap index;
	struct agg_row *rows;
	size_t n, cap;
};

static struct agg_row *agg_row(struct agg *a, enum row_kind kind, int tier, int64_t bucket,
			       int64_t series, int64_t stack)
{
	int64_t key[4] = { (int64_t)kind << 8 | tier, bucket, series, stack };
	int64_t i;

	if (idmap_get(&a->index, key, sizeof(key), &i))
		return &a->rows[i];
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 1024;
		struct agg_row *r = realloc(a->rows, cap * sizeof(*r));
		if (!r)
			return NULL;
		a->rows = r;
		a->cap = cap;
	}
	if (idmap_put(&a->index, key, sizeof(key), (int64_t)a->n))
		return NULL;
	a->rows[a->n] = (struct agg_row){ tier, kind, bucket, series, stack, 0, 0, 0, 0 };
	return &a->rows[a->n++];
}

static int64_t floor_to(int64_t t, int64_t w)
{
	int64_t r = t % w;
	return r < 0 ? t - r - w : t - r;
}

/* Which tiers a time goes to directly: tier 0, and the rolled-up ones. */
static int window_tiers(const struct store_db *s, int64_t sec, int tiers[STORE_NTIERS],
			int64_t buckets[STORE_NTIERS])
{
	int n = 0;

	for (int t = 0; t < STORE_NTIERS; t++) {
		int64_t b = floor_to(sec, store_tier_width[t]);
		if (t == 0 || b < s->tiers[t].rolled_until) {
			tiers[n] = t;
			buckets[n++] = b;
		}
	}
	return n;
}

/*
 * A window's counts go to counts (its process's series) and to
 * service_counts (the service's series, *svc, interned at the first
 * stack of the batch).
 */
static int put_window(struct store_db *s, const struct store_batch *b,
		      const struct store_in_window *w, struct agg *a, int64_t *fids,
		      int64_t *sids, int64_t *ids, uint8_t *blob, size_t blobcap, int64_t *svc)
{
	int tiers[STORE_NTIERS];
	int64_t buckets[STORE_NTIERS], sec, unattributed = -1;
	int nt, rc;

	if (w->end_ns < w->start_ns || w->start_ns < 0)
		return bad(s, "its end is before its start");
	sec = (w->start_ns / 2 + w->end_ns / 2) / 1000000000;
	if (floor_to(sec, 60) + 60 > s->newest)
		s->newest = floor_to(sec, 60) + 60;
	nt = window_tiers(s, sec, tiers, buckets);
	for (size_t i = 0; i < w->nfuncs; i++)
		fids[i] = -1;
	for (size_t i = 0; i < w->nprocs; i++) {
		const struct store_in_proc *pr = &w->procs[i];
		rc = intern_series(s, b, pr, &sids[i]);
		if (rc == 0)
			rc = touch(s, USED_SERIES, sids[i], sec);
		if (rc)
			return rc;
		for (int k = 0; k < nt; k++) {
			struct agg_row *r = agg_row(a, ROW_TOTALS, tiers[k], buckets[k], sids[i], -1);
			if (!r)
				return store_fail(s, -STORE_ENOMEM, "cannot write: out of memory");
			r->count += pr->samples;
			r->errors += pr->errors;
			r->late += pr->late;
		}
	}
	for (size_t i = 0; i < w->nstacks; i++) {
		const struct store_in_stack *st = &w->stacks[i];
		int64_t series, stack;

		if (st->proc < -1 || (st->proc >= 0 && (size_t)st->proc >= w->nprocs))
			return bad(s, "a stack names a process the window does not have");
		if (st->nframes > STORE_MAX_DEPTH)
			return bad(s, "a stack is deeper than 4096 frames");
		if (st->count == 0)
			continue;
		if (st->proc >= 0) {
			series = sids[st->proc];
		} else {
			if (unattributed < 0 &&
			    ((rc = intern_series(s, b, NULL, &unattributed)) ||
			     (rc = touch(s, USED_SERIES, unattributed, sec))))
				return rc;
			series = unattributed;
		}
		for (uint32_t k = 0; k < st->nframes; k++) {
			const struct store_in_frame *f = &st->frames[k];
			if (f->func >= w->nfuncs)
				return bad(s, "a frame names a function the window does not have");
			if (fids[f->func] < 0 &&
			    (rc = intern_func(s, &w->funcs[f->func], &fids[f->func])))
				return rc;
			rc = intern_frame(s, fids[f->func], f->line < 0 ? -1 : f->line, &ids[k]);
			if (rc)
				return rc;
		}
		rc = intern_stack(s, ids, st->nframes, blob, blobcap, &stack);
		if (rc == 0)
			rc = touch(s, USED_STACK, stack, sec);
		if (rc == 0 && *svc < 0)
			rc = store_service_series(s, b->service, svc);
		if (rc == 0)   /* a batch's windows may span days */
			rc = touch(s, USED_SERIES, *svc, sec);
		if (rc)
			return rc;
		for (int k = 0; k < nt; k++) {
			/* One row at a time: agg_row() may move the rows. */
			struct agg_row *r = agg_row(a, ROW_TOTALS, tiers[k], buckets[k], series, -1);
			if (!r)
				return store_fail(s, -STORE_ENOMEM, "cannot write: out of memory");
			r->stacked += st->count;
			r = agg_row(a, ROW_COUNTS, tiers[k], buckets[k], series, stack);
			if (!r)
				return store_fail(s, -STORE_ENOMEM, "cannot write: out of memory");
			r->count += st->count;
			r = agg_row(a, ROW_SERVICE, tiers[k], buckets[k], *svc, stack);
			if (!r)
				return store_fail(s, -STORE_ENOMEM, "cannot write: out of memory");
			r->count += st->count;
		}
	}
	return 0;
}

/* Rows per INSERT: one statement (one round trip to a server) for many. */
#define ROWS_PER_INSERT 100

/* "HEAD VALUES ($1, ..., $ncols), ... (nrows times) TAIL", malloc'ed. */
static char *multi_insert(const char *head, int ncols, int nrows, const char *tail)
{
	size_t cap = strlen(head) + strlen(tail) + (size_t)nrows * (size_t)ncols * 12 + 64;
	char *sql = malloc(cap);
	size_t len;
	int k = 1;

	if (!sql)
		return NULL;
	len = (size_t)snprintf(sql, cap, "%s VALUES ", head);
	for (int r = 0; r < nrows; r++) {
		len += (size_t)snprintf(sql + len, cap - len, r ? ", (" : "(");
		for (int c = 0; c < ncols; c++)
			len += (size_t)snprintf(sql + len, cap - len, c ? ", $%d" : "$%d", k++);
		len += (size_t)snprintf(sql + len, cap - len, ")");
	}
	snprintf(sql + len, cap - len, " %s", tail);
	return sql;
}

/* Rows of 'ncols' values: full statements of ROWS_PER_INSERT, else one by one. */
static int flush(struct store_db *s, char *const sql[2], const struct sql_val *v, int nrows,
		 int ncols)
{
	int rc = 0;

	if (nrows == ROWS_PER_INSERT)
		return store_exec(s, sql[1], v, nrows * ncols, NULL, NULL);
	for (int k = 0; k < nrows && rc == 0; k++)
		rc = store_exec(s, sql[0], &v[k * ncols], ncols, NULL, NULL);
	return rc;
}

/* The upsert of each kind of row: counts, service_counts, totals. */
#define UPSERT_COUNTS(table) \
	{ "INSERT INTO " table " (tier, bucket, series, stack, count)", \
	  "ON CONFLICT (tier, bucket, series, stack) DO UPDATE" \
	  " SET count = " table ".count + excluded.count", 5 }
static const struct {
	const char *head, *tail;
	int ncols;
} upserts[] = {
	[ROW_COUNTS] = UPSERT_COUNTS("counts"),
	[ROW_SERVICE] = UPSERT_COUNTS("service_counts"),
	[ROW_TOTALS] = { "INSERT INTO totals (tier, bucket, series, samples, errors, late, stacked)",
			 "ON CONFLICT (tier, bucket, series) DO UPDATE"
			 " SET samples = totals.samples + excluded.samples,"
			 " errors = totals.errors + excluded.errors,"
			 " late = totals.late + excluded.late,"
			 " stacked = totals.stacked + excluded.stacked", 7 },
};
#undef UPSERT_COUNTS
#define NKINDS (sizeof(upserts) / sizeof(upserts[0]))
#define MAX_COLS 7

static int write_rows(struct store_db *s, const struct agg *a)
{
	char **sql[NKINDS] = { s->sql_counts, s->sql_service, s->sql_totals };
	struct sql_val v[NKINDS][ROWS_PER_INSERT * MAX_COLS];
	int nrows[NKINDS] = { 0 }, rc = 0;

	for (size_t k = 0; k < NKINDS; k++) {
		if (sql[k][0])
			continue;
		sql[k][0] = multi_insert(upserts[k].head, upserts[k].ncols, 1, upserts[k].tail);
		sql[k][1] = multi_insert(upserts[k].head, upserts[k].ncols, ROWS_PER_INSERT,
					 upserts[k].tail);
		if (!sql[k][0] || !sql[k][1])
			return store_fail(s, -STORE_ENOMEM, "cannot write: out of memory");
	}
	for (size_t i = 0; i < a->n && rc == 0; i++) {
		const struct agg_row *r = &a->rows[i];
		int k = r->kind, nc = upserts[k].ncols;
		struct sql_val *p = &v[k][nrows[k]++ * nc];

		if (r->count > INT64_MAX / 2 || r->errors > INT64_MAX / 2 || r->late > INT64_MAX / 2 ||
		    r->stacked > INT64_MAX / 2)
			return bad(s, "a count is out of range");
		p[0] = SQL_I(r->tier), p[1] = SQL_I(r->bucket), p[2] = SQL_I(r->series);
		if (k == ROW_TOTALS) {
			p[3] = SQL_I(r->count), p[4] = SQL_I(r->errors), p[5] = SQL_I(r->late);
			p[6] = SQL_I(r->stacked);
		} else {
			p[3] = SQL_I(r->stack), p[4] = SQL_I(r->count);
		}
		if (nrows[k] == ROWS_PER_INSERT) {
			rc = flush(s, sql[k], v[k], nrows[k], nc);
			nrows[k] = 0;
		}
	}
	for (size_t k = 0; k < NKINDS && rc == 0; k++)
		rc = flush(s, sql[k], v[k], nrows[k], upserts[k].ncols);
	return rc;
}

/* The agent's cursor, in the batch's transaction. */
static int write_cursor(struct store_db *s, const struct store_batch *b)
{
	static const char sql[] =
		"INSERT INTO cursors (agent, instance, last_seq, updated) VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (agent) DO UPDATE SET instance = excluded.instance,"
		" last_seq = excluded.last_seq, updated = excluded.updated";
	char *b1, *b2;
	const char *agent = clean_text(b->agent, &b1), *instance = clean_text(b->instance, &b2);
	int rc;

	if (!agent || !instance || !*agent || b->last_seq > INT64_MAX) {
		rc = bad(s, "bad agent cursor (a name longer than 4096 bytes, or a sequence "
			 "number out of range)");
	} else {
		struct sql_val p[] = { SQL_T(agent), SQL_T(instance), SQL_I(b->last_seq),
				       SQL_I(time(NULL)) };
		rc = store_exec(s, sql, p, 4, NULL, NULL);
	}
	free(b1);
	free(b2);
	return rc;
}

int store_put(struct store_db *s, const struct store_batch *b)
{
	size_t maxf = 0, maxp = 0;
	int64_t *fids = NULL, *sids = NULL, *ids = NULL;
	uint8_t *blob = NULL;
	size_t blobcap = STORE_MAX_DEPTH * 10;
	struct agg a = { 0 };
	int64_t svc = -1;
	int rc = 0;

	if (!s->in_tx)
		return store_fail(s, -STORE_EUSAGE, "cannot put: no transaction is open");
	for (size_t i = 0; i < b->nwindows; i++) {
		if (b->windows[i].nfuncs > maxf)
			maxf = b->windows[i].nfuncs;
		if (b->windows[i].nprocs > maxp)
			maxp = b->windows[i].nprocs;
	}
	idmap_init(&a.index);
	fids = malloc((maxf + 1) * sizeof(*fids));
	sids = malloc((maxp + 1) * sizeof(*sids));
	ids = malloc(STORE_MAX_DEPTH * sizeof(*ids));
	blob = malloc(blobcap);
	if (!fids || !sids || !ids || !blob) {
		rc = store_fail(s, -STORE_ENOMEM, "cannot write: out of memory");
		goto out;
	}
	for (size_t i = 0; i < b->nwindows && rc == 0; i++)
		rc = put_window(s, b, &b->windows[i], &a, fids, sids, ids, blob, blobcap, &svc);
	if (rc == 0)
		rc = write_rows(s, &a);
	if (rc == 0)
		s->tx_rows += a.n;
	if (rc == 0 && b->agent)
		rc = write_cursor(s, b);
out:
	idmap_release(&a.index);
	free(a.rows);
	free(fids);
	free(sids);
	free(ids);
	free(blob);
	/* A failed put leaves the transaction unusable: roll it back. */
	if (rc)
		store_rollback(s);
	return rc;
}

size_t store_pack_ids(const int64_t *ids, size_t n, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	for (size_t i = 0; i < n && len + 10 <= cap; i++)
		len += output_pb_varint(buf + len, (uint64_t)ids[i]);
	return len;
}

long store_unpack_ids(const uint8_t *buf, size_t len, int64_t *ids, size_t cap)
{
	size_t n = 0, i = 0;

	while (i < len) {
		uint64_t v = 0;
		int shift = 0;
		for (;;) {
			if (i >= len || shift > 63)
				return -1;
			v |= (uint64_t)(buf[i] & 0x7f) << shift;
			shift += 7;
			if (!(buf[i++] & 0x80))
				break;
		}
		if (n >= cap || v > INT64_MAX)
			return -1;
		ids[n++] = (int64_t)v;
	}
	return (long)n;
}
