/* engine: the alert engine actor (see engine.h).
 *
 * ALERTING RULES
 *  1. Votes and verdicts come from rules/quorum.c: per (asset, agent) DOWN after
 *     failureThreshold consecutive failures (a success slower than maxLatencyMs is one), UP
 *     after successThreshold successes (slower than degradedLatencyMs: slow); agents silent for
 *     more than 3 intervals are stale, isolated ones excluded. A location (region) votes DOWN
 *     when more than half of its live agents do. The asset is DOWN when >= quorum locations
 *     vote DOWN (quorum counts locations, clamped to the asset's; default: a majority of the
 *     live locations, at least 2 when the asset has two or more), UNCONFIRMED when some
 *     location sees DOWN but fewer locations are live than the quorum needs, DEGRADED when an
 *     agent votes DOWN or is slow, UP with none, UNKNOWN with no live agent holding a vote;
 *     each verdict has a reason. Assets are evaluated after every result and on a 1 s tick.
 *     What to do about a verdict is decided by rules/asset_rules.c from the facts the engine
 *     gathers (s_reconcile); this file and engine_incidents.c / engine_flapping.c apply it.
 *  2. assets.state / state_since / state_reason are written whenever the verdict changes;
 *     a reason that changes while the verdict does not is written on the next 1 s tick,
 *     with the other assets' in a few statements (s_flush_reasons).
 *  3. Entering DOWN with no open incident opens one, in ONE transaction: the incident
 *     (started_at = earliest first failure among the agents voting DOWN, summary, details =
 *     every agent's vote and last error), an incident_events 'opened' row, one DOWN outbox
 *     row per notificationPolicy.onDown channel, and the asset state. Then KICK the notifier.
 *  4. Throttle: a DOWN within throttleSeconds of the asset's previous DOWN/REMINDER
 *     notification (any incident, measured on the outbox rows' created_at, so it survives a
 *     restart) is not sent: the incident gets a 'notification_throttled' event instead.
 *     throttleSeconds 0 disables throttling.
 *  5. An incident closes when the verdict is UP or DEGRADED and rule 17 lets it: ended_at,
 *     a 'resolved' event and one RECOVERY row per onRecovery channel, in one transaction.
 *     RECOVERY is queued only if a DOWN or REMINDER of that incident was queued
 *     ("notified"): a throttled outage ends silently, as it started.
 *  6. UNKNOWN (no live voter: agents gone, or the collector was down longer than 3 intervals)
 *     and UNCONFIRMED (one location without the others) neither open nor close an incident:
 *     no evidence is not a recovery, one location is not a confirmation.
 *  7. repeatAlerts=true and throttleSeconds > 0: while an incident stays open and is not
 *     acknowledged (asked of the database when a reminder is due), a REMINDER row
 *     per onDown channel (and a 'reminder' event) is queued whenever throttleSeconds have
 *     passed since the asset's last DOWN/REMINDER. A reminder makes a throttled incident
 *     "notified", so its RECOVERY is then sent.
 *  8. Restart (or a new leader) rebuilds from the database and never re-notifies: open
 *     incidents are adopted as they are; the newest (failureThreshold + successThreshold)
 *     results per (asset, agent) of the last 3 intervals are replayed into the quorum; then
 *     the ordinary rules apply: an open incident whose asset is UP/DEGRADED closes with a
 *     RECOVERY (the flapping history is not stored: no hold after a rebuild), an asset DOWN
 *     without an open incident opens one (an outage that began during the restart), an
 *     asset still DOWN keeps its incident and sends nothing.
 *  9. Decisions do not wait for the database (engine_journal.c): the engine decides in
 *     memory and journals each decision (incident opened or closed with its outbox rows,
 *     reminder, FLAPPING/STABLE, timeline events); the journal writes them in order, each
 *     in one transaction keyed in engine_decisions so a lost COMMIT reply never doubles
 *     one. While PostgreSQL is away the engine keeps judging the results it receives
 *     (ingest hands them over even when it cannot store them) and the journal grows;
 *     when it is back every decision is written once: an outage that began, or began and
 *     ended, meanwhile gets its incident (started_at = its first failing probe), DOWN and
 *     RECOVERY. assets.state is written after the journal is empty. Agent liveness and
 *     isolation keep their own "pending" flags, retried every tick. The store reconnects
 *     by itself (store.h); the failure is logged once per streak, and /api/health turns
 *     red when no write succeeded for --health-db-seconds (health.h).
 * 10. Agent liveness: AGENT DOWN (the gateway heard nothing for 3 heartbeat periods) moves
 *     agents.liveness 'up' -> 'down' and queues ONE AGENT_DOWN row per onDown channel in the
 *     same transaction (one per agent, never per asset: its assets' votes just go stale,
 *     rule 1). AGENT UP moves 'down' -> 'up' and queues one AGENT_UP per onRecovery
 *     channel. A message that changes nothing (a repeat, or the UP of every agent
 *     reconnecting after a collector restart) queues nothing. A failed transaction is
 *     retried on the next tick. The gateway knows only agents that connected since the
 *     collector started, so at the rebuild (rule 8) every agent 'up' in the database that is
 *     not heard from (AGENT, SKEW or RESULTS message) within 3 heartbeat periods (the
 *     collector's --heartbeat-ms, or the agent's own from agents.heartbeat_ms when longer)
 *     plus the agents' reconnect backoff (ctx->restart_grace_ms, SD_RESTART_GRACE_MS: 10 s) of
 *     the rebuild is declared down by the engine itself: the same
 *     transition and AGENT_DOWN rows, silent_since = its newest agents.last_seen or stored
 *     result. Agents that stay alive reconnect within that time: a restart sends nothing.
 *     statusd_engine_agents_awaited counts the agents still awaited.
 * 11. Clock skew: SKEW messages carry each agent's clock offset (agent minus collector);
 *     it is stored in agents.clock_skew_ms and subtracted from the agent's probe times, so
 *     an incident's started_at is on the collector's clock. Staleness is judged by receive
 *     time and results are ordered by the agent's sequence numbers (quorum.c), so a skewed
 *     clock neither makes an agent stale nor reorders its results.
 * 12. While an incident is open, every change of an agent's vote is a 'vote' incident event.
 * 13. Isolation (engine_agents.c, isolation.h): every tick each agent is compared with
 *     the others on the assets they both vote on. An agent that votes DOWN where no other
 *     agent does and some vote UP, on >= 50% of those assets and >= 3 of them (or on all
 *     of them when it shares only 2), is isolated: agents.isolated = true, one log line,
 *     statusd_agent_isolated{agent} = 1, and its votes are excluded from every verdict
 *     (quorum_set_excluded) until it shares votes with the others again and contradicts them
 *     on none. It is an event and a metric, never an incident or a notification. An agent
 *     that is down (rule 10) is not isolated and not judged: its runs are forgotten (so its
 *     excluded votes never count), agents.isolated = false, the metric 0, one log line; back,
 *     it is judged afresh.
 * 14. Maintenance (maintenance.h): windows active now (maintenance_windows, read every
 *     tick; the manifest's are written there at start and every 10 minutes) put their
 *     assets in MAINTENANCE: assets.state = 'MAINTENANCE', statusd_asset_state{state=
 *     "MAINTENANCE"} = 1; probes are still stored and voted on, but no incident opens or
 *     closes and nothing is queued (no DOWN, RECOVERY, REMINDER, FLAPPING or STABLE). An
 *     incident already open when the window starts stays open. When the window ends the
 *     ordinary rules apply to the current votes at once: an asset still DOWN opens an
 *     incident (and pages), an open incident of an asset now UP closes.
 * 15. Flapping (engine_flapping.c, rules/flapping.h; thresholds per asset or manifest): one sample per check round (a result from
 *     every live agent, or 1.5 intervals); percent state change over the last 20 rounds,
 *     Nagios-weighted; flapping from the manifest's flapping.highThreshold (default 50 %)
 *     until below lowThreshold (default 25 %). Entering: assets.flapping = true and ONE
 *     FLAPPING row per onDown channel; leaving: ONE STABLE row per onRecovery channel.
 *     While flapping no incident closes (rule 17) and an incident that opens gets a
 *     'notification_suppressed' event instead of its DOWN; no REMINDER is queued. Settling
 *     DOWN with an open incident whose DOWN was suppressed queues that DOWN with the STABLE;
 *     settling UP/DEGRADED resolves the open incident right after the STABLE (rule 17),
 *     with its RECOVERY if its DOWN went out. statusd_asset_flapping{asset}.
 * 16. Adaptive intervals: while an asset is DEGRADED, DOWN or UNCONFIRMED its agents probe it every
 *     sd_asset_incident_interval() seconds (incidentIntervalSeconds, default interval/4, at
 *     least 5 s, never slower than the interval): the engine sends ["INTERVAL", asset,
 *     ms] to the gateway (BUS_GATEWAY) on every change, and the normal interval on
 *     recovery; the gateway pushes new Assignments. Staleness keeps the normal interval.
 * 17. Recovery (rules/recovery_hold.c): an incident whose verdict left DOWN resolves at once,
 *     unless the asset is flapping (it resolves right after its STABLE) or restless (percent
 *     state change above its low flapping threshold): then it waits until the asset has been
 *     out of DOWN for flapping.recoveryHoldSeconds (its own or the manifest's; default 2 x
 *     intervalSeconds, at most 3600) -- the bound of that wait. Meanwhile the asset shows
 *     UP/DEGRADED and the timeline gets a 'recovery_held' event per wait; a DOWN meanwhile is
 *     the SAME incident ('relapsed' event, no new DOWN). The wait's start is in memory only.
 *     statusd_incident_recovery_holds_total{reason}, statusd_incident_relapses_total{asset}.
 * 18. Agents gone for good (engine_agents.c): an agent down (AGENT_DOWN committed, or never
 *     known as up) and silent for --agent-forget-after (ctx->agent_forget_ms, default 24 h),
 *     with nothing pending, not isolated and stale for every asset, is forgotten: its runs
 *     in every vote table, its series (statusd_agent_up, _clock_skew_seconds, _isolated) and
 *     its entry are freed; statusd_agents_forgotten_total{actor="engine",reason="gone"}.
 *     Stale votes count in no verdict, so forgetting changes none; if it comes back it is
 *     judged afresh, like a new agent (its AGENT_UP is sent as the database's liveness
 *     says). Its agents row stays (last_seq keeps its replays out; /api/agents lists it);
 *     the rebuild does not load rows down for longer than the period. The table holds at
 *     most 10,000 agents; when it is full, the forgettable agent silent longest is
 *     forgotten at once (reason="table_full"), else the new agent is refused as before.
 *
 * Metrics: statusd_asset_up{asset} (0 DOWN, 1 otherwise, absent while UNKNOWN),
 * statusd_asset_state{asset,state} (state UNKNOWN, UP, DEGRADED, DOWN, UNCONFIRMED,
 * MAINTENANCE), statusd_asset_down_votes{asset}, statusd_asset_down_locations{asset},
 * statusd_incidents_open, statusd_agent_isolated{agent},
 * statusd_asset_flapping{asset}, statusd_maintenance_windows_active,
 * statusd_agent_up{agent,region}, statusd_agent_clock_skew_seconds{agent},
 * statusd_notifications_queued_total{channel}, statusd_engine_agents_tracked,
 * statusd_agents_forgotten_total{actor="engine",reason} (rule 18),
 * statusd_engine_results_dropped_total{reason} (malformed, unknown_asset, agent_limit,
 * agent_table_full). */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bus.h"
