/* engine agent liveness, clock skew and the incident timeline against a real PostgreSQL:
 * AGENT DOWN/UP through BUS_ENGINE -> exactly one AGENT_DOWN/AGENT_UP outbox row per
 * channel, nothing on repeats or after a restart; the notifier's lease holds an AGENT_UP
 * back until its AGENT_DOWN is done; SKEW moves agents.clock_skew_ms and the metric, and
 * an agent 5 minutes fast opens an incident whose started_at is on the collector's clock;
 * vote changes during an open incident join its timeline; statusd_asset_down_votes; an agent
 * gone for good is forgotten (only once it is stale everywhere), its series with it, and is
 * judged afresh when it comes back; the agent table stays at its bound with 12,000 ids. */
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
#include "store_outbox.h"
#include "test_pg.h"

#define ENGINE_FIXTURE_DB_PREFIX "engag"
#include "engine_fixture.h"

static void test_agent_down_up_once_per_channel(void **state)
{
    fx_t *f = *state;
    s_agent_row(f, "agent-eu-1", "eu-west");
    s_start(f);
    int64_t heard = sd_wall_ms() - 15000;
    s_agent_msg(f, "agent-eu-1", "eu-west", "DOWN", heard);
    sd_ms_t took = s_wait_count(
        f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2, 5000);
    print_message("AGENT_DOWN rows %lld ms after the message\n", (long long) took);
    s_agent_msg(f, "agent-eu-1", "eu-west", "DOWN", heard); /* a repeat: nothing */
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);
    assert_int_equal(s_count(f, "SELECT count(DISTINCT channel) FROM notifications"), 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id IS NULL"
                                " AND incident_id IS NULL AND agent_id = 'agent-eu-1'"), 2);
    PGresult *r = s_sql(f, "SELECT payload->>'agent', payload->>'region', payload->>'version',"
                           " (extract(epoch FROM (payload->>'silent_since')::timestamptz)"
                           " * 1000)::bigint FROM notifications LIMIT 1");
    assert_string_equal(PQgetvalue(r, 0, 0), "agent-eu-1");
    assert_string_equal(PQgetvalue(r, 0, 1), "eu-west");
    assert_string_equal(PQgetvalue(r, 0, 2), "0.1.0");
    assert_true(llabs(atoll(PQgetvalue(r, 0, 3)) - heard) <= 1);
    PQclear(r);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"agent-eu-1\",region=\"eu-west\"}"), 0);
    assert_true(s_kicks(f) >= 1);

    /* the lease holds the AGENT_UP back while its AGENT_DOWN is pending on that channel */
    s_agent_msg(f, "agent-eu-1", "eu-west", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_UP'", 2, 5000);
    char err[512] = "";
    store_t *st = store_new(f->conninfo, err, sizeof err);
    assert_non_null(st);
    outbox_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_outbox_lease(st, 10, 60, NULL, 0, NULL, 0, &rows, &n, err, sizeof err),
                     0);
    for (size_t i = 0; i < n; i++) {
        print_message("leased %s %s for %s\n", rows[i].event, rows[i].channel, rows[i].asset_id);
        assert_string_equal(rows[i].event, "AGENT_DOWN");
        assert_string_equal(rows[i].asset_id, "agent-eu-1");
    }
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(store_outbox_mark_sent(st, rows[i].id, err, sizeof err), 0);
    store_outbox_rows_free(rows, n);
    PQclear(s_sql(f, "UPDATE notifications SET next_attempt_at = now()"));
    assert_int_equal(store_outbox_lease(st, 10, 60, NULL, 0, NULL, 0, &rows, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(rows[i].event, "AGENT_UP");
    store_outbox_rows_free(rows, n);
    store_destroy(&st);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events"), 0);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"agent-eu-1\",region=\"eu-west\"}"), 1);
    r = s_sql(f, "SELECT payload->>'down_seconds' FROM notifications WHERE event = 'AGENT_UP'");
    print_message("AGENT_UP down_seconds=%s\n", PQgetvalue(r, 0, 0));
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 14);
    PQclear(r);
}

