/* store_status_page: see store_status_page.h. Five statements: the assets (state, latest
 * result per location), their state seconds by window and by day (store_history), the
 * incidents started per day, the hourly latency, and the incidents and maintenance lists;
 * the parts are put together here. */
#include "store_status_page.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history_plan.h"
#include "sd_clock.h"
#include "store_history.h"
#include "uptime.h"

#define TS(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define TSMS(x) "to_timestamp((" x ")::double precision / 1000)"

/* Slots of the history call: each window's lead (its part before its first whole day), then
 * one per day. A window is its lead plus the days after it: the days are read once for all
 * four windows and the bars. */
#define SLOT_DAY0 100
static const struct {
    const char *name;
    int64_t len_ms;
} WINDOWS[] = {{"24h", HISTORY_DAY_MS},
               {"7d", 7 * HISTORY_DAY_MS},
               {"30d", 30 * HISTORY_DAY_MS},
               {"90d", 90 * HISTORY_DAY_MS}};
#define N_WINDOWS (sizeof WINDOWS / sizeof *WINDOWS)

/* $1 the metadata key of the group (or NULL). The latest result of each location among the
 * asset's last 64 results of the last day (or 10 intervals when longer): bounded work per
 * asset however long the history. */
static const char SQL_ASSETS[] =
    "SELECT json_build_object('id', a.id, 'name', a.name, 'assetType', a.asset_type,"
    " 'group', CASE WHEN $1::text IS NULL THEN NULL ELSE a.metadata ->> $1 END,"
    " 'address', a.address, 'state', a.state, 'stateReason', a.state_reason,"
    " 'stateSince', " TS("a.state_since") ","
    " 'results', COALESCE((SELECT json_agg(json_build_object('region', l.region,"
    "    'success', l.success, 'latencyMs', l.latency_ms, 'ts', " TS("l.ts") ")"
    "    ORDER BY l.region)"
    "   FROM (SELECT DISTINCT ON (t.region) t.region, t.success, t.latency_ms, t.ts"
    "    FROM (SELECT pe.region, pe.success, pe.latency_ms, pe.ts, pe.seq FROM probe_events pe"
    "     WHERE pe.asset_id = a.id AND pe.ts >= now() - make_interval(secs =>"
    "      GREATEST(86400, 10 * a.interval_seconds))"
    "     ORDER BY pe.ts DESC, pe.seq DESC LIMIT 64) t"
    "    ORDER BY t.region, t.ts DESC, t.seq DESC) l), '[]'::json))::text"
    " FROM assets a WHERE a.in_manifest ORDER BY a.id";

/* $1 the first day's start (unix ms): incidents started per asset and day. */
static const char SQL_DAY_INCIDENTS[] =
    "SELECT asset_id, floor(extract(epoch FROM started_at - " TSMS("$1") ") / 86400)::int,"
    " count(*) FROM incidents WHERE started_at >= " TSMS("$1") " GROUP BY 1, 2";

/* $1 the first hour's start, $2 how far the hourly rollups are good, $3 their oldest bucket
 * (unix ms): those hours from the rollups, the others from the raw results. */
static const char SQL_LATENCY[] =
    "SELECT r.asset_id, ((extract(epoch FROM r.bucket) * 1000)::bigint - $1::bigint)"
    "  / 3600000, r.latency_p50, r.latency_p95, r.samples"
    " FROM asset_rollups r WHERE r.period = 'hour' AND r.location = ''"
    "  AND r.bucket >= " TSMS("GREATEST($1::bigint, $3::bigint)") " AND r.bucket < " TSMS("$2")
    " UNION ALL"
    " SELECT a.id, h.slot, h.p50, h.p95, h.n FROM assets a, LATERAL ("
    "  SELECT ((extract(epoch FROM date_trunc('hour', pe.ts, 'UTC')) * 1000)::bigint"
    "    - $1::bigint) / 3600000 AS slot,"
    "   percentile_cont(0.5) WITHIN GROUP (ORDER BY pe.latency_ms) FILTER (WHERE pe.success)"
    "    AS p50,"
    "   percentile_cont(0.95) WITHIN GROUP (ORDER BY pe.latency_ms) FILTER (WHERE pe.success)"
    "    AS p95, count(*) AS n"
    "  FROM probe_events pe WHERE pe.asset_id = a.id"
    "   AND pe.ts >= " TSMS("$1") " AND (pe.ts < " TSMS("$3") " OR pe.ts >= " TSMS("$2") ")"
    "  GROUP BY 1) h"
    " WHERE a.in_manifest";

