/* store_outbox: see store_outbox.h. */
#include "store_outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_utf8.h"

/* The ids of the members a digest row $1 went out with (none for another row). */
#define DIGEST_MEMBERS                                                                           \
    "SELECT (e->>'id')::bigint FROM notifications g, jsonb_array_elements("                      \
    " CASE WHEN jsonb_typeof(g.payload->'members') = 'array' THEN g.payload->'members'"         \
    " ELSE '[]'::jsonb END) e WHERE g.id = $1::bigint AND g.event = 'DIGEST'"

/* last_error: one line of valid UTF-8 (PostgreSQL refuses invalid UTF-8 and NUL, and a row
 * whose outcome cannot be written would be sent again), at most this many bytes */
#define ERROR_MAX 1000

int store_outbox_enqueue(store_t *s, int64_t incident_id, const char *asset_id,
                         const char *event, const char *channel, const char *payload_json,
                         char *err, size_t errlen)
{
    char id[32];
    snprintf(id, sizeof id, "%" PRId64, incident_id);
    const char *params[5] = {incident_id > 0 ? id : NULL, asset_id, event, channel,
                             payload_json ? payload_json : "{}"};
    return store_command(s, "enqueue notification",
                 "INSERT INTO notifications (incident_id, asset_id, event, channel, payload)"
                 " VALUES ($1::bigint, $2, $3, $4, $5::jsonb)",
                 5, params, err, errlen);
}

int store_outbox_enqueue_collapsed(store_t *s, int64_t incident_id, const char *asset_id,
                                   const char *event, const char *channel,
                                   const char *payload_json, const char *digest_key,
                                   int64_t due_ms, const char *digest_json, char *err,
                                   size_t errlen)
{
    char id[32], due[32];
    snprintf(id, sizeof id, "%" PRId64, incident_id);
    snprintf(due, sizeof due, "%" PRId64, due_ms);
    const char *params[8] = {incident_id > 0 ? id : NULL, asset_id, event, channel,
                             payload_json ? payload_json : "{}", digest_key, due,
                             digest_json ? digest_json : "{}"};
    return store_command(s, "enqueue collapsed notification",
                 "WITH g AS (INSERT INTO notifications (event, channel, payload, digest_key,"
                 "   next_attempt_at)"
                 "  VALUES ('DIGEST', $4, $8::jsonb, $6,"
                 "   to_timestamp($7::double precision / 1000))"
                 "  ON CONFLICT (channel, digest_key) WHERE event = 'DIGEST' DO NOTHING)"
                 " INSERT INTO notifications (incident_id, asset_id, event, channel, payload,"
                 "  digest_key) VALUES ($1::bigint, $2, $3, $4, $5::jsonb, $6)",
                 8, params, err, errlen);
}

int store_outbox_enqueue_agent(store_t *s, const char *agent_id, const char *event,
                               const char *channel, const char *payload_json, char *err,
                               size_t errlen)
{
    const char *params[4] = {agent_id, event, channel, payload_json ? payload_json : "{}"};
    return store_command(s, "enqueue agent notification",
                 "INSERT INTO notifications (agent_id, event, channel, payload)"
                 " VALUES ($1, $2, $3, $4::jsonb)",
                 4, params, err, errlen);
}

/* A JSON array literal of the ids/names, for = ANY(...) with one parameter. */
static char *s_json_array(const int64_t *ids, const char *const *names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, ids ? json_integer(ids[i]) : json_string(names[i]));
    char *out = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return out;
}

static char *s_dup(const char *v) { return strdup(v ? v : ""); }

