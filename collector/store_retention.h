/* store_retention: the retention rule of every table that is not probe_events (whose daily
 * partitions store_partitions_upkeep drops after --retention-days) or engine_decisions (a
 * week, store_decisions_prune): rows older than --history-days (default 400) are deleted,
 * and nothing still in use ever is:
 *   - incidents closed before the cutoff whose notifications are all sent or dead, with
 *     their incident_events and notifications; an open incident is kept however old;
 *   - agent notifications (AGENT_DOWN/AGENT_UP) sent or dead before the cutoff;
 *   - storm digests (notifications rows of event DIGEST) sent or dead before the cutoff;
 *   - asset_state_intervals that ended before the cutoff (the open one stays);
 *   - asset_rollups whose bucket started before the cutoff;
 *   - maintenance windows that ended before the cutoff;
 *   - agents not seen since the cutoff and not connected;
 *   - collector_heartbeats rows of hosts that have not beaten since the cutoff.
 * Library code: 0/-errno with a message in err, never logs. */
#ifndef STORE_RETENTION_H
#define STORE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define HISTORY_DAYS_DEFAULT 400

typedef struct {
    int64_t incidents, incident_events, notifications, state_intervals, rollups,
        maintenance_windows, agents, heartbeats;
} store_retention_counts_t;

/* Deletes what is older than history_days (>= 1) days before now, in one transaction (the
 * caller's connection must not be in one). *counts is set on success. 0 or -EIO. */
int store_retention_sweep(store_t *s, int history_days, store_retention_counts_t *counts,
                          char *err, size_t errlen);

#endif
