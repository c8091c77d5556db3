/* engine_flapping: flap detection (rule 15 in engine.c) and its FLAPPING / STABLE
 * notifications.
 *
 * A check round of an asset starts with its first result and ends when as many results
 * arrived as the asset had live agents at the last verdict (one from each, normally), or
 * 1.5 probe intervals after it started. Each round is one sample for flapping.c: did the
 * asset's state change during it. */
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

static char *s_flap_payload(const e_asset_t *a, bool flapping, int64_t now_wall)
{
    char at[40];
    sd_format_rfc3339(now_wall, at, sizeof at);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s}", "event",
                          flapping ? "FLAPPING" : "STABLE", "asset_id", a->conf->id,
                          "asset_name", a->conf->name ? a->conf->name : a->conf->id, "address",
                          a->conf->address ? a->conf->address : "", "state",
                          quorum_state_name(a->state), "percent_state_change",
                          flapping_percent(&a->flap), "at", at, "started_at", at);
    if (p && a->incident_id)
        json_object_set_new(p, "incident_id", json_integer(a->incident_id));
    char *out = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    return out;
}

/* Queues the DOWN of the open incident (inside the caller's transaction). */
static int s_page(self_t *self, e_asset_t *a, size_t *queued, char *err, size_t errlen)
{
    quorum_eval_t ev;
    sd_ms_t now_mono = sd_mono_ms();
    quorum_evaluate(a->q, now_mono, &ev);
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    char *payload = engine_payload(a, "DOWN", a->incident_id, &ev,
                                   first_err ? first_err : "still down after flapping", agents,
                                   sd_wall_ms());
    int rc = payload ? engine_enqueue(self, a, true, "DOWN", a->incident_id, payload, queued,
                                      err, errlen)
                     : -ENOMEM;
    free(payload);
    json_decref(agents);
    return rc;
}

/* Commits assets.flapping = a->flap.flapping with one FLAPPING (onDown channels) or STABLE
 * (onRecovery channels) row per channel, in one transaction. Maintenance silences both:
 * the flag is still stored. */
static int s_commit(self_t *self, e_asset_t *a, int64_t now_wall)
{
    bool flapping = a->flap.flapping;
    const char *event = flapping ? "FLAPPING" : "STABLE";
    char err[512] = "", **names;
    size_t n = a->maint ? 0 : engine_channels(self, flapping, &names), queued = 0;
    char *payload = n ? s_flap_payload(a, flapping, now_wall) : NULL;
    int rc = n && !payload ? -ENOMEM : store_begin(self->store, err, sizeof err);
    if (rc == 0)
        rc = store_incidents_set_flapping(self->store, a->conf->id, flapping, err, sizeof err);
    for (size_t i = 0; rc == 0 && i < n; i++, queued++)
        rc = store_outbox_enqueue(self->store, a->incident_id, a->conf->id, event, names[i],
                                  payload, err, sizeof err);
    if (rc == 0 && a->incident_id)
        rc = store_incidents_event(self->store, a->incident_id, flapping ? "flapping" : "stable",
                                   NULL, err, sizeof err);
    /* settled DOWN with an incident whose DOWN was suppressed: page it now */
    size_t paged = 0;
    if (rc == 0 && !flapping && !a->maint && a->incident_id && !a->notified &&
        a->state == QUORUM_DOWN)
        rc = s_page(self, a, &paged, err, sizeof err);
    if (rc == 0)
        rc = store_commit(self->store, err, sizeof err);
    free(payload);
    if (rc != 0) {
        engine_db_failed(self, a, flapping ? "flapping" : "stable", err);
        return rc;
    }
    engine_db_ok(self);
    a->flap_db = flapping;
    if (paged > 0) {
        a->notified = true;
        a->last_notify_ms = now_wall;
        engine_count_queued(self, true);
    }
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_asset_flapping",
                    "1 while the asset's state changes too often (percent state change over "
                    "its last 20 check rounds above the flapping threshold).",
                    (const char *[]){"asset", a->conf->id, NULL}, flapping);
    if (queued > 0) {
        for (size_t i = 0; i < n; i++)
            engine_count(self, "statusd_notifications_queued_total",
                         "Notifications written to the outbox, by channel.", "channel",
                         names[i], 1);
        engine_kick(self);
    }
    sd_warn(COMP, "asset %s asset=%s state=%s percent_state_change=%.1f queued=%zu paged=%zu",
            event, a->conf->id, quorum_state_name(a->state), flapping_percent(&a->flap), queued,
            paged);
    /* rule 17: an incident held while it flapped may resolve now, right after the STABLE */
    if (!flapping && a->incident_id)
        engine_evaluate(self, a, sd_mono_ms(), sd_wall_ms());
    return 0;
}

static void s_round_end(self_t *self, e_asset_t *a, int64_t now_wall)
{
    bool changed = a->round_changed;
    a->round_results = 0;
    a->round_changed = false;
    if (a->maint)
        return; /* maintenance is expected to be noisy */
    const sd_manifest_t *m = self->ctx->manifest;
    flapping_sample(&a->flap, changed, m ? m->flap_high_percent : 0,
                    m ? m->flap_low_percent : 0);
    if (a->flap.flapping != a->flap_db && self->rebuilt)
        s_commit(self, a, now_wall);
}

void engine_flap_result(self_t *self, e_asset_t *a, sd_ms_t now_mono)
{
    if (a->round_results++ == 0)
        a->round_start = now_mono;
    if (a->round_results >= (a->live > 0 ? a->live : 1))
        s_round_end(self, a, sd_wall_ms());
}

void engine_flap_tick(self_t *self, e_asset_t *a, sd_ms_t now_mono)
{
    int64_t iv = (int64_t) a->conf->interval_seconds * 1000;
    if (a->round_results > 0 && now_mono - a->round_start >= iv + iv / 2)
        s_round_end(self, a, sd_wall_ms());
    else if (a->flap.flapping != a->flap_db && self->rebuilt)
        s_commit(self, a, sd_wall_ms());
}
