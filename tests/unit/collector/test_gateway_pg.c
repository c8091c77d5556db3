/* gateway + ingest as real actors on a real tcp port and a real database; a DEALER in the
 * test speaks the wire protocol, a PULL bound on BUS_ENGINE stands in for the engine.
 * Also: ingest forgets an agent gone for good, and a batch over ingest's byte budget makes
 * the agent resync. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "collector.h"
#include "gateway.h"
#include "ingest.h"
#include "metrics.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "test_pg.h"

#define WAIT_MS 5000

#define GATEWAY_FIXTURE_DB_PREFIX "gw"
#define GATEWAY_FIXTURE_HEARTBEAT_MS 1000
#define GATEWAY_FIXTURE_ENGINE_STANDIN
#include "gateway_fixture.h"

static char *s_eu[] = {"eu"};
static char *s_ap[] = {"ap"};

/* the forget period ingest is started with (0: the default); see setup_forget */
static int64_t s_forget_ms;

static void s_configure(fx_t *fx)
{
    fx->ctx.agent_forget_ms = s_forget_ms;
    fx->assets[0] = (sd_asset_t){.id = "web", .asset_type = "http", .name = "Web",
                                 .address = "https://example.com", .interval_seconds = 60,
                                 .timeout_seconds = 5, .locations = s_eu, .n_locations = 1};
    fx->assets[1] = (sd_asset_t){.id = "dns", .asset_type = "dns", .name = "DNS",
                                 .address = "example.com", .interval_seconds = 30,
                                 .timeout_seconds = 2, .locations = s_ap, .n_locations = 1};
    fx->manifest.assets = fx->assets;
    fx->manifest.n_assets = 2;
}

/* heartbeat period the test agents announce in Hello (0: none, the collector's applies) */
static uint32_t s_hello_heartbeat_ms;

static void s_hello(zsock_t *d, const char *id, const char *region)
{
    s_hello_at(d, id, region, s_hello_heartbeat_ms, sd_wall_ms());
}

/* the third name is longer than ingest caches handles for: set through the slow path */
static Statusd__Phase s_phases[3] = {
    {PROTOBUF_C_MESSAGE_INIT(&statusd__phase__descriptor), "connect", 1500},
    {PROTOBUF_C_MESSAGE_INIT(&statusd__phase__descriptor), "processing", 248500},
    {PROTOBUF_C_MESSAGE_INIT(&statusd__phase__descriptor), "a_long_phase_name_x", 500}};
static Statusd__Phase *s_phase_ptrs[3] = {&s_phases[0], &s_phases[1], &s_phases[2]};

static void s_batch(zsock_t *d, uint64_t from, uint64_t to)
{
    Statusd__ProbeResult r[16], *rp[16];
    assert_true(to - from < 16);
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    for (uint64_t s = from; s <= to; s++) {
        Statusd__ProbeResult *x = &r[s - from];
        statusd__probe_result__init(x);
        x->seq = s;
        x->asset_id = "web";
        x->started_at_ms = sd_wall_ms();
        x->success = s != to; /* the latest one fails */
        x->latency_us = 250000;
        x->status_code = x->success ? 200 : 503;
        x->n_phases = 3;
        x->phases = s_phase_ptrs;
        x->cert_expiry_unix = 1900000000;
        rp[b.n_results++] = x;
    }
    b.results = rp;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &b;
    s_send_env(d, &env);
}

/* Expects an Ack with through_seq (and hello_reply); returns nothing, asserts. */
static void s_expect_ack(zsock_t *d, uint64_t through, bool hello_reply)
{
    Statusd__Envelope *env = s_recv_env(d, WAIT_MS);
    assert_non_null(env);
    if (env->body_case != STATUSD__ENVELOPE__BODY_ACK)
        fprintf(stderr, "expected an Ack, got body %d\n", env->body_case);
    assert_int_equal(env->body_case, STATUSD__ENVELOPE__BODY_ACK);
    printf("ack through_seq=%" PRIu64 " hello_reply=%d\n", env->ack->through_seq,
           env->ack->hello_reply);
    assert_int_equal(env->ack->through_seq, through);
    assert_int_equal(env->ack->hello_reply, hello_reply);
    statusd__envelope__free_unpacked(env, NULL);
}

/* Hello -> Ack(hello_reply, hwm) + Assignment; returns the assignment version. */
static uint64_t s_handshake(zsock_t *d, const char *id, const char *region, uint64_t hwm)
{
    s_hello(d, id, region);
    s_expect_ack(d, hwm, true);
    Statusd__Envelope *env = s_recv_env(d, WAIT_MS);
    assert_non_null(env);
    assert_int_equal(env->body_case, STATUSD__ENVELOPE__BODY_ASSIGNMENT);
    uint64_t v = env->assignment->version;
    assert_true(v > 0);
    assert_int_equal(env->assignment->n_assets, 1);
    assert_string_equal(env->assignment->assets[0]->id, strcmp(region, "eu") ? "dns" : "web");
    statusd__envelope__free_unpacked(env, NULL);
    return v;
}

/* The next engine message as "A|b|c" (binary last frame of RESULTS decoded to seqs).
 * SKEW messages (clock estimates, tested in test_gateway_skew_pg) are skipped, and AGENT's
 * last-heard frame (a time) is left out. */
