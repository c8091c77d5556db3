/* recovery_hold: may an open incident whose asset left DOWN resolve now? (engine rule 17).
 * Pure logic: no I/O, no clock.
 *
 * A RECOVERY is the end of a page, and it goes out as soon as the asset is back: an
 * ordinary recovery waits for nothing but the agents' successThreshold. Two exceptions:
 *  - a flapping asset's incident resolves after its STABLE (bounded by the flapping window:
 *    a steady asset's percent falls below the low threshold within FLAPPING_WINDOW rounds);
 *  - a restless asset (percent state change above the low flapping threshold: about to
 *    flap, or just settled) waits until it has been out of DOWN for the hold
 *    (flapping.recoveryHoldSeconds, default 2 x the asset's interval, at most
 *    RECOVERY_HOLD_MAX_S), like Prometheus' keep_firing_for. That is its bound.
 * A DOWN during a wait continues the same incident: no new incident, no new DOWN. */
#ifndef RECOVERY_HOLD_H
#define RECOVERY_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#define RECOVERY_HOLD_MAX_S 3600
#define RECOVERY_HOLD_DEFAULT_INTERVALS 2

typedef enum {
    RECOVERY_CLOSE = 0,       /* resolve now, with its RECOVERY */
    RECOVERY_HELD_FLAPPING,   /* flapping: resolves after its STABLE */
    RECOVERY_HELD_RESTLESS,   /* percent state change above the low threshold, out of DOWN
                                 for less than the hold */
} recovery_verdict_t;

/* The hold in ms: configured seconds (clamped to 0..RECOVERY_HOLD_MAX_S), or when
 * configured < 0 (absent) RECOVERY_HOLD_DEFAULT_INTERVALS x interval_seconds. */
int64_t recovery_hold_ms(int configured_seconds, int interval_seconds);

/* Whether the incident may resolve: flapping (the asset's flag), percent (its percent state
 * change, 0..100), low_percent (the effective low threshold, see flapping_thresholds),
 * out_of_down_ms (how long the verdict has been UP/DEGRADED without a DOWN), hold_ms. The
 * first reason that holds it is returned, in the order of the enum. */
recovery_verdict_t recovery_hold_check(bool flapping, double percent, int low_percent,
                                       int64_t out_of_down_ms, int64_t hold_ms);

/* "close", "flapping", "restless". */
const char *recovery_hold_reason(recovery_verdict_t v);

#endif
