/*
 * test_store.c - the store (src/store) against SQLite in temporary files
 * and against a PostgreSQL server the test starts (tests/unit/pg-server:
 * Debian's server, initdb in a temporary directory, 127.0.0.1 on a free
 * port).  The same tests run on both; a server that cannot start fails
 * the group, naming it.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <libgen.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>
#ifdef PYSPY_HAVE_SQLITE
#include <sqlite3.h>
#endif

#include "pyspy/stacks.h"
#include "pyspy/store.h"
#include "store_fixture.h"

/* An hour boundary, so that tiers line up with the fixture's windows. */
#define T0 1765000800ll
#define H 3600

struct backend {
	bool pg;
	char dir[256];           /* temporary directory */
	char base[256];          /* PostgreSQL: URL up to the database name */
	char script[1024];       /* tests/unit/pg-server */
	int seq;
};

static struct backend sqlite_be, pg_be;

/* A fresh store URL named after the test. */
static void new_url(struct backend *b, const char *name, char *url, size_t cap)
{
	b->seq++;
	if (!b->pg) {
		snprintf(url, cap, "%s/%s-%d.db", b->dir, name, b->seq);
		return;
	}
	{
		char cmd[2048];
		snprintf(cmd, sizeof(cmd), "'%s' createdb '%s' t%d_%s", b->script, b->dir, b->seq, name);
		if (system(cmd) != 0)
			fail_msg("pg-server createdb failed: %s", cmd);
		snprintf(url, cap, "%s/t%d_%s", b->base, b->seq, name);
	}
}

static struct store_db *open_url(const char *url, const struct store_options *o, int *err)
{
	char msg[1024];
	struct store_db *s = store_open(url, o, err, msg, sizeof(msg));

	if (!s)
		print_message("store_open: %s\n", msg);
	return s;
}

static struct store_db *new_store(struct backend *b, const char *name, char *url, size_t cap)
{
	struct store_options o = { .create = true };
	int err;
	struct store_db *s;

	new_url(b, name, url, cap);
	s = open_url(url, &o, &err);
	assert_non_null(s);
	return s;
}

static void expect_refused(const char *url, bool read_only, int want, const char *why);

/* Query [from, until) with f and compare with the fixture's truth. */
static void check_query(struct store_db *s, int n, int64_t from, int64_t until,
			const struct store_filter *f, struct store_query_info *qi)
{
	struct store_query_info local;
	uint64_t samples;
	int err;
	struct profile *got = store_query(s, from, until, f, qi ? qi : &local, &err);
	struct profile *want = fx_expected(T0, n, from, until, f, &samples);
	char *g, *w;

	if (!got)
		fail_msg("store_query: %s", store_errmsg(s));
	g = fx_folded(got);
	w = fx_folded(want);
	if (strcmp(g, w) != 0)
		fail_msg("[%lld, %lld) differs:\n--- got\n%s--- want\n%s", (long long)(from - T0),
			 (long long)(until - T0), g, w);
	assert_int_equal((qi ? qi : &local)->samples, samples);
	free(g);
	free(w);
	profile_free(got);
	profile_free(want);
}

static void test_put_query(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_db *s = new_store(b, "putquery", url, sizeof(url));
	const struct store_filter web = { .service = "web" }, h2 = { .host = "h2" },
				  pid = { .pid = 101 }, none = { .service = "nope" };
	struct store_query_info qi;

	assert_int_equal(fx_fill(s, T0, 180, 6), 0);
	check_query(s, 180, T0, T0 + 1800, NULL, &qi);
	assert_true(qi.samples > 0);
	assert_true(qi.exact);
	check_query(s, 180, T0 + 600, T0 + 1200, &web, NULL);
	check_query(s, 180, T0, T0 + 1800, &h2, NULL);
	check_query(s, 180, T0 + 125, T0 + 611, &pid, NULL);
	check_query(s, 180, T0, T0 + 1800, &none, &qi);
	assert_int_equal(qi.samples, 0);
	/* Before and after the data: empty. */
	check_query(s, 180, T0 - 7200, T0 - 60, NULL, &qi);
	assert_int_equal(qi.samples, 0);
	store_close(s);

	/* A reader sees the same after the writer is gone. */
	{
		struct store_options ro = { .read_only = true };
		int err;
		s = open_url(url, &ro, &err);
		assert_non_null(s);
		check_query(s, 180, T0, T0 + 1800, NULL, NULL);
		store_close(s);
	}
}

static bool has_tier(const struct store_query_info *qi, int tier)
{
	for (size_t i = 0; i < qi->nspans; i++)
		if (qi->spans[i].tier == tier)
			return true;
	return false;
}

