/* engine_agents: agent liveness (rule 10), clock skew (rule 11), isolation (rule 13) and
 * forgetting agents gone for good (rule 18) of the alert engine. Besides the gateway's AGENT
 * UP/DOWN, the engine itself declares down an agent that the database holds as up at a
 * rebuild and that is not heard from within 3 heartbeat periods (it died while no collector
 * ran, so no gateway ever saw it go). A down agent is never isolated: isolation judges a
 * live agent's votes. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_rules.h"
#include "engine_priv.h"
#include "isolation.h"
#include "sd_log.h"
#include "store_agents.h"
#include "store_incidents.h"
#include "store_outbox.h"

#define COMP ENGINE_COMP
/* rule 18: agents gone for good are looked for this often at most (and 4 times per
 * forget period at least) */
#define FORGET_SWEEP_MS 60000
/* a full table that found nothing to forget is not searched again for this long */
#define NO_ROOM_RETRY_MS 1000

static void s_release_down(self_t *self, e_agent_t *g);
static void s_isolation_write(self_t *self, e_agent_t *g);
static bool s_make_room(self_t *self, sd_ms_t now_mono);


void engine_agent_free(void **item)
{
    e_agent_t *g = (e_agent_t *) *item;
    if (g)
        free(g->id);
    free(g);
    *item = NULL;
}

static void s_metrics_isolated(self_t *self, const e_agent_t *g)
{
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_agent_isolated",
                    "1 while the agent's votes are ignored because it sees most of its assets "
                    "failing while the other agents see them up.",
                    (const char *[]){"agent", g->id, NULL}, g->isolated);
}

/* The agent's entry, created on first sight; NULL past AGENT_TABLE_MAX when no agent can be
 * forgotten to make room (rule 18; counted, logged once). */
