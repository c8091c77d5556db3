/* uptime: time-weighted uptime from the seconds an asset spent in each shown state
 * (asset_state_intervals). Pure: no I/O.
 *
 *   uptime = time up / (time up + time down)
 *
 * where "up" is UP and DEGRADED (a slow or partly failing asset still serves: DEGRADED counts
 * as up), "down" is DOWN. MAINTENANCE time is left out of both (planned work is not
 * downtime), and so is time without a verdict (UNKNOWN: no live agent; UNCONFIRMED: too few
 * locations live to decide), which is reported apart and never counted as down. With no
 * up or down time at all the uptime is unknown (JSON null). */
#ifndef UPTIME_H
#define UPTIME_H

#include <jansson.h>

typedef struct {
    double up, degraded, down, maintenance, unknown;   /* seconds; up excludes degraded */
} uptime_secs_t;

/* Adds secs spent in state (a shown state name; an unknown name counts as unknown). */
void uptime_add(uptime_secs_t *u, const char *state, double secs);
/* 0..1, or -1 when there was no up or down time. */
double uptime_ratio(const uptime_secs_t *u);
/* {"uptime": 0..1 | null, "upSeconds" (UP + DEGRADED), "degradedSeconds", "downSeconds",
 * "maintenanceSeconds", "unknownSeconds"}: seconds to the millisecond. NULL when out of
 * memory. */
json_t *uptime_json(const uptime_secs_t *u);
/* The ratio as JSON: a number rounded to 6 decimals, or null. */
json_t *uptime_ratio_json(const uptime_secs_t *u);

#endif
