/* uplink against a real ROUTER socket playing the collector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sd_limits.h"
#include "uplink.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    loop_t *loop;
    outq_t *outq;
    uplink_t *up;
    zsock_t *router;
    int port;
    char ep[64];
    zframe_t *peer;          /* routing id of the last Hello */
    bool answer_heartbeats;
    int batches_seen, assignments;
    uint64_t last_assignment;
    uint64_t last_hb_assignment_version;
} fx_t;

static int s_on_assignment(const Statusd__Assignment *a, void *ctx)
{
    fx_t *fx = ctx;
    fx->assignments++;
    fx->last_assignment = a->version;
    return (int) a->n_assets;
}

static void s_push(fx_t *fx, int n)
{
    for (int i = 0; i < n; i++) {
        probe_result_t *r = probe_result_new("asset-1");
        r->success = i % 2;
        r->latency_us = 1234;
        probe_result_set_reason(r, "status 500 >= 400");
        probe_result_add_phase(r, "connect", 99);
        outq_push(fx->outq, &r);
    }
}

static void s_bind(fx_t *fx)
{
    fx->router = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(fx->router, 0);
    if (fx->port == 0) {
        fx->port = zsock_bind(fx->router, "tcp://127.0.0.1:*");
        assert_true(fx->port > 0);
    } else {
        sd_ms_t deadline = sd_mono_ms() + 3000; /* rebind the same port */
        while (zsock_bind(fx->router, "tcp://127.0.0.1:%d", fx->port) < 0 &&
               sd_mono_ms() < deadline)
            zclock_sleep(20);
    }
    snprintf(fx->ep, sizeof fx->ep, "tcp://127.0.0.1:%d", fx->port);
}

/* Results numbered <= this came "from the spool" (uplink_config_t.replayed_through). */
static uint64_t s_replayed_through;

static fx_t *s_fx_cfg(uint64_t first_seq, size_t batch_max, size_t inflight,
                      size_t max_pending, int heartbeat_ms)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->loop = loop_new();
    fx->outq = outq_new(max_pending, first_seq);
    s_bind(fx);
    const char *eps[] = {fx->ep};
    uplink_config_t cfg = {.agent_id = "agent-eu-1", .region = "eu", .endpoints = eps,
                           .n_endpoints = 1, .heartbeat_ms = heartbeat_ms,
                           .batch_max = batch_max, .max_inflight_batches = inflight,
                           .replayed_through = s_replayed_through};
    fx->up = uplink_new(fx->loop, fx->outq, &cfg, s_on_assignment, fx);
    assert_non_null(fx->up);
    return fx;
}

static fx_t *s_fx(uint64_t first_seq, size_t batch_max, size_t inflight)
{
    return s_fx_cfg(first_seq, batch_max, inflight, 1000, 100);
}

static void s_fx_end(fx_t *fx)
{
    uplink_destroy(&fx->up);
    outq_destroy(&fx->outq);
    zframe_destroy(&fx->peer);
    zsock_destroy(&fx->router);
    assert_int_equal(loop_destroy(&fx->loop), 0);
    free(fx);
}

static void s_send(fx_t *fx, Statusd__Envelope *env)
{
    size_t len = statusd__envelope__get_packed_size(env);
    zframe_t *f = zframe_new(NULL, len);
    statusd__envelope__pack(env, zframe_data(f));
    zframe_t *id = zframe_dup(fx->peer);
    zframe_send(&id, fx->router, ZFRAME_MORE);
    zframe_send(&f, fx->router, 0);
}

static void s_send_ack(fx_t *fx, uint64_t through, bool hello_reply)
{
    Statusd__Ack ack = STATUSD__ACK__INIT;
    ack.through_seq = through;
    ack.hello_reply = hello_reply;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    s_send(fx, &env);
}

/* Runs the agent loop and reads the "collector" until a message of kind arrives (any kind
 * when 0); NULL at the deadline. Heartbeats are answered when asked to. */
