/*
 * store.c - opening a store by its URL, errors, transactions and agent
 * cursors.  The backend is chosen by the URL's scheme from the table
 * below; everything else in src/store talks to it through
 * struct store_backend.
 */
#include "pyspy/store.h"
#include "store_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const int64_t store_tier_width[STORE_NTIERS] = { 60, 600, 3600 };
const int64_t store_default_retention[STORE_NTIERS] = {
	2 * 86400, 14 * 86400, 365 * 86400,
};

static const char *const error_text[] = {
#define STORE_TEXT_(name, text) text,
	STORE_ERRORS(STORE_TEXT_)
#undef STORE_TEXT_
};

const char *store_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	if ((size_t)err > sizeof(error_text) / sizeof(error_text[0]))
		return "unknown error";
	return error_text[err - 1];
}

bool store_error_retryable(int err)
{
	if (err < 0)
		err = -err;
	return err == STORE_EBUSY || err == STORE_EFULL || err == STORE_EIO;
}

#ifdef PYSPY_HAVE_SQLITE
#define SQLITE_BACKEND (&store_sqlite)
#else
#define SQLITE_BACKEND NULL
#endif
#ifdef PYSPY_HAVE_PQ
#define PG_BACKEND (&store_postgres)
#else
#define PG_BACKEND NULL
#endif

/* URL schemes: the backend (NULL: not built), and how much of the URL it is given. */
static const struct {
	const char *prefix;
	bool strip;              /* give the backend what follows the prefix */
	const struct store_backend *be;
	const char *lib;         /* what to build with when absent */
} schemes[] = {
	{ "sqlite:", true, SQLITE_BACKEND, "libsqlite3-dev" },
	{ "postgresql://", false, PG_BACKEND, "libpq-dev" },
	{ "postgres://", false, PG_BACKEND, "libpq-dev" },
};
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

void store_print_backends(FILE *out)
{
	fprintf(out, "store:");
#ifdef PYSPY_HAVE_SQLITE
	fprintf(out, " sqlite (%s)", store_sqlite.version());
#endif
#ifdef PYSPY_HAVE_PQ
	fprintf(out, " postgresql (libpq %s)", store_postgres.version());
#endif
#if !defined(PYSPY_HAVE_SQLITE) && !defined(PYSPY_HAVE_PQ)
	fprintf(out, " none (built without libsqlite3 and libpq: no query)");
#endif
	fputc('\n', out);
}

int store_fail(struct store_db *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return err;
}

const char *store_errmsg(const struct store_db *s)
{
	return s->err;
}

const char *store_backend_name(const struct store_db *s)
{
	return s->be->name;
}

/* The URL for messages: a password in it ("user:pw@host") shown as "***". */
static char *redacted(const char *url)
{
	const char *scheme = strstr(url, "://"), *at, *colon;
	char *out;

	if (!scheme || !(at = strchr(scheme + 3, '@')) ||
	    !(colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3))))
		return strdup(url);
	out = malloc(strlen(url) + 4);
	if (out)
		sprintf(out, "%.*s:***%s", (int)(colon - url), url, at);
	return out;
}

