/* test_api_maintenance_pg: POST/GET/DELETE /api/maintenance on a real libmicrohttpd port and
 * a real PostgreSQL, spoken to with libcurl: writes need a valid bearer token (401 without,
 * 403 with no token file, nothing stored), bodies are validated (400), unknown assets are
 * refused, the created window is listed as active with the token's fingerprint, DELETE ends
 * it (then 409), manifest windows cannot be deleted, /api/assets shows "maintenance". */
#include <curl/curl.h>
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
#include "test_pg.h"

#define TOKEN "s3cret-token-one"
#define TOKEN_FP "6d3ceda9" /* sha256 via python3 hashlib */

#define API_FIXTURE_DB_PREFIX "apim"
#define API_FIXTURE_TOKENS TOKEN "\n"
#include "api_fixture.h"

static void s_seed(fx_t *f)
{
    s_exec(f, "INSERT INTO assets (id, name, address) VALUES ('api', 'API', 'https://api/'),"
              " ('web', 'Web', 'https://web/')");
    s_exec(f, "INSERT INTO assets (id, name, address, in_manifest) VALUES"
              " ('gone', 'Gone', 'https://gone/', false)");
    s_exec(f, "INSERT INTO maintenance_windows (id, source, name, starts_at, ends_at) VALUES"
              " (1000, 'manifest', 'weekly', now() + interval '1 day',"
              " now() + interval '1 day 1 hour')");
}

static void s_expect_error(json_t *v, const http_t *h, long status)
{
    assert_int_equal(h->status, status);
    assert_true(json_is_string(json_object_get(v, "error")));
    json_decref(v);
}

