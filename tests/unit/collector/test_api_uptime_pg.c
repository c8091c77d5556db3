/* test_api_uptime_pg: time-weighted uptime over a real PostgreSQL and a real API port.
 * store_assets_set_state keeps the state history (a new state closes the open interval at the
 * change, the same state with another reason does not, a change dated before the open
 * interval starts is clamped to it); GET /api/assets/{id}/uptime sums a scripted history to
 * the millisecond (DEGRADED counts as up, MAINTENANCE and UNKNOWN/UNCONFIRMED apart, never as
 * down), lists the incidents of the interval, refuses bad ranges (400) and unknown assets
 * (404); GET /api/assets carries the 24 h / 7 d / 30 d figures. */
#include <curl/curl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api.h"
#include "auth.h"
#include "metrics.h"
#include "sd_clock.h"
#include "store.h"
#include "store_assets.h"
#include "test_pg.h"

#define API_FIXTURE_DB_PREFIX "apiup"
#define API_FIXTURE_TOKENS "s3cret-token-one\n"
#include "api_fixture.h"

/* 2026-12-01T00:00:00Z */
#define T0 1796083200000LL

static void s_seed(fx_t *f)
{
    s_exec(f, "INSERT INTO assets (id, name, address) VALUES ('api', 'API', 'https://api/'),"
              " ('web', 'Web', 'https://web/'), ('new', 'New', 'https://new/')");
    s_exec(f, "DELETE FROM asset_state_intervals");
    /* api on 2026-12-01 from 00:00: UP 1 h, DOWN 10 min, DEGRADED 20 min, MAINTENANCE 30 min,
     * UNKNOWN 5 min, UNCONFIRMED 5 min, UP until 04:00 (still open after) */
    static const struct {
        const char *state;
        int from_min, to_min;
    } h[] = {{"UP", 0, 60},           {"DOWN", 60, 70},         {"DEGRADED", 70, 90},
             {"MAINTENANCE", 90, 120}, {"UNKNOWN", 120, 125},    {"UNCONFIRMED", 125, 130},
             {"UP", 130, -1}};
    for (size_t i = 0; i < sizeof h / sizeof *h; i++) {
        char sql[400];
        long long a = T0 / 1000 + h[i].from_min * 60, b = T0 / 1000 + h[i].to_min * 60;
        if (h[i].to_min < 0)
            snprintf(sql, sizeof sql,
                     "INSERT INTO asset_state_intervals (asset_id, state, started_at) VALUES"
                     " ('api', '%s', to_timestamp(%lld))",
                     h[i].state, a);
        else
            snprintf(sql, sizeof sql,
                     "INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at)"
                     " VALUES ('api', '%s', to_timestamp(%lld), to_timestamp(%lld))",
                     h[i].state, a, b);
        s_exec(f, sql);
    }
    s_exec(f, "INSERT INTO incidents (asset_id, started_at, ended_at, summary) VALUES"
              " ('api', '2026-12-01T01:00:00Z', '2026-12-01T01:10:00Z', 'API is DOWN')");
    /* web: DOWN for the last 6 hours, UP the 18 before (the 24 h figure is 0.75) */
    s_exec(f, "INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at) VALUES"
              " ('web', 'UP', now() - interval '24 hours', now() - interval '6 hours')");
    s_exec(f, "INSERT INTO asset_state_intervals (asset_id, state, started_at) VALUES"
              " ('web', 'DOWN', now() - interval '6 hours')");
}

static double s_num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        fail_msg("%s is not a number", k);
    return json_number_value(v);
}

static void test_scripted_history(void **state)
{
    fx_t *f = *state;
    http_t h;
    /* 00:00 to 04:00: UP 60 + 110 min, DEGRADED 20, DOWN 10, MAINTENANCE 30, unknown 10 */
    json_t *v = s_http(f->api, "GET",
                       "/api/assets/api/uptime?from=2026-12-01T00:00:00Z&to=2026-12-01T04:00:00Z",
                       NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_true(fabs(s_num(v, "upSeconds") - 190 * 60) < 0.001);
    assert_true(fabs(s_num(v, "degradedSeconds") - 20 * 60) < 0.001);
    assert_true(fabs(s_num(v, "downSeconds") - 10 * 60) < 0.001);
    assert_true(fabs(s_num(v, "maintenanceSeconds") - 30 * 60) < 0.001);
    assert_true(fabs(s_num(v, "unknownSeconds") - 10 * 60) < 0.001);
    /* 190 / (190 + 10) */
    print_message("uptime %.6f\n", s_num(v, "uptime"));
    assert_true(fabs(s_num(v, "uptime") - 0.95) < 1e-6);
    assert_string_equal(json_string_value(json_object_get(v, "from")), "2026-12-01T00:00:00.000Z");
    json_t *inc = json_object_get(v, "incidents");
    assert_int_equal(json_array_size(inc), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(inc, 0), "summary")),
                        "API is DOWN");
    json_decref(v);

    /* a window cutting intervals: 01:05 to 01:15 is 5 min DOWN, 5 min DEGRADED */
    v = s_http(f->api, "GET",
               "/api/assets/api/uptime?from=2026-12-01T01:05:00Z&to=2026-12-01T01:15:00Z",
               NULL, NULL, &h);
    assert_true(fabs(s_num(v, "downSeconds") - 300) < 0.001);
    assert_true(fabs(s_num(v, "upSeconds") - 300) < 0.001);
    assert_true(fabs(s_num(v, "uptime") - 0.5) < 1e-6);
    json_decref(v);

    /* only maintenance and unknown time: no figure, no down time */
    v = s_http(f->api, "GET",
               "/api/assets/api/uptime?from=2026-12-01T01:30:00Z&to=2026-12-01T02:10:00Z",
               NULL, NULL, &h);
    assert_true(json_is_null(json_object_get(v, "uptime")));
    assert_true(s_num(v, "downSeconds") == 0);
    assert_int_equal(json_array_size(json_object_get(v, "incidents")), 0);
    json_decref(v);

    /* every asset at once: the same figures, each manifest asset once, by id */
    v = s_http(f->api, "GET", "/api/uptime?from=2026-12-01T00:00:00Z&to=2026-12-01T04:00:00Z",
               NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_true(json_is_array(v) && json_array_size(v) >= 2);
    json_t *api = json_array_get(v, 0);
    assert_string_equal(json_string_value(json_object_get(api, "assetId")), "api");
    assert_true(fabs(s_num(api, "uptime") - 0.95) < 1e-6);
    assert_true(fabs(s_num(api, "downSeconds") - 600) < 0.001);
    assert_null(json_object_get(api, "incidents"));
    for (size_t i = 1; i < json_array_size(v); i++)
        assert_true(strcmp(json_string_value(json_object_get(json_array_get(v, i - 1),
                                                             "assetId")),
                           json_string_value(json_object_get(json_array_get(v, i),
                                                             "assetId"))) < 0);
    json_decref(v);
    v = s_http(f->api, "GET", "/api/uptime?from=tomorrow", NULL, NULL, &h);
    assert_int_equal(h.status, 400);
    json_decref(v);
}

