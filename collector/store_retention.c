/* store_retention: see store_retention.h. */
#include "store_retention.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one statement ($1: the cutoff in days, when days is not NULL) and adds the rows it
 * deleted to *n. */
static int s_delete(store_t *s, const char *what, const char *sql, const char *days,
                    int64_t *n, char *err, size_t errlen)
{
    const char *p[] = {days};
    PGresult *r = store_exec(s, what, sql, days ? 1 : 0, days ? p : NULL, err, errlen);
    if (!r)
        return -EIO;
    *n += strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

#define CUTOFF "now() - make_interval(days => $1::integer)"

int store_retention_sweep(store_t *s, int history_days, store_retention_counts_t *counts,
                          char *err, size_t errlen)
{
    char days[16];
    snprintf(days, sizeof days, "%d", history_days < 1 ? 1 : history_days);
    store_retention_counts_t c = {0};
    int rc = store_begin(s, err, errlen);
    /* the incidents to forget: closed before the cutoff, nothing of theirs still to send */
    if (rc == 0)
        rc = s_delete(s, "retention: old incidents",
                      "CREATE TEMP TABLE retention_incidents ON COMMIT DROP AS"
                      " SELECT id FROM incidents i WHERE i.ended_at < " CUTOFF
                      " AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.incident_id = i.id"
                      "   AND n.status = 'pending')",
                      days, &(int64_t){0}, err, errlen);
    if (rc == 0)
        rc = s_delete(s, "retention: notifications",
                      "DELETE FROM notifications WHERE incident_id IN"
                      " (SELECT id FROM retention_incidents)"
                      " OR (incident_id IS NULL AND status IN ('sent', 'dead')"
                      "     AND created_at < " CUTOFF ")",
                      days, &c.notifications, err, errlen);
    if (rc == 0)
        rc = s_delete(s, "retention: incident events",
                      "DELETE FROM incident_events WHERE incident_id IN"
                      " (SELECT id FROM retention_incidents)",
                      NULL, &c.incident_events, err, errlen);
    if (rc == 0)
        rc = s_delete(s, "retention: incidents",
                      "DELETE FROM incidents WHERE id IN (SELECT id FROM retention_incidents)",
                      NULL, &c.incidents, err, errlen);
    if (rc == 0)
        rc = s_delete(s, "retention: state history",
                      "DELETE FROM asset_state_intervals WHERE ended_at < " CUTOFF, days,
                      &c.state_intervals, err, errlen);
    if (rc == 0)
        rc = s_delete(s, "retention: maintenance windows",
                      "DELETE FROM maintenance_windows WHERE ends_at < " CUTOFF, days,
                      &c.maintenance_windows, err, errlen);
    if (rc == 0)
        rc = s_delete(s, "retention: agents",
                      "DELETE FROM agents WHERE NOT connected AND last_seen < " CUTOFF, days,
                      &c.agents, err, errlen);
    if (rc == 0)
        rc = s_delete(s, "retention: heartbeats",
                      "DELETE FROM collector_heartbeats WHERE beat_at < " CUTOFF, days,
                      &c.heartbeats, err, errlen);
    if (rc == 0)
        rc = store_commit(s, err, errlen) == 0 ? 0 : -EIO;
    if (rc != 0) {
        store_rollback(s);
        return rc;
    }
    *counts = c;
    return 0;
}
