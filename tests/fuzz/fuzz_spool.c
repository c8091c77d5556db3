/* fuzz_spool: a spool segment's bytes as the agent's replay reads them (agent/spool_rec.c):
 * record after record, skipping what is no record with spool_rec_resync. Promises checked:
 * reading always moves forward and ends; a decoded record lies inside the bytes, encodes
 * back to the very same bytes, and holds strings that fit their fields. Then the input is
 * taken as a payload behind a header with the right CRC, so the payload decoder sees any
 * bytes too (a CRC is what random damage almost never gets right). */
#include "fuzz.h"
#include "spool_rec.h"

#include <errno.h>

static uint8_t s_buf[SPOOL_REC_HEADER + 70 * 1024];

static void s_check_record(const uint8_t *at, size_t rec_len, const probe_result_t *r)
{
    FUZZ_CHECK(r->asset_id && strlen(r->asset_id) >= 1 && strlen(r->asset_id) <= 65535);
    FUZZ_CHECK(strlen(r->reason) < PROBE_REASON_MAX);
    FUZZ_CHECK(r->n_phases <= PROBE_MAX_PHASES);
    for (size_t i = 0; i < r->n_phases; i++)
        FUZZ_CHECK(strlen(r->phases[i].name) < sizeof r->phases[i].name);
    FUZZ_CHECK(spool_rec_size(r) == rec_len);
    size_t n = spool_rec_encode(r, s_buf, sizeof s_buf);
    FUZZ_CHECK(n == rec_len && memcmp(s_buf, at, n) == 0);
}

static void s_scan(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        probe_result_t *r = NULL;
        size_t rl = 0;
        int rc = spool_rec_decode(data + off, size - off, &r, &rl);
        if (rc == 0) {
            FUZZ_CHECK(r != NULL && rl >= SPOOL_REC_HEADER && rl <= size - off);
            s_check_record(data + off, rl, r);
            probe_result_destroy(&r);
            off += rl;
            continue;
        }
        FUZZ_CHECK(r == NULL && (rc == -EAGAIN || rc == -EBADMSG || rc == -ENOMEM));
        size_t next = spool_rec_resync(data, size, off);
        FUZZ_CHECK(next > off && next <= size);
        off = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_scan(data, size);
    if (size > sizeof s_buf - SPOOL_REC_HEADER)
        return 0;
    /* the input as a payload with a valid header */
    static uint8_t rec[sizeof s_buf];
    uint32_t pl = (uint32_t) size;
    uint64_t seq = 0x0123456789abcdefULL;
    memcpy(rec, "SDR1", 4);
    for (int i = 0; i < 4; i++)
        rec[4 + i] = (uint8_t) (pl >> (8 * i));
    for (int i = 0; i < 8; i++)
        rec[8 + i] = (uint8_t) (seq >> (8 * i));
    if (size)
        memcpy(rec + SPOOL_REC_HEADER, data, size);
    uint32_t crc = spool_crc32c(spool_crc32c(0, rec + 4, 12), rec + SPOOL_REC_HEADER, size);
    for (int i = 0; i < 4; i++)
        rec[16 + i] = (uint8_t) (crc >> (8 * i));
    probe_result_t *r = NULL;
    size_t rl = 0;
    int rc = spool_rec_decode(rec, SPOOL_REC_HEADER + size, &r, &rl);
    if (rc == 0) {
        FUZZ_CHECK(r->seq == seq && rl == SPOOL_REC_HEADER + size);
        s_check_record(rec, rl, r);
        probe_result_destroy(&r);
    } else {
        FUZZ_CHECK(r == NULL && (rc == -EBADMSG || rc == -ENOMEM));
    }
    return 0;
}
