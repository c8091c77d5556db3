/* uplink: the agent's connection to the collector (one ZeroMQ DEALER, protobuf Envelopes).
 * Hello on every (re)connection; no ResultBatch before the collector's hello Ack; batches of
 * consecutive sequence numbers with a bounded number in flight; heartbeats; reconnect with
 * backoff when the collector is silent for 3 heartbeat periods or has not answered the Hello
 * within 3 periods; resend of everything unacked.
 * Logs its own events (component "uplink"). */
#ifndef UPLINK_H
#define UPLINK_H

#include "loop.h"
#include "outq.h"
#include "statusd.pb-c.h"

#include <czmq.h>

#include <stddef.h>
#include <stdint.h>

typedef struct uplink uplink_t;

typedef struct {
    const char *agent_id;
    const char *region;
    const char *const *endpoints; /* e.g. "tcp://collector:5555"; one is used at a time */
    size_t n_endpoints;
    int heartbeat_ms;             /* default SD_HEARTBEAT_MS_DEFAULT */
    size_t batch_max;             /* results per ResultBatch, default 500 (at most
                                     SD_BATCH_RESULTS_MAX) */
    size_t max_inflight_batches;  /* default 4 (at most 16) */
    int hwm;                      /* ZeroMQ send/receive high-water mark, default 1000 */
    int backoff_min_ms;           /* default SD_RECONNECT_BACKOFF_MIN_MS */
    int backoff_max_ms;           /* default SD_RECONNECT_BACKOFF_MAX_MS */
    /* CURVE: this agent's certificate (with its secret key; borrowed, must outlive the
     * uplink) and the collector's public key in Z85; both NULL: plain text */
    zcert_t *cert;
    const char *server_key;
    uint64_t replayed_through;    /* results numbered <= this came from the spool and may have
                                     been sent by an earlier process: a hello reply's mark at
                                     or above them drops them as stored (0: none) */
    void (*before_send)(void *ctx); /* called before results are sent (the spool writes them
                                     first); NULL: none */
    void *before_send_ctx;
} uplink_config_t;

/* A new Assignment (version differs from the one held). Return >= 0 when applied: the
 * uplink then reports this version in Hello and Heartbeat. */
typedef int(uplink_assignment_fn)(const Statusd__Assignment *a, void *ctx);

typedef struct {
    uint64_t connects;        /* sockets created (first connect + reconnects) */
    uint64_t hello_acks;      /* hello replies received */
    uint64_t collector_lost;  /* connections given up after 3 silent heartbeat periods */
    uint64_t hello_timeouts;  /* connections given up after 3 periods without a Hello reply */
    uint64_t hello_requests;  /* Hellos said again because the collector did not know us */
    uint64_t batches_sent, results_sent;
    uint64_t resends;         /* pipelines restarted from the first unacked result */
    uint64_t gap_restarts;    /* batches sent twice after drop-oldest left a gap (see .c) */
    uint64_t acks;
    uint64_t renumbered;      /* hello replies that renumbered pending results */
    uint64_t dropped_stored;  /* pending results dropped because the collector had them */
    uint64_t malformed;       /* frames from the collector that were not a valid Envelope */
    uint64_t handshake_failures; /* CURVE handshakes refused (key not admitted, wrong key) */
    uint64_t send_blocked;    /* sends refused by the high-water mark */
    uint64_t heartbeats_sent, heartbeats_received;
    uint64_t assignments_applied, assignments_ignored;
    int64_t rtt_ms;           /* last heartbeat round trip, -1 unknown */
    int64_t clock_skew_ms;    /* collector clock minus ours, estimated */
} uplink_stats_t;

/* Copies the config. Does not connect yet. NULL on EINVAL/ENOMEM. */
uplink_t *uplink_new(loop_t *loop, outq_t *outq, const uplink_config_t *cfg,
                     uplink_assignment_fn *on_assignment, void *ctx);
/* Closes the socket (linger 0) and frees. Accepts NULL. */
void uplink_destroy(uplink_t **p);
/* Connects and sends Hello; reconnects by itself from then on. 0 or -errno. */
int uplink_start(uplink_t *self);
/* True between the hello reply and the loss of the connection. */
bool uplink_ready(const uplink_t *self);
uint64_t uplink_assignment_version(const uplink_t *self);
uplink_stats_t uplink_stats(const uplink_t *self);

#endif