#include "engine_priv.h"
#include "health.h"
#include "sd_log.h"
#include "statusd.pb-c.h"
#include "store_agents.h"
#include "store_assets.h"
#include "store_decisions.h"
#include "store_health.h"
#include "store_incidents.h"
#include "store_outbox.h"
#include "store_results.h"

#define COMP ENGINE_COMP
#define TICK_MS 1000
/* KICKs queued for the notifier; past it a KICK is dropped (it only hurries a poll) */
#define KICK_HWM 16
#define GATEWAY_HWM 10000
/* keys of written decisions are kept a week (a retry comes within seconds or minutes) */
#define DECISIONS_KEPT_MS ((int64_t) 7 * 86400 * 1000)
#define DECISIONS_PRUNE_MS ((sd_ms_t) 3600 * 1000)

typedef struct {
    const collector_ctx_t *ctx;
    bool ok;
} start_t;


/* ---- metrics ------------------------------------------------------------------------- */

void engine_count(self_t *self, const char *name, const char *help, const char *k,
                    const char *v, double d)
{
    if (self->ctx->metrics)
        metrics_add(self->ctx->metrics, name, help, (const char *[]){k, v, NULL}, d);
}

void engine_drop(self_t *self, const char *reason, bool *logged, const char *detail)
{
    engine_count(self, "statusd_engine_results_dropped_total",
            "Results the alert engine could not use, by reason.", "reason", reason, 1);
    if (!*logged) {
        sd_warn(COMP, "result dropped reason=%s detail=%s (logged once)", reason, detail);
        *logged = true;
    }
}

