/* uplink_msg: frames the collector sends, packed here with protobuf-c: acks and hello
 * replies (and one beyond the BIGINT range), assignments, heartbeats with and without an
 * echo (rtt and skew computed, extreme clocks included), and what the agent refuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "uplink_msg.h"

#define NOW_MS 1765000000000LL

static int s_decode(const Statusd__Envelope *env, uplink_msg_t *m, const char **why)
{
    size_t len = statusd__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    statusd__envelope__pack(env, buf);
    *why = NULL;
    int rc = uplink_msg_decode(buf, len, NOW_MS, m, why);
    free(buf);
    if (rc)
        printf("  refused (%d): %s\n", rc, *why);
    return rc;
}

static void test_acks(void **st)
{
    (void) st;
    uplink_msg_t m;
    const char *why;
    Statusd__Ack ack = STATUSD__ACK__INIT;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    ack.through_seq = 1765000000000123ULL;
    assert_int_equal(s_decode(&env, &m, &why), 0);
    assert_int_equal(m.kind, UPLINK_MSG_ACK);
    assert_int_equal(m.through_seq, 1765000000000123ULL);
    uplink_msg_clear(&m);
    assert_null(m.env);
    ack.hello_reply = true;
    ack.through_seq = INT64_MAX;
    assert_int_equal(s_decode(&env, &m, &why), 0);
    assert_int_equal(m.kind, UPLINK_MSG_HELLO_REPLY);
    uplink_msg_clear(&m);
    ack.through_seq = (uint64_t) INT64_MAX + 1;
    assert_int_equal(s_decode(&env, &m, &why), -EPROTO);
    assert_string_equal(why, "ack beyond the collector's BIGINT sequence range");
    assert_null(m.env);
}

static void test_assignment(void **st)
{
    (void) st;
    Statusd__AssetSpec a = STATUSD__ASSET_SPEC__INIT, *ap = &a;
    a.id = "web";
    a.type = "http";
    a.address = "http://127.0.0.1/";
    a.interval_ms = 10000;
    Statusd__Assignment as = STATUSD__ASSIGNMENT__INIT;
    as.version = 42;
    as.n_assets = 1;
    as.assets = &ap;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_ASSIGNMENT;
    env.assignment = &as;
    uplink_msg_t m;
    const char *why;
    assert_int_equal(s_decode(&env, &m, &why), 0);
    assert_int_equal(m.kind, UPLINK_MSG_ASSIGNMENT);
    assert_int_equal(m.assignment->version, 42);
    assert_string_equal(m.assignment->assets[0]->id, "web");
    uplink_msg_clear(&m);
    uplink_msg_clear(&m); /* a cleared message clears again */
}

/* A heartbeat decoded; the fields of the result (env already freed). */
static uplink_msg_t s_heartbeat(int64_t sent, int64_t echo, bool hello_required)
{
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = sent;
    hb.echo_sent_at_ms = echo;
    hb.hello_required = hello_required;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    uplink_msg_t m, copy;
    const char *why;
    assert_int_equal(s_decode(&env, &m, &why), 0);
    copy = m;
    copy.env = NULL;
    uplink_msg_clear(&m);
    printf("  heartbeat sent=%lld echo=%lld: kind %d rtt %s%lld skew %lld\n", (long long) sent,
           (long long) echo, (int) copy.kind, copy.has_rtt ? "" : "(none) ",
           (long long) copy.rtt_ms, (long long) copy.clock_skew_ms);
    return copy;
}

static void test_heartbeats(void **st)
{
    (void) st;
    /* we sent at NOW-100, the collector stamped NOW-30 with a clock 20 ms ahead */
    uplink_msg_t m = s_heartbeat(NOW_MS - 30, NOW_MS - 100, false);
    assert_int_equal(m.kind, UPLINK_MSG_HEARTBEAT);
    assert_true(m.has_rtt);
    assert_int_equal(m.rtt_ms, 100);
    assert_int_equal(m.clock_skew_ms, 20);
    m = s_heartbeat(NOW_MS, 0, false); /* no echo */
    assert_false(m.has_rtt);
    m = s_heartbeat(NOW_MS, NOW_MS + 1, false); /* an echo from our future */
    assert_false(m.has_rtt);
    m = s_heartbeat(0, 0, true);
    assert_int_equal(m.kind, UPLINK_MSG_HELLO_REQUIRED);
    assert_false(m.has_rtt);
    /* collector clocks no one has: no sample, and no overflow (UBSan watches) */
    m = s_heartbeat(INT64_MIN, NOW_MS - 100, false);
    assert_false(m.has_rtt);
    m = s_heartbeat(INT64_MAX, 1, false);
    assert_false(m.has_rtt);
    m = s_heartbeat(-1, NOW_MS - 100, false);
    assert_false(m.has_rtt);
}

static void test_refused(void **st)
{
    (void) st;
    uplink_msg_t m;
    const char *why;
    Statusd__Hello h = STATUSD__HELLO__INIT;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    assert_int_equal(s_decode(&env, &m, &why), -EPROTO);
    assert_string_equal(why, "unexpected message type");
    assert_null(m.env);
    Statusd__Envelope empty = STATUSD__ENVELOPE__INIT;
    assert_int_equal(s_decode(&empty, &m, &why), -EPROTO);
    const uint8_t junk[] = {0x22, 0x09, 0x08};
    assert_int_equal(uplink_msg_decode(junk, sizeof junk, NOW_MS, &m, &why), -EBADMSG);
    assert_string_equal(why, "not a protobuf Envelope");
    assert_null(m.env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks),
        cmocka_unit_test(test_assignment),
        cmocka_unit_test(test_heartbeats),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
