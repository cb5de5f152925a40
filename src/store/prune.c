/*
 * prune.c - the dictionaries pruned of what no kept bucket uses.
 *
 * Retention (rollup.c) deletes counts, service_counts and totals; the
 * stacks, frames, functions and series they referred to would otherwise
 * stay for ever, and a store kept a year of a fleet whose code changes
 * would grow without bound.  Stacks and series carry last_used, the end
 * of the last day a count used them (write.c stamps it, at most once a
 * day per writer).  Once every tier has expired what lies before P (the
 * smallest kept_from), a stack or series whose last_used is at or before
 * P is used by no row any more: it goes, then the frames no remaining
 * stack lists, then the functions no remaining frame names.
 *
 * Rows a late window wrote below a tier's kept_from after its last
 * expiry are deleted first (below P), so that what is pruned is really
 * unused.  Writers take turns with the pruning one (SQLite's write lock;
 * in PostgreSQL the tiers rows each transaction locks first), and
 * dictionary.epoch, raised by each prune, tells every writer to forget
 * the ids it cached.  Readers query inside one snapshot (read.c), so a
 * flame graph read while a prune commits sees every stack it counts.
 *
 * The cost is a scan of the dictionaries, not of the counts: run at most
 * once per PRUNE_EVERY of retention.  The price of stamping by the day:
 * when no agent sends any more, retention stops at the end of the data
 * (rollup.c), so the dictionary rows of the data's last day stay, without
 * counts, until data flows again.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_EVERY STORE_DAY

struct dict_row {
	int64_t epoch, pruned_until;
	bool found;
};

static int dict_row(void *ctx, const struct sql_val *c, int n)
{
	struct dict_row *d = ctx;

	if (n != 2 || c[0].t != SQL_INT || c[1].t != SQL_INT)
		return -STORE_ECORRUPT;
	d->epoch = c[0].i;
	d->pruned_until = c[1].i;
	d->found = true;
	return 0;
}

static int read_dict(struct store_db *s, struct dict_row *d)
{
	static const char sql[] = "SELECT epoch, pruned_until FROM dictionary";
	int rc;

	memset(d, 0, sizeof(*d));
	rc = store_exec(s, sql, NULL, 0, dict_row, d);
	if (rc == -STORE_ECORRUPT || (rc == 0 && !d->found))
		return store_fail(s, -STORE_ECORRUPT,
				  "cannot read '%s': its dictionary table is not pyspy-c's", s->url);
	return rc;
}

int store_check_epoch(struct store_db *s)
{
	struct dict_row d;
	int rc = read_dict(s, &d);

	if (rc == 0 && d.epoch != s->dict_epoch) {
		store_caches_clear(s);
		s->dict_epoch = d.epoch;
	}
	return rc;
}

static int count_row(void *ctx, const struct sql_val *c, int n)
{
	(void)c;
	(void)n;
	++*(uint64_t *)ctx;
	return 0;
}

/* Ids in a set (an idmap of 8-byte keys). */
struct id_set {
	struct idmap m;
	int64_t *buf;             /* unpacked frame ids of one stack */
};

static int stack_frames_row(void *ctx, const struct sql_val *c, int n)
{
	struct id_set *x = ctx;
	long k;

	if (n != 1 || c[0].t != SQL_BLOB)
		return -STORE_ECORRUPT;
	k = store_unpack_ids(c[0].p, c[0].n, x->buf, STORE_MAX_DEPTH);
	if (k < 0)
		return -STORE_ECORRUPT;
	for (long i = 0; i < k; i++)
		if (idmap_put(&x->m, &x->buf[i], 8, 1))
			return -STORE_ENOMEM;
	return 0;
}

/* Frame ids not in the set. */
struct unused {
	const struct id_set *used;
	int64_t *ids;
	size_t n, cap;
};

static int frame_id_row(void *ctx, const struct sql_val *c, int n)
{
	struct unused *u = ctx;
	int64_t one;

	if (n != 1 || c[0].t != SQL_INT)
		return -STORE_ECORRUPT;
	if (idmap_get(&u->used->m, &c[0].i, 8, &one))
		return 0;
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256;
		int64_t *v = realloc(u->ids, cap * sizeof(*v));
		if (!v)
			return -STORE_ENOMEM;
		u->ids = v;
		u->cap = cap;
	}
	u->ids[u->n++] = c[0].i;
	return 0;
}

