/* engine_incidents: the incident transitions of the alert engine (rules 3-7 in engine.c) and
 * the outbox payloads. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_priv.h"
#include "sd_log.h"
#include "store_incidents.h"
#include "store_outbox.h"

#define COMP ENGINE_COMP


json_t *engine_agents_json(const e_asset_t *a, sd_ms_t now_mono, const char **first_err)
{
    json_t *arr = json_array();
    *first_err = NULL;
    for (size_t i = 0; arr && i < quorum_agent_count(a->q); i++) {
        quorum_agent_t ag;
        if (quorum_agent_at(a->q, i, now_mono, &ag) != 0)
            continue;
        const char *vote = ag.stale      ? "STALE"
                           : ag.excluded ? "ISOLATED"
                                         : quorum_vote_name(ag.vote);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "agent", ag.agent_id, "region", ag.region,
                              "vote", vote, "error", ag.last_error);
        if (o && ag.first_failure_ms) {
            char t[40];
            sd_format_rfc3339(ag.first_failure_ms, t, sizeof t);
            json_object_set_new(o, "failing_since", json_string(t));
        }
        json_array_append_new(arr, o);
        if (!*first_err && !ag.stale && !ag.excluded && ag.vote == QUORUM_VOTE_DOWN && *ag.last_error)
            *first_err = ag.last_error;
    }
    return arr;
}

/* The outbox payload (see channel.h); malloc'd JSON text or NULL. */
char *engine_payload(const e_asset_t *a, const char *event, int64_t incident_id,
                       const quorum_eval_t *ev, const char *reason, json_t *agents,
                       int64_t now_wall)
{
    char started[40], ended[40];
    sd_format_rfc3339(a->incident_started_ms, started, sizeof started);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:O}", "event", event,
                          "asset_id", a->conf->id, "asset_name",
                          a->conf->name ? a->conf->name : a->conf->id, "address",
                          a->conf->address ? a->conf->address : "", "incident_id",
                          (json_int_t) incident_id, "started_at", started, "reason", reason,
                          "down_votes", ev->down_votes, "live_agents", ev->live, "agents",
                          agents);
    if (p && strcmp(event, "RECOVERY") == 0) {
        sd_format_rfc3339(now_wall, ended, sizeof ended);
        json_object_set_new(p, "ended_at", json_string(ended));
        json_object_set_new(p, "duration_seconds",
                            json_integer((now_wall - a->incident_started_ms) / 1000));
    }
    char *out = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    return out;
}

/* Queues one row per channel inside the caller's transaction. */
int engine_enqueue(self_t *self, const e_asset_t *a, bool down, const char *event,
                     int64_t incident_id, const char *payload, size_t *queued, char *err,
                     size_t errlen)
{
    char **names;
    size_t n = engine_channels(self, down, &names);
    for (size_t i = 0; i < n; i++) {
        int rc = store_outbox_enqueue(self->store, incident_id, a->conf->id, event, names[i],
                                      payload, err, errlen);
        if (rc != 0)
            return rc;
    }
    *queued = n;
    return 0;
}

void engine_count_queued(self_t *self, bool down)
{
    char **names;
    size_t n = engine_channels(self, down, &names);
    for (size_t i = 0; i < n; i++)
        engine_count(self, "statusd_notifications_queued_total",
                "Notifications written to the outbox, by channel.", "channel", names[i], 1);
}

/* ---- transitions --------------------------------------------------------------------- */

void engine_db_failed(self_t *self, const e_asset_t *a, const char *what, const char *err)
{
    store_rollback(self->store);
    if (!self->db_failing)
        sd_error(COMP, "%s failed asset=%s err=%s (retrying every tick; logged once)", what,
                 a->conf->id, err);
    self->db_failing = true;
}

void engine_db_ok(self_t *self)
{
    if (self->db_failing)
        sd_info(COMP, "database writes succeed again");
    self->db_failing = false;
}

