/* engine: the alert engine actor (see engine.h).
 *
 * ALERTING RULES
 *  1. Votes and verdicts come from quorum.c: per (asset, agent) DOWN after failureThreshold
 *     consecutive failures, UP after successThreshold successes; agents silent for more than
 *     3 intervals are stale; the asset is DOWN when >= quorum live agents vote DOWN (default:
 *     a majority of the live agents, counting those whose run is still too short to vote),
 *     DEGRADED with fewer, UP with none, UNKNOWN with no live agent holding a vote. Assets are evaluated after every result and on a 1 s tick (staleness).
 *  2. assets.state / state_since are written whenever the verdict changes.
 *  3. Entering DOWN with no open incident opens one, in ONE transaction: the incident
 *     (started_at = earliest first failure among the agents voting DOWN, summary, details =
 *     every agent's vote and last error), an incident_events 'opened' row, one DOWN outbox
 *     row per notificationPolicy.onDown channel, and the asset state. Then KICK the notifier.
 *  4. Throttle: a DOWN within throttleSeconds of the asset's previous DOWN/REMINDER
 *     notification (any incident, measured on the outbox rows' created_at, so it survives a
 *     restart) is not sent: the incident gets a 'notification_throttled' event instead.
 *     throttleSeconds 0 disables throttling.
 *  5. An incident closes when the verdict becomes UP or DEGRADED: ended_at, a 'resolved'
 *     event and one RECOVERY row per onRecovery channel, in one transaction. RECOVERY is
 *     queued only if a DOWN or REMINDER of that incident was queued ("notified"): a
 *     throttled outage ends silently, as it started.
 *  6. UNKNOWN (no live voter: agents gone, or the collector was down longer than 3 intervals)
 *     neither opens nor closes an incident: no evidence is not a recovery.
 *  7. repeatAlerts=true and throttleSeconds > 0: while an incident stays open, a REMINDER row
 *     per onDown channel (and a 'reminder' event) is queued whenever throttleSeconds have
 *     passed since the asset's last DOWN/REMINDER. A reminder makes a throttled incident
 *     "notified", so its RECOVERY is then sent.
 *  8. Restart (or a new leader) rebuilds from the database and never re-notifies: open
 *     incidents are adopted as they are; the newest (failureThreshold + successThreshold)
 *     results per (asset, agent) of the last 3 intervals are replayed into the quorum; then
 *     the ordinary rules apply: an open incident whose asset is UP/DEGRADED closes with a
 *     RECOVERY, an asset DOWN without an open incident opens one (an outage that began
 *     during the restart), an asset still DOWN keeps its incident and sends nothing.
 *  9. A failed transaction changes nothing in memory: the same transition is retried on the
 *     next tick (the database is the record; logged once per failure streak).
 * 10. Agent liveness: AGENT DOWN (the gateway heard nothing for 3 heartbeat periods) moves
 *     agents.liveness 'up' -> 'down' and queues ONE AGENT_DOWN row per onDown channel in the
 *     same transaction (one per agent, never per asset: its assets' votes just go stale,
 *     rule 1). AGENT UP moves 'down' -> 'up' and queues one AGENT_UP per onRecovery
 *     channel. A message that changes nothing (a repeat, or the UP of every agent
 *     reconnecting after a collector restart) queues nothing. A failed transaction is
 *     retried on the next tick.
 * 11. Clock skew: SKEW messages carry each agent's clock offset (agent minus collector);
 *     it is stored in agents.clock_skew_ms and subtracted from the agent's probe times, so
 *     an incident's started_at is on the collector's clock. Staleness is judged by receive
 *     time and results are ordered by the agent's sequence numbers (quorum.c), so a skewed
 *     clock neither makes an agent stale nor reorders its results.
 * 12. While an incident is open, every change of an agent's vote is a 'vote' incident event.
 *
 * Metrics: statusd_asset_up{asset} (0 DOWN, 1 otherwise, absent while UNKNOWN),
 * statusd_asset_state{asset,state}, statusd_asset_down_votes{asset}, statusd_incidents_open,
 * statusd_agent_up{agent,region}, statusd_agent_clock_skew_seconds{agent},
 * statusd_notifications_queued_total{channel},
 * statusd_engine_results_dropped_total{reason} (malformed, unknown_asset, agent_limit,
 * agent_table_full). */
#include "engine.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "quorum.h"
#include "sd_clock.h"
#include "sd_log.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "store_agents.h"
#include "store_incidents.h"
#include "store_outbox.h"

#define COMP "engine"
#define TICK_MS 1000
#define KICK_HWM 16
#define MAX_AGENTS 10000      /* tracked for liveness and skew; as many as the gateway */
#define AGENT_FIELD_MAX 128

