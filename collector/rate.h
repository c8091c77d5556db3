/* rate: a token bucket (burst tokens, one more every period_ms). Pure: the caller passes
 * monotonic time. Used for per-connection Hello limits. */
#ifndef RATE_H
#define RATE_H

#include <stdbool.h>

#include "sd_clock.h"

typedef struct {
    double tokens;
    sd_ms_t last;
} rate_t;

/* A full bucket of burst tokens as of now. */
void rate_init(rate_t *r, int burst, sd_ms_t now);
/* Refills for the time since the last call (at most burst tokens) and takes one: true when
 * one was there. period_ms > 0. */
bool rate_take(rate_t *r, int burst, int period_ms, sd_ms_t now);

#endif