static char *s_engine_next(fx_t *fx, int wait_ms)
{
    zmsg_t *m = NULL;
    char *kind = NULL;
    sd_ms_t deadline = sd_mono_ms() + wait_ms;
    while (!kind) {
        zpoller_t *p = zpoller_new(fx->engine_standin, NULL);
        sd_ms_t left = deadline - sd_mono_ms();
        void *which = zpoller_wait(p, left > 0 ? (int) left : 0);
        zpoller_destroy(&p);
        if (!which)
            return NULL;
        m = zmsg_recv(fx->engine_standin);
        kind = zmsg_popstr(m);
        if (kind && strcmp(kind, "SKEW") == 0) {
            free(kind);
            kind = NULL;
            zmsg_destroy(&m);
        }
    }
    char out[512];
    size_t o = (size_t) snprintf(out, sizeof out, "%s", kind);
    if (strcmp(kind, "RESULTS") == 0) {
        char *agent = zmsg_popstr(m), *region = zmsg_popstr(m);
        zframe_t *f = zmsg_pop(m);
        Statusd__ResultBatch *b =
            statusd__result_batch__unpack(NULL, zframe_size(f), zframe_data(f));
        assert_non_null(b);
        o += (size_t) snprintf(out + o, sizeof out - o, "|%s|%s|", agent, region);
        for (size_t i = 0; i < b->n_results && o < sizeof out - 24; i++)
            o += (size_t) snprintf(out + o, sizeof out - o, "%s%" PRIu64, i ? "," : "",
                                   b->results[i]->seq);
        statusd__result_batch__free_unpacked(b, NULL);
        zframe_destroy(&f);
        free(agent);
        free(region);
    } else {
        char *f;
        for (int i = 0; (f = zmsg_popstr(m)); i++) {
            if (strcmp(kind, "AGENT") != 0 || i < 3)
                o += (size_t) snprintf(out + o, sizeof out - o, "|%s", f);
            free(f);
        }
    }
    free(kind);
    zmsg_destroy(&m);
    printf("engine got: %s\n", out);
    return strdup(out);
}