typedef struct {
    const sd_asset_t *conf;
    quorum_t *q;
    quorum_state_t state;       /* latest verdict */
    quorum_state_t db_state;    /* what assets.state holds */
    int64_t state_since_ms;
    int64_t incident_id;        /* open incident, 0 none */
    int64_t incident_started_ms;
    bool notified;              /* a DOWN/REMINDER of the open incident was queued */
    int64_t last_notify_ms;     /* wall ms of the asset's newest DOWN/REMINDER row, 0 never */
    int down_votes_shown;       /* value of statusd_asset_down_votes, -1 none yet */
} e_asset_t;

typedef enum { LIVE_NONE = 0, LIVE_UP, LIVE_DOWN } e_live_t;

typedef struct {
    char *id;
    char region[AGENT_FIELD_MAX + 1];
    int64_t skew_ms;            /* agent clock minus collector clock */
    e_live_t pending;           /* a liveness change not yet committed (retried each tick) */
    int64_t last_heard_ms;      /* from the AGENT DOWN message, 0 unknown */
} e_agent_t;

typedef struct {
    const collector_ctx_t *ctx;
    zsock_t *pipe;
    zsock_t *pull;
    zsock_t *push;
    zpoller_t *poller;
    store_t *store;
    e_asset_t *assets;
    size_t n_assets;
    zhashx_t *by_id;            /* asset id -> e_asset_t* (not owned) */
    zhashx_t *agents;           /* agent id -> e_agent_t* (owned) */
    bool rebuilt;
    bool db_failing;
    bool logged_unknown, logged_malformed, logged_agent_limit, logged_agents_full;
    bool terminated;
} self_t;

typedef struct {
    const collector_ctx_t *ctx;
    bool ok;
} start_t;

/* ---- metrics ------------------------------------------------------------------------- */

static void s_count(self_t *self, const char *name, const char *help, const char *k,
                    const char *v, double d)
{
    if (self->ctx->metrics)
        metrics_add(self->ctx->metrics, name, help, (const char *[]){k, v, NULL}, d);
}

static void s_drop(self_t *self, const char *reason, bool *logged, const char *detail)
{
    s_count(self, "statusd_engine_results_dropped_total",
            "Results the alert engine could not use, by reason.", "reason", reason, 1);
    if (!*logged) {
        sd_warn(COMP, "result dropped reason=%s detail=%s (logged once)", reason, detail);
        *logged = true;
    }
}

static void s_metrics_asset(self_t *self, const e_asset_t *a)
{
    metrics_t *m = self->ctx->metrics;
    if (!m)
        return;
    const char *id = a->conf->id;
    if (a->state == QUORUM_UNKNOWN)
        metrics_remove(m, "statusd_asset_up", (const char *[]){"asset", id, NULL});
    else
        metrics_set(m, "statusd_asset_up", "1 unless the alert engine sees the asset DOWN.",
                    (const char *[]){"asset", id, NULL}, a->state == QUORUM_DOWN ? 0 : 1);
    for (int s = QUORUM_UNKNOWN; s <= QUORUM_DOWN; s++)
        metrics_set(m, "statusd_asset_state", "1 for the asset's current alert state.",
                    (const char *[]){"asset", id, "state", quorum_state_name(s), NULL},
                    s == (int) a->state);
}

static void s_metrics_votes(self_t *self, e_asset_t *a, int down_votes)
{
    if (!self->ctx->metrics || a->down_votes_shown == down_votes)
        return;
    metrics_set(self->ctx->metrics, "statusd_asset_down_votes",
                "Live agents whose vote for the asset is DOWN.",
                (const char *[]){"asset", a->conf->id, NULL}, down_votes);
    a->down_votes_shown = down_votes;
}

static void s_metrics_open(self_t *self)
{
    if (!self->ctx->metrics)
        return;
    double n = 0;
    for (size_t i = 0; i < self->n_assets; i++)
        n += self->assets[i].incident_id != 0;
    metrics_set(self->ctx->metrics, "statusd_incidents_open", "Open incidents.", NULL, n);
}

/* ---- policy -------------------------------------------------------------------------- */

static int s_throttle_s(const self_t *self)
{
    return self->ctx->notifiers ? self->ctx->notifiers->throttle_seconds : 0;
}

static size_t s_channels(const self_t *self, bool down, char ***names)
{
    const sd_notifiers_t *n = self->ctx->notifiers;
    if (!n) {
        *names = NULL;
        return 0;
    }
    *names = down ? n->on_down : n->on_recovery;
    return down ? n->n_on_down : n->n_on_recovery;
}

static void s_kick(self_t *self)
{
    /* non-blocking: a missed KICK only delays delivery to the notifier's next poll */
    zstr_send(self->push, "KICK");
}

/* ---- payloads ------------------------------------------------------------------------ */

