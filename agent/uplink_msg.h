/* uplink_msg: one frame from the collector, decoded and checked before the uplink acts on
 * it. Pure (no socket, no state, no logging), so tests and the fuzzer drive it directly. */
#ifndef UPLINK_MSG_H
#define UPLINK_MSG_H

#include "statusd.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    UPLINK_MSG_ACK,            /* Ack: every result with seq <= through_seq is stored */
    UPLINK_MSG_HELLO_REPLY,    /* Ack{hello_reply}: through_seq is the collector's mark */
    UPLINK_MSG_ASSIGNMENT,     /* a plan */
    UPLINK_MSG_HEARTBEAT,      /* the collector's heartbeat (rtt and skew when it echoes ours) */
    UPLINK_MSG_HELLO_REQUIRED, /* Heartbeat{hello_required}: the collector does not know us */
} uplink_msg_kind_t;

typedef struct {
    uplink_msg_kind_t kind;
    uint64_t through_seq;                  /* ACK, HELLO_REPLY: at most INT64_MAX */
    const Statusd__Assignment *assignment; /* ASSIGNMENT (points into env) */
    bool has_rtt;                          /* HEARTBEAT: it echoed a time of ours (not in
                                              the future) and its clock is within 1970..9999 */
    int64_t rtt_ms, clock_skew_ms;         /* when has_rtt: collector clock minus ours */
    Statusd__Envelope *env;                /* owned; uplink_msg_clear frees it */
} uplink_msg_t;

/* Decodes data (len bytes) from the collector; now_ms is the agent's wall clock (unix ms).
 * 0 with *m filled; -EBADMSG when it is not an Envelope; -EPROTO when it is one the agent
 * does not accept (a type only agents send, an Ack beyond the collector's BIGINT range).
 * On failure *why is a static one-line reason and *m holds nothing to free. */
int uplink_msg_decode(const uint8_t *data, size_t len, int64_t now_ms, uplink_msg_t *m,
                      const char **why);
/* Frees what uplink_msg_decode kept. Accepts a cleared message. */
void uplink_msg_clear(uplink_msg_t *m);

#endif