/* The public incident list: open ones and those of the last 90 days ($1: their start). The
 * timeline keeps only what a status page says: opened, acknowledged, relapsed, resolved. */
static const char SQL_INCIDENTS[] =
    "SELECT json_build_object('id', i.id, 'assetId', i.asset_id, 'assetName', a.name,"
    " 'severity', i.severity, 'summary', i.summary, 'startedAt', " TS("i.started_at") ","
    " 'endedAt', " TS("i.ended_at") ", 'acknowledgedAt', " TS("i.acknowledged_at") ","
    " 'timeline', COALESCE((SELECT json_agg(json_build_object('at', " TS("e.at") ","
    "    'kind', e.kind) ORDER BY e.at, e.id) FROM (SELECT * FROM incident_events"
    "    WHERE incident_id = i.id AND kind IN ('opened', 'acknowledged', 'relapsed', 'resolved')"
    "    ORDER BY at, id LIMIT 100) e), '[]'::json))::text"
    " FROM incidents i JOIN assets a ON a.id = i.asset_id AND a.in_manifest"
    " WHERE i.ended_at IS NULL OR i.started_at >= " TSMS("$1")
    " ORDER BY i.started_at DESC, i.id DESC LIMIT $2::int";

static const char SQL_MAINTENANCE[] =
    "SELECT json_build_object('id', id, 'name', name, 'assetIds', asset_ids,"
    " 'start', " TS("starts_at") ", 'end', " TS("ends_at") ", 'reason', reason,"
    " 'active', starts_at <= now())::text"
    " FROM maintenance_windows WHERE ends_at > now() ORDER BY starts_at, id LIMIT 1000";

/* Runs sql and appends each row's one JSON column to *arr (a new array). */
static int s_rows(store_t *s, const char *what, const char *sql, int n, const char *const *p,
                  json_t **arr, char *err, size_t errlen)
{
    PGresult *r = store_exec(s, what, sql, n, p, err, errlen);
    if (!r)
        return -EIO;
    json_t *a = json_array();
    int rc = a ? 0 : -ENOMEM;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        json_error_t je;
        json_t *row = json_loads(PQgetvalue(r, i, 0), 0, &je);
        if (!row || json_array_append_new(a, row) != 0) {
            snprintf(err, errlen, "%s: row %d: %s", what, i, row ? "out of memory" : je.text);
            rc = -EPROTO;
        }
    }
    PQclear(r);
    if (rc)
        json_decref(a);
    else
        *arr = a;
    return rc;
}

/* Per asset (by id), what the other statements add: the window and day seconds, incidents
 * per day, latency per hour. */
typedef struct {
    uptime_secs_t win[N_WINDOWS];   /* the lead only, until s_windows adds the days */
    uptime_secs_t day[STATUS_PAGE_DAYS];
    int incidents[STATUS_PAGE_DAYS];
    double p50[STATUS_PAGE_HOURS], p95[STATUS_PAGE_HOURS]; /* NAN: none */
    int samples[STATUS_PAGE_HOURS];
} extra_t;

typedef struct {
    json_t *index;   /* asset id -> integer index into extra */
    extra_t *extra;
} build_t;

static extra_t *s_extra(build_t *b, const char *asset_id)
{
    json_t *i = json_object_get(b->index, asset_id);
    return i ? &b->extra[json_integer_value(i)] : NULL;
}