struct store_db *store_open(const char *url, const struct store_options *o, int *err,
			    char *errbuf, size_t errcap)
{
	static const struct store_options defaults;
	const struct store_backend *be = NULL;
	const char *target = url;
	struct store_db *s = NULL;
	int rc;

	if (!o)
		o = &defaults;
	*err = 0;
	if (!url || !*url) {
		*err = -STORE_EUSAGE;
		snprintf(errbuf, errcap, "no store given");
		return NULL;
	}
	for (size_t i = 0; i < NSCHEMES; i++) {
		if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) != 0)
			continue;
		if (!schemes[i].be) {
			*err = -STORE_EBACKEND;
			snprintf(errbuf, errcap, "cannot open '%s': this pyspy-c was built without "
				 "%s (install %s and rebuild)", url, schemes[i].prefix, schemes[i].lib);
			return NULL;
		}
		be = schemes[i].be;
		if (schemes[i].strip)
			target = url + strlen(schemes[i].prefix);
		break;
	}
	if (!be) {
		if (strstr(url, "://")) {
			*err = -STORE_EUSAGE;
			snprintf(errbuf, errcap, "cannot open '%s': unknown scheme (a path, "
				 "sqlite:PATH or postgresql://...)", url);
			return NULL;
		}
		be = SQLITE_BACKEND;
		if (!be) {
			*err = -STORE_EBACKEND;
			snprintf(errbuf, errcap, "cannot open '%s': this pyspy-c was built without "
				 "SQLite (install libsqlite3-dev and rebuild)", url);
			return NULL;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->url = redacted(url))) {
		free(s);
		*err = -STORE_ENOMEM;
		snprintf(errbuf, errcap, "cannot open '%s': out of memory", url);
		return NULL;
	}
	s->be = be;
	s->read_only = o->read_only;
	for (int t = 0; t < STORE_NTIERS; t++)
		s->retention[t] = o->retention[t] > 0 ? o->retention[t] : store_default_retention[t];
	idmap_init(&s->funcs);
	idmap_init(&s->frames);
	idmap_init(&s->stacks);
	idmap_init(&s->series);
	idmap_init(&s->used);
	rc = be->open(s, target, o);
	if (rc == 0 && !o->read_only)
		rc = store_migrate(s);
	if (rc) {
		*err = rc;
		snprintf(errbuf, errcap, "%s", s->err);
		store_close(s);
		return NULL;
	}
	return s;
}

void store_close(struct store_db *s)
{
	if (!s)
		return;
	if (s->in_tx)
		store_rollback(s);
	if (s->be_data)
		s->be->close(s);
	idmap_release(&s->funcs);
	idmap_release(&s->frames);
	idmap_release(&s->stacks);
	idmap_release(&s->series);
	idmap_release(&s->used);
	free(s->sql_frames);
	free(s->sql_stacks);
	free(s->sql_prune_frames);
	for (int i = 0; i < 2; i++) {
		free(s->sql_counts[i]);
		free(s->sql_service[i]);
		free(s->sql_totals[i]);
	}
	free(s->url);
	free(s);
}

int store_exec(struct store_db *s, const char *sql, const struct sql_val *p, int n,
	       sql_row_fn row, void *ctx)
{
	return s->be->exec(s, sql, p, n, row, ctx);
}

int store_size(struct store_db *s, uint64_t *bytes)
{
	return s->be->size(s, bytes);
}

void store_caches_clear(struct store_db *s)
{
	idmap_clear(&s->funcs);
	idmap_clear(&s->frames);
	idmap_clear(&s->stacks);
	idmap_clear(&s->series);
	idmap_clear(&s->used);
}

static int tier_row(void *ctx, const struct sql_val *c, int n)
{
	struct store_db *s = ctx;
	int64_t t;

	if (n != 4 || c[0].t != SQL_INT || c[0].i < 0 || c[0].i >= STORE_NTIERS)
		return -STORE_ECORRUPT;
	t = c[0].i;
	if (c[1].i != store_tier_width[t])
		return -STORE_ECORRUPT;
	s->tiers[t].width = c[1].i;
	s->tiers[t].rolled_until = c[2].i;
	s->tiers[t].kept_from = c[3].i;
	return 0;
}

