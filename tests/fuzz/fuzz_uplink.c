/* fuzz_uplink: one frame from the collector as the agent takes it (agent/uplink_msg.c):
 * decode and checks, then, for an Assignment, each asset's options through its probe
 * type's parser as the scheduler does. */
#include "fuzz.h"
#include "probe.h"
#include "uplink_msg.h"

#include <errno.h>

#define NOW_MS 1765000000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uplink_msg_t m;
    const char *why = NULL;
    int rc = uplink_msg_decode(data, size, NOW_MS, &m, &why);
    if (rc != 0) {
        FUZZ_CHECK((rc == -EBADMSG || rc == -EPROTO) && m.env == NULL && why && *why);
        return 0;
    }
    switch (m.kind) {
    case UPLINK_MSG_ACK:
    case UPLINK_MSG_HELLO_REPLY:
        FUZZ_CHECK(m.through_seq <= (uint64_t) INT64_MAX);
        break;
    case UPLINK_MSG_HEARTBEAT:
        FUZZ_CHECK(!m.has_rtt || m.rtt_ms >= 0);
        break;
    case UPLINK_MSG_HELLO_REQUIRED:
        break;
    case UPLINK_MSG_ASSIGNMENT:
        FUZZ_CHECK(m.assignment != NULL);
        for (size_t i = 0; i < m.assignment->n_assets; i++) {
            const Statusd__AssetSpec *as = m.assignment->assets[i];
            const struct probe_ops *ops = probe_find(as->type);
            if (!ops)
                continue;
            void *opts = NULL;
            char err[256] = "";
            if (ops->parse_options(as->options_json, &opts, err, sizeof err) == 0)
                ops->free_options(opts);
        }
        break;
    }
    uplink_msg_clear(&m);
    FUZZ_CHECK(m.env == NULL);
    return 0;
}
