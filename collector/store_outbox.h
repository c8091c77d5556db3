/* store_outbox: the notifications outbox, its only writer. The engine enqueues rows in the
 * transaction of the state change; the notifier leases due rows and records each outcome.
 * store_outbox_mark_sent also appends the incident's 'notified' event (incident_events,
 * store_incidents' table) in the same statement: the timeline shows a notification exactly
 * when its row is 'sent', without a transaction around each delivery. Library code:
 * 0/-errno with a message in err, never logs. */
#ifndef STORE_OUTBOX_H
#define STORE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Queues one pending row (due now). event: DOWN, RECOVERY, REMINDER. 0 or -EIO. */
int store_outbox_enqueue(store_t *s, int64_t incident_id, const char *asset_id,
                         const char *event, const char *channel, const char *payload_json,
                         char *err, size_t errlen);

/* Queues a page collapsed into a storm digest (rules/storm.h): the page's row with
 * digest_key, and in the same statement the digest row (event DIGEST, payload digest_json,
 * due at due_ms, unix ms) unless channel has one with that key already. The member is not
 * leased while its digest is pending; a lease of the digest adds the pending members to its
 * payload ("members": [{id, event, incident_id, asset_id, asset_name, reason, started_at,
 * duration_seconds, escalation_tier}]) and marking the digest sent or dead marks them with
 * it. 0 or -EIO. */
int store_outbox_enqueue_collapsed(store_t *s, int64_t incident_id, const char *asset_id,
                                   const char *event, const char *channel,
                                   const char *payload_json, const char *digest_key,
                                   int64_t due_ms, const char *digest_json, char *err,
                                   size_t errlen);

/* Queues one pending AGENT_DOWN or AGENT_UP row for an agent (asset_id and incident_id
 * NULL, agent_id set). 0 or -EIO. */
int store_outbox_enqueue_agent(store_t *s, const char *agent_id, const char *event,
                               const char *channel, const char *payload_json, char *err,
                               size_t errlen);

typedef struct {
    int64_t id;
    int64_t incident_id;
    char *asset_id;          /* for AGENT_DOWN/AGENT_UP rows: the agent id */
    char *event;
    char *channel;
    char *payload;           /* JSON text */
    int attempts;            /* attempts made before this one */
    int64_t created_ms;
} outbox_row_t;

/* Leases up to max due pending rows in one statement: selects them FOR UPDATE SKIP LOCKED
 * and pushes next_attempt_at lease_s seconds ahead, so a crash mid-send retries later.
 * Skips rows whose id is in exclude_ids (in flight here) and whose channel is in
 * paused_channels, a RECOVERY while a DOWN/REMINDER of the same incident on the same
 * channel is still pending, a page collapsed into a digest that is pending, a digest of
 * RECOVERY pages while one of those waits, and an AGENT_UP while an AGENT_DOWN of the same agent on the
 * same channel is still pending. *rows (free with store_outbox_rows_free) and *n written on
 * success. 0 or -EIO. */
int store_outbox_lease(store_t *s, int max, int lease_s, const int64_t *exclude_ids,
                       size_t n_exclude, const char *const *paused_channels, size_t n_paused,
                       outbox_row_t **rows, size_t *n, char *err, size_t errlen);
void store_outbox_rows_free(outbox_row_t *rows, size_t n);

/* status = sent, sent_at = now(), attempts + 1, and an incident_events 'notified' row,
 * in one statement; for a digest, the same for the members it went out with. Only a pending
 * row changes. 0 or -EIO. */
int store_outbox_mark_sent(store_t *s, int64_t id, char *err, size_t errlen);
/* attempts + 1, next_attempt_at = now() + delay_ms, last_error = error made one line of
 * valid UTF-8 of at most 1000 bytes (any bytes are accepted). Only a pending row changes.
 * 0, -EIO or -ENOMEM. */
int store_outbox_mark_retry(store_t *s, int64_t id, int64_t delay_ms, const char *error,
                            char *err, size_t errlen);
/* status = dead, attempts + 1, last_error as in store_outbox_mark_retry; for a digest, its
 * members too ("in digest N: ..."). Only a pending row changes. 0, -EIO or -ENOMEM. */
int store_outbox_mark_dead(store_t *s, int64_t id, const char *error, char *err,
                           size_t errlen);
/* One row for store_outbox_recent: an asset's page (DOWN, REMINDER, RECOVERY) or a DIGEST. */
typedef struct {
    const char *channel, *event;
    const char *digest_key;    /* "" when none */
    int64_t at_ms;             /* created_at, unix ms */
} outbox_recent_t;

/* The asset pages queued in the last window_s seconds and the DIGEST rows still pending
 * among them, oldest first, one cb each (the engine's storm counts after a restart). 0 or
 * -EIO. */
int store_outbox_recent(store_t *s, int window_s, void (*cb)(const outbox_recent_t *, void *),
                        void *arg, char *err, size_t errlen);

/* Number of pending rows. 0 or -EIO. */
int store_outbox_pending(store_t *s, int64_t *n, char *err, size_t errlen);

#endif