void engine_metrics_asset(self_t *self, const e_asset_t *a)
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
    static const char *const names[] = {"UNKNOWN", "UP", "DEGRADED", "DOWN", "UNCONFIRMED",
                                         "MAINTENANCE"};
    const char *shown = engine_shown(a);
    for (size_t s = 0; s < sizeof names / sizeof *names; s++)
        metrics_set(m, "statusd_asset_state", "1 for the asset's current alert state.",
                    (const char *[]){"asset", id, "state", names[s], NULL},
                    strcmp(names[s], shown) == 0);
}

const char *engine_shown(const e_asset_t *a)
{
    return a->maint ? "MAINTENANCE" : quorum_state_name(a->state);
}

static void s_metrics_votes(self_t *self, e_asset_t *a, const quorum_eval_t *ev)
{
    if (!self->ctx->metrics)
        return;
    if (a->down_votes_shown != ev->down_votes)
        metrics_set(self->ctx->metrics, "statusd_asset_down_votes",
                    "Live agents whose vote for the asset is DOWN.",
                    (const char *[]){"asset", a->conf->id, NULL}, ev->down_votes);
    if (a->down_locations_shown != ev->down_locations)
        metrics_set(self->ctx->metrics, "statusd_asset_down_locations",
                    "Locations (regions) whose live agents' majority votes the asset DOWN; the "
                    "quorum counts these.",
                    (const char *[]){"asset", a->conf->id, NULL}, ev->down_locations);
    a->down_votes_shown = ev->down_votes;
    a->down_locations_shown = ev->down_locations;
}

void engine_metrics_open(self_t *self)
{
    if (!self->ctx->metrics)
        return;
    double n = 0;
    for (size_t i = 0; i < self->n_assets; i++)
        n += self->assets[i]->inc != NULL;
    metrics_set(self->ctx->metrics, "statusd_incidents_open", "Open incidents.", NULL, n);
}

/* ---- policy -------------------------------------------------------------------------- */

int engine_throttle_s(const self_t *self)
{
    return self->view.notifiers ? self->view.notifiers->throttle_seconds : 0;
}

size_t engine_channels(const self_t *self, const e_asset_t *a, bool down,
                       const char *const **names)
{
    if (a) {
        *names = down ? a->down_ch : a->rec_ch;
        return down ? a->n_down_ch : a->n_rec_ch;
    }
    const sd_notifiers_t *n = self->view.notifiers;
    if (!n) {
        *names = NULL;
        return 0;
    }
    *names = (const char *const *) (down ? n->on_down : n->on_recovery);
    return down ? n->n_on_down : n->n_on_recovery;
}

void engine_kick(self_t *self)
{
    /* non-blocking: a missed KICK only delays delivery to the notifier's next poll */
    zstr_send(self->push, "KICK");
}

/* ---- adaptive intervals (rule 16) ----------------------------------------------------- */

static void s_adaptive(self_t *self, e_asset_t *a)
{
    uint32_t want = asset_rules_interval_ms(a->state, (uint32_t) a->conf->interval_seconds * 1000,
                                            (uint32_t) sd_asset_incident_interval(a->conf) * 1000);
    if (want == a->interval_sent_ms || !self->rebuilt)
        return;
    char v[16];
    snprintf(v, sizeof v, "%u", want);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "INTERVAL");
    zmsg_addstr(m, a->conf->id);
    zmsg_addstr(m, v);
    if (zmsg_send(&m, self->to_gateway) != 0) {
        /* retried on the next evaluation (every tick) */
        zmsg_destroy(&m);
        if (self->ctx->metrics)
            metrics_add(self->ctx->metrics, "statusd_bus_dropped_total",
                        "Inproc messages dropped because the receiver was full, absent or past "
                        "its byte budget",
                        (const char *[]){"from", "engine", "to", "gateway", "reason", "full",
                                         NULL},
                        1);
        if (!self->logged_gateway_drop)
            sd_warn(COMP, "interval change not delivered to the gateway asset=%s (retrying; "
                          "logged once)", a->conf->id);
        self->logged_gateway_drop = true;
        return;
    }
    sd_info(COMP, "probe interval asset=%s interval_ms=%u state=%s", a->conf->id, want,
            quorum_state_name(a->state));
    a->interval_sent_ms = want;
}

/* True when a's open incident was acknowledged (read from the database, remembered once
 * true); false when not, or when the database cannot say (the reminder goes out). */
static bool s_acknowledged(self_t *self, e_asset_t *a)
{
    if (a->inc->acked || a->inc->db_id <= 0)
        return a->inc->acked;
    char err[256] = "";
    bool acked = false;
    if (store_incidents_acknowledged(self->store, a->inc->db_id, &acked, err, sizeof err) != 0)
        return false;
    if (acked)
        sd_info(COMP, "incident acknowledged asset=%s incident=%lld: no more reminders",
                a->conf->id, (long long) a->inc->db_id);
    a->inc->acked = acked;
    return acked;
}

