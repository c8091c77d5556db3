/* test_metrics: the registry's text rendering, escaping, counters, removal, the series
 * bound, and a two-thread smoke test. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char DROPPED_BLOCK[] =
    "# HELP statusd_metrics_series_dropped_total Series not created because the registry was "
    "at its bound.\n"
    "# TYPE statusd_metrics_series_dropped_total counter\n"
    "statusd_metrics_series_dropped_total 0\n";

static void test_empty_registry_has_only_dropped_counter(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    char *out = metrics_render(m);
    assert_non_null(out);
    assert_string_equal(out, DROPPED_BLOCK);
    free(out);
    metrics_destroy(&m);
    assert_null(m);
    metrics_destroy(&m); /* NULL is fine */
}

static void test_render_exact(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    metrics_set(m, "statusd_probe_success", "1 if the probe succeeded.",
                L("asset", "web", "agent", "a2", "region", "eu"), 1);
    metrics_set(m, "statusd_probe_success", "1 if the probe succeeded.",
                L("asset", "api", "agent", "a1", "region", "us"), 0);
    metrics_set(m, "statusd_incidents_open", "Open incidents.", NULL, 3);
    metrics_add(m, "statusd_results_received_total", "Results received.", NULL, 2);
    metrics_add(m, "statusd_results_received_total", "ignored: first help wins", NULL, 5);
    char *out = metrics_render(m);
    assert_non_null(out);
    printf("%s", out);
    const char *want =
        "# HELP statusd_incidents_open Open incidents.\n"
        "# TYPE statusd_incidents_open gauge\n"
        "statusd_incidents_open 3\n"
        "# HELP statusd_metrics_series_dropped_total Series not created because the registry "
        "was at its bound.\n"
        "# TYPE statusd_metrics_series_dropped_total counter\n"
        "statusd_metrics_series_dropped_total 0\n"
        "# HELP statusd_probe_success 1 if the probe succeeded.\n"
        "# TYPE statusd_probe_success gauge\n"
        "statusd_probe_success{asset=\"api\",agent=\"a1\",region=\"us\"} 0\n"
        "statusd_probe_success{asset=\"web\",agent=\"a2\",region=\"eu\"} 1\n"
        "# HELP statusd_results_received_total Results received.\n"
        "# TYPE statusd_results_received_total counter\n"
        "statusd_results_received_total 7\n";
    assert_string_equal(out, want);
    /* rendering is stable */
    char *again = metrics_render(m);
    assert_string_equal(out, again);
    free(again);
    free(out);
    metrics_destroy(&m);
}

static void test_escaping(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    metrics_set(m, "statusd_x", "help with \\ backslash\nand newline \"quoted\"",
                L("asset", "a\\b\"c\nd"), 1);
    char *out = metrics_render(m);
    assert_non_null(out);
    assert_non_null(strstr(out, "# HELP statusd_x help with \\\\ backslash\\nand newline "
                                "\"quoted\"\n"));
    assert_non_null(strstr(out, "statusd_x{asset=\"a\\\\b\\\"c\\nd\"} 1\n"));
    free(out);
    metrics_destroy(&m);
}

static void test_number_formatting(void **state)
{
    (void) state;
    struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},         {-0.0, "0"},          {1, "1"},        {-3, "-3"},
        {42, "42"},       {0.5, "0.5"},         {0.1, "0.1"},    {0.123, "0.123"},
        {1e20, "1e+20"},  {1234567.25, "1234567.25"},            {NAN, "NaN"},
        {INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {1.0 / 3.0, "0.33333333333333331"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        metrics_t *m = metrics_new();
        metrics_set(m, "statusd_v", "v", NULL, cases[i].v);
        char *out = metrics_render(m);
        char want[128];
        snprintf(want, sizeof want, "\nstatusd_v %s\n", cases[i].want);
        if (!strstr(out, want))
            fail_msg("case %zu: want %s in:\n%s", i, cases[i].want, out);
        free(out);
        metrics_destroy(&m);
    }
}