e_agent_t *engine_agent(self_t *self, const char *id, const char *region)
{
    e_agent_t *g = zhashx_lookup(self->agents, id);
    if (!g) {
        sd_ms_t now_mono = sd_mono_ms();
        if (strlen(id) > ENGINE_AGENT_FIELD_MAX ||
            (zhashx_size(self->agents) >= AGENT_TABLE_MAX && !s_make_room(self, now_mono))) {
            engine_drop(self, "agent_table_full", &self->logged_agents_full, id);
            return NULL;
        }
        g = calloc(1, sizeof *g);
        if (!g || !(g->id = strdup(id))) {
            free(g);
            return NULL;
        }
        g->last_mono = now_mono;
        zhashx_insert(self->agents, g->id, g);
        s_metrics_isolated(self, g);
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
int engine_agent_apply(self_t *self, e_agent_t *g)
{
    bool down = g->pending == LIVE_DOWN, changed = false;
    store_agent_info_t info;
    memset(&info, 0, sizeof info);
    char err[512] = "", *payload = NULL;
    const char *const *names;
    size_t n = engine_channels(self, NULL, down, &names), queued = 0;
    int64_t now_wall = sd_wall_ms();
    bool unheard = down && g->unheard;
    int rc = store_begin(self->store, err, sizeof err);
    if (rc == 0 && unheard) /* silent since before the engine started: when was it heard? */
        rc = store_agents_last_heard(self->store, g->id, &g->last_heard_ms, err, sizeof err);
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
        engine_db_failed(self, "agent liveness", g->id, err);
        return rc;
    }
    engine_db_ok(self);
    g->pending = LIVE_NONE;
    g->unheard = false;
    g->down = down;
    s_metrics_agent(self, g, !down);
    if (changed)
        sd_info(COMP, "agent %s agent=%s region=%s queued=%zu%s", down ? "AGENT_DOWN" : "AGENT_UP",
                g->id, g->region, queued,
                unheard ? " why=not heard since the engine started" : "");
    if (queued > 0) {
        for (size_t i = 0; i < n; i++)
            engine_count(self, "statusd_notifications_queued_total",
                    "Notifications written to the outbox, by channel.", "channel", names[i], 1);
        engine_kick(self);
    }
    if (down && g->isolated)
        s_release_down(self, g);
    return 0;
}

void engine_on_agent(self_t *self, zmsg_t *msg)
{
    char *id = zmsg_popstr(msg), *region = zmsg_popstr(msg), *st = zmsg_popstr(msg);
    char *heard = zmsg_popstr(msg); /* optional */
    bool up = st && strcmp(st, "UP") == 0, down = st && strcmp(st, "DOWN") == 0;
    e_agent_t *g = NULL;
    if (!id || !*id || !region || !(up || down))
        engine_drop(self, "malformed", &self->logged_malformed, "AGENT frames");
    else if ((g = engine_agent(self, id, region))) {
        g->heard = true;
        g->live_known = true;
        g->last_mono = sd_mono_ms();
        g->await_until = 0;
        g->unheard = false;
        g->pending = up ? LIVE_UP : LIVE_DOWN;
        g->last_heard_ms = heard ? strtoll(heard, NULL, 10) : 0;
        sd_info(COMP, "agent %s agent=%s region=%s", st, id, region);
        if (self->rebuilt)
            engine_agent_apply(self, g);
    }
    free(id);
    free(region);
    free(st);
    free(heard);
}

/* The gateway estimates each agent's skew (agent_rules.h); the engine applies it to the
 * agent's probe times and is the one writer of agents.clock_skew_ms. */
void engine_on_skew(self_t *self, zmsg_t *msg)
{
    char *id = zmsg_popstr(msg), *v = zmsg_popstr(msg);
    char *end = NULL;
    long long skew = v ? strtoll(v, &end, 10) : 0;
    e_agent_t *g = NULL;
    if (!id || !*id || !v || !*v || *end)
        engine_drop(self, "malformed", &self->logged_malformed, "SKEW frames");
    else if ((g = engine_agent(self, id, NULL))) {
        char err[512] = "";
        g->heard = true; /* a Hello or heartbeat reached the gateway */
        g->last_mono = sd_mono_ms();
        g->await_until = 0;
        g->skew_ms = skew;
        s_metrics_skew(self, g);
        /* not stored (the database is away, or ingest has not written the agents row of
         * this Hello yet: the two race): retried on the tick */
        g->skew_unsaved = store_agents_set_skew(self->store, id, skew, err, sizeof err) != 0;
        if (g->skew_unsaved)
            sd_debug(COMP, "clock skew not stored yet agent=%s err=%s", id, err);
    }
    free(id);
    free(v);
}

int64_t engine_skew_of(self_t *self, const char *agent)
{
    const e_agent_t *g = zhashx_lookup(self->agents, agent);
    return g ? g->skew_ms : 0;
}

void engine_load_agent_cb(const store_agent_row_t *row, void *arg)
{
    self_t *self = arg;
    e_agent_t *g = engine_agent(self, row->id, row->region);
    if (!g)
        return;
    if (!g->skew_ms)
        g->skew_ms = row->clock_skew_ms; /* a SKEW message that came first wins */
    g->in_db = true;
    g->live_known = true;
    g->down = !row->up;
    g->heartbeat_ms = row->heartbeat_ms;
    /* rule 18: a down agent's silence began when it went down, not at this load */
    int64_t down_for = row->down_since_ms > 0 ? sd_wall_ms() - row->down_since_ms : 0;
    if (g->down && !g->heard && down_for > 0)
        g->last_mono = sd_mono_ms() - down_for;
    s_metrics_skew(self, g);
    if (g->pending == LIVE_NONE)
        s_metrics_agent(self, g, row->up);
}

e_agent_t *engine_agent_heard(self_t *self, const char *id, const char *region)
{
    e_agent_t *g = zhashx_lookup(self->agents, id);
    if (!g)
        g = engine_agent(self, id, region); /* known for isolation even before its AGENT UP */
    if (g) {
        g->heard = true;
        g->last_mono = sd_mono_ms();
        g->await_until = 0;
    }
    return g;
}

/* The deadline of an agent awaited after a rebuild (agent_rules.h): the silence of the
 * period the gateway judges it by (stored at its last Hello), plus the agents' reconnect
 * backoff (ctx->restart_grace_ms): a living agent in backoff after a long collector outage
 * retries up to that much later. g NULL: the collector's period. */
static sd_ms_t s_silence_ms(const self_t *self, const e_agent_t *g)
{
    int64_t hb = agent_heartbeat_ms(self->ctx->heartbeat_ms, g ? g->heartbeat_ms : 0);
    return agent_silence_ms(hb, self->ctx->restart_grace_ms);
}

static void s_metrics_awaited(self_t *self, size_t n)
{
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_engine_agents_awaited",
                    "Agents up before the collector (re)started that have not been heard from "
                    "since; each is declared down after 3 heartbeat periods plus the agents' reconnect "
                    "backoff (10 s).",
                    NULL, (double) n);
}

