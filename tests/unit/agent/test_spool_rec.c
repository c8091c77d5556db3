/* spool_rec: a result survives encode/decode field by field; every damaged or cut record is
 * refused with the right code; CRC-32C matches the published check value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "spool_rec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static probe_result_t *s_result(uint64_t seq)
{
    probe_result_t *r = probe_result_new("api-prod");
    r->seq = seq;
    r->started_at_ms = 1765000000123;
    r->success = false;
    r->latency_us = 123456;
    r->status_code = -1;
    r->cert_expiry_unix = 1900000000;
    probe_result_set_reason(r, "status 503 not in [200] \xc3\xa9t\xc3\xa9");
    probe_result_add_phase(r, "dns", 10);
    probe_result_add_phase(r, "connect", 200);
    probe_result_add_phase(r, "processing", 4000000);
    return r;
}

static void test_crc32c_check_value(void **state)
{
    /* RFC 3720 / the usual check value of CRC-32C */
    assert_int_equal(spool_crc32c(0, "123456789", 9), 0xE3069283u);
    /* continuing over pieces equals one pass */
    uint32_t c = spool_crc32c(spool_crc32c(0, "1234", 4), "56789", 5);
    assert_int_equal(c, 0xE3069283u);
}

static void test_roundtrip(void **state)
{
    probe_result_t *r = s_result(1765000000000001ULL);
    size_t n = spool_rec_size(r);
    uint8_t buf[1024];
    assert_int_equal(spool_rec_encode(r, buf, n - 1), 0); /* too small: nothing */
    assert_int_equal(spool_rec_encode(r, buf, sizeof buf), n);
    printf("record of a 3-phase failed result: %zu bytes\n", n);
    assert_memory_equal(buf, "SDR1", 4);
    probe_result_t *d = NULL;
    size_t rl = 0;
    assert_int_equal(spool_rec_decode(buf, n, &d, &rl), 0);
    assert_int_equal(rl, n);
    assert_int_equal(d->seq, r->seq);
    assert_string_equal(d->asset_id, r->asset_id);
    assert_int_equal(d->started_at_ms, r->started_at_ms);
    assert_int_equal(d->success, r->success);
    assert_int_equal(d->latency_us, r->latency_us);
    assert_int_equal(d->status_code, r->status_code);
    assert_int_equal(d->cert_expiry_unix, r->cert_expiry_unix);
    assert_string_equal(d->reason, r->reason);
    assert_int_equal(d->n_phases, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(d->phases[i].name, r->phases[i].name);
        assert_int_equal(d->phases[i].duration_us, r->phases[i].duration_us);
    }
    /* trailing bytes (the next record) are not read */
    memset(buf + n, 0xAB, 16);
    probe_result_t *d2 = NULL;
    assert_int_equal(spool_rec_decode(buf, n + 16, &d2, &rl), 0);
    assert_int_equal(rl, n);
    probe_result_destroy(&d2);
    probe_result_destroy(&d);
    probe_result_destroy(&r);

    /* a success without reason or phases, the longest reason, eight phases */
    r = probe_result_new("x");
    r->success = true;
    n = spool_rec_encode(r, buf, sizeof buf);
    assert_int_equal(n, SPOOL_REC_HEADER + 28 + 2 + 1 + 2);
    assert_int_equal(spool_rec_decode(buf, n, &d, &rl), 0);
    assert_true(d->success);
    assert_string_equal(d->reason, "");
    probe_result_destroy(&d);
    memset(r->reason, 'r', PROBE_REASON_MAX - 1);
    r->reason[PROBE_REASON_MAX - 1] = 0;
    for (int i = 0; i < 10; i++)
        probe_result_add_phase(r, "transfer", i);
    n = spool_rec_encode(r, buf, sizeof buf);
    assert_int_equal(spool_rec_decode(buf, n, &d, &rl), 0);
    assert_int_equal(strlen(d->reason), PROBE_REASON_MAX - 1);
    assert_int_equal(d->n_phases, PROBE_MAX_PHASES);
    probe_result_destroy(&d);
    probe_result_destroy(&r);
}

static void test_not_encodable(void **state)
{
    probe_result_t *r = probe_result_new("");
    assert_int_equal(spool_rec_size(r), 0);
    free(r->asset_id);
    r->asset_id = malloc(70000);
    memset(r->asset_id, 'a', 69999);
    r->asset_id[69999] = 0;
    assert_int_equal(spool_rec_size(r), 0);
    uint8_t buf[64];
    assert_int_equal(spool_rec_encode(r, buf, sizeof buf), 0);
    probe_result_destroy(&r);
}