static json_t *s_agents_json(const e_asset_t *a, sd_ms_t now_mono, const char **first_err)
{
    json_t *arr = json_array();
    *first_err = NULL;
    for (size_t i = 0; arr && i < quorum_agent_count(a->q); i++) {
        quorum_agent_t ag;
        if (quorum_agent_at(a->q, i, now_mono, &ag) != 0)
            continue;
        const char *vote = ag.stale ? "STALE" : quorum_vote_name(ag.vote);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "agent", ag.agent_id, "region", ag.region,
                              "vote", vote, "error", ag.last_error);
        if (o && ag.first_failure_ms) {
            char t[40];
            sd_format_rfc3339(ag.first_failure_ms, t, sizeof t);
            json_object_set_new(o, "failing_since", json_string(t));
        }
        json_array_append_new(arr, o);
        if (!*first_err && !ag.stale && ag.vote == QUORUM_VOTE_DOWN && *ag.last_error)
            *first_err = ag.last_error;
    }
    return arr;
}

/* The outbox payload (see channel.h); malloc'd JSON text or NULL. */
static char *s_payload(const e_asset_t *a, const char *event, int64_t incident_id,
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
static int s_enqueue(self_t *self, const e_asset_t *a, bool down, const char *event,
                     int64_t incident_id, const char *payload, size_t *queued, char *err,
                     size_t errlen)
{
    char **names;
    size_t n = s_channels(self, down, &names);
    for (size_t i = 0; i < n; i++) {
        int rc = store_outbox_enqueue(self->store, incident_id, a->conf->id, event, names[i],
                                      payload, err, errlen);
        if (rc != 0)
            return rc;
    }
    *queued = n;
    return 0;
}

static void s_count_queued(self_t *self, bool down)
{
    char **names;
    size_t n = s_channels(self, down, &names);
    for (size_t i = 0; i < n; i++)
        s_count(self, "statusd_notifications_queued_total",
                "Notifications written to the outbox, by channel.", "channel", names[i], 1);
}

/* ---- transitions --------------------------------------------------------------------- */

static void s_db_failed(self_t *self, const e_asset_t *a, const char *what, const char *err)
{
    store_rollback(self->store);
    if (!self->db_failing)
        sd_error(COMP, "%s failed asset=%s err=%s (retrying every tick; logged once)", what,
                 a->conf->id, err);
    self->db_failing = true;
}

static void s_db_ok(self_t *self)
{
    if (self->db_failing)
        sd_info(COMP, "database writes succeed again");
    self->db_failing = false;
}

static int s_open(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                  int64_t now_wall)
{
    char err[512] = "", summary[600], reason[300];
    const char *first_err;
    json_t *agents = s_agents_json(a, now_mono, &first_err);
    snprintf(reason, sizeof reason, "%s", first_err ? first_err : "probe failed");
    const char *name = a->conf->name ? a->conf->name : a->conf->id;
    snprintf(summary, sizeof summary, "%s is DOWN: %d/%d agents fail: %s", name, ev->down_votes,
             ev->live, reason);
    char *details = json_dumps(agents, JSON_COMPACT);
    int64_t started = ev->started_at_ms ? ev->started_at_ms : now_wall;
    int throttle = s_throttle_s(self);
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
    if (rc == 0 && throttled) {
        char d[128];
        snprintf(d, sizeof d, "{\"throttle_seconds\":%d,\"since_last_ms\":%lld}", throttle,
                 (long long) (now_wall - a->last_notify_ms));
        rc = store_incidents_event(self->store, id, "notification_throttled", d, err, sizeof err);
    } else if (rc == 0) {
        int64_t saved = a->incident_started_ms;
        a->incident_started_ms = started;
        payload = s_payload(a, "DOWN", id, ev, reason, agents, now_wall);
        a->incident_started_ms = saved;
        rc = payload ? s_enqueue(self, a, true, "DOWN", id, payload, &queued, err, sizeof err)
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
        s_db_failed(self, a, "open incident", err);
        if (rc == -EEXIST)
            self->rebuilt = false; /* someone else opened it: adopt it via a rebuild */
        return rc;
    }
    s_db_ok(self);
    a->incident_id = id;
    a->incident_started_ms = started;
    a->db_state = QUORUM_DOWN;
    a->notified = queued > 0;
    if (queued > 0) {
        a->last_notify_ms = now_wall;
        s_count_queued(self, true);
        s_kick(self);
    }
    sd_warn(COMP, "incident opened asset=%s incident=%lld down=%d/%d throttled=%s queued=%zu "
                  "summary=\"%s\"",
            a->conf->id, (long long) id, ev->down_votes, ev->live, throttled ? "yes" : "no",
            queued, summary);
    s_metrics_open(self);
    return 0;
}

static int s_close(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                   int64_t now_wall)
{
    char err[512] = "", d[128];
    const char *first_err;
    json_t *agents = s_agents_json(a, now_mono, &first_err);
    char *payload = NULL;
    size_t queued = 0;
    snprintf(d, sizeof d, "{\"state\":\"%s\",\"duration_seconds\":%lld}",
             quorum_state_name(a->state), (long long) ((now_wall - a->incident_started_ms) / 1000));
    int rc = store_begin(self->store, err, sizeof err);
    if (rc == 0)
        rc = store_incidents_close(self->store, a->incident_id, now_wall, err, sizeof err);
    if (rc == 0)
        rc = store_incidents_event(self->store, a->incident_id, "resolved", d, err, sizeof err);
    if (rc == 0 && a->notified) {
        payload = s_payload(a, "RECOVERY", a->incident_id, ev, "recovered", agents, now_wall);
        rc = payload ? s_enqueue(self, a, false, "RECOVERY", a->incident_id, payload, &queued,
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
        s_db_failed(self, a, "close incident", err);
        return rc;
    }
    s_db_ok(self);
    sd_info(COMP, "incident resolved asset=%s incident=%lld state=%s queued=%zu", a->conf->id,
            (long long) a->incident_id, quorum_state_name(a->state), queued);
    a->incident_id = 0;
    a->notified = false;
    a->db_state = a->state;
    if (queued > 0) {
        s_count_queued(self, false);
        s_kick(self);
    }
    s_metrics_open(self);
    return 0;
}

static int s_remind(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                    int64_t now_wall)
{
    char err[512] = "", reason[300];
    const char *first_err;
    json_t *agents = s_agents_json(a, now_mono, &first_err);
    snprintf(reason, sizeof reason, "%s", first_err ? first_err : "still down");
    char *payload = s_payload(a, "REMINDER", a->incident_id, ev, reason, agents, now_wall);
    size_t queued = 0;
    int rc = payload ? store_begin(self->store, err, sizeof err) : -ENOMEM;
    if (rc == 0)
        rc = store_incidents_event(self->store, a->incident_id, "reminder", NULL, err, sizeof err);
    if (rc == 0)
        rc = s_enqueue(self, a, true, "REMINDER", a->incident_id, payload, &queued, err,
                       sizeof err);
    if (rc == 0)
        rc = store_commit(self->store, err, sizeof err);
    free(payload);
    json_decref(agents);
    if (rc != 0) {
        s_db_failed(self, a, "queue reminder", err);
        return rc;
    }
    s_db_ok(self);
    a->last_notify_ms = now_wall;
    a->notified = true;
    s_count_queued(self, true);
    s_kick(self);
    sd_info(COMP, "reminder queued asset=%s incident=%lld", a->conf->id,
            (long long) a->incident_id);
    return 0;
}

/* Brings the database in line with the verdict (rules 2-7). */
static void s_reconcile(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                        int64_t now_wall)
{
    if (!self->rebuilt)
        return;
    int throttle = s_throttle_s(self);
    char **names;
    if (ev->state == QUORUM_DOWN && !a->incident_id) {
        s_open(self, a, ev, now_mono, now_wall);
    } else if ((ev->state == QUORUM_UP || ev->state == QUORUM_DEGRADED) && a->incident_id) {
        s_close(self, a, ev, now_mono, now_wall);
    } else if (a->incident_id && self->ctx->notifiers && self->ctx->notifiers->repeat_alerts &&
               throttle > 0 && s_channels(self, true, &names) > 0 &&
               now_wall - a->last_notify_ms >= (int64_t) throttle * 1000) {
        s_remind(self, a, ev, now_mono, now_wall);
    }
    if (a->db_state != a->state) {
        char err[512] = "";
        if (store_incidents_set_asset_state(self->store, a->conf->id,
                                            quorum_state_name(a->state), a->state_since_ms, err,
                                            sizeof err) == 0) {
            a->db_state = a->state;
            s_db_ok(self);
        } else {
            s_db_failed(self, a, "write asset state", err);
        }
    }
}

static void s_evaluate(self_t *self, e_asset_t *a, sd_ms_t now_mono, int64_t now_wall)
{
    quorum_eval_t ev;
    quorum_evaluate(a->q, now_mono, &ev);
    s_metrics_votes(self, a, ev.down_votes);
    if (ev.state != a->state) {
        sd_info(COMP, "asset state asset=%s from=%s to=%s down=%d live=%d quorum=%d",
                a->conf->id, quorum_state_name(a->state), quorum_state_name(ev.state),
                ev.down_votes, ev.live, ev.quorum);
        a->state = ev.state;
        a->state_since_ms = now_wall;
        s_metrics_asset(self, a);
    }
    s_reconcile(self, a, &ev, now_mono, now_wall);
}

/* ---- agents: liveness (rule 10) and clock skew (rule 11) ---------------------------- */

static void s_agent_free(void **item)
{
    e_agent_t *g = (e_agent_t *) *item;
    if (g)
        free(g->id);
    free(g);
    *item = NULL;
}

/* The agent's entry, created on first sight; NULL past MAX_AGENTS (counted, logged once). */
static e_agent_t *s_agent(self_t *self, const char *id, const char *region)
{
    e_agent_t *g = zhashx_lookup(self->agents, id);
    if (!g) {
        if (zhashx_size(self->agents) >= MAX_AGENTS || strlen(id) > AGENT_FIELD_MAX) {
            s_drop(self, "agent_table_full", &self->logged_agents_full, id);
            return NULL;
        }
        g = calloc(1, sizeof *g);
        if (!g || !(g->id = strdup(id))) {
            free(g);
            return NULL;
        }
        zhashx_insert(self->agents, g->id, g);
    }
    if (region && *region)
        snprintf(g->region, sizeof g->region, "%s", region);
    return g;
}

static void s_metrics_agent(self_t *self, const e_agent_t *g, bool up)
{
    if (!self->ctx->metrics)
        return;
    /* a region change would leave the old series behind: drop the agent's series first */
    metrics_remove_matching(self->ctx->metrics, "statusd_agent_up", "agent", g->id);
    metrics_set(self->ctx->metrics, "statusd_agent_up",
                "1 while the agent reports, 0 after AGENT_DOWN (silent for 3 heartbeats).",
                (const char *[]){"agent", g->id, "region", g->region, NULL}, up);
}

static void s_metrics_skew(self_t *self, const e_agent_t *g)
{
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_agent_clock_skew_seconds",
                    "Estimated offset of the agent's clock from the collector's (agent minus "
                    "collector).",
                    (const char *[]){"agent", g->id, NULL}, (double) g->skew_ms / 1000.0);
}

/* AGENT_DOWN / AGENT_UP payload (see channel.h); malloc'd JSON or NULL. */
static char *s_agent_payload(const e_agent_t *g, bool down, const store_agent_info_t *info,
                             int64_t now_wall)
{
    char since[40], back[40];
    int64_t since_ms = info->down_since_ms ? info->down_since_ms : now_wall;
    sd_format_rfc3339(since_ms, since, sizeof since);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", down ? "AGENT_DOWN" : "AGENT_UP",
                          "agent", g->id, "region", *info->region ? info->region : g->region,
                          "version", info->version, "silent_since", since);
    if (p && !down) {
        sd_format_rfc3339(now_wall, back, sizeof back);
        json_object_set_new(p, "back_at", json_string(back));
        json_object_set_new(p, "down_seconds", json_integer((now_wall - since_ms) / 1000));
    }
    char *out = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    return out;
}