int engine_open(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                  int64_t now_wall)
{
    char err[512] = "", summary[600], reason[300];
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    snprintf(reason, sizeof reason, "%s", first_err ? first_err : "probe failed");
    const char *name = a->conf->name ? a->conf->name : a->conf->id;
    snprintf(summary, sizeof summary, "%s is DOWN: %d/%d agents fail: %s", name, ev->down_votes,
             ev->live, reason);
    char *details = json_dumps(agents, JSON_COMPACT);
    int64_t started = ev->started_at_ms ? ev->started_at_ms : now_wall;
    int throttle = engine_throttle_s(self);
    bool throttled = throttle > 0 && a->last_notify_ms > 0 &&
                     now_wall - a->last_notify_ms < (int64_t) throttle * 1000;
    int64_t id = 0;
    size_t queued = 0;
    char *payload = NULL;
    int rc = details ? store_begin(self->store, err, sizeof err) : -ENOMEM;
    if (rc == 0)
        rc = store_incidents_open(self->store, a->conf->id, started, summary, details, &id, err,
                                  sizeof err);
    if (rc == 0) {
        char d[128];
        snprintf(d, sizeof d, "{\"down_votes\":%d,\"live_agents\":%d,\"quorum\":%d}",
                 ev->down_votes, ev->live, ev->quorum);
        rc = store_incidents_event(self->store, id, "opened", d, err, sizeof err);
    }
    if (rc == 0 && a->flap.flapping) {
        /* rule 15: the FLAPPING notification stands for the storm */
        rc = store_incidents_event(self->store, id, "notification_suppressed",
                                   "{\"reason\":\"flapping\"}", err, sizeof err);
    } else if (rc == 0 && throttled) {
        char d[128];
        snprintf(d, sizeof d, "{\"throttle_seconds\":%d,\"since_last_ms\":%lld}", throttle,
                 (long long) (now_wall - a->last_notify_ms));
        rc = store_incidents_event(self->store, id, "notification_throttled", d, err, sizeof err);
    } else if (rc == 0) {
        int64_t saved = a->incident_started_ms;
        a->incident_started_ms = started;
        payload = engine_payload(a, "DOWN", id, ev, reason, agents, now_wall);
        a->incident_started_ms = saved;
        rc = payload ? engine_enqueue(self, a, true, "DOWN", id, payload, &queued, err, sizeof err)
                     : -ENOMEM;
    }
    if (rc == 0)
        rc = store_incidents_set_asset_state(self->store, a->conf->id, "DOWN", now_wall, err,
                                             sizeof err);
    if (rc == 0)
        rc = store_commit(self->store, err, sizeof err);
    free(details);
    free(payload);
    json_decref(agents);
    if (rc != 0) {
        engine_db_failed(self, a, "open incident", err);
        if (rc == -EEXIST)
            self->rebuilt = false; /* someone else opened it: adopt it via a rebuild */
        return rc;
    }
    engine_db_ok(self);
    a->incident_id = id;
    a->incident_started_ms = started;
    a->db_shown = "DOWN";
    a->notified = queued > 0;
    if (queued > 0) {
        a->last_notify_ms = now_wall;
        engine_count_queued(self, true);
        engine_kick(self);
    }
    sd_warn(COMP, "incident opened asset=%s incident=%lld down=%d/%d throttled=%s queued=%zu "
                  "summary=\"%s\"",
            a->conf->id, (long long) id, ev->down_votes, ev->live, throttled ? "yes" : "no",
            queued, summary);
    engine_metrics_open(self);
    return 0;
}

int engine_close(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                   int64_t now_wall)
{
    char err[512] = "", d[128];
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    char *payload = NULL;
    size_t queued = 0;
    snprintf(d, sizeof d, "{\"state\":\"%s\",\"duration_seconds\":%lld}",
             quorum_state_name(a->state), (long long) ((now_wall - a->incident_started_ms) / 1000));
    int rc = store_begin(self->store, err, sizeof err);
    if (rc == 0)
        rc = store_incidents_close(self->store, a->incident_id, now_wall, err, sizeof err);
    if (rc == 0)
        rc = store_incidents_event(self->store, a->incident_id, "resolved", d, err, sizeof err);
    /* rule 17: an incident never resolves while its asset flaps, so a DOWN that went out
     * always gets its RECOVERY */
    if (rc == 0 && a->notified) {
        payload = engine_payload(a, "RECOVERY", a->incident_id, ev, "recovered", agents, now_wall);
        rc = payload ? engine_enqueue(self, a, false, "RECOVERY", a->incident_id, payload, &queued,
                                 err, sizeof err)
                     : -ENOMEM;
    }
    if (rc == 0)
        rc = store_incidents_set_asset_state(self->store, a->conf->id,
                                             quorum_state_name(a->state), now_wall, err,
                                             sizeof err);
    if (rc == 0)
        rc = store_commit(self->store, err, sizeof err);
    free(payload);
    json_decref(agents);
    if (rc != 0) {
        engine_db_failed(self, a, "close incident", err);
        return rc;
    }
    engine_db_ok(self);
    sd_info(COMP, "incident resolved asset=%s incident=%lld state=%s queued=%zu", a->conf->id,
            (long long) a->incident_id, quorum_state_name(a->state), queued);
    a->incident_id = 0;
    a->notified = false;
    a->db_shown = quorum_state_name(a->state);
    if (queued > 0) {
        engine_count_queued(self, false);
        engine_kick(self);
    }
    engine_metrics_open(self);
    return 0;
}

int engine_remind(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                    int64_t now_wall)
{
    char err[512] = "", reason[300];
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    snprintf(reason, sizeof reason, "%s", first_err ? first_err : "still down");
    char *payload = engine_payload(a, "REMINDER", a->incident_id, ev, reason, agents, now_wall);
    size_t queued = 0;
    int rc = payload ? store_begin(self->store, err, sizeof err) : -ENOMEM;
    if (rc == 0)
        rc = store_incidents_event(self->store, a->incident_id, "reminder", NULL, err, sizeof err);
    if (rc == 0)
        rc = engine_enqueue(self, a, true, "REMINDER", a->incident_id, payload, &queued, err,
                       sizeof err);
    if (rc == 0)
        rc = store_commit(self->store, err, sizeof err);
    free(payload);
    json_decref(agents);
    if (rc != 0) {
        engine_db_failed(self, a, "queue reminder", err);
        return rc;
    }
    engine_db_ok(self);
    a->last_notify_ms = now_wall;
    a->notified = true;
    engine_count_queued(self, true);
    engine_kick(self);
    sd_info(COMP, "reminder queued asset=%s incident=%lld", a->conf->id,
            (long long) a->incident_id);
    return 0;
}