/* Three hours: the 10-minute and hourly tiers answer, and agree with the minutes. */
static void test_rollup(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_db *s = new_store(b, "rollup", url, sizeof(url));
	struct store_query_info qi;
	const struct store_filter web = { .service = "web" };
	struct store_tier_state t[STORE_NTIERS];
	int n = 3 * 360;

	assert_int_equal(fx_fill(s, T0, n, 60), 0);
	assert_int_equal(store_tiers(s, t), 0);
	assert_int_equal(t[1].rolled_until, T0 + 3 * H);
	assert_int_equal(t[2].rolled_until, T0 + 3 * H);
	check_query(s, n, T0, T0 + 3 * H, NULL, &qi);
	assert_int_equal(qi.nspans, 1);
	assert_int_equal(qi.spans[0].tier, 2);
	check_query(s, n, T0 + 7 * 60 + 5, T0 + 2 * H + 13 * 60, NULL, &qi);
	assert_true(has_tier(&qi, 0) && has_tier(&qi, 1) && has_tier(&qi, 2));
	check_query(s, n, T0 + 600, T0 + 1800, &web, &qi);
	assert_int_equal(qi.spans[0].tier, 1);

	/* A late window (agent restarted, same times) lands in every tier. */
	{
		uint64_t s1, s2;
		struct profile *late = fx_expected(T0, 6, T0, T0 + H, &web, &s1);
		struct profile *all = fx_expected(T0, n, T0, T0 + H, &web, &s2);
		struct profile *got;
		int err;

		assert_int_equal(fx_put(s, 0, T0, 1, 6), 0);
		got = store_query(s, T0, T0 + H, &web, &qi, &err);
		assert_non_null(got);
		assert_int_equal(qi.spans[0].tier, 2);
		assert_int_equal(qi.samples, s1 + s2);
		assert_int_equal(profile_total(got), profile_total(late) + profile_total(all));
		profile_free(got);
		got = store_query(s, T0, T0 + 60, &web, &qi, &err);
		assert_non_null(got);
		assert_int_equal(qi.spans[0].tier, 0);
		assert_int_equal(profile_total(got), 2 * (profile_total(late)));
		profile_free(got);
		profile_free(late);
		profile_free(all);
	}
	store_close(s);
}

static void test_timeline(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_db *s = new_store(b, "timeline", url, sizeof(url));
	struct store_point *p;
	size_t n;
	uint64_t web = 0, worker = 0, want_web, want_worker, stacked_web = 0, stacked_worker = 0;
	const struct store_filter fweb = { .service = "web" }, fworker = { .service = "worker" };

	assert_int_equal(fx_fill(s, T0, 60, 6), 0);
	assert_int_equal(store_timeline(s, T0, T0 + 600, NULL, STORE_BY_SERVICE, &p, &n), 0);
	assert_int_equal(n, 20);   /* 10 minutes x 2 services */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(p[i].width, 60);
		assert_int_equal(p[i].bucket, T0 + 60 * (int64_t)(i / 2));
		if (strcmp(p[i].group, "web") == 0) {
			web += p[i].samples;
			stacked_web += p[i].stacked;
		} else if (strcmp(p[i].group, "worker") == 0) {
			worker += p[i].samples;
			stacked_worker += p[i].stacked;
		} else
			fail_msg("group '%s'", p[i].group);
	}
	store_points_free(p, n);
	profile_free(fx_expected(T0, 60, T0, T0 + 600, &fweb, &want_web));
	profile_free(fx_expected(T0, 60, T0, T0 + 600, &fworker, &want_worker));
	assert_int_equal(web, want_web);
	assert_int_equal(worker, want_worker);
	/* With a stack: each process's stack has all its samples; h2 also has
	 * one pruned sample of no process per window (60 windows). */
	assert_int_equal(stacked_web, want_web);
	assert_int_equal(stacked_worker, want_worker + 60);
	assert_int_equal(store_timeline(s, T0, T0 + 600, NULL, STORE_BY_HOST, &p, &n), 0);
	assert_int_equal(n, 20);
	assert_string_equal(p[0].group, "h1");
	assert_string_equal(p[1].group, "h2");
	store_points_free(p, n);
	store_close(s);
}