/* Every prefix of a record is "maybe a record cut short" (-EAGAIN) or, shorter than the
 * magic's match, not a record; every single flipped bit is refused. */
static void test_cut_and_flipped(void **state)
{
    probe_result_t *r = s_result(42);
    uint8_t buf[512];
    size_t n = spool_rec_encode(r, buf, sizeof buf);
    probe_result_destroy(&r);
    probe_result_t *d = NULL;
    size_t rl = 0;
    for (size_t len = 0; len < n; len++)
        assert_int_equal(spool_rec_decode(buf, len, &d, &rl), -EAGAIN);
    size_t refused = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t) (1u << bit);
            int rc = spool_rec_decode(buf, n, &d, &rl);
            /* a flipped length bit may make the record look longer than the bytes there */
            assert_true(rc == -EBADMSG || (rc == -EAGAIN && i >= 4 && i < 8));
            assert_null(d);
            refused++;
            buf[i] ^= (uint8_t) (1u << bit);
        }
    }
    printf("%zu single-bit flips of a %zu-byte record: all refused\n", refused, n);
    assert_int_equal(spool_rec_decode(buf, n, &d, &rl), 0);
    probe_result_destroy(&d);
}

/* Payloads with a correct CRC but a wrong layout (a future version, extra bytes, a NUL in a
 * string, too many phases) are refused too. */
static void test_bad_payload_with_good_crc(void **state)
{
    probe_result_t *r = s_result(7);
    uint8_t good[512], buf[600];
    size_t n = spool_rec_encode(r, good, sizeof good);
    probe_result_destroy(&r);
    struct {
        const char *what;
        size_t at;     /* payload offset to change (SIZE_MAX: append a byte) */
        uint8_t value;
    } cases[] = {
        {"version 2", 0, 2},
        {"unknown flag", 1, 0x02},
        {"9 phases", 2, 9},
        {"reserved byte set", 3, 1},
        {"NUL in the asset id", 28 + 2, 0},
        {"a byte after the phases", SIZE_MAX, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(buf, good, n);
        size_t len = n;
        if (cases[c].at == SIZE_MAX)
            buf[len++] = cases[c].value;
        else
            buf[SPOOL_REC_HEADER + cases[c].at] = cases[c].value;
        uint32_t pl = (uint32_t) (len - SPOOL_REC_HEADER);
        for (int i = 0; i < 4; i++)
            buf[4 + i] = (uint8_t) (pl >> (8 * i));
        uint32_t crc = spool_crc32c(spool_crc32c(0, buf + 4, 12), buf + SPOOL_REC_HEADER, pl);
        for (int i = 0; i < 4; i++)
            buf[16 + i] = (uint8_t) (crc >> (8 * i));
        probe_result_t *d = NULL;
        size_t rl = 0;
        printf("%s\n", cases[c].what);
        assert_int_equal(spool_rec_decode(buf, len, &d, &rl), -EBADMSG);
        assert_null(d);
    }
}

/* After bytes that are no record, reading goes on at the next valid record: not at a stray
 * magic, not at a record cut short. */
static void test_resync(void **state)
{
    uint8_t buf[1024];
    probe_result_t *r = s_result(1);
    size_t n1 = spool_rec_encode(r, buf, sizeof buf);
    memcpy(buf + n1, "xxSDR1yySDR1", 12); /* garbage with two stray magics */
    r->seq = 2;
    size_t n2 = spool_rec_encode(r, buf + n1 + 12, sizeof buf - n1 - 12);
    probe_result_destroy(&r);
    size_t len = n1 + 12 + n2;
    assert_int_equal(spool_rec_resync(buf, len, n1), n1 + 12);
    assert_int_equal(spool_rec_resync(buf, len, 0), n1 + 12); /* from inside record 1 */
    assert_int_equal(spool_rec_resync(buf, len - 1, n1), len - 1); /* record 2 cut short */
    assert_int_equal(spool_rec_resync(buf, len, n1 + 12), len);
    assert_int_equal(spool_rec_resync(buf, 3, 0), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_value),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_not_encodable),
        cmocka_unit_test(test_cut_and_flipped),
        cmocka_unit_test(test_bad_payload_with_good_crc),
        cmocka_unit_test(test_resync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
