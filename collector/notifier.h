/* notifier: the delivery actor. Leases due rows of the notifications outbox, renders each
 * for its channel (Slack, Teams), delivers with libcurl's multi interface, and records the
 * classified outcome (sent, retry with backoff / Retry-After, dead). Binds BUS_NOTIFY; a
 * KICK wakes it early, otherwise it polls. Never blocks another actor. */
#ifndef NOTIFIER_H
#define NOTIFIER_H

#include <czmq.h>

#include "collector.h"

/* Delivery timings. A field left 0 takes its default. */
typedef struct {
    int lease_s;            /* a leased row stays invisible to other leases this long: after
                               a crash mid-send it is sent again then; default 60, raised to
                               exceed timeout_ms by at least 1 s */
    int connect_timeout_ms; /* TCP + TLS connect; default 5000 */
    int timeout_ms;         /* the whole request; default 15000 */
} notifier_opts_t;

/* Starts the notifier with the default timings; NULL when it cannot start (no database, no
 * BUS_NOTIFY). */
zactor_t *notifier_new(const collector_ctx_t *ctx);

/* notifier_new with other timings (tests shorten the lease and the timeouts). */
zactor_t *notifier_new_opts(const collector_ctx_t *ctx, const notifier_opts_t *opts);

#endif
