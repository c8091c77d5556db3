/* store_maintenance: see store_maintenance.h. */
#include "store_maintenance.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $1 name, $2 asset_ids, $3 reason, $4 tz, $5 start 'HH:MM', $6 end 'HH:MM' or NULL,
 * $7 duration minutes (0: use $6), $8 from ms, $9 to ms, $10 ISO weekdays '{1,7}' */
static const char SQL_WEEKLY[] =
    "INSERT INTO maintenance_windows (source, name, asset_ids, starts_at, ends_at, reason)"
    " SELECT 'manifest', $1, $2::text[], s, e, $3 FROM ("
    "  SELECT (d + $5::time) AT TIME ZONE $4 AS s,"
    "   CASE WHEN $7::int > 0"
    "    THEN ((d + $5::time) AT TIME ZONE $4) + make_interval(mins => $7::int)"
    "    ELSE (d + $6::time + CASE WHEN $6::time <= $5::time THEN interval '1 day'"
    "          ELSE interval '0' END) AT TIME ZONE $4 END AS e"
    "  FROM generate_series("
    "    ((to_timestamp($8::double precision / 1000) AT TIME ZONE $4)::date - 8)::timestamp,"
    "    ((to_timestamp($9::double precision / 1000) AT TIME ZONE $4)::date + 1)::timestamp,"
    "    interval '1 day') AS d"
    "  WHERE extract(isodow FROM d)::int = ANY ($10::int[])) w"
    " WHERE e > to_timestamp($8::double precision / 1000)"
    "   AND s < to_timestamp($9::double precision / 1000) AND e > s";

static const char SQL_ONCE[] =
    "INSERT INTO maintenance_windows (source, name, asset_ids, starts_at, ends_at, reason)"
    " SELECT 'manifest', $1, $2::text[], to_timestamp($4::double precision / 1000),"
    " to_timestamp($5::double precision / 1000), $3"
    " WHERE $5::bigint > $6::bigint AND $4::bigint < $7::bigint";

/* Runs a command; adds its row count to *rows. 0 or -EIO. */
static int s_cmd(store_t *s, const char *what, const char *sql, int n, const char *const *p,
                 size_t *rows, char *err, size_t errlen)
{
    PGconn *c = store_conn(s);
    PGresult *r = c ? PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0) : NULL;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        store_set_error(s, what, err, errlen);
        PQclear(r);
        return -EIO;
    }
    if (rows)
        *rows += (size_t) strtoul(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/* '{"a","b"}' (manifest ids are [A-Za-z0-9-_.:]); NULL when the window has no asset list. */
static char *s_array(const sd_maintenance_t *w)
{
    if (!w->assets)
        return NULL;
    size_t len = 3;
    for (size_t i = 0; i < w->n_assets; i++)
        len += strlen(w->assets[i]) + 3;
    char *a = malloc(len);
    if (!a)
        return NULL;
    size_t o = (size_t) snprintf(a, len, "{");
    for (size_t i = 0; i < w->n_assets; i++)
        o += (size_t) snprintf(a + o, len - o, "%s\"%s\"", i ? "," : "", w->assets[i]);
    snprintf(a + o, len - o, "}");
    return a;
}

static int s_window(store_t *s, const sd_maintenance_t *w, const char *from, const char *to,
                    size_t *rows, char *err, size_t errlen)
{
    char *arr = s_array(w);
    if (w->assets && !arr)
        return -ENOMEM;
    int rc;
    if (w->days_mask) {
        char st[32], en[32], dur[16], days[32];
        snprintf(st, sizeof st, "%02d:%02d", w->start_minute / 60, w->start_minute % 60);
        snprintf(en, sizeof en, "%02d:%02d", w->end_minute / 60 % 24, w->end_minute % 60);
        snprintf(dur, sizeof dur, "%d", w->duration_minutes);
        size_t o = (size_t) snprintf(days, sizeof days, "{");
        for (int d = 1; d <= 7; d++)
            if (w->days_mask & (1u << d))
                o += (size_t) snprintf(days + o, sizeof days - o, "%s%d", o > 1 ? "," : "", d);
        snprintf(days + o, sizeof days - o, "}");
        const char *p[] = {w->id, arr, w->reason ? w->reason : "",
                           w->time_zone ? w->time_zone : "UTC", st,
                           w->end_minute >= 0 ? en : NULL, dur, from, to, days};
        rc = s_cmd(s, "expand weekly maintenance window", SQL_WEEKLY, 10, p, rows, err, errlen);
    } else {
        char st[32], en[32];
        snprintf(st, sizeof st, "%" PRId64, w->start_ms);
        snprintf(en, sizeof en, "%" PRId64, w->end_ms);
        const char *p[] = {w->id, arr, w->reason ? w->reason : "", st, en, from, to};
        rc = s_cmd(s, "store maintenance window", SQL_ONCE, 7, p, rows, err, errlen);
    }
    free(arr);
    return rc;
}

int store_maintenance_sync(store_t *s, const sd_manifest_t *m, int64_t from_ms, int64_t to_ms,
                           size_t *rows, char *err, size_t errlen)
{
    char from[32], to[32];
    snprintf(from, sizeof from, "%" PRId64, from_ms);
    snprintf(to, sizeof to, "%" PRId64, to_ms);
    size_t n = 0;
    int rc = store_begin(s, err, errlen);
    if (rc == 0)
        rc = s_cmd(s, "clear manifest maintenance windows",
                   "DELETE FROM maintenance_windows WHERE source = 'manifest'", 0, NULL, NULL,
                   err, errlen);
    for (size_t i = 0; rc == 0 && m && i < m->n_maintenance; i++)
        rc = s_window(s, &m->maintenance[i], from, to, &n, err, errlen);
    if (rc == 0)
        rc = store_commit(s, err, errlen);
    if (rc != 0) {
        store_rollback(s);
        return rc;
    }
    if (rows)
        *rows = n;
    return 0;
}

int store_maintenance_active(store_t *s,
                             void (*cb)(int64_t window_id, const char *asset_id, void *arg),
                             void *arg, char *err, size_t errlen)
{
    PGconn *c = store_conn(s);
    PGresult *r = c ? PQexecParams(c,
                                   "SELECT w.id, a.id FROM maintenance_windows w"
                                   " LEFT JOIN LATERAL unnest(w.asset_ids) AS a(id) ON true"
                                   " WHERE w.starts_at <= now() AND w.ends_at > now()"
                                   " ORDER BY w.id LIMIT 1000000",
                                   0, NULL, NULL, NULL, NULL, 0)
                    : NULL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        store_set_error(s, "active maintenance windows", err, errlen);
        PQclear(r);
        return -EIO;
    }
    for (int i = 0; i < PQntuples(r); i++)
        cb(strtoll(PQgetvalue(r, i, 0), NULL, 10),
           PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1), arg);
    PQclear(r);
    return 0;
}

