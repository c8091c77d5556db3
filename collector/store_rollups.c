/* store_rollups: see store_rollups.h. */
#include "store_rollups.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* $1 the period ('hour' / 'day'), $2 and $3 the range (unix ms). Buckets are UTC. */
static const char SQL_BUILD[] =
    "WITH b AS ("
    "  SELECT generate_series(date_trunc($1, to_timestamp($2::double precision / 1000), 'UTC'),"
    "   to_timestamp($3::double precision / 1000) - ('1 ' || $1)::interval,"
    "   ('1 ' || $1)::interval) AS bucket),"
    " r AS (SELECT date_trunc($1, pe.ts, 'UTC') AS bucket, pe.asset_id,"
    "   COALESCE(pe.region, '') AS location, count(*) AS samples,"
    "   count(*) FILTER (WHERE pe.success) AS successes,"
    "   percentile_cont(0.5) WITHIN GROUP (ORDER BY pe.latency_ms)"
    "    FILTER (WHERE pe.success) AS p50,"
    "   percentile_cont(0.95) WITHIN GROUP (ORDER BY pe.latency_ms)"
    "    FILTER (WHERE pe.success) AS p95,"
    "   percentile_cont(0.99) WITHIN GROUP (ORDER BY pe.latency_ms)"
    "    FILTER (WHERE pe.success) AS p99"
    "  FROM probe_events pe"
    "  WHERE pe.ts >= (SELECT min(bucket) FROM b)"
    "   AND pe.ts < (SELECT max(bucket) FROM b) + ('1 ' || $1)::interval"
    "  GROUP BY GROUPING SETS ((date_trunc($1, pe.ts, 'UTC'), pe.asset_id, pe.region),"
    "   (date_trunc($1, pe.ts, 'UTC'), pe.asset_id))"
    /* a region named '' (a peer without one) would collide with the all-locations row:
     * its results count there only */
    "  HAVING GROUPING(pe.region) = 1 OR pe.region <> ''),"
    " st AS (SELECT b.bucket, i.asset_id, '' AS location,"
    "   sum(s.secs) FILTER (WHERE i.state = 'UP') AS up,"
    "   sum(s.secs) FILTER (WHERE i.state = 'DEGRADED') AS degraded,"
    "   sum(s.secs) FILTER (WHERE i.state = 'DOWN') AS down,"
    "   sum(s.secs) FILTER (WHERE i.state = 'MAINTENANCE') AS maintenance,"
    "   sum(s.secs) FILTER (WHERE i.state NOT IN ('UP', 'DEGRADED', 'DOWN', 'MAINTENANCE'))"
    "    AS unknown"
    "  FROM b JOIN asset_state_intervals i"   /* the GiST index of migration 010 */
    "   ON tstzrange(i.started_at, i.ended_at)"
    "    && tstzrange(b.bucket, b.bucket + ('1 ' || $1)::interval),"
    "  LATERAL (SELECT extract(epoch FROM"
    "   LEAST(COALESCE(i.ended_at, now()), b.bucket + ('1 ' || $1)::interval)"
    "   - GREATEST(i.started_at, b.bucket))::float8 AS secs) s"
    "  GROUP BY b.bucket, i.asset_id),"
    " ins AS (INSERT INTO asset_rollups (asset_id, period, bucket, location, samples,"
    "   successes, latency_p50, latency_p95, latency_p99, up_seconds, degraded_seconds,"
    "   down_seconds, maintenance_seconds, unknown_seconds)"
    "  SELECT COALESCE(r.asset_id, st.asset_id), $1, COALESCE(r.bucket, st.bucket),"
    "   COALESCE(r.location, st.location), COALESCE(r.samples, 0), COALESCE(r.successes, 0),"
    "   r.p50, r.p95, r.p99, COALESCE(st.up, 0), COALESCE(st.degraded, 0),"
    "   COALESCE(st.down, 0), COALESCE(st.maintenance, 0), COALESCE(st.unknown, 0)"
    "  FROM r FULL JOIN st ON st.asset_id = r.asset_id AND st.bucket = r.bucket"
    "   AND st.location = r.location"
    "  ON CONFLICT (asset_id, period, bucket, location) DO UPDATE SET"
    "   samples = EXCLUDED.samples, successes = EXCLUDED.successes,"
    "   latency_p50 = EXCLUDED.latency_p50, latency_p95 = EXCLUDED.latency_p95,"
    "   latency_p99 = EXCLUDED.latency_p99, up_seconds = EXCLUDED.up_seconds,"
    "   degraded_seconds = EXCLUDED.degraded_seconds, down_seconds = EXCLUDED.down_seconds,"
    "   maintenance_seconds = EXCLUDED.maintenance_seconds,"
    "   unknown_seconds = EXCLUDED.unknown_seconds"
    "  RETURNING 1)"
    " SELECT count(*) FROM ins";

