/* recovery_hold: see recovery_hold.h. */
#include "recovery_hold.h"

int64_t recovery_hold_ms(int configured_seconds, int interval_seconds)
{
    int64_t s = configured_seconds;
    if (s < 0)
        s = (int64_t) RECOVERY_HOLD_DEFAULT_INTERVALS * (interval_seconds > 0 ? interval_seconds : 1);
    if (s > RECOVERY_HOLD_MAX_S)
        s = RECOVERY_HOLD_MAX_S;
    return s * 1000;
}

recovery_verdict_t recovery_hold_check(bool flapping, double percent, int low_percent,
                                       int64_t out_of_down_ms, int64_t hold_ms)
{
    if (flapping)
        return RECOVERY_HELD_FLAPPING;
    if (low_percent > 0 && percent > low_percent && out_of_down_ms < hold_ms)
        return RECOVERY_HELD_RESTLESS;
    return RECOVERY_CLOSE;
}

const char *recovery_hold_reason(recovery_verdict_t v)
{
    switch (v) {
    case RECOVERY_HELD_FLAPPING:
        return "flapping";
    case RECOVERY_HELD_RESTLESS:
        return "restless";
    case RECOVERY_CLOSE:
    default:
        return "close";
    }
}
