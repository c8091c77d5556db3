/* engine against a real PostgreSQL: RESULTS through BUS_ENGINE into a real engine actor.
 * One incident and one DOWN row per channel; recovery closes it with RECOVERY rows; a
 * restart during an open incident re-notifies nothing; outages/recoveries that happened
 * while the engine was down are caught up; throttling; malformed input is counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "engine.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "test_pg.h"

#define ENGINE_FIXTURE_DB_PREFIX "engine"
#include "engine_fixture.h"

/* Two agents fail twice each: DOWN with quorum 2/2. Returns the first failure's time. */
static int64_t s_outage(fx_t *f, int64_t t, bool send)
{
    s_result(f, ASSET, "a1", "eu", false, t, send);
    s_result(f, ASSET, "a2", "us", false, t + 200, send);
    s_result(f, ASSET, "a1", "eu", false, t + 1000, send);
    s_result(f, ASSET, "a2", "us", false, t + 1200, send);
    return t;
}

static void s_recover(fx_t *f, int64_t t, bool send)
{
    s_result(f, ASSET, "a1", "eu", true, t, send);
    s_result(f, ASSET, "a2", "us", true, t + 100, send);
}

static void test_incident_lifecycle_and_restart(void **state)
{
    fx_t *f = *state;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_result(f, ASSET, "a1", "eu", true, t0 - 1000, true);
    s_result(f, ASSET, "a2", "us", true, t0 - 1000, true);
    s_sync(f);
    assert_int_equal(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}"), 1);
    int64_t started = s_outage(f, t0, true);
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'",
                                2, 5000);
    print_message("DOWN rows queued %lld ms after the 4th failure\n", (long long) took);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);
    assert_int_equal(s_count(f, "SELECT count(DISTINCT channel) FROM notifications"), 2);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM incidents WHERE ended_at IS NULL AND"
             " (extract(epoch FROM started_at) * 1000)::bigint = %lld",
             (long long) started);
    long got = s_count(f, "SELECT (extract(epoch FROM started_at) * 1000)::bigint FROM incidents");
    print_message("incident started_at %ld, first failure %lld\n", got, (long long) started);
    assert_int_equal(s_count(f, q), 1); /* earliest first failure among DOWN voters */
    PGresult *r = s_sql(f, "SELECT summary, jsonb_array_length(details), details::text"
                           " FROM incidents");
    print_message("summary: %s\ndetails: %s\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2));
    assert_string_equal(PQgetvalue(r, 0, 0),
                        ASSET " is DOWN from 2 of 2 locations (2/2 agents fail): status 503 not"
                              " in [200]");
    assert_string_equal(PQgetvalue(r, 0, 1), "2");
    PQclear(r);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'opened'"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE state = 'DOWN'"), 1);
    r = s_sql(f, "SELECT payload->>'event', payload->>'asset_id', payload->>'reason',"
                 " (payload->>'incident_id')::bigint = incident_id FROM notifications LIMIT 1");
    assert_string_equal(PQgetvalue(r, 0, 0), "DOWN");
    assert_string_equal(PQgetvalue(r, 0, 1), ASSET);
    assert_string_equal(PQgetvalue(r, 0, 2), "status 503 not in [200]");
    assert_string_equal(PQgetvalue(r, 0, 3), "t");
    PQclear(r);
    assert_true(s_kicks(f) >= 1);
    assert_int_equal(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}"), 0);
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 1);
    assert_int_equal(s_metric(f, "statusd_asset_state{asset=\"" ASSET "\",state=\"DOWN\"}"), 1);
    assert_int_equal(s_metric(f, "statusd_notifications_queued_total{channel=\"slack-ops\"}"), 1);

    /* more failures: still one incident, no new rows */
    s_result(f, ASSET, "a1", "eu", false, t0 + 2000, true);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);

    /* restart during the open incident: no new incident, no new DOWN row */
    s_stop(f);
    metrics_destroy(&f->metrics);
    f->metrics = metrics_new();
    f->ctx.metrics = f->metrics;
    s_start(f);
    s_result(f, ASSET, "a2", "us", false, t0 + 2200, true);
    s_sync(f);
    usleep(1200 * 1000); /* let one 1 s tick run over the rebuilt state, then check it */
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 1);
    assert_int_equal(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events"), 1);

    /* recovery closes it with one RECOVERY row per channel */
    s_recover(f, t0 + 3000, true);
    took = s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2,
                        5000);
    print_message("RECOVERY rows queued %lld ms after the successes\n", (long long) took);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NOT NULL"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'resolved'"),
                     1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE state = 'UP'"), 1);
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 0);
    assert_int_equal(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}"), 1);
}