void engine_agents_rebuilt(self_t *self, sd_ms_t now_mono)
{
    size_t n = 0;
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents)) {
        bool wait = g->in_db && !g->down && !g->heard && g->pending == LIVE_NONE;
        g->await_until = wait ? now_mono + s_silence_ms(self, g) : 0;
        n += wait;
    }
    if (n > 0)
        sd_info(COMP, "awaiting agents that were up before the start agents=%zu within_ms=%lld"
                      " (longer for agents with a slower heartbeat)",
                n, (long long) s_silence_ms(self, NULL));
    s_metrics_awaited(self, n);
}

void engine_agents_tick(self_t *self, sd_ms_t now_mono, int64_t now_wall)
{
    size_t awaited = 0;
    zlist_t *release = zlist_new();
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents)) {
        if (g->await_until && now_mono >= g->await_until) {
            g->await_until = 0;
            g->pending = LIVE_DOWN;
            g->unheard = true;
            g->last_heard_ms = 0;
            sd_info(COMP, "agent DOWN agent=%s region=%s: not heard within %lld ms of the "
                          "engine's start", g->id, g->region, (long long) s_silence_ms(self, g));
        }
        awaited += g->await_until != 0;
        if (g->isolated && g->down && release)
            zlist_append(release, g);
    }
    s_metrics_awaited(self, awaited);
    /* applied after the iteration, as in engine_isolation_tick */
    for (e_agent_t *g = release ? zlist_first(release) : NULL; g; g = zlist_next(release))
        s_release_down(self, g);
    zlist_destroy(&release);
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
        if (g->pending != LIVE_NONE && engine_agent_apply(self, g) != 0)
            break; /* the database is failing: one attempt per tick is enough */
    for (e_agent_t *g = zhashx_first(self->agents); g && !self->db_failing;
         g = zhashx_next(self->agents)) {
        s_isolation_write(self, g);
        char err[512];
        if (g->skew_unsaved)
            g->skew_unsaved =
                store_agents_set_skew(self->store, g->id, g->skew_ms, err, sizeof err) != 0;
    }
}

void engine_agent_restore_isolated(self_t *self, const char *agent)
{
    bool loaded = zhashx_lookup(self->agents, agent) != NULL;
    e_agent_t *g = engine_agent(self, agent, NULL);
    if (!g)
        return;
    if (!loaded) {
        /* left out of the load as gone for good (rule 18), so it is down: the tick releases
         * its isolation (rule 13), then it is forgotten again */
        g->in_db = g->live_known = g->down = true;
    }
    g->isolated = true;
    g->isolated_db = true;
    s_metrics_isolated(self, g);
}

bool engine_agent_isolated(self_t *self, const char *agent)
{
    const e_agent_t *g = agent ? zhashx_lookup(self->agents, agent) : NULL;
    return g && g->isolated;
}

