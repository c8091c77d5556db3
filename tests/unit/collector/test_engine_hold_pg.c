/* Recovery (engine rule 17) against a real PostgreSQL, RESULTS pushed on BUS_ENGINE into a
 * real engine actor: an ordinary recovery is paged at once (no fixed hold); a restless
 * asset waits flapping.recoveryHoldSeconds out of DOWN at most (measured); a DOWN during the
 * wait is the same incident (no new incident, no new DOWN); an engine restart while an
 * incident waits neither doubles the incident nor repeats its DOWN, and it resolves with
 * one RECOVERY. */
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

/* Starts the engine and waits for its rebuild (statusd_incidents_open is set at its end), so
 * the results pushed next are judged one by one, not replayed from the database at once. */
static void s_start_rebuilt(fx_t *f)
{
    s_start(f);
    sd_ms_t t0 = sd_mono_ms();
    while (s_metric(f, "statusd_incidents_open") < 0) {
        if (sd_mono_ms() - t0 > 5000)
            fail_msg("the engine did not rebuild within 5 s");
        usleep(10 * 1000);
    }
}

/* An ordinary recovery is not held: the RECOVERY goes out at the first evaluation after the
 * agents' successThreshold, even with a hold configured. */
static void test_ordinary_recovery_at_once(void **state)
{
    fx_t *f = *state;
    f->manifest.flap_recovery_hold_seconds = 5;
    s_start_rebuilt(f);
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
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    sd_ms_t after = sd_mono_ms() - t_up;
    print_message("RECOVERY rows queued %lld ms after the successes (hold 5000 ms configured, "
                  "not restless: not applied)\n", (long long) after);
    assert_true(after < 1500);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = "
                                "'recovery_held'"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 0);
}

/* A restless asset (its own low flapping threshold 5 %: one change in the window is
 * restless) waits the hold out of DOWN; a DOWN during the wait is the same incident. The
 * wait is bounded by the hold even while it stays restless. */
static void test_restless_relapse_is_the_same_incident(void **state)
{
    fx_t *f = *state;
    f->manifest.flap_recovery_hold_seconds = 3;
    f->asset.flap_low_percent = 5;
    f->asset.flap_high_percent = 90; /* restless, never flapping */
    s_start_rebuilt(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
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
    assert_true(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'recovery_held'"
                           " AND detail->>'reason' = 'restless' AND (detail->>'hold_ms')::int ="
                           " 3000") >= 1);
    /* still restless (7 changes in the window), but the hold bounds the wait */
    sd_ms_t t_up = sd_mono_ms();
    s_recover2(f, t0 + 15000);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 6000);
    sd_ms_t held = sd_mono_ms() - t_up;
    print_message("RECOVERY %lld ms after the last recovery (restless, hold 3000 ms)\n",
                  (long long) held);
    assert_true(held >= 2900 && held <= 4500);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_rows(f, "DOWN"), 2);
    /* one per wait: the three that relapsed and the last */
    assert_int_equal(s_metric(f, "statusd_incident_recovery_holds_total{reason=\"restless\"}"),
                     4);
}

static void s_restart(fx_t *f)
{
    s_stop(f);
    metrics_destroy(&f->metrics);
    f->metrics = metrics_new();
    f->ctx.metrics = f->metrics;
    s_start(f);
}

/* A restart while a restless incident waits: the rebuild has no flapping history (nothing
 * says it is restless any more), so the incident resolves at once, once: neither doubled
 * nor its DOWN repeated. */
static void test_restart_while_held(void **state)
{
    fx_t *f = *state;
    f->manifest.flap_recovery_hold_seconds = 30;
    f->asset.flap_low_percent = 5;
    f->asset.flap_high_percent = 90;
    s_start_rebuilt(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    s_outage2(f, t0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    long iid = s_count(f, "SELECT max(id) FROM incidents");
    s_recover2(f, t0 + 2000);
    s_wait_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'recovery_held'", 1, 3000);
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 1);
    sd_ms_t t_restart = sd_mono_ms();
    s_restart(f);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 6000);
    print_message("RECOVERY %lld ms after the restart (the 30 s hold was not restarted)\n",
                  (long long) (sd_mono_ms() - t_restart));
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM incidents WHERE id = %ld AND ended_at IS NOT NULL",
             iid);
    assert_int_equal(s_count(f, q), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_rows(f, "DOWN"), 2);
    s_sync(f);
    s_wait_count(f, "SELECT count(*) FROM notifications", 4, 2000);
    assert_int_equal(s_rows(f, "RECOVERY"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ordinary_recovery_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restless_relapse_is_the_same_incident, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_while_held, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
