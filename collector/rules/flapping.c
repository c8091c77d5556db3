/* flapping: see flapping.h. */
#include "flapping.h"

#include <string.h>

void flapping_restore(flapping_t *f, bool flapping)
{
    memset(f, 0, sizeof *f);
    f->flapping = flapping;
}

double flapping_percent(const flapping_t *f)
{
    double sum = 0;
    for (int i = 0; i < f->n && i < FLAPPING_WINDOW; i++) {
        /* bit 0 is the newest sample: weight 1.2; bit WINDOW-1 the oldest: 0.8 */
        double w = 1.2 - 0.4 * (double) i / (FLAPPING_WINDOW - 1);
        if (f->changes & (1u << i))
            sum += w;
    }
    return 100.0 * sum / FLAPPING_WINDOW;
}

void flapping_thresholds(int *high, int *low)
{
    if (*high <= 0)
        *high = FLAPPING_HIGH_DEFAULT;
    if (*low <= 0 || *low >= *high)
        *low = *high < FLAPPING_LOW_DEFAULT ? 0 : FLAPPING_LOW_DEFAULT;
}

flapping_event_t flapping_sample(flapping_t *f, bool changed, int high, int low)
{
    flapping_thresholds(&high, &low);
    f->changes = ((f->changes << 1) | (changed ? 1u : 0u)) & ((1u << FLAPPING_WINDOW) - 1);
    if (f->n < FLAPPING_WINDOW)
        f->n++;
    double p = flapping_percent(f);
    if (!f->flapping && p >= high) {
        f->flapping = true;
        return FLAPPING_START;
    }
    if (f->flapping && p < low && f->n >= FLAPPING_WINDOW / 2) {
        f->flapping = false;
        return FLAPPING_STOP;
    }
    return FLAPPING_NONE;
}
