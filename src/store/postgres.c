/*
 * postgres.c - the store on PostgreSQL, for fleets where several
 * collectors write one database and any number of web servers read it.
 * The only file that includes <libpq-fe.h>.
 *
 * Every statement goes through PQexecParams (bind parameters, typed;
 * results in binary).  Each write is one transaction; writers take turns
 * through a row lock on the tiers table (store_load_tiers), so a rollup
 * never misses rows another collector is writing.  The schema's version
 * is in the schema_version table; migrations run under an advisory lock,
 * each in its own transaction.  A database that has tables but no
 * pyspy-c schema_version is refused.
 */
#include "store_internal.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* Type oids (pg_type.h is a server header). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_NAME 19
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_VARCHAR 1043

struct pg {
	PGconn *conn;
};

static int map_state(const char *state)
{
	if (!state)
		return -STORE_EIO;     /* no SQLSTATE: the connection broke */
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0)
		return -STORE_EBUSY;
	if (strcmp(state, "53100") == 0)
		return -STORE_EFULL;
	if (strcmp(state, "53200") == 0)
		return -STORE_ENOMEM;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strcmp(state, "58030") == 0)
		return -STORE_EIO;
	if (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0)
		return -STORE_ECORRUPT;
	return -STORE_EDB;
}

static int fail_res(struct store_db *s, PGresult *res, const char *what)
{
	struct pg *q = s->be_data;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(q->conn);
	int err = map_state(state);
	char m[512];
	size_t len;

	snprintf(m, sizeof(m), "%s", msg && *msg ? msg : "unknown error");
	len = strlen(m);
	while (len && (m[len - 1] == '\n' || m[len - 1] == ' '))
		m[--len] = '\0';
	if (err == -STORE_EFULL)
		return store_fail(s, err, "cannot %s '%s': disk full (%s); nothing of this batch "
				  "was stored", what, s->url, m);
	return store_fail(s, err, "cannot %s '%s': %s", what, s->url, m);
}

static int simple(struct store_db *s, const char *sql, const char *what)
{
	struct pg *q = s->be_data;
	PGresult *res = PQexec(q->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = fail_res(s, res, what);
	/* COMMIT of a failed transaction "succeeds" as a ROLLBACK. */
	else if (strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0)
		rc = store_fail(s, -STORE_EDB, "cannot %s '%s': the transaction was rolled back",
				what, s->url);
	PQclear(res);
	return rc;
}

static int one_int(struct store_db *s, const char *sql, int64_t *out)
{
	struct pg *q = s->be_data;
	PGresult *res = PQexec(q->conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail_res(s, res, "read");
	else
		*out = PQntuples(res) && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0),
									NULL, 10) : 0;
	PQclear(res);
	return rc;
}

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int pg_open(struct store_db *s, const char *conninfo, const struct store_options *o)
{
	struct pg *q = calloc(1, sizeof(*q));
	int64_t have_version = 0, tables = 0, ver = 0;
	int rc;

	if (!q)
		return store_fail(s, -STORE_ENOMEM, "cannot open '%s': out of memory", s->url);
	s->be_data = q;
	q->conn = PQconnectdb(conninfo);
	if (!q->conn)
		return store_fail(s, -STORE_ENOMEM, "cannot connect to '%s': out of memory", s->url);
	if (PQstatus(q->conn) != CONNECTION_OK) {
		char m[512];
		size_t len;
		snprintf(m, sizeof(m), "%s", PQerrorMessage(q->conn));
		len = strlen(m);
		while (len && (m[len - 1] == '\n' || m[len - 1] == ' '))
			m[--len] = '\0';
		return store_fail(s, -STORE_ENOENT, "cannot connect to '%s': %s", s->url, m);
	}
	PQsetNoticeProcessor(q->conn, quiet, NULL);
	if ((rc = one_int(s, "SELECT COUNT(*) FROM information_schema.tables"
			  " WHERE table_schema = current_schema() AND table_name = 'schema_version'",
			  &have_version)) ||
	    (rc = one_int(s, "SELECT COUNT(*) FROM information_schema.tables"
			  " WHERE table_schema = current_schema()", &tables)))
		return rc;
	if (!have_version && tables)
		return store_fail(s, -STORE_EFOREIGN, "cannot open '%s': not a pyspy-c store "
				  "(%lld other tables, no pyspy-c schema_version)", s->url,
				  (long long)tables);
	if (!have_version && o->read_only)
		return store_fail(s, -STORE_EFOREIGN, "cannot open '%s': not a pyspy-c store "
				  "(an empty database)", s->url);
	if (have_version) {
		int64_t foreign = 0;
		if ((rc = one_int(s, "SELECT COUNT(*) FROM schema_version"
				  " WHERE application <> 'pyspy-c'", &foreign)))
			return rc == -STORE_EDB ? store_fail(s, -STORE_EFOREIGN, "cannot open '%s': "
					"not a pyspy-c store (a foreign schema_version table)",
					s->url) : rc;
		if (foreign)
			return store_fail(s, -STORE_EFOREIGN, "cannot open '%s': not a pyspy-c "
					  "store (schema_version of another application)", s->url);
		if ((rc = one_int(s, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &ver)))
			return rc;
		if (ver > (int64_t)store_nmigrations)
			return store_fail(s, -STORE_EVERSION, "cannot open '%s': schema version "
					  "%lld is newer than this pyspy-c knows (%zu)", s->url,
					  (long long)ver, store_nmigrations);
		if (o->read_only && ver < (int64_t)store_nmigrations)
			return store_fail(s, -STORE_EVERSION, "cannot open '%s': schema version "
					  "%lld is older than this pyspy-c's (%zu)", s->url,
					  (long long)ver, store_nmigrations);
	}
	return 0;
}

