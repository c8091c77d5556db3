/* engine: the alert engine actor. Pulls RESULTS and AGENT messages from BUS_ENGINE, keeps
 * per-asset, per-agent vote state (quorum.c), writes asset state, incidents, incident events
 * and notification outbox rows (one transaction per transition), and kicks the notifier.
 * On start it rebuilds its state from open incidents and recent results. */
#ifndef ENGINE_H
#define ENGINE_H

#include <czmq.h>

#include "collector.h"

/* Starts the actor; it binds BUS_ENGINE before signalling ready. NULL on failure. */
zactor_t *engine_new(const collector_ctx_t *ctx);

#endif
