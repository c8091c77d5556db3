/* Agent liveness across collector restarts and isolation of dead agents (rules 10 and 13),
 * against a real PostgreSQL and a real engine actor fed through BUS_ENGINE:
 *  - an agent 'up' in the database that is not heard from within 3 heartbeat periods of the
 *    engine's rebuild (it died while no collector ran) gets exactly one AGENT_DOWN per
 *    channel, silent_since = its last stored result, then AGENT_UP when it is back; agents
 *    heard through AGENT UP, SKEW or RESULTS and agents already 'down' get nothing;
 *  - the window includes the agents' reconnect backoff (ctx->restart_grace_ms);
 *  - restarts while every agent stays alive (some reconnecting late within the window) queue
 *    nothing; one that stays away after such a restart is the only one reported;
 *  - an isolated agent that goes AGENT_DOWN is no longer isolated (memory, agents.isolated,
 *    metric), its old DOWN votes never count, it is not isolated again while down, and back
 *    it is judged afresh; an agent stored isolated and 'down', or isolated and silent since
 *    the restart, is released too;
 *  - agents down for longer than the forget period are not loaded at a restart, one down
 *    for less is forgotten when its period (counted from its down_since) ends, and one that
 *    comes back after it was left out gets its AGENT_UP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus.h"
#include "engine.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "test_pg.h"

#define ENGINE_FIXTURE_DB_PREFIX "englive"
#include "engine_fixture.h"

#define HB_MS 300                 /* the collector's --heartbeat-ms in these tests */
#define WINDOW_MS (3 * HB_MS)     /* silence that makes an agent down */
#define TICK_MS 1000              /* the engine's tick */

static void s_exec(fx_t *f, const char *sql) { PQclear(s_sql(f, sql)); }

static void s_start_hb(fx_t *f)
{
    f->ctx.heartbeat_ms = HB_MS;
    s_start(f);
}

/* Asserts that the count stays at want until hold_ms have passed (proves an absence). */
static void s_hold_count(fx_t *f, const char *sql, long want, int hold_ms)
{
    sd_ms_t t0 = sd_mono_ms();
    while (sd_mono_ms() - t0 < hold_ms) {
        long n = s_count(f, sql);
        if (n != want)
            fail_msg("%s: got %ld after %lld ms, want %ld for %d ms", sql, n,
                     (long long) (sd_mono_ms() - t0), want, hold_ms);
        usleep(50 * 1000);
    }
    print_message("%s stayed %ld for %d ms\n", sql, want, hold_ms);
}

static long s_rows_of(fx_t *f, const char *event, const char *agent)
{
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM notifications WHERE event = '%s' AND agent_id = '%s'", event,
             agent);
    return s_count(f, q);
}

