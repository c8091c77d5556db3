/* uplink_msg: decode of the collector's frames (see uplink_msg.h). */
#include "uplink_msg.h"

#include <errno.h>
#include <string.h>

#define UPLINK_MSG_MAX_CLOCK_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

int uplink_msg_decode(const uint8_t *data, size_t len, int64_t now_ms, uplink_msg_t *m,
                      const char **why)
{
    memset(m, 0, sizeof *m);
    Statusd__Envelope *env = statusd__envelope__unpack(NULL, len, data);
    if (!env) {
        *why = "not a protobuf Envelope";
        return -EBADMSG;
    }
    switch (env->body_case) {
    case STATUSD__ENVELOPE__BODY_ACK:
        if (env->ack->through_seq > (uint64_t) INT64_MAX) {
            *why = "ack beyond the collector's BIGINT sequence range";
            break;
        }
        m->kind = env->ack->hello_reply ? UPLINK_MSG_HELLO_REPLY : UPLINK_MSG_ACK;
        m->through_seq = env->ack->through_seq;
        m->env = env;
        return 0;
    case STATUSD__ENVELOPE__BODY_ASSIGNMENT:
        m->kind = UPLINK_MSG_ASSIGNMENT;
        m->assignment = env->assignment;
        m->env = env;
        return 0;
    case STATUSD__ENVELOPE__BODY_HEARTBEAT: {
        const Statusd__Heartbeat *hb = env->heartbeat;
        m->kind = hb->hello_required ? UPLINK_MSG_HELLO_REQUIRED : UPLINK_MSG_HEARTBEAT;
        /* a clock outside 1970..9999 is no sample (and would overflow the skew) */
        if (!hb->hello_required && hb->echo_sent_at_ms > 0 && hb->echo_sent_at_ms <= now_ms &&
            hb->sent_at_ms > 0 && hb->sent_at_ms <= UPLINK_MSG_MAX_CLOCK_MS) {
            m->has_rtt = true;
            m->rtt_ms = now_ms - hb->echo_sent_at_ms;
            m->clock_skew_ms = hb->sent_at_ms - (hb->echo_sent_at_ms + m->rtt_ms / 2);
        }
        m->env = env;
        return 0;
    }
    default:
        *why = "unexpected message type";
        break;
    }
    statusd__envelope__free_unpacked(env, NULL);
    return -EPROTO;
}

void uplink_msg_clear(uplink_msg_t *m)
{
    if (m && m->env)
        statusd__envelope__free_unpacked(m->env, NULL);
    if (m)
        memset(m, 0, sizeof *m);
}
