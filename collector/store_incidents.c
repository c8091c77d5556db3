/* store_incidents: see store_incidents.h. Times cross the wire as unix milliseconds
 * (to_timestamp($n::double precision / 1000)). */
#include "store_incidents.h"

#include "sd_utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t s_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int store_incidents_load_open(store_t *s, void (*cb)(const store_open_incident_t *, void *),
                              void *arg, char *err, size_t errlen)
{
    PGresult *r = store_exec(
        s, "load open incidents",
        "SELECT i.asset_id, i.id, (extract(epoch FROM i.started_at) * 1000)::bigint,"
        " EXISTS (SELECT 1 FROM notifications n WHERE n.incident_id = i.id"
        "         AND n.event IN ('DOWN', 'REMINDER')),"
        " i.acknowledged_at IS NOT NULL,"
        " ',' || COALESCE((SELECT string_agg(DISTINCT n.channel, ',') FROM notifications n"
        "   WHERE n.incident_id = i.id AND n.event = 'DOWN'), '') || ','"
        " FROM incidents i WHERE i.ended_at IS NULL ORDER BY i.id",
        0, NULL, err, errlen);
    if (!r)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++) {
        store_open_incident_t inc = {.asset_id = PQgetvalue(r, i, 0),
                                     .incident_id = s_i64(r, i, 1),
                                     .started_at_ms = s_i64(r, i, 2),
                                     .notified = PQgetvalue(r, i, 3)[0] == 't',
                                     .acknowledged = PQgetvalue(r, i, 4)[0] == 't',
                                     .down_channels = PQgetvalue(r, i, 5)};
        cb(&inc, arg);
    }
    PQclear(r);
    return 0;
}