static Statusd__Envelope *s_expect(fx_t *fx, int kind, int max_ms)
{
    sd_ms_t deadline = sd_mono_ms() + max_ms;
    while (sd_mono_ms() < deadline) {
        loop_run_once(fx->loop, 5);
        while (zsock_events(fx->router) & ZMQ_POLLIN) {
            zmsg_t *m = zmsg_recv(fx->router);
            zframe_t *id = zmsg_pop(m);
            zframe_t *body = zmsg_pop(m);
            Statusd__Envelope *env =
                statusd__envelope__unpack(NULL, zframe_size(body), zframe_data(body));
            zframe_destroy(&body);
            zmsg_destroy(&m);
            assert_non_null(env);
            if ((int) env->body_case == STATUSD__ENVELOPE__BODY_HELLO) {
                zframe_destroy(&fx->peer);
                fx->peer = zframe_dup(id);
            }
            zframe_destroy(&id);
            if (env->body_case == STATUSD__ENVELOPE__BODY_RESULT_BATCH)
                fx->batches_seen++;
            if (env->body_case == STATUSD__ENVELOPE__BODY_HEARTBEAT) {
                fx->last_hb_assignment_version = env->heartbeat->assignment_version;
                if (fx->answer_heartbeats && fx->peer) {
                    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
                    hb.sent_at_ms = sd_wall_ms();
                    hb.echo_sent_at_ms = env->heartbeat->sent_at_ms;
                    Statusd__Envelope r = STATUSD__ENVELOPE__INIT;
                    r.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
                    r.heartbeat = &hb;
                    s_send(fx, &r);
                }
            }
            if (kind == 0 || (int) env->body_case == kind)
                return env;
            statusd__envelope__free_unpacked(env, NULL);
        }
    }
    return NULL;
}

static void s_expect_batch(fx_t *fx, uint64_t first, size_t n)
{
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_RESULT_BATCH, 3000);
    assert_non_null(env);
    Statusd__ResultBatch *b = env->result_batch;
    printf("batch: %zu results from seq %llu\n", b->n_results,
           (unsigned long long) (b->n_results ? b->results[0]->seq : 0));
    assert_int_equal(b->n_results, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(b->results[i]->seq, first + i); /* consecutive */
        assert_string_equal(b->results[i]->asset_id, "asset-1");
        assert_int_equal(b->results[i]->n_phases, 1);
    }
    statusd__envelope__free_unpacked(env, NULL);
}

static void s_wait_pending(fx_t *fx, size_t want, int max_ms)
{
    sd_ms_t deadline = sd_mono_ms() + max_ms;
    while (outq_len(fx->outq) != want && sd_mono_ms() < deadline)
        s_expect(fx, -1, 10);
    assert_int_equal(outq_len(fx->outq), want);
}