static void s_expect_engine(fx_t *fx, const char *want)
{
    char *got = s_engine_next(fx, WAIT_MS);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static bool s_metric_has(fx_t *fx, const char *line)
{
    char *text = metrics_render(fx->ctx.metrics);
    bool ok = text && strstr(text, line);
    if (!ok)
        fprintf(stderr, "metric line not found: %s\n--- /metrics ---\n%s\n", line,
                text ? text : "(null)");
    free(text);
    return ok;
}

/* Waits (bounded) until /metrics holds line. */
static bool s_metric_wait(fx_t *fx, const char *line)
{
    sd_ms_t deadline = sd_mono_ms() + WAIT_MS;
    for (;;) {
        char *text = metrics_render(fx->ctx.metrics);
        bool ok = text && strstr(text, line);
        free(text);
        if (ok)
            return true;
        if (sd_mono_ms() > deadline)
            return s_metric_has(fx, line);
        zclock_sleep(10);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_hello_batch_replay(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    uint64_t v = s_handshake(d, "a1", "eu", 0);
    printf("assignment version %" PRIu64 "\n", v);
    assert_true(v <= (uint64_t) sd_wall_ms());
    s_expect_engine(fx, "AGENT|a1|eu|UP");
    assert_int_equal(s_count(fx, "SELECT count(*) FROM agents WHERE id = 'a1' AND connected"),
                     1);

    s_batch(d, 1, 3);
    s_expect_ack(d, 3, false);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'a1'"), 3);
    /* no period in its Hello: the collector's */
    assert_int_equal(s_count(fx, "SELECT heartbeat_ms FROM agents WHERE id = 'a1'"), 1000);
    s_expect_engine(fx, "RESULTS|a1|eu|1,2,3");
    /* the latest result's details, as blackbox_exporter names them */
    assert_true(s_metric_has(fx, "statusd_probe_phase_duration_seconds{asset=\"web\",agent=\"a1\","
                                 "region=\"eu\",phase=\"connect\"} 0.0015\n"));
    assert_true(s_metric_has(fx, "statusd_probe_phase_duration_seconds{asset=\"web\",agent=\"a1\","
                                 "region=\"eu\",phase=\"processing\"} 0.2485\n"));
    assert_true(s_metric_has(fx, "statusd_probe_phase_duration_seconds{asset=\"web\",agent=\"a1\","
                                 "region=\"eu\",phase=\"a_long_phase_name_x\"} 0.0005\n"));
    assert_true(s_metric_has(fx, "statusd_probe_cert_expiry_timestamp_seconds{asset=\"web\","
                                 "agent=\"a1\",region=\"eu\"} 1900000000\n"));
    assert_true(s_metric_has(fx, "statusd_probe_http_status_code{asset=\"web\",agent=\"a1\","
                                 "region=\"eu\"} 503\n"));
    char *text = metrics_render(fx->ctx.metrics);
    assert_null(strstr(text, "statusd_probe_dns_rcode")); /* an http asset has no rcode */
    free(text);

    /* replay: acked again, not stored twice, not forwarded */
    s_batch(d, 1, 3);
    s_expect_ack(d, 3, false);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'a1'"), 3);
    /* overlap: only 4 and 5 are new; the engine's next message proves nothing came between */
    s_batch(d, 3, 5);
    s_expect_ack(d, 5, false);
    s_expect_engine(fx, "RESULTS|a1|eu|4,5");
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'a1'"), 5);
    assert_int_equal(s_count(fx, "SELECT last_seq FROM agents WHERE id = 'a1'"), 5);

    /* heartbeat echo */
    s_heartbeat(d, 123456);
    Statusd__Envelope *env = s_recv_env(d, WAIT_MS);
    assert_non_null(env);
    assert_int_equal(env->body_case, STATUSD__ENVELOPE__BODY_HEARTBEAT);
    assert_int_equal(env->heartbeat->echo_sent_at_ms, 123456);
    assert_int_equal(env->heartbeat->assignment_version, v);
    assert_true(llabs(env->heartbeat->sent_at_ms - sd_wall_ms()) < 5000);
    statusd__envelope__free_unpacked(env, NULL);

    assert_true(s_metric_has(fx, "statusd_results_received_total{agent=\"a1\",region=\"eu\"} 5"));
    assert_true(s_metric_has(fx, "statusd_results_duplicate_total{agent=\"a1\",region=\"eu\"} 4"));
    assert_true(s_metric_has(fx, "statusd_probe_success{asset=\"web\",agent=\"a1\",region=\"eu\"} 0"));
    assert_true(s_metric_has(fx, "statusd_probe_duration_seconds{asset=\"web\",agent=\"a1\",region=\"eu\"} 0.25"));
    assert_true(s_metric_has(fx, "statusd_agents_connected 1"));

    /* a reconnect from a new routing id replaces the old one and learns the hwm */
    zsock_t *d2 = s_dealer(fx);
    s_handshake(d2, "a1", "eu", 5);
    s_expect_engine(fx, "AGENT|a1|eu|UP");
    /* the old connection is unknown now: its batch is dropped and answered only with
     * Heartbeat{hello_required}; the new one's heartbeat gets the ordinary echo */
    s_batch(d, 6, 6);
    s_heartbeat(d2, 1);
    env = s_recv_env(d2, WAIT_MS);
    assert_non_null(env);
    assert_int_equal(env->body_case, STATUSD__ENVELOPE__BODY_HEARTBEAT);
    statusd__envelope__free_unpacked(env, NULL);
    assert_true(s_metric_has(fx, "statusd_wire_unknown_peer_total{message=\"result_batch\"} 1"));
    env = s_recv_env(d, WAIT_MS);
    assert_non_null(env);
    assert_int_equal(env->body_case, STATUSD__ENVELOPE__BODY_HEARTBEAT);
    assert_true(env->heartbeat->hello_required);
    statusd__envelope__free_unpacked(env, NULL);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE seq = 6"), 0);
    zsock_destroy(&d);

    /* silence: after 3 heartbeat periods the agent is gone */
    sd_ms_t t0 = sd_mono_ms();
    char *down = s_engine_next(fx, 4 * fx->ctx.heartbeat_ms + WAIT_MS);
    sd_ms_t silent = sd_mono_ms() - t0;
    printf("agent declared down after %" PRId64 " ms of silence (heartbeat %d ms)\n", silent,
           fx->ctx.heartbeat_ms);
    assert_non_null(down);
    assert_string_equal(down, "AGENT|a1|eu|DOWN");
    free(down);
    /* not before 3 heartbeat periods (less what passed since the last heartbeat answer) */
    assert_true(silent >= 3 * fx->ctx.heartbeat_ms - 200);
    sd_ms_t deadline = sd_mono_ms() + WAIT_MS;
    while (s_count(fx, "SELECT count(*) FROM agents WHERE id = 'a1' AND connected") != 0 &&
           sd_mono_ms() < deadline)
        zclock_sleep(20);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM agents WHERE id = 'a1' AND connected"),
                     0);
    assert_true(s_metric_has(fx, "statusd_agents_connected 0"));
    /* once gone, its batches are unknown until it says Hello again: it is asked to */
    s_batch(d2, 6, 6);
    env = s_recv_env(d2, WAIT_MS);
    assert_non_null(env);
    assert_true(env->body_case == STATUSD__ENVELOPE__BODY_HEARTBEAT &&
                env->heartbeat->hello_required);
    statusd__envelope__free_unpacked(env, NULL);
    s_hello(d2, "a1", "eu");
    s_expect_ack(d2, 5, true);
    zsock_destroy(&d2);
}

/* Text from an agent is repaired where it is stored and exported: the reason of the issue
 * (59 x 'a' then 0xC3 and a quote) and an 8 KB one reach probe_events as valid one-line
 * UTF-8 within STORE_RESULTS_REASON_MAX bytes; a phase name too long for a label (the
 * gateway already refused one that is not UTF-8: test_malformed_dropped) is no metric label
 * (counted), the valid ones still are; the batch is acked and forwarded. */
static void test_agent_text_repaired(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "a1", "eu", 0);
    s_expect_engine(fx, "AGENT|a1|eu|UP");
    char issue[100], *huge = malloc(8001);
    assert_non_null(huge);
    snprintf(issue, sizeof issue, "body does not contain \"%.59s\xC3\"",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    for (int i = 0; i < 4000; i++)
        memcpy(huge + 2 * i, i == 7 ? "\r\n" : "\xC3\xA9", 2);
    huge[8000] = 0;
    Statusd__Phase ph[3] = {
        {PROTOBUF_C_MESSAGE_INIT(&statusd__phase__descriptor), "connect", 1500},
        {PROTOBUF_C_MESSAGE_INIT(&statusd__phase__descriptor), "tls", 700},
        {PROTOBUF_C_MESSAGE_INIT(&statusd__phase__descriptor),
         "a_phase_name_longer_than_32_bytes_x", 900}};
    Statusd__Phase *pp[3] = {&ph[0], &ph[1], &ph[2]};
    Statusd__ProbeResult r[2], *rp[2] = {&r[0], &r[1]};
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    for (int i = 0; i < 2; i++) {
        statusd__probe_result__init(&r[i]);
        r[i].seq = (uint64_t) i + 1;
        r[i].asset_id = "web";
        r[i].started_at_ms = sd_wall_ms();
        r[i].reason = i ? huge : issue;
        r[i].n_phases = 3;
        r[i].phases = pp;
    }
    b.n_results = 2;
    b.results = rp;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &b;
    s_send_env(d, &env);
    s_expect_ack(d, 2, false);
    s_expect_engine(fx, "RESULTS|a1|eu|1,2");
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE seq = 1 AND message ="
                                 " 'body does not contain \"' || repeat('a', 59) ||"
                                 " U&'\\FFFD\"'"),
                     1);
    long len = s_count(fx, "SELECT octet_length(message) FROM probe_events WHERE seq = 2");
    printf("8000-byte reason stored as %ld bytes\n", len);
    assert_true(len > 1000 && len <= 1024);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE seq = 2 AND"
                                 " message LIKE U&'\\00E9\\00E9\\00E9\\00E9\\00E9\\00E9\\00E9  %'"
                                 " AND message LIKE U&'%\\2026'"),
                     1);
    assert_true(s_metric_wait(fx, "statusd_ingest_phase_labels_refused_total{agent=\"a1\"} 2\n"));
    assert_true(s_metric_has(fx, "statusd_probe_phase_duration_seconds{asset=\"web\",agent=\"a1\","
                                 "region=\"eu\",phase=\"connect\"} 0.0015\n"));
    char *text = metrics_render(fx->ctx.metrics);
    assert_null(strstr(text, "longer_than"));
    free(text);
    free(huge);
    zsock_destroy(&d);
}