int store_outbox_lease(store_t *s, int max, int lease_s, const int64_t *exclude_ids,
                       size_t n_exclude, const char *const *paused_channels, size_t n_paused,
                       outbox_row_t **rows, size_t *n, char *err, size_t errlen)
{
    char max_s[16], lease[16];
    snprintf(max_s, sizeof max_s, "%d", max);
    snprintf(lease, sizeof lease, "%d", lease_s);
    char *ex = s_json_array(exclude_ids, NULL, n_exclude);
    char *paused = s_json_array(NULL, paused_channels, n_paused);
    if (!ex || !paused) {
        free(ex);
        free(paused);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    const char *params[4] = {max_s, lease, ex, paused};
    PGresult *r = store_exec(
        s, "lease notifications",
        "UPDATE notifications u SET next_attempt_at = now() + make_interval(secs => $2::integer),"
        /* a digest goes out with the members pending now (marked with it when it is sent) */
        "  payload = CASE WHEN u.event <> 'DIGEST' THEN u.payload"
        "   ELSE u.payload || jsonb_build_object('members', (SELECT COALESCE(jsonb_agg("
        "    jsonb_build_object('id', m.id, 'event', m.event, 'incident_id', m.incident_id,"
        "     'asset_id', m.asset_id, 'asset_name', m.payload->'asset_name',"
        "     'reason', m.payload->'reason', 'started_at', m.payload->'started_at',"
        "     'duration_seconds', m.payload->'duration_seconds',"
        "     'escalation_tier', m.payload->'escalation_tier') ORDER BY m.id), '[]'::jsonb)"
        "    FROM notifications m WHERE m.channel = u.channel AND m.digest_key = u.digest_key"
        "     AND m.event <> 'DIGEST' AND m.status = 'pending')) END"
        " WHERE u.id IN ("
        "  SELECT p.id FROM notifications p"
        "  WHERE p.status = 'pending' AND p.next_attempt_at <= now()"
        "    AND p.id NOT IN (SELECT (jsonb_array_elements_text($3::jsonb))::bigint)"
        "    AND p.channel NOT IN (SELECT jsonb_array_elements_text($4::jsonb))"
        "    AND NOT (p.event IN ('RECOVERY', 'ACKNOWLEDGED') AND EXISTS ("
        "      SELECT 1 FROM notifications d WHERE d.incident_id = p.incident_id"
        "        AND d.channel = p.channel AND d.id < p.id"
        "        AND d.event IN ('DOWN', 'REMINDER', 'ACKNOWLEDGED')"
        "        AND d.status = 'pending'))"
        /* a page collapsed into a storm digest waits for it (sent alone only when it came
         * after its digest went out) */
        "    AND NOT (p.digest_key IS NOT NULL AND p.event <> 'DIGEST' AND EXISTS ("
        "      SELECT 1 FROM notifications g WHERE g.channel = p.channel"
        "        AND g.digest_key = p.digest_key AND g.event = 'DIGEST'"
        "        AND g.status = 'pending'))"
        /* a digest of recoveries waits for what its incidents still have pending there */
        "    AND NOT (p.event = 'DIGEST' AND EXISTS ("
        "      SELECT 1 FROM notifications m JOIN notifications d"
        "        ON d.incident_id = m.incident_id AND d.channel = m.channel AND d.id < m.id"
        "      WHERE m.channel = p.channel AND m.digest_key = p.digest_key"
        "        AND m.event = 'RECOVERY' AND m.status = 'pending'"
        "        AND d.event IN ('DOWN', 'REMINDER', 'ACKNOWLEDGED') AND d.status = 'pending'))"
        "    AND NOT (p.event = 'AGENT_UP' AND EXISTS ("
        "      SELECT 1 FROM notifications d WHERE d.agent_id = p.agent_id"
        "        AND d.channel = p.channel AND d.event = 'AGENT_DOWN' AND d.id < p.id"
        "        AND d.status = 'pending'))"
        "  ORDER BY p.next_attempt_at, p.id LIMIT $1::integer FOR UPDATE SKIP LOCKED)"
        " RETURNING u.id, COALESCE(u.incident_id, 0),"
        "  COALESCE(u.asset_id, u.agent_id, ''), u.event,"
        "  u.channel, u.payload::text, u.attempts,"
        "  (extract(epoch FROM u.created_at) * 1000)::bigint",
        4, params, err, errlen);
    free(ex);
    free(paused);
    if (!r)
        return -EIO;
    size_t cnt = (size_t) PQntuples(r);
    outbox_row_t *out = cnt ? calloc(cnt, sizeof *out) : NULL;
    if (cnt && !out) {
        PQclear(r);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < cnt; i++) {
        int row = (int) i;
        out[i].id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
        out[i].incident_id = strtoll(PQgetvalue(r, row, 1), NULL, 10);
        out[i].asset_id = s_dup(PQgetvalue(r, row, 2));
        out[i].event = s_dup(PQgetvalue(r, row, 3));
        out[i].channel = s_dup(PQgetvalue(r, row, 4));
        out[i].payload = s_dup(PQgetvalue(r, row, 5));
        out[i].attempts = atoi(PQgetvalue(r, row, 6));
        out[i].created_ms = strtoll(PQgetvalue(r, row, 7), NULL, 10);
        if (!out[i].asset_id || !out[i].event || !out[i].channel || !out[i].payload) {
            PQclear(r);
            store_outbox_rows_free(out, cnt);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    PQclear(r);
    *rows = out;
    *n = cnt;
    return 0;
}

void store_outbox_rows_free(outbox_row_t *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].asset_id);
        free(rows[i].event);
        free(rows[i].channel);
        free(rows[i].payload);
    }
    free(rows);
}