/* The web app's filter choices and the extent of the data. */
static void test_series_extent(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_db *s = new_store(b, "series", url, sizeof(url));
	static const int64_t pids[] = { 100, 101, 200 };
	struct store_series_row *r;
	const struct store_filter fweb = { .service = "web" }, fh2 = { .host = "h2" };
	int64_t first, last;
	bool found;
	size_t n;

	assert_int_equal(store_extent(s, &first, &last, &found), 0);
	assert_false(found);
	assert_int_equal(store_series(s, T0, T0 + H, NULL, &r, &n), 0);
	assert_int_equal(n, 0);
	store_series_free(r, n);

	assert_int_equal(fx_fill(s, T0, 360, 60), 0);   /* one hour */
	assert_int_equal(store_extent(s, &first, &last, &found), 0);
	assert_true(found);
	assert_int_equal(first, T0);
	assert_int_equal(last, T0 + H);

	/* [T0 + 5m, T0 + 55m): 1-minute edges around 10-minute buckets. */
	assert_int_equal(store_series(s, T0 + 300, T0 + 3300, NULL, &r, &n), 0);
	{
		uint64_t prev = UINT64_MAX;
		size_t seen = 0;
		for (size_t i = 0; i < n; i++) {
			assert_true(r[i].samples <= prev);
			prev = r[i].samples;
			for (size_t k = 0; k < 3; k++) {
				struct store_filter f = { .pid = pids[k] };
				uint64_t want;
				if (r[i].pid != pids[k])
					continue;
				profile_free(fx_expected(T0, 360, T0 + 300, T0 + 3300, &f, &want));
				assert_int_equal(r[i].samples, want);
				assert_string_equal(r[i].service, k < 2 ? "web" : "worker");
				assert_string_equal(r[i].host, k < 2 ? "h1" : "h2");
				assert_string_equal(r[i].program, "python3 app.py");
				seen++;
			}
			if (r[i].pid == 0)
				assert_int_equal(r[i].samples, 0);
		}
		assert_int_equal(seen, 3);
	}
	store_series_free(r, n);
	assert_int_equal(store_series(s, T0, T0 + H, &fweb, &r, &n), 0);
	assert_int_equal(n, 2);
	assert_true((r[0].pid == 100 && r[1].pid == 101) || (r[0].pid == 101 && r[1].pid == 100));
	store_series_free(r, n);
	assert_int_equal(store_series(s, T0, T0 + H, &fh2, &r, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(r[i].host, "h2");
	store_series_free(r, n);
	/* A range with no data. */
	assert_int_equal(store_series(s, T0 + 2 * H, T0 + 3 * H, NULL, &r, &n), 0);
	assert_int_equal(n, 0);
	store_series_free(r, n);
	store_close(s);
}

/*
 * Run 'sql' on the store behind the library's back (to make an older
 * schema, to count rows); returns the first column of its last result's
 * first row, 0 when none.  No single quotes in 'sql' (a shell word).
 */
#ifdef PYSPY_HAVE_SQLITE
static int first_int(void *ctx, int n, char **vals, char **names)
{
	(void)names;
	*(int64_t *)ctx = n > 0 && vals[0] ? strtoll(vals[0], NULL, 10) : 0;
	return 0;
}
#endif

static int64_t raw_sql(struct backend *b, const char *url, const char *sql)
{
	int64_t v = 0;

	if (!b->pg) {
#ifdef PYSPY_HAVE_SQLITE
		sqlite3 *db;
		char *err = NULL;
		if (sqlite3_open_v2(url, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
			fail_msg("sqlite3_open '%s': %s", url, sqlite3_errmsg(db));
		if (sqlite3_exec(db, sql, first_int, &v, &err) != SQLITE_OK)
			fail_msg("'%s': %s", sql, err);
		sqlite3_close(db);
#else
		fail_msg("built without SQLite");
#endif
	} else {
		char cmd[4096], line[256] = "";
		FILE *p;
		snprintf(cmd, sizeof(cmd), "'%s' sql '%s' '%s' '%s'", b->script, b->dir,
			 strrchr(url, '/') + 1, sql);
		p = popen(cmd, "r");
		if (!p)
			fail_msg("cannot run %s", cmd);
		if (fgets(line, sizeof(line), p))
			v = strtoll(line, NULL, 10);
		while (fgets(line, sizeof(line), p))
			;
		if (pclose(p) != 0)
			fail_msg("failed: %s", cmd);
	}
	return v;
}

/* Folded texts added up: equal stacks' counts summed, lines sorted. */
static int by_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *sum_folded(char *const *parts, size_t nparts)
{
	char **lines = NULL, *out = NULL;
	size_t n = 0, cap = 0, len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	for (size_t i = 0; i < nparts; i++) {
		char *copy = strdup(parts[i]), *save = NULL;
		assert_non_null(copy);
		for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				lines = realloc(lines, cap * sizeof(*lines));
				assert_non_null(lines);
			}
			lines[n++] = strdup(l);
		}
		free(copy);
	}
	if (n)
		qsort(lines, n, sizeof(*lines), by_line);
	for (size_t i = 0; i < n;) {
		char *sp = strrchr(lines[i], ' ');
		unsigned long long count = 0;
		size_t k = i, slen;
		assert_non_null(sp);
		slen = (size_t)(sp - lines[i]);
		for (; k < n && strncmp(lines[k], lines[i], slen) == 0 && lines[k][slen] == ' '; k++)
			count += strtoull(lines[k] + slen + 1, NULL, 10);
		fprintf(f, "%.*s %llu\n", (int)slen, lines[i], count);
		i = k;
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	fclose(f);
	return out;
}

/* The folded text of a query, and whether it read the counts of each process. */
static char *query_folded(struct store_db *s, int64_t from, int64_t until,
			  const struct store_filter *f, bool by_process, uint64_t *samples)
{
	struct store_query_info qi;
	int err;
	struct profile *p = store_query(s, from, until, f, &qi, &err);
	char *folded, *sorted;

	if (!p)
		fail_msg("store_query: %s", store_errmsg(s));
	assert_int_equal(qi.by_process, by_process);
	if (samples)
		*samples = qi.samples;
	folded = fx_folded(p);
	sorted = sum_folded(&folded, 1);
	free(folded);
	profile_free(p);
	return sorted;
}

static void expect_same(const char *what, int64_t from, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("%s from T0%+lld differs:\n--- got\n%s--- want\n%s", what,
			 (long long)(from - T0), got, want);
}

/*
 * A query without a host or pid reads the sums per service: they equal
 * the counts of each process added up, over hosts and over pids, in every
 * tier, late windows included (host h3 repeats agent h1's windows, pids
 * too, after they were rolled up).
 */
static void test_service_sums(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_db *s = new_store(b, "servicesums", url, sizeof(url));
	static const int64_t ranges[][2] = {
		{ T0, T0 + 3 * H }, { T0 + 7 * 60 + 5, T0 + 2 * H + 13 * 60 },
		{ T0 + 600, T0 + 1800 }, { T0 + 125, T0 + 611 }, { T0 - H, T0 + 4 * H },
	};
	const struct store_filter hosts[] = { { .host = "h1" }, { .host = "h2" }, { .host = "h3" } },
				  pids[] = { { .pid = 100 }, { .pid = 101 } },
				  web = { .service = "web" }, worker = { .service = "worker" },
				  web_h3 = { .service = "web", .host = "h3" };
	int n = 3 * 360;

	assert_int_equal(fx_fill(s, T0, n, 60), 0);
	assert_int_equal(fx_put_as(s, 0, "h3", T0, 1, n), 0);
	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		int64_t from = ranges[r][0], until = ranges[r][1];
		char *all, *by_host[3], *by_pid[2], *sum, *want[2], *one;
		uint64_t sa, sh[3], sw;
		struct profile *p;

		all = query_folded(s, from, until, NULL, false, &sa);
		for (int h = 0; h < 3; h++)
			by_host[h] = query_folded(s, from, until, &hosts[h], true, &sh[h]);
		/* The truth: the fixture, and agent h1's windows again as h3. */
		p = fx_expected(T0, n, from, until, NULL, &sw);
		want[0] = fx_folded(p);
		profile_free(p);
		p = fx_expected(T0, n, from, until, &hosts[0], &sw);
		want[1] = fx_folded(p);
		profile_free(p);
		sum = sum_folded(want, 2);
		expect_same("all", from, all, sum);
		free(sum);
		sum = sum_folded(by_host, 3);
		expect_same("all against the hosts", from, all, sum);
		free(sum);
		assert_int_equal(sa, sh[0] + sh[1] + sh[2]);
		/* web: hosts h1 and h3, and pids 100 and 101 (on both hosts). */
		one = query_folded(s, from, until, &web, false, &sw);
		sum = sum_folded((char *[]){ by_host[0], by_host[2] }, 2);
		expect_same("web against its hosts", from, one, sum);
		free(sum);
		assert_int_equal(sw, sh[0] + sh[2]);
		for (int k = 0; k < 2; k++)
			by_pid[k] = query_folded(s, from, until, &pids[k], true, NULL);
		sum = sum_folded(by_pid, 2);
		expect_same("web against its pids", from, one, sum);
		free(sum);
		free(one);
		one = query_folded(s, from, until, &worker, false, NULL);
		expect_same("worker against h2", from, one, by_host[1]);
		free(one);
		one = query_folded(s, from, until, &web_h3, true, NULL);
		expect_same("web on h3 against h3", from, one, by_host[2]);
		free(one);
		free(all);
		for (int k = 0; k < 3; k++)
			free(by_host[k]);
		for (int k = 0; k < 2; k++)
			free(by_pid[k]);
		free(want[0]);
		free(want[1]);
	}
	store_close(s);
}

/*
 * A store of schema 2 (no service_counts) is refused by a reader and
 * migrated by a writer: the sums per service are built from the counts
 * stored, in the migration's transaction, and kept from then on.
 */
static void test_migrate_v2(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_db *s = new_store(b, "migrate", url, sizeof(url));
	struct store_options o = { .create = true };
	const struct store_filter web = { .service = "web" }, h1 = { .host = "h1" };
	struct store_query_info qi;
	int n = 3 * 360, err;

	assert_int_equal(fx_fill(s, T0, n, 60), 0);
	store_close(s);
	/* What a schema-2 store holds: the same, without the sums per service. */
	raw_sql(b, url, b->pg ? "DROP TABLE service_counts; DELETE FROM series WHERE pid = -1;"
			" DROP TABLE dictionary; ALTER TABLE stacks DROP COLUMN last_used;"
			" ALTER TABLE series DROP COLUMN last_used;"
			" DELETE FROM schema_version WHERE version >= 3"
			: "DROP TABLE service_counts; DELETE FROM series WHERE pid = -1;"
			" DROP TABLE dictionary; ALTER TABLE stacks DROP COLUMN last_used;"
			" ALTER TABLE series DROP COLUMN last_used; PRAGMA user_version = 2");
	expect_refused(url, true, -STORE_EVERSION, "older");
	s = open_url(url, &o, &err);
	assert_non_null(s);
	assert_true(raw_sql(b, url, "SELECT COUNT(*) FROM series WHERE pid = -1") == 2);
	assert_true(raw_sql(b, url, "SELECT COUNT(*) FROM service_counts") > 0);
	/* Schema 4: what was stored is dated with the day of the newest data. */
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM stacks WHERE last_used <> "
				 "(SELECT rolled_until - rolled_until % 86400 + 86400 FROM tiers"
				 " WHERE tier = 0)"), 0);
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM series WHERE last_used = 0"), 0);
	check_query(s, n, T0, T0 + 3 * H, NULL, &qi);
	assert_false(qi.by_process);
	check_query(s, n, T0 + 7 * 60 + 5, T0 + 2 * H + 13 * 60, NULL, &qi);
	assert_false(qi.by_process);
	check_query(s, n, T0 + 600, T0 + 1800, &web, &qi);
	assert_false(qi.by_process);
	check_query(s, n, T0 + 125, T0 + 611, &h1, &qi);
	assert_true(qi.by_process);
	/* Written on: the new windows go to both. */
	for (int a = 0; a < FX_AGENTS; a++)
		assert_int_equal(fx_put(s, a, T0, n + 1, n + 360), 0);
	check_query(s, n + 360, T0, T0 + 4 * H, NULL, &qi);
	assert_false(qi.by_process);
	check_query(s, n + 360, T0 + 2 * H + 5, T0 + 4 * H, &web, &qi);
	store_close(s);
	/* Migrated once: opened again, nothing changes. */
	s = open_url(url, &o, &err);
	assert_non_null(s);
	assert_true(raw_sql(b, url, "SELECT COUNT(*) FROM series WHERE pid = -1") == 2);
	check_query(s, n + 360, T0, T0 + 4 * H, NULL, NULL);
	store_close(s);
}

