/*
 * sqlite.c - the store on SQLite, the embedded default.  The only file
 * that includes <sqlite3.h>.
 *
 * WAL journal (readers such as the web app never block the writer),
 * synchronous=FULL: the WAL is synced at every commit, so a commit that
 * returned survives a power loss as well as a crash (NORMAL would keep
 * the file intact but may lose the last commits, and with them windows
 * whose agent has forgotten them by then).  A commit happens once per
 * poll round, so the one fsync it costs is cheap.
 *
 * A pyspy-c store carries PRAGMA application_id "pySC" and its schema
 * version in PRAGMA user_version; any other file is refused before it is
 * written to.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STMT_CACHE 32

struct sq {
	sqlite3 *db;
	struct {
		const char *sql;     /* the caller's static text, by address */
		sqlite3_stmt *st;
	} cache[STMT_CACHE];
	size_t next;             /* round-robin eviction */
};

static int map_error(int code)
{
	switch (code & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -STORE_EBUSY;
	case SQLITE_FULL:
		return -STORE_EFULL;
	case SQLITE_IOERR:
		return -STORE_EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -STORE_ECORRUPT;
	case SQLITE_NOMEM:
		return -STORE_ENOMEM;
	case SQLITE_CANTOPEN:
		return -STORE_ENOENT;
	}
	return -STORE_EDB;
}

static int fail(struct store_db *s, int code, const char *what)
{
	struct sq *q = s->be_data;
	int err = map_error(code);
	const char *msg = q && q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(code);

	if (err == -STORE_EFULL)
		return store_fail(s, err, "cannot %s '%s': disk full (%s); nothing of this batch "
				  "was stored", what, s->url, msg);
	if (err == -STORE_ECORRUPT)
		return store_fail(s, err, "cannot %s '%s': the file is corrupt or not a "
				  "pyspy-c store (%s)", what, s->url, msg);
	return store_fail(s, err, "cannot %s '%s': %s", what, s->url, msg);
}