/* Adds one asset's evidence to its agents' tallies (see isolation.h). */
static void s_tally(self_t *self, const e_asset_t *a, sd_ms_t now_mono)
{
    int up = 0, down = 0;
    size_t n = quorum_agent_count(a->q);
    for (size_t i = 0; i < n; i++) {
        quorum_agent_t ag;
        if (quorum_agent_at(a->q, i, now_mono, &ag) == 0 && !ag.stale && !ag.excluded) {
            up += ag.vote == QUORUM_VOTE_UP;
            down += ag.vote == QUORUM_VOTE_DOWN;
        }
    }
    for (size_t i = 0; i < n; i++) {
        quorum_agent_t ag;
        if (quorum_agent_at(a->q, i, now_mono, &ag) != 0 || ag.stale ||
            ag.vote == QUORUM_VOTE_UNKNOWN)
            continue;
        e_agent_t *g = zhashx_lookup(self->agents, ag.agent_id);
        if (!g)
            continue;
        bool counted = !ag.excluded;
        int others_up = up - (counted && ag.vote == QUORUM_VOTE_UP);
        int others_down = down - (counted && ag.vote == QUORUM_VOTE_DOWN);
        if (others_up + others_down == 0)
            continue;
        g->considered++;
        g->contradicted += ag.vote == QUORUM_VOTE_DOWN && others_down == 0 && others_up > 0;
    }
}

/* Writes agents.isolated when it differs from the decision; retried every tick. */
static void s_isolation_write(self_t *self, e_agent_t *g)
{
    if (g->isolated == g->isolated_db)
        return;
    char err[512] = "";
    if (store_agents_set_isolated(self->store, g->id, g->isolated, err, sizeof err) != 0) {
        engine_db_failed(self, "agent isolation", g->id, err);
        return;
    }
    engine_db_ok(self);
    g->isolated_db = g->isolated;
}

/* Decides one agent's isolation change, applies it to every asset's vote table at once
 * and writes the flag (now, or on a later tick when the database is away). The assets are
 * judged right after, in the same tick (engine.c s_tick). */
static void s_isolate(self_t *self, e_agent_t *g, bool isolated, const char *why)
{
    g->isolated = isolated;
    if (isolated)
        sd_warn(COMP, "agent isolated agent=%s region=%s contradicted=%d considered=%d: it sees "
                      "assets failing that the other agents see up; its votes are ignored",
                g->id, g->region, g->contradicted, g->considered);
    else
        sd_info(COMP, "agent no longer isolated agent=%s region=%s: %s", g->id, g->region, why);
    s_metrics_isolated(self, g);
    s_isolation_write(self, g);
    for (size_t i = 0; i < self->n_assets; i++)
        quorum_set_excluded(self->assets[i]->q, g->id, isolated);
}

void engine_isolation_tick(self_t *self, sd_ms_t now_mono)
{
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
        g->considered = g->contradicted = 0;
    for (size_t i = 0; i < self->n_assets; i++)
        s_tally(self, self->assets[i], now_mono);
    zlist_t *changed = zlist_new();
    for (e_agent_t *g = zhashx_first(self->agents); changed && g; g = zhashx_next(self->agents)) {
        if (g->down)
            continue; /* judged again when it is back; released by engine_agents_tick */
        isolation_tally_t t = {g->considered, g->contradicted};
        if (isolation_judge(g->isolated, &t) != g->isolated)
            zlist_append(changed, g);
    }
    /* applied after the iteration (s_isolate writes the flag) */
    for (e_agent_t *g = changed ? zlist_first(changed) : NULL; g; g = zlist_next(changed))
        s_isolate(self, g, !g->isolated, "its votes count again");
    zlist_destroy(&changed);
}

/* Rule 13: isolation is about a live agent's votes, so a down agent is not isolated. Its
 * runs are forgotten first: its last (excluded) votes must not count once the flag is off,
 * and when it is back it is judged afresh. The change is retried every tick until stored. */
static void s_release_down(self_t *self, e_agent_t *g)
{
    for (size_t i = 0; i < self->n_assets; i++)
        quorum_forget(self->assets[i]->q, g->id);
    s_isolate(self, g, false, "it is down (AGENT_DOWN); judged afresh when it is back");
}

/* ---- rule 18: agents gone for good ----------------------------------------------------- */

/* True when forgetting g changes nothing but memory: it is down as committed (or its
 * liveness was never known), nothing about it waits to be written or decided, it is not
 * isolated, and it is stale for every asset (so no verdict counts it). An agent known to be
 * up is never forgotten: only its AGENT_DOWN ends that. */
