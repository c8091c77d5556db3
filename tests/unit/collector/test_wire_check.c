/* wire_check: frames an agent sends, packed here with protobuf-c as an agent packs them,
 * accepted or refused with the reason the gateway counts: Hellos with bad or overlong ids,
 * result batches with asset ids or phase names that are not UTF-8 or too long, bodies only
 * the collector sends, and bytes that are no Envelope. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire_check.h"

/* Packs env, runs wire_check_envelope on it; returns its result (why into *why). */
static int s_check(const Statusd__Envelope *env, const char **why)
{
    size_t len = statusd__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    statusd__envelope__pack(env, buf);
    Statusd__Envelope *out = NULL;
    *why = NULL;
    int rc = wire_check_envelope(buf, len, &out, why);
    if (rc == 0) {
        assert_non_null(out);
        assert_int_equal(out->body_case, env->body_case);
        statusd__envelope__free_unpacked(out, NULL);
    } else {
        assert_null(out);
        assert_non_null(*why);
        printf("  refused: %s\n", *why);
    }
    free(buf);
    return rc;
}

static int s_hello(const char *id, const char *region, const char *version, const char **why)
{
    Statusd__Hello h = STATUSD__HELLO__INIT;
    h.agent_id = (char *) id;
    h.region = (char *) region;
    h.version = (char *) version;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    return s_check(&env, why);
}

static void test_hello(void **st)
{
    (void) st;
    const char *why;
    char longest[WIRE_MAX_ID_LEN + 2];
    memset(longest, 'a', sizeof longest - 1);
    longest[WIRE_MAX_ID_LEN] = 0;
    assert_int_equal(s_hello("agent-eu-1", "eu-west", "0.1.0", &why), 0);
    assert_int_equal(s_hello(longest, "", "", &why), 0);
    assert_int_equal(s_hello(longest, longest, "", &why), 0);
    longest[WIRE_MAX_ID_LEN] = 'a';
    longest[WIRE_MAX_ID_LEN + 1] = 0;
    assert_int_equal(s_hello(longest, "eu", "1", &why), -EBADMSG);
    assert_string_equal(why, "hello with an invalid agent_id, region or version");
    assert_int_equal(s_hello("", "eu", "1", &why), -EBADMSG);
    assert_int_equal(s_hello("agent\n1", "eu", "1", &why), -EBADMSG);
    assert_int_equal(s_hello("agent-1", "eu\xff", "1", &why), -EBADMSG);
    assert_int_equal(s_hello("agent-1", "eu", "caf\xc3\xa9", &why), -EBADMSG);
    char version[WIRE_MAX_VERSION_LEN + 2];
    memset(version, '1', sizeof version - 1);
    version[sizeof version - 1] = 0;
    assert_int_equal(s_hello("agent-1", "eu", version, &why), -EBADMSG);
    version[WIRE_MAX_VERSION_LEN] = 0;
    assert_int_equal(s_hello("agent-1", "eu", version, &why), 0);
}

/* A batch of two results; the second has asset id `asset` and one phase named `phase`. */
static int s_batch(const char *asset, const char *phase, const char **why)
{
    Statusd__Phase ph = STATUSD__PHASE__INIT;
    ph.name = (char *) phase;
    ph.duration_us = 1500;
    Statusd__Phase *phs[] = {&ph};
    Statusd__ProbeResult r[2] = {STATUSD__PROBE_RESULT__INIT, STATUSD__PROBE_RESULT__INIT};
    r[0].seq = 1;
    r[0].asset_id = "web";
    r[0].reason = "reason \xff bytes are the store's to fix";
    r[1].seq = 2;
    r[1].asset_id = (char *) asset;
    r[1].n_phases = 1;
    r[1].phases = phs;
    Statusd__ProbeResult *rs[] = {&r[0], &r[1]};
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    b.n_results = 2;
    b.results = rs;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &b;
    return s_check(&env, why);
}