/* Commits the agent's pending liveness change with its outbox rows, in one transaction.
 * 0 (pending cleared) or -errno (kept, retried on the next tick). */
static int s_agent_apply(self_t *self, e_agent_t *g)
{
    bool down = g->pending == LIVE_DOWN, changed = false;
    store_agent_info_t info;
    memset(&info, 0, sizeof info);
    char err[512] = "", *payload = NULL;
    char **names;
    size_t n = s_channels(self, down, &names), queued = 0;
    int64_t now_wall = sd_wall_ms();
    int rc = store_begin(self->store, err, sizeof err);
    if (rc == 0)
        rc = down ? store_agents_mark_down(self->store, g->id, g->region, g->last_heard_ms,
                                           &changed, &info, err, sizeof err)
                  : store_agents_mark_up(self->store, g->id, g->region, &changed, &info, err,
                                         sizeof err);
    if (rc == 0 && changed && n > 0) {
        payload = s_agent_payload(g, down, &info, now_wall);
        rc = payload ? 0 : -ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++, queued++)
            rc = store_outbox_enqueue_agent(self->store, g->id, down ? "AGENT_DOWN" : "AGENT_UP",
                                            names[i], payload, err, sizeof err);
    }
    if (rc == 0)
        rc = store_commit(self->store, err, sizeof err);
    free(payload);
    if (rc != 0) {
        store_rollback(self->store);
        if (!self->db_failing)
            sd_error(COMP, "agent liveness failed agent=%s err=%s (retrying every tick; logged "
                           "once)", g->id, err);
        self->db_failing = true;
        return rc;
    }
    s_db_ok(self);
    g->pending = LIVE_NONE;
    s_metrics_agent(self, g, !down);
    if (changed)
        sd_info(COMP, "agent %s agent=%s region=%s queued=%zu", down ? "AGENT_DOWN" : "AGENT_UP",
                g->id, g->region, queued);
    if (queued > 0) {
        for (size_t i = 0; i < n; i++)
            s_count(self, "statusd_notifications_queued_total",
                    "Notifications written to the outbox, by channel.", "channel", names[i], 1);
        s_kick(self);
    }
    return 0;
}

