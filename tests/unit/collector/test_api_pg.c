/* test_api_pg: the REST API on a real libmicrohttpd port against a real (fixture)
 * PostgreSQL, spoken to with libcurl: every route, the 400/404/405 paths, JSON bodies,
 * /metrics' content type, stateReason and the status page's UNCONFIRMED (the page's own
 * script run by node, tests/lib/page_render.js, on api/status-page/data), reconnection after the server killed our session, and the 503
 * health answer when the database is not there at all. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api.h"
#include "metrics.h"
#include "openapi_doc.h"
#include "sd_clock.h"
#include "store.h"
#include "store_api.h"
#include "store_assets.h"
#include "test_pg.h"

typedef struct {
    char *conninfo;
    metrics_t *metrics;
    api_t *api;
    int port;
} fixture_t;

/* the response buffer (http_t, s_body_cb); the fixture is this file's own */
#define API_FIXTURE_CLIENT_ONLY
#include "api_fixture.h"

/* --- helpers -------------------------------------------------------------- */

static size_t s_header_cb(char *p, size_t sz, size_t n, void *ud)
{
    http_t *h = ud;
    size_t len = sz * n;
    if (len > 6 && strncasecmp(p, "Allow:", 6) == 0) {
        size_t k = len - 6;
        while (k && (p[6 + k - 1] == '\r' || p[6 + k - 1] == '\n'))
            k--;
        snprintf(h->allow, sizeof h->allow, "%.*s", (int) k, p + 6);
    }
    return len;
}

