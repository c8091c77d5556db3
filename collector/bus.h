/* bus: the collector's inproc endpoints and message shapes between actors.
 * The receiver of each endpoint binds a PULL socket (bus_pull) before it signals ready;
 * senders connect PUSH sockets (bus_push) that never block: a full receiver drops the
 * message and the sender counts it (statusd_bus_dropped_total). Frames are strings unless noted; ownership passes with zmsg_send.
 * main() starts actors in the order notifier, engine, ingest, gateway, api. */
#ifndef BUS_H
#define BUS_H

#include <czmq.h>

/* Messages an endpoint queues at most (sender and receiver side each). */
#define BUS_HWM 10000
/* bus_pull retries a bind this many times, 10 ms apart (about 1 s). */
#define BUS_BIND_TRIES 100

/* The receiver's socket: PULL bound to endpoint (retried while a previous owner still
 * releases it), BUS_HWM, no linger. NULL when it cannot bind. */
zsock_t *bus_pull(const char *endpoint);
/* A sender's socket: PUSH connected to endpoint, send HWM hwm (<= 0: BUS_HWM), never
 * blocking (a send to a full or absent receiver fails at once: the caller counts the drop),
 * no linger. NULL on failure. */
zsock_t *bus_push(const char *endpoint, int hwm);

/* gateway -> ingest
 *   ["HELLO", agent_id, region, version, peer_clock_ms, heartbeat_ms]
 *                                                          agent (re)connected; ingest upserts
 *                                                          the agents row (heartbeat_ms: the
 *                                                          period its silence is judged by;
 *                                                          optional) and answers "HWM"
 *   ["BATCH", agent_id, region, payload]                   payload = ResultBatch bytes (binary)
 *   ["GONE", agent_id]                                     agent disconnected (connected=false) */
#define BUS_INGEST "inproc://statusd-ingest"

/* ingest -> gateway
 *   ["HWM", agent_id, decimal last_seq]   answer to HELLO: highest stored sequence
 *   ["ACK", agent_id, decimal through_seq] after the batch's transaction committed */
#define BUS_ACKS "inproc://statusd-acks"

/* ingest -> engine (results newly stored, never a stored replay; or, while a batch cannot
 * be stored, the batch as received: the engine ignores results it has seen, by seq)
 *   ["RESULTS", agent_id, region, payload, seq, stamp]   payload = ResultBatch bytes; seq
 *       numbers the message (1, 2, ...) and stamp is when ingest sent it (monotonic ms), for
 *       the pipeline's health (health.h); both optional
 * gateway -> engine
 *   ["AGENT", agent_id, region, "UP"|"DOWN", last_heard_ms]   last frame optional: when the
 *                                                              agent was last heard (wall ms)
 *   ["SKEW", agent_id, decimal skew_ms]   the agent's clock minus the collector's, estimated
 *                                         from heartbeats; sent when it moves by >= 25 ms */
#define BUS_ENGINE "inproc://statusd-engine"

/* engine -> notifier
 *   ["KICK"]   new outbox rows are committed; deliver now rather than at the next poll */
#define BUS_NOTIFY "inproc://statusd-notify"

/* engine -> gateway
 *   ["INTERVAL", asset_id, decimal interval_ms]   the interval the asset's agents should
 *       probe it at now: the fast one while it is DEGRADED/DOWN, its manifest interval
 *       again on recovery. The gateway sends every affected connected agent a new
 *       Assignment (new version) and uses the interval for agents that connect later. */
#define BUS_GATEWAY "inproc://statusd-gateway"

#endif
