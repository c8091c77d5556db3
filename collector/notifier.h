/* notifier: the delivery actor. Leases due rows of the notifications outbox, renders each
 * for its channel (Slack, Teams), delivers with libcurl's multi interface, and records the
 * classified outcome (sent, retry with backoff / Retry-After, dead). Binds BUS_NOTIFY; a
 * KICK wakes it early, otherwise it polls. Never blocks another actor. */
#ifndef NOTIFIER_H
#define NOTIFIER_H

#include <czmq.h>

#include "collector.h"

zactor_t *notifier_new(const collector_ctx_t *ctx);

#endif
