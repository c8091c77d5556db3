/* uptime: see uptime.h. */
#include "uptime.h"

#include <math.h>
#include <string.h>

void uptime_add(uptime_secs_t *u, const char *state, double secs)
{
    if (!state || !(secs > 0))
        return;
    if (strcmp(state, "UP") == 0)
        u->up += secs;
    else if (strcmp(state, "DEGRADED") == 0)
        u->degraded += secs;
    else if (strcmp(state, "DOWN") == 0)
        u->down += secs;
    else if (strcmp(state, "MAINTENANCE") == 0)
        u->maintenance += secs;
    else
        u->unknown += secs;
}

double uptime_ratio(const uptime_secs_t *u)
{
    double up = u->up + u->degraded, all = up + u->down;
    return all > 0 ? up / all : -1;
}

static json_t *s_secs(double v)
{
    return json_real(round(v * 1000) / 1000);
}

json_t *uptime_ratio_json(const uptime_secs_t *u)
{
    double r = uptime_ratio(u);
    return r < 0 ? json_null() : json_real(round(r * 1e6) / 1e6);
}

json_t *uptime_json(const uptime_secs_t *u)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "uptime", uptime_ratio_json(u),
                     "upSeconds", s_secs(u->up + u->degraded), "degradedSeconds",
                     s_secs(u->degraded), "downSeconds", s_secs(u->down), "maintenanceSeconds",
                     s_secs(u->maintenance), "unknownSeconds", s_secs(u->unknown));
}
