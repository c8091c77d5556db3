/* store_history: see store_history.h. The segments travel as four parallel arrays
 * (lo, hi, slot, source) and are unnested by PostgreSQL. */
#include "store_history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSMS(x) "to_timestamp((" x ")::double precision / 1000)"

/* $1 the asset or NULL; $2..$5 the segments. Rollup rows carry the seconds per state; a raw
 * interval counts the part of it inside its segment (an open one up to now). */
static const char SQL_SECS[] =
    "WITH seg AS (SELECT " TSMS("lo") " AS lo, " TSMS("hi") " AS hi, slot, src"
    "  FROM unnest($2::bigint[], $3::bigint[], $4::int[], $5::int[]) AS s(lo, hi, slot, src)),"
    " parts AS ("
    "  SELECT r.asset_id, s.slot, r.up, r.degraded, r.down, r.maint, r.unknown"
    /* one index range scan per segment (OFFSET 0 keeps the subquery apart: joined by
     * hash instead, every rollup row met every segment) */
    "  FROM seg s, LATERAL (SELECT r.asset_id, r.up_seconds AS up,"
    "    r.degraded_seconds AS degraded, r.down_seconds AS down,"
    "    r.maintenance_seconds AS maint, r.unknown_seconds AS unknown FROM asset_rollups r"
    "   WHERE r.period = CASE WHEN s.src = 2 THEN 'day' ELSE 'hour' END AND r.location = ''"
    "    AND r.bucket >= s.lo AND r.bucket < s.hi AND ($1::text IS NULL OR r.asset_id = $1)"
    "   OFFSET 0) r WHERE s.src > 0"
    "  UNION ALL"
    "  SELECT i.asset_id, s.slot,"
    "   CASE WHEN i.state = 'UP' THEN x.secs ELSE 0 END,"
    "   CASE WHEN i.state = 'DEGRADED' THEN x.secs ELSE 0 END,"
    "   CASE WHEN i.state = 'DOWN' THEN x.secs ELSE 0 END,"
    "   CASE WHEN i.state = 'MAINTENANCE' THEN x.secs ELSE 0 END,"
    "   CASE WHEN i.state NOT IN ('UP', 'DEGRADED', 'DOWN', 'MAINTENANCE') THEN x.secs"
    "    ELSE 0 END"
    "  FROM seg s JOIN asset_state_intervals i ON s.src = 0"
    "   AND tstzrange(i.started_at, i.ended_at) && tstzrange(s.lo, s.hi)"
    "   AND ($1::text IS NULL OR i.asset_id = $1),"
    "  LATERAL (SELECT GREATEST(0, extract(epoch FROM LEAST(COALESCE(i.ended_at, now()), s.hi)"
    "   - GREATEST(i.started_at, s.lo)))::float8 AS secs) x)"
    " SELECT p.asset_id, p.slot, sum(p.up), sum(p.degraded), sum(p.down), sum(p.maint),"
    "  sum(p.unknown)"
    " FROM parts p JOIN assets a ON a.id = p.asset_id AND (a.in_manifest OR $1 IS NOT NULL)"
    " GROUP BY p.asset_id, p.slot";

int store_history_built(store_t *s, history_built_t *built, char *err, size_t errlen)
{
    /* min(bucket): the partial index of migration 010, one index probe each; the rollups are
     * good up to their watermark or where a later state write made them stale (LEAST
     * ignores a NULL dirty_from) */
#define MS(x) "COALESCE((extract(epoch FROM (" x ")) * 1000)::bigint, 0)"
    PGresult *r = store_exec(
        s, "rollups built",
        "SELECT " MS("SELECT min(bucket) FROM asset_rollups WHERE period = 'hour' AND location = ''")
        ", " MS("SELECT LEAST(built_until, dirty_from) FROM rollup_watermarks"
                " WHERE period = 'hour'")
        ", " MS("SELECT min(bucket) FROM asset_rollups WHERE period = 'day' AND location = ''")
        ", " MS("SELECT LEAST(built_until, dirty_from) FROM rollup_watermarks"
                " WHERE period = 'day'"),
        0, NULL, err, errlen);
#undef MS
    if (!r)
        return -EIO;
    built->hour_from = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    built->hour_until = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    built->day_from = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    built->day_until = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    /* no rollup row yet: nothing is built, whatever the watermark says */
    if (!built->hour_from)
        built->hour_until = 0;
    if (!built->day_from)
        built->day_until = 0;
    PQclear(r);
    return 0;
}

/* "{a,b,...}": a PostgreSQL array literal of n integers taken from seg by get. */
static char *s_array(const history_seg_t *seg, size_t n, int64_t (*get)(const history_seg_t *))
{
    size_t cap = 2 + n * 21, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    buf[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t) snprintf(buf + len, cap - len, "%s%" PRId64, i ? "," : "", get(&seg[i]));
    buf[len++] = '}';
    buf[len] = '\0';
    return buf;
}

static int64_t s_lo(const history_seg_t *g) { return g->lo; }
static int64_t s_hi(const history_seg_t *g) { return g->hi; }
static int64_t s_slot(const history_seg_t *g) { return g->slot; }
static int64_t s_src(const history_seg_t *g) { return g->src; }

int store_history_secs(store_t *s, const char *asset_id, const history_seg_t *seg, size_t n,
                       store_history_fn fn, void *ctx, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    if (n > STORE_HISTORY_MAX_SEGS || !fn) {
        snprintf(err, errlen, "history: %zu segments (at most %d)", n, STORE_HISTORY_MAX_SEGS);
        return -EINVAL;
    }
    char *arr[4] = {s_array(seg, n, s_lo), s_array(seg, n, s_hi), s_array(seg, n, s_slot),
                    s_array(seg, n, s_src)};
    int rc = 0;
    if (!arr[0] || !arr[1] || !arr[2] || !arr[3]) {
        snprintf(err, errlen, "history: out of memory");
        rc = -ENOMEM;
    }
    PGresult *r = NULL;
    if (rc == 0) {
        const char *p[] = {asset_id, arr[0], arr[1], arr[2], arr[3]};
        r = store_exec(s, "state history", SQL_SECS, 5, p, err, errlen);
        if (!r)
            rc = -EIO;
    }
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        uptime_secs_t u = {
            .up = strtod(PQgetvalue(r, i, 2), NULL),
            .degraded = strtod(PQgetvalue(r, i, 3), NULL),
            .down = strtod(PQgetvalue(r, i, 4), NULL),
            .maintenance = strtod(PQgetvalue(r, i, 5), NULL),
            .unknown = strtod(PQgetvalue(r, i, 6), NULL),
        };
        fn(ctx, PQgetvalue(r, i, 0), (int) strtol(PQgetvalue(r, i, 1), NULL, 10), &u);
    }
    PQclear(r);
    for (size_t k = 0; k < 4; k++)
        free(arr[k]);
    return rc;
}
