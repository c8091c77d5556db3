/* api_route: routes and path ids of the REST API, the limit argument, and the ack and
 * maintenance bodies, without libmicrohttpd or a database (test_api_pg drives the same
 * through a real server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_route.h"
#include "openapi_doc.h"

#define NOW_MS 1765000000000LL /* 2025-12-06T05:46:40Z */

static void test_routes(void **st)
{
    (void) st;
    static const struct {
        const char *url;
        route_t route;
        const char *id;
    } cases[] = {
        {"/", ROUTE_PAGE, NULL},
        {"/metrics", ROUTE_METRICS, NULL},
        {"/api/health", ROUTE_HEALTH, NULL},
        {"/api/assets", ROUTE_ASSETS, NULL},
        {"/api/assets/web", ROUTE_ASSET, "web"},
        {"/api/assets/events", ROUTE_ASSET, "events"},
        {"/api/assets/web/events", ROUTE_EVENTS, "web"},
        {"/api/assets/a/b/events", ROUTE_EVENTS, "a/b"},
        {"/api/incidents", ROUTE_INCIDENTS, NULL},
        {"/api/incidents/42", ROUTE_INCIDENT, "42"},
        {"/api/incidents/42/ack", ROUTE_ACK, "42"},
        {"/api/agents", ROUTE_AGENTS, NULL},
        {"/api/maintenance", ROUTE_MAINTENANCE, NULL},
        {"/api/maintenance/7", ROUTE_MAINTENANCE_ONE, "7"},
        {"/api/notifiers/slack-ops/test", ROUTE_NOTIFIER_TEST, "slack-ops"},
        {"/api/assets/web/uptime", ROUTE_UPTIME, "web"},
        {"/badge/web/status.svg", ROUTE_BADGE_STATUS, "web"},
        {"/badge/web/uptime.svg", ROUTE_BADGE_UPTIME, "web"},
        {"/api/openapi.json", ROUTE_OPENAPI, NULL},
        {"/api/openapi.json/x", ROUTE_UNKNOWN, NULL},
        {"/api/notifiers//test", ROUTE_UNKNOWN, NULL},
        {"/api/notifiers/slack", ROUTE_UNKNOWN, NULL},
        {"/api/assets/", ROUTE_UNKNOWN, NULL},
        {"/api/assets//events", ROUTE_UNKNOWN, NULL},
        {"/api/assets/a/b", ROUTE_UNKNOWN, NULL},
        {"/api/maintenancex", ROUTE_UNKNOWN, NULL},
        {"", ROUTE_UNKNOWN, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *id = NULL;
        size_t n = 0;
        route_t r = api_route(cases[i].url, &id, &n);
        printf("  %-28s -> %s\n", cases[i].url, api_route_label(r));
        assert_int_equal(r, cases[i].route);
        if (cases[i].id) {
            assert_int_equal(n, strlen(cases[i].id));
            assert_memory_equal(id, cases[i].id, n);
        }
    }
    assert_string_equal(api_route_label(ROUTE_EVENTS), "/api/assets/{id}/events");
    assert_string_equal(api_route_label(ROUTE_ASSET), "/api/assets/{id}");
    assert_string_equal(api_route_label(ROUTE_NOTIFIER_TEST), "/api/notifiers/{name}/test");
    assert_string_equal(api_route_label(ROUTE_UPTIME), "/api/assets/{id}/uptime");
    assert_string_equal(api_route_label(ROUTE_BADGE_UPTIME), "/badge/{id}/uptime.svg");
    const char *bid;
    size_t blen;
    assert_int_equal(api_route("/badge/web/other.svg", &bid, &blen), ROUTE_UNKNOWN);
    assert_int_equal(api_route("/badge/status.svg", &bid, &blen), ROUTE_UNKNOWN);
    assert_int_equal(api_route_badge_window(NULL), 30 * 86400);
    assert_int_equal(api_route_badge_window("24h"), 86400);
    assert_int_equal(api_route_badge_window("90d"), 90 * 86400);
    assert_int_equal(api_route_badge_window("1y"), -1);
    assert_string_equal(api_route_label(ROUTE_OPENAPI), "/api/openapi.json");
    assert_string_equal(api_route_label(ROUTE_UNKNOWN), "other");
}

/* The route table and docs/openapi.json (compiled in) name the same paths: every route's
 * label is a path of the document, and the document has no path the API does not route. */
static void test_openapi_paths(void **st)
{
    (void) st;
    json_error_t je;
    json_t *doc = json_loadb((const char *) openapi_doc, openapi_doc_len, 0, &je);
    if (!doc)
        fail_msg("docs/openapi.json is not JSON: %s (line %d)", je.text, je.line);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    for (route_t r = ROUTE_PAGE; r < ROUTE_UNKNOWN; r++) {
        printf("  %-28s %s\n", api_route_label(r),
               json_object_get(paths, api_route_label(r)) ? "documented" : "MISSING");
        assert_non_null(json_object_get(paths, api_route_label(r)));
    }
    assert_int_equal(json_object_size(paths), (size_t) ROUTE_UNKNOWN);
    json_decref(doc);
}

static void test_path_ids(void **st)
{
    (void) st;
    char buf[API_MAX_ID_LEN + 1];
    assert_true(api_route_asset_id("web", 3, buf, sizeof buf));
    assert_string_equal(buf, "web");
    assert_true(api_route_asset_id("\xc3\xa9t\xc3\xa9", 5, buf, sizeof buf)); /* été */
    static const char *const bad[] = {"\xff", "a\xffz", "\xc3\x28", "\xc0\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80", "\xe2\x82", "a/b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(api_route_asset_id(bad[i], strlen(bad[i]), buf, sizeof buf));
    assert_false(api_route_asset_id("", 0, buf, sizeof buf));
    assert_false(api_route_asset_id("a\0b", 3, buf, sizeof buf)); /* NUL is not text */
    char id[API_MAX_ID_LEN + 1];
    memset(id, 'a', sizeof id);
    assert_true(api_route_asset_id(id, API_MAX_ID_LEN, buf, sizeof buf));
    assert_false(api_route_asset_id(id, API_MAX_ID_LEN + 1, buf, sizeof buf));
    assert_false(api_route_asset_id(id, 10, buf, 10)); /* no room for the NUL */

    assert_int_equal(api_route_number("42", 2), 42);
    assert_int_equal(api_route_number("999999999999999999", 18), 999999999999999999LL);
    assert_int_equal(api_route_number("1000000000000000000", 19), -1);
    assert_int_equal(api_route_number("0", 1), -1);
    assert_int_equal(api_route_number("-1", 2), -1);
    assert_int_equal(api_route_number("", 0), -1);
    assert_int_equal(api_route_number("4x", 2), -1);

    assert_int_equal(api_route_limit("1"), 1);
    assert_int_equal(api_route_limit("1000"), 1000);
    assert_int_equal(api_route_limit("0"), -1);
    assert_int_equal(api_route_limit("1001"), -1);
    assert_int_equal(api_route_limit("01000"), -1);
    assert_int_equal(api_route_limit(" 5"), -1);
    assert_int_equal(api_route_limit(""), -1);
    assert_int_equal(api_route_limit(NULL), -1);
    /* uptime ranges: defaults (the last 24 h), to clamped to now, order and span checked */
    int64_t now = 1796083200000LL, from, to; /* 2026-12-01T00:00:00Z */
    assert_null(api_route_uptime_range(NULL, NULL, now, &from, &to));
    assert_true(to == now && from == now - 86400000LL);
    assert_null(api_route_uptime_range("2026-11-30T00:00:00Z", "2027-01-01T00:00:00Z", now,
                                       &from, &to));
    assert_true(from == now - 86400000LL && to == now);
    assert_non_null(api_route_uptime_range("soon", NULL, now, &from, &to));
    assert_non_null(api_route_uptime_range(NULL, "2026-11-31T00:00:00Z", now, &from, &to));
    assert_non_null(api_route_uptime_range("2026-12-01T00:00:00Z", NULL, now, &from, &to));
    assert_non_null(api_route_uptime_range("2025-10-01T00:00:00Z", NULL, now, &from, &to));
    assert_null(api_route_uptime_range("2025-11-01T00:00:00Z", NULL, now, &from, &to));
}

static const char *s_ack(const char *body, const char **by, const char **note)
{
    json_t *doc = NULL;
    const char *why = api_route_ack_body(body, body ? strlen(body) : 0, &doc, by, note);
    static char keep[2][2048];
    snprintf(keep[0], sizeof keep[0], "%s", *by ? *by : "(none)");
    snprintf(keep[1], sizeof keep[1], "%s", *note ? *note : "(none)");
    json_decref(doc);
    *by = keep[0];
    *note = keep[1];
    return why;
}

static void test_ack_body(void **st)
{
    (void) st;
    const char *by, *note;
    assert_null(s_ack(NULL, &by, &note));
    assert_string_equal(by, "(none)");
    assert_null(s_ack("{\"by\": \"alice\", \"note\": \"on it\"}", &by, &note));
    assert_string_equal(by, "alice");
    assert_string_equal(note, "on it");
    assert_null(s_ack("{}", &by, &note));
    assert_non_null(s_ack("{\"by\": 1}", &by, &note));
    assert_non_null(s_ack("{\"who\": \"x\"}", &by, &note));
    assert_non_null(s_ack("[]", &by, &note));
    assert_non_null(s_ack("{\"by\": \"a\", \"by\": \"b\"}", &by, &note)); /* duplicate */
    assert_non_null(s_ack("{\"by\": \"\xff\"}", &by, &note));            /* not UTF-8 */
    char big[300];
    snprintf(big, sizeof big, "{\"by\": \"%0129d\"}", 0);
    assert_non_null(s_ack(big, &by, &note));
}

static const char *s_maint(const char *body, api_maint_t *m)
{
    static const char *ids[MAINT_MAX_ASSETS];
    json_t *doc = NULL;
    memset(m, 0, sizeof *m);
    const char *why = api_route_maint_body(body, strlen(body), NOW_MS, &doc, ids, m);
    if (why)
        printf("  400: %s\n", why);
    else if (m->asset_ids)
        assert_string_equal(m->asset_ids[0], "web"); /* checked while doc lives */
    json_decref(doc);
    return why;
}

static void test_maintenance_body(void **st)
{
    (void) st;
    api_maint_t m;
    assert_null(s_maint("{\"assetIds\": [\"web\", \"db\"], \"start\": \"2026-01-01T00:00:00Z\","
                        " \"end\": \"2026-01-01T02:00:00+01:00\", \"reason\": \"upgrade\"}",
                        &m));
    assert_int_equal(m.n_assets, 2);
    assert_int_equal(m.start_ms, 1767225600000LL);
    assert_int_equal(m.end_ms, 1767225600000LL + 3600000);
    assert_non_null(m.reason);
    assert_null(s_maint("{\"assetIds\": \"all\", \"end\": \"2026-01-01T00:00:00Z\"}", &m));
    assert_null(m.asset_ids);
    assert_int_equal(m.start_ms, NOW_MS); /* start defaults to now */
    assert_null(m.reason);
    static const char *const bad[] = {
        "{\"assetIds\": \"all\", \"start\": \"2026-01-01T01:00:00Z\","
        " \"end\": \"2026-01-01T02:00:00+01:00\"}",                      /* end == start */
        "{\"assetIds\": \"all\", \"start\": \"2024-01-01T00:00:00Z\","
        " \"end\": \"2025-01-01T00:00:00Z\"}",                           /* in the past */
        "{\"assetIds\": \"all\", \"end\": \"2027-01-01T00:00:00Z\"}", /* over 366 days */
        "{\"assetIds\": [\"we b\"], \"end\": \"2026-01-01T00:00:00Z\"}",
        "{\"assetIds\": [], \"end\": \"2026-01-01T00:00:00Z\"}",
        "{\"assetIds\": \"all\"}",
        "{\"assetIds\": \"all\", \"end\": \"tomorrow\"}",
        "{\"assetIds\": \"all\", \"end\": \"2026-01-01T00:00:00Z\", \"why\": 1}",
        "{\"assetIds\": \"all\", \"end\": \"2026-01-01T00:00:00Z\", \"reason\": 5}",
        "[1, 2]",
        "{",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_non_null(s_maint(bad[i], &m));
    char big[1200];
    snprintf(big, sizeof big,
             "{\"assetIds\": \"all\", \"end\": \"2026-01-01T00:00:00Z\", \"reason\": \"%01025d\"}",
             0);
    assert_non_null(s_maint(big, &m));
}

/* Accept-Encoding: gzip taken unless refused with q=0 */
static void test_accepts_gzip(void **state)
{
    (void) state;
    assert_true(api_route_accepts_gzip("gzip"));
    assert_true(api_route_accepts_gzip("gzip, deflate, br"));
    assert_true(api_route_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    assert_true(api_route_accepts_gzip("x-gzip"));
    assert_false(api_route_accepts_gzip(NULL));
    assert_false(api_route_accepts_gzip(""));
    assert_false(api_route_accepts_gzip("identity"));
    assert_false(api_route_accepts_gzip("gzip;q=0"));
    assert_false(api_route_accepts_gzip("deflate, gzip ; q=0.000"));
    assert_false(api_route_accepts_gzip("gzipx, xgzip"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_openapi_paths),
        cmocka_unit_test(test_path_ids),
        cmocka_unit_test(test_ack_body),
        cmocka_unit_test(test_maintenance_body),
        cmocka_unit_test(test_accepts_gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