static const char *s_period(rollup_period_t p)
{
    return p == ROLLUP_DAY ? "day" : "hour";
}

int store_rollups_build(store_t *s, rollup_period_t period, int64_t from_ms, int64_t to_ms,
                        int64_t *rows, char *err, size_t errlen)
{
    char from[32], to[32];
    snprintf(from, sizeof from, "%" PRId64, from_ms);
    snprintf(to, sizeof to, "%" PRId64, to_ms);
    const char *p[] = {s_period(period), from, to};
    PGresult *r = store_exec(s, "build rollups", SQL_BUILD, 3, p, err, errlen);
    if (!r)
        return -EIO;
    *rows = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

/* One time column of period's rollup_watermarks row as unix ms (0: no row, or NULL). sql
 * selects it for period $1. */
static int s_mark_ms(store_t *s, const char *what, const char *sql, rollup_period_t period,
                     int64_t *ms, char *err, size_t errlen)
{
    const char *p[] = {s_period(period)};
    PGresult *r = store_exec(s, what, sql, 1, p, err, errlen);
    if (!r)
        return -EIO;
    *ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int store_rollups_watermark(store_t *s, rollup_period_t period, int64_t *until_ms, char *err,
                            size_t errlen)
{
    return s_mark_ms(s, "rollup watermark",
                     "SELECT COALESCE((SELECT (extract(epoch FROM built_until) * 1000)"
                     "::bigint FROM rollup_watermarks WHERE period = $1), 0)",
                     period, until_ms, err, errlen);
}

int store_rollups_advance(store_t *s, rollup_period_t period, int64_t until_ms, char *err,
                          size_t errlen)
{
    char until[32];
    snprintf(until, sizeof until, "%" PRId64, until_ms);
    const char *p[] = {s_period(period), until};
    return store_command(s, "advance rollups",
                         "INSERT INTO rollup_watermarks (period, built_until)"
                         " VALUES ($1, to_timestamp($2::double precision / 1000))"
                         " ON CONFLICT (period) DO UPDATE SET built_until ="
                         " GREATEST(rollup_watermarks.built_until, EXCLUDED.built_until)",
                         2, p, err, errlen);
}

int store_rollups_dirty(store_t *s, rollup_period_t period, int64_t *dirty_ms, char *err,
                        size_t errlen)
{
    return s_mark_ms(s, "rollups stale from",
                     "SELECT COALESCE((SELECT (extract(epoch FROM dirty_from) * 1000)"
                     "::bigint FROM rollup_watermarks WHERE period = $1), 0)",
                     period, dirty_ms, err, errlen);
}

int store_rollups_clean(store_t *s, rollup_period_t period, int64_t dirty_ms,
                        int64_t rebuilt_ms, char *err, size_t errlen)
{
    char dirty[32], rebuilt[32];
    snprintf(dirty, sizeof dirty, "%" PRId64, dirty_ms);
    snprintf(rebuilt, sizeof rebuilt, "%" PRId64, rebuilt_ms);
    const char *p[] = {s_period(period), dirty, rebuilt};
    /* compare and set: a mark lowered by a state written meanwhile is kept */
    return store_command(s, "rollups rebuilt",
                         "UPDATE rollup_watermarks SET dirty_from ="
                         " CASE WHEN to_timestamp($3::double precision / 1000) >= built_until"
                         "  THEN NULL ELSE to_timestamp($3::double precision / 1000) END"
                         " WHERE period = $1 AND (extract(epoch FROM dirty_from) * 1000)::bigint"
                         "  = $2::bigint",
                         3, p, err, errlen);
}