static void test_expire(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_db *s = new_store(b, "expire", url, sizeof(url));
	struct store_tier_state t[STORE_NTIERS];
	struct store_query_info qi;
	uint64_t deleted = 0;
	int n = 3 * 360, err;
	struct profile *p;

	assert_int_equal(fx_fill(s, T0, n, 60), 0);
	/* Two days and a bit later: the minutes go, the rest answers. */
	assert_int_equal(store_expire(s, T0 + 3 * H + 2 * 86400 + H, &deleted), 0);
	assert_true(deleted > 0);
	/* The sums per service go with the counts. */
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM service_counts WHERE tier = 0"), 0);
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM counts WHERE tier = 0"), 0);
	assert_true(raw_sql(b, url, "SELECT COUNT(*) FROM service_counts WHERE tier = 1") > 0);
	assert_int_equal(store_tiers(s, t), 0);
	assert_int_equal(t[0].kept_from, T0 + 3 * H);
	assert_true(t[1].kept_from <= T0);
	check_query(s, n, T0, T0 + 3 * H, NULL, &qi);
	assert_true(qi.exact);
	check_query(s, n, T0 + 600, T0 + 1200, NULL, &qi);
	assert_int_equal(qi.spans[0].tier, 1);
	/* Minutes asked for: rounded out to ten minutes, and said so. */
	p = store_query(s, T0 + 60, T0 + 120, NULL, &qi, &err);
	assert_non_null(p);
	assert_false(qi.exact);
	assert_int_equal(qi.spans[0].tier, 1);
	profile_free(p);
	/* Again: nothing more to delete. */
	assert_int_equal(store_expire(s, T0 + 3 * H + 2 * 86400 + H, &deleted), 0);
	assert_int_equal(deleted, 0);
	/* Two years later, everything is gone. */
	assert_int_equal(store_expire(s, T0 + 2 * 366 * 86400, &deleted), 0);
	assert_true(deleted > 0);
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM service_counts"), 0);
	p = store_query(s, T0, T0 + 3 * H, NULL, &qi, &err);
	assert_non_null(p);
	assert_int_equal(profile_total(p), 0);
	assert_int_equal(qi.samples, 0);
	profile_free(p);
	store_close(s);
}