static void test_hello_then_batches(void **state)
{
    /* heartbeat 1 s: the Hello reply is due within 3 s, far beyond the wait below */
    fx_t *fx = s_fx_cfg(1000, 2, 2, 1000, 1000);
    fx->answer_heartbeats = true;
    s_push(fx, 5);
    assert_int_equal(uplink_start(fx->up), 0);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    Statusd__Hello *h = env->hello;
    assert_string_equal(h->agent_id, "agent-eu-1");
    assert_string_equal(h->region, "eu");
    assert_string_equal(h->version, STATUSD_VERSION);
    assert_int_equal(h->n_probe_types, 5);
    assert_string_equal(h->probe_types[0], "http");
    assert_string_equal(h->probe_types[1], "tcp");
    assert_string_equal(h->probe_types[2], "tls");
    assert_string_equal(h->probe_types[3], "dns");
    assert_string_equal(h->probe_types[4], "icmp");
    assert_true(h->heartbeat_ms > 0);
    assert_int_equal(h->assignment_version, 0);
    assert_int_equal(h->first_unacked_seq, 1000);
    assert_true(llabs(h->sent_at_ms - sd_wall_ms()) < 5000);
    statusd__envelope__free_unpacked(env, NULL);

    /* no ResultBatch before the hello Ack */
    s_expect(fx, STATUSD__ENVELOPE__BODY_RESULT_BATCH, 400);
    assert_int_equal(fx->batches_seen, 0);
    assert_false(uplink_ready(fx->up));

    s_send_ack(fx, 0, true);
    /* batch_max 2, at most 2 batches in flight */
    s_expect_batch(fx, 1000, 2);
    s_expect_batch(fx, 1002, 2);
    assert_null(s_expect(fx, STATUSD__ENVELOPE__BODY_RESULT_BATCH, 250));
    s_send_ack(fx, 1001, false);
    s_expect_batch(fx, 1004, 1);
    s_send_ack(fx, 1004, false);
    s_wait_pending(fx, 0, 2000);
    sd_ms_t deadline = sd_mono_ms() + 5000; /* the first heartbeat round trip */
    while (uplink_stats(fx->up).rtt_ms < 0 && sd_mono_ms() < deadline)
        s_expect(fx, -1, 10);
    uplink_stats_t st = uplink_stats(fx->up);
    assert_int_equal(st.batches_sent, 3);
    assert_int_equal(st.results_sent, 5);
    assert_true(st.rtt_ms >= 0);
    s_fx_end(fx);
}

static void test_renumber_on_hello_reply(void **state)
{
    fx_t *fx = s_fx(1000, 500, 4);
    fx->answer_heartbeats = true;
    s_push(fx, 2);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 5000, true); /* the collector stored up to 5000 from an earlier run */
    s_expect_batch(fx, 5001, 2);
    assert_int_equal(outq_next_seq(fx->outq), 5003);
    assert_int_equal(uplink_stats(fx->up).renumbered, 1);
    s_fx_end(fx);
}

static void test_reconnect_resends_unacked(void **state)
{
    fx_t *fx = s_fx(1, 500, 4);
    s_push(fx, 5);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 5);
    /* the collector dies without acking, and a new one binds the same port */
    zframe_destroy(&fx->peer);
    zsock_destroy(&fx->router);
    s_bind(fx);
    sd_ms_t t0 = sd_mono_ms();
    env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 5000);
    assert_non_null(env);
    printf("new Hello %lld ms after the collector went away\n", (long long) (sd_mono_ms() - t0));
    assert_int_equal(env->hello->first_unacked_seq, 1);
    statusd__envelope__free_unpacked(env, NULL);
    assert_true(uplink_stats(fx->up).collector_lost >= 1);
    /* it had stored 1..2 before dying: the agent drops those, resends 3..5 */
    s_send_ack(fx, 2, true);
    s_expect_batch(fx, 3, 3);
    s_send_ack(fx, 5, false);
    s_wait_pending(fx, 0, 2000);
    s_fx_end(fx);
}

static void test_resend_without_ack_progress(void **state)
{
    fx_t *fx = s_fx(1, 500, 4);
    fx->answer_heartbeats = true; /* alive, but never acks */
    s_push(fx, 3);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 3);
    sd_ms_t t0 = sd_mono_ms();
    s_expect_batch(fx, 1, 3); /* the same results again */
    printf("resent after %lld ms\n", (long long) (sd_mono_ms() - t0));
    assert_true(sd_mono_ms() - t0 >= 250);
    assert_int_equal(uplink_stats(fx->up).resends, 1);
    assert_int_equal(uplink_stats(fx->up).collector_lost, 0);
    s_fx_end(fx);
}