static void test_batch(void **st)
{
    (void) st;
    const char *why;
    assert_int_equal(s_batch("api-prod", "connect", &why), 0);
    assert_int_equal(s_batch("caf\xc3\xa9-\xe6\x9d\xb1\xe4\xba\xac", "", &why), 0); /* UTF-8 */
    char id[WIRE_MAX_ASSET_ID_LEN + 2];
    memset(id, 'x', sizeof id - 1);
    id[WIRE_MAX_ASSET_ID_LEN] = 0;
    assert_int_equal(s_batch(id, "dns", &why), 0);
    id[WIRE_MAX_ASSET_ID_LEN] = 'x';
    id[WIRE_MAX_ASSET_ID_LEN + 1] = 0;
    assert_int_equal(s_batch(id, "dns", &why), -EBADMSG);
    assert_string_equal(why, "result with an invalid asset_id");
    static const char *const bad[] = {"", "\xff", "a\xc3\x28", "\xc0\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80", "cut\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(s_batch(bad[i], "dns", &why), -EBADMSG);
    assert_int_equal(s_batch("web", "\xff", &why), -EBADMSG);
    assert_string_equal(why, "result with an invalid phase name");
    char name[WIRE_MAX_PHASE_NAME_LEN + 2];
    memset(name, 'p', sizeof name - 1);
    name[sizeof name - 1] = 0;
    assert_int_equal(s_batch("web", name, &why), -EBADMSG);
    name[WIRE_MAX_PHASE_NAME_LEN] = 0;
    assert_int_equal(s_batch("web", name, &why), 0);
}

static void test_bodies(void **st)
{
    (void) st;
    const char *why;
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = 1765000000000;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    assert_int_equal(s_check(&env, &why), 0);
    Statusd__Ack ack = STATUSD__ACK__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    assert_int_equal(s_check(&env, &why), -EBADMSG);
    assert_string_equal(why, "unexpected or empty envelope body");
    Statusd__Envelope empty = STATUSD__ENVELOPE__INIT;
    assert_int_equal(s_check(&empty, &why), -EBADMSG);

    Statusd__Envelope *out = (Statusd__Envelope *) 1;
    const uint8_t junk[] = {0x0a, 0x05, 0x0a, 0x10, 'x'}; /* a length past the end */
    assert_int_equal(wire_check_envelope(junk, sizeof junk, &out, &why), -EBADMSG);
    assert_null(out);
    assert_string_equal(why, "truncated length-delimited field"); /* refused before decoding */

    /* a result with a field numbered 0 (key 0x81 0x00, fixed64): protobuf-c decodes it, but
     * the batch it packs again for ingest would not decode (found by fuzz_wire) */
    const uint8_t zero[] = {0x1a, 0x11, 0x0a, 0x0f, 0x08, 0x01, 0x12, 0x01, 'a', 0x81, 0x00,
                            1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(wire_check_envelope(zero, sizeof zero, &out, &why), -EBADMSG);
    assert_null(out);
    assert_string_equal(why, "envelope with a field numbered 0");
    /* the same result without it passes */
    const uint8_t fine[] = {0x1a, 0x07, 0x0a, 0x05, 0x08, 0x01, 0x12, 0x01, 'a'};
    assert_int_equal(wire_check_envelope(fine, sizeof fine, &out, &why), 0);
    statusd__envelope__free_unpacked(out, NULL);
}

/* A batch of n results of elem_len bytes each (every result: field 1 of ResultBatch),
 * wrapped in Envelope field 3: what an agent, honest or not, puts on the wire. */
static uint8_t *s_raw_batch(size_t n, const uint8_t *elem, size_t elem_len, size_t *len)
{
    size_t body = n * (2 + elem_len);
    uint8_t *buf = malloc(body + 16);
    assert_non_null(buf);
    size_t o = 0;
    buf[o++] = 0x1a; /* Envelope.result_batch */
    for (size_t v = body; ; v >>= 7) {
        buf[o++] = (uint8_t) ((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        buf[o++] = 0x0a; /* ResultBatch.results */
        buf[o++] = (uint8_t) elem_len;
        if (elem_len)
            memcpy(buf + o, elem, elem_len);
        o += elem_len;
    }
    *len = o;
    return buf;
}

/* Frames that decode to far more memory than their size are refused before decoding: a
 * frame of empty results (2 bytes each, ~100 bytes once decoded), a result with too many
 * phases, too many unknown fields; honest batches up to the bounds pass. */
static void test_bounds_before_decoding(void **st)
{
    (void) st;
    const char *why = NULL;
    Statusd__Envelope *out = NULL;
    size_t len;
    uint8_t *buf = s_raw_batch(WIRE_MAX_RESULTS + 1, NULL, 0, &len);
    assert_int_equal(wire_check_bounds(buf, len, &why), -EBADMSG);
    assert_int_equal(wire_check_envelope(buf, len, &out, &why), -EBADMSG);
    assert_null(out);
    printf("%d empty results in %zu bytes: refused (%s)\n", WIRE_MAX_RESULTS + 1, len, why);
    free(buf);

    /* the bound itself: WIRE_MAX_RESULTS results, each with an asset id, decode */
    const uint8_t ok_result[] = {0x08, 0x01, 0x12, 0x01, 'a'};
    buf = s_raw_batch(WIRE_MAX_RESULTS, ok_result, sizeof ok_result, &len);
    assert_int_equal(wire_check_envelope(buf, len, &out, &why), 0);
    assert_int_equal(out->result_batch->n_results, WIRE_MAX_RESULTS);
    statusd__envelope__free_unpacked(out, NULL);
    free(buf);

    /* phases: WIRE_MAX_PHASES pass, one more is refused */
    uint8_t res[64] = {0x12, 0x01, 'a'};
    size_t rl = 3;
    for (int i = 0; i < WIRE_MAX_PHASES; i++) {
        res[rl++] = 0x42; /* ProbeResult.phases, an empty Phase */
        res[rl++] = 0x00;
    }
    buf = s_raw_batch(1, res, rl, &len);
    assert_int_equal(wire_check_envelope(buf, len, &out, &why), 0);
    assert_int_equal(out->result_batch->results[0]->n_phases, WIRE_MAX_PHASES);
    statusd__envelope__free_unpacked(out, NULL);
    free(buf);
    res[rl++] = 0x42;
    res[rl++] = 0x00;
    buf = s_raw_batch(1, res, rl, &len);
    assert_int_equal(wire_check_bounds(buf, len, &why), -EBADMSG);
    free(buf);

    /* unknown fields (field 15, varint) inside a heartbeat: a few pass (a newer agent),
     * more than WIRE_MAX_UNKNOWN are refused */
    size_t n_unknown = WIRE_MAX_UNKNOWN + 1;
    uint8_t *hb = malloc(3 + 2 * n_unknown);
    size_t hl = 0;
    hb[hl++] = 0x2a; /* Envelope.heartbeat */
    size_t inner = 2 * n_unknown;
    hb[hl++] = (uint8_t) ((inner & 0x7f) | 0x80);
    hb[hl++] = (uint8_t) (inner >> 7);
    for (size_t i = 0; i < n_unknown; i++) {
        hb[hl++] = 0x78; /* field 15, varint */
        hb[hl++] = 0x01;
    }
    assert_int_equal(wire_check_bounds(hb, hl, &why), -EBADMSG);
    const uint8_t few[] = {0x2a, 0x04, 0x78, 0x01, 0x78, 0x02};
    assert_int_equal(wire_check_bounds(few, sizeof few, &why), 0);
    free(hb);

    /* groups (wire types 3 and 4) are refused, as is a varint that never ends */
    const uint8_t group[] = {0x2a, 0x02, 0x7b, 0x7c};
    assert_int_equal(wire_check_bounds(group, sizeof group, &why), -EBADMSG);
    const uint8_t endless[] = {0x2a, 0x02, 0x08, 0xff};
    assert_int_equal(wire_check_bounds(endless, sizeof endless, &why), -EBADMSG);
}

/* The ResultBatch inside an Envelope, found without decoding: exactly the bytes protobuf-c
 * packs for the batch alone (so ingest decodes what the gateway checked), also between
 * fields the collector does not know; a batch in two fields (which protobuf merges), no
 * batch, or a frame that does not walk: none, and wire_check_envelope refuses the first. */
static void test_batch_bytes(void **st)
{
    (void) st;
    Statusd__ProbeResult r = STATUSD__PROBE_RESULT__INIT;
    r.seq = 42;
    r.asset_id = "web";
    r.reason = "timeout";
    Statusd__ProbeResult *rs[] = {&r};
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    b.n_results = 1;
    b.results = rs;
    uint8_t alone[64], frame[96];
    size_t n = statusd__result_batch__pack(&b, alone);
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &b;
    size_t len = statusd__envelope__pack(&env, frame);
    const uint8_t *bytes = NULL;
    size_t blen = 0;
    assert_int_equal(wire_check_batch_bytes(frame, len, &bytes, &blen), 0);
    printf("batch of %zu bytes at offset %td of a %zu-byte frame\n", blen, bytes - frame, len);
    assert_int_equal(blen, n);
    assert_memory_equal(bytes, alone, n);

    /* between unknown fields (a newer agent): field 15 varint before, field 14 bytes after */
    uint8_t wrapped[128];
    size_t w = 0;
    wrapped[w++] = 0x78;
    wrapped[w++] = 0x05;
    memcpy(wrapped + w, frame, len);
    w += len;
    wrapped[w++] = 0x72;
    wrapped[w++] = 0x01;
    wrapped[w++] = 'z';
    assert_int_equal(wire_check_batch_bytes(wrapped, w, &bytes, &blen), 0);
    assert_int_equal(blen, n);
    assert_memory_equal(bytes, alone, n);
    Statusd__Envelope *out = NULL;
    const char *why = NULL;
    assert_int_equal(wire_check_envelope(wrapped, w, &out, &why), 0);
    assert_int_equal(out->result_batch->n_results, 1);
    statusd__envelope__free_unpacked(out, NULL);

    /* the batch in two fields: protobuf-c merges them into one batch of two results, which
     * no single slice of the frame holds */
    uint8_t twice[192];
    memcpy(twice, frame, len);
    memcpy(twice + len, frame, len);
    assert_int_equal(wire_check_batch_bytes(twice, 2 * len, &bytes, &blen), -EBADMSG);
    assert_int_equal(wire_check_envelope(twice, 2 * len, &out, &why), -EBADMSG);
    assert_null(out);
    assert_string_equal(why, "result batch in several fields");

    /* no batch at all (a heartbeat), a truncated frame, a group */
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = 1;
    Statusd__Envelope henv = STATUSD__ENVELOPE__INIT;
    henv.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    henv.heartbeat = &hb;
    uint8_t hframe[32];
    size_t hl = statusd__envelope__pack(&henv, hframe);
    assert_int_equal(wire_check_batch_bytes(hframe, hl, &bytes, &blen), -EBADMSG);
    assert_int_equal(wire_check_batch_bytes(frame, len - 1, &bytes, &blen), -EBADMSG);
    const uint8_t group[] = {0x1b, 0x1c};
    assert_int_equal(wire_check_batch_bytes(group, sizeof group, &bytes, &blen), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_bounds_before_decoding),
        cmocka_unit_test(test_batch_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
