/* store_incidents: the incidents and incident_events tables, their writer (an event is part
 * of its incident's change: the engine writes both, and the outbox rows, in one transaction
 * through store_begin/store_commit; an acknowledgement sets acknowledged_at and appends its
 * event in one), plus the recent results the engine replays on restart (a read).
 * Library code: 0/-errno with a message in err, never logs. The notifier's 'notified' event
 * is written by store_outbox_mark_sent, in the statement that marks the row sent. */
#ifndef STORE_INCIDENTS_H
#define STORE_INCIDENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One open incident as the engine needs it after a restart. */
typedef struct {
    const char *asset_id;
    int64_t incident_id;
    int64_t started_at_ms;
    bool notified;           /* a DOWN or REMINDER outbox row exists for it */
    bool acknowledged;       /* acknowledged_at is set */
    const char *down_channels; /* ",a,b," the channels a DOWN of it was queued for */
} store_open_incident_t;

/* Whether the incident has been acknowledged (POST /api/incidents/{id}/ack): *acked. 0 or
 * -EIO. */
int store_incidents_acknowledged(store_t *s, int64_t incident_id, bool *acked, char *err,
                                 size_t errlen);

/* Calls cb for every open incident (ended_at IS NULL). 0 or -EIO. */
int store_incidents_load_open(store_t *s,
                              void (*cb)(const store_open_incident_t *inc, void *arg), void *arg,
                              char *err, size_t errlen);

/* Inserts an open incident (detected_at = detected_at_ms, or now() when 0); *id written on
 * success. A summary that is not valid UTF-8 (cut inside a character, say) is stored with
 * U+FFFD for each invalid byte instead of being refused. 0, -EEXIST when the asset already
 * has an open incident, -ENOMEM, or -EIO. */
int store_incidents_open(store_t *s, const char *asset_id, int64_t started_at_ms,
                         int64_t detected_at_ms, const char *summary, const char *details_json,
                         int64_t *id, char *err, size_t errlen);
/* The asset's open incident: 0 with *id and *started_at_ms, -ENOENT when none, -EIO. */
int store_incidents_find_open(store_t *s, const char *asset_id, int64_t *id,
                              int64_t *started_at_ms, char *err, size_t errlen);
/* Sets ended_at of an open incident. 0, -EALREADY when it was not open (already closed,
 * or no such incident), or -EIO. */
int store_incidents_close(store_t *s, int64_t incident_id, int64_t ended_at_ms, char *err,
                          size_t errlen);
/* Appends an incident_events row (kind: opened, resolved, notification_throttled, reminder,
 * notified ...) at at_ms (0: now()); detail_json NULL = {}. 0 or -EIO. */
int store_incidents_event_at(store_t *s, int64_t incident_id, const char *kind,
                             const char *detail_json, int64_t at_ms, char *err, size_t errlen);
/* store_incidents_event_at(..., now). */
int store_incidents_event(store_t *s, int64_t incident_id, const char *kind,
                          const char *detail_json, char *err, size_t errlen);
/* Acknowledges an open incident in one transaction: acknowledged_at = now(), an
 * 'acknowledged' incident event with detail {token, by, note} (by/note may be NULL), and one
 * ACKNOWLEDGED notification per channel its DOWN or a REMINDER was queued for (the outbox
 * row belongs with the ack it reports, so this writes notifications too).
 * 0; -ENOENT (no such incident), -EALREADY (already acknowledged), -ESRCH (closed), -EIO. */
int store_incidents_ack(store_t *s, int64_t id, const char *token_fp, const char *by,
                        const char *note, char *err, size_t errlen);

#endif