static void test_agent_dead_since_restart_goes_down_once(void **state)
{
    fx_t *f = *state;
    s_agent_row(f, "dead", "eu");
    s_agent_row(f, "via-up", "us");
    s_agent_row(f, "via-skew", "ap");
    s_agent_row(f, "via-result", "sa");
    s_agent_row(f, "gone", "af");
    s_exec(f, "UPDATE agents SET liveness = 'down', down_since = now() - interval '1 hour'"
              " WHERE id = 'gone'");
    s_exec(f, "UPDATE agents SET connected = false, last_seen = now() - interval '10 minutes'"
              " WHERE id = 'dead'");
    /* dead's last result reached the previous collector 20 s ago */
    s_exec(f, "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success,"
              " latency_ms, code, received_at) VALUES ('" ASSET "', 'dead', 'eu', 7,"
              " now() - interval '21 s', true, 10, 200, now() - interval '20 s')");
    long received = s_count(f, "SELECT (extract(epoch FROM received_at) * 1000)::bigint"
                               " FROM probe_events WHERE agent_id = 'dead'");

    sd_ms_t t0 = sd_mono_ms();
    s_start_hb(f);
    /* the live agents reconnect: each is heard in one of the three ways */
    s_agent_msg(f, "via-up", "us", "UP", sd_wall_ms());
    s_skew_msg(f, "via-skew", 12);
    s_result(f, ASSET, "via-result", "sa", true, sd_wall_ms(), true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2,
                 WINDOW_MS + 2 * TICK_MS + 3000);
    sd_ms_t took = sd_mono_ms() - t0;
    print_message("AGENT_DOWN of the agent dead since the restart: %lld ms after the engine "
                  "started (window %d ms, tick %d ms)\n", (long long) took, WINDOW_MS, TICK_MS);
    assert_true(took >= WINDOW_MS);
    assert_int_equal(s_rows_of(f, "AGENT_DOWN", "dead"), 2);
    assert_int_equal(s_count(f, "SELECT count(DISTINCT channel) FROM notifications"), 2);
    PGresult *r = s_sql(f, "SELECT payload->>'event', payload->>'agent', payload->>'region',"
                           " (extract(epoch FROM (payload->>'silent_since')::timestamptz)"
                           " * 1000)::bigint FROM notifications LIMIT 1");
    assert_string_equal(PQgetvalue(r, 0, 0), "AGENT_DOWN");
    assert_string_equal(PQgetvalue(r, 0, 1), "dead");
    assert_string_equal(PQgetvalue(r, 0, 2), "eu");
    print_message("silent_since %s ms, last result received %ld ms\n", PQgetvalue(r, 0, 3),
                  received);
    assert_true(llabs(atoll(PQgetvalue(r, 0, 3)) - received) <= 1);
    PQclear(r);
    assert_int_equal(s_count(f, "SELECT count(*) FROM agents WHERE liveness = 'down'"), 2);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"dead\",region=\"eu\"}"), 0);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"via-up\",region=\"us\"}"), 1);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"via-skew\",region=\"ap\"}"), 1);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"via-result\",region=\"sa\"}"), 1);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"gone\",region=\"af\"}"), 0);
    assert_int_equal(s_metric(f, "statusd_engine_agents_awaited"), 0);
    assert_true(s_kicks(f) >= 1);
    /* exactly once: nothing more over two more windows and ticks */
    s_hold_count(f, "SELECT count(*) FROM notifications", 2, 2 * TICK_MS);

    /* it comes back: one AGENT_UP per channel, down for about the 20 s it was silent */
    s_agent_msg(f, "dead", "eu", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_UP'", 2, 5000);
    assert_int_equal(s_rows_of(f, "AGENT_UP", "dead"), 2);
    r = s_sql(f, "SELECT payload->>'down_seconds' FROM notifications WHERE event = 'AGENT_UP'");
    print_message("AGENT_UP down_seconds=%s\n", PQgetvalue(r, 0, 0));
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 20);
    PQclear(r);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"dead\",region=\"eu\"}"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 4);
}

/* Restarts while every agent stays alive send nothing, also when an agent reconnects late
 * (within the window); after a restart an agent that stays away is the only one reported. */
static void test_restart_with_live_agents_sends_nothing(void **state)
{
    fx_t *f = *state;
    s_agent_row(f, "a1", "eu");
    s_agent_row(f, "a2", "us");
    s_agent_row(f, "a3", "ap");
    for (int round = 0; round < 2; round++) {
        s_start_hb(f);
        sd_ms_t t0 = sd_mono_ms();
        s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
        s_result(f, ASSET, "a2", "us", true, sd_wall_ms(), true);
        /* a3 reconnects late, well inside the window */
        while (sd_mono_ms() - t0 < WINDOW_MS / 2)
            usleep(20 * 1000);
        s_agent_msg(f, "a3", "ap", "UP", sd_wall_ms());
        s_wait_metric(f, "statusd_engine_agents_awaited", 0, 3000);
        /* past the window and the tick that would declare them down */
        s_hold_count(f, "SELECT count(*) FROM notifications", 0,
                     (int) (WINDOW_MS + 2 * TICK_MS - (sd_mono_ms() - t0)));
        print_message("restart %d: nothing queued %lld ms after the engine started\n", round,
                      (long long) (sd_mono_ms() - t0));
        s_stop(f);
    }
    assert_int_equal(s_count(f, "SELECT count(*) FROM agents WHERE liveness = 'up'"), 3);
    /* the same restart, but a3 died meanwhile: only a3 is reported */
    s_start_hb(f);
    s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
    s_skew_msg(f, "a2", 0);
    s_wait_count(f, "SELECT count(*) FROM notifications", 2, WINDOW_MS + 2 * TICK_MS + 3000);
    assert_int_equal(s_rows_of(f, "AGENT_DOWN", "a3"), 2);
    s_hold_count(f, "SELECT count(*) FROM notifications", 2, TICK_MS + 200);
    /* and a restart after that: a3 is already down, nothing new */
    s_stop(f);
    s_start_hb(f);
    s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
    s_agent_msg(f, "a2", "us", "UP", sd_wall_ms());
    s_hold_count(f, "SELECT count(*) FROM notifications", 2, WINDOW_MS + 2 * TICK_MS);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"a3\",region=\"ap\"}"), 0);
}

