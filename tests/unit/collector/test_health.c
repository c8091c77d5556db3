/* health: parts go stuck without heartbeats, db_failing without writes (with the error,
 * repaired), the result pipeline stuck or lagging; the report names them; metrics export.
 * Time is passed in: "now" later than the real clock stands for time passing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "health.h"
#include "metrics.h"
#include "sd_utf8.h"

static const char *s_status(json_t *report, const char *part)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(report, "parts"),
                                                              part),
                                             "status"));
}

static void test_fresh_parts_are_healthy(void **state)
{
    (void) state;
    health_t *h = health_new(5000, 8000);
    assert_non_null(h);
    assert_int_equal(health_register(h, "engine", HEALTH_LOOP | HEALTH_WRITES), 0);
    assert_int_equal(health_register(h, "gateway", HEALTH_LOOP), 0);
    json_t *report = NULL;
    assert_true(health_check(h, sd_mono_ms(), &report));
    assert_string_equal(json_string_value(json_object_get(report, "status")), "healthy");
    assert_int_equal(json_array_size(json_object_get(report, "unhealthy")), 0);
    assert_string_equal(s_status(report, "engine"), "ok");
    json_decref(report);
    assert_int_equal(health_write_interval_ms(h), 2000);
    health_destroy(&h);
    assert_null(h);
    health_destroy(&h);
}

static void test_stuck_loop(void **state)
{
    (void) state;
    health_t *h = health_new(5000, 60000);
    health_register(h, "engine", HEALTH_LOOP | HEALTH_WRITES);
    health_register(h, "gateway", HEALTH_LOOP);
    sd_ms_t now = sd_mono_ms();
    /* 6 s later nobody beat: both stuck */
    json_t *report = NULL;
    assert_false(health_check(h, now + 6000, &report));
    assert_string_equal(s_status(report, "engine"), "stuck");
    const char *reason = json_string_value(json_object_get(
        json_object_get(json_object_get(report, "parts"), "engine"), "reason"));
    printf("  engine: %s\n", reason);
    assert_non_null(strstr(reason, "loop has not run"));
    json_decref(report);
    /* the gateway beats: only the engine is named */
    health_beat(h, "gateway");
    health_beat(h, "nobody"); /* unknown: ignored */
    health_beat(h, "engine");
    assert_true(health_check(h, sd_mono_ms() + 4000, NULL));
    assert_false(health_check(h, sd_mono_ms() + 5500, &report));
    json_t *bad = json_object_get(report, "unhealthy");
    assert_int_equal(json_array_size(bad), 2);
    json_decref(report);
    health_destroy(&h);
}

static void test_db_failing(void **state)
{
    (void) state;
    health_t *h = health_new(60000, 3000);
    health_register(h, "ingest", HEALTH_LOOP | HEALTH_WRITES);
    health_register(h, "gateway", HEALTH_LOOP);
    /* an error text with a cut UTF-8 sequence and a newline */
    health_db_failed(h, "ingest", "store batch: no connection to the server\n\xC3");
    sd_ms_t now = sd_mono_ms();
    assert_true(health_check(h, now + 2000, NULL)); /* failing, but within the limit */
    json_t *report = NULL;
    assert_false(health_check(h, now + 4000, &report));
    assert_string_equal(s_status(report, "ingest"), "db_failing");
    assert_string_equal(s_status(report, "gateway"), "ok");
    json_t *p = json_object_get(json_object_get(report, "parts"), "ingest");
    const char *err = json_string_value(json_object_get(p, "last_db_error"));
    printf("  ingest: %s\n", json_string_value(json_object_get(p, "reason")));
    assert_non_null(err);
    assert_true(sd_utf8_valid(err, strlen(err)));
    assert_null(strchr(err, '\n'));
    char *text = json_dumps(report, JSON_COMPACT);
    assert_non_null(text); /* jansson refuses invalid UTF-8: the report is printable */
    free(text);
    json_decref(report);
    /* a successful write clears it */
    health_db_ok(h, "ingest");
    assert_true(health_check(h, sd_mono_ms() + 2000, &report));
    p = json_object_get(json_object_get(report, "parts"), "ingest");
    assert_null(json_object_get(p, "last_db_error"));
    json_decref(report);
    health_destroy(&h);
}

static void test_results_pipeline(void **state)
{
    (void) state;
    health_t *h = health_new(5000, 60000);
    sd_ms_t t0 = sd_mono_ms();
    health_results_forwarded(h, 1);
    health_results_forwarded(h, 2);
    assert_true(health_check(h, t0 + 4000, NULL));
    json_t *report = NULL;
    assert_false(health_check(h, t0 + 6000, &report)); /* stored, not judged for 6 s */
    json_t *r = json_object_get(report, "results");
    assert_string_equal(json_string_value(json_object_get(r, "status")), "stuck");
    assert_int_equal(json_integer_value(json_object_get(r, "pending")), 2);
    json_decref(report);
    /* the engine catches up; the messages had waited 0 s (stamp now) */
    health_results_evaluated(h, 2, sd_mono_ms());
    assert_true(health_check(h, sd_mono_ms() + 6000, NULL)); /* nothing pending */
    /* a batch evaluated 7 s after it was stored: lagging while that is recent */
    health_results_forwarded(h, 3);
    health_results_evaluated(h, 3, sd_mono_ms() - 7000);
    assert_false(health_check(h, sd_mono_ms(), &report));
    r = json_object_get(report, "results");
    assert_string_equal(json_string_value(json_object_get(r, "status")), "lagging");
    json_decref(report);
    assert_true(health_check(h, sd_mono_ms() + 6000, NULL)); /* long ago, nothing since */
    /* a message lost on the way (never evaluated) does not wedge it: a later one counts */
    health_results_forwarded(h, 4);
    health_results_forwarded(h, 5);
    health_results_evaluated(h, 5, sd_mono_ms());
    assert_true(health_check(h, sd_mono_ms() + 6000, NULL));
    health_destroy(&h);
}