static int simple(struct store_db *s, const char *sql, const char *what)
{
	struct sq *q = s->be_data;
	int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

static int pragma_int(struct store_db *s, const char *sql, int64_t *out)
{
	struct sq *q = s->be_data;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK || rc == SQLITE_DONE ? 0 : fail(s, rc, "read");
}

/* What the file holds: -1 not SQLite, 0 empty (new), 1 SQLite. */
static int sniff(const char *path, int *fd_errno)
{
	char head[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*fd_errno = 0;
	if (fd < 0) {
		*fd_errno = errno;
		return -2;
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(head) || memcmp(head, "SQLite format 3", 16) != 0)
		return -1;
	return 1;
}

static int sq_open(struct store_db *s, const char *path, const struct store_options *o)
{
	struct sq *q;
	int flags = SQLITE_OPEN_NOMUTEX, rc, kind, e;
	int64_t app = 0, ver = 0, tables = 0;

	kind = sniff(path, &e);
	if (kind == -2 && (e != ENOENT || !o->create))
		return store_fail(s, e == ENOENT ? -STORE_ENOENT : -STORE_EIO,
				  "cannot open '%s': %s", s->url, strerror(e));
	if (kind == -1)
		return store_fail(s, -STORE_EFOREIGN, "cannot open '%s': not a pyspy-c store "
				  "(not an SQLite database)", s->url);
	if (kind <= 0 && o->read_only)
		return store_fail(s, -STORE_EFOREIGN, "cannot open '%s': not a pyspy-c store "
				  "(empty file)", s->url);
	q = calloc(1, sizeof(*q));
	if (!q)
		return store_fail(s, -STORE_ENOMEM, "cannot open '%s': out of memory", s->url);
	s->be_data = q;
	flags |= o->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &q->db, flags, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "open");
	sqlite3_busy_timeout(q->db, 5000);
	sqlite3_extended_result_codes(q->db, 1);
	if ((rc = pragma_int(s, "PRAGMA application_id", &app)) ||
	    (rc = pragma_int(s, "PRAGMA user_version", &ver)) ||
	    (rc = pragma_int(s, "SELECT COUNT(*) FROM sqlite_master", &tables)))
		return rc;
	if (app != STORE_APPLICATION_ID && !(app == 0 && ver == 0 && tables == 0))
		return store_fail(s, -STORE_EFOREIGN, "cannot open '%s': not a pyspy-c store "
				  "(SQLite application_id 0x%08llx, %lld tables)", s->url,
				  (unsigned long long)(uint32_t)app, (long long)tables);
	if (app == 0 && o->read_only)
		return store_fail(s, -STORE_EFOREIGN, "cannot open '%s': not a pyspy-c store "
				  "(an empty SQLite database)", s->url);
	if (ver > (int64_t)store_nmigrations || ver < 0)
		return store_fail(s, -STORE_EVERSION, "cannot open '%s': schema version %lld is "
				  "newer than this pyspy-c knows (%zu)", s->url, (long long)ver,
				  store_nmigrations);
	if (o->read_only && ver < (int64_t)store_nmigrations)
		return store_fail(s, -STORE_EVERSION, "cannot open '%s': schema version %lld is "
				  "older than this pyspy-c's (%zu): open it once with the collector "
				  "to migrate it", s->url, (long long)ver, store_nmigrations);
	if (o->read_only)
		return 0;
	if (tables == 0 && (rc = simple(s, "PRAGMA auto_vacuum = INCREMENTAL", "set up")))
		return rc;
	if ((rc = simple(s, "PRAGMA journal_mode = WAL", "set up")) ||
	    (rc = simple(s, "PRAGMA synchronous = FULL", "set up")))
		return rc;
	if (o->max_bytes > 0) {
		int64_t page = 4096;
		char sql[64];
		if ((rc = pragma_int(s, "PRAGMA page_size", &page)))
			return rc;
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
			 (long long)(o->max_bytes / (page > 0 ? page : 4096)));
		if ((rc = simple(s, sql, "set up")))
			return rc;
	}
	return 0;
}

static int sq_version_get(struct store_db *s, int64_t *version)
{
	return pragma_int(s, "PRAGMA user_version", version);
}

static int sq_version_set(struct store_db *s, int64_t version)
{
	char sql[96];

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld; PRAGMA application_id = %d",
		 (long long)version, STORE_APPLICATION_ID);
	return simple(s, sql, "migrate");
}

static int sq_script(struct store_db *s, const char *sql)
{
	return simple(s, sql, "migrate");
}

static int sq_begin(struct store_db *s)
{
	/* IMMEDIATE: take the write lock now, not at the first write. */
	return simple(s, "BEGIN IMMEDIATE", "write");
}

static int sq_begin_read(struct store_db *s)
{
	/* DEFERRED: the first read takes the snapshot, and no lock is taken. */
	return simple(s, "BEGIN", "read");
}

static int sq_commit(struct store_db *s)
{
	return simple(s, "COMMIT", "commit to");
}