int store_incidents_acknowledged(store_t *s, int64_t incident_id, bool *acked, char *err,
                                 size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%" PRId64, incident_id);
    const char *p[] = {ids};
    PGresult *r = store_exec(s, "incident acknowledged?",
                             "SELECT acknowledged_at IS NOT NULL FROM incidents"
                             " WHERE id = $1::bigint",
                             1, p, err, errlen);
    if (!r)
        return -EIO;
    *acked = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

int store_incidents_open(store_t *s, const char *asset_id, int64_t started_at_ms,
                         int64_t detected_at_ms, const char *summary, const char *details_json,
                         int64_t *id, char *err, size_t errlen)
{
    char started[32], detected[32];
    snprintf(started, sizeof started, "%" PRId64, started_at_ms);
    snprintf(detected, sizeof detected, "%" PRId64, detected_at_ms);
    /* the summary quotes outside text (a name, an agent's reason) and may have been cut
     * inside a character: PostgreSQL would refuse the incident on every tick */
    char *fixed = NULL;
    size_t len = summary ? strlen(summary) : 0;
    if (!sd_utf8_valid(summary, len) && !(fixed = sd_utf8_dup(summary, len, SIZE_MAX, 0))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    const char *params[5] = {asset_id, started, fixed ? fixed : summary ? summary : "",
                             details_json ? details_json : "[]",
                             detected_at_ms > 0 ? detected : NULL};
    PGresult *r = store_exec(
        s, "open incident",
        "INSERT INTO incidents (asset_id, started_at, summary, details, detected_at)"
        " VALUES ($1, to_timestamp($2::double precision / 1000), $3, $4::jsonb,"
        " COALESCE(to_timestamp($5::double precision / 1000), now())) RETURNING id",
        5, params, err, errlen);
    if (!r || PQntuples(r) != 1) {
        /* store_exec kept the SQLSTATE: 23505 is the one open incident per asset */
        int rc = r ? -EIO : store_error_is_unique(s) ? -EEXIST : -EIO;
        PQclear(r);
        free(fixed);
        return rc;
    }
    *id = s_i64(r, 0, 0);
    PQclear(r);
    free(fixed);
    return 0;
}

int store_incidents_find_open(store_t *s, const char *asset_id, int64_t *id,
                              int64_t *started_at_ms, char *err, size_t errlen)
{
    const char *params[1] = {asset_id};
    PGresult *r = store_exec(s, "find open incident",
                             "SELECT id, (extract(epoch FROM started_at) * 1000)::bigint"
                             " FROM incidents WHERE asset_id = $1 AND ended_at IS NULL",
                             1, params, err, errlen);
    if (!r)
        return -EIO;
    int rc = PQntuples(r) == 1 ? 0 : -ENOENT;
    if (rc == 0) {
        *id = s_i64(r, 0, 0);
        *started_at_ms = s_i64(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

int store_incidents_close(store_t *s, int64_t incident_id, int64_t ended_at_ms, char *err,
                          size_t errlen)
{
    char id[32], ended[32];
    snprintf(id, sizeof id, "%" PRId64, incident_id);
    snprintf(ended, sizeof ended, "%" PRId64, ended_at_ms);
    const char *params[2] = {id, ended};
    PGresult *r = store_exec(s, "close incident",
                             "UPDATE incidents SET ended_at = to_timestamp($2::double precision"
                             " / 1000) WHERE id = $1::bigint AND ended_at IS NULL",
                             2, params, err, errlen);
    if (!r)
        return -EIO;
    int rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : -EALREADY;
    PQclear(r);
    return rc;
}

int store_incidents_event_at(store_t *s, int64_t incident_id, const char *kind,
                             const char *detail_json, int64_t at_ms, char *err, size_t errlen)
{
    char id[32], at[32];
    snprintf(id, sizeof id, "%" PRId64, incident_id);
    snprintf(at, sizeof at, "%" PRId64, at_ms);
    const char *params[4] = {id, kind, detail_json ? detail_json : "{}", at_ms > 0 ? at : NULL};
    return store_command(s, "incident event",
                 "INSERT INTO incident_events (incident_id, kind, detail, at)"
                 " VALUES ($1::bigint, $2, $3::jsonb,"
                 " COALESCE(to_timestamp($4::double precision / 1000), now()))",
                 4, params, err, errlen);
}

int store_incidents_event(store_t *s, int64_t incident_id, const char *kind,
                          const char *detail_json, char *err, size_t errlen)
{
    return store_incidents_event_at(s, incident_id, kind, detail_json, 0, err, errlen);
}

int store_incidents_ack(store_t *s, int64_t id, const char *token_fp, const char *by,
                        const char *note, char *err, size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    if (store_begin(s, err, errlen) != 0)
        return -EIO;
    const char *p1[] = {ids};
    PGresult *r = store_exec(s, "ack lookup",
                             "SELECT ended_at IS NOT NULL, acknowledged_at IS NOT NULL"
                             " FROM incidents WHERE id = $1::bigint FOR UPDATE",
                             1, p1, err, errlen);
    int rc = r ? 0 : -EIO;
    if (rc == 0 && PQntuples(r) != 1) {
        snprintf(err, errlen, "incident not found");
        rc = -ENOENT;
    } else if (rc == 0 && PQgetvalue(r, 0, 0)[0] == 't') {
        snprintf(err, errlen, "incident is closed");
        rc = -ESRCH;
    } else if (rc == 0 && PQgetvalue(r, 0, 1)[0] == 't') {
        snprintf(err, errlen, "incident is already acknowledged");
        rc = -EALREADY;
    }
    PQclear(r);
    if (rc == 0) {
        const char *p2[] = {ids, token_fp ? token_fp : "", by, note};
        rc = store_command(s, "ack",
                           "WITH u AS (UPDATE incidents SET acknowledged_at = now()"
                           "  WHERE id = $1::bigint RETURNING id)"
                           " INSERT INTO incident_events (incident_id, kind, detail)"
                           " SELECT id, 'acknowledged', jsonb_strip_nulls(jsonb_build_object("
                           "  'token', $2::text, 'by', $3::text, 'note', $4::text)) FROM u",
                           4, p2, err, errlen);
    }
    if (rc == 0) {
        /* ACKNOWLEDGED to every channel its DOWN or a REMINDER was queued for (delivered
         * after them: store_outbox_lease), in the same transaction as the ack */
        const char *p3[] = {ids, by ? by : (token_fp ? token_fp : "")};
        rc = store_command(
            s, "ack notifications",
            "INSERT INTO notifications (incident_id, asset_id, event, channel, payload)"
            " SELECT i.id, i.asset_id, 'ACKNOWLEDGED', c.channel, jsonb_build_object("
            "  'event', 'ACKNOWLEDGED', 'incident_id', i.id, 'asset_id', i.asset_id,"
            "  'asset_name', COALESCE(a.name, i.asset_id), 'address', COALESCE(a.address, ''),"
            "  'started_at', to_char(i.started_at AT TIME ZONE 'UTC',"
            "                        'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
            "  'acknowledged_at', to_char(i.acknowledged_at AT TIME ZONE 'UTC',"
            "                             'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
            "  'acknowledged_by', $2::text)"
            " FROM incidents i LEFT JOIN assets a ON a.id = i.asset_id,"
            "  (SELECT DISTINCT channel FROM notifications WHERE incident_id = $1::bigint"
            "    AND event IN ('DOWN', 'REMINDER')) c"
            " WHERE i.id = $1::bigint",
            2, p3, err, errlen);
    }
    if (rc == 0)
        rc = store_commit(s, err, errlen) == 0 ? 0 : -EIO;
    if (rc != 0)
        store_rollback(s);
    return rc;
}