static void test_malformed_and_assignment(void **state)
{
    fx_t *fx = s_fx(1, 500, 4);
    fx->answer_heartbeats = true;
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    /* garbage, then a multipart message */
    zframe_t *id = zframe_dup(fx->peer);
    zframe_send(&id, fx->router, ZFRAME_MORE);
    zsock_send(fx->router, "b", "\xff\xff\xff\xff\x0f", (size_t) 5);
    id = zframe_dup(fx->peer);
    zframe_send(&id, fx->router, ZFRAME_MORE);
    zsock_send(fx->router, "ss", "a", "b");
    /* an assignment, twice */
    Statusd__AssetSpec as = STATUSD__ASSET_SPEC__INIT;
    as.id = "a1";
    as.type = "http";
    as.address = "http://127.0.0.1:1/";
    as.interval_ms = 60000;
    Statusd__AssetSpec *asp[] = {&as};
    Statusd__Assignment a = STATUSD__ASSIGNMENT__INIT;
    a.version = 7;
    a.assets = asp;
    a.n_assets = 1;
    Statusd__Envelope e = STATUSD__ENVELOPE__INIT;
    e.body_case = STATUSD__ENVELOPE__BODY_ASSIGNMENT;
    e.assignment = &a;
    s_send(fx, &e);
    s_send(fx, &e);
    sd_ms_t deadline = sd_mono_ms() + 2000;
    while (fx->last_hb_assignment_version != 7 && sd_mono_ms() < deadline)
        s_expect(fx, -1, 10);
    uplink_stats_t st = uplink_stats(fx->up);
    printf("malformed=%llu applied=%llu ignored=%llu\n", (unsigned long long) st.malformed,
           (unsigned long long) st.assignments_applied,
           (unsigned long long) st.assignments_ignored);
    assert_int_equal(st.malformed, 2);
    assert_int_equal(fx->assignments, 1);
    assert_int_equal(st.assignments_ignored, 1);
    assert_int_equal(uplink_assignment_version(fx->up), 7);
    assert_int_equal(fx->last_hb_assignment_version, 7);
    assert_true(uplink_ready(fx->up)); /* still connected */
    assert_int_equal(st.collector_lost, 0);
    s_fx_end(fx);
}

/* Drop-oldest discards results that are in flight; the acks of their batches must still
 * free the window, or nothing newer is sent until the ack timeout (more drops meanwhile). */
static void test_ack_after_drop_oldest_keeps_sending(void **state)
{
    fx_t *fx = s_fx_cfg(1, 2, 2, 4, 2000); /* ack timeout 6 s, far beyond this test */
    fx->answer_heartbeats = true;
    s_push(fx, 4);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 2);
    s_expect_batch(fx, 3, 2);
    s_push(fx, 4); /* full: 1..4 dropped, 5..8 pending */
    assert_int_equal(outq_dropped(fx->outq), 4);
    assert_int_equal(outq_first_seq(fx->outq), 5);
    s_send_ack(fx, 2, false);
    s_send_ack(fx, 4, false);
    s_expect_batch(fx, 5, 2);
    s_expect_batch(fx, 7, 2);
    uplink_stats_t st = uplink_stats(fx->up);
    printf("acks=%llu resends=%llu\n", (unsigned long long) st.acks,
           (unsigned long long) st.resends);
    assert_int_equal(st.acks, 2);
    assert_int_equal(st.resends, 0);
    s_fx_end(fx);
}

/* After a reconnect the collector reports a high-water mark above every number this process
 * ever sent (another process used our id, or our clock went back): results we never sent
 * must be renumbered above it, not dropped as "already stored". */
static void test_hello_reply_above_everything_sent(void **state)
{
    fx_t *fx = s_fx(1, 500, 4);
    s_push(fx, 2);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 2);
    s_send_ack(fx, 2, false);
    s_wait_pending(fx, 0, 2000);
    /* the collector goes away; a new one comes */
    zframe_destroy(&fx->peer);
    zsock_destroy(&fx->router);
    s_bind(fx);
    env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 5000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_push(fx, 3); /* seqs 3..5, not sent before the hello reply */
    s_send_ack(fx, 1000, true);
    s_expect_batch(fx, 1001, 3);
    assert_int_equal(outq_next_seq(fx->outq), 1004);
    assert_int_equal(uplink_stats(fx->up).renumbered, 1);
    assert_int_equal(uplink_stats(fx->up).dropped_stored, 0);
    s_fx_end(fx);
}