static void s_on_secs(void *ctx, const char *asset_id, int slot, const uptime_secs_t *u)
{
    extra_t *x = s_extra(ctx, asset_id);
    if (!x)
        return;
    if (slot >= 0 && slot < (int) N_WINDOWS)
        x->win[slot] = *u;
    else if (slot >= SLOT_DAY0 && slot < SLOT_DAY0 + STATUS_PAGE_DAYS)
        x->day[slot - SLOT_DAY0] = *u;
}

static json_t *s_num_or_null(double v, double scale)
{
    return isnan(v) ? json_null() : json_real(round(v * scale) / scale);
}

static void s_fmt_day(int64_t ms, char *buf, size_t len)
{
    char full[40];
    sd_format_rfc3339(ms, full, sizeof full);
    snprintf(buf, len, "%.10s", full);
}

/* n numbers of v (NAN: null) as a JSON array, each rounded to 1/scale. */
static json_t *s_series(const double *v, int n, double scale)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, s_num_or_null(v[i], scale)) != 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

/* Puts "uptime", "daily" and "latency" into each asset row. The two series are columns
 * (one array per field, a day or an hour per index): 10,000 assets × 90 days as objects
 * would be ten times the bytes. */
static int s_compose(json_t *assets, build_t *b, bool show_addresses, int64_t day0,
                     int64_t hour0)
{
    char start_day[16], start_hour[40];
    s_fmt_day(day0, start_day, sizeof start_day);
    sd_format_rfc3339(hour0, start_hour, sizeof start_hour);
    size_t i;
    json_t *a;
    json_array_foreach(assets, i, a) {
        extra_t *x = &b->extra[i];
        if (!show_addresses)
            json_object_del(a, "address");
        double up[STATUS_PAGE_DAYS], down[STATUS_PAGE_DAYS], maint[STATUS_PAGE_DAYS],
            inc[STATUS_PAGE_DAYS], samples[STATUS_PAGE_HOURS];
        for (int d = 0; d < STATUS_PAGE_DAYS; d++) {
            double r = uptime_ratio(&x->day[d]);
            up[d] = r < 0 ? NAN : r;
            down[d] = x->day[d].down;
            maint[d] = x->day[d].maintenance;
            inc[d] = x->incidents[d];
        }
        for (int h = 0; h < STATUS_PAGE_HOURS; h++)
            samples[h] = x->samples[h];
        json_t *fig = json_object();
        for (size_t w = 0; fig && w < N_WINDOWS; w++)
            if (json_object_set_new(fig, WINDOWS[w].name, uptime_ratio_json(&x->win[w])) != 0)
                json_decref(fig), fig = NULL;
        json_t *daily = json_pack("{s:s, s:o*, s:o*, s:o*, s:o*}", "start", start_day, "uptime",
                                  s_series(up, STATUS_PAGE_DAYS, 1e6), "downSeconds",
                                  s_series(down, STATUS_PAGE_DAYS, 1), "maintenanceSeconds",
                                  s_series(maint, STATUS_PAGE_DAYS, 1), "incidents",
                                  s_series(inc, STATUS_PAGE_DAYS, 1));
        json_t *lat = json_pack("{s:s, s:o*, s:o*, s:o*}", "start", start_hour, "p50",
                                s_series(x->p50, STATUS_PAGE_HOURS, 10), "p95",
                                s_series(x->p95, STATUS_PAGE_HOURS, 10), "samples",
                                s_series(samples, STATUS_PAGE_HOURS, 1));
        /* a series that could not be made is left out by "o*": then the object is short */
        bool bad = json_object_size(daily) != 5 || json_object_size(lat) != 4;
        /* json_object_set_new takes each value, set or not (a NULL one fails) */
        if ((json_object_set_new(a, "uptime", fig) | json_object_set_new(a, "daily", daily) |
             json_object_set_new(a, "latency", lat)) != 0 || bad)
            return -ENOMEM;
    }
    return 0;
}

static int64_t s_next_midnight(int64_t t)
{
    return t - t % HISTORY_DAY_MS + (t % HISTORY_DAY_MS ? HISTORY_DAY_MS : 0);
}

