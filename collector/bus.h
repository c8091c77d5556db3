/* bus: the collector's inproc endpoints and message shapes between actors.
 * The receiver of each endpoint binds a PULL socket before it signals ready; senders
 * connect PUSH sockets. Frames are strings unless noted; ownership passes with zmsg_send.
 * main() starts actors in the order notifier, engine, ingest, gateway, api. */
#ifndef BUS_H
#define BUS_H

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

/* ingest -> engine (only results that were newly stored, never a replay)
 *   ["RESULTS", agent_id, region, payload]   payload = ResultBatch bytes
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