/* One request; the curl result (the connection may be refused on purpose). */
static CURLcode s_http_try(const fixture_t *f, const char *method, const char *path, http_t *h)
{
    memset(h, 0, sizeof *h);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(h->ctype, sizeof h->ctype, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    if (rc == CURLE_OK)
        printf("%s %s -> %ld %s (%zu bytes)\n", method, path, h->status, h->ctype, h->len);
    else
        printf("%s %s -> %s\n", method, path, curl_easy_strerror(rc));
    return rc;
}

/* One request; fails the test when curl itself fails. */
static void s_http(const fixture_t *f, const char *method, const char *path, http_t *h)
{
    if (s_http_try(f, method, path, h) != CURLE_OK)
        fail_msg("%s %s failed", method, path);
}

/* Parses the body as JSON and checks the JSON content type. */
static json_t *s_json(const http_t *h)
{
    assert_string_equal(h->ctype, "application/json");
    json_error_t je;
    json_t *v = json_loads(h->body ? h->body : "", 0, &je);
    if (!v)
        fail_msg("body is not JSON (%s): %s", je.text, h->body ? h->body : "");
    return v;
}

/* Status and a JSON {"error": "..."} body. */
static void s_expect_error(const fixture_t *f, const char *method, const char *path, long status)
{
    http_t h;
    s_http(f, method, path, &h);
    if (h.status != status)
        fail_msg("%s %s: status %ld, want %ld; body %s", method, path, h.status, status, h.body);
    json_t *v = s_json(&h);
    assert_true(json_is_string(json_object_get(v, "error")));
    printf("  error: %s\n", json_string_value(json_object_get(v, "error")));
    json_decref(v);
    free(h.body);
}

static void s_exec(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void s_seed(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    static const char ins_asset[] =
        "INSERT INTO assets (id, name, address, asset_type, interval_seconds, timeout_seconds,"
        " expected_status_codes, metadata, locations, state, in_manifest)"
        " VALUES ($1, $2, $3, $4, $5::int, 5, $6::int[], $7::jsonb, $8::text[], $9, $10::bool)";
    s_exec(c, ins_asset, 10,
           (const char *const[]){"api-prod", "Production API \"v2\" <b>", "https://api/health",
                                 "http", "60", NULL, NULL, "{eu-west,us-east}", "DOWN",
                                 "true"});
    s_exec(c, ins_asset, 10,
           (const char *const[]){"web", "Website", "https://web/", "http", "30", "{200,204}",
                                 "{\"team\":\"web\"}", NULL, "UP", "true"});
    s_exec(c, ins_asset, 10,
           (const char *const[]){"gone", "Removed", "tcp://x:1", "tcp", "60", NULL, NULL, NULL,
                                 "UNKNOWN", "false"});
    static const char ins_ev[] =
        "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms,"
        " code, message) VALUES ($1, $2, $3, $4::bigint, now() - $5::interval, $6::bool,"
        " $7::float8, $8::int, $9)";
    /* api-prod: agent eu 5 results (latest fails), agent us 3 results (latest fails) */
    const char *const evs[][9] = {
        {"api-prod", "eu-1", "eu-west", "1", "50 seconds", "true", "10.5", "200", NULL},
        {"api-prod", "eu-1", "eu-west", "2", "40 seconds", "true", "11", "200", NULL},
        {"api-prod", "eu-1", "eu-west", "3", "30 seconds", "true", "12", "200", NULL},
        {"api-prod", "eu-1", "eu-west", "4", "20 seconds", "false", "5000", NULL, "timeout"},
        {"api-prod", "eu-1", "eu-west", "5", "10 seconds", "false", "5001", NULL, "timeout"},
        {"api-prod", "us-1", "us-east", "7", "35 seconds", "true", "80", "200", NULL},
        {"api-prod", "us-1", "us-east", "8", "25 seconds", "true", "81", "200", NULL},
        {"api-prod", "us-1", "us-east", "9", "15 seconds", "false", "0.984", "503",
         "status 503 \"Service Unavailable\""},
        {"web", "eu-1", "eu-west", "6", "12 seconds", "true", "20", "204", NULL},
        {"web", "eu-1", "eu-west", "1", "3 days", "true", "22", "204", NULL},
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        s_exec(c, ins_ev, 9, evs[i]);
    s_exec(c,
           "INSERT INTO incidents (asset_id, severity, summary, started_at, details)"
           " VALUES ($1, 'critical', $2, now() - interval '20 seconds', $3::jsonb)",
           3,
           (const char *const[]){"api-prod", "api-prod is DOWN (2/2 regions)",
                                 "[{\"agent\":\"eu-1\",\"region\":\"eu-west\",\"vote\":\"DOWN\"}]"});
    s_exec(c,
           "INSERT INTO incidents (asset_id, summary, started_at, ended_at)"
           " VALUES ($1, $2, now() - interval '2 hours', now() - interval '1 hour')",
           2, (const char *const[]){"web", "web was DOWN"});
    PQfinish(c);
}

static int s_setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fixture_t *f = calloc(1, sizeof *f);
    f->conninfo = test_pg_fresh_db("api");
    if (!f->conninfo) {
        free(f);
        return -1;
    }
    char err[512] = "", dir[1024];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    store_t *s = store_new(f->conninfo, err, sizeof err);
    if (!s || store_migrate(s, dir, err, sizeof err) != 0) {
        fprintf(stderr, "migrate: %s\n", err);
        store_destroy(&s);
        return -1;
    }
    store_destroy(&s);
    s_seed(f->conninfo);
    f->metrics = metrics_new();
    collector_ctx_t ctx = {.db_conninfo = f->conninfo, .api_port = 0,
                           .api_bind_addr = "127.0.0.1", .metrics = f->metrics};
    f->api = api_new(&ctx, err, sizeof err);
    if (!f->api) {
        fprintf(stderr, "api_new: %s\n", err);
        return -1;
    }
    f->port = api_port(f->api);
    printf("api listening on 127.0.0.1:%d, db %s\n", f->port, f->conninfo);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    if (f) {
        api_destroy(&f->api);
        metrics_destroy(&f->metrics);
        free(f->conninfo);
        free(f);
    }
    curl_global_cleanup();
    return 0;
}

static int s_is_rfc3339_utc(const char *s)
{
    /* 2026-11-25T08:43:00.123Z */
    if (!s || strlen(s) != 24)
        return 0;
    const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < 24; i++)
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return 0;
    return 1;
}

/* --- tests ---------------------------------------------------------------- */

static void test_health(void **state)
{
    fixture_t *f = *state;
    http_t h;
    s_http(f, "GET", "/api/health", &h);
    assert_int_equal(h.status, 200);
    json_t *v = s_json(&h);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "healthy");
    assert_string_equal(json_string_value(json_object_get(v, "database")), "ok");
    assert_true(json_is_string(json_object_get(v, "version")));
    json_decref(v);
    free(h.body);
}

