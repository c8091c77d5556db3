/* engine: the alert engine actor. Pulls RESULTS and AGENT messages from BUS_ENGINE, keeps
 * per-asset, per-agent vote state (quorum.c), decides in memory and journals its decisions
 * (asset state, incidents, incident events and notification outbox rows, one transaction
 * per decision, written in order when the database takes them), and kicks the notifier.
 * On start it rebuilds its state from open incidents and recent results.
 *
 * Messages on BUS_ENGINE (see bus.h):
 *   ["RESULTS", agent_id, region, ResultBatch bytes, pipeline seq, stamp]   from ingest:
 *       newly stored results, or results it could not store (the database is away); results
 *       not newer than the agent's last one (seq) are ignored. The last two frames
 *       (optional) number the message for health.h
 *   ["AGENT", agent_id, region, "UP"|"DOWN", last_heard_ms] from the gateway; last_heard_ms
 *       (collector wall clock) is optional. DOWN = silent for 3 heartbeat periods: ONE
 *       AGENT_DOWN outbox row per onDown channel; UP after a queued AGENT_DOWN: one
 *       AGENT_UP per onRecovery channel. The state is persisted (agents.liveness), so an
 *       UP after a collector restart queues nothing.
 *   ["SKEW", agent_id, skew_ms]   from the gateway: the agent's clock offset (agent minus
 *       collector), stored in agents.clock_skew_ms and used to correct the agent's probe
 *       timestamps (incident started_at). */
#ifndef ENGINE_H
#define ENGINE_H

#include <czmq.h>

#include "collector.h"

/* Starts the actor; it binds BUS_ENGINE before signalling ready. NULL on failure. */
zactor_t *engine_new(const collector_ctx_t *ctx);

#endif