/* One result (seq) for asset with one phase called phase: strings an agent must not send. */
static void s_batch_strings(zsock_t *d, uint64_t seq, const char *asset, const char *phase)
{
    Statusd__Phase ph = STATUSD__PHASE__INIT, *php = &ph;
    ph.name = (char *) phase;
    Statusd__ProbeResult r = STATUSD__PROBE_RESULT__INIT, *rp = &r;
    r.seq = seq;
    r.asset_id = (char *) asset;
    r.started_at_ms = sd_wall_ms();
    r.n_phases = 1;
    r.phases = &php;
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    b.n_results = 1;
    b.results = &rp;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &b;
    s_send_env(d, &env);
}

static void test_malformed_dropped(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "m1", "ap", 0);
    s_expect_engine(fx, "AGENT|m1|ap|UP");

    /* not protobuf */
    zstr_send(d, "\xff\xff\xff\xff garbage");
    /* two frames */
    zstr_sendm(d, "a");
    zstr_send(d, "b");
    /* a valid but empty envelope (no oneof) */
    zframe_t *empty = zframe_new(NULL, 0);
    zframe_send(&empty, d, 0);
    /* an Ack is not something an agent sends */
    Statusd__Ack ack = STATUSD__ACK__INIT;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    s_send_env(d, &env);
    /* Hello with an empty agent id */
    s_hello(d, "", "ap");
    /* a batch whose payload is truncated protobuf inside a valid first byte */
    const uint8_t trunc[] = {0x1a, 0x20, 0x0a};
    zframe_t *tf = zframe_new(trunc, sizeof trunc);
    zframe_send(&tf, d, 0);
    /* results whose asset id or phase name is not UTF-8: never stored or exported */
    s_batch_strings(d, 1, "we\xff" "b", "dns");
    s_batch_strings(d, 1, "web", "dns\xc3\x28");

    /* the gateway keeps working: a heartbeat and a batch are answered */
    s_heartbeat(d, 77);
    Statusd__Envelope *e = s_recv_env(d, WAIT_MS);
    assert_non_null(e);
    assert_int_equal(e->body_case, STATUSD__ENVELOPE__BODY_HEARTBEAT);
    assert_int_equal(e->heartbeat->echo_sent_at_ms, 77);
    statusd__envelope__free_unpacked(e, NULL);
    s_batch(d, 1, 2);
    s_expect_ack(d, 2, false);
    assert_true(s_metric_has(fx, "statusd_wire_malformed_total{component=\"gateway\"} 8"));
    long other = s_count(fx, "SELECT count(*) FROM probe_events WHERE asset_id <> 'web'"
                             " OR phases::text LIKE '%dns%'");
    printf("  rows from the dropped batches: %ld\n", other);
    assert_int_equal(other, 0);

    /* ingest drops a malformed BATCH on the bus and counts it */
    zsock_t *push = zsock_new_push(">" BUS_INGEST);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "BATCH");
    zmsg_addstr(m, "m1");
    zmsg_addstr(m, "ap");
    zmsg_addmem(m, "\xff\xff", 2);
    zmsg_send(&m, push);
    assert_true(s_metric_wait(fx, "statusd_wire_malformed_total{component=\"ingest\"} 1"));
    zsock_destroy(&push);
    /* and still stores */
    s_batch(d, 3, 3);
    s_expect_ack(d, 3, false);
    zsock_destroy(&d);
}