/* One window at 'sec' of a process of host "gone" running legacy code. */
static int put_legacy(struct store_db *s, int64_t sec)
{
	static const struct store_in_func funcs[] = {
		{ "legacy_main", "/srv/old.py", "old.py", false },
		{ "legacy", "/srv/old.py", "old.py", false },
	};
	static const struct store_in_frame frames[] = { { 0, 1 }, { 1, 3 } };
	const struct store_in_proc proc = { 4242, 7, "python3 old.py", "3.9", NULL, 5, 0, 0 };
	const struct store_in_stack stack = { 0, 5, 2, frames };
	const struct store_in_window w = { 1, sec * 1000000000ll, (sec + 10) * 1000000000ll,
					   5, 0, 0, 0, 1, 2, 1, &proc, funcs, &stack };
	const struct store_batch batch = { "gone", "oldsvc", 1, &w, NULL, NULL, 0 };
	int rc = store_begin(s);

	if (rc == 0)
		rc = store_put(s, &batch);
	if (rc == 0)
		rc = store_commit(s);
	return rc;
}

static const char legacy_folded[] = "legacy_main (old.py:1);legacy (old.py:3) 5\n";

/*
 * The dictionaries lose what retention took: a stack, its frames and
 * functions, and series used only by expired buckets go with them; what
 * a kept bucket uses stays.  A writer that cached the ids of what was
 * pruned (another connection) interns them anew.
 */
