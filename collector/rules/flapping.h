/* flapping: Nagios-style flap detection for one asset. Pure logic: no I/O, no clock.
 *
 * The engine feeds one sample per asset "check round" (see engine.c rule 15): whether the
 * asset's state changed during that round. The last FLAPPING_WINDOW samples are kept; the
 * percent state change weights them linearly from 0.8 (oldest) to 1.2 (newest), as Nagios
 * does, so recent changes count more: percent = 100 * sum(weight_i * changed_i) / WINDOW.
 * Flapping starts when the percent reaches the high threshold and stops when it falls below
 * the low one (hysteresis). Stopping also needs at least half a window of samples,
 * so an asset restored as flapping after a restart (empty history) does not settle on its
 * first sample. */
#ifndef FLAPPING_H
#define FLAPPING_H

#include <stdbool.h>
#include <stdint.h>

#define FLAPPING_WINDOW 20
#define FLAPPING_HIGH_DEFAULT 50
#define FLAPPING_LOW_DEFAULT 25

typedef enum { FLAPPING_NONE = 0, FLAPPING_START, FLAPPING_STOP } flapping_event_t;

typedef struct {
    uint32_t changes;          /* bit i = sample i back (bit 0 newest) had a change */
    int n;                     /* samples held, <= FLAPPING_WINDOW */
    bool flapping;
} flapping_t;

/* Restores the flag (e.g. assets.flapping after a restart) with an empty history. */
void flapping_restore(flapping_t *f, bool flapping);
/* The weighted percent state change, 0..100. */
double flapping_percent(const flapping_t *f);
/* The effective thresholds for configured high/low percents (<= 0: the defaults; a low not
 * below high: the default low, or 0 when high is below it). */
void flapping_thresholds(int *high, int *low);
/* Adds a sample; high/low are percents (see flapping_thresholds). Returns the transition. */
flapping_event_t flapping_sample(flapping_t *f, bool changed, int high, int low);

#endif
