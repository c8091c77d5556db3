/* engine_agents: agent liveness (rule 10), clock skew (rule 11) and isolation (rule 13) of
 * the alert engine. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_priv.h"
#include "isolation.h"
#include "sd_log.h"
#include "store_agents.h"
#include "store_incidents.h"
#include "store_outbox.h"

#define COMP ENGINE_COMP
#define MAX_AGENTS 10000      /* tracked for liveness and skew; as many as the gateway */


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

/* The agent's entry, created on first sight; NULL past MAX_AGENTS (counted, logged once). */
e_agent_t *engine_agent(self_t *self, const char *id, const char *region)
{
    e_agent_t *g = zhashx_lookup(self->agents, id);
    if (!g) {
        if (zhashx_size(self->agents) >= MAX_AGENTS || strlen(id) > ENGINE_AGENT_FIELD_MAX) {
            engine_drop(self, "agent_table_full", &self->logged_agents_full, id);
            return NULL;
        }
        g = calloc(1, sizeof *g);
        if (!g || !(g->id = strdup(id))) {
            free(g);
            return NULL;
        }
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
    char **names;
    size_t n = engine_channels(self, down, &names), queued = 0;
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
    engine_db_ok(self);
    g->pending = LIVE_NONE;
    s_metrics_agent(self, g, !down);
    if (changed)
        sd_info(COMP, "agent %s agent=%s region=%s queued=%zu", down ? "AGENT_DOWN" : "AGENT_UP",
                g->id, g->region, queued);
    if (queued > 0) {
        for (size_t i = 0; i < n; i++)
            engine_count(self, "statusd_notifications_queued_total",
                    "Notifications written to the outbox, by channel.", "channel", names[i], 1);
        engine_kick(self);
    }
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
        g->skew_ms = skew;
        s_metrics_skew(self, g);
        /* best effort: the next estimate (at least once a minute) writes it again */
        if (store_agents_set_skew(self->store, id, skew, err, sizeof err) != 0)
            sd_debug(COMP, "clock skew not stored agent=%s err=%s", id, err);
    }
    free(id);
    free(v);
}

int64_t engine_skew_of(self_t *self, const char *agent)
{
    const e_agent_t *g = zhashx_lookup(self->agents, agent);
    return g ? g->skew_ms : 0;
}

void engine_load_agent_cb(const char *id, const char *region, bool up, int64_t skew, void *arg)
{
    self_t *self = arg;
    e_agent_t *g = engine_agent(self, id, region);
    if (!g)
        return;
    if (!g->skew_ms)
        g->skew_ms = skew; /* a SKEW message that came first wins */
    s_metrics_skew(self, g);
    if (g->pending == LIVE_NONE)
        s_metrics_agent(self, g, up);
}

void engine_agent_restore_isolated(self_t *self, const char *agent)
{
    e_agent_t *g = engine_agent(self, agent, NULL);
    if (!g)
        return;
    g->isolated = true;
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

/* Commits one agent's isolation change and applies it to every asset's vote table. */
static void s_isolate(self_t *self, e_agent_t *g, bool isolated, sd_ms_t now_mono,
                      int64_t now_wall)
{
    char err[512] = "";
    if (store_incidents_set_isolated(self->store, g->id, isolated, err, sizeof err) != 0) {
        if (!self->db_failing)
            sd_error(COMP, "agent isolation not stored agent=%s err=%s (retrying every tick; "
                           "logged once)", g->id, err);
        self->db_failing = true;
        return;
    }
    g->isolated = isolated;
    if (isolated)
        sd_warn(COMP, "agent isolated agent=%s region=%s contradicted=%d considered=%d: it sees "
                      "assets failing that the other agents see up; its votes are ignored",
                g->id, g->region, g->contradicted, g->considered);
    else
        sd_info(COMP, "agent no longer isolated agent=%s region=%s: its votes count again",
                g->id, g->region);
    s_metrics_isolated(self, g);
    for (size_t i = 0; i < self->n_assets; i++) {
        e_asset_t *a = &self->assets[i];
        if (quorum_set_excluded(a->q, g->id, isolated))
            engine_evaluate(self, a, now_mono, now_wall);
    }
}

void engine_isolation_tick(self_t *self, sd_ms_t now_mono, int64_t now_wall)
{
    for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
        g->considered = g->contradicted = 0;
    for (size_t i = 0; i < self->n_assets; i++)
        s_tally(self, &self->assets[i], now_mono);
    zlist_t *changed = zlist_new();
    for (e_agent_t *g = zhashx_first(self->agents); changed && g; g = zhashx_next(self->agents)) {
        isolation_tally_t t = {g->considered, g->contradicted};
        if (isolation_judge(g->isolated, &t) != g->isolated)
            zlist_append(changed, g);
    }
    /* applied after the iteration: re-evaluating assets must not run inside it */
    for (e_agent_t *g = changed ? zlist_first(changed) : NULL; g; g = zlist_next(changed))
        s_isolate(self, g, !g->isolated, now_mono, now_wall);
    zlist_destroy(&changed);
}
