/* A configuration reload in the alert engine (engine_reload.c), against a real PostgreSQL and
 * a real engine actor, the configuration in a config_ref holder as in the collector:
 *  - an asset removed with an open, paged incident: the incident closes with a 'resolved'
 *    event whose reason is "removed from the manifest", and no RECOVERY row is queued; its
 *    series go; its results still arriving are dropped as unknown_asset;
 *  - an asset renamed with an open incident keeps it (same row, still open); its RECOVERY
 *    goes where the new policy says;
 *  - an asset added is judged: its outage opens an incident paged to the new policy's
 *    notifiers only;
 *  - an asset removed while the database is away from the engine (ALLOW_CONNECTIONS false,
 *    its session ended), its incident opened meanwhile and not yet written: the engine keeps
 *    the removed asset and the old configuration until its journal is written, then the
 *    incident is written opened and closed with the reason, still with no RECOVERY. */
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
#include "config_ref.h"
#include "engine.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "store_assets.h"
#include "test_pg.h"

#define ENGINE_FIXTURE_DB_PREFIX "engreload"
#define ENGINE_FIXTURE_EXTRA_FIELDS config_ref_t *holder;
#define ENGINE_FIXTURE_CONFIGURE
#include "engine_fixture.h"

#define A(id, name)                                                                           \
    "{\"id\": \"" id "\", \"assetType\": \"http\", \"name\": \"" name "\", \"address\": "      \
    "\"http://127.0.0.1:9/" id "\", \"intervalSeconds\": 30, \"timeoutSeconds\": 5}"
#define SLACK(url) "{\"type\": \"slack\", \"webhookUrl\": \"" url "\"}"

static const char *M1 = "{\"assets\": [" A(ASSET, "API") ", " A("kept", "Kept") "]}";
static const char *N1 =
    "{\"notifiers\": {\"slack-ops\": " SLACK("http://127.0.0.1:9/x") ", \"teams-ops\": "
    SLACK("http://127.0.0.1:9/y") "}, \"notificationPolicy\": {\"onDown\": [\"slack-ops\", "
    "\"teams-ops\"], \"onRecovery\": [\"slack-ops\", \"teams-ops\"], \"throttleSeconds\": 0, "
    "\"storm\": {\"threshold\": 0}}}";
static const char *M2 = "{\"assets\": [" A("kept", "Kept v2") ", " A("added", "Added") "]}";
static const char *N2 =
    "{\"notifiers\": {\"slack-ops\": " SLACK("http://127.0.0.1:9/z") "}, \"notificationPolicy\":"
    " {\"onDown\": [\"slack-ops\"], \"onRecovery\": [\"slack-ops\"], \"throttleSeconds\": 0, "
    "\"storm\": {\"threshold\": 0}}}";

static void s_parse(const char *m_text, const char *n_text, sd_manifest_t **m,
                    sd_notifiers_t **n)
{
    char err[512] = "";
    if (sd_manifest_parse("manifest.json", m_text, m, err, sizeof err) != 0 ||
        sd_notifiers_parse("notifiers.json", n_text, n, err, sizeof err) != 0)
        fail_msg("config: %s", err);
}

static void s_configure(fx_t *f)
{
    sd_manifest_t *m;
    sd_notifiers_t *n;
    s_parse(M1, N1, &m, &n);
    f->holder = config_ref_new(m, n);
    assert_non_null(f->holder);
    f->ctx.config = f->holder;
    f->ctx.manifest = NULL;
    f->ctx.notifiers = NULL;
}

/* What reload_run does once the files are accepted: the assets table (unless sync is false:
 * the engine's database is away), then the swap. */
static void s_reload_sync(fx_t *f, const char *m_text, const char *n_text, bool sync)
{
    sd_manifest_t *m;
    sd_notifiers_t *n;
    s_parse(m_text, n_text, &m, &n);
    char err[512] = "";
    store_t *s = sync ? store_new(f->conninfo, err, sizeof err) : NULL;
    if (sync && (!s || store_assets_sync(s, m, err, sizeof err) != 0))
        fail_msg("sync: %s", err);
    store_destroy(&s);
    uint64_t g = 0;
    assert_int_equal(config_ref_swap(f->holder, m, n, &g), 0);
    print_message("configuration generation %llu published\n", (unsigned long long) g);
}

static void s_reload(fx_t *f, const char *m_text, const char *n_text)
{
    s_reload_sync(f, m_text, n_text, true);
}

static void s_fail2(fx_t *f, const char *asset, int64_t t)
{
    s_result(f, asset, "a1", "eu", false, t, true);
    s_result(f, asset, "a2", "us", false, t + 200, true);
    s_result(f, asset, "a1", "eu", false, t + 1000, true);
    s_result(f, asset, "a2", "us", false, t + 1200, true);
}