static bool s_forgettable(self_t *self, const e_agent_t *g, sd_ms_t now_mono)
{
    if (g->pending != LIVE_NONE || g->await_until || g->isolated || g->isolated_db)
        return false;
    if (g->live_known && !g->down)
        return false;
    for (size_t i = 0; i < self->n_assets; i++)
        if (quorum_agent_live(self->assets[i]->q, g->id, now_mono))
            return false;
    return true;
}

/* Frees everything the engine holds about g: its runs in every asset's vote table, its
 * series, its entry. g is freed. */
static void s_forget(self_t *self, e_agent_t *g, const char *reason, sd_ms_t now_mono)
{
    bool full = strcmp(reason, "table_full") == 0;
    if (full && !self->logged_forget_full)
        sd_warn(COMP, "agent table full (%d): forgetting the down (or never reported) agent "
                      "silent longest for each new one agent=%s (logged once)", AGENT_TABLE_MAX,
                g->id);
    else
        sd_log(full ? SD_LOG_DEBUG : SD_LOG_INFO, COMP,
               "agent forgotten agent=%s region=%s silent_s=%lld reason=%s: gone for good; "
               "judged afresh if it comes back",
               g->id, g->region, (long long) ((now_mono - g->last_mono) / 1000), reason);
    self->logged_forget_full |= full;
    for (size_t i = 0; i < self->n_assets; i++)
        quorum_forget(self->assets[i]->q, g->id);
    metrics_t *m = self->ctx->metrics;
    if (m) {
        metrics_remove_matching(m, "statusd_agent_up", "agent", g->id);
        metrics_remove_matching(m, "statusd_agent_clock_skew_seconds", "agent", g->id);
        metrics_remove_matching(m, "statusd_agent_isolated", "agent", g->id);
        metrics_add(m, "statusd_agents_forgotten_total",
                    "Agents whose state was freed: gone for good (down or disconnected for "
                    "--agent-forget-after), or to make room in a full table.",
                    (const char *[]){"actor", "engine", "reason", reason, NULL}, 1);
    }
    zhashx_delete(self->agents, g->id);
}

static sd_ms_t s_forget_sweep_ms(const self_t *self)
{
    sd_ms_t every = collector_forget_ms(self->ctx) / 4;
    return every > FORGET_SWEEP_MS ? FORGET_SWEEP_MS : every < 1 ? 1 : every;
}

void engine_agents_forget(self_t *self, sd_ms_t now_mono)
{
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_engine_agents_tracked",
                    "Agents the alert engine holds in memory (at most 10,000).", NULL,
                    (double) zhashx_size(self->agents));
    if (now_mono < self->next_forget_sweep)
        return;
    self->next_forget_sweep = now_mono + s_forget_sweep_ms(self);
    int64_t after = collector_forget_ms(self->ctx);
    zlist_t *gone = zlist_new();
    for (e_agent_t *g = zhashx_first(self->agents); gone && g; g = zhashx_next(self->agents))
        if (now_mono - g->last_mono >= after && s_forgettable(self, g, now_mono))
            zlist_append(gone, g);
    /* freed after the iteration */
    for (e_agent_t *g = gone ? zlist_first(gone) : NULL; g; g = zlist_next(gone))
        s_forget(self, g, "gone", now_mono);
    zlist_destroy(&gone);
}

/* The table is full: forgets the forgettable agent silent longest, before its period is
 * over (safe: it is down and stale everywhere; judged afresh if it comes back). Not during
 * the rebuild, whose load comes in the order of what matters most. True when room was
 * made. */
static bool s_make_room(self_t *self, sd_ms_t now_mono)
{
    if (!self->rebuilt || now_mono < self->no_room_until)
        return false;
    e_agent_t *oldest = NULL;
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
        if ((!oldest || g->last_mono < oldest->last_mono) && s_forgettable(self, g, now_mono))
            oldest = g;
    if (!oldest) {
        self->no_room_until = now_mono + NO_ROOM_RETRY_MS;
        return false;
    }
    s_forget(self, oldest, "table_full", now_mono);
    return true;
}
