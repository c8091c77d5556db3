/* store_assets: see store_assets.h. Times cross the wire as unix milliseconds
 * (to_timestamp($n::double precision / 1000)). */
#include "store_assets.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_utf8.h"

static int64_t s_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *s_json_or_null(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return s;
}

static int s_upsert_asset(store_t *s, const sd_asset_t *a, char *err, size_t errlen)
{
    char interval[16], timeout[16];
    snprintf(interval, sizeof interval, "%d", a->interval_seconds);
    snprintf(timeout, sizeof timeout, "%d", a->timeout_seconds);
    json_t *codes = NULL, *locs = NULL;
    if (a->expected_status_codes) {
        codes = json_array();
        for (size_t i = 0; i < a->n_expected_status_codes; i++)
            json_array_append_new(codes, json_integer(a->expected_status_codes[i]));
    }
    if (a->locations) {
        locs = json_array();
        for (size_t i = 0; i < a->n_locations; i++)
            json_array_append_new(locs, json_string(a->locations[i]));
    }
    char *codes_s = s_json_or_null(codes);
    char *locs_s = s_json_or_null(locs);
    char *meta_s = a->metadata ? json_dumps(a->metadata, JSON_COMPACT) : NULL;
    const char *params[9] = {a->id,       a->name ? a->name : a->id,
                             a->address ? a->address : "",
                             a->asset_type ? a->asset_type : "http",
                             interval,    timeout,
                             codes_s,     meta_s,
                             locs_s};
    int rc = store_command(
        s, "upsert asset",
        "INSERT INTO assets (id, name, address, asset_type, interval_seconds, timeout_seconds,"
        " expected_status_codes, metadata, locations, in_manifest, updated_at)"
        " VALUES ($1, $2, $3, $4, $5::integer, $6::integer,"
        " CASE WHEN $7::jsonb IS NULL THEN NULL ELSE"
        "  ARRAY(SELECT (jsonb_array_elements_text($7::jsonb))::integer) END,"
        " $8::jsonb,"
        " CASE WHEN $9::jsonb IS NULL THEN NULL ELSE"
        "  ARRAY(SELECT jsonb_array_elements_text($9::jsonb)) END,"
        " true, now())"
        " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, address = EXCLUDED.address,"
        " asset_type = EXCLUDED.asset_type, interval_seconds = EXCLUDED.interval_seconds,"
        " timeout_seconds = EXCLUDED.timeout_seconds,"
        " expected_status_codes = EXCLUDED.expected_status_codes,"
        " metadata = EXCLUDED.metadata, locations = EXCLUDED.locations,"
        " in_manifest = true, updated_at = now()",
        9, params, err, errlen);
    free(codes_s);
    free(locs_s);
    free(meta_s);
    return rc;
}

int store_assets_sync(store_t *s, const sd_manifest_t *m, char *err, size_t errlen)
{
    json_t *ids = json_array();
    if (!ids) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = store_begin(s, err, errlen);
    for (size_t i = 0; rc == 0 && m && i < m->n_assets; i++) {
        json_array_append_new(ids, json_string(m->assets[i].id));
        rc = s_upsert_asset(s, &m->assets[i], err, errlen);
    }
    char *ids_s = rc == 0 ? json_dumps(ids, JSON_COMPACT) : NULL;
    json_decref(ids);
    if (rc == 0 && !ids_s) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    if (rc == 0) {
        const char *params[1] = {ids_s};
        rc = store_command(s, "retire assets",
                       "UPDATE assets SET in_manifest = false, updated_at = now()"
                       " WHERE in_manifest AND id NOT IN"
                       " (SELECT jsonb_array_elements_text($1::jsonb))",
                       1, params, err, errlen);
    }
    free(ids_s);
    if (rc == 0)
        rc = store_commit(s, err, errlen);
    if (rc != 0)
        store_rollback(s);
    return rc;
}

int store_assets_load(store_t *s,
                      void (*cb)(const char *, const char *, int64_t, int64_t, void *),
                      void *arg, char *err, size_t errlen)
{
    PGresult *r = store_exec(
        s, "load assets",
        "SELECT a.id, a.state, (extract(epoch FROM a.state_since) * 1000)::bigint,"
        " (SELECT (extract(epoch FROM max(n.created_at)) * 1000)::bigint FROM notifications n"
        "  WHERE n.asset_id = a.id AND n.event IN ('DOWN', 'REMINDER'))"
        " FROM assets a",
        0, NULL, err, errlen);
    if (!r)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++)
        cb(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), s_i64(r, i, 2), s_i64(r, i, 3), arg);
    PQclear(r);
    return 0;
}

