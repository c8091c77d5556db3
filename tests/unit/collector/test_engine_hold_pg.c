/* The recovery hold (engine rule 17) against a real PostgreSQL, RESULTS pushed on BUS_ENGINE
 * into a real engine actor: the first DOWN of a stable asset is queued at once; its
 * RECOVERY waits flapping.recoveryHoldSeconds out of DOWN (measured); a DOWN during the wait
 * is the same incident (no new incident, no new DOWN); an engine restart while an incident
 * waits neither doubles the incident nor repeats its DOWN, and the incident still resolves
 * with one RECOVERY. */
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

#define ENGINE_FIXTURE_DB_PREFIX "enghold"
#include "engine_fixture.h"

static long s_rows(fx_t *f, const char *event)
{
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM notifications WHERE event = '%s'", event);
    return s_count(f, q);
}

static void test_first_down_at_once_recovery_held(void **state)
{
    fx_t *f = *state;
    f->manifest.flap_recovery_hold_seconds = 2;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    s_outage2(f, t0);
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'",
                                2, 5000);
    print_message("DOWN rows queued %lld ms after the 4th failure (never held)\n",
                  (long long) took);
    assert_true(took < 1000);
    sd_ms_t t_up = sd_mono_ms();
    s_recover2(f, t0 + 3000);
    s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'UP'", 1, 3000);
    /* UP, but the incident waits */
    assert_int_equal(s_rows(f, "RECOVERY"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    s_wait_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'recovery_held' AND"
                    " detail->>'reason' = 'hold' AND (detail->>'hold_ms')::int = 2000", 1, 3000);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    sd_ms_t held = sd_mono_ms() - t_up;
    print_message("RECOVERY rows queued %lld ms after the successes (hold 2000 ms, 1 s tick)\n",
                  (long long) held);
    assert_true(held >= 1900 && held <= 3500);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_metric(f, "statusd_incident_recovery_holds_total{reason=\"hold\"}"), 1);
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 0);
}

static void test_relapse_is_the_same_incident(void **state)
{
    fx_t *f = *state;
    f->manifest.flap_recovery_hold_seconds = 3;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_recover2(f, t0 - 1000);
    s_outage2(f, t0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    for (int round = 0; round < 3; round++) {
        s_recover2(f, t0 + 2000 + round * 3000);
        s_sync(f);
        s_outage2(f, t0 + 3000 + round * 3000);
        s_sync(f);
    }
    s_wait_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'relapsed'", 3, 3000);
    print_message("3 recoveries and relapses within the hold: incidents %ld, DOWN rows %ld, "
                  "RECOVERY rows %ld\n", s_count(f, "SELECT count(*) FROM incidents"),
                  s_rows(f, "DOWN"), s_rows(f, "RECOVERY"));
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_rows(f, "DOWN"), 2);
    assert_int_equal(s_rows(f, "RECOVERY"), 0);
    assert_int_equal(s_metric(f, "statusd_incident_relapses_total{asset=\"" ASSET "\"}"), 3);
    /* 4 changes per cycle made it restless (percent state change >= 25 %): it resolves once
     * enough quiet rounds (both agents UP) brought the percent below the low threshold and
     * the hold has passed */
    sd_ms_t t_up = sd_mono_ms();
    int rounds = 0;
    while (s_rows(f, "RECOVERY") < 2) {
        if (sd_mono_ms() - t_up > 8000)
            fail_msg("no RECOVERY %d quiet rounds after the last relapse", rounds);
        s_recover2(f, t0 + 15000 + rounds * 200);
        rounds++;
        s_sync(f);
        usleep(100 * 1000);
    }
    print_message("RECOVERY after %d quiet rounds, %lld ms (hold 3000 ms)\n", rounds,
                  (long long) (sd_mono_ms() - t_up));
    assert_true(rounds <= 20 + 35); /* the window, and the hold at ~10 rounds a second */
    assert_true(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'recovery_held'"
                           " AND detail->>'reason' = 'restless'") >= 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_rows(f, "DOWN"), 2);
}

static void s_restart(fx_t *f)
{
    s_stop(f);
    metrics_destroy(&f->metrics);
    f->metrics = metrics_new();
    f->ctx.metrics = f->metrics;
    s_start(f);
}

static void test_restart_while_held(void **state)
{
    fx_t *f = *state;
    f->manifest.flap_recovery_hold_seconds = 3;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_recover2(f, t0 - 1000);
    s_outage2(f, t0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    long iid = s_count(f, "SELECT max(id) FROM incidents");
    s_recover2(f, t0 + 2000);
    s_wait_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'recovery_held'", 1, 3000);
    /* restart while the incident waits: the replay finds the asset UP, the wait starts again */
    s_restart(f);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'recovery_held'", 2, 3000);
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 1);
    /* DOWN again after the restart: the same incident, nothing sent */
    s_outage2(f, t0 + 4000);
    s_wait_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'relapsed'", 1, 3000);
    s_recover2(f, t0 + 6000);
    s_sync(f);
    /* and a second restart while it waits again */
    s_restart(f);
    sd_ms_t t_up = sd_mono_ms();
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 6000);
    print_message("RECOVERY %lld ms after the second restart (hold 3000 ms from the rebuild)\n",
                  (long long) (sd_mono_ms() - t_up));
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM incidents WHERE id = %ld AND ended_at IS NOT NULL",
             iid);
    assert_int_equal(s_count(f, q), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_rows(f, "DOWN"), 2);
    s_sync(f);
    usleep(1200 * 1000); /* one more tick: nothing else */
    assert_int_equal(s_rows(f, "RECOVERY"), 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_down_at_once_recovery_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relapse_is_the_same_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_while_held, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
