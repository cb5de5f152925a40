/*
 * store_internal.h - shared by the files of src/store only.
 *
 *   store.c     open by URL scheme, errors, transactions, cursors
 *   schema.c    the schema (one text for both databases) and migrations
 *   write.c     put: interning (functions, frames, stacks, series), counts
 *   rollup.c    rollups as buckets close, retention
 *   prune.c     the dictionaries (stacks, frames, functions, series) pruned
 *               of what no kept bucket uses
 *   plan.c      which tier answers which part of a range (pure)
 *   read.c      query -> struct profile, timeline
 *   idmap.c     a bytes -> int64 hash map (caches, aggregation)
 *   sqlite.c    the backend on SQLite: the only file with <sqlite3.h>
 *   postgres.c  the backend on PostgreSQL: the only file with <libpq-fe.h>
 *
 * The backend is a small table of operations (struct store_backend): open
 * and close a connection, apply the migrations, transactions, and one
 * exec() that runs a statement with bind parameters and hands back rows.
 * Every statement is one text for both databases ($1, $2, ... parameters,
 * each first used in order; ON CONFLICT upserts; CAST(SUM() AS BIGINT)),
 * so the logic above is written once.
 */
#ifndef PYSPY_STORE_INTERNAL_H
#define PYSPY_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyspy/store.h"

/* Bounds on what an agent may send (a hostile agent gets a clear error). */
#define STORE_MAX_TEXT 4096      /* bytes of a name, file, label */
#define STORE_MAX_DEPTH 4096     /* frames of a stack */
#define STORE_CACHE_MAX (1u << 20) /* entries of an id cache before it is emptied */

/* "pySC": PRAGMA application_id of an SQLite store. */
#define STORE_APPLICATION_ID 0x70795343

/* A hash map from byte strings to int64 values (keys copied). */
struct idmap {
	struct idmap_slot *slots;
	size_t cap, n;
};
void idmap_init(struct idmap *m);
void idmap_release(struct idmap *m);
void idmap_clear(struct idmap *m);
bool idmap_get(const struct idmap *m, const void *key, size_t len, int64_t *val);
/* Insert or replace; -1 when out of memory. */
int idmap_put(struct idmap *m, const void *key, size_t len, int64_t val);
uint64_t store_hash(const void *p, size_t n, uint64_t seed);

/* A bind parameter or a column value. */
enum sql_type { SQL_NULL, SQL_INT, SQL_TEXT, SQL_BLOB };
struct sql_val {
	enum sql_type t;
	int64_t i;
	const void *p;           /* text (NUL-terminated) or blob */
	size_t n;                /* blob bytes */
	enum sql_type null_as;   /* SQL_NULL: the type it stands for (PostgreSQL
				    must know every parameter's type) */
};
#define SQL_I(v) ((struct sql_val){ .t = SQL_INT, .i = (int64_t)(v) })
#define SQL_T(s) ((struct sql_val){ .t = (s) ? SQL_TEXT : SQL_NULL, .p = (s) })
#define SQL_B(b, len) ((struct sql_val){ .t = SQL_BLOB, .p = (b), .n = (len) })
#define SQL_NONE ((struct sql_val){ .t = SQL_NULL })
#define SQL_NULL_AS(type) ((struct sql_val){ .t = SQL_NULL, .null_as = (type) })

/* Called once per result row; non-zero stops (and is returned by exec). */
typedef int (*sql_row_fn)(void *ctx, const struct sql_val *cols, int ncols);

/*
 * One schema migration: the text with {id}, {blob}, {norowid} filled per
 * backend, then 'fill' (NULL: none), in the same transaction, for what
 * SQL alone cannot do (hashes of new rows).
 */
struct store_migration {
	const char *what;
	const char *sql;
	int (*fill)(struct store_db *s);
};
extern const struct store_migration store_migrations[];
extern const size_t store_nmigrations;
/*
 * The migration's text for a backend: {id} an integer primary key that
 * numbers itself, {blob} a byte string, {norowid} after tables keyed by
 * their primary key.  Returns a malloc'ed string or NULL.
 */
char *store_schema_text(const char *sql, const char *id, const char *blob, const char *norowid);
/* Bring the schema to the newest migration, each step in its own transaction. */
int store_migrate(struct store_db *s);