/* '{"a","b"}' for ids of [A-Za-z0-9-_.:] (checked by the caller); NULL for none. */
static char *s_pg_array(const char *const *ids, size_t n)
{
    if (!ids)
        return NULL;
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += strlen(ids[i]) + 3;
    char *a = malloc(len);
    if (!a)
        return NULL;
    size_t o = 0;
    a[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t) snprintf(a + o, len - o, "%s\"%s\"", i ? "," : "", ids[i]);
    snprintf(a + o, len - o, "}");
    return a;
}

/* 0 when every id is a manifest asset and fewer than STORE_MAINTENANCE_MAX_API API windows
 * are pending; -ENOENT, -ENOSPC or -EIO with err. */
static int s_check_create(store_t *s, const char *arr, char *err, size_t errlen)
{
    const char *params[] = {arr};
    PGresult *r = store_exec(s, "check maintenance",
                             "SELECT (SELECT string_agg(x, ', ') FROM (SELECT unnest($1::text[])"
                             "  EXCEPT SELECT id FROM assets WHERE in_manifest) u(x)),"
                             " (SELECT count(*) FROM maintenance_windows"
                             "  WHERE source = 'api' AND ends_at > now())",
                             1, params, err, errlen);
    if (!r)
        return -EIO;
    int rc = 0;
    if (!PQgetisnull(r, 0, 0)) {
        snprintf(err, errlen, "no asset with id: %s", PQgetvalue(r, 0, 0));
        rc = -ENOENT;
    } else if (atol(PQgetvalue(r, 0, 1)) >= STORE_MAINTENANCE_MAX_API) {
        snprintf(err, errlen, "%d maintenance windows are pending already: end some first",
                 STORE_MAINTENANCE_MAX_API);
        rc = -ENOSPC;
    }
    PQclear(r);
    return rc;
}

int store_maintenance_create(store_t *s, const char *const *asset_ids, size_t n_assets,
                             int64_t start_ms, int64_t end_ms, const char *reason,
                             const char *token_fp, int64_t *id, char *err, size_t errlen)
{
    char st[32], en[32];
    snprintf(st, sizeof st, "%" PRId64, start_ms);
    snprintf(en, sizeof en, "%" PRId64, end_ms);
    char *arr = s_pg_array(asset_ids, n_assets);
    if (asset_ids && !arr) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = s_check_create(s, arr, err, errlen);
    const char *params[] = {arr, st, en, reason ? reason : "", token_fp};
    PGresult *r = rc ? NULL
                     : store_exec(s, "create maintenance",
                                  "INSERT INTO maintenance_windows (source, asset_ids, starts_at,"
                                  " ends_at, reason, created_by)"
                                  " VALUES ('api', $1::text[],"
                                  " to_timestamp($2::double precision / 1000),"
                                  " to_timestamp($3::double precision / 1000), $4, $5)"
                                  " RETURNING id",
                                  5, params, err, errlen);
    free(arr);
    if (rc)
        return rc;
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return -EIO;
    }
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int store_maintenance_end(store_t *s, int64_t id, char *err, size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *params[] = {ids};
    /* an upcoming window is cut to nothing; manifest windows cannot be ended */
    PGresult *r = store_exec(
        s, "end maintenance",
        "WITH w AS (SELECT id, source, ends_at > now() AS live FROM maintenance_windows"
        "           WHERE id = $1::bigint),"
        " u AS (UPDATE maintenance_windows m SET ends_at = now(),"
        "         starts_at = LEAST(m.starts_at, now()), ended_early_at = now()"
        "       FROM w WHERE m.id = w.id AND w.live AND w.source = 'api'"
        "       RETURNING m.id)"
        " SELECT w.source, w.live, (SELECT count(*) FROM u) FROM w",
        1, params, err, errlen);
    if (!r)
        return -EIO;
    int rc = 0;
    if (PQntuples(r) == 0) {
        snprintf(err, errlen, "no maintenance window %" PRId64, id);
        rc = -ENOENT;
    } else if (strcmp(PQgetvalue(r, 0, 0), "api") != 0) {
        snprintf(err, errlen, "window %" PRId64 " comes from the manifest: edit the manifest and "
                              "reload (SIGHUP or POST /api/reload) to change it", id);
        rc = -EPERM;
    } else if (strcmp(PQgetvalue(r, 0, 1), "t") != 0 || strcmp(PQgetvalue(r, 0, 2), "1") != 0) {
        snprintf(err, errlen, "window %" PRId64 " is already over", id);
        rc = -EALREADY;
    }
    PQclear(r);
    return rc;
}
