/* test_api_write_pg: the API's write path and its new reads on a real libmicrohttpd port
 * and a real PostgreSQL, spoken to with libcurl: POST /api/incidents/{id}/ack answers 200,
 * 401 (no/bad token, nothing changes), 403 (no token file), 404, 409 (acked, closed), 405,
 * 413 and 400, and records an 'acknowledged' event naming the token's fingerprint;
 * GET /api/incidents/{id} returns the timeline; GET /api/agents the agents. */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api.h"
#include "auth.h"
#include "metrics.h"
#include "store.h"
#include "test_pg.h"

#define TOKEN "s3cret-token-one"
#define TOKEN_FP "6d3ceda9" /* sha256 via python3 hashlib */

#define API_FIXTURE_DB_PREFIX "apiw"
#define API_FIXTURE_TOKENS "# API tokens\n" TOKEN "\nanother-token-2\n"
#include "api_fixture.h"

static void s_seed(fx_t *f)
{
    s_exec(f, "INSERT INTO assets (id, name, address) VALUES ('api', 'API', 'https://api/')");
    /* incident 1 open, 2 closed; 1 has an opened and a vote event */
    s_exec(f, "INSERT INTO incidents (id, asset_id, summary, started_at) VALUES"
              " (1, 'api', 'api is DOWN', now() - interval '1 minute')");
    s_exec(f, "INSERT INTO incidents (id, asset_id, summary, started_at, ended_at) VALUES"
              " (2, 'api', 'was down', now() - interval '2 hours', now() - interval '1 hour')");
    s_exec(f, "INSERT INTO incident_events (incident_id, kind, detail, at) VALUES"
              " (1, 'opened', '{\"down_votes\":2}', now() - interval '50 seconds'),"
              " (1, 'vote', '{\"agent\":\"a1\",\"from\":\"UP\",\"to\":\"DOWN\"}',"
              "  now() - interval '40 seconds')");
    s_exec(f, "INSERT INTO agents (id, region, version, connected, clock_skew_ms, liveness)"
              " VALUES ('agent-eu-1', 'eu-west', '0.1.0', true, 300000, 'up'),"
              " ('agent-us-1', 'us-east', '0.1.0', false, -12, 'down')");
}

static void s_expect(json_t *v, const http_t *h, long status)
{
    assert_int_equal(h->status, status);
    if (status != 200)
        assert_true(json_is_string(json_object_get(v, "error")));
    json_decref(v);
}

static void test_ack(void **state)
{
    fx_t *f = *state;
    http_t h;
    const char *ack = "/api/incidents/1/ack";
    /* no token file: 403 naming the flag */
    json_t *v = s_http(f->api_ro, "POST", ack, "Bearer " TOKEN, NULL, &h);
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "--api-token-file"));
    s_expect(v, &h, 403);
    /* no token, a wrong one, another scheme: 401, nothing changes */
    s_expect(s_http(f->api, "POST", ack, NULL, NULL, &h), &h, 401);
    assert_non_null(strstr(h.www, "Bearer"));
    s_expect(s_http(f->api, "POST", ack, "Bearer " TOKEN "x", NULL, &h), &h, 401);
    s_expect(s_http(f->api, "POST", ack, "Basic " TOKEN, NULL, &h), &h, 401);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE acknowledged_at IS NOT"
                                " NULL"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind ="
                                " 'acknowledged'"), 0);
    /* bad requests with a good token */
    s_expect(s_http(f->api, "POST", "/api/incidents/99/ack", "Bearer " TOKEN, NULL, &h), &h, 404);
    s_expect(s_http(f->api, "POST", "/api/incidents/x1/ack", "Bearer " TOKEN, NULL, &h), &h, 404);
    s_expect(s_http(f->api, "POST", ack, "Bearer " TOKEN, "[1]", &h), &h, 400);
    s_expect(s_http(f->api, "POST", ack, "Bearer " TOKEN, "{\"by\":7}", &h), &h, 400);
    s_expect(s_http(f->api, "POST", ack, "Bearer " TOKEN, "{\"who\":\"x\"}", &h), &h, 400);
    char big[6000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "{\"note\":\"", 9);
    s_expect(s_http(f->api, "POST", ack, "Bearer " TOKEN, big, &h), &h, 413);
    s_expect(s_http(f->api, "GET", ack, NULL, NULL, &h), &h, 405);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind ="
                                " 'acknowledged'"), 0);
    /* accepted */
    v = s_http(f->api, "POST", ack, "Bearer " TOKEN,
               "{\"by\":\"alice\",\"note\":\"looking into it\"}", &h);
    assert_int_equal(h.status, 200);
    assert_true(json_is_string(json_object_get(v, "acknowledgedAt")));
    json_t *tl = json_object_get(v, "timeline");
    assert_int_equal(json_array_size(tl), 3);
    json_t *last = json_array_get(tl, 2);
    assert_string_equal(json_string_value(json_object_get(last, "kind")), "acknowledged");
    json_t *d = json_object_get(last, "detail");
    assert_string_equal(json_string_value(json_object_get(d, "token")), TOKEN_FP);
    assert_string_equal(json_string_value(json_object_get(d, "by")), "alice");
    assert_string_equal(json_string_value(json_object_get(d, "note")), "looking into it");
    json_decref(v);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind ="
                                " 'acknowledged' AND detail->>'token' = '" TOKEN_FP "'"), 1);
    /* twice, or a closed incident: 409 */
    s_expect(s_http(f->api, "POST", ack, "Bearer another-token-2", NULL, &h), &h, 409);
    s_expect(s_http(f->api, "POST", "/api/incidents/2/ack", "Bearer " TOKEN, "", &h), &h, 409);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind ="
                                " 'acknowledged'"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE acknowledged_at IS NOT"
                                " NULL"), 1);
}

static void test_reads(void **state)
{
    fx_t *f = *state;
    http_t h;
    json_t *v = s_http(f->api_ro, "GET", "/api/incidents/1", NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(v, "assetId")), "api");
    json_t *tl = json_object_get(v, "timeline");
    assert_int_equal(json_array_size(tl), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tl, 0), "kind")),
                        "opened");
    assert_string_equal(json_string_value(json_object_get(json_array_get(tl, 1), "kind")), "vote");
    assert_true(json_is_string(json_object_get(json_array_get(tl, 1), "at")));
    json_decref(v);
    s_expect(s_http(f->api_ro, "GET", "/api/incidents/3", NULL, NULL, &h), &h, 404);
    s_expect(s_http(f->api_ro, "GET", "/api/incidents/-1", NULL, NULL, &h), &h, 404);
    s_expect(s_http(f->api_ro, "POST", "/api/incidents/1", NULL, NULL, &h), &h, 405);

    v = s_http(f->api_ro, "GET", "/api/agents", NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_int_equal(json_array_size(v), 2);
    json_t *a = json_array_get(v, 0);
    assert_string_equal(json_string_value(json_object_get(a, "id")), "agent-eu-1");
    assert_string_equal(json_string_value(json_object_get(a, "region")), "eu-west");
    assert_string_equal(json_string_value(json_object_get(a, "version")), "0.1.0");
    assert_true(json_is_string(json_object_get(a, "firstSeen")));
    assert_true(json_is_string(json_object_get(a, "lastSeen")));
    assert_true(json_is_true(json_object_get(a, "connected")));
    assert_int_equal(json_integer_value(json_object_get(a, "clockSkewMs")), 300000);
    assert_true(json_is_true(json_object_get(a, "up")));
    assert_true(json_is_false(json_object_get(json_array_get(v, 1), "up")));
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
