/* ingest: the store actor of the data plane. Pulls HELLO, BATCH and GONE from BUS_INGEST
 * (see bus.h), writes agents and probe_events through its own store_t, answers HWM / ACK on
 * BUS_ACKS only after the transaction committed, and forwards the newly stored results to
 * the engine (BUS_ENGINE): the BATCH payload itself when every result of it was new and in
 * seq order (the usual case), else the new ones re-encoded as one ResultBatch. On a
 * database failure it stays silent (no ACK: the agent resends), reconnects, and counts
 * statusd_store_errors_total. After a batch of an agent failed, or a batch that does not
 * continue the previous one (a batch lost on the way; statusd_batch_gaps_total), the
 * agent's later batches are dropped unacked (statusd_batches_held_back_total) until it
 * starts over from its first unacknowledged result (resend after its ack timeout, or a new
 * HELLO), because their ACK would also cover the lost results. Keeps probe_events
 * partitions (at start and hourly). An agent disconnected (GONE, no HELLO since) for
 * ctx->agent_forget_ms is gone for good: its cached series handles and its series are freed
 * (statusd_agents_forgotten_total{actor="ingest"}); its agents row stays. */
#ifndef INGEST_H
#define INGEST_H

#include <czmq.h>

#include "collector.h"

/* Starts the actor; it binds BUS_INGEST before it returns. NULL when it cannot bind. The
 * database may be down at start: the actor reconnects on its own. */
zactor_t *ingest_new(const collector_ctx_t *ctx);

#endif
