/* fuzz_wire: one frame from an agent as the collector's gateway takes it
 * (collector/wire_check.c): decode and checks; a batch's own bytes, which the gateway
 * forwards to ingest, and its re-pack, which ingest forwards to the engine when only part of
 * it was new, must both decode and pass the checks again. */
#include "fuzz.h"
#include "sd_utf8.h"
#include "wire_check.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Statusd__Envelope *env = NULL;
    const char *why = NULL;
    int rc = wire_check_envelope(data, size, &env, &why);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EBADMSG && env == NULL && why && *why);
        return 0;
    }
    FUZZ_CHECK(env != NULL);
    switch (env->body_case) {
    case STATUSD__ENVELOPE__BODY_HELLO: {
        size_t n = strlen(env->hello->agent_id);
        FUZZ_CHECK(n >= 1 && n <= WIRE_MAX_ID_LEN && fuzz_one_line(env->hello->agent_id));
        FUZZ_CHECK(strlen(env->hello->region) <= WIRE_MAX_ID_LEN);
        FUZZ_CHECK(sd_utf8_valid(env->hello->region, strlen(env->hello->region)));
        FUZZ_CHECK(strlen(env->hello->version) <= WIRE_MAX_VERSION_LEN);
        break;
    }
    case STATUSD__ENVELOPE__BODY_RESULT_BATCH: {
        const Statusd__ResultBatch *b = env->result_batch;
        for (size_t i = 0; i < b->n_results; i++) {
            const char *id = b->results[i]->asset_id;
            FUZZ_CHECK(strlen(id) >= 1 && strlen(id) <= WIRE_MAX_ASSET_ID_LEN);
            FUZZ_CHECK(sd_utf8_valid(id, strlen(id)));
        }
        /* the gateway forwards the batch's own bytes to ingest, which decodes them to the
         * batch checked here */
        const uint8_t *bytes = NULL;
        size_t n = 0;
        FUZZ_CHECK(wire_check_batch_bytes(data, size, &bytes, &n) == 0);
        FUZZ_CHECK(bytes >= data && bytes + n <= data + size);
        Statusd__ResultBatch *fwd = statusd__result_batch__unpack(NULL, n, bytes);
        FUZZ_CHECK(fwd != NULL && fwd->n_results == b->n_results);
        FUZZ_CHECK(wire_check_batch(fwd, &why));
        statusd__result_batch__free_unpacked(fwd, NULL);
        /* ingest packs a part of it again for the engine, which unpacks it */
        size_t len = statusd__result_batch__get_packed_size(b);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf) {
            FUZZ_CHECK(statusd__result_batch__pack(b, buf) == len);
            Statusd__ResultBatch *again = statusd__result_batch__unpack(NULL, len, buf);
            FUZZ_CHECK(again != NULL && again->n_results == b->n_results);
            FUZZ_CHECK(wire_check_batch(again, &why));
            statusd__result_batch__free_unpacked(again, NULL);
            free(buf);
        }
        break;
    }
    case STATUSD__ENVELOPE__BODY_HEARTBEAT:
        break;
    default:
        FUZZ_CHECK(!"wire_check_envelope accepted a body an agent never sends");
    }
    statusd__envelope__free_unpacked(env, NULL);
    return 0;
}
