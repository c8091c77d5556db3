/* flapping: Nagios-weighted percent state change over the last 20 samples, hysteresis
 * between the high and low thresholds, no settling on an empty history after a restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "flapping.h"

static void test_weights_and_thresholds(void **state)
{
    (void) state;
    flapping_t f;
    flapping_restore(&f, false);
    assert_true(flapping_percent(&f) == 0);
    /* 8 changes: 8 newest weights 1.2 .. 1.0316 -> 45.3 %; the 9th reaches 50.2 % */
    for (int i = 0; i < 8; i++)
        assert_int_equal(flapping_sample(&f, true, 50, 25), FLAPPING_NONE);
    print_message("8 changes: %.2f %%\n", flapping_percent(&f));
    assert_true(flapping_percent(&f) > 45 && flapping_percent(&f) < 46);
    assert_int_equal(flapping_sample(&f, true, 50, 25), FLAPPING_START);
    assert_true(f.flapping);
    /* all 20 changed: 100 % */
    for (int i = 0; i < 11; i++)
        assert_int_equal(flapping_sample(&f, true, 50, 25), FLAPPING_NONE);
    assert_true(flapping_percent(&f) > 99.99 && flapping_percent(&f) < 100.01);
    /* quiet samples: between 25 and 50 % it keeps flapping (hysteresis) */
    int quiet = 0;
    flapping_event_t ev = FLAPPING_NONE;
    while (ev == FLAPPING_NONE && quiet < 40) {
        ev = flapping_sample(&f, false, 50, 25);
        quiet++;
        if (ev == FLAPPING_NONE)
            assert_true(flapping_percent(&f) >= 25);
    }
    print_message("STOP after %d quiet samples at %.2f %%\n", quiet, flapping_percent(&f));
    assert_int_equal(ev, FLAPPING_STOP);
    assert_int_equal(quiet, 15);
    /* a steady asset never flaps; old changes fall out of the window */
    for (int i = 0; i < 25; i++)
        assert_int_equal(flapping_sample(&f, false, 50, 25), FLAPPING_NONE);
    assert_true(flapping_percent(&f) == 0);
    /* configurable thresholds */
    flapping_restore(&f, false);
    assert_int_equal(flapping_sample(&f, true, 5, 1), FLAPPING_START);
}

static void test_oldest_weigh_less(void **state)
{
    (void) state;
    flapping_t newest, oldest;
    flapping_restore(&newest, false);
    flapping_restore(&oldest, false);
    for (int i = 0; i < 20; i++) {
        flapping_sample(&newest, i == 19, 90, 80);
        flapping_sample(&oldest, i == 0, 90, 80);
    }
    assert_true(flapping_percent(&newest) > 5.99 && flapping_percent(&newest) < 6.01);
    assert_true(flapping_percent(&oldest) > 3.99 && flapping_percent(&oldest) < 4.01);
}

static void test_restored_needs_history(void **state)
{
    (void) state;
    flapping_t f;
    flapping_restore(&f, true);
    for (int i = 0; i < FLAPPING_WINDOW / 2 - 1; i++)
        assert_int_equal(flapping_sample(&f, false, 50, 25), FLAPPING_NONE);
    assert_true(f.flapping);
    assert_int_equal(flapping_sample(&f, false, 50, 25), FLAPPING_STOP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_and_thresholds),
        cmocka_unit_test(test_oldest_weigh_less),
        cmocka_unit_test(test_restored_needs_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