static void s_ok2(fx_t *f, const char *asset, int64_t t)
{
    s_result(f, asset, "a1", "eu", true, t, true);
    s_result(f, asset, "a2", "us", true, t + 100, true);
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    config_ref_t *holder = f->holder;
    int rc = teardown(state); /* stops the engine: it lets go of its snapshots */
    config_ref_destroy(&holder);
    return rc;
}

static void test_removed_changed_added(void **state)
{
    fx_t *f = *state;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_ok2(f, ASSET, t0 - 1000);
    s_ok2(f, "kept", t0 - 1000);
    s_sync(f);
    s_fail2(f, ASSET, t0);
    s_fail2(f, "kept", t0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 4, 5000);
    long removed_inc = s_count(f, "SELECT id FROM incidents WHERE asset_id = '" ASSET "'");
    long kept_inc = s_count(f, "SELECT id FROM incidents WHERE asset_id = 'kept'");

    s_reload(f, M2, N2);
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM incidents WHERE asset_id = '" ASSET
                                   "' AND ended_at IS NOT NULL", 1, 5000);
    print_message("the removed asset's incident closed %lld ms after the swap\n",
                  (long long) took);
    char q[300];
    snprintf(q, sizeof q, "SELECT count(*) FROM incident_events WHERE incident_id = %ld AND"
                          " kind = 'resolved' AND detail->>'reason' = 'removed from the manifest'",
             removed_inc);
    assert_int_equal(s_count(f, q), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'"),
                     0);
    /* the renamed one keeps its open incident and its row */
    snprintf(q, sizeof q, "SELECT count(*) FROM incidents WHERE id = %ld AND ended_at IS NULL",
             kept_inc);
    assert_int_equal(s_count(f, q), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE id = 'kept' AND"
                                " name = 'Kept v2' AND in_manifest"),
                     1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE id = '" ASSET "' AND"
                                " NOT in_manifest"),
                     1);
    /* a late result of the removed asset is dropped, not judged */
    double dropped = s_metric(f, "statusd_engine_results_dropped_total{reason=\"unknown_asset\"}");
    s_result(f, ASSET, "a1", "eu", false, t0 + 5000, true);
    s_sync(f); /* returns once one more is counted: the late result's or its own */
    double after = dropped;
    for (sd_ms_t t = sd_mono_ms(); after < dropped + 2 && sd_mono_ms() - t < 5000;
         usleep(10 * 1000))
        after = s_metric(f, "statusd_engine_results_dropped_total{reason=\"unknown_asset\"}");
    print_message("unknown_asset drops: %g before the late result, %g after it and a sync\n",
                  dropped, after);
    assert_true(after >= dropped + 2);
    assert_true(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}") < 0); /* its series went */
    assert_true(s_metric(f, "statusd_asset_up{asset=\"kept\"}") == 0);

    /* the new asset is judged; its DOWN goes to the new policy's one notifier */
    int64_t t1 = sd_wall_ms() - 5000;
    s_ok2(f, "added", t1 - 1000);
    s_fail2(f, "added", t1);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE asset_id = 'added' AND"
                    " event = 'DOWN' AND channel = 'slack-ops'",
                 1, 5000);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id = 'added'"),
                     1);
    /* the kept asset recovers: its RECOVERY goes where the new policy says */
    s_ok2(f, "kept", t1 + 2000);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE asset_id = 'kept' AND"
                    " event = 'RECOVERY'", 1, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id = 'kept' AND"
                                " event = 'RECOVERY' AND channel = 'slack-ops'"),
                     1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id = '" ASSET
                                "' AND event = 'RECOVERY'"),
                     0);
}

static void s_allow(fx_t *f, bool allow)
{
    assert_int_equal(test_pg_allow_connections(f->conninfo, allow), 0);
}

static void test_removed_while_database_away(void **state)
{
    fx_t *f = *state;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_ok2(f, ASSET, t0 - 1000);
    s_sync(f);
    s_allow(f, false);
    PQclear(s_sql(f, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                     " WHERE datname = current_database() AND pid <> pg_backend_pid()"));
    s_fail2(f, ASSET, t0); /* opened in memory, journaled, not written */
    s_sync(f);
    s_reload_sync(f, M2, N2, false);
    /* the open and the close (removed) wait in the journal */
    s_wait_metric(f, "statusd_engine_decisions_pending", 2, 5000);
    s_result(f, ASSET, "a1", "eu", false, t0 + 3000, true); /* late: dropped */
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);
    s_allow(f, true);
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM incidents WHERE asset_id = '" ASSET
                                   "' AND ended_at IS NOT NULL", 1, 15000);
    print_message("database back: the incident written opened and closed within %lld ms\n",
                  (long long) took);
    s_wait_metric(f, "statusd_engine_decisions_pending", 0, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events e JOIN incidents i ON"
                                " i.id = e.incident_id WHERE i.asset_id = '" ASSET "' AND"
                                " e.kind = 'resolved' AND"
                                " e.detail->>'reason' = 'removed from the manifest'"),
                     1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_removed_changed_added, setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_removed_while_database_away, setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
