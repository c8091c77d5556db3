/* Clock skew and agent liveness over the real gateway, ingest and engine actors on a real
 * tcp port and a real PostgreSQL: a fake agent whose clock is 5 minutes fast says Hello and
 * heartbeats; the estimate reaches agents.clock_skew_ms and
 * statusd_agent_clock_skew_seconds; the agent is not declared down while it heartbeats
 * (its clock is not judged), and once it falls silent for 3 heartbeat periods exactly one
 * AGENT_DOWN row per onDown channel is queued. */
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
#define SKEW_MS (5 * 60 * 1000)

#define GATEWAY_FIXTURE_DB_PREFIX "gwskew"
#define GATEWAY_FIXTURE_HEARTBEAT_MS 1000
#include "gateway_fixture.h"

static void s_configure(fx_t *fx)
{
    fx->assets[0] = (sd_asset_t){.id = "web", .asset_type = "http", .name = "Web",
                                 .address = "https://example.com", .interval_seconds = 60,
                                 .timeout_seconds = 5};
    fx->manifest = (sd_manifest_t){.assets = fx->assets, .n_assets = 1};
    fx->nc = (sd_notifier_conf_t){.name = "slack-ops", .type = "slack",
                                  .webhook_url = "http://127.0.0.1:9/x"};
    fx->chans[0] = "slack-ops";
    fx->notifiers = (sd_notifiers_t){.notifiers = &fx->nc, .n_notifiers = 1,
                                     .on_down = fx->chans, .n_on_down = 1,
                                     .on_recovery = fx->chans, .n_on_recovery = 1};
    fx->ctx.notifiers = &fx->notifiers;
}

static double s_metric(fx_t *fx, const char *series)
{
    char *text = metrics_render(fx->ctx.metrics), line[256];
    snprintf(line, sizeof line, "\n%s ", series);
    const char *p = text ? strstr(text, line) : NULL;
    double v = p ? atof(p + strlen(line)) : -1e18;
    free(text);
    return v;
}

static void test_skewed_agent(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = s_dealer(fx);
    s_hello_at(d, "fast-1", "eu", 0, sd_wall_ms() + SKEW_MS);
    /* heartbeat (clock 5 min fast) every 200 ms for 4 s: more than 3 heartbeat periods */
    sd_ms_t t0 = sd_mono_ms();
    long skew = 0;
    int echoes = 0;
    while (sd_mono_ms() - t0 < 4000) {
        s_heartbeat(d, sd_wall_ms() + SKEW_MS);
        Statusd__Envelope *env;
        while ((env = s_recv_env(d, 200))) {
            echoes += env->body_case == STATUSD__ENVELOPE__BODY_HEARTBEAT;
            statusd__envelope__free_unpacked(env, NULL);
        }
    }
    skew = s_count(fx, "SELECT clock_skew_ms FROM agents WHERE id = 'fast-1'");
    double metric = s_metric(fx, "statusd_agent_clock_skew_seconds{agent=\"fast-1\"}");
    printf("estimated skew %ld ms (true %d ms, error %ld ms), metric %.3f s, %d echoes\n", skew,
           SKEW_MS, SKEW_MS - skew, metric, echoes);
    assert_true(echoes >= 10);
    assert_true(skew <= SKEW_MS && skew >= SKEW_MS - 100);
    assert_true(metric >= 299.9 && metric <= 300.0);
    /* heartbeating with a clock 5 minutes off: still up */
    assert_int_equal(s_count(fx, "SELECT count(*) FROM agents WHERE id = 'fast-1' AND connected"
                                 " AND liveness = 'up'"), 1);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM notifications"), 0);
    assert_int_equal(s_metric(fx, "statusd_agent_up{agent=\"fast-1\",region=\"eu\"}"), 1);
    /* silence: one AGENT_DOWN row for the one onDown channel */
    t0 = sd_mono_ms();
    long n = 0;
    while ((n = s_count(fx, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'")) < 1 &&
           sd_mono_ms() - t0 < 3000 + WAIT_MS)
        zclock_sleep(50);
    printf("AGENT_DOWN queued %" PRId64 " ms after the last heartbeat\n", sd_mono_ms() - t0);
    assert_int_equal(n, 1);
    assert_true(sd_mono_ms() - t0 >= 2500);
    assert_int_equal(s_metric(fx, "statusd_agent_up{agent=\"fast-1\",region=\"eu\"}"), 0);
    zsock_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_skewed_agent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
