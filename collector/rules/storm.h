/* storm: collapses a storm of pages into one digest per channel per window. Pure logic: no
 * I/O, no clock (the caller passes the time).
 *
 * Pages are counted per (channel, kind), kind being DOWN (a DOWN, an escalated DOWN or a
 * REMINDER) or RECOVERY. A page that would make more than `threshold` pages of its kind on
 * its channel within the last `window_ms` is collapsed: instead of going out alone it joins
 * the channel's open digest of that kind, which goes out once, `window_ms` after its first
 * page; a collapsed page after that starts the next digest. So the first pages of a storm
 * are never delayed, and a storm of any size gives at most `threshold` single pages plus one
 * digest per window on each channel. Every page is counted, collapsed or not: a storm lasts
 * as long as its rate stays above threshold per window.
 *
 * What is kept is bounded: STORM_CHANNELS_MAX (channel, kind) pairs; a pair beyond that is
 * never collapsed (it pages alone, which loses nothing). threshold 0 collapses nothing. */
#ifndef STORM_H
#define STORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORM_THRESHOLD_DEFAULT 3
#define STORM_WINDOW_S_DEFAULT 60
#define STORM_THRESHOLD_MAX 1000
#define STORM_CHANNELS_MAX 256
#define STORM_KEY_MAX 48

typedef enum { STORM_DOWN = 0, STORM_RECOVERY } storm_kind_t;

typedef struct storm storm_t;

/* threshold 0..STORM_THRESHOLD_MAX (clamped), window_ms > 0. NULL when out of memory. */
storm_t *storm_new(int threshold, int64_t window_ms);
void storm_destroy(storm_t **s);

/* The digest a collapsed page joins: its key (with the channel, unique per kind and window
 * start: "DOWN/<start ms>"), the time it is due (start + window) and whether this page
 * started it. */
typedef struct {
    char key[STORM_KEY_MAX];
    int64_t start_ms, due_ms;
    bool first;
} storm_digest_t;

/* Counts one page of kind to channel at now_ms. false: send it alone. true: collapse it into
 * *d. A NULL s never collapses. */
bool storm_admit(storm_t *s, const char *channel, storm_kind_t kind, int64_t now_ms,
                 storm_digest_t *d);

/* After a restart: the pages of the last window, oldest first, and the digests still open,
 * as the outbox has them, so a storm that spans a restart goes on as one. A digest is
 * restored from its key ("DOWN/<start ms>"; false when the key is not one of ours); it stays
 * open until start + window. */
void storm_restore_page(storm_t *s, const char *channel, storm_kind_t kind, int64_t at_ms);
bool storm_restore_digest(storm_t *s, const char *channel, const char *key);

/* The kind of an outbox event name: DOWN and REMINDER are STORM_DOWN, RECOVERY is
 * STORM_RECOVERY; false for any other (never collapsed). */
bool storm_kind_of(const char *event, storm_kind_t *kind);
/* "DOWN" or "RECOVERY". */
const char *storm_kind_name(storm_kind_t kind);

#endif
