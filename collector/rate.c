/* rate: token bucket (see rate.h). */
#include "rate.h"

void rate_init(rate_t *r, int burst, sd_ms_t now)
{
    r->tokens = burst;
    r->last = now;
}

bool rate_take(rate_t *r, int burst, int period_ms, sd_ms_t now)
{
    if (now > r->last) {
        r->tokens += (double) (now - r->last) / (double) period_ms;
        if (r->tokens > burst)
            r->tokens = burst;
    }
    r->last = now > r->last ? now : r->last;
    if (r->tokens < 1.0)
        return false;
    r->tokens -= 1.0;
    return true;
}