/* A collector that answers heartbeats but never the Hello (its database was down when the
 * Hello came): the agent must say Hello again, not wait forever without sending. */
static void test_hello_without_reply_says_hello_again(void **state)
{
    fx_t *fx = s_fx(1, 500, 4);
    fx->answer_heartbeats = true;
    s_push(fx, 1);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    sd_ms_t t0 = sd_mono_ms();
    env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 5000);
    assert_non_null(env);
    printf("second Hello after %lld ms\n", (long long) (sd_mono_ms() - t0));
    statusd__envelope__free_unpacked(env, NULL);
    uplink_stats_t st = uplink_stats(fx->up);
    assert_int_equal(st.hello_timeouts, 1);
    assert_int_equal(st.collector_lost, 0);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 1);
    s_fx_end(fx);
}

/* A hello reply with a mark no collector can hold (its column is BIGINT) would renumber
 * the results past UINT64_MAX, back to 0: dropped as malformed, the agent keeps waiting. */
static void test_hello_reply_out_of_range_is_malformed(void **state)
{
    fx_t *fx = s_fx_cfg(1, 500, 4, 1000, 1000);
    fx->answer_heartbeats = true;
    s_push(fx, 2);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, UINT64_MAX, true);
    sd_ms_t deadline = sd_mono_ms() + 2000;
    while (uplink_stats(fx->up).malformed == 0 && sd_mono_ms() < deadline)
        s_expect(fx, -1, 10);
    assert_int_equal(uplink_stats(fx->up).malformed, 1);
    assert_false(uplink_ready(fx->up));
    assert_int_equal(outq_first_seq(fx->outq), 1);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 2);
    s_fx_end(fx);
}

/* Results so large that batch_max of them exceed the collector's frame limit (which would
 * close the connection, and the same frame would be resent forever): smaller batches. */
static void test_large_results_split_below_frame_limit(void **state)
{
    fx_t *fx = s_fx_cfg(1, 500, 16, 1000, 1000);
    fx->answer_heartbeats = true;
    size_t id_len = 40 * 1024; /* 300 x 40 KiB = 12 MiB in one batch */
    char *id = malloc(id_len + 1);
    memset(id, 'a', id_len);
    id[id_len] = 0;
    for (int i = 0; i < 300; i++) {
        probe_result_t *r = probe_result_new(id);
        outq_push(fx->outq, &r);
    }
    free(id);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    uint64_t next = 1;
    int batches = 0;
    while (next <= 300) {
        env = s_expect(fx, STATUSD__ENVELOPE__BODY_RESULT_BATCH, 5000);
        assert_non_null(env);
        size_t size = statusd__envelope__get_packed_size(env);
        Statusd__ResultBatch *b = env->result_batch;
        printf("batch of %zu results, %zu bytes\n", b->n_results, size);
        assert_true(size <= SD_AGENT_FRAME_MAX); /* the collector's smallest frame limit */
        for (size_t i = 0; i < b->n_results; i++)
            assert_int_equal(b->results[i]->seq, next++);
        batches++;
        statusd__envelope__free_unpacked(env, NULL);
        s_send_ack(fx, next - 1, false); /* progress: no resend from the start */
    }
    assert_true(batches >= 2);
    s_fx_end(fx);
}

/* Drop-oldest discards results never sent: the next batch does not continue the previous
 * one, which the collector holds back until the agent starts over from its first unacked
 * result. The agent sends that batch twice (the second copy is that start) instead of
 * stalling until the ack timeout. */