static void s_on_agent(self_t *self, zmsg_t *msg)
{
    char *id = zmsg_popstr(msg), *region = zmsg_popstr(msg), *st = zmsg_popstr(msg);
    char *heard = zmsg_popstr(msg); /* optional */
    bool up = st && strcmp(st, "UP") == 0, down = st && strcmp(st, "DOWN") == 0;
    e_agent_t *g = NULL;
    if (!id || !*id || !region || !(up || down))
        s_drop(self, "malformed", &self->logged_malformed, "AGENT frames");
    else if ((g = s_agent(self, id, region))) {
        g->pending = up ? LIVE_UP : LIVE_DOWN;
        g->last_heard_ms = heard ? strtoll(heard, NULL, 10) : 0;
        sd_info(COMP, "agent %s agent=%s region=%s", st, id, region);
        if (self->rebuilt)
            s_agent_apply(self, g);
    }
    free(id);
    free(region);
    free(st);
    free(heard);
}

static void s_on_skew(self_t *self, zmsg_t *msg)
{
    char *id = zmsg_popstr(msg), *v = zmsg_popstr(msg);
    char *end = NULL;
    long long skew = v ? strtoll(v, &end, 10) : 0;
    e_agent_t *g = NULL;
    if (!id || !*id || !v || !*v || *end)
        s_drop(self, "malformed", &self->logged_malformed, "SKEW frames");
    else if ((g = s_agent(self, id, NULL))) {
        char err[512] = "";
        g->skew_ms = skew;
        s_metrics_skew(self, g);
        /* best effort: the next estimate (at least once a minute) writes it again */
        if (store_agents_set_skew(self->store, id, skew, err, sizeof err) != 0)
            sd_debug(COMP, "clock skew not stored agent=%s err=%s", id, err);
    }
    free(id);
    free(v);
}