static void test_counter_and_label_order(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    metrics_add(m, "statusd_api_requests_total", "r", L("route", "/", "code", "200"), 1);
    /* same set in another order: the same series, printed in the first order */
    metrics_add(m, "statusd_api_requests_total", "r", L("code", "200", "route", "/"), 2.5);
    metrics_add(m, "statusd_api_requests_total", "r", L("route", "/", "code", "404"), 0);
    char *out = metrics_render(m);
    assert_non_null(strstr(out, "statusd_api_requests_total{route=\"/\",code=\"200\"} 3.5\n"));
    assert_non_null(strstr(out, "statusd_api_requests_total{route=\"/\",code=\"404\"} 0\n"));
    assert_null(strstr(out, "code=\"200\",route"));
    free(out);
    assert_int_equal(metrics_series_count(m), 2);
    metrics_destroy(&m);
}

static void test_remove_and_remove_matching(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    const char *agents[] = {"a1", "a2", "a3"};
    for (int i = 0; i < 3; i++) {
        metrics_set(m, "statusd_probe_success", "s", L("asset", "web", "agent", agents[i]), 1);
        metrics_set(m, "statusd_probe_success", "s", L("asset", "api", "agent", agents[i]), 1);
        metrics_set(m, "statusd_agent_up", "u", L("agent", agents[i]), 1);
    }
    assert_int_equal(metrics_series_count(m), 9);
    metrics_remove(m, "statusd_probe_success", L("agent", "a1", "asset", "web")); /* any order */
    metrics_remove(m, "statusd_probe_success", L("asset", "nope", "agent", "a1")); /* absent */
    metrics_remove(m, "statusd_nothing", NULL);                                    /* absent */
    assert_int_equal(metrics_series_count(m), 8);
    metrics_remove_matching(m, "statusd_probe_success", "agent", "a2");
    assert_int_equal(metrics_series_count(m), 6);
    metrics_remove_matching(m, "statusd_probe_success", "asset", "api");
    assert_int_equal(metrics_series_count(m), 4);
    char *out = metrics_render(m);
    printf("%s", out);
    assert_null(strstr(out, "statusd_probe_success{asset=\"web\",agent=\"a2\"}"));
    assert_non_null(strstr(out, "statusd_agent_up{agent=\"a2\"} 1\n"));
    assert_non_null(strstr(out, "statusd_probe_success{asset=\"web\",agent=\"a3\"} 1\n"));
    assert_null(strstr(out, "asset=\"api\""));
    free(out);
    /* removing every series leaves the family out of the output */
    metrics_remove_matching(m, "statusd_probe_success", "asset", "web");
    out = metrics_render(m);
    assert_null(strstr(out, "statusd_probe_success"));
    free(out);
    /* and it comes back when set again */
    metrics_set(m, "statusd_probe_success", "s", L("asset", "web", "agent", "a1"), 0);
    out = metrics_render(m);
    assert_non_null(strstr(out, "statusd_probe_success{asset=\"web\",agent=\"a1\"} 0\n"));
    free(out);
    metrics_destroy(&m);
}

/* Label values from outside (an agent's region, a phase name, an asset id) are made valid
 * UTF-8 of at most METRICS_LABEL_VALUE_MAX bytes when set; the raw value still names the
 * same series for metrics_set, the cached handle, metrics_remove and remove_matching. */