static void test_restart_sends_nothing_but_remembers_down(void **state)
{
    fx_t *f = *state;
    s_agent_row(f, "a1", "eu");
    s_agent_row(f, "a2", "us");
    s_start(f);
    s_agent_msg(f, "a2", "us", "DOWN", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2, 5000);
    /* collector restart: every agent reconnects; only a2's AGENT_DOWN was queued */
    s_stop(f);
    s_start(f);
    s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);
    s_agent_msg(f, "a2", "us", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_UP'", 2, 5000);
    /* and once more: a restart where everyone was up sends nothing at all */
    s_stop(f);
    s_start(f);
    s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
    s_agent_msg(f, "a2", "us", "UP", sd_wall_ms());
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 4);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id IS NOT NULL"),
                     0);
}

/* a1's clock is 5 minutes fast, a2's is right: the incident starts at a1's first failure
 * on the collector's clock, and a1 is neither stale nor reordered. Vote changes during
 * the incident are timeline events. */
static void test_skewed_agent_and_vote_events(void **state)
{
    fx_t *f = *state;
    const int64_t skew = 5 * 60 * 1000;
    s_agent_row(f, "a1", "eu");
    s_agent_row(f, "a2", "us");
    s_start(f);
    s_skew_msg(f, "a1", skew);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT clock_skew_ms FROM agents WHERE id = 'a1'"), skew);
    assert_int_equal(s_metric(f, "statusd_agent_clock_skew_seconds{agent=\"a1\"}"), 300);
    int64_t t0 = sd_wall_ms() - 10000; /* true (collector) time of a1's first failure */
    s_result(f, ASSET, "a1", "eu", false, t0 + skew, true);
    s_result(f, ASSET, "a2", "us", false, t0 + 500, true);
    s_result(f, ASSET, "a1", "eu", false, t0 + 1000 + skew, true);
    s_result(f, ASSET, "a2", "us", false, t0 + 1500, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL", 1, 5000);
    long started = s_count(f, "SELECT (extract(epoch FROM started_at) * 1000)::bigint"
                              " FROM incidents");
    print_message("started_at %ld, a1's first failure on the collector clock %lld (agent clock "
                  "%lld)\n", started, (long long) t0, (long long) (t0 + skew));
    assert_int_equal(started, t0);
    assert_int_equal(s_metric(f, "statusd_asset_down_votes{asset=\"" ASSET "\"}"), 2);
    /* a1 recovers (DEGRADED closes the incident: 1 of 2 down) - its vote change is an event */
    s_result(f, ASSET, "a1", "eu", true, t0 + 2000 + skew, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NOT NULL", 1, 5000);
    s_sync(f);
    PGresult *r = s_sql(f, "SELECT kind, detail->>'agent', detail->>'from', detail->>'to'"
                           " FROM incident_events ORDER BY at, id");
    for (int i = 0; i < PQntuples(r); i++)
        print_message("timeline %d: %s %s %s->%s\n", i, PQgetvalue(r, i, 0),
                      PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
    assert_int_equal(PQntuples(r), 3);
    assert_string_equal(PQgetvalue(r, 0, 0), "opened");
    assert_string_equal(PQgetvalue(r, 1, 0), "vote");
    assert_string_equal(PQgetvalue(r, 1, 1), "a1");
    assert_string_equal(PQgetvalue(r, 1, 2), "DOWN");
    assert_string_equal(PQgetvalue(r, 1, 3), "UP");
    assert_string_equal(PQgetvalue(r, 2, 0), "resolved");
    PQclear(r);
    assert_int_equal(s_metric(f, "statusd_asset_down_votes{asset=\"" ASSET "\"}"), 1);
    /* an older sequence number (a replay) changes nothing even with a newer timestamp */
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
}

/* Rule 18: an agent down for longer than the forget period is forgotten, but never while
 * its vote still counts (stale after 3 intervals); its series go and it is counted; its
 * agents row stays. Back, it is judged afresh: its AGENT_UP goes out as the database says,
 * and its run of failures starts over. */
static void test_agent_gone_for_good_forgotten(void **state)
{
    fx_t *f = *state;
    f->asset.interval_seconds = 1; /* stale after 3 s */
    f->ctx.agent_forget_ms = 500;
    s_agent_row(f, "a1", "eu");
    s_agent_row(f, "a2", "us");
    s_start(f);
    s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
    s_agent_msg(f, "a2", "us", "UP", sd_wall_ms());
    s_skew_msg(f, "a1", 40);
    int64_t t = sd_wall_ms();
    s_result(f, ASSET, "a1", "eu", false, t, true);
    s_result(f, ASSET, "a2", "us", true, t + 50, true);
    s_result(f, ASSET, "a1", "eu", false, t + 100, true);
    sd_ms_t last_result = sd_mono_ms();
    s_wait_metric(f, "statusd_asset_down_votes{asset=\"" ASSET "\"}", 1, 5000);
    s_agent_msg(f, "a1", "eu", "DOWN", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2, 5000);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"a1\",region=\"eu\"}"), 0);
    assert_true(s_metric(f, "statusd_agent_clock_skew_seconds{agent=\"a1\"}") == 0.04);
    /* down for longer than the period at once, but its DOWN vote counts for 3 intervals */
    s_wait_metric(f, "statusd_agents_forgotten_total{actor=\"engine\",reason=\"gone\"}", 1,
                  10000);
    sd_ms_t took = sd_mono_ms() - last_result;
    print_message("a1 forgotten %lld ms after its last result (period 500 ms, stale after "
                  "3000 ms)\n", (long long) took);
    assert_true(took >= 3000);
    assert_true(s_metric(f, "statusd_agent_up{agent=\"a1\",region=\"eu\"}") < 0);
    assert_true(s_metric(f, "statusd_agent_clock_skew_seconds{agent=\"a1\"}") < 0);
    assert_true(s_metric(f, "statusd_agent_isolated{agent=\"a1\"}") < 0);
    /* a2 is up: never forgotten, however long it is silent */
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"a2\",region=\"us\"}"), 1);
    s_wait_metric(f, "statusd_engine_agents_tracked", 1, 3000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM agents WHERE id = 'a1' AND liveness = "
                                "'down'"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);

    /* back: its AGENT_UP, and a run that starts over (it had 2 failures: one more would have
     * been a DOWN vote at once) */
    s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_UP'", 2, 5000);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"a1\",region=\"eu\"}"), 1);
    s_result(f, ASSET, "a2", "us", true, sd_wall_ms(), true);
    s_result(f, ASSET, "a1", "eu", false, sd_wall_ms(), true);
    s_sync(f);
    assert_int_equal(s_metric(f, "statusd_asset_down_votes{asset=\"" ASSET "\"}"), 0);
    s_result(f, ASSET, "a1", "eu", false, sd_wall_ms(), true);
    s_wait_metric(f, "statusd_asset_down_votes{asset=\"" ASSET "\"}", 1, 5000);
}