static int64_t s_skew_of(self_t *self, const char *agent)
{
    const e_agent_t *g = zhashx_lookup(self->agents, agent);
    return g ? g->skew_ms : 0;
}

static void s_load_agent_cb(const char *id, const char *region, bool up, int64_t skew, void *arg)
{
    self_t *self = arg;
    e_agent_t *g = s_agent(self, id, region);
    if (!g)
        return;
    if (!g->skew_ms)
        g->skew_ms = skew; /* a SKEW message that came first wins */
    s_metrics_skew(self, g);
    if (g->pending == LIVE_NONE)
        s_metrics_agent(self, g, up);
}

/* ---- restart rebuild (rule 8) -------------------------------------------------------- */

static e_asset_t *s_find(self_t *self, const char *id)
{
    return (e_asset_t *) zhashx_lookup(self->by_id, id);
}

static void s_load_asset_cb(const char *id, const char *state, int64_t since, int64_t last,
                            void *arg)
{
    e_asset_t *a = s_find((self_t *) arg, id);
    if (!a)
        return;
    a->db_state = quorum_state_parse(state);
    a->last_notify_ms = last;
    a->state_since_ms = since;
}

static void s_load_open_cb(const store_open_incident_t *inc, void *arg)
{
    e_asset_t *a = s_find((self_t *) arg, inc->asset_id);
    if (!a) {
        sd_warn(COMP, "open incident for an asset not in the manifest asset=%s incident=%lld "
                      "(left open)",
                inc->asset_id, (long long) inc->incident_id);
        return;
    }
    a->incident_id = inc->incident_id;
    a->incident_started_ms = inc->started_at_ms;
    a->notified = inc->notified;
}

typedef struct {
    self_t *self;
    sd_ms_t now_mono;
    int64_t now_wall;
    size_t replayed;
} replay_t;

static void s_replay_cb(const store_recent_result_t *r, void *arg)
{
    replay_t *rp = arg;
    e_asset_t *a = s_find(rp->self, r->asset_id);
    if (!a)
        return;
    int64_t age = rp->now_wall - r->received_ms; /* the collector's clock, never the agent's */
    if (age > 3 * (int64_t) a->conf->interval_seconds * 1000)
        return;
    quorum_result_t qr = {.agent_id = r->agent_id, .region = r->region, .success = r->success,
                          .started_at_ms = r->ts_ms - r->clock_skew_ms, .error = r->error,
                          .seq = r->seq};
    if (quorum_apply(a->q, &qr, rp->now_mono - (age > 0 ? age : 0)) == 0)
        rp->replayed++;
}