/* A connection that never said Hello (an agent of the collector before its restart) gets
 * nothing stored and one answer per message: Heartbeat{hello_required}, so it says Hello at
 * once instead of after three silent heartbeat periods. */
static void test_unknown_peer_asked_for_hello(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    s_batch(d, 1, 1);
    s_heartbeat(d, 5);
    for (int i = 0; i < 2; i++) {
        Statusd__Envelope *e = s_recv_env(d, WAIT_MS);
        assert_non_null(e);
        assert_int_equal(e->body_case, STATUSD__ENVELOPE__BODY_HEARTBEAT);
        assert_true(e->heartbeat->hello_required);
        statusd__envelope__free_unpacked(e, NULL);
    }
    s_handshake(d, "u1", "eu", 0);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'u1'"), 0);
    assert_true(s_metric_has(fx, "statusd_wire_unknown_peer_total{message=\"heartbeat\"} 1"));
    zsock_destroy(&d);
}

/* The database drops ingest's connection: the batch is not acked (the agent resends after
 * its ack timeout), ingest reconnects, the resent batch is stored once. */
static void test_db_failure_no_ack(void **state)
{
    fx_t *fx = *state;
    s_hello_heartbeat_ms = 0; /* silent after 3 of the collector's heartbeats */
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "f1", "eu", 0);
    s_expect_engine(fx, "AGENT|f1|eu|UP");
    long killed = s_count(fx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    printf("terminated %ld backend(s) of ingest\n", killed);
    assert_int_equal(killed, 1);
    s_batch(d, 1, 2);
    /* absence of an answer, over a bounded window well above a normal ack (~ms) */
    Statusd__Envelope *e = s_recv_env(d, 500);
    if (e)
        fprintf(stderr, "unexpected answer body %d\n", e->body_case);
    assert_null(e);
    assert_true(s_metric_wait(fx, "statusd_store_errors_total{component=\"ingest\"} 1"));
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'f1'"), 0);
    /* the agent resends; ingest has reconnected */
    s_batch(d, 1, 2);
    s_expect_ack(d, 2, false);
    s_batch(d, 1, 2);
    s_expect_ack(d, 2, false);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'f1'"), 2);
    zsock_destroy(&d);
}

/* A batch fails, the agent's next batch (pipelined behind it) arrives once the database is
 * back: it must not be stored or acked, or its Ack ("everything through 4 is stored") would
 * make the agent forget 1..2 and last_seq 4 would reject them as duplicates. After the
 * agent's resend from its first unacked result both are stored, once. */
static void test_db_failure_later_batch_held(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "g1", "eu", 0);
    s_expect_engine(fx, "AGENT|g1|eu|UP");
    /* ingest's session; the setup's migration session may still be listed while it exits */
    long killed = s_count(fx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    assert_true(killed >= 1);
    s_batch(d, 1, 2);
    assert_true(s_metric_wait(fx, "statusd_store_errors_total{component=\"ingest\"} 1"));
    s_batch(d, 3, 4); /* ingest has reconnected: this one would commit */
    Statusd__Envelope *e = s_recv_env(d, 500);
    if (e)
        fprintf(stderr, "unexpected answer body %d through %" PRIu64 "\n", e->body_case,
                e->body_case == STATUSD__ENVELOPE__BODY_ACK ? e->ack->through_seq : 0);
    assert_null(e);
    assert_true(s_metric_wait(fx, "statusd_batches_held_back_total{agent=\"g1\"} 1"));
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'g1'"), 0);
    /* the agent's ack timeout: it starts over from seq 1 */
    s_batch(d, 1, 2);
    s_expect_ack(d, 2, false);
    s_batch(d, 3, 4);
    s_expect_ack(d, 4, false);
    s_expect_engine(fx, "RESULTS|g1|eu|1,2");
    s_expect_engine(fx, "RESULTS|g1|eu|3,4");
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'g1'"), 4);
    assert_int_equal(s_count(fx, "SELECT last_seq FROM agents WHERE id = 'g1'"), 4);
    zsock_destroy(&d);
}

/* A batch lost between agent and store (3..4, e.g. dropped by a full queue): the next one
 * (5..6) does not continue the stream and must not be acked, or 3..4 would be forgotten by
 * the agent and rejected as duplicates by last_seq 6. After the resend all are stored. */
