/* store_api: read queries for the REST API. Each row is built as one JSON object by
 * PostgreSQL (json_build_object escapes and types every field), parsed here with jansson. */
#include "store_api.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_clock.h"
#include "history_plan.h"
#include "store_history.h"
#include "uptime.h"

/* RFC 3339 UTC with milliseconds; NULL stays NULL (JSON null). */
#define TS(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char SQL_HEALTH[] = "SELECT 1";

static const char SQL_ASSETS[] =
    "SELECT json_build_object("
    " 'id', a.id, 'name', a.name, 'assetType', a.asset_type, 'address', a.address,"
    " 'intervalSeconds', a.interval_seconds, 'timeoutSeconds', a.timeout_seconds,"
    " 'expectedStatusCodes', a.expected_status_codes,"
    " 'metadata', COALESCE(a.metadata, '{}'::jsonb),"
    " 'locations', a.locations, 'state', a.state, 'stateReason', a.state_reason,"
    " 'stateSince', " TS("a.state_since") ","
    " 'flapping', a.flapping, 'flappingSince', " TS("a.flapping_since") ","
    " 'maintenance', EXISTS (SELECT 1 FROM maintenance_windows w WHERE w.starts_at <= now()"
    "   AND w.ends_at > now() AND (w.asset_ids IS NULL OR a.id = ANY (w.asset_ids))),"
    " 'results', COALESCE(r.results, '[]'::json))::text"
    " FROM assets a"
    /* each agent's latest result among the asset's last 64: bounded work per asset */
    " LEFT JOIN LATERAL ("
    "  SELECT json_agg(json_build_object("
    "    'agent', l.agent_id, 'region', l.region, 'success', l.success,"
    "    'latencyMs', l.latency_ms, 'code', l.code, 'message', l.message,"
    "    'ts', " TS("l.ts") ") ORDER BY l.region, l.agent_id) AS results"
    "  FROM (SELECT DISTINCT ON (t.agent_id) t.* FROM (SELECT pe.agent_id, pe.region,"
    "          pe.success, pe.latency_ms, pe.code, pe.message, pe.ts, pe.seq"
    "        FROM probe_events pe"
    "        WHERE pe.asset_id = a.id"
    "          AND pe.ts >= now() - make_interval(secs => GREATEST(86400, 10 * a.interval_seconds))"
    "        ORDER BY pe.ts DESC, pe.seq DESC LIMIT 64) t"
    "        ORDER BY t.agent_id, t.ts DESC, t.seq DESC) l"
    " ) r ON true"
    " WHERE a.in_manifest AND ($1::text IS NULL OR a.id = $1)"
    " ORDER BY a.id";

static const char SQL_ASSET_EXISTS[] = "SELECT 1 FROM assets WHERE id = $1";

static const char SQL_UPTIME_INCIDENTS[] =
    "SELECT json_build_object('id', id, 'summary', summary,"
    " 'startedAt', " TS("started_at") ", 'endedAt', " TS("ended_at") ","
    " 'acknowledgedAt', " TS("acknowledged_at") ")::text"
    " FROM incidents WHERE asset_id = $1"
    "  AND started_at < to_timestamp($3::double precision / 1000)"
    "  AND COALESCE(ended_at, now()) > to_timestamp($2::double precision / 1000)"
    " ORDER BY started_at, id LIMIT 1000";

static const char SQL_EVENTS[] =
    "SELECT json_build_object("
    " 'assetId', asset_id, 'agent', agent_id, 'region', region, 'seq', seq,"
    " 'ts', " TS("ts") ", 'receivedAt', " TS("received_at") ","
    " 'success', success, 'latencyMs', latency_ms, 'code', code, 'message', message,"
    " 'phases', phases, 'certExpiry', " TS("cert_expiry") ")::text"
    " FROM probe_events WHERE asset_id = $1"
    " ORDER BY ts DESC, agent_id, seq DESC LIMIT $2::int";

