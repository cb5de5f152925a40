/*
 * schema.c - the store's schema: one text for SQLite and PostgreSQL, and
 * the list of migrations, numbered by position (SQLite's PRAGMA
 * user_version, PostgreSQL's schema_version table hold how many ran).
 * A new version of the schema is a new entry at the end, never an edit.
 *
 * Names ("name (file:line)" pieces), frames and stacks are stored once
 * each: a stack is the packed list of its frame ids, found by a hash of
 * that list.  Texts are found by a hash too (no unique index on text a
 * hostile agent chooses the length of); two writers racing may store one
 * text twice, which only costs a row: queries add stacks up by content.
 *
 * counts, service_counts and totals are keyed time first: (tier, bucket,
 * series, stack), so a range of one tier is one index range and retention
 * deletes a prefix.  tiers holds, per tier, how far it is rolled up and expired.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

static const char schema_v1[] =
	"CREATE TABLE funcs (id {id}, hash BIGINT NOT NULL, kind INTEGER NOT NULL,"
	" name TEXT NOT NULL, file TEXT NOT NULL, short_file TEXT NOT NULL);\n"
	"CREATE INDEX funcs_hash ON funcs (hash);\n"
	"CREATE TABLE frames (id {id}, func BIGINT NOT NULL, line INTEGER NOT NULL,"
	" UNIQUE (func, line));\n"
	"CREATE TABLE stacks (id {id}, hash BIGINT NOT NULL, frames {blob} NOT NULL);\n"
	"CREATE INDEX stacks_hash ON stacks (hash);\n"
	"CREATE TABLE series (id {id}, hash BIGINT NOT NULL, host TEXT NOT NULL,"
	" service TEXT NOT NULL, pid BIGINT NOT NULL, start_time BIGINT NOT NULL,"
	" thread TEXT NOT NULL, program TEXT NOT NULL, python TEXT NOT NULL);\n"
	"CREATE INDEX series_hash ON series (hash);\n"
	"CREATE TABLE counts (tier INTEGER NOT NULL, bucket BIGINT NOT NULL,"
	" series BIGINT NOT NULL, stack BIGINT NOT NULL, count BIGINT NOT NULL,"
	" PRIMARY KEY (tier, bucket, series, stack)){norowid};\n"
	"CREATE TABLE totals (tier INTEGER NOT NULL, bucket BIGINT NOT NULL,"
	" series BIGINT NOT NULL, samples BIGINT NOT NULL, errors BIGINT NOT NULL,"
	" late BIGINT NOT NULL, PRIMARY KEY (tier, bucket, series)){norowid};\n"
	"CREATE TABLE tiers (tier INTEGER PRIMARY KEY, width BIGINT NOT NULL,"
	" rolled_until BIGINT NOT NULL, expired_before BIGINT NOT NULL);\n"
	"INSERT INTO tiers VALUES (0, 60, 0, 0), (1, 600, 0, 0), (2, 3600, 0, 0);\n"
	"CREATE TABLE cursors (agent TEXT PRIMARY KEY, instance TEXT NOT NULL,"
	" last_seq BIGINT NOT NULL, updated BIGINT NOT NULL);\n";

/*
 * totals.stacked: the samples of the bucket that have a stack (samples
 * counts every sample taken, idle ones too, whose stacks an agent drops):
 * what a timeline of CPU shows, without reading counts.  Filled for the
 * data already stored from counts (the stacks of no process, which have
 * no totals row before this, are left out of those).
 */
static const char schema_v2[] =
	"ALTER TABLE totals ADD COLUMN stacked BIGINT NOT NULL DEFAULT 0;\n"
	"UPDATE totals SET stacked = COALESCE((SELECT SUM(c.count) FROM counts c"
	" WHERE c.tier = totals.tier AND c.bucket = totals.bucket"
	" AND c.series = totals.series), 0);\n";

/*
 * service_counts: the counts of every tier summed over the processes of a
 * service (host, pid, start time, thread, program and Python version
 * summed away), keyed like counts; its series is the service's aggregate
 * series (store_service_series: pid -1, every other label empty).  A
 * query that names no host and no pid reads it instead of counts: a day
 * of a 100-process fleet is 30 times fewer rows.  store_put writes it in
 * the transaction that writes counts, the rollups and retention treat it
 * like counts.  The rows already stored are summed into it by
 * fill_service_counts, in the migration's transaction.
 */
static const char schema_v3[] =
	"CREATE TABLE service_counts (tier INTEGER NOT NULL, bucket BIGINT NOT NULL,"
	" series BIGINT NOT NULL, stack BIGINT NOT NULL, count BIGINT NOT NULL,"
	" PRIMARY KEY (tier, bucket, series, stack)){norowid};\n";

/*
 * Pruning the dictionaries (prune.c): stacks and series carry the end of
 * the last day a count used them (a day's granularity: a writer updates
 * a row at most once a day), and dictionary.epoch counts the prunes, so
 * that a writer whose cached ids may be gone forgets them.  The rows
 * already stored are stamped with the day of the newest data: they are
 * kept for a whole retention from now, never pruned early.
 */