static void test_assets(void **state)
{
    fixture_t *f = *state;
    http_t h;
    s_http(f, "GET", "/api/assets", &h);
    assert_int_equal(h.status, 200);
    printf("  %s\n", h.body);
    json_t *v = s_json(&h);
    assert_true(json_is_array(v));
    assert_int_equal(json_array_size(v), 2); /* "gone" left the manifest */
    json_t *a = json_array_get(v, 0), *w = json_array_get(v, 1);
    assert_string_equal(json_string_value(json_object_get(a, "id")), "api-prod");
    assert_string_equal(json_string_value(json_object_get(a, "name")), "Production API \"v2\" <b>");
    assert_string_equal(json_string_value(json_object_get(a, "assetType")), "http");
    assert_string_equal(json_string_value(json_object_get(a, "state")), "DOWN");
    assert_int_equal(json_integer_value(json_object_get(a, "intervalSeconds")), 60);
    assert_int_equal(json_integer_value(json_object_get(a, "timeoutSeconds")), 5);
    assert_true(json_is_null(json_object_get(a, "expectedStatusCodes")));
    assert_int_equal(json_array_size(json_object_get(a, "locations")), 2);
    assert_true(s_is_rfc3339_utc(json_string_value(json_object_get(a, "stateSince"))));
    /* each agent's latest result, ordered by region */
    json_t *res = json_object_get(a, "results");
    assert_int_equal(json_array_size(res), 2);
    json_t *eu = json_array_get(res, 0), *us = json_array_get(res, 1);
    assert_string_equal(json_string_value(json_object_get(eu, "agent")), "eu-1");
    assert_string_equal(json_string_value(json_object_get(eu, "region")), "eu-west");
    assert_true(json_is_false(json_object_get(eu, "success")));
    assert_true(json_number_value(json_object_get(eu, "latencyMs")) == 5001);
    assert_true(json_is_null(json_object_get(eu, "code")));
    assert_string_equal(json_string_value(json_object_get(eu, "message")), "timeout");
    assert_true(s_is_rfc3339_utc(json_string_value(json_object_get(eu, "ts"))));
    assert_string_equal(json_string_value(json_object_get(us, "agent")), "us-1");
    assert_int_equal(json_integer_value(json_object_get(us, "code")), 503);
    assert_true(json_number_value(json_object_get(us, "latencyMs")) == 0.984);
    /* numbers print as written, not as their nearest binary double (0.98399999999999999) */
    assert_non_null(strstr(h.body, "\"latencyMs\":0.984,"));
    assert_string_equal(json_string_value(json_object_get(us, "message")),
                        "status 503 \"Service Unavailable\"");
    /* web: codes and metadata; the 3-day-old result is out of the window */
    assert_string_equal(json_string_value(json_object_get(w, "id")), "web");
    json_t *codes = json_object_get(w, "expectedStatusCodes");
    assert_int_equal(json_array_size(codes), 2);
    assert_int_equal(json_integer_value(json_array_get(codes, 1)), 204);
    assert_string_equal(json_string_value(json_object_get(json_object_get(w, "metadata"), "team")),
                        "web");
    assert_int_equal(json_array_size(json_object_get(w, "results")), 1);
    json_decref(v);
    free(h.body);
}

/* text into a new temp file named from tmpl ("/tmp/x_XXXXXX", changed in place) */
static void s_write_temp(char *tmpl, const char *text)
{
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* The page's script run by node (when installed) with a minimal DOM
 * (tests/lib/page_render.js), fed one api/status-page/data answer (data, JSON text): what it
 * rendered, one line per part (TITLE, DEMO, BANNER, ERR, ASSETS, MAINT, INC), or NULL
 * without node. */
static char *s_render_page(const char *page, const char *data)
{
    if (system("node --version >/dev/null 2>&1") != 0)
        return NULL;
    const char *src = getenv("STATUSD_SOURCE_DIR");
    assert_non_null(src);
    char pp[] = "/tmp/test_api_page_XXXXXX", dp[] = "/tmp/test_api_data_XXXXXX";
    s_write_temp(pp, page);
    s_write_temp(dp, data);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "node %s/tests/lib/page_render.js %s %s 2>&1", src, pp, dp);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 20, n = 0, k;
    char *out = calloc(1, cap);
    assert_non_null(out);
    while (n < cap - 1 && (k = fread(out + n, 1, cap - 1 - n, p)) > 0)
        n += k;
    pclose(p);
    unlink(pp);
    unlink(dp);
    return out;
}

/* The rendering of one asset's card (its <article ...> up to the next one), malloc'd. */
static char *s_card(const char *out, const char *id)
{
    char key[128];
    snprintf(key, sizeof key, "data-asset=\"%s\"", id);
    const char *a = strstr(out, key);
    if (!a)
        fail_msg("no card for %s", id);
    const char *b = strstr(a, "<article");
    const char *e = strchr(a, '\n');
    if (!b || (e && e < b))
        b = e ? e : a + strlen(a);
    return strndup(a, (size_t) (b - a));
}