static void test_gap_in_stream_held(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "p1", "eu", 0);
    s_expect_engine(fx, "AGENT|p1|eu|UP");
    s_batch(d, 1, 2);
    s_expect_ack(d, 2, false);
    s_batch(d, 5, 6);
    Statusd__Envelope *e = s_recv_env(d, 500);
    if (e)
        fprintf(stderr, "unexpected answer body %d through %" PRIu64 "\n", e->body_case,
                e->body_case == STATUSD__ENVELOPE__BODY_ACK ? e->ack->through_seq : 0);
    assert_null(e);
    assert_true(s_metric_wait(fx, "statusd_batch_gaps_total{agent=\"p1\"} 1"));
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'p1'"), 2);
    /* the agent's ack timeout: it resends from its first unacked result */
    s_batch(d, 3, 4);
    s_expect_ack(d, 4, false);
    s_batch(d, 5, 6);
    s_expect_ack(d, 6, false);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'p1'"), 6);
    /* a new connection starts a new stream: its first batch may start anywhere */
    zsock_destroy(&d);
    d = s_dealer(fx);
    s_handshake(d, "p1", "eu", 6);
    s_batch(d, 9, 10);
    s_expect_ack(d, 10, false);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'p1'"), 8);
    /* the agent dropped 11..12 unsent (its queue was full) and sends 13..14 twice: the copy
     * starts over from its first unacked result, so it is stored without an ack timeout */
    s_batch(d, 13, 14);
    s_batch(d, 13, 14);
    s_expect_ack(d, 14, false);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'p1'"),
                     10);
    zsock_destroy(&d);
}

static size_t s_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        p[n++] = (uint8_t) (v | 0x80);
    p[n++] = (uint8_t) v;
    return n;
}

/* ResultBatch.results entry for asset "web" numbered seq, its fields in an order protobuf-c
 * never packs (it writes them by field number): asset_id, started_at_ms, seq, success,
 * latency_us. Appended at p; returns the bytes written. */
static size_t s_put_raw_result(uint8_t *p, uint64_t seq)
{
    uint8_t r[64];
    size_t n = 0;
    r[n++] = 0x12; /* asset_id */
    r[n++] = 3;
    memcpy(r + n, "web", 3);
    n += 3;
    r[n++] = 0x18; /* started_at_ms */
    n += s_put_varint(r + n, (uint64_t) sd_wall_ms());
    r[n++] = 0x08; /* seq */
    n += s_put_varint(r + n, seq);
    r[n++] = 0x20; /* success */
    r[n++] = 1;
    r[n++] = 0x28; /* latency_us */
    n += s_put_varint(r + n, 1234);
    size_t o = 0;
    p[o++] = 0x0a; /* ResultBatch.results */
    o += s_put_varint(p + o, n);
    memcpy(p + o, r, n);
    return o + n;
}

/* Sends an Envelope holding the ResultBatch batch (blen bytes) as it is. */
static void s_send_raw_batch(zsock_t *d, const uint8_t *batch, size_t blen)
{
    uint8_t frame[512];
    size_t o = 0;
    frame[o++] = 0x1a; /* Envelope.result_batch */
    o += s_put_varint(frame + o, blen);
    assert_true(o + blen <= sizeof frame);
    memcpy(frame + o, batch, blen);
    zframe_t *f = zframe_new(frame, o + blen);
    assert_int_equal(zframe_send(&f, d, 0), 0);
}

/* The payload frame of the engine's next RESULTS message (SKEW skipped); NULL when none
 * comes within WAIT_MS or another message comes first. */
static zframe_t *s_engine_payload(fx_t *fx)
{
    sd_ms_t deadline = sd_mono_ms() + WAIT_MS;
    for (;;) {
        zpoller_t *p = zpoller_new(fx->engine_standin, NULL);
        sd_ms_t left = deadline - sd_mono_ms();
        void *which = zpoller_wait(p, left > 0 ? (int) left : 0);
        zpoller_destroy(&p);
        if (!which)
            return NULL;
        zmsg_t *m = zmsg_recv(fx->engine_standin);
        char *kind = zmsg_popstr(m);
        zframe_t *payload = NULL;
        bool skew = kind && strcmp(kind, "SKEW") == 0;
        if (kind && strcmp(kind, "RESULTS") == 0) {
            free(zmsg_popstr(m));
            free(zmsg_popstr(m));
            payload = zmsg_pop(m);
        } else if (!skew) {
            fprintf(stderr, "expected RESULTS, got %s\n", kind ? kind : "(nothing)");
        }
        free(kind);
        zmsg_destroy(&m);
        if (!skew)
            return payload;
    }
}

/* A batch travels gateway -> ingest -> engine as the bytes the agent sent: its results are
 * written in an order protobuf-c never packs, so a batch decoded and packed again on the way
 * would arrive different. A batch whose results are all new but not in seq order reaches
 * the engine re-encoded in seq order (as stored), and a replay's new part alone. */