/* Escalation: a tier of the asset's route whose time has come pages its notifiers (those not
 * paged yet) with the incident's DOWN, unless someone acknowledged it (asked of the
 * database only then). */
static void s_escalate(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                       int64_t now_wall)
{
    if (!a->inc || !a->n_tiers)
        return;
    int after[32];
    for (size_t i = 0; i < a->n_tiers && i < 32; i++)
        after[i] = a->tiers[i]->after_seconds;
    escalation_facts_t f = {.open = true, .notified = a->inc->notified,
                            .acknowledged = a->inc->acked, .maint = a->maint,
                            .open_ms = now_wall - a->inc->opened_ms, .after_s = after,
                            .n = a->n_tiers < 32 ? a->n_tiers : 32, .fired = a->inc->fired};
    int tier = asset_rules_escalate(&f);
    if (tier < 0 || s_acknowledged(self, a))
        return;
    engine_escalate(self, a, tier, ev, now_mono, now_wall);
}

/* What assets.state_reason says of a: its verdict's reason, after a note when a maintenance
 * window covers it. */
#define REASON_TEXT_MAX (QUORUM_REASON_MAX + 48)
static void s_reason_text(const e_asset_t *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", a->maint ? "maintenance window; the probes say: " : "", a->reason);
}

/* Rule 2, the reasons that changed while the state did not (the number of live locations,
 * the names of those that see DOWN, ...): written once a tick, STORE_ASSETS_REASONS_BATCH
 * per statement. Agents joining, leaving or going stale change the reason of every asset
 * they probe at about the same time; one UPDATE per asset and change, on this thread,
 * would hold the engine up for seconds at a collector's start (#assets x #locations). */
static void s_flush_reasons(self_t *self)
{
    if (!self->rebuilt || self->journal_head)
        return;
    store_asset_reason_t rows[STORE_ASSETS_REASONS_BATCH];
    e_asset_t *which[STORE_ASSETS_REASONS_BATCH];
    char(*texts)[REASON_TEXT_MAX] = NULL;
    size_t k = 0;
    for (size_t i = 0; i <= self->n_assets; i++) {
        e_asset_t *a = i < self->n_assets ? self->assets[i] : NULL;
        if (a && (!a->db_shown || strcmp(a->db_shown, engine_shown(a)) != 0 ||
                  strcmp(a->db_reason, a->reason) == 0))
            continue; /* the state's own write (s_reconcile) carries its reason */
        if (a) {
            if (!texts && !(texts = malloc(STORE_ASSETS_REASONS_BATCH * sizeof *texts)))
                return; /* out of memory: the next tick tries again */
            s_reason_text(a, texts[k], sizeof texts[k]);
            rows[k] = (store_asset_reason_t){.asset_id = a->conf->id, .reason = texts[k]};
            which[k++] = a;
        }
        if (k == STORE_ASSETS_REASONS_BATCH || (!a && k > 0)) {
            char err[512] = "";
            if (store_assets_set_reasons(self->store, rows, k, err, sizeof err) != 0) {
                engine_db_failed(self, "write asset reasons", "-", err);
                break;
            }
            for (size_t j = 0; j < k; j++)
                memcpy(which[j]->db_reason, which[j]->reason, sizeof which[j]->reason);
            engine_db_ok(self);
            k = 0;
        }
    }
    free(texts);
}

/* Rules 3-7, 14 and 17: the facts of the asset for asset_rules_decide, whose actions are
 * applied here (engine_incidents.c journals them). */
static void s_reconcile(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                        int64_t now_wall)
{
    if (!self->rebuilt)
        return;
    if (a->inc && (ev->state == QUORUM_UP || ev->state == QUORUM_DEGRADED) &&
        !a->out_of_down_mono)
        a->out_of_down_mono = now_mono ? now_mono : 1;
    const char *const *names;
    const sd_notifiers_t *n = self->view.notifiers;
    asset_facts_t f = {
        .verdict = ev->state,
        .maint = a->maint,
        .open = a->inc != NULL,
        .acknowledged = a->inc && a->inc->acked,
        .flapping = a->flap.flapping,
        .percent = flapping_percent(&a->flap),
        .low_percent = a->flap_low,
        .out_of_down_ms = a->out_of_down_mono ? now_mono - a->out_of_down_mono : 0,
        .hold_ms = a->hold_ms,
        .held = a->held,
        .throttle_s = engine_throttle_s(self),
        .repeat_alerts = n && n->repeat_alerts,
        .down_channels = engine_channels(self, a, true, &names) > 0,
        .now_wall = now_wall,
        .last_notify_ms = a->last_notify_ms,
    };
    asset_decision_t d;
    asset_rules_decide(&f, &d);
    for (int i = 0; i < d.n; i++) {
        switch (d.actions[i]) {
        case ASSET_OPEN:
            engine_open(self, a, ev, &d, now_mono, now_wall);
            break;
        case ASSET_CLOSE: {
            recovery_verdict_t was = a->held;
            int64_t since = a->held_since_wall;
            if (engine_close(self, a, ev, now_mono, now_wall) != 0)
                break; /* out of memory: decided again on the next tick (rule 9) */
            if (was != RECOVERY_CLOSE)
                sd_info(COMP, "recovery released asset=%s waited_ms=%lld last_reason=%s",
                        a->conf->id, (long long) (now_wall - since), recovery_hold_reason(was));
            engine_hold_reset(a);
            break;
        }
        case ASSET_HOLD:
            engine_hold(self, a, d.held, now_mono, now_wall);
            break;
        case ASSET_RELAPSE:
            engine_relapse(self, a, now_mono, now_wall);
            break;
        case ASSET_REMIND:
            /* the API acknowledges in the database: asked only when a reminder is due */
            if (!s_acknowledged(self, a))
                engine_remind(self, a, ev, now_mono, now_wall);
            break;
        }
    }
    if (a->inc && ev->state == QUORUM_DOWN)
        engine_hold_reset(a); /* a relapse ends the wait */
    s_escalate(self, a, ev, now_mono, now_wall);
    const char *shown = engine_shown(a);
    /* the display column follows the journal: the incident rows first. A new state is
     * written at once, with its reason; a reason that changed alone waits for the tick
     * (s_flush_reasons), which writes all of them in a few statements */
    if ((!a->db_shown || strcmp(a->db_shown, shown) != 0) && !self->journal_head) {
        char err[512] = "";
        char reason[REASON_TEXT_MAX];
        s_reason_text(a, reason, sizeof reason);
        if (store_assets_set_state(self->store, a->conf->id, shown, reason, a->state_since_ms,
                                   err, sizeof err) == 0) {
            a->db_shown = shown;
            memcpy(a->db_reason, a->reason, sizeof a->reason);
            engine_db_ok(self);
        } else {
            engine_db_failed(self, "write asset state", a->conf->id, err);
        }
    }
}

