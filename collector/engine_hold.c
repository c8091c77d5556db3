/* engine_hold: the recovery hold of open incidents (rule 17 in engine.c, recovery_hold.h).
 *
 * An incident whose asset left DOWN resolves only when recovery_hold_check allows it; until
 * then it stays open, the asset shows its verdict (UP or DEGRADED), and every wait (and each
 * change of its reason) is a 'recovery_held' timeline event, counted in
 * statusd_incident_recovery_holds_total{reason}. A DOWN during the wait is a relapse of the
 * same incident ('relapsed' event, statusd_incident_relapses_total): no new incident, no new
 * DOWN notification. The wait is re-judged on every result and every tick, so the RECOVERY
 * goes out within a tick of the hold's end.
 *
 * The wait's start lives in memory only: after a restart (rule 8) it starts again at the
 * rebuild, so a RECOVERY is at most one hold later than without the restart, and the
 * incident is never doubled. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine_priv.h"
#include "sd_log.h"

#define COMP ENGINE_COMP

/* Best effort, like the vote events (rule 12): journaled behind the incident's opening,
 * dropped if the database refuses it. */
static void s_event(self_t *self, e_asset_t *a, const char *kind, json_t *detail)
{
    engine_incident_event(self, a, kind, detail, sd_wall_ms());
}

static int s_low_percent(const self_t *self)
{
    const sd_manifest_t *m = self->ctx->manifest;
    int high = m ? m->flap_high_percent : 0, low = m ? m->flap_low_percent : 0;
    flapping_thresholds(&high, &low);
    return low;
}

static int64_t s_hold_ms(const self_t *self, const e_asset_t *a)
{
    const sd_manifest_t *m = self->ctx->manifest;
    return recovery_hold_ms(m ? m->flap_recovery_hold_seconds : 0, a->conf->interval_seconds);
}

void engine_hold_reset(e_asset_t *a)
{
    a->out_of_down_mono = 0;
    a->held = RECOVERY_CLOSE;
    a->held_since_wall = 0;
}

void engine_hold_recovered(self_t *self, e_asset_t *a, const quorum_eval_t *ev,
                           sd_ms_t now_mono, int64_t now_wall)
{
    if (!a->out_of_down_mono)
        a->out_of_down_mono = now_mono ? now_mono : 1;
    int64_t out_ms = now_mono - a->out_of_down_mono, hold_ms = s_hold_ms(self, a);
    double percent = flapping_percent(&a->flap);
    recovery_verdict_t v =
        recovery_hold_check(a->flap.flapping, percent, s_low_percent(self), out_ms, hold_ms);
    if (v == RECOVERY_CLOSE) {
        recovery_verdict_t was = a->held;
        int64_t since = a->held_since_wall;
        if (engine_close(self, a, ev, now_mono, now_wall) != 0)
            return; /* out of memory: retried on the next tick (rule 9) */
        if (was != RECOVERY_CLOSE)
            sd_info(COMP, "recovery released asset=%s waited_ms=%lld last_reason=%s",
                    a->conf->id, (long long) (now_wall - since), recovery_hold_reason(was));
        engine_hold_reset(a);
        return;
    }
    if (v == a->held)
        return;
    const char *reason = recovery_hold_reason(v);
    s_event(self, a, "recovery_held",
            json_pack("{s:s, s:s, s:I, s:I, s:f, s:i}", "reason", reason, "state",
                      quorum_state_name(a->state), "out_of_down_ms", (json_int_t) out_ms,
                      "hold_ms", (json_int_t) hold_ms, "percent_state_change", percent,
                      "low_threshold", s_low_percent(self)));
    engine_count(self, "statusd_incident_recovery_holds_total",
                 "Times an incident whose asset left DOWN was kept open, by reason (hold: "
                 "out of DOWN for less than flapping.recoveryHoldSeconds; restless: percent "
                 "state change at or above the low flapping threshold; flapping).",
                 "reason", reason, 1);
    sd_info(COMP, "recovery held asset=%s incident=%lld reason=%s state=%s out_of_down_ms=%lld "
                  "hold_ms=%lld percent_state_change=%.1f",
            a->conf->id, (long long) a->inc->db_id, reason, quorum_state_name(a->state),
            (long long) out_ms, (long long) hold_ms, percent);
    if (a->held == RECOVERY_CLOSE)
        a->held_since_wall = now_wall;
    a->held = v;
}

void engine_hold_down(self_t *self, e_asset_t *a, sd_ms_t now_mono, int64_t now_wall)
{
    if (a->held != RECOVERY_CLOSE) {
        int64_t out_ms = a->out_of_down_mono ? now_mono - a->out_of_down_mono : 0;
        s_event(self, a, "relapsed",
                json_pack("{s:s, s:I}", "held_reason", recovery_hold_reason(a->held),
                          "out_of_down_ms", (json_int_t) out_ms));
        engine_count(self, "statusd_incident_relapses_total",
                     "DOWN again while the incident waited for its recovery: the same "
                     "incident goes on, no new DOWN notification.",
                     "asset", a->conf->id, 1);
        sd_info(COMP, "incident relapsed asset=%s incident=%lld out_of_down_ms=%lld "
                      "held_ms=%lld (same incident, nothing sent)",
                a->conf->id, (long long) a->inc->db_id, (long long) out_ms,
                (long long) (now_wall - a->held_since_wall));
    }
    engine_hold_reset(a);
}