/* How often needle occurs in hay. */
static int s_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The line of the rendering that starts with tag ("BANNER "), malloc'd, without the newline. */
static char *s_line(const char *out, const char *tag)
{
    const char *a = strstr(out, tag);
    if (!a)
        fail_msg("no %s line in: %.2000s", tag, out);
    const char *e = strchr(a, '\n');
    return strndup(a, e ? (size_t) (e - a) : strlen(a));
}

static void test_state_reason_and_unconfirmed(void **state)
{
    fixture_t *f = *state;
    char err[512] = "";
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    /* a reason from outside: a newline, an invalid byte, and far over the bound */
    char reason[1024];
    int k = snprintf(reason, sizeof reason, "DOWN from 1 of 3 locations (eu-west)\n\xff ");
    memset(reason + k, 'x', 700);
    reason[k + 700] = 0;
    if (store_assets_set_state(s, "web", "UNCONFIRMED", reason, sd_wall_ms(), err,
                               sizeof err) != 0)
        fail_msg("set state: %s", err);
    assert_int_equal(store_assets_set_state(s, "api-prod", "DOWN", NULL, sd_wall_ms(), err,
                                            sizeof err), 0);

    http_t h;
    s_http(f, "GET", "/api/assets/web", &h);
    assert_int_equal(h.status, 200);
    json_t *w = s_json(&h); /* jansson refuses invalid UTF-8: parsing proves it is valid */
    free(h.body);
    assert_string_equal(json_string_value(json_object_get(w, "id")), "web");
    assert_string_equal(json_string_value(json_object_get(w, "state")), "UNCONFIRMED");
    const char *why = json_string_value(json_object_get(w, "stateReason"));
    assert_non_null(why);
    printf("  stateReason (%zu bytes): %.60s...%s\n", strlen(why), why,
           why + (strlen(why) > 10 ? strlen(why) - 10 : 0));
    assert_true(strlen(why) <= STORE_ASSETS_REASON_MAX);
    assert_true(strlen(why) >= STORE_ASSETS_REASON_MAX - 3);
    static const char head[] = "DOWN from 1 of 3 locations (eu-west) \xef\xbf\xbd x";
    assert_memory_equal(why, head, sizeof head - 1); /* newline a space, \xff U+FFFD */
    assert_null(strchr(why, '\n'));
    assert_string_equal(why + strlen(why) - 3, "\xe2\x80\xa6"); /* cut with "…" */
    assert_true(json_is_array(json_object_get(w, "results")));
    char *why_copy = strdup(why);
    json_decref(w);

    s_http(f, "GET", "/api/assets", &h);
    assert_int_equal(h.status, 200);
    json_t *all = s_json(&h);
    char *assets = h.body;
    json_t *prod = json_array_get(all, 0);
    assert_string_equal(json_string_value(json_object_get(prod, "stateReason")), "");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(all, 1), "stateReason")), why_copy);
    free(why_copy);
    json_decref(all);
    s_expect_error(f, "GET", "/api/assets/gone", 404); /* not in the manifest */
    s_expect_error(f, "GET", "/api/assets/nope", 404);

    /* the status page: web is "Unconfirmed" with its reason, its own class, never down */
    s_http(f, "GET", "/", &h);
    char *page = h.body;
    assert_non_null(strstr(page, "api/status-page/data"));
    assert_null(strstr(page, "innerHTML"));
    free(assets);
    s_http(f, "GET", "/api/status-page/data", &h);
    char *data = h.body;
    char *out = s_render_page(page, data);
    if (!out)
        fail_msg("node is not installed: the page's script cannot run (tests/run.sh installs "
                 "nodejs)");
    char *line = s_line(out, "BANNER ");
    printf("  %s\n", line);
    assert_non_null(strstr(line, ": 1 down, 1 unconfirmed [banner bad]"));
    free(line);
    line = s_line(out, "ERR ");
    assert_string_equal(line, "ERR ");
    free(line);
    line = s_line(out, "TITLE ");
    printf("  %s\n", line);
    assert_string_equal(line, "TITLE StatusD / ");
    free(line);
    assert_non_null(strstr(out, "DEMO (hidden)\n"));
    char *card = s_card(out, "web");
    printf("  web: %.400s...\n", card);
    assert_non_null(strstr(card, "class=\"state s-unconfirmed\""));
    assert_non_null(strstr(card, ">Unconfirmed</span>"));
    assert_non_null(strstr(card, "<p class=\"why\">DOWN from 1 of 3 locations (eu-west) "
                                 "\xef\xbf\xbd x"));
    /* 90 daily bars, each with its words; the four uptime figures (or dashes) */
    assert_int_equal(s_count(card, "class=\"bar b-"), 90);
    assert_int_equal(s_count(card, "role=\"img\" aria-label=\"20"), 90);
    assert_int_equal(s_count(card, "<dd>"), 4);
    free(card);
    card = s_card(out, "api-prod");
    assert_non_null(strstr(card, "class=\"state s-down\""));
    assert_non_null(strstr(card, ">Down</span>"));
    assert_non_null(strstr(card, ">Production API \"v2\" <b></h3>")); /* text, not markup */
    free(card);
    assert_null(strstr(out, "https://")); /* no address by default */
    free(out);
    /* the manifest's statusPage: its title and description, groups by "team" (web's group
     * first, the rest under Other), addresses shown, the demo notice; then with api-prod UP
     * (the answer edited: the route serves a snapshot up to 10 s old) */
    json_error_t je;
    json_t *d = json_loads(data, 0, &je);
    assert_non_null(d);
    free(data);
    json_object_set_new(d, "page",
                        json_pack("{s:s, s:s, s:s, s:b, s:s}", "title", "Acme <status>",
                                  "description", "Our services", "groupBy", "team",
                                  "showAddresses", 1, "demoNotice", "made up"));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(d, "assets"), i, a) {
        const char *id = json_string_value(json_object_get(a, "id"));
        bool is_web = strcmp(id, "web") == 0;
        json_object_set_new(a, "group", is_web ? json_string("web") : json_null());
        json_object_set_new(a, "address", json_string(is_web ? "https://web/" : "https://api/"));
    }
    data = json_dumps(d, JSON_COMPACT);
    out = s_render_page(page, data);
    free(data);
    line = s_line(out, "TITLE ");
    assert_string_equal(line, "TITLE Acme <status> / Our services");
    free(line);
    assert_non_null(strstr(out, "DEMO made up\n"));
    const char *g_web = strstr(out, ">web</h3>");
    const char *r_web = strstr(out, "data-asset=\"web\"");
    const char *g_other = strstr(out, ">Other</h3>");
    const char *r_api = strstr(out, "data-asset=\"api-prod\"");
    assert_true(g_web && r_web && g_other && r_api);
    assert_true(g_web < r_web && r_web < g_other && g_other < r_api);
    assert_non_null(strstr(out, "<span class=\"addr\">https://web/</span>"));
    free(out);

    /* with nothing down, the banner names the unconfirmed asset, not an outage */
    json_array_foreach(json_object_get(d, "assets"), i, a) {
        if (strcmp(json_string_value(json_object_get(a, "id")), "api-prod") == 0)
            json_object_set_new(a, "state", json_string("UP"));
    }
    data = json_dumps(d, JSON_COMPACT);
    out = s_render_page(page, data);
    free(data);
    line = s_line(out, "BANNER ");
    printf("  %s\n", line);
    assert_non_null(strstr(line, ": 1 unconfirmed [banner warn]"));
    assert_null(strstr(line, "down"));
    free(line);
    free(out);

    /* more than 100 assets: each group a closed <details> with its counts, no bar built */
    json_t *list = json_object_get(d, "assets");
    json_t *web = json_array_get(list, 1);
    for (int copy = 0; copy < 100; copy++) {
        json_t *c = json_deep_copy(web);
        char id[32];
        snprintf(id, sizeof id, "web-copy-%d", copy);
        json_object_set_new(c, "id", json_string(id));
        json_array_append_new(list, c);
    }
    data = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    out = s_render_page(page, data);
    free(data);
    assert_int_equal(s_count(out, "<details class=\"group\">"), 2);
    assert_non_null(strstr(out, "<summary data-k=\"group|web\"><h3 id=\"group-0\">web</h3>"
                                "<span class=\"muted\">101 services: 101 unconfirmed</span>"));
    assert_int_equal(s_count(out, "class=\"bar "), 0);
    free(out);
    free(page);
    /* the other tests' seed, back as it was */
    assert_int_equal(store_assets_set_state(s, "api-prod", "DOWN", NULL, sd_wall_ms(), err,
                                            sizeof err), 0);
    assert_int_equal(store_assets_set_state(s, "web", "UP", NULL, sd_wall_ms(), err, sizeof err),
                     0);
    store_destroy(&s);
}