void engine_evaluate(self_t *self, e_asset_t *a, sd_ms_t now_mono, int64_t now_wall)
{
    quorum_eval_t ev;
    quorum_evaluate(a->q, now_mono, &ev);
    s_metrics_votes(self, a, &ev);
    if (ev.state != a->state) {
        sd_info(COMP, "asset state asset=%s from=%s to=%s down_locations=%d live_locations=%d "
                      "locations=%d quorum=%d down=%d live=%d reason=\"%s\"",
                a->conf->id, quorum_state_name(a->state), quorum_state_name(ev.state),
                ev.down_locations, ev.live_locations, ev.locations, ev.quorum, ev.down_votes,
                ev.live, ev.reason);
        a->state = ev.state;
        /* an outage counts from its first failing probe (the uptime figures are exact to the
         * probe, not to the decision) */
        if (!a->maint)
            a->state_since_ms = ev.state == QUORUM_DOWN && ev.started_at_ms > 0 &&
                                        ev.started_at_ms <= now_wall
                                    ? ev.started_at_ms
                                    : now_wall;
        a->round_changed = true;
        engine_metrics_asset(self, a);
    }
    a->live = ev.live;
    memcpy(a->reason, ev.reason, sizeof a->reason);
    if (a->conf->quorum > ev.quorum && ev.locations > 0 && !a->logged_clamp) {
        /* quorum counted agents before it counted locations: say what it means now */
        sd_warn(COMP, "quorum above the asset's locations asset=%s quorum=%d locations=%d: it "
                      "counts locations (regions), so %d is used (logged once)",
                a->conf->id, a->conf->quorum, ev.locations, ev.quorum);
        a->logged_clamp = true;
    }
    s_reconcile(self, a, &ev, now_mono, now_wall);
    s_adaptive(self, a);
}

/* ---- restart rebuild (rule 8) -------------------------------------------------------- */

e_asset_t *engine_find(self_t *self, const char *id)
{
    return (e_asset_t *) zhashx_lookup(self->by_id, id);
}

static void s_load_asset_cb(const char *id, const char *state, int64_t since, int64_t last,
                            void *arg)
{
    e_asset_t *a = engine_find((self_t *) arg, id);
    if (!a)
        return;
    a->state = quorum_state_parse(state);
    a->db_shown = strcmp(state, "MAINTENANCE") == 0 ? "MAINTENANCE" : quorum_state_name(a->state);
    a->last_notify_ms = last;
    a->state_since_ms = since;
}

static void s_load_open_cb(const store_open_incident_t *inc, void *arg)
{
    e_asset_t *a = engine_find((self_t *) arg, inc->asset_id);
    if (!a) {
        sd_warn(COMP, "open incident for an asset not in the manifest asset=%s incident=%lld "
                      "(left open)",
                inc->asset_id, (long long) inc->incident_id);
        return;
    }
    engine_incident_unref(&a->inc);
    a->inc = engine_incident_new(inc->started_at_ms);
    if (!a->inc)
        return; /* out of memory: the engine runs on without it (logged by the caller) */
    a->inc->db_id = inc->incident_id;
    a->inc->notified = inc->notified;
    a->inc->acked = inc->acknowledged;
    a->inc->opened_ms = inc->started_at_ms;
    /* a tier fired before the restart: every one of its notifiers has a DOWN of it */
    for (size_t t = 0; t < a->n_tiers && t < 32; t++) {
        bool all = true;
        for (size_t k = 0; all && k < a->tiers[t]->n_notify; k++) {
            char quoted[SD_CONFIG_ID_MAX * 4 + 3];
            snprintf(quoted, sizeof quoted, ",%s,", a->tiers[t]->notify[k]);
            all = inc->down_channels && strstr(inc->down_channels, quoted);
        }
        if (all)
            a->inc->fired |= 1u << t;
    }
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
    e_asset_t *a = engine_find(rp->self, r->asset_id);
    if (!a)
        return;
    int64_t age = rp->now_wall - r->received_ms; /* the collector's clock, never the agent's */
    if (age > 3 * (int64_t) a->conf->interval_seconds * 1000)
        return;
    quorum_result_t qr = {.agent_id = r->agent_id, .region = r->region, .success = r->success,
                          .started_at_ms = r->ts_ms - r->clock_skew_ms, .error = r->error,
                          .seq = r->seq, .latency_ms = r->latency_ms};
    if (quorum_apply(a->q, &qr, rp->now_mono - (age > 0 ? age : 0)) == 0)
        rp->replayed++;
}

static void s_load_flag_cb(bool agent, const char *id, void *arg)
{
    self_t *self = arg;
    if (agent) {
        engine_agent_restore_isolated(self, id);
    } else {
        e_asset_t *a = engine_find(self, id);
        if (a) {
            flapping_restore(&a->flap, true);
            a->flap_db = true;
        }
    }
}

/* store_assets_load_flapping / store_agents_load_isolated into s_load_flag_cb */
static void s_load_flapping_cb(const char *id, void *arg)
{
    s_load_flag_cb(false, id, arg);
}