static void test_gap_batch_sent_twice(void **state)
{
    fx_t *fx = s_fx_cfg(1, 2, 2, 4, 2000); /* ack timeout 6 s, far beyond this test */
    fx->answer_heartbeats = true;
    s_push(fx, 4);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 2);
    s_expect_batch(fx, 3, 2);
    s_push(fx, 6); /* 1..6 dropped: 5 and 6 were never sent */
    assert_int_equal(outq_first_seq(fx->outq), 7);
    s_send_ack(fx, 2, false);
    s_send_ack(fx, 4, false);
    s_expect_batch(fx, 7, 2);
    s_expect_batch(fx, 7, 2); /* the same again: "starting over from 7" */
    s_send_ack(fx, 8, false);
    s_expect_batch(fx, 9, 2); /* continues: sent once */
    assert_null(s_expect(fx, STATUSD__ENVELOPE__BODY_RESULT_BATCH, 200));
    uplink_stats_t st = uplink_stats(fx->up);
    printf("gap_restarts=%llu batches_sent=%llu resends=%llu\n",
           (unsigned long long) st.gap_restarts, (unsigned long long) st.batches_sent,
           (unsigned long long) st.resends);
    assert_int_equal(st.gap_restarts, 1);
    assert_int_equal(st.batches_sent, 5);
    assert_int_equal(st.resends, 0);
    s_fx_end(fx);
}

/* A restarted collector does not know this connection and answers Heartbeat{hello_required}:
 * the agent says Hello again on the same socket at once (not after three silent heartbeat
 * periods) and resends everything unacked after the reply. */
static void test_hello_required_says_hello_at_once(void **state)
{
    fx_t *fx = s_fx_cfg(1, 500, 4, 1000, 1000);
    s_push(fx, 2);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 2);
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = sd_wall_ms();
    hb.hello_required = true;
    Statusd__Envelope req = STATUSD__ENVELOPE__INIT;
    req.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    req.heartbeat = &hb;
    sd_ms_t t0 = sd_mono_ms();
    s_send(fx, &req);
    env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 2000);
    sd_ms_t took = sd_mono_ms() - t0;
    printf("Hello again %lld ms after hello_required (heartbeat period 1000 ms)\n",
           (long long) took);
    assert_non_null(env);
    assert_int_equal(env->hello->first_unacked_seq, 1);
    statusd__envelope__free_unpacked(env, NULL);
    assert_true(took < 1000);
    uplink_stats_t st = uplink_stats(fx->up);
    assert_int_equal(st.hello_requests, 1);
    assert_int_equal(st.collector_lost, 0);
    assert_int_equal(st.hello_timeouts, 0);
    s_send_ack(fx, 0, true);
    s_expect_batch(fx, 1, 2);
    s_fx_end(fx);
}

/* Pushes results "replayed from the spool" with the given numbers (holes allowed). */
static void s_push_replayed(fx_t *fx, const uint64_t *seqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        probe_result_t *r = probe_result_new("asset-1");
        probe_result_add_phase(r, "connect", 99);
        assert_int_equal(outq_push_at(fx->outq, &r, seqs[i]), 0);
    }
}

/* The next ResultBatch holds exactly these numbers. */
static void s_expect_seqs(fx_t *fx, const uint64_t *seqs, size_t n)
{
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_RESULT_BATCH, 3000);
    assert_non_null(env);
    Statusd__ResultBatch *b = env->result_batch;
    printf("batch: %zu results, seqs %llu..%llu\n", b->n_results,
           (unsigned long long) (b->n_results ? b->results[0]->seq : 0),
           (unsigned long long) (b->n_results ? b->results[b->n_results - 1]->seq : 0));
    assert_int_equal(b->n_results, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(b->results[i]->seq, seqs[i]);
    statusd__envelope__free_unpacked(env, NULL);
}

/* Replayed results with a hole (records the spool lost): a batch that would not continue
 * the previous one waits until everything before it is acked, then goes out twice (the
 * collector holds back the first copy and stores the second, the "start over"). */
