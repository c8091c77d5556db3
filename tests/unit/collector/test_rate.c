/* rate: the token bucket admits a burst, then one per period, and never more than burst. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rate.h"

static void test_burst_then_period(void **state)
{
    (void) state;
    rate_t r;
    rate_init(&r, 3, 1000);
    int taken = 0;
    for (int i = 0; i < 10; i++)
        taken += rate_take(&r, 3, 500, 1000);
    assert_int_equal(taken, 3);            /* the burst */
    assert_false(rate_take(&r, 3, 500, 1499));
    assert_true(rate_take(&r, 3, 500, 1500)); /* one per period */
    assert_false(rate_take(&r, 3, 500, 1500));
    /* a long pause refills to the burst, not beyond */
    taken = 0;
    for (int i = 0; i < 10; i++)
        taken += rate_take(&r, 3, 500, 100000);
    assert_int_equal(taken, 3);
}

static void test_clock_going_back_is_harmless(void **state)
{
    (void) state;
    rate_t r;
    rate_init(&r, 1, 5000);
    assert_true(rate_take(&r, 1, 1000, 5000));
    assert_false(rate_take(&r, 1, 1000, 4000)); /* earlier time: no refill */
    assert_false(rate_take(&r, 1, 1000, 5999));
    assert_true(rate_take(&r, 1, 1000, 6000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_period),
        cmocka_unit_test(test_clock_going_back_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