static void s_load_isolated_cb(const char *id, void *arg)
{
    s_load_flag_cb(true, id, arg);
}

/* Rule 14: the manifest's windows into maintenance_windows, at start and every
 * MAINTENANCE_SYNC_MS (weekly windows are written a week ahead). */
static int s_maint_sync(self_t *self, char *err, size_t errlen)
{
    size_t rows = 0;
    int rc = maintenance_sync(self->store, self->view.manifest, sd_wall_ms(), &rows, err, errlen);
    if (rc == 0) {
        self->next_maint_sync = sd_mono_ms() + MAINTENANCE_SYNC_MS;
        sd_debug(COMP, "manifest maintenance windows written rows=%zu", rows);
    }
    return rc;
}

/* Rule 14: which assets are in maintenance now; a change is re-evaluated at once. */
static void s_maint_tick(self_t *self, sd_ms_t now_mono, int64_t now_wall)
{
    char err[512] = "";
    if (now_mono >= self->next_maint_sync && s_maint_sync(self, err, sizeof err) != 0) {
        if (!self->maint_failing)
            sd_error(COMP, "maintenance windows not written err=%s (retrying; logged once)", err);
        self->maint_failing = true;
        return;
    }
    if (maintenance_refresh(self->maint, self->store, err, sizeof err) != 0) {
        if (!self->maint_failing)
            sd_error(COMP, "maintenance windows not read err=%s (keeping the last known; "
                           "logged once)", err);
        self->maint_failing = true;
        return;
    }
    if (self->maint_failing)
        sd_info(COMP, "maintenance windows readable again");
    self->maint_failing = false;
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_maintenance_windows_active",
                    "Maintenance windows active now.", NULL,
                    (double) maintenance_active_windows(self->maint));
    for (size_t i = 0; i < self->n_assets; i++) {
        e_asset_t *a = self->assets[i];
        bool m = maintenance_covers(self->maint, a->conf->id);
        if (m == a->maint)
            continue;
        a->maint = m;
        a->state_since_ms = now_wall;
        sd_info(COMP, "maintenance %s asset=%s state=%s", m ? "started" : "ended", a->conf->id,
                quorum_state_name(a->state));
        engine_metrics_asset(self, a);
    }
}

/* The storm counts as the outbox has them (storm.h): a storm that spans a restart goes on as
 * one, and a page decided now joins the digest that is open. */
static void s_storm_cb(const outbox_recent_t *row, void *arg)
{
    self_t *self = arg;
    storm_kind_t kind;
    if (strcmp(row->event, "DIGEST") == 0)
        storm_restore_digest(self->storm, row->channel, row->digest_key);
    else if (storm_kind_of(row->event, &kind))
        storm_restore_page(self->storm, row->channel, kind, row->at_ms);
}

int engine_storm_restore(self_t *self, char *err, size_t errlen)
{
    const sd_notifiers_t *nf = self->view.notifiers;
    int window_s = nf ? nf->storm_window_seconds : STORM_WINDOW_S_DEFAULT;
    storm_t *fresh = storm_new(nf ? nf->storm_threshold : STORM_THRESHOLD_DEFAULT,
                               (int64_t) window_s * 1000);
    if (!fresh) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    storm_destroy(&self->storm);
    self->storm = fresh;
    return store_outbox_recent(self->store, window_s, s_storm_cb, self, err, errlen);
}

static int s_rebuild(self_t *self)
{
    char err[512] = "";
    int64_t window = 0;
    int per_agent = 0;
    for (size_t i = 0; i < self->n_assets; i++) {
        e_asset_t *a = self->assets[i];
        engine_incident_unref(&a->inc);
        engine_hold_reset(a);
        int64_t w = 3 * (int64_t) a->conf->interval_seconds * 1000;
        int ft = a->conf->failure_threshold > 0 ? a->conf->failure_threshold : 2;
        int st = a->conf->success_threshold > 0 ? a->conf->success_threshold : 1;
        window = w > window ? w : window;
        per_agent = ft + st > per_agent ? ft + st : per_agent;
    }
    replay_t rp = {self, sd_mono_ms(), sd_wall_ms(), 0};
    int rc = store_ensure(self->store);
    if (rc == 0)
        rc = store_assets_sync(self->store, self->view.manifest, err, sizeof err);
    if (rc == 0)
        rc = store_assets_load(self->store, s_load_asset_cb, self, err, sizeof err);
    if (rc == 0)
        rc = store_incidents_load_open(self->store, s_load_open_cb, self, err, sizeof err);
    if (rc == 0) /* before the replay below, which may decide pages */
        rc = engine_storm_restore(self, err, sizeof err);
    if (rc == 0)
        /* rule 18: rows down for longer than the period are gone for good, unless results
         * of theirs may still be replayed below */
        rc = store_agents_load(self->store,
                               collector_forget_ms(self->ctx) > window
                                   ? collector_forget_ms(self->ctx)
                                   : window,
                               engine_load_agent_cb, self, err, sizeof err);
    if (rc == 0)
        rc = store_assets_load_flapping(self->store, s_load_flapping_cb, self, err, sizeof err);
    if (rc == 0)
        rc = store_agents_load_isolated(self->store, s_load_isolated_cb, self, err, sizeof err);
    if (rc == 0)
        rc = s_maint_sync(self, err, sizeof err);
    if (rc == 0)
        rc = maintenance_refresh(self->maint, self->store, err, sizeof err);
    if (rc == 0 && per_agent > 0)
        rc = store_results_recent(self->store, window, per_agent, s_replay_cb, &rp, err,
                                            sizeof err);
    if (rc != 0) {
        engine_db_failed(self, "rebuild", "-", err);
        return rc;
    }
    engine_db_ok(self);
    size_t open = 0;
    for (size_t i = 0; i < self->n_assets; i++) {
        e_asset_t *a = self->assets[i];
        open += a->inc != NULL;
        if (a->inc)
            a->state = QUORUM_DOWN;
        a->maint = maintenance_covers(self->maint, a->conf->id);
        for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
            if (g->isolated)
                quorum_set_excluded(a->q, g->id, true);
        engine_metrics_asset(self, a);
    }
    self->rebuilt = true;
    engine_metrics_open(self);
    engine_agents_rebuilt(self, sd_mono_ms()); /* rule 10: wait for the agents that were up */
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
        if (g->pending != LIVE_NONE) /* AGENT messages that came before the rebuild */
            engine_agent_apply(self, g);
    sd_info(COMP, "state rebuilt assets=%zu open_incidents=%zu replayed_results=%zu",
            self->n_assets, open, rp.replayed);
    return 0;
}