static void test_prune(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_options o = { .create = true, .retention = { 86400, 86400, 86400 } };
	struct store_db *s1, *s2;
	const struct store_filter gone = { .host = "gone" };
	int64_t day3 = T0 + 3 * 86400, stacks, frames, funcs, series;
	uint64_t deleted = 0;
	int n = 360, err;
	struct profile *p;
	char *folded;

	new_url(b, "prune", url, sizeof(url));
	s1 = open_url(url, &o, &err);
	s2 = open_url(url, &o, &err);
	assert_non_null(s1);
	assert_non_null(s2);
	/* Day 0: the fleet and the legacy process (s1); day 3: the fleet alone (s2). */
	assert_int_equal(fx_fill(s1, T0, n, 60), 0);
	assert_int_equal(put_legacy(s1, T0 + 600), 0);
	for (int a = 0; a < FX_AGENTS; a++)
		assert_int_equal(fx_put_as(s2, a, NULL, day3, 1, n), 0);
	stacks = raw_sql(b, url, "SELECT COUNT(*) FROM stacks");
	frames = raw_sql(b, url, "SELECT COUNT(*) FROM frames");
	funcs = raw_sql(b, url, "SELECT COUNT(*) FROM funcs");
	series = raw_sql(b, url, "SELECT COUNT(*) FROM series");
	/* A day of retention, an hour into day 3's data: day 0 goes. */
	assert_int_equal(store_expire(s2, day3 + 2 * H, &deleted), 0);
	assert_true(deleted > 0);
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM stacks"), stacks - 1);
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM frames"), frames - 2);
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM funcs"), funcs - 2);
	/* The legacy process's series and its service's aggregate. */
	assert_int_equal(raw_sql(b, url, "SELECT COUNT(*) FROM series"), series - 2);
	p = store_query(s1, T0, day3 + H, &gone, NULL, &err);
	assert_non_null(p);
	assert_int_equal(profile_total(p), 0);
	profile_free(p);
	assert_int_equal(raw_sql(b, url, "SELECT epoch FROM dictionary"), 1);
	/* Day 3 reads as written, through either connection. */
	p = store_query(s1, day3, day3 + H, NULL, NULL, &err);
	assert_non_null(p);
	profile_free(p);
	/* Once a day of retention: the same expiry again prunes nothing. */
	assert_int_equal(store_expire(s2, day3 + 2 * H, &deleted), 0);
	assert_int_equal(deleted, 0);
	/* s1 cached the legacy ids: it must intern them anew, not count into
	 * rows that are gone. */
	assert_int_equal(put_legacy(s1, day3 + 1200), 0);
	p = store_query(s2, day3, day3 + H, &gone, NULL, &err);
	if (!p)
		fail_msg("store_query: %s", store_errmsg(s2));
	folded = fx_folded(p);
	assert_string_equal(folded, legacy_folded);
	free(folded);
	profile_free(p);
	store_close(s1);
	store_close(s2);
}

/* The cursor commits with the data, or neither does. */
static void test_cursor_atomic(void **state)
{
	struct backend *b = *state;
	char url[512], inst[64], agent[5000];
	struct store_db *s = new_store(b, "cursor", url, sizeof(url));
	struct store_query_info qi;
	uint64_t seq;
	bool found;
	int err;
	struct profile *p;

	assert_int_equal(store_cursor(s, fx_agent_name[0], &found, inst, sizeof(inst), &seq), 0);
	assert_false(found);
	assert_int_equal(fx_fill(s, T0, 12, 6), 0);
	assert_int_equal(store_cursor(s, fx_agent_name[1], &found, inst, sizeof(inst), &seq), 0);
	assert_true(found);
	assert_string_equal(inst, "fx-h2:1");
	assert_int_equal(seq, 12);

	/*
	 * A transaction that fails (its second batch's cursor is bad) leaves
	 * nothing: not the first batch's data, not its cursor.
	 */
	memset(agent, 'a', sizeof(agent) - 1);
	agent[sizeof(agent) - 1] = '\0';
	{
		struct store_in_window w = { .seq = 1, .start_ns = (T0 + 3600) * 1000000000,
					     .end_ns = (T0 + 3610) * 1000000000,
					     .nprocs = 1,
					     .procs = (struct store_in_proc[]){ { .pid = 7,
										.samples = 5 } } };
		struct store_batch good = { "h9", "other", 1, &w, "h9:1", "i9", 1 };
		struct store_batch bad = { "h8", "other", 1, &w, agent, "x", 1 };
		assert_int_equal(store_begin(s), 0);
		assert_int_equal(store_put(s, &good), 0);
		err = store_put(s, &bad);
		assert_int_equal(err, -STORE_EUSAGE);
		assert_non_null(strstr(store_errmsg(s), "cursor"));
		assert_int_equal(store_commit(s), -STORE_EUSAGE);   /* nothing open */
	}
	assert_int_equal(store_cursor(s, "h9:1", &found, inst, sizeof(inst), &seq), 0);
	assert_false(found);
	assert_int_equal(store_cursor(s, agent, &found, inst, sizeof(inst), &seq), 0);
	assert_false(found);
	p = store_query(s, T0 + 3600, T0 + 3660, NULL, &qi, &err);
	assert_non_null(p);
	assert_int_equal(qi.samples, 0);
	profile_free(p);
	/* The store goes on as before. */
	check_query(s, 12, T0, T0 + 120, NULL, NULL);
	store_close(s);
}