static void test_export(void **state)
{
    (void) state;
    health_t *h = health_new(0, 0);
    metrics_t *m = metrics_new();
    health_register(h, "engine", HEALTH_LOOP | HEALTH_WRITES);
    health_register(h, "gateway", HEALTH_LOOP);
    health_db_ok(h, "engine");
    health_export(h, m);
    char *text = metrics_render(m);
    assert_non_null(text);
    printf("%s", text);
    assert_non_null(strstr(text, "statusd_actor_heartbeat_timestamp_seconds{actor=\"engine\"}"));
    assert_non_null(strstr(text, "statusd_actor_heartbeat_timestamp_seconds{actor=\"gateway\"}"));
    assert_non_null(
        strstr(text, "statusd_actor_last_db_write_timestamp_seconds{actor=\"engine\"}"));
    assert_null(strstr(text, "statusd_actor_last_db_write_timestamp_seconds{actor=\"gateway\"}"));
    assert_non_null(strstr(text, "statusd_collector_healthy 1"));
    assert_non_null(strstr(text, "statusd_actor_healthy{actor=\"engine\"} 1"));
    free(text);
    metrics_destroy(&m);
    health_destroy(&h);
}

/* The hourly upkeep: one failure is retried quietly, the second in a row turns the collector
 * red with the error (one line, bounded), a success turns it green again; /metrics agrees. */
static void test_upkeep(void **state)
{
    (void) state;
    health_t *h = health_new(0, 0);
    metrics_t *m = metrics_new();
    health_register(h, "engine", HEALTH_LOOP);
    json_t *r = NULL;
    assert_true(health_check(h, sd_mono_ms(), &r));
    assert_null(json_object_get(r, "upkeep"));      /* not run yet: nothing to say */
    json_decref(r);
    health_upkeep(h, true, NULL);
    health_upkeep(h, false, "rollups: canceling statement due to statement timeout\nmore");
    assert_true(health_check(h, sd_mono_ms(), &r));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "upkeep"),
                                                          "status")),
                        "retrying");
    json_decref(r);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    health_upkeep(h, false, big);
    assert_false(health_check(h, sd_mono_ms(), &r));
    char *txt = json_dumps(r, JSON_COMPACT);
    printf("two failures: %.300s\n", txt);
    free(txt);
    json_t *u = json_object_get(r, "upkeep");
    assert_string_equal(json_string_value(json_object_get(u, "status")), "failing");
    assert_int_equal(json_integer_value(json_object_get(u, "failures_in_a_row")), 2);
    assert_true(strlen(json_string_value(json_object_get(u, "last_error"))) < 400);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "unhealthy"), 0)),
                        "upkeep");
    json_decref(r);
    health_export(h, m);
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "statusd_collector_healthy 0"));
    assert_non_null(strstr(text, "statusd_upkeep_failures 2"));
    free(text);
    health_upkeep(h, true, NULL);
    assert_true(health_check(h, sd_mono_ms(), &r));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "upkeep"),
                                                          "status")),
                        "ok");
    assert_null(json_object_get(json_object_get(r, "upkeep"), "last_error"));
    json_decref(r);
    metrics_destroy(&m);
    health_destroy(&h);
}

static void test_bounds_and_null(void **state)
{
    (void) state;
    health_t *h = health_new(1000, 1000);
    static char names[HEALTH_MAX_PARTS + 1][8];
    for (int i = 0; i <= HEALTH_MAX_PARTS; i++) {
        snprintf(names[i], sizeof names[i], "p%d", i);
        assert_int_equal(health_register(h, names[i], HEALTH_LOOP),
                         i < HEALTH_MAX_PARTS ? 0 : -ENOSPC);
    }
    assert_int_equal(health_write_interval_ms(h), 1000);
    health_destroy(&h);
    /* a NULL registry (tests that start actors without one) is a no-op */
    health_beat(NULL, "x");
    health_db_ok(NULL, "x");
    health_db_failed(NULL, "x", "y");
    health_results_forwarded(NULL, 1);
    assert_true(health_check(NULL, 0, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_parts_are_healthy),
        cmocka_unit_test(test_stuck_loop),
        cmocka_unit_test(test_db_failing),
        cmocka_unit_test(test_results_pipeline),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_upkeep),
        cmocka_unit_test(test_bounds_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