int store_load_tiers(struct store_db *s)
{
	/* PostgreSQL: FOR UPDATE makes writers take turns, so that a rollup
	 * never misses rows another writer is adding (a no-op in SQLite,
	 * whose writers take turns anyway: the clause is left out there). */
	static const char sql[] = "SELECT tier, width, rolled_until, expired_before FROM tiers"
				  " ORDER BY tier";
	static const char sql_lock[] = "SELECT tier, width, rolled_until, expired_before FROM tiers"
				       " ORDER BY tier FOR UPDATE";
	bool lock = s->in_tx && !s->read_only && strcmp(s->be->name, "postgresql") == 0;
	int rc;

	memset(s->tiers, 0, sizeof(s->tiers));
	rc = store_exec(s, lock ? sql_lock : sql, NULL, 0, tier_row, s);
	if (rc == -STORE_ECORRUPT)
		return store_fail(s, rc, "cannot read '%s': its tiers table is not pyspy-c's", s->url);
	if (rc)
		return rc;
	for (int t = 0; t < STORE_NTIERS; t++)
		if (s->tiers[t].width != store_tier_width[t])
			return store_fail(s, -STORE_ECORRUPT,
					  "cannot read '%s': tier %d is missing", s->url, t);
	s->newest = s->tiers[0].rolled_until;
	s->tiers[0].rolled_until = INT64_MAX;
	return 0;
}

int store_tiers(struct store_db *s, struct store_tier_state out[STORE_NTIERS])
{
	int rc = store_load_tiers(s);

	if (rc == 0)
		memcpy(out, s->tiers, sizeof(s->tiers));
	return rc;
}

int store_begin(struct store_db *s)
{
	int rc;

	if (s->in_tx)
		return store_fail(s, -STORE_EUSAGE, "cannot begin: a transaction is open");
	if (s->read_only)
		return store_fail(s, -STORE_EUSAGE, "cannot write '%s': opened read-only", s->url);
	rc = s->be->begin(s);
	if (rc)
		return rc;
	s->in_tx = true;
	s->tx_rows = 0;
	rc = store_load_tiers(s);
	if (rc == 0)
		rc = store_check_epoch(s);
	if (rc)
		store_rollback(s);
	return rc;
}

void store_rollback(struct store_db *s)
{
	if (!s->in_tx)
		return;
	s->be->rollback(s);
	s->in_tx = false;
	/* Ids handed out in the transaction are gone with it. */
	store_caches_clear(s);
}

uint64_t store_tx_rows(const struct store_db *s)
{
	return s->tx_rows;
}

int store_commit(struct store_db *s)
{
	static const char tier0[] = "UPDATE tiers SET rolled_until = $1 WHERE tier = 0";
	int rc;

	if (!s->in_tx)
		return store_fail(s, -STORE_EUSAGE, "cannot commit: no transaction is open");
	if ((rc = store_exec(s, tier0, (struct sql_val[]){ SQL_I(s->newest) }, 1, NULL, NULL)) ||
	    (rc = store_rollup_tx(s)) || (rc = s->be->commit(s))) {
		store_rollback(s);
		return rc;
	}
	s->in_tx = false;
	return 0;
}

struct cursor_ctx {
	bool *found;
	char *instance;
	size_t cap;
	uint64_t *last_seq;
};

static int cursor_row(void *ctx, const struct sql_val *c, int n)
{
	struct cursor_ctx *x = ctx;

	if (n != 2 || c[0].t != SQL_TEXT || c[1].t != SQL_INT || c[1].i < 0)
		return -STORE_ECORRUPT;
	*x->found = true;
	snprintf(x->instance, x->cap, "%s", (const char *)c[0].p);
	*x->last_seq = (uint64_t)c[1].i;
	return 0;
}

int store_cursor(struct store_db *s, const char *agent, bool *found, char *instance,
		 size_t cap, uint64_t *last_seq)
{
	static const char sql[] = "SELECT instance, last_seq FROM cursors WHERE agent = $1";
	struct cursor_ctx x = { found, instance, cap, last_seq };
	int rc;

	*found = false;
	if (cap)
		instance[0] = '\0';
	*last_seq = 0;
	rc = store_exec(s, sql, (struct sql_val[]){ SQL_T(agent) }, 1, cursor_row, &x);
	if (rc == -STORE_ECORRUPT)
		return store_fail(s, rc, "cannot read '%s': a cursor is malformed", s->url);
	return rc;
}
