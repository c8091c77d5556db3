/* asset_rules: see asset_rules.h. */
#include "asset_rules.h"

#include <string.h>

static void s_add(asset_decision_t *d, asset_action_t a)
{
    if (d->n < ASSET_ACTIONS_MAX)
        d->actions[d->n++] = a;
}

static bool s_throttled(const asset_facts_t *f)
{
    return f->throttle_s > 0 && f->last_notify_ms > 0 &&
           f->now_wall - f->last_notify_ms < (int64_t) f->throttle_s * 1000;
}

void asset_rules_decide(const asset_facts_t *f, asset_decision_t *d)
{
    memset(d, 0, sizeof *d);
    d->held = RECOVERY_CLOSE;
    if (f->maint)
        return; /* rule 14 */
    bool down = f->verdict == QUORUM_DOWN;
    bool back = f->verdict == QUORUM_UP || f->verdict == QUORUM_DEGRADED;
    if (down && !f->open) {
        s_add(d, ASSET_OPEN);
        if (f->flapping)
            d->quiet = "flapping";
        else if (s_throttled(f))
            d->quiet = "throttled";
        else if (!f->down_channels)
            d->quiet = "no_channel";
        d->page = d->quiet == NULL;
        return;
    }
    if (back && f->open) {
        recovery_verdict_t v = recovery_hold_check(f->flapping, f->percent, f->low_percent,
                                                   f->out_of_down_ms, f->hold_ms);
        if (v == RECOVERY_CLOSE) {
            s_add(d, ASSET_CLOSE);
        } else if (v != f->held) {
            s_add(d, ASSET_HOLD);
            d->held = v;
        }
        return;
    }
    if (down && f->open) {
        if (f->held != RECOVERY_CLOSE)
            s_add(d, ASSET_RELAPSE);
        if (f->repeat_alerts && f->throttle_s > 0 && !f->flapping && !f->acknowledged &&
            f->down_channels &&
            f->now_wall - f->last_notify_ms >= (int64_t) f->throttle_s * 1000)
            s_add(d, ASSET_REMIND);
    }
}

uint32_t asset_rules_interval_ms(quorum_state_t verdict, uint32_t normal_ms,
                                 uint32_t incident_ms)
{
    bool look_closer = verdict == QUORUM_DEGRADED || verdict == QUORUM_DOWN ||
                       verdict == QUORUM_UNCONFIRMED;
    return look_closer && incident_ms > 0 ? incident_ms : normal_ms;
}

void asset_rules_flap(const flap_facts_t *f, flap_decision_t *d)
{
    memset(d, 0, sizeof *d);
    if (f->maint)
        return; /* the flag is still stored; nothing goes out */
    d->notify = f->flapping ? f->down_channels : f->recovery_channels;
    d->page_down = !f->flapping && f->open && !f->notified && f->verdict == QUORUM_DOWN &&
                   f->down_channels;
    d->reevaluate = !f->flapping && f->open;
}

int asset_rules_escalate(const escalation_facts_t *f)
{
    if (!f->open || !f->notified || f->acknowledged || f->maint)
        return -1;
    for (size_t i = 0; i < f->n && i < 32; i++)
        if (!(f->fired & (1u << i)) && f->open_ms >= (int64_t) f->after_s[i] * 1000)
            return (int) i;
    return -1;
}