static int s_rebuild(self_t *self)
{
    char err[512] = "";
    int64_t window = 0;
    int per_agent = 0;
    for (size_t i = 0; i < self->n_assets; i++) {
        e_asset_t *a = &self->assets[i];
        a->incident_id = 0;
        a->notified = false;
        int64_t w = 3 * (int64_t) a->conf->interval_seconds * 1000;
        int ft = a->conf->failure_threshold > 0 ? a->conf->failure_threshold : 2;
        int st = a->conf->success_threshold > 0 ? a->conf->success_threshold : 1;
        window = w > window ? w : window;
        per_agent = ft + st > per_agent ? ft + st : per_agent;
    }
    replay_t rp = {self, sd_mono_ms(), sd_wall_ms(), 0};
    int rc = store_ensure(self->store);
    if (rc == 0)
        rc = store_assets_sync(self->store, self->ctx->manifest, err, sizeof err);
    if (rc == 0)
        rc = store_incidents_load_assets(self->store, s_load_asset_cb, self, err, sizeof err);
    if (rc == 0)
        rc = store_incidents_load_open(self->store, s_load_open_cb, self, err, sizeof err);
    if (rc == 0)
        rc = store_agents_load(self->store, s_load_agent_cb, self, err, sizeof err);
    if (rc == 0 && per_agent > 0)
        rc = store_incidents_recent_results(self->store, window, per_agent, s_replay_cb, &rp, err,
                                            sizeof err);
    if (rc != 0) {
        if (!self->db_failing)
            sd_error(COMP, "rebuild failed err=%s (retrying every tick)", err);
        self->db_failing = true;
        return rc;
    }
    s_db_ok(self);
    size_t open = 0;
    for (size_t i = 0; i < self->n_assets; i++) {
        e_asset_t *a = &self->assets[i];
        open += a->incident_id != 0;
        a->state = a->incident_id ? QUORUM_DOWN : a->db_state;
        s_metrics_asset(self, a);
    }
    self->rebuilt = true;
    s_metrics_open(self);
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
        if (g->pending != LIVE_NONE) /* AGENT messages that came before the rebuild */
            s_agent_apply(self, g);
    sd_info(COMP, "state rebuilt assets=%zu open_incidents=%zu replayed_results=%zu",
            self->n_assets, open, rp.replayed);
    return 0;
}

/* ---- messages ------------------------------------------------------------------------ */

/* Rule 12: a vote change during an open incident joins its timeline (best effort: a
 * failed insert is logged, the verdict does not wait for it). */
static void s_vote_event(self_t *self, const e_asset_t *a, const char *agent,
                         const char *region, quorum_vote_t from, quorum_vote_t to,
                         const char *error)
{
    if (!a->incident_id || !self->rebuilt)
        return;
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s}", "agent", agent, "region", region, "from",
                          quorum_vote_name(from), "to", quorum_vote_name(to), "error",
                          to == QUORUM_VOTE_DOWN && error ? error : "");
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    char err[512] = "";
    if (!detail || store_incidents_event(self->store, a->incident_id, "vote", detail, err,
                                         sizeof err) != 0)
        sd_warn(COMP, "vote event not stored asset=%s agent=%s err=%s", a->conf->id, agent,
                detail ? err : "out of memory");
    free(detail);
}

static void s_on_results(self_t *self, zmsg_t *msg)
{
    char *agent = zmsg_popstr(msg);
    char *region = zmsg_popstr(msg);
    zframe_t *payload = zmsg_pop(msg);
    Statusd__ResultBatch *b =
        agent && region && payload
            ? statusd__result_batch__unpack(NULL, zframe_size(payload), zframe_data(payload))
            : NULL;
    if (!b) {
        s_drop(self, "malformed", &self->logged_malformed, agent ? agent : "?");
    } else {
        int64_t skew = s_skew_of(self, agent);
        for (size_t i = 0; i < b->n_results; i++) {
            const Statusd__ProbeResult *r = b->results[i];
            e_asset_t *a = r->asset_id ? s_find(self, r->asset_id) : NULL;
            if (!a) {
                s_drop(self, "unknown_asset", &self->logged_unknown, r->asset_id);
                continue;
            }
            char status[40];
            const char *error = r->reason;
            if (!r->success && (!error || !*error)) {
                if (r->status_code)
                    snprintf(status, sizeof status, "status %d", r->status_code);
                else
                    snprintf(status, sizeof status, "probe failed");
                error = status;
            }
            /* on the collector's clock (rule 11) */
            quorum_result_t qr = {.agent_id = agent, .region = region, .success = r->success,
                                  .started_at_ms = r->started_at_ms - skew, .error = error,
                                  .seq = r->seq};
            quorum_vote_t before = quorum_agent_vote(a->q, agent);
            int rc = quorum_apply(a->q, &qr, sd_mono_ms());
            if (rc == -ENOSPC) {
                s_drop(self, "agent_limit", &self->logged_agent_limit, a->conf->id);
            } else if (rc == 0) {
                quorum_vote_t after = quorum_agent_vote(a->q, agent);
                if (after != before)
                    s_vote_event(self, a, agent, region, before, after, error);
                s_evaluate(self, a, sd_mono_ms(), sd_wall_ms());
            }
        }
        statusd__result_batch__free_unpacked(b, NULL);
    }
    zframe_destroy(&payload);
    free(agent);
    free(region);
}

static void s_on_message(self_t *self)
{
    zmsg_t *msg = zmsg_recv(self->pull);
    char *cmd = msg ? zmsg_popstr(msg) : NULL;
    if (cmd && strcmp(cmd, "RESULTS") == 0) {
        s_on_results(self, msg);
    } else if (cmd && strcmp(cmd, "AGENT") == 0) {
        s_on_agent(self, msg);
    } else if (cmd && strcmp(cmd, "SKEW") == 0) {
        s_on_skew(self, msg);
    } else {
        s_drop(self, "malformed", &self->logged_malformed, cmd ? cmd : "(empty)");
    }
    free(cmd);
    zmsg_destroy(&msg);
}