static const char SQL_INCIDENTS[] =
    "SELECT json_build_object("
    " 'id', id, 'assetId', asset_id, 'severity', severity, 'summary', summary,"
    " 'startedAt', " TS("started_at") ", 'detectedAt', " TS("detected_at") ","
    " 'endedAt', " TS("ended_at") ", 'acknowledgedAt', " TS("acknowledged_at") ","
    " 'details', details)::text"
    " FROM incidents WHERE (NOT $1::bool OR ended_at IS NULL)"
    " ORDER BY started_at DESC, id DESC LIMIT $2::int";

static const char SQL_AGENTS[] =
    "SELECT json_build_object("
    " 'id', id, 'region', region, 'version', version, 'firstSeen', " TS("first_seen") ","
    " 'lastSeen', " TS("last_seen") ", 'connected', connected, 'clockSkewMs', clock_skew_ms,"
    " 'up', liveness = 'up', 'isolated', isolated, 'isolatedSince', " TS("isolated_since") ")::text"
    " FROM agents ORDER BY id LIMIT 100000";

static const char SQL_INCIDENT[] =
    "SELECT json_build_object("
    " 'id', i.id, 'assetId', i.asset_id, 'severity', i.severity, 'summary', i.summary,"
    " 'startedAt', " TS("i.started_at") ", 'detectedAt', " TS("i.detected_at") ","
    " 'endedAt', " TS("i.ended_at") ", 'acknowledgedAt', " TS("i.acknowledged_at") ","
    " 'details', i.details,"
    " 'timeline', COALESCE((SELECT json_agg(json_build_object("
    "    'at', " TS("e.at") ", 'kind', e.kind, 'detail', e.detail) ORDER BY e.at, e.id)"
    "   FROM (SELECT * FROM incident_events WHERE incident_id = i.id"
    "         ORDER BY at, id LIMIT 10000) e), '[]'::json))::text"
    " FROM incidents i WHERE i.id = $1::bigint";

#define SQL_WINDOW_JSON                                                                     \
    "json_build_object('id', id, 'source', source, 'name', name, 'assetIds', asset_ids,"    \
    " 'start', " TS("starts_at") ", 'end', " TS("ends_at") ", 'reason', reason,"            \
    " 'createdBy', created_by, 'createdAt', " TS("created_at") ","                          \
    " 'endedEarlyAt', " TS("ended_early_at") ","                                            \
    " 'active', starts_at <= now() AND ends_at > now())::text"

static const char SQL_MAINT_LIST[] =
    "SELECT " SQL_WINDOW_JSON " FROM maintenance_windows WHERE ends_at > now()"
    " ORDER BY starts_at, id LIMIT 1000";

static const char SQL_MAINT_ONE[] =
    "SELECT " SQL_WINDOW_JSON " FROM maintenance_windows WHERE id = $1::bigint";

/* Runs sql; every row's first column is one JSON text, appended to a new array. */
static int s_json_rows(store_t *s, const char *what, const char *sql, int n,
                       const char *const *params, json_t **out, char *err, size_t errlen)
{
    PGconn *c = store_conn(s);
    if (!c) {
        store_set_error(s, what, err, errlen);
        return -EIO;
    }
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        store_set_error(s, what, err, errlen);
        PQclear(r);
        return -EIO;
    }
    json_t *arr = json_array();
    int rc = arr ? 0 : -ENOMEM;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        json_error_t je;
        json_t *row = json_loads(PQgetvalue(r, i, 0), 0, &je);
        if (!row) {
            snprintf(err, errlen, "%s: row %d: %s", what, i, je.text);
            rc = -EPROTO;
        } else if (json_array_append_new(arr, row) != 0) {
            rc = -ENOMEM;
        }
    }
    PQclear(r);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int store_api_session_setup(store_t *s, int statement_timeout_ms)
{
    /* an integer of ours, not input; kept by the store for every later session too */
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %d", statement_timeout_ms);
    return store_set_session_sql(s, sql);
}

