/* engine_incidents: applies the incident actions of the rules (asset_rules.h: rules 3-7 and
 * 17 in engine.c) and builds the outbox payloads. An action changes the engine's memory at
 * once and is journaled (engine_journal.c): it reaches the database when the database
 * takes it. What to do is never decided here. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_priv.h"
#include "health.h"
#include "sd_log.h"
#include "sd_utf8.h"

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

json_t *engine_payload(const e_asset_t *a, const char *event, int64_t started_ms,
                       const quorum_eval_t *ev, const char *reason, json_t *agents,
                       int64_t now_wall)
{
    char started[40], ended[40];
    sd_format_rfc3339(started_ms, started, sizeof started);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:O}",
                          "event", event, "asset_id", a->conf->id, "asset_name",
                          a->conf->name ? a->conf->name : a->conf->id, "address",
                          a->conf->address ? a->conf->address : "", "started_at", started,
                          "reason", reason, "down_votes", ev->down_votes, "live_agents",
                          ev->live, "down_locations", ev->down_locations, "live_locations",
                          ev->live_locations, "locations", ev->locations, "quorum", ev->quorum,
                          "agents", agents);
    if (p && strcmp(event, "RECOVERY") == 0) {
        sd_format_rfc3339(now_wall, ended, sizeof ended);
        json_object_set_new(p, "ended_at", json_string(ended));
        json_object_set_new(p, "duration_seconds", json_integer((now_wall - started_ms) / 1000));
    }
    return p;
}

/* ---- database state ------------------------------------------------------------------ */

void engine_db_failed(self_t *self, const char *what, const char *subject, const char *err)
{
    store_rollback(self->store);
    health_db_failed(self->ctx->health, "engine", err);
    if (!self->db_failing)
        sd_error(COMP, "%s failed asset=%s err=%s (decisions are kept and written when the "
                       "database takes them; logged once)",
                 what, subject, err);
    self->db_failing = true;
}

void engine_db_ok(self_t *self)
{
    health_db_ok(self->ctx->health, "engine");
    if (self->db_failing)
        sd_info(COMP, "database writes succeed again pending_decisions=%zu",
                self->journal_len);
    self->db_failing = false;
}

/* ---- decisions ----------------------------------------------------------------------- */