static int pg_version_get(struct store_db *s, int64_t *version)
{
	int rc;

	/* Collectors starting together migrate one after the other. */
	if ((rc = simple(s, "SELECT pg_advisory_xact_lock(1887007555)", "migrate")) ||
	    (rc = simple(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL,"
			 " application TEXT NOT NULL, applied TIMESTAMPTZ NOT NULL DEFAULT now())",
			 "migrate")))
		return rc;
	return one_int(s, "SELECT COALESCE(MAX(version), 0) FROM schema_version", version);
}

static int pg_version_set(struct store_db *s, int64_t version)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "INSERT INTO schema_version (version, application)"
		 " VALUES (%lld, 'pyspy-c')", (long long)version);
	return simple(s, sql, "migrate");
}

static int pg_script(struct store_db *s, const char *sql)
{
	return simple(s, sql, "migrate");
}

static int pg_begin(struct store_db *s)
{
	return simple(s, "BEGIN", "write");
}

static int pg_begin_read(struct store_db *s)
{
	/* One snapshot for every statement of the transaction. */
	return simple(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "read");
}

static int pg_commit(struct store_db *s)
{
	return simple(s, "COMMIT", "commit to");
}

static void pg_rollback(struct store_db *s)
{
	struct pg *q = s->be_data;

	if (PQtransactionStatus(q->conn) != PQTRANS_IDLE)
		PQclear(PQexec(q->conn, "ROLLBACK"));
}