/* SQLite: a full disk (a size limit) refuses the batch whole, and the store resumes. */
static void test_disk_full(void **state)
{
	struct backend *b = *state;
	char url[512], inst[64];
	struct store_options o = { .create = true, .max_bytes = 256 * 1024 };
	struct store_db *s;
	uint64_t seq;
	bool found;
	int err, rc = 0, last_ok = 0, i;

	new_url(b, "full", url, sizeof(url));
	s = open_url(url, &o, &err);
	assert_non_null(s);
	for (i = 1; i <= 30000 && rc == 0; i += 60) {
		rc = fx_put(s, 0, T0, i, i + 59);
		if (rc == 0)
			last_ok = i + 59;
	}
	assert_int_equal(rc, -STORE_EFULL);
	assert_true(store_error_retryable(rc));
	assert_non_null(strstr(store_errmsg(s), "disk full"));
	assert_true(last_ok > 0);
	assert_int_equal(store_cursor(s, fx_agent_name[0], &found, inst, sizeof(inst), &seq), 0);
	assert_true(found);
	assert_int_equal(seq, last_ok);
	store_close(s);

	/* Room again: the refused windows go in, once. */
	o.max_bytes = 0;
	s = open_url(url, &o, &err);
	assert_non_null(s);
	assert_int_equal(fx_put(s, 0, T0, last_ok + 1, last_ok + 60), 0);
	{
		const struct store_filter web = { .service = "web" };
		struct store_query_info qi;
		uint64_t want;
		struct profile *got = store_query(s, T0, T0 + 10 * 24 * H, &web, &qi, &err);
		profile_free(fx_expected(T0, last_ok + 60, T0, T0 + 10 * 24 * H, &web, &want));
		assert_non_null(got);
		assert_int_equal(qi.samples, want);
		profile_free(got);
	}
	store_close(s);
}

/* Hostile input from an agent: refused whole, or stored as text. */
static void test_hostile(void **state)
{
	struct backend *b = *state;
	char url[512];
	struct store_db *s = new_store(b, "hostile", url, sizeof(url));
	const struct store_in_func funcs[] = {
		{ "'); DROP TABLE counts; --", "\"quoted\".py", NULL, false },
		{ "bad\xff\xfe utf8", "<script>alert(1)</script>", NULL, false },
	};
	const struct store_in_frame fr[] = { { 0, 1 }, { 1, 2 } }, badfr[] = { { 9, 1 } };
	struct store_in_proc pr = { .pid = 5, .samples = 3 };
	struct store_in_stack st = { 0, 3, 2, fr }, badst = { 0, 1, 1, badfr };
	struct store_in_window w = { .seq = 1, .start_ns = T0 * 1000000000ll,
				     .end_ns = (T0 + 10) * 1000000000ll, .nprocs = 1, .procs = &pr,
				     .nfuncs = 2, .funcs = funcs, .nstacks = 1, .stacks = &st };
	struct store_batch bt = { "h", "s", 1, &w, "a", "i", 1 };
	struct store_query_info qi;
	struct profile *p;
	char *folded;
	int err;

	/* A frame naming a function the window does not have. */
	w.stacks = &badst;
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_put(s, &bt), -STORE_EUSAGE);
	assert_non_null(strstr(store_errmsg(s), "does not have"));
	/* The failed put rolled back: a new transaction works. */
	w.stacks = &st;
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_put(s, &bt), 0);
	assert_int_equal(store_commit(s), 0);
	p = store_query(s, T0, T0 + 60, NULL, &qi, &err);
	assert_non_null(p);
	folded = fx_folded(p);
	assert_string_equal(folded, "')_ DROP TABLE counts_ -- (\"quoted\".py:1);"
				    "bad\xef\xbf\xbd\xef\xbf\xbd utf8 (<script>alert(1)</script>:2) 3\n");
	free(folded);
	profile_free(p);
	store_close(s);
}