/* The asset's name for a summary: valid UTF-8, one line, bounded. */
static void s_name(const e_asset_t *a, char *buf, size_t len)
{
    sd_utf8_scopy(buf, len, a->conf->name && *a->conf->name ? a->conf->name : a->conf->id,
                  SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
}

/* The first DOWN voter's error, or dflt: valid UTF-8, one line, bounded. */
static void s_reason(const char *first_err, const char *dflt, char *buf, size_t len)
{
    sd_utf8_scopy(buf, len, first_err && *first_err ? first_err : dflt,
                  SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
}

int engine_open(self_t *self, e_asset_t *a, const quorum_eval_t *ev, const asset_decision_t *dc,
                sd_ms_t now_mono, int64_t now_wall)
{
    char summary[800], reason[300], name[256], d[160];
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    s_reason(first_err, "probe failed", reason, sizeof reason);
    s_name(a, name, sizeof name);
    snprintf(summary, sizeof summary, "%s is DOWN from %d of %d locations (%d/%d agents fail): %s",
             name, ev->down_locations, ev->locations, ev->down_votes, ev->live, reason);
    char *details = agents ? json_dumps(agents, JSON_COMPACT) : NULL;
    int64_t started = ev->started_at_ms ? ev->started_at_ms : now_wall;
    int throttle = engine_throttle_s(self);
    bool throttled = dc->quiet && strcmp(dc->quiet, "throttled") == 0;
    bool flapping = dc->quiet && strcmp(dc->quiet, "flapping") == 0;
    bool page = dc->page;
    e_incident_t *inc = engine_incident_new(started);
    e_op_t *op = inc ? engine_op_new(self, "open incident", a, inc, now_wall, false) : NULL;
    int rc = details && op ? engine_op_open(op, summary, details) : -ENOMEM;
    snprintf(d, sizeof d, "{\"down_votes\":%d,\"live_agents\":%d,\"down_locations\":%d,"
             "\"live_locations\":%d,\"quorum\":%d}", ev->down_votes, ev->live,
             ev->down_locations, ev->live_locations, ev->quorum);
    if (rc == 0)
        rc = engine_op_event(op, "opened", d);
    if (rc == 0 && flapping) {
        /* rule 15: the FLAPPING notification stands for the storm */
        rc = engine_op_event(op, "notification_suppressed", "{\"reason\":\"flapping\"}");
    } else if (rc == 0 && throttled) {
        snprintf(d, sizeof d, "{\"throttle_seconds\":%d,\"since_last_ms\":%lld}", throttle,
                 (long long) (now_wall - a->last_notify_ms));
        rc = engine_op_event(op, "notification_throttled", d);
    } else if (rc == 0 && page) {
        rc = engine_op_outbox(op, true, "DOWN",
                              engine_payload(a, "DOWN", started, ev, reason, agents, now_wall));
    }
    free(details);
    json_decref(agents);
    if (rc != 0) {
        /* nothing decided: the same transition is tried again on the next evaluation */
        engine_op_destroy(&op);
        sd_error(COMP, "incident not opened asset=%s: out of memory (retrying)", a->conf->id);
        engine_incident_unref(&inc);
        return rc;
    }
    a->inc = inc;
    inc->notified = page;
    inc->opened_ms = now_wall;
    if (page)
        a->last_notify_ms = now_wall;
    sd_warn(COMP, "incident opened asset=%s down_locations=%d/%d down=%d/%d paged=%s%s%s "
                  "summary=\"%s\"",
            a->conf->id, ev->down_locations, ev->locations, ev->down_votes, ev->live,
            page ? "yes" : "no", dc->quiet ? " quiet=" : "", dc->quiet ? dc->quiet : "", summary);
    engine_metrics_open(self);
    engine_journal_push(self, op);
    return 0;
}

/* Adds name to to[0..*n) unless there (at most cap). */
static void s_add_to(const char **to, size_t *n, size_t cap, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(to[i], name) == 0)
            return;
    if (*n < cap)
        to[(*n)++] = name;
}

/* The RECOVERY's channels: the asset's onRecovery and every escalation tier that fired. */
static size_t s_recipients(const e_asset_t *a, const e_incident_t *inc, const char **to,
                           size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_rec_ch; i++)
        s_add_to(to, &n, cap, a->rec_ch[i]);
    for (size_t t = 0; t < a->n_tiers && t < 32; t++)
        for (size_t k = 0; (inc->fired & (1u << t)) && k < a->tiers[t]->n_notify; k++)
            s_add_to(to, &n, cap, a->tiers[t]->notify[k]);
    return n;
}