/* ---- messages ------------------------------------------------------------------------ */

/* Rule 12: a vote change during an open incident joins its timeline (best effort: a
 * failed insert is logged, the verdict does not wait for it). */
static void s_vote_event(self_t *self, e_asset_t *a, const char *agent,
                         const char *region, quorum_vote_t from, quorum_vote_t to,
                         const char *error)
{
    if (!a->inc || !self->rebuilt)
        return;
    engine_incident_event(self, a, "vote",
                          json_pack("{s:s, s:s, s:s, s:s, s:s}", "agent", agent, "region", region,
                                    "from", quorum_vote_name(from), "to", quorum_vote_name(to),
                                    "error", to == QUORUM_VOTE_DOWN && error ? error : ""),
                          sd_wall_ms());
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
        engine_drop(self, "malformed", &self->logged_malformed, agent ? agent : "?");
    } else {
        int64_t skew = engine_skew_of(self, agent);
        engine_agent_heard(self, agent, region); /* alive (rule 10); known for isolation */
        for (size_t i = 0; i < b->n_results; i++) {
            const Statusd__ProbeResult *r = b->results[i];
            e_asset_t *a = r->asset_id ? engine_find(self, r->asset_id) : NULL;
            if (!a) {
                engine_drop(self, "unknown_asset", &self->logged_unknown, r->asset_id);
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
                                  .seq = r->seq,
                                  .latency_ms = (int64_t) (r->latency_us + 999) / 1000};
            quorum_vote_t before = quorum_agent_vote(a->q, agent);
            int rc = quorum_apply(a->q, &qr, sd_mono_ms());
            if (rc == -ENOSPC) {
                engine_drop(self, "agent_limit", &self->logged_agent_limit, a->conf->id);
            } else if (rc == 0) {
                if (engine_agent_isolated(self, agent))
                    quorum_set_excluded(a->q, agent, true);
                quorum_vote_t after = quorum_agent_vote(a->q, agent);
                if (after != before)
                    s_vote_event(self, a, agent, region, before, after, error);
                engine_evaluate(self, a, sd_mono_ms(), sd_wall_ms());
                if (engine_flap_result(self, a, sd_mono_ms()))
                    engine_evaluate(self, a, sd_mono_ms(), sd_wall_ms()); /* rule 17 */
            }
        }
        statusd__result_batch__free_unpacked(b, NULL);
    }
    /* the pipeline's progress (health.h): ingest numbers what it hands over */
    char *seq = zmsg_popstr(msg), *stamp = zmsg_popstr(msg);
    if (seq && stamp)
        health_results_evaluated(self->ctx->health, strtoull(seq, NULL, 10),
                                 strtoll(stamp, NULL, 10));
    free(seq);
    free(stamp);
    zframe_destroy(&payload);
    free(agent);
    free(region);
}

static void s_on_message(self_t *self)
{
    zmsg_t *msg = bus_recv(self->pull);
    char *cmd = msg ? zmsg_popstr(msg) : NULL;
    if (cmd && strcmp(cmd, "RESULTS") == 0) {
        s_on_results(self, msg);
    } else if (cmd && strcmp(cmd, "AGENT") == 0) {
        engine_on_agent(self, msg);
    } else if (cmd && strcmp(cmd, "SKEW") == 0) {
        engine_on_skew(self, msg);
    } else {
        engine_drop(self, "malformed", &self->logged_malformed, cmd ? cmd : "(empty)");
    }
    free(cmd);
    zmsg_destroy(&msg);
}

/* The health heartbeat row (health.h) and the pruning of old decision keys: proof that the
 * engine can write even when it has nothing to decide. */
static void s_upkeep(self_t *self, sd_ms_t now_mono)
{
    char err[512] = "";
    if (now_mono >= self->next_beat_write) {
        self->next_beat_write = now_mono + health_write_interval_ms(self->ctx->health);
        if (store_health_beat(self->store, "engine", err, sizeof err) == 0)
            engine_db_ok(self);
        else
            engine_db_failed(self, "heartbeat", "-", err);
    }
    if (now_mono >= self->next_decisions_prune && !self->db_failing) {
        int64_t deleted = 0;
        if (store_decisions_prune(self->store, DECISIONS_KEPT_MS, &deleted, err,
                                  sizeof err) == 0) {
            self->next_decisions_prune = now_mono + DECISIONS_PRUNE_MS;
            if (deleted > 0)
                sd_debug(COMP, "old decision keys deleted rows=%" PRId64, deleted);
        }
    }
}

static void s_tick(self_t *self)
{
    s_upkeep(self, sd_mono_ms());
    if (!self->rebuilt && s_rebuild(self) != 0)
        return;
    engine_journal_flush(self);
    engine_retired_release(self, false);
    sd_ms_t now_mono = sd_mono_ms();
    int64_t now_wall = sd_wall_ms();
    s_maint_tick(self, now_mono, now_wall);
    /* agents first: isolation and liveness change vote tables, judged right below */
    engine_isolation_tick(self, now_mono);
    engine_agents_tick(self, now_mono, now_wall);
    engine_agents_forget(self, now_mono);
    for (size_t i = 0; i < self->n_assets; i++) {
        engine_evaluate(self, self->assets[i], now_mono, now_wall);
        if (engine_flap_tick(self, self->assets[i], now_mono))
            engine_evaluate(self, self->assets[i], now_mono, now_wall); /* rule 17 */
    }
    s_flush_reasons(self);
}