static void test_batch_bytes_forwarded_unchanged(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "r1", "eu", 0);
    s_expect_engine(fx, "AGENT|r1|eu|UP");

    uint8_t batch[256];
    size_t blen = s_put_raw_result(batch, 1);
    blen += s_put_raw_result(batch + blen, 2);
    s_send_raw_batch(d, batch, blen);
    s_expect_ack(d, 2, false);
    zframe_t *got = s_engine_payload(fx);
    assert_non_null(got);
    /* what packing the batch again would give: not the agent's bytes */
    Statusd__ResultBatch *b = statusd__result_batch__unpack(NULL, blen, batch);
    assert_non_null(b);
    uint8_t repacked[256];
    size_t rlen = statusd__result_batch__pack(b, repacked);
    statusd__result_batch__free_unpacked(b, NULL);
    printf("sent %zu batch bytes; engine got %zu, %s; packed again they would be %zu, %s\n",
           blen, zframe_size(got),
           zframe_size(got) == blen && memcmp(zframe_data(got), batch, blen) == 0 ? "identical"
                                                                                : "different",
           rlen, rlen == blen && memcmp(repacked, batch, blen) == 0 ? "identical" : "different");
    assert_false(rlen == blen && memcmp(repacked, batch, blen) == 0);
    assert_int_equal(zframe_size(got), blen);
    assert_memory_equal(zframe_data(got), batch, blen);
    zframe_destroy(&got);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'r1'"), 2);

    /* all new, in the wrong order: stored in seq order, forwarded re-encoded in that order */
    blen = s_put_raw_result(batch, 4);
    blen += s_put_raw_result(batch + blen, 3);
    s_send_raw_batch(d, batch, blen);
    s_expect_ack(d, 4, false);
    s_expect_engine(fx, "RESULTS|r1|eu|3,4");

    /* a replay with one new result: that one alone */
    blen = s_put_raw_result(batch, 4);
    blen += s_put_raw_result(batch + blen, 5);
    s_send_raw_batch(d, batch, blen);
    s_expect_ack(d, 5, false);
    s_expect_engine(fx, "RESULTS|r1|eu|5");
    zsock_destroy(&d);
}

/* A batch the gateway cannot hand to ingest (its queue full or gone) is lost before storage:
 * the gateway must not let a later batch of that connection through (its Ack would cover the
 * lost one), and must make the agent reconnect and resend: it ignores the connection's
 * batches and stops answering its heartbeats until the agent says Hello again. */
static void test_batch_lost_before_ingest_forces_resync(void **state)
{
    fx_t *fx = *state;
    /* stopping the ingest actor can take seconds: announce a slow heartbeat so the gateway
     * does not judge this agent silent meanwhile */
    s_hello_heartbeat_ms = 60000;
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "r1", "eu", 0);
    s_expect_engine(fx, "AGENT|r1|eu|UP");
    s_batch(d, 1, 2);
    s_expect_ack(d, 2, false);
    /* the period its silence is judged by is stored for the engine's restarts */
    assert_int_equal(s_count(fx, "SELECT heartbeat_ms FROM agents WHERE id = 'r1'"), 60000);
    /* nobody receives BUS_INGEST any more; the gateway's socket learns it asynchronously
     * (until then a send vanishes in the dying pipe): send until a drop is seen */
    zactor_destroy(&fx->ingest);
    uint64_t seq = 3;
    bool dropped = false;
    for (sd_ms_t deadline = sd_mono_ms() + WAIT_MS; !dropped && sd_mono_ms() < deadline;) {
        s_batch(d, seq, seq + 1);
        seq += 2;
        zclock_sleep(20); /* pacing while polling a counter, not synchronisation */
        char *text = metrics_render(fx->ctx.metrics);
        dropped = text && strstr(text, "statusd_bus_dropped_total{from=\"gateway\",to=\"ingest\",reason=\"full\"}");
        free(text);
    }
    printf("first batch dropped before ingest: seq %" PRIu64 "\n", seq - 2);
    assert_true(dropped);
    s_batch(d, seq, seq + 1);
    assert_true(s_metric_wait(fx, "statusd_batches_resync_dropped_total 1"));
    /* silence: the agent's own liveness check will reconnect it */
    s_heartbeat(d, 42);
    Statusd__Envelope *e = s_recv_env(d, 500);
    if (e)
        fprintf(stderr, "unexpected answer body %d\n", e->body_case);
    assert_null(e);
    /* a new connection's Hello clears the state: its heartbeats are answered again */
    zsock_t *d2 = s_dealer(fx);
    s_hello(d2, "r1", "eu");
    s_heartbeat(d2, 43);
    bool echoed = false;
    for (int i = 0; i < 4 && !echoed; i++) {
        Statusd__Envelope *x = s_recv_env(d2, WAIT_MS);
        if (!x)
            break;
        echoed = x->body_case == STATUSD__ENVELOPE__BODY_HEARTBEAT &&
                 x->heartbeat->echo_sent_at_ms == 43;
        statusd__envelope__free_unpacked(x, NULL);
    }
    assert_true(echoed);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'r1'"), 2);
    s_hello_heartbeat_ms = 0;
    zsock_destroy(&d2);
    zsock_destroy(&d);
}

/* Ingest forgets an agent gone for good: disconnected (GONE) for the forget period (here
 * 1.5 s), its cached gauges and every series labelled with it are freed and counted; an
 * agent still connected keeps its series. The agents row stays, so the forgotten agent,
 * back, learns its high-water mark and nothing is stored twice. */