static void test_replayed_hole_waits_then_sent_twice(void **state)
{
    s_replayed_through = 21;
    fx_t *fx = s_fx_cfg(1, 3, 4, 1000, 2000); /* ack timeout 6 s, far beyond this test */
    s_replayed_through = 0;
    fx->answer_heartbeats = true;
    static const uint64_t seqs[] = {10, 11, 12, 20, 21};
    s_push_replayed(fx, seqs, 5);
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    assert_int_equal(env->hello->first_unacked_seq, 10);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 0, true);
    s_expect_seqs(fx, seqs, 3);
    assert_null(s_expect(fx, STATUSD__ENVELOPE__BODY_RESULT_BATCH, 300)); /* waits */
    s_send_ack(fx, 12, false);
    s_expect_seqs(fx, seqs + 3, 2);
    s_expect_seqs(fx, seqs + 3, 2);
    s_push(fx, 2); /* new results continue after the last replayed: 22, 23 */
    s_send_ack(fx, 21, false);
    static const uint64_t next[] = {22, 23};
    s_expect_seqs(fx, next, 2);
    uplink_stats_t st = uplink_stats(fx->up);
    assert_int_equal(st.gap_restarts, 1);
    assert_int_equal(st.resends, 0);
    s_fx_end(fx);
}

/* Replayed results the collector already stored (the earlier process sent them before it
 * died): the hello reply's mark drops them; those above it and the new ones are sent under
 * their own numbers, not renumbered. */
static void test_replayed_stored_dropped_by_hello_reply(void **state)
{
    s_replayed_through = 14;
    fx_t *fx = s_fx_cfg(1, 500, 4, 1000, 1000);
    s_replayed_through = 0;
    static const uint64_t seqs[] = {10, 11, 12, 13, 14};
    s_push_replayed(fx, seqs, 5);
    s_push(fx, 2); /* 15, 16 */
    uplink_start(fx->up);
    Statusd__Envelope *env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 12, true);
    static const uint64_t want[] = {13, 14, 15, 16};
    s_expect_seqs(fx, want, 4);
    uplink_stats_t st = uplink_stats(fx->up);
    assert_int_equal(st.dropped_stored, 3);
    assert_int_equal(st.renumbered, 0);
    s_fx_end(fx);

    /* the collector holds more than the spool had (a power cut lost the spool's last
     * records after they were stored): replayed ones go, the new ones are renumbered */
    s_replayed_through = 14;
    fx = s_fx_cfg(1, 500, 4, 1000, 1000);
    s_replayed_through = 0;
    s_push_replayed(fx, seqs, 5);
    s_push(fx, 2);
    uplink_start(fx->up);
    env = s_expect(fx, STATUSD__ENVELOPE__BODY_HELLO, 3000);
    assert_non_null(env);
    statusd__envelope__free_unpacked(env, NULL);
    s_send_ack(fx, 30, true);
    static const uint64_t above[] = {31, 32};
    s_expect_seqs(fx, above, 2);
    st = uplink_stats(fx->up);
    assert_int_equal(st.dropped_stored, 5);
    assert_int_equal(st.renumbered, 1);
    s_fx_end(fx);
}

int main(void)
{
    zsys_handler_set(NULL);
    zsys_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_then_batches),
        cmocka_unit_test(test_renumber_on_hello_reply),
        cmocka_unit_test(test_reconnect_resends_unacked),
        cmocka_unit_test(test_resend_without_ack_progress),
        cmocka_unit_test(test_malformed_and_assignment),
        cmocka_unit_test(test_ack_after_drop_oldest_keeps_sending),
        cmocka_unit_test(test_hello_reply_above_everything_sent),
        cmocka_unit_test(test_hello_without_reply_says_hello_again),
        cmocka_unit_test(test_hello_reply_out_of_range_is_malformed),
        cmocka_unit_test(test_large_results_split_below_frame_limit),
        cmocka_unit_test(test_gap_batch_sent_twice),
        cmocka_unit_test(test_hello_required_says_hello_at_once),
        cmocka_unit_test(test_replayed_hole_waits_then_sent_twice),
        cmocka_unit_test(test_replayed_stored_dropped_by_hello_reply),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
