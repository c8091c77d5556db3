/* engine_reload: a new configuration (config_ref.h) applied to the alert engine's state,
 * at the top of a loop turn, before any message of the new configuration can arrive:
 *  - new assets join, UNKNOWN, with no incident, until their agents' results come;
 *  - removed assets leave: an open incident closes (ended_at, a 'resolved' event whose
 *    reason is "removed from the manifest"), with no RECOVERY; their series go; results
 *    still in flight for them are dropped as unknown_asset;
 *  - changed assets keep everything they have (state, open incident, flapping history,
 *    throttle), with their routes and settings recomputed; their votes start afresh when
 *    what the agents probe or how the results are judged changed (config_diff.h), since
 *    old results say nothing about the new definition: an open incident then stays open
 *    until new votes decide (rule 6);
 *  - routes, escalation tiers, throttle and repeat settings are the new ones from the next
 *    decision; the storm counters are rebuilt when the storm settings changed; the
 *    manifest's maintenance windows are written again at the next tick.
 * Journal entries decided before the reload may still point at removed assets and at the old
 * configuration: both are kept (e_retired_t) until the journal has written them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_diff.h"
#include "engine_priv.h"
#include "sd_log.h"

#define COMP ENGINE_COMP

/* The series an asset's id labels in the engine: gone with it. */
static void s_forget_series(self_t *self, const char *id)
{
    static const char *const families[] = {"statusd_asset_up", "statusd_asset_state",
                                           "statusd_asset_down_votes",
                                           "statusd_asset_down_locations",
                                           "statusd_asset_flapping"};
    for (size_t i = 0; self->ctx->metrics && i < sizeof families / sizeof *families; i++)
        metrics_remove_matching(self->ctx->metrics, families[i], "asset", id);
}

/* A kept asset on its new definition c. */
static void s_change(self_t *self, const config_view_t *old, e_asset_t *a, const sd_asset_t *c,
                     size_t *changed)
{
    unsigned d = config_diff_asset(old->manifest, a->conf, self->view.manifest, c);
    bool interval = c->interval_seconds != a->conf->interval_seconds;
    a->conf = c;
    if (engine_asset_configure(self, a) != 0)
        sd_error(COMP, "out of memory applying the routes of asset=%s", c->id);
    if (!d)
        return;
    (*changed)++;
    bool fresh = (d & (CONFIG_ASSET_PROBE | CONFIG_ASSET_VOTE)) && engine_asset_votes(a) == 0;
    if (fresh)
        for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
            if (g->isolated)
                quorum_set_excluded(a->q, g->id, true);
    if (interval) /* the gateway forgot its adaptive interval: told again if still needed */
        a->interval_sent_ms = (uint32_t) c->interval_seconds * 1000;
    sd_info(COMP, "asset changed asset=%s probe=%s vote=%s other=%s votes=%s incident=%s", c->id,
            d & CONFIG_ASSET_PROBE ? "yes" : "no", d & CONFIG_ASSET_VOTE ? "yes" : "no",
            d & CONFIG_ASSET_OTHER ? "yes" : "no", fresh ? "afresh" : "kept",
            a->inc ? "open (kept)" : "none");
}

void engine_on_reload(self_t *self)
{
    config_view_t old;
    if (!config_view_refresh(&self->view, self->ctx->config, &old))
        return;
    const sd_manifest_t *m = self->view.manifest;
    size_t n = m ? m->n_assets : 0;
    e_asset_t **assets = calloc(n ? n : 1, sizeof *assets);
    zhashx_t *by_id = zhashx_new();
    e_retired_t *ret = calloc(1, sizeof *ret);
    e_asset_t **gone = calloc(self->n_assets ? self->n_assets : 1, sizeof *gone);
    if (!assets || !by_id || !ret || !gone) {
        /* cannot happen short of memory; the engine goes on with what it has, which still
         * points into the old configuration: keep that alive for good */
        sd_error(COMP, "out of memory applying configuration generation=%llu: keeping the "
                       "previous one in the engine",
                 (unsigned long long) self->view.generation);
        free(assets);
        zhashx_destroy(&by_id);
        free(ret);
        free(gone);
        config_view_release(&self->view);
        self->view = old;
        return;
    }
    size_t added = 0, changed = 0, removed = 0, closed = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        const sd_asset_t *c = &m->assets[i];
        e_asset_t *a = engine_find(self, c->id);
        if (a) {
            s_change(self, &old, a, c, &changed);
        } else if ((a = engine_asset_new(self, c))) {
            added++;
            for (e_agent_t *g = zhashx_first(self->agents); g; g = zhashx_next(self->agents))
                if (g->isolated)
                    quorum_set_excluded(a->q, g->id, true);
            engine_metrics_asset(self, a);
            sd_info(COMP, "asset added asset=%s", c->id);
        } else {
            sd_error(COMP, "out of memory adding asset=%s: not judged until a restart", c->id);
            continue;
        }
        assets[k++] = a;
        zhashx_insert(by_id, c->id, a);
    }
    int64_t now_wall = sd_wall_ms();
    for (size_t i = 0; i < self->n_assets; i++) {
        e_asset_t *a = self->assets[i];
        if (zhashx_lookup(by_id, a->conf->id))
            continue;
        bool open = a->inc != NULL;
        if (engine_close_removed(self, a, now_wall) == 0)
            closed += open;
        engine_hold_reset(a);
        s_forget_series(self, a->conf->id);
        sd_info(COMP, "asset removed asset=%s incident=%s", a->conf->id,
                open ? "closed (removed from the manifest)" : "none");
        gone[removed++] = a;
    }
    free(self->assets);
    zhashx_destroy(&self->by_id);
    self->assets = assets;
    self->n_assets = k;
    self->by_id = by_id;
    /* kept while the journal may still read them */
    ret->view = old;
    ret->assets = gone;
    ret->n_assets = removed;
    ret->last_op = self->op_seq;
    e_retired_t **tail = &self->retired;
    while (*tail)
        tail = &(*tail)->next;
    *tail = ret;
    const sd_notifiers_t *on = old.notifiers, *nn = self->view.notifiers;
    if (on && nn && (on->storm_threshold != nn->storm_threshold ||
                     on->storm_window_seconds != nn->storm_window_seconds)) {
        char err[256] = "";
        if (engine_storm_restore(self, err, sizeof err) != 0)
            sd_warn(COMP, "storm counters not rebuilt from the outbox err=%s", err);
    }
    self->next_maint_sync = 0; /* the manifest's windows, written at the next tick */
    engine_metrics_open(self);
    sd_info(COMP, "configuration generation=%llu assets=%zu added=%zu removed=%zu changed=%zu "
                  "incidents_closed=%zu",
            (unsigned long long) self->view.generation, self->n_assets, added, removed, changed,
            closed);
    engine_retired_release(self, false);
}

void engine_retired_release(self_t *self, bool all)
{
    uint64_t oldest = engine_journal_oldest(self);
    while (self->retired && (all || oldest == 0 || oldest > self->retired->last_op)) {
        e_retired_t *r = self->retired;
        self->retired = r->next;
        for (size_t i = 0; i < r->n_assets; i++)
            engine_asset_free(&r->assets[i]);
        free(r->assets);
        config_view_release(&r->view);
        free(r);
    }
}
