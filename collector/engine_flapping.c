/* engine_flapping: check rounds for flap detection (rule 15 in engine.c) and the
 * FLAPPING / STABLE actions (what goes out: asset_rules_flap).
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
#include "sd_utf8.h"

#define COMP ENGINE_COMP

static json_t *s_flap_payload(const e_asset_t *a, bool flapping, int64_t now_wall)
{
    char at[40];
    sd_format_rfc3339(now_wall, at, sizeof at);
    /* incident_id is set when the journal writes the rows */
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s}", "event",
                     flapping ? "FLAPPING" : "STABLE", "asset_id", a->conf->id, "asset_name",
                     a->conf->name ? a->conf->name : a->conf->id, "address",
                     a->conf->address ? a->conf->address : "", "state",
                     quorum_state_name(a->state), "percent_state_change",
                     flapping_percent(&a->flap), "at", at, "started_at", at);
}

/* The DOWN of the open incident, whose page flapping suppressed (a new JSON object). */
static json_t *s_page_payload(const e_asset_t *a, int64_t now_wall)
{
    quorum_eval_t ev;
    sd_ms_t now_mono = sd_mono_ms();
    quorum_evaluate(a->q, now_mono, &ev);
    const char *first_err;
    json_t *agents = engine_agents_json(a, now_mono, &first_err);
    char reason[300];
    sd_utf8_scopy(reason, sizeof reason, first_err ? first_err : "still down after flapping",
                  SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    json_t *p = agents ? engine_payload(a, "DOWN", a->inc->started_ms, &ev, reason, agents,
                                        now_wall)
                       : NULL;
    json_decref(agents);
    return p;
}

/* Applies a FLAPPING/STABLE transition: assets.flapping = a->flap.flapping with one FLAPPING
 * (onDown channels) or STABLE (onRecovery channels) row per channel, journaled as one entry,
 * as asset_rules_flap says. True when the asset must be judged again at once. */
static bool s_commit(self_t *self, e_asset_t *a, int64_t now_wall)
{
    bool flapping = a->flap.flapping;
    const char *event = flapping ? "FLAPPING" : "STABLE";
    const char *const *names;
    flap_facts_t f = {.flapping = flapping, .maint = a->maint, .open = a->inc != NULL,
                      .notified = a->inc && a->inc->notified, .verdict = a->state,
                      .down_channels = engine_channels(self, a, true, &names) > 0,
                      .recovery_channels = engine_channels(self, a, false, &names) > 0};
    flap_decision_t d;
    asset_rules_flap(&f, &d);
    e_op_t *op = engine_op_new(self, flapping ? "flapping" : "stable", a, a->inc, now_wall,
                               false);
    int rc = op ? engine_op_flapping(op, flapping) : -ENOMEM;
    if (rc == 0 && d.notify)
        rc = engine_op_outbox(op, flapping, event, s_flap_payload(a, flapping, now_wall));
    if (rc == 0 && a->inc)
        rc = engine_op_event(op, flapping ? "flapping" : "stable", NULL);
    if (rc == 0 && d.page_down)
        rc = engine_op_outbox(op, true, "DOWN", s_page_payload(a, now_wall));
    if (rc != 0) {
        engine_op_destroy(&op); /* retried on the next tick */
        return false;
    }
    a->flap_db = flapping;
    if (d.page_down) {
        a->inc->notified = true;
        a->last_notify_ms = now_wall;
    }
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_asset_flapping",
                    "1 while the asset's state changes too often (percent state change over "
                    "its last 20 check rounds above the flapping threshold).",
                    (const char *[]){"asset", a->conf->id, NULL}, flapping);
    sd_warn(COMP, "asset %s asset=%s state=%s percent_state_change=%.1f notified=%s paged=%s",
            event, a->conf->id, quorum_state_name(a->state), flapping_percent(&a->flap),
            d.notify ? "yes" : "no", d.page_down ? "yes" : "no");
    engine_journal_push(self, op);
    return d.reevaluate;
}

static bool s_round_end(self_t *self, e_asset_t *a, int64_t now_wall)
{
    bool changed = a->round_changed;
    a->round_results = 0;
    a->round_changed = false;
    if (a->maint)
        return false; /* maintenance is expected to be noisy */
    flapping_sample(&a->flap, changed, a->flap_high, a->flap_low);
    return a->flap.flapping != a->flap_db && self->rebuilt && s_commit(self, a, now_wall);
}

bool engine_flap_result(self_t *self, e_asset_t *a, sd_ms_t now_mono)
{
    if (a->round_results++ == 0)
        a->round_start = now_mono;
    if (a->round_results >= (a->live > 0 ? a->live : 1))
        return s_round_end(self, a, sd_wall_ms());
    return false;
}

bool engine_flap_tick(self_t *self, e_asset_t *a, sd_ms_t now_mono)
{
    int64_t iv = (int64_t) a->conf->interval_seconds * 1000;
    if (a->round_results > 0 && now_mono - a->round_start >= iv + iv / 2)
        return s_round_end(self, a, sd_wall_ms());
    if (a->flap.flapping != a->flap_db && self->rebuilt)
        return s_commit(self, a, sd_wall_ms());
    return false;
}
