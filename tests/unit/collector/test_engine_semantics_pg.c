/* The alert engine's semantics against a real PostgreSQL, RESULTS pushed on BUS_ENGINE into
 * a real engine actor:
 *  - maintenance: a manifest one-off window, a manifest weekly window in a time zone and an
 *    API window (a table row) put their assets in MAINTENANCE; failures open no incident and
 *    queue nothing; when the API window is ended the asset, still down, opens an incident;
 *  - weekly windows across a DST change (Europe/Berlin, 2026-03-29) are expanded on the
 *    local wall clock;
 *  - isolation: of 3 agents one fails every asset the others see up -> isolated (table,
 *    metric), no incident; it recovers -> counted again (its DOWN vote now makes a quorum);
 *  - flapping (rules 15, 17): a state toggling on every result -> its first DOWN, one
 *    incident held open (relapses, no new DOWN), exactly one FLAPPING and no RECOVERY;
 *    settled UP -> exactly one STABLE, then the incident resolves with its RECOVERY; settled
 *    DOWN -> still paged, its RECOVERY after the hold; without a hold, a DOWN suppressed
 *    while flapping is queued with the STABLE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bus.h"
#include "engine.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "store_maintenance.h"
#include "test_pg.h"

#define MAX_ASSETS 4

#define ENGINE_FIXTURE_DB_PREFIX "engsem"
#define ENGINE_FIXTURE_EXTRA_FIELDS                                                            \
    sd_asset_t assets[MAX_ASSETS];                                                             \
    sd_maintenance_t windows[2];
#define ENGINE_FIXTURE_CONFIGURE
#define ENGINE_FIXTURE_OWN_SYNC_RESULT
#include "engine_fixture.h"

/* Four tcp assets a1..a4 (thresholds 1) and one onDown/onRecovery channel. */
static void s_configure(fx_t *f)
{
    static const char *ids[MAX_ASSETS] = {"a1", "a2", "a3", "a4"};
    for (int i = 0; i < MAX_ASSETS; i++)
        f->assets[i] = (sd_asset_t){.id = (char *) ids[i], .asset_type = "tcp",
                                    .name = (char *) ids[i], .address = "h:1",
                                    .interval_seconds = 30, .timeout_seconds = 5,
                                    .failure_threshold = 1, .success_threshold = 1};
    f->manifest = (sd_manifest_t){.assets = f->assets, .n_assets = MAX_ASSETS};
    f->nc[0] = (sd_notifier_conf_t){.name = "slack-ops", .type = "slack",
                                    .webhook_url = "http://127.0.0.1:9/x"};
    f->chans[0] = "slack-ops";
    f->notifiers = (sd_notifiers_t){.notifiers = f->nc, .n_notifiers = 1, .on_down = f->chans,
                                    .n_on_down = 1, .on_recovery = f->chans,
                                    .n_on_recovery = 1, .throttle_seconds = 0};
}

static void s_exec(fx_t *f, const char *sql) { PQclear(s_sql(f, sql)); }

/* A result pushed to the engine only (nothing stored); the region is the agent's id. */
static void s_push(fx_t *f, const char *asset, const char *agent, bool ok)
{
    Statusd__ProbeResult pr = STATUSD__PROBE_RESULT__INIT;
    pr.seq = ++f->seq;
    pr.asset_id = (char *) asset;
    pr.started_at_ms = sd_wall_ms();
    pr.success = ok;
    pr.reason = ok ? "" : "connection refused";
    s_send_result(f, agent, agent, &pr); /* region = agent id */
}

/* s_sync's unknown-asset result, pushed the way this file pushes results. */
static void s_sync_result(fx_t *f) { s_push(f, "no-such-asset", "sync", true); }

/* ---- maintenance ------------------------------------------------------------------------ */

