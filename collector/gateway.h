/* gateway: the agents' side of the collector. Binds a ROUTER on ctx->bind; speaks the wire
 * protocol (one protobuf Envelope per frame, see proto/statusd.proto): answers Hello with
 * Ack{hello_reply, through_seq = stored high-water mark} and the agent's Assignment,
 * forwards each ResultBatch to ingest as the bytes it came in (not packed again), relays
 * ingest's ACKs, answers Heartbeats, and declares an agent gone after 3 silent heartbeat
 * periods (GONE to ingest, AGENT DOWN to the engine). Input that does not decode or that
 * wire_check.h refuses (ids, asset ids and phase names not bounded valid text, ...) is
 * dropped and counted
 * (statusd_wire_malformed_total{component="gateway"}), never answered, stored or exported.
 * With ctx->server_cert the socket is a CURVE server: only keys with a certificate in
 * ctx->agents_dir complete the handshake (zap.h), and a Hello must name the certificate's
 * agent id (and region, when it has one); everything else is refused and counted
 * (statusd_agents_refused_total{reason}), logged once per key. */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <czmq.h>

#include "collector.h"
#include "sd_limits.h"

/* Most agents connected at once; a Hello beyond it is dropped and counted. */
#define GATEWAY_MAX_AGENTS 10000
/* Largest frame accepted from an agent (ZMQ_MAXMSGSIZE: a larger one closes the
 * connection): the default and the smallest allowed (the agent's own frames are at most
 * SD_AGENT_FRAME_MAX). */
#define GATEWAY_MAX_FRAME_DEFAULT (4 * 1024 * 1024)
#define GATEWAY_MAX_FRAME_MIN SD_AGENT_FRAME_MAX
/* the largest --max-frame-bytes: a quarter of the byte budget of the queue to ingest */
#define GATEWAY_MAX_FRAME_MAX (16 * 1024 * 1024)
/* A connection that has not said Hello may send only a frame this small (a Hello or a
 * Heartbeat); anything larger is dropped undecoded. */
#define GATEWAY_MAX_UNKNOWN_FRAME (16 * 1024)
/* Hellos per connection: a burst of GATEWAY_HELLO_BURST, then one per
 * GATEWAY_HELLO_PERIOD_MS; more are dropped and counted. */
#define GATEWAY_HELLO_BURST 5
#define GATEWAY_HELLO_PERIOD_MS 1000
/* A result whose seq is beyond both the agent's stored high-water mark and the collector's
 * clock in microseconds by more than this is refused with its batch (agents number results
 * from their wall clock in microseconds at start). */
#define GATEWAY_SEQ_AHEAD_US (24LL * 3600 * 1000000)
/* How often the agents directory is read again (certificates added or removed). */
#define GATEWAY_KEYS_RELOAD_MS 1000

/* Starts the actor: binds ctx->bind and BUS_ACKS before it returns; NULL when either bind
 * fails. The plan version sent in Assignments is the wall-clock ms at start, so it is
 * higher after every restart. */
zactor_t *gateway_new(const collector_ctx_t *ctx);
/* The endpoint actually bound (e.g. "tcp://0.0.0.0:41234" when bound to an ephemeral
 * port); the caller frees it. NULL on failure. */
char *gateway_endpoint(zactor_t *gateway);

#endif
