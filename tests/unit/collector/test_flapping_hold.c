/* recovery_hold (engine rule 17): when an incident whose asset left DOWN may resolve; the
 * hold's default and bounds; flapping.recoveryHoldSeconds in the manifest (validated with
 * file:line:col:field errors); a simulated flapping asset pages once instead of a storm. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flapping.h"
#include "recovery_hold.h"
#include "sd_config.h"

static void test_check_order_and_bounds(void **state)
{
    (void) state;
    /* flapping wins over everything, even a long-expired hold */
    assert_int_equal(recovery_hold_check(true, 0, 25, 999999, 0), RECOVERY_HELD_FLAPPING);
    /* restless: at or above the low threshold */
    assert_int_equal(recovery_hold_check(false, 25.0, 25, 999999, 0), RECOVERY_HELD_RESTLESS);
    assert_int_equal(recovery_hold_check(false, 24.99, 25, 999999, 0), RECOVERY_CLOSE);
    /* a low threshold of 0 (high below the default low) never holds by percent */
    assert_int_equal(recovery_hold_check(false, 90, 0, 10, 0), RECOVERY_CLOSE);
    /* the hold: strictly less than hold_ms waits */
    assert_int_equal(recovery_hold_check(false, 0, 25, 4999, 5000), RECOVERY_HELD_TIME);
    assert_int_equal(recovery_hold_check(false, 0, 25, 5000, 5000), RECOVERY_CLOSE);
    assert_int_equal(recovery_hold_check(false, 0, 25, 0, 0), RECOVERY_CLOSE);
    assert_string_equal(recovery_hold_reason(RECOVERY_HELD_TIME), "hold");
    assert_string_equal(recovery_hold_reason(RECOVERY_HELD_RESTLESS), "restless");
    assert_string_equal(recovery_hold_reason(RECOVERY_HELD_FLAPPING), "flapping");
    assert_string_equal(recovery_hold_reason(RECOVERY_CLOSE), "close");
    /* default 2 x interval; explicit seconds; clamped */
    assert_int_equal(recovery_hold_ms(-1, 30), 60000);
    assert_int_equal(recovery_hold_ms(-1, 0), 2000);
    assert_int_equal(recovery_hold_ms(-1, 7200), RECOVERY_HOLD_MAX_S * 1000LL);
    assert_int_equal(recovery_hold_ms(0, 30), 0);
    assert_int_equal(recovery_hold_ms(5, 30), 5000);
    assert_int_equal(recovery_hold_ms(99999, 30), RECOVERY_HOLD_MAX_S * 1000LL);
    int high = 0, low = 0;
    flapping_thresholds(&high, &low);
    assert_int_equal(high, 50);
    assert_int_equal(low, 25);
    high = 50, low = 60;
    flapping_thresholds(&high, &low);
    assert_int_equal(low, 25);
}

/* The engine's order per round, simulated: judge the hold with the percent before the
 * round's sample, then sample. A target that changes state every round (DOWN first) from a
 * steady UP: a hold of 3 rounds keeps the first incident open until FLAPPING; without a hold
 * every recovery closes an incident until the percent reaches the low threshold. */
static void s_simulate(int hold_rounds, int high, int low, int *downs, int *recoveries,
                       int *flap_at)
{
    flapping_t f;
    flapping_restore(&f, false);
    bool down = false, open = false, notified_flapping = false;
    int out_of_down = 0;
    *downs = *recoveries = 0;
    *flap_at = -1;
    for (int round = 1; round <= 40; round++) {
        bool changed = round <= 20; /* 20 toggling rounds, then steady */
        if (changed)
            down = !down;
        if (down) {
            out_of_down = 0;
            if (!open) {
                open = true;
                *downs += !f.flapping; /* while flapping the DOWN is suppressed */
            }
        } else if (open) {
            recovery_verdict_t v = recovery_hold_check(
                f.flapping, flapping_percent(&f), low, (int64_t) out_of_down * 1000,
                (int64_t) hold_rounds * 1000);
            if (v == RECOVERY_CLOSE) {
                open = false;
                (*recoveries)++;
            }
            out_of_down++;
        }
        if (flapping_sample(&f, changed, high, low) == FLAPPING_START && !notified_flapping) {
            notified_flapping = true;
            *flap_at = round;
        }
    }
    assert_false(open); /* it settled UP: the incident resolved */
    assert_false(f.flapping);
}