struct store_backend {
	const char *name;
	/* open 'target' (a path, a conninfo URL); s->be_data set. */
	int (*open)(struct store_db *s, const char *target, const struct store_options *o);
	/* The schema's dialect: {id}, {blob}, {norowid} of store_schema_text. */
	const char *id_type, *blob_type, *norowid;
	/* A subquery of the ids in $1, a text "1,2,3" (one statement for many). */
	const char *ids_sql;
	/*
	 * Migrations (store_migrate): inside a transaction, lock out other
	 * migrating processes and read the schema version; record a new one;
	 * run a script of several statements without parameters.
	 */
	int (*version_get)(struct store_db *s, int64_t *version);
	int (*version_set)(struct store_db *s, int64_t version);
	int (*script)(struct store_db *s, const char *sql);
	int (*begin)(struct store_db *s);
	/* A read-only transaction that sees one snapshot (ended by rollback). */
	int (*begin_read)(struct store_db *s);
	int (*exec)(struct store_db *s, const char *sql, const struct sql_val *params, int n,
		    sql_row_fn row, void *ctx);
	int (*commit)(struct store_db *s);
	void (*rollback)(struct store_db *s);
	void (*close)(struct store_db *s);
	/* Bytes on disk. */
	int (*size)(struct store_db *s, uint64_t *bytes);
	/* The library's version, for --version. */
	const char *(*version)(void);
};
#ifdef PYSPY_HAVE_SQLITE
extern const struct store_backend store_sqlite;
#endif
#ifdef PYSPY_HAVE_PQ
extern const struct store_backend store_postgres;
#endif

struct store_db {
	const struct store_backend *be;
	void *be_data;
	char *url;                /* for messages */
	char err[1024];
	int64_t retention[STORE_NTIERS];
	bool in_tx, read_only;
	/* Write path, valid inside a transaction. */
	struct store_tier_state tiers[STORE_NTIERS];
	int64_t newest;           /* newest bucket end put (tier 0's rolled_until) */
	uint64_t tx_rows;         /* rows put in this transaction (store_tx_rows) */
	/* Caches of ids (kept across transactions, emptied on rollback and
	 * when another writer pruned the dictionaries: dict_epoch). */
	struct idmap funcs, frames, stacks, series;
	/* (kind, id) -> the last_used this writer stamped (write.c touch()). */
	struct idmap used;
	int64_t dict_epoch;
	/* Statements composed once per store (the backend caches them by address). */
	char *sql_frames, *sql_stacks, *sql_prune_frames;
	char *sql_counts[2], *sql_service[2], *sql_totals[2]; /* [0] one row, [1] many */
};

/* Set s->err ("cannot WHAT 'url': ...") and return err. */
int store_fail(struct store_db *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Run one statement (s->be->exec). */
int store_exec(struct store_db *s, const char *sql, const struct sql_val *p, int n,
	       sql_row_fn row, void *ctx);
/* Read the tiers table into s->tiers (and s->newest). */
int store_load_tiers(struct store_db *s);
/* Roll up closed buckets, inside the caller's transaction. */
int store_rollup_tx(struct store_db *s);
/*
 * Inside store_expire's transaction, s->tiers[].kept_from as expired:
 * delete the stacks and series no kept bucket uses, then the frames and
 * functions no stack uses (at most once per PRUNE_EVERY of retention).
 * *deleted += rows removed.
 */
int store_prune_tx(struct store_db *s, uint64_t *deleted);
/* Read dictionary.epoch: when another writer pruned, forget cached ids. */
int store_check_epoch(struct store_db *s);
/* A stamp of last_used: the end of the day of 'sec'. */
#define STORE_DAY 86400
/*
 * The id of the aggregate series of 'service' (pid -1, every other label
 * empty: the key of its service_counts rows), interned like a process's.
 */
int store_service_series(struct store_db *s, const char *service, int64_t *id);
/*
 * Run "HEAD (the backend's subquery of ids)" over ids[0 .. n-1], 2000 at a
 * time (read.c).  *sql caches the statement's text: it must live as long
 * as the store (the backends cache prepared statements by its address).
 */
int store_by_ids(struct store_db *s, char **sql, const char *head, const int64_t *ids, size_t n,
		 sql_row_fn row, void *ctx);
/* Forget every cached id (after a rollback: they may be gone). */
void store_caches_clear(struct store_db *s);

/* Packed uvarint frame ids of a stack. */
size_t store_pack_ids(const int64_t *ids, size_t n, uint8_t *buf, size_t cap);
/* -1 on a malformed blob, else the count (at most cap). */
long store_unpack_ids(const uint8_t *buf, size_t len, int64_t *ids, size_t cap);

#endif