static void test_events(void **state)
{
    fixture_t *f = *state;
    http_t h;
    s_http(f, "GET", "/api/assets/api-prod/events", &h);
    assert_int_equal(h.status, 200);
    json_t *v = s_json(&h);
    assert_int_equal(json_array_size(v), 8);
    const char *prev = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        const char *ts = json_string_value(json_object_get(e, "ts"));
        assert_true(s_is_rfc3339_utc(ts));
        assert_string_equal(json_string_value(json_object_get(e, "assetId")), "api-prod");
        if (prev)
            assert_true(strcmp(prev, ts) >= 0); /* latest first */
        prev = ts;
    }
    e = json_array_get(v, 0);
    assert_int_equal(json_integer_value(json_object_get(e, "seq")), 5);
    assert_true(json_is_null(json_object_get(e, "certExpiry")));
    assert_true(s_is_rfc3339_utc(json_string_value(json_object_get(e, "receivedAt"))));
    json_decref(v);
    free(h.body);

    s_http(f, "GET", "/api/assets/api-prod/events?limit=3", &h);
    assert_int_equal(h.status, 200);
    v = s_json(&h);
    assert_int_equal(json_array_size(v), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 2), "seq")), 4);
    json_decref(v);
    free(h.body);

    s_http(f, "GET", "/api/assets/gone/events?limit=1000", &h); /* known, no events */
    assert_int_equal(h.status, 200);
    v = s_json(&h);
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);
    free(h.body);

    const char *bad[] = {"0", "1001", "abc", "5x", "-1", "", "%201", "1.5", "99999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char path[128];
        snprintf(path, sizeof path, "/api/assets/api-prod/events?limit=%s", bad[k]);
        s_expect_error(f, "GET", path, 400);
    }
    s_expect_error(f, "GET", "/api/assets/no-such-asset/events", 404);
    s_expect_error(f, "GET", "/api/assets/no%27such/events?limit=5", 404);
    s_expect_error(f, "GET", "/api/assets/%C3%A9t%C3%A9/events", 404); /* UTF-8, unknown */
}