static void test_label_values_made_utf8(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    char longv[1200] = "x";
    for (int i = 0; i < 500; i++) /* 1001 bytes: a 256-byte cut falls inside an 'é' */
        strcat(longv, "\xC3\xA9");
    metrics_set(m, "statusd_t", "t", L("region", "eu\xC3", "phase", "ok"), 1);   /* split */
    metrics_set(m, "statusd_t", "t", L("region", "a\xFF\xED\xA0\x80" "b", "phase", "ok"), 2);
    metrics_set(m, "statusd_t", "t", L("region", longv, "phase", "ok"), 3);
    metrics_set(m, "statusd_t", "t", L("region", "eu\xC3", "phase", "ok"), 4); /* same series */
    assert_int_equal(metrics_series_count(m), 3);
    char *out = metrics_render(m);
    printf("%s", out);
    assert_non_null(strstr(out, "statusd_t{region=\"eu\xEF\xBF\xBD\",phase=\"ok\"} 4\n"));
    assert_non_null(strstr(out, "statusd_t{region=\"a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                "\xEF\xBF\xBD" "b\",phase=\"ok\"} 2\n"));
    char want[300] = "statusd_t{region=\"x"; /* 1 + 126 x 'é' + "…" = 256 bytes */
    for (int i = 0; i < 126; i++)
        strcat(want, "\xC3\xA9");
    strcat(want, "\xE2\x80\xA6\",phase=\"ok\"} 3\n");
    assert_non_null(strstr(out, want));
    free(out);
    metrics_handle_t h = {0};
    metrics_set_cached(m, &h, "statusd_t", "t", L("region", longv, "phase", "ok"), 5);
    assert_int_equal(metrics_series_count(m), 3);
    metrics_remove(m, "statusd_t", L("region", longv, "phase", "ok"));
    assert_int_equal(metrics_series_count(m), 2);
    metrics_remove_matching(m, "statusd_t", "region", "eu\xC3");
    assert_int_equal(metrics_series_count(m), 1);
    metrics_destroy(&m);
}

static void test_series_bound(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    metrics_set_max_series(m, 3);
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "s%d", i);
        metrics_set(m, "statusd_g", "g", L("asset", id), i);
    }
    metrics_set(m, "statusd_g", "g", L("asset", "s0"), 10); /* existing series still update */
    assert_int_equal(metrics_series_count(m), 3);
    assert_int_equal(metrics_series_dropped(m), 2);
    char *out = metrics_render(m);
    printf("%s", out);
    assert_non_null(strstr(out, "statusd_metrics_series_dropped_total 2\n"));
    assert_non_null(strstr(out, "statusd_g{asset=\"s0\"} 10\n"));
    assert_null(strstr(out, "asset=\"s3\""));
    free(out);
    /* room again after a removal */
    metrics_remove(m, "statusd_g", L("asset", "s1"));
    metrics_set(m, "statusd_g", "g", L("asset", "s4"), 4);
    assert_int_equal(metrics_series_count(m), 3);
    assert_int_equal(metrics_series_dropped(m), 2);
    metrics_destroy(&m);
}

/* Cached handles: set without re-resolving, re-resolved after any removal (never a dangling
 * series), a refused one counted once and created when the bound allows it. */
static void test_cached_handles(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    metrics_handle_t a = {0}, b = {0}, c = {0};
    metrics_set_cached(m, &a, "statusd_g", "g", L("asset", "a"), 1);
    metrics_set_cached(m, &b, "statusd_g", "g", L("asset", "b"), 2);
    assert_non_null(a.series);
    void *first = a.series;
    metrics_set_cached(m, &a, "statusd_g", "g", NULL, 5); /* labels unused once resolved */
    assert_ptr_equal(a.series, first);
    char *out = metrics_render(m);
    assert_non_null(strstr(out, "statusd_g{asset=\"a\"} 5\n"));
    free(out);
    /* removing a's series: a must not write into freed memory, it resolves again */
    metrics_remove(m, "statusd_g", L("asset", "a"));
    metrics_set_cached(m, &a, "statusd_g", "g", L("asset", "a"), 7);
    metrics_set_cached(m, &b, "statusd_g", "g", L("asset", "b"), 8);
    out = metrics_render(m);
    printf("%s", out);
    assert_non_null(strstr(out, "statusd_g{asset=\"a\"} 7\n"));
    assert_non_null(strstr(out, "statusd_g{asset=\"b\"} 8\n"));
    free(out);
    /* at the bound: refused once, counted once however often it is set */
    metrics_set_max_series(m, 2);
    for (int i = 0; i < 10; i++)
        metrics_set_cached(m, &c, "statusd_g", "g", L("asset", "c"), i);
    assert_null(c.series);
    assert_int_equal(metrics_series_dropped(m), 1);
    assert_int_equal(metrics_series_count(m), 2);
    metrics_set_max_series(m, 3);
    metrics_set_cached(m, &c, "statusd_g", "g", L("asset", "c"), 3);
    assert_non_null(c.series);
    assert_int_equal(metrics_series_count(m), 3);
    metrics_remove_matching(m, "statusd_g", "asset", "c");
    metrics_set_cached(m, &b, "statusd_g", "g", L("asset", "b"), 9);
    assert_int_equal(metrics_series_count(m), 2);
    metrics_destroy(&m);
}