static void test_changes_while_engine_was_down(void **state)
{
    fx_t *f = *state;
    int64_t t0 = sd_wall_ms() - 20000;
    /* an outage that began while the engine was not running (results stored by ingest) */
    s_outage(f, t0, false);
    s_start(f);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    s_stop(f);
    /* it recovered while the engine was down: the restart closes it with a RECOVERY */
    s_recover(f, t0 + 5000, false);
    s_start(f);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'"), 2);
}

static void test_throttle_suppresses_down_and_its_recovery(void **state)
{
    fx_t *f = *state;
    f->notifiers.throttle_seconds = 3600;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_outage(f, t0, true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    s_recover(f, t0 + 3000, true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    /* a second outage inside the window: an incident, but no DOWN and later no RECOVERY */
    s_outage(f, t0 + 4000, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL", 1, 5000);
    s_recover(f, t0 + 8000, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NOT NULL", 2, 5000);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 4);
    assert_int_equal(
        s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'notification_throttled'"),
        1);
}

static void test_malformed_is_counted(void **state)
{
    fx_t *f = *state;
    s_start(f);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "RESULTS");
    zmsg_addstr(m, "a1");
    zmsg_addstr(m, "eu");
    zmsg_addmem(m, "\xff\xff\xff\xff garbage", 13);
    zmsg_send(&m, f->push);
    zstr_send(f->push, "NONSENSE");
    s_sync(f);
    double n = s_metric(f, "statusd_engine_results_dropped_total{reason=\"malformed\"}");
    print_message("malformed counted: %.0f\n", n);
    assert_int_equal(n, 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);
}

static void test_repeat_alerts_queue_reminders(void **state)
{
    fx_t *f = *state;
    f->notifiers.throttle_seconds = 1;
    f->notifiers.repeat_alerts = true;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_outage(f, t0, true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    sd_ms_t took = s_wait_count(
        f, "SELECT count(*) FROM notifications WHERE event = 'REMINDER'", 2, 5000);
    print_message("first REMINDER rows %lld ms after the DOWN rows (throttleSeconds 1)\n",
                  (long long) took);
    assert_true(took >= 500);
    s_recover(f, t0 + 3000, true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    assert_true(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'reminder'") >= 1);
    long n = s_count(f, "SELECT count(*) FROM notifications");
    usleep(1500 * 1000); /* a closed incident must not be reminded about */
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), n);
}

static void test_silence_is_not_recovery(void **state)
{
    fx_t *f = *state;
    f->asset.interval_seconds = 1; /* stale after 3 s of silence */
    s_start(f);
    int64_t t0 = sd_wall_ms();
    s_outage(f, t0 - 1500, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL", 1, 5000);
    /* (the row's default is UNKNOWN: see it DOWN first) */
    s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'DOWN'", 1, 5000);
    /* every agent falls silent: the verdict becomes UNKNOWN, the incident stays open */
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'UNKNOWN'", 1,
                                8000);
    print_message("UNKNOWN %lld ms after the last result\n", (long long) took);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'"),
                     0);
    assert_true(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}") == -1); /* absent */
    /* the agents come back healthy: now it recovers */
    s_recover(f, sd_wall_ms(), true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
}

/* Rule 2: a new state is written at once with its reason; a reason that changes alone (a
 * second location reports) follows on the engine's next tick, the state's start untouched. */
static void test_reason_alone_follows_on_tick(void **state)
{
    fx_t *f = *state;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 2000;
    s_result(f, ASSET, "a1", "eu", true, t0, true);
    s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'UP' AND"
                    " state_reason = 'UP from 1 of 1 locations'", 1, 5000);
    long since = s_count(f, "SELECT (extract(epoch FROM state_since) * 1000)::bigint"
                            " FROM assets WHERE id = '" ASSET "'");
    s_result(f, ASSET, "a2", "us", true, t0 + 100, true);
    s_sync(f);
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'UP' AND"
                                   " state_reason = 'UP from 2 of 2 locations'", 1, 3000);
    print_message("reason alone written %lld ms after the engine took the result\n",
                  (long long) took);
    assert_int_equal(s_count(f, "SELECT (extract(epoch FROM state_since) * 1000)::bigint"
                                " FROM assets WHERE id = '" ASSET "'"), since);
}

/* Sends one failed result with this reason, as ingest forwards an agent's (no row). */
static void s_send_failure(fx_t *f, const char *agent, const char *region, int64_t ts,
                           const char *reason)
{
    Statusd__ProbeResult pr = STATUSD__PROBE_RESULT__INIT;
    pr.seq = ++f->seq;
    pr.asset_id = ASSET;
    pr.started_at_ms = ts;
    pr.reason = (char *) reason;
    s_send_result(f, agent, region, &pr);
}

/* Text from outside still pages: the asset's name in the file is 2,000 characters (the
 * config cuts it to 200), one agent's first reason was cut inside an 'é' (0xC3 then a quote,
 * what made every incident insert fail), then both send reasons longer than the engine's
 * buffers, so its summary is cut inside a character too. The incident opens and both DOWN
 * rows are queued, with valid text. */
static void test_outside_text_still_pages(void **state)
{
    fx_t *f = *state;
    size_t cap = 2 * 2000 + 300;
    char *text = malloc(cap), err[512] = "";
    size_t o = (size_t) snprintf(text, cap, "{\"assets\": [{\"id\": \"" ASSET "\","
                                 " \"assetType\": \"http\", \"address\": \"http://x/\","
                                 " \"intervalSeconds\": 30, \"timeoutSeconds\": 5, \"name\": \"");
    for (int i = 0; i < 2000; i++)
        o += (size_t) snprintf(text + o, cap - o, "\xC3\xA9");
    snprintf(text + o, cap - o, "\"}]}");
    sd_manifest_t *m = NULL;
    assert_int_equal(sd_manifest_parse("m.json", text, &m, err, sizeof err), 0);
    free(text);
    f->asset.name = m->assets[0].name;
    print_message("name from the file: %zu bytes\n", strlen(f->asset.name));
    char cut[100], longer[400] = "xy";
    snprintf(cut, sizeof cut, "body does not contain \"%s\xC3\"",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); /* 59 x 'a' */
    for (int i = 0; i < 150; i++)
        strcat(longer, "\xC3\xA9");
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_send_failure(f, "a1", "eu", t0, cut);
    s_send_failure(f, "a2", "us", t0 + 200, longer);
    s_send_failure(f, "a1", "eu", t0 + 1000, longer);
    s_send_failure(f, "a2", "us", t0 + 1200, longer);
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'",
                                2, 5000);
    print_message("DOWN rows queued %lld ms after the 4th failure\n", (long long) took);
    PGresult *r = s_sql(f, "SELECT octet_length(summary), summary LIKE '% is DOWN from 2 of 2 locations"
                           " (2/2 agents fail): xy%', details::text LIKE '%xy%' FROM incidents");
    print_message("summary of %s bytes\n", PQgetvalue(r, 0, 0));
    assert_string_equal(PQgetvalue(r, 0, 1), "t");
    assert_string_equal(PQgetvalue(r, 0, 2), "t");
    PQclear(r);
    r = s_sql(f, "SELECT payload->>'asset_name' FROM notifications LIMIT 1");
    assert_string_equal(PQgetvalue(r, 0, 0), m->assets[0].name);
    PQclear(r);
    s_stop(f);
    sd_manifest_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_incident_lifecycle_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_while_engine_was_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_suppresses_down_and_its_recovery, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_repeat_alerts_queue_reminders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silence_is_not_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_is_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outside_text_still_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reason_alone_follows_on_tick, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