/* Where a window starting at from stops being its lead: the next midnight, but never before
 * the first day of the bars (a 90-day window starting exactly at midnight begins a day
 * before them: that day is all lead). */
static int64_t s_lead_end(int64_t from, int64_t day0)
{
    int64_t m = s_next_midnight(from);
    return m > day0 ? m : day0;
}

/* Each window's figure: its lead plus the days from the first whole day after its start. */
static void s_windows(build_t *b, size_t n, int64_t now, int64_t day0)
{
    for (size_t w = 0; w < N_WINDOWS; w++) {
        int64_t first = (s_lead_end(now - WINDOWS[w].len_ms, day0) - day0) / HISTORY_DAY_MS;
        for (size_t i = 0; i < n; i++) {
            uptime_secs_t *u = &b->extra[i].win[w];
            for (int64_t d = first < 0 ? 0 : first; d < STATUS_PAGE_DAYS; d++) {
                const uptime_secs_t *day = &b->extra[i].day[d];
                u->up += day->up;
                u->degraded += day->degraded;
                u->down += day->down;
                u->maintenance += day->maintenance;
                u->unknown += day->unknown;
            }
        }
    }
}

/* The history plan: the windows' leads, then each day (today's up to now). */
static int s_history(store_t *s, build_t *b, int64_t now, int64_t day0,
                     history_built_t *built_out, char *err, size_t errlen)
{
    history_built_t built = {0};
    int rc = store_history_built(s, &built, err, errlen);
    *built_out = built;
    if (rc)
        return rc;
    history_seg_t *seg = malloc(STORE_HISTORY_MAX_SEGS * sizeof *seg);
    if (!seg) {
        snprintf(err, errlen, "status page: out of memory");
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t w = 0; rc == 0 && w < N_WINDOWS; w++) {
        int64_t from = now - WINDOWS[w].len_ms, lead_end = s_lead_end(from, day0);
        rc = history_plan(from, lead_end < now ? lead_end : now, &built, HISTORY_DAY,
                          (int) w, seg, STORE_HISTORY_MAX_SEGS, &n);
    }
    for (int d = 0; rc == 0 && d < STATUS_PAGE_DAYS; d++) {
        int64_t lo = day0 + d * HISTORY_DAY_MS, hi = lo + HISTORY_DAY_MS;
        rc = history_plan(lo, hi < now ? hi : now, &built, HISTORY_DAY, SLOT_DAY0 + d,
                          seg, STORE_HISTORY_MAX_SEGS, &n);
    }
    if (rc) {
        free(seg);
        snprintf(err, errlen, "status page: history plan too long");
        return -EINVAL;
    }
    rc = store_history_secs(s, NULL, seg, n, s_on_secs, b, err, errlen);
    free(seg);
    return rc;
}

static int s_day_incidents(store_t *s, build_t *b, int64_t day0, char *err, size_t errlen)
{
    char d0[32];
    snprintf(d0, sizeof d0, "%" PRId64, day0);
    const char *p[] = {d0};
    PGresult *r = store_exec(s, "incidents per day", SQL_DAY_INCIDENTS, 1, p, err, errlen);
    if (!r)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++) {
        extra_t *x = s_extra(b, PQgetvalue(r, i, 0));
        long d = strtol(PQgetvalue(r, i, 1), NULL, 10);
        if (x && d >= 0 && d < STATUS_PAGE_DAYS)
            x->incidents[d] += (int) strtol(PQgetvalue(r, i, 2), NULL, 10);
    }
    PQclear(r);
    return 0;
}