static void test_flapping_target_pages_once(void **state)
{
    (void) state;
    int downs, recoveries, flap_at;
    s_simulate(3, 50, 25, &downs, &recoveries, &flap_at);
    print_message("hold 3 rounds, 50/25: DOWN %d, RECOVERY %d, FLAPPING at round %d\n", downs,
                  recoveries, flap_at);
    assert_int_equal(downs, 1);
    assert_int_equal(recoveries, 1); /* the first DOWN's, after the STABLE */
    assert_int_equal(flap_at, 9);
    s_simulate(3, 50, 40, &downs, &recoveries, &flap_at);
    print_message("hold 3 rounds, 50/40: DOWN %d, RECOVERY %d\n", downs, recoveries);
    assert_int_equal(downs, 1);
    assert_int_equal(recoveries, 1);
    /* no hold: the percent rule alone stops the storm once 25 % is reached */
    s_simulate(0, 50, 25, &downs, &recoveries, &flap_at);
    print_message("no hold, 50/25: DOWN %d, RECOVERY %d (the storm the hold prevents)\n", downs,
                  recoveries);
    assert_int_equal(downs, 3);
    assert_int_equal(recoveries, 3);
}

static int s_parse(const char *text, sd_manifest_t **m, char *err, size_t errlen)
{
    return sd_manifest_parse("m.json", text, m, err, errlen);
}

#define ASSET_A                                                                              \
    "{\"id\": \"a\", \"assetType\": \"tcp\", \"name\": \"A\", \"address\": \"h:1\","         \
    " \"intervalSeconds\": 60, \"timeoutSeconds\": 5}"

static void test_manifest_field(void **state)
{
    (void) state;
    sd_manifest_t *m = NULL;
    char err[1024] = "";
    assert_int_equal(s_parse("{\"assets\": [" ASSET_A "]}", &m, err, sizeof err), 0);
    assert_int_equal(m->flap_recovery_hold_seconds, -1); /* absent: 2 x intervalSeconds */
    assert_int_equal(recovery_hold_ms(m->flap_recovery_hold_seconds,
                                      m->assets[0].interval_seconds), 120000);
    sd_manifest_destroy(&m);
    assert_int_equal(s_parse("{\"assets\": [" ASSET_A "],\n \"flapping\": {\"highThreshold\": 50,"
                             " \"recoveryHoldSeconds\": 0}}", &m, err, sizeof err), 0);
    assert_int_equal(m->flap_recovery_hold_seconds, 0);
    sd_manifest_destroy(&m);
    assert_int_equal(s_parse("{\"assets\": [" ASSET_A "],\n \"flapping\":"
                             " {\"recoveryHoldSeconds\": 45}}", &m, err, sizeof err), 0);
    assert_int_equal(m->flap_recovery_hold_seconds, 45);
    assert_int_equal(m->flap_high_percent, 50);
    sd_manifest_destroy(&m);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"assets\": [" ASSET_A "],\n \"flapping\": {\"recoveryHoldSeconds\": 3601}}",
         "m.json:2:38: flapping.recoveryHoldSeconds: expected an integer from 0 to 3600, got "
         "3601"},
        {"{\"assets\": [" ASSET_A "],\n \"flapping\": {\"recoveryHoldSeconds\": \"5s\"}}",
         "m.json:2:38: flapping.recoveryHoldSeconds: expected an integer from 0 to 3600, got "
         "a string"},
        {"{\"assets\": [" ASSET_A "],\n \"flapping\": {\"recoveryHold\": 5}}",
         "m.json:2:15: flapping.recoveryHold: unknown field (allowed: highThreshold, "
         "lowThreshold, recoveryHoldSeconds)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m = NULL;
        assert_int_equal(s_parse(bad[i].text, &m, err, sizeof err), -EINVAL);
        print_message("  error: %s\n", err);
        assert_null(m);
        assert_string_equal(err, bad[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_order_and_bounds),
        cmocka_unit_test(test_flapping_target_pages_once),
        cmocka_unit_test(test_manifest_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