static const char schema_v4[] =
	"ALTER TABLE stacks ADD COLUMN last_used BIGINT NOT NULL DEFAULT 0;\n"
	"ALTER TABLE series ADD COLUMN last_used BIGINT NOT NULL DEFAULT 0;\n"
	"UPDATE stacks SET last_used = (SELECT rolled_until - rolled_until % 86400 + 86400"
	" FROM tiers WHERE tier = 0);\n"
	"UPDATE series SET last_used = (SELECT rolled_until - rolled_until % 86400 + 86400"
	" FROM tiers WHERE tier = 0);\n"
	"CREATE TABLE dictionary (epoch BIGINT NOT NULL, pruned_until BIGINT NOT NULL);\n"
	"INSERT INTO dictionary VALUES (0, 0);\n";

struct names {
	char **v;
	size_t n, cap;
};

static int name_row(void *ctx, const struct sql_val *c, int n)
{
	struct names *x = ctx;

	if (n != 1 || c[0].t != SQL_TEXT)
		return -STORE_ECORRUPT;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		char **v = realloc(x->v, cap * sizeof(*v));
		if (!v)
			return -STORE_ENOMEM;
		x->v = v;
		x->cap = cap;
	}
	if (!(x->v[x->n] = strdup(c[0].p)))
		return -STORE_ENOMEM;
	x->n++;
	return 0;
}

/* The aggregate series of every service stored, then every count summed into it. */
static int fill_service_counts(struct store_db *s)
{
	static const char services[] = "SELECT DISTINCT service FROM series WHERE pid >= 0";
	static const char fill[] =
		"INSERT INTO service_counts (tier, bucket, series, stack, count)"
		" SELECT c.tier, c.bucket, a.id, c.stack, SUM(c.count) FROM counts c"
		" JOIN series s ON s.id = c.series"
		" JOIN (SELECT service, MIN(id) AS id FROM series WHERE pid = -1 GROUP BY service) a"
		" ON a.service = s.service"
		" GROUP BY c.tier, c.bucket, a.id, c.stack";
	struct names x = { 0 };
	int64_t id;
	int rc;

	rc = store_exec(s, services, NULL, 0, name_row, &x);
	for (size_t i = 0; i < x.n && rc == 0; i++)
		rc = store_service_series(s, x.v[i], &id);
	if (rc == 0)
		rc = store_exec(s, fill, NULL, 0, NULL, NULL);
	if (rc == -STORE_ENOMEM)
		rc = store_fail(s, rc, "cannot migrate '%s': out of memory", s->url);
	else if (rc == -STORE_ECORRUPT)
		rc = store_fail(s, rc, "cannot migrate '%s': a series is malformed", s->url);
	for (size_t i = 0; i < x.n; i++)
		free(x.v[i]);
	free(x.v);
	return rc;
}

const struct store_migration store_migrations[] = {
	{ "create the schema", schema_v1, NULL },
	{ "count the samples with a stack per bucket", schema_v2, NULL },
	{ "sum the counts per service", schema_v3, fill_service_counts },
	{ "date the stacks and series, to prune them", schema_v4, NULL },
};
const size_t store_nmigrations = sizeof(store_migrations) / sizeof(store_migrations[0]);

char *store_schema_text(const char *sql, const char *id, const char *blob, const char *norowid)
{
	static const char *const keys[] = { "{id}", "{blob}", "{norowid}" };
	const char *vals[] = { id, blob, norowid };
	size_t cap = strlen(sql) + 1, len = 0;
	char *out;

	/* Every value is shorter than 64 bytes: 64 per placeholder is room. */
	for (const char *p = sql; (p = strchr(p, '{')); p++)
		cap += 64;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (const char *p = sql; *p;) {
		size_t k;
		for (k = 0; k < 3; k++)
			if (strncmp(p, keys[k], strlen(keys[k])) == 0)
				break;
		if (k < 3) {
			size_t vl = strlen(vals[k]);
			if (vl >= 64) {
				free(out);
				return NULL;
			}
			memcpy(out + len, vals[k], vl);
			len += vl;
			p += strlen(keys[k]);
		} else {
			out[len++] = *p++;
		}
	}
	out[len] = '\0';
	return out;
}

int store_migrate(struct store_db *s)
{
	const struct store_backend *be = s->be;
	int64_t ver;
	int rc;

	for (;;) {
		char *text;

		if ((rc = be->begin(s)))
			return rc;
		/* Read under the lock: another process may have migrated meanwhile. */
		if ((rc = be->version_get(s, &ver)))
			goto fail;
		if (ver >= (int64_t)store_nmigrations)
			break;
		text = store_schema_text(store_migrations[ver].sql, be->id_type, be->blob_type,
					 be->norowid);
		if (!text) {
			rc = store_fail(s, -STORE_ENOMEM, "cannot migrate '%s': out of memory", s->url);
			goto fail;
		}
		rc = be->script(s, text);
		free(text);
		if (rc == 0 && store_migrations[ver].fill)
			rc = store_migrations[ver].fill(s);
		if (rc || (rc = be->version_set(s, ver + 1)) || (rc = be->commit(s)))
			goto fail;
	}
	return be->commit(s);
fail:
	be->rollback(s);
	/* Ids a step interned are gone with it. */
	store_caches_clear(s);
	return rc;
}