/* ---- actor --------------------------------------------------------------------------- */

void engine_asset_free(e_asset_t **p)
{
    if (!p || !*p)
        return;
    e_asset_t *a = *p;
    quorum_destroy(&a->q);
    engine_incident_unref(&a->inc);
    free(a->down_ch);
    free(a->rec_ch);
    free(a->tiers);
    free(a);
    *p = NULL;
}

int engine_asset_votes(e_asset_t *a)
{
    const sd_asset_t *c = a->conf;
    quorum_conf_t qc = {.failure_threshold = c->failure_threshold,
                        .success_threshold = c->success_threshold,
                        .quorum = c->quorum,
                        .interval_ms = (int64_t) c->interval_seconds * 1000,
                        .locations = c->locations,
                        .n_locations = c->n_locations,
                        .degraded_latency_ms = c->degraded_latency_ms,
                        .max_latency_ms = c->max_latency_ms};
    quorum_t *q = quorum_new(&qc);
    if (!q)
        return -ENOMEM;
    quorum_destroy(&a->q);
    a->q = q;
    a->down_votes_shown = -1;
    a->down_locations_shown = -1;
    a->logged_clamp = false;
    return 0;
}

int engine_asset_configure(self_t *self, e_asset_t *a)
{
    const sd_asset_t *c = a->conf;
    int hold_s;
    sd_asset_flapping(self->view.manifest, c, &a->flap_high, &a->flap_low, &hold_s);
    flapping_thresholds(&a->flap_high, &a->flap_low);
    a->hold_ms = recovery_hold_ms(hold_s, c->interval_seconds);
    free(a->down_ch);
    free(a->rec_ch);
    free(a->tiers);
    a->down_ch = a->rec_ch = NULL;
    a->tiers = NULL;
    a->n_down_ch = a->n_rec_ch = a->n_tiers = 0;
    /* the notifiers its pages go to (notificationPolicy.routes, else the default) */
    const sd_notifiers_t *n = self->view.notifiers;
    if (sd_notifiers_route(n, c, true, &a->down_ch, &a->n_down_ch) ||
        sd_notifiers_route(n, c, false, &a->rec_ch, &a->n_rec_ch) ||
        sd_notifiers_escalation(n, c, &a->tiers, &a->n_tiers))
        return -ENOMEM;
    return 0;
}

e_asset_t *engine_asset_new(self_t *self, const sd_asset_t *c)
{
    e_asset_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->conf = c;
    a->interval_sent_ms = (uint32_t) c->interval_seconds * 1000;
    if (engine_asset_votes(a) != 0 || engine_asset_configure(self, a) != 0)
        engine_asset_free(&a);
    return a;
}

static void s_self_destroy(self_t **p)
{
    if (!p || !*p)
        return;
    self_t *self = *p;
    engine_journal_clear(self);
    for (size_t i = 0; i < self->n_assets; i++)
        engine_asset_free(&self->assets[i]);
    free(self->assets);
    engine_retired_release(self, true);
    zhashx_destroy(&self->by_id);
    zhashx_destroy(&self->agents);
    zpoller_destroy(&self->poller);
    bus_close(&self->pull);
    bus_close(&self->push);
    bus_close(&self->to_gateway);
    maintenance_destroy(&self->maint);
    storm_destroy(&self->storm);
    store_destroy(&self->store);
    config_view_release(&self->view);
    free(self);
    *p = NULL;
}

static self_t *s_self_new(zsock_t *pipe, const collector_ctx_t *ctx)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->pipe = pipe;
    collector_view(ctx, &self->view);
    uint64_t boot = 0;
    if (getrandom(&boot, sizeof boot, 0) != (ssize_t) sizeof boot)
        boot = (uint64_t) sd_wall_us() ^ ((uint64_t) getpid() << 32);
    snprintf(self->boot_id, sizeof self->boot_id, "%016" PRIx64, boot);
    health_register(ctx->health, "engine", HEALTH_LOOP | HEALTH_WRITES);
    char err[512] = "";
    self->store = store_new(ctx->db_conninfo, err, sizeof err);
    if (!self->store) {
        sd_error(COMP, "cannot connect to the database err=%s", err);
        s_self_destroy(&self);
        return NULL;
    }
    self->pull = bus_pull(BUS_ENGINE);
    self->push = bus_push(BUS_NOTIFY, KICK_HWM);
    self->to_gateway = bus_push(BUS_GATEWAY, GATEWAY_HWM);
    self->maint = maintenance_new();
    const sd_notifiers_t *nf = self->view.notifiers;
    self->storm = storm_new(nf ? nf->storm_threshold : STORM_THRESHOLD_DEFAULT,
                            (int64_t) (nf ? nf->storm_window_seconds : STORM_WINDOW_S_DEFAULT) *
                                1000);
    self->by_id = zhashx_new();
    self->agents = zhashx_new();
    if (self->agents)
        zhashx_set_destructor(self->agents, engine_agent_free);
    const sd_manifest_t *m = self->view.manifest;
    size_t n = m ? m->n_assets : 0;
    self->assets = calloc(n ? n : 1, sizeof *self->assets);
    if (!self->pull || !self->push || !self->to_gateway || !self->maint || !self->storm ||
        !self->by_id ||
        !self->agents || !self->assets) {
        sd_error(COMP, "cannot create sockets endpoint=%s", BUS_ENGINE);
        s_self_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        e_asset_t *a = engine_asset_new(self, &m->assets[i]);
        if (!a) {
            s_self_destroy(&self);
            return NULL;
        }
        self->assets[self->n_assets++] = a;
        zhashx_insert(self->by_id, a->conf->id, a);
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
        health_beat(self->ctx->health, "engine");
        sd_ms_t wait = next_tick - sd_mono_ms();
        void *which = zpoller_wait(self->poller, (int) (wait < 0 ? 0 : wait));
        engine_on_reload(self);
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