/* The window after a rebuild includes the agents' reconnect backoff (ctx->restart_grace_ms,
 * 10 s in the collector): an agent heard after 3 heartbeats but within the grace is not
 * reported; one never heard is, once the whole window has passed. */
static void test_restart_grace_covers_reconnect_backoff(void **state)
{
    fx_t *f = *state;
    const int grace = 1500;
    s_agent_row(f, "b1", "eu");
    s_agent_row(f, "b2", "us");
    s_agent_row(f, "b3", "ap");
    f->ctx.restart_grace_ms = grace;
    s_start_hb(f);
    sd_ms_t t0 = sd_mono_ms();
    s_agent_msg(f, "b1", "eu", "UP", sd_wall_ms());
    /* b2 is still in its backoff when 3 heartbeats have passed (and a tick on top) */
    while (sd_mono_ms() - t0 < WINDOW_MS + TICK_MS)
        usleep(20 * 1000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 0);
    s_agent_msg(f, "b2", "us", "UP", sd_wall_ms());
    print_message("b2 heard %lld ms after the engine started (window %d + grace %d ms)\n",
                  (long long) (sd_mono_ms() - t0), WINDOW_MS, grace);
    /* b3 never comes back: reported once the window with the grace has passed */
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2,
                 WINDOW_MS + grace + 2 * TICK_MS + 3000);
    sd_ms_t took = sd_mono_ms() - t0;
    print_message("AGENT_DOWN of b3 %lld ms after the engine started\n", (long long) took);
    assert_true(took >= WINDOW_MS + grace);
    assert_int_equal(s_rows_of(f, "AGENT_DOWN", "b3"), 2);
    assert_int_equal(s_rows_of(f, "AGENT_DOWN", "b2"), 0);
    s_hold_count(f, "SELECT count(*) FROM notifications", 2, TICK_MS + 200);
}

/* An agent whose own heartbeat (stored at its Hello) is slower than the collector's is
 * awaited for 3 of ITS periods: not reported when it reappears within them. */
static void test_restart_window_uses_agent_heartbeat(void **state)
{
    fx_t *f = *state;
    s_agent_row(f, "slow", "eu");
    s_agent_row(f, "gone2", "us");
    s_exec(f, "UPDATE agents SET heartbeat_ms = 1000 WHERE id IN ('slow', 'gone2')");
    s_start_hb(f);
    sd_ms_t t0 = sd_mono_ms();
    /* past 3 of the collector's periods and a tick: nothing yet */
    while (sd_mono_ms() - t0 < WINDOW_MS + TICK_MS + 200)
        usleep(20 * 1000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 0);
    s_agent_msg(f, "slow", "eu", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2,
                 3 * 1000 + 2 * TICK_MS + 3000);
    sd_ms_t took = sd_mono_ms() - t0;
    print_message("AGENT_DOWN of gone2 (heartbeat 1000 ms) %lld ms after the start\n",
                  (long long) took);
    assert_true(took >= 3 * 1000);
    assert_int_equal(s_rows_of(f, "AGENT_DOWN", "gone2"), 2);
    assert_int_equal(s_rows_of(f, "AGENT_DOWN", "slow"), 0);
}

