/* store_retention: see store_retention.h. */
#include "store_retention.h"

#include <errno.h>
#include <stdbool.h>
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
    int64_t ignored = 0;
    /* in order: the incidents to forget (closed before the cutoff, nothing of theirs still to
     * send) first, then what refers to them, then them, then the other tables */
    const struct {
        const char *what, *sql;
        bool cutoff;    /* $1 is the cutoff in days */
        int64_t *n;
    } steps[] = {
        {"retention: old incidents",
         "CREATE TEMP TABLE retention_incidents ON COMMIT DROP AS"
         " SELECT id FROM incidents i WHERE i.ended_at < " CUTOFF
         " AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.incident_id = i.id"
         "   AND n.status = 'pending')",
         true, &ignored},
        {"retention: notifications",
         "DELETE FROM notifications WHERE incident_id IN (SELECT id FROM retention_incidents)"
         " OR (incident_id IS NULL AND status IN ('sent', 'dead') AND created_at < " CUTOFF ")",
         true, &c.notifications},
        {"retention: incident events",
         "DELETE FROM incident_events WHERE incident_id IN (SELECT id FROM retention_incidents)",
         false, &c.incident_events},
        {"retention: incidents",
         "DELETE FROM incidents WHERE id IN (SELECT id FROM retention_incidents)", false,
         &c.incidents},
        {"retention: state history", "DELETE FROM asset_state_intervals WHERE ended_at < " CUTOFF,
         true, &c.state_intervals},
        {"retention: rollups", "DELETE FROM asset_rollups WHERE bucket < " CUTOFF, true,
         &c.rollups},
        {"retention: maintenance windows",
         "DELETE FROM maintenance_windows WHERE ends_at < " CUTOFF, true,
         &c.maintenance_windows},
        {"retention: agents", "DELETE FROM agents WHERE NOT connected AND last_seen < " CUTOFF,
         true, &c.agents},
        {"retention: heartbeats", "DELETE FROM collector_heartbeats WHERE beat_at < " CUTOFF,
         true, &c.heartbeats},
    };
    int rc = store_begin(s, err, errlen);
    for (size_t i = 0; rc == 0 && i < sizeof steps / sizeof *steps; i++)
        rc = s_delete(s, steps[i].what, steps[i].sql, steps[i].cutoff ? days : NULL,
                      steps[i].n, err, errlen);
    if (rc == 0)
        rc = store_commit(s, err, errlen) == 0 ? 0 : -EIO;
    if (rc != 0) {
        store_rollback(s);
        return rc;
    }
    *counts = c;
    return 0;
}