static void test_agent_gone_for_good_forgotten(void **state)
{
    fx_t *fx = *state;
    s_hello_heartbeat_ms = 0; /* silent after 3 of the collector's heartbeats */
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "f1", "eu", 0);
    s_expect_engine(fx, "AGENT|f1|eu|UP");
    s_batch(d, 1, 2);
    s_expect_ack(d, 2, false);
    zsock_t *k = s_dealer(fx);
    s_handshake(k, "k1", "eu", 0);
    s_batch(k, 1, 1);
    s_expect_ack(k, 1, false);
    assert_true(s_metric_has(fx, "statusd_probe_success{asset=\"web\",agent=\"f1\",region=\"eu\"} 0"));
    assert_true(s_metric_has(fx, "statusd_results_received_total{agent=\"f1\",region=\"eu\"} 2"));
    /* f1 falls silent: the gateway's GONE after 3 heartbeat periods, then the period */
    zsock_destroy(&d);
    sd_ms_t t0 = sd_mono_ms();
    bool forgotten = false;
    while (!forgotten && sd_mono_ms() - t0 < 15000) {
        s_heartbeat(k, sd_wall_ms()); /* k1 stays connected */
        Statusd__Envelope *e = s_recv_env(k, 300);
        if (e)
            statusd__envelope__free_unpacked(e, NULL);
        char *text = metrics_render(fx->ctx.metrics);
        forgotten = text && strstr(text, "statusd_agents_forgotten_total{actor=\"ingest\","
                                         "reason=\"gone\"} 1\n");
        free(text);
    }
    sd_ms_t took = sd_mono_ms() - t0;
    printf("f1 forgotten by ingest %lld ms after it fell silent (3 heartbeats of %d ms, then "
           "1500 ms)\n", (long long) took, fx->ctx.heartbeat_ms);
    assert_true(forgotten);
    assert_true(took >= 3 * fx->ctx.heartbeat_ms + 1500 - 300);
    char *text = metrics_render(fx->ctx.metrics);
    assert_non_null(text);
    const char *left = strstr(text, "agent=\"f1\"");
    if (left)
        fprintf(stderr, "series of f1 left: %.200s\n", left);
    assert_null(left);
    free(text);
    assert_true(s_metric_has(fx, "statusd_probe_success{asset=\"web\",agent=\"k1\",region=\"eu\"} 0"));
    assert_true(s_metric_has(fx, "statusd_results_received_total{agent=\"k1\",region=\"eu\"} 1"));
    /* back: the row kept its high-water mark */
    assert_int_equal(s_count(fx, "SELECT last_seq FROM agents WHERE id = 'f1'"), 2);
    d = s_dealer(fx);
    s_handshake(d, "f1", "eu", 2);
    s_batch(d, 2, 3);
    s_expect_ack(d, 3, false);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'f1'"), 3);
    assert_true(s_metric_wait(fx, "statusd_results_received_total{agent=\"f1\",region=\"eu\"} 1"));
    zsock_destroy(&d);
    zsock_destroy(&k);
}

static int setup_forget(void **state)
{
    s_forget_ms = 1500;
    int rc = setup(state);
    s_forget_ms = 0;
    return rc;
}

/* ingest's queue with a byte budget smaller than a batch of 8 results (bus.h) */
static int setup_small_budget(void **state)
{
    assert_int_equal(bus_set_budget(BUS_INGEST, 512), 0);
    return setup(state);
}

static int teardown_budget(void **state)
{
    int rc = teardown(state);
    assert_int_equal(bus_set_budget(BUS_INGEST, BUS_BYTES_DEFAULT), 0);
    return rc;
}

/* A batch whose bytes would take ingest's queue past its byte budget is lost before
 * storage like one the queue has no room for: counted (reason "bytes"), and the gateway
 * ignores the connection until the agent reconnects and resends. */
static void test_batch_over_byte_budget_forces_resync(void **state)
{
    fx_t *fx = *state;
    s_hello_heartbeat_ms = 60000; /* no silence verdict while the test waits */
    zsock_t *d = s_dealer(fx);
    s_handshake(d, "b1", "eu", 0); /* a Hello is small: it fits */
    s_expect_engine(fx, "AGENT|b1|eu|UP");
    s_batch(d, 1, 1);
    s_expect_ack(d, 1, false);
    s_batch(d, 2, 9); /* about 800 bytes */
    assert_true(s_metric_wait(
        fx, "statusd_bus_dropped_total{from=\"gateway\",to=\"ingest\",reason=\"bytes\"} 1"));
    s_batch(d, 10, 10); /* it would fit, but it must not be acked past the lost one */
    assert_true(s_metric_wait(fx, "statusd_batches_resync_dropped_total 1"));
    s_heartbeat(d, 42);
    Statusd__Envelope *e = s_recv_env(d, 500);
    assert_null(e);
    printf("bytes queued towards ingest: %zu of %zu\n", bus_queued_bytes(BUS_INGEST),
           bus_budget(BUS_INGEST));
    assert_true(bus_queued_bytes(BUS_INGEST) <= 512);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'b1'"), 1);
    /* a new connection resends what is unacked, in batches that fit */
    zsock_t *d2 = s_dealer(fx);
    s_handshake(d2, "b1", "eu", 1);
    for (uint64_t q = 2; q <= 10; q++) {
        s_batch(d2, q, q);
        s_expect_ack(d2, q, false);
    }
    assert_int_equal(s_count(fx, "SELECT count(*) FROM probe_events WHERE agent_id = 'b1'"), 10);
    s_hello_heartbeat_ms = 0;
    zsock_destroy(&d2);
    zsock_destroy(&d);
}

int main(void)
{
    zsys_init();
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hello_batch_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_text_repaired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_peer_asked_for_hello, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_failure_no_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_failure_later_batch_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_in_stream_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_bytes_forwarded_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_lost_before_ingest_forces_resync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_gone_for_good_forgotten, setup_forget,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_over_byte_budget_forces_resync,
                                        setup_small_budget, teardown_budget),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