static void test_assets_figures_and_errors(void **state)
{
    fx_t *f = *state;
    http_t h;
    json_t *v = s_http(f->api, "GET", "/api/assets", NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    size_t i;
    json_t *a;
    int seen = 0;
    json_array_foreach(v, i, a) {
        json_t *up = json_object_get(a, "uptime");
        assert_true(json_is_object(up));
        assert_null(json_object_get(a, "uptimeSeconds"));
        const char *id = json_string_value(json_object_get(a, "id"));
        if (strcmp(id, "web") == 0) {
            print_message("web: 24h %.4f 7d %.4f 30d %.4f\n", s_num(up, "24h"), s_num(up, "7d"),
                          s_num(up, "30d"));
            assert_true(fabs(s_num(up, "24h") - 0.75) < 0.001);
            assert_true(fabs(s_num(up, "7d") - 0.75) < 0.001);
            seen++;
        } else if (strcmp(id, "new") == 0) {
            assert_true(json_is_null(json_object_get(up, "24h")));
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    json_decref(v);
    /* default window: the last 24 h */
    v = s_http(f->api, "GET", "/api/assets/web/uptime", NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_true(fabs(s_num(v, "uptime") - 0.75) < 0.001);
    json_decref(v);
    static const char *const bad[] = {
        "/api/assets/api/uptime?from=yesterday",
        "/api/assets/api/uptime?to=2026-13-01T00:00:00Z",
        "/api/assets/api/uptime?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/api/assets/api/uptime?from=2024-01-01T00:00:00Z&to=2026-12-01T00:00:00Z",
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        v = s_http(f->api, "GET", bad[k], NULL, NULL, &h);
        assert_int_equal(h.status, 400);
        assert_true(json_is_string(json_object_get(v, "error")));
        json_decref(v);
    }
    v = s_http(f->api, "GET", "/api/assets/nope/uptime", NULL, NULL, &h);
    assert_int_equal(h.status, 404);
    json_decref(v);
}

/* The writer: store_assets_set_state keeps one open interval per asset. */
static void test_set_state_history(void **state)
{
    fx_t *f = *state;
    char err[256] = "";
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    int64_t t = T0 + 10LL * 86400 * 1000;
    assert_int_equal(store_assets_set_state(s, "new", "UP", "UP from 1 of 1", t, err, sizeof err),
                     0);
    /* the same state, another reason: nothing new */
    assert_int_equal(store_assets_set_state(s, "new", "UP", "UP from 2 of 2", t + 5000, err,
                                            sizeof err),
                     0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM asset_state_intervals WHERE asset_id ="
                                " 'new'"),
                     1);
    assert_int_equal(store_assets_set_state(s, "new", "DOWN", "DOWN", t + 60000, err, sizeof err),
                     0);
    /* dated before the open interval started: clamped to it (zero length, never negative) */
    assert_int_equal(store_assets_set_state(s, "new", "UP", "UP", t + 30000, err, sizeof err), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM asset_state_intervals WHERE asset_id ="
                                " 'new' AND ended_at IS NULL"),
                     1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM asset_state_intervals WHERE asset_id ="
                                " 'new'"),
                     3);
    assert_int_equal(s_count(f, "SELECT count(*) FROM asset_state_intervals WHERE asset_id ="
                                " 'new' AND ended_at < started_at"),
                     0);
    assert_int_equal(s_count(f, "SELECT (extract(epoch FROM ended_at - started_at))::int FROM"
                                " asset_state_intervals WHERE asset_id = 'new' AND state = 'UP'"
                                " AND ended_at IS NOT NULL"),
                     60);
    store_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripted_history),
        cmocka_unit_test(test_assets_figures_and_errors),
        cmocka_unit_test(test_set_state_history),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