static void test_many_series_rehash(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "asset-%05d", i);
        metrics_set(m, "statusd_asset_up", "u", L("asset", id), i % 2);
    }
    for (int i = 0; i < 5000; i += 2) {
        snprintf(id, sizeof id, "asset-%05d", i);
        metrics_remove(m, "statusd_asset_up", L("asset", id));
    }
    assert_int_equal(metrics_series_count(m), 2500);
    char *out = metrics_render(m);
    /* sorted by label value */
    const char *a = strstr(out, "asset=\"asset-00001\"");
    const char *b = strstr(out, "asset=\"asset-04999\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_null(strstr(out, "asset=\"asset-00002\""));
    free(out);
    metrics_destroy(&m);
}

#ifdef NDEBUG
/* Programming errors assert in debug builds; a release build ignores the update. */
static void test_release_guards(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    metrics_add(m, "statusd_not_a_counter_name", "x", NULL, 1);
    metrics_set(m, "statusd_g", "g", NULL, 1);
    metrics_add(m, "statusd_g", "g", NULL, 1); /* gauge used as counter: ignored */
    metrics_add(m, "statusd_c_total", "c", NULL, -1);
    metrics_set(m, "bad name", "x", NULL, 1);
    metrics_set(m, "statusd_h", "x", L("__reserved", "v"), 1);
    char *out = metrics_render(m);
    assert_null(strstr(out, "statusd_not_a_counter_name"));
    assert_non_null(strstr(out, "statusd_g 1\n"));
    assert_null(strstr(out, "bad name"));
    assert_null(strstr(out, "__reserved"));
    free(out);
    metrics_destroy(&m);
}
#endif

typedef struct {
    metrics_t *m;
    int id;
} worker_t;

#define ITER 20000

static void *s_worker(void *arg)
{
    worker_t *w = arg;
    char agent[16];
    snprintf(agent, sizeof agent, "a%d", w->id);
    for (int i = 0; i < ITER; i++) {
        metrics_add(w->m, "statusd_results_received_total", "r", NULL, 1);
        metrics_set(w->m, "statusd_probe_success", "s", L("asset", "web", "agent", agent), i);
        if (i % 1000 == 0) {
            char *out = metrics_render(w->m);
            free(out);
            metrics_remove_matching(w->m, "statusd_probe_success", "agent", agent);
        }
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    pthread_t t[2];
    worker_t w[2] = {{m, 1}, {m, 2}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, s_worker, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    char *out = metrics_render(m);
    char want[64];
    snprintf(want, sizeof want, "statusd_results_received_total %d\n", 2 * ITER);
    printf("%s", out);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "agent=\"a1\"} %d\n", ITER - 1);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "agent=\"a2\"} %d\n", ITER - 1);
    assert_non_null(strstr(out, want));
    free(out);
    metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_registry_has_only_dropped_counter),
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_number_formatting),
        cmocka_unit_test(test_counter_and_label_order),
        cmocka_unit_test(test_remove_and_remove_matching),
        cmocka_unit_test(test_label_values_made_utf8),
        cmocka_unit_test(test_series_bound),
        cmocka_unit_test(test_cached_handles),
        cmocka_unit_test(test_many_series_rehash),
#ifdef NDEBUG
        cmocka_unit_test(test_release_guards),
#endif
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