int store_outbox_mark_sent(store_t *s, int64_t id, char *err, size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *params[1] = {ids};
    return store_command(s, "mark sent",
                 "WITH u AS (UPDATE notifications SET status = 'sent', sent_at = now(),"
                 "   attempts = attempts + 1, last_error = NULL"
                 "   WHERE status = 'pending' AND (id = $1::bigint OR id IN (" DIGEST_MEMBERS "))"
                 "   RETURNING id, incident_id, event, channel, attempts)"
                 " INSERT INTO incident_events (incident_id, kind, detail)"
                 " SELECT incident_id, 'notified', jsonb_build_object('notification_id', id,"
                 "   'event', event, 'channel', channel, 'attempts', attempts)"
                 "   || CASE WHEN id = $1::bigint THEN '{}'::jsonb"
                 "      ELSE jsonb_build_object('digest', $1::bigint) END"
                 " FROM u WHERE incident_id IS NOT NULL",
                 1, params, err, errlen);
}

/* error made storable: a malloc'd copy, or NULL (err set) when memory runs out */
static char *s_error_text(const char *error, char *err, size_t errlen)
{
    char *t = sd_utf8_dup(error, error ? strlen(error) : 0, ERROR_MAX,
                          SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    if (!t)
        snprintf(err, errlen, "out of memory");
    return t;
}

int store_outbox_mark_retry(store_t *s, int64_t id, int64_t delay_ms, const char *error,
                            char *err, size_t errlen)
{
    char ids[32], delay[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(delay, sizeof delay, "%" PRId64, delay_ms);
    char *text = s_error_text(error, err, errlen);
    if (!text)
        return -ENOMEM;
    const char *params[3] = {ids, delay, text};
    int rc = store_command(s, "mark retry",
                 "UPDATE notifications SET attempts = attempts + 1, last_error = $3,"
                 " next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)"
                 " WHERE id = $1::bigint AND status = 'pending'",
                 3, params, err, errlen);
    free(text);
    return rc;
}

int store_outbox_mark_dead(store_t *s, int64_t id, const char *error, char *err, size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    char *text = s_error_text(error, err, errlen);
    if (!text)
        return -ENOMEM;
    const char *params[2] = {ids, text};
    int rc = store_command(s, "mark dead",
                 "UPDATE notifications SET status = 'dead', attempts = attempts + 1,"
                 " last_error = CASE WHEN id = $1::bigint THEN $2"
                 "  ELSE 'in digest ' || $1::bigint || ': ' || $2 END"
                 " WHERE status = 'pending' AND (id = $1::bigint OR id IN (" DIGEST_MEMBERS "))",
                 2, params, err, errlen);
    free(text);
    return rc;
}

int store_outbox_recent(store_t *s, int window_s, void (*cb)(const outbox_recent_t *, void *),
                        void *arg, char *err, size_t errlen)
{
    char w[32];
    snprintf(w, sizeof w, "%d", window_s);
    const char *params[1] = {w};
    PGresult *r = store_exec(
        s, "recent pages",
        "SELECT channel, event, COALESCE(digest_key, ''),"
        " (extract(epoch FROM created_at) * 1000)::bigint FROM notifications"
        " WHERE created_at > now() - make_interval(secs => $1::integer)"
        "  AND ((event IN ('DOWN', 'REMINDER', 'RECOVERY') AND asset_id IS NOT NULL)"
        "   OR (event = 'DIGEST' AND status = 'pending'))"
        " ORDER BY created_at, id",
        1, params, err, errlen);
    if (!r)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++) {
        outbox_recent_t row = {.channel = PQgetvalue(r, i, 0), .event = PQgetvalue(r, i, 1),
                               .digest_key = PQgetvalue(r, i, 2),
                               .at_ms = strtoll(PQgetvalue(r, i, 3), NULL, 10)};
        cb(&row, arg);
    }
    PQclear(r);
    return 0;
}

int store_outbox_pending(store_t *s, int64_t *n, char *err, size_t errlen)
{
    PGresult *r = store_exec(s, "count pending",
                        "SELECT count(*) FROM notifications WHERE status = 'pending'", 0, NULL,
                        err, errlen);
    if (!r)
        return -EIO;
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}