static void test_maintenance(void **state)
{
    fx_t *f = *state;
    int64_t now = sd_wall_ms();
    /* a1: manifest one-off around now */
    f->windows[0] = (sd_maintenance_t){.id = "upgrade", .assets = (char *[]){"a1"},
                                       .n_assets = 1, .reason = "db upgrade",
                                       .start_ms = now - 60000, .end_ms = now + 3600000,
                                       .end_minute = -1};
    /* a2: manifest weekly in Asia/Kolkata (UTC+05:30, no DST) from 10 min ago for 1 h */
    time_t local = (time_t) ((now - 600000) / 1000) + 5 * 3600 + 1800;
    struct tm tm;
    gmtime_r(&local, &tm);
    int iso = tm.tm_wday == 0 ? 7 : tm.tm_wday;
    f->windows[1] = (sd_maintenance_t){.id = "weekly", .assets = (char *[]){"a2"},
                                       .n_assets = 1, .reason = "weekly",
                                       .days_mask = 1u << iso,
                                       .start_minute = tm.tm_hour * 60 + tm.tm_min,
                                       .duration_minutes = 60, .end_minute = -1,
                                       .time_zone = "Asia/Kolkata"};
    f->manifest.maintenance = f->windows;
    f->manifest.n_maintenance = 2;
    print_message("weekly window: iso day %d at %02d:%02d Asia/Kolkata\n", iso, tm.tm_hour,
                  tm.tm_min);
    /* a3: an API window (as POST /api/maintenance writes it) */
    s_exec(f, "INSERT INTO maintenance_windows (source, asset_ids, starts_at, ends_at, reason,"
              " created_by) VALUES ('api', '{a3}', now() - interval '1 minute',"
              " now() + interval '1 hour', 'api window', 'abcd1234')");
    s_start(f);
    s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'MAINTENANCE'", 3, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE state = 'MAINTENANCE'"
                                " AND id IN ('a1', 'a2', 'a3')"), 3);
    assert_int_equal(s_count(f, "SELECT count(*) FROM maintenance_windows WHERE source ="
                                " 'manifest' AND starts_at <= now() AND ends_at > now()"), 2);
    s_wait_metric(f, "statusd_asset_state{asset=\"a1\",state=\"MAINTENANCE\"}", 1, 3000);
    assert_int_equal(s_metric(f, "statusd_asset_state{asset=\"a4\",state=\"MAINTENANCE\"}"), 0);
    assert_int_equal(s_metric(f, "statusd_maintenance_windows_active"), 3);

    /* every asset fails; a4 (no window) opens an incident, the others nothing */
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < MAX_ASSETS; k++)
            s_push(f, f->assets[k].id, "x", false);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE asset_id = 'a4'", 1, 5000);
    usleep(1200 * 1000); /* one more tick: nothing may be opened for a1..a3 on it */
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id <> 'a4'"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE state = 'MAINTENANCE'"), 3);
    /* probes are still judged during the window */
    assert_int_equal(s_metric(f, "statusd_asset_down_votes{asset=\"a3\"}"), 1);

    /* the API window ends (DELETE /api/maintenance/{id} does this): a3 is still down */
    sd_ms_t t0 = sd_mono_ms();
    s_exec(f, "UPDATE maintenance_windows SET ends_at = now(), ended_early_at = now()"
              " WHERE source = 'api'");
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE asset_id = 'a3' AND ended_at IS NULL",
                 1, 5000);
    print_message("incident opened %lld ms after the window ended\n",
                  (long long) (sd_mono_ms() - t0));
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE asset_id = 'a3' AND event = 'DOWN'",
                 1, 3000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE id = 'a3' AND state = 'DOWN'"),
                     1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE asset_id IN ('a1', 'a2')"),
                     0);
    /* recovery inside the window: nothing sent, and the window's end finds it UP */
    s_push(f, "a1", "x", true);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id = 'a1'"), 0);
}

/* Weekly windows are expanded on the local wall clock across the spring DST change of
 * Europe/Berlin (2026-03-29 02:00 CET -> 03:00 CEST). */
