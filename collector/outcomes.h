/* outcomes: writes the outcome of each delivery attempt into the notifications outbox, and
 * keeps those it could not write (database down, connection dropped, failover) in memory,
 * bounded, until outcomes_flush writes them, with backoff. A held outcome is known: its row
 * must not be leased and sent again (outcomes_ids lists the rows to exclude).
 * Library code: 0/-errno with a message in err, never logs. */
#ifndef OUTCOMES_H
#define OUTCOMES_H

#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "sd_clock.h"
#include "store.h"

typedef struct outcomes_t outcomes_t;

/* The first flush retry comes this long after a failure; each failure doubles the wait up
 * to OUTCOMES_BACKOFF_MAX_MS; a success resets it. */
#define OUTCOMES_BACKOFF_MIN_MS 1000
#define OUTCOMES_BACKOFF_MAX_MS 30000

/* An empty set that holds at most max outcomes (max >= 1); NULL when memory runs out. */
outcomes_t *outcomes_new(size_t max);
void outcomes_destroy(outcomes_t **p);

/* Writes the outcome of row id at now: SENT (store_outbox_mark_sent), RETRY (due again
 * delay_ms after now) or DEAD, with error (RETRY, DEAD; any bytes) as last_error. 0 when
 * written. When the store fails, the outcome is held (a flush retries it no sooner than
 * the backoff allows) and -EIO returned with err; -ENOSPC when it could be neither written
 * nor held (max reached: the row will be leased again once its lease expires). */
int outcomes_record(outcomes_t *o, store_t *s, int64_t id, channel_verdict_t verdict,
                    int64_t delay_ms, const char *error, sd_ms_t now, char *err,
                    size_t errlen);

/* Writes the held outcomes, oldest first, when the backoff allows at now; a RETRY is due
 * delay_ms after it was held, not after it is written. 0 when none is held any more;
 * -EAGAIN when some are held but the backoff has not run out; -EIO at the first failure
 * (err set; that one and the later ones stay held). *written (may be NULL) counts the
 * outcomes this call wrote. */
int outcomes_flush(outcomes_t *o, store_t *s, sd_ms_t now, size_t *written, char *err,
                   size_t errlen);

/* Outcomes held now, and how many more can be held. */
size_t outcomes_held(const outcomes_t *o);
size_t outcomes_room(const outcomes_t *o);

/* Writes the row ids of at most cap held outcomes into ids; returns how many. */
size_t outcomes_ids(const outcomes_t *o, int64_t *ids, size_t cap);

#endif