/* Overwrite 'len' bytes of 'path' at 'off'. */
static void poke(const char *path, off_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void expect_refused(const char *url, bool read_only, int want, const char *why)
{
	struct store_options o = { .create = !read_only, .read_only = read_only };
	char msg[1024] = "";
	int err = 0;
	struct store_db *s = store_open(url, &o, &err, msg, sizeof(msg));

	if (s)
		fail_msg("'%s' opened, want %s", url, store_strerror(want));
	if (err != want || !strstr(msg, why))
		fail_msg("'%s': %d '%s', want %d with '%s'", url, err, msg, want, why);
}

static void test_foreign_sqlite(void **state)
{
	struct backend *b = *state;
	char url[512], path[600];
	struct store_db *s;
	FILE *f;

	snprintf(path, sizeof(path), "%s/text.db", b->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("these are not the bytes you are looking for, but they are quite a few\n", f);
	fclose(f);
	expect_refused(path, false, -STORE_EFOREIGN, "not an SQLite database");
	expect_refused(path, true, -STORE_EFOREIGN, "not an SQLite database");

	snprintf(path, sizeof(path), "%s/missing.db", b->dir);
	expect_refused(path, true, -STORE_ENOENT, "No such file");

	/* Another application's SQLite file (its application_id). */
	s = new_store(b, "other", url, sizeof(url));
	store_close(s);
	poke(url, 68, "\x12\x34\x56\x78", 4);
	expect_refused(url, true, -STORE_EFOREIGN, "application_id 0x12345678");
	expect_refused(url, false, -STORE_EFOREIGN, "not a pyspy-c store");

	/* A newer schema. */
	s = new_store(b, "newer", url, sizeof(url));
	store_close(s);
	poke(url, 60, "\x00\x00\x00\x63", 4);
	expect_refused(url, true, -STORE_EVERSION, "schema version 99");

	/* A corrupt file: the schema page overwritten. */
	s = new_store(b, "corrupt", url, sizeof(url));
	assert_int_equal(fx_fill(s, T0, 6, 6), 0);
	store_close(s);
	{
		char junk[3000];
		memset(junk, 0xa5, sizeof(junk));
		poke(url, 100, junk, sizeof(junk));
	}
	expect_refused(url, true, -STORE_ECORRUPT, "corrupt");
}

static void test_foreign_postgres(void **state)
{
	struct backend *b = *state;
	char url[512], cmd[2048];
	struct store_db *s;

	new_url(b, "foreign", url, sizeof(url));
	/* An empty database is not a store to read. */
	expect_refused(url, true, -STORE_EFOREIGN, "empty database");
	snprintf(cmd, sizeof(cmd), "'%s' psql '%s' t%d_foreign 'CREATE TABLE accounts (id int)'",
		 b->script, b->dir, b->seq);
	assert_int_equal(system(cmd), 0);
	expect_refused(url, false, -STORE_EFOREIGN, "1 other tables");

	s = new_store(b, "newer", url, sizeof(url));
	store_close(s);
	snprintf(cmd, sizeof(cmd), "'%s' psql '%s' t%d_newer "
		 "\"INSERT INTO schema_version (version, application) VALUES (99, 'pyspy-c')\"",
		 b->script, b->dir, b->seq);
	assert_int_equal(system(cmd), 0);
	expect_refused(url, true, -STORE_EVERSION, "schema version 99");

	snprintf(url, sizeof(url), "%s/no_such_database", b->base);
	expect_refused(url, true, -STORE_ENOENT, "cannot connect");
}

/* ------------------------------------------------------------------ */

static int setup_sqlite(void **state)
{
	snprintf(sqlite_be.dir, sizeof(sqlite_be.dir), "/tmp/pyspy-store-XXXXXX");
	if (!mkdtemp(sqlite_be.dir))
		return -1;
	*state = &sqlite_be;
	return 0;
}

static int teardown_sqlite(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sqlite_be.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tests/unit/pg-server, next to this binary's sources. */
static int find_script(char *out, size_t cap)
{
	char exe[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *cands[] = { "%s/pg-server", "%s/../tests/unit/pg-server" };

	if (n > 0) {
		exe[n] = '\0';
		for (size_t i = 0; i < 2; i++) {
			char tmp[1024];
			snprintf(tmp, sizeof(tmp), "%s", exe);
			snprintf(out, cap, cands[i], dirname(tmp));
			if (access(out, X_OK) == 0)
				return 0;
		}
	}
	snprintf(out, cap, "tests/unit/pg-server");
	return access(out, X_OK);
}

static int setup_pg(void **state)
{
	char cmd[2048];
	FILE *p;
	size_t len;

	pg_be.pg = true;
	if (find_script(pg_be.script, sizeof(pg_be.script))) {
		fprintf(stderr, "store postgres: tests/unit/pg-server not found\n");
		return -1;
	}
	snprintf(pg_be.dir, sizeof(pg_be.dir), "/tmp/pyspy-pg-XXXXXX");
	if (!mkdtemp(pg_be.dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "'%s' start '%s'", pg_be.script, pg_be.dir);
	p = popen(cmd, "r");
	if (!p || !fgets(pg_be.base, sizeof(pg_be.base), p) || pclose(p) != 0) {
		fprintf(stderr, "store postgres: the PostgreSQL server could not be started "
			"(tests/unit/pg-server start, see the message above)\n");
		return -1;
	}
	len = strlen(pg_be.base);
	while (len && pg_be.base[len - 1] == '\n')
		pg_be.base[--len] = '\0';
	/* The URL without its database, to name each test's own. */
	*strrchr(pg_be.base, '/') = '\0';
	*state = &pg_be;
	return 0;
}

static int teardown_pg(void **state)
{
	char cmd[2048];

	(void)state;
	snprintf(cmd, sizeof(cmd), "'%s' stop '%s'", pg_be.script, pg_be.dir);
	return system(cmd) == 0 ? 0 : -1;
}

int unit_store_sqlite(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_query),
		cmocka_unit_test(test_rollup),
		cmocka_unit_test(test_timeline),
		cmocka_unit_test(test_series_extent),
		cmocka_unit_test(test_service_sums),
		cmocka_unit_test(test_migrate_v2),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_cursor_atomic),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_foreign_sqlite),
	};
	return cmocka_run_group_tests_name("store_sqlite", tests, setup_sqlite, teardown_sqlite);
}

int unit_store_postgres(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_query),
		cmocka_unit_test(test_rollup),
		cmocka_unit_test(test_timeline),
		cmocka_unit_test(test_series_extent),
		cmocka_unit_test(test_service_sums),
		cmocka_unit_test(test_migrate_v2),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_cursor_atomic),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_foreign_postgres),
	};
	return cmocka_run_group_tests_name("store_postgres", tests, setup_pg, teardown_pg);
}