int store_api_health(store_t *s)
{
    PGconn *c = store_conn(s);
    if (!c)
        return -EIO;
    PGresult *r = PQexecParams(c, SQL_HEALTH, 0, NULL, NULL, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    return ok ? 0 : -EIO;
}

/* The uptime windows of GET /api/assets, ending now. */
static const struct {
    const char *name;
    int64_t len_ms;
} WINDOWS[] = {{"24h", HISTORY_DAY_MS}, {"7d", 7 * HISTORY_DAY_MS}, {"30d", 30 * HISTORY_DAY_MS}};
#define N_WINDOWS (sizeof WINDOWS / sizeof *WINDOWS)

/* Collects store_history's sums: asset id -> {"24h": {...secs}, ...} as uptime_secs_t. */
typedef struct {
    json_t *by_asset;   /* id -> array of N_WINDOWS figures (JSON) */
    int rc;
} figures_t;

static void s_on_window(void *ctx, const char *asset_id, int slot, const uptime_secs_t *u)
{
    figures_t *f = ctx;
    if (slot < 0 || slot >= (int) N_WINDOWS)
        return;
    json_t *o = json_object_get(f->by_asset, asset_id);
    if (!o) {
        o = json_object();
        if (!o || json_object_set_new(f->by_asset, asset_id, o) != 0) {
            f->rc = -ENOMEM;
            return;
        }
    }
    if (json_object_set_new(o, WINDOWS[slot].name, uptime_ratio_json(u)) != 0)
        f->rc = -ENOMEM;
}

/* Puts "uptime": {"24h", "7d", "30d"} (uptime.h: a figure, or null without up or down time)
 * into each row, from the rollups and the raw intervals (store_history.h). */
static int s_uptime_figures(store_t *s, const char *asset_id, json_t *rows, char *err,
                            size_t errlen)
{
    int64_t now = sd_wall_ms();
    history_built_t built = {0};
    int rc = store_history_built(s, &built, err, errlen);
    history_seg_t seg[64 * N_WINDOWS];
    size_t n = 0;
    for (size_t w = 0; rc == 0 && w < N_WINDOWS; w++)
        if (history_plan(now - WINDOWS[w].len_ms, now, &built, HISTORY_DAY, (int) w,
                         seg, sizeof seg / sizeof *seg, &n) != 0) {
            snprintf(err, errlen, "uptime: history plan too long");
            rc = -EINVAL;
        }
    figures_t f = {.by_asset = json_object(), .rc = 0};
    if (rc == 0 && !f.by_asset)
        rc = -ENOMEM;
    if (rc == 0)
        rc = store_history_secs(s, asset_id, seg, n, s_on_window, &f, err, errlen);
    if (rc == 0)
        rc = f.rc;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        if (rc)
            break;
        json_t *fig = json_object(), *got =
            json_object_get(f.by_asset, json_string_value(json_object_get(row, "id")));
        for (size_t w = 0; fig && w < N_WINDOWS; w++) {
            json_t *v = json_object_get(got, WINDOWS[w].name);
            json_object_set_new(fig, WINDOWS[w].name, v ? json_incref(v) : json_null());
        }
        if (!fig || json_object_set_new(row, "uptime", fig) != 0)
            rc = -ENOMEM;
    }
    json_decref(f.by_asset);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int store_api_assets(store_t *s, json_t **out, char *err, size_t errlen)
{
    const char *params[] = {NULL};
    int rc = s_json_rows(s, "assets", SQL_ASSETS, 1, params, out, err, errlen);
    if (rc == 0 && (rc = s_uptime_figures(s, NULL, *out, err, errlen)) != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* The one row of rows (taken) as *out, or -ENOENT "asset not found". */
static int s_the_asset(json_t *rows, json_t **out, char *err, size_t errlen)
{
    if (json_array_size(rows) != 1) {
        json_decref(rows);
        snprintf(err, errlen, "asset not found");
        return -ENOENT;
    }
    *out = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return 0;
}

int store_api_asset(store_t *s, const char *asset_id, json_t **out, char *err, size_t errlen)
{
    if (!asset_id)
        return -EINVAL;
    const char *params[] = {asset_id};
    json_t *rows = NULL;
    int rc = s_json_rows(s, "asset", SQL_ASSETS, 1, params, &rows, err, errlen);
    if (rc == 0 && (rc = s_uptime_figures(s, asset_id, rows, err, errlen)) != 0)
        json_decref(rows);
    return rc ? rc : s_the_asset(rows, out, err, errlen);
}

/* 0 when the asset is in the table, -ENOENT when not, -EIO. */
static int s_asset_exists(store_t *s, const char *asset_id, char *err, size_t errlen)
{
    PGconn *c = store_conn(s);
    if (!c) {
        store_set_error(s, "asset lookup", err, errlen);
        return -EIO;
    }
    const char *p1[] = {asset_id};
    PGresult *r = PQexecParams(c, SQL_ASSET_EXISTS, 1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        store_set_error(s, "asset lookup", err, errlen);
        PQclear(r);
        return -EIO;
    }
    int found = PQntuples(r) > 0;
    PQclear(r);
    if (!found) {
        snprintf(err, errlen, "asset not found");
        return -ENOENT;
    }
    return 0;
}

int store_api_events(store_t *s, const char *asset_id, int limit, json_t **out, char *err,
                     size_t errlen)
{
    if (!asset_id || limit < 1 || limit > 1000)
        return -EINVAL;
    int rc = s_asset_exists(s, asset_id, err, errlen);
    if (rc)
        return rc;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p2[] = {asset_id, lim};
    return s_json_rows(s, "events", SQL_EVENTS, 2, p2, out, err, errlen);
}

int store_api_asset_state(store_t *s, const char *asset_id, json_t **out, char *err,
                          size_t errlen)
{
    const char *p[] = {asset_id};
    json_t *rows = NULL;
    int rc = s_json_rows(s, "asset state",
                         "SELECT json_build_object('state', state)::text FROM assets"
                         " WHERE id = $1 AND in_manifest",
                         1, p, &rows, err, errlen);
    return rc ? rc : s_the_asset(rows, out, err, errlen);
}

static void s_on_one(void *ctx, const char *asset_id, int slot, const uptime_secs_t *u)
{
    (void) asset_id;
    (void) slot;
    *(uptime_secs_t *) ctx = *u;
}

int store_api_uptime(store_t *s, const char *asset_id, int64_t from_ms, int64_t to_ms,
                     json_t **out, char *err, size_t errlen)
{
    if (!asset_id || from_ms >= to_ms)
        return -EINVAL;
    json_t *incidents = NULL;
    char from[32], to[32];
    snprintf(from, sizeof from, "%lld", (long long) from_ms);
    snprintf(to, sizeof to, "%lld", (long long) to_ms);
    const char *p[] = {asset_id, from, to};
    int rc = s_asset_exists(s, asset_id, err, errlen);
    if (rc == 0)
        rc = s_json_rows(s, "uptime incidents", SQL_UPTIME_INCIDENTS, 3, p, &incidents, err,
                         errlen);
    if (rc)
        return rc;
    /* the whole range from the rollups where they are built, the edges from the raw
     * intervals (a year in days: the plan has room) */
    history_built_t built = {0};
    history_seg_t *seg = malloc(STORE_HISTORY_MAX_SEGS * sizeof *seg);
    size_t n = 0;
    uptime_secs_t u = {0};
    rc = seg ? store_history_built(s, &built, err, errlen) : -ENOMEM;
    if (rc == 0 && history_plan(from_ms, to_ms, &built, HISTORY_DAY, 0, seg,
                                STORE_HISTORY_MAX_SEGS, &n) != 0) {
        snprintf(err, errlen, "uptime: history plan too long");
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = store_history_secs(s, asset_id, seg, n, s_on_one, &u, err, errlen);
    free(seg);
    if (rc) {
        json_decref(incidents);
        return rc == -ENOMEM ? -EIO : rc;
    }
    char f[40], t[40];
    sd_format_rfc3339(from_ms, f, sizeof f);
    sd_format_rfc3339(to_ms, t, sizeof t);
    json_t *o = uptime_json(&u);
    if (!o || json_object_set_new(o, "assetId", json_string(asset_id)) ||
        json_object_set_new(o, "from", json_string(f)) ||
        json_object_set_new(o, "to", json_string(t)) ||
        json_object_set_new(o, "incidents", incidents)) {
        json_decref(o);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *out = o;
    return 0;
}

/* asset id -> its seconds (uptime_json), for store_api_uptime_all */
typedef struct {
    json_t *by;
    bool oom;
} all_t;

static void s_on_all(void *ctx, const char *asset_id, int slot, const uptime_secs_t *u)
{
    (void) slot;
    all_t *a = ctx;
    if (json_object_set_new(a->by, asset_id, uptime_json(u)) != 0)
        a->oom = true;
}

int store_api_uptime_all(store_t *s, int64_t from_ms, int64_t to_ms, json_t **out, char *err,
                         size_t errlen)
{
    if (from_ms >= to_ms)
        return -EINVAL;
    json_t *ids = NULL, *by = json_object();
    history_built_t built = {0};
    history_seg_t seg[64];
    size_t n = 0;
    int rc = by ? s_json_rows(s, "assets", "SELECT json_build_object('id', id)::text FROM assets"
                                           " WHERE in_manifest ORDER BY id",
                              0, NULL, &ids, err, errlen)
                : -ENOMEM;
    if (rc == 0)
        rc = store_history_built(s, &built, err, errlen);
    if (rc == 0 && history_plan(from_ms, to_ms, &built, HISTORY_DAY, 0, seg,
                                sizeof seg / sizeof *seg, &n) != 0) {
        snprintf(err, errlen, "uptime: history plan too long");
        rc = -EINVAL;
    }
    all_t all = {.by = by, .oom = false};
    if (rc == 0)
        rc = store_history_secs(s, NULL, seg, n, s_on_all, &all, err, errlen);
    json_t *arr = rc == 0 && !all.oom ? json_array() : NULL;
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        if (!arr)
            break;
        id = json_object_get(id, "id");
        json_t *fig = json_object_get(by, json_string_value(id));
        uptime_secs_t zero = {0};
        fig = fig ? json_incref(fig) : uptime_json(&zero);
        if (!fig || json_object_set(fig, "assetId", id) != 0 ||
            json_array_append_new(arr, fig) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    json_decref(ids);
    json_decref(by);
    if (rc == 0 && !arr) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    if (rc == 0)
        *out = arr;
    return rc;
}

int store_api_incidents(store_t *s, bool open_only, json_t **out, char *err, size_t errlen)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", STORE_API_MAX_INCIDENTS);
    const char *params[] = {open_only ? "true" : "false", lim};
    return s_json_rows(s, "incidents", SQL_INCIDENTS, 2, params, out, err, errlen);
}

int store_api_agents(store_t *s, json_t **out, char *err, size_t errlen)
{
    return s_json_rows(s, "agents", SQL_AGENTS, 0, NULL, out, err, errlen);
}

int store_api_incident(store_t *s, int64_t id, json_t **out, char *err, size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long) id);
    const char *params[] = {ids};
    json_t *rows = NULL;
    int rc = s_json_rows(s, "incident", SQL_INCIDENT, 1, params, &rows, err, errlen);
    if (rc)
        return rc;
    if (json_array_size(rows) != 1) {
        json_decref(rows);
        snprintf(err, errlen, "incident not found");
        return -ENOENT;
    }
    *out = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return 0;
}

int store_api_maintenance_list(store_t *s, json_t **out, char *err, size_t errlen)
{
    return s_json_rows(s, "maintenance", SQL_MAINT_LIST, 0, NULL, out, err, errlen);
}

int store_api_maintenance_window(store_t *s, int64_t id, json_t **out, char *err,
                                 size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long) id);
    const char *params[] = {ids};
    json_t *rows = NULL;
    int rc = s_json_rows(s, "maintenance window", SQL_MAINT_ONE, 1, params, &rows, err, errlen);
    if (rc)
        return rc;
    if (json_array_size(rows) != 1) {
        json_decref(rows);
        snprintf(err, errlen, "no maintenance window %lld", (long long) id);
        return -ENOENT;
    }
    *out = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return 0;
}