static int s_latency(store_t *s, build_t *b, int64_t hour0, const history_built_t *built,
                     char *err, size_t errlen)
{
    char h0[32], wm[32], from[32];
    snprintf(h0, sizeof h0, "%" PRId64, hour0);
    snprintf(wm, sizeof wm, "%" PRId64, built->hour_until);
    snprintf(from, sizeof from, "%" PRId64, built->hour_from);
    const char *p[] = {h0, wm, from};
    PGresult *r = store_exec(s, "latency per hour", SQL_LATENCY, 3, p, err, errlen);
    if (!r)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++) {
        extra_t *x = s_extra(b, PQgetvalue(r, i, 0));
        long h = strtol(PQgetvalue(r, i, 1), NULL, 10);
        if (!x || h < 0 || h >= STATUS_PAGE_HOURS)
            continue;
        x->p50[h] = PQgetisnull(r, i, 2) ? NAN : strtod(PQgetvalue(r, i, 2), NULL);
        x->p95[h] = PQgetisnull(r, i, 3) ? NAN : strtod(PQgetvalue(r, i, 3), NULL);
        x->samples[h] = (int) strtol(PQgetvalue(r, i, 4), NULL, 10);
    }
    PQclear(r);
    return 0;
}

int store_status_page(store_t *s, const char *group_by, bool show_addresses, int64_t now_ms,
                      json_t **out, char *err, size_t errlen)
{
    int64_t today = now_ms - now_ms % HISTORY_DAY_MS;
    int64_t day0 = today - (STATUS_PAGE_DAYS - 1) * HISTORY_DAY_MS;
    int64_t hour0 = now_ms - now_ms % HISTORY_HOUR_MS - (STATUS_PAGE_HOURS - 1) * HISTORY_HOUR_MS;
    json_t *assets = NULL, *incidents = NULL, *maint = NULL;
    build_t b = {.index = json_object(), .extra = NULL};
    const char *p1[] = {group_by};
    int rc = b.index ? s_rows(s, "status page assets", SQL_ASSETS, 1, p1, &assets, err, errlen)
                     : -ENOMEM;
    if (rc == 0) {
        size_t n = json_array_size(assets);
        b.extra = calloc(n ? n : 1, sizeof *b.extra);
        rc = b.extra ? 0 : -ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            for (int h = 0; h < STATUS_PAGE_HOURS; h++)
                b.extra[i].p50[h] = b.extra[i].p95[h] = NAN;
            const char *id = json_string_value(json_object_get(json_array_get(assets, i), "id"));
            rc = id ? json_object_set_new(b.index, id, json_integer((json_int_t) i)) : -EPROTO;
        }
        if (rc)
            snprintf(err, errlen, "status page: out of memory");
    }
    history_built_t built = {0};
    if (rc == 0)
        rc = s_history(s, &b, now_ms, day0, &built, err, errlen);
    if (rc == 0) {
        s_windows(&b, json_array_size(assets), now_ms, day0);
        rc = s_day_incidents(s, &b, day0, err, errlen);
    }
    if (rc == 0)
        rc = s_latency(s, &b, hour0, &built, err, errlen);
    char since[32], lim[16];
    snprintf(since, sizeof since, "%" PRId64, (int64_t) (now_ms - STATUS_PAGE_DAYS * HISTORY_DAY_MS));
    snprintf(lim, sizeof lim, "%d", STATUS_PAGE_INCIDENTS);
    const char *p2[] = {since, lim};
    if (rc == 0)
        rc = s_rows(s, "status page incidents", SQL_INCIDENTS, 2, p2, &incidents, err, errlen);
    if (rc == 0)
        rc = s_rows(s, "status page maintenance", SQL_MAINTENANCE, 0, NULL, &maint, err, errlen);
    if (rc == 0 && (rc = s_compose(assets, &b, show_addresses, day0, hour0)) != 0)
        snprintf(err, errlen, "status page: out of memory");
    if (rc == 0) {
        *out = json_pack("{s:o, s:o, s:o}", "assets", assets, "incidents", incidents,
                         "maintenance", maint);
        assets = incidents = maint = NULL;
        if (!*out) {
            snprintf(err, errlen, "status page: out of memory");
            rc = -ENOMEM;
        }
    }
    json_decref(assets);
    json_decref(incidents);
    json_decref(maint);
    json_decref(b.index);
    free(b.extra);
    return rc;
}