int engine_escalate(self_t *self, e_asset_t *a, int tier, const quorum_eval_t *ev,
                    sd_ms_t now_mono, int64_t now_wall)
{
    e_incident_t *inc = a->inc;
    /* the tier's notifiers that no DOWN of this incident reached yet */
    const char *paged[ENGINE_CHANNELS_MAX], *to[ENGINE_CHANNELS_MAX];
    size_t np = 0, n = 0;
    for (size_t i = 0; i < a->n_down_ch; i++)
        s_add_to(paged, &np, ENGINE_CHANNELS_MAX, a->down_ch[i]);
    for (size_t t = 0; t < a->n_tiers && t < 32; t++)
        for (size_t k = 0; (inc->fired & (1u << t)) && k < a->tiers[t]->n_notify; k++)
            s_add_to(paged, &np, ENGINE_CHANNELS_MAX, a->tiers[t]->notify[k]);
    for (size_t k = 0; k < a->tiers[tier]->n_notify; k++) {
        size_t before = np;
        s_add_to(paged, &np, ENGINE_CHANNELS_MAX, a->tiers[tier]->notify[k]);
        if (np > before)
            s_add_to(to, &n, ENGINE_CHANNELS_MAX, a->tiers[tier]->notify[k]);
    }
    char reason[300], d[128];
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    s_reason(first_err, "still down", reason, sizeof reason);
    json_t *payload = agents ? engine_payload(a, "DOWN", inc->started_ms, ev, reason, agents,
                                              now_wall)
                             : NULL;
    if (payload)
        json_object_set_new(payload, "escalation_tier", json_integer(tier + 1));
    snprintf(d, sizeof d, "{\"tier\":%d,\"after_seconds\":%d,\"notified\":%zu}", tier + 1,
             a->tiers[tier]->after_seconds, n);
    e_op_t *op = payload ? engine_op_new(self, "escalation", a, inc, now_wall, false) : NULL;
    int rc = op ? engine_op_event(op, "escalated", d) : -ENOMEM;
    if (rc == 0 && n > 0)
        rc = engine_op_outbox_to(op, to, n, "DOWN", json_incref(payload));
    json_decref(payload);
    json_decref(agents);
    if (rc != 0) {
        engine_op_destroy(&op);
        return rc;
    }
    inc->fired |= 1u << tier;
    sd_warn(COMP, "incident escalated asset=%s incident=%lld tier=%d after_s=%d notified=%zu",
            a->conf->id, (long long) inc->db_id, tier + 1, a->tiers[tier]->after_seconds, n);
    engine_journal_push(self, op);
    return 0;
}

int engine_close(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                 int64_t now_wall)
{
    e_incident_t *inc = a->inc;
    char d[128];
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    snprintf(d, sizeof d, "{\"state\":\"%s\",\"duration_seconds\":%lld}",
             quorum_state_name(a->state), (long long) ((now_wall - inc->started_ms) / 1000));
    e_op_t *op = engine_op_new(self, "close incident", a, inc, now_wall, false);
    int rc = op ? engine_op_close(op) : -ENOMEM;
    if (rc == 0)
        rc = engine_op_event(op, "resolved", d);
    /* rule 17: an incident never resolves while its asset flaps, so a DOWN that went out
     * always gets its RECOVERY */
    if (rc == 0 && inc->notified && agents) {
        /* every channel that was paged hears of the recovery: onRecovery and the tiers
         * that escalated */
        const char *to[ENGINE_CHANNELS_MAX];
        size_t n = s_recipients(a, inc, to, ENGINE_CHANNELS_MAX);
        rc = engine_op_outbox_to(op, to, n, "RECOVERY",
                                 engine_payload(a, "RECOVERY", inc->started_ms, ev, "recovered",
                                                agents, now_wall));
    }
    json_decref(agents);
    if (rc != 0 || !agents) {
        engine_op_destroy(&op);
        sd_error(COMP, "incident not closed asset=%s: out of memory (retrying)", a->conf->id);
        return rc ? rc : -ENOMEM;
    }
    sd_info(COMP, "incident resolved asset=%s state=%s recovery=%s", a->conf->id,
            quorum_state_name(a->state), inc->notified ? "yes" : "no");
    engine_incident_unref(&a->inc);
    engine_metrics_open(self);
    engine_journal_push(self, op);
    return 0;
}

int engine_close_removed(self_t *self, e_asset_t *a, int64_t now_wall)
{
    e_incident_t *inc = a->inc;
    if (!inc)
        return 0;
    char d[160];
    snprintf(d, sizeof d, "{\"reason\":\"%s\",\"duration_seconds\":%lld}", ENGINE_REMOVED_REASON,
             (long long) ((now_wall - inc->started_ms) / 1000));
    e_op_t *op = engine_op_new(self, "close incident (asset removed)", a, inc, now_wall, false);
    int rc = op ? engine_op_close(op) : -ENOMEM;
    if (rc == 0)
        rc = engine_op_event(op, "resolved", d);
    if (rc != 0) {
        engine_op_destroy(&op);
        sd_error(COMP, "incident of removed asset=%s not closed: out of memory", a->conf->id);
        return rc;
    }
    sd_info(COMP, "incident resolved asset=%s reason=\"%s\" recovery=no", a->conf->id,
            ENGINE_REMOVED_REASON);
    engine_incident_unref(&a->inc);
    engine_journal_push(self, op);
    return 0;
}

