/* uptime: DEGRADED counts as up, MAINTENANCE and UNKNOWN/UNCONFIRMED are left out of the
 * figure (reported apart, never as down), no up or down time gives no figure (null), and the
 * JSON carries every part to the millisecond. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>

#include <cmocka.h>

#include "uptime.h"

static void test_ratio(void **st)
{
    (void) st;
    uptime_secs_t u = {0};
    assert_true(uptime_ratio(&u) < 0);
    uptime_add(&u, "UP", 3600);
    uptime_add(&u, "DEGRADED", 1200);
    uptime_add(&u, "DOWN", 600);
    uptime_add(&u, "MAINTENANCE", 1800);
    uptime_add(&u, "UNKNOWN", 300);
    uptime_add(&u, "UNCONFIRMED", 300);
    uptime_add(&u, "WHATEVER", 1);
    uptime_add(&u, "DOWN", -5);   /* ignored */
    uptime_add(&u, NULL, 5);      /* ignored */
    double r = uptime_ratio(&u);
    print_message("uptime %.6f\n", r);
    assert_true(fabs(r - 4800.0 / 5400.0) < 1e-9);
    assert_true(u.unknown == 601 && u.maintenance == 1800);
    json_t *j = uptime_json(&u);
    assert_true(fabs(json_real_value(json_object_get(j, "uptime")) - 0.888889) < 1e-9);
    assert_true(json_real_value(json_object_get(j, "upSeconds")) == 4800);
    assert_true(json_real_value(json_object_get(j, "degradedSeconds")) == 1200);
    assert_true(json_real_value(json_object_get(j, "downSeconds")) == 600);
    assert_true(json_real_value(json_object_get(j, "maintenanceSeconds")) == 1800);
    assert_true(json_real_value(json_object_get(j, "unknownSeconds")) == 601);
    json_decref(j);
    /* maintenance and unknown only: no figure */
    uptime_secs_t m = {0};
    uptime_add(&m, "MAINTENANCE", 10);
    uptime_add(&m, "UNKNOWN", 10);
    j = uptime_json(&m);
    assert_true(json_is_null(json_object_get(j, "uptime")));
    json_decref(j);
    /* milliseconds kept */
    uptime_secs_t d = {0};
    uptime_add(&d, "DOWN", 1.2344);
    uptime_add(&d, "UP", 98.7656);
    j = uptime_json(&d);
    assert_true(fabs(json_real_value(json_object_get(j, "downSeconds")) - 1.234) < 1e-9);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ratio)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
