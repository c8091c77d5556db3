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

typedef struct {
    char *conninfo;
    PGconn *db;
    metrics_t *metrics;
    auth_t *tokens;
    api_t *api;     /* with the token file */
    api_t *api_ro;  /* without one */
} fx_t;

typedef struct {
    long status;
    char *body;
    size_t len;
    char www[128];
} http_t;

static size_t s_body_cb(char *p, size_t sz, size_t n, void *ud)
{
    http_t *h = ud;
    char *nb = realloc(h->body, h->len + sz * n + 1);
    if (!nb)
        return 0;
    h->body = nb;
    memcpy(h->body + h->len, p, sz * n);
    h->len += sz * n;
    h->body[h->len] = 0;
    return sz * n;
}

static size_t s_header_cb(char *p, size_t sz, size_t n, void *ud)
{
    http_t *h = ud;
    if (sz * n > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
        snprintf(h->www, sizeof h->www, "%.*s", (int) strcspn(p + 17, "\r\n"), p + 17);
    return sz * n;
}

/* One request; returns the parsed JSON body (caller decrefs); h->status set. */
static json_t *s_http(const api_t *api, const char *method, const char *path, const char *auth,
                      const char *body, http_t *h)
{
    memset(h, 0, sizeof *h);
    char url[512], hdr[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", api_port(api), path);
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    if (auth) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
        hs = curl_slist_append(hs, hdr);
    }
    hs = curl_slist_append(hs, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    printf("%s %s -> %ld %s\n", method, path, h->status, h->body ? h->body : "");
    json_error_t je;
    json_t *v = json_loads(h->body ? h->body : "", 0, &je);
    if (!v)
        fail_msg("not JSON: %s", h->body ? h->body : "");
    free(h->body);
    h->body = NULL;
    return v;
}

static long s_count(fx_t *f, const char *sql)
{
    PGresult *r = PQexec(f->db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(f->db));
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static void s_exec(fx_t *f, const char *sql)
{
    PGresult *r = PQexec(f->db, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(f->db));
    PQclear(r);
}

static int setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx_t *f = calloc(1, sizeof *f);
    f->conninfo = test_pg_fresh_db("apiw");
    assert_non_null(f->conninfo);
    char err[512] = "", dir[1024], path[] = "/tmp/statusd-tokens-XXXXXX";
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_migrate(s, dir, err, sizeof err), 0);
    store_destroy(&s);
    f->db = PQconnectdb(f->conninfo);
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
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *content = "# API tokens\n" TOKEN "\nanother-token-2\n";
    assert_true(write(fd, content, strlen(content)) > 0);
    close(fd);
    assert_int_equal(auth_load(path, &f->tokens, err, sizeof err), 0);
    unlink(path);
    f->metrics = metrics_new();
    collector_ctx_t ctx = {.db_conninfo = f->conninfo, .api_bind_addr = "127.0.0.1",
                           .metrics = f->metrics, .api_tokens = f->tokens};
    f->api = api_new(&ctx, err, sizeof err);
    ctx.api_tokens = NULL;
    f->api_ro = api_new(&ctx, err, sizeof err);
    assert_non_null(f->api);
    assert_non_null(f->api_ro);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    api_destroy(&f->api);
    api_destroy(&f->api_ro);
    auth_destroy(&f->tokens);
    metrics_destroy(&f->metrics);
    PQfinish(f->db);
    free(f->conninfo);
    free(f);
    curl_global_cleanup();
    return 0;
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
