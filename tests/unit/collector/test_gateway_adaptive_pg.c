/* Adaptive intervals end to end inside the collector: real gateway, ingest and engine actors,
 * a real database, and a DEALER in the test speaking the agent protocol. A failing result
 * makes the asset DEGRADED (quorum 2, one agent): the agent receives a new Assignment with
 * a higher version and the incident interval; a success makes it UP: another Assignment
 * with the normal interval. The staleness of the asset keeps the normal interval. */
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
#include "engine.h"
#include "gateway.h"
#include "ingest.h"
#include "metrics.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "test_pg.h"

#define WAIT_MS 5000

/* the test agents send no heartbeats */
#define GATEWAY_FIXTURE_DB_PREFIX "gwad"
#define GATEWAY_FIXTURE_HEARTBEAT_MS 5000
#include "gateway_fixture.h"

static void s_configure(fx_t *fx)
{
    fx->assets[0] = (sd_asset_t){.id = "web", .asset_type = "http", .name = "Web",
                                 .address = "https://example.com", .interval_seconds = 20,
                                 .timeout_seconds = 5, .incident_interval_seconds = 5,
                                 .quorum = 2, .failure_threshold = 1, .success_threshold = 1};
    fx->assets[1] = (sd_asset_t){.id = "dns", .asset_type = "dns", .name = "DNS",
                                 .address = "example.com", .interval_seconds = 30,
                                 .timeout_seconds = 2, .failure_threshold = 1,
                                 .success_threshold = 1};
    fx->manifest.assets = fx->assets;
    fx->manifest.n_assets = 2;
}

/* The next Assignment within wait_ms (Acks and Heartbeats skipped), or NULL. */
static Statusd__Envelope *s_next_assignment(zsock_t *d, int wait_ms)
{
    sd_ms_t deadline = sd_mono_ms() + wait_ms;
    zpoller_t *p = zpoller_new(d, NULL);
    Statusd__Envelope *env = NULL;
    while (!env && sd_mono_ms() < deadline) {
        if (!zpoller_wait(p, (int) (deadline - sd_mono_ms())))
            break;
        zframe_t *f = zframe_recv(d);
        env = f ? statusd__envelope__unpack(NULL, zframe_size(f), zframe_data(f)) : NULL;
        zframe_destroy(&f);
        if (env && env->body_case != STATUSD__ENVELOPE__BODY_ASSIGNMENT) {
            statusd__envelope__free_unpacked(env, NULL);
            env = NULL;
        }
    }
    zpoller_destroy(&p);
    return env;
}

static uint32_t s_interval(const Statusd__Envelope *env, const char *id)
{
    for (size_t i = 0; i < env->assignment->n_assets; i++)
        if (strcmp(env->assignment->assets[i]->id, id) == 0)
            return env->assignment->assets[i]->interval_ms;
    fail_msg("asset %s not in the assignment", id);
    return 0;
}

static void s_result(zsock_t *d, uint64_t seq, bool ok)
{
    Statusd__ProbeResult r = STATUSD__PROBE_RESULT__INIT, *rp[1] = {&r};
    r.seq = seq;
    r.asset_id = "web";
    r.started_at_ms = sd_wall_ms();
    r.success = ok;
    r.latency_us = 1000;
    r.status_code = ok ? 200 : 503;
    r.reason = ok ? "" : "status 503";
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    b.n_results = 1;
    b.results = rp;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_RESULT_BATCH;
    env.result_batch = &b;
    s_send_env(d, &env);
}

static void test_faster_while_degraded(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    int64_t hello_at = sd_wall_ms(); /* the reconnecting agent's Hello says the same */
    s_hello_at(d, "agent-eu", "eu", 0, hello_at);

    Statusd__Envelope *a = s_next_assignment(d, WAIT_MS);
    assert_non_null(a);
    uint64_t v0 = a->assignment->version;
    assert_int_equal(s_interval(a, "web"), 20000);
    assert_int_equal(s_interval(a, "dns"), 30000);
    statusd__envelope__free_unpacked(a, NULL);

    /* one failure of two needed: DEGRADED -> the incident interval */
    sd_ms_t t0 = sd_mono_ms();
    s_result(d, 1, false);
    a = s_next_assignment(d, WAIT_MS);
    assert_non_null(a);
    printf("faster assignment %lld ms after the failure: version %" PRIu64 " -> %" PRIu64 "\n",
           (long long) (sd_mono_ms() - t0), v0, a->assignment->version);
    assert_true(a->assignment->version > v0);
    assert_int_equal(s_interval(a, "web"), 5000);
    assert_int_equal(s_interval(a, "dns"), 30000); /* untouched */
    for (size_t i = 0; i < a->assignment->n_assets; i++)
        assert_true(a->assignment->assets[i]->phase_offset_ms <
                    a->assignment->assets[i]->interval_ms);
    uint64_t v1 = a->assignment->version;
    statusd__envelope__free_unpacked(a, NULL);

    /* a reconnecting agent gets the current (fast) plan right away */
    zsock_t *d2 = s_dealer(fx);
    s_hello_at(d2, "agent-eu-2", "eu", 0, hello_at);
    a = s_next_assignment(d2, WAIT_MS);
    assert_non_null(a);
    assert_int_equal(s_interval(a, "web"), 5000);
    statusd__envelope__free_unpacked(a, NULL);
    zsock_destroy(&d2);

    /* recovery: back to normal with a newer version */
    t0 = sd_mono_ms();
    s_result(d, 2, true);
    a = s_next_assignment(d, WAIT_MS);
    assert_non_null(a);
    printf("normal assignment %lld ms after the recovery: version %" PRIu64 "\n",
           (long long) (sd_mono_ms() - t0), a->assignment->version);
    assert_true(a->assignment->version > v1);
    assert_int_equal(s_interval(a, "web"), 20000);
    statusd__envelope__free_unpacked(a, NULL);
    /* nothing else is pushed while the state holds */
    s_result(d, 3, true);
    a = s_next_assignment(d, 1500);
    assert_null(a);
    zsock_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_faster_while_degraded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
