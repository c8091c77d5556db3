/* digest: a storm digest row as the event channels render (channel.h: DOWN_DIGEST,
 * RECOVERY_DIGEST). The engine writes the digest row and its members
 * (store_outbox_enqueue_collapsed); a lease adds the members pending then; this turns that
 * payload into one message: "17 more assets" DOWN, the first maxNames named. Library code:
 * no I/O, never logs. */
#ifndef DIGEST_H
#define DIGEST_H

#include <jansson.h>
#include <stddef.h>

/* The event for a leased digest payload ({"event":"DIGEST", "of", "channel", "since",
 * "threshold", "window_seconds", "max_names", "members": [...]}). Names and reasons are
 * made one line of valid UTF-8 and bounded. *members is set to the number of members; a
 * digest without members needs no message (the caller marks it sent). NULL when out of
 * memory. */
json_t *digest_event(const json_t *payload, size_t *members);

#endif