static void test_maintenance_api(void **state)
{
    fx_t *f = *state;
    http_t h;
    const char *m = "/api/maintenance";
    char end[40], ok[256], up_s[40], up_e[40], upcoming[256], unknown[256];
    sd_format_rfc3339(sd_wall_ms() / 1000 * 1000 + 86400000, end, sizeof end);
    sd_format_rfc3339(sd_wall_ms() / 1000 * 1000 + 2 * 86400000, up_s, sizeof up_s);
    sd_format_rfc3339(sd_wall_ms() / 1000 * 1000 + 2 * 86400000 + 3600000, up_e, sizeof up_e);
    snprintf(ok, sizeof ok, "{\"assetIds\": [\"api\"], \"end\": \"%s\","
             " \"reason\": \"db upgrade\"}", end);
    snprintf(upcoming, sizeof upcoming, "{\"assetIds\": \"all\", \"start\": \"%s\","
             " \"end\": \"%s\"}", up_s, up_e);
    snprintf(unknown, sizeof unknown, "{\"assetIds\": [\"nope\", \"gone\"], \"end\":"
             " \"%s\"}", end);
    /* no token file: 403; no or a wrong token: 401; nothing stored */
    json_t *v = s_http(f->api_ro, "POST", m, "Bearer " TOKEN, ok, &h);
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "--api-token-file"));
    s_expect_error(v, &h, 403);
    s_expect_error(s_http(f->api, "POST", m, NULL, ok, &h), &h, 401);
    assert_string_equal(h.www, " Bearer realm=\"statusd\"");
    s_expect_error(s_http(f->api, "POST", m, "Bearer wrong-token-x", ok, &h), &h, 401);
    assert_int_equal(s_count(f, "SELECT count(*) FROM maintenance_windows WHERE source = 'api'"),
                     0);
    /* malformed bodies: 400 */
    const char *bad[] = {
        "", "[]", "{\"end\": \"2099-01-01T00:00:00Z\"}",
        "{\"assetIds\": [], \"end\": \"2099-01-01T00:00:00Z\"}",
        "{\"assetIds\": [\"a b\"], \"end\": \"2099-01-01T00:00:00Z\"}",
        "{\"assetIds\": \"all\", \"end\": \"tomorrow\"}",
        "{\"assetIds\": \"all\", \"end\": \"2001-01-01T00:00:00Z\"}",
        "{\"assetIds\": \"all\", \"start\": \"2099-01-02T00:00:00Z\","
        " \"end\": \"2099-01-01T00:00:00Z\"}",
        "{\"assetIds\": \"all\", \"end\": \"2099-01-01T00:00:00Z\", \"x\": 1}",
        "{\"assetIds\": \"all\", \"end\": \"2099-01-01T00:00:00Z\"}", /* > 366 days */
        unknown,
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        s_expect_error(s_http(f->api, "POST", m, "Bearer " TOKEN, bad[i], &h), &h, 400);
    assert_int_equal(s_count(f, "SELECT count(*) FROM maintenance_windows WHERE source = 'api'"),
                     0);
    /* created: 201, active, names the token by fingerprint */
    v = s_http(f->api, "POST", m, "Bearer " TOKEN, ok, &h);
    assert_int_equal(h.status, 201);
    json_int_t id = json_integer_value(json_object_get(v, "id"));
    assert_true(id > 0);
    assert_string_equal(json_string_value(json_object_get(v, "createdBy")), TOKEN_FP);
    assert_string_equal(json_string_value(json_object_get(v, "source")), "api");
    assert_true(json_is_true(json_object_get(v, "active")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "assetIds"), 0)),
                        "api");
    assert_non_null(strstr(json_string_value(json_object_get(v, "end")), "T"));
    json_decref(v);
    /* "all" and an upcoming window */
    v = s_http(f->api, "POST", m, "Bearer " TOKEN, upcoming, &h);
    assert_int_equal(h.status, 201);
    assert_true(json_is_null(json_object_get(v, "assetIds")));
    assert_true(json_is_false(json_object_get(v, "active")));
    assert_string_equal(json_string_value(json_object_get(v, "start")), up_s);
    json_int_t id2 = json_integer_value(json_object_get(v, "id"));
    json_decref(v);
    /* listed (reads need no token): the manifest window too, by start */
    v = s_http(f->api_ro, "GET", m, NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_int_equal(json_array_size(v), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "id")), id);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "source")),
                        "manifest");
    json_decref(v);
    /* the asset shows it */
    v = s_http(f->api_ro, "GET", "/api/assets", NULL, NULL, &h);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *a = json_array_get(v, i);
        const char *aid = json_string_value(json_object_get(a, "id"));
        assert_int_equal(json_is_true(json_object_get(a, "maintenance")),
                         strcmp(aid, "api") == 0);
        assert_true(json_is_false(json_object_get(a, "flapping")));
    }
    json_decref(v);
    /* DELETE: token first, then 404 / manifest 409 / ended 200 / again 409 */
    char one[64];
    snprintf(one, sizeof one, "%s/%lld", m, (long long) id);
    s_expect_error(s_http(f->api, "DELETE", one, NULL, NULL, &h), &h, 401);
    s_expect_error(s_http(f->api_ro, "DELETE", one, "Bearer " TOKEN, NULL, &h), &h, 403);
    s_expect_error(s_http(f->api, "DELETE", "/api/maintenance/999999", "Bearer " TOKEN, NULL,
                          &h), &h, 404);
    s_expect_error(s_http(f->api, "DELETE", "/api/maintenance/x1", "Bearer " TOKEN, NULL, &h),
                   &h, 404);
    s_expect_error(s_http(f->api, "DELETE", "/api/maintenance/1000", "Bearer " TOKEN, NULL, &h),
                   &h, 409);
    v = s_http(f->api, "DELETE", one, "Bearer " TOKEN, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_false(json_is_null(json_object_get(v, "endedEarlyAt")));
    json_decref(v);
    assert_int_equal(s_count(f, "SELECT count(*) FROM maintenance_windows WHERE ends_at > now()"
                                " AND source = 'api'"), 1);
    s_expect_error(s_http(f->api, "DELETE", one, "Bearer " TOKEN, NULL, &h), &h, 409);
    /* an upcoming window ended before it began becomes empty */
    snprintf(one, sizeof one, "%s/%lld", m, (long long) id2);
    json_decref(s_http(f->api, "DELETE", one, "Bearer " TOKEN, NULL, &h));
    assert_int_equal(h.status, 200);
    v = s_http(f->api_ro, "GET", m, NULL, NULL, &h);
    assert_int_equal(json_array_size(v), 1); /* the manifest's */
    json_decref(v);
    /* methods */
    s_expect_error(s_http(f->api, "PUT", m, "Bearer " TOKEN, NULL, &h), &h, 405);
    s_expect_error(s_http(f->api, "GET", one, NULL, NULL, &h), &h, 405);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_maintenance_api, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