/* Delete the frames no stack lists. */
static int prune_frames(struct store_db *s, uint64_t *n)
{
	struct id_set used = { .buf = malloc(STORE_MAX_DEPTH * sizeof(int64_t)) };
	struct unused u = { .used = &used };
	int rc;

	idmap_init(&used.m);
	if (!used.buf) {
		rc = -STORE_ENOMEM;
		goto out;
	}
	if ((rc = store_exec(s, "SELECT frames FROM stacks", NULL, 0, stack_frames_row, &used)) ||
	    (rc = store_exec(s, "SELECT id FROM frames", NULL, 0, frame_id_row, &u)))
		goto out;
	rc = store_by_ids(s, &s->sql_prune_frames, "DELETE FROM frames WHERE id IN (", u.ids, u.n,
			  NULL, NULL);
	if (rc == 0)
		*n += u.n;   /* read in this transaction: each of them was there */
out:
	if (rc == -STORE_ENOMEM)
		rc = store_fail(s, rc, "cannot prune '%s': out of memory", s->url);
	else if (rc == -STORE_ECORRUPT && !s->err[0])
		rc = store_fail(s, rc, "cannot prune '%s': a stack is malformed", s->url);
	free(u.ids);
	free(used.buf);
	idmap_release(&used.m);
	return rc;
}

int store_prune_tx(struct store_db *s, uint64_t *deleted)
{
	static const char *const below[] = {
		"DELETE FROM counts WHERE tier = $1 AND bucket < $2 RETURNING tier",
		"DELETE FROM service_counts WHERE tier = $1 AND bucket < $2 RETURNING tier",
		"DELETE FROM totals WHERE tier = $1 AND bucket < $2 RETURNING tier",
	};
	static const char *const unused[] = {
		"DELETE FROM stacks WHERE last_used <= $1 RETURNING id",
		"DELETE FROM series WHERE last_used <= $1 RETURNING id",
	};
	/* NOT EXISTS: an anti-join on frames' (func, line) index in both databases
	 * (PostgreSQL's NOT IN over a subquery larger than work_mem is quadratic). */
	static const char funcs[] =
		"DELETE FROM funcs WHERE NOT EXISTS (SELECT 1 FROM frames r WHERE r.func = funcs.id)"
		" RETURNING id";
	static const char mark[] = "UPDATE dictionary SET epoch = $1, pruned_until = $2";
	struct dict_row d;
	int64_t p = INT64_MAX;
	uint64_t n = 0;
	int rc;

	for (int t = 0; t < STORE_NTIERS; t++)
		if (s->tiers[t].kept_from < p)
			p = s->tiers[t].kept_from;
	if ((rc = read_dict(s, &d)))
		return rc;
	if (p <= 0 || p < d.pruned_until + PRUNE_EVERY)
		return 0;
	s->err[0] = '\0';
	for (int t = 0; t < STORE_NTIERS; t++)
		for (size_t k = 0; k < sizeof(below) / sizeof(below[0]); k++)
			if ((rc = store_exec(s, below[k], (struct sql_val[]){ SQL_I(t), SQL_I(p) }, 2,
					     count_row, &n)))
				return rc;
	for (size_t k = 0; k < sizeof(unused) / sizeof(unused[0]); k++)
		if ((rc = store_exec(s, unused[k], (struct sql_val[]){ SQL_I(p) }, 1, count_row, &n)))
			return rc;
	if ((rc = prune_frames(s, &n)) ||
	    (rc = store_exec(s, funcs, NULL, 0, count_row, &n)) ||
	    (rc = store_exec(s, mark, (struct sql_val[]){ SQL_I(d.epoch + 1), SQL_I(p) }, 2,
			     NULL, NULL)))
		return rc;
	/* This writer's own cached ids may be among those gone. */
	store_caches_clear(s);
	s->dict_epoch = d.epoch + 1;
	*deleted += n;
	return 0;
}