static uint64_t be_uint(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int pg_exec(struct store_db *s, const char *sql, const struct sql_val *p, int n,
		   sql_row_fn row, void *ctx)
{
	struct pg *q = s->be_data;
	Oid *types = NULL;
	const char **values = NULL;
	int *lengths = NULL, *formats = NULL;
	char (*ints)[24] = NULL;
	struct sql_val cols[16];
	PGresult *res = NULL;
	ExecStatusType st;
	int rc = 0;

	if (n > 0) {
		types = calloc((size_t)n, sizeof(*types));
		values = calloc((size_t)n, sizeof(*values));
		lengths = calloc((size_t)n, sizeof(*lengths));
		formats = calloc((size_t)n, sizeof(*formats));
		ints = calloc((size_t)n, sizeof(*ints));
		if (!types || !values || !lengths || !formats || !ints) {
			rc = store_fail(s, -STORE_ENOMEM, "cannot write '%s': out of memory", s->url);
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		types[i] = 0;
		values[i] = NULL;
		lengths[i] = 0;
		formats[i] = 0;
		switch (p[i].t) {
		case SQL_NULL:
			types[i] = p[i].null_as == SQL_INT ? OID_INT8 :
				   p[i].null_as == SQL_TEXT ? OID_TEXT : 0;
			break;
		case SQL_INT:
			types[i] = OID_INT8;
			snprintf(ints[i], sizeof(ints[i]), "%lld", (long long)p[i].i);
			values[i] = ints[i];
			break;
		case SQL_TEXT:
			types[i] = OID_TEXT;
			values[i] = p[i].p;
			break;
		case SQL_BLOB:
			types[i] = OID_BYTEA;
			values[i] = p[i].p ? p[i].p : "";
			lengths[i] = (int)p[i].n;
			formats[i] = 1;
			break;
		}
	}
	res = PQexecParams(q->conn, sql, n, types, values, lengths, formats, 1);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = fail_res(s, res, s->in_tx ? "write" : "read");
		goto out;
	}
	if (st == PGRES_TUPLES_OK && row) {
		int nc = PQnfields(res) < 16 ? PQnfields(res) : 16;
		for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
			for (int i = 0; i < nc; i++) {
				const unsigned char *v = (const unsigned char *)PQgetvalue(res, r, i);
				int len = PQgetlength(res, r, i);
				Oid t = PQftype(res, i);

				if (PQgetisnull(res, r, i)) {
					cols[i] = SQL_NONE;
				} else if (t == OID_INT8 && len == 8) {
					cols[i] = SQL_I((int64_t)be_uint(v, 8));
				} else if (t == OID_INT4 && len == 4) {
					cols[i] = SQL_I((int32_t)(uint32_t)be_uint(v, 4));
				} else if (t == OID_INT2 && len == 2) {
					cols[i] = SQL_I((int16_t)(uint16_t)be_uint(v, 2));
				} else if (t == OID_BOOL && len == 1) {
					cols[i] = SQL_I(v[0] != 0);
				} else if (t == OID_TEXT || t == OID_VARCHAR || t == OID_NAME) {
					/* libpq NUL-terminates every value, binary too. */
					cols[i] = (struct sql_val){ .t = SQL_TEXT, .p = v,
								    .n = (size_t)len };
				} else if (t == OID_BYTEA) {
					cols[i] = SQL_B(v, (size_t)len);
				} else {
					rc = store_fail(s, -STORE_EDB, "cannot read '%s': column of "
							"unexpected type %u", s->url, (unsigned)t);
					goto out;
				}
			}
			rc = row(ctx, cols, nc);
		}
	}
out:
	PQclear(res);
	free(types);
	free(values);
	free(lengths);
	free(formats);
	free(ints);
	return rc;
}

static void pg_close(struct store_db *s)
{
	struct pg *q = s->be_data;

	if (q->conn)
		PQfinish(q->conn);
	free(q);
	s->be_data = NULL;
}

static int pg_size(struct store_db *s, uint64_t *bytes)
{
	int64_t n = 0;
	int rc = one_int(s, "SELECT pg_database_size(current_database())", &n);

	*bytes = (uint64_t)n;
	return rc;
}

static const char *pg_version(void)
{
	static char v[32];
	int n = PQlibVersion();

	snprintf(v, sizeof(v), "%d.%d", n / 10000, n % 10000);
	return v;
}

const struct store_backend store_postgres = {
	.name = "postgresql",
	.open = pg_open,
	.id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
	.blob_type = "BYTEA",
	.norowid = "",
	.ids_sql = "SELECT unnest(CAST(string_to_array($1, ',') AS BIGINT[]))",
	.version_get = pg_version_get,
	.version_set = pg_version_set,
	.script = pg_script,
	.begin = pg_begin,
	.begin_read = pg_begin_read,
	.exec = pg_exec,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.close = pg_close,
	.size = pg_size,
	.version = pg_version,
};