static void s_tick(self_t *self)
{
    if (!self->rebuilt && s_rebuild(self) != 0)
        return;
    sd_ms_t now_mono = sd_mono_ms();
    int64_t now_wall = sd_wall_ms();
    for (size_t i = 0; i < self->n_assets; i++)
        s_evaluate(self, &self->assets[i], now_mono, now_wall);
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
        if (g->pending != LIVE_NONE && s_agent_apply(self, g) != 0)
            break; /* the database is failing: one attempt per tick is enough */
}

/* ---- actor --------------------------------------------------------------------------- */

static void s_self_destroy(self_t **p)
{
    if (!p || !*p)
        return;
    self_t *self = *p;
    for (size_t i = 0; i < self->n_assets; i++)
        quorum_destroy(&self->assets[i].q);
    free(self->assets);
    zhashx_destroy(&self->by_id);
    zhashx_destroy(&self->agents);
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->pull);
    zsock_destroy(&self->push);
    store_destroy(&self->store);
    free(self);
    *p = NULL;
}

/* Binds a PULL socket. An inproc endpoint is released asynchronously when its previous
 * owner (an earlier instance of this actor) closes it, so retry for up to 1 s. */
static zsock_t *s_bind_pull(const char *endpoint)
{
    zsock_t *s = zsock_new_pull(endpoint);
    for (int i = 0; !s && i < 100; i++) {
        zclock_sleep(10);
        s = zsock_new_pull(endpoint);
    }
    return s;
}

static self_t *s_self_new(zsock_t *pipe, const collector_ctx_t *ctx)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->pipe = pipe;
    char err[512] = "";
    self->store = store_new(ctx->db_conninfo, err, sizeof err);
    if (!self->store) {
        sd_error(COMP, "cannot connect to the database err=%s", err);
        s_self_destroy(&self);
        return NULL;
    }
    self->pull = s_bind_pull("@" BUS_ENGINE);
    self->push = zsock_new_push(">" BUS_NOTIFY);
    self->by_id = zhashx_new();
    self->agents = zhashx_new();
    if (self->agents)
        zhashx_set_destructor(self->agents, s_agent_free);
    size_t n = ctx->manifest ? ctx->manifest->n_assets : 0;
    self->assets = calloc(n ? n : 1, sizeof *self->assets);
    if (!self->pull || !self->push || !self->by_id || !self->agents || !self->assets) {
        sd_error(COMP, "cannot create sockets endpoint=%s", BUS_ENGINE);
        s_self_destroy(&self);
        return NULL;
    }
    zsock_set_sndhwm(self->push, KICK_HWM);
    zsock_set_sndtimeo(self->push, 0);
    for (size_t i = 0; i < n; i++) {
        const sd_asset_t *c = &ctx->manifest->assets[i];
        quorum_conf_t qc = {.failure_threshold = c->failure_threshold,
                            .success_threshold = c->success_threshold,
                            .quorum = c->quorum,
                            .interval_ms = (int64_t) c->interval_seconds * 1000};
        e_asset_t *a = &self->assets[self->n_assets];
        a->conf = c;
        a->down_votes_shown = -1;
        a->q = quorum_new(&qc);
        if (!a->q) {
            s_self_destroy(&self);
            return NULL;
        }
        self->n_assets++;
        zhashx_insert(self->by_id, c->id, a);
    }
    self->poller = zpoller_new(pipe, self->pull, NULL);
    if (!self->poller) {
        s_self_destroy(&self);
        return NULL;
    }
    return self;
}

static void s_engine_actor(zsock_t *pipe, void *args)
{
    start_t *start = args;
    self_t *self = s_self_new(pipe, start->ctx);
    start->ok = self != NULL;
    zsock_signal(pipe, 0);
    if (!self)
        return;
    s_rebuild(self);
    sd_ms_t next_tick = sd_mono_ms();
    while (!self->terminated) {
        sd_ms_t wait = next_tick - sd_mono_ms();
        void *which = zpoller_wait(self->poller, (int) (wait < 0 ? 0 : wait));
        if (which == pipe) {
            zmsg_t *m = zmsg_recv(pipe);
            char *cmd = m ? zmsg_popstr(m) : NULL;
            if (!cmd || strcmp(cmd, "$TERM") == 0)
                self->terminated = true;
            free(cmd);
            zmsg_destroy(&m);
        } else if (which == self->pull) {
            s_on_message(self);
        } else if (zpoller_terminated(self->poller)) {
            break;
        }
        if (sd_mono_ms() >= next_tick) {
            s_tick(self);
            next_tick = sd_mono_ms() + TICK_MS;
        }
    }
    s_self_destroy(&self);
}

zactor_t *engine_new(const collector_ctx_t *ctx)
{
    start_t start = {ctx, false};
    zactor_t *actor = zactor_new(s_engine_actor, &start);
    if (actor && !start.ok)
        zactor_destroy(&actor);
    return actor;
}
