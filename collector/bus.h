/* bus: the collector's inproc endpoints and message shapes between actors.
 * The receiver of each endpoint binds a PULL socket (bus_pull) before it signals ready;
 * senders connect PUSH sockets (bus_push) that never block: a full receiver drops the
 * message and the sender counts it (statusd_bus_dropped_total{from,to,reason}). Frames are
 * strings unless noted; ownership passes with zmsg_send (bus_send).
 * Every endpoint is bounded in messages (BUS_HWM). ZeroMQ has no bound in bytes, so the
 * endpoints that carry result batches (BUS_INGEST, BUS_ENGINE) also have a byte budget,
 * kept here: bus_send adds a message's bytes before it sends and refuses it (reason
 * "bytes") when the bytes queued towards the endpoint would exceed the budget; bus_recv
 * takes them off again.
 * main() starts actors in the order notifier, engine, ingest, gateway, api. */
#ifndef BUS_H
#define BUS_H

#include <czmq.h>

/* Messages an endpoint queues at most (sender and receiver side each). */
#define BUS_HWM 10000
/* bus_pull retries a bind this many times, 10 ms apart (about 1 s). */
#define BUS_BIND_TRIES 100

/* The byte budget of BUS_INGEST and of BUS_ENGINE: 64 MiB each. A result batch is at most
 * 16 MiB (the gateway's frame limit), so a budget always holds several; 10,000 queued
 * batches of 8 MiB (BUS_HWM alone) would be 80 GB. */
#define BUS_BYTES_DEFAULT ((size_t) 64 << 20)
/* Endpoints that may have a byte budget at one time (the collector's, plus tests'). */
#define BUS_BUDGETS_MAX 32

/* The receiver's socket: PULL bound to endpoint (retried while a previous owner still
 * releases it), BUS_HWM, no linger. NULL when it cannot bind. A new receiver starts its
 * endpoint's byte count at 0 (what its predecessor had queued is gone with it). */
zsock_t *bus_pull(const char *endpoint);
/* A sender's socket: PUSH connected to endpoint, send HWM hwm (<= 0: BUS_HWM), never
 * blocking (a send to a full or absent receiver fails at once: the caller counts the drop),
 * no linger. NULL on failure. */
zsock_t *bus_push(const char *endpoint, int hwm);
/* Destroys a socket made by bus_pull or bus_push (NULL is fine) and sets *sock to NULL. */
void bus_close(zsock_t **sock);

/* Sets the byte budget of endpoint (0: none, BUS_HWM alone bounds it) for the sockets made
 * afterwards: call it before the actors start (main, tests). BUS_INGEST and BUS_ENGINE start
 * at BUS_BYTES_DEFAULT, every other endpoint at 0. 0, or -ENOSPC past BUS_BUDGETS_MAX
 * endpoints. An endpoint with a budget must be written with bus_send and read with bus_recv
 * only. */
int bus_set_budget(const char *endpoint, size_t bytes);
/* The byte budget of endpoint (0: none). */
size_t bus_budget(const char *endpoint);
/* Bytes sent with bus_send towards endpoint and not yet taken by bus_recv: never more than
 * its budget. */
size_t bus_queued_bytes(const char *endpoint);

/* Sends *msg through sock (made by bus_push) without blocking, and takes it: *msg is NULL
 * afterwards, sent or destroyed. 0; -ENOBUFS when its bytes would take the endpoint past its
 * byte budget; -EAGAIN when the receiver is full (BUS_HWM) or absent. */
int bus_send(zsock_t *sock, zmsg_t **msg);
/* The next message of sock (made by bus_pull; zmsg_recv), its bytes taken off the
 * endpoint's count; NULL when interrupted. */
zmsg_t *bus_recv(zsock_t *sock);

/* gateway -> ingest
 *   ["HELLO", agent_id, region, version, peer_clock_ms, heartbeat_ms]
 *                                                          agent (re)connected; ingest upserts
 *                                                          the agents row (heartbeat_ms: the
 *                                                          period its silence is judged by;
 *                                                          optional) and answers "HWM"
 *   ["BATCH", agent_id, region, payload]                   payload = ResultBatch bytes
 *                                                          (binary): the agent's own, cut out
 *                                                          of its Envelope, not re-encoded
 *   ["GONE", agent_id]                                     agent disconnected (connected=false) */
#define BUS_INGEST "inproc://statusd-ingest"

/* ingest -> gateway
 *   ["HWM", agent_id, decimal last_seq]   answer to HELLO: highest stored sequence
 *   ["ACK", agent_id, decimal through_seq] after the batch's transaction committed */
#define BUS_ACKS "inproc://statusd-acks"

/* ingest -> engine (results newly stored, never a stored replay; or, while a batch cannot
 * be stored, the batch as received: the engine ignores results it has seen, by seq)
 *   ["RESULTS", agent_id, region, payload, seq, stamp]   payload = ResultBatch bytes: the
 *       BATCH payload itself when all of it was new (in seq order), else the new results
 *       re-encoded; seq numbers the message (1, 2, ...) and stamp is when ingest sent it
 *       (monotonic ms), for the pipeline's health (health.h); both optional
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
