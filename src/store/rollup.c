/*
 * rollup.c - coarser tiers and retention.
 *
 * Every commit rolls up the 10-minute and 1-hour buckets that closed:
 * those that end at or before the end of the newest minute stored.  Each
 * is the sum of the 1-minute buckets it spans (counts, service_counts and
 * totals alike), written once; a window that arrives after its bucket
 * was rolled up is added to the coarse tier directly by store_put.  tiers.rolled_until records how far each
 * tier is complete, tiers.expired_before what retention deleted.
 *
 * Retention cuts at whole hours (the coarsest width), so the edge of
 * every tier is a bucket edge of every other one and a query that
 * crosses it never counts a bucket twice (plan.c).  1-minute data is
 * only deleted once the coarser tiers hold it.  The dictionaries the
 * deleted rows used are pruned in the same transaction (prune.c).
 */
#include "store_internal.h"

#include <string.h>

static int64_t floor_to(int64_t t, int64_t w)
{
	int64_t r = t % w;
	return r < 0 ? t - r - w : t - r;
}

int store_rollup_tx(struct store_db *s)
{
#define ROLLUP_COUNTS(table) \
		"INSERT INTO " table " (tier, bucket, series, stack, count)" \
		" SELECT $1, bucket - (bucket % $2), series, stack, SUM(count) FROM " table \
		" WHERE tier = 0 AND bucket >= $3 AND bucket < $4" \
		" GROUP BY bucket - (bucket % $2), series, stack" \
		" ON CONFLICT (tier, bucket, series, stack) DO UPDATE" \
		" SET count = " table ".count + excluded.count"
	static const char *const counts[] = {
		ROLLUP_COUNTS("counts"), ROLLUP_COUNTS("service_counts"),
	};
#undef ROLLUP_COUNTS
	static const char totals[] =
		"INSERT INTO totals (tier, bucket, series, samples, errors, late, stacked)"
		" SELECT $1, bucket - (bucket % $2), series, SUM(samples), SUM(errors), SUM(late),"
		" SUM(stacked)"
		" FROM totals WHERE tier = 0 AND bucket >= $3 AND bucket < $4"
		" GROUP BY bucket - (bucket % $2), series"
		" ON CONFLICT (tier, bucket, series) DO UPDATE"
		" SET samples = totals.samples + excluded.samples,"
		" errors = totals.errors + excluded.errors, late = totals.late + excluded.late,"
		" stacked = totals.stacked + excluded.stacked";
	static const char mark[] = "UPDATE tiers SET rolled_until = $1 WHERE tier = $2";
	int rc;

	for (int t = 1; t < STORE_NTIERS; t++) {
		int64_t w = store_tier_width[t], lo = s->tiers[t].rolled_until;
		int64_t hi = floor_to(s->newest, w);

		if (hi <= lo)
			continue;
		{
			struct sql_val p[] = { SQL_I(t), SQL_I(w), SQL_I(lo), SQL_I(hi) };
			if ((rc = store_exec(s, counts[0], p, 4, NULL, NULL)) ||
			    (rc = store_exec(s, counts[1], p, 4, NULL, NULL)) ||
			    (rc = store_exec(s, totals, p, 4, NULL, NULL)))
				return rc;
		}
		rc = store_exec(s, mark, (struct sql_val[]){ SQL_I(hi), SQL_I(t) }, 2, NULL, NULL);
		if (rc)
			return rc;
		s->tiers[t].rolled_until = hi;
	}
	return 0;
}

int store_rollup(struct store_db *s)
{
	int rc;

	if (s->in_tx)
		return store_rollup_tx(s);
	rc = store_begin(s);
	if (rc == 0)
		rc = store_commit(s);
	return rc;
}

static int count_row(void *ctx, const struct sql_val *c, int n)
{
	if (n != 1 || c[0].t != SQL_INT)
		return -STORE_ECORRUPT;
	*(uint64_t *)ctx += (uint64_t)c[0].i;
	return 0;
}

int store_expire(struct store_db *s, int64_t now, uint64_t *deleted)
{
	static const char *const counting[] = {
		"SELECT COUNT(*) FROM counts WHERE tier = $1 AND bucket < $2",
		"SELECT COUNT(*) FROM service_counts WHERE tier = $1 AND bucket < $2",
		"SELECT COUNT(*) FROM totals WHERE tier = $1 AND bucket < $2",
	};
	static const char *const deleting[] = {
		"DELETE FROM counts WHERE tier = $1 AND bucket < $2",
		"DELETE FROM service_counts WHERE tier = $1 AND bucket < $2",
		"DELETE FROM totals WHERE tier = $1 AND bucket < $2",
	};
	static const char mark[] = "UPDATE tiers SET expired_before = $1 WHERE tier = $2";
	int64_t coarsest = store_tier_width[STORE_NTIERS - 1];
	uint64_t n = 0;
	int rc;

	if ((rc = store_begin(s)))
		return rc;
	for (int t = 0; t < STORE_NTIERS; t++) {
		int64_t cut = floor_to(now - s->retention[t], coarsest);

		/* Keep what a coarser tier does not hold yet. */
		for (int c = t + 1; c < STORE_NTIERS; c++)
			if (floor_to(s->tiers[c].rolled_until, coarsest) < cut)
				cut = floor_to(s->tiers[c].rolled_until, coarsest);
		if (cut <= s->tiers[t].kept_from)
			continue;
		for (size_t k = 0; k < sizeof(deleting) / sizeof(deleting[0]); k++) {
			struct sql_val p[] = { SQL_I(t), SQL_I(cut) };
			if ((rc = store_exec(s, counting[k], p, 2, count_row, &n)) ||
			    (rc = store_exec(s, deleting[k], p, 2, NULL, NULL)))
				goto fail;
		}
		rc = store_exec(s, mark, (struct sql_val[]){ SQL_I(cut), SQL_I(t) }, 2, NULL, NULL);
		if (rc)
			goto fail;
		s->tiers[t].kept_from = cut;
	}
	if ((rc = store_prune_tx(s, &n)))
		goto fail;
	rc = store_commit(s);
	if (rc == 0 && deleted)
		*deleted = n;
	return rc;
fail:
	store_rollback(s);
	return rc;
}
