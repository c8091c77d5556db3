/* gateway: the agents' side of the collector. Binds a ROUTER on ctx->bind; speaks the wire
 * protocol (one protobuf Envelope per frame, see proto/statusd.proto): answers Hello with
 * Ack{hello_reply, through_seq = stored high-water mark} and the agent's Assignment,
 * forwards ResultBatches to ingest and relays ingest's ACKs, answers Heartbeats, and
 * declares an agent gone after 3 silent heartbeat periods (GONE to ingest, AGENT DOWN to
 * the engine). Input that does not decode or that wire_check.h refuses (ids, asset ids and
 * phase names not bounded valid text, ...) is dropped and counted
 * (statusd_wire_malformed_total{component="gateway"}), never answered, stored or exported. */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <czmq.h>

#include "collector.h"

/* Most agents connected at once; a Hello beyond it is dropped and counted. */
#define GATEWAY_MAX_AGENTS 10000
/* Largest frame accepted from an agent (ZMQ_MAXMSGSIZE). */
#define GATEWAY_MAX_FRAME (16 * 1024 * 1024)

/* Starts the actor: binds ctx->bind and BUS_ACKS before it returns; NULL when either bind
 * fails. The plan version sent in Assignments is the wall-clock ms at start, so it is
 * higher after every restart. */
zactor_t *gateway_new(const collector_ctx_t *ctx);
/* The endpoint actually bound (e.g. "tcp://0.0.0.0:41234" when bound to an ephemeral
 * port); the caller frees it. NULL on failure. */
char *gateway_endpoint(zactor_t *gateway);

#endif