static void sq_rollback(struct store_db *s)
{
	struct sq *q = s->be_data;

	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static sqlite3_stmt *prepared(struct store_db *s, const char *sql, int *rc)
{
	struct sq *q = s->be_data;
	size_t slot;

	for (size_t i = 0; i < STMT_CACHE; i++)
		if (q->cache[i].sql == sql) {
			sqlite3_reset(q->cache[i].st);
			sqlite3_clear_bindings(q->cache[i].st);
			*rc = SQLITE_OK;
			return q->cache[i].st;
		}
	slot = q->next++ % STMT_CACHE;
	sqlite3_finalize(q->cache[slot].st);
	q->cache[slot].sql = NULL;
	q->cache[slot].st = NULL;
	*rc = sqlite3_prepare_v2(q->db, sql, -1, &q->cache[slot].st, NULL);
	if (*rc != SQLITE_OK)
		return NULL;
	q->cache[slot].sql = sql;
	return q->cache[slot].st;
}

static int sq_exec(struct store_db *s, const char *sql, const struct sql_val *p, int n,
		   sql_row_fn row, void *ctx)
{
	struct sq *q = s->be_data;
	struct sql_val cols[16];
	sqlite3_stmt *st;
	int rc;

	st = prepared(s, sql, &rc);
	if (!st)
		return fail(s, rc, s->in_tx ? "write" : "read");
	for (int i = 0; i < n; i++) {
		char name[16];
		const char *at;
		int idx = i + 1;

		/* $N is usually the N-th parameter (each first used in order). */
		snprintf(name, sizeof(name), "$%d", i + 1);
		at = sqlite3_bind_parameter_name(st, idx);
		if (!at || strcmp(at, name) != 0)
			idx = sqlite3_bind_parameter_index(st, name);
		if (!idx)
			continue;
		switch (p[i].t) {
		case SQL_NULL:
			rc = sqlite3_bind_null(st, idx);
			break;
		case SQL_INT:
			rc = sqlite3_bind_int64(st, idx, p[i].i);
			break;
		case SQL_TEXT:
			rc = sqlite3_bind_text(st, idx, p[i].p, -1, SQLITE_STATIC);
			break;
		case SQL_BLOB:
			rc = sqlite3_bind_blob(st, idx, p[i].n ? p[i].p : "", (int)p[i].n,
					       SQLITE_STATIC);
			break;
		}
		if (rc != SQLITE_OK)
			goto fail;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int nc = sqlite3_column_count(st);
		int r;

		if (nc > 16)
			nc = 16;
		for (int i = 0; i < nc; i++) {
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				cols[i] = SQL_I(sqlite3_column_int64(st, i));
				break;
			case SQLITE_TEXT:
				cols[i] = (struct sql_val){ .t = SQL_TEXT,
							    .p = sqlite3_column_text(st, i) };
				cols[i].n = (size_t)sqlite3_column_bytes(st, i);
				break;
			case SQLITE_BLOB:
				cols[i] = (struct sql_val){ .t = SQL_BLOB,
							    .p = sqlite3_column_blob(st, i) };
				cols[i].n = (size_t)sqlite3_column_bytes(st, i);
				break;
			default:
				cols[i] = SQL_NONE;
			}
		}
		if (!row)
			continue;
		r = row(ctx, cols, nc);
		if (r) {
			sqlite3_reset(st);
			return r;
		}
	}
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
fail:
	rc = fail(s, rc, s->in_tx ? "write" : "read");
	sqlite3_reset(st);
	(void)q;
	return rc;
}

static void sq_close(struct store_db *s)
{
	struct sq *q = s->be_data;

	for (size_t i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(q->cache[i].st);
	sqlite3_close(q->db);
	free(q);
	s->be_data = NULL;
}

static int sq_size(struct store_db *s, uint64_t *bytes)
{
	int64_t pages = 0, size = 0;
	int rc;

	/* The WAL is not counted: it is a journal, checkpointed back. */
	if ((rc = pragma_int(s, "PRAGMA page_count", &pages)) ||
	    (rc = pragma_int(s, "PRAGMA page_size", &size)))
		return rc;
	*bytes = (uint64_t)pages * (uint64_t)size;
	return 0;
}

static const char *sq_version(void)
{
	static char v[48];

	snprintf(v, sizeof(v), "SQLite %s", sqlite3_libversion());
	return v;
}

const struct store_backend store_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.id_type = "INTEGER PRIMARY KEY",
	.blob_type = "BLOB",
	.norowid = " WITHOUT ROWID",
	.ids_sql = "SELECT value FROM json_each('[' || $1 || ']')",
	.version_get = sq_version_get,
	.version_set = sq_version_set,
	.script = sq_script,
	.begin = sq_begin,
	.begin_read = sq_begin_read,
	.exec = sq_exec,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.close = sq_close,
	.size = sq_size,
	.version = sq_version,
};