int engine_remind(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                  int64_t now_wall)
{
    char reason[300];
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    s_reason(first_err, "still down", reason, sizeof reason);
    e_op_t *op = engine_op_new(self, "reminder", a, a->inc, now_wall, false);
    int rc = op && agents ? engine_op_event(op, "reminder", NULL) : -ENOMEM;
    if (rc == 0)
        rc = engine_op_outbox(op, true, "REMINDER",
                              engine_payload(a, "REMINDER", a->inc->started_ms, ev, reason,
                                             agents, now_wall));
    json_decref(agents);
    if (rc != 0) {
        engine_op_destroy(&op);
        return rc;
    }
    a->last_notify_ms = now_wall;
    a->inc->notified = true;
    sd_info(COMP, "reminder queued asset=%s", a->conf->id);
    engine_journal_push(self, op);
    return 0;
}

/* ---- rule 17: waits for a recovery ---------------------------------------------------- */

void engine_hold_reset(e_asset_t *a)
{
    a->out_of_down_mono = 0;
    a->held = RECOVERY_CLOSE;
    a->held_since_wall = 0;
}

void engine_hold(self_t *self, e_asset_t *a, recovery_verdict_t held, sd_ms_t now_mono,
                 int64_t now_wall)
{
    int64_t out_ms = a->out_of_down_mono ? now_mono - a->out_of_down_mono : 0;
    double percent = flapping_percent(&a->flap);
    const char *reason = recovery_hold_reason(held);
    engine_incident_event(self, a, "recovery_held",
                          json_pack("{s:s, s:s, s:I, s:I, s:f, s:i}", "reason", reason, "state",
                                    quorum_state_name(a->state), "out_of_down_ms",
                                    (json_int_t) out_ms, "hold_ms", (json_int_t) a->hold_ms,
                                    "percent_state_change", percent, "low_threshold",
                                    a->flap_low),
                          now_wall);
    engine_count(self, "statusd_incident_recovery_holds_total",
                 "Times an incident whose asset left DOWN was kept open, by reason (restless: "
                 "percent state change above the low flapping threshold, within "
                 "flapping.recoveryHoldSeconds of leaving DOWN; flapping: until its STABLE).",
                 "reason", reason, 1);
    sd_info(COMP, "recovery held asset=%s incident=%lld reason=%s state=%s out_of_down_ms=%lld "
                  "hold_ms=%lld percent_state_change=%.1f",
            a->conf->id, (long long) a->inc->db_id, reason, quorum_state_name(a->state),
            (long long) out_ms, (long long) a->hold_ms, percent);
    if (a->held == RECOVERY_CLOSE)
        a->held_since_wall = now_wall;
    a->held = held;
}

void engine_relapse(self_t *self, e_asset_t *a, sd_ms_t now_mono, int64_t now_wall)
{
    int64_t out_ms = a->out_of_down_mono ? now_mono - a->out_of_down_mono : 0;
    engine_incident_event(self, a, "relapsed",
                          json_pack("{s:s, s:I}", "held_reason", recovery_hold_reason(a->held),
                                    "out_of_down_ms", (json_int_t) out_ms),
                          now_wall);
    engine_count(self, "statusd_incident_relapses_total",
                 "DOWN again while the incident waited for its recovery: the same incident goes "
                 "on, no new DOWN notification.",
                 "asset", a->conf->id, 1);
    sd_info(COMP, "incident relapsed asset=%s incident=%lld out_of_down_ms=%lld held_ms=%lld "
                  "(same incident, nothing sent)",
            a->conf->id, (long long) a->inc->db_id, (long long) out_ms,
            (long long) (now_wall - a->held_since_wall));
}