int store_assets_set_state(store_t *s, const char *asset_id, const char *state,
                           const char *reason, int64_t since_ms, char *err, size_t errlen)
{
    char since[32];
    snprintf(since, sizeof since, "%" PRId64, since_ms);
    /* the reason quotes outside text (agents' errors, region names): PostgreSQL refuses
     * invalid UTF-8, and the status page shows it on one line */
    char why[STORE_ASSETS_REASON_MAX + 1];
    sd_utf8_scopy(why, sizeof why, reason ? reason : "", SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    const char *params[4] = {asset_id, state, since, why};
    /* the state history in the same statement: a new state closes the open interval and
     * opens the next at the change (never before the open one started: zero length at
     * worst); the same state with another reason changes nothing there. A change in the past
     * (a DOWN from its first failing probe) marks the rollups from there stale. */
    return store_command(s, "asset state",
                         "WITH prev AS (SELECT id, state, started_at FROM asset_state_intervals"
                         "   WHERE asset_id = $1 AND ended_at IS NULL),"
                         " b AS (SELECT GREATEST(to_timestamp($3::double precision / 1000),"
                         "   COALESCE((SELECT max(started_at) FROM prev), '-infinity')) AS at),"
                         " u AS (UPDATE assets SET state = $2, state_reason = $4,"
                         "   state_since = to_timestamp($3::double precision / 1000),"
                         "   updated_at = now() WHERE id = $1 RETURNING id),"
                         " c AS (UPDATE asset_state_intervals SET ended_at = (SELECT at FROM b)"
                         "   WHERE id IN (SELECT id FROM prev WHERE state <> $2) RETURNING id),"
                         /* a change at a time already rolled up makes those rollups stale
                          * (migration 010): rebuilt by the upkeep, read raw meanwhile */
                         " w AS (UPDATE rollup_watermarks SET dirty_from = LEAST("
                         "   COALESCE(dirty_from, 'infinity'), date_trunc(period, (SELECT at FROM b),"
                         "   'UTC')) WHERE built_until > (SELECT at FROM b)"
                         "   AND NOT EXISTS (SELECT 1 FROM prev WHERE state = $2) RETURNING 1)"
                         " INSERT INTO asset_state_intervals (asset_id, state, started_at)"
                         " SELECT $1, $2, (SELECT at FROM b) FROM u"
                         " WHERE NOT EXISTS (SELECT 1 FROM prev WHERE state = $2)",
                         4, params, err, errlen);
}

int store_assets_set_reasons(store_t *s, const store_asset_reason_t *rows, size_t n, char *err,
                             size_t errlen)
{
    if (n == 0)
        return 0;
    size_t most = n < STORE_ASSETS_REASONS_BATCH ? n : STORE_ASSETS_REASONS_BATCH;
    char(*why)[STORE_ASSETS_REASON_MAX + 1] = malloc(most * sizeof *why);
    const char **params = malloc(2 * most * sizeof *params);
    /* "($1, $2), " per row: at most 2 x 5 digits + 9 */
    size_t sql_len = 160 + most * 24;
    char *sql = malloc(sql_len);
    int rc = 0;
    if (!why || !params || !sql) {
        snprintf(err, errlen, "asset reasons: out of memory");
        rc = -ENOMEM;
    }
    for (size_t off = 0; rc == 0 && off < n; off += most) {
        size_t k = n - off < most ? n - off : most;
        size_t used = (size_t) snprintf(sql, sql_len,
                                        "UPDATE assets a SET state_reason = v.reason,"
                                        " updated_at = now() FROM (VALUES ");
        for (size_t i = 0; i < k; i++) {
            sd_utf8_scopy(why[i], sizeof why[i], rows[off + i].reason ? rows[off + i].reason : "",
                          SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
            params[2 * i] = rows[off + i].asset_id;
            params[2 * i + 1] = why[i];
            used += (size_t) snprintf(sql + used, sql_len - used, "%s($%zu, $%zu)",
                                      i ? ", " : "", 2 * i + 1, 2 * i + 2);
        }
        snprintf(sql + used, sql_len - used, ") AS v (id, reason) WHERE a.id = v.id");
        rc = store_command(s, "asset reasons", sql, (int) (2 * k), params, err, errlen);
    }
    free(sql);
    free(params);
    free(why);
    return rc;
}

int store_assets_set_flapping(store_t *s, const char *asset_id, bool flapping, char *err,
                              size_t errlen)
{
    const char *p[] = {asset_id, flapping ? "t" : "f"};
    return store_command(s, "set flapping",
                         "UPDATE assets SET flapping = $2::boolean,"
                         " flapping_since = CASE WHEN $2::boolean THEN now() END WHERE id = $1",
                         2, p, err, errlen);
}

int store_assets_load_flapping(store_t *s, void (*cb)(const char *asset_id, void *arg),
                               void *arg, char *err, size_t errlen)
{
    PGresult *r = store_exec(s, "load flapping", "SELECT id FROM assets WHERE flapping", 0,
                             NULL, err, errlen);
    if (!r)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++)
        cb(PQgetvalue(r, i, 0), arg);
    PQclear(r);
    return 0;
}