/* Path ids that are not valid UTF-8 or too long are no asset: 404 without asking the
 * database (PostgreSQL refuses such a parameter, which once answered 500 "database
 * unavailable"); test_dead_database shows the database is not asked. */
static void s_expect_bad_ids(const fixture_t *f)
{
    static const char *const bad[] = {"%FF", "a%FFb", "%C3%28", "%C0%AF", "%ED%A0%80",
                                      "%F4%90%80%80", "%E2%82"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char path[128];
        snprintf(path, sizeof path, "/api/assets/%s/events", bad[k]);
        s_expect_error(f, "GET", path, 404);
    }
    char path[400];
    int n = snprintf(path, sizeof path, "/api/assets/");
    for (int i = 0; i < 257; i++)
        path[n++] = 'a';
    snprintf(path + n, sizeof path - (size_t) n, "/events");
    s_expect_error(f, "GET", path, 404);
}

static void test_events_bad_ids(void **state)
{
    s_expect_bad_ids(*state);
}

static void test_incidents(void **state)
{
    fixture_t *f = *state;
    const char *paths[] = {"/api/incidents", "/api/incidents?state=open", "/api/incidents?state=all"};
    size_t want[] = {1, 1, 2};
    for (int k = 0; k < 3; k++) {
        http_t h;
        s_http(f, "GET", paths[k], &h);
        assert_int_equal(h.status, 200);
        json_t *v = s_json(&h);
        assert_int_equal(json_array_size(v), want[k]);
        json_t *i0 = json_array_get(v, 0);
        assert_string_equal(json_string_value(json_object_get(i0, "assetId")), "api-prod");
        assert_true(json_is_integer(json_object_get(i0, "id")));
        assert_string_equal(json_string_value(json_object_get(i0, "severity")), "critical");
        assert_true(s_is_rfc3339_utc(json_string_value(json_object_get(i0, "startedAt"))));
        assert_true(s_is_rfc3339_utc(json_string_value(json_object_get(i0, "detectedAt"))));
        assert_true(json_is_null(json_object_get(i0, "endedAt")));
        assert_true(json_is_null(json_object_get(i0, "acknowledgedAt")));
        assert_int_equal(json_array_size(json_object_get(i0, "details")), 1);
        if (want[k] == 2)
            assert_true(s_is_rfc3339_utc(
                json_string_value(json_object_get(json_array_get(v, 1), "endedAt"))));
        json_decref(v);
        free(h.body);
    }
    s_expect_error(f, "GET", "/api/incidents?state=closed", 400);
    s_expect_error(f, "GET", "/api/incidents?state=", 400);
}