static void test_weekly_dst(void **state)
{
    fx_t *f = *state;
    sd_maintenance_t w[2] = {
        {.id = "noon", .days_mask = 1u << 7, .start_minute = 12 * 60, .duration_minutes = 60,
         .end_minute = -1, .time_zone = "Europe/Berlin", .reason = ""},
        {.id = "night", .days_mask = 1u << 7, .start_minute = 90, .end_minute = 210,
         .time_zone = "Europe/Berlin", .reason = ""},
    };
    sd_manifest_t m = {.assets = f->assets, .n_assets = 1, .maintenance = w, .n_maintenance = 2};
    char err[512] = "";
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    int64_t from = 1773964800000LL; /* 2026-03-20T00:00:00Z */
    int64_t to = 1775001600000LL;   /* 2026-04-01T00:00:00Z */
    size_t rows = 0;
    if (store_maintenance_sync(s, &m, from, to, &rows, err, sizeof err) != 0)
        fail_msg("%s", err);
    store_destroy(&s);
    assert_int_equal(rows, 4);
    PGresult *r = s_sql(f, "SELECT name, to_char(starts_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI'),"
                           " to_char(ends_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI')"
                           " FROM maintenance_windows WHERE source = 'manifest'"
                           " ORDER BY name, starts_at");
    static const char *want[4][3] = {
        {"night", "03-22 00:30", "03-22 02:30"}, /* 01:30-03:30 CET: 2 h */
        {"night", "03-29 00:30", "03-29 01:30"}, /* 01:30 CET - 03:30 CEST: 1 h elapsed */
        {"noon", "03-22 11:00", "03-22 12:00"},  /* 12:00 CET */
        {"noon", "03-29 10:00", "03-29 11:00"},  /* 12:00 CEST */
    };
    assert_int_equal(PQntuples(r), 4);
    for (int i = 0; i < 4; i++) {
        print_message("%s %s .. %s UTC\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                      PQgetvalue(r, i, 2));
        for (int c = 0; c < 3; c++)
            assert_string_equal(PQgetvalue(r, i, c), want[i][c]);
    }
    PQclear(r);
}

/* ---- isolation -------------------------------------------------------------------------- */

static void test_isolation(void **state)
{
    fx_t *f = *state;
    f->manifest.n_assets = 3;
    s_start(f);
    static const char *agents[] = {"x", "y", "z"};
    for (int g = 0; g < 3; g++)
        for (int k = 0; k < 3; k++)
            s_push(f, f->assets[k].id, agents[g], true);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'UP'", 3, 3000);
    /* z's region loses every target; x and y see them up */
    sd_ms_t t0 = sd_mono_ms();
    for (int k = 0; k < 3; k++)
        s_push(f, f->assets[k].id, "z", false);
    s_sync(f);
    s_wait_metric(f, "statusd_agent_isolated{agent=\"z\"}", 1, 3000);
    print_message("z isolated %lld ms after its failures\n", (long long) (sd_mono_ms() - t0));
    assert_int_equal(s_count(f, "SELECT count(*) FROM agents WHERE id = 'z' AND isolated"), 0);
    /* the agents table row exists only once ingest saw a Hello: create it, as ingest would,
     * and see the flag stored on the next change */
    assert_int_equal(s_metric(f, "statusd_agent_isolated{agent=\"x\"}"), 0);
    s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'UP'", 3, 3000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 0);
    /* more failures from z change nothing */
    for (int k = 0; k < 3; k++)
        s_push(f, f->assets[k].id, "z", false);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE state = 'UP'"), 3);
    assert_int_equal(s_metric(f, "statusd_asset_down_votes{asset=\"a1\"}"), 0);

    /* z's paths come back: it agrees again and counts again */
    s_exec(f, "INSERT INTO agents (id, region) VALUES ('z', 'z') ON CONFLICT DO NOTHING");
    for (int k = 0; k < 3; k++)
        s_push(f, f->assets[k].id, "z", true);
    s_sync(f);
    s_wait_metric(f, "statusd_agent_isolated{agent=\"z\"}", 0, 3000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM agents WHERE id = 'z' AND NOT isolated"), 1);
    /* a real outage of a1 seen by x and z: z's vote makes the quorum (2 of 3) */
    s_push(f, "a1", "x", false);
    s_push(f, "a1", "z", false);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE asset_id = 'a1' AND ended_at IS NULL",
                 1, 3000);
    assert_int_equal(s_metric(f, "statusd_agent_isolated{agent=\"z\"}"), 0);
    assert_int_equal(s_metric(f, "statusd_agent_isolated{agent=\"x\"}"), 0);
}

/* The isolated flag is stored in agents when the agent has a row (ingest made it at Hello). */
static void test_isolation_stored(void **state)
{
    fx_t *f = *state;
    f->manifest.n_assets = 3;
    s_exec(f, "INSERT INTO agents (id, region) VALUES ('x', 'x'), ('y', 'y'), ('z', 'z')");
    s_start(f);
    static const char *agents[] = {"x", "y", "z"};
    for (int g = 0; g < 3; g++)
        for (int k = 0; k < 3; k++)
            s_push(f, f->assets[k].id, agents[g], g != 2);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM agents WHERE isolated AND isolated_since IS NOT NULL",
                 1, 3000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM agents WHERE id = 'z' AND isolated"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);
    /* a restart keeps z isolated (no new transition) */
    zactor_destroy(&f->engine);
    metrics_remove(f->metrics, "statusd_agent_isolated", (const char *[]){"agent", "z", NULL});
    s_start(f);
    s_sync(f); /* the rebuild is done */
    assert_int_equal(s_metric(f, "statusd_agent_isolated{agent=\"z\"}"), 1);
    /* (no results were stored, so nothing was replayed: without shared votes z stays
     * isolated) every agent reports, z agrees again */
    for (int g = 0; g < 3; g++)
        for (int k = 0; k < 3; k++)
            s_push(f, f->assets[k].id, agents[g], true);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM agents WHERE isolated", 0, 3000);
}

/* ---- flapping --------------------------------------------------------------------------- */

static long s_id(fx_t *f, const char *event)
{
    char q[160];
    snprintf(q, sizeof q, "SELECT coalesce(max(id), 0) FROM notifications WHERE event = '%s'",
             event);
    return s_count(f, q);
}

static long s_events(fx_t *f, const char *event)
{
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM notifications WHERE event = '%s'", event);
    return s_count(f, q);
}

/* Toggles a1 (one agent, thresholds 1: every result is a round and changes the state, DOWN
 * first) until FLAPPING is queued; returns the number of results. */
static int s_toggle_until_flapping(fx_t *f)
{
    int n = 0;
    sd_ms_t t0 = sd_mono_ms();
    while (s_events(f, "FLAPPING") == 0) {
        if (n > 40)
            fail_msg("no FLAPPING after %d toggling results", n);
        s_push(f, "a1", "x", n % 2 == 1);
        n++;
        s_sync(f);
    }
    print_message("FLAPPING after %d toggling results (%lld ms)\n", n,
                  (long long) (sd_mono_ms() - t0));
    return n;
}

/* Rule 17: a flapping target whose low threshold is below one change in the window (its own
 * 5 %) pages once (its first DOWN, at once), no DOWN/RECOVERY storm before FLAPPING: every
 * recovery before it is restless and held; the incident stays open while it flaps and
 * resolves with its RECOVERY right after the STABLE. */
static void test_flapping(void **state)
{
    fx_t *f = *state;
    f->manifest.n_assets = 1;
    f->manifest.flap_recovery_hold_seconds = 2;
    f->assets[0].flap_low_percent = 5;
    s_start(f);
    s_push(f, "a1", "x", false);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 1, 3000);
    int n = 1 + s_toggle_until_flapping(f);
    assert_true(n >= 9 && n <= 10); /* 9 changes weigh 50.2 % */
    long downs = s_events(f, "DOWN"), recoveries = s_events(f, "RECOVERY");
    print_message("before FLAPPING: DOWN %ld, RECOVERY %ld, incidents %ld, relapses %ld\n",
                  downs, recoveries, s_count(f, "SELECT count(*) FROM incidents"),
                  s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'relapsed'"));
    assert_int_equal(downs, 1);
    assert_int_equal(recoveries, 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_true(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'relapsed'") >= 3);
    assert_true(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'recovery_held'"
                           " AND detail->>'reason' = 'restless'") >= 1);
    s_wait_metric(f, "statusd_asset_flapping{asset=\"a1\"}", 1, 2000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE id = 'a1' AND flapping"), 1);
    /* the storm goes on: nothing more is queued, still the one incident */
    for (int i = 0; i < 10; i++, n++)
        s_push(f, "a1", "x", n % 2 == 0);
    s_sync(f);
    assert_int_equal(s_events(f, "FLAPPING"), 1);
    assert_int_equal(s_events(f, "DOWN"), 1);
    assert_int_equal(s_events(f, "RECOVERY"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_true(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'recovery_held'"
                           " AND detail->>'reason' = 'flapping'") >= 1);
    /* it settles UP: STABLE, then the incident resolves with the RECOVERY of its DOWN */
    int stable = 0;
    while (s_events(f, "STABLE") == 0) {
        if (stable > 30)
            fail_msg("no STABLE after %d successes", stable);
        s_push(f, "a1", "x", true);
        stable++;
        s_sync(f);
    }
    sd_ms_t t_stable = sd_mono_ms();
    print_message("STABLE after %d successes\n", stable);
    assert_true(stable >= 18 && stable <= 21); /* the window empties below 5 % */
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 1, 4000);
    print_message("RECOVERY %lld ms after the STABLE (hold 2 s from the last DOWN)\n",
                  (long long) (sd_mono_ms() - t_stable));
    assert_true(s_id(f, "RECOVERY") > s_id(f, "STABLE"));
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 0);
    for (int i = 0; i < 5; i++)
        s_push(f, "a1", "x", true);
    s_sync(f);
    assert_int_equal(s_events(f, "STABLE"), 1);
    assert_int_equal(s_events(f, "FLAPPING"), 1);
    assert_int_equal(s_events(f, "DOWN"), 1);
    assert_int_equal(s_events(f, "RECOVERY"), 1);
    assert_int_equal(s_metric(f, "statusd_asset_flapping{asset=\"a1\"}"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE flapping"), 0);
    PGresult *r = s_sql(f, "SELECT payload->>'state' FROM notifications WHERE event = 'STABLE'");
    assert_string_equal(PQgetvalue(r, 0, 0), "UP");
    PQclear(r);
}

/* DOWN when flapping starts, settling DOWN: the incident (whose DOWN went out) stays open
 * and paged, nothing is re-sent; its recovery later is sent at once (settled: not restless,
 * so the hold does not apply). */
static void test_flapping_settles_down(void **state)
{
    fx_t *f = *state;
    f->manifest.n_assets = 1;
    f->manifest.flap_recovery_hold_seconds = 2;
    f->assets[0].flap_low_percent = 5;
    s_start(f);
    s_toggle_until_flapping(f);
    long iid = s_count(f, "SELECT max(id) FROM incidents");
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    s_push(f, "a1", "x", true);
    int down = 0;
    while (s_events(f, "STABLE") == 0) {
        if (down > 30)
            fail_msg("no STABLE after %d failures", down);
        s_push(f, "a1", "x", false);
        down++;
        s_sync(f);
    }
    print_message("STABLE (DOWN) after %d failures\n", down);
    assert_int_equal(s_events(f, "DOWN"), 1);
    assert_int_equal(s_events(f, "RECOVERY"), 0);
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM incidents WHERE id = %ld AND ended_at IS NULL",
             iid);
    assert_int_equal(s_count(f, q), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    PGresult *r = s_sql(f, "SELECT payload->>'state', payload->>'incident_id' FROM notifications"
                           " WHERE event = 'STABLE'");
    assert_string_equal(PQgetvalue(r, 0, 0), "DOWN");
    assert_int_equal(atol(PQgetvalue(r, 0, 1)), iid);
    PQclear(r);
    /* it recovers: the RECOVERY of that DOWN, at once */
    sd_ms_t t0 = sd_mono_ms();
    s_push(f, "a1", "x", true);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 1, 4000);
    sd_ms_t held = sd_mono_ms() - t0;
    print_message("RECOVERY %lld ms after the asset came back (settled: no hold)\n",
                  (long long) held);
    assert_true(held <= 1500);
    snprintf(q, sizeof q, "SELECT count(*) FROM incidents WHERE id = %ld AND ended_at IS NOT NULL",
             iid);
    assert_int_equal(s_count(f, q), 1);
}

/* Without a hold (recoveryHoldSeconds 0) and thresholds 45/40 flapping starts on a
 * recovery that closed its incident: the next incident's DOWN is suppressed while it flaps
 * and queued with the STABLE when it settles DOWN; its RECOVERY follows on recovery. */
static void test_flapping_suppressed_down_paged(void **state)
{
    fx_t *f = *state;
    f->manifest.n_assets = 1;
    f->manifest.flap_recovery_hold_seconds = 0;
    f->manifest.flap_high_percent = 45;
    f->manifest.flap_low_percent = 40;
    s_start(f);
    s_toggle_until_flapping(f);
    long flap_id = s_id(f, "FLAPPING");
    print_message("before FLAPPING without a hold: DOWN %ld, RECOVERY %ld\n",
                  s_events(f, "DOWN"), s_events(f, "RECOVERY"));
    int down = 0;
    while (s_events(f, "STABLE") == 0) {
        if (down > 30)
            fail_msg("no STABLE after %d failures", down);
        s_push(f, "a1", "x", false);
        down++;
        s_sync(f);
    }
    assert_true(s_count(f, "SELECT count(*) FROM incident_events WHERE kind ="
                           " 'notification_suppressed'") >= 1);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM notifications n JOIN incidents i ON i.id = n.incident_id"
             " WHERE n.event = 'DOWN' AND n.id > %ld AND i.ended_at IS NULL", flap_id);
    assert_int_equal(s_count(f, q), 1);
    s_push(f, "a1", "x", true);
    s_sync(f);
    snprintf(q, sizeof q, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'"
                          " AND id > %ld", flap_id);
    s_wait_count(f, q, 1, 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_maintenance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weekly_dst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolation_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_settles_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_suppressed_down_paged, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
