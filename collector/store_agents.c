/* store_agents: the agents table (see store_agents.h). */
#include "store_agents.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_agents_hello(store_t *s, const char *agent_id, const char *region,
                       const char *version, int64_t clock_skew_ms, int heartbeat_ms,
                       uint64_t *last_seq, char *err, size_t errlen)
{
    char skew[32], hb[16];
    snprintf(skew, sizeof skew, "%" PRId64, clock_skew_ms);
    snprintf(hb, sizeof hb, "%d", heartbeat_ms);
    const char *params[5] = {agent_id, region ? region : "", version ? version : "", skew,
                             heartbeat_ms > 0 ? hb : NULL};
    PGresult *r = PQexecParams(store_conn(s),
                               "INSERT INTO agents (id, region, version, last_seen, connected,"
                               " clock_skew_ms, heartbeat_ms) VALUES ($1, $2, $3, now(), true,"
                               " $4::bigint, $5::integer)"
                               " ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region,"
                               " version = EXCLUDED.version, last_seen = now(),"
                               " connected = true, clock_skew_ms = EXCLUDED.clock_skew_ms,"
                               " heartbeat_ms = COALESCE(EXCLUDED.heartbeat_ms,"
                               " agents.heartbeat_ms)"
                               " RETURNING last_seq",
                               5, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        store_set_error(s, "agent hello", err, errlen);
        rc = -EIO;
    } else if (last_seq) {
        *last_seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return rc;
}

int store_agents_disconnected(store_t *s, const char *agent_id, char *err, size_t errlen)
{
    const char *params[1] = {agent_id};
    return store_command(s, "agent disconnected",
                     "UPDATE agents SET connected = false, last_seen = now() WHERE id = $1", 1,
                     params, err, errlen);
}

int store_agents_all_disconnected(store_t *s, char *err, size_t errlen)
{
    return store_command(s, "agents disconnected",
                     "UPDATE agents SET connected = false WHERE connected", 0, NULL, err,
                     errlen);
}

static void s_copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* Runs a liveness transition that RETURNs (region, version, down_since ms) when it
 * changed the row. */
static int s_transition(store_t *s, const char *what, const char *sql, int n,
                        const char *const *params, bool *changed, store_agent_info_t *info,
                        char *err, size_t errlen)
{
    PGresult *r = PQexecParams(store_conn(s), sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        store_set_error(s, what, err, errlen);
        return -EIO;
    }
    *changed = PQntuples(r) == 1;
    if (*changed && info) {
        s_copy(info->region, sizeof info->region, PQgetvalue(r, 0, 0));
        s_copy(info->version, sizeof info->version, PQgetvalue(r, 0, 1));
        info->down_since_ms =
            PQgetisnull(r, 0, 2) ? 0 : strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    }
    PQclear(r);
    return 0;
}

int store_agents_mark_down(store_t *s, const char *agent_id, const char *region,
                           int64_t last_heard_ms, bool *changed, store_agent_info_t *info,
                           char *err, size_t errlen)
{
    char heard[32];
    snprintf(heard, sizeof heard, "%" PRId64, last_heard_ms);
    (void) region; /* the gateway only declares down an agent whose Hello ingest stored */
    const char *params[2] = {agent_id, heard};
    return s_transition(
        s, "agent down",
        "UPDATE agents SET liveness = 'down', down_since = CASE WHEN $2::bigint > 0"
        "  THEN to_timestamp($2::double precision / 1000) ELSE now() END"
        " WHERE id = $1 AND liveness = 'up'"
        " RETURNING region, version, (extract(epoch FROM down_since) * 1000)::bigint",
        2, params, changed, info, err, errlen);
}

int store_agents_mark_up(store_t *s, const char *agent_id, const char *region, bool *changed,
                         store_agent_info_t *info, char *err, size_t errlen)
{
    (void) region;
    const char *params[1] = {agent_id};
    return s_transition(
        s, "agent up",
        "UPDATE agents a SET liveness = 'up', down_since = NULL FROM agents o"
        " WHERE a.id = $1 AND o.id = a.id AND a.liveness = 'down'"
        " RETURNING a.region, a.version, (extract(epoch FROM o.down_since) * 1000)::bigint",
        1, params, changed, info, err, errlen);
}

int store_agents_set_skew(store_t *s, const char *agent_id, int64_t skew_ms, char *err,
                          size_t errlen)
{
    char skew[32];
    snprintf(skew, sizeof skew, "%" PRId64, skew_ms);
    const char *params[2] = {agent_id, skew};
    PGresult *r = store_exec(s, "agent clock skew",
                             "UPDATE agents SET clock_skew_ms = $2::bigint WHERE id = $1", 2,
                             params, err, errlen);
    if (!r)
        return -EIO;
    int rc = strcmp(PQcmdTuples(r), "0") == 0 ? -ENOENT : 0;
    if (rc)
        snprintf(err, errlen, "agent clock skew: no agents row yet");
    PQclear(r);
    return rc;
}

int store_agents_last_heard(store_t *s, const char *agent_id, int64_t *ms, char *err,
                            size_t errlen)
{
    const char *params[1] = {agent_id};
    /* the newest result by the agent's sequence number: one index probe (agent_id, seq) */
    PGresult *r = PQexecParams(store_conn(s),
                               "SELECT (extract(epoch FROM GREATEST(a.last_seen,"
                               " (SELECT p.received_at FROM probe_events p"
                               "  WHERE p.agent_id = a.id ORDER BY p.seq DESC LIMIT 1)))"
                               " * 1000)::bigint FROM agents a WHERE a.id = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        store_set_error(s, "agent last heard", err, errlen);
        return -EIO;
    }
    *ms = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                                                     : 0;
    PQclear(r);
    return 0;
}

int store_agents_load(store_t *s, int64_t forget_ms,
                      void (*cb)(const store_agent_row_t *row, void *arg), void *arg, char *err,
                      size_t errlen)
{
    char forget[24];
    snprintf(forget, sizeof forget, "%lld", (long long) forget_ms);
    const char *params[1] = {forget};
    PGresult *r = PQexecParams(
        store_conn(s),
        "SELECT id, region, liveness = 'up', clock_skew_ms, coalesce(heartbeat_ms, 0),"
        " coalesce((extract(epoch FROM down_since) * 1000)::bigint, 0) FROM agents"
        " WHERE $1::bigint <= 0 OR liveness = 'up' OR down_since IS NULL"
        "  OR down_since > now() - $1::bigint * interval '1 millisecond'"
        " ORDER BY liveness = 'up' DESC, down_since DESC NULLS FIRST, id",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        store_set_error(s, "load agents", err, errlen);
        return -EIO;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        store_agent_row_t row = {
            .id = PQgetvalue(r, i, 0),
            .region = PQgetvalue(r, i, 1),
            .up = PQgetvalue(r, i, 2)[0] == 't',
            .clock_skew_ms = strtoll(PQgetvalue(r, i, 3), NULL, 10),
            .heartbeat_ms = (int) strtol(PQgetvalue(r, i, 4), NULL, 10),
            .down_since_ms = strtoll(PQgetvalue(r, i, 5), NULL, 10),
        };
        cb(&row, arg);
    }
    PQclear(r);
    return 0;
}

int store_agents_set_isolated(store_t *s, const char *agent_id, bool isolated, char *err,
                              size_t errlen)
{
    const char *p[] = {agent_id, isolated ? "t" : "f"};
    return store_command(s, "set isolated",
                         "UPDATE agents SET isolated = $2::boolean,"
                         " isolated_since = CASE WHEN $2::boolean THEN now() END WHERE id = $1",
                         2, p, err, errlen);
}

int store_agents_load_isolated(store_t *s, void (*cb)(const char *agent_id, void *arg),
                               void *arg, char *err, size_t errlen)
{
    PGresult *r = store_exec(s, "load isolated", "SELECT id FROM agents WHERE isolated", 0,
                             NULL, err, errlen);
    if (!r)
        return -EIO;
    for (int i = 0; i < PQntuples(r); i++)
        cb(PQgetvalue(r, i, 0), arg);
    PQclear(r);
    return 0;
}

int store_agents_lock_seq(store_t *s, const char *agent_id, const char *region,
                          uint64_t *last_seq, char *err, size_t errlen)
{
    const char *params[2] = {agent_id, region};
    PGresult *r = PQexecParams(store_conn(s),
                               "INSERT INTO agents (id, region, last_seen, connected)"
                               " VALUES ($1, $2, now(), true)"
                               " ON CONFLICT (id) DO UPDATE SET last_seen = now()"
                               " RETURNING last_seq",
                               2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        store_set_error(s, "lock agent", err, errlen);
        rc = -EIO;
    } else {
        *last_seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return rc;
}

int store_agents_advance_seq(store_t *s, const char *agent_id, uint64_t seq, char *err,
                             size_t errlen)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, seq);
    const char *params[2] = {agent_id, num};
    PGresult *r = PQexecParams(store_conn(s),
                               "UPDATE agents SET last_seq = $2::bigint WHERE id = $1"
                               " AND last_seq < $2::bigint",
                               2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        store_set_error(s, "update last_seq", err, errlen);
        rc = -EIO;
    }
    PQclear(r);
    return rc;
}