static void test_page_metrics_and_errors(void **state)
{
    fixture_t *f = *state;
    http_t h;
    s_http(f, "GET", "/", &h);
    assert_int_equal(h.status, 200);
    assert_string_equal(h.ctype, "text/html; charset=utf-8");
    assert_non_null(strstr(h.body, "<title>StatusD</title>"));
    /* nothing external: the only URL is the SVG namespace (a name, never fetched) */
    for (const char *u = strstr(h.body, "http://"); u; u = strstr(u + 1, "http://"))
        assert_memory_equal(u, "http://www.w3.org/2000/svg'", 27);
    assert_null(strstr(h.body, "https://"));
    assert_null(strstr(h.body, "innerHTML")); /* data goes in as text only */
    assert_non_null(strstr(h.body, "fetch("));
    free(h.body);

    /* the OpenAPI document: docs/openapi.json's bytes, compiled in */
    s_http(f, "GET", "/api/openapi.json", &h);
    assert_int_equal(h.status, 200);
    json_t *doc = s_json(&h);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    assert_non_null(json_object_get(json_object_get(doc, "paths"), "/api/openapi.json"));
    json_decref(doc);
    assert_int_equal(strlen(h.body), openapi_doc_len);
    assert_memory_equal(h.body, openapi_doc, openapi_doc_len);
    free(h.body);
    s_expect_error(f, "POST", "/api/openapi.json", 405);

    s_http(f, "HEAD", "/api/assets", &h);
    assert_int_equal(h.status, 200);
    free(h.body);

    s_expect_error(f, "GET", "/nope", 404);
    s_expect_error(f, "GET", "/api/assets/", 404);
    s_expect_error(f, "GET", "/api/assets/x/events/more", 404);
    s_expect_error(f, "POST", "/api/assets", 405);
    s_expect_error(f, "DELETE", "/metrics", 405);
    s_expect_error(f, "PUT", "/api/assets/api-prod/events", 405);
    s_http(f, "POST", "/api/health", &h);
    assert_int_equal(h.status, 405);
    assert_non_null(strstr(h.allow, "GET"));
    printf("  Allow:%s\n", h.allow);
    free(h.body);

    s_http(f, "GET", "/metrics", &h);
    assert_int_equal(h.status, 200);
    assert_string_equal(h.ctype, "text/plain; version=0.0.4; charset=utf-8");
    printf("%s", h.body);
    assert_non_null(strstr(h.body, "# TYPE statusd_api_requests_total counter\n"));
    assert_non_null(
        strstr(h.body, "statusd_api_requests_total{route=\"/api/incidents\",code=\"400\"} "));
    assert_non_null(strstr(h.body, "statusd_api_requests_total{route=\"other\",code=\"404\"} 3\n"));
    assert_non_null(
        strstr(h.body, "statusd_api_requests_total{route=\"/metrics\",code=\"405\"} 1\n"));
    free(h.body);
}

/* The server ends our session (as a restart or failover would); the next request must
 * still succeed on a new connection. */