static sd_asset_t s_assets[3];

/* Three assets probed by x, y and z (failureThreshold 1, majority quorum). */
static void s_three_assets(fx_t *f)
{
    static const char *ids[3] = {"s1", "s2", "s3"};
    for (int i = 0; i < 3; i++)
        s_assets[i] = (sd_asset_t){.id = (char *) ids[i], .asset_type = "tcp",
                                   .name = (char *) ids[i], .address = "h:1",
                                   .interval_seconds = 30, .timeout_seconds = 5,
                                   .failure_threshold = 1, .success_threshold = 1};
    f->manifest = (sd_manifest_t){.assets = s_assets, .n_assets = 3};
}

static void s_all(fx_t *f, const char *agent, const char *region, bool ok)
{
    for (int i = 0; i < 3; i++)
        s_result(f, s_assets[i].id, agent, region, ok, sd_wall_ms(), true);
}

static void test_isolated_agent_down_is_released(void **state)
{
    fx_t *f = *state;
    s_three_assets(f);
    s_agent_row(f, "x", "rx");
    s_agent_row(f, "y", "ry");
    s_agent_row(f, "z", "rz");
    s_start_hb(f);
    s_all(f, "x", "rx", true);
    s_all(f, "y", "ry", true);
    s_all(f, "z", "rz", true);
    s_sync(f);
    /* z's region loses every target: isolated */
    s_all(f, "z", "rz", false);
    s_wait_metric(f, "statusd_agent_isolated{agent=\"z\"}", 1, 3000);
    s_wait_count(f, "SELECT count(*) FROM agents WHERE id = 'z' AND isolated", 1, 3000);

    /* z dies: one AGENT_DOWN, and it is no longer isolated */
    sd_ms_t t0 = sd_mono_ms();
    s_agent_msg(f, "z", "rz", "DOWN", sd_wall_ms() - 1000);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2, 3000);
    s_wait_metric(f, "statusd_agent_isolated{agent=\"z\"}", 0, 3000);
    s_wait_count(f, "SELECT count(*) FROM agents WHERE id = 'z' AND NOT isolated"
                    " AND isolated_since IS NULL", 1, 3000);
    print_message("z released %lld ms after its AGENT DOWN\n", (long long) (sd_mono_ms() - t0));
    /* its last votes (DOWN on every asset) are forgotten, not counted: x alone failing s1 is
     * 1 DOWN of 2 live agents, DEGRADED (with z's vote it would be 2 of 3: an incident) */
    s_result(f, "s1", "x", "rx", false, sd_wall_ms(), true);
    s_wait_count(f, "SELECT count(*) FROM assets WHERE id = 's1' AND state = 'DEGRADED'", 1, 3000);
    assert_int_equal(s_metric(f, "statusd_asset_down_votes{asset=\"s1\"}"), 1);
    /* not isolated again while down, over two isolation ticks */
    s_hold_count(f, "SELECT count(*) FROM agents WHERE isolated", 0, 2 * TICK_MS + 200);
    assert_int_equal(s_metric(f, "statusd_agent_isolated{agent=\"z\"}"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);
    s_result(f, "s1", "x", "rx", true, sd_wall_ms(), true);

    /* back, it is judged afresh: its votes count (a real outage of s1 seen by x and z) */
    s_agent_msg(f, "z", "rz", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_UP'", 2, 3000);
    s_all(f, "z", "rz", true);
    s_result(f, "s1", "x", "rx", false, sd_wall_ms(), true);
    s_result(f, "s1", "z", "rz", false, sd_wall_ms(), true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE asset_id = 's1' AND ended_at IS NULL",
                 1, 3000);
    assert_int_equal(s_metric(f, "statusd_agent_isolated{agent=\"z\"}"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event LIKE 'AGENT%'"),
                     4);
}

/* Stored isolated agents that are down at the restart are released: one already 'down'
 * (no notification) and one silent since the restart (its AGENT_DOWN). */
static void test_isolated_agents_down_at_restart_are_released(void **state)
{
    fx_t *f = *state;
    s_three_assets(f);
    s_agent_row(f, "x", "rx");
    s_agent_row(f, "y", "ry");
    s_agent_row(f, "z", "rz");
    s_agent_row(f, "w", "rw");
    s_exec(f, "UPDATE agents SET isolated = true, isolated_since = now() - interval '1 hour'"
              " WHERE id IN ('z', 'w')");
    s_exec(f, "UPDATE agents SET liveness = 'down', down_since = now() - interval '2 hours'"
              " WHERE id = 'w'");
    s_start_hb(f);
    s_agent_msg(f, "x", "rx", "UP", sd_wall_ms());
    s_agent_msg(f, "y", "ry", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM agents WHERE id = 'w' AND NOT isolated", 1,
                 TICK_MS + 3000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 0);
    assert_int_equal(s_metric(f, "statusd_agent_isolated{agent=\"w\"}"), 0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2,
                 WINDOW_MS + 2 * TICK_MS + 3000);
    assert_int_equal(s_rows_of(f, "AGENT_DOWN", "z"), 2);
    s_wait_metric(f, "statusd_agent_isolated{agent=\"z\"}", 0, 3000);
    s_wait_count(f, "SELECT count(*) FROM agents WHERE isolated", 0, 3000);
    s_hold_count(f, "SELECT count(*) FROM notifications", 2, TICK_MS + 200);
}

/* Rule 18 at a restart: an agent down for 2 days (period 6 s) is not loaded; one down for
 * 5 s is loaded and forgotten about 1 s later (its silence counts from its down_since, not
 * from the load); one up stays. Back after 2 days, its AGENT_UP goes out. */
static void test_restart_leaves_out_agents_gone_for_good(void **state)
{
    fx_t *f = *state;
    f->asset.interval_seconds = 1; /* results may not be replayed beyond 3 s */
    f->ctx.agent_forget_ms = 6000;
    s_agent_row(f, "old", "eu");
    s_agent_row(f, "recent", "us");
    s_agent_row(f, "live", "ap");
    s_exec(f, "UPDATE agents SET liveness = 'down', down_since = now() - interval '2 days'"
              " WHERE id = 'old'");
    s_exec(f, "UPDATE agents SET liveness = 'down', down_since = now() - interval '5 s'"
              " WHERE id = 'recent'");
    sd_ms_t t0 = sd_mono_ms();
    s_start_hb(f);
    s_agent_msg(f, "live", "ap", "UP", sd_wall_ms());
    s_wait_metric(f, "statusd_agent_up{agent=\"recent\",region=\"us\"}", 0, 5000);
    assert_true(s_metric(f, "statusd_agent_up{agent=\"old\",region=\"eu\"}") < 0);
    s_wait_metric(f, "statusd_agents_forgotten_total{actor=\"engine\",reason=\"gone\"}", 1,
                  6000);
    sd_ms_t took = sd_mono_ms() - t0;
    print_message("the agent down for 5 s forgotten %lld ms after the engine started (period "
                  "6000 ms)\n", (long long) took);
    assert_true(took < 6000);
    assert_true(s_metric(f, "statusd_agent_up{agent=\"recent\",region=\"us\"}") < 0);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"live\",region=\"ap\"}"), 1);
    s_wait_metric(f, "statusd_engine_agents_tracked", 1, 3000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM agents"), 3);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 0);

    s_agent_msg(f, "old", "eu", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_UP'", 2, 5000);
    assert_int_equal(s_rows_of(f, "AGENT_UP", "old"), 2);
    PGresult *r = s_sql(f, "SELECT payload->>'down_seconds' FROM notifications LIMIT 1");
    print_message("AGENT_UP of the agent left out: down_seconds=%s\n", PQgetvalue(r, 0, 0));
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 2 * 86400);
    PQclear(r);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"old\",region=\"eu\"}"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_dead_since_restart_goes_down_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_with_live_agents_sends_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_grace_covers_reconnect_backoff, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_window_uses_agent_heartbeat, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_isolated_agent_down_is_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolated_agents_down_at_restart_are_released, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_leaves_out_agents_gone_for_good, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