/* Rule 18: 12,000 agent ids (results only, nothing known of their liveness) against a table
 * of 10,000: the table stays full, never above, by forgetting the one silent longest for
 * each new one (counted); no agent is refused; the series of forgotten agents go too. */
static void test_agent_table_bounded(void **state)
{
    fx_t *f = *state;
    s_start(f);
    const int n = 12000;
    sd_ms_t t0 = sd_mono_ms();
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "many-%05d", i);
        Statusd__ProbeResult pr = STATUSD__PROBE_RESULT__INIT;
        pr.seq = 1;
        pr.asset_id = "elsewhere"; /* not in the manifest: only the agent table grows */
        pr.started_at_ms = sd_wall_ms();
        pr.success = true;
        s_send_result(f, id, "xx", &pr);
    }
    /* each result is counted as one for an unknown asset once judged */
    s_wait_metric(f, "statusd_engine_results_dropped_total{reason=\"unknown_asset\"}", n,
                  30000);
    print_message("%d agents sent and judged in %lld ms\n", n, (long long) (sd_mono_ms() - t0));
    s_wait_metric(f, "statusd_engine_agents_tracked", 10000, 3000);
    assert_int_equal(
        s_metric(f, "statusd_agents_forgotten_total{actor=\"engine\",reason=\"table_full\"}"),
        n - 10000);
    assert_true(
        s_metric(f, "statusd_engine_results_dropped_total{reason=\"agent_table_full\"}") < 0);
    /* the last one is in, and as many statusd_agent_isolated series as agents are left */
    assert_int_equal(s_metric(f, "statusd_agent_isolated{agent=\"many-11999\"}"), 0);
    char *text = metrics_render(f->metrics);
    assert_non_null(text);
    int isolated_series = 0;
    for (const char *p = text; (p = strstr(p, "\nstatusd_agent_isolated{")); p++)
        isolated_series++;
    free(text);
    size_t series = metrics_series_count(f->metrics);
    print_message("statusd_agent_isolated series: %d; series held in all: %zu\n",
                  isolated_series, series);
    assert_int_equal(isolated_series, 10000);
    assert_true(series < 10000 + 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_down_up_once_per_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_sends_nothing_but_remembers_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_skewed_agent_and_vote_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_gone_for_good_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_table_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