static void test_reconnects_after_session_killed(void **state)
{
    fixture_t *f = *state;
    http_t h;
    s_http(f, "GET", "/api/health", &h);
    assert_int_equal(h.status, 200);
    free(h.body);
    PGconn *c = PQconnectdb(f->conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexecParams(c,
                               "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                               0, NULL, NULL, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    printf("  terminated %s backend(s)\n", PQgetvalue(r, 0, 0));
    /* the API's session, and the status page data's own once that route was asked */
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 1);
    PQclear(r);
    PQfinish(c);
    s_http(f, "GET", "/api/assets", &h);
    assert_int_equal(h.status, 200);
    json_t *v = s_json(&h);
    assert_int_equal(json_array_size(v), 2);
    json_decref(v);
    free(h.body);
}

/* A database that is not there: health 503, data routes 500 JSON, the rest still served. */
static void test_dead_database(void **state)
{
    (void) state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *) &sa, &sl);
    int dead_port = ntohs(sa.sin_port);
    close(fd); /* bound, never listening, now closed: connections are refused */
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d dbname=statusd user=statusd connect_timeout=2", dead_port);
    fixture_t d = {.metrics = metrics_new()};
    collector_ctx_t ctx = {.db_conninfo = conninfo, .api_port = 0, .metrics = d.metrics};
    char err[256];
    d.api = api_new(&ctx, err, sizeof err); /* all interfaces */
    assert_non_null(d.api);
    d.port = api_port(d.api);
    assert_true(d.port > 0);
    http_t h;
    for (int k = 0; k < 2; k++) { /* the second one is inside the reconnect back-off */
        s_http(&d, "GET", "/api/health", &h);
        assert_int_equal(h.status, 503);
        json_t *v = s_json(&h);
        assert_string_equal(json_string_value(json_object_get(v, "database")), "unreachable");
        assert_string_not_equal(json_string_value(json_object_get(v, "status")), "healthy");
        json_decref(v);
        free(h.body);
    }
    s_expect_error(&d, "GET", "/api/assets", 500);
    s_expect_error(&d, "GET", "/api/incidents?state=all", 500);
    s_expect_error(&d, "GET", "/api/assets/x/events", 500);
    s_expect_bad_ids(&d); /* 404: the database is not asked */
    s_http(&d, "GET", "/metrics", &h);
    assert_int_equal(h.status, 200);
    assert_non_null(
        strstr(h.body, "statusd_api_requests_total{route=\"/api/health\",code=\"503\"} 2\n"));
    free(h.body);
    s_http(&d, "GET", "/", &h);
    assert_int_equal(h.status, 200);
    free(h.body);
    api_destroy(&d.api);
    assert_null(d.api);
    metrics_destroy(&d.metrics);
}

/* More idle connections than the limit: the excess is refused and counted, and the API
 * serves again once they are gone. */
static void test_connection_limit(void **state)
{
    fixture_t *f = *state;
    enum { N = API_MAX_CONNECTIONS + 8 };
    int fds[N];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) f->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *) &sa, sizeof sa), 0);
    }
    /* wait (with a deadline) until the server has refused the excess */
    char *text = NULL;
    const char *hit = NULL;
    int64_t deadline = sd_mono_ms() + 10000;
    while (sd_mono_ms() < deadline) {
        free(text);
        text = metrics_render(f->metrics);
        hit = strstr(text, "\nstatusd_api_connections_rejected_total ");
        if (hit)
            break;
        usleep(20000);
    }
    assert_non_null(hit);
    long rejected = strtol(hit + strlen("\nstatusd_api_connections_rejected_total "), NULL, 10);
    printf("  %d connections opened, %ld rejected (limit %d)\n", N, rejected, API_MAX_CONNECTIONS);
    assert_true(rejected >= 1 && rejected <= 8);
    free(text);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* served again: retry until the server has noticed the closed connections */
    long status = 0;
    deadline = sd_mono_ms() + 10000;
    while (status != 200 && sd_mono_ms() < deadline) {
        http_t h;
        if (s_http_try(f, "GET", "/api/health", &h) == CURLE_OK)
            status = h.status;
        else
            usleep(20000);
        free(h.body);
    }
    assert_int_equal(status, 200);
}

/* The API's session bound: a statement longer than statement_timeout is cancelled. */
static void test_statement_timeout(void **state)
{
    fixture_t *f = *state;
    char err[256];
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_api_session_setup(s, 100), 0);
    int64_t t0 = sd_mono_ms();
    PGresult *r = PQexecParams(store_conn(s), "SELECT pg_sleep(2)", 0, NULL, NULL, NULL, NULL, 0);
    int64_t took = sd_mono_ms() - t0;
    printf("  pg_sleep(2) under a 100 ms statement_timeout: %s after %lld ms\n",
           PQresStatus(PQresultStatus(r)), (long long) took);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_true(took < 1500);
    PQclear(r);
    assert_int_equal(store_api_health(s), 0); /* the session is still usable */
    store_destroy(&s);
}

static void test_bad_bind_address(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    char err[256] = "";
    collector_ctx_t ctx = {.db_conninfo = "dbname=x", .api_port = 0,
                           .api_bind_addr = "not an address!", .metrics = m};
    api_t *a = api_new(&ctx, err, sizeof err);
    assert_null(a);
    printf("  api_new: %s\n", err);
    assert_true(strlen(err) > 0);
    metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_assets),
        cmocka_unit_test(test_state_reason_and_unconfirmed),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_events_bad_ids),
        cmocka_unit_test(test_incidents),
        cmocka_unit_test(test_page_metrics_and_errors),
        cmocka_unit_test(test_reconnects_after_session_killed),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_statement_timeout),
        cmocka_unit_test(test_dead_database),
        cmocka_unit_test(test_bad_bind_address),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
